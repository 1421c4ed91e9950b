package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/havencrm/haven/internal/testdb"
	"github.com/havencrm/haven/store"
	"github.com/havencrm/haven/supportaccess"
	"github.com/havencrm/haven/tenant"
)

// TestOperatorGrants: the platform read returns one operator's grants of
// every tenant, newest first, bounded by the limit, and nobody else's.
func TestOperatorGrants(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		a := newTenant(t, db, "opgrants-a")
		b := newTenant(t, db, "opgrants-b")
		at := time.Date(2026, 7, 1, 9, 0, 0, 0, time.UTC)
		insert := func(tid tenant.ID, op string, minutes int) supportaccess.Grant {
			t.Helper()
			g := supportaccess.Grant{ID: tenant.NewID(), TenantID: string(tid), OperatorID: op, Kind: supportaccess.KindSupport,
				Reason: "r", Ticket: "T", Scope: supportaccess.Scope{Objects: []string{"contact"}}, Duration: time.Hour,
				RequiredApprovals: 1, State: supportaccess.Pending, CreatedAt: at.Add(time.Duration(minutes) * time.Minute)}
			if err := db.InsertGrant(ctx, tid, g); err != nil {
				t.Fatal(err)
			}
			return g
		}
		g1 := insert(a.Tenant.ID, "op-1", 0)
		g2 := insert(b.Tenant.ID, "op-1", 1)
		insert(a.Tenant.ID, "op-2", 2)
		g3 := insert(a.Tenant.ID, "op-1", 3)
		gs, err := db.OperatorGrants(ctx, "op-1", 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(gs) != 3 || gs[0].ID != g3.ID || gs[1].ID != g2.ID || gs[2].ID != g1.ID {
			t.Fatalf("op-1's grants: %+v", gs)
		}
		if gs[1].TenantID != string(b.Tenant.ID) || gs[0].TenantID != string(a.Tenant.ID) {
			t.Fatalf("tenants of the grants: %+v", gs)
		}
		for _, g := range gs {
			if g.OperatorID != "op-1" {
				t.Fatalf("another operator's grant listed: %+v", g)
			}
		}
		if gs, err := db.OperatorGrants(ctx, "op-1", 2); err != nil || len(gs) != 2 || gs[0].ID != g3.ID {
			t.Fatalf("limit 2: %+v %v", gs, err)
		}
		// An operator ID that looks like SQL is just a value.
		if gs, err := db.OperatorGrants(ctx, "op-1' OR '1'='1", 10); err != nil || len(gs) != 0 {
			t.Fatalf("injection attempt: %+v %v", gs, err)
		}
		if gs, err := db.OperatorGrants(ctx, "", 10); err != nil || len(gs) != 0 {
			t.Fatalf("empty operator: %+v %v", gs, err)
		}
	})
}
