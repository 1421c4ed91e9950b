package web_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/havencrm/haven/audit"
	"github.com/havencrm/haven/identity"
	"github.com/havencrm/haven/internal/httpx"
	"github.com/havencrm/haven/records"
	"github.com/havencrm/haven/tenant"
	"github.com/havencrm/haven/web"
)

func TestInlineScanner(t *testing.T) {
	bad := []string{
		`<script>alert(1)</script>`,
		`<SCRIPT type="module">x()</SCRIPT>`,
		`<div style="color:red">`,
		`<a href="#" onclick="x()">`,
		`<body onload=x>`,
		`<style>p{}</style>`,
		`<a href="javascript:alert(1)">`,
		`<form action=' javascript:x'>`,
	}
	for _, s := range bad {
		if len(inlineFindings(s)) == 0 {
			t.Errorf("scanner missed %s", s)
		}
	}
	good := []string{
		`<script src="/static/app.js"></script>`,
		`<input value="&#34;&gt;&lt;img src=x onerror=alert(2)&gt;">`,
		`<p>write style="x" or onclick= in text</p>`,
		`<a href="/o/x?style=1&amp;onload=2">`,
		`<input value="javascript:x">`,
	}
	for _, s := range good {
		if f := inlineFindings(s); len(f) > 0 {
			t.Errorf("false positive on %s: %v", s, f)
		}
	}
}

// Stubs for collaborators; embedding the interface leaves every method
// not overridden nil, so a test fails loudly if it reaches one.
type stubIdentity struct{ web.Identity }

func (stubIdentity) Authenticate(_ context.Context, token, _, _, requestID string) (identity.Principal, error) {
	u := identity.User{ID: "0190a0a0-0000-7000-8000-000000000001", Name: "Stub Admin", Role: "admin", Status: identity.StatusActive}
	return identity.Principal{User: u, Tenant: tenant.Tenant{ID: "0190a0a0-0000-7000-8000-000000000002", Slug: "stub", Name: "Stub Co"}, Actor: tenant.Actor{Kind: tenant.ActorUser, TenantID: "0190a0a0-0000-7000-8000-000000000002", UserID: u.ID, Role: u.Role, RequestID: requestID}}, nil
}

type failingRecords struct {
	web.Records
	err error
}

func (failingRecords) Objects(context.Context, tenant.Actor) ([]records.Object, error) {
	return records.StandardObjects(), nil
}

func (f failingRecords) Object(context.Context, tenant.Actor, string) (records.Object, error) {
	return records.Object{}, f.err
}

type stubAudit struct{}

func (stubAudit) Query(context.Context, tenant.Actor, audit.Filter) ([]audit.Event, int64, error) {
	return nil, 0, nil
}

// An unexpected error shows a 500 page with only the request ID; the
// error itself goes to the log with the same request ID.
func TestInternalErrorPage(t *testing.T) {
	var logs bytes.Buffer
	secret := errors.New(`pq: relation "tenant_secrets" does not exist (password=hunter2)`)
	w, err := web.New(web.Deps{
		Identity: stubIdentity{}, Records: failingRecords{err: secret}, Audit: stubAudit{},
		Log: slog.New(slog.NewTextHandler(&logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	w.Register(mux)
	h := httpx.Chain(mux, httpx.RequestIDs, httpx.SecurityHeaders(false))
	req := httptest.NewRequest(http.MethodGet, "/o/account", nil)
	req.AddCookie(&http.Cookie{Name: "haven_session", Value: "hvs_stub"})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	body := rec.Body.String()
	rid := rec.Header().Get("X-Request-ID")
	if rec.Code != http.StatusInternalServerError || rid == "" {
		t.Fatalf("status %d, request id %q", rec.Code, rid)
	}
	if !strings.Contains(body, rid) || !strings.Contains(body, "Something went wrong") {
		t.Errorf("500 page lacks the request ID or heading:\n%s", body)
	}
	for _, leak := range []string{"tenant_secrets", "hunter2", "pq:"} {
		if strings.Contains(body, leak) {
			t.Errorf("500 page leaks %q", leak)
		}
	}
	if !strings.Contains(logs.String(), "request_id="+rid) || !strings.Contains(logs.String(), "tenant_secrets") {
		t.Errorf("error not logged with its request ID: %s", logs.String())
	}
	assertNoInline(t, "500 page", body)
}

// Every route pattern coexists with the API's catch-all on one mux.
func TestRegisterBesideAPIPatterns(t *testing.T) {
	w, err := web.New(web.Deps{Identity: stubIdentity{}, Records: failingRecords{}, Audit: stubAudit{}})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/api/", func(http.ResponseWriter, *http.Request) {})
	mux.HandleFunc("GET /healthz", func(http.ResponseWriter, *http.Request) {})
	mux.HandleFunc("GET /readyz", func(http.ResponseWriter, *http.Request) {})
	mux.HandleFunc("GET /api/v1/objects/{object}/records/{id}", func(http.ResponseWriter, *http.Request) {})
	w.Register(mux) // panics on a conflicting pattern
	for path, want := range map[string]string{"/api/v1/x": "/api/", "/healthz": "GET /healthz", "/o/account": "GET /o/{object}", "/": "GET /{$}", "/nope": "/"} {
		_, pattern := mux.Handler(httptest.NewRequest(http.MethodGet, path, nil))
		if pattern != want {
			t.Errorf("%s routed to %q, want %q", path, pattern, want)
		}
	}
}
