package e2e

import (
	"context"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/havencrm/haven/api"
	"github.com/havencrm/haven/client"
	"github.com/havencrm/haven/internal/testserver"
)

// TestAPITokens: tokens belong to a visible user, are shown once, act
// with the owner's role within their scope, cannot manage credentials,
// and stop at once when revoked or when their owner is deactivated.
func TestAPITokens(t *testing.T) {
	eachEngine(t, func(t *testing.T, srv *testserver.Server) {
		ctx := context.Background()
		tn := srv.NewTenant(t, "tok")
		alice, au := srv.NewUser(t, tn, "alice@tok.example.com", "Alice", "sales")
		_, bu := srv.NewUser(t, tn, "bob@tok.example.com", "Bob", "sales")
		bobsRecord, err := tn.Admin.CreateRecord(ctx, "account", client.RecordInput{OwnerID: bu.ID, Fields: map[string]any{"name": "Bob's"}})
		noErr(t, err)
		mine := create(t, alice, "account", map[string]any{"name": "Alice's"})

		// Bad requests name the field.
		for _, bad := range []api.CreateTokenRequest{
			{Name: "", Scope: "read", ExpiresInDays: 30},
			{Name: "x", Scope: "admin", ExpiresInDays: 30},
			{Name: "x", Scope: "read", ExpiresInDays: 0},
			{Name: "x", Scope: "read", ExpiresInDays: 367},
			{Name: "bad\x00name", Scope: "read", ExpiresInDays: 30},
		} {
			_, err := alice.CreateToken(ctx, au.ID, bad)
			checkErr(t, "bad token request", err, 400, "invalid_request")
		}
		// A sales user cannot make tokens for someone else.
		_, err = alice.CreateToken(ctx, bu.ID, api.CreateTokenRequest{Name: "sneaky", Scope: "write", ExpiresInDays: 30})
		checkErr(t, "token for another user", err, 404, "not_found")

		read := must[*api.CreateTokenResponse](t)(alice.CreateToken(ctx, au.ID, api.CreateTokenRequest{Name: "BI export", Scope: "read", ExpiresInDays: 30}))
		if !strings.HasPrefix(read.Secret, "hvt_") || read.Token.UserID != au.ID || !read.Token.Active {
			t.Fatalf("token %+v", read)
		}
		rc := withToken(srv, read.Secret)
		me := must[*api.MeResponse](t)(rc.Me(ctx))
		if me.User.ID != au.ID {
			t.Fatalf("token acts as %s, want alice", me.User.ID)
		}
		// The owner's role still applies: Bob's record is out of reach.
		_, err = rc.GetRecord(ctx, "account", bobsRecord.ID)
		checkErr(t, "read token on another owner's record", err, 404, "not_found")
		must[*api.RecordDTO](t)(rc.GetRecord(ctx, "account", mine.ID))
		// Read scope: every write is refused and changes nothing.
		_, err = rc.CreateRecord(ctx, "account", client.RecordInput{Fields: map[string]any{"name": "via read token"}})
		checkErr(t, "write with a read token", err, 403, "forbidden")
		_, err = rc.UpdateRecord(ctx, "account", mine.ID, mine.Version, map[string]any{"name": "changed"})
		checkErr(t, "update with a read token", err, 403, "forbidden")
		checkErr(t, "delete with a read token", rc.DeleteRecord(ctx, "account", mine.ID, 0), 403, "forbidden")
		if got := must[*api.RecordDTO](t)(alice.GetRecord(ctx, "account", mine.ID)); got.Version != mine.Version {
			t.Fatal("a read token changed a record")
		}

		write := must[*api.CreateTokenResponse](t)(alice.CreateToken(ctx, au.ID, api.CreateTokenRequest{Name: "sync", Scope: "write", ExpiresInDays: 7}))
		wc := withToken(srv, write.Secret)
		created := create(t, wc, "account", map[string]any{"name": "made by token"})
		if created.OwnerID != au.ID {
			t.Fatalf("token-created record owned by %s", created.OwnerID)
		}
		// No token can manage credentials: a leaked token cannot mint more.
		_, err = wc.CreateToken(ctx, au.ID, api.CreateTokenRequest{Name: "more", Scope: "write", ExpiresInDays: 7})
		checkErr(t, "token creates a token", err, 403, "forbidden")
		checkErr(t, "token revokes a token", wc.RevokeToken(ctx, read.Token.ID), 403, "forbidden")

		// Admins see every user's tokens; Bob cannot see Alice's.
		list := must[*api.TokenList](t)(tn.Admin.UserTokens(ctx, au.ID))
		if len(list.Items) != 2 {
			t.Fatalf("admin sees %d tokens of alice, want 2", len(list.Items))
		}
		bob := login(t, srv, "tok", "bob@tok.example.com", password)
		_, err = bob.UserTokens(ctx, au.ID)
		checkErr(t, "bob lists alice's tokens", err, 404, "not_found")
		checkErr(t, "bob revokes alice's token", bob.RevokeToken(ctx, read.Token.ID), 404, "not_found")

		// Revocation is effective on the next request.
		noErr(t, alice.RevokeToken(ctx, read.Token.ID))
		_, err = rc.Me(ctx)
		checkErr(t, "revoked token", err, 401, "unauthenticated")
		// Deactivating the owner stops every token at once.
		must[*api.MeResponse](t)(wc.Me(ctx))
		must[*api.UserDTO](t)(tn.Admin.DeactivateUser(ctx, au.ID))
		_, err = wc.Me(ctx)
		checkErr(t, "token of a deactivated user", err, 401, "unauthenticated")

		// A token re-labelled to another tenant is refused.
		other := srv.NewTenant(t, "tok-other")
		raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(write.Secret, "hvt_"))
		noErr(t, err)
		otherID := uuid.MustParse(other.ID)
		copy(raw, otherID[:])
		_, err = withToken(srv, "hvt_"+base64.RawURLEncoding.EncodeToString(raw)).Me(ctx)
		checkErr(t, "re-labelled token", err, 401, "unauthenticated")

		// An API token is not a browser session: the web UI sends it to sign-in.
		integ, iu := srv.NewUser(t, tn, "erp@tok.example.com", "ERP integration", "manager")
		_ = integ
		it := must[*api.CreateTokenResponse](t)(tn.Admin.CreateToken(ctx, iu.ID, api.CreateTokenRequest{Name: "ERP", Scope: "write", ExpiresInDays: 365}))
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/", nil)
		req.AddCookie(&http.Cookie{Name: "haven_session", Value: it.Secret})
		resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
		noErr(t, err)
		resp.Body.Close()
		if resp.StatusCode/100 != 3 || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
			t.Fatalf("web with an API token cookie: %d %s", resp.StatusCode, resp.Header.Get("Location"))
		}

		// Audited.
		if n := len(allAudit(t, tn.Admin, client.AuditQuery{Action: "token.create"})); n != 3 {
			t.Fatalf("%d token.create events, want 3", n)
		}
		if n := len(allAudit(t, tn.Admin, client.AuditQuery{Action: "token.revoke"})); n != 1 {
			t.Fatalf("%d token.revoke events, want 1", n)
		}
	})
}
