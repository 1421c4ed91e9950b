package web_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/havencrm/haven/api"
	"github.com/havencrm/haven/internal/testserver"
)

// TestBrowserForcedPasswordChange signs in with a one-time password in a
// real browser, is forced to /password, watches the live rules react to a
// weak and then a strong password, is refused a common password by the
// server, and lands on the home page after a good change.
func TestBrowserForcedPasswordChange(t *testing.T) {
	ctx := newChrome(t)
	srv := testserver.Start(t, "sqlite")
	tn := srv.NewTenant(t, "pwbrowser")
	created, err := tn.Admin.CreateUser(context.Background(), api.CreateUserRequest{Email: "zhao.lei@pwbrowser.example.com", Name: "Zhao Lei", Role: "sales"})
	if err != nil {
		t.Fatal(err)
	}
	dir := screenshotDir(t)
	shot := func(name string) {
		t.Helper()
		buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		path := filepath.Join(dir, name+".png")
		if err := os.WriteFile(path, buf, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot %s: %s", name, path)
	}
	rule := func(name, state string) string { return `#pw-rules li[data-rule="` + name + `"].` + state }
	attr := func(sel, name string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS(sel), name))
		if err != nil {
			t.Fatalf("attribute %s of %s: %v", name, sel, err)
		}
		return v.Value
	}

	run(t, ctx, "sign in with the one-time password",
		chromedp.Navigate(srv.URL+"/login"),
		chromedp.WaitVisible(chromedp.ID("tenant")),
		chromedp.SendKeys(chromedp.ID("tenant"), tn.Slug),
		chromedp.SendKeys(chromedp.ID("login"), "zhao.lei@pwbrowser.example.com"),
		chromedp.SendKeys(chromedp.ID("password"), created.OneTimePassword),
		chromedp.Click(chromedp.CSS(`form[action="/login"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("new_password")),
	)
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil || !strings.HasSuffix(loc, "/password") {
		t.Fatalf("after the first sign-in the browser is at %q (%v), want /password", loc, err)
	}
	if got := text(t, ctx, ".alert-warning"); !strings.Contains(got, "one-time password") {
		t.Errorf("forced-change notice = %q", got)
	}
	// Before typing, no rule is marked either way.
	if got := attr("#pw-rules", "data-state"); got != "empty" {
		t.Errorf("rules state before typing = %q (is password.js running?)", got)
	}

	run(t, ctx, "type a weak password",
		chromedp.SendKeys(chromedp.ID("current_password"), created.OneTimePassword),
		chromedp.SendKeys(chromedp.ID("new_password"), "zhao1"),
		chromedp.WaitVisible(chromedp.CSS(rule("length", "is-unmet"))),
		chromedp.WaitVisible(chromedp.CSS(rule("classes", "is-unmet"))),
		chromedp.WaitVisible(chromedp.CSS(rule("identity", "is-unmet"))),
		chromedp.WaitVisible(chromedp.CSS(rule("match", "is-unmet"))),
	)
	if got := attr("#pw-rules", "data-state"); got != "unmet" {
		t.Errorf("rules state with a weak password = %q", got)
	}
	if got := text(t, ctx, `#pw-rules li[data-rule="length"] .pw-state`); !strings.Contains(got, "not satisfied") {
		t.Errorf("screen-reader state of the length rule = %q", got)
	}
	shot("password-weak")

	// The live check is a help, not the judge: a common password passes
	// every live rule and the server still refuses it.
	const common = "P@ssw0rd"
	run(t, ctx, "type a common password that passes the live rules",
		chromedp.SendKeys(chromedp.ID("new_password"), strings.Repeat(kb.Backspace, len("zhao1"))),
		chromedp.WaitNotPresent(chromedp.CSS(rule("length", "is-unmet"))),
		chromedp.SendKeys(chromedp.ID("new_password"), common),
		chromedp.SendKeys(chromedp.ID("confirm_password"), common),
		chromedp.WaitVisible(chromedp.CSS(rule("length", "is-met"))),
		chromedp.WaitVisible(chromedp.CSS(rule("classes", "is-met"))),
		chromedp.WaitVisible(chromedp.CSS(rule("identity", "is-met"))),
		chromedp.WaitVisible(chromedp.CSS(rule("match", "is-met"))),
		chromedp.Click(chromedp.CSS(`form[action="/password"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("new-err")),
	)
	if got := text(t, ctx, "#new-err"); !strings.Contains(got, "too common") {
		t.Errorf("server's refusal = %q", got)
	}
	shot("password-common-refused")

	const strong = "Harbor-lights-2031"
	run(t, ctx, "type a strong password",
		chromedp.SendKeys(chromedp.ID("current_password"), created.OneTimePassword),
		chromedp.SendKeys(chromedp.ID("new_password"), "Harbor"),
		chromedp.WaitVisible(chromedp.CSS(rule("length", "is-unmet"))),
		chromedp.SendKeys(chromedp.ID("new_password"), "-lights-2031"),
		chromedp.WaitVisible(chromedp.CSS(rule("length", "is-met"))),
		chromedp.WaitVisible(chromedp.CSS(rule("classes", "is-met"))),
		chromedp.WaitVisible(chromedp.CSS(rule("identity", "is-met"))),
		chromedp.WaitVisible(chromedp.CSS(rule("match", "is-unmet"))),
		chromedp.SendKeys(chromedp.ID("confirm_password"), strong),
		chromedp.WaitVisible(chromedp.CSS(rule("match", "is-met"))),
	)
	if got := attr("#pw-rules", "data-state"); got != "met" {
		t.Errorf("rules state with a strong password = %q", got)
	}
	shot("password-strong")

	run(t, ctx, "submit and land on the home page",
		chromedp.Click(chromedp.CSS(`form[action="/password"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(".tiles")),
	)
	if got := text(t, ctx, ".alert-success"); !strings.Contains(got, "password was changed") {
		t.Errorf("flash = %q", got)
	}
	shot("password-changed-home")
	// The new password is the one that works now.
	srv.Login(t, tn.Slug, "zhao.lei@pwbrowser.example.com", strong)
}
