package testbrowser

import (
	"context"
	"path/filepath"
	"testing"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
)

// Download lets the browser save files into a temporary directory, runs
// trigger (the steps up to the click that starts a download), waits for
// the download to complete and returns the saved file's path. A canceled
// download fails the test.
func Download(t testing.TB, ctx context.Context, what string, trigger ...chromedp.Action[chromedp.Void]) string {
	t.Helper()
	dir := t.TempDir()
	// Subscribed before the click, so the completion cannot be missed.
	progress := chromedp.Events(ctx, cdpbrowser.DownloadProgress)
	enabled := true
	allow := chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, cdpbrowser.SetDownloadBehavior, cdpbrowser.SetDownloadBehaviorParams{
			Behavior: cdpbrowser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: dir, EventsEnabled: &enabled})
		return err
	})
	Run(t, ctx, what, append([]chromedp.Action[chromedp.Void]{allow}, trigger...)...)
	for ev, err := range progress {
		if err != nil {
			t.Fatalf("%s: waiting for the download: %v", what, err)
		}
		switch ev.State {
		case cdpbrowser.DownloadProgressStateCanceled:
			t.Fatalf("%s: the download was canceled", what)
		case cdpbrowser.DownloadProgressStateCompleted:
			return filepath.Join(dir, ev.GUID)
		}
	}
	t.Fatalf("%s: the browser stopped before the download completed", what)
	return ""
}
