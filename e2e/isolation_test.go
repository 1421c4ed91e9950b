package e2e

import (
	"context"
	"encoding/base64"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/havencrm/haven/api"
	"github.com/havencrm/haven/client"
	"github.com/havencrm/haven/internal/testserver"
	"github.com/havencrm/haven/records"
)

// TestTenantIsolation calls every record, user and audit endpoint of tenant
// A with tenant B's identifiers: each must answer not_found exactly like a
// missing resource, A's lists and audit must never show B's data, and B's
// data must be untouched afterwards.
func TestTenantIsolation(t *testing.T) {
	t.Parallel()
	eachEngine(t, func(t *testing.T, srv *testserver.Server) {
		ctx := context.Background()
		a := srv.NewTenant(t, "alpha")
		b := srv.NewTenant(t, "bravo")

		// The same e-mail exists in both tenants, with different passwords.
		aSalesC, aSales := srv.NewUser(t, a, "shared@example.com", "Alpha Sales", "sales")
		bSalesC, bSales := srv.NewUser(t, b, "shared@example.com", "Bravo Sales", "sales")
		noErr(t, bSalesC.ChangePassword(ctx, password, "Second-only-pass-77"))
		bMe := must[*api.MeResponse](t)(b.Admin.Me(ctx))

		// Every standard object holds data in both tenants.
		bRecs := map[string]*api.RecordDTO{}
		aRecs := map[string]*api.RecordDTO{}
		bAcc := create(t, b.Admin, "account", map[string]any{"name": "Bravo Secret Account", "industry": "finance", "phone": "+86 138 0000 5678"})
		aAcc := create(t, a.Admin, "account", map[string]any{"name": "Alpha Account", "industry": "finance"})
		bRecs["account"], aRecs["account"] = bAcc, aAcc
		bRecs["contact"] = create(t, b.Admin, "contact", map[string]any{"name": "Bravo Contact", "account_id": bAcc.ID})
		aRecs["contact"] = create(t, a.Admin, "contact", map[string]any{"name": "Alpha Contact", "account_id": aAcc.ID})
		bRecs["lead"] = create(t, b.Admin, "lead", map[string]any{"name": "Bravo Lead"})
		aRecs["lead"] = create(t, a.Admin, "lead", map[string]any{"name": "Alpha Lead"})
		bRecs["opportunity"] = create(t, b.Admin, "opportunity", map[string]any{"name": "Bravo Deal", "stage": "proposal", "amount": 99000, "account_id": bAcc.ID})
		aRecs["opportunity"] = create(t, a.Admin, "opportunity", map[string]any{"name": "Alpha Deal", "stage": "proposal", "amount": 1})
		bRecs["activity"] = create(t, b.Admin, "activity", map[string]any{"subject": "Bravo Call", "type": "call", "account_id": bAcc.ID})
		aRecs["activity"] = create(t, a.Admin, "activity", map[string]any{"subject": "Alpha Call", "type": "call"})
		// One record of B owned by B's sales user, so that owner-scoped
		// paths are exercised too.
		bOwn := create(t, bSalesC, "lead", map[string]any{"name": "Bravo Sales Lead"})

		bRecordIDs := map[string]bool{bOwn.ID: true}
		for _, r := range bRecs {
			bRecordIDs[r.ID] = true
		}
		bUserIDs := []string{bMe.User.ID, bSales.ID}

		// Snapshots of B.
		snapRecs := map[string]*api.RecordDTO{}
		for id := range bRecordIDs {
			for _, obj := range records.StandardObjectNames {
				if r, err := b.Admin.GetRecord(ctx, obj, id); err == nil {
					snapRecs[id] = r
				}
			}
		}
		snapUsers := must[*api.UserList](t)(b.Admin.ListUsers(ctx, client.ListOptions{}))
		snapAudit := allAudit(t, b.Admin, client.AuditQuery{Limit: 200})

		t.Run("record endpoints answer not_found", func(t *testing.T) {
			for _, caller := range []struct {
				name string
				c    *client.Client
			}{{"admin", a.Admin}, {"sales", aSalesC}} {
				for id := range bRecordIDs {
					rec := snapRecs[id]
					// The record's own object, and every other object name.
					for _, obj := range records.StandardObjectNames {
						what := caller.name + " " + obj + "/" + id
						_, err := caller.c.GetRecord(ctx, obj, id)
						checkErr(t, "GET "+what, err, 404, "not_found")
						_, err = caller.c.UpdateRecord(ctx, obj, id, rec.Version, map[string]any{"name": "pwned", "subject": "pwned"})
						checkErr(t, "PATCH "+what, err, 404, "not_found")
						_, err = caller.c.RecordHistory(ctx, obj, id)
						checkErr(t, "history "+what, err, 404, "not_found")
						err = caller.c.DeleteRecord(ctx, obj, id, rec.Version)
						checkErr(t, "DELETE ?version "+what, err, 404, "not_found")
						err = caller.c.DeleteRecord(ctx, obj, id, 0)
						checkErr(t, "DELETE "+what, err, 404, "not_found")
					}
				}
			}
			// The answer for B's record is byte-for-byte the answer for a
			// record that never existed.
			missing := uuid.Must(uuid.NewV7()).String()
			for _, path := range []string{"/api/v1/objects/account/records/", "/api/v1/objects/account/records/%s/history"} {
				p := func(id string) string {
					if strings.Contains(path, "%s") {
						return strings.Replace(path, "%s", id, 1)
					}
					return path + id
				}
				got := do(t, srv, rawReq{Method: "GET", Path: p(bAcc.ID), Token: a.Admin.Token()})
				want := do(t, srv, rawReq{Method: "GET", Path: p(missing), Token: a.Admin.Token()})
				wantRaw(t, "B's record", got, 404, "not_found")
				if string(got.Body) != string(want.Body) {
					t.Errorf("B's record answers %s, a missing one %s", got.Body, want.Body)
				}
			}
		})

		t.Run("user endpoints answer not_found", func(t *testing.T) {
			admin := "admin"
			name := "Pwned"
			for _, id := range bUserIDs {
				_, err := a.Admin.GetUser(ctx, id)
				checkErr(t, "GET user "+id, err, 404, "not_found")
				_, err = a.Admin.UpdateUser(ctx, id, api.UpdateUserRequest{Name: &name, Role: &admin})
				checkErr(t, "PATCH user "+id, err, 404, "not_found")
				_, err = a.Admin.DeactivateUser(ctx, id)
				checkErr(t, "deactivate user "+id, err, 404, "not_found")
				_, err = a.Admin.ResetPassword(ctx, id)
				checkErr(t, "reset-password user "+id, err, 404, "not_found")
				// A sales user may read only themselves; B's users are
				// still not_found, not forbidden.
				_, err = aSalesC.GetUser(ctx, id)
				checkErr(t, "sales GET user "+id, err, 404, "not_found")
			}
		})

		t.Run("lists never contain B's data", func(t *testing.T) {
			for _, obj := range records.StandardObjectNames {
				for _, c := range []*client.Client{a.Admin, aSalesC} {
					for _, opts := range []client.ListOptions{{}, {Q: "Bravo"}, {Sort: "name"}, {Limit: 1}} {
						for _, r := range allRecords(t, c, obj, opts) {
							if bRecordIDs[r.ID] || strings.Contains(r.Name, "Bravo") {
								t.Errorf("A's %s list %+v shows B's record %s %q", obj, opts, r.ID, r.Name)
							}
						}
					}
				}
				// Filtering on B's owner or B's account finds nothing.
				got := allRecords(t, a.Admin, obj, client.ListOptions{Filter: map[string]string{"owner_id": bMe.User.ID}})
				if len(got) != 0 {
					t.Errorf("A's %s list filtered by B's admin: %v", obj, recordNames(got))
				}
			}
			got := allRecords(t, a.Admin, "contact", client.ListOptions{Filter: map[string]string{"account_id": bAcc.ID}})
			if len(got) != 0 {
				t.Errorf("A's contacts of B's account: %v", recordNames(got))
			}
			// A's own data is there (the lists are not simply empty).
			if got := allRecords(t, a.Admin, "account", client.ListOptions{}); !slices.Contains(ids(got), aAcc.ID) {
				t.Errorf("A's account list misses A's account: %v", recordNames(got))
			}
			users := must[*api.UserList](t)(a.Admin.ListUsers(ctx, client.ListOptions{Limit: 200}))
			for _, u := range users.Items {
				if slices.Contains(bUserIDs, u.ID) || strings.Contains(u.Name, "Bravo") {
					t.Errorf("A's user list shows B's user %+v", u)
				}
			}
			if !slices.Contains(userIDs(users.Items), aSales.ID) {
				t.Errorf("A's user list misses A's sales user")
			}
		})

		t.Run("audit never shows B's events", func(t *testing.T) {
			for id := range bRecordIDs {
				if ev := allAudit(t, a.Admin, client.AuditQuery{ObjectID: id}); len(ev) != 0 {
					t.Errorf("A's audit for B's record %s: %+v", id, ev)
				}
			}
			for _, id := range bUserIDs {
				if ev := allAudit(t, a.Admin, client.AuditQuery{Actor: id}); len(ev) != 0 {
					t.Errorf("A's audit for B's actor %s: %d events", id, len(ev))
				}
				if ev := allAudit(t, a.Admin, client.AuditQuery{ObjectID: id}); len(ev) != 0 {
					t.Errorf("A's audit about B's user %s: %d events", id, len(ev))
				}
			}
			all := allAudit(t, a.Admin, client.AuditQuery{Limit: 200})
			if len(all) == 0 {
				t.Fatal("A's audit log is empty")
			}
			for _, e := range all {
				blob := jsonString(e)
				if strings.Contains(blob, "Bravo") || strings.Contains(blob, b.ID) || bRecordIDs[e.ObjectID] || slices.Contains(bUserIDs, e.Actor.ID) {
					t.Errorf("A's audit shows B's event: %s", blob)
				}
			}
		})

		t.Run("references across tenants are refused", func(t *testing.T) {
			_, err := a.Admin.CreateRecord(ctx, "contact", client.RecordInput{Fields: map[string]any{"name": "x", "account_id": bAcc.ID}})
			if f := badFields(t, err); f["account_id"] == nil {
				t.Errorf("lookup to B's account: %v", f)
			}
			_, err = a.Admin.UpdateRecord(ctx, "contact", aRecs["contact"].ID, aRecs["contact"].Version, map[string]any{"account_id": bAcc.ID})
			if f := badFields(t, err); f["account_id"] == nil {
				t.Errorf("lookup to B's account: %v", f)
			}
			// The shared login signs in to each tenant only with that
			// tenant's password.
			_, err = client.New(srv.URL).Login(ctx, api.LoginRequest{Tenant: "alpha", Login: "shared@example.com", Password: "Second-only-pass-77"})
			wantErr(t, err, 401, "invalid_credentials")
			_, err = client.New(srv.URL).Login(ctx, api.LoginRequest{Tenant: "bravo", Login: "shared@example.com", Password: password})
			wantErr(t, err, 401, "invalid_credentials")
			// Records owned by a user of another tenant.
			_, err = a.Admin.CreateRecord(ctx, "account", client.RecordInput{OwnerID: bSales.ID, Fields: map[string]any{"name": "Owned across tenants"}})
			if err == nil {
				t.Errorf("A's admin created a record owned by B's user %s", bSales.ID)
			} else if e := checkErr(t, "owner from B", err, 400, "invalid_request"); e != nil {
				if f, _ := e.Details["fields"].(map[string]any); f["owner_id"] == nil {
					t.Errorf("owner from B: details %v", e.Details)
				}
			}
			body := jsonBody(t, map[string]any{"version": aAcc.Version, "owner_id": bSales.ID, "fields": map[string]any{}})
			r := do(t, srv, rawReq{Method: "PATCH", Path: "/api/v1/objects/account/records/" + aAcc.ID, Token: a.Admin.Token(), ContentType: "application/json", Body: body})
			if r.Status < 400 {
				t.Errorf("A's admin gave A's record to B's user: %d %s", r.Status, r.Body)
			} else {
				wantRaw(t, "reassign to B's user", r, 400, "invalid_request")
			}
		})

		t.Run("B is unchanged", func(t *testing.T) {
			for id, snap := range snapRecs {
				got, err := b.Admin.GetRecord(ctx, snap.Object, id)
				if err != nil {
					t.Errorf("B's record %s: %v", id, err)
					continue
				}
				if got.Version != snap.Version || got.Name != snap.Name || got.OwnerID != snap.OwnerID || !reflect.DeepEqual(got.Fields, snap.Fields) {
					t.Errorf("B's record changed:\n got %+v\nwant %+v", got, snap)
				}
			}
			users := must[*api.UserList](t)(b.Admin.ListUsers(ctx, client.ListOptions{}))
			if !reflect.DeepEqual(users.Items, snapUsers.Items) {
				t.Errorf("B's users changed:\n got %+v\nwant %+v", users.Items, snapUsers.Items)
			}
			// B's sessions survived A's deactivate and reset-password calls,
			// and B's password still works.
			if _, err := bSalesC.Me(ctx); err != nil {
				t.Errorf("B's sales session: %v", err)
			}
			login(t, srv, "bravo", "shared@example.com", "Second-only-pass-77")
			// B's audit kept every event and gained only the sign-in
			// attempts of B's user made by this test.
			after := allAudit(t, b.Admin, client.AuditQuery{Limit: 200})
			var old []api.AuditEventDTO
			for _, e := range after {
				if e.Seq <= snapAudit[0].Seq {
					old = append(old, e)
				} else if (e.Action != "auth.login" && e.Action != "auth.login_failed") || e.ObjectID != bSales.ID {
					t.Errorf("B's audit gained %s", jsonString(e))
				}
			}
			if !reflect.DeepEqual(old, snapAudit) {
				t.Errorf("B's earlier audit events changed")
			}
		})
	})
}

// forgeTenant returns token with its tenant part replaced by tenantID.
func forgeTenant(t *testing.T, token, tenantID string) string {
	t.Helper()
	rest, ok := strings.CutPrefix(token, "hvs_")
	if !ok {
		t.Fatalf("token without the hvs_ prefix")
	}
	buf, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil || len(buf) != 48 {
		t.Fatalf("token is not base64url of 48 bytes: %v", err)
	}
	id := uuid.MustParse(tenantID)
	copy(buf[:16], id[:])
	return "hvs_" + base64.RawURLEncoding.EncodeToString(buf)
}

// TestForgedTenantToken swaps the tenant inside a session token: the
// token must then be worthless in every tenant.
func TestForgedTenantToken(t *testing.T) {
	t.Parallel()
	eachEngine(t, func(t *testing.T, srv *testserver.Server) {
		ctx := context.Background()
		a := srv.NewTenant(t, "alpha")
		b := srv.NewTenant(t, "bravo")
		aTok, bTok := a.Admin.Token(), b.Admin.Token()
		if got := forgeTenant(t, aTok, a.ID); got != aTok {
			t.Fatalf("token layout is not hvs_ + base64url(tenant UUID || random): re-encoding changed it")
		}
		bAcc := create(t, b.Admin, "account", map[string]any{"name": "Bravo only"})

		forged := map[string]string{
			"A's token claiming B":         forgeTenant(t, aTok, b.ID),
			"B's token claiming A":         forgeTenant(t, bTok, a.ID),
			"A's token claiming no tenant": forgeTenant(t, aTok, uuid.Must(uuid.NewV7()).String()),
			"A's token claiming nil UUID":  forgeTenant(t, aTok, uuid.Nil.String()),
		}
		for what, tok := range forged {
			c := withToken(srv, tok)
			_, err := c.Me(ctx)
			checkErr(t, what+": me", err, 401, "unauthenticated")
			_, err = c.ListRecords(ctx, "account", client.ListOptions{})
			checkErr(t, what+": list", err, 401, "unauthenticated")
			_, err = c.GetRecord(ctx, "account", bAcc.ID)
			checkErr(t, what+": get", err, 401, "unauthenticated")
			_, err = c.ListAudit(ctx, client.AuditQuery{})
			checkErr(t, what+": audit", err, 401, "unauthenticated")
			r := do(t, srv, rawReq{Method: "GET", Path: "/api/v1/me", Token: tok})
			wantRaw(t, what, r, 401, "unauthenticated")
			if !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("%s: WWW-Authenticate %q", what, r.Header.Get("WWW-Authenticate"))
			}
		}
		// The genuine tokens still work and still see only their tenant.
		if me, err := a.Admin.Me(ctx); err != nil || me.Tenant.ID != a.ID {
			t.Errorf("A's own token: %+v %v", me, err)
		}
		if me, err := b.Admin.Me(ctx); err != nil || me.Tenant.ID != b.ID {
			t.Errorf("B's own token: %+v %v", me, err)
		}
		_, err := a.Admin.GetRecord(ctx, "account", bAcc.ID)
		wantErr(t, err, http.StatusNotFound, "not_found")
	})
}
