//go:build cgo

// Package softhsmtest gives tests a real PKCS#11 HSM: SoftHSM2 with its
// tokens in a temporary directory. Without SoftHSM2 the test is skipped
// with how to install it (a failure when HAVEN_TEST_REQUIRE_ALL=1).
package softhsmtest

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/havencrm/haven/internal/testenv"
	"github.com/havencrm/haven/keyring/pkcs11"
)

// HSM is a SoftHSM2 token directory of one test.
type HSM struct {
	t      testing.TB
	Module string
	Dir    string
}

// New points SoftHSM2 (through SOFTHSM2_CONF, so the test must not run in
// parallel) at a fresh token directory. Every Token the test opens must
// be closed before it ends, so that the next test's SoftHSM2 reads its
// own configuration.
func New(t *testing.T) *HSM {
	t.Helper()
	const help = "PKCS#11 tests skipped: SoftHSM2 is not installed (Debian: apt-get install -y softhsm2 opensc)"
	if _, err := os.Stat(pkcs11.DefaultModule); err != nil {
		testenv.SkipOrFail(t, help)
	}
	if _, err := exec.LookPath("softhsm2-util"); err != nil {
		testenv.SkipOrFail(t, help)
	}
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens")
	if err := os.Mkdir(tokens, 0o700); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "softhsm2.conf")
	body := "directories.tokendir = " + tokens + "\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n"
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SOFTHSM2_CONF", conf)
	return &HSM{t: t, Module: pkcs11.DefaultModule, Dir: tokens}
}

// InitToken initialises a token with the label and returns its user PIN.
func (h *HSM) InitToken(label string) string {
	h.t.Helper()
	pin, so := secret(), secret()
	out, err := exec.Command("softhsm2-util", "--init-token", "--free", "--label", label, "--so-pin", so, "--pin", pin).CombinedOutput()
	if err != nil {
		h.t.Fatalf("softhsm2-util --init-token %s: %v: %s", label, err, out)
	}
	return pin
}

// Config returns the configuration opening the token.
func (h *HSM) Config(label, pin string) pkcs11.Config {
	return pkcs11.Config{Module: h.Module, Token: label, PIN: pin}
}

// Open opens a token for the test, closed when it ends.
func (h *HSM) Open(label, pin string) *pkcs11.Token {
	h.t.Helper()
	tok, err := pkcs11.OpenToken(h.Config(label, pin))
	if err != nil {
		h.t.Fatalf("open token %s: %v", label, err)
	}
	h.t.Cleanup(func() { tok.Close() })
	return tok
}

func secret() string {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// Snapshot copies every token as it is now (an HSM backup) and returns
// the function restoring it. Every Token of the test must be closed
// before restoring: SoftHSM2 rereads its files only when the module is
// initialised again.
func (h *HSM) Snapshot() (restore func()) {
	h.t.Helper()
	saved := h.t.TempDir()
	if err := os.CopyFS(saved, os.DirFS(h.Dir)); err != nil {
		h.t.Fatalf("snapshot tokens: %v", err)
	}
	return func() {
		h.t.Helper()
		if err := os.RemoveAll(h.Dir); err != nil {
			h.t.Fatalf("restore tokens: %v", err)
		}
		if err := os.CopyFS(h.Dir, os.DirFS(saved)); err != nil {
			h.t.Fatalf("restore tokens: %v", err)
		}
	}
}
