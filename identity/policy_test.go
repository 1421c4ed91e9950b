package identity_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/havencrm/haven/access"
	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/identity"
	"github.com/havencrm/haven/internal/testdb"
	"github.com/havencrm/haven/store"
	"github.com/havencrm/haven/tenant"
)

// policyEnv is a service environment whose identity service applies the
// tenants' stored security settings, as the server wires it.
func policyEnv(t *testing.T, db *store.DB) (*env, *identity.Settings) {
	t.Helper()
	e := setup(t, db)
	st := identity.NewSettings(db, e.clk.Now)
	e.ids.SetSettings(st)
	return e, st
}

// putSettings stores custom settings derived from a preset.
func putSettings(t *testing.T, st *identity.Settings, admin tenant.Actor, preset string, change func(s *identity.SecuritySettings)) {
	t.Helper()
	s, _ := identity.PresetSettings(preset)
	if change != nil {
		s.Preset = identity.PresetCustom
		change(&s)
	}
	if _, err := st.Put(context.Background(), admin, s); err != nil {
		t.Fatalf("put settings: %v", err)
	}
}

// violations returns the codes of a password_policy error, checking the
// messages travel beside them.
func violations(t *testing.T, err error) []string {
	t.Helper()
	e, ok := apperr.As(err)
	if !ok || e.Code != apperr.CodePasswordPolicy {
		t.Fatalf("want password_policy, got %v", err)
	}
	codes, _ := e.Details["violations"].([]string)
	msgs, _ := e.Details["messages"].([]string)
	if len(codes) == 0 || len(codes) != len(msgs) {
		t.Fatalf("details %#v", e.Details)
	}
	for _, m := range msgs {
		if m == "" {
			t.Fatalf("empty message in %#v", e.Details)
		}
	}
	return codes
}

// signedInUser creates a user, signs in with the one-time password and
// returns the session's actor.
func (e *env) signedInUser(t *testing.T, tf tenantFix, email, name string) (identity.User, string, tenant.Actor) {
	t.Helper()
	u, otp := e.addUser(t, tf, email, name, access.RoleSales)
	return u, otp, e.actorOf(t, e.login(t, "acme", email, otp))
}

func testPasswordHistory(t *testing.T, db *store.DB) {
	e, st := policyEnv(t, db)
	tf := e.newTenant(t, "acme")
	ctx := context.Background()
	const n = 3
	putSettings(t, st, tf.admin, identity.PresetMLPS3, func(s *identity.SecuritySettings) { s.PasswordHistory = n })
	u, otp, actor := e.signedInUser(t, tf, "hana@acme.example.com", "Hana Kim")

	pws := []string{"First-pass-0001", "Second-pass-0002", "Third-pass-0003", "Fourth-pass-0004", "Fifth-pass-0005"}
	cur := otp
	for _, pw := range pws {
		e.clk.Advance(time.Minute)
		if err := e.ids.ChangePassword(ctx, actor, cur, pw); err != nil {
			t.Fatalf("change to %s: %v", pw, err)
		}
		cur = pw
	}
	// The current password and each of the last n are refused, with
	// "reused" as the only violation; the one before them is allowed.
	for i, pw := range []string{pws[4], pws[3], pws[2], pws[1]} {
		got := violations(t, e.ids.ChangePassword(ctx, actor, cur, pw))
		if strings.Join(got, ",") != identity.ViolationReused {
			t.Errorf("reuse of the password %d changes back: violations %v", i, got)
		}
	}
	// Case matters for a password: a variant is a different password.
	variant := "fOURTH-PASS-0004"
	if err := e.ids.ChangePassword(ctx, actor, cur, variant); err != nil {
		t.Fatalf("a case variant of an old password: %v", err)
	}
	cur = variant
	// Now pws[1] is the 4th-last: allowed.
	if err := e.ids.ChangePassword(ctx, actor, cur, pws[1]); err != nil {
		t.Fatalf("the %d+1-th last password must be allowed: %v", n, err)
	}
	cur = pws[1]

	// The history holds hashes only, newest first, and never the one-time
	// password (it was not the user's choice).
	hist, err := db.PasswordHistory(ctx, tf.tenantID, u.ID, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 6 {
		t.Fatalf("history has %d entries, want 6", len(hist))
	}
	h := newHasher(t)
	for _, x := range hist {
		if !strings.HasPrefix(x, "$argon2id$") || strings.Contains(strings.ToLower(x), "pass-") {
			t.Fatalf("history entry %q is not a bare argon2id hash", x)
		}
		if h.Verify(x, otp) {
			t.Fatal("the one-time password was remembered")
		}
	}
	if !h.Verify(hist[0], variant) {
		t.Fatal("the newest history entry is not the password just replaced")
	}

	// An admin reset remembers the password it replaces: after it the user
	// cannot go back to it.
	otp2, err := e.ids.ResetPassword(ctx, tf.admin, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	actor = e.actorOf(t, e.login(t, "acme", "hana@acme.example.com", otp2))
	if got := violations(t, e.ids.ChangePassword(ctx, actor, otp2, cur)); strings.Join(got, ",") != identity.ViolationReused {
		t.Fatalf("back to the password before the reset: %v", got)
	}
	// Nor to the one-time password itself.
	if got := violations(t, e.ids.ChangePassword(ctx, actor, otp2, otp2)); strings.Join(got, ",") != identity.ViolationReused {
		t.Fatalf("keeping the one-time password: %v", got)
	}

	// Another user's history is theirs: Hana's old password is free for Ivan.
	_, otpIvan, ivan := e.signedInUser(t, tf, "ivan@acme.example.com", "Ivan Petrov")
	if err := e.ids.ChangePassword(ctx, ivan, otpIvan, pws[4]); err != nil {
		t.Fatalf("another user's old password: %v", err)
	}

	// Raising the history reaches further back; 0 still refuses the
	// current password.
	putSettings(t, st, tf.admin, identity.PresetMLPS3, func(s *identity.SecuritySettings) { s.PasswordHistory = 24 })
	if got := violations(t, e.ids.ChangePassword(ctx, actor, otp2, pws[0])); strings.Join(got, ",") != identity.ViolationReused {
		t.Fatalf("history 24, the oldest password: %v", got)
	}
	putSettings(t, st, tf.admin, identity.PresetNIST, nil)
	if err := e.ids.ChangePassword(ctx, actor, otp2, pws[4]); err != nil {
		t.Fatalf("history 0 allows an old password: %v", err)
	}
	if got := violations(t, e.ids.ChangePassword(ctx, actor, pws[4], pws[4])); strings.Join(got, ",") != identity.ViolationReused {
		t.Fatalf("history 0, the current password: %v", got)
	}
}

func testPasswordHistoryKeepsAtMost24(t *testing.T, db *store.DB) {
	e := setup(t, db)
	tf := e.newTenant(t, "acme")
	ctx := context.Background()
	u, _ := e.addUser(t, tf, "max@acme.example.com", "Max", access.RoleSales)
	other, _ := e.addUser(t, tf, "other@acme.example.com", "Other", access.RoleSales)
	for i := range 30 {
		err := db.WriteTx(ctx, tf.tenantID, func(ctx context.Context) error {
			return db.AddPasswordHistory(ctx, tf.tenantID, u.ID, "h"+string(rune('A'+i)), e.clk.Now(), identity.MaxPasswordHistory)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := db.AddPasswordHistory(ctx, tf.tenantID, other.ID, "x", e.clk.Now(), identity.MaxPasswordHistory); err != nil {
		t.Fatal(err)
	}
	got, err := db.PasswordHistory(ctx, tf.tenantID, u.ID, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 24 || got[0] != "h"+string(rune('A'+29)) || got[23] != "h"+string(rune('A'+6)) {
		t.Fatalf("history %v", got)
	}
	if got, _ := db.PasswordHistory(ctx, tf.tenantID, u.ID, 3); len(got) != 3 {
		t.Fatalf("limit 3: %v", got)
	}
	// Another tenant sees none of it, even asking for the same user ID.
	tf2 := e.newTenant(t, "globex")
	if got, err := db.PasswordHistory(ctx, tf2.tenantID, u.ID, 100); err != nil || len(got) != 0 {
		t.Fatalf("other tenant: %v %v", got, err)
	}
}

func testPasswordRulesFollowTheTenant(t *testing.T, db *store.DB) {
	e, st := policyEnv(t, db)
	ctx := context.Background()
	strict := e.newTenant(t, "acme")
	lax := e.newTenant(t, "globex")
	putSettings(t, st, strict.admin, identity.PresetMLPS3, func(s *identity.SecuritySettings) {
		s.PasswordMinLength, s.PasswordClasses = 14, 4
	})
	_, otpA, a := e.signedInUser(t, strict, "ann@acme.example.com", "Ann Lee")
	uB, otpB := e.addUser(t, lax, "ann@globex.example.com", "Ann Lee", access.RoleSales)
	b := e.actorOf(t, e.login(t, "globex", uB.Email, otpB))

	const pw = "Abcdefgh-1234" // 13 characters, 4 classes
	if got := violations(t, e.ids.ChangePassword(ctx, a, otpA, pw)); strings.Join(got, ",") != identity.ViolationMinLength {
		t.Fatalf("strict tenant: %v", got)
	}
	if got := violations(t, e.ids.ChangePassword(ctx, a, otpA, "abcdefghijklmn0")); strings.Join(got, ",") != identity.ViolationClasses {
		t.Fatalf("strict tenant, 2 classes: %v", got)
	}
	if err := e.ids.ChangePassword(ctx, b, otpB, pw); err != nil {
		t.Fatalf("default tenant: %v", err)
	}

	// Every broken rule is listed at once, reuse included: the current
	// password was fine under the old rules and breaks the new ones too.
	if err := e.ids.ChangePassword(ctx, a, otpA, "Abcdefgh-12345"); err != nil {
		t.Fatal(err)
	}
	putSettings(t, st, strict.admin, identity.PresetMLPS3, func(s *identity.SecuritySettings) {
		s.PasswordMinLength, s.PasswordClasses = 20, 4
	})
	got := violations(t, e.ids.ChangePassword(ctx, a, "Abcdefgh-12345", "Abcdefgh-12345"))
	if strings.Join(got, ",") != "min_length,reused" {
		t.Fatalf("violations %v, want min_length,reused", got)
	}
	got = violations(t, e.ids.ChangePassword(ctx, a, "Abcdefgh-12345", "ann"))
	if strings.Join(got, ",") != "min_length,classes,contains_login,contains_name" {
		t.Fatalf("violations %v", got)
	}
	// A common password, whatever its case, under the tenant's setting.
	got = violations(t, e.ids.ChangePassword(ctx, b, pw, "PassWord1"))
	if strings.Join(got, ",") != identity.ViolationCommon {
		t.Fatalf("common: %v", got)
	}
	// Nothing failed changed the password.
	e.login(t, "acme", "ann@acme.example.com", "Abcdefgh-12345")
}

func testPasswordExpiry(t *testing.T, db *store.DB) {
	e, st := policyEnv(t, db)
	tf := e.newTenant(t, "acme")
	ctx := context.Background()
	const email = "exp@acme.example.com"
	_, otp, actor := e.signedInUser(t, tf, email, "Expiring User")
	const pw = "Good-password-2026"
	if err := e.ids.ChangePassword(ctx, actor, otp, pw); err != nil {
		t.Fatal(err)
	}
	// The default (MLPS level 3) expires passwords after 90 days.
	e.clk.Advance(90*24*time.Hour - 10*time.Minute)
	r := e.login(t, "acme", email, pw)
	if r.MustChangePassword {
		t.Fatal("forced before the expiry")
	}
	if p := e.mustAuth(t, r.Token); p.MustChangePassword {
		t.Fatal("principal forced before the expiry")
	}
	// The password expires during the session: the next request is forced.
	e.clk.Advance(10 * time.Minute)
	if p := e.mustAuth(t, r.Token); !p.MustChangePassword {
		t.Fatal("an expired password does not force a change on the open session")
	}
	r2 := e.login(t, "acme", email, pw)
	if !r2.MustChangePassword {
		t.Fatal("login with an expired password is not forced to change it")
	}
	// The stored flag is untouched: expiry is computed, so a shorter or
	// longer expiry applies at once.
	putSettings(t, st, tf.admin, identity.PresetMLPS3, func(s *identity.SecuritySettings) { s.PasswordExpiryDays = 91 })
	if p := e.mustAuth(t, r2.Token); p.MustChangePassword {
		t.Fatal("a longer expiry does not lift the force")
	}
	putSettings(t, st, tf.admin, identity.PresetMLPS3, nil)
	p := e.mustAuth(t, r2.Token)
	if !p.MustChangePassword || p.User.MustChangePassword {
		t.Fatalf("principal %+v", p)
	}
	// The same password again is no way out.
	if got := violations(t, e.ids.ChangePassword(ctx, p.Actor, pw, pw)); strings.Join(got, ",") != identity.ViolationReused {
		t.Fatalf("renewing the same password: %v", got)
	}
	if err := e.ids.ChangePassword(ctx, p.Actor, pw, "Fresh-password-2026"); err != nil {
		t.Fatal(err)
	}
	if p := e.mustAuth(t, r2.Token); p.MustChangePassword {
		t.Fatal("still forced after the change")
	}
	if r := e.login(t, "acme", email, "Fresh-password-2026"); r.MustChangePassword {
		t.Fatal("login forced after the change")
	}

	// NIST: no periodic expiry, however old the password.
	putSettings(t, st, tf.admin, identity.PresetNIST, nil)
	e.clk.Advance(1000 * 24 * time.Hour)
	if r := e.login(t, "acme", email, "Fresh-password-2026"); r.MustChangePassword {
		t.Fatal("NIST preset expired a password")
	}
	// Switching back to MLPS expires the old password at once.
	putSettings(t, st, tf.admin, identity.PresetMLPS3, nil)
	if r := e.login(t, "acme", email, "Fresh-password-2026"); !r.MustChangePassword {
		t.Fatal("an old password is not expired after the switch to MLPS")
	}
}

// TestPasswordPolicyOnDatabase runs the policy cases on each engine.
func TestPasswordPolicyOnDatabase(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		fn   func(t *testing.T, db *store.DB)
	}{
		{"History", testPasswordHistory},
		{"HistoryKeepsAtMost24", testPasswordHistoryKeepsAtMost24},
		{"RulesFollowTheTenant", testPasswordRulesFollowTheTenant},
		{"Expiry", testPasswordExpiry},
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

func TestPasswordExpired(t *testing.T) {
	s, _ := identity.PresetSettings(identity.PresetMLPS3)
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		days int
		now  time.Time
		want bool
	}{
		{90, at.Add(90*24*time.Hour - time.Microsecond), false},
		{90, at.Add(90 * 24 * time.Hour), true},
		{90, at.Add(-time.Hour), false}, // a clock behind the change
		{1, at.Add(24 * time.Hour), true},
		{0, at.Add(100 * 365 * 24 * time.Hour), false},
	} {
		s.PasswordExpiryDays = c.days
		if got := s.PasswordExpired(at, c.now); got != c.want {
			t.Errorf("expiry %d days at %v: %v, want %v", c.days, c.now, got, c.want)
		}
	}
}
