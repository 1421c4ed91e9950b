package e2e

import (
	"context"
	"github.com/havencrm/haven/fieldcrypt"
	"github.com/havencrm/haven/tenant"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/havencrm/haven/api"
	"github.com/havencrm/haven/client"
	"github.com/havencrm/haven/identity"
	"github.com/havencrm/haven/internal/testserver"
)

func totpCode(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	code, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// TestTOTP: enrol with a QR code, confirm, sign in with a code (each code
// once), a recovery code (each once), never without; disable and reset.
func TestTOTP(t *testing.T) {
	eachEngine(t, func(t *testing.T, srv *testserver.Server) {
		ctx := context.Background()
		tn := srv.NewTenant(t, "mfa")
		// This test makes many deliberate failures; the CAPTCHA that would
		// follow the third is tested elsewhere (and below, for TOTP guesses).
		srv.SetSecuritySettings(t, tn, func(s *identity.SecuritySettings) {
			s.Preset, s.CaptchaAfter, s.LockoutThreshold = identity.PresetCustom, 10, 20
		})
		alice, au := srv.NewUser(t, tn, "alice@mfa.example.com", "Alice", "sales")

		setup := must[*api.TOTPSetupDTO](t)(alice.BeginTOTP(ctx))
		if !strings.HasPrefix(setup.URL, "otpauth://totp/") || !strings.HasPrefix(setup.QRCodePNG, "data:image/png;base64,") || len(setup.Secret) < 32 {
			t.Fatalf("setup %+v", setup)
		}
		// Nothing is enabled until a code proves the app works.
		st := must[*api.MFAStatusDTO](t)(alice.UserMFA(ctx, au.ID))
		if st.Enabled || !st.PendingEnrolment {
			t.Fatalf("status before confirm %+v", st)
		}
		login(t, srv, "mfa", "alice@mfa.example.com", password) // still password only
		_, err := alice.ConfirmTOTP(ctx, "000000")
		checkErr(t, "wrong confirmation code", err, 400, "invalid_request")
		codes := must[*api.RecoveryCodesDTO](t)(alice.ConfirmTOTP(ctx, totpCode(t, setup.Secret, time.Now())))
		if len(codes.RecoveryCodes) != 10 {
			t.Fatalf("%d recovery codes", len(codes.RecoveryCodes))
		}
		// The secret is stored sealed with the tenant's data key.
		stored, err := srv.App.DB.TOTP(ctx, tenant.ID(tn.ID), au.ID)
		if err != nil || !fieldcrypt.IsEnvelope(stored.Secret) || strings.Contains(stored.Secret, setup.Secret) {
			t.Fatalf("stored TOTP secret is not sealed (%v)", err)
		}
		_, err = alice.BeginTOTP(ctx)
		checkErr(t, "re-enrol while enabled", err, 409, "conflict")

		// Sign-in now needs a second factor.
		anon := client.New(srv.URL)
		_, err = anon.Login(ctx, api.LoginRequest{Tenant: "mfa", Login: "alice@mfa.example.com", Password: password})
		checkErr(t, "password only", err, 401, "mfa_required")
		_, err = anon.Login(ctx, api.LoginRequest{Tenant: "mfa", Login: "alice@mfa.example.com", Password: password, TOTP: "123456"})
		checkErr(t, "wrong code", err, 401, "invalid_credentials")
		// A right code with a wrong password reveals nothing about the code.
		_, err = anon.Login(ctx, api.LoginRequest{Tenant: "mfa", Login: "alice@mfa.example.com", Password: "wrong-password-1", TOTP: totpCode(t, setup.Secret, time.Now())})
		checkErr(t, "wrong password, right code", err, 401, "invalid_credentials")
		// The confirmation used the current step: a code of the next step signs in, once.
		next := totpCode(t, setup.Secret, time.Now().Add(30*time.Second))
		must[*api.LoginResponse](t)(anon.Login(ctx, api.LoginRequest{Tenant: "mfa", Login: "alice@mfa.example.com", Password: password, TOTP: next}))
		_, err = client.New(srv.URL).Login(ctx, api.LoginRequest{Tenant: "mfa", Login: "alice@mfa.example.com", Password: password, TOTP: next})
		checkErr(t, "replayed code", err, 401, "invalid_credentials")
		// A recovery code works once, in any spelling.
		rc := strings.ToUpper(strings.ReplaceAll(codes.RecoveryCodes[0], "-", " "))
		must[*api.LoginResponse](t)(client.New(srv.URL).Login(ctx, api.LoginRequest{Tenant: "mfa", Login: "alice@mfa.example.com", Password: password, TOTP: rc}))
		_, err = client.New(srv.URL).Login(ctx, api.LoginRequest{Tenant: "mfa", Login: "alice@mfa.example.com", Password: password, TOTP: codes.RecoveryCodes[0]})
		checkErr(t, "reused recovery code", err, 401, "invalid_credentials")
		st = must[*api.MFAStatusDTO](t)(alice.UserMFA(ctx, au.ID))
		if !st.Enabled || st.RecoveryCodesLeft != 9 {
			t.Fatalf("status after one recovery code %+v", st)
		}
		// Another user's recovery code is worthless here.
		bob, bu := srv.NewUser(t, tn, "bob@mfa.example.com", "Bob", "sales")
		bsetup := must[*api.TOTPSetupDTO](t)(bob.BeginTOTP(ctx))
		bcodes := must[*api.RecoveryCodesDTO](t)(bob.ConfirmTOTP(ctx, totpCode(t, bsetup.Secret, time.Now())))
		_, err = client.New(srv.URL).Login(ctx, api.LoginRequest{Tenant: "mfa", Login: "alice@mfa.example.com", Password: password, TOTP: bcodes.RecoveryCodes[0]})
		checkErr(t, "bob's recovery code for alice", err, 401, "invalid_credentials")

		// API tokens cannot enrol or remove authenticators.
		tok := must[*api.CreateTokenResponse](t)(alice.CreateToken(ctx, au.ID, api.CreateTokenRequest{Name: "t", Scope: "write", ExpiresInDays: 1}))
		checkErr(t, "token disables MFA", withToken(srv, tok.Secret).DisableTOTP(ctx, password), 403, "forbidden")

		// Disabling needs the password.
		checkErr(t, "disable with a wrong password", alice.DisableTOTP(ctx, "nope-nope-nope"), 401, "invalid_credentials")
		noErr(t, alice.DisableTOTP(ctx, password))
		login(t, srv, "mfa", "alice@mfa.example.com", password)

		// An admin resets Bob's lost authenticator: his sessions end, password sign-in works again.
		checkErr(t, "sales resets MFA", alice.ResetUserMFA(ctx, bu.ID), 403, "forbidden")
		noErr(t, tn.Admin.ResetUserMFA(ctx, bu.ID))
		_, err = bob.Me(ctx)
		checkErr(t, "bob's session after reset", err, 401, "unauthenticated")
		login(t, srv, "mfa", "bob@mfa.example.com", password)

		// Guessing codes meets the same lockout as guessing passwords.
		carol, _ := srv.NewUser(t, tn, "carol@mfa.example.com", "Carol", "sales")
		csetup := must[*api.TOTPSetupDTO](t)(carol.BeginTOTP(ctx))
		must[*api.RecoveryCodesDTO](t)(carol.ConfirmTOTP(ctx, totpCode(t, csetup.Secret, time.Now())))
		for i := 0; ; i++ {
			_, err := client.New(srv.URL).Login(ctx, api.LoginRequest{Tenant: "mfa", Login: "carol@mfa.example.com", Password: password, TOTP: "000000"})
			if client.IsCode(err, "captcha_required") {
				break
			}
			checkErr(t, "code guess", err, 401, "invalid_credentials")
			if i > 10 {
				t.Fatal("ten wrong codes and still no CAPTCHA")
			}
		}

		for _, action := range []string{"mfa.enable", "mfa.disable", "mfa.reset", "mfa.recovery_code_used"} {
			if len(allAudit(t, tn.Admin, client.AuditQuery{Action: action})) == 0 {
				t.Errorf("no %s audit event", action)
			}
		}
		// Secrets and codes never reach the audit log.
		for _, e := range allAudit(t, tn.Admin, client.AuditQuery{}) {
			s := jsonString(e)
			if strings.Contains(s, setup.Secret) || strings.Contains(s, codes.RecoveryCodes[1]) {
				t.Fatalf("a secret in the audit log: %s", s)
			}
		}
	})
}

// TestTenantRequiresMFA: with mfa_required on, a user without an
// authenticator may only enrol; once enrolled, sign-in needs a code.
func TestTenantRequiresMFA(t *testing.T) {
	eachEngine(t, func(t *testing.T, srv *testserver.Server) {
		ctx := context.Background()
		tn := srv.NewTenant(t, "mfareq")
		dave, du := srv.NewUser(t, tn, "dave@mfareq.example.com", "Dave", "sales")
		srv.SetSecuritySettings(t, tn, func(s *identity.SecuritySettings) { s.Preset, s.MFARequired = identity.PresetCustom, true })

		// Dave's existing session is held to enrolment from the next request.
		_, err := dave.Me(ctx)
		checkErr(t, "existing session, not enrolled", err, 403, "mfa_enrollment_required")
		fresh := client.New(srv.URL)
		res := must[*api.LoginResponse](t)(fresh.Login(ctx, api.LoginRequest{Tenant: "mfareq", Login: "dave@mfareq.example.com", Password: password}))
		if !res.MustEnrollMFA {
			t.Fatal("login does not say enrolment is required")
		}
		for what, call := range map[string]func() error{
			"list records": func() error { _, err := fresh.ListRecords(ctx, "account", client.ListOptions{}); return err },
			"create token": func() error {
				_, err := fresh.CreateToken(ctx, du.ID, api.CreateTokenRequest{Name: "x", Scope: "read", ExpiresInDays: 1})
				return err
			},
		} {
			checkErr(t, what+" before enrolment", call(), 403, "mfa_enrollment_required")
		}
		st := must[*api.MFAStatusDTO](t)(fresh.UserMFA(ctx, du.ID))
		if !st.RequiredByTenant || st.Enabled {
			t.Fatalf("status %+v", st)
		}
		setup := must[*api.TOTPSetupDTO](t)(fresh.BeginTOTP(ctx))
		must[*api.RecoveryCodesDTO](t)(fresh.ConfirmTOTP(ctx, totpCode(t, setup.Secret, time.Now())))
		must[*api.MeResponse](t)(fresh.Me(ctx))
		_, err = client.New(srv.URL).Login(ctx, api.LoginRequest{Tenant: "mfareq", Login: "dave@mfareq.example.com", Password: password})
		checkErr(t, "password only after enrolment", err, 401, "mfa_required")
		res = must[*api.LoginResponse](t)(client.New(srv.URL).Login(ctx, api.LoginRequest{Tenant: "mfareq", Login: "dave@mfareq.example.com",
			Password: password, TOTP: totpCode(t, setup.Secret, time.Now().Add(30*time.Second))}))
		if res.MustEnrollMFA {
			t.Fatal("an enrolled user is still asked to enrol")
		}
	})
}
