package config

import (
	"errors"
	"fmt"
	"log/slog"
)

// KEK providers.
const (
	KEKProviderLocal  = "local"  // key files under key-dir (default)
	KEKProviderPKCS11 = "pkcs11" // an HSM through PKCS#11
)

// EnvPKCS11PIN is the one way to give the platform token's PIN other than
// a PIN file: it is not a flag (flags show in ps) nor a config file key.
const EnvPKCS11PIN = "HAVEN_PKCS11_PIN"

// KEK selects the key-encryption-key provider.
type KEK struct {
	// Provider is KEKProviderLocal or KEKProviderPKCS11.
	Provider string
	// PKCS11Module is the PKCS#11 module (shared library) path.
	PKCS11Module string
	// PKCS11Token is the label of the platform token.
	PKCS11Token string
	// PKCS11KeyLabel is the base label of the platform KEK versions in the
	// token ("<label>-v1", "<label>-v2", ...).
	PKCS11KeyLabel string
	// PKCS11PIN is a secret, set only from EnvPKCS11PIN; never logged or
	// printed.
	PKCS11PIN string
	// PKCS11PINFile holds the PIN instead (mode 0600).
	PKCS11PINFile string
	// PKCS11TenantPINDir holds "<token label>.pin" files for tokens of
	// tenants that bring their own key; empty disables that.
	PKCS11TenantPINDir string
}

func defaultKEK() KEK {
	return KEK{Provider: KEKProviderLocal, PKCS11Module: "/usr/lib/softhsm/libsofthsm2.so", PKCS11KeyLabel: "haven-kek"}
}

func kekSettings() []setting {
	s := func(key, usage string, p func(k *KEK) *string) setting {
		return setting{key: key, usage: usage, get: func(c *Config) string { return *p(&c.KEK) },
			set: func(c *Config, v string) error { *p(&c.KEK) = v; return nil }}
	}
	return []setting{
		s("kek-provider", "key-encryption-key provider: local (key files in key-dir) or pkcs11 (an HSM)", func(k *KEK) *string { return &k.Provider }),
		s("pkcs11-module", "PKCS#11 module of the HSM", func(k *KEK) *string { return &k.PKCS11Module }),
		s("pkcs11-token", "label of the HSM token holding the platform key-encryption key (kek-provider pkcs11)", func(k *KEK) *string { return &k.PKCS11Token }),
		s("pkcs11-key-label", "base label of the platform key-encryption key versions in the token (<label>-v1, -v2, ...)", func(k *KEK) *string { return &k.PKCS11KeyLabel }),
		s("pkcs11-pin-file", "file (mode 0600) holding the platform token's PIN; or set "+EnvPKCS11PIN, func(k *KEK) *string { return &k.PKCS11PINFile }),
		s("pkcs11-tenant-pin-dir", "directory of <token label>.pin files unlocking tokens of tenants that bring their own key (empty: no BYOK)", func(k *KEK) *string { return &k.PKCS11TenantPINDir }),
	}
}

// Validate checks the provider settings.
func (k KEK) Validate() error {
	switch k.Provider {
	case KEKProviderLocal:
	case KEKProviderPKCS11:
		if k.PKCS11Token == "" {
			return errors.New("kek-provider pkcs11 needs pkcs11-token")
		}
		if k.PKCS11PIN == "" && k.PKCS11PINFile == "" {
			return errors.New("kek-provider pkcs11 needs the token's PIN: set " + EnvPKCS11PIN + " or pkcs11-pin-file")
		}
		if k.PKCS11PIN != "" && k.PKCS11PINFile != "" {
			return errors.New(EnvPKCS11PIN + " and pkcs11-pin-file are both set: use one")
		}
		if k.PKCS11KeyLabel == "" {
			return errors.New("pkcs11-key-label must not be empty")
		}
	default:
		return errors.New("kek-provider must be local or pkcs11")
	}
	if (k.Provider == KEKProviderPKCS11 || k.PKCS11TenantPINDir != "") && k.PKCS11Module == "" {
		return errors.New("pkcs11-module must not be empty")
	}
	return nil
}

// String describes the settings with the PIN redacted, so that a
// configuration printed by mistake (%v, %+v) does not leak it.
func (k KEK) String() string {
	type plain KEK
	p := plain(k)
	p.PKCS11PIN = redacted(p.PKCS11PIN)
	return fmt.Sprintf("%+v", p)
}

// GoString is String for %#v.
func (k KEK) GoString() string { return "config.KEK" + k.String() }

// LogValue is String for log/slog.
func (k KEK) LogValue() slog.Value { return slog.StringValue(k.String()) }
