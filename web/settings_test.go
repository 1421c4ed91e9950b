package web_test

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/havencrm/haven/api"
	"github.com/havencrm/haven/client"
	"github.com/havencrm/haven/internal/testserver"
)

// settingsForm is a complete form post of the settings page with the
// MLPS values, changed by the caller.
func settingsForm(change map[string]string) url.Values {
	v := url.Values{
		"preset": {"custom"}, "password_min_length": {"8"}, "password_max_length": {"128"}, "password_classes": {"3"},
		"password_expiry_days": {"90"}, "password_history": {"5"}, "password_check_common": {"true"}, "lockout_threshold": {"5"},
		"lockout_minutes": {"30"}, "captcha_after": {"3"}, "ip_captcha_after": {"20"}, "session_idle_minutes": {"30"},
		"session_max_hours": {"12"}, "max_sessions": {"5"}, "login_ip_ranges": {""},
	}
	for k, x := range change {
		if x == "-" {
			v.Del(k)
		} else {
			v.Set(k, x)
		}
	}
	return v
}

func settingsNow(t *testing.T, c *client.Client) api.SecuritySettingsDTO {
	t.Helper()
	s, err := c.SecuritySettings(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return *s
}

// TestSecuritySettingsPage drives /settings/security as a browser
// without JavaScript would.
func TestSecuritySettingsPage(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			srv := testserver.Start(t, engine)
			tn := srv.NewTenant(t, "acme")
			ctx := context.Background()
			b := newBrowser(t, srv.URL)
			b.login(tn.Slug, tn.AdminLogin, adminPassword)

			p := b.get("/settings/security")
			wantStatus(t, p, http.StatusOK)
			wantContains(t, p, "<h1>Security settings</h1>", `<option value="mlps3" selected>`, `name="password_min_length" value="8"`,
				`name="password_classes" value="3"`, `name="lockout_threshold" value="5"`, `id="s-password_check_common" name="password_check_common" value="true" checked`,
				`href="/settings/security" class="active" aria-current="page"`, `<script src="/static/settings.js?v=`, `data-preset-nist="{`)
			wantNotContains(t, p, `id="s-mfa_required" name="mfa_required" value="true" checked`)
			// The sidebar of other admin pages links to it.
			wantContains(t, b.get("/users"), `href="/settings/security"`)

			// Server-side validation: every bad field explained, the input kept.
			p = b.submit("/settings/security", "/settings/security", settingsForm(map[string]string{
				"password_min_length": "5", "password_classes": "three", "captcha_after": "7", "lockout_threshold": "6",
				"login_ip_ranges": "10.0.0.0/8\nnot-a-range",
			}))
			wantStatus(t, p, http.StatusUnprocessableEntity)
			wantContains(t, p, "Some values are not valid", "Must be between 8 and 64.", "Enter a whole number.",
				"Must be below the lock threshold", "is not a CIDR range like 203.0.113.0/24.", `value="three"`, "not-a-range")
			if got := settingsNow(t, tn.Admin); got.Preset != "mlps3" || got.PasswordMinLength != 8 {
				t.Fatalf("refused form changed the settings: %+v", got)
			}
			// The same in Chinese.
			b.lang = "zh-CN"
			p = b.submit("/settings/security", "/settings/security", settingsForm(map[string]string{"password_history": "99"}))
			wantStatus(t, p, http.StatusUnprocessableEntity)
			wantContains(t, p, "安全设置", "必须介于 0 和 24 之间。", "密码历史")
			b.lang = "en-US,en;q=0.9"

			// Without the CSRF token, or from another origin, nothing changes.
			p = b.post("/settings/security", settingsForm(map[string]string{"password_min_length": "20"}))
			wantStatus(t, p, http.StatusForbidden)
			token := csrfToken(t, b.get("/settings/security").Body)
			b.headers["Origin"] = "https://evil.example"
			form := settingsForm(map[string]string{"password_min_length": "20"})
			form.Set("csrf_token", token)
			wantStatus(t, b.post("/settings/security", form), http.StatusForbidden)
			delete(b.headers, "Origin")
			if got := settingsNow(t, tn.Admin); got.PasswordMinLength != 8 {
				t.Fatalf("a forged post changed the settings: %+v", got)
			}

			// A custom save: redirected with a message, stored, audited.
			p = b.submit("/settings/security", "/settings/security", settingsForm(map[string]string{
				// mfa_required stays off: turning it on sends this admin to
				// enrolment first (e2e TestTenantRequiresMFA covers that).
				"password_min_length": "12", "password_classes": "4", "password_check_common": "-", "max_sessions": "3",
				"login_ip_ranges": "203.0.113.0/24\r\n198.51.100.0/24",
			}))
			wantPath(t, p, "/settings/security")
			wantContains(t, p, "Security settings saved.", `<option value="custom" selected>`, `name="password_min_length" value="12"`,
				`name="max_sessions" value="3"`, "203.0.113.0/24\n198.51.100.0/24")
			got := settingsNow(t, tn.Admin)
			if got.Preset != "custom" || got.PasswordMinLength != 12 || got.PasswordClasses != 4 || got.PasswordCheckCommon || got.MaxSessions != 3 ||
				strings.Join(got.LoginIPRanges, ",") != "203.0.113.0/24,198.51.100.0/24" {
				t.Fatalf("saved settings %+v", got)
			}
			evs, err := tn.Admin.ListAudit(ctx, client.AuditQuery{Action: "settings.update"})
			if err != nil || len(evs.Items) != 1 {
				t.Fatalf("audit: %v %+v", err, evs)
			}
			if c := evs.Items[0].Changes["password_min_length"]; c.Before != float64(8) || c.After != float64(12) {
				t.Errorf("audited change %+v", evs.Items[0].Changes)
			}

			// A preset ignores whatever the form held.
			p = b.submit("/settings/security", "/settings/security", settingsForm(map[string]string{"preset": "nist", "password_min_length": "abc"}))
			wantPath(t, p, "/settings/security")
			if got := settingsNow(t, tn.Admin); got.Preset != "nist" || got.PasswordMinLength != 8 || got.PasswordMaxLength != 64 || got.MFARequired {
				t.Fatalf("after choosing NIST: %+v", got)
			}

			// Managers and sales users get nowhere, by GET or POST.
			srv.NewUser(t, tn, "mgr@acme.example.com", "Manager Ma", "manager")
			mb := newBrowser(t, srv.URL)
			mb.login(tn.Slug, "mgr@acme.example.com", adminPassword)
			wantStatus(t, mb.get("/settings/security"), http.StatusForbidden)
			wantNotContains(t, mb.get("/"), `href="/settings/security"`)
			form = settingsForm(map[string]string{"preset": "mlps3"})
			form.Set("csrf_token", csrfToken(t, mb.get("/").Body))
			wantStatus(t, mb.post("/settings/security", form), http.StatusForbidden)
			if got := settingsNow(t, tn.Admin); got.Preset != "nist" {
				t.Fatalf("a manager changed the settings: %+v", got)
			}
			// Signed out: to the sign-in page.
			wantPath(t, newBrowser(t, srv.URL).get("/settings/security"), "/login")
		})
	}
}

var dataAttr = regexp.MustCompile(`data-([a-z-]+)="([^"]*)"`)

// passwordRuleAttrs returns the data attributes of the rules checklist.
func passwordRuleAttrs(t *testing.T, body string) map[string]string {
	t.Helper()
	i := strings.Index(body, "data-password-rules")
	if i < 0 {
		t.Fatalf("no password rules on the page")
	}
	start := strings.LastIndex(body[:i], "<")
	end := strings.Index(body[i:], ">")
	out := map[string]string{}
	for _, m := range dataAttr.FindAllStringSubmatch(body[start:i+end], -1) {
		out[m[1]] = html.UnescapeString(m[2])
	}
	return out
}

// TestPasswordPageRules checks the change-password page carries the
// tenant's rules for password.js and explains a refusal rule by rule.
func TestPasswordPageRules(t *testing.T) {
	clk := &webClock{t: time.Now().UTC().Truncate(time.Second)}
	srv := testserver.Start(t, "sqlite", testserver.Options{Now: clk.Now})
	tn := srv.NewTenant(t, "rules")
	ctx := context.Background()
	minLen, classes, history, common := 12, 4, 3, true
	custom := "custom"
	max, expiry, lockout, lockMin, captcha, ipCaptcha, idle, maxH, maxS, mfa := 64, 30, 5, 30, 3, 20, 30, 12, 5, false
	ranges := []string{}
	if _, err := tn.Admin.PutSecuritySettings(ctx, api.PutSecuritySettingsRequest{Preset: &custom, PasswordMinLength: &minLen,
		PasswordMaxLength: &max, PasswordClasses: &classes, PasswordExpiryDays: &expiry, PasswordHistory: &history,
		PasswordCheckCommon: &common, LockoutThreshold: &lockout, LockoutMinutes: &lockMin, CaptchaAfter: &captcha,
		IPCaptchaAfter: &ipCaptcha, SessionIdleMinutes: &idle, SessionMaxHours: &maxH, MaxSessions: &maxS, MFARequired: &mfa,
		LoginIPRanges: &ranges}); err != nil {
		t.Fatal(err)
	}
	srv.NewUser(t, tn, "lu.xin@rules.example.com", "Lu Xinyi", "sales")
	b := newBrowser(t, srv.URL)
	b.login(tn.Slug, "lu.xin@rules.example.com", adminPassword)
	p := b.get("/password")
	wantStatus(t, p, http.StatusOK)
	attrs := passwordRuleAttrs(t, p.Body)
	for k, want := range map[string]string{"for": "new_password", "confirm": "confirm_password", "min": "12", "max": "64",
		"max-bytes": "256", "classes": "4", "login": "lu.xin\nxin", "name": "lu xinyi\nluxinyi\nxinyi"} {
		if attrs[k] != want {
			t.Errorf("data-%s = %q, want %q", k, attrs[k], want)
		}
	}
	wantContains(t, p, `data-rule="length"`, "12 to 64 characters", `data-rule="classes"`, "At least 4 of:", `data-rule="identity"`,
		`data-rule="match"`, "Not a commonly used password (checked when you submit)", "one of your last 3", `<script src="/static/password.js?v=`)
	js := b.get(regexp.MustCompile(`/static/password\.js\?v=[0-9a-f]+`).FindString(p.Body))
	wantStatus(t, js, http.StatusOK)
	if ct := js.Header.Get("Content-Type"); ct != "text/javascript; charset=utf-8" || !strings.Contains(js.Body, "data-password-rules") {
		t.Errorf("password.js: %q, %d bytes", ct, len(js.Body))
	}

	// The server's refusal names each broken rule with the tenant's numbers.
	token := csrfToken(t, p.Body)
	post := func(next string) page {
		return b.post("/password", url.Values{"csrf_token": {token}, "current_password": {adminPassword}, "new_password": {next}, "confirm_password": {next}})
	}
	p = post("xinyi")
	wantStatus(t, p, http.StatusUnprocessableEntity)
	wantContains(t, p, "At least 12 characters.", "At least 4 of these kinds of character", "Must not contain your login.", "Must not contain your name.")
	p = post("P@ssw0rd")
	wantStatus(t, p, http.StatusUnprocessableEntity)
	wantContains(t, p, "This password is too common")
	p = post(adminPassword)
	wantStatus(t, p, http.StatusUnprocessableEntity)
	wantContains(t, p, "Must differ from your current password and your last 3 passwords.")
	b.lang = "zh-CN"
	p = post("xinyi")
	wantContains(t, p, "至少 12 个字符。", "不得包含您的姓名。")
	b.lang = "en-US,en;q=0.9"

	// An expired password forces the change, with its own explanation.
	clk.Advance(31 * 24 * time.Hour)
	b2 := newBrowser(t, srv.URL)
	p = b2.login(tn.Slug, "lu.xin@rules.example.com", adminPassword)
	wantPath(t, p, "/password")
	wantContains(t, p, "Your password has expired.")
	wantNotContains(t, p, "one-time password")
	wantPath(t, b2.get("/o/account"), "/password")
	token = csrfToken(t, p.Body)
	p = b2.post("/password", url.Values{"csrf_token": {token}, "current_password": {adminPassword}, "new_password": {"Sturdy-lantern-77"}, "confirm_password": {"Sturdy-lantern-77"}})
	wantPath(t, p, "/")
	wantStatus(t, b2.get("/o/account"), http.StatusOK)
}

type webClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *webClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *webClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
