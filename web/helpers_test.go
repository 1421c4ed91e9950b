package web_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/havencrm/haven/internal/testbrowser"
)

// browser is a cookie-keeping HTTP client that behaves like a browser
// without JavaScript: it follows redirects (303 turns POST into GET) and
// checks every HTML page it receives for inline script and style.
type browser struct {
	t       *testing.T
	base    string
	hc      *http.Client
	lang    string // Accept-Language
	headers map[string]string
}

func newBrowser(t *testing.T, base string) *browser {
	t.Helper()
	return &browser{t: t, base: base, hc: testbrowser.NewClient(t), lang: "en-US,en;q=0.9", headers: map[string]string{}}
}

// page is a fetched response.
type page = testbrowser.Page

// do sends req as the browser and checks every HTML page it gets.
func (b *browser) do(req *http.Request) page {
	b.t.Helper()
	p := testbrowser.Fetch(b.t, b.hc, req, b.lang, b.headers)
	if strings.HasPrefix(p.Header.Get("Content-Type"), "text/html") {
		assertNoInline(b.t, p.URL.Path, p.Body)
		assertCSP(b.t, p.Header)
		if strings.Contains(p.Body, "⟦") {
			b.t.Errorf("%s: untranslated key on page: %s", p.URL.Path, excerpt(p.Body, "⟦"))
		}
	}
	return p
}

func (b *browser) get(path string) page {
	b.t.Helper()
	return b.do(testbrowser.GetRequest(b.t, b.base+path))
}

func (b *browser) post(path string, form url.Values) page {
	b.t.Helper()
	return b.do(testbrowser.FormRequest(b.t, b.base+path, form))
}

// submit fetches the page holding a form, copies its CSRF token into the
// values and posts them to action.
func (b *browser) submit(formPage, action string, form url.Values) page {
	b.t.Helper()
	p := b.get(formPage)
	if p.Status != http.StatusOK {
		b.t.Fatalf("GET %s: status %d", formPage, p.Status)
	}
	form.Set("csrf_token", csrfToken(b.t, p.Body))
	return b.post(action, form)
}

func (b *browser) login(slug, login, password string) page {
	b.t.Helper()
	return b.submit("/login", "/login", url.Values{"tenant": {slug}, "login": {login}, "password": {password}})
}

var csrfPattern = testbrowser.CSRFPattern

func csrfToken(t *testing.T, body string) string {
	t.Helper()
	return testbrowser.CSRFToken(t, body)
}

var (
	tagPattern    = regexp.MustCompile(`<[a-zA-Z][^>]*>`)
	quotedValue   = regexp.MustCompile(`"[^"]*"|'[^']*'`)
	scriptTag     = regexp.MustCompile(`(?i)^<script[\s>]`)
	srcAttr       = regexp.MustCompile(`(?i)\ssrc\s*=`)
	styleAttr     = regexp.MustCompile(`(?i)\sstyle\s*=`)
	eventAttr     = regexp.MustCompile(`(?i)\son[a-z]+\s*=`)
	styleTag      = regexp.MustCompile(`(?i)^<style[\s>]`)
	jsURL         = regexp.MustCompile(`(?i)^["']?\s*javascript:`)
	urlAttrValues = regexp.MustCompile(`(?i)\s(?:href|src|action|formaction)\s*=\s*("[^"]*"|'[^']*'|[^\s>]+)`)
)

// inlineFindings lists anything the CSP would block or that smells of
// inline code: script elements without src, style elements or
// attributes, event handler attributes and javascript: URLs. Attribute
// values are blanked before the checks, so escaped user data inside them
// cannot hide or fake a finding.
func inlineFindings(body string) []string {
	var out []string
	for _, tag := range tagPattern.FindAllString(body, -1) {
		bare := quotedValue.ReplaceAllString(tag, `""`)
		switch {
		case scriptTag.MatchString(bare) && !srcAttr.MatchString(bare):
			out = append(out, "inline <script> element: "+tag)
		case styleTag.MatchString(bare):
			out = append(out, "<style> element: "+tag)
		case styleAttr.MatchString(bare):
			out = append(out, "style attribute: "+tag)
		case eventAttr.MatchString(bare):
			out = append(out, "event handler attribute: "+tag)
		}
		for _, m := range urlAttrValues.FindAllStringSubmatch(tag, -1) {
			if jsURL.MatchString(m[1]) {
				out = append(out, "javascript: URL: "+tag)
			}
		}
	}
	return out
}

func assertNoInline(t *testing.T, where, body string) {
	t.Helper()
	for _, f := range inlineFindings(body) {
		t.Errorf("%s: %s", where, f)
	}
}

func assertCSP(t *testing.T, h http.Header) {
	t.Helper()
	csp := h.Get("Content-Security-Policy")
	if csp == "" || strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") ||
		!strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "style-src 'self'") {
		t.Errorf("bad Content-Security-Policy %q", csp)
	}
}

func excerpt(body, needle string) string {
	i := strings.Index(body, needle)
	if i < 0 {
		return ""
	}
	lo, hi := max(0, i-80), min(len(body), i+80)
	return body[lo:hi]
}

// wantStatus fails unless the page has the status.
func wantStatus(t *testing.T, p page, status int) {
	t.Helper()
	if p.Status != status {
		t.Fatalf("%s: status %d, want %d; body:\n%s", p.URL, p.Status, status, truncate(p.Body, 3000))
	}
}

func wantPath(t *testing.T, p page, path string) {
	t.Helper()
	if p.URL.Path != path {
		t.Fatalf("ended at %s, want %s (status %d); body:\n%s", p.URL, path, p.Status, truncate(p.Body, 2000))
	}
}

func wantContains(t *testing.T, p page, parts ...string) {
	t.Helper()
	for _, s := range parts {
		if !strings.Contains(p.Body, s) {
			t.Errorf("%s: page lacks %q", p.URL.Path, s)
		}
	}
}

func wantNotContains(t *testing.T, p page, parts ...string) {
	t.Helper()
	for _, s := range parts {
		if strings.Contains(p.Body, s) {
			t.Errorf("%s: page unexpectedly has %q: %s", p.URL.Path, s, excerpt(p.Body, s))
		}
	}
}

func truncate(s string, n int) string { return testbrowser.Truncate(s, n) }
