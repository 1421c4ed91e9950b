package supportaccess_test

import (
	"context"
	"testing"
	"time"

	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/internal/testdb"
	"github.com/havencrm/haven/store"
	"github.com/havencrm/haven/supportaccess"
)

// TestOperatorRequests: an operator sees their own requests in every
// tenant, newest first, each as it stands now, and never another
// operator's.
func TestOperatorRequests(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		e := setup(t, db)
		ctx := context.Background()
		tidA, adminA, _ := e.tenant(t)
		tidB, _, _ := e.tenant(t)
		olga := supportaccess.Operator{ID: "op-olga", Name: "Olga"}
		rival := supportaccess.Operator{ID: "op-rival", Name: "Rival"}
		scope := supportaccess.Scope{Objects: []string{"contact"}}
		g1, err := e.svc.Request(ctx, olga, tidA, supportaccess.KindSupport, "first", "T-1", scope, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		e.clk.Advance(time.Second)
		g2, err := e.svc.Request(ctx, olga, tidB, supportaccess.KindSupport, "second", "T-2", scope, 2*time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		e.clk.Advance(time.Second)
		if _, err := e.svc.Request(ctx, rival, tidA, supportaccess.KindSupport, "rival", "T-3", scope, time.Hour); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.Approve(ctx, adminA, g1.ID, "I authorize Olga.", nil, 0); err != nil {
			t.Fatal(err)
		}
		gs, err := e.svc.OperatorRequests(ctx, olga.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(gs) != 2 || gs[0].ID != g2.ID || gs[1].ID != g1.ID {
			t.Fatalf("olga's requests: %+v", gs)
		}
		if gs[0].TenantID != string(tidB) || gs[0].State != supportaccess.Pending || gs[1].TenantID != string(tidA) || gs[1].State != supportaccess.Active {
			t.Fatalf("olga's requests as they stand: %+v", gs)
		}
		// The one-hour window passes: the list shows the grant expired.
		e.clk.Advance(time.Hour + time.Minute)
		gs, _ = e.svc.OperatorRequests(ctx, olga.ID)
		if len(gs) != 2 || gs[1].State != supportaccess.Expired {
			t.Fatalf("after the window: %+v", gs)
		}
		rs, err := e.svc.OperatorRequests(ctx, rival.ID)
		if err != nil || len(rs) != 1 || rs[0].OperatorID != rival.ID {
			t.Fatalf("rival's requests: %+v %v", rs, err)
		}
		if none, err := e.svc.OperatorRequests(ctx, "op-nobody"); err != nil || len(none) != 0 {
			t.Fatalf("unknown operator: %+v %v", none, err)
		}
		// No operator ID is no answer at all, not everyone's.
		if _, err := e.svc.OperatorRequests(ctx, ""); !apperr.Is(err, apperr.KindUnauthenticated) {
			t.Fatalf("empty operator: %v", err)
		}
	})
}
