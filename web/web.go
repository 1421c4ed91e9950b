// Package web serves the server-rendered web UI.
package web

import (
	"context"
	"log/slog"
	"net/http"

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
	History(ctx context.Context, actor tenant.Actor, object, id string, beforeSeq int64, limit int) ([]audit.Event, int64, error)
	Names(ctx context.Context, actor tenant.Actor, object string, ids []string) map[string]string
}

// AuditLog answers audit queries.
type AuditLog interface {
	Query(ctx context.Context, actor tenant.Actor, f audit.Filter) ([]audit.Event, int64, error)
}

// Tenants reads tenants.
type Tenants interface {
	Tenant(ctx context.Context, id tenant.ID) (tenant.Tenant, error)
}

// Deps are the web UI's collaborators.
type Deps struct {
	Identity      Identity
	Records       Records
	Audit         AuditLog
	Tenants       Tenants
	Log           *slog.Logger
	SecureCookies bool
	MaxBodyBytes  int64
}

// Web is the web UI.
type Web struct{ d Deps }

// New returns the web UI.
func New(d Deps) (*Web, error) { return &Web{d: d}, nil }

// Register adds the UI's routes to mux.
func (w *Web) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /{$}", func(rw http.ResponseWriter, r *http.Request) {
		rw.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = rw.Write([]byte("<!doctype html><title>Haven</title><p>Haven"))
	})
}
