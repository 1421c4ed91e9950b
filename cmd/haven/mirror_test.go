package main

import (
	"bytes"
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"

	"github.com/havencrm/haven/api"
	"github.com/havencrm/haven/client"
	"github.com/havencrm/haven/internal/testserver"
)

// TestMirrorCommand runs "haven mirror" with the token from HAVEN_TOKEN:
// the first run copies, the second applies the one change, and the token
// never reaches the output.
func TestMirrorCommand(t *testing.T) {
	srv := testserver.Start(t, "sqlite")
	tn := srv.NewTenant(t, "cli-mirror")
	ctx := context.Background()
	rec, err := tn.Admin.CreateRecord(ctx, "account", client.RecordInput{Fields: map[string]any{"name": "杭州客户"}})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "m.db")
	// A read-only API token is all a mirror needs.
	me, err := tn.Admin.Me(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tn.Admin.CreateToken(ctx, me.User.ID, api.CreateTokenRequest{Name: "mirror", Scope: "read", ExpiresInDays: 30})
	if err != nil {
		t.Fatal(err)
	}
	token := tok.Secret
	args := []string{"mirror", "--url", srv.URL, "--to", "sqlite://" + path}
	var out, errOut bytes.Buffer
	if err := run(ctx, args, &out, &errOut, env(map[string]string{"HAVEN_TOKEN": token})); err != nil {
		t.Fatalf("mirror: %v (stderr %s)", err, errOut.String())
	}
	if !strings.Contains(out.String(), "copied 1 records") {
		t.Fatalf("first run said %q", out.String())
	}
	if _, err := tn.Admin.UpdateRecord(ctx, "account", rec.ID, rec.Version, map[string]any{"name": "杭州大客户"}); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := run(ctx, args, &out, &errOut, env(map[string]string{"HAVEN_TOKEN": token})); err != nil {
		t.Fatalf("second mirror: %v (stderr %s)", err, errOut.String())
	}
	if !strings.Contains(out.String(), "applied 1 changes") {
		t.Fatalf("second run said %q", out.String())
	}
	if strings.Contains(out.String()+errOut.String(), token) {
		t.Fatal("the token leaked into the output")
	}
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var name string
	if err := db.QueryRow(`SELECT name FROM account WHERE id = ?`, rec.ID).Scan(&name); err != nil || name != "杭州大客户" {
		t.Fatalf("mirrored name %q, %v", name, err)
	}
	// Without a token it refuses with a usage error.
	err = run(ctx, []string{"mirror", "--url", srv.URL, "--to", "sqlite://" + path}, &out, &errOut, env(nil))
	if err == nil || exitCode(err) != 2 || !strings.Contains(err.Error(), "HAVEN_TOKEN") {
		t.Fatalf("no token: %v", err)
	}
	// A bad target scheme is refused without touching anything.
	err = run(ctx, []string{"mirror", "--url", srv.URL, "--token", token, "--to", "mysql://x"}, &out, &errOut, env(nil))
	if err == nil || !strings.Contains(err.Error(), "--to must be") || strings.Contains(err.Error(), token) {
		t.Fatalf("bad target: %v", err)
	}
}
