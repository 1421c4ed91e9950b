package opsweb

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/internal/httpx"
	"github.com/havencrm/haven/operators"
	"github.com/havencrm/haven/supportaccess"
)

// Cookie and form field names. Every console cookie is scoped to /ops,
// so a browser never sends one to a tenant page, and the names differ
// from the tenant UI's (haven_session, haven_csrf), so neither side could
// read the other's even when both are sent.
const (
	sessionCookie = "haven_ops"
	csrfCookie    = "haven_ops_csrf" // double-submit token of the sign-in form
	flashCookie   = "haven_ops_flash"
	csrfField     = "csrf_token"
	maxTokenLen   = 128 // operator tokens are "hvo_" and 43 characters
)

// csrfTokenFor derives the synchronizer token of an operator session: an
// HMAC keyed with a hash of the session token, under a label of its own
// so that it never equals a tenant session's token.
func csrfTokenFor(sessionToken string) string {
	key := sha256.Sum256([]byte("haven-ops-csrf" + sessionToken))
	m := hmac.New(sha256.New, key[:])
	m.Write([]byte("ops-csrf"))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// tokensEqual compares two tokens in constant time; empty never matches.
func tokensEqual(a, b string) bool {
	if a == "" || b == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return base64.RawURLEncoding.EncodeToString(b)
}

// sameOrigin rejects requests a browser marks as coming from another
// origin. Requests without either header still need the CSRF token.
func sameOrigin(r *http.Request) bool {
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || u.Host == "" || !strings.EqualFold(u.Host, r.Host) {
			return false
		}
	}
	if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
		return false
	}
	return true
}

func (c *Console) cookie(name, value string, maxAge int) *http.Cookie {
	// Strict: the console is never entered from a link on another site
	// with a session, so no cross-site request carries the cookie.
	return &http.Cookie{Name: name, Value: value, Path: Prefix, MaxAge: maxAge, HttpOnly: true, Secure: c.d.SecureCookies, SameSite: http.SameSiteStrictMode}
}

func (c *Console) clearCookie(rw http.ResponseWriter, name string) {
	http.SetCookie(rw, c.cookie(name, "", -1))
}

// flash keys and whether they report a problem.
var flashKinds = map[string]bool{
	"signed_out": false, "session_ended": true, "password_changed": false, "requested": false,
}

// setFlash leaves a message key (never data) for the next page.
func (c *Console) setFlash(rw http.ResponseWriter, key string) {
	http.SetCookie(rw, c.cookie(flashCookie, key, 60))
}

func (c *Console) takeFlash(rw http.ResponseWriter, r *http.Request) (string, bool) {
	ck, err := r.Cookie(flashCookie)
	if err != nil {
		return "", false
	}
	c.clearCookie(rw, flashCookie)
	bad, ok := flashKinds[ck.Value]
	if !ok {
		return "", false
	}
	return ck.Value, bad
}

// loginCSRF returns the double-submit token of the sign-in form, reusing
// a well-formed existing cookie so two open sign-in tabs both work.
func (c *Console) loginCSRF(rw http.ResponseWriter, r *http.Request) string {
	tok := ""
	if ck, err := r.Cookie(csrfCookie); err == nil && len(ck.Value) == 43 {
		if _, err := base64.RawURLEncoding.DecodeString(ck.Value); err == nil {
			tok = ck.Value
		}
	}
	if tok == "" {
		tok = randomToken()
	}
	http.SetCookie(rw, c.cookie(csrfCookie, tok, 2*3600))
	return tok
}

// doubleSubmitOK checks the form token against the sign-in CSRF cookie.
func doubleSubmitOK(r *http.Request) bool {
	ck, err := r.Cookie(csrfCookie)
	if err != nil || len(ck.Value) < 32 {
		return false
	}
	return tokensEqual(ck.Value, r.PostForm.Get(csrfField))
}

// parsePost limits the body, parses the form and checks the origin; it
// answers the error page itself and reports false when the request must
// stop.
func (c *Console) parsePost(rw http.ResponseWriter, r *http.Request, rc *reqCtx, lang Lang) bool {
	if !sameOrigin(r) {
		c.csrfFailed(rw, r, rc, lang)
		return false
	}
	r.Body = http.MaxBytesReader(rw, r.Body, c.d.MaxBodyBytes)
	if err := r.ParseForm(); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			c.renderError(rw, r, rc, lang, http.StatusRequestEntityTooLarge, "error.413.title", "error.413.text")
			return false
		}
		c.renderError(rw, r, rc, lang, http.StatusBadRequest, "error.400.title", "error.400.text")
		return false
	}
	return true
}

// reqCtx is an authenticated console request.
type reqCtx struct {
	p    operators.Principal
	csrf string
	lang Lang
}

// operator is the principal as the grant service names it, with where
// the request came from (for the tenant's audit trail).
func (rc *reqCtx) operator(r *http.Request) supportaccess.Operator {
	o := rc.p.Operator
	return supportaccess.Operator{ID: o.ID, Name: o.Name, IP: httpx.ClientIP(r), UserAgent: r.UserAgent(), RequestID: httpx.RequestID(r.Context())}
}

type handlerFunc func(rw http.ResponseWriter, r *http.Request, rc *reqCtx)

type authOption int

// allowExpired lets a route run while the operator must replace the
// one-time password.
const allowExpired authOption = 1

// authed wraps a page that needs a signed-in operator: it authenticates
// the haven_ops cookie (and nothing else: not the tenant UI's cookie, not
// a bearer header), enforces the password change, and for POSTs checks
// the origin, body size and CSRF token before the handler runs.
func (c *Console) authed(h handlerFunc, opts ...authOption) http.Handler {
	expiredOK := len(opts) > 0 && opts[0] == allowExpired
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		lang := requestLang(r)
		ck, err := r.Cookie(sessionCookie)
		if err != nil || ck.Value == "" || len(ck.Value) > maxTokenLen {
			c.toLogin(rw, r)
			return
		}
		p, err := c.d.Operators.Authenticate(r.Context(), ck.Value)
		if err != nil {
			if apperr.Is(err, apperr.KindUnauthenticated) {
				c.clearCookie(rw, sessionCookie)
				c.setFlash(rw, "session_ended")
				c.toLogin(rw, r)
				return
			}
			c.internalError(rw, r, nil, lang, err)
			return
		}
		rc := &reqCtx{p: p, csrf: csrfTokenFor(ck.Value), lang: lang}
		if r.Method == http.MethodPost {
			if !c.parsePost(rw, r, rc, lang) {
				return
			}
			if !tokensEqual(rc.csrf, r.PostForm.Get(csrfField)) {
				c.csrfFailed(rw, r, rc, lang)
				return
			}
		}
		if p.Operator.MustChangePassword && !expiredOK {
			http.Redirect(rw, r, Prefix+"/password", http.StatusSeeOther)
			return
		}
		h(rw, r, rc)
	})
}

// optionalSession authenticates the cookie when there is one, for pages
// that look better with the shell but do not need it.
func (c *Console) optionalSession(r *http.Request) *reqCtx {
	ck, err := r.Cookie(sessionCookie)
	if err != nil || ck.Value == "" || len(ck.Value) > maxTokenLen {
		return nil
	}
	p, err := c.d.Operators.Authenticate(r.Context(), ck.Value)
	if err != nil {
		return nil
	}
	return &reqCtx{p: p, csrf: csrfTokenFor(ck.Value), lang: requestLang(r)}
}

// toLogin sends an anonymous visitor to the sign-in page, remembering
// where a GET was going.
func (c *Console) toLogin(rw http.ResponseWriter, r *http.Request) {
	target := Prefix + "/login"
	if r.Method == http.MethodGet && r.URL.Path != Prefix {
		target += "?" + url.Values{"next": {r.URL.RequestURI()}}.Encode()
	}
	http.Redirect(rw, r, target, http.StatusSeeOther)
}

// consolePath accepts only a path inside the console as a redirect
// target, so the sign-in form cannot be turned into an open redirect or a
// jump into the tenant UI.
func consolePath(s string) string {
	if s == "" || len(s) > 2048 || strings.HasPrefix(s, "//") || strings.ContainsAny(s, "\\\r\n\t") {
		return Prefix
	}
	if s != Prefix && !strings.HasPrefix(s, Prefix+"/") && !strings.HasPrefix(s, Prefix+"?") {
		return Prefix
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "" || u.Host != "" || strings.Contains(u.Path, "..") {
		return Prefix
	}
	return s
}
