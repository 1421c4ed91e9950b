// Package opsapi is the operator realm's JSON API under /ops/api/v1. It
// has its own routes, DTOs and authentication ("hvo_" operator session
// tokens only): a tenant token is never accepted here, and the tenant API
// never accepts an operator's.
package opsapi

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/havencrm/haven/api"
	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/internal/httpx"
	"github.com/havencrm/haven/operators"
)

// Prefix is where the operator API lives.
const Prefix = "/ops/api/v1"

// Operators is the operator service the API consumes.
type Operators interface {
	Login(ctx context.Context, in operators.LoginInput) (operators.LoginResult, error)
	Authenticate(ctx context.Context, token string) (operators.Principal, error)
	Logout(ctx context.Context, p operators.Principal) error
	ChangePassword(ctx context.Context, p operators.Principal, current, next string) error
	Tenants(ctx context.Context, p operators.Principal) ([]operators.TenantSummary, error)
}

// Deps are the API's collaborators.
type Deps struct {
	Operators    Operators
	Support      Support
	Grants       Grants
	Tenants      Tenants
	Records      Records
	Log          *slog.Logger
	MaxBodyBytes int64
}

// API serves the operator routes.
type API struct{ d Deps }

// New returns the operator API.
func New(d Deps) *API {
	if d.MaxBodyBytes <= 0 {
		d.MaxBodyBytes = 1 << 20
	}
	if d.Log == nil {
		d.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &API{d: d}
}

// Register adds the operator routes to mux.
func (a *API) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST "+Prefix+"/auth/login", a.login)
	mux.Handle("POST "+Prefix+"/auth/logout", a.authed(a.logout, true))
	mux.Handle("POST "+Prefix+"/auth/password", a.authed(a.changePassword, true))
	mux.Handle("GET "+Prefix+"/me", a.authed(a.me, true))
	mux.Handle("GET "+Prefix+"/tenants", a.authed(a.tenants, false))
	if a.d.Support != nil {
		a.registerAccess(mux)
	}
	// Anything else under the prefix answers in JSON, not with the web
	// UI's HTML pages.
	notFound := func(w http.ResponseWriter, r *http.Request) { a.writeError(w, r, apperr.NotFound("endpoint")) }
	mux.HandleFunc("GET "+Prefix+"/", notFound)
	mux.HandleFunc("POST "+Prefix+"/", notFound)
}

// ErrorBody is the error envelope (the same shape as the tenant API's).
type ErrorBody = api.ErrorBody

// LoginRequest signs an operator in; all three fields are required.
type LoginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	TOTP     string `json:"totp"`
}

// LoginResponse is a started session; the token is shown only here.
type LoginResponse struct {
	Token              string    `json:"token"`
	ExpiresAt          time.Time `json:"expires_at"`
	MustChangePassword bool      `json:"must_change_password"`
}

// ChangePasswordRequest replaces the signed-in operator's password.
type ChangePasswordRequest struct {
	CurrentPassword string `json:"current_password"`
	NewPassword     string `json:"new_password"`
}

// OperatorDTO is the signed-in operator.
type OperatorDTO struct {
	ID                 string    `json:"id"`
	Email              string    `json:"email"`
	Name               string    `json:"name"`
	Role               string    `json:"role"`
	MustChangePassword bool      `json:"must_change_password"`
	CreatedAt          time.Time `json:"created_at"`
}

// TenantDTO is a tenant's metadata and size: no user or record content.
type TenantDTO struct {
	ID          string     `json:"id"`
	Slug        string     `json:"slug"`
	Name        string     `json:"name"`
	Status      string     `json:"status"`
	CreatedAt   time.Time  `json:"created_at"`
	ContractEnd *time.Time `json:"contract_end"`
	Users       int64      `json:"users"`
	Records     int64      `json:"records"`
}

// TenantList is the answer of GET /tenants.
type TenantList struct {
	Items []TenantDTO `json:"items"`
}

type principalKey struct{}

// authed requires a live operator session. Until the operator replaced
// the one-time password, only the routes marked allowExpired answer.
func (a *API) authed(h http.HandlerFunc, allowExpired bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := bearer(r)
		if !ok {
			a.writeError(w, r, apperr.Unauthenticated())
			return
		}
		p, err := a.d.Operators.Authenticate(r.Context(), token)
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		if p.Operator.MustChangePassword && !allowExpired {
			a.writeError(w, r, apperr.PasswordExpired())
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
	})
}

func principal(r *http.Request) operators.Principal {
	p, _ := r.Context().Value(principalKey{}).(operators.Principal)
	return p
}

func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return "", false
	}
	return strings.TrimSpace(token), true
}

func (a *API) login(w http.ResponseWriter, r *http.Request) {
	var req LoginRequest
	if err := a.decode(w, r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	res, err := a.d.Operators.Login(r.Context(), operators.LoginInput{Email: req.Email, Password: req.Password, TOTP: req.TOTP,
		IP: httpx.ClientIP(r), UserAgent: r.UserAgent(), RequestID: httpx.RequestID(r.Context())})
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, LoginResponse{Token: res.Token, ExpiresAt: res.ExpiresAt, MustChangePassword: res.MustChangePassword})
}

func (a *API) logout(w http.ResponseWriter, r *http.Request) {
	if err := a.d.Operators.Logout(r.Context(), principal(r)); err != nil {
		a.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) changePassword(w http.ResponseWriter, r *http.Request) {
	var req ChangePasswordRequest
	if err := a.decode(w, r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	if err := a.d.Operators.ChangePassword(r.Context(), principal(r), req.CurrentPassword, req.NewPassword); err != nil {
		a.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) me(w http.ResponseWriter, r *http.Request) {
	o := principal(r).Operator
	writeJSON(w, http.StatusOK, OperatorDTO{ID: o.ID, Email: o.Email, Name: o.Name, Role: string(o.Role),
		MustChangePassword: o.MustChangePassword, CreatedAt: o.CreatedAt})
}

func (a *API) tenants(w http.ResponseWriter, r *http.Request) {
	ts, err := a.d.Operators.Tenants(r.Context(), principal(r))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	out := TenantList{Items: make([]TenantDTO, 0, len(ts))}
	for _, t := range ts {
		out.Items = append(out.Items, TenantDTO{ID: string(t.ID), Slug: t.Slug, Name: t.Name, Status: string(t.Status),
			CreatedAt: t.CreatedAt, ContractEnd: t.ContractEnd, Users: t.Users, Records: t.Records})
	}
	writeJSON(w, http.StatusOK, out)
}

// writeError answers with the shared error envelope; causes of internal
// errors are logged with the request ID, never shown.
func (a *API) writeError(w http.ResponseWriter, r *http.Request, err error) {
	api.WriteError(w, r, a.d.Log, err)
}

func writeJSON(w http.ResponseWriter, status int, v any) { api.WriteJSON(w, status, v) }

// decode reads a JSON body as strictly as the tenant API does.
func (a *API) decode(w http.ResponseWriter, r *http.Request, dst any) error {
	return api.DecodeJSON(w, r, dst, a.d.MaxBodyBytes)
}
