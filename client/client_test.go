package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/havencrm/haven/api"
)

// recorder is a test server that records requests and answers with handle.
type recorder struct {
	mu   sync.Mutex
	reqs []*http.Request
	body [][]byte
}

func (rec *recorder) last(t *testing.T) (*http.Request, []byte) {
	t.Helper()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.reqs) == 0 {
		t.Fatal("no request received")
	}
	return rec.reqs[len(rec.reqs)-1], rec.body[len(rec.body)-1]
}

func (rec *recorder) count() int {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return len(rec.reqs)
}

func newServer(t *testing.T, handle http.HandlerFunc) (*recorder, *httptest.Server) {
	t.Helper()
	rec := &recorder{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rec.mu.Lock()
		rec.reqs = append(rec.reqs, r)
		rec.body = append(rec.body, b)
		rec.mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(b))
		handle(w, r)
	}))
	t.Cleanup(srv.Close)
	return rec, srv
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, api.ErrorBody{Error: api.ErrorDTO{Code: code, Message: msg}})
}

func TestListRecordsQueryEncoding(t *testing.T) {
	rec, srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, api.RecordList{Items: []api.RecordDTO{{ID: "r1", Object: "account"}}, NextCursor: "next"})
	})
	c := New(srv.URL + "/")
	got, err := c.ListRecords(context.Background(), "my obj/x", ListOptions{
		Limit:  25,
		Cursor: "c/1+2",
		Sort:   "-name",
		Q:      "acme & co",
		Filter: map[string]string{
			"industry": "Retail & Co",
			"city":     "São Paulo",
			"a]b=c":    "x=y#z",
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Items) != 1 || got.Items[0].ID != "r1" || got.NextCursor != "next" {
		t.Fatalf("decoded %+v", got)
	}
	r, _ := rec.last(t)
	if r.Method != http.MethodGet {
		t.Errorf("method %s", r.Method)
	}
	if p := r.URL.EscapedPath(); p != "/api/v1/objects/my%20obj%2Fx/records" {
		t.Errorf("escaped path %q", p)
	}
	wantRaw := "cursor=c%2F1%2B2" +
		"&filter%5Ba%5Db%3Dc%5D=x%3Dy%23z" +
		"&filter%5Bcity%5D=S%C3%A3o+Paulo" +
		"&filter%5Bindustry%5D=Retail+%26+Co" +
		"&limit=25&q=acme+%26+co&sort=-name"
	if r.URL.RawQuery != wantRaw {
		t.Errorf("raw query\n got %s\nwant %s", r.URL.RawQuery, wantRaw)
	}
	q := r.URL.Query()
	want := map[string]string{
		"limit": "25", "cursor": "c/1+2", "sort": "-name", "q": "acme & co",
		"filter[industry]": "Retail & Co", "filter[city]": "São Paulo", "filter[a]b=c]": "x=y#z",
	}
	if len(q) != len(want) {
		t.Errorf("query has %d keys, want %d: %v", len(q), len(want), q)
	}
	for k, v := range want {
		if q.Get(k) != v {
			t.Errorf("query %s = %q, want %q", k, q.Get(k), v)
		}
	}
}

func TestListOptionsZeroValuesOmitted(t *testing.T) {
	rec, srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, api.UserList{Items: []api.UserDTO{}})
	})
	if _, err := New(srv.URL).ListUsers(context.Background(), ListOptions{}); err != nil {
		t.Fatal(err)
	}
	r, _ := rec.last(t)
	if r.URL.Path != "/api/v1/users" || r.URL.RawQuery != "" {
		t.Errorf("got %s?%s", r.URL.Path, r.URL.RawQuery)
	}
}

func TestAuditQueryEncoding(t *testing.T) {
	rec, srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, api.AuditList{Items: []api.AuditEventDTO{{Seq: 7, Action: "record.update"}}})
	})
	cst := time.FixedZone("CST", 8*3600)
	got, err := New(srv.URL).ListAudit(context.Background(), AuditQuery{
		From:   time.Date(2025, 3, 1, 8, 0, 0, 0, cst),
		Actor:  "u1",
		Object: "account",
		Limit:  10,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Items) != 1 || got.Items[0].Seq != 7 {
		t.Fatalf("decoded %+v", got)
	}
	r, _ := rec.last(t)
	if r.URL.Path != "/api/v1/audit" {
		t.Errorf("path %s", r.URL.Path)
	}
	want := "actor=u1&from=2025-03-01T00%3A00%3A00Z&limit=10&object=account"
	if r.URL.RawQuery != want {
		t.Errorf("query %s, want %s", r.URL.RawQuery, want)
	}
}

func TestHeadersAndBearerToken(t *testing.T) {
	rec, srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 201, api.RecordDTO{ID: "r9", Object: "lead", Version: 1})
	})
	c := New(srv.URL, WithToken("tok-123"), WithUserAgent("mirror/2"))
	got, err := c.CreateRecord(context.Background(), "lead", RecordInput{
		OwnerID: "u7",
		Fields:  map[string]any{"last_name": "Li", "score": 42, "tags": []string{"a"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != "r9" || got.Version != 1 {
		t.Errorf("decoded %+v", got)
	}
	r, body := rec.last(t)
	if r.Method != http.MethodPost || r.URL.Path != "/api/v1/objects/lead/records" {
		t.Errorf("%s %s", r.Method, r.URL.Path)
	}
	for h, want := range map[string]string{
		"Authorization": "Bearer tok-123",
		"Accept":        "application/json",
		"Content-Type":  "application/json",
		"User-Agent":    "mirror/2",
	} {
		if g := r.Header.Get(h); g != want {
			t.Errorf("header %s = %q, want %q", h, g, want)
		}
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	var req api.CreateRecordRequest
	if err := dec.Decode(&req); err != nil {
		t.Fatalf("body %s: %v", body, err)
	}
	if req.OwnerID != "u7" || string(req.Fields["last_name"]) != `"Li"` ||
		string(req.Fields["score"]) != `42` || string(req.Fields["tags"]) != `["a"]` {
		t.Errorf("body %s", body)
	}
}

func TestNoTokenNoAuthorizationHeader(t *testing.T) {
	rec, srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]string{"status": "ok"})
	})
	c := New(srv.URL)
	if err := c.Health(context.Background()); err != nil {
		t.Fatal(err)
	}
	r, body := rec.last(t)
	if _, ok := r.Header["Authorization"]; ok {
		t.Errorf("unexpected Authorization header %q", r.Header.Get("Authorization"))
	}
	if r.Header.Get("Content-Type") != "" || len(body) != 0 {
		t.Errorf("GET sent a body: %q %q", r.Header.Get("Content-Type"), body)
	}
	if r.URL.Path != "/healthz" || r.Header.Get("User-Agent") != DefaultUserAgent {
		t.Errorf("path %s ua %s", r.URL.Path, r.Header.Get("User-Agent"))
	}
}

func TestLoginStoresTokenAndLogoutForgetsIt(t *testing.T) {
	_, srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/v1/auth/login":
			var req api.LoginRequest
			_ = json.NewDecoder(r.Body).Decode(&req)
			if req.Password != "right" {
				writeError(w, 401, "invalid_credentials", "invalid credentials")
				return
			}
			writeJSON(w, 200, api.LoginResponse{Token: "sess-1", MustChangePassword: true, User: api.UserDTO{ID: "u1"}})
		case "/api/v1/me":
			if r.Header.Get("Authorization") != "Bearer sess-1" {
				writeError(w, 401, "unauthenticated", "no")
				return
			}
			writeJSON(w, 200, api.MeResponse{User: api.UserDTO{ID: "u1"}, Tenant: api.TenantDTO{Slug: "demo"}})
		case "/api/v1/auth/logout":
			w.WriteHeader(http.StatusNoContent)
		default:
			http.NotFound(w, r)
		}
	})
	c := New(srv.URL)
	ctx := context.Background()

	_, err := c.Login(ctx, api.LoginRequest{Tenant: "demo", Login: "a@b.c", Password: "wrong"})
	if !IsCode(err, "invalid_credentials") {
		t.Fatalf("err = %v", err)
	}
	if c.Token() != "" {
		t.Fatalf("failed login stored token %q", c.Token())
	}

	resp, err := c.Login(ctx, api.LoginRequest{Tenant: "demo", Login: "a@b.c", Password: "right"})
	if err != nil {
		t.Fatal(err)
	}
	if !resp.MustChangePassword || resp.User.ID != "u1" || c.Token() != "sess-1" {
		t.Fatalf("resp %+v token %q", resp, c.Token())
	}
	me, err := c.Me(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if me.Tenant.Slug != "demo" {
		t.Errorf("me %+v", me)
	}
	if err := c.Logout(ctx); err != nil {
		t.Fatal(err)
	}
	if c.Token() != "" {
		t.Errorf("token after logout %q", c.Token())
	}
}

func TestErrorEnvelopeDecoding(t *testing.T) {
	_, srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "7")
		writeJSON(w, 429, api.ErrorBody{Error: api.ErrorDTO{
			Code:      "rate_limited",
			Message:   "too many requests",
			Details:   map[string]any{"limit": float64(10)},
			RequestID: "req-42",
		}})
	})
	_, err := New(srv.URL, WithToken("t")).GetRecord(context.Background(), "account", "r1")
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("err %T %v is not *Error", err, err)
	}
	want := &Error{
		StatusCode: 429, Code: "rate_limited", Message: "too many requests",
		Details: map[string]any{"limit": float64(10)}, RequestID: "req-42", RetryAfter: 7 * time.Second,
	}
	if !reflect.DeepEqual(e, want) {
		t.Errorf("got %+v\nwant %+v", e, want)
	}
	if !IsCode(err, "rate_limited") || IsCode(err, "not_found") {
		t.Error("IsCode mismatch")
	}
	if !IsCode(fmt.Errorf("wrapped: %w", err), "rate_limited") {
		t.Error("IsCode does not see through wrapping")
	}
	if IsCode(errors.New("rate_limited"), "rate_limited") {
		t.Error("IsCode matched a plain error")
	}
	s := err.Error()
	for _, part := range []string{"429", "rate_limited", "too many requests", "req-42"} {
		if !strings.Contains(s, part) {
			t.Errorf("Error() %q lacks %q", s, part)
		}
	}
}

func TestNonEnvelopeError(t *testing.T) {
	for _, tc := range []struct {
		name, ctype, body string
		status            int
		wantMsg           string
	}{
		{"html", "text/html", "<html><body>Bad Gateway</body></html>", 502, "Bad Gateway"},
		{"text", "text/plain", "404 page not found\n", 404, "404 page not found"},
		{"other json", "application/json", `{"message":"nope"}`, 503, "Service Unavailable"},
		{"empty", "", "", 500, "Internal Server Error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				if tc.ctype != "" {
					w.Header().Set("Content-Type", tc.ctype)
				}
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
			})
			_, err := New(srv.URL).ListObjects(context.Background())
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("err %T %v", err, err)
			}
			if e.StatusCode != tc.status || e.Code != fmt.Sprintf("http_%d", tc.status) || e.Message != tc.wantMsg {
				t.Errorf("got %+v", e)
			}
		})
	}
}

func TestNoContentResponses(t *testing.T) {
	rec, srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	})
	c := New(srv.URL, WithToken("t"))
	ctx := context.Background()

	if err := c.DeleteRecord(ctx, "account", "r/1", 3); err != nil {
		t.Fatal(err)
	}
	r, _ := rec.last(t)
	if r.Method != http.MethodDelete || r.URL.EscapedPath() != "/api/v1/objects/account/records/r%2F1" || r.URL.RawQuery != "version=3" {
		t.Errorf("%s %s?%s", r.Method, r.URL.EscapedPath(), r.URL.RawQuery)
	}

	if err := c.DeleteRecord(ctx, "account", "r2", 0); err != nil {
		t.Fatal(err)
	}
	if r, _ := rec.last(t); r.URL.RawQuery != "" {
		t.Errorf("version 0 sent query %q", r.URL.RawQuery)
	}

	if err := c.ChangePassword(ctx, "old", "new-secret"); err != nil {
		t.Fatal(err)
	}
	r, body := rec.last(t)
	var req api.ChangePasswordRequest
	if err := json.Unmarshal(body, &req); err != nil || req.CurrentPassword != "old" || req.NewPassword != "new-secret" {
		t.Errorf("body %s err %v", body, err)
	}
	if r.URL.Path != "/api/v1/auth/password" || r.Method != http.MethodPost {
		t.Errorf("%s %s", r.Method, r.URL.Path)
	}
}

func TestUpdateRecordBody(t *testing.T) {
	rec, srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, api.RecordDTO{ID: "r1", Version: 5})
	})
	got, err := New(srv.URL).UpdateRecord(context.Background(), "contact", "r1", 4, map[string]any{"phone": nil, "title": "CTO"})
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != 5 {
		t.Errorf("version %d", got.Version)
	}
	r, body := rec.last(t)
	if r.Method != http.MethodPatch || r.URL.Path != "/api/v1/objects/contact/records/r1" {
		t.Errorf("%s %s", r.Method, r.URL.Path)
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"version": float64(4), "fields": map[string]any{"phone": nil, "title": "CTO"}}
	if !reflect.DeepEqual(m, want) {
		t.Errorf("body %s", body)
	}
}

func TestAllRecordsFollowsCursors(t *testing.T) {
	pages := map[string]api.RecordList{
		"":   {Items: []api.RecordDTO{{ID: "1"}, {ID: "2"}}, NextCursor: "p2"},
		"p2": {Items: []api.RecordDTO{{ID: "3"}}, NextCursor: "p3"},
		"p3": {Items: []api.RecordDTO{{ID: "4"}, {ID: "5"}}},
	}
	rec, srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("filter[stage]") != "won" || r.URL.Query().Get("limit") != "2" {
			writeError(w, 400, "invalid_request", "options lost: "+r.URL.RawQuery)
			return
		}
		p, ok := pages[r.URL.Query().Get("cursor")]
		if !ok {
			writeError(w, 400, "invalid_request", "bad cursor")
			return
		}
		writeJSON(w, 200, p)
	})
	c := New(srv.URL)
	opts := ListOptions{Limit: 2, Filter: map[string]string{"stage": "won"}}
	var ids []string
	for r, err := range c.AllRecords(context.Background(), "opportunity", opts) {
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
	}
	if strings.Join(ids, ",") != "1,2,3,4,5" {
		t.Errorf("ids %v", ids)
	}
	if rec.count() != 3 {
		t.Errorf("%d requests, want 3", rec.count())
	}

	// Breaking early stops fetching.
	before := rec.count()
	for r := range c.AllRecords(context.Background(), "opportunity", opts) {
		if r.ID == "2" {
			break
		}
	}
	if n := rec.count() - before; n != 1 {
		t.Errorf("early break made %d requests, want 1", n)
	}
}

func TestAllRecordsYieldsErrorAndStops(t *testing.T) {
	_, srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Query().Get("cursor") {
		case "":
			writeJSON(w, 200, api.RecordList{Items: []api.RecordDTO{{ID: "1"}}, NextCursor: "boom"})
		case "loop":
			writeJSON(w, 200, api.RecordList{Items: []api.RecordDTO{{ID: "x"}}, NextCursor: "loop"})
		default:
			writeError(w, 404, "not_found", "no such object")
		}
	})
	c := New(srv.URL)
	var ids []string
	var errs []error
	for r, err := range c.AllRecords(context.Background(), "account", ListOptions{}) {
		if err != nil {
			errs = append(errs, err)
			continue
		}
		ids = append(ids, r.ID)
	}
	if len(ids) != 1 || len(errs) != 1 || !IsCode(errs[0], "not_found") {
		t.Errorf("ids %v errs %v", ids, errs)
	}

	// A server that repeats a cursor does not loop forever.
	n := 0
	var loopErr error
	for _, err := range c.AllRecords(context.Background(), "account", ListOptions{Cursor: "loop"}) {
		n++
		if err != nil {
			loopErr = err
		}
		if n > 10 {
			t.Fatal("AllRecords loops on a repeated cursor")
		}
	}
	if loopErr == nil {
		t.Error("no error on a repeated cursor")
	}
}

func TestTokenNeverInErrorString(t *testing.T) {
	const token = "s3cr3t-T0KEN-value"
	_, srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		switch r.URL.Path {
		case "/api/v1/me":
			writeJSON(w, 401, api.ErrorBody{Error: api.ErrorDTO{
				Code: "unauthenticated", Message: "bad header " + auth, RequestID: auth,
			}})
		default:
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(500)
			io.WriteString(w, "proxy saw "+auth+"\n")
		}
	})
	c := New(srv.URL, WithToken(token))
	ctx := context.Background()

	_, err1 := c.Me(ctx)
	_, err2 := c.ListObjects(ctx)
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	_, err3 := New(closed.URL, WithToken(token)).Me(ctx)

	for i, err := range []error{err1, err2, err3} {
		if err == nil {
			t.Fatalf("err%d is nil", i+1)
		}
		if strings.Contains(err.Error(), token) {
			t.Errorf("err%d leaks the token: %s", i+1, err)
		}
	}
	// A short token is still removed where it follows "Bearer ".
	_, err4 := New(srv.URL, WithToken("abc")).Me(ctx)
	if err4 == nil || strings.Contains(err4.Error(), "Bearer abc") {
		t.Errorf("err4 leaks the short token: %v", err4)
	}

	var e *Error
	if !errors.As(err1, &e) || !strings.Contains(e.Message, "[REDACTED]") || strings.Contains(e.RequestID, token) {
		t.Errorf("err1 %+v", e)
	}
	if !errors.As(err2, &e) || e.Code != "http_500" || !strings.Contains(e.Message, "proxy saw") {
		t.Errorf("err2 %+v", e)
	}
}

func TestPathEscapingAndDecoding(t *testing.T) {
	rec, srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.Method + " " + r.URL.Path {
		case "POST /api/v1/users/u?1/reset-password":
			writeJSON(w, 200, api.ResetPasswordResponse{OneTimePassword: "otp"})
		case "POST /api/v1/objects/account/fields":
			writeJSON(w, 201, api.FieldDTO{Name: "tier__c", Custom: true})
		case "GET /api/v1/openapi.json":
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"openapi":"3.0.3"}`)
		default:
			writeError(w, 404, "not_found", r.Method+" "+r.URL.Path)
		}
	})
	c := New(srv.URL)
	ctx := context.Background()
	rp, err := c.ResetPassword(ctx, "u?1")
	if err != nil || rp.OneTimePassword != "otp" {
		t.Fatalf("%+v %v", rp, err)
	}
	if r, _ := rec.last(t); r.URL.EscapedPath() != "/api/v1/users/u%3F1/reset-password" || r.URL.RawQuery != "" {
		t.Errorf("escaped %s query %q", r.URL.EscapedPath(), r.URL.RawQuery)
	}
	f, err := c.CreateField(ctx, "account", api.CreateFieldRequest{Name: "tier", Label: "Tier", Type: "text"})
	if err != nil || f.Name != "tier__c" || !f.Custom {
		t.Fatalf("%+v %v", f, err)
	}
	doc, err := c.OpenAPI(ctx)
	if err != nil || string(doc) != `{"openapi":"3.0.3"}` {
		t.Fatalf("%q %v", doc, err)
	}
	_, err = c.GetUser(ctx, "missing")
	if !IsCode(err, "not_found") {
		t.Errorf("err %v", err)
	}
}

func TestRetryAfterParsing(t *testing.T) {
	if d := parseRetryAfter("120"); d != 2*time.Minute {
		t.Errorf("seconds: %v", d)
	}
	if d := parseRetryAfter(""); d != 0 {
		t.Errorf("empty: %v", d)
	}
	if d := parseRetryAfter("soon"); d != 0 {
		t.Errorf("garbage: %v", d)
	}
	date := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	if d := parseRetryAfter(date); d < 80*time.Second || d > 91*time.Second {
		t.Errorf("date: %v", d)
	}
}

func TestNoContentWhereBodyExpected(t *testing.T) {
	_, srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	})
	u, err := New(srv.URL).DeactivateUser(context.Background(), "u1")
	if err != nil {
		t.Fatalf("204 answered with error %v", err)
	}
	if u == nil || u.ID != "" {
		t.Errorf("got %+v", u)
	}
}
