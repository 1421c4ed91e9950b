package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/havencrm/haven/exportgov"
	"github.com/havencrm/haven/internal/testdb"
	"github.com/havencrm/haven/store"
	"github.com/havencrm/haven/tenant"
)

// TestExportGovernanceRowLevelSecurity: the export rules and the usage
// ledger are fenced by tenant on PostgreSQL like every tenant table: a
// transaction of tenant A sees and changes none of tenant B's rows even
// without a tenant_id predicate.
func TestExportGovernanceRowLevelSecurity(t *testing.T) {
	db := testdb.Open(t, "postgres")
	ctx := context.Background()
	a, b := newTenant(t, db, "exp-a"), newTenant(t, db, "exp-b")
	at := time.Now()
	for _, res := range []struct {
		tid   tenant.ID
		quota int64
	}{{a.Tenant.ID, 10}, {b.Tenant.ID, 20}} {
		tid := res.tid
		if err := db.PutExportSettings(ctx, tid, exportgov.Settings{ListRoles: []string{"admin"}, FullRoles: []string{"admin"}, DailyRowQuota: res.quota, NotifyThreshold: 1}, at); err != nil {
			t.Fatal(err)
		}
		if ok, err := db.ChargeExportRows(ctx, tid, "u", "2026-03-10", 5, res.quota, at); err != nil || !ok {
			t.Fatalf("charge: %v %v", ok, err)
		}
	}
	for _, table := range []string{"export_settings", "export_usage"} {
		var tenants int
		err := db.ReadTx(ctx, a.Tenant.ID, func(ctx context.Context) error {
			return store.RawQueryRow(ctx, "SELECT COUNT(DISTINCT tenant_id) FROM "+table).Scan(&tenants)
		})
		if err != nil || tenants != 1 {
			t.Fatalf("%s: a query without tenant predicate saw %d tenants (%v)", table, tenants, err)
		}
	}
	err := db.WriteTx(ctx, a.Tenant.ID, func(ctx context.Context) error {
		_, err := store.RawExec(ctx, "UPDATE export_usage SET rows_used = 0 WHERE tenant_id = $1", string(b.Tenant.ID))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := db.ExportRowsUsed(ctx, b.Tenant.ID, "u", "2026-03-10"); err != nil || n != 5 {
		t.Fatalf("tenant B's usage was reset through tenant A: %d %v", n, err)
	}
	// The table refuses a negative quota whatever the code does.
	if err := db.PutExportSettings(ctx, a.Tenant.ID, exportgov.Settings{ListRoles: []string{}, FullRoles: []string{}, DailyRowQuota: -1, NotifyThreshold: 1}, at); err == nil {
		t.Fatal("a negative quota was stored")
	}
}
