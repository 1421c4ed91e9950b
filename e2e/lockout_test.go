package e2e

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/havencrm/haven/api"
	"github.com/havencrm/haven/client"
	"github.com/havencrm/haven/identity"
	"github.com/havencrm/haven/internal/testserver"
)

// TestLockoutAPI covers the lockout endpoints over HTTP: the CAPTCHA
// image, the captcha_required and account_locked envelopes, admin unlock
// and the login IP ranges.
func TestLockoutAPI(t *testing.T) {
	t.Parallel()
	eachEngine(t, func(t *testing.T, srv *testserver.Server) {
		ctx := context.Background()
		tn := srv.NewTenant(t, "locks")
		sales, dana := srv.NewUser(t, tn, "dana@locks.example.com", "Dana", "sales")
		guess := func(pw, captchaID, answer string) error {
			_, err := client.New(srv.URL).Login(ctx, api.LoginRequest{Tenant: "locks", Login: "dana@locks.example.com", Password: pw, CaptchaID: captchaID, CaptchaAnswer: answer})
			return err
		}
		for i := 0; i < 3; i++ {
			wantErr(t, guess("Wrong-Password-9", "", ""), 401, "invalid_credentials")
		}
		r := do(t, srv, rawReq{Method: "POST", Path: "/api/v1/auth/login", ContentType: "application/json",
			Body: jsonBody(t, api.LoginRequest{Tenant: "locks", Login: "dana@locks.example.com", Password: password})})
		e := wantRaw(t, "4th attempt", r, 401, "captcha_required")
		id, _ := e.Details["captcha_id"].(string)
		if len(id) != 43 || len(e.Details) != 1 {
			t.Fatalf("details %v", e.Details)
		}
		// The image: public, a PNG, not cached.
		img := do(t, srv, rawReq{Method: "GET", Path: "/api/v1/auth/captcha/" + id + ".png"})
		if img.Status != 200 || img.Header.Get("Content-Type") != "image/png" || !bytes.HasPrefix(img.Body, []byte("\x89PNG")) ||
			!strings.Contains(img.Header.Get("Cache-Control"), "no-store") {
			t.Fatalf("image: %d %v", img.Status, img.Header)
		}
		b, err := client.New(srv.URL).CaptchaImage(ctx, id)
		if err != nil || !bytes.Equal(b[:8], img.Body[:8]) {
			t.Fatalf("client image: %v", err)
		}
		for what, path := range map[string]string{
			"no .png":      "/api/v1/auth/captcha/" + id,
			"other suffix": "/api/v1/auth/captcha/" + id + ".gif",
			"unknown":      "/api/v1/auth/captcha/" + strings.Repeat("A", 43) + ".png",
			"malformed":    "/api/v1/auth/captcha/..%2F..%2Fetc.png",
		} {
			wantRaw(t, what, do(t, srv, rawReq{Method: "GET", Path: path}), 404, "not_found")
		}
		// Solving it lets the right password in; the challenge is then gone.
		noErr(t, guess(password, id, srv.CaptchaAnswer(t, id)))
		wantRaw(t, "used image", do(t, srv, rawReq{Method: "GET", Path: "/api/v1/auth/captcha/" + id + ".png"}), 404, "not_found")

		// Lock: 3 plain failures, then 2 with solved CAPTCHAs.
		for i := 0; i < 3; i++ {
			_ = guess("Wrong-Password-9", "", "")
		}
		var last error
		for i := 0; i < 2; i++ {
			err := guess("Wrong-Password-9", "", "")
			ce := wantErr(t, err, 401, "captcha_required")
			cid := ce.Details["captcha_id"].(string)
			last = guess("Wrong-Password-9", cid, srv.CaptchaAnswer(t, cid))
		}
		le := wantErr(t, last, 423, "account_locked")
		if s, _ := le.Details["locked_until"].(string); len(s) < 20 {
			t.Fatalf("locked_until %v", le.Details)
		}
		wantErr(t, guess(password, "", ""), 423, "account_locked")

		// Unlock: admins only; audited; the user gets in at once.
		_, err = sales.UnlockUser(ctx, dana.ID)
		wantErr(t, err, 403, "forbidden")
		_, err = tn.Admin.UnlockUser(ctx, "00000000-0000-7000-8000-000000000000")
		wantErr(t, err, 404, "not_found")
		res := must[*api.UnlockResponse](t)(tn.Admin.UnlockUser(ctx, dana.ID))
		if !res.WasLocked || res.FailuresCleared != 5 || res.LockedUntil == nil || res.User.ID != dana.ID {
			t.Fatalf("unlock %+v", res)
		}
		noErr(t, guess(password, "", ""))
		evs := allAudit(t, tn.Admin, client.AuditQuery{Action: identity.ActionUnlocked})
		if len(evs) != 1 || evs[0].ObjectID != dana.ID {
			t.Fatalf("unlock events %+v", evs)
		}
		// A tenant can only unlock its own users.
		other := srv.NewTenant(t, "locks-other")
		_, err = other.Admin.UnlockUser(ctx, dana.ID)
		wantErr(t, err, 404, "not_found")

		// Login IP ranges: the test client is 127.0.0.1.
		srv.SetSecuritySettings(t, tn, func(s *identity.SecuritySettings) { s.LoginIPRanges = []string{"192.0.2.0/24"} })
		wantErr(t, guess(password, "", ""), 403, "forbidden")
		_, err = client.New(srv.URL).Login(ctx, api.LoginRequest{Tenant: "locks", Login: "nobody@locks.example.com", Password: password})
		wantErr(t, err, 403, "forbidden")
		srv.SetSecuritySettings(t, tn, func(s *identity.SecuritySettings) { s.LoginIPRanges = []string{"127.0.0.0/8"} })
		noErr(t, guess(password, "", ""))
	})
}
