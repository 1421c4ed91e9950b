package notify_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/havencrm/haven/config"
	"github.com/havencrm/haven/identity"
	"github.com/havencrm/haven/internal/httpx"
	"github.com/havencrm/haven/internal/smtptest"
	"github.com/havencrm/haven/notify"
	"github.com/havencrm/haven/tenant"
)

// syncBuffer is a log sink safe for the notifier's background senders.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newLog() (*slog.Logger, *syncBuffer) {
	buf := &syncBuffer{}
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

var (
	acme  = tenant.Tenant{ID: "0190b6a0-0000-7000-8000-000000000001", Slug: "acme", Name: "Acme 有限公司", Status: tenant.StatusActive}
	alice = identity.User{ID: "0190b6a0-0000-7000-8000-0000000000a1", Email: "alice.secret-local@acme.example.com", Phone: "+8613800138000", Name: "Alice 王"}
)

func reqCtx(id string) context.Context {
	return httpx.WithRequestID(context.Background(), id)
}

func smtpConfig(s *smtptest.Server) config.Notify {
	return config.Notify{SMTPHost: s.Host, SMTPPort: s.Port, SMTPFrom: "Haven <no-reply@haven.test>", SMTPTLS: config.SMTPTLSNone,
		SMSProvider: config.SMSProviderLog, Language: "bilingual"}
}

func flush(t *testing.T, n *notify.Notifier) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := n.Flush(ctx); err != nil {
		t.Fatalf("flush: %v", err)
	}
}

func assertNoSecrets(t *testing.T, logs string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if s != "" && strings.Contains(logs, s) {
			t.Errorf("the log contains %q:\n%s", s, logs)
		}
	}
}

func TestRecoveryCodeByEmailThroughRealSMTP(t *testing.T) {
	srv := smtptest.Start(t)
	log, logs := newLog()
	n, err := notify.FromConfig(smtpConfig(srv), log)
	if err != nil {
		t.Fatal(err)
	}
	expires := time.Now().Add(identity.RecoveryCodeTTL)
	if err := n.RecoveryCode(reqCtx("rid-mail-1"), acme, alice, identity.ChannelEmail, "042917", expires); err != nil {
		t.Fatal(err)
	}
	flush(t, n)
	m := srv.WaitFor(t, 10*time.Second, smtptest.To(alice.Email))
	if m.From != "no-reply@haven.test" || len(m.To) != 1 {
		t.Errorf("envelope from %q to %v", m.From, m.To)
	}
	if m.Subject != "Haven 密码找回验证码 / Your Haven password recovery code" {
		t.Errorf("subject %q", m.Subject)
	}
	for _, want := range []string{"042917", "Alice 王", "Acme 有限公司", "10 分钟", "10 minutes", "北京时间", "UTC", "———— English ————"} {
		if !strings.Contains(m.Text, want) {
			t.Errorf("body lacks %q:\n%s", want, m.Text)
		}
	}
	if m.Header.Get("Auto-Submitted") != "auto-generated" || m.Header.Get("Message-Id") == "" || m.Header.Get("Date") == "" {
		t.Errorf("headers %v", m.Header)
	}
	if !strings.Contains(logs.String(), "mail sent") || !strings.Contains(logs.String(), "recipient_domain=acme.example.com") ||
		!strings.Contains(logs.String(), "request_id=rid-mail-1") || !strings.Contains(logs.String(), "kind=recovery_code") {
		t.Errorf("log:\n%s", logs)
	}
	assertNoSecrets(t, logs.String(), "042917", "alice.secret-local")
}

func TestLanguages(t *testing.T) {
	srv := smtptest.Start(t)
	for _, tc := range []struct {
		lang             string
		subject          string
		present, missing string
	}{
		{"zh-CN", "Haven 密码找回验证码", "验证码：", "Your code"},
		{"en", "Your Haven password recovery code", "Your code", "验证码"},
	} {
		cfg := smtpConfig(srv)
		cfg.Language = tc.lang
		log, _ := newLog()
		n, err := notify.FromConfig(cfg, log)
		if err != nil {
			t.Fatal(err)
		}
		u := alice
		u.Email = "lang-" + tc.lang + "@acme.example.com"
		if err := n.RecoveryCode(reqCtx("rid"), acme, u, identity.ChannelEmail, "123456", time.Now().Add(10*time.Minute)); err != nil {
			t.Fatal(err)
		}
		flush(t, n)
		m := srv.WaitFor(t, 10*time.Second, smtptest.To(u.Email))
		if m.Subject != tc.subject || !strings.Contains(m.Text, tc.present) || strings.Contains(m.Text, tc.missing) {
			t.Errorf("%s: subject %q body:\n%s", tc.lang, m.Subject, m.Text)
		}
	}
	// A per-recipient choice overrides the default.
	log, _ := newLog()
	mailer, err := notify.NewSMTPMailer(notify.SMTPOptions{Host: srv.Host, Port: srv.Port, From: "no-reply@haven.test", TLS: config.SMTPTLSNone, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	n := notify.New(notify.Options{Mailer: mailer, Log: log, Language: func(tenant.Tenant, identity.User) notify.Language { return notify.English }})
	u := alice
	u.Email = "chosen@acme.example.com"
	if err := n.AccountLocked(reqCtx("rid"), acme, u, nil); err != nil {
		t.Fatal(err)
	}
	flush(t, n)
	if m := srv.WaitFor(t, 10*time.Second, smtptest.To(u.Email)); m.Subject != "Your Haven account was locked" {
		t.Errorf("subject %q", m.Subject)
	}
}

func TestAccountLockedEmail(t *testing.T) {
	srv := smtptest.Start(t)
	log, logs := newLog()
	n, err := notify.FromConfig(smtpConfig(srv), log)
	if err != nil {
		t.Fatal(err)
	}
	until := time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC)
	if err := n.AccountLocked(reqCtx("rid-lock"), acme, alice, &until); err != nil {
		t.Fatal(err)
	}
	u2 := alice
	u2.Email = "bob@acme.example.com"
	if err := n.AccountLocked(reqCtx("rid-lock-2"), acme, u2, nil); err != nil {
		t.Fatal(err)
	}
	// No e-mail address: nobody to tell, and no error.
	if err := n.AccountLocked(reqCtx("rid-lock-3"), acme, identity.User{Phone: "+8613900139000", Name: "P"}, nil); err != nil {
		t.Fatal(err)
	}
	flush(t, n)
	m := srv.WaitFor(t, 10*time.Second, smtptest.To(alice.Email))
	if m.Subject != "Haven 账号已锁定 / Your Haven account was locked" {
		t.Errorf("subject %q", m.Subject)
	}
	for _, want := range []string{"2026-03-01 17:30（北京时间）", "2026-03-01 09:30 UTC", "Acme 有限公司", "自动解锁", "unlocks by itself"} {
		if !strings.Contains(m.Text, want) {
			t.Errorf("body lacks %q:\n%s", want, m.Text)
		}
	}
	m2 := srv.WaitFor(t, 10*time.Second, smtptest.To(u2.Email))
	if !strings.Contains(m2.Text, "管理员解锁") || !strings.Contains(m2.Text, "until an administrator unlocks it") {
		t.Errorf("body:\n%s", m2.Text)
	}
	if got := len(srv.Messages()); got != 2 {
		t.Errorf("%d messages, want 2", got)
	}
	if !strings.Contains(logs.String(), "kind=account_locked") {
		t.Errorf("log:\n%s", logs)
	}
}

// selfSigned returns a server certificate for 127.0.0.1 and a pool that
// trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "smtptest"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

func TestSTARTTLSWithAuthentication(t *testing.T) {
	cert, pool := selfSigned(t)
	const user, pass = "haven-mailer", "smtp-Pass-7f3k!"
	srv := smtptest.Start(t, smtptest.Options{Username: user, Password: pass, TLS: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}})
	log, logs := newLog()
	opts := notify.SMTPOptions{Host: srv.Host, Port: srv.Port, Username: user, Password: pass, From: "no-reply@haven.test",
		TLS: config.SMTPTLSStartTLS, TLSConfig: &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}, Log: log}
	mailer, err := notify.NewSMTPMailer(opts)
	if err != nil {
		t.Fatal(err)
	}
	n := notify.New(notify.Options{Mailer: mailer, Log: log})
	if err := n.RecoveryCode(reqCtx("rid-tls"), acme, alice, identity.ChannelEmail, "314159", time.Now().Add(10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	flush(t, n)
	m := srv.WaitFor(t, 10*time.Second, smtptest.To(alice.Email))
	if !m.TLS || !m.Authed || !strings.Contains(m.Text, "314159") {
		t.Errorf("tls %v authed %v", m.TLS, m.Authed)
	}

	// A wrong password: the failure is logged with the request ID, and
	// neither password nor code appears in the log.
	opts.Password = "wrong-Secret-99"
	bad, err := notify.NewSMTPMailer(opts)
	if err != nil {
		t.Fatal(err)
	}
	n2 := notify.New(notify.Options{Mailer: bad, Log: log})
	if err := n2.RecoveryCode(reqCtx("rid-bad-auth"), acme, alice, identity.ChannelEmail, "271828", time.Now().Add(10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	flush(t, n2)
	if !strings.Contains(logs.String(), "message not sent") || !strings.Contains(logs.String(), "request_id=rid-bad-auth") {
		t.Errorf("log:\n%s", logs)
	}
	assertNoSecrets(t, logs.String(), pass, "wrong-Secret-99", "314159", "271828", "alice.secret-local")
}

func TestMandatorySTARTTLSRefusesAPlainServer(t *testing.T) {
	srv := smtptest.Start(t) // offers no STARTTLS
	log, logs := newLog()
	cfg := smtpConfig(srv)
	cfg.SMTPTLS = config.SMTPTLSStartTLS
	n, err := notify.FromConfig(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.RecoveryCode(reqCtx("rid-plain"), acme, alice, identity.ChannelEmail, "161803", time.Now().Add(10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	flush(t, n)
	if len(srv.Messages()) != 0 {
		t.Fatal("a code went out without TLS")
	}
	if !strings.Contains(logs.String(), "message not sent") || !strings.Contains(logs.String(), "request_id=rid-plain") {
		t.Errorf("log:\n%s", logs)
	}
	assertNoSecrets(t, logs.String(), "161803")
}

func TestRejectedRecipientIsLoggedWithoutTheAddress(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{Reject: true})
	log, logs := newLog()
	n, err := notify.FromConfig(smtpConfig(srv), log)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.RecoveryCode(reqCtx("rid-reject"), acme, alice, identity.ChannelEmail, "999111", time.Now().Add(10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	flush(t, n)
	if !strings.Contains(logs.String(), "message not sent") || !strings.Contains(logs.String(), "request_id=rid-reject") {
		t.Errorf("log:\n%s", logs)
	}
	assertNoSecrets(t, logs.String(), "999111", alice.Email)
}

// webhook is an SMS gateway adapter: it checks the signature when a
// secret is set and records what it received.
type webhook struct {
	secret string
	status int
	mu     sync.Mutex
	got    []notify.SMS
	bad    []string
}

func (h *webhook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	defer h.mu.Unlock()
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
		h.bad = append(h.bad, "method or content type")
	}
	if h.secret != "" {
		ts := r.Header.Get(notify.HeaderTimestamp)
		if !notify.Verify(h.secret, ts, body, r.Header.Get(notify.HeaderSignature)) {
			h.bad = append(h.bad, "signature")
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
	}
	var m notify.SMS
	if err := json.Unmarshal(body, &m); err != nil {
		h.bad = append(h.bad, "json")
	}
	h.got = append(h.got, m)
	if h.status != 0 {
		w.WriteHeader(h.status)
	}
}

func (h *webhook) received() ([]notify.SMS, []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]notify.SMS(nil), h.got...), append([]string(nil), h.bad...)
}

func TestRecoveryCodeBySignedWebhook(t *testing.T) {
	const secret = "whsec-Very-Secret-123"
	h := &webhook{secret: secret}
	gw := httptest.NewServer(h)
	defer gw.Close()
	log, logs := newLog()
	n, err := notify.FromConfig(config.Notify{SMTPTLS: config.SMTPTLSStartTLS, SMSProvider: config.SMSProviderWebhook,
		SMSWebhookURL: gw.URL + "/sms", SMSWebhookSecret: secret, Language: "zh-CN"}, log)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.RecoveryCode(reqCtx("rid-sms"), acme, alice, identity.ChannelSMS, "552211", time.Now().Add(10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	flush(t, n)
	got, bad := h.received()
	if len(bad) > 0 || len(got) != 1 {
		t.Fatalf("got %v, problems %v", got, bad)
	}
	m := got[0]
	if m.To != alice.Phone || m.Kind != "recovery_code" || m.Template != "recovery_code" || m.Lang != "zh-CN" ||
		m.Params["code"] != "552211" || m.Params["minutes"] != "10" || !strings.Contains(m.Text, "552211") || !strings.Contains(m.Text, "【Haven】") {
		t.Errorf("sms %+v", m)
	}
	if !strings.Contains(logs.String(), "sms sent") || !strings.Contains(logs.String(), "recipient=…00") {
		t.Errorf("log:\n%s", logs)
	}
	assertNoSecrets(t, logs.String(), "552211", secret, alice.Phone)

	// A forged signature (wrong secret) is refused by the adapter, and the
	// failure is logged with the request ID.
	n2, err := notify.FromConfig(config.Notify{SMTPTLS: config.SMTPTLSStartTLS, SMSProvider: config.SMSProviderWebhook,
		SMSWebhookURL: gw.URL + "/sms", SMSWebhookSecret: "not-the-secret", Language: "en"}, log)
	if err != nil {
		t.Fatal(err)
	}
	if err := n2.RecoveryCode(reqCtx("rid-forged"), acme, alice, identity.ChannelSMS, "552212", time.Now().Add(10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	flush(t, n2)
	if _, bad := h.received(); len(bad) != 1 || bad[0] != "signature" {
		t.Errorf("problems %v", bad)
	}
	if !strings.Contains(logs.String(), "sms webhook answered 401") || !strings.Contains(logs.String(), "request_id=rid-forged") {
		t.Errorf("log:\n%s", logs)
	}
}

func TestWebhookWithoutSecretAndFailures(t *testing.T) {
	h := &webhook{}
	gw := httptest.NewServer(h)
	defer gw.Close()
	log, logs := newLog()
	w := &notify.WebhookSMS{URL: gw.URL, Log: log}
	ctx := reqCtx("rid-plain-hook")
	if err := w.SendSMS(ctx, notify.SMS{To: "+8613800138000", Kind: "recovery_code", Text: "x"}); err != nil {
		t.Fatal(err)
	}
	// No signature headers without a secret.
	got, bad := h.received()
	if len(got) != 1 || len(bad) != 0 {
		t.Fatalf("got %v bad %v", got, bad)
	}
	h.mu.Lock()
	h.status = http.StatusBadGateway
	h.mu.Unlock()
	if err := w.SendSMS(ctx, notify.SMS{To: "+8613800138000", Kind: "recovery_code", Text: "x"}); err == nil || !strings.Contains(err.Error(), "502") {
		t.Fatalf("err %v", err)
	}
	// Redirects are not followed: a gateway cannot bounce a code elsewhere.
	redir := httptest.NewServer(http.RedirectHandler(gw.URL, http.StatusTemporaryRedirect))
	defer redir.Close()
	w2 := &notify.WebhookSMS{URL: redir.URL, Log: log}
	if err := w2.SendSMS(ctx, notify.SMS{To: "+8613800138000", Kind: "recovery_code", Text: "x"}); err == nil || !strings.Contains(err.Error(), "307") {
		t.Fatalf("err %v", err)
	}
	// An unreachable gateway's error does not repeat the URL (it may hold a token).
	w3 := &notify.WebhookSMS{URL: "http://127.0.0.1:1/hook?token=sekrit", Log: log}
	if err := w3.SendSMS(ctx, notify.SMS{To: "+8613800138000"}); err == nil || strings.Contains(err.Error(), "sekrit") {
		t.Fatalf("err %v", err)
	}
	assertNoSecrets(t, logs.String(), "sekrit")
}

func TestSignVerify(t *testing.T) {
	body := []byte(`{"to":"+86138"}`)
	sig := notify.Sign("k", "1700000000", body)
	if !strings.HasPrefix(sig, "sha256=") || len(sig) != 7+64 {
		t.Fatalf("sig %q", sig)
	}
	if !notify.Verify("k", "1700000000", body, sig) || notify.Verify("k", "1700000001", body, sig) ||
		notify.Verify("k2", "1700000000", body, sig) || notify.Verify("k", "1700000000", []byte(`{"to":"+86139"}`), sig) {
		t.Fatal("verify is wrong")
	}
}

func TestLogProvidersNeverLogContent(t *testing.T) {
	log, logs := newLog()
	n, err := notify.FromConfig(config.Notify{SMTPTLS: config.SMTPTLSStartTLS, SMSProvider: config.SMSProviderLog, Language: "bilingual"}, log)
	if err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(10 * time.Minute)
	if err := n.RecoveryCode(reqCtx("rid-dev-1"), acme, alice, identity.ChannelEmail, "808080", exp); err != nil {
		t.Fatal(err)
	}
	if err := n.RecoveryCode(reqCtx("rid-dev-2"), acme, alice, identity.ChannelSMS, "909090", exp); err != nil {
		t.Fatal(err)
	}
	flush(t, n)
	out := logs.String()
	for _, want := range []string{"mail not sent: no SMTP server configured", "recipient_domain=acme.example.com", "sms not sent: log provider",
		"kind=recovery_code", "request_id=rid-dev-1", "request_id=rid-dev-2", "recipient=…00"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	assertNoSecrets(t, out, "808080", "909090", "alice.secret-local", "13800138000", "Alice")
}

func TestMissingChannelAndUnknownChannel(t *testing.T) {
	n := notify.New(notify.Options{})
	exp := time.Now().Add(time.Minute)
	if err := n.RecoveryCode(context.Background(), acme, identity.User{Phone: "+861"}, identity.ChannelEmail, "1", exp); err == nil {
		t.Error("no e-mail address but no error")
	}
	if err := n.RecoveryCode(context.Background(), acme, identity.User{Email: "a@b.c"}, identity.ChannelSMS, "1", exp); err == nil {
		t.Error("no phone but no error")
	}
	if err := n.RecoveryCode(context.Background(), acme, alice, "pigeon", "1", exp); err == nil {
		t.Error("unknown channel accepted")
	}
}

// blockingGateway holds every request until released.
type blockingGateway struct {
	release chan struct{}
	arrived chan struct{}
}

func (b *blockingGateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b.arrived <- struct{}{}
	<-b.release
}

func TestPendingMessagesAreBoundedAndCloseDrains(t *testing.T) {
	gw := &blockingGateway{release: make(chan struct{}), arrived: make(chan struct{}, 10)}
	srv := httptest.NewServer(gw)
	defer srv.Close()
	log, logs := newLog()
	n := notify.New(notify.Options{SMS: &notify.WebhookSMS{URL: srv.URL, Log: log}, Log: log, Senders: 1, MaxPending: 2})
	exp := time.Now().Add(10 * time.Minute)
	ctx := reqCtx("rid-q")
	for i := range 2 {
		if err := n.RecoveryCode(ctx, acme, alice, identity.ChannelSMS, "00000"+string(rune('0'+i)), exp); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	<-gw.arrived // one in flight, one waiting for the single sender
	start := time.Now()
	if err := n.RecoveryCode(ctx, acme, alice, identity.ChannelSMS, "000009", exp); !errors.Is(err, notify.ErrQueueFull) {
		t.Fatalf("third message: %v", err)
	}
	if time.Since(start) > time.Second {
		t.Error("a full queue blocked the caller")
	}
	close(gw.release)
	ctx2, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.Close(ctx2); err != nil {
		t.Fatal(err)
	}
	if err := n.AccountLocked(ctx, acme, alice, nil); !errors.Is(err, notify.ErrClosed) {
		t.Fatalf("after close: %v", err)
	}
	if strings.Count(logs.String(), "sms sent") != 2 {
		t.Errorf("log:\n%s", logs)
	}
}
