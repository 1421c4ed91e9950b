package web

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/havencrm/haven/access"
	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/identity"
	"github.com/havencrm/haven/internal/httpx"
	"github.com/havencrm/haven/internal/webkit"
	"github.com/havencrm/haven/records"
	"github.com/havencrm/haven/tenant"
)

// Cookie and form field names.
const (
	sessionCookie = "haven_session"
	csrfCookie    = "haven_csrf" // double-submit token for forms without a session
	flashCookie   = "haven_flash"
	csrfField     = "csrf_token"
	maxTokenLen   = 512
)

// csrfLabel keeps the tenant UI's CSRF tokens apart from the operator
// console's (which derives under "ops-csrf"); changing it would void
// every open form.
const csrfLabel = "csrf"

// csrfTokenFor derives the synchronizer token of a session (see
// webkit.CSRFTokenFor): stable for the session's life, it reveals nothing
// about the session token and dies with the session.
func csrfTokenFor(sessionToken string) string { return webkit.CSRFTokenFor(csrfLabel, sessionToken) }

// tokensEqual compares two tokens in constant time; empty never matches.
func tokensEqual(a, b string) bool { return webkit.TokensEqual(a, b) }

// sameOrigin rejects requests a browser marks as coming from another
// origin (see webkit.SameOrigin); requests without the headers still need
// the CSRF token.
func sameOrigin(r *http.Request) bool { return webkit.SameOrigin(r) }

func (w *Web) cookie(name, value string, maxAge int, sameSite http.SameSite) *http.Cookie {
	return &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: maxAge, HttpOnly: true, Secure: w.d.SecureCookies, SameSite: sameSite}
}

func (w *Web) setSessionCookie(rw http.ResponseWriter, token string) {
	// A browser-session cookie: the server enforces idle and absolute
	// timeouts; the browser forgets the cookie when it closes.
	http.SetCookie(rw, w.cookie(sessionCookie, token, 0, http.SameSiteLaxMode))
}

func (w *Web) clearCookie(rw http.ResponseWriter, name string) {
	http.SetCookie(rw, w.cookie(name, "", -1, http.SameSiteLaxMode))
}

// flash keys and whether they report a problem.
var flashKinds = map[string]bool{
	"saved": false, "created": false, "deleted": false, "password_changed": false, "signed_out": false,
	"session_ended": true, "user_deactivated": false, "deactivate_failed": true, "delete_conflict": true,
}

// setFlash leaves a message key (never user data) for the next page.
func (w *Web) setFlash(rw http.ResponseWriter, key string) {
	http.SetCookie(rw, w.cookie(flashCookie, key, 60, http.SameSiteLaxMode))
}

// takeFlash reads and clears the pending flash message.
func (w *Web) takeFlash(rw http.ResponseWriter, r *http.Request) (key string, isError bool) {
	return webkit.TakeFlash(r, flashCookie, flashKinds, func() { w.clearCookie(rw, flashCookie) })
}

// loginCSRF returns the double-submit token of the login form, reusing a
// well-formed existing cookie so that two open sign-in tabs both work.
func (w *Web) loginCSRF(rw http.ResponseWriter, r *http.Request) string {
	tok := webkit.FormToken(r, csrfCookie)
	http.SetCookie(rw, w.cookie(csrfCookie, tok, 2*3600, http.SameSiteStrictMode))
	return tok
}

// doubleSubmitOK checks the form token against the haven_csrf cookie.
func doubleSubmitOK(r *http.Request) bool { return webkit.DoubleSubmitOK(r, csrfCookie, csrfField) }

// parsePost limits the body, parses the form and checks the origin. It
// answers the error page itself and reports false when the request must
// stop.
func (w *Web) parsePost(rw http.ResponseWriter, r *http.Request, rc *reqCtx, lang Lang) bool {
	if f := webkit.CheckPost(rw, r, w.d.MaxBodyBytes); f != nil {
		if f.CrossOrigin {
			w.csrfFailed(rw, r, rc, lang)
		} else {
			w.renderError(rw, r, rc, lang, f.Status, f.TitleKey, f.TextKey)
		}
		return false
	}
	return true
}

// reqCtx is an authenticated request: the principal, its session token's
// CSRF token, and what every page's shell shows.
type reqCtx struct {
	p        identity.Principal
	csrf     string
	lang     Lang
	tenant   tenant.Tenant
	objects  []records.Object
	userName map[string]string
}

func (rc *reqCtx) actor() tenant.Actor { return rc.p.Actor }

func (rc *reqCtx) isAdmin() bool { return access.CanManageUsers(rc.p.Actor) }

// object returns the metadata of one of the actor's objects from the
// navigation list, if present.
func (rc *reqCtx) object(name string) (records.Object, bool) {
	for _, o := range rc.objects {
		if o.Name == name {
			return o, true
		}
	}
	return records.Object{}, false
}

type handlerFunc func(rw http.ResponseWriter, r *http.Request, rc *reqCtx)

type authOption int

// allowExpired lets a route run while the user must change their password.
const allowExpired authOption = 1

// allowUnenrolled lets a route run while a user whose tenant requires
// two-step sign-in has not set it up yet.
const allowUnenrolled authOption = 2

// authed wraps a page that needs a signed-in user: it authenticates the
// session cookie, enforces the forced password change, and for POSTs
// checks the origin, the body size and the CSRF token before the handler
// runs.
func (w *Web) authed(h handlerFunc, opts ...authOption) http.Handler {
	expiredOK := slices.Contains(opts, allowExpired)
	unenrolledOK := expiredOK || slices.Contains(opts, allowUnenrolled)
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		lang := requestLang(r)
		ctx := r.Context()
		token, ok := webkit.SessionToken(r, sessionCookie, maxTokenLen)
		if !ok {
			w.toLogin(rw, r)
			return
		}
		p, err := w.d.Identity.Authenticate(ctx, token, httpx.ClientIP(r), r.UserAgent(), httpx.RequestID(ctx))
		if err != nil {
			if apperr.Is(err, apperr.KindUnauthenticated) {
				w.clearCookie(rw, sessionCookie)
				w.setFlash(rw, "session_ended")
				w.toLogin(rw, r)
				return
			}
			w.internalError(rw, r, nil, lang, err)
			return
		}
		rc := &reqCtx{p: p, csrf: csrfTokenFor(token), lang: lang, userName: map[string]string{p.User.ID: p.User.Name}}
		rc.tenant = p.Tenant
		if !p.MustChangePassword {
			if rc.objects, err = w.d.Records.Objects(ctx, p.Actor); err != nil {
				w.internalError(rw, r, nil, lang, err)
				return
			}
		}
		// Streamed uploads check the origin and the CSRF token in their
		// handler, reading the body as a stream.
		if r.Method == http.MethodPost && !slices.Contains(opts, streamedBody) {
			if !w.parsePost(rw, r, rc, lang) {
				return
			}
			if !tokensEqual(rc.csrf, r.PostForm.Get(csrfField)) {
				w.csrfFailed(rw, r, rc, lang)
				return
			}
		}
		if p.MustChangePassword && !expiredOK {
			http.Redirect(rw, r, "/password", http.StatusSeeOther)
			return
		}
		if p.MustEnrolMFA && !unenrolledOK {
			http.Redirect(rw, r, "/account/mfa", http.StatusSeeOther)
			return
		}
		h(rw, r, rc)
	})
}

// toLogin sends an anonymous visitor to the sign-in page, remembering
// where a GET was going.
func (w *Web) toLogin(rw http.ResponseWriter, r *http.Request) {
	target := "/login"
	if r.Method == http.MethodGet && r.URL.Path != "/" {
		target += "?" + url.Values{"next": {r.URL.RequestURI()}}.Encode()
	}
	http.Redirect(rw, r, target, http.StatusSeeOther)
}

// localPath accepts only a path on this site as a redirect target.
func localPath(s string) string {
	if s == "" || len(s) > 2048 || s[0] != '/' || strings.HasPrefix(s, "//") || strings.ContainsAny(s, "\\\r\n\t") {
		return "/"
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "" || u.Host != "" {
		return "/"
	}
	return s
}

// userName returns a user's display name for the actor, falling back to
// a shortened ID for users the actor may not look up.
func (w *Web) userName(ctx context.Context, rc *reqCtx, id string) string {
	if id == "" {
		return ""
	}
	if n, ok := rc.userName[id]; ok {
		return n
	}
	n := id
	if len(n) > 8 {
		n = n[:8] + "…"
	}
	if u, err := w.d.Identity.User(ctx, rc.actor(), id); err == nil {
		n = u.Name
	}
	rc.userName[id] = n
	return n
}
