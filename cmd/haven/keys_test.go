package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"github.com/havencrm/haven/fieldcrypt"
	"github.com/havencrm/haven/records"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/havencrm/haven/audit"
	"github.com/havencrm/haven/config"
	"github.com/havencrm/haven/server"
	"github.com/havencrm/haven/tenant"
)

// keysStatusOf runs "keys status --json" and decodes it.
func keysStatusOf(t *testing.T, e func(string) string, args ...string) []keyStatusJSON {
	t.Helper()
	var out bytes.Buffer
	if err := run(context.Background(), append([]string{"keys", "status", "--json"}, args...), &out, io.Discard, e); err != nil {
		t.Fatalf("keys status: %v", err)
	}
	var got []keyStatusJSON
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("keys status --json printed %q", out.String())
	}
	return got
}

// keyEvents returns the tenant's audit events of key operations, oldest
// first.
func keyEvents(t *testing.T, dir string, e map[string]string, slug string) []audit.Event {
	t.Helper()
	ctx := context.Background()
	cfg := config.Default()
	cfg.DataDir = dir
	if v := e["HAVEN_PKCS11_TENANT_PIN_DIR"]; v != "" {
		cfg.KEK.PKCS11TenantPINDir = v
		cfg.KEK.PKCS11Module = e["HAVEN_PKCS11_MODULE"]
	}
	app, err := server.OpenApp(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	tn, err := app.DB.TenantBySlug(ctx, slug)
	if err != nil {
		t.Fatal(err)
	}
	evs, err := app.DB.QueryAudit(ctx, tn.ID, audit.Filter{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var out []audit.Event
	for i := len(evs) - 1; i >= 0; i-- {
		if strings.HasPrefix(evs[i].Action, "keys.") {
			out = append(out, evs[i])
		}
	}
	return out
}

func createTenant(t *testing.T, dir, slug string, e func(string) string) {
	t.Helper()
	args := append([]string{"tenant", "create", "--slug", slug, "--name", slug, "--admin-email", "a@" + slug + ".example.com", "--data", dir}, fastHashing()...)
	if err := run(context.Background(), args, io.Discard, io.Discard, e); err != nil {
		t.Fatalf("tenant create %s: %v", slug, err)
	}
}

// TestKeysStatusAndRotationAudit: status lists terms and KEKs without key
// material; a KEK rotation is recorded in each tenant's audit trail.
func TestKeysStatusAndRotationAudit(t *testing.T) {
	dir := t.TempDir()
	e := env(map[string]string{"HAVEN_DATA": dir})
	createTenant(t, dir, "acme", e)
	createTenant(t, dir, "globex", e)
	st := keysStatusOf(t, e)
	if len(st) != 2 || st[0].Tenant != "acme" || st[1].Tenant != "globex" || st[0].KEK != "local:v1" || st[0].OwnKey ||
		len(st[0].Terms) != 1 || st[0].Terms[0].Term != 1 || st[0].Terms[0].State != "active" || st[0].Terms[0].KEKID != "local:v1" {
		t.Fatalf("status %+v", st)
	}
	if st := keysStatusOf(t, e, "--tenant", "globex"); len(st) != 1 || st[0].Tenant != "globex" {
		t.Fatalf("status of one tenant %+v", st)
	}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"keys", "status"}, &out, io.Discard, e); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "acme: platform key local:v1") || !strings.Contains(out.String(), "term 1") {
		t.Fatalf("status printed %q", out.String())
	}

	out.Reset()
	if err := run(context.Background(), []string{"keys", "rotate-kek"}, &out, io.Discard, e); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "local:v2") || !strings.Contains(out.String(), "rewrapped 2 tenant data key(s)") {
		t.Fatalf("rotate-kek printed %q", out.String())
	}
	evs := keyEvents(t, dir, nil, "acme")
	if len(evs) != 1 || evs[0].Action != audit.ActionKEKRotated || evs[0].ActorType != string(tenant.ActorSystem) ||
		evs[0].Changes["kek"].Before != "local:v1" || evs[0].Changes["kek"].After != "local:v2" {
		t.Fatalf("acme's key events %+v", evs)
	}
	// Nothing moved, nothing recorded.
	if err := run(context.Background(), []string{"keys", "rewrap"}, io.Discard, io.Discard, e); err != nil {
		t.Fatal(err)
	}
	if evs := keyEvents(t, dir, nil, "acme"); len(evs) != 1 {
		t.Fatalf("an empty rewrap was recorded: %+v", evs)
	}
}

func TestKeysUsage(t *testing.T) {
	dir := t.TempDir()
	cases := map[string][]string{
		"no verb":                {"keys"},
		"unknown verb":           {"keys", "shred"},
		"byok without verb":      {"keys", "byok"},
		"enable without args":    {"keys", "byok", "enable", "--data", dir},
		"enable without key":     {"keys", "byok", "enable", "--tenant", "acme", "--token", "customer", "--data", dir},
		"other provider":         {"keys", "byok", "enable", "--tenant", "acme", "--provider", "vault", "--token", "t", "--key", "k", "--data", dir},
		"disable without tenant": {"keys", "byok", "disable", "--data", dir},
	}
	for name, args := range cases {
		t.Run(name, func(t *testing.T) {
			err := run(context.Background(), args, io.Discard, io.Discard, env(nil))
			if err == nil || exitCode(err) != 2 {
				t.Fatalf("%v: %v", args, err)
			}
		})
	}
	// A PIN on the command line is not an option.
	err := run(context.Background(), []string{"keys", "status", "--pkcs11-pin", "1234", "--data", dir}, io.Discard, io.Discard, env(nil))
	if err == nil {
		t.Fatal("--pkcs11-pin accepted")
	}
}

// TestKeysBYOKNeedsTenantTokens: without a tenant PIN directory, enabling
// a tenant's own key fails with what to configure.
func TestKeysBYOKNeedsTenantTokens(t *testing.T) {
	dir := t.TempDir()
	e := env(map[string]string{"HAVEN_DATA": dir})
	createTenant(t, dir, "acme", e)
	err := run(context.Background(), []string{"keys", "byok", "enable", "--tenant", "acme", "--token", "customer", "--key", "acme-kek"}, io.Discard, io.Discard, e)
	if err == nil || !strings.Contains(oneLine(err), "pkcs11-tenant-pin-dir") {
		t.Fatalf("enable without tenant tokens: %v", err)
	}
	if st := keysStatusOf(t, e); st[0].OwnKey || st[0].KEK != "local:v1" {
		t.Fatalf("status after a refused enable %+v", st)
	}
	err = run(context.Background(), []string{"keys", "byok", "disable", "--tenant", "nosuch"}, io.Discard, io.Discard, e)
	if err == nil || !strings.Contains(oneLine(err), "not found") {
		t.Fatalf("unknown tenant: %v", err)
	}
}

// openApp opens the app over dir for a test to look inside.
func openApp(t *testing.T, dir string) *server.App {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = dir
	cfg.Argon2MemoryKiB, cfg.Argon2Iterations = 8192, 1
	app, err := server.OpenApp(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return app
}

// TestKeysRotateDEKAndDestroy: rotate-dek re-encrypts under the new term
// at once; destroy needs the slug twice and a reason, is audited, and
// leaves the tenant's encrypted values unreadable.
func TestKeysRotateDEKAndDestroy(t *testing.T) {
	dir := t.TempDir()
	e := env(map[string]string{"HAVEN_DATA": dir})
	createTenant(t, dir, "acme", e)
	ctx := context.Background()

	app := openApp(t, dir)
	tn, err := app.DB.TenantBySlug(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	users, err := app.DB.Users(ctx, tn.ID, "", 10)
	if err != nil || len(users) != 1 {
		t.Fatalf("users: %v %v", users, err)
	}
	admin := tenant.Actor{Kind: tenant.ActorUser, TenantID: tn.ID, UserID: users[0].ID, Role: users[0].Role, Name: users[0].Name}
	rec, err := app.Records.Create(ctx, admin, "contact", "", records.Values{"name": json.RawMessage(`"Li"`), "mobile": json.RawMessage(`"13812345678"`)})
	if err != nil {
		t.Fatal(err)
	}
	app.Close()

	var out bytes.Buffer
	if err := run(ctx, []string{"keys", "rotate-dek", "--tenant", "acme"}, &out, io.Discard, e); err != nil {
		t.Fatalf("rotate-dek: %v", err)
	}
	if !strings.Contains(out.String(), "term 2 is current") || !strings.Contains(out.String(), "re-encrypted") {
		t.Fatalf("rotate-dek printed %q", out.String())
	}
	app = openApp(t, dir)
	stored, err := app.DB.Record(ctx, tn.ID, "contact", rec.ID)
	if err != nil {
		t.Fatal(err)
	}
	env, _ := stored.Fields["mobile"].(map[string]any)["$sealed"].(string)
	if term, err := fieldcrypt.Term(env); err != nil || term != 2 {
		t.Fatalf("mobile under term %d (%v)", term, err)
	}
	app.Close()

	for _, args := range [][]string{
		{"keys", "destroy", "--tenant", "acme", "--reason", "test"},
		{"keys", "destroy", "--tenant", "acme", "--confirm", "acmee", "--reason", "test"},
		{"keys", "destroy", "--tenant", "acme", "--confirm", "acme"},
	} {
		if err := run(ctx, args, io.Discard, io.Discard, e); err == nil {
			t.Fatalf("%v succeeded", args)
		}
	}
	out.Reset()
	if err := run(ctx, []string{"keys", "destroy", "--tenant", "acme", "--confirm", "acme", "--reason", "contract ended"}, &out, io.Discard, e); err != nil {
		t.Fatalf("destroy: %v", err)
	}
	if !strings.Contains(out.String(), "2 data keys destroyed") {
		t.Fatalf("destroy printed %q", out.String())
	}
	evs := keyEvents(t, dir, nil, "acme")
	if len(evs) != 2 || evs[0].Action != audit.ActionDataKeyRotated || evs[1].Action != audit.ActionDataKeysDestroyed ||
		evs[1].Changes["reason"].After != "contract ended" {
		t.Fatalf("key events: %+v", evs)
	}
	app = openApp(t, dir)
	defer app.Close()
	if _, err := app.Records.Get(ctx, admin, "contact", rec.ID); !errors.Is(err, records.ErrKeysGone) {
		t.Fatalf("read after destroy: %v", err)
	}
}
