package store_test

import (
	"context"
	"github.com/havencrm/haven/internal/testkeys"
	"testing"
	"time"

	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/identity"
	"github.com/havencrm/haven/internal/testdb"
	"github.com/havencrm/haven/provision"
	"github.com/havencrm/haven/records"
	"github.com/havencrm/haven/store"
	"github.com/havencrm/haven/tenant"
)

func newTenant(t testing.TB, db *store.DB, slug string) provision.Result {
	t.Helper()
	hasher, err := identity.NewHasher(identity.HashParams{MemoryKiB: 8192, Iterations: 1, Parallelism: 1})
	if err != nil {
		t.Fatal(err)
	}
	ids := identity.NewService(db, hasher, identity.SessionConfig{IdleTimeout: time.Hour, AbsoluteTimeout: 2 * time.Hour}, nil)
	p := provision.New(db, records.NewService(db, testkeys.Keyring(t, db, nil), nil), ids, nil)
	res, err := p.CreateTenant(context.Background(), provision.Input{Slug: slug, Name: slug + " Ltd", AdminEmail: "admin@" + slug + ".example.com"})
	if err != nil {
		t.Fatalf("create tenant %s: %v", slug, err)
	}
	return res
}

func adminActor(res provision.Result) tenant.Actor {
	return tenant.Actor{Kind: tenant.ActorUser, TenantID: res.Tenant.ID, UserID: res.Admin.ID, Name: res.Admin.Name, Role: res.Admin.Role}
}

func TestMigrateIsIdempotent(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		applied, err := db.Migrate(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(applied) != 0 {
			t.Fatalf("second migrate applied %v again", applied)
		}
	})
}

func TestDuplicateSlugIsConflict(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		newTenant(t, db, "acme")
		hasher, _ := identity.NewHasher(identity.HashParams{MemoryKiB: 8192, Iterations: 1, Parallelism: 1})
		ids := identity.NewService(db, hasher, identity.SessionConfig{IdleTimeout: time.Hour, AbsoluteTimeout: time.Hour}, nil)
		p := provision.New(db, records.NewService(db, testkeys.Keyring(t, db, nil), nil), ids, nil)
		_, err := p.CreateTenant(context.Background(), provision.Input{Slug: "acme", Name: "Other", AdminEmail: "x@example.com"})
		if !apperr.Is(err, apperr.KindConflict) {
			t.Fatalf("want conflict, got %v", err)
		}
		// The failed attempt left nothing behind: no half-made tenant.
		tenants, err := db.Tenants(context.Background())
		if err != nil || len(tenants) != 1 {
			t.Fatalf("tenants after failed create: %d, %v", len(tenants), err)
		}
	})
}

func TestWriteTxRollsBackChangeAndAudit(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		res := newTenant(t, db, "acme")
		svc := records.NewService(db, testkeys.Keyring(t, db, nil), nil)
		actor := adminActor(res)
		ctx := context.Background()
		before, _ := db.QueryAudit(ctx, res.Tenant.ID, auditAll())
		// A lookup to a missing account fails validation after nothing was written.
		_, err := svc.Create(ctx, actor, "contact", "", records.Values{"name": []byte(`"张三"`), "account_id": []byte(`"0190a0a0-0000-7000-8000-000000000000"`)})
		if !apperr.Is(err, apperr.KindInvalid) {
			t.Fatalf("want invalid lookup, got %v", err)
		}
		after, _ := db.QueryAudit(ctx, res.Tenant.ID, auditAll())
		if len(after) != len(before) {
			t.Fatalf("audit grew from %d to %d on a failed create", len(before), len(after))
		}
	})
}

// TestRowLevelSecurity proves the second fence: on PostgreSQL a query that
// forgets its tenant predicate still sees only the transaction's tenant.
func TestRowLevelSecurity(t *testing.T) {
	db := testdb.Open(t, "postgres")
	a := newTenant(t, db, "tenant-a")
	b := newTenant(t, db, "tenant-b")
	ctx := context.Background()
	svc := records.NewService(db, testkeys.Keyring(t, db, nil), nil)
	for _, res := range []provision.Result{a, b} {
		if _, err := svc.Create(ctx, adminActor(res), "account", "", records.Values{"name": []byte(`"` + res.Tenant.Slug + ` account"`)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, table := range []string{"records", "users", "audit_events", "objects", "fields"} {
		var tenants int
		err := db.ReadTx(ctx, a.Tenant.ID, func(ctx context.Context) error {
			// Deliberately no tenant_id predicate.
			return store.RawQueryRow(ctx, "SELECT COUNT(DISTINCT tenant_id) FROM "+table).Scan(&tenants)
		})
		if err != nil {
			t.Fatal(err)
		}
		if tenants != 1 {
			t.Fatalf("%s: a query without tenant predicate saw %d tenants", table, tenants)
		}
		var foreign int
		_ = db.ReadTx(ctx, a.Tenant.ID, func(ctx context.Context) error {
			return store.RawQueryRow(ctx, "SELECT COUNT(*) FROM "+table+" WHERE tenant_id = $1", string(b.Tenant.ID)).Scan(&foreign)
		})
		if foreign != 0 {
			t.Fatalf("%s: tenant A's transaction read %d rows of tenant B", table, foreign)
		}
	}
	// Writing a row for another tenant is refused by the policy too.
	err := db.WriteTx(ctx, a.Tenant.ID, func(ctx context.Context) error {
		_, err := store.RawExec(ctx, "UPDATE records SET name = 'pwned' WHERE tenant_id = $1", string(b.Tenant.ID))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	rs, _, err := svc.List(ctx, adminActor(b), "account", records.ListQuery{})
	if err != nil || len(rs) != 1 || rs[0].Name == "pwned" {
		t.Fatalf("tenant B's record was changed through tenant A: %+v %v", rs, err)
	}
	// Without a tenant set, nothing is visible at all.
	var n int
	_ = db.ReadTx(ctx, "", func(ctx context.Context) error {
		return store.RawQueryRow(ctx, "SELECT COUNT(*) FROM records").Scan(&n)
	})
	if n != 0 {
		t.Fatalf("a transaction without tenant saw %d records", n)
	}
}

func auditAll() store.AuditFilter { return store.AuditFilter{Limit: 1000} }
