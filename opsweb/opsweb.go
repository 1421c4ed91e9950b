// Package opsweb is the operator console: server-rendered pages under
// /ops where the vendor's operators sign in (password and TOTP), see the
// tenants' metadata, ask a tenant for access, follow (and, while pending,
// withdraw) their requests, read records only under a grant the tenant's
// admin approved, and change a record's plain fields under a grant that
// allows writes.
//
// It is a second face of the operator realm, beside the JSON API of
// package opsapi, and makes the same decisions through the same services:
// operators.Service signs in (so its lockout and platform audit apply),
// supportaccess.Service authorizes each read under the active grant and
// records it in the tenant's audit trail before anything is shown, and
// records.Service presents records as an operator actor sees them (masked,
// never decrypted) and makes every decision about a change under a grant
// (see edit.go). Its session cookie is its own (haven_ops, Path=/ops);
// it never reads the tenant UI's cookie, and the tenant side never reads
// this one.
package opsweb

import (
	"context"
	"embed"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/internal/httpx"
	"github.com/havencrm/haven/internal/webkit"
	"github.com/havencrm/haven/operators"
	"github.com/havencrm/haven/records"
	"github.com/havencrm/haven/supportaccess"
	"github.com/havencrm/haven/tenant"
)

// Prefix is where the console lives.
const Prefix = "/ops"

// Operators is the operator service the console consumes.
type Operators interface {
	Login(ctx context.Context, in operators.LoginInput) (operators.LoginResult, error)
	Authenticate(ctx context.Context, token string) (operators.Principal, error)
	Logout(ctx context.Context, p operators.Principal) error
	ChangePassword(ctx context.Context, p operators.Principal, current, next string) error
	Tenants(ctx context.Context, p operators.Principal) ([]operators.TenantSummary, error)
}

// Support is the grant service as the operator side uses it.
type Support interface {
	Request(ctx context.Context, op supportaccess.Operator, tid tenant.ID, kind supportaccess.Kind, reason, ticket string, scope supportaccess.Scope, duration time.Duration) (supportaccess.Grant, error)
	ActiveGrant(ctx context.Context, operatorID string, tid tenant.ID, object string, write bool) (supportaccess.Grant, error)
	RecordUse(ctx context.Context, op supportaccess.Operator, tid tenant.ID, g supportaccess.Grant, what, object string, ids []string) error
	OperatorRequests(ctx context.Context, operatorID string) ([]supportaccess.Grant, error)
	Withdraw(ctx context.Context, op supportaccess.Operator, tid tenant.ID, id string) (supportaccess.Grant, error)
}

// Grants finds a grant by ID across tenants.
type Grants interface {
	GrantByID(ctx context.Context, id string) (tenant.ID, supportaccess.Grant, error)
}

// Tenants finds a tenant by slug.
type Tenants interface {
	TenantBySlug(ctx context.Context, slug string) (tenant.Tenant, error)
}

// Records reads records as an operator actor (masked, never decrypted)
// and, under a grant that allows writes, changes them: the records
// service makes every field decision and writes the audit event.
type Records interface {
	Get(ctx context.Context, actor tenant.Actor, object, id string) (records.Record, error)
	List(ctx context.Context, actor tenant.Actor, object string, q records.ListQuery) ([]records.Record, string, error)
	Update(ctx context.Context, actor tenant.Actor, object, id string, version int64, ownerID string, in records.Values) (records.Record, error)
}

// Schema returns an object's metadata (labels and field order), read
// only after the grant for that object was checked; it holds no record
// values.
type Schema interface {
	Object(ctx context.Context, tid tenant.ID, name string) (records.Object, error)
}

// Deps are the console's collaborators.
type Deps struct {
	Operators Operators
	Support   Support
	Grants    Grants
	Tenants   Tenants
	Records   Records
	// Schema labels fields on the record pages (nil: field names).
	Schema        Schema
	Log           *slog.Logger
	SecureCookies bool
	MaxBodyBytes  int64
	// Now is the clock the pages show grant windows against (nil: time.Now).
	Now func() time.Time
}

//go:embed templates/*.html
var templateFS embed.FS

// Console serves the operator console.
type Console struct {
	d     Deps
	log   *slog.Logger
	pages map[string]*template.Template
}

var pageNames = []string{"login", "password", "dashboard", "request_form", "requests", "request", "records", "record", "edit", "error"}

// New returns the console with its templates parsed. It panics on a
// template error: templates are embedded, so that is a build defect.
func New(d Deps) *Console {
	if d.Log == nil {
		d.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if d.MaxBodyBytes <= 0 {
		d.MaxBodyBytes = 1 << 20
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	c := &Console{d: d, log: d.Log, pages: map[string]*template.Template{}}
	for _, name := range pageNames {
		t := template.Must(template.New(name).ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html"))
		c.pages[name] = t
	}
	return c
}

// Register adds the console's routes to mux. The operator API keeps
// /ops/api/v1/ (its patterns are more specific than the catch-all here),
// and nothing here overlaps a tenant route.
func (c *Console) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET "+Prefix+"/login", c.loginForm)
	mux.HandleFunc("POST "+Prefix+"/login", c.loginSubmit)
	mux.HandleFunc("POST "+Prefix+"/lang", c.setLanguage)
	mux.Handle("POST "+Prefix+"/logout", c.authed(c.logout, allowExpired))
	mux.Handle("GET "+Prefix+"/password", c.authed(c.passwordForm, allowExpired))
	mux.Handle("POST "+Prefix+"/password", c.authed(c.passwordSubmit, allowExpired))

	mux.Handle("GET "+Prefix, c.authed(c.dashboard))
	mux.HandleFunc("GET "+Prefix+"/{$}", func(rw http.ResponseWriter, r *http.Request) {
		http.Redirect(rw, r, Prefix, http.StatusSeeOther)
	})
	mux.Handle("GET "+Prefix+"/requests", c.authed(c.requestsPage))
	mux.Handle("GET "+Prefix+"/requests/new", c.authed(c.requestForm))
	mux.Handle("POST "+Prefix+"/requests", c.authed(c.requestSubmit))
	mux.Handle("GET "+Prefix+"/requests/{id}", c.authed(c.requestPage))
	mux.Handle("POST "+Prefix+"/requests/{id}/withdraw", c.authed(c.withdrawRequest))
	mux.Handle("GET "+Prefix+"/tenants/{slug}/objects/{object}/records", c.authed(c.recordsPage))
	mux.Handle("GET "+Prefix+"/tenants/{slug}/objects/{object}/records/{id}", c.authed(c.recordPage))
	mux.Handle("GET "+Prefix+"/tenants/{slug}/objects/{object}/records/{id}/edit", c.authed(c.editForm))
	mux.Handle("POST "+Prefix+"/tenants/{slug}/objects/{object}/records/{id}/edit", c.authed(c.editSubmit))

	// Anything else under /ops is an HTML 404 of the console, never a
	// tenant page.
	mux.HandleFunc(Prefix+"/", c.notFound)
}

// render executes a page into a buffer first, so a template failure
// never sends half a page.
func (c *Console) render(rw http.ResponseWriter, r *http.Request, status int, page string, data any) {
	webkit.Render(rw, r, c.log, "ops page", c.pages[page], page, status, data)
}

// ErrorPage is the view model of every error and refusal page.
type ErrorPage struct {
	Shell
	Status     int
	Heading    string
	Text       string
	RequestID  string
	RequestNew string // a link to ask for access (refusals under /tenants)
}

func (c *Console) renderError(rw http.ResponseWriter, r *http.Request, rc *reqCtx, lang Lang, status int, titleKey, textKey string) {
	title := translate(lang, titleKey)
	p := &ErrorPage{Shell: c.shell(rw, r, rc, lang, title, ""), Status: status, Heading: title, Text: translate(lang, textKey)}
	if status >= 500 {
		p.RequestID = httpx.RequestID(r.Context())
	}
	c.render(rw, r, status, "error", p)
}

func (c *Console) notFound(rw http.ResponseWriter, r *http.Request) {
	c.renderError(rw, r, c.optionalSession(r), webkit.RequestLang(r), http.StatusNotFound, "error.404.title", "error.404.text")
}

// refuse answers a read without a grant that covers it: the same page
// for an unknown tenant, another tenant, an object outside the scope, a
// pending, denied, revoked or expired grant, so the refusal tells
// nothing about which.
func (c *Console) refuse(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	title := translate(rc.lang, "refused.title")
	p := &ErrorPage{Shell: c.shell(rw, r, rc, rc.lang, title, ""), Status: http.StatusForbidden, Heading: title,
		Text: translate(rc.lang, "refused.text"), RequestNew: Prefix + "/requests/new"}
	c.render(rw, r, http.StatusForbidden, "error", p)
}

func (c *Console) csrfFailed(rw http.ResponseWriter, r *http.Request, rc *reqCtx, lang Lang) {
	c.log.Warn("ops csrf check failed", "request_id", httpx.RequestID(r.Context()), "path", r.URL.Path, "ip", httpx.ClientIP(r))
	c.renderError(rw, r, rc, lang, http.StatusForbidden, "error.csrf.title", "error.csrf.text")
}

// internalError logs err with the request ID and shows only the ID.
func (c *Console) internalError(rw http.ResponseWriter, r *http.Request, rc *reqCtx, lang Lang, err error) {
	webkit.LogInternal(c.log, r, "ops internal error", err)
	c.renderError(rw, r, rc, lang, http.StatusInternalServerError, "error.500.title", "error.500.text")
}

// fail shows the page that fits a service error.
func (c *Console) fail(rw http.ResponseWriter, r *http.Request, rc *reqCtx, err error) {
	e, ok := apperr.As(err)
	if !ok {
		c.internalError(rw, r, rc, rc.lang, err)
		return
	}
	switch e.Kind {
	case apperr.KindNotFound:
		c.renderError(rw, r, rc, rc.lang, http.StatusNotFound, "error.404.title", "error.404.text")
	case apperr.KindForbidden:
		if e.Code == apperr.CodePasswordExpired {
			http.Redirect(rw, r, Prefix+"/password", http.StatusSeeOther)
			return
		}
		c.refuse(rw, r, rc)
	case apperr.KindUnauthenticated:
		c.clearCookie(rw, sessionCookie)
		http.Redirect(rw, r, Prefix+"/login", http.StatusSeeOther)
	case apperr.KindInvalid:
		c.renderError(rw, r, rc, rc.lang, http.StatusBadRequest, "error.400.title", "error.400.text")
	case apperr.KindConflict:
		c.renderError(rw, r, rc, rc.lang, http.StatusConflict, "error.409.title", "error.409.text")
	default:
		c.internalError(rw, r, rc, rc.lang, err)
	}
}

// formatTime shows a time in UTC: operators work across tenants in
// different zones, and the tenant side shows its own zone.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04") + " UTC"
}

func formatTimePtr(t *time.Time) string {
	if t == nil {
		return ""
	}
	return formatTime(*t)
}
