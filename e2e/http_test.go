package e2e

import (
	"bytes"
	"context"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/havencrm/haven/api"
	"github.com/havencrm/haven/internal/testserver"
)

// TestOpenAPIServed checks the served document is the embedded one.
func TestOpenAPIServed(t *testing.T) {
	t.Parallel()
	eachEngine(t, func(t *testing.T, srv *testserver.Server) {
		r := do(t, srv, rawReq{Method: "GET", Path: "/api/v1/openapi.json"})
		if r.Status != 200 {
			t.Fatalf("status %d", r.Status)
		}
		if !bytes.Equal(r.Body, api.OpenAPIDocument()) {
			t.Errorf("served document (%d bytes) differs from the embedded one (%d bytes)", len(r.Body), len(api.OpenAPIDocument()))
		}
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("content type %q", ct)
		}
		tn := srv.NewTenant(t, "docs")
		// A credential does not change it.
		b, err := tn.Admin.OpenAPI(context.Background())
		if err != nil || !bytes.Equal(b, api.OpenAPIDocument()) {
			t.Errorf("through the client: %d bytes, %v", len(b), err)
		}
	})
}

// TestSecurityHeaders checks every kind of API response carries the
// security headers and a fresh request ID.
func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	eachEngine(t, func(t *testing.T, srv *testserver.Server) {
		tn := srv.NewTenant(t, "headers")
		tok := tn.Admin.Token()
		rec := create(t, tn.Admin, "account", map[string]any{"name": "Headers"})
		reqs := map[string]rawReq{
			"me":             {Method: "GET", Path: "/api/v1/me", Token: tok},
			"record":         {Method: "GET", Path: "/api/v1/objects/account/records/" + rec.ID, Token: tok},
			"list":           {Method: "GET", Path: "/api/v1/objects/account/records", Token: tok},
			"create":         {Method: "POST", Path: "/api/v1/objects/account/records", Token: tok, ContentType: "application/json", Body: []byte(`{"fields":{"name":"h"}}`)},
			"delete (204)":   {Method: "DELETE", Path: "/api/v1/objects/account/records/" + rec.ID, Token: tok},
			"login":          {Method: "POST", Path: "/api/v1/auth/login", ContentType: "application/json", Body: jsonBody(t, api.LoginRequest{Tenant: "headers", Login: tn.AdminLogin, Password: password})},
			"failed login":   {Method: "POST", Path: "/api/v1/auth/login", ContentType: "application/json", Body: []byte(`{"tenant":"headers","login":"x@y.z","password":"nope"}`)},
			"unauthorized":   {Method: "GET", Path: "/api/v1/me"},
			"not found":      {Method: "GET", Path: "/api/v1/objects/account/records/" + rec.ID, Token: tok},
			"no such route":  {Method: "GET", Path: "/api/v1/no/such/route"},
			"wrong method":   {Method: "DELETE", Path: "/api/v1/me", Token: tok},
			"bad request":    {Method: "POST", Path: "/api/v1/objects/account/records", Token: tok, ContentType: "application/json", Body: []byte(`{`)},
			"openapi":        {Method: "GET", Path: "/api/v1/openapi.json"},
			"healthz":        {Method: "GET", Path: "/healthz"},
			"readyz":         {Method: "GET", Path: "/readyz"},
			"forged request": {Method: "GET", Path: "/api/v1/me", Token: tok, Header: map[string]string{"X-Request-ID": "forged-id-1234"}},
		}
		order := []string{"me", "record", "list", "create", "delete (204)", "not found", "login", "failed login", "unauthorized",
			"no such route", "wrong method", "bad request", "openapi", "healthz", "readyz", "forged request"}
		seen := map[string]string{}
		for _, what := range order {
			r := do(t, srv, reqs[what])
			h := r.Header
			csp := h.Get("Content-Security-Policy")
			if !strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "default-src") {
				t.Errorf("%s: CSP %q", what, csp)
			}
			if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
				t.Errorf("%s: CSP allows unsafe sources: %q", what, csp)
			}
			if h.Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("%s: X-Content-Type-Options %q", what, h.Get("X-Content-Type-Options"))
			}
			if cc := h.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
				t.Errorf("%s: Cache-Control %q", what, cc)
			}
			id := h.Get("X-Request-ID")
			if id == "" {
				t.Errorf("%s: no X-Request-ID", what)
			} else if b, err := hex.DecodeString(id); err != nil || len(b) < 8 {
				t.Errorf("%s: X-Request-ID %q is not a random hex ID", what, id)
			}
			if prev, dup := seen[id]; dup {
				t.Errorf("%s and %s share request ID %s", what, prev, id)
			}
			seen[id] = what
			if id == "forged-id-1234" {
				t.Errorf("%s: the client chose the request ID", what)
			}
			if r.Status >= 400 {
				errorEnvelope(t, what, r)
			}
			if what == "wrong method" && r.Status != 404 && r.Status != 405 {
				t.Errorf("wrong method: %d", r.Status)
			}
			if what == "no such route" {
				wantRaw(t, what, r, 404, "not_found")
			}
			if ct := h.Get("Content-Type"); r.Status != 204 && !strings.HasPrefix(ct, "application/json") {
				t.Errorf("%s: content type %q", what, ct)
			}
		}
	})
}
