package opsweb

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/internal/httpx"
	"github.com/havencrm/haven/internal/webkit"
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

// csrfLabel derives the console's CSRF tokens under a label of their own
// (the tenant UI uses "csrf"), so that one never equals a tenant
// session's token; changing it would void every open form.
const csrfLabel = "ops-csrf"

// csrfTokenFor derives the synchronizer token of an operator session.
func csrfTokenFor(sessionToken string) string { return webkit.CSRFTokenFor(csrfLabel, sessionToken) }

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
	"withdrawn": false, "record_updated": false,
}

// setFlash leaves a message key (never data) for the next page.
func (c *Console) setFlash(rw http.ResponseWriter, key string) {
	http.SetCookie(rw, c.cookie(flashCookie, key, 60))
}

func (c *Console) takeFlash(rw http.ResponseWriter, r *http.Request) (string, bool) {
	return webkit.TakeFlash(r, flashCookie, flashKinds, func() { c.clearCookie(rw, flashCookie) })
}

// loginCSRF returns the double-submit token of the sign-in form, reusing
// a well-formed existing cookie so two open sign-in tabs both work.
func (c *Console) loginCSRF(rw http.ResponseWriter, r *http.Request) string {
	tok := webkit.FormToken(r, csrfCookie)
	http.SetCookie(rw, c.cookie(csrfCookie, tok, 2*3600))
	return tok
}

// doubleSubmitOK checks the form token against the sign-in CSRF cookie.
func doubleSubmitOK(r *http.Request) bool { return webkit.DoubleSubmitOK(r, csrfCookie, csrfField) }

// parsePost limits the body, parses the form and checks the origin; it
// answers the error page itself and reports false when the request must
// stop.
func (c *Console) parsePost(rw http.ResponseWriter, r *http.Request, rc *reqCtx, lang Lang) bool {
	f := webkit.CheckPost(rw, r, c.d.MaxBodyBytes)
	switch {
	case f == nil:
		return true
	case f.CrossOrigin:
		c.csrfFailed(rw, r, rc, lang)
	default:
		c.renderError(rw, r, rc, lang, f.Status, f.TitleKey, f.TextKey)
	}
	return false
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
		lang := webkit.RequestLang(r)
		token, ok := webkit.SessionToken(r, sessionCookie, maxTokenLen)
		if !ok {
			c.toLogin(rw, r)
			return
		}
		p, err := c.d.Operators.Authenticate(r.Context(), token)
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
		rc := &reqCtx{p: p, csrf: csrfTokenFor(token), lang: lang}
		if r.Method == http.MethodPost {
			if !c.parsePost(rw, r, rc, lang) {
				return
			}
			if !webkit.TokensEqual(rc.csrf, r.PostForm.Get(csrfField)) {
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
	token, ok := webkit.SessionToken(r, sessionCookie, maxTokenLen)
	if !ok {
		return nil
	}
	p, err := c.d.Operators.Authenticate(r.Context(), token)
	if err != nil {
		return nil
	}
	return &reqCtx{p: p, csrf: csrfTokenFor(token), lang: webkit.RequestLang(r)}
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
