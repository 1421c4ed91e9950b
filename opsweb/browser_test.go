package opsweb_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/havencrm/haven/api"
	"github.com/havencrm/haven/client"
	"github.com/havencrm/haven/internal/testbrowser"
)

// TestBrowserSupportFlow drives the whole flow in a real browser: the
// operator signs in with password and TOTP and asks for contacts; the
// tenant's admin, in a browser context of their own, approves by typing
// the statement; the operator opens the contact and sees the mobile
// masked, with the number nowhere in the page; the admin revokes; the
// operator's reload is refused. Under a second grant that allows
// writes, the operator corrects a contact's title through the edit form.
func TestBrowserSupportFlow(t *testing.T) {
	// The browser start-up and steps are the tenant UI's tests' too
	// (internal/testbrowser); 90 s covers two sign-ins and the approval.
	opCtx := testbrowser.Start(t, 90*time.Second)
	srv, clk := start(t, "sqlite")
	ctx := context.Background()
	tn := srv.NewTenant(t, "browserops")
	const number = "13812345678"
	// A second phone field masked by the mobile rule but not encrypted:
	// an operator sees it as the mask rule shows it (138****5678), while
	// the encrypted standard mobile stays sealed (shown fully masked).
	if _, err := tn.Admin.CreateField(ctx, "contact", api.CreateFieldRequest{Name: "backup_mobile", Label: "Backup mobile", LabelZH: "备用手机", Type: "phone",
		FieldProtectionDTO: api.FieldProtectionDTO{Mask: "mobile", Levels: map[string]string{"sales": "masked"}}}); err != nil {
		var ce *client.Error
		if errors.As(err, &ce) {
			t.Fatalf("create field: %v %v", err, ce.Details)
		}
		t.Fatal(err)
	}
	contact, err := tn.Admin.CreateRecord(ctx, "contact", client.RecordInput{Fields: map[string]any{"name": "Wang Wei", "mobile": number, "backup_mobile__c": number,
		"email": "wang.wei@customer.example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	op := newOperator(t, srv, clk, "olga@vendor.example.com", "Olga Operator")

	// The console's sign-in page in Chinese, through the switch.
	testbrowser.Run(t, opCtx, "the sign-in page in Chinese",
		chromedp.Navigate(srv.URL+"/ops/login"),
		chromedp.WaitVisible(chromedp.ID("totp")),
		chromedp.Click(chromedp.CSS(`.lang-switch button[value="zh-CN"]`)),
		chromedp.WaitVisible(`//h1[text()="运维人员登录"]`),
	)
	if got := testbrowser.Text(t, opCtx, `label[for="totp"]`); got != "动态验证码" {
		t.Errorf("zh-CN TOTP label = %q", got)
	}
	if lang, err := chromedp.Run(opCtx, chromedp.Evaluate[string](`document.documentElement.lang`)); err != nil || lang != "zh-CN" {
		t.Errorf("html lang = %q %v", lang, err)
	}
	testbrowser.Run(t, opCtx, "back to English", chromedp.Click(chromedp.CSS(`.lang-switch button[value="en"]`)), chromedp.WaitVisible(`//h1[text()="Operator sign-in"]`))

	// A wrong code is refused.
	testbrowser.Run(t, opCtx, "sign in with a wrong code",
		chromedp.SendKeys(chromedp.ID("email"), op.Email),
		chromedp.SendKeys(chromedp.ID("password"), op.Password),
		chromedp.SendKeys(chromedp.ID("totp"), wrongCode(t, op.Secret, clk.Now())),
		chromedp.Click(chromedp.CSS(`#ops-login button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("login-error")),
	)
	// The refusal keeps the e-mail and never the password or the code.
	if v, err := chromedp.Run(opCtx, chromedp.Evaluate[[]string](`[document.getElementById("email").value, document.getElementById("password").value, document.getElementById("totp").value]`)); err != nil || len(v) != 3 || v[0] != op.Email || v[1] != "" || v[2] != "" {
		t.Fatalf("form after a refusal: %q %v", v, err)
	}
	testbrowser.Run(t, opCtx, "sign in with password and TOTP",
		chromedp.SendKeys(chromedp.ID("password"), op.Password),
		chromedp.SendKeys(chromedp.ID("totp"), code(t, op.Secret, clk.Now())),
		chromedp.Click(chromedp.CSS(`#ops-login button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("tenants")),
	)
	clk.Advance(30 * time.Second)
	if got := testbrowser.Text(t, opCtx, `#tenants tr[data-tenant="browserops"]`); !strings.Contains(got, "browserops Co.") {
		t.Errorf("tenant row = %q", got)
	}
	testbrowser.ExtraShot(t, opCtx, "ops-dashboard")

	testbrowser.Run(t, opCtx, "request access to contacts",
		chromedp.Navigate(srv.URL+"/ops/requests/new?tenant=browserops"),
		chromedp.WaitVisible(chromedp.ID("request-form")),
		chromedp.SendKeys(chromedp.ID("reason"), "The customer reports a contact page error (SUP-900)."),
		chromedp.SendKeys(chromedp.ID("ticket"), "SUP-900"),
		chromedp.Click(chromedp.ID("obj-contact")),
		chromedp.SetValue(chromedp.ID("hours"), "4"),
	)
	testbrowser.ExtraShot(t, opCtx, "ops-request-form")
	testbrowser.Run(t, opCtx, "send the request",
		chromedp.Click(chromedp.ID("request-submit")),
		chromedp.WaitVisible(chromedp.CSS(`#request[data-state="pending"]`)),
	)
	loc, err := chromedp.Run(opCtx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	grantID := loc[strings.LastIndex(loc, "/")+1:]
	recordURL := srv.URL + "/ops/tenants/browserops/objects/contact/records/" + contact.ID
	testbrowser.Run(t, opCtx, "the record before approval",
		chromedp.Navigate(recordURL),
		chromedp.WaitVisible(chromedp.ID("error-page")),
	)

	// The tenant's admin, in a browser context of their own.
	adminCtx, cancelAdmin := chromedp.NewContext(opCtx, chromedp.WithNewBrowserContext())
	defer cancelAdmin()
	anchor := "#grant-" + grantID
	testbrowser.Run(t, adminCtx, "the admin signs in", testbrowser.TenantSignIn(srv.URL+"/login", tn.Slug, tn.AdminLogin, tn.Password)...)
	testbrowser.Run(t, adminCtx, "the admin approves by typing the statement",
		chromedp.Navigate(srv.URL+"/settings/support-access"),
		chromedp.WaitVisible(chromedp.CSS(anchor+`[data-state="pending"]`)),
		chromedp.SendKeys(chromedp.CSS(anchor+"-approve-statement"), "I authorize Olga Operator to read our contacts for SUP-900."),
		chromedp.Click(chromedp.CSS(`form[action="/settings/support-access/`+grantID+`/approve"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`article`+anchor+`[data-state="active"]`)),
	)

	testbrowser.Run(t, opCtx, "the operator opens the contact",
		chromedp.Navigate(recordURL),
		chromedp.WaitVisible(chromedp.ID("record-fields")),
	)
	fields := testbrowser.Text(t, opCtx, "#record-fields")
	if !strings.Contains(fields, "138****5678") || !strings.Contains(fields, "Backup mobile") {
		t.Errorf("record fields = %q", fields)
	}
	if got := testbrowser.Text(t, opCtx, "#record-name"); got != "Wang Wei" {
		t.Errorf("record name = %q", got)
	}
	page := testbrowser.HTML(t, opCtx)
	for _, secret := range []string{number, "wang.wei@", "hv1:"} {
		if strings.Contains(page, secret) {
			t.Errorf("the record page holds %q", secret)
		}
	}
	if strings.Count(page, `data-masked="true"`) < 3 { // mobile, backup mobile, e-mail
		t.Errorf("masked fields on the page: %d", strings.Count(page, `data-masked="true"`))
	}
	testbrowser.Screenshot(t, opCtx, "/tmp/ops-record.png")

	testbrowser.Run(t, adminCtx, "the admin revokes",
		chromedp.Navigate(srv.URL+"/settings/support-access"),
		chromedp.WaitVisible(chromedp.CSS(anchor+"-revoke-statement")),
		chromedp.SendKeys(chromedp.CSS(anchor+"-revoke-statement"), "Done, thank you."),
		chromedp.Click(chromedp.CSS(`form[action="/settings/support-access/`+grantID+`/revoke"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`tr`+anchor+`[data-state="revoked"]`)),
	)

	testbrowser.Run(t, opCtx, "the operator reloads and is refused",
		chromedp.Reload(),
		chromedp.WaitVisible(chromedp.ID("error-page")),
	)
	testbrowser.ExtraShot(t, opCtx, "ops-refused")
	if got := testbrowser.Text(t, opCtx, "#error-page h1"); got != "No access" {
		t.Errorf("refusal heading = %q", got)
	}
	if page := testbrowser.HTML(t, opCtx); strings.Contains(page, "Wang Wei") || strings.Contains(page, number) {
		t.Error("the refusal page shows the record")
	}
	testbrowser.Run(t, opCtx, "the request shows revoked",
		chromedp.Navigate(srv.URL+"/ops/requests"),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-request="`+grantID+`"][data-state="revoked"]`)),
	)

	// Under a grant that allows writes, the operator corrects a title
	// from the record page; the mobile stays masked and is no input.
	plain, err := tn.Admin.CreateRecord(ctx, "contact", client.RecordInput{Fields: map[string]any{"name": "Zhao Min", "title": "Byuer"}})
	if err != nil {
		t.Fatal(err)
	}
	testbrowser.Run(t, opCtx, "request write access to contacts",
		chromedp.Navigate(srv.URL+"/ops/requests/new?tenant=browserops"),
		chromedp.WaitVisible(chromedp.ID("request-form")),
		chromedp.SendKeys(chromedp.ID("reason"), "Fix a misspelt title (SUP-901)."),
		chromedp.SendKeys(chromedp.ID("ticket"), "SUP-901"),
		chromedp.Click(chromedp.ID("obj-contact")),
		chromedp.Click(chromedp.ID("access-write")),
		chromedp.Click(chromedp.ID("request-submit")),
		chromedp.WaitVisible(chromedp.CSS(`#request[data-state="pending"]`)),
	)
	if loc, err = chromedp.Run(opCtx, chromedp.Location()); err != nil {
		t.Fatal(err)
	}
	writeGrant := loc[strings.LastIndex(loc, "/")+1:]
	if _, err := tn.Admin.DecideSupportAccess(ctx, writeGrant, "approve", api.GrantDecisionRequest{Statement: "I authorize Olga Operator to fix the title for SUP-901."}); err != nil {
		t.Fatal(err)
	}
	testbrowser.Run(t, opCtx, "the operator edits the title",
		chromedp.Navigate(srv.URL+"/ops/tenants/browserops/objects/contact/records/"+plain.ID),
		chromedp.WaitVisible(chromedp.ID("record-edit")),
		chromedp.Click(chromedp.ID("record-edit")),
		chromedp.WaitVisible(chromedp.ID("edit-form")),
		chromedp.SetValue(chromedp.ID("f-title"), "Buyer"),
	)
	if n, err := chromedp.Run(opCtx, chromedp.Evaluate[int](`document.querySelectorAll('#edit-form [name="mobile"], #edit-form [name="email"]').length`)); err != nil || n != 0 {
		t.Errorf("protected fields as inputs: %d %v", n, err)
	}
	testbrowser.ExtraShot(t, opCtx, "ops-edit-form")
	testbrowser.Run(t, opCtx, "save",
		chromedp.Click(chromedp.ID("edit-submit")),
		chromedp.WaitVisible(chromedp.ID("flash")),
	)
	if got := testbrowser.Text(t, opCtx, "#record-fields"); !strings.Contains(got, "Buyer") || strings.Contains(got, "Byuer") {
		t.Errorf("record fields after the edit = %q", got)
	}
	if rec, err := tn.Admin.GetRecord(ctx, "contact", plain.ID); err != nil || rec.Fields["title"] != "Buyer" {
		t.Fatalf("after the edit: %+v %v", rec, err)
	}
}
