//go:build cgo

// Package pkcs11 is a key-encryption-key provider over a PKCS#11 HSM
// (github.com/ThalesGroup/crypto11): data keys are wrapped with
// CKM_AES_GCM inside the HSM under a non-extractable AES-256 key found by
// its label, so the KEK never exists outside the HSM.
//
// A Token is one logged-in token; Providers wrap under one of its keys:
//
//   - the platform KEK is versioned like keyring/local: keys labelled
//     "<base>-v1", "<base>-v2", ...; Wrap uses the newest, Rotate generates
//     the next one inside the HSM (Token.Versioned);
//   - a tenant's own key (bring your own key) is the one label the
//     customer chose (Token.Key); the customer rotates it by creating a
//     new key and enabling it for the tenant again.
//
// Unwrap accepts what any key of the token wrapped: the wrapped bytes
// name their key.
//
// Wrapped format: format version byte (1) | label length (1 byte) | key
// label | 12-byte random nonce | AES-256-GCM ciphertext and tag, with
// everything before the nonce followed by the caller's aad as the GCM
// associated data, so a blob whose label was edited does not open under
// another key.
//
// The package needs cgo (crypto11 loads the PKCS#11 module with dlopen);
// every file has a cgo build constraint, so CGO_ENABLED=0 builds leave it
// out.
package pkcs11

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ThalesGroup/crypto11"

	"github.com/havencrm/haven/keyring"
)

// DefaultModule is Debian's SoftHSM2 module.
const DefaultModule = "/usr/lib/softhsm/libsofthsm2.so"

// Scheme prefixes the IDs of keys held in PKCS#11 tokens:
// "pkcs11:<token label>/<key label>".
const Scheme = "pkcs11"

const (
	formatVersion = 1
	nonceSize     = 12
	tagSize       = 16
	keyBits       = 256
	maxLabel      = 64
	// maxTokenLabel is the size of CK_TOKEN_INFO.label.
	maxTokenLabel = 32
)

// Config selects and unlocks a token.
type Config struct {
	// Module is the path of the PKCS#11 module; empty means DefaultModule.
	Module string
	// Token is the token label (slot numbers change; labels do not).
	Token string
	// PIN is the user PIN. It is a secret: never logged, never in errors.
	PIN string
}

// String describes the configuration with the PIN redacted.
func (c Config) String() string {
	pin := ""
	if c.PIN != "" {
		pin = "REDACTED"
	}
	return fmt.Sprintf("{Module:%s Token:%s PIN:%s}", c.Module, c.Token, pin)
}

// GoString is String for %#v.
func (c Config) GoString() string { return "pkcs11.Config" + c.String() }

// LogValue is String for log/slog.
func (c Config) LogValue() slog.Value { return slog.StringValue(c.String()) }

// labelPattern admits printable labels that cannot be confused with the
// "/" separating token and key in a key ID nor with a path.
var labelPattern = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.:@+ -]*$`)

// ValidTokenLabel reports whether s is usable as a token label.
func ValidTokenLabel(s string) bool {
	return len(s) <= maxTokenLabel && labelPattern.MatchString(s) && strings.TrimRight(s, " ") == s
}

// ValidKeyLabel reports whether s is usable as a key label.
func ValidKeyLabel(s string) bool {
	return len(s) <= maxLabel && labelPattern.MatchString(s) && strings.TrimRight(s, " ") == s
}

// KeyID names a key of a token: "pkcs11:<token>/<key>".
func KeyID(token, key string) string { return Scheme + ":" + token + "/" + key }

// ParseKeyID splits a key ID made by KeyID.
func ParseKeyID(id string) (token, key string, err error) {
	rest, ok := strings.CutPrefix(id, Scheme+":")
	if !ok {
		return "", "", fmt.Errorf("keyring/pkcs11: %q is not a PKCS#11 key ID", id)
	}
	token, key, ok = strings.Cut(rest, "/")
	if !ok || !ValidTokenLabel(token) || !ValidKeyLabel(key) {
		return "", "", fmt.Errorf("keyring/pkcs11: %q is not a PKCS#11 key ID (pkcs11:<token label>/<key label>)", id)
	}
	return token, key, nil
}

// Token is a logged-in PKCS#11 token. It is safe for concurrent use.
type Token struct {
	ctx   *crypto11.Context
	label string

	closeOnce sync.Once
}

// OpenToken loads the module, finds the token by its label and logs in.
// A missing token or a refused PIN is in errors.Is(err,
// keyring.ErrKEKUnavailable); the PIN never appears in an error.
func OpenToken(cfg Config) (*Token, error) {
	if cfg.Module == "" {
		cfg.Module = DefaultModule
	}
	if !ValidTokenLabel(cfg.Token) {
		return nil, fmt.Errorf("keyring/pkcs11: token label %q: use up to 32 letters, digits and _ . : @ + - or spaces", cfg.Token)
	}
	if cfg.PIN == "" {
		return nil, fmt.Errorf("keyring/pkcs11: no PIN for token %q: %w", cfg.Token, keyring.ErrKEKUnavailable)
	}
	ctx, err := crypto11.Configure(&crypto11.Config{
		Path:       cfg.Module,
		TokenLabel: cfg.Token,
		Pin:        cfg.PIN,
		// The standard GCM nonce size; crypto11 defaults to 16.
		GCMIVLength: nonceSize,
		// A handful of sessions serve key wrapping (data keys are cached
		// above); an HSM's session slots are shared with other clients.
		MaxSessions:     16,
		PoolWaitTimeout: 30 * time.Second,
	})
	if err != nil {
		// crypto11 does not put the PIN in its errors, but this is the one
		// place it could surface: make sure it cannot.
		return nil, fmt.Errorf("keyring/pkcs11: open token %q with module %s: %w: %w", cfg.Token, cfg.Module,
			redact(err, cfg.PIN), keyring.ErrKEKUnavailable)
	}
	return &Token{ctx: ctx, label: cfg.Token}, nil
}

// redact drops a secret from an error's text.
func redact(err error, secret string) error {
	if secret == "" || !strings.Contains(err.Error(), secret) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), secret, "REDACTED"))
}

// Label returns the token label.
func (t *Token) Label() string { return t.label }

// Close logs out and releases the token; Providers made from it stop
// working. Closing twice is harmless.
func (t *Token) Close() error {
	var err error
	t.closeOnce.Do(func() { err = t.ctx.Close() })
	return err
}

// GenerateKey creates a non-extractable, sensitive AES-256 key with the
// label inside the HSM, for encryption and decryption only. A label that
// is already taken is refused: two keys with one label would make the
// label ambiguous for Unwrap.
func (t *Token) GenerateKey(label string) error {
	if !ValidKeyLabel(label) {
		return fmt.Errorf("keyring/pkcs11: key label %q: use up to 64 letters, digits and _ . : @ + - or spaces", label)
	}
	keys, err := t.ctx.FindKeys(nil, []byte(label))
	if err != nil {
		return fmt.Errorf("keyring/pkcs11: look for key %s: %w", KeyID(t.label, label), err)
	}
	if len(keys) > 0 {
		return fmt.Errorf("keyring/pkcs11: a key labelled %q already exists on token %q", label, t.label)
	}
	id := make([]byte, 16)
	if _, err := io.ReadFull(rand.Reader, id); err != nil {
		return fmt.Errorf("keyring/pkcs11: key id: %w", err)
	}
	tmpl, err := crypto11.NewAttributeSetWithIDAndLabel(id, []byte(label))
	if err != nil {
		return fmt.Errorf("keyring/pkcs11: key template: %w", err)
	}
	for attr, v := range map[crypto11.AttributeType]bool{
		crypto11.CkaToken:       true,  // kept on the token
		crypto11.CkaPrivate:     true,  // visible only after login
		crypto11.CkaSensitive:   true,  // its value is never readable
		crypto11.CkaExtractable: false, // nor wrappable out of the HSM
		crypto11.CkaEncrypt:     true,
		crypto11.CkaDecrypt:     true,
		crypto11.CkaWrap:        false, // only our GCM wrapping, not C_WrapKey of other keys
		crypto11.CkaUnwrap:      false,
		crypto11.CkaSign:        false,
		crypto11.CkaVerify:      false,
		crypto11.CkaDerive:      false,
	} {
		if err := tmpl.Set(attr, v); err != nil {
			return fmt.Errorf("keyring/pkcs11: key template: %w", err)
		}
	}
	if _, err := t.ctx.GenerateSecretKeyWithAttributes(tmpl, keyBits, crypto11.CipherAES); err != nil {
		return fmt.Errorf("keyring/pkcs11: generate key %s: %w", KeyID(t.label, label), err)
	}
	return nil
}

// DeleteKey destroys every key with the label on the token. Use it to
// retire an old platform KEK version once keyring.RewrapAll has moved
// every data key off it; data keys still under it are lost for good.
func (t *Token) DeleteKey(label string) error {
	keys, err := t.ctx.FindKeys(nil, []byte(label))
	if err != nil {
		return fmt.Errorf("keyring/pkcs11: look for key %s: %w", KeyID(t.label, label), err)
	}
	if len(keys) == 0 {
		return fmt.Errorf("keyring/pkcs11: no key %s: %w", KeyID(t.label, label), keyring.ErrKEKUnavailable)
	}
	for _, k := range keys {
		if err := k.Delete(); err != nil {
			return fmt.Errorf("keyring/pkcs11: delete key %s: %w", KeyID(t.label, label), err)
		}
	}
	return nil
}

// HasKey reports whether a key with the label is on the token.
func (t *Token) HasKey(label string) (bool, error) {
	keys, err := t.ctx.FindKeys(nil, []byte(label))
	if err != nil {
		return false, fmt.Errorf("keyring/pkcs11: look for key %s: %w", KeyID(t.label, label), err)
	}
	return len(keys) > 0, nil
}

// labels lists the labels of the token's secret keys.
func (t *Token) labels() ([]string, error) {
	keys, err := t.ctx.FindAllKeys()
	if err != nil {
		return nil, fmt.Errorf("keyring/pkcs11: list keys of token %q: %w", t.label, err)
	}
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		a, err := t.ctx.GetAttribute(k, crypto11.CkaLabel)
		if err != nil {
			return nil, fmt.Errorf("keyring/pkcs11: key label on token %q: %w", t.label, err)
		}
		if a != nil {
			out = append(out, string(a.Value))
		}
	}
	return out, nil
}

// Provider is a keyring.KEKProvider wrapping under one key of a Token.
type Provider struct {
	t     *Token
	owned bool // Close closes t
	base  string

	mu      sync.RWMutex
	label   string // the key Wrap uses
	version uint32 // of label, for a versioned provider
}

var (
	_ keyring.KEKProvider = (*Provider)(nil)
	_ keyring.KeyIDHolder = (*Provider)(nil)
)

// Key returns a provider wrapping under the key with this exact label: a
// tenant's own key. The key is looked up at each use, so a key deleted
// from the token stops working at once.
func (t *Token) Key(label string) (*Provider, error) {
	if !ValidKeyLabel(label) {
		return nil, fmt.Errorf("keyring/pkcs11: key label %q: use up to 64 letters, digits and _ . : @ + - or spaces", label)
	}
	return &Provider{t: t, label: label}, nil
}

// Versioned returns a provider over the versioned keys "<base>-v<N>",
// wrapping under the newest. With create, a token without any such key
// gets "<base>-v1" (first start, like keyring/local's first key file).
func (t *Token) Versioned(base string, create bool) (*Provider, error) {
	if !ValidKeyLabel(base) || len(base) > maxLabel-11 {
		return nil, fmt.Errorf("keyring/pkcs11: key label %q: use up to 53 letters, digits and _ . : @ + - or spaces", base)
	}
	p := &Provider{t: t, base: base}
	if err := p.reload(); err != nil {
		return nil, err
	}
	if p.version == 0 {
		if !create {
			return nil, fmt.Errorf("keyring/pkcs11: no key labelled %s-v<N> on token %q: %w", base, t.label, keyring.ErrKEKUnavailable)
		}
		if err := t.GenerateKey(versionLabel(base, 1)); err != nil {
			return nil, err
		}
		if err := p.reload(); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// Open opens the token of cfg and returns the versioned provider over
// base; closing the provider closes the token.
func Open(cfg Config, base string, create bool) (*Provider, error) {
	t, err := OpenToken(cfg)
	if err != nil {
		return nil, err
	}
	p, err := t.Versioned(base, create)
	if err != nil {
		t.Close()
		return nil, err
	}
	p.owned = true
	return p, nil
}

func versionLabel(base string, v uint32) string {
	return base + "-v" + strconv.FormatUint(uint64(v), 10)
}

// reload finds the newest version of a versioned provider.
func (p *Provider) reload() error {
	labels, err := p.t.labels()
	if err != nil {
		return err
	}
	var newest uint32
	for _, l := range labels {
		rest, ok := strings.CutPrefix(l, p.base+"-v")
		if !ok || rest == "" || rest[0] == '0' {
			continue
		}
		n, err := strconv.ParseUint(rest, 10, 32)
		if err != nil {
			continue
		}
		newest = max(newest, uint32(n))
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if newest > 0 {
		p.version, p.label = newest, versionLabel(p.base, newest)
	}
	return nil
}

// Token returns the provider's token.
func (p *Provider) Token() *Token { return p.t }

// Label returns the label of the key Wrap uses.
func (p *Provider) Label() string {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.label
}

// KeyID names the key Wrap uses: "pkcs11:<token>/<key label>".
func (p *Provider) KeyID() string { return KeyID(p.t.label, p.Label()) }

// HoldsKeyID reports whether id names a key of this provider's token.
func (p *Provider) HoldsKeyID(id string) bool {
	token, _, err := ParseKeyID(id)
	return err == nil && token == p.t.label
}

// Rotate generates the next version of a versioned provider's key in the
// HSM and makes Wrap use it; it returns the new key ID. Older versions
// keep unwrapping.
func (p *Provider) Rotate() (string, error) {
	if p.base == "" {
		return "", errors.New("keyring/pkcs11: only the versioned platform key rotates; a tenant rotates its own key by enabling a new one")
	}
	if err := p.reload(); err != nil {
		return "", err
	}
	p.mu.RLock()
	next := p.version + 1
	p.mu.RUnlock()
	if err := p.t.GenerateKey(versionLabel(p.base, next)); err != nil {
		return "", err
	}
	if err := p.reload(); err != nil {
		return "", err
	}
	return p.KeyID(), nil
}

// Close closes the token when the provider owns it (Open); providers
// from Token.Key or Token.Versioned leave the token to its owner.
func (p *Provider) Close() error {
	if p.owned {
		return p.t.Close()
	}
	return nil
}

// findKey returns the keys with the label; none is ErrKEKUnavailable.
func (p *Provider) findKeys(label string) ([]*crypto11.SecretKey, error) {
	keys, err := p.t.ctx.FindKeys(nil, []byte(label))
	if err != nil {
		return nil, fmt.Errorf("keyring/pkcs11: look for key %s: %w: %w", KeyID(p.t.label, label), err, keyring.ErrKEKUnavailable)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("keyring/pkcs11: key %s is not on the token (deleted or withdrawn by its owner?): %w",
			KeyID(p.t.label, label), keyring.ErrKEKUnavailable)
	}
	return keys, nil
}

// Wrap encrypts a data key inside the HSM under the provider's key.
func (p *Provider) Wrap(ctx context.Context, dek, aad []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	label := p.Label()
	keys, err := p.findKeys(label)
	if err != nil {
		return nil, err
	}
	if len(keys) > 1 {
		return nil, fmt.Errorf("keyring/pkcs11: %d keys are labelled %q on token %q; give each a unique label", len(keys), label, p.t.label)
	}
	gcm, err := keys[0].NewGCM()
	if err != nil {
		return nil, fmt.Errorf("keyring/pkcs11: key %s: %w", KeyID(p.t.label, label), err)
	}
	hdr := header(label)
	out := make([]byte, len(hdr)+nonceSize, len(hdr)+nonceSize+len(dek)+tagSize)
	copy(out, hdr)
	nonce := out[len(hdr):]
	if _, err := io.ReadFull(rand.Reader, nonce); err != nil {
		return nil, fmt.Errorf("keyring/pkcs11: nonce: %w", err)
	}
	sealed, err := seal(gcm, nonce, dek, associated(hdr, aad))
	if err != nil {
		// The key is there but will not encrypt: disabled by its owner,
		// or the HSM failed. Either way it cannot be used now.
		return nil, fmt.Errorf("keyring/pkcs11: key %s refuses to encrypt: %w: %w", KeyID(p.t.label, label), err, keyring.ErrKEKUnavailable)
	}
	if len(sealed) != len(dek)+tagSize {
		clear(sealed)
		return nil, fmt.Errorf("keyring/pkcs11: wrap under %s: the HSM returned %d bytes, want %d", KeyID(p.t.label, label), len(sealed), len(dek)+tagSize)
	}
	return append(out, sealed...), nil
}

// seal runs crypto11's Seal, which panics when the HSM fails (cipher.AEAD
// has no error result), and returns that failure as an error instead.
func seal(gcm interface {
	Seal(dst, nonce, plaintext, additionalData []byte) []byte
}, nonce, plaintext, ad []byte) (out []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			if e, ok := r.(error); ok {
				err = e
			} else {
				err = fmt.Errorf("%v", r)
			}
		}
	}()
	return gcm.Seal(nil, nonce, plaintext, ad), nil
}

// Unwrap decrypts a data key wrapped by any key of the token; the blob
// names the key.
func (p *Provider) Unwrap(ctx context.Context, wrapped, aad []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	label, rest, err := parse(wrapped)
	if err != nil {
		return nil, err
	}
	keys, err := p.findKeys(label)
	if err != nil {
		return nil, err
	}
	hdr := wrapped[:len(wrapped)-len(rest)]
	ad := associated(hdr, aad)
	// Normally one key has the label; should two (two instances rotating
	// at once), the one that authenticates the blob is the right one.
	var lastErr error
	for _, k := range keys {
		gcm, err := k.NewGCM()
		if err != nil {
			return nil, fmt.Errorf("keyring/pkcs11: key %s: %w", KeyID(p.t.label, label), err)
		}
		dek, err := gcm.Open(nil, rest[:nonceSize], rest[nonceSize:], ad)
		if err == nil {
			return dek, nil
		}
		lastErr = err
	}
	// HSMs report a failed GCM tag check differently (SoftHSM2 says
	// CKR_GENERAL_ERROR), so ask the key itself: if it still decrypts what
	// it encrypts, the blob is at fault; if not, the key is unusable.
	for _, k := range keys {
		if selfTest(k) == nil {
			return nil, fmt.Errorf("keyring/pkcs11: wrapped key fails authentication under KEK %s (tampered, or bound to another tenant or term)", KeyID(p.t.label, label))
		}
	}
	return nil, fmt.Errorf("keyring/pkcs11: key %s refuses to decrypt (disabled by its owner, or the HSM failed): %w: %w",
		KeyID(p.t.label, label), lastErr, keyring.ErrKEKUnavailable)
}

// selfTest checks a key encrypts and decrypts a throwaway value.
func selfTest(k *crypto11.SecretKey) error {
	gcm, err := k.NewGCM()
	if err != nil {
		return err
	}
	nonce := make([]byte, nonceSize)
	if _, err := io.ReadFull(rand.Reader, nonce); err != nil {
		return err
	}
	msg, ad := make([]byte, keyring.KeySize), []byte("haven/pkcs11/self-test")
	ct, err := seal(gcm, nonce, msg, ad)
	if err != nil {
		return err
	}
	pt, err := gcm.Open(nil, nonce, ct, ad)
	if err != nil {
		return err
	}
	if len(pt) != len(msg) || subtle.ConstantTimeCompare(pt, msg) != 1 {
		return errors.New("self-test value changed")
	}
	return nil
}

func header(label string) []byte {
	h := make([]byte, 0, 2+len(label))
	return append(append(h, formatVersion, byte(len(label))), label...)
}

// parse splits a wrapped blob into its key label and nonce|ciphertext.
func parse(b []byte) (label string, rest []byte, err error) {
	bad := errors.New("keyring/pkcs11: not a wrapped key of a known format")
	if len(b) < 2 || b[0] != formatVersion {
		return "", nil, bad
	}
	n := int(b[1])
	if len(b) < 2+n+nonceSize+tagSize {
		return "", nil, bad
	}
	label = string(b[2 : 2+n])
	if !ValidKeyLabel(label) {
		return "", nil, bad
	}
	return label, b[2+n:], nil
}

func associated(header, aad []byte) []byte {
	b := make([]byte, 0, len(header)+len(aad))
	return append(append(b, header...), aad...)
}
