package export_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"

	"github.com/havencrm/haven/api"
	"github.com/havencrm/haven/client"
)

// TestFullExportChangeCursor: the manifest names where the change feed
// stood before the export read anything; the API accepts that cursor,
// and a change made during the export (and one after it) is in the feed
// after it, while what the zip already held before is not.
func TestFullExportChangeCursor(t *testing.T) {
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) {
			e := start(t, engine, "expcur")
			ctx := context.Background()
			srv, tn := e.srv, e.tn
			before, err := tn.Admin.CreateRecord(ctx, "account", client.RecordInput{Fields: map[string]any{"name": "导出前"}})
			if err != nil {
				t.Fatal(err)
			}
			// Written while the job runs, after it took the head: between
			// two batches of records.
			var once sync.Once
			var during *api.RecordDTO
			var hookErr error
			srv.App.Exports.SetBatchHook(func(int64) error {
				once.Do(func() {
					during, hookErr = tn.Admin.CreateRecord(ctx, "contact", client.RecordInput{Fields: map[string]any{"name": "导出中"}})
					if hookErr == nil {
						_, hookErr = tn.Admin.UpdateRecord(ctx, "account", before.ID, before.Version, map[string]any{"name": "导出中改名"})
					}
				})
				return nil
			})
			id, err := tn.Admin.StartFullExport(ctx, api.CreateExportRequest{Scope: "all"})
			if err != nil {
				t.Fatal(err)
			}
			d := wait(t, tn.Admin, id)
			srv.App.Exports.SetBatchHook(nil)
			if d.Status != "done" || hookErr != nil || during == nil {
				t.Fatalf("export %+v, write during it: %v", d, hookErr)
			}
			files, _ := unzip(t, download(t, tn.Admin, id))
			var m struct {
				ChangeCursor string `json:"change_cursor"`
			}
			if err := json.Unmarshal(files["manifest.json"], &m); err != nil || m.ChangeCursor == "" {
				t.Fatalf("manifest change_cursor %q, %v", m.ChangeCursor, err)
			}
			after, err := tn.Admin.CreateRecord(ctx, "lead", client.RecordInput{Fields: map[string]any{"name": "导出后"}})
			if err != nil {
				t.Fatal(err)
			}
			page, err := tn.Admin.Changes(ctx, m.ChangeCursor, 1000)
			if err != nil {
				t.Fatalf("the feed refuses the manifest's cursor: %v", err)
			}
			seen := map[string]bool{}
			for _, it := range page.Items {
				seen[it.Op+" "+it.ID] = true
			}
			for _, want := range []string{"create " + during.ID, "update " + before.ID, "create " + after.ID} {
				if !seen[want] {
					t.Errorf("the feed after the manifest's cursor lacks %s: %v", want, seen)
				}
			}
			if seen["create "+before.ID] {
				t.Errorf("the feed after the manifest's cursor repeats a change from before the export")
			}
		})
	}
}
