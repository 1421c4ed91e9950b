//go:build cgo

package pkcs11_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/havencrm/haven/keyring"
	"github.com/havencrm/haven/keyring/pkcs11"
	"github.com/havencrm/haven/keyring/pkcs11/softhsmtest"
)

var ctx = context.Background()

func dek(b byte) []byte { return bytes.Repeat([]byte{b}, keyring.KeySize) }

func TestWrapUnwrap(t *testing.T) {
	h := softhsmtest.New(t)
	pin := h.InitToken("platform")
	tok := h.Open("platform", pin)
	p, err := tok.Versioned("haven-kek", true)
	if err != nil {
		t.Fatal(err)
	}
	if p.KeyID() != "pkcs11:platform/haven-kek-v1" {
		t.Fatalf("key id %q", p.KeyID())
	}
	aad := keyring.AAD("acme", 1)
	w, err := p.Wrap(ctx, dek(7), aad)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(w, dek(7)) {
		t.Fatal("wrapped key holds the data key in clear")
	}
	got, err := p.Unwrap(ctx, w, aad)
	if err != nil || !bytes.Equal(got, dek(7)) {
		t.Fatalf("round trip: %v", err)
	}
	w2, err := p.Wrap(ctx, dek(7), aad)
	if err != nil || bytes.Equal(w, w2) {
		t.Fatalf("two wraps of one key are equal (nonce reuse?): %v", err)
	}

	// A second key on the token, to check a blob cannot be pointed at it.
	if err := tok.GenerateKey("other"); err != nil {
		t.Fatal(err)
	}
	if err := tok.GenerateKey("other"); err == nil {
		t.Fatal("a second key with a taken label was generated")
	}
	relabel := func(b []byte, label string) []byte {
		old := int(b[1])
		out := []byte{b[0], byte(len(label))}
		out = append(out, label...)
		return append(out, b[2+old:]...)
	}
	failing := map[string]struct {
		blob, aad []byte
	}{
		"wrong aad (another tenant)":   {w, keyring.AAD("globex", 1)},
		"wrong aad (another term)":     {w, keyring.AAD("acme", 2)},
		"label pointed at another key": {relabel(w, "other"), aad},
		"unknown format version":       {append([]byte{2}, w[1:]...), aad},
		"truncated":                    {w[:len(w)-1], aad},
		"empty":                        {nil, aad},
	}
	for i := range w {
		b := bytes.Clone(w)
		b[i] ^= 0x01
		failing[fmt.Sprintf("bit flipped in byte %d", i)] = struct{ blob, aad []byte }{b, aad}
	}
	for name, tc := range failing {
		got, err := p.Unwrap(ctx, tc.blob, tc.aad)
		if err == nil || got != nil {
			t.Fatalf("%s: unwrapped", name)
		}
	}
}

func TestRotationKeepsOldKeysUnwrappable(t *testing.T) {
	h := softhsmtest.New(t)
	pin := h.InitToken("platform")
	p, err := pkcs11.Open(h.Config("platform", pin), "haven-kek", true)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	aad := keyring.AAD("acme", 1)
	w1, err := p.Wrap(ctx, dek(1), aad)
	if err != nil {
		t.Fatal(err)
	}
	id, err := p.Rotate()
	if err != nil || id != "pkcs11:platform/haven-kek-v2" || p.KeyID() != id {
		t.Fatalf("Rotate = %q, %v (KeyID %q)", id, err, p.KeyID())
	}
	w2, err := p.Wrap(ctx, dek(2), aad)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range []struct {
		w    []byte
		want []byte
	}{{w1, dek(1)}, {w2, dek(2)}} {
		if got, err := p.Unwrap(ctx, c.w, aad); err != nil || !bytes.Equal(got, c.want) {
			t.Fatalf("blob %d after rotation: %v", i+1, err)
		}
	}
	if !bytes.Contains(w2, []byte("haven-kek-v2")) || !bytes.Contains(w1, []byte("haven-kek-v1")) {
		t.Fatal("a blob does not name its key")
	}

	// Another instance opening the token wraps under the newest version
	// and needs no flag to find it.
	p2, err := pkcs11.Open(h.Config("platform", pin), "haven-kek", false)
	if err != nil {
		t.Fatal(err)
	}
	defer p2.Close()
	if p2.KeyID() != id {
		t.Fatalf("reopened provider wraps under %q, want %q", p2.KeyID(), id)
	}
	if got, err := p2.Unwrap(ctx, w1, aad); err != nil || !bytes.Equal(got, dek(1)) {
		t.Fatalf("reopened provider and the old version: %v", err)
	}
	// Once v1 is retired, what it wrapped is gone, and says why.
	if err := p.Token().DeleteKey("haven-kek-v1"); err != nil {
		t.Fatal(err)
	}
	_, err = p2.Unwrap(ctx, w1, aad)
	if !errors.Is(err, keyring.ErrKEKUnavailable) || !strings.Contains(err.Error(), "haven-kek-v1") {
		t.Fatalf("unwrap under a deleted key: %v", err)
	}
	if got, err := p2.Unwrap(ctx, w2, aad); err != nil || !bytes.Equal(got, dek(2)) {
		t.Fatalf("v2 after deleting v1: %v", err)
	}
	if !p.HoldsKeyID("pkcs11:platform/anything") || p.HoldsKeyID("pkcs11:customer/haven-kek-v1") || p.HoldsKeyID("local:v1") {
		t.Fatal("HoldsKeyID")
	}
}

func TestVersionedWithoutCreateNeedsAKey(t *testing.T) {
	h := softhsmtest.New(t)
	pin := h.InitToken("platform")
	_, err := pkcs11.Open(h.Config("platform", pin), "haven-kek", false)
	if !errors.Is(err, keyring.ErrKEKUnavailable) || !strings.Contains(err.Error(), "haven-kek-v<N>") {
		t.Fatalf("open without a key: %v", err)
	}
}

// TestSecretsStayOut: a wrong PIN, a missing token and a missing PIN fail
// clearly as unavailable, and no error or printed configuration holds the
// PIN.
func TestSecretsStayOut(t *testing.T) {
	h := softhsmtest.New(t)
	pin := h.InitToken("platform")
	wrong := "wrong-" + pin
	cases := map[string]pkcs11.Config{
		"wrong PIN":     h.Config("platform", wrong),
		"missing token": h.Config("nosuchtoken", pin),
		"no PIN":        h.Config("platform", ""),
	}
	for name, cfg := range cases {
		_, err := pkcs11.OpenToken(cfg)
		if !errors.Is(err, keyring.ErrKEKUnavailable) {
			t.Fatalf("%s: %v", name, err)
		}
		for _, s := range []string{pin, wrong} {
			if strings.Contains(err.Error(), s) {
				t.Fatalf("%s: error holds the PIN: %v", name, err)
			}
		}
	}
	cfg := h.Config("platform", pin)
	for _, s := range []string{fmt.Sprint(cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg)} {
		if strings.Contains(s, pin) || !strings.Contains(s, "REDACTED") {
			t.Fatalf("printed configuration %q", s)
		}
	}
	if _, err := pkcs11.OpenToken(pkcs11.Config{Token: "bad/label", PIN: pin}); err == nil {
		t.Fatal("a token label with / accepted")
	}
}

// TestTenantKeyWithdrawn: a provider for one exact key (a tenant's own)
// stops at once when the key is deleted from the token, even though the
// token stays open.
func TestTenantKeyWithdrawn(t *testing.T) {
	h := softhsmtest.New(t)
	pin := h.InitToken("customer")
	tok := h.Open("customer", pin)
	if err := tok.GenerateKey("acme-kek"); err != nil {
		t.Fatal(err)
	}
	p, err := tok.Key("acme-kek")
	if err != nil {
		t.Fatal(err)
	}
	if p.KeyID() != "pkcs11:customer/acme-kek" {
		t.Fatalf("key id %q", p.KeyID())
	}
	if _, err := p.Rotate(); err == nil {
		t.Fatal("a tenant's fixed key rotated")
	}
	aad := keyring.AAD("acme", 1)
	w, err := p.Wrap(ctx, dek(3), aad)
	if err != nil {
		t.Fatal(err)
	}
	if err := tok.DeleteKey("acme-kek"); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Unwrap(ctx, w, aad); !errors.Is(err, keyring.ErrKEKUnavailable) {
		t.Fatalf("unwrap after the key was deleted: %v", err)
	}
	if _, err := p.Wrap(ctx, dek(3), aad); !errors.Is(err, keyring.ErrKEKUnavailable) {
		t.Fatalf("wrap after the key was deleted: %v", err)
	}
}

func TestKeyIDs(t *testing.T) {
	tok, key, err := pkcs11.ParseKeyID("pkcs11:customer token/acme-kek.2")
	if err != nil || tok != "customer token" || key != "acme-kek.2" {
		t.Fatalf("ParseKeyID = %q %q %v", tok, key, err)
	}
	for _, bad := range []string{"local:v1", "pkcs11:", "pkcs11:tok", "pkcs11:/key", "pkcs11:tok/", "pkcs11:../x/key", "pkcs11:tok/a/b",
		"pkcs11:" + strings.Repeat("t", 33) + "/k"} {
		if _, _, err := pkcs11.ParseKeyID(bad); err == nil {
			t.Errorf("ParseKeyID(%q) accepted", bad)
		}
	}
}
