//go:build cgo

package kekset

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/havencrm/haven/keyring"
	"github.com/havencrm/haven/keyring/pkcs11"
)

func openPKCS11Platform(s *Set, c PKCS11) error {
	pin := c.PIN
	if pin == "" && c.PINFile != "" {
		var err error
		if pin, err = ReadPINFile(c.PINFile); err != nil {
			return err
		}
	}
	if pin == "" {
		return errors.New("kekset: the pkcs11 KEK provider needs the token's PIN: set HAVEN_PKCS11_PIN or pkcs11-pin-file")
	}
	label := c.KeyLabel
	if label == "" {
		label = DefaultKeyLabel
	}
	p, err := pkcs11.Open(pkcs11.Config{Module: c.Module, Token: c.Token, PIN: pin}, label, true)
	if err != nil {
		return err
	}
	s.platform, s.rotate, s.where = p, p.Rotate, fmt.Sprintf("PKCS#11 token %q", c.Token)
	s.closers = append(s.closers, p.Close)
	return nil
}

// pkcs11Tenants opens tenants' own tokens, each once, with the PIN from
// its file; a token that fails to open is tried again next time, so a
// PIN put back works without a restart.
type pkcs11Tenants struct {
	module, dir string

	mu     sync.Mutex
	tokens map[string]*pkcs11.Token
}

func newPKCS11Tenants(c PKCS11) (tenantOpener, error) {
	fi, err := os.Stat(c.TenantPINDir)
	if err != nil {
		return nil, fmt.Errorf("kekset: pkcs11-tenant-pin-dir: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("kekset: pkcs11-tenant-pin-dir %s is not a directory", c.TenantPINDir)
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return nil, fmt.Errorf("kekset: pkcs11-tenant-pin-dir %s has mode %#o: others could plant PINs; run chmod 700 %s", c.TenantPINDir, fi.Mode().Perm(), c.TenantPINDir)
	}
	return &pkcs11Tenants{module: c.Module, dir: c.TenantPINDir, tokens: map[string]*pkcs11.Token{}}, nil
}

func (t *pkcs11Tenants) open(_ context.Context, keyID string) (keyring.KEKProvider, error) {
	token, key, err := pkcs11.ParseKeyID(keyID)
	if err != nil {
		return nil, err
	}
	tok, err := t.token(token)
	if err != nil {
		return nil, err
	}
	return tok.Key(key)
}

func (t *pkcs11Tenants) token(label string) (*pkcs11.Token, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if tok, ok := t.tokens[label]; ok {
		return tok, nil
	}
	path := tenantPINPath(t.dir, label)
	pin, err := ReadPINFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		// The customer has not handed over the PIN, or it was withdrawn.
		return nil, fmt.Errorf("kekset: no PIN file %s for token %q: %w", path, label, keyring.ErrKEKUnavailable)
	}
	if err != nil {
		return nil, err
	}
	tok, err := pkcs11.OpenToken(pkcs11.Config{Module: t.module, Token: label, PIN: pin})
	if err != nil {
		return nil, err
	}
	t.tokens[label] = tok
	return tok, nil
}

func (t *pkcs11Tenants) close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	var errs []error
	for label, tok := range t.tokens {
		errs = append(errs, tok.Close())
		delete(t.tokens, label)
	}
	return errors.Join(errs...)
}

// tenantPINPath is the PIN file of a tenant's token. Token labels are
// validated (no "/", no leading dot) before they get here.
func tenantPINPath(dir, token string) string { return filepath.Join(dir, token+".pin") }
