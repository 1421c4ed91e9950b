package identity_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/havencrm/haven/access"
	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/audit"
	"github.com/havencrm/haven/identity"
	"github.com/havencrm/haven/internal/testdb"
	"github.com/havencrm/haven/store"
	"github.com/havencrm/haven/tenant"
)

// lockNotifier records lock notices.
type lockNotifier struct {
	locked chan lockNotice
}

type lockNotice struct {
	user  string
	until *time.Time
}

func (n *lockNotifier) AccountLocked(_ context.Context, _ tenant.Tenant, u identity.User, until *time.Time) error {
	n.locked <- lockNotice{user: u.ID, until: until}
	return nil
}

func (n *lockNotifier) RecoveryCode(context.Context, tenant.Tenant, identity.User, string, string, time.Time) error {
	return nil
}

// lockEnv is a service with per-tenant settings wired, a tenant and a
// user whose (one-time) password is a non-trivial secret.
type lockEnv struct {
	*env
	settings *identity.Settings
	notes    *lockNotifier
	tf       tenantFix
	bob      identity.User
	bobPW    string
	ipN      int
}

func lockSetup(t *testing.T, db *store.DB) *lockEnv {
	t.Helper()
	e := setup(t, db)
	le := &lockEnv{env: e, settings: identity.NewSettings(db, e.clk.Now), notes: &lockNotifier{locked: make(chan lockNotice, 16)}}
	e.ids.SetSettings(le.settings)
	e.ids.SetNotifier(le.notes)
	le.tf = e.newTenant(t, "acme")
	le.bob, le.bobPW = e.addUser(t, le.tf, "bob@acme.example.com", "Bob", access.RoleSales)
	return le
}

// ip returns an address no other case uses (the address counters are
// platform-wide and the cases share a database).
func (e *lockEnv) ip() string {
	e.ipN++
	return fmt.Sprintf("2001:db8:%s::%x", e.suffix, e.ipN)
}

func (e *lockEnv) put(t *testing.T, change func(*identity.SecuritySettings)) {
	t.Helper()
	st, err := e.settings.Effective(context.Background(), e.tf.tenantID)
	if err != nil {
		t.Fatal(err)
	}
	change(&st)
	st.Preset = identity.PresetCustom
	if _, err := e.settings.Put(context.Background(), e.tf.admin, st); err != nil {
		t.Fatalf("put settings: %v", err)
	}
}

type try struct {
	slug, login, password string
	captchaID, answer     string
	ip                    string
}

func (e *lockEnv) try(x try) (identity.LoginResult, error) {
	if x.slug == "" {
		x.slug = "acme"
	}
	return e.ids.Login(context.Background(), identity.LoginInput{TenantSlug: e.slug(x.slug), Login: x.login, Password: x.password,
		CaptchaID: x.captchaID, CaptchaAnswer: x.answer, IP: x.ip, UserAgent: "lockout-test"})
}

func errCode(err error) string {
	if err == nil {
		return "ok"
	}
	if e, ok := apperr.As(err); ok {
		return e.Code
	}
	return "internal: " + err.Error()
}

func wantLoginCode(t *testing.T, what string, err error, code string) *apperr.Error {
	t.Helper()
	if got := errCode(err); got != code {
		t.Fatalf("%s: want %s, got %s", what, code, got)
	}
	e, _ := apperr.As(err)
	return e
}

// captchaOf returns the challenge ID of a captcha_required error.
func captchaOf(t *testing.T, err error) string {
	t.Helper()
	e := wantLoginCode(t, "captcha", err, apperr.CodeCaptchaRequired)
	id, _ := e.Details["captcha_id"].(string)
	if len(id) < 40 {
		t.Fatalf("captcha_id %q", id)
	}
	return id
}

// answer reads a challenge's answer from the database, as a person reads
// the image.
func (e *lockEnv) answer(t *testing.T, id string) string {
	t.Helper()
	c, err := e.db.Captcha(context.Background(), identity.CaptchaIDHash(id), e.clk.Now())
	if err != nil {
		t.Fatalf("captcha %s: %v", id, err)
	}
	a, err := identity.OpenCaptcha(id, c)
	if err != nil || len(a) != identity.CaptchaDigits {
		t.Fatalf("open captcha: %q %v", a, err)
	}
	return a
}

// solved makes an attempt carrying a correctly solved CAPTCHA: it asks
// for one first (an attempt without), then answers it.
func (e *lockEnv) solved(t *testing.T, x try) (identity.LoginResult, error) {
	t.Helper()
	pw := x.password
	x.password = "not-the-password-0"
	_, err := e.try(x)
	x.captchaID = captchaOf(t, err)
	x.answer = e.answer(t, x.captchaID)
	x.password = pw
	return e.try(x)
}

func (e *lockEnv) attempts(t *testing.T, subject string) identity.LoginAttempt {
	t.Helper()
	m, err := e.db.LoginAttempts(context.Background(), e.tf.tenantID, []string{subject})
	if err != nil {
		t.Fatal(err)
	}
	return m[subject]
}

func lockedUntil(t *testing.T, err error) any {
	t.Helper()
	e := wantLoginCode(t, "locked", err, apperr.CodeAccountLocked)
	v, ok := e.Details["locked_until"]
	if !ok {
		t.Fatalf("no locked_until in %v", e.Details)
	}
	return v
}

func testCaptchaAfterThreeFailures(t *testing.T, db *store.DB) {
	e := lockSetup(t, db)
	ip := e.ip()
	bob := try{login: "bob@acme.example.com", ip: ip}
	wrong := bob
	wrong.password = "Wrong-Guess-123"
	var handedOut string
	for i := 1; i <= 3; i++ {
		_, err := e.try(wrong)
		ae := wantLoginCode(t, fmt.Sprintf("failure %d", i), err, apperr.CodeInvalidCredentials)
		// The failure that reaches the threshold hands out the CAPTCHA
		// the next attempt needs.
		id, _ := ae.Details["captcha_id"].(string)
		if (i == 3) != (id != "") {
			t.Fatalf("failure %d: details %v", i, ae.Details)
		}
		handedOut = id
	}
	// From the 4th attempt on a CAPTCHA is demanded, a fresh one each time,
	// whether or not the password is right.
	_, err := e.try(wrong)
	id1 := captchaOf(t, err)
	if id1 == handedOut {
		t.Fatal("the same challenge twice")
	}
	right := bob
	right.password = e.bobPW
	_, err = e.try(right)
	id2 := captchaOf(t, err)
	if id1 == id2 {
		t.Fatal("the same challenge twice")
	}
	// Attempts without a CAPTCHA count for nothing: no lock however many.
	for i := 0; i < 20; i++ {
		_, err := e.try(wrong)
		captchaOf(t, err)
	}
	if a := e.attempts(t, "u:"+e.bob.ID); a.Failures != 3 || a.LockedAt != nil {
		t.Fatalf("attempts without a CAPTCHA were counted: %+v", a)
	}
	// A wrong answer uses the challenge up and asks again.
	x := right
	x.captchaID, x.answer = id2, "000000"
	if e.answer(t, id2) == "000000" {
		x.answer = "111111"
	}
	_, err = e.try(x)
	id3 := captchaOf(t, err)
	if _, err := db.Captcha(context.Background(), identity.CaptchaIDHash(id2), e.clk.Now()); !apperr.Is(err, apperr.KindNotFound) {
		t.Fatalf("a wrongly answered challenge is still live: %v", err)
	}
	x.captchaID = id2
	x.answer = "123456"
	_, err = e.try(x)
	captchaOf(t, err)
	// Spaces and full-width digits are fine.
	ans := e.answer(t, id3)
	spaced := " " + ans[:3] + " " + strings.Map(func(r rune) rune { return r - '0' + '０' }, ans[3:]) + " "
	x.captchaID, x.answer = id3, spaced
	r, err := e.try(x)
	if err != nil || r.User.ID != e.bob.ID {
		t.Fatalf("right password with a solved CAPTCHA: %v", err)
	}
	// Success cleared the count: the next failure needs no CAPTCHA.
	if a := e.attempts(t, "u:"+e.bob.ID); a.Failures != 0 {
		t.Fatalf("count after success: %+v", a)
	}
	_, err = e.try(wrong)
	wantLoginCode(t, "after success", err, apperr.CodeInvalidCredentials)
	// A solved challenge answers once.
	for i := 0; i < 2; i++ {
		_, _ = e.try(wrong)
	}
	_, err = e.try(wrong)
	id := captchaOf(t, err)
	x = wrong
	x.captchaID, x.answer = id, e.answer(t, id)
	_, err = e.try(x)
	wantLoginCode(t, "solved, wrong password", err, apperr.CodeInvalidCredentials)
	x.password = e.bobPW
	_, err = e.try(x)
	captchaOf(t, err)
	// And expires after five minutes.
	_, err = e.try(wrong)
	id = captchaOf(t, err)
	x.captchaID, x.answer = id, e.answer(t, id)
	e.clk.Advance(identity.CaptchaTTL)
	_, err = e.try(x)
	captchaOf(t, err)
	// Audit: failures with their reasons, never a password or an answer.
	evs := auditEvents(t, db, e.tf.tenantID)
	reasons := map[string]int{}
	for _, ev := range evs {
		if ev.Action == audit.ActionLoginFailed || ev.Action == identity.ActionCaptchaFailed {
			reason, _ := ev.Changes["reason"].After.(string)
			reasons[ev.Action+"/"+reason]++
			if ev.ObjectID != e.bob.ID || ev.IP != ip {
				t.Fatalf("event %+v", ev)
			}
		}
	}
	if reasons["auth.login_failed/wrong password"] == 0 || reasons["auth.login_failed/captcha required"] < 20 || reasons["auth.captcha_failed/wrong captcha"] < 2 {
		t.Fatalf("reasons %v", reasons)
	}
}

func testLockAtThreshold(t *testing.T, db *store.DB) {
	e := lockSetup(t, db)
	bob := try{login: "bob@acme.example.com", password: "Wrong-Guess-123", ip: e.ip()}
	for i := 1; i <= 3; i++ {
		_, _ = e.try(bob)
	}
	_, err := e.solved(t, bob)
	wantLoginCode(t, "4th failure", err, apperr.CodeInvalidCredentials)
	_, err = e.solved(t, bob)
	until := lockedUntil(t, err)
	want := e.clk.Now().Add(30 * time.Minute).UTC().Format(time.RFC3339)
	if until != want {
		t.Fatalf("locked_until %v, want %s", until, want)
	}
	select {
	case n := <-e.notes.locked:
		if n.user != e.bob.ID || n.until == nil || n.until.Format(time.RFC3339) != want {
			t.Fatalf("notice %+v", n)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the user was not told about the lock")
	}
	// While locked, even the right password with a solved CAPTCHA fails,
	// and nothing is counted or extended.
	right := bob
	right.password = e.bobPW
	_, err = e.try(right)
	if lockedUntil(t, err) != want {
		t.Fatal("lock moved")
	}
	_, err = e.try(try{login: right.login, password: "x", ip: right.ip})
	lockedUntil(t, err)
	e.clk.Advance(29 * time.Minute)
	_, err = e.try(right)
	lockedUntil(t, err)
	if a := e.attempts(t, "u:"+e.bob.ID); a.Failures != 5 {
		t.Fatalf("failures during the lock: %+v", a)
	}
	// The lock ends; the CAPTCHA is still asked; the owner gets in.
	e.clk.Advance(time.Minute)
	_, err = e.try(right)
	captchaOf(t, err)
	if _, err := e.solved(t, right); err != nil {
		t.Fatalf("owner after the lock: %v", err)
	}
	// Lock again; after it ends one more failure locks at once.
	for i := 1; i <= 3; i++ {
		_, _ = e.try(bob)
	}
	_, _ = e.solved(t, bob)
	_, err = e.solved(t, bob)
	lockedUntil(t, err)
	e.clk.Advance(31 * time.Minute)
	_, err = e.solved(t, bob)
	if got := lockedUntil(t, err); got != e.clk.Now().Add(30*time.Minute).UTC().Format(time.RFC3339) {
		t.Fatalf("relock until %v", got)
	}
	var locks int
	for _, ev := range auditEvents(t, db, e.tf.tenantID) {
		if ev.Action == identity.ActionLocked {
			locks++
			if ev.ObjectID != e.bob.ID || ev.Changes["failures"].After == nil {
				t.Fatalf("lock event %+v", ev)
			}
		}
	}
	if locks != 3 {
		t.Fatalf("%d lock events", locks)
	}
}

func testLockUntilAdminUnlocks(t *testing.T, db *store.DB) {
	e := lockSetup(t, db)
	e.put(t, func(s *identity.SecuritySettings) { s.LockoutMinutes = 0 })
	ctx := context.Background()
	bob := try{login: "bob@acme.example.com", password: "Wrong-Guess-123", ip: e.ip()}
	for i := 1; i <= 3; i++ {
		_, _ = e.try(bob)
	}
	_, _ = e.solved(t, bob)
	_, err := e.solved(t, bob)
	if v := lockedUntil(t, err); v != nil {
		t.Fatalf("locked_until %v, want null", v)
	}
	e.clk.Advance(7 * 24 * time.Hour)
	right := bob
	right.password = e.bobPW
	_, err = e.try(right)
	lockedUntil(t, err)
	states, err := e.ids.LockStates(ctx, e.tf.admin, []string{e.bob.ID, e.tf.admin.UserID})
	if err != nil {
		t.Fatal(err)
	}
	if st := states[e.bob.ID]; !st.Locked || st.Until != nil || st.Failures != 5 {
		t.Fatalf("lock state %+v", st)
	}
	if _, ok := states[e.tf.admin.UserID]; ok {
		t.Fatal("state for a user without failures")
	}
	// Only admins see and clear locks.
	sales := tenant.Actor{Kind: tenant.ActorUser, TenantID: e.tf.tenantID, UserID: e.bob.ID, Role: access.RoleSales}
	if _, _, err := e.ids.Unlock(ctx, sales, e.bob.ID); !apperr.Is(err, apperr.KindForbidden) {
		t.Fatalf("sales unlock: %v", err)
	}
	if _, err := e.ids.LockStates(ctx, sales, []string{e.bob.ID}); !apperr.Is(err, apperr.KindForbidden) {
		t.Fatalf("sales lock states: %v", err)
	}
	if _, _, err := e.ids.Unlock(ctx, e.tf.admin, tenant.NewID()); !apperr.Is(err, apperr.KindNotFound) {
		t.Fatalf("unlock of nobody: %v", err)
	}
	u, before, err := e.ids.Unlock(ctx, e.tf.admin, e.bob.ID)
	if err != nil || u.ID != e.bob.ID || !before.Locked || before.Failures != 5 {
		t.Fatalf("unlock: %+v %+v %v", u, before, err)
	}
	// Unlocked: no CAPTCHA, no lock.
	if _, err := e.try(right); err != nil {
		t.Fatalf("after unlock: %v", err)
	}
	evs, _ := db.QueryAudit(ctx, e.tf.tenantID, audit.Filter{Action: identity.ActionUnlocked, Limit: 10})
	if len(evs) != 1 || evs[0].ObjectID != e.bob.ID || evs[0].ActorID != e.tf.admin.UserID || evs[0].Changes["failures"].Before != float64(5) {
		t.Fatalf("unlock events %+v", evs)
	}
}

// testUnknownLoginsLockAlike drives a real account, an unknown login and
// an unknown tenant through the same attempts: the answers must match,
// lock included, or the lock would tell which logins exist.
func testUnknownLoginsLockAlike(t *testing.T, db *store.DB) {
	e := lockSetup(t, db)
	e.newTenant(t, "globex")
	type trace struct {
		codes    []string
		messages []string
		until    any
	}
	run := func(slug, login string) trace {
		var tr trace
		x := try{slug: slug, login: login, password: "Wrong-Guess-123", ip: e.ip()}
		record := func(err error) {
			tr.codes = append(tr.codes, errCode(err))
			if ae, ok := apperr.As(err); ok {
				keys := make([]string, 0, len(ae.Details))
				for k := range ae.Details {
					keys = append(keys, k)
				}
				slices.Sort(keys)
				tr.messages = append(tr.messages, ae.Message+" "+strings.Join(keys, ","))
				if ae.Code == apperr.CodeAccountLocked {
					tr.until = ae.Details["locked_until"]
				}
			}
		}
		for i := 0; i < 4; i++ {
			_, err := e.try(x)
			record(err)
		}
		for i := 0; i < 2; i++ {
			_, err := e.solved(t, x)
			record(err)
		}
		_, err := e.try(x)
		record(err)
		return tr
	}
	acct := run("acme", "bob@acme.example.com")
	want := []string{"invalid_credentials", "invalid_credentials", "invalid_credentials", "captcha_required",
		"invalid_credentials", "account_locked", "account_locked"}
	if strings.Join(acct.codes, ",") != strings.Join(want, ",") {
		t.Fatalf("real account: %v", acct.codes)
	}
	for _, c := range []struct{ what, slug, login string }{
		{"unknown login", "acme", "nobody@acme.example.com"},
		{"unknown phone", "acme", "+8613800000000"},
		{"malformed login", "acme", "not a login"},
		{"user of another tenant", "globex", "bob@acme.example.com"},
		{"unknown tenant", "initech", "bob@acme.example.com"},
	} {
		got := run(c.slug, c.login)
		if strings.Join(got.codes, ",") != strings.Join(acct.codes, ",") ||
			strings.Join(got.messages, "|") != strings.Join(acct.messages, "|") || got.until != acct.until {
			t.Fatalf("%s: %+v, real account: %+v", c.what, got, acct)
		}
	}
	// Only the real user is told.
	select {
	case <-e.notes.locked:
	case <-time.After(5 * time.Second):
		t.Fatal("no notice")
	}
	select {
	case n := <-e.notes.locked:
		t.Fatalf("a notice for an unknown login: %+v", n)
	case <-time.After(100 * time.Millisecond):
	}
}

func testIPCaptcha(t *testing.T, db *store.DB) {
	e := lockSetup(t, db)
	e.put(t, func(s *identity.SecuritySettings) { s.IPCaptchaAfter = 5 })
	sprayer, other := e.ip(), e.ip()
	// Five failures from one address, each on a different login.
	for i := 0; i < 5; i++ {
		_, err := e.try(try{login: fmt.Sprintf("user%d@acme.example.com", i), password: "Spring2026!", ip: sprayer})
		wantLoginCode(t, "spray", err, apperr.CodeInvalidCredentials)
	}
	// Now that address needs a CAPTCHA for any login; another does not.
	right := try{login: "bob@acme.example.com", password: e.bobPW, ip: sprayer}
	_, err := e.try(right)
	captchaOf(t, err)
	// That refusal left no row behind for bob.
	if m, err := db.LoginAttempts(context.Background(), e.tf.tenantID, []string{"u:" + e.bob.ID}); err != nil || len(m) != 0 {
		t.Fatalf("attempt rows %v %v", m, err)
	}
	right.ip = other
	if _, err := e.try(right); err != nil {
		t.Fatalf("from another address: %v", err)
	}
	right.ip = sprayer
	if _, err := e.solved(t, right); err != nil {
		t.Fatalf("solved from the sprayer: %v", err)
	}
	// The window is an hour.
	e.clk.Advance(time.Hour)
	if _, err := e.try(right); err != nil {
		t.Fatalf("an hour later: %v", err)
	}
}

// testConcurrentAttemptsCannotSkipCaptcha fires many guesses at once: no
// more than captcha_after of them may check a password without a CAPTCHA.
func testConcurrentAttemptsCannotSkipCaptcha(t *testing.T, db *store.DB) {
	e := lockSetup(t, db)
	var wg sync.WaitGroup
	codes := make(chan string, 16)
	for i := 0; i < 16; i++ {
		ip := e.ip()
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := e.try(try{login: "bob@acme.example.com", password: "Wrong-Guess-123", ip: ip})
			codes <- errCode(err)
		}()
	}
	wg.Wait()
	close(codes)
	n := map[string]int{}
	for c := range codes {
		n[c]++
	}
	if n["invalid_credentials"] != 3 || n["captcha_required"] != 13 {
		t.Fatalf("answers %v", n)
	}
	if a := e.attempts(t, "u:"+e.bob.ID); a.Failures != 3 {
		t.Fatalf("attempts %+v", a)
	}
}

// testCountersHoldAcrossInstances runs two services (two server instances,
// or one before and one after a restart) on one database.
func testCountersHoldAcrossInstances(t *testing.T, db *store.DB) {
	e := lockSetup(t, db)
	second := identity.NewService(db, newHasher(t), identity.SessionConfig{IdleTimeout: idle, AbsoluteTimeout: absolute}, e.clk.Now)
	second.SetSettings(identity.NewSettings(db, e.clk.Now))
	ip := e.ip()
	in := identity.LoginInput{TenantSlug: e.tf.slug, Login: "bob@acme.example.com", Password: "Wrong-Guess-123", IP: ip}
	for i, s := range []*identity.Service{e.ids, second, e.ids} {
		_, err := s.Login(context.Background(), in)
		wantLoginCode(t, fmt.Sprintf("attempt %d", i+1), err, apperr.CodeInvalidCredentials)
	}
	_, err := second.Login(context.Background(), in)
	id := captchaOf(t, err)
	// A challenge made by one instance is drawn and checked by the other.
	img, err := e.ids.CaptchaImage(context.Background(), id)
	if err != nil || len(img) < 100 || string(img[1:4]) != "PNG" {
		t.Fatalf("image: %d bytes, %v", len(img), err)
	}
	in.CaptchaID, in.CaptchaAnswer, in.Password = id, e.answer(t, id), e.bobPW
	if _, err := e.ids.Login(context.Background(), in); err != nil {
		t.Fatalf("solved on the other instance: %v", err)
	}
	if _, err := e.ids.CaptchaImage(context.Background(), id); !apperr.Is(err, apperr.KindNotFound) {
		t.Fatalf("image of a used challenge: %v", err)
	}
	for _, bad := range []string{"", "x", strings.Repeat("A", 43), "../../etc/passwd"} {
		if _, err := e.ids.CaptchaImage(context.Background(), bad); !apperr.Is(err, apperr.KindNotFound) {
			t.Fatalf("image of %q: %v", bad, err)
		}
	}
}

func testLoginIPRanges(t *testing.T, db *store.DB) {
	e := lockSetup(t, db)
	e.put(t, func(s *identity.SecuritySettings) { s.LoginIPRanges = []string{"203.0.113.0/24", "2001:db8:ffff::/48"} })
	outside := try{login: "bob@acme.example.com", password: e.bobPW, ip: "198.51.100.9"}
	_, err := e.try(outside)
	wantLoginCode(t, "outside", err, apperr.CodeForbidden)
	unknown := outside
	unknown.login = "nobody@acme.example.com"
	_, err2 := e.try(unknown)
	wantLoginCode(t, "unknown login outside", err2, apperr.CodeForbidden)
	if err.Error() != err2.Error() {
		t.Fatalf("answers differ: %v / %v", err, err2)
	}
	_, err = e.try(try{login: "bob@acme.example.com", password: e.bobPW, ip: ""})
	wantLoginCode(t, "no address", err, apperr.CodeForbidden)
	for _, ip := range []string{"203.0.113.200", "2001:db8:ffff::1", "::ffff:203.0.113.5"} {
		if _, err := e.try(try{login: "bob@acme.example.com", password: e.bobPW, ip: ip}); err != nil {
			t.Fatalf("inside (%s): %v", ip, err)
		}
	}
	evs, _ := db.QueryAudit(context.Background(), e.tf.tenantID, audit.Filter{Action: audit.ActionLoginFailed, Limit: 10})
	n := 0
	for _, ev := range evs {
		if ev.Changes["reason"].After == "ip not allowed" {
			n++
		}
	}
	if n != 3 {
		t.Fatalf("%d ip-not-allowed events", n)
	}
	// Refusals are not counted as failures.
	if a := e.attempts(t, "u:"+e.bob.ID); a.Failures != 0 {
		t.Fatalf("attempts %+v", a)
	}
}

func testMaxSessions(t *testing.T, db *store.DB) {
	e := lockSetup(t, db)
	e.put(t, func(s *identity.SecuritySettings) { s.MaxSessions = 2 })
	login := func() identity.LoginResult {
		t.Helper()
		r, err := e.try(try{login: "bob@acme.example.com", password: e.bobPW, ip: "203.0.113.1"})
		if err != nil {
			t.Fatal(err)
		}
		e.clk.Advance(time.Second)
		return r
	}
	first, second := login(), login()
	e.mustAuth(t, first.Token)
	third := login()
	// The oldest session ended; the newest two live.
	e.mustNotAuth(t, first.Token, "oldest session beyond max_sessions")
	e.mustAuth(t, second.Token)
	e.mustAuth(t, third.Token)
	s1, err := db.SessionByTokenHash(context.Background(), e.tf.tenantID, sha(first.Token))
	if err != nil || s1.RevokedAt == nil {
		t.Fatalf("first session %+v %v", s1, err)
	}
	evs, _ := db.QueryAudit(context.Background(), e.tf.tenantID, audit.Filter{Action: audit.ActionLoginSucceeded, ObjectID: e.bob.ID, Limit: 1})
	ended, _ := evs[0].Changes["sessions_ended"].After.([]any)
	if len(ended) != 1 || ended[0] != s1.ID {
		t.Fatalf("login event %+v", evs[0])
	}
	// Sessions that timed out do not count.
	e.clk.Advance(idle)
	fourth := login()
	fifth := login()
	e.mustAuth(t, fourth.Token)
	e.mustAuth(t, fifth.Token)
}

func testSessionTimeoutsFromSettings(t *testing.T, db *store.DB) {
	e := lockSetup(t, db)
	e.put(t, func(s *identity.SecuritySettings) { s.SessionIdleMinutes, s.SessionMaxHours = 10, 3 })
	right := try{login: "bob@acme.example.com", password: e.bobPW, ip: "203.0.113.1"}
	r, err := e.try(right)
	if err != nil {
		t.Fatal(err)
	}
	if !r.ExpiresAt.Equal(e.clk.Now().Add(3 * time.Hour)) {
		t.Fatalf("expires %v", r.ExpiresAt)
	}
	e.clk.Advance(9 * time.Minute)
	e.mustAuth(t, r.Token)
	e.clk.Advance(10 * time.Minute)
	e.mustNotAuth(t, r.Token, "idle for the tenant's 10 minutes (the service default is 30)")
	// Shortening the absolute limit applies to live sessions at once.
	r, err = e.try(right)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 6; i++ {
		e.clk.Advance(9 * time.Minute)
		e.mustAuth(t, r.Token)
	}
	e.put(t, func(s *identity.SecuritySettings) { s.SessionMaxHours = 1 })
	e.clk.Advance(7 * time.Minute) // 61 minutes after login
	e.mustNotAuth(t, r.Token, "past the shortened absolute limit")
	// Lengthening the idle limit applies too.
	e.put(t, func(s *identity.SecuritySettings) { s.SessionIdleMinutes, s.SessionMaxHours = 60, 12 })
	r, err = e.try(right)
	if err != nil {
		t.Fatal(err)
	}
	e.clk.Advance(45 * time.Minute)
	e.mustAuth(t, r.Token)
}

func TestLockoutOnDatabase(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		fn   func(t *testing.T, db *store.DB)
	}{
		{"CaptchaAfterThreeFailures", testCaptchaAfterThreeFailures},
		{"LockAtThreshold", testLockAtThreshold},
		{"LockUntilAdminUnlocks", testLockUntilAdminUnlocks},
		{"UnknownLoginsLockAlike", testUnknownLoginsLockAlike},
		{"IPCaptcha", testIPCaptcha},
		{"ConcurrentAttemptsCannotSkipCaptcha", testConcurrentAttemptsCannotSkipCaptcha},
		{"CountersHoldAcrossInstances", testCountersHoldAcrossInstances},
		{"LoginIPRanges", testLoginIPRanges},
		{"MaxSessions", testMaxSessions},
		{"SessionTimeoutsFromSettings", testSessionTimeoutsFromSettings},
	}
	// Each case gets a database of its own: the per-address counters and
	// CAPTCHA challenges are platform-wide and pruned by the clock, and the
	// cases run on clocks of their own, so one case's pruning (its clock
	// hours ahead) would delete another's counters.
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					t.Parallel()
					c.fn(t, testdb.Open(t, engine))
				})
			}
		})
	}
}

func TestNormalizeCaptchaAnswer(t *testing.T) {
	for in, want := range map[string]string{
		"123456":                 "123456",
		" 12 34 56 ":             "123456",
		"１２３４５６":                 "123456",
		"12\t34\n56":             "123456",
		"abc":                    "abc",
		"ABC":                    "abc",
		strings.Repeat("1", 100): strings.Repeat("1", 64),
	} {
		if got := identity.NormalizeCaptchaAnswer(in); got != want {
			t.Errorf("%q: got %q, want %q", in, got, want)
		}
	}
}
