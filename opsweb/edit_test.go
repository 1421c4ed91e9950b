package opsweb_test

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/havencrm/haven/api"
	"github.com/havencrm/haven/client"
	"github.com/havencrm/haven/internal/testbrowser"
	"github.com/havencrm/haven/internal/testserver"
)

// askAccess sends a request through the console and returns its ID.
func askAccess(t *testing.T, b *browser, slug, ticket, access string, objects ...string) string {
	t.Helper()
	p := b.submit("/ops/requests/new", "/ops/requests", url.Values{"tenant": {slug}, "kind": {"support"}, "reason": {"investigate " + ticket},
		"ticket": {ticket}, "objects": objects, "access": {access}, "hours": {"4"}})
	wantStatus(t, "request "+ticket, p, http.StatusOK)
	return strings.TrimPrefix(p.URL.Path, "/ops/requests/")
}

// TestWithdraw: the operator takes back their own pending request from
// its page (state withdrawn, in the tenant's trail, a flash); another
// operator's request is a 404; a decided request is refused with the
// reason on the page; without the CSRF token nothing happens.
func TestWithdraw(t *testing.T) {
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) {
			srv, clk := start(t, engine)
			ctx := context.Background()
			tn := srv.NewTenant(t, "wdco")
			op := newOperator(t, srv, clk, "olga@vendor.example.com", "Olga")
			rival := newOperator(t, srv, clk, "rival@vendor.example.com", "Rival")
			b := newBrowser(t, srv.URL)
			wantPath(t, "sign-in", b.opsLogin(clk, op), "/ops")
			rb := newBrowser(t, srv.URL)
			wantPath(t, "rival sign-in", rb.opsLogin(clk, rival), "/ops")

			id := askAccess(t, b, "wdco", "SUP-11", "read", "contact")
			detail := "/ops/requests/" + id
			p := b.get(detail)
			wantContains(t, "pending", p, `id="withdraw-form"`, `action="`+detail+`/withdraw"`, "Withdraw request")

			// Without the token: refused, and the request stays pending.
			p = b.post(detail+"/withdraw", url.Values{})
			wantStatus(t, "no csrf", p, http.StatusForbidden)
			wantContains(t, "no csrf", b.get(detail), `data-state="pending"`)
			// Another operator: a 404, like a missing request, even with
			// a valid token of their own session.
			p = rb.submit("/ops/requests", detail+"/withdraw", url.Values{})
			wantStatus(t, "rival withdraws", p, http.StatusNotFound)
			wantContains(t, "still pending", b.get(detail), `data-state="pending"`)

			p = b.submit(detail, detail+"/withdraw", url.Values{})
			wantStatus(t, "withdraw", p, http.StatusOK)
			wantPath(t, "withdraw", p, detail)
			wantContains(t, "withdrawn", p, `data-state="withdrawn"`, "Your request was withdrawn")
			wantNotContains(t, "withdrawn", p, `id="withdraw-form"`)
			evs, err := tn.Admin.ListAudit(ctx, client.AuditQuery{Action: "support.withdraw"})
			if err != nil || len(evs.Items) != 1 {
				t.Fatalf("withdraw events: %+v %v", evs, err)
			}
			if e := evs.Items[0]; e.Actor.Type != "operator" || e.Actor.ID != op.ID || e.ObjectID != id || e.Changes["state"].After != "withdrawn" {
				t.Fatalf("withdraw event: %+v", e)
			}
			// The admins can no longer approve it.
			if _, err := tn.Admin.DecideSupportAccess(ctx, id, "approve", api.GrantDecisionRequest{Statement: "ok"}); err == nil {
				t.Fatal("a withdrawn request was approved")
			}

			// Decided meanwhile: the page says why, in the page's language.
			second := askAccess(t, b, "wdco", "SUP-12", "read", "contact")
			form := b.get("/ops/requests/" + second)
			if _, err := tn.Admin.DecideSupportAccess(ctx, second, "approve", api.GrantDecisionRequest{Statement: "Approved."}); err != nil {
				t.Fatal(err)
			}
			p = b.post("/ops/requests/"+second+"/withdraw", url.Values{"csrf_token": {testbrowser.CSRFToken(t, form.Body)}})
			wantStatus(t, "withdraw active", p, http.StatusConflict)
			wantContains(t, "withdraw active", p, `id="withdraw-error"`, "can no longer be withdrawn", `data-state="active"`)
			b.lang = "zh-CN"
			p = b.post("/ops/requests/"+second+"/withdraw", url.Values{"csrf_token": {testbrowser.CSRFToken(t, form.Body)}})
			wantStatus(t, "zh withdraw active", p, http.StatusConflict)
			wantContains(t, "zh withdraw active", p, "该申请已无法撤回", "生效中")
			if evs, err := tn.Admin.ListAudit(ctx, client.AuditQuery{Action: "support.withdraw"}); err != nil || len(evs.Items) != 1 {
				t.Fatalf("a refused withdrawal was audited: %+v %v", evs, err)
			}
			wantStatus(t, "no such request", b.post("/ops/requests/not-an-id/withdraw", url.Values{"csrf_token": {testbrowser.CSRFToken(t, form.Body)}}), http.StatusNotFound)
		})
	}
}

// editFixture is a tenant with a contact, an operator signed in to the
// console and a rival operator.
type editFixture struct {
	srv        *testserver.Server
	clk        *clock
	tn, other  testserver.Tenant
	contactID  string
	sealedID   string // a contact with an encrypted mobile number
	otherID    string
	op, rival  operator
	b, rb      *browser
	recordPath string
}

const editMobile = "13812345678"

func newEditFixture(t *testing.T, engine string) *editFixture {
	t.Helper()
	srv, clk := start(t, engine)
	ctx := context.Background()
	f := &editFixture{srv: srv, clk: clk, tn: srv.NewTenant(t, "editco"), other: srv.NewTenant(t, "editother")}
	c, err := f.tn.Admin.CreateRecord(ctx, "contact", client.RecordInput{Fields: map[string]any{"name": "Wang Wei", "title": "Buyer", "phone": "010-5555"}})
	if err != nil {
		t.Fatal(err)
	}
	sc, err := f.tn.Admin.CreateRecord(ctx, "contact", client.RecordInput{Fields: map[string]any{"name": "Li Na", "title": "Owner", "mobile": editMobile}})
	if err != nil {
		t.Fatal(err)
	}
	f.sealedID = sc.ID
	oc, err := f.other.Admin.CreateRecord(ctx, "contact", client.RecordInput{Fields: map[string]any{"name": "Other Person", "title": "Clerk"}})
	if err != nil {
		t.Fatal(err)
	}
	f.contactID, f.otherID = c.ID, oc.ID
	f.op = newOperator(t, srv, clk, "olga@vendor.example.com", "Olga")
	f.rival = newOperator(t, srv, clk, "rival@vendor.example.com", "Rival")
	f.b = newBrowser(t, srv.URL)
	wantPath(t, "sign-in", f.b.opsLogin(clk, f.op), "/ops")
	f.rb = newBrowser(t, srv.URL)
	wantPath(t, "rival sign-in", f.rb.opsLogin(clk, f.rival), "/ops")
	f.recordPath = "/ops/tenants/editco/objects/contact/records/" + c.ID
	return f
}

// grant asks for access and has the tenant's admin approve it as asked.
func (f *editFixture) grant(t *testing.T, ticket, access string) string {
	t.Helper()
	id := askAccess(t, f.b, "editco", ticket, access, "contact")
	if _, err := f.tn.Admin.DecideSupportAccess(context.Background(), id, "approve", api.GrantDecisionRequest{Statement: "I authorize Olga for " + ticket + "."}); err != nil {
		t.Fatal(err)
	}
	return id
}

func (f *editFixture) record(t *testing.T) *api.RecordDTO {
	t.Helper()
	rec, err := f.tn.Admin.GetRecord(context.Background(), "contact", f.contactID)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

func (f *editFixture) updates(t *testing.T) []api.AuditEventDTO {
	t.Helper()
	evs, err := f.tn.Admin.ListAudit(context.Background(), client.AuditQuery{Action: "record.update", ObjectID: f.contactID})
	if err != nil {
		t.Fatal(err)
	}
	return evs.Items
}

// TestEditUnderWriteGrant: with a grant that allows writes the record
// page links to a form of the plain fields; saving goes through the
// records service (audited as record.update via the grant); masked
// fields are shown masked and never as inputs, and a forged one is
// refused; a stale version is a conflict; validation errors stand beside
// their fields in both languages; a revoked grant and another tenant are
// refused.
func TestEditUnderWriteGrant(t *testing.T) {
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) {
			f := newEditFixture(t, engine)
			b := f.b
			editPath := f.recordPath + "/edit"
			wantRefused(t, "no grant", b.get(editPath))
			grantID := f.grant(t, "SUP-21", "write")

			p := b.get(f.recordPath)
			wantStatus(t, "record", p, http.StatusOK)
			wantContains(t, "record", p, `id="record-edit"`, `href="`+editPath+`"`)
			before := f.record(t)

			p = b.get(editPath)
			wantStatus(t, "form", p, http.StatusOK)
			wantContains(t, "form", p, `id="edit-form"`, `name="title" value="Buyer"`, `name="name" value="Wang Wei"`,
				`name="version" value="`+strconv.FormatInt(before.Version, 10)+`"`, `data-field="mobile" data-readonly="true"`, `id="edit-submit"`)
			// Protected fields are never inputs, and their values never leave.
			wantNotContains(t, "form", p, `name="mobile"`, `name="email"`, `name="id_number"`, `id="edit-sealed"`)

			version := strconv.FormatInt(before.Version, 10)
			p = b.submit(editPath, editPath, url.Values{"version": {version}, "title": {"Head of Purchasing"}})
			wantStatus(t, "save", p, http.StatusOK)
			wantPath(t, "save", p, f.recordPath)
			wantContains(t, "save", p, "Head of Purchasing", "The record was saved")
			after := f.record(t)
			if after.Fields["title"] != "Head of Purchasing" || after.Version != before.Version+1 || after.Fields["name"] != "Wang Wei" {
				t.Fatalf("after the save: %+v", after)
			}
			ups := f.updates(t)
			if len(ups) != 1 {
				t.Fatalf("update events: %+v", ups)
			}
			if e := ups[0]; e.Via != "grant:"+grantID || e.Actor.Type != "operator" || e.Actor.ID != f.op.ID ||
				e.Changes["title"].Before != "Buyer" || e.Changes["title"].After != "Head of Purchasing" || len(e.Changes) != 1 {
				// Only the field typed changed: the masked ones the form
				// did not offer are untouched.
				t.Fatalf("update event: %+v", e)
			}

			// A forged masked field is refused beside it, and nothing changes.
			version = strconv.FormatInt(after.Version, 10)
			p = b.submit(editPath, editPath, url.Values{"version": {version}, "title": {"Forged"}, "mobile": {"13900000000"}})
			wantStatus(t, "forged mobile", p, http.StatusUnprocessableEntity)
			wantContains(t, "forged mobile", p, `id="f-mobile-err"`, "Operators may not change this field.")
			wantNotContains(t, "forged mobile", p, `name="mobile"`)
			if rec := f.record(t); rec.Version != after.Version || rec.Fields["title"] != "Head of Purchasing" || len(f.updates(t)) != 1 {
				t.Fatalf("a forged field changed the record: %+v", rec)
			}
			// Validation errors stand beside the field, in either language.
			p = b.submit(editPath, editPath, url.Values{"version": {version}, "name": {" "}, "phone": {"call me"}})
			wantStatus(t, "invalid", p, http.StatusUnprocessableEntity)
			wantContains(t, "invalid", p, `id="f-name-err"`, "This field is required.", `id="f-phone-err"`, "Enter a phone number")
			b.lang = "zh-CN"
			p = b.submit(editPath, editPath, url.Values{"version": {version}, "name": {""}})
			wantContains(t, "zh invalid", p, `id="f-name-err"`, "此项为必填。", "保存")
			b.lang = "en"

			// Someone else saves first: the stale form is a conflict and
			// shows the record as it now stands.
			if _, err := f.tn.Admin.UpdateRecord(context.Background(), "contact", f.contactID, after.Version, map[string]any{"title": "Changed by admin"}); err != nil {
				t.Fatal(err)
			}
			p = b.submit(editPath, editPath, url.Values{"version": {version}, "title": {"Stale edit"}})
			wantStatus(t, "stale", p, http.StatusConflict)
			wantContains(t, "stale", p, `id="conflict"`, "Someone changed this record", `value="Changed by admin"`)
			if rec := f.record(t); rec.Fields["title"] != "Changed by admin" {
				t.Fatalf("a stale form was saved: %+v", rec)
			}
			if len(f.updates(t)) != 2 {
				t.Fatalf("update events after the conflict: %+v", f.updates(t))
			}

			// A record with encrypted values: shown masked, never as
			// inputs; a change of its plain fields keeps them intact.
			sealedPath := "/ops/tenants/editco/objects/contact/records/" + f.sealedID
			sealedBefore, err := f.tn.Admin.GetRecord(context.Background(), "contact", f.sealedID)
			if err != nil {
				t.Fatal(err)
			}
			p = b.get(sealedPath + "/edit")
			wantStatus(t, "sealed form", p, http.StatusOK)
			wantContains(t, "sealed form", p, `data-field="mobile" data-readonly="true"`, `data-masked="true"`, `name="title" value="Owner"`, `id="edit-submit"`)
			wantNotContains(t, "sealed form", p, `name="mobile"`, editMobile, "5678")
			p = b.submit(sealedPath+"/edit", sealedPath+"/edit", url.Values{"version": {strconv.FormatInt(sealedBefore.Version, 10)}, "title": {"Changed"}})
			wantStatus(t, "sealed save", p, http.StatusOK)
			wantNotContains(t, "sealed save", p, editMobile)
			if rec, err := f.tn.Admin.GetRecord(context.Background(), "contact", f.sealedID); err != nil || rec.Version != sealedBefore.Version+1 ||
				rec.Fields["mobile"] != editMobile || rec.Fields["title"] != "Changed" {
				t.Fatalf("the record with encrypted values after the operator's change: %+v %v", rec, err)
			}
			// A forged mobile input is refused beside the field, and nothing changes.
			p = b.submit(sealedPath+"/edit", sealedPath+"/edit", url.Values{"version": {strconv.FormatInt(sealedBefore.Version+1, 10)}, "mobile": {"13800000000"}})
			if p.Status == http.StatusOK {
				t.Fatalf("forged encrypted field saved")
			}
			if rec, _ := f.tn.Admin.GetRecord(context.Background(), "contact", f.sealedID); rec.Fields["mobile"] != editMobile {
				t.Fatalf("mobile after a forged input: %v", rec.Fields["mobile"])
			}

			// The grant of one tenant reaches nothing in another.
			wantRefused(t, "other tenant", b.get("/ops/tenants/editother/objects/contact/records/"+f.otherID+"/edit"))
			wantRefused(t, "other tenant, post", b.submit(editPath, "/ops/tenants/editother/objects/contact/records/"+f.otherID+"/edit",
				url.Values{"version": {"1"}, "title": {"Forged"}}))
			wantStatus(t, "other tenant's record under this grant", b.submit(editPath, "/ops/tenants/editco/objects/contact/records/"+f.otherID+"/edit",
				url.Values{"version": {"1"}, "title": {"Forged"}}), http.StatusNotFound)
			if oc, err := f.other.Admin.GetRecord(context.Background(), "contact", f.otherID); err != nil || oc.Fields["title"] != "Clerk" {
				t.Fatalf("the other tenant's record: %+v %v", oc, err)
			}
			// Another operator holds no grant.
			wantRefused(t, "rival", f.rb.get(editPath))

			// Revocation counts at once, even for a form already open.
			open := b.get(editPath)
			if _, err := f.tn.Admin.DecideSupportAccess(context.Background(), grantID, "revoke", api.GrantDecisionRequest{Statement: "done"}); err != nil {
				t.Fatal(err)
			}
			cur := f.record(t)
			p = b.post(editPath, url.Values{"csrf_token": {testbrowser.CSRFToken(t, open.Body)}, "version": {strconv.FormatInt(cur.Version, 10)}, "title": {"After revoke"}})
			wantRefused(t, "revoked", p)
			if rec := f.record(t); rec.Version != cur.Version {
				t.Fatalf("a revoked grant changed the record: %+v", rec)
			}
			wantRefused(t, "revoked, form", b.get(editPath))
		})
	}
}

// TestEditUnderReadOnlyGrant: a read-only grant shows no edit link, and
// a forged form answers 403 and changes nothing.
func TestEditUnderReadOnlyGrant(t *testing.T) {
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) {
			f := newEditFixture(t, engine)
			f.grant(t, "SUP-31", "read")
			p := f.b.get(f.recordPath)
			wantStatus(t, "record", p, http.StatusOK)
			wantNotContains(t, "record", p, `id="record-edit"`, `/edit"`)
			wantRefused(t, "form", f.b.get(f.recordPath+"/edit"))
			before := f.record(t)
			p = f.b.submit(f.recordPath, f.recordPath+"/edit", url.Values{"version": {strconv.FormatInt(before.Version, 10)}, "title": {"Forged"}})
			wantRefused(t, "forged post", p)
			if rec := f.record(t); rec.Version != before.Version || rec.Fields["title"] != "Buyer" {
				t.Fatalf("a read-only grant changed the record: %+v", rec)
			}
			if ups := f.updates(t); len(ups) != 0 {
				t.Fatalf("update events: %+v", ups)
			}
		})
	}
}
