package web_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/havencrm/haven/config"
	"github.com/havencrm/haven/internal/smtptest"
	"github.com/havencrm/haven/internal/testserver"
)

var webMailCode = regexp.MustCompile(`Your code: (\d{6})`)

// TestRecoveryPages walks the "forgot password" pages as a browser
// without JavaScript, with the code read from a real SMTP delivery.
func TestRecoveryPages(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			mail := smtptest.Start(t)
			srv := testserver.Start(t, engine, testserver.Options{Configure: func(c *config.Config) {
				c.Notify.SMTPHost, c.Notify.SMTPPort, c.Notify.SMTPTLS = mail.Host, mail.Port, config.SMTPTLSNone
				c.Notify.SMTPFrom = "no-reply@haven.test"
			}})
			t.Cleanup(func() { http.DefaultClient.CloseIdleConnections() })
			tn := srv.NewTenant(t, "acme")
			_, user := srv.NewUser(t, tn, "sam@acme.example.com", "Sam Web", "sales")
			testRecoveryPages(t, srv, tn, mail, user.Email)
		})
	}
}

func testRecoveryPages(t *testing.T, srv *testserver.Server, tn testserver.Tenant, mail *smtptest.Server, email string) {
	const fresh = "Fresh-Orchid-7319!"
	b := newBrowser(t, srv.URL)

	// The sign-in page links to recovery, keeping the organization.
	p := b.get("/login?tenant=" + tn.Slug)
	wantContains(t, p, `href="/recover?tenant=`+tn.Slug+`"`, "Forgot your password?")
	p = b.get("/recover?tenant=" + tn.Slug)
	wantStatus(t, p, http.StatusOK)
	wantContains(t, p, `value="`+tn.Slug+`"`, `<option value="email" selected>`, `<option value="sms">`)
	wantContains(t, b.get("/recover/finish?tenant="+tn.Slug), `id="tenant" name="tenant" value="`+tn.Slug+`"`)

	// Without the double-submit token the form is refused.
	p = b.post("/recover", url.Values{"tenant": {tn.Slug}, "login": {email}, "channel": {"email"}})
	wantStatus(t, p, http.StatusForbidden)

	// An unknown login and a real one end on the same page with the same
	// words.
	unknown := b.submit("/recover", "/recover", url.Values{"tenant": {tn.Slug}, "login": {"nobody@acme.example.com"}, "channel": {"email"}})
	wantStatus(t, unknown, http.StatusOK)
	wantPath(t, unknown, "/recover/finish")
	real := b.submit("/recover", "/recover", url.Values{"tenant": {tn.Slug}, "login": {email}, "channel": {"email"}})
	wantStatus(t, real, http.StatusOK)
	wantPath(t, real, "/recover/finish")
	const sent = "If the account exists and can receive messages over that channel, a code is on its way."
	wantContains(t, unknown, sent)
	wantContains(t, real, sent, `value="`+email+`"`, `autocomplete="one-time-code"`)
	// Only the echoed login (and a CSRF token) may differ.
	if csrfPattern.ReplaceAllString(strings.ReplaceAll(unknown.Body, "nobody@acme.example.com", email), "") != csrfPattern.ReplaceAllString(real.Body, "") {
		t.Errorf("the pages differ beyond the login typed")
	}
	m := mail.WaitFor(t, 15*time.Second, smtptest.To(email))
	code := webMailCode.FindStringSubmatch(m.Text)[1]
	if n := len(mail.Messages()); n != 1 {
		t.Errorf("%d messages", n)
	}

	finish := func(code, pw, confirm string) page {
		return b.submit("/recover/finish", "/recover/finish", url.Values{"tenant": {tn.Slug}, "login": {email}, "code": {code},
			"new_password": {pw}, "confirm_password": {confirm}})
	}
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	p = finish(wrong, fresh, fresh)
	wantStatus(t, p, http.StatusUnauthorized)
	wantContains(t, p, "The code is wrong or has expired.")
	p = finish(code, fresh, fresh+"x")
	wantStatus(t, p, http.StatusUnprocessableEntity)
	wantContains(t, p, "The two new passwords do not match.")
	p = finish(code, "short", "short")
	wantStatus(t, p, http.StatusUnprocessableEntity)
	wantContains(t, p, "The new password does not meet the password policy")
	// Same code, now a good password: signed out everywhere, back to sign-in.
	p = finish(code, fresh, fresh)
	wantStatus(t, p, http.StatusOK)
	wantPath(t, p, "/login")
	wantContains(t, p, "Your password was reset and all of your sessions were ended.", `value="`+tn.Slug+`"`)
	p = b.login(tn.Slug, email, fresh)
	wantPath(t, p, "/")

	// In Chinese.
	zh := newBrowser(t, srv.URL)
	zh.lang = "zh-CN,zh;q=0.9"
	p = zh.get("/recover")
	wantContains(t, p, "找回密码", "发送验证码", "短信")
	p = zh.get("/login")
	wantContains(t, p, "忘记密码？")

	// Asking too often for one login is refused with a wait in minutes
	// (the same for a login that does not exist).
	rb := newBrowser(t, srv.URL)
	for range 3 {
		p = rb.submit("/recover", "/recover", url.Values{"tenant": {tn.Slug}, "login": {"ghost@acme.example.com"}, "channel": {"sms"}})
		wantPath(t, p, "/recover/finish")
	}
	p = rb.submit("/recover", "/recover", url.Values{"tenant": {tn.Slug}, "login": {"ghost@acme.example.com"}, "channel": {"sms"}})
	wantStatus(t, p, http.StatusTooManyRequests)
	wantContains(t, p, "Too many requests. Please try again in 15 minutes.")
	if p.Header.Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}
	p = rb.submit("/recover", "/recover", url.Values{"tenant": {tn.Slug}, "login": {""}, "channel": {"email"}})
	wantStatus(t, p, http.StatusBadRequest)
}
