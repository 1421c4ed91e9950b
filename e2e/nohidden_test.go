package e2e

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/havencrm/haven/api"
	"github.com/havencrm/haven/client"
	"github.com/havencrm/haven/internal/testserver"
)

// TestEveryAuthenticationPath is the runtime half of "no hidden accounts"
// (identity/principal_test.go is the structural half): every private API
// route refuses every credential that is not a live session or API token
// of an active user presented as a Bearer token; the web UI accepts only
// its session cookie; and the users list shows every principal that can
// act, tokens included.
func TestEveryAuthenticationPath(t *testing.T) {
	eachEngine(t, func(t *testing.T, srv *testserver.Server) {
		ctx := context.Background()
		tn := srv.NewTenant(t, "walk")
		me := must[*api.MeResponse](t)(tn.Admin.Me(ctx))
		adminID := me.User.ID
		session := tn.Admin.Token()

		// Credentials that must never work: revoked, deactivated, forged.
		leaver, lu := srv.NewUser(t, tn, "leaver@walk.example.com", "Leaver", "manager")
		leaverToken := must[*api.CreateTokenResponse](t)(leaver.CreateToken(ctx, lu.ID, api.CreateTokenRequest{Name: "old", Scope: "write", ExpiresInDays: 30}))
		leaverSession := leaver.Token()
		must[*api.UserDTO](t)(tn.Admin.DeactivateUser(ctx, lu.ID))
		revoked := must[*api.CreateTokenResponse](t)(tn.Admin.CreateToken(ctx, adminID, api.CreateTokenRequest{Name: "revoked", Scope: "write", ExpiresInDays: 30}))
		noErr(t, tn.Admin.RevokeToken(ctx, revoked.Token.ID))
		loggedOut := login(t, srv, "walk", tn.AdminLogin, tn.Password)
		loggedOutToken := loggedOut.Token()
		noErr(t, loggedOut.Logout(ctx))

		type cred struct {
			name  string
			apply func(r *http.Request)
		}
		bearer := func(tok string) func(r *http.Request) {
			return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
		}
		creds := []cred{
			{"none", func(*http.Request) {}},
			{"garbage bearer", bearer("hvs_" + strings.Repeat("A", 64))},
			{"garbage API token", bearer("hvt_" + strings.Repeat("A", 64))},
			{"basic auth with the right password", func(r *http.Request) {
				r.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(tn.AdminLogin+":"+tn.Password)))
			}},
			{"password as bearer", bearer(tn.Password)},
			{"session in a cookie", func(r *http.Request) { r.AddCookie(&http.Cookie{Name: "haven_session", Value: session}) }},
			{"session in the query", func(r *http.Request) {
				r.URL.RawQuery = url.Values{"access_token": {session}, "token": {session}}.Encode()
			}},
			{"session in X-API-Key", func(r *http.Request) { r.Header.Set("X-API-Key", session) }},
			{"token of a deactivated user", bearer(leaverToken.Secret)},
			{"session of a deactivated user", bearer(leaverSession)},
			{"revoked token", bearer(revoked.Secret)},
			{"logged-out session", bearer(loggedOutToken)},
			{"admin identity headers", func(r *http.Request) {
				r.Header.Set("X-User-ID", adminID)
				r.Header.Set("X-Tenant", "walk")
				r.Header.Set("X-Forwarded-User", tn.AdminLogin)
				r.Header.Set("X-Impersonate", adminID)
			}},
		}
		ids := strings.NewReplacer("{id}", adminID, "{object}", "account")
		routes := api.New(api.Deps{}).Routes()
		checked := 0
		for _, rt := range routes {
			if rt.Public {
				continue
			}
			for _, c := range creds {
				req, err := http.NewRequest(rt.Method, srv.URL+ids.Replace(rt.Pattern), strings.NewReader("{}"))
				noErr(t, err)
				req.Header.Set("Content-Type", "application/json")
				c.apply(req)
				resp, err := http.DefaultClient.Do(req)
				noErr(t, err)
				resp.Body.Close()
				if resp.StatusCode != http.StatusUnauthorized {
					t.Errorf("%s %s with %s: status %d, want 401", rt.Method, rt.Pattern, c.name, resp.StatusCode)
				}
				checked++
			}
		}
		if checked < 30*len(creds) {
			t.Fatalf("only %d route×credential checks ran: the route table looks too small", checked)
		}
		// The same session works as a Bearer token: the walk refused the
		// presentation, not the credential.
		must[*api.MeResponse](t)(withToken(srv, session).Me(ctx))

		// The web UI takes only its cookie: a Bearer header gets the sign-in page.
		noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		for _, path := range []string{"/", "/o/account", "/o/account/new", "/users", "/audit", "/account", "/users/" + adminID, "/password"} {
			for _, c := range []cred{{"none", func(*http.Request) {}}, {"bearer session", bearer(session)}, {"basic", creds[3].apply}} {
				req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
				c.apply(req)
				resp, err := noRedirect.Do(req)
				noErr(t, err)
				resp.Body.Close()
				if resp.StatusCode/100 != 3 || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
					t.Errorf("web %s with %s: %d %s, want a redirect to /login", path, c.name, resp.StatusCode, resp.Header.Get("Location"))
				}
			}
		}

		// Every principal that can act is listed: users, and their live tokens.
		integ, iu := srv.NewUser(t, tn, "erp@walk.example.com", "ERP integration", "manager")
		_ = integ
		erp := must[*api.CreateTokenResponse](t)(tn.Admin.CreateToken(ctx, iu.ID, api.CreateTokenRequest{Name: "ERP sync", Scope: "write", ExpiresInDays: 90}))
		users := must[*api.UserList](t)(tn.Admin.ListUsers(ctx, client.ListOptions{Limit: 200}))
		byID := map[string]api.UserDTO{}
		for _, u := range users.Items {
			byID[u.ID] = u
		}
		if len(byID) != 3 {
			t.Fatalf("users list has %d principals, want 3 (admin, leaver, ERP integration)", len(byID))
		}
		if got := byID[iu.ID].APITokens; len(got) != 1 || got[0].ID != erp.Token.ID || got[0].Name != "ERP sync" {
			t.Fatalf("the integration user's token is not listed: %+v", got)
		}
		if got := byID[adminID].APITokens; len(got) != 0 {
			t.Fatalf("a revoked token is still listed: %+v", got)
		}
		if got := byID[lu.ID]; got.Status != "deactivated" {
			t.Fatalf("deactivated user listed as %+v", got)
		}
	})
}
