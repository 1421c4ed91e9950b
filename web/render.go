package web

import (
	"html/template"
	"net/http"
	"strings"

	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/internal/httpx"
	"github.com/havencrm/haven/internal/webkit"
)

// templateFuncs are the few helpers templates use; all formatting happens
// in Go when view models are built.
var templateFuncs = template.FuncMap{}

// Shell is what the layout of every page shows; each page's view model
// embeds it.
type Shell struct {
	Lang       Lang
	Title      string
	CSRF       string
	Path       string // this page's URI, where the language switch returns to
	Authed     bool
	Restricted bool // signed in but must change the password first
	TenantName string
	UserName   string
	RoleLabel  string
	UserRole   string
	IsAdmin    bool
	Nav        []NavItem
	AdminNav   []NavItem
	HomeActive bool
	Flash      string
	FlashError bool
	CSSPath    string
	IconPath   string
	LangOpts   []Option
	// SupportPending counts operator requests awaiting an admin's
	// decision: the in-app notice beside the e-mail.
	SupportPending int
}

// T translates a key into the page's language.
func (s *Shell) T(key string, args ...any) string { return translate(s.Lang, key, args...) }

// NavItem is one link of the side navigation.
type NavItem = webkit.NavItem

// Option is one choice of a select.
type Option = webkit.Option

// shell builds the layout data. rc is nil on pages for visitors who are
// not signed in; their forms use the double-submit CSRF cookie.
func (w *Web) shell(rw http.ResponseWriter, r *http.Request, rc *reqCtx, lang Lang, title, active string) Shell {
	s := Shell{Lang: lang, Title: title, Path: localPath(r.URL.RequestURI()), CSSPath: w.staticPath("app.css"), IconPath: w.staticPath("favicon.svg")}
	if r.Method != http.MethodGet {
		// After a POST the language switch returns to the page's GET form,
		// or home for actions that have none.
		s.Path = localPath(r.URL.Path)
		for _, action := range []string{"/delete", "/deactivate", "/reset-password", "/unlock", "/lang", "/logout"} {
			if strings.HasSuffix(s.Path, action) {
				s.Path = "/"
			}
		}
	}
	s.LangOpts = webkit.LangOptions(lang, func(key string) string { return translate(lang, key) })
	if key, bad := w.takeFlash(rw, r); key != "" {
		s.Flash, s.FlashError = translate(lang, "flash."+key), bad
	}
	if rc == nil {
		s.CSRF = w.loginCSRF(rw, r)
		return s
	}
	s.CSRF = rc.csrf
	s.Authed = true
	s.Restricted = rc.p.MustChangePassword
	s.TenantName = rc.tenant.Name
	s.UserName = rc.p.User.Name
	s.UserRole = rc.p.User.Role
	s.RoleLabel = translateOr(lang, "role."+rc.p.User.Role, rc.p.User.Role)
	s.IsAdmin = rc.isAdmin()
	s.HomeActive = active == "home"
	for _, o := range rc.objects {
		s.Nav = append(s.Nav, NavItem{Label: objectLabel(lang, o.Label, o.LabelZH), Href: objectHref(o.Name), Active: active == "o:"+o.Name})
	}
	if s.IsAdmin {
		s.AdminNav = []NavItem{
			{Label: translate(lang, "nav.users"), Href: "/users", Active: active == "users"},
			{Label: translate(lang, "nav.audit"), Href: "/audit", Active: active == "audit"},
			{Label: translate(lang, "nav.settings"), Href: "/settings/security", Active: active == "settings"},
		}
		if w.d.Support != nil && active != "support" {
			// A failure costs only the notice, never the page.
			if n, err := w.d.Support.PendingCount(r.Context(), rc.actor()); err == nil {
				s.SupportPending = n
			} else {
				w.log.Warn("counting pending support requests", "request_id", httpx.RequestID(r.Context()), "err", err)
			}
		}
	}
	return s
}

// objectLabel picks the label in the UI's language.
func objectLabel(l Lang, en, zh string) string {
	if l == LangZH && zh != "" {
		return zh
	}
	return en
}

// render executes a page into a buffer first, so a template failure
// never sends half a page.
func (w *Web) render(rw http.ResponseWriter, r *http.Request, status int, page string, data any) {
	webkit.Render(rw, r, w.log, "page", w.pages[page], page, status, data)
}

// ErrorPage is the view model of every error page.
type ErrorPage struct {
	Shell
	Status    int
	Heading   string
	Text      string
	RequestID string
}

func (w *Web) renderError(rw http.ResponseWriter, r *http.Request, rc *reqCtx, lang Lang, status int, titleKey, textKey string) {
	title := translate(lang, titleKey)
	p := &ErrorPage{Shell: w.shell(rw, r, rc, lang, title, ""), Status: status, Heading: title, Text: translate(lang, textKey)}
	if status >= 500 {
		p.RequestID = httpx.RequestID(r.Context())
	}
	w.render(rw, r, status, "error", p)
}

func (w *Web) notFound(rw http.ResponseWriter, r *http.Request) {
	w.renderError(rw, r, w.optionalSession(r), requestLang(r), http.StatusNotFound, "error.404.title", "error.404.text")
}

func (w *Web) notFoundRC(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	w.renderError(rw, r, rc, rc.lang, http.StatusNotFound, "error.404.title", "error.404.text")
}

func (w *Web) forbidden(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	w.renderError(rw, r, rc, rc.lang, http.StatusForbidden, "error.403.title", "error.403.text")
}

func (w *Web) csrfFailed(rw http.ResponseWriter, r *http.Request, rc *reqCtx, lang Lang) {
	w.log.Warn("csrf check failed", "request_id", httpx.RequestID(r.Context()), "path", r.URL.Path, "ip", httpx.ClientIP(r))
	w.renderError(rw, r, rc, lang, http.StatusForbidden, "error.csrf.title", "error.csrf.text")
}

// internalError logs err with the request ID and shows only the ID.
func (w *Web) internalError(rw http.ResponseWriter, r *http.Request, rc *reqCtx, lang Lang, err error) {
	webkit.LogInternal(w.log, r, "internal error", err)
	w.renderError(rw, r, rc, lang, http.StatusInternalServerError, "error.500.title", "error.500.text")
}

// fail shows the page that fits a service error.
func (w *Web) fail(rw http.ResponseWriter, r *http.Request, rc *reqCtx, err error) {
	e, ok := apperr.As(err)
	if !ok {
		w.internalError(rw, r, rc, rc.lang, err)
		return
	}
	switch e.Kind {
	case apperr.KindNotFound:
		w.notFoundRC(rw, r, rc)
	case apperr.KindForbidden:
		if e.Code == apperr.CodePasswordExpired {
			http.Redirect(rw, r, "/password", http.StatusSeeOther)
			return
		}
		w.forbidden(rw, r, rc)
	case apperr.KindUnauthenticated:
		w.clearCookie(rw, sessionCookie)
		http.Redirect(rw, r, "/login", http.StatusSeeOther)
	case apperr.KindInvalid:
		w.renderError(rw, r, rc, rc.lang, http.StatusBadRequest, "error.400.title", "error.400.text")
	case apperr.KindConflict:
		w.renderError(rw, r, rc, rc.lang, http.StatusConflict, "error.409.title", "error.409.text")
	default:
		w.internalError(rw, r, rc, rc.lang, err)
	}
}

// optionalSession authenticates the request's cookie when there is one,
// for pages that look better with the shell but do not need it.
func (w *Web) optionalSession(r *http.Request) *reqCtx {
	token, ok := webkit.SessionToken(r, sessionCookie, maxTokenLen)
	if !ok {
		return nil
	}
	ctx := r.Context()
	p, err := w.d.Identity.Authenticate(ctx, token, httpx.ClientIP(r), r.UserAgent(), httpx.RequestID(ctx))
	if err != nil {
		return nil
	}
	rc := &reqCtx{p: p, csrf: csrfTokenFor(token), lang: requestLang(r), userName: map[string]string{p.User.ID: p.User.Name}}
	rc.tenant = p.Tenant
	if !p.MustChangePassword {
		if rc.objects, err = w.d.Records.Objects(ctx, p.Actor); err != nil {
			return nil
		}
	}
	return rc
}
