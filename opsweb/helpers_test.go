package opsweb_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/havencrm/haven/audit"
	"github.com/havencrm/haven/internal/testbrowser"
	"github.com/havencrm/haven/internal/testserver"
	"github.com/havencrm/haven/operators"
)

// clock is the server's clock, moved forward by the test so that TOTP
// steps (each accepted once) and grant windows pass without waiting. It
// starts at the real time so that the browser's cookies are not expired.
type clock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.off += d
}

func start(t *testing.T, engine string) (*testserver.Server, *clock) {
	t.Helper()
	clk := &clock{}
	srv := testserver.Start(t, engine, testserver.Options{Now: clk.Now})
	t.Cleanup(func() { http.DefaultClient.CloseIdleConnections() })
	return srv, clk
}

// operator is a signed-up operator with a real password and its TOTP
// secret (what haven operator create prints, then a changed password).
type operator struct {
	ID, Email, Name, Password, Secret string
}

const operatorPassword = "Vendor-Staff-Pass-42"

func newOperator(t *testing.T, srv *testserver.Server, clk *clock, email, name string) operator {
	t.Helper()
	ctx := context.Background()
	ops := srv.App.Operators
	created, err := ops.Create(ctx, operators.CreateInput{Email: email, Name: name, Role: operators.RoleSupport}, audit.SystemActor("test", ""))
	if err != nil {
		t.Fatal(err)
	}
	res, err := ops.Login(ctx, operators.LoginInput{Email: email, Password: created.OneTimePassword, TOTP: code(t, created.TOTPSecret, clk.Now())})
	if err != nil {
		t.Fatalf("first operator login: %v", err)
	}
	p, err := ops.Authenticate(ctx, res.Token)
	if err != nil {
		t.Fatal(err)
	}
	if err := ops.ChangePassword(ctx, p, created.OneTimePassword, operatorPassword); err != nil {
		t.Fatal(err)
	}
	// The code just used is spent: the next sign-in needs the next step.
	clk.Advance(30 * time.Second)
	return operator{ID: created.Operator.ID, Email: email, Name: name, Password: operatorPassword, Secret: created.TOTPSecret}
}

func code(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// wrongCode returns a well-formed code that is none of the accepted ones.
func wrongCode(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	valid := map[string]bool{}
	for _, d := range []time.Duration{-30 * time.Second, 0, 30 * time.Second} {
		valid[code(t, secret, at.Add(d))] = true
	}
	for _, c := range []string{"000000", "123456", "999999", "424242"} {
		if !valid[c] {
			return c
		}
	}
	t.Fatal("no wrong code found")
	return ""
}

// browser is a cookie-keeping HTTP client that behaves like a browser
// without JavaScript: it follows redirects (303 turns POST into GET).
type browser struct {
	t    *testing.T
	base string
	hc   *http.Client
	lang string
}

func newBrowser(t *testing.T, base string) *browser {
	t.Helper()
	return &browser{t: t, base: base, hc: testbrowser.NewClient(t), lang: "en-US,en;q=0.9"}
}

// page is a fetched response (shared with the tenant UI's tests).
type page = testbrowser.Page

// do sends req as the browser and checks the page it gets back.
func (b *browser) do(req *http.Request) page {
	b.t.Helper()
	p := testbrowser.Fetch(b.t, b.hc, req, b.lang, nil)
	if strings.Contains(p.Body, "⟦") {
		b.t.Errorf("%s: untranslated key on the page", p.URL.Path)
	}
	// The strict CSP allows no inline script or style; a page that needs
	// one is broken in a real browser.
	if strings.HasPrefix(p.Header.Get("Content-Type"), "text/html") {
		if m := inlinePattern.FindString(p.Body); m != "" {
			b.t.Errorf("%s: inline code on the page: %s", p.URL.Path, m)
		}
		if csp := p.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") {
			b.t.Errorf("%s: Content-Security-Policy %q", p.URL.Path, csp)
		}
	}
	return p
}

func (b *browser) get(path string) page {
	b.t.Helper()
	return b.do(testbrowser.GetRequest(b.t, b.base+path))
}

// post sends form to path, with headers given as name, value pairs.
func (b *browser) post(path string, form url.Values, headers ...string) page {
	b.t.Helper()
	req := testbrowser.FormRequest(b.t, b.base+path, form)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return b.do(req)
}

// submit fetches the page holding a form, copies its CSRF token into
// the values and posts them to action.
func (b *browser) submit(formPage, action string, form url.Values) page {
	b.t.Helper()
	p := b.get(formPage)
	if p.Status != http.StatusOK {
		b.t.Fatalf("GET %s: status %d\n%s", formPage, p.Status, p.Body)
	}
	form.Set("csrf_token", testbrowser.CSRFToken(b.t, p.Body))
	return b.post(action, form)
}

// cookie returns the value the jar holds for name at path.
func (b *browser) cookie(path, name string) string {
	u, _ := url.Parse(b.base + path)
	for _, c := range b.hc.Jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// opsLogin signs op in through the console's form with the current code,
// then moves the clock to the next step so the next sign-in has a fresh
// code.
func (b *browser) opsLogin(clk *clock, op operator) page {
	b.t.Helper()
	p := b.submit("/ops/login", "/ops/login", url.Values{"email": {op.Email}, "password": {op.Password}, "totp": {code(b.t, op.Secret, clk.Now())}})
	clk.Advance(30 * time.Second)
	return p
}

var inlinePattern = regexp.MustCompile(`(?i)<script|<style|\sstyle\s*=|\son[a-z]+\s*=\s*["']|javascript:`)

func wantStatus(t *testing.T, what string, p page, status int) {
	t.Helper()
	if p.Status != status {
		t.Fatalf("%s: %s status %d, want %d; body:\n%s", what, p.URL, p.Status, status, testbrowser.Truncate(p.Body, 3000))
	}
}

func wantPath(t *testing.T, what string, p page, path string) {
	t.Helper()
	if p.URL.Path != path {
		t.Fatalf("%s: ended at %s (status %d), want %s; body:\n%s", what, p.URL, p.Status, path, testbrowser.Truncate(p.Body, 2000))
	}
}

func wantContains(t *testing.T, what string, p page, parts ...string) {
	t.Helper()
	for _, s := range parts {
		if !strings.Contains(p.Body, s) {
			t.Errorf("%s: %s lacks %q", what, p.URL.Path, s)
		}
	}
}

func wantNotContains(t *testing.T, what string, p page, parts ...string) {
	t.Helper()
	for _, s := range parts {
		if i := strings.Index(p.Body, s); i >= 0 {
			t.Errorf("%s: %s unexpectedly has %q: %s", what, p.URL.Path, s, p.Body[max(0, i-80):min(len(p.Body), i+80)])
		}
	}
}

// wantRefused checks the console's refusal page: 403 and nothing else.
func wantRefused(t *testing.T, what string, p page) {
	t.Helper()
	wantStatus(t, what, p, http.StatusForbidden)
	wantContains(t, what, p, `id="error-page"`, "No access")
}

// getWithCookie fetches path with exactly one cookie set by hand.
func (b *browser) getWithCookie(path, name, value string) page {
	b.t.Helper()
	req := testbrowser.GetRequest(b.t, b.base+path)
	req.AddCookie(&http.Cookie{Name: name, Value: value})
	return b.do(req)
}

// submitRaw signs op in without following the redirect, to read the
// Set-Cookie header of the answer.
func (b *browser) submitRaw(t *testing.T, clk *clock, op operator) page {
	t.Helper()
	form := b.get("/ops/login")
	vals := url.Values{"email": {op.Email}, "password": {op.Password}, "totp": {code(t, op.Secret, clk.Now())}, "csrf_token": {testbrowser.CSRFToken(t, form.Body)}}
	clk.Advance(30 * time.Second)
	req := testbrowser.FormRequest(t, b.base+"/ops/login", vals)
	hc := *b.hc
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in answered %d", resp.StatusCode)
	}
	return page{Status: resp.StatusCode, URL: resp.Request.URL, Header: resp.Header}
}

func opsCreateInput(email string) operators.CreateInput {
	return operators.CreateInput{Email: email, Name: "New Operator", Role: operators.RoleSupport}
}

func systemActor() audit.PlatformActor { return audit.SystemActor("test", "") }
