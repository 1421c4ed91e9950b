//go:build cgo

package pkcs11

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ThalesGroup/crypto11"

	"github.com/havencrm/haven/keyring"
)

// openTestToken makes a SoftHSM2 token in a temporary directory (the
// softhsmtest package cannot be used here: it imports this one).
func openTestToken(t *testing.T) *Token {
	t.Helper()
	if _, err := os.Stat(DefaultModule); err != nil {
		t.Skip("SoftHSM2 not installed (apt-get install -y softhsm2); the softhsmtest-based tests report it")
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "softhsm2.conf")
	if err := os.WriteFile(conf, []byte("directories.tokendir = "+dir+"\nobjectstore.backend = file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SOFTHSM2_CONF", conf)
	if out, err := exec.Command("softhsm2-util", "--init-token", "--free", "--label", "attrs", "--so-pin", "so-secret", "--pin", "user-secret").CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	tok, err := OpenToken(Config{Token: "attrs", PIN: "user-secret"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tok.Close() })
	return tok
}

// TestGeneratedKeyNeverLeavesTheHSM reads the attributes of a generated
// key: sensitive, not extractable, private, and only for encryption.
func TestGeneratedKeyNeverLeavesTheHSM(t *testing.T) {
	tok := openTestToken(t)
	if err := tok.GenerateKey("k"); err != nil {
		t.Fatal(err)
	}
	k, err := tok.ctx.FindKey(nil, []byte("k"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[crypto11.AttributeType]bool{
		crypto11.CkaSensitive: true, crypto11.CkaExtractable: false, crypto11.CkaPrivate: true, crypto11.CkaToken: true,
		crypto11.CkaEncrypt: true, crypto11.CkaDecrypt: true, crypto11.CkaWrap: false, crypto11.CkaUnwrap: false,
		crypto11.CkaNeverExtractable: true,
	}
	for attr, v := range want {
		a, err := tok.ctx.GetAttribute(k, attr)
		if err != nil || a == nil || len(a.Value) != 1 {
			t.Fatalf("attribute %#x: %v", attr, err)
		}
		if (a.Value[0] != 0) != v {
			t.Errorf("attribute %#x = %v, want %v", attr, a.Value[0] != 0, v)
		}
	}
	if a, err := tok.ctx.GetAttribute(k, crypto11.CkaValueLen); err != nil || a == nil || len(a.Value) == 0 || a.Value[0] != 32 {
		t.Fatalf("key length: %v %v", a, err)
	}
	if _, err := tok.ctx.GetAttribute(k, crypto11.CkaValue); err == nil {
		t.Fatal("the key's value was readable")
	}
}

// TestDisabledKeyIsUnavailable: a key its owner has barred from
// decrypting (or encrypting) is reported unavailable, not as a tampered
// blob, while a tampered blob under a working key is not "unavailable".
func TestDisabledKeyIsUnavailable(t *testing.T) {
	tok := openTestToken(t)
	gen := func(label string, encrypt, decrypt bool) {
		t.Helper()
		tmpl, err := crypto11.NewAttributeSetWithIDAndLabel([]byte(label), []byte(label))
		if err != nil {
			t.Fatal(err)
		}
		for a, v := range map[crypto11.AttributeType]bool{crypto11.CkaEncrypt: encrypt, crypto11.CkaDecrypt: decrypt,
			crypto11.CkaExtractable: false, crypto11.CkaSensitive: true} {
			if err := tmpl.Set(a, v); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := tok.ctx.GenerateSecretKeyWithAttributes(tmpl, keyBits, crypto11.CipherAES); err != nil {
			t.Fatal(err)
		}
	}
	gen("encrypt-only", true, false)
	gen("decrypt-only", false, true)
	ctx := context.Background()
	aad := []byte("aad")

	p, _ := tok.Key("encrypt-only")
	w, err := p.Wrap(ctx, make([]byte, 32), aad)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Unwrap(ctx, w, aad); !errors.Is(err, keyring.ErrKEKUnavailable) || !strings.Contains(err.Error(), "refuses to decrypt") {
		t.Fatalf("unwrap under a key barred from decrypting: %v", err)
	}
	p, _ = tok.Key("decrypt-only")
	if _, err := p.Wrap(ctx, make([]byte, 32), aad); !errors.Is(err, keyring.ErrKEKUnavailable) || !strings.Contains(err.Error(), "refuses to encrypt") {
		t.Fatalf("wrap under a key barred from encrypting: %v", err)
	}

	if err := tok.GenerateKey("ok"); err != nil {
		t.Fatal(err)
	}
	p, _ = tok.Key("ok")
	w, err = p.Wrap(ctx, make([]byte, 32), aad)
	if err != nil {
		t.Fatal(err)
	}
	w[len(w)-1] ^= 1
	if _, err := p.Unwrap(ctx, w, aad); err == nil || errors.Is(err, keyring.ErrKEKUnavailable) || !strings.Contains(err.Error(), "fails authentication") {
		t.Fatalf("tampered blob: %v", err)
	}
}
