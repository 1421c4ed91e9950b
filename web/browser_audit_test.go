package web_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/havencrm/haven/audit"
	"github.com/havencrm/haven/client"
	"github.com/havencrm/haven/internal/testbrowser"
	"github.com/havencrm/haven/internal/testserver"
)

// TestBrowserAuditLog: in a real browser the admin filters the audit log
// by action, runs the integrity check, and downloads the export, which
// then verifies offline against the server's public keys.
func TestBrowserAuditLog(t *testing.T) {
	ctx := newChrome(t)
	srv := testserver.Start(t, "sqlite")
	tn := srv.NewTenant(t, "auditui")
	for _, name := range []string{"Harbour Logistics", "Lotus Foods"} {
		if _, err := tn.Admin.CreateRecord(context.Background(), "account", client.RecordInput{Fields: map[string]any{"name": name, "city": "Ningbo"}}); err != nil {
			t.Fatal(err)
		}
	}

	run(t, ctx, "sign in", testbrowser.TenantSignIn(srv.URL+"/login", tn.Slug, tn.AdminLogin, tn.Password)...)
	run(t, ctx, "filter by action",
		chromedp.Click(chromedp.CSS(`.sidenav a[href="/audit"]`)),
		chromedp.WaitVisible(chromedp.ID("a-action")),
		chromedp.SetValue(chromedp.ID("a-action"), "record.create"),
		chromedp.Click(chromedp.CSS(`form.filters button[type="submit"]`)),
		// The reset link shows once a filter applies.
		chromedp.WaitVisible(chromedp.CSS(`.filter-actions a[href="/audit"]`)),
	)
	if v, err := chromedp.Run(ctx, chromedp.Value(chromedp.ID("a-action"))); err != nil || v != "record.create" {
		t.Errorf("action select after filtering = %q %v", v, err)
	}
	rows, err := chromedp.Run(ctx, chromedp.AttributesAll(chromedp.CSSAll(".table-audit [data-action]")))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 {
		t.Errorf("%d rows after filtering by action, want 2", len(rows))
	}
	for _, r := range rows {
		if r["data-action"] != "record.create" {
			t.Errorf("row with action %q", r["data-action"])
		}
	}

	run(t, ctx, "verify the trail",
		chromedp.Click(chromedp.ID("verify-now")),
		chromedp.WaitVisible(chromedp.CSS(".verify-ok .verify-result")),
	)
	if got := text(t, ctx, ".verify-result"); !strings.Contains(got, "Verified:") || !strings.Contains(got, "events") {
		t.Errorf("verification panel = %q", got)
	}
	// The check kept the filter.
	if rows, err := chromedp.Run(ctx, chromedp.AttributesAll(chromedp.CSSAll(".table-audit [data-action]"))); err != nil || len(rows) != 2 {
		t.Errorf("rows after verifying: %d %v", len(rows), err)
	}

	buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(screenshotDir(t), "audit-log.png")
	if err := os.WriteFile(shot, buf, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", shot)

	file := testbrowser.Download(t, ctx, "download the export", chromedp.Click(chromedp.ID("export-trail")))
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rep, err := audit.VerifyJSONL(f, srv.App.Audit.KeySet(), audit.VerifyOptions{MaxGap: audit.DefaultCheckpointEvery})
	if err != nil || !rep.OK {
		t.Fatalf("the downloaded export does not verify: %v %v", rep, err)
	}
	// The page is still there, and the export is on record.
	run(t, ctx, "see the export in the log",
		chromedp.Navigate(srv.URL+"/audit?action=audit.export"),
		chromedp.WaitVisible(chromedp.CSS(`.table-audit [data-action="audit.export"]`)),
	)
}
