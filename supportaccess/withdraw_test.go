package supportaccess_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/audit"
	"github.com/havencrm/haven/internal/testdb"
	"github.com/havencrm/haven/store"
	"github.com/havencrm/haven/supportaccess"
)

// TestWithdraw: the requesting operator takes back a pending request,
// with an event in the tenant's trail; another operator's request is
// not found, a decided one is refused by the state machine, and another
// tenant's ID finds nothing.
func TestWithdraw(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		e := setup(t, db)
		ctx := context.Background()
		tid, admin, _ := e.tenant(t)
		otherTID, _, _ := e.tenant(t)
		rival := supportaccess.Operator{ID: "op-rival", Name: "Rival"}
		scope := supportaccess.Scope{Objects: []string{"contact"}}
		g, err := e.svc.Request(ctx, op, tid, supportaccess.KindSupport, "look at contacts", "T-1", scope, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.Withdraw(ctx, rival, tid, g.ID); !apperr.Is(err, apperr.KindNotFound) {
			t.Fatalf("another operator withdrew: %v", err)
		}
		if _, err := e.svc.Withdraw(ctx, op, otherTID, g.ID); !apperr.Is(err, apperr.KindNotFound) {
			t.Fatalf("withdrawn through another tenant: %v", err)
		}
		if _, err := e.svc.Withdraw(ctx, supportaccess.Operator{}, tid, g.ID); !apperr.Is(err, apperr.KindUnauthenticated) {
			t.Fatalf("anonymous withdraw: %v", err)
		}
		e.clk.Advance(time.Minute)
		w, err := e.svc.Withdraw(ctx, op, tid, g.ID)
		if err != nil || w.State != supportaccess.Withdrawn || w.EndedAt == nil || !w.EndedAt.Equal(e.clk.Now()) {
			t.Fatalf("withdraw: %+v %v", w, err)
		}
		evs, err := db.QueryAudit(ctx, tid, audit.Filter{Action: supportaccess.ActionWithdrawn, Limit: 5})
		if err != nil || len(evs) != 1 {
			t.Fatalf("withdraw events: %+v %v", evs, err)
		}
		ev := evs[0]
		if ev.ActorType != "operator" || ev.ActorID != op.ID || ev.ObjectID != g.ID || ev.IP != op.IP ||
			ev.Changes["state"].Before != "pending" || ev.Changes["state"].After != "withdrawn" {
			t.Fatalf("withdraw event: %+v", ev)
		}
		// Once withdrawn, neither the operator nor an admin moves it on.
		if _, err := e.svc.Withdraw(ctx, op, tid, g.ID); !apperr.Is(err, apperr.KindConflict) {
			t.Fatalf("second withdraw: %v", err)
		}
		if _, err := e.svc.Approve(ctx, admin, g.ID, "I approve.", nil, 0); !apperr.Is(err, apperr.KindConflict) {
			t.Fatalf("approve after withdraw: %v", err)
		}

		// An approved (active) grant is the admins' to revoke, not the
		// operator's to withdraw; the refusal says why in plain words.
		g2, err := e.svc.Request(ctx, op, tid, supportaccess.KindSupport, "again", "T-2", scope, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.Approve(ctx, admin, g2.ID, "I approve.", nil, 0); err != nil {
			t.Fatal(err)
		}
		_, err = e.svc.Withdraw(ctx, op, tid, g2.ID)
		ae, ok := apperr.As(err)
		if !ok || ae.Kind != apperr.KindConflict || !strings.Contains(ae.Message, "cannot withdraw a active grant") {
			t.Fatalf("withdraw of an active grant: %v", err)
		}
		if _, err := e.svc.Authorize(ctx, op.ID, tid, g2.ID, "contact", false); err != nil {
			t.Fatalf("the refused withdraw changed the grant: %v", err)
		}
	})
}
