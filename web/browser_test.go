package web_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/havencrm/haven/api"
	"github.com/havencrm/haven/internal/testbrowser"
	"github.com/havencrm/haven/internal/testserver"
)

// newChrome starts a headless browser for the test (see
// internal/testbrowser, shared with the operator console's tests); the
// whole session is bounded by a 60 s timeout.
func newChrome(t *testing.T) context.Context {
	t.Helper()
	return testbrowser.Start(t, 60*time.Second)
}

// screenshotDir is where the browser tests leave their screenshots for
// people to look at: $HAVEN_SCREENSHOT_DIR, or a fresh temporary folder
// that outlives the test.
func screenshotDir(t *testing.T) string {
	t.Helper()
	return testbrowser.ScreenshotDir(t)
}

func run(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	testbrowser.Run(t, ctx, what, steps...)
}

func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	return testbrowser.Text(t, ctx, sel)
}

// TestBrowser signs in with a real browser, creates an account through
// the form, finds it in the list, and sees its creation in the audit log.
func TestBrowser(t *testing.T) {
	ctx := newChrome(t)
	srv := testserver.Start(t, "sqlite")
	tn := srv.NewTenant(t, "browser")
	dir := screenshotDir(t)
	shot := func(name string) {
		t.Helper()
		path := filepath.Join(dir, name+".png")
		testbrowser.Screenshot(t, ctx, path)
		t.Logf("screenshot %s: %s", name, path)
	}
	const name = "Browser Test Trading Co."

	run(t, ctx, "sign in", testbrowser.TenantSignIn(srv.URL+"/", tn.Slug, tn.AdminLogin, tn.Password)...)
	if got := text(t, ctx, ".tenant-name"); got != "browser Co." {
		t.Errorf("top bar tenant = %q", got)
	}
	shot("home")

	// A form with validation errors keeps the input and explains each field.
	run(t, ctx, "submit an invalid form",
		chromedp.Navigate(srv.URL+"/o/account/new"),
		chromedp.WaitVisible(chromedp.ID("f-name")),
		chromedp.SendKeys(chromedp.ID("f-email"), "not-an-email"),
		chromedp.SendKeys(chromedp.ID("f-annual_revenue"), "12.345"),
		chromedp.Click(chromedp.CSS(`form.form-card button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(".field-error")),
	)
	if got := text(t, ctx, ".has-error .field-error"); !strings.Contains(got, "required") {
		t.Errorf("first field error = %q", got)
	}
	shot("form-errors")

	run(t, ctx, "create an account through the form",
		chromedp.Navigate(srv.URL+"/o/account/new"),
		chromedp.WaitVisible(chromedp.ID("f-name")),
		chromedp.SendKeys(chromedp.ID("f-name"), name),
		chromedp.SetValue(chromedp.ID("f-industry"), "manufacturing"),
		chromedp.SetValue(chromedp.ID("f-type"), "customer"),
		chromedp.SendKeys(chromedp.ID("f-phone"), "+86 21 6888 1234"),
		chromedp.SendKeys(chromedp.ID("f-email"), "hello@btt.example.com"),
		chromedp.SendKeys(chromedp.ID("f-website"), "https://btt.example.com"),
		chromedp.SendKeys(chromedp.ID("f-annual_revenue"), "12500000"),
		chromedp.SendKeys(chromedp.ID("f-employees"), "320"),
		chromedp.SendKeys(chromedp.ID("f-city"), "Shanghai"),
		chromedp.SendKeys(chromedp.ID("f-description"), "Long-standing customer.\nRenewal due in Q3."),
		chromedp.Click(chromedp.CSS(`form.form-card button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(".detail-grid")),
	)
	if got := text(t, ctx, ".page-head h1"); got != name {
		t.Errorf("detail heading = %q", got)
	}
	if got := text(t, ctx, ".fields"); !strings.Contains(got, "12,500,000.00") || !strings.Contains(got, "Manufacturing") {
		t.Errorf("detail fields = %q", got)
	}
	detailURL, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	// One update so the history shows a before/after.
	run(t, ctx, "edit the account",
		chromedp.Navigate(detailURL+"/edit"),
		chromedp.WaitVisible(chromedp.ID("f-city")),
		chromedp.SetValue(chromedp.ID("f-city"), "Hangzhou"),
		chromedp.Click(chromedp.CSS(`form.form-card button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(".detail-grid")),
	)
	if got := text(t, ctx, "#history"); !strings.Contains(got, "Shanghai") || !strings.Contains(got, "Hangzhou") {
		t.Errorf("history = %q", got)
	}
	shot("detail")

	// A few more records make the list look like a list.
	for _, extra := range []string{"Northwind Traders", "Contoso Pharmaceuticals", "华为技术有限公司"} {
		run(t, ctx, "create "+extra,
			chromedp.Navigate(srv.URL+"/o/account/new"),
			chromedp.WaitVisible(chromedp.ID("f-name")),
			chromedp.SendKeys(chromedp.ID("f-name"), extra),
			chromedp.SetValue(chromedp.ID("f-industry"), "technology"),
			chromedp.SendKeys(chromedp.ID("f-city"), "Shenzhen"),
			chromedp.Click(chromedp.CSS(`form.form-card button[type="submit"]`)),
			chromedp.WaitVisible(chromedp.CSS(".detail-grid")),
		)
	}
	run(t, ctx, "list all accounts",
		chromedp.Navigate(srv.URL+"/o/account"),
		chromedp.WaitVisible(chromedp.CSS("table.table")),
	)
	shot("list")
	run(t, ctx, "narrow window", chromedp.EmulateViewport(800, 900))
	shot("list-800px")
	run(t, ctx, "wide window", chromedp.EmulateViewport(1366, 900))

	run(t, ctx, "search the list",
		chromedp.SendKeys(chromedp.ID("q"), "Trading"),
		chromedp.Submit(chromedp.ID("q")),
		chromedp.WaitVisible(chromedp.CSS(".search a.btn-ghost")), // "Clear" appears once a search ran
	)
	rows := text(t, ctx, "table.table tbody")
	if !strings.Contains(rows, name) || strings.Contains(rows, "Northwind") {
		t.Errorf("search results = %q", rows)
	}

	run(t, ctx, "open the audit log",
		chromedp.Navigate(srv.URL+"/audit"),
		chromedp.WaitVisible(chromedp.CSS("table.table-audit")),
		// The creation event of this account, found by its name and action.
		chromedp.WaitVisible(`//tr[td/a[text()="`+name+`"]]//span[@data-action="record.create"]`),
	)
	shot("audit")

	// Users: one added through the form (its one-time password is shown
	// once), one deactivated through the API.
	run(t, ctx, "add a user",
		chromedp.Navigate(srv.URL+"/users"),
		chromedp.WaitVisible(chromedp.CSS("#new-user")),
		chromedp.SendKeys(chromedp.ID("u-name"), "Lin Xiaoyu"),
		chromedp.SendKeys(chromedp.ID("u-email"), "lin@browser.example.com"),
		chromedp.SetValue(chromedp.ID("u-role"), "manager"),
		chromedp.Click(chromedp.CSS(`#new-user button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("one-time-password")),
	)
	if otp := text(t, ctx, "#one-time-password"); len(otp) != 16 {
		t.Errorf("one-time password %q", otp)
	}
	shot("user-created")
	gone, err := tn.Admin.CreateUser(context.Background(), api.CreateUserRequest{Email: "gone@browser.example.com", Name: "Gao Former", Role: "sales"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tn.Admin.DeactivateUser(context.Background(), gone.User.ID); err != nil {
		t.Fatal(err)
	}
	run(t, ctx, "open the users page",
		chromedp.Navigate(srv.URL+"/users"),
		chromedp.WaitVisible(chromedp.CSS("#new-user")),
	)
	if got := text(t, ctx, "table.table tbody"); !strings.Contains(got, "Lin Xiaoyu") || !strings.Contains(got, "Deactivated") {
		t.Errorf("users table = %q", got)
	}
	shot("users")

	run(t, ctx, "sign out and switch the sign-in page to Chinese",
		chromedp.Click(chromedp.CSS(`form[action="/logout"] button`)),
		chromedp.WaitVisible(chromedp.ID("tenant")),
		chromedp.Click(chromedp.CSS(`.lang-switch button[value="zh-CN"]`)),
		chromedp.WaitVisible(`//h1[text()="登录 Haven"]`),
	)
	shot("login-zh")

	run(t, ctx, "sign in again in Chinese",
		chromedp.SendKeys(chromedp.ID("tenant"), tn.Slug),
		chromedp.SendKeys(chromedp.ID("login"), tn.AdminLogin),
		chromedp.SendKeys(chromedp.ID("password"), tn.Password),
		chromedp.Click(chromedp.CSS(`form[action="/login"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(".tiles")),
		chromedp.Navigate(detailURL),
		chromedp.WaitVisible(chromedp.CSS(".detail-grid")),
	)
	if got := text(t, ctx, ".fields"); !strings.Contains(got, "制造") {
		t.Errorf("Chinese detail fields = %q", got)
	}
	shot("detail-zh")
}
