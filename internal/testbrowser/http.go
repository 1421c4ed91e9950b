package testbrowser

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// Page is a fetched response.
type Page struct {
	Status int
	URL    *url.URL // final URL after redirects
	Header http.Header
	Body   string
}

// NewClient returns an HTTP client with a cookie jar of its own. Like a
// browser without JavaScript it follows redirects (a 303 turns a POST
// into a GET) and keeps the cookies the server sets.
func NewClient(t testing.TB) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar}
}

// Fetch sends req with hc, setting Accept-Language to lang (unless empty)
// and the extra headers, and reads the whole answer. It checks nothing
// about the page: each UI's tests hold their own rules for that.
func Fetch(t testing.TB, hc *http.Client, req *http.Request, lang string, headers map[string]string) Page {
	t.Helper()
	if lang != "" {
		req.Header.Set("Accept-Language", lang)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read %s: %v", req.URL, err)
	}
	return Page{Status: resp.StatusCode, URL: resp.Request.URL, Header: resp.Header, Body: string(body)}
}

// GetRequest returns a GET request for rawURL.
func GetRequest(t testing.TB, rawURL string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// FormRequest returns a POST of form to rawURL, encoded as a browser
// encodes a form without files.
func FormRequest(t testing.TB, rawURL string, form url.Values) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, rawURL, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return req
}

// CSRFPattern finds a form's CSRF token; its first group is the token.
var CSRFPattern = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// CSRFToken returns the CSRF token of the first form in body; both UIs
// name the field csrf_token.
func CSRFToken(t testing.TB, body string) string {
	t.Helper()
	m := CSRFPattern.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no CSRF token in page:\n%s", body)
	}
	return m[1]
}

// Truncate cuts s to n bytes for a failure message, marking the cut.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
