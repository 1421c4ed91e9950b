//go:build cgo

package kekset_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/havencrm/haven/keyring"
	"github.com/havencrm/haven/keyring/kekset"
	"github.com/havencrm/haven/keyring/pkcs11/softhsmtest"
)

func TestPKCS11Platform(t *testing.T) {
	h := softhsmtest.New(t)
	pin := h.InitToken("platform")
	pinFile := filepath.Join(t.TempDir(), "pin")
	if err := os.WriteFile(pinFile, []byte(pin+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, p := range map[string]kekset.PKCS11{
		"PIN":      {Module: h.Module, Token: "platform", PIN: pin},
		"PIN file": {Module: h.Module, Token: "platform", PINFile: pinFile, KeyLabel: "prod-kek"},
	} {
		t.Run(name, func(t *testing.T) {
			s, err := kekset.Open(kekset.Config{Provider: kekset.ProviderPKCS11, PKCS11: p})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			label := p.KeyLabel
			if label == "" {
				label = kekset.DefaultKeyLabel
			}
			if s.KeyID() != "pkcs11:platform/"+label+"-v1" || !strings.Contains(s.Where(), `"platform"`) {
				t.Fatalf("KeyID %q Where %q", s.KeyID(), s.Where())
			}
			if id, err := s.Rotate(); err != nil || id != "pkcs11:platform/"+label+"-v2" {
				t.Fatalf("Rotate = %q, %v", id, err)
			}
		})
	}
	_, err := kekset.Open(kekset.Config{Provider: kekset.ProviderPKCS11, PKCS11: kekset.PKCS11{Module: h.Module, Token: "platform"}})
	if err == nil || !strings.Contains(err.Error(), "HAVEN_PKCS11_PIN") {
		t.Fatalf("no PIN: %v", err)
	}
	_, err = kekset.Open(kekset.Config{Provider: kekset.ProviderPKCS11, PKCS11: kekset.PKCS11{Module: h.Module, Token: "platform", PIN: "wrong" + pin}})
	if !errors.Is(err, keyring.ErrKEKUnavailable) || strings.Contains(err.Error(), pin) {
		t.Fatalf("wrong PIN: %v", err)
	}
}

func TestTenantTokens(t *testing.T) {
	h := softhsmtest.New(t)
	pin := h.InitToken("customer")
	tok := h.Open("customer", pin)
	if err := tok.GenerateKey("acme-kek"); err != nil {
		t.Fatal(err)
	}
	pins := t.TempDir()
	s, err := kekset.Open(kekset.Config{KeyDir: t.TempDir(), PKCS11: kekset.PKCS11{Module: h.Module, TenantPINDir: pins}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	_, err = s.OpenKEK(ctx, "pkcs11:customer/acme-kek")
	if !errors.Is(err, keyring.ErrKEKUnavailable) || !strings.Contains(err.Error(), "customer.pin") {
		t.Fatalf("no PIN file: %v", err)
	}
	// The PIN handed over: the same Set opens the token now, no restart.
	if err := os.WriteFile(filepath.Join(pins, "customer.pin"), []byte(pin), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := s.OpenKEK(ctx, "pkcs11:customer/acme-kek")
	if err != nil || p.KeyID() != "pkcs11:customer/acme-kek" {
		t.Fatalf("OpenKEK = %v, %v", p, err)
	}
	w, err := p.Wrap(ctx, make([]byte, keyring.KeySize), []byte("aad"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Unwrap(ctx, w, []byte("aad")); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"pkcs11:customer", "pkcs11:../etc/acme-kek", "pkcs11:.hidden/k"} {
		if _, err := s.OpenKEK(ctx, bad); err == nil {
			t.Errorf("OpenKEK(%q) opened", bad)
		}
	}
	// A PIN directory others may write to is refused.
	loose := t.TempDir()
	if err := os.Chmod(loose, 0o777); err != nil {
		t.Fatal(err)
	}
	if _, err := kekset.Open(kekset.Config{KeyDir: t.TempDir(), PKCS11: kekset.PKCS11{Module: h.Module, TenantPINDir: loose}}); err == nil || !strings.Contains(err.Error(), "chmod 700") {
		t.Fatalf("loose PIN dir: %v", err)
	}
}
