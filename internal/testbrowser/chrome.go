// Package testbrowser drives the web UIs in tests, for the tenant UI
// (package web) and the operator console (package opsweb) alike: a
// headless Chromium through chromedp for the browser tests, and a
// cookie-keeping HTTP client that behaves like a browser without
// JavaScript for the page tests. It knows nothing of either UI beyond the
// tenant sign-in form, which the console's tests use too (a tenant admin
// approves an operator's request).
package testbrowser

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/havencrm/haven/internal/testenv"
)

// EnvScreenshotDir names the folder where browser tests leave their
// screenshots for people to look at.
const EnvScreenshotDir = "HAVEN_SCREENSHOT_DIR"

// Chromium returns the browser to drive, preferring Debian's chromium;
// without one the test is skipped, or fails where every dependency is
// required (testenv.SkipOrFail).
func Chromium(t testing.TB) string {
	t.Helper()
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	testenv.SkipOrFail(t, "browser tests skipped: chromium not found (install Debian's chromium)")
	return ""
}

// Start starts a headless browser for the test with a profile of its own
// and a fixed window size (so screenshots compare), and returns its
// context; the whole session is bounded by timeout. The browser stops
// when the test ends.
func Start(t testing.TB, timeout time.Duration) context.Context {
	t.Helper()
	exe := Chromium(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1366, 900),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(allocCtx)
	ctx, cancelTimeout := context.WithTimeout(ctx, timeout)
	t.Cleanup(func() {
		cancelTimeout()
		cancelCtx()
		cancelAlloc()
	})
	return ctx
}

// Run performs steps in the browser, failing the test with what on the
// first error.
func Run(t testing.TB, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// Text returns the visible text of the first element matching the CSS
// selector sel.
func Text(t testing.TB, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

// HTML returns the current page's markup.
func HTML(t testing.TB, ctx context.Context) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("html")))
	if err != nil {
		t.Fatalf("page HTML: %v", err)
	}
	return s
}

// TenantSignIn signs a tenant user in through the tenant UI's form,
// opened at start (the sign-in page, or any page that sends a visitor
// there), and waits for the home page.
func TenantSignIn(start, slug, login, password string) []chromedp.Action[chromedp.Void] {
	return []chromedp.Action[chromedp.Void]{
		chromedp.Navigate(start),
		chromedp.WaitVisible(chromedp.ID("tenant")),
		chromedp.SendKeys(chromedp.ID("tenant"), slug),
		chromedp.SendKeys(chromedp.ID("login"), login),
		chromedp.SendKeys(chromedp.ID("password"), password),
		chromedp.Click(chromedp.CSS(`form[action="/login"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(".tiles")),
	}
}

// ScreenshotDir is where a browser test leaves its screenshots:
// $HAVEN_SCREENSHOT_DIR (created if need be), or a fresh temporary
// folder that outlives the test.
func ScreenshotDir(t testing.TB) string {
	t.Helper()
	if d := os.Getenv(EnvScreenshotDir); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	d, err := os.MkdirTemp("", "haven-screenshots-")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// Screenshot saves the whole current page as a PNG file at path.
func Screenshot(t testing.TB, ctx context.Context, path string) {
	t.Helper()
	// Quality 100 makes a PNG (below 100, a JPEG).
	buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", filepath.Base(path), err)
	}
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		t.Fatal(err)
	}
}

// ExtraShot saves a screenshot of the current page as name.png in
// $HAVEN_SCREENSHOT_DIR, only when that is set: for pages worth a look
// but not worth a temporary folder on every run.
func ExtraShot(t testing.TB, ctx context.Context, name string) {
	t.Helper()
	if os.Getenv(EnvScreenshotDir) == "" {
		return
	}
	Screenshot(t, ctx, filepath.Join(ScreenshotDir(t), name+".png"))
}
