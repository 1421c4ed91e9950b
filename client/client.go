// Package client is the Go client of Haven's tenant REST API (/api/v1).
//
// It speaks the wire types of package api and reports every non-2xx answer
// as an *Error carrying the stable error code of the contract:
//
//	c := client.New("https://crm.example.com")
//	if _, err := c.Login(ctx, api.LoginRequest{Tenant: "demo", Login: "admin@example.com", Password: pw}); err != nil {
//		if client.IsCode(err, "invalid_credentials") { ... }
//	}
//	for rec, err := range c.AllRecords(ctx, "account", client.ListOptions{Sort: "name"}) { ... }
//
// A Client is safe for concurrent use. The bearer token is never written to
// logs or error strings.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"mime"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/havencrm/haven/api"
)

// DefaultUserAgent is sent unless WithUserAgent overrides it.
const DefaultUserAgent = "haven-client/1"

// maxErrorBody bounds how much of an error response is read.
const maxErrorBody = 1 << 20

// Client calls the Haven API of one server.
type Client struct {
	baseURL   string
	hc        *http.Client
	userAgent string

	mu    sync.RWMutex
	token string
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sets the HTTP client used for requests (default
// http.DefaultClient).
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) {
		if hc != nil {
			c.hc = hc
		}
	}
}

// WithToken sets the bearer token (a session or API token).
func WithToken(token string) Option {
	return func(c *Client) { c.token = token }
}

// WithUserAgent sets the User-Agent header.
func WithUserAgent(ua string) Option {
	return func(c *Client) { c.userAgent = ua }
}

// New returns a client of the server at baseURL, e.g.
// "http://127.0.0.1:8080"; a trailing slash is ignored.
func New(baseURL string, opts ...Option) *Client {
	c := &Client{
		baseURL:   strings.TrimRight(baseURL, "/"),
		hc:        http.DefaultClient,
		userAgent: DefaultUserAgent,
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

// SetToken replaces the bearer token; "" sends no Authorization header.
func (c *Client) SetToken(token string) {
	c.mu.Lock()
	c.token = token
	c.mu.Unlock()
}

// Token returns the current bearer token.
func (c *Client) Token() string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.token
}

// Error is a non-2xx answer of the server.
type Error struct {
	StatusCode int
	// Code is the contract's error code (e.g. "not_found"), or
	// "http_<status>" when the body is not an error envelope.
	Code      string
	Message   string
	Details   map[string]any
	RequestID string
	// RetryAfter is the Retry-After delay (rate_limited), 0 if absent.
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "haven: %d %s", e.StatusCode, e.Code)
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.RequestID != "" {
		b.WriteString(" (request_id ")
		b.WriteString(e.RequestID)
		b.WriteString(")")
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " (retry after %s)", e.RetryAfter)
	}
	return b.String()
}

// IsCode reports whether err is (or wraps) an *Error with the given code.
func IsCode(err error, code string) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}

// ListOptions selects a page of a list. Zero values are omitted.
type ListOptions struct {
	Limit  int
	Cursor string
	// Sort is a field name or created_at, updated_at, name; prefix "-"
	// for descending.
	Sort string
	// Q searches record names.
	Q string
	// Filter holds equality filters, sent as filter[FIELD]=VALUE.
	Filter map[string]string
}

func (o ListOptions) values() url.Values {
	v := url.Values{}
	if o.Limit > 0 {
		v.Set("limit", strconv.Itoa(o.Limit))
	}
	if o.Cursor != "" {
		v.Set("cursor", o.Cursor)
	}
	if o.Sort != "" {
		v.Set("sort", o.Sort)
	}
	if o.Q != "" {
		v.Set("q", o.Q)
	}
	for field, value := range o.Filter {
		v.Set("filter["+field+"]", value)
	}
	return v
}

// AuditQuery filters the audit log. Zero values are omitted.
type AuditQuery struct {
	From, To time.Time
	// Actor is a user ID.
	Actor  string
	Action string
	// Object is an object type, e.g. "account".
	Object   string
	ObjectID string
	Cursor   string
	Limit    int
}

func (q AuditQuery) values() url.Values {
	v := url.Values{}
	set := func(k, s string) {
		if s != "" {
			v.Set(k, s)
		}
	}
	if !q.From.IsZero() {
		v.Set("from", q.From.UTC().Format(time.RFC3339))
	}
	if !q.To.IsZero() {
		v.Set("to", q.To.UTC().Format(time.RFC3339))
	}
	set("actor", q.Actor)
	set("action", q.Action)
	set("object", q.Object)
	set("object_id", q.ObjectID)
	set("cursor", q.Cursor)
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	return v
}

// RecordInput is a new record: its field values and, optionally, its owner
// (default: the caller).
type RecordInput struct {
	OwnerID string
	Fields  map[string]any
}

// --- auth

// Login starts a session and, on success, uses its token for later calls.
// When the response has MustChangePassword set, every call but
// ChangePassword and Logout answers password_expired until the password is
// changed.
func (c *Client) Login(ctx context.Context, req api.LoginRequest) (*api.LoginResponse, error) {
	var out api.LoginResponse
	if err := c.do(ctx, http.MethodPost, "/api/v1/auth/login", nil, req, &out); err != nil {
		return nil, err
	}
	c.SetToken(out.Token)
	return &out, nil
}

// Logout ends the session and, on success, forgets the token.
func (c *Client) Logout(ctx context.Context) error {
	if err := c.do(ctx, http.MethodPost, "/api/v1/auth/logout", nil, nil, nil); err != nil {
		return err
	}
	c.SetToken("")
	return nil
}

// ChangePassword changes the caller's password.
func (c *Client) ChangePassword(ctx context.Context, current, newPassword string) error {
	req := api.ChangePasswordRequest{CurrentPassword: current, NewPassword: newPassword}
	return c.do(ctx, http.MethodPost, "/api/v1/auth/password", nil, req, nil)
}

// Me returns the caller, its tenant and its permissions.
func (c *Client) Me(ctx context.Context) (*api.MeResponse, error) {
	var out api.MeResponse
	return ptr(&out, c.do(ctx, http.MethodGet, "/api/v1/me", nil, nil, &out))
}

// --- users

// ListUsers returns a page of users (Limit and Cursor apply).
func (c *Client) ListUsers(ctx context.Context, opts ListOptions) (*api.UserList, error) {
	var out api.UserList
	return ptr(&out, c.do(ctx, http.MethodGet, "/api/v1/users", opts.values(), nil, &out))
}

// CreateUser creates a user; the response holds its one-time password.
func (c *Client) CreateUser(ctx context.Context, req api.CreateUserRequest) (*api.CreateUserResponse, error) {
	var out api.CreateUserResponse
	return ptr(&out, c.do(ctx, http.MethodPost, "/api/v1/users", nil, req, &out))
}

// GetUser returns one user.
func (c *Client) GetUser(ctx context.Context, id string) (*api.UserDTO, error) {
	var out api.UserDTO
	return ptr(&out, c.do(ctx, http.MethodGet, joinPath("api", "v1", "users", id), nil, nil, &out))
}

// UpdateUser changes the non-nil fields of req.
func (c *Client) UpdateUser(ctx context.Context, id string, req api.UpdateUserRequest) (*api.UserDTO, error) {
	var out api.UserDTO
	return ptr(&out, c.do(ctx, http.MethodPatch, joinPath("api", "v1", "users", id), nil, req, &out))
}

// DeactivateUser deactivates a user.
func (c *Client) DeactivateUser(ctx context.Context, id string) (*api.UserDTO, error) {
	var out api.UserDTO
	return ptr(&out, c.do(ctx, http.MethodPost, joinPath("api", "v1", "users", id, "deactivate"), nil, nil, &out))
}

// ResetPassword gives a user a new one-time password.
func (c *Client) ResetPassword(ctx context.Context, id string) (*api.ResetPasswordResponse, error) {
	var out api.ResetPasswordResponse
	return ptr(&out, c.do(ctx, http.MethodPost, joinPath("api", "v1", "users", id, "reset-password"), nil, nil, &out))
}

// --- objects

// ListObjects returns the objects the caller may see.
func (c *Client) ListObjects(ctx context.Context) (*api.ObjectList, error) {
	var out api.ObjectList
	return ptr(&out, c.do(ctx, http.MethodGet, "/api/v1/objects", nil, nil, &out))
}

// GetObject describes one object and its fields.
func (c *Client) GetObject(ctx context.Context, object string) (*api.ObjectDTO, error) {
	var out api.ObjectDTO
	return ptr(&out, c.do(ctx, http.MethodGet, joinPath("api", "v1", "objects", object), nil, nil, &out))
}

// CreateField adds a custom field to an object.
func (c *Client) CreateField(ctx context.Context, object string, req api.CreateFieldRequest) (*api.FieldDTO, error) {
	var out api.FieldDTO
	return ptr(&out, c.do(ctx, http.MethodPost, joinPath("api", "v1", "objects", object, "fields"), nil, req, &out))
}

// --- records

// ListRecords returns a page of an object's records.
func (c *Client) ListRecords(ctx context.Context, object string, opts ListOptions) (*api.RecordList, error) {
	var out api.RecordList
	return ptr(&out, c.do(ctx, http.MethodGet, joinPath("api", "v1", "objects", object, "records"), opts.values(), nil, &out))
}

// AllRecords iterates over every record matching opts, following
// next_cursor from page to page (opts.Cursor is the starting point). After
// an error it yields the error once and stops.
func (c *Client) AllRecords(ctx context.Context, object string, opts ListOptions) iter.Seq2[api.RecordDTO, error] {
	return func(yield func(api.RecordDTO, error) bool) {
		seen := map[string]bool{}
		for {
			page, err := c.ListRecords(ctx, object, opts)
			if err != nil {
				yield(api.RecordDTO{}, err)
				return
			}
			for _, r := range page.Items {
				if !yield(r, nil) {
					return
				}
			}
			if page.NextCursor == "" {
				return
			}
			if seen[page.NextCursor] {
				yield(api.RecordDTO{}, fmt.Errorf("haven: list %s records: server repeated a cursor", object))
				return
			}
			seen[page.NextCursor] = true
			opts.Cursor = page.NextCursor
		}
	}
}

// CreateRecord creates a record.
func (c *Client) CreateRecord(ctx context.Context, object string, req RecordInput) (*api.RecordDTO, error) {
	fields, err := rawFields(req.Fields)
	if err != nil {
		return nil, err
	}
	body := api.CreateRecordRequest{OwnerID: req.OwnerID, Fields: fields}
	var out api.RecordDTO
	return ptr(&out, c.do(ctx, http.MethodPost, joinPath("api", "v1", "objects", object, "records"), nil, body, &out))
}

// GetRecord returns one record.
func (c *Client) GetRecord(ctx context.Context, object, id string) (*api.RecordDTO, error) {
	var out api.RecordDTO
	return ptr(&out, c.do(ctx, http.MethodGet, joinPath("api", "v1", "objects", object, "records", id), nil, nil, &out))
}

// UpdateRecord changes the given fields of a record whose current version
// is version (otherwise the server answers conflict). A nil value clears
// the field.
func (c *Client) UpdateRecord(ctx context.Context, object, id string, version int64, fields map[string]any) (*api.RecordDTO, error) {
	raw, err := rawFields(fields)
	if err != nil {
		return nil, err
	}
	body := api.UpdateRecordRequest{Version: version, Fields: raw}
	var out api.RecordDTO
	return ptr(&out, c.do(ctx, http.MethodPatch, joinPath("api", "v1", "objects", object, "records", id), nil, body, &out))
}

// DeleteRecord deletes a record; a non-zero version must equal the
// record's current version.
func (c *Client) DeleteRecord(ctx context.Context, object, id string, version int64) error {
	var q url.Values
	if version != 0 {
		q = url.Values{"version": {strconv.FormatInt(version, 10)}}
	}
	return c.do(ctx, http.MethodDelete, joinPath("api", "v1", "objects", object, "records", id), q, nil, nil)
}

// RecordHistory returns the audit events of one record.
func (c *Client) RecordHistory(ctx context.Context, object, id string) (*api.AuditList, error) {
	var out api.AuditList
	return ptr(&out, c.do(ctx, http.MethodGet, joinPath("api", "v1", "objects", object, "records", id, "history"), nil, nil, &out))
}

// --- audit and meta

// ListAudit searches the tenant's audit log.
func (c *Client) ListAudit(ctx context.Context, q AuditQuery) (*api.AuditList, error) {
	var out api.AuditList
	return ptr(&out, c.do(ctx, http.MethodGet, "/api/v1/audit", q.values(), nil, &out))
}

// OpenAPI returns the server's OpenAPI document as sent.
func (c *Client) OpenAPI(ctx context.Context) ([]byte, error) {
	var out []byte
	if err := c.do(ctx, http.MethodGet, "/api/v1/openapi.json", nil, nil, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// Health checks /healthz; nil means the server is alive.
func (c *Client) Health(ctx context.Context) error {
	var out struct {
		Status string `json:"status"`
	}
	if err := c.do(ctx, http.MethodGet, "/healthz", nil, nil, &out); err != nil {
		return err
	}
	if out.Status != "ok" {
		return fmt.Errorf("haven: health status %q", out.Status)
	}
	return nil
}

// --- plumbing

func ptr[T any](v *T, err error) (*T, error) {
	if err != nil {
		return nil, err
	}
	return v, nil
}

// joinPath builds "/seg/seg/..." escaping each segment, so an ID holding
// "/" or "?" stays one segment.
func joinPath(segs ...string) string {
	var b strings.Builder
	for _, s := range segs {
		b.WriteByte('/')
		b.WriteString(url.PathEscape(s))
	}
	return b.String()
}

func rawFields(fields map[string]any) (map[string]json.RawMessage, error) {
	out := make(map[string]json.RawMessage, len(fields))
	for k, v := range fields {
		b, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("haven: field %q: %w", k, err)
		}
		out[k] = b
	}
	return out, nil
}

// encodeQuery encodes v with keys sorted, so the URL is deterministic.
func encodeQuery(v url.Values) string {
	if len(v) == 0 {
		return ""
	}
	keys := make([]string, 0, len(v))
	for k := range v {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		for _, val := range v[k] {
			if b.Len() > 0 {
				b.WriteByte('&')
			}
			b.WriteString(url.QueryEscape(k))
			b.WriteByte('=')
			b.WriteString(url.QueryEscape(val))
		}
	}
	return b.String()
}

// do sends one request. in, if non-nil, is sent as JSON; out, if non-nil,
// receives the JSON answer (or the raw body when out is *[]byte).
func (c *Client) do(ctx context.Context, method, path string, query url.Values, in, out any) error {
	u := c.baseURL + path
	if qs := encodeQuery(query); qs != "" {
		u += "?" + qs
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("haven: %s %s: encode request: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return fmt.Errorf("haven: %s %s: %w", method, path, err)
	}
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.userAgent != "" {
		req.Header.Set("User-Agent", c.userAgent)
	}
	token := c.Token()
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}

	resp, err := c.hc.Do(req)
	if err != nil {
		// *url.Error names the URL, which never holds the token.
		return fmt.Errorf("haven: %s %s: %w", method, path, err)
	}
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
		resp.Body.Close()
	}()

	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return parseError(resp, token)
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		return nil
	}
	if raw, ok := out.(*[]byte); ok {
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return fmt.Errorf("haven: %s %s: read response: %w", method, path, err)
		}
		*raw = b
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("haven: %s %s: decode response: %w", method, path, err)
	}
	return nil
}

// parseError turns a non-2xx response into an *Error, scrubbing the token
// from anything the server may have echoed.
func parseError(resp *http.Response, token string) *Error {
	e := &Error{StatusCode: resp.StatusCode, RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"))}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	var env api.ErrorBody
	if json.Unmarshal(b, &env) == nil && env.Error.Code != "" {
		e.Code = env.Error.Code
		e.Message = env.Error.Message
		e.Details = env.Error.Details
		e.RequestID = env.Error.RequestID
	} else {
		e.Code = "http_" + strconv.Itoa(resp.StatusCode)
		e.Message = http.StatusText(resp.StatusCode)
		if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt == "text/plain" {
			if line := firstLine(b); line != "" {
				e.Message = line
			}
		}
	}
	if e.RequestID == "" {
		e.RequestID = resp.Header.Get("X-Request-ID")
	}
	e.Message = scrub(e.Message, token)
	e.RequestID = scrub(e.RequestID, token)
	return e
}

func firstLine(b []byte) string {
	s := strings.TrimSpace(string(b))
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i]
	}
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return strings.ToValidUTF8(s, "?")
}

// minScrubLen is the shortest token removed wherever it appears; a shorter
// one is removed only after "Bearer ", so that scrubbing cannot mangle
// ordinary words.
const minScrubLen = 8

func scrub(s, token string) string {
	if token == "" {
		return s
	}
	s = strings.ReplaceAll(s, "Bearer "+token, "Bearer [REDACTED]")
	if len(token) >= minScrubLen {
		s = strings.ReplaceAll(s, token, "[REDACTED]")
	}
	return s
}

// parseRetryAfter reads delay-seconds or an HTTP date.
func parseRetryAfter(v string) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil {
		if n < 0 {
			return 0
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d.Round(time.Second)
		}
	}
	return 0
}
