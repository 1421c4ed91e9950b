package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/havencrm/haven/api"
	"github.com/havencrm/haven/client"
	"github.com/havencrm/haven/internal/testserver"
)

const agent = "haven-e2e/1.0 (audit; +https://example.com)"

// oneEvent finds the single event matching q.
func oneEvent(t *testing.T, c *client.Client, q client.AuditQuery) api.AuditEventDTO {
	t.Helper()
	evs := allAudit(t, c, q)
	if len(evs) != 1 {
		t.Fatalf("audit %+v: %d events, want 1: %s", q, len(evs), jsonString(evs))
	}
	return evs[0]
}

func checkEvent(t *testing.T, e api.AuditEventDTO, action, actorID, objectType, objectID, objectName string) {
	t.Helper()
	if e.Action != action || e.Actor.ID != actorID || e.ObjectType != objectType || e.ObjectID != objectID || e.ObjectName != objectName {
		t.Errorf("event %s\nwant action %s actor %s object %s/%s %q", jsonString(e), action, actorID, objectType, objectID, objectName)
	}
	if e.IP != "127.0.0.1" {
		t.Errorf("%s: ip %q", action, e.IP)
	}
	if e.UserAgent != agent {
		t.Errorf("%s: user agent %q", action, e.UserAgent)
	}
	if e.RequestID == "" || e.Seq <= 0 || e.At.IsZero() || time.Since(e.At) > time.Hour || time.Until(e.At) > time.Minute {
		t.Errorf("%s: request id %q seq %d at %v", action, e.RequestID, e.Seq, e.At)
	}
	if e.Actor.Type != "user" {
		t.Errorf("%s: actor type %q", action, e.Actor.Type)
	}
}

func change(t *testing.T, e api.AuditEventDTO, field string, before, after any) {
	t.Helper()
	c, ok := e.Changes[field]
	if !ok {
		t.Errorf("%s: no change of %q in %s", e.Action, field, jsonString(e.Changes))
		return
	}
	if fmt.Sprint(c.Before) != fmt.Sprint(before) || fmt.Sprint(c.After) != fmt.Sprint(after) {
		t.Errorf("%s: %s changed %v -> %v, want %v -> %v", e.Action, field, c.Before, c.After, before, after)
	}
}

func TestAudit(t *testing.T) {
	t.Parallel()
	eachEngine(t, func(t *testing.T, srv *testserver.Server) {
		ctx := context.Background()
		tn := srv.NewTenant(t, "trail")
		admin := login(t, srv, "trail", tn.AdminLogin, password, client.WithUserAgent(agent))
		me := must[*api.MeResponse](t)(admin.Me(ctx))
		adminID := me.User.ID

		t.Run("events describe who did what", func(t *testing.T) {
			// The sign-in above.
			evs := allAudit(t, admin, client.AuditQuery{Action: "auth.login", Actor: adminID})
			if len(evs) == 0 {
				t.Fatal("no login event")
			}
			checkEvent(t, evs[0], "auth.login", adminID, "user", adminID, tn.AdminLogin)

			// Failed sign-ins: a wrong password and an unknown login.
			_, err := client.New(srv.URL, client.WithUserAgent(agent)).Login(ctx, api.LoginRequest{Tenant: "trail", Login: tn.AdminLogin, Password: "Wrong-Secret-4711"})
			wantErr(t, err, 401, "invalid_credentials")
			failed := oneEvent(t, admin, client.AuditQuery{Action: "auth.login_failed", ObjectID: adminID})
			checkEvent(t, failed, "auth.login_failed", adminID, "user", adminID, tn.AdminLogin)
			_, err = client.New(srv.URL, client.WithUserAgent(agent)).Login(ctx, api.LoginRequest{Tenant: "trail", Login: "ghost@example.com", Password: "Wrong-Secret-4711"})
			wantErr(t, err, 401, "invalid_credentials")
			var ghost []api.AuditEventDTO
			for _, e := range allAudit(t, admin, client.AuditQuery{Action: "auth.login_failed"}) {
				if e.ObjectName == "ghost@example.com" {
					ghost = append(ghost, e)
				}
			}
			if len(ghost) != 1 || ghost[0].IP != "127.0.0.1" || ghost[0].UserAgent != agent {
				t.Errorf("unknown-login failure: %s", jsonString(ghost))
			}
			// The password tried is never recorded.
			for _, e := range allAudit(t, admin, client.AuditQuery{Limit: 200}) {
				if strings.Contains(jsonString(e), "Wrong-Secret-4711") || strings.Contains(jsonString(e), password) {
					t.Errorf("a password is in the audit log: %s", jsonString(e))
				}
			}

			// Records.
			rec := create(t, admin, "account", map[string]any{"name": "Audited Ltd", "city": "Shanghai", "industry": "retail"})
			ev := oneEvent(t, admin, client.AuditQuery{Action: "record.create", ObjectID: rec.ID})
			checkEvent(t, ev, "record.create", adminID, "account", rec.ID, "Audited Ltd")
			change(t, ev, "name", nil, "Audited Ltd")
			change(t, ev, "city", nil, "Shanghai")
			change(t, ev, "owner_id", nil, adminID)

			upd := must[*api.RecordDTO](t)(admin.UpdateRecord(ctx, "account", rec.ID, rec.Version, map[string]any{"city": "Beijing", "industry": "retail", "name": "Audited Ltd"}))
			ev = oneEvent(t, admin, client.AuditQuery{Action: "record.update", ObjectID: rec.ID})
			checkEvent(t, ev, "record.update", adminID, "account", rec.ID, "Audited Ltd")
			change(t, ev, "city", "Shanghai", "Beijing")
			if len(ev.Changes) != 1 {
				t.Errorf("update records unchanged fields too: %s", jsonString(ev.Changes))
			}
			upd = must[*api.RecordDTO](t)(admin.UpdateRecord(ctx, "account", rec.ID, upd.Version, map[string]any{"industry": nil}))
			ev = allAudit(t, admin, client.AuditQuery{Action: "record.update", ObjectID: rec.ID})[0]
			change(t, ev, "industry", "retail", nil)
			if len(ev.Changes) != 1 {
				t.Errorf("clearing one field: %s", jsonString(ev.Changes))
			}

			noErr(t, admin.DeleteRecord(ctx, "account", rec.ID, upd.Version))
			ev = oneEvent(t, admin, client.AuditQuery{Action: "record.delete", ObjectID: rec.ID})
			checkEvent(t, ev, "record.delete", adminID, "account", rec.ID, "Audited Ltd")
			change(t, ev, "name", "Audited Ltd", nil)
			change(t, ev, "city", "Beijing", nil)
			change(t, ev, "owner_id", adminID, nil)

			// Users.
			nu := must[*api.CreateUserResponse](t)(admin.CreateUser(ctx, api.CreateUserRequest{Email: "audited@example.com", Name: "Audited User", Role: "sales"}))
			ev = oneEvent(t, admin, client.AuditQuery{Action: "user.create", ObjectID: nu.User.ID})
			checkEvent(t, ev, "user.create", adminID, "user", nu.User.ID, "Audited User")
			change(t, ev, "role", nil, "sales")
			change(t, ev, "email", nil, "audited@example.com")
			if strings.Contains(jsonString(ev), nu.OneTimePassword) {
				t.Errorf("the one-time password is in the audit log")
			}
			name, role := "Renamed User", "manager"
			must[*api.UserDTO](t)(admin.UpdateUser(ctx, nu.User.ID, api.UpdateUserRequest{Name: &name, Role: &role}))
			ev = oneEvent(t, admin, client.AuditQuery{Action: "user.update", ObjectID: nu.User.ID})
			checkEvent(t, ev, "user.update", adminID, "user", nu.User.ID, "Renamed User")
			change(t, ev, "name", "Audited User", "Renamed User")
			change(t, ev, "role", "sales", "manager")
			if len(ev.Changes) != 2 {
				t.Errorf("user update records unchanged fields: %s", jsonString(ev.Changes))
			}

			// The user signs in, changes their password and signs out.
			uc := login(t, srv, "trail", "audited@example.com", nu.OneTimePassword, client.WithUserAgent(agent))
			noErr(t, uc.ChangePassword(ctx, nu.OneTimePassword, "Fresh-Password-31"))
			ev = oneEvent(t, admin, client.AuditQuery{Action: "auth.password_changed", ObjectID: nu.User.ID})
			checkEvent(t, ev, "auth.password_changed", nu.User.ID, "user", nu.User.ID, "audited@example.com")
			if strings.Contains(jsonString(ev), "Fresh-Password-31") || strings.Contains(jsonString(ev), nu.OneTimePassword) {
				t.Errorf("password in the audit log: %s", jsonString(ev))
			}
			noErr(t, uc.Logout(ctx))
			ev = oneEvent(t, admin, client.AuditQuery{Action: "auth.logout", Actor: nu.User.ID})
			checkEvent(t, ev, "auth.logout", nu.User.ID, "user", nu.User.ID, "Renamed User")

			login(t, srv, "trail", "audited@example.com", "Fresh-Password-31")
			must[*api.UserDTO](t)(admin.DeactivateUser(ctx, nu.User.ID))
			ev = oneEvent(t, admin, client.AuditQuery{Action: "user.deactivate", ObjectID: nu.User.ID})
			checkEvent(t, ev, "user.deactivate", adminID, "user", nu.User.ID, "Renamed User")
			change(t, ev, "status", "active", "deactivated")
			change(t, ev, "sessions_revoked", nil, 1)

			must[*api.ResetPasswordResponse](t)(admin.ResetPassword(ctx, nu.User.ID))
			ev = oneEvent(t, admin, client.AuditQuery{Action: "user.reset_password", ObjectID: nu.User.ID})
			checkEvent(t, ev, "user.reset_password", adminID, "user", nu.User.ID, "Renamed User")

			f := must[*api.FieldDTO](t)(admin.CreateField(ctx, "account", api.CreateFieldRequest{Name: "audited", Label: "Audited", Type: "boolean"}))
			ev = oneEvent(t, admin, client.AuditQuery{Action: "field.create"})
			checkEvent(t, ev, "field.create", adminID, "field", "account."+f.Name, "Audited")
		})

		t.Run("filters", func(t *testing.T) {
			sales, salesU := srv.NewUser(t, tn, "filter-sales@example.com", "Filter Sales", "sales")
			acc := create(t, sales, "account", map[string]any{"name": "Filtered"})
			con := create(t, sales, "contact", map[string]any{"name": "Filtered Contact"})
			must[*api.RecordDTO](t)(sales.UpdateRecord(ctx, "account", acc.ID, acc.Version, map[string]any{"city": "Xi'an"}))
			all := allAudit(t, admin, client.AuditQuery{Limit: 200})

			check := func(what string, q client.AuditQuery, keep func(api.AuditEventDTO) bool) {
				t.Helper()
				got := allAudit(t, admin, q)
				var want []int64
				for _, e := range all {
					if keep(e) {
						want = append(want, e.Seq)
					}
				}
				var gotSeq []int64
				for _, e := range got {
					gotSeq = append(gotSeq, e.Seq)
				}
				if len(want) == 0 {
					t.Errorf("%s: the filter selects nothing; the check proves nothing", what)
				}
				if !slices.Equal(gotSeq, want) {
					t.Errorf("%s: got seqs %v, want %v", what, gotSeq, want)
				}
			}
			check("actor", client.AuditQuery{Actor: salesU.ID}, func(e api.AuditEventDTO) bool { return e.Actor.ID == salesU.ID })
			check("action", client.AuditQuery{Action: "record.create"}, func(e api.AuditEventDTO) bool { return e.Action == "record.create" })
			check("object", client.AuditQuery{Object: "contact"}, func(e api.AuditEventDTO) bool { return e.ObjectType == "contact" })
			check("object_id", client.AuditQuery{ObjectID: acc.ID}, func(e api.AuditEventDTO) bool { return e.ObjectID == acc.ID })
			check("actor+action", client.AuditQuery{Actor: salesU.ID, Action: "record.update"}, func(e api.AuditEventDTO) bool {
				return e.Actor.ID == salesU.ID && e.Action == "record.update"
			})
			check("object+object_id", client.AuditQuery{Object: "account", ObjectID: acc.ID, Limit: 1}, func(e api.AuditEventDTO) bool {
				return e.ObjectType == "account" && e.ObjectID == acc.ID
			})
			// Wrong object type for the id: nothing.
			if got := allAudit(t, admin, client.AuditQuery{Object: "lead", ObjectID: con.ID}); len(got) != 0 {
				t.Errorf("object=lead object_id=contact: %d events", len(got))
			}
			if got := allAudit(t, admin, client.AuditQuery{Actor: uuid.NewString()}); len(got) != 0 {
				t.Errorf("unknown actor: %d events", len(got))
			}

			// Time filters: from is inclusive, to exclusive, at microsecond
			// precision. Pick an event whose time differs from the one
			// before it.
			var pivot api.AuditEventDTO
			for i := len(all) - 2; i >= 0; i-- {
				if all[i].At.After(all[i+1].At) && i < len(all)/2+1 {
					pivot = all[i]
					break
				}
			}
			if pivot.Seq == 0 {
				t.Fatal("no two events with distinct times")
			}
			at := pivot.At.UTC().Format(time.RFC3339Nano)
			rawAudit := func(q string) api.AuditList {
				t.Helper()
				var out api.AuditList
				r := do(t, srv, rawReq{Method: "GET", Path: "/api/v1/audit?limit=200&" + q, Token: admin.Token()})
				if r.Status != 200 {
					t.Fatalf("audit %s: %d %s", q, r.Status, r.Body)
				}
				if err := jsonUnmarshal(r.Body, &out); err != nil {
					t.Fatal(err)
				}
				return out
			}
			from := rawAudit("from=" + at)
			to := rawAudit("to=" + at)
			for _, e := range from.Items {
				if e.At.Before(pivot.At) {
					t.Errorf("from=%s returned an event at %s", at, e.At)
				}
			}
			for _, e := range to.Items {
				if !e.At.Before(pivot.At) {
					t.Errorf("to=%s returned an event at %s", at, e.At)
				}
			}
			if !slices.ContainsFunc(from.Items, func(e api.AuditEventDTO) bool { return e.Seq == pivot.Seq }) {
				t.Errorf("from=%s misses the event at that instant", at)
			}
			if len(from.Items)+len(to.Items) != len(all) || len(from.Items) == 0 || len(to.Items) == 0 {
				t.Errorf("from and to split %d events into %d + %d", len(all), len(from.Items), len(to.Items))
			}
			both := rawAudit("from=" + all[len(all)-1].At.Format(time.RFC3339Nano) + "&to=" + at)
			if len(both.Items) != len(to.Items) {
				t.Errorf("from=first&to=pivot: %d events, want %d", len(both.Items), len(to.Items))
			}
			// Through the client (second precision).
			if got := allAudit(t, admin, client.AuditQuery{From: time.Now().Add(time.Hour)}); len(got) != 0 {
				t.Errorf("events from the future: %d", len(got))
			}
			if got := allAudit(t, admin, client.AuditQuery{To: time.Now().Add(-24 * time.Hour)}); len(got) != 0 {
				t.Errorf("events before the tenant existed: %d", len(got))
			}
			if got := allAudit(t, admin, client.AuditQuery{From: time.Now().Add(-time.Hour), To: time.Now().Add(time.Hour), Limit: 200}); len(got) != len(all) {
				t.Errorf("events of the last hour: %d, want %d", len(got), len(all))
			}
			_, err := admin.ListAudit(ctx, client.AuditQuery{From: time.Now(), To: time.Now().Add(-time.Hour)})
			wantErr(t, err, 400, "invalid_request")
			for _, q := range []string{"from=yesterday", "to=2026-01-32T00:00:00Z", "limit=0", "limit=201", "limit=x", "cursor=abc", "cursor=0", "cursor=-5", "foo=bar", "seq=1"} {
				r := do(t, srv, rawReq{Method: "GET", Path: "/api/v1/audit?" + q, Token: admin.Token()})
				wantRaw(t, "audit "+q, r, 400, "invalid_request")
			}
		})

		t.Run("sequence numbers are gap-free under concurrent writes", func(t *testing.T) {
			fns := make([]func(), 12)
			for i := range fns {
				fns[i] = func() {
					if _, err := admin.CreateRecord(ctx, "lead", client.RecordInput{Fields: map[string]any{"name": fmt.Sprintf("concurrent %d", i)}}); err != nil {
						t.Errorf("concurrent create: %v", err)
					}
				}
			}
			parallel(fns...)
			var seqs []int64
			pagesSeen := 0
			q := client.AuditQuery{Limit: 7}
			for {
				page := must[*api.AuditList](t)(admin.ListAudit(ctx, q))
				pagesSeen++
				if len(page.Items) > 7 {
					t.Fatalf("page of %d events for limit 7", len(page.Items))
				}
				for _, e := range page.Items {
					seqs = append(seqs, e.Seq)
				}
				if page.NextCursor == "" {
					break
				}
				if len(page.Items) != 7 {
					t.Errorf("short page of %d before the end", len(page.Items))
				}
				q.Cursor = page.NextCursor
			}
			if len(seqs) < 30 || pagesSeen < 5 {
				t.Fatalf("only %d events in %d pages", len(seqs), pagesSeen)
			}
			for i, s := range seqs {
				if want := int64(len(seqs) - i); s != want {
					t.Fatalf("sequence %v is not N..1 without gaps (at %d: %d, want %d)", seqs, i, s, want)
				}
			}
			first := allAudit(t, admin, client.AuditQuery{Limit: 200})
			if last := first[len(first)-1]; last.Seq != 1 || last.Action != "tenant.create" || last.Actor.Type != "system" {
				t.Errorf("first event %s", jsonString(last))
			}
			// Every concurrent create has its event.
			if n := len(allAudit(t, admin, client.AuditQuery{Action: "record.create", Object: "lead"})); n < 12 {
				t.Errorf("%d lead create events, want at least 12", n)
			}
			// Sequences are per tenant: another tenant starts at 1.
			other := srv.NewTenant(t, "trail-other")
			oe := allAudit(t, other.Admin, client.AuditQuery{Limit: 200})
			if oe[len(oe)-1].Seq != 1 || oe[0].Seq != int64(len(oe)) {
				t.Errorf("another tenant's sequence: first %d last %d of %d", oe[len(oe)-1].Seq, oe[0].Seq, len(oe))
			}
		})

		t.Run("record history", func(t *testing.T) {
			sales, _ := srv.NewUser(t, tn, "history-sales@example.com", "History Sales", "sales")
			rec := create(t, admin, "opportunity", map[string]any{"name": "Historic", "stage": "prospecting", "amount": 10})
			v := rec.Version
			for _, stage := range []string{"qualification", "proposal", "negotiation"} {
				v = must[*api.RecordDTO](t)(admin.UpdateRecord(ctx, "opportunity", rec.ID, v, map[string]any{"stage": stage})).Version
			}
			other := create(t, admin, "opportunity", map[string]any{"name": "Unrelated", "stage": "prospecting"})
			h := must[*api.AuditList](t)(admin.RecordHistory(ctx, "opportunity", rec.ID))
			if len(h.Items) != 4 {
				t.Fatalf("history has %d events, want 4: %s", len(h.Items), jsonString(h.Items))
			}
			wantActions := []string{"record.update", "record.update", "record.update", "record.create"}
			for i, e := range h.Items {
				if e.ObjectID != rec.ID || e.Action != wantActions[i] {
					t.Errorf("history[%d] = %s", i, jsonString(e))
				}
				if i > 0 && e.Seq >= h.Items[i-1].Seq {
					t.Errorf("history is not newest first")
				}
			}
			change(t, h.Items[0], "stage", "proposal", "negotiation")
			// Only the readers of the record get its history.
			_, err := sales.RecordHistory(ctx, "opportunity", rec.ID)
			wantErr(t, err, 404, "not_found")
			_, err = sales.RecordHistory(ctx, "opportunity", uuid.NewString())
			wantErr(t, err, 404, "not_found")
			_, err = admin.RecordHistory(ctx, "account", rec.ID)
			wantErr(t, err, 404, "not_found")
			_, err = admin.RecordHistory(ctx, "opportunity", "not-an-id")
			wantErr(t, err, 404, "not_found")
			if oh := must[*api.AuditList](t)(admin.RecordHistory(ctx, "opportunity", other.ID)); len(oh.Items) != 1 {
				t.Errorf("unrelated history: %d events", len(oh.Items))
			}
			// History pages with limit and cursor.
			r := do(t, srv, rawReq{Method: "GET", Path: "/api/v1/objects/opportunity/records/" + rec.ID + "/history?limit=3", Token: admin.Token()})
			var p1 api.AuditList
			if r.Status != 200 || jsonUnmarshal(r.Body, &p1) != nil || len(p1.Items) != 3 || p1.NextCursor == "" {
				t.Fatalf("history page 1: %d %s", r.Status, r.Body)
			}
			r = do(t, srv, rawReq{Method: "GET", Path: "/api/v1/objects/opportunity/records/" + rec.ID + "/history?limit=3&cursor=" + p1.NextCursor, Token: admin.Token()})
			var p2 api.AuditList
			if r.Status != 200 || jsonUnmarshal(r.Body, &p2) != nil || len(p2.Items) != 1 || p2.NextCursor != "" || p2.Items[0].Action != "record.create" {
				t.Errorf("history page 2: %d %s", r.Status, r.Body)
			}
			// The sales owner of a record reads its history.
			own := create(t, sales, "lead", map[string]any{"name": "Own history"})
			if sh := must[*api.AuditList](t)(sales.RecordHistory(ctx, "lead", own.ID)); len(sh.Items) != 1 {
				t.Errorf("own history: %d events", len(sh.Items))
			}
		})
	})
}
