package web_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/havencrm/haven/client"
	"github.com/havencrm/haven/internal/testbrowser"
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
	run(t, ctx, "sign in", testbrowser.TenantSignIn(srv.URL+"/login", tn.Slug, tn.AdminLogin, tn.Password)...)
	file := testbrowser.Download(t, ctx, "search the list and click Export CSV",
		chromedp.Navigate(srv.URL+"/o/account?q="+"%E5%8D%8E"), // 华
		chromedp.WaitVisible(chromedp.ID("export-csv")),
		chromedp.Click(chromedp.ID("export-csv")),
	)
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
