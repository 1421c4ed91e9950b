package store_test

import (
	"context"
	"crypto/sha256"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/identity"
	"github.com/havencrm/haven/internal/testdb"
	"github.com/havencrm/haven/provision"
	"github.com/havencrm/haven/store"
	"github.com/havencrm/haven/tenant"
)

var cst = time.FixedZone("CST", 8*3600)

var tenants atomic.Int64

// uniqueTenant provisions a tenant whose slug no other case sharing the
// database uses.
func uniqueTenant(t *testing.T, db *store.DB, base string) provision.Result {
	t.Helper()
	return newTenant(t, db, base+"-"+strconv.FormatInt(tenants.Add(1), 10))
}

func cheapIdentity(t *testing.T, db *store.DB, now func() time.Time) *identity.Service {
	t.Helper()
	hasher, err := identity.NewHasher(identity.HashParams{MemoryKiB: 8192, Iterations: 1, Parallelism: 1})
	if err != nil {
		t.Fatal(err)
	}
	return identity.NewService(db, hasher, identity.SessionConfig{IdleTimeout: time.Hour, AbsoluteTimeout: 2 * time.Hour}, now)
}

func testUser(email string) identity.User {
	at := time.Date(2026, 3, 1, 17, 4, 5, 123456789, cst)
	return identity.User{ID: tenant.NewID(), Email: email, Name: "U", Role: "sales", Status: identity.StatusActive,
		PasswordHash:      "$argon2id$v=19$m=8192,t=1,p=1$c2FsdHNhbHRzYWx0$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U",
		PasswordChangedAt: at, CreatedAt: at, UpdatedAt: at}
}

func testSession(userID string, hash []byte) identity.Session {
	at := time.Date(2026, 3, 1, 9, 0, 0, 999, time.UTC)
	return identity.Session{ID: tenant.NewID(), UserID: userID, TokenHash: hash, CreatedAt: at, LastSeenAt: at,
		ExpiresAt: at.Add(time.Hour), IP: "192.0.2.1", UserAgent: "ua"}
}

func hashOf(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

func testSessionsTableHoldsOnlyTheTokenHash(t *testing.T, db *store.DB) {
	res := uniqueTenant(t, db, "acme")
	ctx := context.Background()
	ids := cheapIdentity(t, db, nil)
	r, err := ids.Login(ctx, identity.LoginInput{TenantSlug: res.Tenant.Slug, Login: res.Admin.Email, Password: res.OneTimePassword, UserAgent: "ua"})
	if err != nil {
		t.Fatal(err)
	}
	err = db.ReadTx(ctx, res.Tenant.ID, func(ctx context.Context) error {
		var n int
		if err := store.RawQueryRow(ctx, rebind(db, "SELECT COUNT(*) FROM sessions WHERE tenant_id = ?"), string(res.Tenant.ID)).Scan(&n); err != nil {
			return err
		}
		if n != 1 {
			t.Fatalf("%d sessions", n)
		}
		var id, user, ip, ua string
		var hash []byte
		if err := store.RawQueryRow(ctx, rebind(db, "SELECT id, user_id, token_hash, ip, user_agent FROM sessions WHERE tenant_id = ?"),
			string(res.Tenant.ID)).Scan(&id, &user, &hash, &ip, &ua); err != nil {
			return err
		}
		if string(hash) != string(hashOf(r.Token)) {
			t.Fatalf("stored hash %x is not sha256(token)", hash)
		}
		for _, col := range []string{id, user, ip, ua, string(hash)} {
			if strings.Contains(col, r.Token) || strings.Contains(col, strings.TrimPrefix(r.Token, "hvs_")) {
				t.Fatal("the token is stored in clear")
			}
		}
		var pw string
		if err := store.RawQueryRow(ctx, rebind(db, "SELECT password_hash FROM users WHERE tenant_id = ?"), string(res.Tenant.ID)).Scan(&pw); err != nil {
			return err
		}
		if strings.Contains(pw, res.OneTimePassword) || !strings.HasPrefix(pw, "$argon2id$") {
			t.Fatalf("password stored as %q", pw)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func rebind(db *store.DB, q string) string {
	if db.Dialect() != "postgres" {
		return q
	}
	var b strings.Builder
	n := 0
	for _, c := range q {
		if c == '?' {
			n++
			b.WriteString("$" + string(rune('0'+n)))
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

func testUniqueViolationsAreConflicts(t *testing.T, db *store.DB) {
	res := uniqueTenant(t, db, "acme")
	other := uniqueTenant(t, db, "globex")
	ctx := context.Background()
	tid := res.Tenant.ID
	u := testUser("dup@example.com")
	if err := db.InsertUser(ctx, tid, u); err != nil {
		t.Fatal(err)
	}
	checkConflict := func(what string, err error, keepsCause bool) {
		t.Helper()
		ae, ok := apperr.As(err)
		if !ok || ae.Kind != apperr.KindConflict || ae.Code != apperr.CodeConflict {
			t.Fatalf("%s: want conflict, got %v", what, err)
		}
		low := strings.ToLower(ae.Message)
		if strings.Contains(low, "unique") || strings.Contains(low, "constraint") || strings.Contains(low, "users_") || strings.Contains(low, "sqlstate") {
			t.Fatalf("%s: driver detail in the public message %q", what, ae.Message)
		}
		if keepsCause && !strings.Contains(strings.ToLower(err.Error()), "unique") && !strings.Contains(err.Error(), "duplicate") {
			t.Fatalf("%s: the driver cause was dropped: %v", what, err)
		}
	}
	dupEmail := testUser("dup@example.com")
	checkConflict("duplicate e-mail", db.InsertUser(ctx, tid, dupEmail), true)
	dupID := testUser("other@example.com")
	dupID.ID = u.ID
	checkConflict("duplicate user id", db.InsertUser(ctx, tid, dupID), true)
	// Same e-mail and even the same user ID in another tenant are fine.
	if err := db.InsertUser(ctx, other.Tenant.ID, u); err != nil {
		t.Fatalf("same user in another tenant: %v", err)
	}
	// Duplicate phone through an update.
	p1, p2 := testUser(""), testUser("")
	p1.Phone, p2.Phone = "13800138000", "13900139000"
	if err := db.InsertUser(ctx, tid, p1); err != nil {
		t.Fatal(err)
	}
	if err := db.InsertUser(ctx, tid, p2); err != nil {
		t.Fatal(err)
	}
	p2.Phone = p1.Phone
	checkConflict("duplicate phone", db.UpdateUser(ctx, tid, p2), true)
	// Duplicate token hash.
	s := testSession(u.ID, hashOf("t1"))
	if err := db.InsertSession(ctx, tid, s); err != nil {
		t.Fatal(err)
	}
	s2 := testSession(u.ID, hashOf("t1"))
	checkConflict("duplicate token hash", db.InsertSession(ctx, tid, s2), true)
	// The tenant's slug.
	dupTenant := res.Tenant
	dupTenant.ID = tenant.ID(tenant.NewID())
	// (InsertTenant rewrites the message to name the slug.)
	checkConflict("duplicate slug", db.WriteTx(ctx, dupTenant.ID, func(ctx context.Context) error { return db.InsertTenant(ctx, dupTenant) }), false)
}

func testForeignKeyViolationsAreInvalid(t *testing.T, db *store.DB) {
	res := uniqueTenant(t, db, "acme")
	other := uniqueTenant(t, db, "globex")
	ctx := context.Background()
	// A session for a user that does not exist, or exists only in
	// another tenant.
	err := db.InsertSession(ctx, res.Tenant.ID, testSession(tenant.NewID(), hashOf("x")))
	if !apperr.Is(err, apperr.KindInvalid) {
		t.Fatalf("session of unknown user: %v", err)
	}
	err = db.InsertSession(ctx, res.Tenant.ID, testSession(other.Admin.ID, hashOf("y")))
	if !apperr.Is(err, apperr.KindInvalid) {
		t.Fatalf("session of another tenant's user: %v", err)
	}
	// A user of a tenant that does not exist.
	ghost := tenant.ID(tenant.NewID())
	if err := db.InsertUser(ctx, ghost, testUser("g@example.com")); err == nil {
		t.Fatal("user inserted for a missing tenant")
	}
}

func testTxTenantMismatchIsRefused(t *testing.T, db *store.DB) {
	a := uniqueTenant(t, db, "acme")
	b := uniqueTenant(t, db, "globex")
	ctx := context.Background()
	bUser := testUser("x@example.com")
	refused := func(what string, err error) {
		t.Helper()
		if err == nil {
			t.Fatalf("%s: a store call for tenant B ran inside tenant A's transaction", what)
		}
		// The guard is a programming error, never a not-found a caller
		// could mistake for an answer.
		if k := apperr.KindOf(err); k != apperr.KindInternal {
			t.Fatalf("%s: error of kind %v: %v", what, k, err)
		}
	}
	refused("write", db.WriteTx(ctx, a.Tenant.ID, func(ctx context.Context) error {
		return db.InsertUser(ctx, b.Tenant.ID, bUser)
	}))
	if _, err := db.User(ctx, b.Tenant.ID, bUser.ID); !apperr.Is(err, apperr.KindNotFound) {
		t.Fatalf("user written to B through A's transaction: %v", err)
	}
	// The error cannot be swallowed into a partial commit either: the
	// caller ignores it, and A's own write still commits alone.
	aUser := testUser("y@example.com")
	err := db.WriteTx(ctx, a.Tenant.ID, func(ctx context.Context) error {
		if err := db.InsertUser(ctx, a.Tenant.ID, aUser); err != nil {
			return err
		}
		_ = db.InsertUser(ctx, b.Tenant.ID, bUser)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.User(ctx, b.Tenant.ID, bUser.ID); !apperr.Is(err, apperr.KindNotFound) {
		t.Fatalf("user written to B: %v", err)
	}
	refused("read", db.ReadTx(ctx, a.Tenant.ID, func(ctx context.Context) error {
		u, err := db.User(ctx, b.Tenant.ID, b.Admin.ID)
		if err == nil {
			t.Errorf("read B's user %s inside A's transaction", u.Email)
		}
		return err
	}))
	refused("read in write", db.WriteTx(ctx, a.Tenant.ID, func(ctx context.Context) error {
		_, err := db.Users(ctx, b.Tenant.ID, "", 10)
		return err
	}))
	refused("nested tx", db.WriteTx(ctx, a.Tenant.ID, func(ctx context.Context) error {
		return db.WriteTx(ctx, b.Tenant.ID, func(ctx context.Context) error { return nil })
	}))
	refused("tenant lookup", db.ReadTx(ctx, a.Tenant.ID, func(ctx context.Context) error {
		_, err := db.Tenant(ctx, b.Tenant.ID)
		return err
	}))
	refused("platform call", db.ReadTx(ctx, a.Tenant.ID, func(ctx context.Context) error {
		_, err := db.TenantBySlug(ctx, b.Tenant.Slug)
		return err
	}))
	refused("session revoke", db.WriteTx(ctx, a.Tenant.ID, func(ctx context.Context) error {
		_, err := db.RevokeUserSessions(ctx, b.Tenant.ID, b.Admin.ID, "", time.Now())
		return err
	}))
	// The same tenant joins the transaction.
	err = db.WriteTx(ctx, a.Tenant.ID, func(ctx context.Context) error {
		return db.WriteTx(ctx, a.Tenant.ID, func(ctx context.Context) error {
			_, err := db.User(ctx, a.Tenant.ID, a.Admin.ID)
			return err
		})
	})
	if err != nil {
		t.Fatal(err)
	}
}

func testReadTxRefusesWrites(t *testing.T, db *store.DB) {
	res := uniqueTenant(t, db, "acme")
	ctx := context.Background()
	tid := res.Tenant.ID
	u := testUser("r@example.com")
	err := db.ReadTx(ctx, tid, func(ctx context.Context) error { return db.InsertUser(ctx, tid, u) })
	if err == nil {
		t.Fatal("insert inside a read transaction")
	}
	err = db.ReadTx(ctx, tid, func(ctx context.Context) error {
		return db.WriteTx(ctx, tid, func(ctx context.Context) error { return nil })
	})
	if err == nil {
		t.Fatal("write transaction nested in a read transaction")
	}
	// Even raw SQL that bypasses the store's own check is refused by
	// the database (SQLite query_only, PostgreSQL READ ONLY).
	for _, q := range []string{
		"UPDATE users SET name = 'pwned'",
		"DELETE FROM users",
		"INSERT INTO audit_heads (tenant_id, last_seq) VALUES ('x', 0)",
	} {
		err := db.ReadTx(ctx, tid, func(ctx context.Context) error {
			_, err := store.RawExec(ctx, q)
			return err
		})
		if err == nil {
			t.Fatalf("%q ran inside a read transaction", q)
		}
	}
	if _, err := db.User(ctx, tid, u.ID); !apperr.Is(err, apperr.KindNotFound) {
		t.Fatalf("user inserted: %v", err)
	}
	got, err := db.User(ctx, tid, res.Admin.ID)
	if err != nil || got.Name == "pwned" {
		t.Fatalf("admin changed: %+v %v", got, err)
	}
}

func testTimesRoundTripUTCMicroseconds(t *testing.T, db *store.DB) {
	res := uniqueTenant(t, db, "acme")
	ctx := context.Background()
	tid := res.Tenant.ID
	u := testUser("time@example.com")
	last := time.Date(1969, 12, 31, 23, 59, 59, 999999999, cst) // before the epoch
	u.LastLoginAt = &last
	if err := db.InsertUser(ctx, tid, u); err != nil {
		t.Fatal(err)
	}
	got, err := db.User(ctx, tid, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	same := func(name string, got, want time.Time) {
		t.Helper()
		if got.Location() != time.UTC {
			t.Fatalf("%s in %v, want UTC", name, got.Location())
		}
		if !got.Equal(want.Truncate(time.Microsecond)) {
			t.Fatalf("%s = %v, want %v", name, got, want.Truncate(time.Microsecond))
		}
		if got.Nanosecond()%1000 != 0 {
			t.Fatalf("%s keeps sub-microsecond digits", name)
		}
	}
	same("created_at", got.CreatedAt, u.CreatedAt)
	same("password_changed_at", got.PasswordChangedAt, u.PasswordChangedAt)
	if got.LastLoginAt == nil {
		t.Fatal("last login lost")
	}
	same("last_login_at", *got.LastLoginAt, last)
	if got.CreatedAt.Nanosecond() != 123456000 {
		t.Fatalf("microseconds lost: %d", got.CreatedAt.Nanosecond())
	}
	u.LastLoginAt = nil
	if err := db.UpdateUser(ctx, tid, u); err != nil {
		t.Fatal(err)
	}
	got, _ = db.User(ctx, tid, u.ID)
	if got.LastLoginAt != nil {
		t.Fatalf("nil time came back as %v", got.LastLoginAt)
	}
	s := testSession(u.ID, hashOf("time"))
	if err := db.InsertSession(ctx, tid, s); err != nil {
		t.Fatal(err)
	}
	gs, err := db.SessionByTokenHash(ctx, tid, hashOf("time"))
	if err != nil {
		t.Fatal(err)
	}
	same("session created", gs.CreatedAt, s.CreatedAt)
	same("session expires", gs.ExpiresAt, s.ExpiresAt)
	if gs.RevokedAt != nil {
		t.Fatal("revoked at set")
	}
	tn, _ := db.Tenant(ctx, tid)
	same("tenant created", tn.CreatedAt, res.Tenant.CreatedAt)
}

func testSessionStoreOperations(t *testing.T, db *store.DB) {
	res := uniqueTenant(t, db, "acme")
	other := uniqueTenant(t, db, "globex")
	ctx := context.Background()
	tid := res.Tenant.ID
	uid := res.Admin.ID
	var sessions []identity.Session
	for i := 0; i < 3; i++ {
		s := testSession(uid, hashOf(string(rune('a'+i))))
		if err := db.InsertSession(ctx, tid, s); err != nil {
			t.Fatal(err)
		}
		sessions = append(sessions, s)
	}
	os := testSession(other.Admin.ID, hashOf("o"))
	if err := db.InsertSession(ctx, other.Tenant.ID, os); err != nil {
		t.Fatal(err)
	}
	// Touch never moves last_seen backwards.
	later := sessions[0].LastSeenAt.Add(10 * time.Minute)
	if err := db.TouchSession(ctx, tid, sessions[0].ID, later); err != nil {
		t.Fatal(err)
	}
	if err := db.TouchSession(ctx, tid, sessions[0].ID, later.Add(-5*time.Minute)); err != nil {
		t.Fatal(err)
	}
	got, _ := db.SessionByTokenHash(ctx, tid, sessions[0].TokenHash)
	if !got.LastSeenAt.Equal(later.Truncate(time.Microsecond)) {
		t.Fatalf("last seen %v, want %v", got.LastSeenAt, later)
	}
	// Touching or revoking with another tenant's ID does nothing there.
	at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	if err := db.RevokeSession(ctx, tid, os.ID, at); err != nil {
		t.Fatal(err)
	}
	if n, err := db.RevokeUserSessions(ctx, tid, other.Admin.ID, "", at); err != nil || n != 0 {
		t.Fatalf("revoked %d of another tenant's sessions: %v", n, err)
	}
	if g, _ := db.SessionByTokenHash(ctx, other.Tenant.ID, os.TokenHash); g.RevokedAt != nil {
		t.Fatal("another tenant's session was revoked")
	}
	// Revoke all but one, then all; revoked sessions are not counted twice.
	n, err := db.RevokeUserSessions(ctx, tid, uid, sessions[1].ID, at)
	if err != nil || n != 2 {
		t.Fatalf("revoked %d: %v", n, err)
	}
	if g, _ := db.SessionByTokenHash(ctx, tid, sessions[1].TokenHash); g.RevokedAt != nil {
		t.Fatal("spared session revoked")
	}
	if n, _ := db.RevokeUserSessions(ctx, tid, uid, "", at.Add(time.Minute)); n != 1 {
		t.Fatalf("second revoke ended %d", n)
	}
	g, _ := db.SessionByTokenHash(ctx, tid, sessions[0].TokenHash)
	if g.RevokedAt == nil || !g.RevokedAt.Equal(at) {
		t.Fatalf("first revocation time overwritten: %v", g.RevokedAt)
	}
	if _, err := db.SessionByTokenHash(ctx, tid, os.TokenHash); !apperr.Is(err, apperr.KindNotFound) {
		t.Fatalf("another tenant's session found: %v", err)
	}
}

func testUserLookups(t *testing.T, db *store.DB) {
	res := uniqueTenant(t, db, "acme")
	other := uniqueTenant(t, db, "globex")
	ctx := context.Background()
	tid := res.Tenant.ID
	p := testUser("")
	p.Phone = "+8613800138000"
	if err := db.InsertUser(ctx, tid, p); err != nil {
		t.Fatal(err)
	}
	if u, err := db.UserByLogin(ctx, tid, "+8613800138000"); err != nil || u.ID != p.ID || u.Email != "" {
		t.Fatalf("by phone: %+v %v", u, err)
	}
	if u, err := db.UserByLogin(ctx, tid, res.Admin.Email); err != nil || u.ID != res.Admin.ID {
		t.Fatalf("by e-mail: %v", err)
	}
	// Another tenant's admin is not found by login, nor by ID.
	if _, err := db.UserByLogin(ctx, tid, other.Admin.Email); !apperr.Is(err, apperr.KindNotFound) {
		t.Fatalf("foreign login: %v", err)
	}
	if _, err := db.User(ctx, tid, other.Admin.ID); !apperr.Is(err, apperr.KindNotFound) {
		t.Fatalf("foreign id: %v", err)
	}
	// An empty login matches nobody (users without phone have NULL, not '').
	if _, err := db.UserByLogin(ctx, tid, ""); !apperr.Is(err, apperr.KindNotFound) {
		t.Fatalf("empty login: %v", err)
	}
	missing := testUser("nobody@example.com")
	if err := db.UpdateUser(ctx, tid, missing); !apperr.Is(err, apperr.KindNotFound) {
		t.Fatalf("update of a missing user: %v", err)
	}
	if err := db.UpdateUser(ctx, tid, identity.User{ID: other.Admin.ID, Name: "pwned", Role: "admin", Status: "active"}); !apperr.Is(err, apperr.KindNotFound) {
		t.Fatalf("cross-tenant update: %v", err)
	}
	if n, _ := db.CountActiveAdmins(ctx, tid); n != 1 {
		t.Fatalf("%d admins", n)
	}
}

// A suspended tenant's users cannot sign in; their existing sessions
// must stop working too.
func testSuspendedTenantSessionsStop(t *testing.T, db *store.DB) {
	res := uniqueTenant(t, db, "acme")
	ctx := context.Background()
	ids := cheapIdentity(t, db, nil)
	r, err := ids.Login(ctx, identity.LoginInput{TenantSlug: res.Tenant.Slug, Login: res.Admin.Email, Password: res.OneTimePassword})
	if err != nil {
		t.Fatal(err)
	}
	err = db.WriteTx(ctx, res.Tenant.ID, func(ctx context.Context) error {
		_, err := store.RawExec(ctx, rebind(db, "UPDATE tenants SET status = 'suspended' WHERE id = ?"), string(res.Tenant.ID))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ids.Login(ctx, identity.LoginInput{TenantSlug: res.Tenant.Slug, Login: res.Admin.Email, Password: res.OneTimePassword}); !apperr.Is(err, apperr.KindUnauthenticated) {
		t.Fatalf("login to a suspended tenant: %v", err)
	}
	if p, err := ids.Authenticate(ctx, r.Token, "", "", ""); err == nil {
		t.Fatalf("a session of a suspended tenant still authenticates as %s", p.User.Email)
	}
}

// TestOnDatabase runs the store cases on one database per engine; each
// case works in tenants of its own, in parallel.
func TestOnDatabase(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		fn   func(t *testing.T, db *store.DB)
	}{
		{"SessionsTableHoldsOnlyTheTokenHash", testSessionsTableHoldsOnlyTheTokenHash},
		{"UniqueViolationsAreConflicts", testUniqueViolationsAreConflicts},
		{"ForeignKeyViolationsAreInvalid", testForeignKeyViolationsAreInvalid},
		{"TxTenantMismatchIsRefused", testTxTenantMismatchIsRefused},
		{"ReadTxRefusesWrites", testReadTxRefusesWrites},
		{"TimesRoundTripUTCMicroseconds", testTimesRoundTripUTCMicroseconds},
		{"SessionStoreOperations", testSessionStoreOperations},
		{"UserLookups", testUserLookups},
		{"SuspendedTenantSessionsStop", testSuspendedTenantSessionsStop},
		{"RecordRoundTripAndVersionGuard", testRecordRoundTripAndVersionGuard},
		{"ObjectsAndFields", testObjectsAndFields},
		{"ObjectWithEmptyNameIsNotFound", testObjectWithEmptyNameIsNotFound},
		{"ListRecordsAtStoreLevel", testListRecordsAtStoreLevel},
		{"AuditAppendNeedsTheTenantsHead", testAuditAppendNeedsTheTenantsHead},
	}
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				t.Parallel()
				c.fn(t, db)
			})
		}
	})
}
