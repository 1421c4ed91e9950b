package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/havencrm/haven/api"
	"github.com/havencrm/haven/audit"
	"github.com/havencrm/haven/client"
	"github.com/havencrm/haven/internal/testserver"
	"github.com/havencrm/haven/operators"
	"github.com/havencrm/haven/opsapi"
)

// opsSignIn creates an operator and returns a live operator token.
func opsSignIn(t *testing.T, srv *testserver.Server, clk *opsClock, email string) (string, string) {
	t.Helper()
	ctx := context.Background()
	created, err := srv.App.Operators.Create(ctx, operators.CreateInput{Email: email, Name: "Olga", Role: operators.RoleSupport}, audit.SystemActor("test", ""))
	if err != nil {
		t.Fatal(err)
	}
	first := opsToken(t, opsLogin(t, srv, email, created.OneTimePassword, opsCode(t, created.TOTPSecret, clk.Now())))
	const pw = "Vendor-Staff-Pass-42"
	if r := do(t, srv, rawReq{Method: http.MethodPost, Path: opsapi.Prefix + "/auth/password", Token: first.Token, ContentType: "application/json",
		Body: jsonBody(t, map[string]string{"current_password": created.OneTimePassword, "new_password": pw})}); r.Status != http.StatusNoContent {
		t.Fatalf("change password: %d %s", r.Status, r.Body)
	}
	clk.Advance(30 * time.Second)
	return opsToken(t, opsLogin(t, srv, email, pw, opsCode(t, created.TOTPSecret, clk.Now()))).Token, created.Operator.ID
}

// TestOperatorGrantFlow: request, approve in writing, read a masked
// record, every read in the tenant's trail, revoke, refused — and no way
// around it: no grant, another tenant, another object, another operator.
func TestOperatorGrantFlow(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			clk := &opsClock{t: time.Now().UTC().Truncate(time.Second)}
			srv := testserver.Start(t, engine, testserver.Options{Now: clk.Now})
			t.Cleanup(func() { http.DefaultClient.CloseIdleConnections() })
			ctx := context.Background()
			acme := srv.NewTenant(t, "flowacme")
			other := srv.NewTenant(t, "flowother")
			c := create(t, acme.Admin, "contact", map[string]any{"name": "Wang Wei", "mobile": "13912345678", "email": "wang.wei@customer.example.com"})
			otherContact := create(t, other.Admin, "contact", map[string]any{"name": "Other Person"})
			token, opID := opsSignIn(t, srv, clk, "olga@vendor.example.com")
			rival, _ := opsSignIn(t, srv, clk, "rival@vendor.example.com")
			get := func(tok, path string) rawResp {
				return do(t, srv, rawReq{Method: http.MethodGet, Path: opsapi.Prefix + path, Token: tok})
			}
			recordPath := "/tenants/flowacme/objects/contact/records/" + c.ID
			wantRaw(t, "no grant", get(token, recordPath), 403, "forbidden")
			wantRaw(t, "no grant, list", get(token, "/tenants/flowacme/objects/contact/records"), 403, "forbidden")

			req := do(t, srv, rawReq{Method: http.MethodPost, Path: opsapi.Prefix + "/access-requests", Token: token, ContentType: "application/json",
				Body: jsonBody(t, map[string]any{"tenant": "flowacme", "reason": "contact page shows an error", "ticket": "SUP-501",
					"scope": map[string]any{"objects": []string{"contact", "account"}, "write": false}, "duration_hours": 4})})
			if req.Status != http.StatusCreated {
				t.Fatalf("request: %d %s", req.Status, req.Body)
			}
			var g api.GrantDTO
			if err := json.Unmarshal(req.Body, &g); err != nil || g.State != "pending" {
				t.Fatalf("request answer %s: %v", req.Body, err)
			}
			wantRaw(t, "pending grant", get(token, recordPath), 403, "forbidden")
			wantRaw(t, "another operator reads the request", get(rival, "/access-requests/"+g.ID), 404, "not_found")
			if r := get(token, "/access-requests/"+g.ID); r.Status != 200 {
				t.Fatalf("own request: %d %s", r.Status, r.Body)
			}
			// The tenant's admin approves contacts only.
			if _, err := acme.Admin.DecideSupportAccess(ctx, g.ID, "approve", api.GrantDecisionRequest{
				Statement: "I authorize Olga to read contacts for SUP-501.", Scope: &api.GrantScopeDTO{Objects: []string{"contact"}}}); err != nil {
				t.Fatal(err)
			}
			r := get(token, recordPath)
			if r.Status != 200 {
				t.Fatalf("granted read: %d %s", r.Status, r.Body)
			}
			var rec api.RecordDTO
			_ = json.Unmarshal(r.Body, &rec)
			if rec.Fields["mobile"] != "****" || rec.Fields["email"] != "****" || rec.Name != "Wang Wei" {
				t.Fatalf("operator sees %s", r.Body)
			}
			for _, secret := range []string{"13912345678", "wang.wei", "hv1:", "$sealed"} {
				if strings.Contains(string(r.Body), secret) {
					t.Fatalf("operator read shows %q", secret)
				}
			}
			if l := get(token, "/tenants/flowacme/objects/contact/records"); l.Status != 200 || strings.Contains(string(l.Body), "13912345678") {
				t.Fatalf("granted list: %d %s", l.Status, l.Body)
			}
			wantRaw(t, "object outside the grant", get(token, "/tenants/flowacme/objects/account/records"), 403, "forbidden")
			wantRaw(t, "another tenant", get(token, "/tenants/flowother/objects/contact/records/"+otherContact.ID), 403, "forbidden")
			wantRaw(t, "unknown tenant", get(token, "/tenants/nosuch/objects/contact/records"), 403, "forbidden")
			wantRaw(t, "another operator", get(rival, recordPath), 403, "forbidden")
			wantRaw(t, "operator token on the tenant API", do(t, srv, rawReq{Method: http.MethodGet, Path: "/api/v1/objects/contact/records/" + c.ID, Token: token}),
				401, "unauthenticated")
			// The tenant sees every read in its own trail.
			uses, err := acme.Admin.ListAudit(ctx, client.AuditQuery{Action: "support.use"})
			if err != nil || len(uses.Items) != 2 {
				t.Fatalf("use events: %+v %v", uses, err)
			}
			for _, e := range uses.Items {
				if e.Via != "grant:"+g.ID || e.Actor.ID != opID {
					t.Fatalf("use event %+v", e)
				}
			}
			// Revocation stops the very next request.
			if _, err := acme.Admin.DecideSupportAccess(ctx, g.ID, "revoke", api.GrantDecisionRequest{Statement: "fixed"}); err != nil {
				t.Fatal(err)
			}
			wantRaw(t, "revoked", get(token, recordPath), 403, "forbidden")
			// Expiry: a new grant of one hour ends on its own.
			req = do(t, srv, rawReq{Method: http.MethodPost, Path: opsapi.Prefix + "/access-requests", Token: token, ContentType: "application/json",
				Body: jsonBody(t, map[string]any{"tenant": "flowacme", "reason": "follow-up", "ticket": "SUP-502",
					"scope": map[string]any{"objects": []string{"contact"}}, "duration_hours": 1})})
			_ = json.Unmarshal(req.Body, &g)
			if _, err := acme.Admin.DecideSupportAccess(ctx, g.ID, "approve", api.GrantDecisionRequest{Statement: "ok"}); err != nil {
				t.Fatal(err)
			}
			if r := get(token, recordPath); r.Status != 200 {
				t.Fatalf("second grant: %d %s", r.Status, r.Body)
			}
			// The operator's session stays alive (idle timeout 30 minutes)
			// while the one-hour grant runs out.
			for range 3 {
				clk.Advance(20 * time.Minute)
				if r := get(token, "/me"); r.Status != 200 {
					t.Fatalf("keep-alive: %d", r.Status)
				}
			}
			wantRaw(t, "expired", get(token, recordPath), 403, "forbidden")
		})
	}
}
