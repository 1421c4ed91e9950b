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
)

func TestLocalByDefault(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	s, err := kekset.Open(kekset.Config{KeyDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.KeyID() != "local:v1" || !strings.Contains(s.Where(), dir) || s.BYOK() {
		t.Fatalf("KeyID %q Where %q BYOK %v", s.KeyID(), s.Where(), s.BYOK())
	}
	id, err := s.Rotate()
	if err != nil || id != "local:v2" || s.Platform().KeyID() != id {
		t.Fatalf("Rotate = %q, %v", id, err)
	}
	// Without a tenant PIN directory no tenant key opens, and says why.
	_, err = s.OpenKEK(context.Background(), "pkcs11:customer/acme-kek")
	if !errors.Is(err, keyring.ErrKEKUnavailable) || !strings.Contains(err.Error(), "pkcs11-tenant-pin-dir") {
		t.Fatalf("OpenKEK without a PIN dir: %v", err)
	}
	if _, err := s.OpenKEK(context.Background(), "vault:acme"); err == nil {
		t.Fatal("an unknown provider opened")
	}
	if _, err := kekset.Open(kekset.Config{Provider: "vault", KeyDir: dir}); err == nil {
		t.Fatal("an unknown provider accepted")
	}
}

func TestReadPINFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	if pin, err := kekset.ReadPINFile(write("ok.pin", "12 34-secret\r\n", 0o600)); err != nil || pin != "12 34-secret" {
		t.Fatalf("ReadPINFile = %q, %v", pin, err)
	}
	cases := map[string]struct {
		path string
		want string
	}{
		"readable by others": {write("loose.pin", "s3cret", 0o644), "chmod 600"},
		"empty":              {write("empty.pin", "\n", 0o600), "empty"},
		"too long":           {write("long.pin", strings.Repeat("s3cret", 100), 0o600), "does not hold a PIN"},
		"missing":            {filepath.Join(dir, "none.pin"), "PIN file"},
		"a directory":        {dir, "not a regular file"},
	}
	for name, c := range cases {
		_, err := kekset.ReadPINFile(c.path)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestPKCS11SettingsRedactThePIN(t *testing.T) {
	p := kekset.PKCS11{Token: "t", PIN: "s3cret"}
	for _, s := range []string{p.String(), p.GoString()} {
		if strings.Contains(s, "s3cret") || !strings.Contains(s, "REDACTED") {
			t.Fatalf("%q", s)
		}
	}
}
