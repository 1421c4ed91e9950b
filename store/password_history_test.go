package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/havencrm/haven/internal/testdb"
	"github.com/havencrm/haven/store"
)

// TestPasswordHistoryRowLevelSecurity proves the fence on the password
// history: a query without a tenant predicate, a delete and an insert
// aimed at another tenant all stay within the transaction's tenant.
func TestPasswordHistoryRowLevelSecurity(t *testing.T) {
	db := testdb.Open(t, "postgres")
	a := newTenant(t, db, "hist-a")
	b := newTenant(t, db, "hist-b")
	ctx := context.Background()
	now := time.Now()
	for _, hash := range []string{"$argon2id$a1", "$argon2id$a2"} {
		if err := db.AddPasswordHistory(ctx, a.Tenant.ID, a.Admin.ID, hash, now, 24); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.AddPasswordHistory(ctx, b.Tenant.ID, b.Admin.ID, "$argon2id$b1", now, 24); err != nil {
		t.Fatal(err)
	}
	var tenants, foreign int
	err := db.ReadTx(ctx, a.Tenant.ID, func(ctx context.Context) error {
		// Deliberately no tenant predicate.
		if err := store.RawQueryRow(ctx, "SELECT COUNT(DISTINCT tenant_id) FROM password_history").Scan(&tenants); err != nil {
			return err
		}
		return store.RawQueryRow(ctx, "SELECT COUNT(*) FROM password_history WHERE tenant_id = $1", string(b.Tenant.ID)).Scan(&foreign)
	})
	if err != nil || tenants != 1 || foreign != 0 {
		t.Fatalf("tenant A saw %d tenants and %d of B's rows (%v)", tenants, foreign, err)
	}
	// Tenant A's transaction cannot delete B's history...
	err = db.WriteTx(ctx, a.Tenant.ID, func(ctx context.Context) error {
		_, err := store.RawExec(ctx, "DELETE FROM password_history WHERE tenant_id = $1", string(b.Tenant.ID))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := db.PasswordHistory(ctx, b.Tenant.ID, b.Admin.ID, 10); err != nil || len(got) != 1 {
		t.Fatalf("B's history after A's delete: %v %v", got, err)
	}
	// ...nor plant a hash in it.
	err = db.WriteTx(ctx, a.Tenant.ID, func(ctx context.Context) error {
		_, err := store.RawExec(ctx, "INSERT INTO password_history (tenant_id, user_id, seq, hash, replaced_at) VALUES ($1, $2, 99, 'x', 0)",
			string(b.Tenant.ID), b.Admin.ID)
		return err
	})
	if err == nil {
		t.Fatal("tenant A's transaction inserted history for tenant B")
	}
	if got, _ := db.PasswordHistory(ctx, b.Tenant.ID, b.Admin.ID, 10); len(got) != 1 {
		t.Fatalf("B's history after A's insert: %v", got)
	}
	if got, _ := db.PasswordHistory(ctx, a.Tenant.ID, a.Admin.ID, 10); len(got) != 2 || got[0] != "$argon2id$a2" {
		t.Fatalf("A's history: %v", got)
	}
}
