package web_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"testing"

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
