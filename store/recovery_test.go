package store_test

import (
	"context"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/identity"
	"github.com/havencrm/haven/internal/testdb"
	"github.com/havencrm/haven/store"
	"github.com/havencrm/haven/tenant"
)

// twoInstances opens the same database twice, as two server instances
// would.
func twoInstances(t *testing.T, engine string) (*store.DB, *store.DB) {
	t.Helper()
	ctx := context.Background()
	open := func() *store.DB { return nil }
	switch engine {
	case "sqlite":
		path := filepath.Join(t.TempDir(), "haven.db")
		open = func() *store.DB {
			db, err := store.OpenSQLite(ctx, path, store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			return db
		}
	case "postgres":
		url := testdb.NewPostgresDatabase(t)
		open = func() *store.DB {
			db, err := store.OpenPostgres(ctx, url, store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			return db
		}
	}
	a, b := open(), open()
	t.Cleanup(func() { a.Close(); b.Close() })
	if _, err := a.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return a, b
}

func TestRecoveryRateLimitsHoldAcrossInstances(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			a, b := twoInstances(t, engine)
			ctx := context.Background()
			now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
			key := []identity.RecoveryRateKey{{Scope: "recovery_account", Key: "acme\x00sam@acme.example.com",
				Limits: []identity.RecoveryLimit{{Max: 3, Window: 15 * time.Minute}}}}
			var passed atomic.Int32
			var wg sync.WaitGroup
			for i := range 24 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					db := a
					if i%2 == 1 {
						db = b
					}
					retry, err := db.HitRecoveryRateLimits(ctx, key, now)
					if err != nil {
						t.Error(err)
						return
					}
					if retry == 0 {
						passed.Add(1)
					} else if retry != 15*time.Minute {
						t.Errorf("retry %s", retry)
					}
				}()
			}
			wg.Wait()
			if n := passed.Load(); n != 3 {
				t.Fatalf("%d of 24 concurrent requests passed a limit of 3", n)
			}
			// The window slides: room again once the first events leave it.
			if retry, _ := b.HitRecoveryRateLimits(ctx, key, now.Add(15*time.Minute-time.Microsecond)); retry != time.Second {
				t.Errorf("just before the window ends: retry %s", retry)
			}
			if retry, err := a.HitRecoveryRateLimits(ctx, key, now.Add(15*time.Minute)); err != nil || retry != 0 {
				t.Errorf("after the window: retry %s, %v", retry, err)
			}
			// Keys and scopes are independent.
			other := []identity.RecoveryRateKey{{Scope: "recovery_ip", Key: "acme\x00sam@acme.example.com", Limits: key[0].Limits}}
			if retry, err := a.HitRecoveryRateLimits(ctx, other, now); err != nil || retry != 0 {
				t.Errorf("another scope: %s %v", retry, err)
			}
			// Several limits: the longest wait wins; nothing is recorded when refused.
			multi := []identity.RecoveryRateKey{{Scope: "recovery_phone", Key: "+8613800138000",
				Limits: []identity.RecoveryLimit{{Max: 1, Window: time.Hour}, {Max: 2, Window: 24 * time.Hour}}}}
			if retry, _ := a.HitRecoveryRateLimits(ctx, multi, now); retry != 0 {
				t.Fatal(retry)
			}
			if retry, _ := a.HitRecoveryRateLimits(ctx, multi, now.Add(time.Hour)); retry != 0 {
				t.Fatal(retry)
			}
			if retry, _ := a.HitRecoveryRateLimits(ctx, multi, now.Add(2*time.Hour)); retry != 22*time.Hour {
				t.Fatalf("retry %s, want 22h", retry)
			}
			if retry, _ := a.HitRecoveryRateLimits(ctx, multi, now.Add(24*time.Hour)); retry != 0 {
				t.Fatalf("retry %s after a day", retry)
			}
			// Out-of-range limits are a programming error.
			if _, err := a.HitRecoveryRateLimits(ctx, []identity.RecoveryRateKey{{Scope: "x", Key: "y", Limits: []identity.RecoveryLimit{{Max: 0, Window: time.Minute}}}}, now); err == nil {
				t.Error("a zero limit was accepted")
			}
		})
	}
}

func TestRecoveryCodesStore(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		res := newTenant(t, db, "codes")
		other := newTenant(t, db, "codes-other")
		tid, uid := res.Tenant.ID, res.Admin.ID
		now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
		c := identity.RecoveryCode{ID: tenant.NewID(), UserID: uid, Channel: "email", CodeHash: "$argon2id$x", CreatedAt: now, ExpiresAt: now.Add(10 * time.Minute)}
		if err := db.PutRecoveryCode(ctx, tid, c); err != nil {
			t.Fatal(err)
		}
		got, err := db.GetRecoveryCode(ctx, tid, uid)
		if err != nil || got != c {
			t.Fatalf("got %+v %v", got, err)
		}
		// Another tenant's fence sees nothing.
		if _, err := db.GetRecoveryCode(ctx, other.Tenant.ID, uid); !apperr.Is(err, apperr.KindNotFound) {
			t.Fatalf("cross-tenant read: %v", err)
		}
		if ok, _ := db.DeleteRecoveryCode(ctx, other.Tenant.ID, uid, c.ID); ok {
			t.Fatal("cross-tenant delete")
		}
		// Tries are counted up to the limit, not past expiry.
		for i := range 5 {
			if ok, err := db.ReserveRecoveryAttempt(ctx, tid, uid, c.ID, 5, now); err != nil || !ok {
				t.Fatalf("try %d: %v %v", i+1, ok, err)
			}
		}
		if ok, _ := db.ReserveRecoveryAttempt(ctx, tid, uid, c.ID, 5, now); ok {
			t.Fatal("sixth try reserved")
		}
		if err := db.RefundRecoveryAttempt(ctx, tid, uid, c.ID); err != nil {
			t.Fatal(err)
		}
		if ok, _ := db.ReserveRecoveryAttempt(ctx, tid, uid, c.ID, 5, now.Add(10*time.Minute)); ok {
			t.Fatal("a try on an expired code")
		}
		if ok, _ := db.ReserveRecoveryAttempt(ctx, tid, uid, "someone-else", 5, now); ok {
			t.Fatal("a try on another code")
		}
		// A new code replaces the old one, with its tries reset.
		c2 := c
		c2.ID, c2.CodeHash = tenant.NewID(), "$argon2id$y"
		if err := db.PutRecoveryCode(ctx, tid, c2); err != nil {
			t.Fatal(err)
		}
		if got, _ := db.GetRecoveryCode(ctx, tid, uid); got.ID != c2.ID || got.Attempts != 0 {
			t.Fatalf("got %+v", got)
		}
		if ok, _ := db.DeleteRecoveryCode(ctx, tid, uid, c.ID); ok {
			t.Fatal("deleted the replaced code")
		}
		if ok, _ := db.DeleteRecoveryCode(ctx, tid, uid, c2.ID); !ok {
			t.Fatal("did not delete the live code")
		}
		if ok, _ := db.DeleteRecoveryCode(ctx, tid, uid, c2.ID); ok {
			t.Fatal("deleted twice")
		}
	})
}

// TestRecoveryTablesUnderRowLevelSecurity checks the second fence on
// PostgreSQL: as the application role, a tenant sees only its own codes
// even without a tenant condition, and the platform rate-limit table is
// usable (granted, no tenant).
func TestRecoveryTablesUnderRowLevelSecurity(t *testing.T) {
	url := testdb.NewPostgresDatabase(t)
	ctx := context.Background()
	db, err := store.OpenPostgres(ctx, url, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	a, b := newTenant(t, db, "rls-a"), newTenant(t, db, "rls-b")
	now := time.Now().UTC()
	for _, r := range []struct {
		tid tenant.ID
		uid string
	}{{a.Tenant.ID, a.Admin.ID}, {b.Tenant.ID, b.Admin.ID}} {
		if err := db.PutRecoveryCode(ctx, r.tid, identity.RecoveryCode{ID: tenant.NewID(), UserID: r.uid, Channel: "email", CodeHash: "h", CreatedAt: now, ExpiresAt: now.Add(time.Minute)}); err != nil {
			t.Fatal(err)
		}
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, "SELECT set_config('role', 'haven_app', true), set_config('haven.tenant_id', $1, true)", string(a.Tenant.ID)); err != nil {
		t.Fatal(err)
	}
	var n int
	var tid string
	if err := tx.QueryRow(ctx, "SELECT COUNT(*), MIN(tenant_id) FROM recovery_codes").Scan(&n, &tid); err != nil {
		t.Fatal(err)
	}
	if n != 1 || tid != string(a.Tenant.ID) {
		t.Fatalf("tenant A sees %d codes (%s)", n, tid)
	}
	if _, err := tx.Exec(ctx, "INSERT INTO recovery_codes (tenant_id, user_id, id, channel, code_hash, attempts, created_at, expires_at) VALUES ($1, $2, 'x', 'email', 'h', 0, 0, 0)",
		string(b.Tenant.ID), b.Admin.ID); err == nil {
		t.Fatal("tenant A wrote a code into tenant B")
	}
}
