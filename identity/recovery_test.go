package identity_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/audit"
	"github.com/havencrm/haven/config"
	"github.com/havencrm/haven/identity"
	"github.com/havencrm/haven/internal/httpx"
	"github.com/havencrm/haven/internal/smtptest"
	"github.com/havencrm/haven/internal/testdb"
	"github.com/havencrm/haven/notify"
	"github.com/havencrm/haven/store"
	"github.com/havencrm/haven/tenant"
)

// The recovery tests deliver codes through the real notifier: e-mail over
// SMTP to an in-process capture server, SMS to an HTTP webhook.

// smsGateway records the texts the webhook provider posts.
type smsGateway struct {
	mu  sync.Mutex
	got []notify.SMS
}

func (g *smsGateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var m notify.SMS
	b, _ := io.ReadAll(r.Body)
	_ = json.Unmarshal(b, &m)
	g.mu.Lock()
	g.got = append(g.got, m)
	g.mu.Unlock()
}

func (g *smsGateway) to(phone string) []notify.SMS {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []notify.SMS
	for _, m := range g.got {
		if m.To == phone {
			out = append(out, m)
		}
	}
	return out
}

type recEnv struct {
	*env
	mail *smtptest.Server
	sms  *smsGateway
	n    *notify.Notifier
}

// ips hands each test its own client addresses: rate limits are platform
// wide and the cases share a database.
var ips atomic.Int64

func nextIP() string {
	n := ips.Add(1)
	return fmt.Sprintf("198.51.%d.%d", n/250, n%250+1)
}

func newRecEnv(t *testing.T, db *store.DB) *recEnv {
	t.Helper()
	e := setup(t, db)
	mail := smtptest.Start(t)
	gw := &smsGateway{}
	hs := httptest.NewServer(gw)
	t.Cleanup(hs.Close)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	mailer, err := notify.NewSMTPMailer(notify.SMTPOptions{Host: mail.Host, Port: mail.Port, From: "no-reply@haven.test", TLS: config.SMTPTLSNone, Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	n := notify.New(notify.Options{Mailer: mailer, SMS: &notify.WebhookSMS{URL: hs.URL, Log: quiet}, Log: quiet, Now: e.clk.Now})
	t.Cleanup(func() { _ = n.Close(context.Background()) })
	e.ids.SetNotifier(n)
	return &recEnv{env: e, mail: mail, sms: gw, n: n}
}

func (r *recEnv) start(slug, login, channel, ip string) error {
	_, err := r.ids.StartRecovery(httpx.WithRequestID(context.Background(), "rid-start"), identity.RecoveryStartInput{
		TenantSlug: r.slug(slug), Login: login, Channel: channel, IP: ip, UserAgent: "test", RequestID: "rid-start"})
	return err
}

func (r *recEnv) mustStart(t *testing.T, slug, login, channel, ip string) {
	t.Helper()
	if err := r.start(slug, login, channel, ip); err != nil {
		t.Fatalf("start recovery %s/%s by %s: %v", slug, login, channel, err)
	}
}

func (r *recEnv) finish(slug, login, code, password, ip string) error {
	return r.ids.FinishRecovery(context.Background(), identity.RecoveryFinishInput{
		TenantSlug: r.slug(slug), Login: login, Code: code, NewPassword: password, IP: ip, UserAgent: "test", RequestID: "rid-finish"})
}

func (r *recEnv) flush(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := r.n.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

var codeInMail = regexp.MustCompile(`Your code: (\d{6})`)

// mailCode returns the code of the nth (1-based) message to addr.
func (r *recEnv) mailCode(t *testing.T, addr string, nth int) string {
	t.Helper()
	msgs := r.mail.WaitCount(t, 10*time.Second, nth, smtptest.To(addr))
	m := codeInMail.FindStringSubmatch(msgs[nth-1].Text)
	if m == nil {
		t.Fatalf("no code in message:\n%s", msgs[nth-1].Text)
	}
	return m[1]
}

func (r *recEnv) mailCount(t *testing.T, addr string) int {
	t.Helper()
	r.flush(t)
	return len(r.mail.WaitCount(t, time.Second, 0, smtptest.To(addr)))
}

func (r *recEnv) smsCode(t *testing.T, phone string, nth int) string {
	t.Helper()
	r.flush(t)
	got := r.sms.to(phone)
	if len(got) < nth {
		t.Fatalf("%d texts to %s, want %d", len(got), phone, nth)
	}
	return got[nth-1].Params["code"]
}

// addPhoneUser creates a sales user with an e-mail address and a phone.
func (r *recEnv) addPhoneUser(t *testing.T, tf tenantFix, email, phone string) identity.User {
	t.Helper()
	nu, err := r.ids.CreateUser(context.Background(), tf.admin, identity.UserInput{Email: ptr(email), Phone: ptr(phone), Name: ptr("Pat Phone"), Role: ptr("sales")})
	if err != nil {
		t.Fatalf("create user: %v", err)
	}
	return nu.User
}

// phones hands out distinct phone numbers: per-number limits are platform wide.
var phones atomic.Int64

func nextPhone() string { return fmt.Sprintf("+86139%08d", phones.Add(1)) }

const newPassword = "Recovered-Tulip-4821!"

func wantRateLimited(t *testing.T, err error, want time.Duration) {
	t.Helper()
	ae, ok := apperr.As(err)
	if !ok || ae.Code != apperr.CodeRateLimited {
		t.Fatalf("want rate_limited, got %v", err)
	}
	got, _ := ae.Details["retry_after_seconds"].(int64)
	if time.Duration(got)*time.Second != want {
		t.Fatalf("retry_after_seconds %d, want %s", got, want)
	}
}

func findAudit(t *testing.T, db *store.DB, tid tenant.ID, action string) []audit.Event {
	t.Helper()
	var out []audit.Event
	for _, ev := range auditEvents(t, db, tid) {
		if ev.Action == action {
			out = append(out, ev)
		}
	}
	return out
}

func testRecoveryByEmailEndsEverySession(t *testing.T, db *store.DB) {
	r := newRecEnv(t, db)
	tf := r.newTenant(t, "acme")
	u, otp := r.addUser(t, tf, "sam@acme.example.com", "Sam Sales", "sales")
	s1 := r.login(t, "acme", u.Email, otp)
	s2 := r.login(t, "acme", u.Email, otp)
	ip := nextIP()
	r.mustStart(t, "acme", "  SAM@acme.example.com ", identity.ChannelEmail, ip)
	code := r.mailCode(t, u.Email, 1)

	// Only a hash is stored.
	rc, err := db.GetRecoveryCode(context.Background(), tf.tenantID, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(rc.CodeHash, "$argon2id$") || strings.Contains(rc.CodeHash, code) || rc.Channel != "email" ||
		!rc.ExpiresAt.Equal(r.clk.Now().Add(10*time.Minute)) || rc.Attempts != 0 {
		t.Fatalf("stored code %+v", rc)
	}
	r.clk.Advance(time.Minute)
	if err := r.finish("acme", u.Email, code, newPassword, ip); err != nil {
		t.Fatalf("finish: %v", err)
	}
	r.mustNotAuth(t, s1.Token, "first session after recovery")
	r.mustNotAuth(t, s2.Token, "second session after recovery")
	res := r.login(t, "acme", u.Email, newPassword)
	if res.MustChangePassword {
		t.Error("must_change_password still set")
	}
	if !res.User.PasswordChangedAt.Equal(r.clk.Now()) {
		t.Errorf("password_changed_at %v", res.User.PasswordChangedAt)
	}
	// Single use.
	wantCode(t, r.finish("acme", u.Email, code, "Another-Tulip-4821!", ip), apperr.CodeInvalidCredentials)
	if _, err := db.GetRecoveryCode(context.Background(), tf.tenantID, u.ID); !apperr.Is(err, apperr.KindNotFound) {
		t.Errorf("the code is still stored: %v", err)
	}
	started := findAudit(t, db, tf.tenantID, identity.ActionRecoveryStarted)
	completed := findAudit(t, db, tf.tenantID, identity.ActionRecoveryCompleted)
	failed := findAudit(t, db, tf.tenantID, identity.ActionRecoveryFailed)
	if len(started) != 1 || len(completed) != 1 || len(failed) != 1 {
		t.Fatalf("audit: %d started, %d completed, %d failed", len(started), len(completed), len(failed))
	}
	if started[0].Changes["channel"].After != "email" || started[0].ObjectID != u.ID || started[0].IP != ip {
		t.Errorf("started %+v", started[0])
	}
	if n, _ := completed[0].Changes["sessions_revoked"].After.(float64); n != 2 {
		t.Errorf("completed %+v", completed[0].Changes)
	}
	all, _ := json.Marshal(auditEvents(t, db, tf.tenantID))
	if strings.Contains(string(all), code) || strings.Contains(string(all), newPassword) {
		t.Error("the audit log holds the code or the new password")
	}
}

func testRecoveryBySMS(t *testing.T, db *store.DB) {
	r := newRecEnv(t, db)
	tf := r.newTenant(t, "acme")
	phone := nextPhone()
	u := r.addPhoneUser(t, tf, "pat@acme.example.com", phone)
	ip := nextIP()
	// By phone login and by e-mail login: both texts go to the phone.
	r.mustStart(t, "acme", phone, identity.ChannelSMS, ip)
	first := r.smsCode(t, phone, 1)
	r.mustStart(t, "acme", u.Email, identity.ChannelSMS, ip)
	second := r.smsCode(t, phone, 2)
	if r.mailCount(t, u.Email) != 0 {
		t.Error("an sms recovery sent e-mail")
	}
	// The second start replaced the first code.
	if first != second {
		wantCode(t, r.finish("acme", phone, first, newPassword, ip), apperr.CodeInvalidCredentials)
	}
	if err := r.finish("acme", phone, second, newPassword, ip); err != nil {
		t.Fatalf("finish with the second code: %v", err)
	}
	r.login(t, "acme", u.Email, newPassword)
}

func testRecoveryCodeExpires(t *testing.T, db *store.DB) {
	r := newRecEnv(t, db)
	tf := r.newTenant(t, "acme")
	u, _ := r.addUser(t, tf, "exp@acme.example.com", "Eve Expiry", "sales")
	ip := nextIP()
	r.mustStart(t, "acme", u.Email, identity.ChannelEmail, ip)
	code := r.mailCode(t, u.Email, 1)
	r.clk.Advance(10 * time.Minute)
	wantCode(t, r.finish("acme", u.Email, code, newPassword, ip), apperr.CodeInvalidCredentials)
	// One microsecond short of ten minutes still works.
	r.mustStart(t, "acme", u.Email, identity.ChannelEmail, ip)
	code = r.mailCode(t, u.Email, 2)
	r.clk.Advance(10*time.Minute - time.Microsecond)
	if err := r.finish("acme", u.Email, code, newPassword, ip); err != nil {
		t.Fatalf("finish just before expiry: %v", err)
	}
	f := findAudit(t, db, tf.tenantID, identity.ActionRecoveryFailed)
	if len(f) != 1 || f[0].Changes["reason"].After != "code expired" {
		t.Errorf("failed events %+v", f)
	}
}

func wrongCode(code string) string {
	b := []byte(code)
	b[0] = '0' + (b[0]-'0'+1)%10
	return string(b)
}

func testFiveWrongTriesKillTheCode(t *testing.T, db *store.DB) {
	r := newRecEnv(t, db)
	tf := r.newTenant(t, "acme")
	u, _ := r.addUser(t, tf, "wrong@acme.example.com", "Will Wrong", "sales")
	ip := nextIP()
	r.mustStart(t, "acme", u.Email, identity.ChannelEmail, ip)
	code := r.mailCode(t, u.Email, 1)
	for i := range 5 {
		err := r.finish("acme", u.Email, wrongCode(code), newPassword, ip)
		if ae, ok := apperr.As(err); !ok || ae.Code != apperr.CodeInvalidCredentials || ae.Message != "invalid or expired recovery code" {
			t.Fatalf("wrong try %d: %v", i+1, err)
		}
	}
	// The sixth try has the right code, and the code is dead.
	wantCode(t, r.finish("acme", u.Email, code, newPassword, ip), apperr.CodeInvalidCredentials)
	if _, err := r.ids.Login(context.Background(), identity.LoginInput{TenantSlug: tf.slug, Login: u.Email, Password: newPassword}); err == nil {
		t.Fatal("the password changed with a dead code")
	}
	// Four wrong tries and then the right one succeed.
	u2, _ := r.addUser(t, tf, "four@acme.example.com", "Fay Four", "sales")
	r.mustStart(t, "acme", u2.Email, identity.ChannelEmail, ip)
	code2 := r.mailCode(t, u2.Email, 1)
	for range 4 {
		wantCode(t, r.finish("acme", u2.Email, wrongCode(code2), newPassword, ip), apperr.CodeInvalidCredentials)
	}
	if err := r.finish("acme", u2.Email, code2, newPassword, ip); err != nil {
		t.Fatalf("fifth try, right code: %v", err)
	}
	// Malformed codes cannot be right and answer the same.
	for _, c := range []string{"12345", "1234567", "abcdef", "１２３４５x"} {
		wantCode(t, r.finish("acme", u2.Email, c, newPassword, ip), apperr.CodeInvalidCredentials)
	}
}

func testConcurrentGuessesAreBounded(t *testing.T, db *store.DB) {
	r := newRecEnv(t, db)
	tf := r.newTenant(t, "acme")
	u, _ := r.addUser(t, tf, "race@acme.example.com", "Rae Race", "sales")
	ip := nextIP()
	r.mustStart(t, "acme", u.Email, identity.ChannelEmail, ip)
	code := r.mailCode(t, u.Email, 1)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			guess := fmt.Sprintf("%06d", (i*7919+1)%1000000)
			if guess == code {
				guess = wrongCode(code)
			}
			_ = r.finish("acme", u.Email, guess, newPassword, nextIP())
		}()
	}
	wg.Wait()
	rc, err := db.GetRecoveryCode(context.Background(), tf.tenantID, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if rc.Attempts != identity.RecoveryMaxAttempts {
		t.Fatalf("attempts %d after 20 parallel guesses", rc.Attempts)
	}
	wantCode(t, r.finish("acme", u.Email, code, newPassword, ip), apperr.CodeInvalidCredentials)
}

func testWeakPasswordKeepsTheCode(t *testing.T, db *store.DB) {
	r := newRecEnv(t, db)
	tf := r.newTenant(t, "acme")
	u, _ := r.addUser(t, tf, "weak@acme.example.com", "Wes Weak", "sales")
	ip := nextIP()
	r.mustStart(t, "acme", u.Email, identity.ChannelEmail, ip)
	code := r.mailCode(t, u.Email, 1)
	for range 6 {
		wantCode(t, r.finish("acme", u.Email, code, "short", ip), apperr.CodePasswordPolicy)
	}
	// Policy failures after a right code cost no try.
	if err := r.finish("acme", u.Email, code, newPassword, ip); err != nil {
		t.Fatalf("finish: %v", err)
	}
	// A weak password with a wrong code is a wrong code: the policy check
	// only runs for the code's owner.
	r.mustStart(t, "acme", u.Email, identity.ChannelEmail, ip)
	code = r.mailCode(t, u.Email, 2)
	wantCode(t, r.finish("acme", u.Email, wrongCode(code), "short", ip), apperr.CodeInvalidCredentials)
	wantCode(t, r.finish("acme", "nobody@acme.example.com", code, "short", ip), apperr.CodeInvalidCredentials)
}

func testStartAnswersAlikeForEveryone(t *testing.T, db *store.DB) {
	r := newRecEnv(t, db)
	tf := r.newTenant(t, "acme")
	u, _ := r.addUser(t, tf, "real@acme.example.com", "Rita Real", "sales")
	gone, _ := r.addUser(t, tf, "gone@acme.example.com", "Gil Gone", "sales")
	if _, err := r.ids.Deactivate(context.Background(), tf.admin, gone.ID); err != nil {
		t.Fatal(err)
	}
	ip := nextIP()
	for _, c := range []struct{ slug, login, channel string }{
		{"no-such-tenant", u.Email, identity.ChannelEmail},
		{"acme", "nobody@acme.example.com", identity.ChannelEmail},
		{"acme", "not a login", identity.ChannelEmail},
		{"acme", u.Email, identity.ChannelSMS}, // no phone on the account
		{"acme", gone.Email, identity.ChannelEmail},
		{"acme", u.Email, identity.ChannelEmail},
	} {
		res, err := r.ids.StartRecovery(context.Background(), identity.RecoveryStartInput{TenantSlug: r.slug(c.slug), Login: c.login, Channel: c.channel, IP: ip})
		if err != nil || res.DeliveryErr != nil {
			t.Fatalf("%+v: %v %v", c, err, res.DeliveryErr)
		}
	}
	r.flush(t)
	if got := r.mail.Messages(); len(got) != 1 || got[0].To[0] != u.Email {
		t.Fatalf("messages %+v", got)
	}
	reasons := map[string]bool{}
	for _, ev := range findAudit(t, db, tf.tenantID, identity.ActionRecoveryStarted) {
		reasons[fmt.Sprint(ev.Changes["reason"].After)] = true
	}
	for _, want := range []string{"unknown login", "no sms on the account", "<nil>"} {
		if !reasons[want] {
			t.Errorf("no recovery_started with reason %q: %v", want, reasons)
		}
	}
	// Malformed requests are refused (they reveal nothing either).
	for _, in := range []identity.RecoveryStartInput{
		{TenantSlug: tf.slug, Login: u.Email},
		{TenantSlug: tf.slug, Login: u.Email, Channel: "fax"},
		{TenantSlug: "", Login: u.Email, Channel: "email"},
		{TenantSlug: tf.slug, Login: strings.Repeat("a", 255), Channel: "email"},
	} {
		_, err := r.ids.StartRecovery(context.Background(), in)
		wantCode(t, err, apperr.CodeInvalidRequest)
	}
}

func testStartRateLimits(t *testing.T, db *store.DB) {
	r := newRecEnv(t, db)
	tf := r.newTenant(t, "acme")
	u, _ := r.addUser(t, tf, "limit@acme.example.com", "Liz Limit", "sales")

	// Per account: 3 per 15 minutes, for existing and unknown logins alike.
	for _, login := range []string{u.Email, "ghost@acme.example.com"} {
		ip := nextIP()
		for range 3 {
			r.mustStart(t, "acme", login, identity.ChannelEmail, ip)
			r.clk.Advance(time.Minute)
		}
		wantRateLimited(t, r.start("acme", login, identity.ChannelEmail, nextIP()), 12*time.Minute)
		r.clk.Advance(12 * time.Minute)
		r.mustStart(t, "acme", login, identity.ChannelEmail, ip)
	}
	if n := r.mailCount(t, u.Email); n != 4 {
		t.Errorf("%d mails, want 4", n)
	}

	// Per IP: 10 per 15 minutes, whatever the logins.
	ip := nextIP()
	for i := range 10 {
		r.mustStart(t, "acme", fmt.Sprintf("ip%d@acme.example.com", i), identity.ChannelEmail, ip)
	}
	wantRateLimited(t, r.start("acme", "ip-next@acme.example.com", identity.ChannelEmail, ip), 15*time.Minute)
	// Another IP is not affected; IPv6 counts per /64.
	r.mustStart(t, "acme", "ip-next@acme.example.com", identity.ChannelEmail, nextIP())
	for i := range 10 {
		r.mustStart(t, "acme", fmt.Sprintf("v6-%d@acme.example.com", i), identity.ChannelEmail, fmt.Sprintf("2001:db8:%x::%x", ips.Add(1), i+1))
	}
	v6 := fmt.Sprintf("2001:db8:%x::", ips.Add(1))
	for i := range 10 {
		r.mustStart(t, "acme", fmt.Sprintf("net-%d@acme.example.com", i), identity.ChannelEmail, fmt.Sprintf("%s%x", v6, i+1))
	}
	wantRateLimited(t, r.start("acme", "net-x@acme.example.com", identity.ChannelEmail, v6+"ffff"), 15*time.Minute)

	// Per phone number typed as login: 3 per hour, across tenants.
	phone := nextPhone()
	r.newTenant(t, "globex")
	r.newTenant(t, "initech")
	r.mustStart(t, "acme", phone, identity.ChannelSMS, nextIP())
	r.mustStart(t, "globex", phone, identity.ChannelSMS, nextIP())
	r.clk.Advance(20 * time.Minute)
	r.mustStart(t, "initech", phone, identity.ChannelSMS, nextIP())
	wantRateLimited(t, r.start("other", phone, identity.ChannelSMS, nextIP()), 40*time.Minute)
	// The e-mail channel with the same login is not a text to that phone.
	r.mustStart(t, "other", phone, identity.ChannelEmail, nextIP())
}

func testSilentLimitsOnTheRealTarget(t *testing.T, db *store.DB) {
	r := newRecEnv(t, db)
	tf := r.newTenant(t, "acme")
	phone := nextPhone()
	u := r.addPhoneUser(t, tf, "twice@acme.example.com", phone)
	// Three codes by e-mail login, each delivered before the next is
	// asked for (texts go out concurrently, so their order is otherwise
	// not the order of the requests)...
	for range 3 {
		r.mustStart(t, "acme", u.Email, identity.ChannelSMS, nextIP())
		r.flush(t)
	}
	// ...and the same account by its phone login: the visible limits see a
	// different login and allow it, but the user has had 3 codes in 15
	// minutes, so no fourth is issued. The caller cannot tell.
	r.mustStart(t, "acme", phone, identity.ChannelSMS, nextIP())
	r.flush(t)
	if got := len(r.sms.to(phone)); got != 3 {
		t.Fatalf("%d texts, want 3", got)
	}
	var last audit.Event
	for _, ev := range findAudit(t, db, tf.tenantID, identity.ActionRecoveryStarted) {
		if ev.Seq > last.Seq {
			last = ev
		}
	}
	if last.Changes["reason"].After != "rate limited" || last.Changes["sent"].After != false {
		t.Errorf("last start %+v", last.Changes)
	}
	// The third code is still the live one.
	code := r.smsCode(t, phone, 3)
	if err := r.finish("acme", phone, code, newPassword, nextIP()); err != nil {
		t.Fatalf("finish: %v", err)
	}
}

func testFinishRateLimitPerIP(t *testing.T, db *store.DB) {
	r := newRecEnv(t, db)
	r.newTenant(t, "acme")
	ip := nextIP()
	for i := range 30 {
		wantCode(t, r.finish("acme", fmt.Sprintf("u%d@acme.example.com", i), "123456", newPassword, ip), apperr.CodeInvalidCredentials)
	}
	wantRateLimited(t, r.finish("acme", "u@acme.example.com", "123456", newPassword, ip), 15*time.Minute)
	wantCode(t, r.finish("acme", "u@acme.example.com", "123456", newPassword, nextIP()), apperr.CodeInvalidCredentials)
}

func testDeactivatedUserCannotFinish(t *testing.T, db *store.DB) {
	r := newRecEnv(t, db)
	tf := r.newTenant(t, "acme")
	u, _ := r.addUser(t, tf, "leaver@acme.example.com", "Lee Leaver", "sales")
	ip := nextIP()
	r.mustStart(t, "acme", u.Email, identity.ChannelEmail, ip)
	code := r.mailCode(t, u.Email, 1)
	if _, err := r.ids.Deactivate(context.Background(), tf.admin, u.ID); err != nil {
		t.Fatal(err)
	}
	wantCode(t, r.finish("acme", u.Email, code, newPassword, ip), apperr.CodeInvalidCredentials)
}

func testRecoveryKeepsPasswordHistory(t *testing.T, db *store.DB) {
	r := newRecEnv(t, db)
	tf := r.newTenant(t, "acme")
	u, otp := r.addUser(t, tf, "hist@acme.example.com", "Hal History", "sales")
	const first = "First-Choice-5531!"
	res := r.login(t, "acme", u.Email, otp)
	if err := r.ids.ChangePassword(context.Background(), r.actorOf(t, res), otp, first); err != nil {
		t.Fatal(err)
	}
	ip := nextIP()
	r.mustStart(t, "acme", u.Email, identity.ChannelEmail, ip)
	if err := r.finish("acme", u.Email, r.mailCode(t, u.Email, 1), newPassword, ip); err != nil {
		t.Fatal(err)
	}
	// The password recovery replaced is in the history, and the current
	// one may not be "recovered" to either.
	r.mustStart(t, "acme", u.Email, identity.ChannelEmail, ip)
	code := r.mailCode(t, u.Email, 2)
	wantCode(t, r.finish("acme", u.Email, code, first, ip), apperr.CodePasswordPolicy)
	wantCode(t, r.finish("acme", u.Email, code, newPassword, ip), apperr.CodePasswordPolicy)
	if err := r.finish("acme", u.Email, code, "Third-Choice-8812!", ip); err != nil {
		t.Fatal(err)
	}
}

func TestRecoveryOnDatabase(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		fn   func(t *testing.T, db *store.DB)
	}{
		{"ByEmailEndsEverySession", testRecoveryByEmailEndsEverySession},
		{"BySMS", testRecoveryBySMS},
		{"CodeExpires", testRecoveryCodeExpires},
		{"FiveWrongTriesKillTheCode", testFiveWrongTriesKillTheCode},
		{"ConcurrentGuessesAreBounded", testConcurrentGuessesAreBounded},
		{"WeakPasswordKeepsTheCode", testWeakPasswordKeepsTheCode},
		{"StartAnswersAlikeForEveryone", testStartAnswersAlikeForEveryone},
		{"StartRateLimits", testStartRateLimits},
		{"SilentLimitsOnTheRealTarget", testSilentLimitsOnTheRealTarget},
		{"FinishRateLimitPerIP", testFinishRateLimitPerIP},
		{"DeactivatedUserCannotFinish", testDeactivatedUserCannotFinish},
		{"KeepsPasswordHistory", testRecoveryKeepsPasswordHistory},
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
