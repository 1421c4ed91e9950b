// Package web serves Haven's server-rendered web UI: embedded templates
// and one stylesheet, one typed view model per page, session cookies with
// CSRF tokens, and no inline script or style so the strict CSP holds.
package web

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"time"

	"github.com/havencrm/haven/audit"
	"github.com/havencrm/haven/identity"
	"github.com/havencrm/haven/records"
	"github.com/havencrm/haven/tenant"
)

// Identity is what the web UI needs from the identity service.
type Identity interface {
	Login(ctx context.Context, in identity.LoginInput) (identity.LoginResult, error)
	Authenticate(ctx context.Context, token, ip, userAgent, requestID string) (identity.Principal, error)
	Logout(ctx context.Context, actor tenant.Actor) error
	ChangePassword(ctx context.Context, actor tenant.Actor, current, next string) error
	CreateUser(ctx context.Context, actor tenant.Actor, in identity.UserInput) (identity.NewUser, error)
	User(ctx context.Context, actor tenant.Actor, id string) (identity.User, error)
	Users(ctx context.Context, actor tenant.Actor, after string, limit int) ([]identity.User, string, error)
	Deactivate(ctx context.Context, actor tenant.Actor, id string) (identity.User, error)
	ResetPassword(ctx context.Context, actor tenant.Actor, id string) (string, error)
}

// Records is what the web UI needs from the records service.
type Records interface {
	Objects(ctx context.Context, actor tenant.Actor) ([]records.Object, error)
	Object(ctx context.Context, actor tenant.Actor, name string) (records.Object, error)
	Get(ctx context.Context, actor tenant.Actor, object, id string) (records.Record, error)
	List(ctx context.Context, actor tenant.Actor, object string, q records.ListQuery) ([]records.Record, string, error)
	Create(ctx context.Context, actor tenant.Actor, object, ownerID string, in records.Values) (records.Record, error)
	Update(ctx context.Context, actor tenant.Actor, object, id string, version int64, ownerID string, in records.Values) (records.Record, error)
	Delete(ctx context.Context, actor tenant.Actor, object, id string, version int64) error
	History(ctx context.Context, actor tenant.Actor, object, id string, beforeSeq int64, limit int) ([]audit.Event, int64, error)
	Names(ctx context.Context, actor tenant.Actor, object string, ids []string) map[string]string
}

// AuditLog answers audit queries.
type AuditLog interface {
	Query(ctx context.Context, actor tenant.Actor, f audit.Filter) ([]audit.Event, int64, error)
}

// Deps are the web UI's collaborators.
type Deps struct {
	Identity      Identity
	Records       Records
	Audit         AuditLog
	Accounts      Accounts
	Lockout       Lockout
	MFA           MFA
	Recovery      Recovery
	Settings      SettingsService
	Log           *slog.Logger
	SecureCookies bool
	MaxBodyBytes  int64

	// Attachments stores encrypted files on records (nil: not wired).
	Attachments Attachments

	// Protection reveals masked values and changes field protection
	// (nil: neither is offered). Jobs reports the progress of the
	// conversions such changes start (nil: progress without a percentage).
	Protection Protection
	Jobs       JobStatus

	// AuditTrail verifies and exports the audit trail from the audit
	// page (nil: the page lists events only; web/auditlog.go).
	AuditTrail AuditTrail

	// Support lets admins approve, deny and revoke vendor operators'
	// access (nil: the support access page is not offered; web/support.go).
	Support SupportAccess

	// ExportGov holds the export rules and runs per-list exports (nil:
	// neither the export buttons nor the export rules page are offered;
	// web/listexport.go).
	ExportGov ExportGovernance

	// FullExports runs one-click exports of all data (nil: the page is not
	// offered; web/dataexport.go).
	FullExports FullExports
}

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Web is the web UI.
type Web struct {
	d        Deps
	log      *slog.Logger
	pages    map[string]*template.Template
	static   map[string]staticFile
	shanghai *time.Location
}

type staticFile struct {
	body        []byte
	contentType string
	hash        string // hex SHA-256 prefix, used as ETag and cache-busting version
}

// pageNames lists every page template; each is parsed together with the
// shared layout into its own set.
var pageNames = []string{"login", "password", "home", "list", "detail", "form", "users", "secret", "audit", "error", "account", "token", "settings", "fields", "reveal", "support", "exportrules", "dataexport"}

// New returns the web UI, with its templates parsed and static files
// loaded.
func New(d Deps) (*Web, error) {
	if d.Log == nil {
		d.Log = slog.Default()
	}
	if d.MaxBodyBytes <= 0 {
		d.MaxBodyBytes = 1 << 20
	}
	w := &Web{d: d, log: d.Log, pages: map[string]*template.Template{}, static: map[string]staticFile{}}
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		// China has used one fixed offset without daylight saving since 1991.
		loc = time.FixedZone("CST", 8*3600)
	}
	w.shanghai = loc
	types := map[string]string{".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".svg": "image/svg+xml"}
	err = fs.WalkDir(staticFS, "static", func(path string, de fs.DirEntry, err error) error {
		if err != nil || de.IsDir() {
			return err
		}
		b, err := staticFS.ReadFile(path)
		if err != nil {
			return err
		}
		name := de.Name()
		ct := ""
		for ext, t := range types {
			if len(name) > len(ext) && name[len(name)-len(ext):] == ext {
				ct = t
			}
		}
		if ct == "" {
			return fmt.Errorf("static file %s has no known content type", name)
		}
		sum := sha256.Sum256(b)
		w.static[name] = staticFile{body: b, contentType: ct, hash: hex.EncodeToString(sum[:8])}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load static files: %w", err)
	}
	for _, name := range pageNames {
		t, err := template.New(name).Funcs(templateFuncs).ParseFS(templateFS, "templates/layout.html", "templates/_*.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("parse template %s: %w", name, err)
		}
		w.pages[name] = t
	}
	return w, nil
}

// Register adds the UI's routes to mux. The API owns /api/, /healthz and
// /readyz; every pattern here is disjoint from or less specific than those.
func (w *Web) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /static/{name}", w.serveStatic)

	mux.HandleFunc("GET /login", w.loginForm)
	mux.HandleFunc("POST /login", w.loginSubmit)
	mux.HandleFunc("POST /lang", w.setLanguage)
	w.registerRecovery(mux)
	mux.Handle("POST /logout", w.authed(w.logout, allowExpired))
	mux.Handle("GET /password", w.authed(w.passwordForm, allowExpired))
	mux.Handle("POST /password", w.authed(w.passwordSubmit, allowExpired))

	mux.Handle("GET /{$}", w.authed(w.home))
	mux.Handle("GET /o/{object}", w.authed(w.listRecords))
	mux.Handle("GET /o/{object}/new", w.authed(w.newRecordForm))
	mux.Handle("POST /o/{object}/new", w.authed(w.createRecord))
	mux.Handle("GET /o/{object}/{id}", w.authed(w.recordDetail))
	mux.Handle("GET /o/{object}/{id}/edit", w.authed(w.editRecordForm))
	mux.Handle("POST /o/{object}/{id}/edit", w.authed(w.updateRecord))
	mux.Handle("POST /o/{object}/{id}/delete", w.authed(w.deleteRecord))
	w.registerAttachments(mux)
	w.registerProtection(mux)

	mux.Handle("GET /users", w.authed(w.usersPage))
	mux.Handle("POST /users", w.authed(w.createUser))
	mux.Handle("POST /users/{id}/deactivate", w.authed(w.deactivateUser))
	mux.Handle("POST /users/{id}/reset-password", w.authed(w.resetPassword))

	w.registerAuditLog(mux)
	w.registerSettings(mux)
	w.registerLockout(mux)
	w.registerSupport(mux)
	w.registerDataExport(mux)
	w.registerListExport(mux)

	mux.Handle("GET /account", w.authed(w.myAccount))
	mux.Handle("GET /users/{id}", w.authed(w.accountPage))
	mux.Handle("POST /users/{id}/offboard", w.authed(w.offboardUser))
	mux.Handle("POST /sessions/{id}/end", w.authed(w.endSession))
	mux.Handle("POST /users/{id}/tokens", w.authed(w.createToken))
	mux.Handle("POST /tokens/{id}/revoke", w.authed(w.revokeToken))
	mux.Handle("GET /account/mfa", w.authed(w.mfaIntro, allowUnenrolled))
	mux.Handle("POST /account/mfa/begin", w.authed(w.beginMFA, allowUnenrolled))
	mux.Handle("POST /account/mfa/confirm", w.authed(w.confirmMFA, allowUnenrolled))
	mux.Handle("POST /account/mfa/disable", w.authed(w.disableMFA))
	mux.Handle("POST /users/{id}/mfa/reset", w.authed(w.resetUserMFA))

	// Everything else that no other package claims is an HTML 404.
	mux.HandleFunc("/", w.notFound)
}

// staticPath returns the versioned URL of a static file.
func (w *Web) staticPath(name string) string {
	f, ok := w.static[name]
	if !ok {
		return "/static/" + name
	}
	return "/static/" + name + "?v=" + f.hash
}

func (w *Web) serveStatic(rw http.ResponseWriter, r *http.Request) {
	f, ok := w.static[r.PathValue("name")]
	if !ok {
		w.notFound(rw, r)
		return
	}
	etag := `"` + f.hash + `"`
	h := rw.Header()
	h.Set("Content-Type", f.contentType)
	h.Set("ETag", etag)
	if r.URL.Query().Get("v") == f.hash {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "public, max-age=300")
	}
	if match := r.Header.Get("If-None-Match"); match != "" && match == etag {
		rw.WriteHeader(http.StatusNotModified)
		return
	}
	_, _ = rw.Write(f.body)
}
