package export_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/havencrm/haven/access"
	"github.com/havencrm/haven/api"
	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/audit"
	"github.com/havencrm/haven/client"
	"github.com/havencrm/haven/export"
	"github.com/havencrm/haven/tenant"
)

// governor stands in for package exportgov: roles allowed to export
// everything, a contract that may end, and the notices it was given.
type governor struct {
	mu       sync.Mutex
	roles    []string
	ended    bool
	exported []string
	rows     []int64
}

func (g *governor) AllowFullExport(_ context.Context, actor tenant.Actor) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ended {
		return apperr.Forbidden().WithDetail("reason", "the contract ended")
	}
	if !slices.Contains(g.roles, actor.Role) {
		return apperr.Forbidden()
	}
	return nil
}

func (g *governor) Exported(_ context.Context, actor tenant.Actor, kind, id string, rows int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.exported = append(g.exported, actor.UserID+"|"+kind+"|"+id)
	g.rows = append(g.rows, rows)
}

func TestGovernance(t *testing.T) {
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) { testGovernance(t, engine) })
	}
}

func testGovernance(t *testing.T, engine string) {
	e := start(t, engine, "gov")
	ctx := context.Background()
	srv, tn := e.srv, e.tn
	manager, managerDTO := srv.NewUser(t, tn, "manager@gov.example.com", "Manager", access.RoleManager)
	if _, err := tn.Admin.CreateRecord(ctx, "account", client.RecordInput{Fields: map[string]any{"name": "华为"}}); err != nil {
		t.Fatal(err)
	}

	// Without a governor (the server wires package exportgov; take it
	// out) only admins may export.
	srv.App.Exports.SetGovernor(nil)
	if _, err := manager.StartFullExport(ctx, api.CreateExportRequest{Scope: "all"}); !client.IsCode(err, "forbidden") {
		t.Fatalf("manager without a governor: %v", err)
	}

	g := &governor{roles: []string{access.RoleAdmin, access.RoleManager}}
	srv.App.Exports.SetGovernor(g)
	t.Cleanup(func() { srv.App.Exports.SetGovernor(nil) })

	// One full export of a tenant at a time: hold the first mid-run.
	release := make(chan struct{})
	reached := make(chan struct{}, 1)
	srv.App.Exports.SetBatchHook(func(int64) error {
		select {
		case reached <- struct{}{}:
		default:
		}
		<-release
		return nil
	})
	id, err := manager.StartFullExport(ctx, api.CreateExportRequest{Scope: "all"})
	if err != nil {
		t.Fatalf("manager with the export permission: %v", err)
	}
	select {
	case <-reached:
	case <-time.After(60 * time.Second):
		t.Fatal("the export did not start")
	}
	if st, err := manager.FullExport(ctx, id); err != nil || st.Status != "running" || st.DownloadURL != "" {
		t.Errorf("running export: %+v %v", st, err)
	}
	if _, err := tn.Admin.StartFullExport(ctx, api.CreateExportRequest{Scope: "all"}); !client.IsCode(err, "conflict") {
		t.Errorf("second export while one runs: %v, want conflict", err)
	}
	srv.App.Exports.SetBatchHook(nil)
	close(release)
	if d := wait(t, manager, id); d.Status != "done" {
		t.Fatalf("export: %+v", d)
	}
	g.mu.Lock()
	if len(g.exported) != 1 || g.exported[0] != managerDTO.ID+"|full|"+id || g.rows[0] != 1 {
		t.Errorf("governor notices: %v rows %v", g.exported, g.rows)
	}
	g.mu.Unlock()
	if _, err := manager.DownloadFullExport(ctx, id, io.Discard); err != nil {
		t.Fatalf("download: %v", err)
	}

	// The contract ends: no new export, and no download of a finished one.
	g.mu.Lock()
	g.ended = true
	g.mu.Unlock()
	if _, err := tn.Admin.StartFullExport(ctx, api.CreateExportRequest{Scope: "all"}); !client.IsCode(err, "forbidden") {
		t.Errorf("export after the contract ended: %v", err)
	}
	if _, err := manager.DownloadFullExport(ctx, id, io.Discard); !client.IsCode(err, "forbidden") {
		t.Errorf("download after the contract ended: %v", err)
	}

	// Without a governor again, a manager's finished export is no longer
	// theirs to download: only admins may export then.
	srv.App.Exports.SetGovernor(nil)
	if _, err := manager.DownloadFullExport(ctx, id, io.Discard); !client.IsCode(err, "forbidden") {
		t.Errorf("manager download without the permission: %v", err)
	}

	// A run that fails for a reason retrying cannot fix ends the export at
	// once: failed with the reason, audited, passphrase and partial file gone.
	srv.App.Exports.SetBatchHook(func(int64) error { return apperr.Conflict("the data keys are gone (simulated)") })
	fid, err := tn.Admin.StartFullExport(ctx, api.CreateExportRequest{Scope: "all", Passphrase: "a long enough passphrase"})
	if err != nil {
		t.Fatal(err)
	}
	d := wait(t, tn.Admin, fid)
	srv.App.Exports.SetBatchHook(nil)
	if d.Status != "failed" || d.Error != "the data keys are gone (simulated)" || d.DownloadURL != "" {
		t.Errorf("failed export: %+v", d)
	}
	row, err := srv.App.DB.Export(ctx, tenant.ID(tn.ID), fid)
	if err != nil || row.PassphraseSealed != "" || row.FinishedAt == nil {
		t.Errorf("failed export row: %+v %v", row, err)
	}
	if entries, _ := os.ReadDir(filepath.Join(srv.App.Config.DataDir, "exports", tn.ID)); slices.ContainsFunc(entries, func(de os.DirEntry) bool {
		return strings.Contains(de.Name(), fid)
	}) {
		t.Errorf("files of the failed export left: %v", entries)
	}
	evs, _, err := srv.App.Audit.Query(ctx, e.admin, audit.Filter{Action: export.ActionFailed, Limit: 10})
	if err != nil || len(evs) != 1 || evs[0].ObjectID != fid {
		t.Errorf("export.fail events: %+v %v", evs, err)
	}
	if _, err := tn.Admin.DownloadFullExport(ctx, fid, io.Discard); !client.IsCode(err, "conflict") {
		t.Errorf("download of a failed export: %v", err)
	}
}
