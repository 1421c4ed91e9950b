package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/havencrm/haven/api"
	"github.com/havencrm/haven/client"
	"github.com/havencrm/haven/config"
	"github.com/havencrm/haven/internal/smtptest"
	"github.com/havencrm/haven/internal/testserver"
	"github.com/havencrm/haven/opsapi"
)

// TestOperatorWriteGrantAndDigest: an operator changes a record only
// under a grant that allows changes, only in its objects, never a record's
// owner and never creating or deleting; the change is in the tenant's
// trail as the operator via the grant; when the admin revokes, every
// admin gets a digest of what was viewed and changed, naming records by
// ID and carrying no values.
func TestOperatorWriteGrantAndDigest(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			mail := smtptest.Start(t)
			clk := &opsClock{t: time.Now().UTC().Truncate(time.Second)}
			srv := testserver.Start(t, engine, testserver.Options{Now: clk.Now, Configure: func(c *config.Config) {
				c.Notify.SMTPHost, c.Notify.SMTPPort = mail.Host, mail.Port
				c.Notify.SMTPFrom = "Haven <no-reply@haven.test>"
				c.Notify.SMTPTLS = config.SMTPTLSNone
			}})
			t.Cleanup(func() { http.DefaultClient.CloseIdleConnections() })
			ctx := context.Background()
			acme := srv.NewTenant(t, "writeacme")
			srv.NewUser(t, acme, "second-admin@writeacme.example.com", "Second", "admin")
			_, sam := srv.NewUser(t, acme, "sam@writeacme.example.com", "Sam", "sales")
			c := create(t, acme.Admin, "contact", map[string]any{"name": "Wang Wei", "title": "Buyer", "mobile": "13912345678"})
			acct := create(t, acme.Admin, "account", map[string]any{"name": "Acme Trading"})
			token, opID := opsSignIn(t, srv, clk, "olga-w@vendor.example.com")
			call := func(method, path string, body any) rawResp {
				r := rawReq{Method: method, Path: opsapi.Prefix + path, Token: token}
				if body != nil {
					r.ContentType, r.Body = "application/json", jsonBody(t, body)
				}
				return do(t, srv, r)
			}
			recordPath := "/tenants/writeacme/objects/contact/records/" + c.ID
			patch := map[string]any{"version": c.Version, "fields": map[string]any{"title": "Head of purchasing"}}
			wantRaw(t, "change without a grant", call(http.MethodPatch, recordPath, patch), 403, "forbidden")

			request := func(write bool, ticket string) api.GrantDTO {
				t.Helper()
				r := call(http.MethodPost, "/access-requests", map[string]any{"tenant": "writeacme", "reason": "title import broke", "ticket": ticket,
					"scope": map[string]any{"objects": []string{"contact"}, "write": write}, "duration_hours": 2})
				var g api.GrantDTO
				if r.Status != http.StatusCreated || json.Unmarshal(r.Body, &g) != nil {
					t.Fatalf("request: %d %s", r.Status, r.Body)
				}
				return g
			}
			// A read-only grant reads but does not change.
			ro := request(false, "SUP-600")
			if _, err := acme.Admin.DecideSupportAccess(ctx, ro.ID, "approve", api.GrantDecisionRequest{Statement: "read only, SUP-600"}); err != nil {
				t.Fatal(err)
			}
			if r := call(http.MethodGet, recordPath, nil); r.Status != 200 {
				t.Fatalf("read under a read-only grant: %d %s", r.Status, r.Body)
			}
			wantRaw(t, "change under a read-only grant", call(http.MethodPatch, recordPath, patch), 403, "forbidden")
			if _, err := acme.Admin.DecideSupportAccess(ctx, ro.ID, "revoke", api.GrantDecisionRequest{Statement: "switching to a write grant"}); err != nil {
				t.Fatal(err)
			}

			// The admin may narrow a write request to read-only; here they grant write.
			rw := request(true, "SUP-601")
			if _, err := acme.Admin.DecideSupportAccess(ctx, rw.ID, "approve", api.GrantDecisionRequest{
				Statement: "I authorize Olga to correct contact titles for SUP-601.", Scope: &api.GrantScopeDTO{Objects: []string{"contact"}, Write: true}}); err != nil {
				t.Fatal(err)
			}
			r := call(http.MethodPatch, recordPath, patch)
			if r.Status != 200 {
				t.Fatalf("change under a write grant: %d %s", r.Status, r.Body)
			}
			var rec api.RecordDTO
			_ = json.Unmarshal(r.Body, &rec)
			if rec.Fields["title"] != "Head of purchasing" || rec.Version != c.Version+1 || strings.Contains(string(r.Body), "13912345678") {
				t.Fatalf("answer to the change: %s", r.Body)
			}
			// Around it: another object, a new owner, a create, a delete,
			// a stale version.
			wantRaw(t, "change outside the grant's objects", call(http.MethodPatch, "/tenants/writeacme/objects/account/records/"+acct.ID,
				map[string]any{"version": acct.Version, "fields": map[string]any{"name": "Renamed"}}), 403, "forbidden")
			wantRaw(t, "reassign the owner", call(http.MethodPatch, recordPath,
				map[string]any{"version": rec.Version, "owner_id": sam.ID, "fields": map[string]any{"title": "x"}}), 403, "forbidden")
			if r := call(http.MethodPost, "/tenants/writeacme/objects/contact/records", map[string]any{"fields": map[string]any{"name": "New"}}); r.Status != http.StatusMethodNotAllowed && r.Status != http.StatusNotFound {
				t.Fatalf("create under a grant: %d %s", r.Status, r.Body)
			}
			if r := call(http.MethodDelete, recordPath, nil); r.Status != http.StatusMethodNotAllowed && r.Status != http.StatusNotFound {
				t.Fatalf("delete under a grant: %d %s", r.Status, r.Body)
			}
			wantRaw(t, "stale version", call(http.MethodPatch, recordPath, patch), 409, "conflict")
			// A protected value the operator sees masked is never overwritten blind.
			wantRaw(t, "overwrite a masked field", call(http.MethodPatch, recordPath,
				map[string]any{"version": rec.Version, "fields": map[string]any{"mobile": "13800000000"}}), 400, "invalid_request")
			// The encrypted mobile, which the operator's copy of the record
			// held sealed, is intact and still found by its blind index.
			got, err := acme.Admin.GetRecord(ctx, "contact", c.ID)
			if err != nil || got.Fields["title"] != "Head of purchasing" || got.Name != "Wang Wei" || got.OwnerID != c.OwnerID ||
				got.Fields["mobile"] != "13912345678" {
				t.Fatalf("record after the operator's change: %+v %v", got, err)
			}
			found, err := acme.Admin.ListRecords(ctx, "contact", client.ListOptions{Filter: map[string]string{"mobile": "13912345678"}})
			if err != nil || len(found.Items) != 1 || found.Items[0].ID != c.ID {
				t.Fatalf("search by the encrypted mobile after the operator's change: %+v %v", found, err)
			}
			// The tenant's trail shows the change as the operator via the grant.
			updates, err := acme.Admin.ListAudit(ctx, client.AuditQuery{Action: "record.update"})
			if err != nil || len(updates.Items) != 1 {
				t.Fatalf("update events: %+v %v", updates, err)
			}
			if e := updates.Items[0]; e.Actor.Type != "operator" || e.Actor.ID != opID || e.Via != "grant:"+rw.ID || len(e.Changes) != 1 ||
				e.Changes["title"].Before != "Buyer" || e.Changes["title"].After != "Head of purchasing" {
				t.Fatalf("update event %+v", e)
			}

			// The read-only grant's digest went out at its revocation.
			for _, to := range []string{acme.AdminLogin, "second-admin@writeacme.example.com"} {
				m := mail.WaitFor(t, 15*time.Second, func(m smtptest.Message) bool {
					return smtptest.To(to)(m) && strings.Contains(m.Text, ro.ID)
				})
				if !strings.Contains(m.Text, "SUP-600") || !strings.Contains(m.Text, c.ID) {
					t.Errorf("read-only digest to %s:\n%s", to, m.Text)
				}
			}
			if r := call(http.MethodGet, recordPath, nil); r.Status != 200 {
				t.Fatalf("read under the write grant: %d", r.Status)
			}
			if _, err := acme.Admin.DecideSupportAccess(ctx, rw.ID, "revoke", api.GrantDecisionRequest{Statement: "titles fixed"}); err != nil {
				t.Fatal(err)
			}
			wantRaw(t, "change after revocation", call(http.MethodPatch, recordPath,
				map[string]any{"version": rec.Version, "fields": map[string]any{"title": "again"}}), 403, "forbidden")
			m := mail.WaitFor(t, 15*time.Second, func(m smtptest.Message) bool {
				return smtptest.To(acme.AdminLogin)(m) && strings.Contains(m.Text, rw.ID)
			})
			for _, want := range []string{"SUP-601", c.ID, "update", "viewed 1 records and changed 1", "已被撤销"} {
				if !strings.Contains(m.Text, want) {
					t.Errorf("digest lacks %q:\n%s", want, m.Text)
				}
			}
			for _, leak := range []string{"13912345678", "Head of purchasing", "Wang Wei"} {
				if strings.Contains(m.Text, leak) {
					t.Errorf("digest carries the value %q:\n%s", leak, m.Text)
				}
			}
			// A sweep later sends nothing twice.
			if n, err := srv.App.Support.SendEndedDigests(ctx); err != nil || n != 0 {
				t.Fatalf("sweep after the revocation digests: %d, %v", n, err)
			}
		})
	}
}

// TestSupportApprovalRuleAPI: admins read and set the two-admin rule;
// sales cannot, a value other than 1 or 2 is invalid, another tenant is
// untouched, and the change is audited.
func TestSupportApprovalRuleAPI(t *testing.T) {
	eachEngine(t, func(t *testing.T, srv *testserver.Server) {
		ctx := context.Background()
		acme := srv.NewTenant(t, "ruleacme")
		other := srv.NewTenant(t, "ruleother")
		sales, _ := srv.NewUser(t, acme, "sam@ruleacme.example.com", "Sam", "sales")
		got, err := acme.Admin.SupportSettings(ctx)
		if err != nil || got.RequiredApprovals != 1 {
			t.Fatalf("default: %+v %v", got, err)
		}
		_, err = sales.SupportSettings(ctx)
		checkErr(t, "sales reads", err, http.StatusForbidden, "forbidden")
		_, err = sales.SetSupportSettings(ctx, 2)
		checkErr(t, "sales sets", err, http.StatusForbidden, "forbidden")
		for _, bad := range []int{0, 3, -1} {
			_, err = acme.Admin.SetSupportSettings(ctx, bad)
			checkErr(t, "invalid rule", err, http.StatusBadRequest, "invalid_request")
		}
		if got, err = acme.Admin.SetSupportSettings(ctx, 2); err != nil || got.RequiredApprovals != 2 {
			t.Fatalf("set: %+v %v", got, err)
		}
		if got, _ = acme.Admin.SupportSettings(ctx); got.RequiredApprovals != 2 {
			t.Fatalf("after set: %+v", got)
		}
		if got, _ = other.Admin.SupportSettings(ctx); got.RequiredApprovals != 1 {
			t.Fatalf("another tenant's rule: %+v", got)
		}
		evs, err := acme.Admin.ListAudit(ctx, client.AuditQuery{Action: "support.settings"})
		if err != nil || len(evs.Items) != 1 {
			t.Fatalf("settings events: %+v %v", evs, err)
		}
	})
}
