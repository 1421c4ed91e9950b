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

// TestBrowserCaptcha signs in with a real browser after three wrong
// passwords: the sign-in page then shows the CAPTCHA image (served by the
// API, allowed by the CSP); the user types its digits and the password,
// and gets in. A wrong answer brings a new picture.
func TestBrowserCaptcha(t *testing.T) {
	ctx := newChrome(t)
	srv := testserver.Start(t, "sqlite")
	tn := srv.NewTenant(t, "captcha")
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
	attempt := func(what, password string) {
		t.Helper()
		run(t, ctx, what,
			chromedp.Navigate(srv.URL+"/login"),
			chromedp.WaitVisible(chromedp.ID("tenant")),
			chromedp.SendKeys(chromedp.ID("tenant"), tn.Slug),
			chromedp.SendKeys(chromedp.ID("login"), tn.AdminLogin),
			chromedp.SendKeys(chromedp.ID("password"), password),
			chromedp.Click(chromedp.CSS(`form[action="/login"] button[type="submit"]`)),
			chromedp.WaitVisible(chromedp.ID("login-error")),
		)
	}
	for i := 1; i <= 3; i++ {
		attempt("wrong password", "Not-The-Password-7")
		if got := text(t, ctx, "#login-error"); !strings.Contains(got, "incorrect") {
			t.Fatalf("attempt %d: error %q", i, got)
		}
		n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#captcha-img").length`))
		if err != nil || (i < 3 && n != 0) {
			t.Fatalf("attempt %d: %d CAPTCHA images, %v", i, n, err)
		}
	}
	// After the third failure the page shows the CAPTCHA the next attempt
	// needs.
	run(t, ctx, "captcha shown", chromedp.WaitVisible(chromedp.ID("captcha-img")), chromedp.WaitVisible(chromedp.ID("captcha_answer")))
	// The image really loaded (a CSP or routing mistake would leave it
	// broken with naturalWidth 0).
	width, err := chromedp.Run(ctx, chromedp.Evaluate[int](`new Promise(r => { const i = document.getElementById("captcha-img"); if (i.complete) r(i.naturalWidth); else i.onload = () => r(i.naturalWidth); })`, chromedp.EvalAwaitPromise))
	if err != nil || width != 240 {
		t.Fatalf("captcha image width %d, %v", width, err)
	}
	shot("login-captcha")
	id, err := chromedp.Run(ctx, chromedp.Value(chromedp.CSS(`input[name="captcha_id"]`)))
	if err != nil || id == "" {
		t.Fatalf("captcha id %q: %v", id, err)
	}
	// A wrong answer (with the right password) brings a new picture.
	run(t, ctx, "wrong answer",
		chromedp.SendKeys(chromedp.ID("password"), tn.Password),
		chromedp.SendKeys(chromedp.ID("captcha_answer"), "00000000"),
		chromedp.Click(chromedp.CSS(`form[action="/login"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("captcha-img")),
	)
	// Wait for the new page: its challenge differs.
	var id2 string
	for deadline := time.Now().Add(10 * time.Second); ; {
		id2, err = chromedp.Run(ctx, chromedp.Value(chromedp.CSS(`input[name="captcha_id"]`)))
		if err == nil && id2 != "" && id2 != id {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no new challenge after a wrong answer: %q %v", id2, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := text(t, ctx, "#login-error"); !strings.Contains(got, "did not match") {
		t.Fatalf("error after a wrong answer %q", got)
	}
	// The user reads the digits (the test reads them from the database).
	answer := srv.CaptchaAnswer(t, id2)
	run(t, ctx, "solve and sign in",
		chromedp.SendKeys(chromedp.ID("password"), tn.Password),
		chromedp.SendKeys(chromedp.ID("captcha_answer"), answer),
		chromedp.Click(chromedp.CSS(`form[action="/login"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(".tiles")),
	)
	if got := text(t, ctx, ".tenant-name"); got != "captcha Co." {
		t.Errorf("top bar tenant = %q", got)
	}
	shot("home-after-captcha")
}
