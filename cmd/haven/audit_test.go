package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"database/sql"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/havencrm/haven/audit"
)

// auditRun runs a command and returns its standard output.
func auditRun(t *testing.T, e func(string) string, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := run(context.Background(), args, &out, io.Discard, e)
	return out.String(), err
}

// TestAuditCLI: verify every trail, export one, verify the export
// offline (no database, no server), rotate the signing key, and find a
// change made behind Haven's back both ways.
func TestAuditCLI(t *testing.T) {
	dir := t.TempDir()
	e := env(map[string]string{"HAVEN_DATA": dir})
	createTenant(t, dir, "acme", e)
	createTenant(t, dir, "globex", e)

	out, err := auditRun(t, e, "audit", "verify")
	if err != nil {
		t.Fatalf("audit verify: %v\n%s", err, out)
	}
	if !regexp.MustCompile(`^platform: ok: \d+ events.*\nacme: ok: 2 events \(1 to 2\), 1 checkpoints verified.*\nglobex: ok: 2 events.*\n$`).MatchString(out) {
		t.Fatalf("audit verify printed %q", out)
	}
	if out, err := auditRun(t, e, "audit", "verify", "--tenant", "globex"); err != nil || !strings.HasPrefix(out, "globex: ok:") || strings.Count(out, "\n") != 1 {
		t.Fatalf("audit verify --tenant globex: %q %v", out, err)
	}
	if _, err := auditRun(t, e, "audit", "verify", "--tenant", "nope"); err == nil || exitCode(err) != 1 {
		t.Fatalf("an unknown tenant: %v", err)
	}

	keys, err := auditRun(t, e, "audit", "keys")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := audit.ParsePublicKeys(strings.NewReader(keys)); err != nil || strings.Count(keys, "\n") != 1 {
		t.Fatalf("audit keys printed %q: %v", keys, err)
	}
	keyFile := filepath.Join(t.TempDir(), "key.pub")
	if err := os.WriteFile(keyFile, []byte(keys), 0o644); err != nil {
		t.Fatal(err)
	}

	export := filepath.Join(t.TempDir(), "acme.jsonl")
	if out, err := auditRun(t, e, "audit", "export", "--tenant", "acme", "--out", export); err != nil || out != "" {
		t.Fatalf("audit export: %q %v", out, err)
	}
	st, err := os.Stat(export)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("export file: %v %v", st, err)
	}
	body, _ := os.ReadFile(export)
	if !strings.Contains(string(body), `"action":"audit.export"`) || !strings.Contains(string(body), `"actor_name":"system (haven audit export, `) {
		t.Fatalf("the export does not hold its own record:\n%s", body)
	}
	// Standard output works too, and holds one more export event.
	stdoutExport, err := auditRun(t, e, "audit", "export", "--tenant", "acme")
	if err != nil || strings.Count(stdoutExport, `"action":"audit.export"`) != 2 {
		t.Fatalf("export to standard output: %v\n%s", err, stdoutExport)
	}

	// Offline: a data directory that cannot exist and a database that
	// does not answer prove nothing is opened.
	blocker := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	offline := env(map[string]string{"HAVEN_DATA": filepath.Join(blocker, "data"), "HAVEN_DATABASE_URL": "postgres://nobody@127.0.0.1:1/none"})
	out, err = auditRun(t, offline, "audit", "verify", "--file", export, "--public-key", keyFile)
	if err != nil || !strings.HasPrefix(out, export+": ok: 3 events (1 to 3), 2 checkpoints verified, 0 events after the last checkpoint") {
		t.Fatalf("offline verify: %q %v", out, err)
	}

	// A changed export fails, naming the event.
	forged := filepath.Join(t.TempDir(), "forged.jsonl")
	if err := os.WriteFile(forged, bytes.Replace(body, []byte(`"seq":2,`), []byte(`"seq":2,"via":"x",`), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err = auditRun(t, offline, "audit", "verify", "--file", forged, "--public-key", keyFile)
	if err == nil || exitCode(err) != 1 || !strings.Contains(out, "BROKEN at 2") || !strings.Contains(oneLine(err), "broken at event 2") {
		t.Fatalf("forged export: %q %v", out, err)
	}
	// Against another key it fails too.
	other := filepath.Join(t.TempDir(), "other.pub")
	otherKey := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, ed25519.SeedSize)).Public().(ed25519.PublicKey)
	var otherText bytes.Buffer
	_ = audit.FormatPublicKeys(&otherText, []audit.PublicKey{{ID: audit.KeyID(otherKey), Key: otherKey}})
	if err := os.WriteFile(other, otherText.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err = auditRun(t, offline, "audit", "verify", "--file", export, "--public-key", other)
	if err == nil || !strings.Contains(out, "unknown key") {
		t.Fatalf("export against another key: %q %v", out, err)
	}
	// Not an export at all.
	if _, err := auditRun(t, offline, "audit", "verify", "--file", keyFile, "--public-key", keyFile); err == nil || exitCode(err) != 1 {
		t.Fatalf("a key file as an export: %v", err)
	}

	// Rotation: a second key; the old export verifies with the new key
	// file, which lists both.
	rotated, err := auditRun(t, e, "audit", "keys", "--rotate")
	if err != nil || strings.Count(rotated, "\n") != 2 || !strings.HasPrefix(rotated, keys) {
		t.Fatalf("audit keys --rotate: %q %v", rotated, err)
	}
	if err := os.WriteFile(keyFile, []byte(rotated), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := auditRun(t, offline, "audit", "verify", "--file", export, "--public-key", keyFile); err != nil {
		t.Fatalf("old export with the rotated key file: %q %v", out, err)
	}
	// The rotation is on the platform's record, and every trail still
	// verifies (new checkpoints are signed with the new key).
	createTenant(t, dir, "initech", e)
	if out, err := auditRun(t, e, "audit", "verify"); err != nil || strings.Count(out, ": ok:") != 4 {
		t.Fatalf("verify after rotation: %q %v", out, err)
	}

	// Behind Haven's back: event 2 of acme's trail changed in the file.
	tamperSQLite(t, filepath.Join(dir, "haven.db"), `UPDATE audit_events SET object_name = 'forged' WHERE seq = 2 AND tenant_id = (SELECT id FROM tenants WHERE slug = 'acme')`)
	out, err = auditRun(t, e, "audit", "verify")
	if err == nil || exitCode(err) != 1 {
		t.Fatalf("verify of a changed trail passed: %q", out)
	}
	if !strings.Contains(out, "acme: BROKEN at 2: event 2 was changed") || !strings.Contains(out, "globex: ok:") || !strings.Contains(out, "platform: ok:") {
		t.Fatalf("verify printed %q", out)
	}
	if msg := oneLine(err); !strings.Contains(msg, "acme is broken at event 2") {
		t.Fatalf("error %q", msg)
	}
	// The export of the changed trail fails offline at the same event.
	if _, err := auditRun(t, e, "audit", "export", "--tenant", "acme", "--out", export); err != nil {
		t.Fatal(err)
	}
	if out, err := auditRun(t, offline, "audit", "verify", "--file", export, "--public-key", keyFile); err == nil || !strings.Contains(out, "BROKEN at 2") {
		t.Fatalf("offline verify of the changed trail: %q %v", out, err)
	}
}

// tamperSQLite runs one statement on a Haven SQLite file with the
// append-only triggers dropped for it (and put back after), as someone
// with the file could.
func tamperSQLite(t *testing.T, path, stmt string) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: path}).EscapedPath()+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit_events'`)
	if err != nil {
		t.Fatal(err)
	}
	var names, defs []string
	for rows.Next() {
		var n, d string
		if err := rows.Scan(&n, &d); err != nil {
			t.Fatal(err)
		}
		names, defs = append(names, n), append(defs, d)
	}
	rows.Close()
	for _, n := range names {
		if _, err := db.Exec(`DROP TRIGGER ` + n); err != nil {
			t.Fatal(err)
		}
	}
	if res, err := db.Exec(stmt); err != nil {
		t.Fatal(err)
	} else if n, _ := res.RowsAffected(); n != 1 {
		t.Fatalf("%d rows changed", n)
	}
	for _, d := range defs {
		if _, err := db.Exec(d); err != nil {
			t.Fatal(err)
		}
	}
}

func TestAuditUsage(t *testing.T) {
	dir := t.TempDir()
	for name, args := range map[string][]string{
		"no verb":               {"audit"},
		"unknown verb":          {"audit", "shred"},
		"file without key":      {"audit", "verify", "--file", "x.jsonl", "--data", dir},
		"key without file":      {"audit", "verify", "--public-key", "k.pub", "--data", dir},
		"file and tenant":       {"audit", "verify", "--file", "x", "--public-key", "k", "--tenant", "acme", "--data", dir},
		"max gap on database":   {"audit", "verify", "--max-gap", "5", "--data", dir},
		"negative max gap":      {"audit", "verify", "--file", "x", "--public-key", "k", "--max-gap", "-1", "--data", dir},
		"export without tenant": {"audit", "export", "--data", dir},
		"extra argument":        {"audit", "keys", "now", "--data", dir},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := auditRun(t, env(nil), args...); err == nil || exitCode(err) != 2 {
				t.Fatalf("%v: %v", args, err)
			}
		})
	}
	// Listing keys never invents one.
	if _, err := auditRun(t, env(nil), "audit", "keys", "--key-dir", t.TempDir()); err == nil || !strings.Contains(oneLine(err), "no audit signing key") {
		t.Fatalf("keys of an empty directory: %v", err)
	}
}
