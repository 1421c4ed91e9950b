package web_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"github.com/havencrm/haven/client"
	"github.com/havencrm/haven/internal/testserver"
)

// TestBrowserListExport clicks the list's "Export CSV" button in a real
// browser, on a searched list, and reads the file Chromium saved: the
// search travelled with the button, the file is UTF-8 with a BOM, starts
// with the watermark and holds the Chinese names intact.
func TestBrowserListExport(t *testing.T) {
	ctx := newChrome(t)
	srv := testserver.Start(t, "sqlite")
	tn := srv.NewTenant(t, "dlexport")
	for _, name := range []string{"华为技术有限公司", "华润集团", "Contoso"} {
		if _, err := tn.Admin.CreateRecord(context.Background(), "account", client.RecordInput{Fields: map[string]any{"name": name, "city": "深圳"}}); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	run(t, ctx, "sign in",
		chromedp.Navigate(srv.URL+"/login"),
		chromedp.WaitVisible(chromedp.ID("tenant")),
		chromedp.SendKeys(chromedp.ID("tenant"), tn.Slug),
		chromedp.SendKeys(chromedp.ID("login"), tn.AdminLogin),
		chromedp.SendKeys(chromedp.ID("password"), tn.Password),
		chromedp.Click(chromedp.CSS(`form[action="/login"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(".tiles")),
	)
	progress := chromedp.Events(ctx, cdpbrowser.DownloadProgress)
	eventsOn := true
	run(t, ctx, "search the list and click Export CSV",
		chromedp.Navigate(srv.URL+"/o/account?q="+"%E5%8D%8E"), // 华
		chromedp.WaitVisible(chromedp.ID("export-csv")),
		chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			_, err := chromedp.Call(ctx, cdpbrowser.SetDownloadBehavior, cdpbrowser.SetDownloadBehaviorParams{
				Behavior: cdpbrowser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: dir, EventsEnabled: &eventsOn})
			return err
		}),
		chromedp.Click(chromedp.ID("export-csv")),
	)
	var file string
	for ev, err := range progress {
		if err != nil {
			t.Fatalf("waiting for the download: %v", err)
		}
		if ev.State == cdpbrowser.DownloadProgressStateCanceled {
			t.Fatal("the download was canceled")
		}
		if ev.State == cdpbrowser.DownloadProgressStateCompleted {
			file = filepath.Join(dir, ev.GUID)
			break
		}
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	body := string(b)
	if !strings.HasPrefix(body, "\uFEFFHaven export ") {
		t.Fatalf("the file does not start with the BOM and the watermark: %.80q", body)
	}
	if !strings.Contains(body, "华为技术有限公司") || !strings.Contains(body, "华润集团") || !strings.Contains(body, "深圳") {
		t.Errorf("Chinese text lost: %q", body)
	}
	if strings.Contains(body, "Contoso") {
		t.Errorf("the search did not travel with the button: %q", body)
	}
}
