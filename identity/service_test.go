package identity_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/havencrm/haven/access"
	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/audit"
	"github.com/havencrm/haven/identity"
	"github.com/havencrm/haven/internal/testdb"
	"github.com/havencrm/haven/provision"
	"github.com/havencrm/haven/records"
	"github.com/havencrm/haven/store"
	"github.com/havencrm/haven/tenant"
)

const (
	idle     = 30 * time.Minute
	absolute = 2 * time.Hour
)

// clock is a fake clock tests advance by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock {
	return &clock{t: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// hookStore is the real store with optional hooks that let a test run
// another operation at a precise point of a service call.
type hookStore struct {
	*store.DB
	mu               sync.Mutex
	afterUserByLogin func()
	afterUser        func()
	beforeCount      func()
}

func take(mu *sync.Mutex, f *func()) func() {
	mu.Lock()
	defer mu.Unlock()
	g := *f
	*f = nil
	return g
}

func (h *hookStore) UserByLogin(ctx context.Context, tid tenant.ID, login string) (identity.User, error) {
	u, err := h.DB.UserByLogin(ctx, tid, login)
	if f := take(&h.mu, &h.afterUserByLogin); f != nil {
		f()
	}
	return u, err
}

func (h *hookStore) User(ctx context.Context, tid tenant.ID, id string) (identity.User, error) {
	u, err := h.DB.User(ctx, tid, id)
	if f := take(&h.mu, &h.afterUser); f != nil {
		f()
	}
	return u, err
}

func (h *hookStore) CountActiveAdmins(ctx context.Context, tid tenant.ID) (int, error) {
	h.mu.Lock()
	f := h.beforeCount
	h.mu.Unlock()
	if f != nil {
		f()
	}
	return h.DB.CountActiveAdmins(ctx, tid)
}

type env struct {
	db     *store.DB
	hooks  *hookStore
	clk    *clock
	ids    *identity.Service
	prov   *provision.Provisioner
	suffix string
}

// envs numbers environments so that the tenants of cases sharing one
// database get distinct slugs.
var envs atomic.Int64

// slug maps the tenant names the cases use ("acme", "globex", ...) to
// this environment's own slugs, keeping the case of what was typed.
func (e *env) slug(s string) string {
	lower := strings.ToLower(s)
	switch lower {
	case "acme", "globex", "initech", "other":
		actual := lower + "-" + e.suffix
		if s != lower {
			return strings.ToUpper(actual)
		}
		return actual
	}
	return s
}

func setup(t *testing.T, db *store.DB) *env {
	t.Helper()
	clk := newClock()
	hs := &hookStore{DB: db}
	ids := identity.NewService(hs, newHasher(t), identity.SessionConfig{IdleTimeout: idle, AbsoluteTimeout: absolute}, clk.Now)
	prov := provision.New(db, records.NewService(db, nil, clk.Now), ids, clk.Now)
	return &env{db: db, hooks: hs, clk: clk, ids: ids, prov: prov, suffix: strconv.FormatInt(envs.Add(1), 10)}
}

type tenantFix struct {
	res      provision.Result
	admin    tenant.Actor
	adminPW  string
	slug     string
	tenantID tenant.ID
}

func (e *env) newTenant(t *testing.T, slug string) tenantFix {
	t.Helper()
	res, err := e.prov.CreateTenant(context.Background(), provision.Input{Slug: e.slug(slug), Name: slug + " Ltd", AdminEmail: "admin@" + slug + ".example.com", AdminName: "Ada Admin"})
	if err != nil {
		t.Fatalf("create tenant %s: %v", slug, err)
	}
	return tenantFix{
		res:      res,
		admin:    tenant.Actor{Kind: tenant.ActorUser, TenantID: res.Tenant.ID, UserID: res.Admin.ID, Name: res.Admin.Name, Role: res.Admin.Role},
		adminPW:  res.OneTimePassword,
		slug:     e.slug(slug),
		tenantID: res.Tenant.ID,
	}
}

func ptr(s string) *string { return &s }

// addUser creates a user as the tenant admin and returns it with its
// one-time password.
func (e *env) addUser(t *testing.T, tf tenantFix, email, name, role string) (identity.User, string) {
	t.Helper()
	nu, err := e.ids.CreateUser(context.Background(), tf.admin, identity.UserInput{Email: ptr(email), Name: ptr(name), Role: ptr(role)})
	if err != nil {
		t.Fatalf("create user %s: %v", email, err)
	}
	return nu.User, nu.OneTimePassword
}

func (e *env) login(t *testing.T, slug, login, password string) identity.LoginResult {
	t.Helper()
	r, err := e.ids.Login(context.Background(), identity.LoginInput{TenantSlug: e.slug(slug), Login: login, Password: password, IP: "203.0.113.7", UserAgent: "test", RequestID: "req"})
	if err != nil {
		t.Fatalf("login %s/%s: %v", slug, login, err)
	}
	return r
}

func (e *env) auth(token string) (identity.Principal, error) {
	return e.ids.Authenticate(context.Background(), token, "203.0.113.8", "ua", "req-2")
}

func (e *env) mustAuth(t *testing.T, token string) identity.Principal {
	t.Helper()
	p, err := e.auth(token)
	if err != nil {
		t.Fatalf("authenticate: %v", err)
	}
	return p
}

func (e *env) mustNotAuth(t *testing.T, token, why string) {
	t.Helper()
	p, err := e.auth(token)
	if err == nil {
		t.Fatalf("%s: token still authenticates as %s", why, p.User.ID)
	}
	if ae, ok := apperr.As(err); !ok || ae.Code != apperr.CodeUnauthenticated {
		t.Fatalf("%s: want unauthenticated, got %v", why, err)
	}
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	ae, ok := apperr.As(err)
	if !ok || ae.Code != code {
		t.Fatalf("want %s, got %v", code, err)
	}
}

func auditEvents(t *testing.T, db *store.DB, tid tenant.ID) []audit.Event {
	t.Helper()
	evs, err := db.QueryAudit(context.Background(), tid, audit.Filter{Limit: 10000})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func sha(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// actorOf is the actor of a login result's session.
func (e *env) actorOf(t *testing.T, r identity.LoginResult) tenant.Actor {
	t.Helper()
	return e.mustAuth(t, r.Token).Actor
}

func testLoginIssuesTokenStoredOnlyAsHash(t *testing.T, db *store.DB) {
	e := setup(t, db)
	tf := e.newTenant(t, "acme")
	ctx := context.Background()
	r := e.login(t, "ACME", "  Admin@ACME.example.com ", tf.adminPW)
	if !strings.HasPrefix(r.Token, "hvs_") || len(r.Token) != 4+64 {
		t.Fatalf("token %q", r.Token)
	}
	if !r.MustChangePassword || r.User.ID != tf.admin.UserID || r.Tenant.ID != tf.tenantID {
		t.Fatalf("result %+v", r)
	}
	if !r.ExpiresAt.Equal(e.clk.Now().Add(absolute)) {
		t.Fatalf("expires %v", r.ExpiresAt)
	}
	s, err := db.SessionByTokenHash(ctx, tf.tenantID, sha(r.Token))
	if err != nil {
		t.Fatalf("session by sha256(token): %v", err)
	}
	if string(s.TokenHash) != string(sha(r.Token)) || s.UserID != tf.admin.UserID || s.IP != "203.0.113.7" {
		t.Fatalf("session %+v", s)
	}
	// The token itself is not what is stored.
	if _, err := db.SessionByTokenHash(ctx, tf.tenantID, []byte(r.Token)); !apperr.Is(err, apperr.KindNotFound) {
		t.Fatalf("lookup by raw token: %v", err)
	}
	// Nor is a session reachable from another tenant's fence.
	other := e.newTenant(t, "other")
	if _, err := db.SessionByTokenHash(ctx, other.tenantID, sha(r.Token)); !apperr.Is(err, apperr.KindNotFound) {
		t.Fatalf("session visible from another tenant: %v", err)
	}
	// Two logins give two different tokens.
	r2 := e.login(t, "acme", "admin@acme.example.com", tf.adminPW)
	if r2.Token == r.Token {
		t.Fatal("same token twice")
	}
	u, _ := db.User(ctx, tf.tenantID, tf.admin.UserID)
	if u.LastLoginAt == nil || !u.LastLoginAt.Equal(e.clk.Now()) {
		t.Fatalf("last login %v", u.LastLoginAt)
	}
	var logins int
	for _, ev := range auditEvents(t, db, tf.tenantID) {
		if ev.Action == audit.ActionLoginSucceeded {
			logins++
			if ev.ActorID != tf.admin.UserID || ev.IP != "203.0.113.7" {
				t.Fatalf("login event %+v", ev)
			}
		}
		b, _ := json.Marshal(ev)
		if strings.Contains(string(b), r.Token) || strings.Contains(string(b), tf.adminPW) {
			t.Fatalf("audit event holds a secret: %s", b)
		}
	}
	if logins != 2 {
		t.Fatalf("%d login events", logins)
	}
}

func testLoginFailuresAreIndistinguishableAndAudited(t *testing.T, db *store.DB) {
	e := setup(t, db)
	tf := e.newTenant(t, "acme")
	e.newTenant(t, "globex")
	ctx := context.Background()
	bob, bobPW := e.addUser(t, tf, "bob@acme.example.com", "Bob", access.RoleSales)
	gone, gonePW := e.addUser(t, tf, "gone@acme.example.com", "Gone", access.RoleSales)
	if _, err := e.ids.Deactivate(ctx, tf.admin, gone.ID); err != nil {
		t.Fatal(err)
	}
	const guess = "Sup3r-Secret-Guess!"
	cases := []struct {
		name                  string
		slug, login, password string
		reason                string // "" when no tenant event is expected
	}{
		{"wrong password", "acme", "bob@acme.example.com", guess, "wrong password"},
		{"unknown login", "acme", "nobody@acme.example.com", guess, "unknown login"},
		{"malformed login", "acme", "bob", guess, "unknown login"},
		{"unknown tenant", "initech", "bob@acme.example.com", guess, ""},
		{"user of another tenant", "globex", "bob@acme.example.com", bobPW, ""},
		{"deactivated with right password", "acme", "gone@acme.example.com", gonePW, "user deactivated"},
	}
	var first *apperr.Error
	for _, c := range cases {
		before := len(auditEvents(t, db, tf.tenantID))
		_, err := e.ids.Login(ctx, identity.LoginInput{TenantSlug: e.slug(c.slug), Login: c.login, Password: c.password, IP: "198.51.100.1"})
		ae, ok := apperr.As(err)
		if !ok || ae.Code != apperr.CodeInvalidCredentials {
			t.Fatalf("%s: want invalid_credentials, got %v", c.name, err)
		}
		if first == nil {
			first = ae
		} else if ae.Message != first.Message || ae.Kind != first.Kind || len(ae.Details) != 0 {
			t.Fatalf("%s: answer %+v differs from %+v", c.name, ae, first)
		}
		evs := auditEvents(t, db, tf.tenantID)
		if c.reason == "" {
			if c.slug == "acme" && len(evs) != before {
				t.Fatalf("%s: unexpected audit event", c.name)
			}
			continue
		}
		if len(evs) != before+1 {
			t.Fatalf("%s: %d new audit events", c.name, len(evs)-before)
		}
		ev := evs[0]
		if ev.Action != audit.ActionLoginFailed || ev.IP != "198.51.100.1" || ev.Changes["reason"].After != c.reason {
			t.Fatalf("%s: event %+v", c.name, ev)
		}
	}
	// No failed-login event (in any tenant) carries a password.
	for _, tid := range []tenant.ID{tf.tenantID} {
		b, _ := json.Marshal(auditEvents(t, db, tid))
		for _, secret := range []string{guess, bobPW, gonePW} {
			if strings.Contains(string(b), secret) {
				t.Fatalf("audit trail contains password %q", secret)
			}
		}
	}
	// The wrong-password event is attributed to the targeted user.
	evs, _ := db.QueryAudit(ctx, tf.tenantID, audit.Filter{Action: audit.ActionLoginFailed, ObjectID: bob.ID, Limit: 10})
	if len(evs) != 1 {
		t.Fatalf("%d failed logins recorded against bob", len(evs))
	}
	// bob's real password still works: failures changed nothing.
	e.login(t, "acme", "bob@acme.example.com", bobPW)
}

func testLoginInputLimits(t *testing.T, db *store.DB) {
	e := setup(t, db)
	tf := e.newTenant(t, "acme")
	ctx := context.Background()
	for _, in := range []identity.LoginInput{
		{TenantSlug: "", Login: "admin@acme.example.com", Password: "x"},
		{TenantSlug: e.slug("acme"), Login: "", Password: "x"},
		{TenantSlug: e.slug("acme"), Login: "admin@acme.example.com", Password: ""},
		{TenantSlug: e.slug("acme"), Login: "admin@acme.example.com", Password: strings.Repeat("a", identity.MaxPasswordBytes+1)},
		{TenantSlug: e.slug("acme"), Login: strings.Repeat("a", 255), Password: "x"},
		{TenantSlug: strings.Repeat("a", 64), Login: "admin@acme.example.com", Password: "x"},
	} {
		if _, err := e.ids.Login(ctx, in); !apperr.Is(err, apperr.KindInvalid) {
			t.Fatalf("%+v: want invalid, got %v", in, err)
		}
	}
	// The admin's password with extra bytes beyond the limit does not log in.
	if _, err := e.ids.Login(ctx, identity.LoginInput{TenantSlug: e.slug("acme"), Login: "admin@acme.example.com", Password: tf.adminPW + strings.Repeat(" ", 300)}); err == nil {
		t.Fatal("over-long password logged in")
	}
}

func testAuthenticate(t *testing.T, db *store.DB) {
	e := setup(t, db)
	tf := e.newTenant(t, "acme")
	bob, bobPW := e.addUser(t, tf, "bob@acme.example.com", "Bob", access.RoleSales)
	r := e.login(t, "acme", "bob@acme.example.com", bobPW)
	p := e.mustAuth(t, r.Token)
	a := p.Actor
	if a.Kind != tenant.ActorUser || a.TenantID != tf.tenantID || a.UserID != bob.ID || a.Role != access.RoleSales ||
		a.Name != "Bob" || a.SessionID == "" || a.IP != "203.0.113.8" || a.UserAgent != "ua" || a.RequestID != "req-2" {
		t.Fatalf("actor %+v", a)
	}
	if !p.MustChangePassword {
		t.Fatal("new user should have to change the password")
	}
	// Role changes apply to live sessions at once.
	if _, err := e.ids.UpdateUser(context.Background(), tf.admin, bob.ID, identity.UserInput{Role: ptr(access.RoleManager)}); err != nil {
		t.Fatal(err)
	}
	if got := e.mustAuth(t, r.Token).Actor.Role; got != access.RoleManager {
		t.Fatalf("role after update %q", got)
	}
}

func testSessionIdleTimeout(t *testing.T, db *store.DB) {
	e := setup(t, db)
	tf := e.newTenant(t, "acme")
	active := e.login(t, "acme", "admin@acme.example.com", tf.adminPW)
	boundary := e.login(t, "acme", "admin@acme.example.com", tf.adminPW)
	quiet := e.login(t, "acme", "admin@acme.example.com", tf.adminPW)

	// Activity keeps a session alive well past one idle period.
	for i := 0; i < 4; i++ {
		e.clk.Advance(idle - time.Minute)
		e.mustAuth(t, active.Token)
	}
	// 4 × 29 min = 116 min since login; the quiet session idled out long ago.
	e.mustNotAuth(t, quiet.Token, "idle session")
	e.mustNotAuth(t, boundary.Token, "idle session")
	// Activity after the idle period does not revive it.
	e.mustNotAuth(t, quiet.Token, "idle session, second try")
	e.clk.Advance(idle)
	e.mustNotAuth(t, active.Token, "active session idle for exactly the idle timeout")
}

func testSessionIdleBoundary(t *testing.T, db *store.DB) {
	e := setup(t, db)
	tf := e.newTenant(t, "acme")
	a := e.login(t, "acme", "admin@acme.example.com", tf.adminPW)
	b := e.login(t, "acme", "admin@acme.example.com", tf.adminPW)
	e.clk.Advance(idle - time.Second)
	e.mustAuth(t, a.Token)
	e.clk.Advance(time.Second)
	e.mustNotAuth(t, b.Token, "idle exactly IdleTimeout")
	e.mustAuth(t, a.Token) // touched a second ago
}

func testSessionTouchIsRateLimitedButCounts(t *testing.T, db *store.DB) {
	e := setup(t, db)
	tf := e.newTenant(t, "acme")
	r := e.login(t, "acme", "admin@acme.example.com", tf.adminPW)
	ctx := context.Background()
	login := e.clk.Now()
	e.clk.Advance(30 * time.Second)
	e.mustAuth(t, r.Token)
	s, _ := db.SessionByTokenHash(ctx, tf.tenantID, sha(r.Token))
	if !s.LastSeenAt.Equal(login) {
		t.Fatalf("last seen moved within the touch interval: %v", s.LastSeenAt)
	}
	e.clk.Advance(2 * time.Minute)
	e.mustAuth(t, r.Token)
	s, _ = db.SessionByTokenHash(ctx, tf.tenantID, sha(r.Token))
	if !s.LastSeenAt.Equal(e.clk.Now()) {
		t.Fatalf("last seen %v, want %v", s.LastSeenAt, e.clk.Now())
	}
}

func testSessionAbsoluteTimeout(t *testing.T, db *store.DB) {
	e := setup(t, db)
	tf := e.newTenant(t, "acme")
	r := e.login(t, "acme", "admin@acme.example.com", tf.adminPW)
	start := e.clk.Now()
	for e.clk.Now().Before(start.Add(absolute - 20*time.Minute)) {
		e.clk.Advance(20 * time.Minute)
		e.mustAuth(t, r.Token)
	}
	e.clk.Advance(20*time.Minute - time.Second)
	e.mustAuth(t, r.Token) // one second before the absolute end
	e.clk.Advance(time.Second)
	e.mustNotAuth(t, r.Token, "session at its absolute end despite activity")
	// A fresh login works again.
	e.mustAuth(t, e.login(t, "acme", "admin@acme.example.com", tf.adminPW).Token)
}

func testLogoutRevokes(t *testing.T, db *store.DB) {
	e := setup(t, db)
	tf := e.newTenant(t, "acme")
	a := e.login(t, "acme", "admin@acme.example.com", tf.adminPW)
	b := e.login(t, "acme", "admin@acme.example.com", tf.adminPW)
	if err := e.ids.Logout(context.Background(), e.actorOf(t, a)); err != nil {
		t.Fatal(err)
	}
	e.mustNotAuth(t, a.Token, "logged-out session")
	e.mustAuth(t, b.Token) // only that session ended
	s, _ := db.SessionByTokenHash(context.Background(), tf.tenantID, sha(a.Token))
	if s.RevokedAt == nil || !s.RevokedAt.Equal(e.clk.Now()) {
		t.Fatalf("revoked at %v", s.RevokedAt)
	}
}

func testTamperedTokensAreRejected(t *testing.T, db *store.DB) {
	e := setup(t, db)
	tf := e.newTenant(t, "acme")
	other := e.newTenant(t, "globex")
	r := e.login(t, "acme", "admin@acme.example.com", tf.adminPW)
	e.mustAuth(t, r.Token)
	tok := r.Token
	flip := func(i int) string {
		b := []byte(tok)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(tok, "hvs_"))
	if err != nil || len(raw) != 48 {
		t.Fatalf("token body: %v %d", err, len(raw))
	}
	if got, _ := uuid.FromBytes(raw[:16]); got.String() != string(tf.tenantID) {
		t.Fatalf("token carries tenant %s, want %s", got, tf.tenantID)
	}
	withTenant := func(id tenant.ID) string {
		b := append([]byte(nil), raw...)
		u := uuid.MustParse(string(id))
		copy(b, u[:])
		return "hvs_" + base64.RawURLEncoding.EncodeToString(b)
	}
	cases := map[string]string{
		"empty":                "",
		"prefix only":          "hvs_",
		"no prefix":            strings.TrimPrefix(tok, "hvs_"),
		"upper-case prefix":    "HVS_" + strings.TrimPrefix(tok, "hvs_"),
		"flip in tenant part":  flip(6),
		"flip in random part":  flip(40),
		"flip last char":       flip(len(tok) - 1),
		"truncated":            tok[:len(tok)-1],
		"extended":             tok + "A",
		"trailing space":       tok + " ",
		"other tenant prefix":  withTenant(other.tenantID),
		"unknown tenant":       withTenant(tenant.ID(tenant.NewID())),
		"the hash as a token":  "hvs_" + base64.RawURLEncoding.EncodeToString(append(raw[:16:16], sha(tok)...)),
		"sql-ish":              "hvs_' OR '1'='1",
		"another prefix's key": "hvk_" + strings.TrimPrefix(tok, "hvs_"),
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) { e.mustNotAuth(t, c, name) })
	}
	e.mustAuth(t, tok) // the real one still works
}

func testChangePassword(t *testing.T, db *store.DB) {
	e := setup(t, db)
	tf := e.newTenant(t, "acme")
	ctx := context.Background()
	bob, otp := e.addUser(t, tf, "bob@acme.example.com", "Bob Builder", access.RoleSales)
	s1 := e.login(t, "acme", "bob@acme.example.com", otp)
	s2 := e.login(t, "acme", "bob@acme.example.com", otp)
	actor := e.actorOf(t, s1)

	wantCode(t, e.ids.ChangePassword(ctx, actor, "wrong-password", "a new long password"), apperr.CodeInvalidCredentials)
	wantCode(t, e.ids.ChangePassword(ctx, actor, otp, "short"), apperr.CodePasswordPolicy)
	wantCode(t, e.ids.ChangePassword(ctx, actor, otp, "i-am-bob-123"), apperr.CodePasswordPolicy)
	wantCode(t, e.ids.ChangePassword(ctx, actor, otp, "my name is BOB BUILDER"), apperr.CodePasswordPolicy)
	wantCode(t, e.ids.ChangePassword(ctx, actor, otp, otp), apperr.CodePasswordPolicy)
	if err := e.ids.ChangePassword(ctx, actor, "", "a new long password"); !apperr.Is(err, apperr.KindInvalid) {
		t.Fatalf("empty current: %v", err)
	}
	// Failed attempts ended no session.
	e.mustAuth(t, s2.Token)

	const next = "Correct horse battery staple 7"
	e.clk.Advance(time.Minute)
	if err := e.ids.ChangePassword(ctx, actor, otp, next); err != nil {
		t.Fatal(err)
	}
	e.mustAuth(t, s1.Token)
	e.mustNotAuth(t, s2.Token, "other session after password change")
	if _, err := e.ids.Login(ctx, identity.LoginInput{TenantSlug: e.slug("acme"), Login: "bob@acme.example.com", Password: otp}); !apperr.Is(err, apperr.KindUnauthenticated) {
		t.Fatalf("old password: %v", err)
	}
	r := e.login(t, "acme", "bob@acme.example.com", next)
	if r.MustChangePassword {
		t.Fatal("must change password still set")
	}
	u, _ := db.User(ctx, tf.tenantID, bob.ID)
	if !u.PasswordChangedAt.Equal(e.clk.Now()) || u.MustChangePassword {
		t.Fatalf("user %+v", u)
	}
	b, _ := json.Marshal(auditEvents(t, db, tf.tenantID))
	if strings.Contains(string(b), next) || strings.Contains(string(b), otp) {
		t.Fatal("audit trail contains a password")
	}
	evs, _ := db.QueryAudit(ctx, tf.tenantID, audit.Filter{Action: audit.ActionPasswordChanged, Limit: 10})
	if len(evs) != 1 || evs[0].ObjectID != bob.ID {
		t.Fatalf("password change events %+v", evs)
	}
}

func testResetPasswordRevokesAllSessions(t *testing.T, db *store.DB) {
	e := setup(t, db)
	tf := e.newTenant(t, "acme")
	ctx := context.Background()
	bob, otp := e.addUser(t, tf, "bob@acme.example.com", "Bob", access.RoleSales)
	mgr, mgrPW := e.addUser(t, tf, "mgr@acme.example.com", "Mia", access.RoleManager)
	s1 := e.login(t, "acme", "bob@acme.example.com", otp)
	s2 := e.login(t, "acme", "bob@acme.example.com", otp)

	// Neither a manager nor the user themself may reset.
	mgrActor := e.actorOf(t, e.login(t, "acme", "mgr@acme.example.com", mgrPW))
	if _, err := e.ids.ResetPassword(ctx, mgrActor, bob.ID); !apperr.Is(err, apperr.KindForbidden) {
		t.Fatalf("manager reset: %v", err)
	}
	if _, err := e.ids.ResetPassword(ctx, e.actorOf(t, s1), bob.ID); !apperr.Is(err, apperr.KindForbidden) {
		t.Fatalf("self reset: %v", err)
	}
	_ = mgr

	newOTP, err := e.ids.ResetPassword(ctx, tf.admin, bob.ID)
	if err != nil {
		t.Fatal(err)
	}
	if newOTP == otp || len(newOTP) != 16 {
		t.Fatalf("new one-time password %q", newOTP)
	}
	e.mustNotAuth(t, s1.Token, "session after reset")
	e.mustNotAuth(t, s2.Token, "session after reset")
	if _, err := e.ids.Login(ctx, identity.LoginInput{TenantSlug: e.slug("acme"), Login: "bob@acme.example.com", Password: otp}); err == nil {
		t.Fatal("old password still works")
	}
	r := e.login(t, "acme", "bob@acme.example.com", newOTP)
	if !r.MustChangePassword {
		t.Fatal("reset password need not be changed")
	}
	if _, err := e.ids.ResetPassword(ctx, tf.admin, tenant.NewID()); !apperr.Is(err, apperr.KindNotFound) {
		t.Fatalf("reset of unknown user: %v", err)
	}
	b, _ := json.Marshal(auditEvents(t, db, tf.tenantID))
	if strings.Contains(string(b), newOTP) {
		t.Fatal("audit holds the one-time password")
	}
}

func testDeactivate(t *testing.T, db *store.DB) {
	e := setup(t, db)
	tf := e.newTenant(t, "acme")
	ctx := context.Background()
	bob, otp := e.addUser(t, tf, "bob@acme.example.com", "Bob", access.RoleSales)
	s1 := e.login(t, "acme", "bob@acme.example.com", otp)
	s2 := e.login(t, "acme", "bob@acme.example.com", otp)
	bobActor := e.actorOf(t, s1)

	if _, err := e.ids.Deactivate(ctx, bobActor, tf.admin.UserID); !apperr.Is(err, apperr.KindForbidden) {
		t.Fatalf("sales deactivating admin: %v", err)
	}
	if _, err := e.ids.Deactivate(ctx, tf.admin, tf.admin.UserID); !apperr.Is(err, apperr.KindConflict) {
		t.Fatalf("self-deactivation: %v", err)
	}
	u, err := e.ids.Deactivate(ctx, tf.admin, bob.ID)
	if err != nil {
		t.Fatal(err)
	}
	if u.Status != identity.StatusDeactivated {
		t.Fatalf("status %q", u.Status)
	}
	e.mustNotAuth(t, s1.Token, "session of a deactivated user")
	e.mustNotAuth(t, s2.Token, "session of a deactivated user")
	if _, err := e.ids.Login(ctx, identity.LoginInput{TenantSlug: e.slug("acme"), Login: "bob@acme.example.com", Password: otp}); !apperr.Is(err, apperr.KindUnauthenticated) {
		t.Fatalf("login of a deactivated user: %v", err)
	}
	// Deactivating again is harmless and adds no event.
	n := len(auditEvents(t, db, tf.tenantID))
	if _, err := e.ids.Deactivate(ctx, tf.admin, bob.ID); err != nil {
		t.Fatal(err)
	}
	if len(auditEvents(t, db, tf.tenantID)) != n {
		t.Fatal("repeated deactivation audited")
	}
	evs, _ := db.QueryAudit(ctx, tf.tenantID, audit.Filter{Action: audit.ActionUserDeactivated, Limit: 10})
	if len(evs) != 1 || evs[0].Changes["status"].After != "deactivated" {
		t.Fatalf("deactivation events %+v", evs)
	}
	if got, _ := evs[0].Changes["sessions_revoked"].After.(float64); got != 2 {
		t.Fatalf("sessions_revoked %v", evs[0].Changes["sessions_revoked"])
	}
	// A reset password does not bring a deactivated user back.
	otp2, err := e.ids.ResetPassword(ctx, tf.admin, bob.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.ids.Login(ctx, identity.LoginInput{TenantSlug: e.slug("acme"), Login: "bob@acme.example.com", Password: otp2}); !apperr.Is(err, apperr.KindUnauthenticated) {
		t.Fatalf("deactivated user logged in after reset: %v", err)
	}
	if _, err := e.ids.Deactivate(ctx, tf.admin, "not-an-id"); !apperr.Is(err, apperr.KindNotFound) {
		t.Fatalf("deactivate bad id: %v", err)
	}
}

func testLastAdminProtection(t *testing.T, db *store.DB) {
	e := setup(t, db)
	tf := e.newTenant(t, "acme")
	ctx := context.Background()
	// The only admin cannot demote themself.
	if _, err := e.ids.UpdateUser(ctx, tf.admin, tf.admin.UserID, identity.UserInput{Role: ptr(access.RoleManager)}); !apperr.Is(err, apperr.KindConflict) {
		t.Fatalf("demote last admin: %v", err)
	}
	u, _ := db.User(ctx, tf.tenantID, tf.admin.UserID)
	if u.Role != access.RoleAdmin {
		t.Fatalf("role %q after refused demotion", u.Role)
	}
	// A deactivated second admin does not count.
	ben, _ := e.addUser(t, tf, "ben@acme.example.com", "Ben", access.RoleAdmin)
	if _, err := e.ids.Deactivate(ctx, tf.admin, ben.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ids.UpdateUser(ctx, tf.admin, tf.admin.UserID, identity.UserInput{Role: ptr(access.RoleSales)}); !apperr.Is(err, apperr.KindConflict) {
		t.Fatalf("demote last active admin: %v", err)
	}
	// With a second active admin, one may step down, and then the other may not.
	cat, _ := e.addUser(t, tf, "cat@acme.example.com", "Cat", access.RoleAdmin)
	if _, err := e.ids.UpdateUser(ctx, tf.admin, tf.admin.UserID, identity.UserInput{Role: ptr(access.RoleManager)}); err != nil {
		t.Fatal(err)
	}
	catActor := tenant.Actor{Kind: tenant.ActorUser, TenantID: tf.tenantID, UserID: cat.ID, Role: access.RoleAdmin}
	if _, err := e.ids.UpdateUser(ctx, catActor, cat.ID, identity.UserInput{Role: ptr(access.RoleSales)}); !apperr.Is(err, apperr.KindConflict) {
		t.Fatalf("demote the new last admin: %v", err)
	}
	// The demoted former admin's stale actor cannot act as admin.
	if _, err := e.ids.Deactivate(ctx, tf.admin, cat.ID); err == nil {
		t.Fatal("the last admin was deactivated")
	}
	if n, _ := db.CountActiveAdmins(ctx, tf.tenantID); n != 1 {
		t.Fatalf("%d active admins", n)
	}
}

// Two admins demoting (or deactivating) each other at the same moment
// must not leave the tenant without an admin.
func testLastAdminProtectionUnderConcurrency(t *testing.T, db *store.DB) {
	for _, op := range []string{"demote", "deactivate"} {
		t.Run(op, func(t *testing.T) {
			t.Parallel()
			e := setup(t, db)
			tf := e.newTenant(t, "acme")
			ctx := context.Background()
			ben, _ := e.addUser(t, tf, "ben@acme.example.com", "Ben", access.RoleAdmin)
			benActor := tenant.Actor{Kind: tenant.ActorUser, TenantID: tf.tenantID, UserID: ben.ID, Role: access.RoleAdmin}
			if db.Dialect() == "postgres" {
				// Let both transactions reach the admin count before
				// either goes on, the interleaving that defeats a plain
				// count. (SQLite serializes writers, so no barrier there.)
				// A fix that serializes the transactions earlier (a lock
				// taken before the count) keeps the second one from ever
				// arriving; the first then goes on alone after a grace
				// period. That is the only wait, and only once fixed.
				arrived := make(chan struct{}, 2)
				release := make(chan struct{})
				var once sync.Once
				e.hooks.beforeCount = func() {
					arrived <- struct{}{}
					if len(arrived) == 2 {
						once.Do(func() { close(release) })
					}
					select {
					case <-release:
					case <-time.After(2 * time.Second):
					}
				}
			}
			var wg sync.WaitGroup
			errs := make([]error, 2)
			pairs := []struct {
				actor  tenant.Actor
				target string
			}{{tf.admin, ben.ID}, {benActor, tf.admin.UserID}}
			for i, p := range pairs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if op == "demote" {
						_, errs[i] = e.ids.UpdateUser(ctx, p.actor, p.target, identity.UserInput{Role: ptr(access.RoleSales)})
					} else {
						_, errs[i] = e.ids.Deactivate(ctx, p.actor, p.target)
					}
				}()
			}
			wg.Wait()
			n, err := db.CountActiveAdmins(ctx, tf.tenantID)
			if err != nil {
				t.Fatal(err)
			}
			if n < 1 {
				t.Fatalf("tenant left with %d active admins (errors: %v, %v)", n, errs[0], errs[1])
			}
			ok := 0
			for _, err := range errs {
				if err == nil {
					ok++
				} else if !apperr.Is(err, apperr.KindConflict) {
					t.Fatalf("unexpected error %v", err)
				}
			}
			if ok != 1 {
				t.Fatalf("%d of 2 succeeded: %v", ok, errs)
			}
		})
	}
}

func testDuplicateLogins(t *testing.T, db *store.DB) {
	e := setup(t, db)
	acme := e.newTenant(t, "acme")
	globex := e.newTenant(t, "globex")
	ctx := context.Background()
	bob, _ := e.addUser(t, acme, "bob@example.com", "Bob", access.RoleSales)
	for _, email := range []string{"bob@example.com", " BOB@Example.com "} {
		_, err := e.ids.CreateUser(ctx, acme.admin, identity.UserInput{Email: ptr(email), Name: ptr("Bob 2"), Role: ptr(access.RoleSales)})
		if !apperr.Is(err, apperr.KindConflict) {
			t.Fatalf("duplicate %q: %v", email, err)
		}
		if ae, _ := apperr.As(err); strings.Contains(ae.Message, "UNIQUE") || strings.Contains(ae.Message, "duplicate key") {
			t.Fatalf("driver text in message %q", ae.Message)
		}
	}
	// The same e-mail in another tenant is another person.
	other, otherPW := e.addUser(t, globex, "bob@example.com", "Other Bob", access.RoleSales)
	if other.ID == bob.ID {
		t.Fatal("same id")
	}
	r := e.login(t, "globex", "bob@example.com", otherPW)
	if r.User.ID != other.ID {
		t.Fatalf("logged in as %s", r.User.ID)
	}
	// Phones are unique per tenant as well.
	if _, err := e.ids.CreateUser(ctx, acme.admin, identity.UserInput{Phone: ptr("+86 138 0013 8000"), Name: ptr("P1"), Role: ptr(access.RoleSales)}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ids.CreateUser(ctx, acme.admin, identity.UserInput{Phone: ptr("+8613800138000"), Name: ptr("P2"), Role: ptr(access.RoleSales)}); !apperr.Is(err, apperr.KindConflict) {
		t.Fatalf("duplicate phone: %v", err)
	}
	// Taking someone's e-mail through an update is refused too.
	carl, _ := e.addUser(t, acme, "carl@example.com", "Carl", access.RoleSales)
	if _, err := e.ids.UpdateUser(ctx, acme.admin, carl.ID, identity.UserInput{Email: ptr("Bob@example.com")}); !apperr.Is(err, apperr.KindConflict) {
		t.Fatalf("update to a taken e-mail: %v", err)
	}
	got, _ := db.User(ctx, acme.tenantID, carl.ID)
	if got.Email != "carl@example.com" {
		t.Fatalf("e-mail changed to %q", got.Email)
	}
}

func testCreateUserRules(t *testing.T, db *store.DB) {
	e := setup(t, db)
	tf := e.newTenant(t, "acme")
	ctx := context.Background()
	mgr, _ := e.addUser(t, tf, "mgr@acme.example.com", "Mia", access.RoleManager)
	mgrActor := tenant.Actor{Kind: tenant.ActorUser, TenantID: tf.tenantID, UserID: mgr.ID, Role: access.RoleManager}
	in := identity.UserInput{Email: ptr("new@acme.example.com"), Name: ptr("New"), Role: ptr(access.RoleAdmin)}
	for _, a := range []tenant.Actor{mgrActor, tenant.System(tf.tenantID, ""), {Kind: tenant.ActorUser, TenantID: tf.tenantID, Role: access.RoleSales}} {
		if _, err := e.ids.CreateUser(ctx, a, in); !apperr.Is(err, apperr.KindForbidden) {
			t.Fatalf("%+v creating a user: %v", a, err)
		}
	}
	bad := []struct {
		in    identity.UserInput
		field string
	}{
		{identity.UserInput{Email: ptr("x@acme.example.com"), Name: ptr("X"), Role: ptr("root")}, "role"},
		{identity.UserInput{Email: ptr("x@acme.example.com"), Name: ptr("X"), Role: ptr("Admin")}, "role"},
		{identity.UserInput{Email: ptr("x@acme.example.com"), Name: ptr("  "), Role: ptr("sales")}, "name"},
		{identity.UserInput{Email: ptr("x@acme.example.com"), Name: ptr(strings.Repeat("名", 101)), Role: ptr("sales")}, "name"},
		{identity.UserInput{Email: ptr("not-an-email"), Name: ptr("X"), Role: ptr("sales")}, "email"},
		{identity.UserInput{Email: ptr("X <x@acme.example.com>"), Name: ptr("X"), Role: ptr("sales")}, "email"},
		{identity.UserInput{Phone: ptr("12"), Name: ptr("X"), Role: ptr("sales")}, "phone"},
		{identity.UserInput{Name: ptr("X"), Role: ptr("sales")}, "email"},
		{identity.UserInput{Email: ptr(""), Phone: ptr(""), Name: ptr("X"), Role: ptr("sales")}, "email"},
		{identity.UserInput{Email: ptr("x@acme.example.com"), Role: ptr("sales")}, "name"},
		{identity.UserInput{Email: ptr("x@acme.example.com"), Name: ptr("X")}, "role"},
	}
	before, _ := db.Users(ctx, tf.tenantID, "", 1000)
	for _, c := range bad {
		_, err := e.ids.CreateUser(ctx, tf.admin, c.in)
		ae, ok := apperr.As(err)
		if !ok || ae.Kind != apperr.KindInvalid {
			t.Fatalf("%+v: want invalid, got %v", c.in, err)
		}
		fields, _ := ae.Details["fields"].(map[string]string)
		if _, ok := fields[c.field]; !ok {
			t.Fatalf("%+v: fields %v lack %s", c.in, fields, c.field)
		}
	}
	after, _ := db.Users(ctx, tf.tenantID, "", 1000)
	if len(after) != len(before) {
		t.Fatal("an invalid user was stored")
	}
	nu, err := e.ids.CreateUser(ctx, tf.admin, identity.UserInput{Email: ptr(" New@Acme.Example.com"), Name: ptr(" New Person "), Role: ptr(access.RoleSales)})
	if err != nil {
		t.Fatal(err)
	}
	if nu.User.Email != "new@acme.example.com" || nu.User.Name != "New Person" || !nu.User.MustChangePassword || nu.User.Status != identity.StatusActive {
		t.Fatalf("user %+v", nu.User)
	}
	if strings.Contains(nu.User.PasswordHash, nu.OneTimePassword) || !strings.HasPrefix(nu.User.PasswordHash, "$argon2id$") {
		t.Fatalf("hash %q", nu.User.PasswordHash)
	}
	evs, _ := db.QueryAudit(ctx, tf.tenantID, audit.Filter{Action: audit.ActionUserCreated, ObjectID: nu.User.ID, Limit: 5})
	if len(evs) != 1 || evs[0].Changes["email"].After != "new@acme.example.com" || evs[0].Changes["role"].After != "sales" {
		t.Fatalf("user.create events %+v", evs)
	}
	if _, ok := evs[0].Changes["password_hash"]; ok {
		t.Fatal("password hash in audit")
	}
}

func testUsersListingAndVisibility(t *testing.T, db *store.DB) {
	e := setup(t, db)
	tf := e.newTenant(t, "acme")
	other := e.newTenant(t, "globex")
	ctx := context.Background()
	want := map[string]bool{tf.admin.UserID: true}
	var sales, mgr identity.User
	for i, role := range []string{"sales", "sales", "manager", "sales", "admin", "sales", "manager"} {
		u, _ := e.addUser(t, tf, "u"+string(rune('a'+i))+"@acme.example.com", "User "+string(rune('A'+i)), role)
		want[u.ID] = true
		if role == "sales" {
			sales = u
		}
		if role == "manager" {
			mgr = u
		}
	}
	e.addUser(t, other, "stranger@globex.example.com", "Stranger", "sales")
	mgrActor := tenant.Actor{Kind: tenant.ActorUser, TenantID: tf.tenantID, UserID: mgr.ID, Role: access.RoleManager}
	salesActor := tenant.Actor{Kind: tenant.ActorUser, TenantID: tf.tenantID, UserID: sales.ID, Role: access.RoleSales}
	for _, a := range []tenant.Actor{tf.admin, mgrActor} {
		seen := map[string]bool{}
		after, pages := "", 0
		for {
			us, next, err := e.ids.Users(ctx, a, after, 3)
			if err != nil {
				t.Fatal(err)
			}
			pages++
			if len(us) > 3 {
				t.Fatalf("page of %d", len(us))
			}
			for _, u := range us {
				if seen[u.ID] {
					t.Fatalf("user %s twice", u.ID)
				}
				if !want[u.ID] {
					t.Fatalf("foreign user %s (%s) listed", u.ID, u.Email)
				}
				seen[u.ID] = true
				if u.ID <= after {
					t.Fatal("not ordered by id")
				}
			}
			if next == "" {
				break
			}
			after = next
			if pages > 10 {
				t.Fatal("pagination does not end")
			}
		}
		if len(seen) != len(want) || pages != 3 {
			t.Fatalf("saw %d of %d users in %d pages", len(seen), len(want), pages)
		}
	}
	if _, _, err := e.ids.Users(ctx, salesActor, "", 10); !apperr.Is(err, apperr.KindForbidden) {
		t.Fatalf("sales listing users: %v", err)
	}
	if _, _, err := e.ids.Users(ctx, tf.admin, "' OR 1=1 --", 10); !apperr.Is(err, apperr.KindInvalid) {
		t.Fatalf("bad cursor: %v", err)
	}
	// Sales users see themselves but nobody else.
	if u, err := e.ids.User(ctx, salesActor, sales.ID); err != nil || u.ID != sales.ID {
		t.Fatalf("self: %v", err)
	}
	if _, err := e.ids.User(ctx, salesActor, tf.admin.UserID); !apperr.Is(err, apperr.KindNotFound) {
		t.Fatalf("sales reading admin: %v", err)
	}
	// Nobody reads a user of another tenant by ID.
	strangers, _ := db.Users(ctx, other.tenantID, "", 10)
	for _, s := range strangers {
		if _, err := e.ids.User(ctx, tf.admin, s.ID); !apperr.Is(err, apperr.KindNotFound) {
			t.Fatalf("admin reading another tenant's user: %v", err)
		}
	}
	// Only admins update users.
	if _, err := e.ids.UpdateUser(ctx, mgrActor, sales.ID, identity.UserInput{Role: ptr(access.RoleAdmin)}); !apperr.Is(err, apperr.KindForbidden) {
		t.Fatalf("manager promoting: %v", err)
	}
	if _, err := e.ids.UpdateUser(ctx, salesActor, sales.ID, identity.UserInput{Role: ptr(access.RoleAdmin)}); !apperr.Is(err, apperr.KindForbidden) {
		t.Fatalf("sales promoting self: %v", err)
	}
	if _, err := e.ids.UpdateUser(ctx, tf.admin, strangers[0].ID, identity.UserInput{Name: ptr("pwned")}); !apperr.Is(err, apperr.KindNotFound) {
		t.Fatalf("cross-tenant update: %v", err)
	}
	s, _ := db.User(ctx, other.tenantID, strangers[0].ID)
	if s.Name == "pwned" {
		t.Fatal("cross-tenant update applied")
	}
}

// A login racing with a deactivation must not bring the user back: the
// login read the user before the admin's change and must not write that
// stale copy over it.
func testLoginRacingDeactivationDoesNotReactivate(t *testing.T, db *store.DB) {
	e := setup(t, db)
	tf := e.newTenant(t, "acme")
	ctx := context.Background()
	bob, pw := e.addUser(t, tf, "bob@acme.example.com", "Bob", access.RoleSales)
	var hookErr error
	e.hooks.afterUserByLogin = func() {
		_, hookErr = e.ids.Deactivate(ctx, tf.admin, bob.ID)
	}
	r, loginErr := e.ids.Login(ctx, identity.LoginInput{TenantSlug: e.slug("acme"), Login: "bob@acme.example.com", Password: pw})
	if hookErr != nil {
		t.Fatal(hookErr)
	}
	u, err := db.User(ctx, tf.tenantID, bob.ID)
	if err != nil {
		t.Fatal(err)
	}
	if u.Status != identity.StatusDeactivated {
		t.Errorf("the racing login reactivated the user (status %q)", u.Status)
	}
	if loginErr == nil {
		e.mustNotAuth(t, r.Token, "session of a user deactivated during login")
	}
}

// A login racing with a password reset must not restore the old
// password hash.
func testLoginRacingResetDoesNotRestoreOldPassword(t *testing.T, db *store.DB) {
	e := setup(t, db)
	tf := e.newTenant(t, "acme")
	ctx := context.Background()
	bob, pw := e.addUser(t, tf, "bob@acme.example.com", "Bob", access.RoleSales)
	var otp string
	var hookErr error
	e.hooks.afterUserByLogin = func() {
		otp, hookErr = e.ids.ResetPassword(ctx, tf.admin, bob.ID)
	}
	r, loginErr := e.ids.Login(ctx, identity.LoginInput{TenantSlug: e.slug("acme"), Login: "bob@acme.example.com", Password: pw})
	if hookErr != nil {
		t.Fatal(hookErr)
	}
	u, _ := db.User(ctx, tf.tenantID, bob.ID)
	if !e.ids.Hasher().Verify(u.PasswordHash, otp) || e.ids.Hasher().Verify(u.PasswordHash, pw) {
		t.Errorf("the racing login undid the password reset")
	}
	if !u.MustChangePassword {
		t.Errorf("the racing login cleared must_change_password")
	}
	if loginErr == nil {
		e.mustNotAuth(t, r.Token, "session opened with a password reset during login")
	}
}

// A password change racing with an admin's demotion or deactivation must
// not write the user's old role or status back.
func testChangePasswordRacingAdminChange(t *testing.T, db *store.DB) {
	cases := []struct {
		name  string
		admin func(e *env, tf tenantFix, id string) error
		check func(u identity.User) string
	}{
		{"demotion", func(e *env, tf tenantFix, id string) error {
			_, err := e.ids.UpdateUser(context.Background(), tf.admin, id, identity.UserInput{Role: ptr(access.RoleSales)})
			return err
		}, func(u identity.User) string {
			if u.Role != access.RoleSales {
				return "role restored to " + u.Role
			}
			return ""
		}},
		{"deactivation", func(e *env, tf tenantFix, id string) error {
			_, err := e.ids.Deactivate(context.Background(), tf.admin, id)
			return err
		}, func(u identity.User) string {
			if u.Status != identity.StatusDeactivated {
				return "status restored to " + string(u.Status)
			}
			return ""
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := setup(t, db)
			tf := e.newTenant(t, "acme")
			ctx := context.Background()
			ben, pw := e.addUser(t, tf, "ben@acme.example.com", "Ben", access.RoleAdmin)
			benActor := e.actorOf(t, e.login(t, "acme", "ben@acme.example.com", pw))
			var hookErr error
			e.hooks.afterUser = func() { hookErr = c.admin(e, tf, ben.ID) }
			cpErr := e.ids.ChangePassword(ctx, benActor, pw, "A brand new passphrase 7")
			if hookErr != nil {
				t.Fatal(hookErr)
			}
			u, _ := db.User(ctx, tf.tenantID, ben.ID)
			if msg := c.check(u); msg != "" {
				t.Errorf("racing password change (err %v): %s", cpErr, msg)
			}
		})
	}
}

// A cancelled context is an internal problem, not a bad token: callers
// must not log the user out because the database was unreachable.
func testAuthenticateUnknownErrorsAreNotUnauthenticated(t *testing.T, db *store.DB) {
	e := setup(t, db)
	tf := e.newTenant(t, "acme")
	r := e.login(t, "acme", "admin@acme.example.com", tf.adminPW)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := e.ids.Authenticate(ctx, r.Token, "", "", "")
	if err == nil {
		t.Fatal("authenticated with a cancelled context")
	}
	if apperr.Is(err, apperr.KindUnauthenticated) {
		t.Fatalf("database failure reported as unauthenticated: %v", err)
	}
	if !errors.Is(err, context.Canceled) {
		t.Logf("error %v", err)
	}
}

// TestServiceOnDatabase runs the service cases on one database per engine;
// each case works in tenants of its own, in parallel with the others.
func TestServiceOnDatabase(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		fn   func(t *testing.T, db *store.DB)
	}{
		{"LoginIssuesTokenStoredOnlyAsHash", testLoginIssuesTokenStoredOnlyAsHash},
		{"LoginFailuresAreIndistinguishableAndAudited", testLoginFailuresAreIndistinguishableAndAudited},
		{"LoginInputLimits", testLoginInputLimits},
		{"Authenticate", testAuthenticate},
		{"AuthenticateUnknownErrorsAreNotUnauthenticated", testAuthenticateUnknownErrorsAreNotUnauthenticated},
		{"SessionIdleTimeout", testSessionIdleTimeout},
		{"SessionIdleBoundary", testSessionIdleBoundary},
		{"SessionTouchIsRateLimitedButCounts", testSessionTouchIsRateLimitedButCounts},
		{"SessionAbsoluteTimeout", testSessionAbsoluteTimeout},
		{"LogoutRevokes", testLogoutRevokes},
		{"TamperedTokensAreRejected", testTamperedTokensAreRejected},
		{"ChangePassword", testChangePassword},
		{"ResetPasswordRevokesAllSessions", testResetPasswordRevokesAllSessions},
		{"Deactivate", testDeactivate},
		{"LastAdminProtection", testLastAdminProtection},
		{"LastAdminProtectionUnderConcurrency", testLastAdminProtectionUnderConcurrency},
		{"DuplicateLogins", testDuplicateLogins},
		{"CreateUserRules", testCreateUserRules},
		{"UsersListingAndVisibility", testUsersListingAndVisibility},
		{"LoginRacingDeactivationDoesNotReactivate", testLoginRacingDeactivationDoesNotReactivate},
		{"LoginRacingResetDoesNotRestoreOldPassword", testLoginRacingResetDoesNotRestoreOldPassword},
		{"ChangePasswordRacingAdminChange", testChangePasswordRacingAdminChange},
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
