package web_test

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
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
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, base: base, hc: &http.Client{Jar: jar}, lang: "en-US,en;q=0.9", headers: map[string]string{}}
}

// page is a fetched response.
type page struct {
	Status int
	URL    *url.URL // final URL after redirects
	Header http.Header
	Body   string
}

func (b *browser) do(req *http.Request) page {
	b.t.Helper()
	if b.lang != "" {
		req.Header.Set("Accept-Language", b.lang)
	}
	for k, v := range b.headers {
		req.Header.Set(k, v)
	}
	resp, err := b.hc.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatalf("read %s: %v", req.URL, err)
	}
	p := page{Status: resp.StatusCode, URL: resp.Request.URL, Header: resp.Header, Body: string(body)}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		assertNoInline(b.t, p.URL.Path, p.Body)
		assertCSP(b.t, resp.Header)
		if strings.Contains(p.Body, "⟦") {
			b.t.Errorf("%s: untranslated key on page: %s", p.URL.Path, excerpt(p.Body, "⟦"))
		}
	}
	return p
}

func (b *browser) get(path string) page {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodGet, b.base+path, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.do(req)
}

func (b *browser) post(path string, form url.Values) page {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodPost, b.base+path, strings.NewReader(form.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
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

var csrfPattern = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

func csrfToken(t *testing.T, body string) string {
	t.Helper()
	m := csrfPattern.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no CSRF token in page:\n%s", body)
	}
	return m[1]
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

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
