package webkit

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/havencrm/haven/apperr"
)

// TestCSRFTokenForKeepsFormats pins the derivation both UIs used before
// it was shared, so that no open form breaks and the realms stay apart.
func TestCSRFTokenForKeepsFormats(t *testing.T) {
	legacy := func(keyPrefix, msg, session string) string {
		key := sha256.Sum256([]byte(keyPrefix + session))
		m := hmac.New(sha256.New, key[:])
		m.Write([]byte(msg))
		return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
	}
	const session = "hvs_session_a"
	if got, want := CSRFTokenFor("csrf", session), legacy("haven-csrf", "csrf", session); got != want {
		t.Errorf("tenant token %q, want %q", got, want)
	}
	if got, want := CSRFTokenFor("ops-csrf", session), legacy("haven-ops-csrf", "ops-csrf", session); got != want {
		t.Errorf("operator token %q, want %q", got, want)
	}
	if CSRFTokenFor("csrf", session) == CSRFTokenFor("ops-csrf", session) {
		t.Error("the two realms derive the same token")
	}
	if len(CSRFTokenFor("csrf", session)) != 43 || len(RandomToken()) != 43 {
		t.Error("tokens are not 43 characters")
	}
}

func TestSameOrigin(t *testing.T) {
	for _, c := range []struct {
		origin, site string
		want         bool
	}{
		{"", "", true},
		{"https://haven.example", "same-origin", true},
		{"https://HAVEN.example", "", true},
		{"https://evil.example", "", false},
		{"null", "", false},
		{"", "cross-site", false},
	} {
		r := httptest.NewRequest(http.MethodPost, "https://haven.example/x", nil)
		if c.origin != "" {
			r.Header.Set("Origin", c.origin)
		}
		if c.site != "" {
			r.Header.Set("Sec-Fetch-Site", c.site)
		}
		if got := SameOrigin(r); got != c.want {
			t.Errorf("Origin %q, Sec-Fetch-Site %q: %v, want %v", c.origin, c.site, got, c.want)
		}
	}
}

func TestCheckPost(t *testing.T) {
	post := func(body string) *http.Request {
		r := httptest.NewRequest(http.MethodPost, "https://haven.example/x", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return r
	}
	if f := CheckPost(httptest.NewRecorder(), post("a=1"), 100); f != nil {
		t.Errorf("a small form refused: %+v", f)
	}
	if f := CheckPost(httptest.NewRecorder(), post("a="+strings.Repeat("x", 200)), 100); f == nil || f.Status != http.StatusRequestEntityTooLarge {
		t.Errorf("an oversized form: %+v", f)
	}
	r := post("a=1")
	r.Header.Set("Sec-Fetch-Site", "cross-site")
	if f := CheckPost(httptest.NewRecorder(), r, 100); f == nil || !f.CrossOrigin {
		t.Errorf("a cross-site form: %+v", f)
	}
}

func TestDoubleSubmit(t *testing.T) {
	tok := RandomToken()
	r := httptest.NewRequest(http.MethodPost, "/", nil)
	r.AddCookie(&http.Cookie{Name: "c", Value: tok})
	r.PostForm = url.Values{"csrf_token": {tok}}
	if !DoubleSubmitOK(r, "c", "csrf_token") {
		t.Error("matching token refused")
	}
	if DoubleSubmitOK(r, "other", "csrf_token") {
		t.Error("another realm's cookie name accepted")
	}
	if FormToken(r, "c") != tok {
		t.Error("a well-formed cookie token is not reused")
	}
	if !SignedInOrOutCSRFOK(r, "other", "csrf_token", func() string { return tok }) {
		t.Error("the session's token refused")
	}
	if SignedInOrOutCSRFOK(r, "other", "csrf_token", func() string { return "" }) {
		t.Error("no token accepted")
	}
}

func TestAcceptLanguage(t *testing.T) {
	for header, want := range map[string]Lang{
		"":                          LangEN,
		"zh-CN,zh;q=0.9,en;q=0.8":   LangZH,
		"fr-FR,fr;q=0.9":            LangEN,
		"en;q=0.5,zh-TW;q=0.8":      LangZH,
		"zh;q=0,en":                 LangEN,
		"zh;q=bad,en;q=0.1":         LangEN,
		"fr,zh-Hans-CN;q=0.7,en-GB": LangEN,
	} {
		if got := AcceptLanguage(header); got != want {
			t.Errorf("AcceptLanguage(%q) = %v, want %v", header, got, want)
		}
	}
}

func TestForms(t *testing.T) {
	if _, ok := CheckPasswordChange("a", "b", "b", "req", "mismatch"); !ok {
		t.Error("a complete form refused")
	}
	if e, ok := CheckPasswordChange("", "b", "c", "req", "mismatch"); ok || e != (PasswordErrors{Current: "req", Confirm: "mismatch"}) {
		t.Errorf("errors %+v", e)
	}
	for kind, want := range map[apperr.Kind]int{
		apperr.KindInvalid: http.StatusBadRequest, apperr.KindLocked: http.StatusLocked,
		apperr.KindRateLimited: http.StatusTooManyRequests, apperr.KindUnauthenticated: http.StatusUnauthorized,
	} {
		if got, _ := LoginRefusal(&apperr.Error{Kind: kind}); got != want {
			t.Errorf("%v: status %d, want %d", kind, got, want)
		}
	}
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.AddCookie(&http.Cookie{Name: "f", Value: "<b>hi</b>"})
	cleared := false
	if key, _ := TakeFlash(r, "f", map[string]bool{"saved": false}, func() { cleared = true }); key != "" || !cleared {
		t.Errorf("an unknown flash key %q shown, cleared %v", key, cleared)
	}
}
