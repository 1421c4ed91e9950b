// Package e2e drives the real Haven server end to end, through the public
// Go client (and raw HTTP where the client cannot express an attack), on
// SQLite and on PostgreSQL.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/havencrm/haven/api"
	"github.com/havencrm/haven/client"
	"github.com/havencrm/haven/internal/testserver"
)

// password is what every test user ends up with.
const password = testserver.AdminPassword

// eachEngine runs fn on a fresh server of each engine; the subtests of fn
// share that server and isolate their data by tenant.
func eachEngine(t *testing.T, fn func(t *testing.T, srv *testserver.Server)) {
	t.Helper()
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			srv := testserver.Start(t, engine)
			// Runs before the server's shutdown: a connection the client
			// dialed but never used counts as active for up to 5 s and
			// would make the graceful shutdown time out.
			t.Cleanup(func() { http.DefaultClient.CloseIdleConnections() })
			fn(t, srv)
		})
	}
}

// wantErr asserts err is a client error with the given status and code.
func wantErr(t *testing.T, err error, status int, code string) *client.Error {
	t.Helper()
	var e *client.Error
	if !errors.As(err, &e) {
		t.Fatalf("want %d %s, got %v", status, code, err)
	}
	if e.StatusCode != status || e.Code != code {
		t.Fatalf("want %d %s, got %d %s (%s)", status, code, e.StatusCode, e.Code, e.Message)
	}
	return e
}

// checkErr is wantErr that reports with Errorf, for loops over cases.
func checkErr(t *testing.T, what string, err error, status int, code string) *client.Error {
	t.Helper()
	var e *client.Error
	if !errors.As(err, &e) {
		t.Errorf("%s: want %d %s, got %v", what, status, code, err)
		return nil
	}
	if e.StatusCode != status || e.Code != code {
		t.Errorf("%s: want %d %s, got %d %s (%s)", what, status, code, e.StatusCode, e.Code, e.Message)
	}
	return e
}

// badFields returns error.details.fields of a validation error.
func badFields(t *testing.T, err error) map[string]any {
	t.Helper()
	e := wantErr(t, err, http.StatusBadRequest, "invalid_request")
	f, ok := e.Details["fields"].(map[string]any)
	if !ok {
		t.Fatalf("no details.fields in %+v", e)
	}
	return f
}

func must[T any](t *testing.T) func(v T, err error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func noErr(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// create makes a record or fails the test.
func create(t *testing.T, c *client.Client, object string, fields map[string]any) *api.RecordDTO {
	t.Helper()
	rec, err := c.CreateRecord(context.Background(), object, client.RecordInput{Fields: fields})
	if err != nil {
		t.Fatalf("create %s %v: %v", object, fields, err)
	}
	return rec
}

// login signs in with the given options (e.g. a user agent).
func login(t *testing.T, srv *testserver.Server, slug, login, pw string, opts ...client.Option) *client.Client {
	t.Helper()
	c := client.New(srv.URL, opts...)
	if _, err := c.Login(context.Background(), api.LoginRequest{Tenant: slug, Login: login, Password: pw}); err != nil {
		t.Fatalf("login %s/%s: %v", slug, login, err)
	}
	return c
}

// withToken is a new client of srv using token.
func withToken(srv *testserver.Server, token string, opts ...client.Option) *client.Client {
	return client.New(srv.URL, append([]client.Option{client.WithToken(token)}, opts...)...)
}

// allRecords lists every record of object visible to c, following cursors.
func allRecords(t *testing.T, c *client.Client, object string, opts client.ListOptions) []api.RecordDTO {
	t.Helper()
	var out []api.RecordDTO
	for r, err := range c.AllRecords(context.Background(), object, opts) {
		if err != nil {
			t.Fatalf("list %s: %v", object, err)
		}
		out = append(out, r)
	}
	return out
}

func ids(recs []api.RecordDTO) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.ID
	}
	return out
}

func sortedIDs(recs []api.RecordDTO) []string {
	out := ids(recs)
	sort.Strings(out)
	return out
}

// allAudit pages through the whole audit log matching q.
func allAudit(t *testing.T, c *client.Client, q client.AuditQuery) []api.AuditEventDTO {
	t.Helper()
	var out []api.AuditEventDTO
	seen := map[string]bool{}
	for {
		page, err := c.ListAudit(context.Background(), q)
		if err != nil {
			t.Fatalf("audit %+v: %v", q, err)
		}
		out = append(out, page.Items...)
		if page.NextCursor == "" {
			return out
		}
		if seen[page.NextCursor] {
			t.Fatalf("audit cursor %s repeated", page.NextCursor)
		}
		seen[page.NextCursor] = true
		q.Cursor = page.NextCursor
	}
}

// rawResp is a response read in full.
type rawResp struct {
	Status int
	Header http.Header
	Body   []byte
}

// rawReq describes a request sent without the client.
type rawReq struct {
	Method      string
	Path        string // with query
	Token       string
	Auth        string // full Authorization header; overrides Token
	ContentType string
	Body        []byte
	Header      map[string]string
}

func do(t *testing.T, srv *testserver.Server, r rawReq) rawResp {
	t.Helper()
	var body io.Reader
	if r.Body != nil {
		body = bytes.NewReader(r.Body)
	}
	req, err := http.NewRequestWithContext(context.Background(), r.Method, srv.URL+r.Path, body)
	if err != nil {
		t.Fatal(err)
	}
	if r.ContentType != "" {
		req.Header.Set("Content-Type", r.ContentType)
	}
	switch {
	case r.Auth != "":
		req.Header.Set("Authorization", r.Auth)
	case r.Token != "":
		req.Header.Set("Authorization", "Bearer "+r.Token)
	}
	for k, v := range r.Header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", r.Method, r.Path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read: %v", r.Method, r.Path, err)
	}
	return rawResp{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// errorEnvelope parses an error body strictly: only {"error": {code,
// message, details?, request_id?}}.
func errorEnvelope(t *testing.T, what string, r rawResp) api.ErrorDTO {
	t.Helper()
	var top map[string]json.RawMessage
	if err := json.Unmarshal(r.Body, &top); err != nil {
		t.Errorf("%s: body is not a JSON object: %q", what, r.Body)
		return api.ErrorDTO{}
	}
	if len(top) != 1 || top["error"] == nil {
		t.Errorf("%s: top-level keys must be exactly [error]: %s", what, r.Body)
	}
	var inner map[string]json.RawMessage
	if err := json.Unmarshal(top["error"], &inner); err != nil {
		t.Errorf("%s: error is not an object: %s", what, r.Body)
		return api.ErrorDTO{}
	}
	for k := range inner {
		if !slices.Contains([]string{"code", "message", "details", "request_id"}, k) {
			t.Errorf("%s: unexpected key %q in error: %s", what, k, r.Body)
		}
	}
	var e api.ErrorDTO
	dec := json.NewDecoder(bytes.NewReader(top["error"]))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		t.Errorf("%s: %v in %s", what, err, r.Body)
	}
	if e.Code == "" || e.Message == "" {
		t.Errorf("%s: error without code or message: %s", what, r.Body)
	}
	if e.RequestID != "" && e.Code != "internal" {
		t.Errorf("%s: request_id only belongs to internal errors: %s", what, r.Body)
	}
	if e.Code == "internal" && (e.RequestID == "" || e.Message != "internal error" || e.Details != nil) {
		t.Errorf("%s: internal errors carry only a generic message and a request ID: %s", what, r.Body)
	}
	if mt := r.Header.Get("Content-Type"); !strings.HasPrefix(mt, "application/json") {
		t.Errorf("%s: error content type %q", what, mt)
	}
	noInternals(t, what, r.Body)
	return e
}

// leakMarkers are strings that betray implementation details.
var leakMarkers = []string{"sqlite", "pgx", "pgconn", "sqlstate", "postgres", "database/sql", "sql:", "pq:", "json_extract",
	".go:", "goroutine", "panic", "runtime.", "/tmp/", "/work/", "haven.db", "constraint", "violates", "syntax error at",
	"duplicate key", "no rows", "select ", "insert into", "update records", "where tenant_id", "stack"}

func noInternals(t *testing.T, what string, body []byte) {
	t.Helper()
	low := strings.ToLower(string(body))
	for _, m := range leakMarkers {
		if strings.Contains(low, m) {
			t.Errorf("%s: response leaks %q: %s", what, m, body)
		}
	}
}

// wantRaw asserts a raw response's status and error code.
func wantRaw(t *testing.T, what string, r rawResp, status int, code string) api.ErrorDTO {
	t.Helper()
	if r.Status != status {
		t.Errorf("%s: status %d, want %d: %s", what, r.Status, status, bytes.TrimSpace(r.Body))
		if r.Status < 400 {
			return api.ErrorDTO{}
		}
	}
	e := errorEnvelope(t, what, r)
	if e.Code != code {
		t.Errorf("%s: code %q, want %q: %s", what, e.Code, code, r.Body)
	}
	return e
}

func jsonBody(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// parallel runs fns at once, released together, and waits for them.
func parallel(fns ...func()) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for _, fn := range fns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			fn()
		}()
	}
	close(start)
	wg.Wait()
}

func recordNames(recs []api.RecordDTO) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.Name
	}
	return out
}

func userIDs(users []api.UserDTO) []string {
	out := make([]string, len(users))
	for i, u := range users {
		out[i] = u.ID
	}
	return out
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// sameRecord reports how two representations of a record differ.
func sameRecord(t *testing.T, what string, got, want *api.RecordDTO) {
	t.Helper()
	if got.ID != want.ID || got.Object != want.Object || got.Version != want.Version || got.OwnerID != want.OwnerID || got.Name != want.Name {
		t.Errorf("%s: identity differs: %s/%s v%d owner %s %q vs %s/%s v%d owner %s %q", what,
			got.Object, got.ID, got.Version, got.OwnerID, got.Name, want.Object, want.ID, want.Version, want.OwnerID, want.Name)
	}
	if !reflect.DeepEqual(got.Fields, want.Fields) {
		t.Errorf("%s: fields differ: %s vs %s", what, jsonString(got.Fields), jsonString(want.Fields))
	}
	if !got.CreatedAt.Equal(want.CreatedAt) || !got.UpdatedAt.Equal(want.UpdatedAt) {
		t.Errorf("%s: timestamps differ: created %s vs %s, updated %s vs %s", what,
			got.CreatedAt.Format(time.RFC3339Nano), want.CreatedAt.Format(time.RFC3339Nano),
			got.UpdatedAt.Format(time.RFC3339Nano), want.UpdatedAt.Format(time.RFC3339Nano))
	}
}
