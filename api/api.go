// Package api serves the JSON REST API under /api/v1. Handlers decode
// requests strictly into DTOs, call the domain services and map results
// back to DTOs; domain structs never reach the wire.
package api

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"mime"
	"net/http"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/audit"
	"github.com/havencrm/haven/identity"
	"github.com/havencrm/haven/internal/httpx"
	"github.com/havencrm/haven/records"
	"github.com/havencrm/haven/tenant"
)

//go:embed openapi.json openapi
var openAPIFiles embed.FS

// openAPIDocument is openapi.json with the fragments under openapi/ merged
// in: each feature documents its own paths and schemas in a file of its own.
var openAPIDocument = mustMergeOpenAPI()

// OpenAPIDocument returns the OpenAPI 3 document.
func OpenAPIDocument() []byte { return openAPIDocument }

func mustMergeOpenAPI() []byte {
	b, err := mergeOpenAPI(openAPIFiles)
	if err != nil {
		panic(err)
	}
	return b
}

// mergeOpenAPI adds the paths and components of every openapi/*.json
// fragment to openapi.json; a name defined twice is an error.
func mergeOpenAPI(fsys fs.FS) ([]byte, error) {
	base, err := fs.ReadFile(fsys, "openapi.json")
	if err != nil {
		return nil, err
	}
	var doc map[string]any
	if err := json.Unmarshal(base, &doc); err != nil {
		return nil, fmt.Errorf("openapi.json: %w", err)
	}
	frags, err := fs.Glob(fsys, "openapi/*.json")
	if err != nil {
		return nil, err
	}
	sort.Strings(frags)
	for _, name := range frags {
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		var frag map[string]any
		if err := json.Unmarshal(b, &frag); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if err := mergeSection(doc, frag, name, "paths"); err != nil {
			return nil, err
		}
		comps, _ := frag["components"].(map[string]any)
		docComps, _ := doc["components"].(map[string]any)
		for kind := range comps {
			if err := mergeSection(docComps, comps, name, kind); err != nil {
				return nil, err
			}
		}
	}
	return json.MarshalIndent(doc, "", "  ")
}

func mergeSection(dst, src map[string]any, file, key string) error {
	from, _ := src[key].(map[string]any)
	if len(from) == 0 {
		return nil
	}
	to, _ := dst[key].(map[string]any)
	if to == nil {
		to = map[string]any{}
		dst[key] = to
	}
	for k, v := range from {
		if _, dup := to[k]; dup {
			return fmt.Errorf("%s: %s %q is defined twice", file, key, k)
		}
		to[k] = v
	}
	return nil
}

// Identity is what the API needs from the identity service.
type Identity interface {
	Login(ctx context.Context, in identity.LoginInput) (identity.LoginResult, error)
	AuthenticateBearer(ctx context.Context, token, ip, userAgent, requestID string) (identity.Principal, error)
	Logout(ctx context.Context, actor tenant.Actor) error
	ChangePassword(ctx context.Context, actor tenant.Actor, current, next string) error
	CreateUser(ctx context.Context, actor tenant.Actor, in identity.UserInput) (identity.NewUser, error)
	User(ctx context.Context, actor tenant.Actor, id string) (identity.User, error)
	Users(ctx context.Context, actor tenant.Actor, after string, limit int) ([]identity.User, string, error)
	UpdateUser(ctx context.Context, actor tenant.Actor, id string, in identity.UserInput) (identity.User, error)
	Deactivate(ctx context.Context, actor tenant.Actor, id string) (identity.User, error)
	ResetPassword(ctx context.Context, actor tenant.Actor, id string) (string, error)
}

// Records is what the API needs from the records service.
type Records interface {
	Objects(ctx context.Context, actor tenant.Actor) ([]records.Object, error)
	Object(ctx context.Context, actor tenant.Actor, name string) (records.Object, error)
	AddField(ctx context.Context, actor tenant.Actor, object string, f records.Field) (records.Field, error)
	Create(ctx context.Context, actor tenant.Actor, object, ownerID string, in records.Values) (records.Record, error)
	Get(ctx context.Context, actor tenant.Actor, object, id string) (records.Record, error)
	Update(ctx context.Context, actor tenant.Actor, object, id string, version int64, ownerID string, in records.Values) (records.Record, error)
	Delete(ctx context.Context, actor tenant.Actor, object, id string, version int64) error
	List(ctx context.Context, actor tenant.Actor, object string, q records.ListQuery) ([]records.Record, string, error)
	History(ctx context.Context, actor tenant.Actor, object, id string, beforeSeq int64, limit int) ([]audit.Event, int64, error)
}

// AuditLog answers audit queries.
type AuditLog interface {
	Query(ctx context.Context, actor tenant.Actor, f audit.Filter) ([]audit.Event, int64, error)
}

// Pinger reports whether the database answers.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Deps are the API's collaborators.
type Deps struct {
	Identity     Identity
	Records      Records
	Audit        AuditLog
	DB           Pinger
	Log          *slog.Logger
	MaxBodyBytes int64

	// Login protection (each nil until its feature is wired).
	Settings SettingsService
	Lockout  LockoutService
	Recovery RecoveryService
	Accounts AccountService
	MFA      MFAService

	// Protection changes field protection and reveals masked values.
	Protection Protection
	// Keys lists and rotates the tenant's data keys.
	Keys KeyService
	// SupportAccess is the admins' side of operator access grants.
	SupportAccess SupportAccess

	// Attachments stores encrypted files on records (nil: not wired).
	Attachments AttachmentService

	// Jobs shows the tenant's background jobs to its admins (nil: not wired).
	Jobs JobsService

	// AuditChain verifies and exports the hash-chained audit trail and
	// publishes its signing keys (nil: not wired).
	AuditChain AuditChain

	// AuditSettings reads and changes the audit retention period (nil:
	// not wired).
	AuditSettings AuditSettingsService

	// ExportGov holds the export rules and runs per-list exports (nil:
	// not wired).
	ExportGov ExportGovernance

	// Changes is the change feed (nil: not wired).
	Changes ChangeFeed

	// FullExports runs one-click exports of all data (nil: not wired).
	FullExports FullExportService
}

// API is the JSON API.
type API struct {
	d Deps
}

// New returns the API.
func New(d Deps) *API {
	if d.MaxBodyBytes <= 0 {
		d.MaxBodyBytes = 1 << 20
	}
	if d.Log == nil {
		d.Log = slog.Default()
	}
	return &API{d: d}
}

// Route is one endpoint; the OpenAPI document must list exactly these.
type Route struct {
	Method  string
	Pattern string
	// Public routes need no credential.
	Public bool
	// AllowExpired routes stay reachable while the password must change.
	AllowExpired bool
	// AllowUnenrolled routes stay reachable while a user whose tenant
	// requires two-step sign-in has not set it up yet.
	AllowUnenrolled bool
	handler         func(w http.ResponseWriter, r *http.Request, p *identity.Principal)
}

// Routes lists every endpoint.
func (a *API) Routes() []Route {
	routes := a.coreRoutes()
	// Each login-protection feature keeps its routes beside its handlers.
	routes = append(routes, a.settingsRoutes()...)
	routes = append(routes, a.lockoutRoutes()...)
	routes = append(routes, a.recoveryRoutes()...)
	routes = append(routes, a.accountRoutes()...)
	routes = append(routes, a.tokenRoutes()...)
	routes = append(routes, a.mfaRoutes()...)
	routes = append(routes, a.protectionRoutes()...)
	routes = append(routes, a.keyRoutes()...)
	routes = append(routes, a.supportRoutes()...)
	routes = append(routes, a.attachmentRoutes()...)
	routes = append(routes, a.jobRoutes()...)
	routes = append(routes, a.auditChainRoutes()...)
	routes = append(routes, a.auditSettingsRoutes()...)
	routes = append(routes, a.listExportRoutes()...)
	routes = append(routes, a.changeRoutes()...)
	routes = append(routes, a.fullExportRoutes()...)
	return routes
}

func (a *API) coreRoutes() []Route {
	return []Route{
		{Method: "POST", Pattern: "/api/v1/auth/login", Public: true, handler: a.login},
		{Method: "POST", Pattern: "/api/v1/auth/logout", AllowExpired: true, handler: a.logout},
		{Method: "POST", Pattern: "/api/v1/auth/password", AllowExpired: true, handler: a.changePassword},
		{Method: "GET", Pattern: "/api/v1/me", handler: a.me},
		{Method: "GET", Pattern: "/api/v1/users", handler: a.listUsers},
		{Method: "POST", Pattern: "/api/v1/users", handler: a.createUser},
		{Method: "GET", Pattern: "/api/v1/users/{id}", handler: a.getUser},
		{Method: "PATCH", Pattern: "/api/v1/users/{id}", handler: a.updateUser},
		{Method: "POST", Pattern: "/api/v1/users/{id}/deactivate", handler: a.deactivateUser},
		{Method: "POST", Pattern: "/api/v1/users/{id}/reset-password", handler: a.resetPassword},
		{Method: "GET", Pattern: "/api/v1/objects", handler: a.listObjects},
		{Method: "GET", Pattern: "/api/v1/objects/{object}", handler: a.getObject},
		{Method: "POST", Pattern: "/api/v1/objects/{object}/fields", handler: a.createField},
		{Method: "GET", Pattern: "/api/v1/objects/{object}/records", handler: a.listRecords},
		{Method: "POST", Pattern: "/api/v1/objects/{object}/records", handler: a.createRecord},
		{Method: "GET", Pattern: "/api/v1/objects/{object}/records/{id}", handler: a.getRecord},
		{Method: "PATCH", Pattern: "/api/v1/objects/{object}/records/{id}", handler: a.updateRecord},
		{Method: "DELETE", Pattern: "/api/v1/objects/{object}/records/{id}", handler: a.deleteRecord},
		{Method: "GET", Pattern: "/api/v1/objects/{object}/records/{id}/history", handler: a.recordHistory},
		{Method: "GET", Pattern: "/api/v1/audit", handler: a.listAudit},
		{Method: "GET", Pattern: "/api/v1/openapi.json", Public: true, handler: a.openAPI},
		{Method: "GET", Pattern: "/healthz", Public: true, handler: a.healthz},
		{Method: "GET", Pattern: "/readyz", Public: true, handler: a.readyz},
	}
}

// Register adds every route to mux, plus a JSON 404/405 for the rest of
// /api/.
func (a *API) Register(mux *http.ServeMux) {
	for _, rt := range a.Routes() {
		mux.Handle(rt.Method+" "+rt.Pattern, a.wrap(rt))
	}
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		a.writeError(w, r, apperr.NotFound("endpoint"))
	})
}

func (a *API) wrap(rt Route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !cleanURL(r) {
			a.writeError(w, r, apperr.Invalid("the request URL holds characters that are not allowed"))
			return
		}
		if rt.Public {
			rt.handler(w, r, nil)
			return
		}
		token, ok := bearerToken(r)
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="haven"`)
			a.writeError(w, r, apperr.Unauthenticated())
			return
		}
		p, err := a.d.Identity.AuthenticateBearer(r.Context(), token, httpx.ClientIP(r), r.UserAgent(), httpx.RequestID(r.Context()))
		if err != nil {
			if apperr.Is(err, apperr.KindUnauthenticated) {
				w.Header().Set("WWW-Authenticate", `Bearer realm="haven", error="invalid_token"`)
			}
			a.writeError(w, r, err)
			return
		}
		if p.ReadOnly() && r.Method != http.MethodGet {
			a.writeError(w, r, apperr.Forbidden().WithDetail("reason", "this API token may only read"))
			return
		}
		if p.MustEnrolMFA && !rt.AllowUnenrolled && !rt.AllowExpired {
			a.writeError(w, r, apperr.MFAEnrolmentRequired())
			return
		}
		if p.MustChangePassword && !rt.AllowExpired {
			a.writeError(w, r, apperr.PasswordExpired())
			return
		}
		rt.handler(w, r, &p)
	})
}

func bearerToken(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != "" && len(token) < 512
}

// statusOf maps an error kind to an HTTP status.
func statusOf(e *apperr.Error) int {
	switch e.Kind {
	case apperr.KindInvalid:
		if e.Code == apperr.CodePasswordPolicy {
			return http.StatusUnprocessableEntity
		}
		return http.StatusBadRequest
	case apperr.KindNotFound:
		return http.StatusNotFound
	case apperr.KindConflict:
		return http.StatusConflict
	case apperr.KindUnauthenticated:
		return http.StatusUnauthorized
	case apperr.KindForbidden:
		return http.StatusForbidden
	case apperr.KindLocked:
		return http.StatusLocked
	case apperr.KindRateLimited:
		return http.StatusTooManyRequests
	case apperr.KindGone:
		return http.StatusGone
	}
	return http.StatusInternalServerError
}

// writeError answers with the error envelope. Errors that are not apperr
// are logged with the request ID and reported as a bare "internal".
func (a *API) writeError(w http.ResponseWriter, r *http.Request, err error) {
	WriteError(w, r, a.d.Log, err)
}

// WriteError writes err as the API's error envelope; shared with the
// operator API and the web UI's JSON endpoints.
func WriteError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	rid := httpx.RequestID(r.Context())
	e, ok := apperr.As(err)
	if !ok || e.Kind == apperr.KindInternal {
		if errors.Is(err, context.Canceled) {
			log.Info("request canceled", "request_id", rid)
		} else {
			log.Error("internal error", "request_id", rid, "err", err)
		}
		e = apperr.Internal(nil)
	}
	body := ErrorBody{Error: ErrorDTO{Code: e.Code, Message: e.Message, Details: e.Details}}
	if s, ok := e.Details["retry_after_seconds"]; ok && e.Kind == apperr.KindRateLimited && w.Header().Get("Retry-After") == "" {
		// API.md: every rate_limited answer says when to try again.
		w.Header().Set("Retry-After", fmt.Sprint(s))
	}
	if e.Kind == apperr.KindInternal {
		body.Error.RequestID = rid
	}
	writeJSON(w, statusOf(e), body)
}

// WriteJSON answers with v as JSON; the operator API answers with it too.
func WriteJSON(w http.ResponseWriter, status int, v any) { writeJSON(w, status, v) }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(true)
	_ = enc.Encode(v)
}

// decode reads a JSON body strictly within the API's size limit.
func (a *API) decode(w http.ResponseWriter, r *http.Request, dst any) error {
	return DecodeJSON(w, r, dst, a.d.MaxBodyBytes)
}

// DecodeJSON reads a JSON body strictly: the right content type, a size
// limit, no unknown or wrongly-cased fields, exactly one value. The
// operator API decodes with it too.
func DecodeJSON(w http.ResponseWriter, r *http.Request, dst any, limit int64) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return apperr.Invalid("the request body must be application/json")
		}
	}
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		return decodeErr(err, limit)
	}
	if err := exactKeys(raw, dst); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return decodeErr(err, limit)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return apperr.Invalid("the request body must hold a single JSON object")
	}
	return nil
}

func decodeErr(err error, limit int64) error {
	var maxErr *http.MaxBytesError
	var syntax *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &maxErr):
		return apperr.Invalid("the request body exceeds %d bytes", limit)
	case errors.Is(err, io.EOF):
		return apperr.Invalid("the request body is empty")
	case errors.As(err, &syntax):
		return apperr.Invalid("malformed JSON at byte %d", syntax.Offset)
	case errors.As(err, &typeErr):
		return apperr.Invalid("field %q has the wrong type (want %s)", typeErr.Field, typeErr.Type.String())
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return apperr.Invalid("unknown field %s", strings.TrimPrefix(err.Error(), "json: unknown field "))
	}
	return apperr.Invalid("malformed JSON")
}

func intParam(r *http.Request, name string, def, min, max int) (int, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < min || n > max {
		return 0, apperr.Invalid("%s must be a whole number between %d and %d", name, min, max)
	}
	return n, nil
}

func timeParam(r *http.Request, name string) (time.Time, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, apperr.Invalid("%s must be an RFC 3339 time like 2026-01-31T00:00:00Z", name)
	}
	return t, nil
}

func seqCursor(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, apperr.Invalid("invalid cursor")
	}
	return n, nil
}

func seqNext(n int64) string {
	if n == 0 {
		return ""
	}
	return strconv.FormatInt(n, 10)
}

// cleanURL reports whether the path and every query key and value are
// valid UTF-8 without control characters (PostgreSQL refuses NUL and
// invalid UTF-8 in text parameters).
func cleanURL(r *http.Request) bool {
	ok := func(s string) bool { return utf8.ValidString(s) && !strings.ContainsFunc(s, unicode.IsControl) }
	if !ok(r.URL.Path) {
		return false
	}
	for k, vs := range r.URL.Query() {
		if !ok(k) {
			return false
		}
		for _, v := range vs {
			if !ok(v) {
				return false
			}
		}
	}
	return true
}

// jsonNames adds the JSON names of t's fields to known, including those
// of embedded structs, which encoding/json flattens.
func jsonNames(t reflect.Type, known map[string]bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			jsonNames(f.Type, known)
			continue
		}
		known[name] = true
	}
}

// exactKeys refuses top-level keys that match a field of dst only
// case-insensitively, which encoding/json would otherwise accept.
func exactKeys(raw []byte, dst any) error {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return nil // the strict decode reports it
	}
	t := reflect.TypeOf(dst)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	known := map[string]bool{}
	jsonNames(t, known)
	for k := range m {
		if !known[k] {
			return apperr.Invalid("unknown field %q", k)
		}
	}
	return nil
}
