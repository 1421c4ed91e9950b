package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/havencrm/haven/api"
	"github.com/havencrm/haven/client"
	"github.com/havencrm/haven/internal/testserver"
)

// TestFullExportAPIEdges: the export endpoints refuse what the contract
// refuses before any job exists: no credential, a read-only token, a body
// with unknown or wrongly-typed fields, an ID that is not one, and another
// tenant's ID (package export tests the exports themselves).
func TestFullExportAPIEdges(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			srv := testserver.Start(t, engine)
			t.Cleanup(func() { http.DefaultClient.CloseIdleConnections() })
			ctx := context.Background()
			acme, globex := srv.NewTenant(t, "acme"), srv.NewTenant(t, "globex")
			me, err := acme.Admin.Me(ctx)
			if err != nil {
				t.Fatal(err)
			}
			ro, err := acme.Admin.CreateToken(ctx, me.User.ID, api.CreateTokenRequest{Name: "backup", Scope: "read", ExpiresInDays: 1})
			if err != nil {
				t.Fatal(err)
			}
			post := func(token, body string) (int, string) {
				req, _ := http.NewRequest(http.MethodPost, srv.URL+"/api/v1/exports", strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				if token != "" {
					req.Header.Set("Authorization", "Bearer "+token)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				var e api.ErrorBody
				_ = json.NewDecoder(resp.Body).Decode(&e)
				return resp.StatusCode, e.Error.Code
			}
			for name, c := range map[string]struct {
				token, body string
				status      int
				code        string
			}{
				"no credential":   {"", `{"scope":"all"}`, 401, "unauthenticated"},
				"read-only token": {ro.Secret, `{"scope":"all"}`, 403, "forbidden"},
				"unknown field":   {acme.Admin.Token(), `{"scope":"all","password":"x"}`, 400, "invalid_request"},
				"wrong type":      {acme.Admin.Token(), `{"scope":"all","passphrase":123456789012}`, 400, "invalid_request"},
				"two objects":     {acme.Admin.Token(), `{"scope":"all"}{"scope":"all"}`, 400, "invalid_request"},
			} {
				if status, code := post(c.token, c.body); status != c.status || code != c.code {
					t.Errorf("%s: %d %s, want %d %s", name, status, code, c.status, c.code)
				}
			}
			id, err := acme.Admin.StartFullExport(ctx, api.CreateExportRequest{Scope: "all"})
			if err != nil {
				t.Fatal(err)
			}
			for _, bad := range []string{"not-an-id", "00000000-0000-0000-0000-000000000000", id} {
				if _, err := globex.Admin.FullExport(ctx, bad); !client.IsCode(err, "not_found") {
					t.Errorf("globex reads export %q: %v", bad, err)
				}
			}
			if status, body := getJSON(t, srv.URL, globex.Admin.Token(), "/api/v1/exports/"+id+"/download"); status != 404 || strings.Contains(string(body), "PK") {
				t.Errorf("globex downloads acme's export: %d", status)
			}
			if status, _ := getJSON(t, srv.URL, ro.Secret, "/api/v1/exports/"+id); status != 200 {
				t.Errorf("the requester's read-only token reads the status: %d", status)
			}
		})
	}
}
