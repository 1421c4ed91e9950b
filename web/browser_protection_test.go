package web_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/havencrm/haven/internal/testserver"
)

// TestBrowserFieldProtection walks field protection in a real browser:
// the admin encrypts and masks a contact's title for sales and watches
// the conversion finish (the progress page reloads itself through the
// Refresh header, without script); the sales user then sees the title
// masked and shows the mobile number with a reason.
func TestBrowserFieldProtection(t *testing.T) {
	ctx := newChrome(t)
	srv := testserver.Start(t, "sqlite")
	fx := newProtFixture(t, srv, "lock")
	dir := screenshotDir(t)
	shot := func(name string) {
		t.Helper()
		buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		path := filepath.Join(dir, "protection-"+name+".png")
		if err := os.WriteFile(path, buf, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot %s: %s", name, path)
	}
	signIn := func(login string) {
		t.Helper()
		run(t, ctx, "sign in as "+login,
			chromedp.Navigate(srv.URL+"/login"),
			chromedp.WaitVisible(chromedp.ID("tenant")),
			chromedp.SendKeys(chromedp.ID("tenant"), fx.tn.Slug),
			chromedp.SendKeys(chromedp.ID("login"), login),
			chromedp.SendKeys(chromedp.ID("password"), testserver.AdminPassword),
			chromedp.Click(chromedp.CSS(`form[action="/login"] button[type="submit"]`)),
			chromedp.WaitVisible(chromedp.CSS(".tiles")),
		)
	}

	signIn(fx.tn.AdminLogin)
	run(t, ctx, "open field protection for contacts",
		chromedp.Click(chromedp.CSS(`.sidenav a[href="/settings/fields"]`)),
		chromedp.WaitVisible(chromedp.ID("protection-table")),
		chromedp.Click(chromedp.CSS(`.tabs a[href="/settings/fields/contact"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#field-title`)),
	)
	if got := text(t, ctx, "#field-mobile"); !strings.Contains(got, "Masked") || !strings.Contains(got, "Mobile number") {
		t.Errorf("mobile row = %q", got)
	}
	shot("fields")

	run(t, ctx, "encrypt the title and mask it for sales",
		chromedp.Click(chromedp.CSS(`#field-title a.btn`)),
		chromedp.WaitVisible(chromedp.ID("protect-form")),
		chromedp.Click(chromedp.ID("p-encrypted")),
		chromedp.SetValue(chromedp.ID("p-level-sales"), "masked"),
		chromedp.SetValue(chromedp.ID("p-mask"), "custom"),
		chromedp.SendKeys(chromedp.ID("p-keep_first"), "4"),
	)
	shot("field-form")
	run(t, ctx, "save the field",
		chromedp.Click(chromedp.CSS(`#protect-form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("conversion")),
	)
	first, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.ID("conversion"), "data-state"))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("conversion state on arrival: %+v", first)
	start := time.Now()
	// The page reloads itself every 2 s until the job is over.
	run(t, ctx, "wait for the conversion to finish",
		chromedp.WaitVisible(chromedp.CSS(`#conversion[data-state="done"]`)),
	)
	t.Logf("conversion finished after %s", time.Since(start).Round(100*time.Millisecond))
	if got := text(t, ctx, "#conversion"); !strings.Contains(got, "Conversion finished") || !strings.Contains(got, "100% done") {
		t.Errorf("progress page = %q", got)
	}
	shot("conversion-done")
	run(t, ctx, "back to the table",
		chromedp.Click(chromedp.CSS(`#conversion a.btn-primary`)),
		chromedp.WaitVisible(chromedp.CSS(`#field-title`)),
	)
	if got := text(t, ctx, "#field-title"); strings.Contains(got, "Converting") || !strings.Contains(got, "Encrypted") {
		t.Errorf("title row after the conversion = %q", got)
	}
	run(t, ctx, "sign out", chromedp.Click(chromedp.CSS(`form[action="/logout"] button`)), chromedp.WaitVisible(chromedp.ID("tenant")))

	signIn(fx.salesMail)
	run(t, ctx, "open the contacts",
		chromedp.Navigate(srv.URL+"/o/contact"),
		chromedp.WaitVisible(chromedp.CSS("table.table-list")),
	)
	if got := text(t, ctx, "table.table-list tbody"); !strings.Contains(got, "138****5678") || strings.Contains(got, "13812345678") {
		t.Errorf("contact list = %q", got)
	}
	shot("list-masked")
	run(t, ctx, "open the contact",
		chromedp.Navigate(srv.URL+fx.href),
		chromedp.WaitVisible(chromedp.CSS(".detail-grid")),
	)
	fields := text(t, ctx, ".fields")
	for _, want := range []string{"Head***************", "138****5678", "l***@example.com", "110***********1234"} {
		if !strings.Contains(fields, want) {
			t.Errorf("detail fields lack %q: %q", want, fields)
		}
	}
	for _, leak := range append([]string{"Head of Procurement"}, plaintexts...) {
		if strings.Contains(fields, leak) {
			t.Errorf("detail fields show %q", leak)
		}
	}
	shot("detail-masked")

	run(t, ctx, "show the mobile with a reason",
		chromedp.Click(chromedp.CSS(`a.reveal-btn[href$="/reveal/mobile"]`)),
		chromedp.WaitVisible(chromedp.ID("reveal-reason")),
	)
	// The reason is required: the browser does not send the form without.
	run(t, ctx, "try without a reason",
		chromedp.Click(chromedp.CSS(`#reveal-form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("reveal-reason")),
	)
	run(t, ctx, "give a reason",
		chromedp.SendKeys(chromedp.ID("reveal-reason"), "Calling back about the renewal"),
	)
	shot("reveal-form")
	run(t, ctx, "submit the reason",
		chromedp.Click(chromedp.CSS(`#reveal-form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("revealed-value")),
	)
	if got := text(t, ctx, "#revealed-value"); got != "13812345678" {
		t.Errorf("revealed value = %q", got)
	}
	if got := text(t, ctx, "#reveal-recorded"); !strings.Contains(got, "audit log") {
		t.Errorf("reveal note = %q", got)
	}
	shot("revealed")

	run(t, ctx, "open the edit form",
		chromedp.Navigate(srv.URL+fx.href+"/edit"),
		chromedp.WaitVisible(chromedp.ID("f-mobile")),
	)
	if v, err := chromedp.Run(ctx, chromedp.Value(chromedp.ID("f-mobile"))); err != nil || v != "" {
		t.Errorf("masked mobile input holds %q (%v)", v, err)
	}
	shot("edit-masked")
	run(t, ctx, "save the form untouched",
		chromedp.Click(chromedp.CSS(`form.form-card button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(".detail-grid")),
	)
	rec := fx.adminRecord(t)
	if rec.Fields["mobile"] != "13812345678" || rec.Fields["title"] != "Head of Procurement" || rec.Fields["id_number"] != "110101199003071234" {
		t.Errorf("after the browser round trip: %v", rec.Fields)
	}
}
