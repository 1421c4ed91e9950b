package web_test

import (
	"context"
	"encoding/json"
	"github.com/havencrm/haven/keyops"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/havencrm/haven/api"
	"github.com/havencrm/haven/client"
	"github.com/havencrm/haven/identity"
	"github.com/havencrm/haven/internal/testserver"
	"github.com/havencrm/haven/jobs"
	"github.com/havencrm/haven/tenant"
)

// A contact's sensitive values and how a sales user sees them (the
// standard policy: encrypted, masked for sales).
var protectedContact = map[string]string{
	"mobile":       "13812345678",
	"email":        "lili.wang@example.com",
	"id_number":    "110101199003071234",
	"bank_account": "6222021234567890123",
	"address":      "上海市浦东新区张江路88号",
}

var maskedContact = map[string]string{
	"mobile":       "138****5678",
	"email":        "l***@example.com",
	"id_number":    "110***********1234",
	"bank_account": "**** **** **** 0123",
	"address":      "上海市****",
}

// plaintexts are what must never reach a sales user's page: the values,
// distinctive parts of them, and sealed envelopes.
var plaintexts = []string{
	"13812345678", "1381234", "lili.wang", "110101199003071234", "19900307",
	"6222021234567890123", "62220212", "浦东新区", "张江路", "hv1:",
}

// protFixture is a tenant with a sales user who owns one contact full of
// protected values.
type protFixture struct {
	srv       *testserver.Server
	tn        testserver.Tenant
	salesMail string
	contactID string
	href      string
}

func newProtFixture(t *testing.T, srv *testserver.Server, slug string) protFixture {
	t.Helper()
	tn := srv.NewTenant(t, slug)
	// Several browsers sign in as the admin while tn.Admin's API session
	// stays in use.
	srv.SetSecuritySettings(t, tn, func(s *identity.SecuritySettings) { s.MaxSessions = 0 })
	salesMail := "sally@" + slug + ".example.com"
	_, sales := srv.NewUser(t, tn, salesMail, "Sally Sales", "sales")
	fields := map[string]any{"name": "Wang Lili", "title": "Head of Procurement", "phone": "+86 21 6666 0000"}
	for k, v := range protectedContact {
		fields[k] = v
	}
	rec, err := tn.Admin.CreateRecord(context.Background(), "contact", client.RecordInput{OwnerID: sales.ID, Fields: fields})
	if err != nil {
		t.Fatalf("create contact: %v", err)
	}
	return protFixture{srv: srv, tn: tn, salesMail: salesMail, contactID: rec.ID, href: "/o/contact/" + rec.ID}
}

func (fx protFixture) sales(t *testing.T) *browser {
	t.Helper()
	b := newBrowser(t, fx.srv.URL)
	wantPath(t, b.login(fx.tn.Slug, fx.salesMail, testserver.AdminPassword), "/")
	return b
}

func (fx protFixture) admin(t *testing.T) *browser {
	t.Helper()
	b := newBrowser(t, fx.srv.URL)
	wantPath(t, b.login(fx.tn.Slug, fx.tn.AdminLogin, adminPassword), "/")
	return b
}

// adminRecord reads the contact back through the API as the admin, who
// reads every field in clear.
func (fx protFixture) adminRecord(t *testing.T) api.RecordDTO {
	t.Helper()
	rec, err := fx.tn.Admin.GetRecord(context.Background(), "contact", fx.contactID)
	if err != nil {
		t.Fatalf("admin get contact: %v", err)
	}
	return *rec
}

func wantNoPlaintext(t *testing.T, p page) {
	t.Helper()
	wantNotContains(t, p, plaintexts...)
}

// TestFieldProtectionWeb drives masking, reveal, the edit form and the
// field protection page over HTTP on every engine.
func TestFieldProtectionWeb(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			srv := testserver.Start(t, engine)
			fx := newProtFixture(t, srv, "shield")
			t.Run("SalesSeesMasked", func(t *testing.T) { testSalesSeesMasked(t, fx) })
			t.Run("Search", func(t *testing.T) { testProtectedSearch(t, fx) })
			t.Run("Reveal", func(t *testing.T) { testReveal(t, fx) })
			t.Run("EditRoundTrip", func(t *testing.T) { testMaskedEditRoundTrip(t, fx) })
			t.Run("AuditAndHistoryMasked", func(t *testing.T) { testAuditMasked(t, fx) })
			t.Run("AdminOnly", func(t *testing.T) { testFieldsAdminOnly(t, fx) })
			t.Run("CSRF", func(t *testing.T) { testProtectionCSRF(t, fx) })
			t.Run("LevelsByRole", func(t *testing.T) { testLevelsByRole(t, fx) })
			t.Run("Validation", func(t *testing.T) { testProtectionValidation(t, fx) })
			t.Run("Conversion", func(t *testing.T) { testConversionProgress(t, fx) })
		})
	}
}

func testSalesSeesMasked(t *testing.T, fx protFixture) {
	b := fx.sales(t)
	p := b.get("/o/contact")
	wantStatus(t, p, http.StatusOK)
	wantContains(t, p, "Wang Lili", maskedContact["mobile"], maskedContact["email"], `class="masked" title="Masked: you may see this value only partly"`)
	wantNoPlaintext(t, p)
	// Encrypted and masked columns cannot be sorted; others can.
	wantNotContains(t, p, "sort=mobile", "sort=email", "sort=-mobile")
	wantContains(t, p, "sort=title", "sort=name")
	// Field protection is an admin page: no link for sales.
	wantNotContains(t, p, `href="/settings/fields"`)

	p = b.get(fx.href)
	wantStatus(t, p, http.StatusOK)
	for _, v := range maskedContact {
		wantContains(t, p, html.EscapeString(v))
	}
	wantNoPlaintext(t, p)
	// Sales may show mobile, e-mail and address, but not the ID or bank
	// account number.
	wantContains(t, p, fx.href+"/reveal/mobile", fx.href+"/reveal/email", fx.href+"/reveal/address")
	wantNotContains(t, p, "/reveal/id_number", "/reveal/bank_account")
	// The history of the creation shows the masked values, marked.
	wantContains(t, p, `id="history"`, `masked-cell`)

	p = b.get(fx.href + "/edit")
	wantStatus(t, p, http.StatusOK)
	wantNoPlaintext(t, p)
	wantContains(t, p, `placeholder="138****5678"`, "Leave empty to keep the current value")
	if !regexp.MustCompile(`<input type="tel" id="f-mobile" name="mobile" value=""`).MatchString(p.Body) {
		t.Errorf("masked mobile input is not empty: %s", excerpt(p.Body, `id="f-mobile"`))
	}

	// The admin reads everything in clear, with no reveal buttons.
	a := fx.admin(t)
	p = a.get(fx.href)
	wantContains(t, p, protectedContact["mobile"], protectedContact["id_number"])
	wantNotContains(t, p, "/reveal/")
	p = a.get("/o/contact")
	wantContains(t, p, protectedContact["mobile"], "sort=phone", "sort=title")
	wantNotContains(t, p, "sort=mobile", "sort=email")
	// A forged sort by an encrypted field is ignored, not an error.
	wantStatus(t, a.get("/o/contact?sort=mobile"), http.StatusOK)
	wantStatus(t, b.get("/o/contact?sort=-email"), http.StatusOK)
}

func testProtectedSearch(t *testing.T, fx protFixture) {
	// Quick search finds a searchable encrypted field by exact value for
	// those who read it (the service's blind index)…
	a := fx.admin(t)
	p := a.get("/o/contact?q=" + url.QueryEscape(protectedContact["mobile"]))
	wantStatus(t, p, http.StatusOK)
	wantContains(t, p, "Wang Lili", "Search by name, or an exact")
	// …and not for those who see it masked, without an error (the page
	// repeats only what they typed).
	b := fx.sales(t)
	p = b.get("/o/contact?q=" + url.QueryEscape(protectedContact["mobile"]))
	wantStatus(t, p, http.StatusOK)
	wantNotContains(t, p, "Wang Lili", maskedContact["mobile"])
	wantContains(t, p, "No records match")
	// Name search works as before.
	p = b.get("/o/contact?q=Wang")
	wantStatus(t, p, http.StatusOK)
	wantContains(t, p, "Wang Lili", maskedContact["mobile"])
}

func revealEvents(t *testing.T, fx protFixture) []api.AuditEventDTO {
	t.Helper()
	list, err := fx.tn.Admin.ListAudit(context.Background(), client.AuditQuery{Action: "record.reveal", Limit: 100})
	if err != nil {
		t.Fatalf("audit: %v", err)
	}
	return list.Items
}

func testReveal(t *testing.T, fx protFixture) {
	b := fx.sales(t)
	before := len(revealEvents(t, fx))
	form := fx.href + "/reveal/mobile"
	p := b.get(form)
	wantStatus(t, p, http.StatusOK)
	wantContains(t, p, "Show Mobile", `name="reason"`, "required", maskedContact["mobile"], "recorded in the audit log")
	wantNoPlaintext(t, p)

	// No reason: refused, nothing shown, nothing audited.
	p = b.submit(form, form, url.Values{"reason": {"   "}})
	wantStatus(t, p, http.StatusUnprocessableEntity)
	wantContains(t, p, "Say why you need to see this value.")
	wantNoPlaintext(t, p)
	if n := len(revealEvents(t, fx)); n != before {
		t.Errorf("a refused reveal was audited: %d events, want %d", n, before)
	}

	// With a reason: the value, once, not cacheable, and an audit event.
	p = b.submit(form, form, url.Values{"reason": {"Calling back about order 1024"}})
	wantStatus(t, p, http.StatusOK)
	wantContains(t, p, `id="revealed-value"`, protectedContact["mobile"], "This view has been recorded in the audit log")
	if cc := p.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("reveal result Cache-Control = %q", cc)
	}
	events := revealEvents(t, fx)
	if len(events) != before+1 {
		t.Fatalf("reveal events = %d, want %d", len(events), before+1)
	}
	e := events[0]
	if e.ObjectID != fx.contactID || e.Changes["field"].After != "mobile" || e.Changes["reason"].After != "Calling back about order 1024" {
		t.Errorf("reveal event = %+v", e)
	}
	for _, c := range e.Changes {
		if s, _ := c.After.(string); strings.Contains(s, "1381234") {
			t.Errorf("the audit event holds the revealed value: %+v", e.Changes)
		}
	}
	// The detail page still shows the value masked afterwards.
	p = b.get(fx.href)
	wantNotContains(t, p, protectedContact["mobile"])

	// The reveal shows in the record's history, in Chinese too.
	b.lang = "zh-CN"
	p = b.get(fx.href)
	wantContains(t, p, "查看脱敏值", "Calling back about order 1024")
	p = b.get(form)
	wantContains(t, p, "查看手机", "查看理由")
	b.lang = "en-US"

	// No reveal right for the ID number: no button (checked above), and
	// both the form and a forged POST are refused.
	p = b.get(fx.href + "/reveal/id_number")
	wantStatus(t, p, http.StatusForbidden)
	wantContains(t, p, "You may not show this value")
	token := csrfToken(t, b.get(fx.href).Body)
	p = b.post(fx.href+"/reveal/id_number", url.Values{"csrf_token": {token}, "reason": {"just curious"}})
	wantStatus(t, p, http.StatusForbidden)
	wantNoPlaintext(t, p)
	if n := len(revealEvents(t, fx)); n != before+1 {
		t.Errorf("a forbidden reveal was audited")
	}
	// Nothing to reveal: an unknown field is a 404; a field the user reads
	// in clear leads back to the record.
	wantStatus(t, b.get(fx.href+"/reveal/nope"), http.StatusNotFound)
	p = b.get(fx.href + "/reveal/title")
	wantPath(t, p, fx.href)
	// Someone else's record does not exist for a sales user.
	other, err := fx.tn.Admin.CreateRecord(context.Background(), "contact", client.RecordInput{Fields: map[string]any{"name": "Not Yours", "mobile": "13900000000"}})
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, b.get("/o/contact/"+other.ID+"/reveal/mobile"), http.StatusNotFound)
}

var (
	formPattern     = regexp.MustCompile(`(?s)<form\b[^>]*\baction="([^"]*)"[^>]*>(.*?)</form>`)
	inputPattern    = regexp.MustCompile(`<input\b([^>]*)>`)
	textareaPattern = regexp.MustCompile(`(?s)<textarea\b([^>]*)>(.*?)</textarea>`)
	selectPattern   = regexp.MustCompile(`(?s)<select\b([^>]*)>(.*?)</select>`)
	optionPattern   = regexp.MustCompile(`<option\b([^>]*)>`)
	attrPattern     = regexp.MustCompile(`([a-zA-Z-]+)(?:="([^"]*)")?`)
)

func attrs(s string) map[string]string {
	out := map[string]string{}
	for _, m := range attrPattern.FindAllStringSubmatch(s, -1) {
		out[m[1]] = html.UnescapeString(m[2])
	}
	return out
}

// formValues is what a browser submits from the form posting to action
// as the page shows it: enabled named inputs (checkboxes when checked),
// textareas and each select's chosen option.
func formValues(t *testing.T, body, action string) url.Values {
	t.Helper()
	for _, m := range formPattern.FindAllStringSubmatch(body, -1) {
		if html.UnescapeString(m[1]) != action {
			continue
		}
		v := url.Values{}
		for _, in := range inputPattern.FindAllStringSubmatch(m[2], -1) {
			a := attrs(in[1])
			_, disabled := a["disabled"]
			_, checked := a["checked"]
			if a["name"] == "" || disabled || ((a["type"] == "checkbox" || a["type"] == "radio") && !checked) {
				continue
			}
			v.Add(a["name"], a["value"])
		}
		for _, ta := range textareaPattern.FindAllStringSubmatch(m[2], -1) {
			a := attrs(ta[1])
			if _, disabled := a["disabled"]; a["name"] == "" || disabled {
				continue
			}
			// Browsers drop one line break right after <textarea>.
			v.Add(a["name"], html.UnescapeString(strings.TrimPrefix(ta[2], "\n")))
		}
		for _, sel := range selectPattern.FindAllStringSubmatch(m[2], -1) {
			a := attrs(sel[1])
			if _, disabled := a["disabled"]; a["name"] == "" || disabled {
				continue
			}
			opts := optionPattern.FindAllStringSubmatch(sel[2], -1)
			chosen := ""
			for i, o := range opts {
				oa := attrs(o[1])
				if _, sel := oa["selected"]; sel || i == 0 {
					chosen = oa["value"]
				}
			}
			v.Add(a["name"], chosen)
		}
		return v
	}
	t.Fatalf("no form posting to %s", action)
	return nil
}

func testMaskedEditRoundTrip(t *testing.T, fx protFixture) {
	b := fx.sales(t)
	edit := fx.href + "/edit"
	start := fx.adminRecord(t)

	// Saving the form exactly as shown changes no masked value.
	p := b.get(edit)
	vals := formValues(t, p.Body, edit)
	for field := range protectedContact {
		if got := vals.Get(field); got != "" {
			t.Errorf("edit form would send %s=%q", field, got)
		}
	}
	p = b.post(edit, vals)
	wantStatus(t, p, http.StatusOK)
	wantPath(t, p, fx.href)
	wantContains(t, p, "Saved.")
	after := fx.adminRecord(t)
	for field, want := range protectedContact {
		if after.Fields[field] != want {
			t.Errorf("after a round trip %s = %v, want %v", field, after.Fields[field], want)
		}
	}
	if after.Fields["title"] != start.Fields["title"] || after.Name != start.Name {
		t.Errorf("round trip changed visible fields: %v", after.Fields)
	}

	// Typing into a masked input replaces that value only.
	p = b.get(edit)
	vals = formValues(t, p.Body, edit)
	vals.Set("mobile", "13900001111")
	p = b.post(edit, vals)
	wantPath(t, p, fx.href)
	wantContains(t, p, "139****1111")
	wantNotContains(t, p, "13900001111")
	after = fx.adminRecord(t)
	if after.Fields["mobile"] != "13900001111" || after.Fields["email"] != protectedContact["email"] || after.Fields["id_number"] != protectedContact["id_number"] {
		t.Errorf("after typing a new mobile: %v", after.Fields)
	}
	// A validation error keeps what the user typed (their own input) but
	// still no stored value.
	p = b.get(edit)
	vals = formValues(t, p.Body, edit)
	vals.Set("email", "not-an-email")
	p = b.post(edit, vals)
	wantStatus(t, p, http.StatusUnprocessableEntity)
	wantContains(t, p, `value="not-an-email"`, `placeholder="l***@example.com"`)
	wantNoPlaintext(t, p)

	// Put the mobile back for the other cases.
	rec := fx.adminRecord(t)
	if _, err := fx.tn.Admin.UpdateRecord(context.Background(), "contact", fx.contactID, rec.Version, map[string]any{"mobile": protectedContact["mobile"]}); err != nil {
		t.Fatal(err)
	}

	// The admin's form holds the values in clear and round-trips too.
	a := fx.admin(t)
	p = a.get(edit)
	wantContains(t, p, `value="13812345678"`)
	p = a.post(edit, formValues(t, p.Body, edit))
	wantPath(t, p, fx.href)
	if got := fx.adminRecord(t); got.Fields["mobile"] != protectedContact["mobile"] || got.Fields["bank_account"] != protectedContact["bank_account"] {
		t.Errorf("admin round trip: %v", got.Fields)
	}

	// A sales user creating a contact types masked fields normally.
	p = b.get("/o/contact/new")
	wantContains(t, p, `id="f-mobile" name="mobile" value=""`)
	wantNotContains(t, p, "Leave empty to keep")
	p = b.submit("/o/contact/new", "/o/contact/new", url.Values{"name": {"Zhao Min"}, "mobile": {"13700002222"}})
	wantStatus(t, p, http.StatusOK)
	wantContains(t, p, "Zhao Min", "137****2222")
	wantNotContains(t, p, "13700002222")
}

func testAuditMasked(t *testing.T, fx protFixture) {
	// The sales user's history of the record…
	b := fx.sales(t)
	p := b.get(fx.href)
	hist := p.Body[strings.Index(p.Body, `id="history"`):]
	for _, want := range []string{maskedContact["mobile"], html.EscapeString(maskedContact["bank_account"])} {
		if !strings.Contains(hist, want) {
			t.Errorf("history lacks %q", want)
		}
	}
	wantNoPlaintext(t, p)
	// …and the admin's audit log show masked values, never clear text or
	// sealed envelopes.
	a := fx.admin(t)
	p = a.get("/audit?object=contact")
	wantStatus(t, p, http.StatusOK)
	wantContains(t, p, maskedContact["mobile"], "Masked value shown")
	wantNotContains(t, p, plaintexts...)
}

func testFieldsAdminOnly(t *testing.T, fx protFixture) {
	ctx := context.Background()
	b := fx.sales(t)
	token := csrfToken(t, b.get("/").Body)
	for _, path := range []string{"/settings/fields", "/settings/fields/contact", "/settings/fields/contact/mobile", "/settings/fields/contact/mobile/progress"} {
		p := b.get(path)
		wantStatus(t, p, http.StatusForbidden)
	}
	p := b.post("/settings/fields/contact/mobile", url.Values{"csrf_token": {token}, "level.sales": {"edit"}, "level.admin": {"edit"}, "level.manager": {"edit"}, "mask": {"mobile"}})
	wantStatus(t, p, http.StatusForbidden)
	if rec := fx.adminRecord(t); rec.Fields["mobile"] != protectedContact["mobile"] {
		t.Fatal("contact changed")
	}
	// A manager is not an admin either.
	mgrMail := "max@" + fx.tn.Slug + ".example.com"
	fx.srv.NewUser(t, fx.tn, mgrMail, "Max Manager", "manager")
	m := newBrowser(t, fx.srv.URL)
	m.login(fx.tn.Slug, mgrMail, testserver.AdminPassword)
	wantStatus(t, m.get("/settings/fields/contact"), http.StatusForbidden)
	// The policy is unchanged: sales still sees the mobile masked.
	list, err := fx.tn.Admin.ListAudit(ctx, client.AuditQuery{Action: "field.update", Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 0 {
		t.Errorf("refused changes were made: %+v", list.Items)
	}
	// The admin has the page and the link.
	a := fx.admin(t)
	p = a.get("/settings/fields")
	wantStatus(t, p, http.StatusOK)
	wantPath(t, p, "/settings/fields/account")
	wantContains(t, p, `href="/settings/fields" class="active" aria-current="page"`)
	p = a.get("/settings/fields/contact")
	wantContains(t, p, "Field protection", "Mobile", "Mobile number", `data-level="masked"`, "Sales")
	// Every object's table and a field form, in both languages, without
	// an untranslated key (the browser helper fails on one).
	for _, lang := range []string{"en-US", "zh-CN"} {
		a.lang = lang
		for _, object := range []string{"account", "contact", "lead", "opportunity", "activity"} {
			wantStatus(t, a.get("/settings/fields/"+object), http.StatusOK)
		}
		p = a.get("/settings/fields/contact/mobile")
		wantStatus(t, p, http.StatusOK)
		wantContains(t, p, `<option value="mobile" selected>`, `<option value="masked" selected>`)
	}
	a.lang = "en-US"
	wantStatus(t, a.get("/settings/fields/nope"), http.StatusNotFound)
	wantStatus(t, a.get("/settings/fields/contact/nope"), http.StatusNotFound)
}

func testProtectionCSRF(t *testing.T, fx protFixture) {
	a := fx.admin(t)
	edit := "/settings/fields/contact/mobile"
	vals := formValues(t, a.get(edit).Body, edit)
	vals.Set("level.sales", "edit")
	vals.Del("csrf_token")
	p := a.post(edit, vals)
	wantStatus(t, p, http.StatusForbidden)
	wantContains(t, p, "Request blocked")

	b := fx.sales(t)
	reveal := fx.href + "/reveal/mobile"
	before := len(revealEvents(t, fx))
	p = b.post(reveal, url.Values{"reason": {"no token"}})
	wantStatus(t, p, http.StatusForbidden)
	wantNoPlaintext(t, p)
	token := csrfToken(t, b.get(reveal).Body)
	b.headers["Origin"] = "https://evil.example"
	p = b.post(reveal, url.Values{"reason": {"cross origin"}, "csrf_token": {token}})
	delete(b.headers, "Origin")
	wantStatus(t, p, http.StatusForbidden)
	wantNoPlaintext(t, p)
	if n := len(revealEvents(t, fx)); n != before {
		t.Errorf("refused reveals were audited")
	}
	// The sales user still sees the mobile masked.
	wantContains(t, b.get(fx.href), maskedContact["mobile"])
}

// setLevels submits the field's protection form as shown, with changes.
func setLevels(t *testing.T, a *browser, object, field string, change map[string]string) page {
	t.Helper()
	edit := "/settings/fields/" + object + "/" + field
	vals := formValues(t, a.get(edit).Body, edit)
	for k, v := range change {
		if v == "" {
			vals.Del(k)
		} else {
			vals.Set(k, v)
		}
	}
	return a.post(edit, vals)
}

func testLevelsByRole(t *testing.T, fx protFixture) {
	a := fx.admin(t)
	// Phone hidden from sales, title read-only for sales.
	p := setLevels(t, a, "contact", "phone", map[string]string{"level.sales": "hidden"})
	wantStatus(t, p, http.StatusOK)
	wantPath(t, p, "/settings/fields/contact")
	wantContains(t, p, "Field protection saved.")
	p = setLevels(t, a, "contact", "title", map[string]string{"level.sales": "read"})
	wantPath(t, p, "/settings/fields/contact")
	row := p.Body[strings.Index(p.Body, `id="field-phone"`):]
	row = row[:strings.Index(row, "</tr>")]
	if strings.Count(row, `data-level="edit"`) != 2 || !strings.Contains(row, `data-level="hidden"`) {
		t.Errorf("phone row = %s", row)
	}

	b := fx.sales(t)
	const phone = "+86 21 6666 0000"
	for _, path := range []string{"/o/contact", fx.href, fx.href + "/edit"} {
		p := b.get(path)
		wantStatus(t, p, http.StatusOK)
		wantNotContains(t, p, phone, "6666 0000", `f-phone`, `>Phone<`, "sort=phone")
		wantNoPlaintext(t, p)
	}
	// Read-only: shown, disabled, without a name, so never submitted.
	p = b.get(fx.href + "/edit")
	wantContains(t, p, `id="f-title" value="Head of Procurement" maxlength="255" disabled`, "You may see this field but not change it.")
	vals := formValues(t, p.Body, fx.href+"/edit")
	if _, sent := vals["title"]; sent {
		t.Errorf("read-only title is submitted")
	}
	if _, sent := vals["phone"]; sent {
		t.Errorf("hidden phone is submitted")
	}
	p = b.post(fx.href+"/edit", vals)
	wantPath(t, p, fx.href)
	rec := fx.adminRecord(t)
	if rec.Fields["title"] != "Head of Procurement" || rec.Fields["phone"] != phone || rec.Fields["mobile"] != protectedContact["mobile"] {
		t.Errorf("after the sales round trip: %v", rec.Fields)
	}
	// Forged values for the read-only and the hidden field are not sent
	// on (and the service would refuse them).
	vals = formValues(t, b.get(fx.href+"/edit").Body, fx.href+"/edit")
	vals.Set("title", "CEO")
	vals.Set("phone", "+86 10 1234 5678")
	p = b.post(fx.href+"/edit", vals)
	wantPath(t, p, fx.href)
	if rec := fx.adminRecord(t); rec.Fields["title"] != "Head of Procurement" || rec.Fields["phone"] != phone {
		t.Errorf("forged values were written: %v", rec.Fields)
	}
	// The phone's change history is gone for sales too.
	wantNotContains(t, b.get(fx.href), "6666 0000")

	// Back to the defaults for the following cases.
	setLevels(t, a, "contact", "phone", map[string]string{"level.sales": "edit"})
	setLevels(t, a, "contact", "title", map[string]string{"level.sales": "edit"})
	// (html/template writes the phone's "+" as &#43;.)
	wantContains(t, b.get(fx.href), "6666 0000")
}

func testProtectionValidation(t *testing.T, fx protFixture) {
	a := fx.admin(t)
	// Searchable without encryption: the message sits at the checkbox.
	p := setLevels(t, a, "contact", "title", map[string]string{"searchable": "true"})
	wantStatus(t, p, http.StatusUnprocessableEntity)
	wantContains(t, p, "Some settings are not valid", `id="p-searchable-err">Only encrypted fields have a search setting`)
	// The name field can be masked, never hidden (the select does not
	// offer it; a forged form is refused).
	p = a.get("/settings/fields/contact/name")
	if regexp.MustCompile(`id="p-level-sales"[^>]*>.*value="hidden"`).MatchString(p.Body) {
		t.Errorf("the name field offers hidden")
	}
	p = setLevels(t, a, "contact", "name", map[string]string{"level.sales": "hidden"})
	wantStatus(t, p, http.StatusUnprocessableEntity)
	wantContains(t, p, "The name field can be masked but not hidden.")
	p = setLevels(t, a, "contact", "name", map[string]string{"encrypted": "true"})
	wantContains(t, p, "cannot be encrypted; mask it instead")
	p = setLevels(t, a, "contact", "do_not_call", map[string]string{"encrypted": "true"})
	wantContains(t, p, "Yes/no fields cannot be encrypted.")
	p = setLevels(t, a, "contact", "title", map[string]string{"mask": "custom", "keep_first": "x"})
	wantContains(t, p, `id="p-keep_first-err">Enter a whole number.`)
	p = setLevels(t, a, "contact", "title", map[string]string{"mask": "custom", "keep_first": "99"})
	wantContains(t, p, "The characters to keep must be between 0 and 20.")
	p = setLevels(t, a, "contact", "title", map[string]string{"level.sales": "bogus"})
	wantContains(t, p, "Choose hidden, masked, read only or edit for every role.")
	// In Chinese as well.
	a.lang = "zh-CN"
	p = setLevels(t, a, "contact", "title", map[string]string{"searchable": "true"})
	wantContains(t, p, "只有加密字段才有搜索设置")
	a.lang = "en-US"
	// Nothing was changed by any of these.
	list, err := fx.tn.Admin.ListAudit(context.Background(), client.AuditQuery{Action: "field.update", Limit: 50})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range list.Items {
		if e.ObjectID == "contact.name" || e.ObjectID == "contact.do_not_call" {
			t.Errorf("a refused change was made: %+v", e)
		}
	}
	// A mask for sales on a name field masks the name (and search) for them.
	p = setLevels(t, a, "contact", "name", map[string]string{"level.sales": "masked", "mask": "name"})
	wantPath(t, p, "/settings/fields/contact")
	b := fx.sales(t)
	p = b.get("/o/contact?q=Wang")
	wantStatus(t, p, http.StatusOK)
	wantContains(t, p, "W*** L***", "Search is not available here")
	wantNotContains(t, p, "Wang Lili", `id="q"`, "sort=name")
	p = b.get(fx.href)
	wantContains(t, p, `<h1><span class="masked"`, "W*** L***")
	wantNotContains(t, p, "Wang Lili")
	setLevels(t, a, "contact", "name", map[string]string{"level.sales": "edit", "mask": "full"})
	wantContains(t, b.get(fx.href), "Wang Lili")
}

// conversionKind is the job kind of the test's field conversions.
const conversionKind = "test.field_convert"

// conversionQueue queues field conversions as jobs on the server's queue.
type conversionQueue struct{ q *jobs.Queue }

func (c conversionQueue) EnqueueFieldConversion(ctx context.Context, tid tenant.ID, object, field, createdBy string) (string, error) {
	j, err := c.q.Enqueue(ctx, tid, conversionKind, map[string]string{"object": object, "field": field}, createdBy,
		jobs.EnqueueOptions{Key: keyops.FieldJobKey(object, field)})
	return j.ID, err
}

// enableConversions runs field conversions in the test server: the
// records service queues them on the server's job queue and a worker of
// the test converts one record per step through the service's own
// ReconcileBatch and FinishConversion, waiting on gate before finishing
// (nil: no wait) so a test can see the conversion in progress.
func enableConversions(t *testing.T, srv *testserver.Server, gate <-chan struct{}) {
	t.Helper()
	recs := srv.App.Records
	recs.SetJobQueue(conversionQueue{srv.App.Jobs})
	w := jobs.NewWorker(srv.App.Jobs, jobs.WorkerOptions{ID: "test-" + t.Name(), Poll: 100 * time.Millisecond})
	w.Handle(conversionKind, func(ctx context.Context, job jobs.Job, p *jobs.Progress) error {
		var pl struct{ Object, Field string }
		if err := json.Unmarshal(job.Payload, &pl); err != nil {
			return err
		}
		total, err := recs.CountRecords(ctx, job.TenantID, pl.Object)
		if err != nil {
			return err
		}
		after, done := job.Cursor, job.Done
		for {
			last, walked, _, finished, err := recs.ReconcileBatch(ctx, job.TenantID, pl.Object, after, 1)
			if err != nil {
				return err
			}
			if last != "" {
				after, done = last, done+int64(walked)
			}
			if err := p.Save(ctx, after, min(done, total), total); err != nil {
				return err
			}
			if finished {
				break
			}
		}
		if gate != nil {
			select {
			case <-gate:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		enc, search, err := recs.FieldSettings(ctx, job.TenantID, pl.Object, pl.Field)
		if err != nil {
			return err
		}
		_, err = recs.FinishConversion(ctx, job.TenantID, pl.Object, pl.Field, enc, search)
		return err
	})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); w.Run(ctx) }()
	t.Cleanup(func() { cancel(); wg.Wait() })
}

func testConversionProgress(t *testing.T, fx protFixture) {
	gate := make(chan struct{})
	enableConversions(t, fx.srv, gate)
	a := fx.admin(t)
	p := setLevels(t, a, "contact", "title", map[string]string{"encrypted": "true", "level.sales": "masked", "mask": "custom", "keep_first": "4", "keep_last": "0"})
	wantStatus(t, p, http.StatusOK)
	if p.URL.Path != "/settings/fields/contact/title/progress" || p.URL.Query().Get("job") == "" {
		t.Fatalf("saving an encryption change landed on %s", p.URL)
	}
	progress := p.URL.RequestURI()
	wantContains(t, p, `<progress id="conversion-progress"`, `data-state="running"`, "This page updates itself every 2 seconds.")
	if p.Header.Get("Refresh") != "2" {
		t.Errorf("running conversion: Refresh = %q", p.Header.Get("Refresh"))
	}
	// The table shows the field as converting meanwhile.
	p = a.get("/settings/fields/contact")
	row := p.Body[strings.Index(p.Body, `id="field-title"`):]
	row = row[:strings.Index(row, "</tr>")]
	if !strings.Contains(row, "Converting…") || !regexp.MustCompile(`Converting… \d+%`).MatchString(row) || !strings.Contains(row, "Custom (first 4, last 0)") {
		t.Errorf("title row while converting = %s", row)
	}
	if !strings.Contains(row, `href="/settings/fields/contact/title/progress?job=`) {
		t.Errorf("the converting badge does not link to the job: %s", row)
	}
	// Without the job's ID the progress page finds the field's job itself.
	p = a.get("/settings/fields/contact/title/progress")
	wantContains(t, p, `data-state="running"`, "% done", "State: ")
	// Sales sees the title masked at once; the list cannot sort by it.
	b := fx.sales(t)
	p = b.get(fx.href)
	wantContains(t, p, "Head***************")
	wantNotContains(t, p, "Head of Procurement")
	wantNotContains(t, b.get("/o/contact"), "Head of Procurement", "sort=title")

	close(gate)
	deadline := time.Now().Add(15 * time.Second)
	for {
		p = a.get(progress)
		if strings.Contains(p.Body, `data-state="done"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("conversion did not finish:\n%s", excerpt(p.Body, "conversion"))
		}
		time.Sleep(200 * time.Millisecond)
	}
	wantContains(t, p, "Conversion finished", `value="100"`, "100% done", "State: finished")
	if p.Header.Get("Refresh") != "" {
		t.Errorf("finished conversion still refreshes")
	}
	p = a.get("/settings/fields/contact")
	row = p.Body[strings.Index(p.Body, `id="field-title"`):]
	row = row[:strings.Index(row, "</tr>")]
	if strings.Contains(row, "Converting…") {
		t.Errorf("title still converting: %s", row)
	}
	if rec := fx.adminRecord(t); rec.Fields["title"] != "Head of Procurement" {
		t.Errorf("title after encryption = %v", rec.Fields["title"])
	}
	// A job of another tenant or an unknown one shows the field's state
	// without failing.
	wantStatus(t, a.get("/settings/fields/contact/title/progress?job=0190a0a0-0000-7000-8000-000000000009"), http.StatusOK)
	wantStatus(t, a.get("/settings/fields/contact/title/progress?job=garbage"), http.StatusOK)

	// Back to clear text (another conversion), in one go.
	p = setLevels(t, a, "contact", "title", map[string]string{"encrypted": "", "level.sales": "edit", "mask": "full", "keep_first": "", "keep_last": ""})
	if p.URL.Path != "/settings/fields/contact/title/progress" {
		t.Fatalf("decrypting landed on %s", p.URL)
	}
}
