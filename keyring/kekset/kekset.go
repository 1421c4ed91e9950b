// Package kekset opens the key-encryption keys one Haven instance uses:
// the platform KEK from the configured provider (local key files, or a
// PKCS#11 HSM), and on demand the tenants' own KEKs (bring your own key)
// by the key ID recorded with their data keys.
//
// PKCS#11 needs cgo; in a build without it (CGO_ENABLED=0) selecting it
// fails with an error that says so, and everything else works.
//
// PINs never come from the database. The platform token's PIN is given
// by the operator (HAVEN_PKCS11_PIN or a PIN file). A tenant's own token
// is unlocked by the file "<token label>.pin" in TenantPINDir, which the
// operator fills with what the customer hands over (or mounts from a
// secret store); the customer withdraws its key by deleting or disabling
// it in its HSM, or by changing the PIN.
package kekset

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/havencrm/haven/keyring"
	"github.com/havencrm/haven/keyring/local"
)

// Provider names.
const (
	ProviderLocal  = "local"
	ProviderPKCS11 = "pkcs11"
)

// Config selects the platform KEK and how tenants' own KEKs are reached.
type Config struct {
	// Provider is ProviderLocal (default) or ProviderPKCS11.
	Provider string
	// KeyDir holds the local key files.
	KeyDir string
	// PKCS11 configures the HSM: the platform token when Provider is
	// pkcs11, and the module for tenants' own tokens either way.
	PKCS11 PKCS11
}

// PKCS11 configures PKCS#11 tokens.
type PKCS11 struct {
	// Module is the PKCS#11 module path; empty means SoftHSM2's.
	Module string
	// Token is the label of the platform token.
	Token string
	// KeyLabel is the base label of the platform KEK versions
	// ("<KeyLabel>-v1", ...); empty means "haven-kek".
	KeyLabel string
	// PIN unlocks the platform token; PINFile is read when PIN is empty.
	PIN     string
	PINFile string
	// TenantPINDir holds "<token label>.pin" files unlocking tenants' own
	// tokens; empty means no tenant may bring its own key.
	TenantPINDir string
}

// String describes the settings with the PIN redacted.
func (p PKCS11) String() string {
	pin := ""
	if p.PIN != "" {
		pin = "REDACTED"
	}
	return fmt.Sprintf("{Module:%s Token:%s KeyLabel:%s PIN:%s PINFile:%s TenantPINDir:%s}", p.Module, p.Token, p.KeyLabel, pin, p.PINFile, p.TenantPINDir)
}

// GoString is String for %#v.
func (p PKCS11) GoString() string { return "kekset.PKCS11" + p.String() }

// DefaultKeyLabel is the base label of the platform KEK in an HSM.
const DefaultKeyLabel = "haven-kek"

// Set is the platform KEK and the tenants' own KEKs. It implements
// keyring.KEKOpener.
type Set struct {
	platform keyring.KEKProvider
	rotate   func() (string, error)
	where    string
	tenants  tenantOpener // nil: tenants cannot bring their own key
	closers  []func() error
}

// tenantOpener opens tenants' own KEKs of one provider kind.
type tenantOpener interface {
	open(ctx context.Context, keyID string) (keyring.KEKProvider, error)
	close() error
}

var _ keyring.KEKOpener = (*Set)(nil)

// Open opens the platform KEK (creating it on first start) and prepares
// the tenants' own KEKs.
func Open(cfg Config) (*Set, error) {
	s := &Set{}
	switch cfg.Provider {
	case "", ProviderLocal:
		p, err := local.Open(cfg.KeyDir)
		if err != nil {
			return nil, err
		}
		s.platform, s.rotate, s.where = p, p.Rotate, "key directory "+p.Dir()
		s.closers = append(s.closers, func() error { p.Close(); return nil })
	case ProviderPKCS11:
		if err := openPKCS11Platform(s, cfg.PKCS11); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("kekset: unknown KEK provider %q (local or pkcs11)", cfg.Provider)
	}
	if cfg.PKCS11.TenantPINDir != "" {
		t, err := newPKCS11Tenants(cfg.PKCS11)
		if err != nil {
			s.Close()
			return nil, err
		}
		s.tenants = t
		s.closers = append(s.closers, t.close)
	}
	return s, nil
}

// Platform returns the platform KEK provider.
func (s *Set) Platform() keyring.KEKProvider { return s.platform }

// KeyID names the platform KEK version Wrap uses now.
func (s *Set) KeyID() string { return s.platform.KeyID() }

// Where describes where the platform KEK lives (a directory, a token).
func (s *Set) Where() string { return s.where }

// Rotate makes a new platform KEK version (a key file, or a key generated
// inside the HSM) and returns its ID; older versions keep unwrapping
// until keyring.RewrapAll has moved every data key.
func (s *Set) Rotate() (string, error) { return s.rotate() }

// BYOK reports whether tenants may bring their own keys.
func (s *Set) BYOK() bool { return s.tenants != nil }

// OpenKEK opens a tenant's own KEK by its key ID ("pkcs11:<token>/<key>").
func (s *Set) OpenKEK(ctx context.Context, keyID string) (keyring.KEKProvider, error) {
	scheme, _, _ := strings.Cut(keyID, ":")
	if scheme != ProviderPKCS11 {
		return nil, fmt.Errorf("kekset: no provider for KEK %q (tenants' own keys are pkcs11)", keyID)
	}
	if s.tenants == nil {
		return nil, fmt.Errorf("kekset: KEK %s is a tenant's own key, but no pkcs11-tenant-pin-dir is configured: %w", keyID, keyring.ErrKEKUnavailable)
	}
	return s.tenants.open(ctx, keyID)
}

// Close releases every provider and token.
func (s *Set) Close() error {
	var errs []error
	for i := len(s.closers) - 1; i >= 0; i-- {
		errs = append(errs, s.closers[i]())
	}
	s.closers = nil
	return errors.Join(errs...)
}

// maxPINBytes bounds a PIN file: PINs are short; a large file is a
// mistake (a key, a certificate), not a PIN.
const maxPINBytes = 256

// ReadPINFile reads a PIN from a file only its owner may read, without
// the trailing newline. Errors name the file, never its content.
func ReadPINFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("kekset: PIN file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("kekset: PIN file %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("kekset: PIN file %s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return "", fmt.Errorf("kekset: PIN file %s has mode %#o, which lets other users read it; refusing it: run chmod 600 %s", path, perm, path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxPINBytes+1))
	if err != nil {
		return "", fmt.Errorf("kekset: read PIN file %s: %w", path, err)
	}
	defer clear(b)
	if len(b) > maxPINBytes {
		return "", fmt.Errorf("kekset: PIN file %s is longer than %d bytes: it does not hold a PIN", path, maxPINBytes)
	}
	pin := strings.TrimRight(string(b), "\r\n")
	if pin == "" {
		return "", fmt.Errorf("kekset: PIN file %s is empty", path)
	}
	return pin, nil
}
