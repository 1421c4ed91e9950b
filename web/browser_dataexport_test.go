package web_test

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/havencrm/haven/access"
	"github.com/havencrm/haven/client"
	"github.com/havencrm/haven/internal/testserver"
	"github.com/havencrm/haven/tenant"
)

// TestBrowserDataExport: an admin exports all data from the page in a
// real browser, watches it finish (the page reloads itself through the
// Refresh header, without script) and downloads the zip with the
// browser's own session; a sales user cannot reach the page.
func TestBrowserDataExport(t *testing.T) {
	ctx := newChrome(t)
	srv := testserver.Start(t, "sqlite")
	tn := srv.NewTenant(t, "dexp")
	bg := context.Background()
	for _, name := range []string{"华为技术有限公司", "Northwind Traders"} {
		if _, err := tn.Admin.CreateRecord(bg, "account", client.RecordInput{Fields: map[string]any{"name": name}}); err != nil {
			t.Fatal(err)
		}
	}
	_, _ = srv.NewUser(t, tn, "sales@dexp.example.com", "Sales Rep", access.RoleSales)
	dir := screenshotDir(t)
	shot := func(name string) {
		t.Helper()
		buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		path := filepath.Join(dir, "dataexport-"+name+".png")
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
			chromedp.SendKeys(chromedp.ID("tenant"), tn.Slug),
			chromedp.SendKeys(chromedp.ID("login"), login),
			chromedp.SendKeys(chromedp.ID("password"), testserver.AdminPassword),
			chromedp.Click(chromedp.CSS(`form[action="/login"] button[type="submit"]`)),
			chromedp.WaitVisible(chromedp.CSS(".tiles")),
		)
	}

	signIn(tn.AdminLogin)
	run(t, ctx, "open the export page",
		chromedp.Click(chromedp.CSS(`.sidenav a[href="/settings/data-export"]`)),
		chromedp.WaitVisible(chromedp.ID("export-form")),
	)
	// A passphrase that is too short is refused beside its field.
	run(t, ctx, "a short passphrase",
		chromedp.SendKeys(chromedp.ID("export-passphrase"), "short"),
		chromedp.Click(chromedp.ID("export-start")),
		chromedp.WaitVisible(chromedp.ID("export-passphrase-err")),
	)
	if got := text(t, ctx, "#export-passphrase-err"); !strings.Contains(got, "12") {
		t.Errorf("passphrase error = %q", got)
	}
	shot("error")
	start := time.Now()
	run(t, ctx, "export all data",
		chromedp.Click(chromedp.ID("export-start")),
		chromedp.WaitVisible(chromedp.CSS(`#exports tbody tr`)),
	)
	shot("started")
	// The page reloads every 2 s until the export is done.
	run(t, ctx, "wait for the export",
		chromedp.WaitVisible(chromedp.CSS(`#exports tr[data-status="done"] a.export-download`)),
	)
	t.Logf("export finished after %s", time.Since(start).Round(100*time.Millisecond))
	shot("done")
	row := text(t, ctx, `#exports tr[data-status="done"]`)
	if !strings.Contains(row, "100%") || !strings.Contains(row, "2 / 2") {
		t.Errorf("finished row = %q", row)
	}
	href, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS(`#exports tr[data-status="done"] a.export-download`), "href"))
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(href.Value)
	if err != nil || !strings.HasPrefix(u.Path, "/settings/data-export/") || !strings.HasSuffix(u.Path, "/download") {
		t.Fatalf("download link %q", href.Value)
	}
	id := strings.TrimSuffix(strings.TrimPrefix(u.Path, "/settings/data-export/"), "/download")
	e, err := srv.App.DB.Export(bg, tenant.ID(tn.ID), id)
	if err != nil {
		t.Fatal(err)
	}
	// Fetch the link with the browser's own cookies.
	got, err := chromedp.Run(ctx, chromedp.Evaluate[string](`fetch(`+strconv.Quote(u.Path)+`).then(async r => {
		const b = new Uint8Array(await r.arrayBuffer());
		return r.status + "|" + r.headers.get("content-type") + "|" + r.headers.get("content-disposition") + "|" + b.length + "|" + String.fromCharCode(b[0], b[1]);
	})`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(got, "|")
	if len(parts) != 5 || parts[0] != "200" || parts[1] != "application/zip" || !strings.HasPrefix(parts[2], "attachment") ||
		parts[3] != strconv.FormatInt(e.Size, 10) || parts[4] != "PK" {
		t.Errorf("download through the browser = %q (size on record %d)", got, e.Size)
	}
	// Without the session the link is worthless.
	resp, err := http.Get(srv.URL + u.Path)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Request.URL.Path != "/login" {
		t.Errorf("anonymous download ended at %s (%d)", resp.Request.URL, resp.StatusCode)
	}
	run(t, ctx, "sign out", chromedp.Click(chromedp.CSS(`form[action="/logout"] button`)), chromedp.WaitVisible(chromedp.ID("tenant")))

	signIn("sales@dexp.example.com")
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('a[href="/settings/data-export"]').length`))
	if err != nil || n != 0 {
		t.Errorf("sales sees %d links to the export page (%v)", n, err)
	}
	run(t, ctx, "sales opens the page",
		chromedp.Navigate(srv.URL+"/settings/data-export"),
		chromedp.WaitVisible(chromedp.CSS(".error-card")),
	)
	if got := text(t, ctx, ".error-code"); got != "403" {
		t.Errorf("sales on the export page: %q", got)
	}
	// Nor can the sales user take the admin's file.
	got, err = chromedp.Run(ctx, chromedp.Evaluate[string](`fetch(`+strconv.Quote(u.Path)+`).then(r => String(r.status))`, chromedp.EvalAwaitPromise))
	if err != nil || got != "403" && got != "404" {
		t.Errorf("sales download of the admin's export: %q %v", got, err)
	}
	shot("sales-refused")
}
