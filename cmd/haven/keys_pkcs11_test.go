//go:build cgo

package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/havencrm/haven/audit"
	"github.com/havencrm/haven/keyring/pkcs11/softhsmtest"
)

// TestKeysPKCS11Platform: with kek-provider pkcs11 the platform KEK is
// made in the HSM on first start and rotate-kek makes the next version
// there.
func TestKeysPKCS11Platform(t *testing.T) {
	h := softhsmtest.New(t)
	pin := h.InitToken("platform")
	dir := t.TempDir()
	e := map[string]string{"HAVEN_DATA": dir, "HAVEN_KEK_PROVIDER": "pkcs11", "HAVEN_PKCS11_MODULE": h.Module,
		"HAVEN_PKCS11_TOKEN": "platform", "HAVEN_PKCS11_PIN": pin}
	var logs bytes.Buffer
	args := append([]string{"tenant", "create", "--slug", "acme", "--name", "Acme", "--admin-email", "a@acme.example.com"}, fastHashing()...)
	if err := run(context.Background(), args, io.Discard, &logs, env(e)); err != nil {
		t.Fatal(err)
	}
	if st := keysStatusOf(t, env(e)); st[0].KEK != "pkcs11:platform/haven-kek-v1" || st[0].Terms[0].KEKID != "pkcs11:platform/haven-kek-v1" {
		t.Fatalf("status %+v", st)
	}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"keys", "rotate-kek", "--log-level", "debug"}, &out, &logs, env(e)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "new key-encryption key pkcs11:platform/haven-kek-v2 in PKCS#11 token \"platform\"") ||
		!strings.Contains(out.String(), "rewrapped 1 tenant data key(s)") {
		t.Fatalf("rotate-kek printed %q", out.String())
	}
	if strings.Contains(logs.String()+out.String(), pin) {
		t.Fatal("the PIN was printed or logged")
	}
	// A wrong PIN stops the command with a reason, without the PIN.
	e["HAVEN_PKCS11_PIN"] = "wrong-" + pin
	err := run(context.Background(), []string{"keys", "status"}, io.Discard, io.Discard, env(e))
	if err == nil || !strings.Contains(oneLine(err), "CKR_PIN_INCORRECT") || strings.Contains(oneLine(err), pin) {
		t.Fatalf("wrong PIN: %v", err)
	}
}

// TestKeysBYOK: enable moves a tenant's data keys to its own key in its
// own token, recorded in its audit trail; while the key is withheld the
// tenant stays where it is; disable brings it back to the platform KEK.
func TestKeysBYOK(t *testing.T) {
	h := softhsmtest.New(t)
	pin := h.InitToken("customer")
	// The customer makes its key with its own tools (OpenSC's pkcs11-tool,
	// in CI); without them, with ours.
	if _, err := exec.LookPath("pkcs11-tool"); err == nil {
		out, err := exec.Command("pkcs11-tool", "--module", h.Module, "--token-label", "customer", "--login", "--pin", pin,
			"--keygen", "--key-type", "AES:32", "--label", "acme-kek", "--sensitive", "--private", "--usage-decrypt").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "never extractable") {
			t.Fatalf("pkcs11-tool --keygen: %v: %s", err, out)
		}
	} else if err := h.Open("customer", pin).GenerateKey("acme-kek"); err != nil {
		t.Fatal(err)
	}
	dir, pins := t.TempDir(), t.TempDir()
	pinFile := filepath.Join(pins, "customer.pin")
	if err := os.WriteFile(pinFile, []byte(pin+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	m := map[string]string{"HAVEN_DATA": dir, "HAVEN_PKCS11_MODULE": h.Module, "HAVEN_PKCS11_TENANT_PIN_DIR": pins}
	e := env(m)
	createTenant(t, dir, "acme", e)
	createTenant(t, dir, "globex", e)
	ctx := context.Background()

	var out bytes.Buffer
	enable := []string{"keys", "byok", "enable", "--tenant", "acme", "--provider", "pkcs11", "--token", "customer", "--key", "acme-kek"}
	if err := run(ctx, enable, &out, io.Discard, e); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "tenant acme: data keys now wrapped by pkcs11:customer/acme-kek (1 rewrapped)") {
		t.Fatalf("enable printed %q", out.String())
	}
	out.Reset()
	if err := run(ctx, enable, &out, io.Discard, e); err != nil || !strings.Contains(out.String(), "nothing to do") {
		t.Fatalf("enable again: %q %v", out.String(), err)
	}
	st := keysStatusOf(t, e)
	if !st[0].OwnKey || st[0].KEK != "pkcs11:customer/acme-kek" || st[0].Terms[0].KEKID != "pkcs11:customer/acme-kek" ||
		!strings.HasPrefix(st[0].OwnKeyBy, "cli") || st[1].OwnKey || st[1].Terms[0].KEKID != "local:v1" {
		t.Fatalf("status %+v", st)
	}
	evs := keyEvents(t, dir, m, "acme")
	if len(evs) != 1 || evs[0].Action != audit.ActionBYOKEnabled || evs[0].Changes["kek"].Before != "platform" ||
		evs[0].Changes["kek"].After != "pkcs11:customer/acme-kek" {
		t.Fatalf("acme's key events %+v", evs)
	}
	if evs := keyEvents(t, dir, m, "globex"); len(evs) != 0 {
		t.Fatalf("globex's trail got %+v", evs)
	}

	// A platform KEK rotation leaves acme on its own key.
	out.Reset()
	if err := run(ctx, []string{"keys", "rotate-kek"}, &out, io.Discard, e); err != nil || !strings.Contains(out.String(), "rewrapped 1 ") {
		t.Fatalf("rotate-kek: %q %v", out.String(), err)
	}
	if st := keysStatusOf(t, e); st[0].Terms[0].KEKID != "pkcs11:customer/acme-kek" || st[1].Terms[0].KEKID != "local:v2" {
		t.Fatalf("status after rotate-kek %+v", st)
	}

	// The customer withholds the PIN: status still answers (it needs no
	// key), disable refuses and changes nothing.
	if err := os.Remove(pinFile); err != nil {
		t.Fatal(err)
	}
	if st := keysStatusOf(t, e, "--tenant", "acme"); !st[0].OwnKey {
		t.Fatalf("status without the PIN %+v", st)
	}
	err := run(ctx, []string{"keys", "byok", "disable", "--tenant", "acme"}, io.Discard, io.Discard, e)
	if err == nil || !strings.Contains(oneLine(err), "customer.pin") || !strings.Contains(oneLine(err), "unavailable") {
		t.Fatalf("disable without the PIN: %v", err)
	}
	if st := keysStatusOf(t, e, "--tenant", "acme"); !st[0].OwnKey || st[0].Terms[0].KEKID != "pkcs11:customer/acme-kek" {
		t.Fatalf("a refused disable changed %+v", st)
	}

	if err := os.WriteFile(pinFile, []byte(pin), 0o600); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := run(ctx, []string{"keys", "byok", "disable", "--tenant", "acme"}, &out, io.Discard, e); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "tenant acme: data keys now wrapped by the platform key-encryption key local:v2 (1 rewrapped)") {
		t.Fatalf("disable printed %q", out.String())
	}
	if st := keysStatusOf(t, e, "--tenant", "acme"); st[0].OwnKey || st[0].Terms[0].KEKID != "local:v2" {
		t.Fatalf("status after disable %+v", st)
	}
	evs = keyEvents(t, dir, m, "acme")
	if len(evs) != 2 || evs[1].Action != audit.ActionBYOKDisabled || evs[1].Changes["kek"].Before != "pkcs11:customer/acme-kek" {
		t.Fatalf("acme's key events %+v", evs)
	}
}
