package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/havencrm/haven/api"
	"github.com/havencrm/haven/client"
	"github.com/havencrm/haven/config"
	"github.com/havencrm/haven/identity"
	"github.com/havencrm/haven/internal/smtptest"
	"github.com/havencrm/haven/internal/testserver"
	"github.com/havencrm/haven/notify"
	"github.com/havencrm/haven/tenant"
)

// Password recovery end to end: the real server sends e-mail through its
// real SMTP client to an in-process SMTP server, and texts to a signed
// webhook; the test reads the codes from what arrived.

const (
	smtpUser      = "haven-relay"
	smtpPass      = "Relay-Secret-5521"
	webhookSecret = "whsec-E2E-9931"
	recovered     = "Fresh-Orchid-7319!"
)

// lockedBuffer collects the server's log lines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// signedGateway is an SMS adapter that accepts only correctly signed
// requests.
type signedGateway struct {
	mu     sync.Mutex
	texts  []notify.SMS
	forged int
}

func (g *signedGateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	ts := r.Header.Get(notify.HeaderTimestamp)
	g.mu.Lock()
	defer g.mu.Unlock()
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || time.Since(time.Unix(sec, 0)).Abs() > 5*time.Minute || !notify.Verify(webhookSecret, ts, body, r.Header.Get(notify.HeaderSignature)) {
		g.forged++
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var m notify.SMS
	_ = json.Unmarshal(body, &m)
	g.texts = append(g.texts, m)
}

func (g *signedGateway) to(phone string) []notify.SMS {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []notify.SMS
	for _, m := range g.texts {
		if m.To == phone {
			out = append(out, m)
		}
	}
	return out
}

type recoveryRig struct {
	srv  *testserver.Server
	mail *smtptest.Server
	sms  *signedGateway
	logs *lockedBuffer
}

// startRecoveryRig runs a server whose notifier is configured like a
// production one: SMTP with authentication, a signed SMS webhook.
func startRecoveryRig(t *testing.T, engine string) *recoveryRig {
	t.Helper()
	mail := smtptest.Start(t, smtptest.Options{Username: smtpUser, Password: smtpPass})
	gw := &signedGateway{}
	hook := httptest.NewServer(gw)
	t.Cleanup(hook.Close)
	logs := &lockedBuffer{}
	srv := testserver.Start(t, engine, testserver.Options{
		LogTo: logs,
		Configure: func(c *config.Config) {
			c.Notify.SMTPHost, c.Notify.SMTPPort = mail.Host, mail.Port
			c.Notify.SMTPUsername, c.Notify.SMTPPassword = smtpUser, smtpPass
			c.Notify.SMTPFrom = "Haven <no-reply@haven.test>"
			c.Notify.SMTPTLS = config.SMTPTLSNone // the capture server speaks plain SMTP on loopback
			c.Notify.SMSProvider, c.Notify.SMSWebhookURL, c.Notify.SMSWebhookSecret = config.SMSProviderWebhook, hook.URL+"/sms", webhookSecret
		},
	})
	t.Cleanup(func() { http.DefaultClient.CloseIdleConnections() })
	return &recoveryRig{srv: srv, mail: mail, sms: gw, logs: logs}
}

var mailCode = regexp.MustCompile(`Your code: (\d{6})`)

func (g *recoveryRig) mailCode(t *testing.T, addr string, nth int) string {
	t.Helper()
	msgs := g.mail.WaitCount(t, 15*time.Second, nth, smtptest.To(addr))
	m := mailCode.FindStringSubmatch(msgs[nth-1].Text)
	if m == nil {
		t.Fatalf("no code in:\n%s", msgs[nth-1].Text)
	}
	return m[1]
}

func (g *recoveryRig) smsCode(t *testing.T, phone string) string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if got := g.sms.to(phone); len(got) > 0 {
			return got[len(got)-1].Params["code"]
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no text to %s", phone)
	return ""
}

func postJSON(t *testing.T, srv *testserver.Server, path string, body any) rawResp {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	return do(t, srv, rawReq{Method: "POST", Path: path, ContentType: "application/json", Body: b})
}

func TestRecovery(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			t.Run("Flow", func(t *testing.T) { testRecoveryFlow(t, engine) })
			t.Run("RateLimits", func(t *testing.T) { testRecoveryRateLimits(t, engine) })
		})
	}
}

func testRecoveryFlow(t *testing.T, engine string) {
	g := startRecoveryRig(t, engine)
	srv := g.srv
	ctx := context.Background()
	tn := srv.NewTenant(t, "lostpw")
	sales, user := srv.NewUser(t, tn, "sally@lostpw.example.com", "Sally Sales", "sales")
	second := srv.Login(t, tn.Slug, user.Email, password)

	// The same 202, byte for byte, for an unknown tenant, an unknown login
	// and a real one; each takes at least the padded time.
	var bodies [][]byte
	for _, req := range []api.RecoveryStartRequest{
		{Tenant: "no-such-tenant", Login: user.Email, Channel: "email"},
		{Tenant: tn.Slug, Login: "nobody@lostpw.example.com", Channel: "email"},
		{Tenant: tn.Slug, Login: user.Email, Channel: "email"},
	} {
		start := time.Now()
		r := postJSON(t, srv, "/api/v1/auth/recovery/start", req)
		if took := time.Since(start); took < identity.RecoveryMinResponse {
			t.Errorf("%+v answered in %s", req, took)
		}
		if r.Status != http.StatusAccepted || r.Header.Get("Content-Type") != "application/json; charset=utf-8" {
			t.Fatalf("%+v: %d %s", req, r.Status, r.Body)
		}
		bodies = append(bodies, r.Body)
	}
	if !bytes.Equal(bodies[0], bodies[1]) || !bytes.Equal(bodies[1], bodies[2]) {
		t.Fatalf("bodies differ:\n%s\n%s\n%s", bodies[0], bodies[1], bodies[2])
	}
	var accepted api.RecoveryStartResponse
	if err := json.Unmarshal(bodies[0], &accepted); err != nil || accepted.Status != "accepted" || accepted.CodeTTLSeconds != 600 {
		t.Fatalf("body %s", bodies[0])
	}
	code := g.mailCode(t, user.Email, 1)
	if n := len(g.mail.Messages()); n != 1 {
		t.Errorf("%d messages, want only the real user's", n)
	}
	if m := g.mail.Messages()[0]; !m.Authed || m.From != "no-reply@haven.test" {
		t.Errorf("message from %q authed %v", m.From, m.Authed)
	}

	anon := client.New(srv.URL)
	finish := func(code, pw string) error {
		return anon.FinishRecovery(ctx, api.RecoveryFinishRequest{Tenant: tn.Slug, Login: user.Email, Code: code, NewPassword: pw})
	}
	// A weak password is refused by the policy, and the code stays usable.
	e := wantErr(t, finish(code, "weak"), http.StatusUnprocessableEntity, "password_policy")
	if v, _ := e.Details["violations"].([]any); len(v) == 0 {
		t.Errorf("no violations in %+v", e.Details)
	}
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	wantErr(t, finish(wrong, recovered), http.StatusUnauthorized, "invalid_credentials")
	noErr(t, finish(code, recovered))
	// Every session of the user ended; the admin's did not.
	for _, c := range []*client.Client{sales, second} {
		_, err := c.Me(ctx)
		wantErr(t, err, http.StatusUnauthorized, "unauthenticated")
	}
	if _, err := tn.Admin.Me(ctx); err != nil {
		t.Fatalf("admin: %v", err)
	}
	me := login(t, srv, tn.Slug, user.Email, recovered)
	if _, err := me.Me(ctx); err != nil {
		t.Fatalf("signed in with the new password: %v", err)
	}
	// Single use.
	wantErr(t, finish(code, "Other-Orchid-7319!"), http.StatusUnauthorized, "invalid_credentials")

	// By SMS, to a user with a phone.
	phone := "+8613700137000"
	pu, err := tn.Admin.CreateUser(ctx, api.CreateUserRequest{Phone: phone, Name: "Phil Phone", Role: "sales"})
	noErr(t, err)
	// "137 0013 7000" is not "+8613700137000": nothing is sent, and the
	// answer is the same. Then the number as stored.
	_, err = anon.StartRecovery(ctx, api.RecoveryStartRequest{Tenant: tn.Slug, Login: "137 0013 7000", Channel: "sms"})
	noErr(t, err)
	_, err = anon.StartRecovery(ctx, api.RecoveryStartRequest{Tenant: tn.Slug, Login: phone, Channel: "sms"})
	noErr(t, err)
	smsCode := g.smsCode(t, phone)
	if got := g.sms.to(phone); len(got) != 1 || g.sms.forged != 0 || got[0].Params["minutes"] != "10" {
		t.Fatalf("texts %+v forged %d", got, g.sms.forged)
	}
	noErr(t, anon.FinishRecovery(ctx, api.RecoveryFinishRequest{Tenant: tn.Slug, Login: phone, Code: smsCode, NewPassword: recovered}))
	pc := login(t, srv, tn.Slug, phone, recovered)
	if me, err := pc.Me(ctx); err != nil || me.User.ID != pu.User.ID || me.User.MustChangePassword {
		t.Fatalf("me %+v %v", me, err)
	}

	// The lock notice goes out through the server's own notifier.
	tt, err := srv.App.DB.Tenant(ctx, tenant.ID(tn.ID))
	noErr(t, err)
	until := time.Now().Add(30 * time.Minute)
	noErr(t, srv.App.Notifier.AccountLocked(ctx, tt, identity.User{ID: user.ID, Email: user.Email, Name: user.Name}, &until))
	lock := g.mail.WaitCount(t, 15*time.Second, 2, smtptest.To(user.Email))[1]
	if lock.Subject != "Haven 账号已锁定 / Your Haven account was locked" || !strings.Contains(lock.Text, "lostpw Co.") {
		t.Errorf("lock notice %q:\n%s", lock.Subject, lock.Text)
	}

	// The audit log tells the admin what happened, without the code.
	evs := allAudit(t, tn.Admin, client.AuditQuery{})
	seen := map[string]int{}
	for _, ev := range evs {
		seen[ev.Action]++
	}
	if seen[identity.ActionRecoveryStarted] < 4 || seen[identity.ActionRecoveryCompleted] != 2 || seen[identity.ActionRecoveryFailed] < 2 {
		t.Errorf("audit actions %v", seen)
	}
	raw, _ := json.Marshal(evs)
	for _, secret := range []string{code, smsCode} {
		if strings.Contains(string(raw), `"`+secret+`"`) {
			t.Errorf("the audit log holds a code")
		}
	}

	// Nothing secret reached the server's log, in any form.
	ctx2, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	noErr(t, srv.App.Notifier.Flush(ctx2))
	logs := g.logs.String()
	if !strings.Contains(logs, "mail sent") || !strings.Contains(logs, "sms sent") {
		t.Errorf("the log does not show the messages were sent:\n%s", logs)
	}
	for _, secret := range []string{code, smsCode, recovered, smtpPass, webhookSecret} {
		if strings.Contains(logs, secret) {
			t.Errorf("the server log contains %q", secret)
		}
	}
}

func testRecoveryRateLimits(t *testing.T, engine string) {
	g := startRecoveryRig(t, engine)
	srv := g.srv
	tn := srv.NewTenant(t, "rl")
	_, user := srv.NewUser(t, tn, "rita@rl.example.com", "Rita Limit", "sales")
	start := func(req api.RecoveryStartRequest) rawResp {
		t.Helper()
		return postJSON(t, srv, "/api/v1/auth/recovery/start", req)
	}
	check429 := func(r rawResp, lo, hi int) {
		t.Helper()
		var body api.ErrorBody
		if r.Status != http.StatusTooManyRequests || json.Unmarshal(r.Body, &body) != nil || body.Error.Code != "rate_limited" {
			t.Fatalf("want 429 rate_limited, got %d %s", r.Status, r.Body)
		}
		ra, err := strconv.Atoi(r.Header.Get("Retry-After"))
		if err != nil || ra < lo || ra > hi {
			t.Fatalf("Retry-After %q, want %d..%d", r.Header.Get("Retry-After"), lo, hi)
		}
		if d, _ := body.Error.Details["retry_after_seconds"].(float64); int(d) != ra {
			t.Fatalf("details %v, Retry-After %d", body.Error.Details, ra)
		}
	}
	// Per phone number typed as login, across tenants (which need not
	// exist): 3 per hour.
	phone := "+8613600136000"
	for _, slug := range []string{"p1", "p2", "p3"} {
		if r := start(api.RecoveryStartRequest{Tenant: slug, Login: phone, Channel: "sms"}); r.Status != http.StatusAccepted {
			t.Fatalf("%s: %d %s", slug, r.Status, r.Body)
		}
	}
	check429(start(api.RecoveryStartRequest{Tenant: "p4", Login: phone, Channel: "sms"}), 3500, 3600)

	// Per account: 3 per 15 minutes, the same for a real and an unknown login.
	for _, login := range []string{user.Email, "ghost@rl.example.com"} {
		for range 3 {
			if r := start(api.RecoveryStartRequest{Tenant: tn.Slug, Login: login, Channel: "email"}); r.Status != http.StatusAccepted {
				t.Fatalf("%s: %d %s", login, r.Status, r.Body)
			}
		}
		check429(start(api.RecoveryStartRequest{Tenant: tn.Slug, Login: login, Channel: "email"}), 800, 900)
	}
	g.mailCode(t, user.Email, 3)

	// Per IP: 10 per 15 minutes (9 counted so far from 127.0.0.1).
	if r := start(api.RecoveryStartRequest{Tenant: tn.Slug, Login: "tenth@rl.example.com", Channel: "email"}); r.Status != http.StatusAccepted {
		t.Fatalf("tenth: %d %s", r.Status, r.Body)
	}
	check429(start(api.RecoveryStartRequest{Tenant: tn.Slug, Login: "eleventh@rl.example.com", Channel: "email"}), 800, 900)

	// Through the client, the Retry-After arrives parsed.
	_, err := client.New(srv.URL).StartRecovery(context.Background(), api.RecoveryStartRequest{Tenant: tn.Slug, Login: "x@rl.example.com", Channel: "email"})
	if e := wantErr(t, err, http.StatusTooManyRequests, "rate_limited"); e.RetryAfter < 800*time.Second {
		t.Errorf("RetryAfter %s", e.RetryAfter)
	}

	// Malformed requests are refused before any limit.
	for _, body := range []string{`{"tenant":"rl","login":"a@b.c","channel":"fax"}`, `{"tenant":"rl","login":"a@b.c"}`, `{"tenant":"rl","login":"a@b.c","channel":"email","x":1}`} {
		r := do(t, srv, rawReq{Method: "POST", Path: "/api/v1/auth/recovery/start", ContentType: "application/json", Body: []byte(body)})
		if r.Status != http.StatusBadRequest {
			t.Errorf("%s: %d %s", body, r.Status, r.Body)
		}
	}
}

// TestRecoveryClearsLock: an owner locked out by someone else's guesses
// gets back in through recovery, without waiting out the lock.
func TestRecoveryClearsLock(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			g := startRecoveryRig(t, engine)
			srv := g.srv
			ctx := context.Background()
			tn := srv.NewTenant(t, "relock")
			_, user := srv.NewUser(t, tn, "owner@relock.example.com", "Owner", "sales")
			srv.SetSecuritySettings(t, tn, func(s *identity.SecuritySettings) {
				s.Preset, s.CaptchaAfter, s.LockoutThreshold, s.LockoutMinutes = identity.PresetCustom, 1, 2, 0
			})
			anon := client.New(srv.URL)
			_, err := anon.Login(ctx, api.LoginRequest{Tenant: "relock", Login: user.Email, Password: "guess-1-wrong"})
			ce := checkErr(t, "first guess", err, 401, "invalid_credentials")
			id, _ := ce.Details["captcha_id"].(string)
			_, err = anon.Login(ctx, api.LoginRequest{Tenant: "relock", Login: user.Email, Password: "guess-2-wrong",
				CaptchaID: id, CaptchaAnswer: srv.CaptchaAnswer(t, id)})
			checkErr(t, "second guess", err, 423, "account_locked")
			_, err = anon.Login(ctx, api.LoginRequest{Tenant: "relock", Login: user.Email, Password: password})
			checkErr(t, "owner while locked", err, 423, "account_locked")

			if r := postJSON(t, srv, "/api/v1/auth/recovery/start", api.RecoveryStartRequest{Tenant: "relock", Login: user.Email, Channel: "email"}); r.Status != 202 {
				t.Fatalf("start: %d %s", r.Status, r.Body)
			}
			// Two messages: the lock notice and the code, in either order
			// (mail goes out in the background).
			var code string
			for _, m := range g.mail.WaitCount(t, 15*time.Second, 2, smtptest.To(user.Email)) {
				if c := mailCode.FindStringSubmatch(m.Text); c != nil {
					code = c[1]
				}
			}
			if code == "" {
				t.Fatal("no recovery code mailed")
			}
			if r := postJSON(t, srv, "/api/v1/auth/recovery/finish", api.RecoveryFinishRequest{Tenant: "relock", Login: user.Email, Code: code,
				NewPassword: "Harbour-Lights-Tango-58"}); r.Status != 204 {
				t.Fatalf("finish: %d %s", r.Status, r.Body)
			}
			must[*api.LoginResponse](t)(client.New(srv.URL).Login(ctx, api.LoginRequest{Tenant: "relock", Login: user.Email, Password: "Harbour-Lights-Tango-58"}))
			evs := allAudit(t, tn.Admin, client.AuditQuery{Action: "auth.recovery_completed"})
			if len(evs) != 1 || evs[0].Changes["lock_cleared"].After != false {
				t.Fatalf("recovery audit %+v", evs)
			}
		})
	}
}
