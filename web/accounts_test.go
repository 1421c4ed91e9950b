package web_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/havencrm/haven/api"
	"github.com/havencrm/haven/client"
	"github.com/havencrm/haven/internal/testserver"
)

var endActionPattern = regexp.MustCompile(`action="(/sessions/[^"]+/end\?back=[^"]+)"`)

// TestAccountPageSessions: a user sees their sessions and ends another
// one from the web; the ended session is out at once; another user's
// account page is not theirs to see.
func TestAccountPageSessions(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			srv := testserver.Start(t, engine)
			tn := srv.NewTenant(t, "acct")
			ctx := context.Background()
			_, alice := srv.NewUser(t, tn, "alice@acct.example.com", "Alice", "sales")
			_, bob := srv.NewUser(t, tn, "bob@acct.example.com", "Bob", "sales")
			// A second, API session of Alice's: the one she will end.
			apiSession := srv.Login(t, "acct", "alice@acct.example.com", testserver.AdminPassword)

			b := newBrowser(t, srv.URL)
			wantStatus(t, b.login("acct", "alice@acct.example.com", testserver.AdminPassword), http.StatusOK)
			p := b.get("/account")
			wantPath(t, p, "/users/"+alice.ID)
			wantContains(t, p, "Alice", "This session")
			// Three: the client NewUser signed in with, the API session and this browser.
			if n := len(endActionPattern.FindAllString(p.Body, -1)); n != 3 {
				t.Fatalf("account page lists %d sessions with an End button, want 3", n)
			}
			// End the session that is not this browser's: the API client is out.
			var other string
			list, err := apiSession.UserSessions(ctx, alice.ID)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range list.Items {
				if s.Current {
					other = "/sessions/" + s.ID + "/end?back=" + alice.ID
				}
			}
			wantStatus(t, b.submit("/account", other, url.Values{}), http.StatusOK)
			if _, err := apiSession.Me(ctx); !client.IsCode(err, "unauthenticated") {
				t.Fatalf("the ended session still works: %v", err)
			}
			if p := b.get("/account"); p.Status != http.StatusOK || len(endActionPattern.FindAllString(p.Body, -1)) != 2 {
				t.Fatalf("after ending one, the page shows %d sessions, want 2", len(endActionPattern.FindAllString(p.Body, -1)))
			}
			// A CSRF-less post is refused and ends nothing.
			if p := b.post("/sessions/"+list.Items[0].ID+"/end", url.Values{}); p.Status != http.StatusForbidden {
				t.Fatalf("end without CSRF: status %d", p.Status)
			}
			// Alice may not look at Bob's account (404, as if absent) nor offboard him.
			wantStatus(t, b.get("/users/"+bob.ID), http.StatusNotFound)
			p = b.submit("/account", "/users/"+bob.ID+"/offboard", url.Values{"transfer_to": {alice.ID}})
			wantStatus(t, p, http.StatusForbidden)
			if u, err := tn.Admin.GetUser(ctx, bob.ID); err != nil || u.Status != "active" {
				t.Fatalf("bob after a refused offboarding: %+v %v", u, err)
			}
		})
	}
}

// TestOffboardFromWeb: an admin offboards a leaver from the user's page;
// their records move and their session ends.
func TestOffboardFromWeb(t *testing.T) {
	srv := testserver.Start(t, "sqlite")
	tn := srv.NewTenant(t, "offweb")
	ctx := context.Background()
	leaver, lu := srv.NewUser(t, tn, "leaver@offweb.example.com", "Leaver", "sales")
	_, heir := srv.NewUser(t, tn, "heir@offweb.example.com", "Heir", "sales")
	rec, err := leaver.CreateRecord(ctx, "account", client.RecordInput{Fields: map[string]any{"name": "Leaver Co"}})
	if err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, srv.URL)
	wantStatus(t, b.login("offweb", tn.AdminLogin, tn.Password), http.StatusOK)
	p := b.get("/users/" + lu.ID)
	wantContains(t, p, "Offboard", "Heir (heir@offweb.example.com)")
	p = b.submit("/users/"+lu.ID, "/users/"+lu.ID+"/offboard", url.Values{"transfer_to": {heir.ID}})
	wantPath(t, p, "/users")
	wantContains(t, p, "User offboarded")
	got, err := tn.Admin.GetRecord(ctx, "account", rec.ID)
	if err != nil || got.OwnerID != heir.ID {
		t.Fatalf("record after offboarding: %+v %v", got, err)
	}
	if _, err := leaver.Me(ctx); !client.IsCode(err, "unauthenticated") {
		t.Fatalf("the leaver's session survived: %v", err)
	}
	if u, _ := tn.Admin.GetUser(ctx, lu.ID); u == nil || u.Status != "deactivated" {
		t.Fatalf("leaver not deactivated: %+v", u)
	}
}

var tokenSecretPattern = regexp.MustCompile(`id="api-token">(hvt_[A-Za-z0-9_-]+)<`)
var revokeActionPattern = regexp.MustCompile(`action="(/tokens/[^"]+/revoke\?back=[^"]+)"`)

// TestAPITokensFromWeb: a user creates a token on their account page, sees
// it once, uses it on the API and revokes it again from the page.
func TestAPITokensFromWeb(t *testing.T) {
	srv := testserver.Start(t, "sqlite")
	tn := srv.NewTenant(t, "tokweb")
	ctx := context.Background()
	_, alice := srv.NewUser(t, tn, "alice@tokweb.example.com", "Alice", "sales")
	b := newBrowser(t, srv.URL)
	wantStatus(t, b.login("tokweb", "alice@tokweb.example.com", testserver.AdminPassword), http.StatusOK)
	p := b.submit("/account", "/users/"+alice.ID+"/tokens", url.Values{"name": {"BI export"}, "scope": {"read"}, "days": {"30"}})
	wantStatus(t, p, http.StatusOK)
	wantContains(t, p, "API token created", "shown only once")
	m := tokenSecretPattern.FindStringSubmatch(p.Body)
	if m == nil {
		t.Fatal("the new token's secret is not on the page")
	}
	if p.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("the secret page may be cached: %q", p.Header.Get("Cache-Control"))
	}
	api := client.New(srv.URL, client.WithToken(m[1]))
	if _, err := api.Me(ctx); err != nil {
		t.Fatalf("the token from the web does not work: %v", err)
	}
	// The account page lists it, never with its secret.
	p = b.get("/account")
	wantContains(t, p, "BI export", "Read only")
	wantNotContains(t, p, m[1])
	// A nameless token is refused with a message.
	p = b.submit("/account", "/users/"+alice.ID+"/tokens", url.Values{"name": {""}, "scope": {"read"}, "days": {"30"}})
	wantStatus(t, p, http.StatusUnprocessableEntity)
	// Revoke from the page: the API client is out at once.
	rev := revokeActionPattern.FindStringSubmatch(b.get("/account").Body)
	if rev == nil {
		t.Fatal("no revoke button")
	}
	wantStatus(t, b.submit("/account", rev[1], url.Values{}), http.StatusOK)
	if _, err := api.Me(ctx); !client.IsCode(err, "unauthenticated") {
		t.Fatalf("revoked token still works: %v", err)
	}
}

var totpSecretPattern = regexp.MustCompile(`id="totp-secret">([A-Z2-7]+)<`)
var recoveryCodePattern = regexp.MustCompile(`<li><code>([a-z2-9]{5}-[a-z2-9]{5})</code></li>`)

// TestMFASetupFromWeb: a user turns on two-step sign-in from the account
// page with the QR code's key, gets recovery codes once, and an admin
// can reset it.
func TestMFASetupFromWeb(t *testing.T) {
	srv := testserver.Start(t, "sqlite")
	tn := srv.NewTenant(t, "mfaweb")
	ctx := context.Background()
	_, alice := srv.NewUser(t, tn, "alice@mfaweb.example.com", "Alice", "sales")
	b := newBrowser(t, srv.URL)
	wantStatus(t, b.login("mfaweb", "alice@mfaweb.example.com", testserver.AdminPassword), http.StatusOK)
	wantContains(t, b.get("/account"), "Two-step sign-in", "Set up authenticator app")
	p := b.submit("/account", "/account/mfa/begin", url.Values{})
	wantStatus(t, p, http.StatusOK)
	wantContains(t, p, `src="data:image/png;base64,`)
	m := totpSecretPattern.FindStringSubmatch(p.Body)
	if m == nil {
		t.Fatal("no TOTP key on the setup page")
	}
	// A wrong code keeps the user on the setup page with a message.
	bad := b.post("/account/mfa/confirm", url.Values{"csrf_token": {csrfToken(t, p.Body)}, "code": {"000000"}})
	wantStatus(t, bad, http.StatusUnprocessableEntity)
	code, err := totp.GenerateCode(m[1], time.Now())
	if err != nil {
		t.Fatal(err)
	}
	p = b.post("/account/mfa/confirm", url.Values{"csrf_token": {csrfToken(t, bad.Body)}, "code": {code}})
	wantStatus(t, p, http.StatusOK)
	if codes := recoveryCodePattern.FindAllString(p.Body, -1); len(codes) != 10 {
		t.Fatalf("%d recovery codes on the page, want 10", len(codes))
	}
	st, err := tn.Admin.UserMFA(ctx, alice.ID)
	if err != nil || !st.Enabled {
		t.Fatalf("MFA after the web setup: %+v %v", st, err)
	}
	// The admin resets it from Alice's page.
	admin := newBrowser(t, srv.URL)
	wantStatus(t, admin.login("mfaweb", tn.AdminLogin, tn.Password), http.StatusOK)
	wantStatus(t, admin.submit("/users/"+alice.ID, "/users/"+alice.ID+"/mfa/reset", url.Values{}), http.StatusOK)
	if st, _ := tn.Admin.UserMFA(ctx, alice.ID); st == nil || st.Enabled {
		t.Fatalf("MFA after reset: %+v", st)
	}
}

// TestLoginWithTOTPFromWeb: after the password, the sign-in page asks for
// the authenticator code; with it the user is in.
func TestLoginWithTOTPFromWeb(t *testing.T) {
	srv := testserver.Start(t, "sqlite")
	tn := srv.NewTenant(t, "mfalogin")
	ctx := context.Background()
	alice, _ := srv.NewUser(t, tn, "alice@mfalogin.example.com", "Alice", "sales")
	setup, err := alice.BeginTOTP(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alice.ConfirmTOTP(ctx, mustCode(t, setup.Secret, time.Now())); err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, srv.URL)
	p := b.login("mfalogin", "alice@mfalogin.example.com", testserver.AdminPassword)
	wantStatus(t, p, http.StatusUnauthorized)
	wantContains(t, p, `id="totp"`, "authenticator")
	wantNotContains(t, p, testserver.AdminPassword)
	p = b.submit("/login", "/login", url.Values{"tenant": {"mfalogin"}, "login": {"alice@mfalogin.example.com"},
		"password": {testserver.AdminPassword}, "totp": {mustCode(t, setup.Secret, time.Now().Add(30*time.Second))}})
	wantStatus(t, p, http.StatusOK)
	wantPath(t, p, "/")
}

func mustCode(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	code, err := totp.GenerateCode(secret, at)
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// TestAccountPageKeepsViewerRole: the top bar shows the signed-in
// viewer's role, not the role of the user whose page is open.
func TestAccountPageKeepsViewerRole(t *testing.T) {
	srv := testserver.Start(t, "sqlite")
	tn := srv.NewTenant(t, "viewer")
	_, alice := srv.NewUser(t, tn, "alice@viewer.example.com", "Alice", "sales")
	b := newBrowser(t, srv.URL)
	wantStatus(t, b.login("viewer", tn.AdminLogin, tn.Password), http.StatusOK)
	p := b.get("/users/" + alice.ID)
	wantContains(t, p, `<span class="badge badge-role-admin">Admin</span>`, "alice@viewer.example.com</span> · Sales")
	// The users page shows each user's live API tokens.
	wantNotContains(t, b.get("/users"), "API tokens: ")
	if _, err := tn.Admin.CreateToken(context.Background(), alice.ID, api.CreateTokenRequest{Name: "sync", Scope: "read", ExpiresInDays: 5}); err != nil {
		t.Fatal(err)
	}
	wantContains(t, b.get("/users"), "API tokens: 1")
}
