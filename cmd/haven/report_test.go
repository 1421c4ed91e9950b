package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/havencrm/haven/audit"
	"github.com/havencrm/haven/config"
	"github.com/havencrm/haven/internal/testdb"
	"github.com/havencrm/haven/server"
)

// reportEnv runs commands against one database: SQLite under dir, or a
// fresh PostgreSQL database (keys under dir either way).
type reportEnv struct {
	dir, dbURL string
}

func (e reportEnv) args(args ...string) []string {
	args = append(args, "--data", e.dir)
	if e.dbURL != "" {
		args = append(args, "--database-url", e.dbURL)
	}
	return args
}

func (e reportEnv) run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), e.args(args...), &out, &errOut, env(nil))
	return out.String(), err
}

func (e reportEnv) app(t *testing.T) *server.App {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir, cfg.DatabaseURL = e.dir, e.dbURL
	cfg.Argon2MemoryKiB, cfg.Argon2Iterations = 8192, 1
	app, err := server.OpenApp(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return app
}

func (e reportEnv) report(t *testing.T, args ...string) platformReport {
	t.Helper()
	out, err := e.run(t, append([]string{"audit", "report", "--json"}, args...)...)
	if err != nil {
		t.Fatalf("audit report %v: %v", args, err)
	}
	var rep platformReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("audit report --json printed %q", out)
	}
	return rep
}

// TestAuditReport: tenant creation and key operations run from the
// command line land in the platform trail, named after the command and
// the operating-system user, and "haven audit report" sums them up for a
// period, with the trail's verification.
func TestAuditReport(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			e := reportEnv{dir: t.TempDir()}
			if engine == "postgres" {
				e.dbURL = testdb.NewPostgresDatabase(t)
			}
			for _, slug := range []string{"acme", "beta"} {
				if _, err := e.run(t, append([]string{"tenant", "create", "--slug", slug, "--name", slug + " Ltd", "--admin-email", "a@" + slug + ".example.com"},
					fastHashing()...)...); err != nil {
					t.Fatalf("tenant create %s: %v", slug, err)
				}
			}
			if _, err := e.run(t, "keys", "rotate-dek", "--tenant", "acme"); err != nil {
				t.Fatalf("rotate-dek: %v", err)
			}
			if _, err := e.run(t, "keys", "rotate-kek"); err != nil {
				t.Fatalf("rotate-kek: %v", err)
			}
			// An operator action long before the period under review.
			app := e.app(t)
			ctx := context.Background()
			old := audit.NewPlatformLog(app.DB, func() time.Time { return time.Date(2020, 1, 1, 12, 0, 0, 0, time.UTC) })
			if err := old.OperatorLogin(ctx, audit.OperatorActor("op-1", "Olga Operator", "203.0.113.9", "curl", "r1")); err != nil {
				t.Fatal(err)
			}
			app.Close()

			yesterday := time.Now().UTC().AddDate(0, 0, -1).Format(time.DateOnly)
			rep := e.report(t, "--since", yesterday)
			if !rep.Verification.OK || rep.Verification.Events < 6 {
				t.Errorf("verification %+v", rep.Verification)
			}
			// Two creations, rotate-dek, and rotate-kek (the new KEK
			// version, then one rewrap event per tenant).
			if rep.Events != 6 {
				t.Fatalf("%d events in the period: %+v", rep.Events, rep)
			}
			if len(rep.TenantCreations) != 2 || rep.TenantCreations[0].ObjectName != "acme" || rep.TenantCreations[1].ObjectName != "beta" {
				t.Fatalf("tenant creations %+v", rep.TenantCreations)
			}
			for _, c := range rep.TenantCreations {
				if !strings.HasPrefix(c.Actor, "system (haven tenant create, cli") || c.ObjectType != "tenant" || c.ObjectID == "" {
					t.Errorf("creation %+v", c)
				}
			}
			var ops []string
			for _, k := range rep.KeyOperations {
				ops = append(ops, k.Action+" "+k.ObjectName)
				if !strings.HasPrefix(k.Actor, "system (haven keys ") {
					t.Errorf("key operation by %q", k.Actor)
				}
			}
			want := []string{audit.ActionDataKeyRotated + " acme", audit.ActionKEKVersionCreated + " ", audit.ActionKEKRotated + " acme", audit.ActionKEKRotated + " beta"}
			if strings.Join(ops, "|") != strings.Join(want, "|") {
				t.Errorf("key operations %q, want %q", ops, want)
			}
			if rep.KeyOperations[0].Changes["term"].After != float64(2) {
				t.Errorf("rotate-dek changes %+v", rep.KeyOperations[0].Changes)
			}
			counts := map[string]int{}
			for _, c := range rep.Actions {
				counts[c.Name] = c.Count
			}
			if counts[audit.ActionTenantCreated] != 2 || counts[audit.ActionKEKRotated] != 2 || counts[audit.ActionOperatorLogin] != 0 {
				t.Errorf("actions %+v", rep.Actions)
			}
			if rep.Actions[0].Name != audit.ActionKEKRotated && rep.Actions[0].Name != audit.ActionTenantCreated {
				t.Errorf("actions are not sorted by count: %+v", rep.Actions)
			}
			var actors int
			for _, a := range rep.Actors {
				actors += a.Count
			}
			if actors != rep.Events || len(rep.Actors) != 3 {
				t.Errorf("actors %+v", rep.Actors)
			}

			// The old sign-in is in its own period only, actor with ID.
			rep = e.report(t, "--since", "2019-12-31", "--until", "2020-01-01")
			if rep.Events != 1 || rep.Actions[0].Name != audit.ActionOperatorLogin || rep.Actors[0].Name != "Olga Operator [op-1]" {
				t.Errorf("2019-12-31..2020-01-01: %+v", rep)
			}
			if rep := e.report(t, "--since", "2019-12-30", "--until", "2019-12-31"); rep.Events != 0 || len(rep.Actions) != 0 {
				t.Errorf("an empty period: %+v", rep)
			}

			// The text form.
			out, err := e.run(t, "audit", "report", "--since", yesterday)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range []string{"Trail verification: ok", "Tenant creations:", "tenant.create", "acme (tenant ", "Key operations:",
				"keys.rotate_data_key", "Events in the period: 6"} {
				if !strings.Contains(out, s) {
					t.Errorf("report lacks %q:\n%s", s, out)
				}
			}
		})
	}
}

// TestAuditReportUsage: a missing or malformed period is a usage error.
func TestAuditReportUsage(t *testing.T) {
	e := reportEnv{dir: t.TempDir()}
	for _, args := range [][]string{
		{"audit", "report"},
		{"audit", "report", "--since", "yesterday"},
		{"audit", "report", "--since", "2026-02-30"},
		{"audit", "report", "--since", "2026-03-01", "--until", "2026-02-01"},
		{"audit", "report", "--since", "2026-03-01", "extra"},
		{"audit", "bogus"},
	} {
		_, err := e.run(t, args...)
		if !errors.Is(err, errUsage) && !strings.Contains(oneLine(err), "unexpected argument") {
			t.Errorf("%v: %v", args, err)
		}
		if exitCode(err) == 0 {
			t.Errorf("%v exits 0", args)
		}
	}
}

// TestAuditReportBrokenTrail: when the platform trail no longer verifies,
// the report says so and the command fails, so a scheduled review does
// not pass silently.
func TestAuditReportBrokenTrail(t *testing.T) {
	e := reportEnv{dir: t.TempDir()}
	if _, err := e.run(t, append([]string{"tenant", "create", "--slug", "acme", "--name", "Acme", "--admin-email", "a@acme.example.com"}, fastHashing()...)...); err != nil {
		t.Fatal(err)
	}
	// Tamper with the database file directly, past the append-only
	// trigger, as someone with access to the disk could.
	raw, err := sql.Open("sqlite", filepath.Join(e.dir, "haven.db"))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`DROP TRIGGER audit_events_append_only_update`,
		`UPDATE audit_events SET object_name = 'someone-else' WHERE tenant_id = '' AND action = 'tenant.create'`} {
		if _, err := raw.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	raw.Close()
	out, err := e.run(t, "audit", "report", "--since", "2020-01-01")
	if !errors.Is(err, errTrailBroken) || exitCode(err) == 0 {
		t.Fatalf("report on a broken trail: %v", err)
	}
	if !strings.Contains(out, "Trail verification: BROKEN at 1") {
		t.Errorf("report:\n%s", out)
	}
}
