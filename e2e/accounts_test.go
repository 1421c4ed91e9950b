package e2e

import (
	"context"
	"slices"
	"testing"

	"github.com/havencrm/haven/api"
	"github.com/havencrm/haven/client"
	"github.com/havencrm/haven/internal/testserver"
)

// TestSessionsSeenAndEnded: users list and end their own sessions, admins
// anyone's; another user's session stays out of a non-admin's reach.
func TestSessionsSeenAndEnded(t *testing.T) {
	eachEngine(t, func(t *testing.T, srv *testserver.Server) {
		ctx := context.Background()
		tn := srv.NewTenant(t, "sess")
		laptop, alice := srv.NewUser(t, tn, "alice@sess.example.com", "Alice", "sales")
		phone := login(t, srv, "sess", "alice@sess.example.com", password, client.WithUserAgent("Phone/1.0"))
		bobClient, bob := srv.NewUser(t, tn, "bob@sess.example.com", "Bob", "sales")

		list := must[*api.SessionList](t)(laptop.UserSessions(ctx, alice.ID))
		if len(list.Items) != 2 {
			t.Fatalf("alice has %d live sessions, want 2 (the password change ended the first one-time session? got %+v)", len(list.Items), list.Items)
		}
		var phoneID string
		current := 0
		for _, s := range list.Items {
			if s.Current {
				current++
			}
			if s.UserAgent == "Phone/1.0" {
				phoneID = s.ID
			}
		}
		if current != 1 || phoneID == "" {
			t.Fatalf("sessions %+v: want exactly one current and the phone session", list.Items)
		}
		// Bob can neither see nor end Alice's sessions: not_found, as if absent.
		_, err := bobClient.UserSessions(ctx, alice.ID)
		checkErr(t, "bob lists alice's sessions", err, 404, "not_found")
		checkErr(t, "bob ends alice's session", bobClient.EndSession(ctx, phoneID), 404, "not_found")
		noErr(t, phone.Logout(ctx)) // still alive until here
		phone = login(t, srv, "sess", "alice@sess.example.com", password, client.WithUserAgent("Phone/2.0"))
		list = must[*api.SessionList](t)(laptop.UserSessions(ctx, alice.ID))
		for _, s := range list.Items {
			if s.UserAgent == "Phone/2.0" {
				phoneID = s.ID
			}
		}
		// Alice ends her phone session from the laptop: the phone is out at once.
		noErr(t, laptop.EndSession(ctx, phoneID))
		_, err = phone.Me(ctx)
		checkErr(t, "ended session", err, 401, "unauthenticated")
		if _, err := laptop.Me(ctx); err != nil {
			t.Fatalf("the laptop session ended too: %v", err)
		}
		// The admin ends Bob's session.
		bobs := must[*api.SessionList](t)(tn.Admin.UserSessions(ctx, bob.ID))
		if len(bobs.Items) != 1 {
			t.Fatalf("bob has %d sessions", len(bobs.Items))
		}
		noErr(t, tn.Admin.EndSession(ctx, bobs.Items[0].ID))
		_, err = bobClient.Me(ctx)
		checkErr(t, "session ended by admin", err, 401, "unauthenticated")
		events := allAudit(t, tn.Admin, client.AuditQuery{Action: "session.revoke"})
		if len(events) != 2 {
			t.Fatalf("%d session.revoke events, want 2", len(events))
		}
		// Another tenant's session IDs are not found.
		other := srv.NewTenant(t, "sess-other")
		checkErr(t, "other tenant ends a session", other.Admin.EndSession(ctx, list.Items[0].ID), 404, "not_found")
		_, err = other.Admin.UserSessions(ctx, alice.ID)
		checkErr(t, "other tenant lists sessions", err, 404, "not_found")
	})
}

// TestOffboarding: one action deactivates the leaver, ends their sessions
// and hands all their records over, audited; nothing else changes hands.
func TestOffboarding(t *testing.T) {
	eachEngine(t, func(t *testing.T, srv *testserver.Server) {
		ctx := context.Background()
		tn := srv.NewTenant(t, "offb")
		leaver, lu := srv.NewUser(t, tn, "leaver@offb.example.com", "Leaver", "sales")
		heirClient, heir := srv.NewUser(t, tn, "heir@offb.example.com", "Heir", "sales")
		_, bystander := srv.NewUser(t, tn, "by@offb.example.com", "Bystander", "sales")
		var leaversRecords []string
		acct := create(t, leaver, "account", map[string]any{"name": "Leaver Account"})
		leaversRecords = append(leaversRecords, acct.ID)
		leaversRecords = append(leaversRecords, create(t, leaver, "contact", map[string]any{"name": "张三", "account_id": acct.ID}).ID)
		leaversRecords = append(leaversRecords, create(t, leaver, "opportunity", map[string]any{"name": "Deal", "stage": "proposal", "account_id": acct.ID}).ID)
		kept := create(t, tn.Admin, "account", map[string]any{"name": "Bystander Account"})
		kept = must[*api.RecordDTO](t)(tn.Admin.UpdateRecord(ctx, "account", kept.ID, kept.Version, nil))
		_, err := tn.Admin.CreateRecord(ctx, "account", client.RecordInput{OwnerID: bystander.ID, Fields: map[string]any{"name": "By"}})
		noErr(t, err)

		// Guard rails first: only admins; a heir must be an active user of this tenant.
		_, err = heirClient.OffboardUser(ctx, lu.ID, heir.ID)
		checkErr(t, "sales offboards", err, 403, "forbidden")
		_, err = tn.Admin.OffboardUser(ctx, lu.ID, lu.ID)
		checkErr(t, "heir is the leaver", err, 400, "invalid_request")
		_, err = tn.Admin.OffboardUser(ctx, lu.ID, "0190a0a0-0000-7000-8000-000000000000")
		checkErr(t, "unknown heir", err, 400, "invalid_request")
		other := srv.NewTenant(t, "offb-other")
		_, otherUser := srv.NewUser(t, other, "x@offb-other.example.com", "X", "sales")
		_, err = tn.Admin.OffboardUser(ctx, lu.ID, otherUser.ID)
		checkErr(t, "heir of another tenant", err, 400, "invalid_request")
		_, err = other.Admin.OffboardUser(ctx, lu.ID, otherUser.ID)
		checkErr(t, "offboarding another tenant's user", err, 404, "not_found")
		if _, err := leaver.Me(ctx); err != nil {
			t.Fatalf("refused offboardings touched the leaver: %v", err)
		}

		res := must[*api.OffboardResponse](t)(tn.Admin.OffboardUser(ctx, lu.ID, heir.ID))
		if res.User.Status != "deactivated" || res.RecordsTransferred != 3 || res.SessionsRevoked != 1 ||
			res.RecordsByObject["account"] != 1 || res.RecordsByObject["contact"] != 1 || res.RecordsByObject["opportunity"] != 1 {
			t.Fatalf("offboard result %+v", res)
		}
		_, err = leaver.Me(ctx)
		checkErr(t, "leaver's session after offboarding", err, 401, "unauthenticated")
		_, err = client.New(srv.URL).Login(ctx, api.LoginRequest{Tenant: "offb", Login: "leaver@offb.example.com", Password: password})
		checkErr(t, "offboarded user signs in", err, 401, "invalid_credentials")
		// The heir now sees and edits them (sales see only their own).
		mine := allRecords(t, heirClient, "account", client.ListOptions{})
		if !slices.Contains(ids(mine), acct.ID) {
			t.Fatal("the heir does not see the transferred account")
		}
		for _, obj := range []string{"account", "contact", "opportunity"} {
			for _, r := range allRecords(t, heirClient, obj, client.ListOptions{}) {
				if r.OwnerID != heir.ID {
					t.Fatalf("heir sees a record owned by %s", r.OwnerID)
				}
			}
		}
		got := must[*api.RecordDTO](t)(heirClient.GetRecord(ctx, "account", acct.ID))
		if got.Version != acct.Version+1 {
			t.Fatalf("transferred record version %d, want %d (editors holding the old version must get a conflict)", got.Version, acct.Version+1)
		}
		// Records of other owners did not move.
		still := must[*api.RecordDTO](t)(tn.Admin.GetRecord(ctx, "account", kept.ID))
		if still.OwnerID != kept.OwnerID || still.Version != kept.Version {
			t.Fatalf("a bystander record changed: %+v", still)
		}
		// Audited: one summary event and the owner change on each record's own trail.
		summary := allAudit(t, tn.Admin, client.AuditQuery{Action: "user.offboard", ObjectID: lu.ID})
		if len(summary) != 1 || summary[0].Changes["records_transferred_to"].After != heir.ID {
			t.Fatalf("offboard audit %+v", summary)
		}
		for _, id := range leaversRecords {
			evs := allAudit(t, tn.Admin, client.AuditQuery{Action: "record.transfer", ObjectID: id})
			if len(evs) != 1 || evs[0].Changes["owner_id"].Before != lu.ID || evs[0].Changes["owner_id"].After != heir.ID {
				t.Fatalf("record %s transfer audit %+v", id, evs)
			}
		}
		// Offboarding the last admin is refused like deactivating them.
		_, err = tn.Admin.OffboardUser(ctx, must[*api.MeResponse](t)(tn.Admin.Me(ctx)).User.ID, heir.ID)
		checkErr(t, "offboard yourself", err, 409, "conflict")
	})
}
