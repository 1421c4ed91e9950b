// Package fieldcrypt encrypts single field values with a tenant's data keys
// and computes blind indexes for exact-match search on encrypted fields.
//
// # Envelope format (version 1)
//
// A stored value is the ASCII string
//
//	"hv1:" + base64url-without-padding(envelope)
//
// where envelope is
//
//	version (1 byte, 0x01) || term (unsigned LEB128 varint, minimal, ≤ 2^32-1)
//	|| nonce (12 bytes) || AES-256-GCM ciphertext || tag (16 bytes)
//
// The "hv1:" prefix names the text encoding and lets a reader tell an
// encrypted value from plaintext in a JSON document; the version byte names
// the cryptographic suite. The associated data of the AEAD is
//
//	"haven/fieldcrypt" || version || term (4 bytes, big-endian)
//	|| len(tenant) || tenant || len(object) || object
//	|| len(record ID) || record ID || len(field) || field
//
// with every length a 4-byte big-endian integer, so the header is
// authenticated and a ciphertext copied to another tenant, object, record
// or field fails to decrypt. Nonces are random (crypto/rand); with 96-bit
// nonces one key must not seal more than about 2^32 values, which key
// rotation (a new term) keeps far away.
//
// Errors never contain plaintext, key bytes or the envelope.
package fieldcrypt

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/havencrm/haven/tenant"
)

// Prefix starts every encoded envelope.
const Prefix = "hv1:"

// Version is the envelope format version this package writes.
const Version byte = 1

// KeySize is the only accepted data key length (AES-256).
const KeySize = 32

// MaxPlaintext bounds the size of one field value.
const MaxPlaintext = 16 << 20

const (
	nonceSize = 12
	tagSize   = 16
	aadDomain = "haven/fieldcrypt"
)

// maxEncoded is the longest envelope string Decrypt accepts.
var maxEncoded = len(Prefix) + base64.RawURLEncoding.EncodedLen(1+binary.MaxVarintLen32+nonceSize+MaxPlaintext+tagSize)

var b64 = base64.RawURLEncoding.Strict()

// Errors. Callers test with errors.Is; the messages are safe to log.
var (
	// ErrUndecryptable: the value cannot be decrypted with the keys and
	// binding given (tampered, moved to another record or field, wrong key,
	// unknown or destroyed term). Every Decrypt failure wraps it.
	ErrUndecryptable = errors.New("fieldcrypt: value cannot be decrypted")
	// ErrMalformed: the string is not a structurally valid envelope.
	ErrMalformed = errors.New("fieldcrypt: malformed envelope")
	// ErrUnsupportedVersion: the envelope has a format version this build
	// does not know.
	ErrUnsupportedVersion = errors.New("fieldcrypt: unsupported envelope version")
	// ErrInvalidKey: a key source returned a key that is not 32 bytes.
	ErrInvalidKey = errors.New("fieldcrypt: invalid key")
	// ErrInvalidBinding: a binding with an empty part.
	ErrInvalidBinding = errors.New("fieldcrypt: invalid binding")
	// ErrTooLarge: the plaintext exceeds MaxPlaintext.
	ErrTooLarge = errors.New("fieldcrypt: value too large")
)

// KeySource hands out a tenant's data keys by term. The keyring satisfies it.
type KeySource interface {
	// CurrentKey returns the term and key new values are sealed with.
	CurrentKey(ctx context.Context, t tenant.ID) (term uint32, key []byte, err error)
	// KeyForTerm returns the key of an older or current term.
	KeyForTerm(ctx context.Context, t tenant.ID, term uint32) ([]byte, error)
}

// Binding names the place a value lives; it is the associated data.
type Binding struct {
	Tenant   tenant.ID
	Object   string
	RecordID string
	Field    string
}

func (b Binding) validate() error {
	return validParts(string(b.Tenant), b.Object, b.RecordID, b.Field)
}

// maxPart bounds each binding part so its length prefix is exact.
const maxPart = 1 << 12

func validParts(parts ...string) error {
	for _, p := range parts {
		if p == "" || len(p) > maxPart {
			return ErrInvalidBinding
		}
	}
	return nil
}

// Encrypt seals plaintext under the tenant's current key, bound to b.
func Encrypt(ctx context.Context, ks KeySource, b Binding, plaintext []byte) (string, error) {
	if err := b.validate(); err != nil {
		return "", err
	}
	if len(plaintext) > MaxPlaintext {
		return "", ErrTooLarge
	}
	term, key, err := ks.CurrentKey(ctx, b.Tenant)
	if err != nil {
		return "", fmt.Errorf("fieldcrypt: current key: %w", err)
	}
	aead, err := newAEAD(key)
	if err != nil {
		return "", err
	}
	header := binary.AppendUvarint([]byte{Version}, uint64(term))
	buf := make([]byte, len(header), len(header)+nonceSize+len(plaintext)+tagSize)
	copy(buf, header)
	buf = buf[:len(header)+nonceSize]
	nonce := buf[len(header):]
	_, _ = rand.Read(nonce) // never fails (crypto/rand, Go ≥ 1.24)
	buf = aead.Seal(buf, nonce, plaintext, associatedData(Version, term, b))
	return Prefix + b64.EncodeToString(buf), nil
}

// Decrypt opens an envelope written by Encrypt for the same binding.
func Decrypt(ctx context.Context, ks KeySource, b Binding, envelope string) ([]byte, error) {
	if err := b.validate(); err != nil {
		return nil, err
	}
	p, err := parse(envelope)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUndecryptable, err)
	}
	key, err := ks.KeyForTerm(ctx, b.Tenant, p.term)
	if err != nil {
		return nil, fmt.Errorf("%w: key for term %d: %w", ErrUndecryptable, p.term, err)
	}
	aead, err := newAEAD(key)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUndecryptable, err)
	}
	pt, err := aead.Open(nil, p.nonce, p.sealed, associatedData(p.version, p.term, b))
	if err != nil {
		return nil, fmt.Errorf("%w: authentication failed", ErrUndecryptable)
	}
	if pt == nil {
		pt = []byte{}
	}
	return pt, nil
}

// Term reports the key term an envelope was sealed under, without
// decrypting it. The term is not authenticated until Decrypt succeeds; it
// serves re-encryption jobs looking for values under an old term.
func Term(envelope string) (uint32, error) {
	p, err := parse(envelope)
	if err != nil {
		return 0, err
	}
	return p.term, nil
}

// IsEnvelope reports whether s is a structurally valid envelope (prefix,
// encoding, known version, term and minimum length). It does not decrypt.
func IsEnvelope(s string) bool {
	_, err := parse(s)
	return err == nil
}

type parsed struct {
	version byte
	term    uint32
	nonce   []byte
	sealed  []byte
}

func parse(s string) (parsed, error) {
	rest, ok := strings.CutPrefix(s, Prefix)
	if !ok {
		return parsed{}, fmt.Errorf("%w: missing prefix", ErrMalformed)
	}
	if len(s) > maxEncoded {
		return parsed{}, fmt.Errorf("%w: too long", ErrMalformed)
	}
	// The decoder skips '\r' and '\n'; refuse them (and anything else
	// outside the alphabet) so each value has exactly one text form.
	for i := 0; i < len(rest); i++ {
		if c := rest[i]; !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return parsed{}, fmt.Errorf("%w: bad encoding", ErrMalformed)
		}
	}
	raw, err := b64.DecodeString(rest)
	if err != nil {
		return parsed{}, fmt.Errorf("%w: bad encoding", ErrMalformed)
	}
	if len(raw) == 0 {
		return parsed{}, fmt.Errorf("%w: empty", ErrMalformed)
	}
	if raw[0] != Version {
		return parsed{}, fmt.Errorf("%w: %d", ErrUnsupportedVersion, raw[0])
	}
	term, n := binary.Uvarint(raw[1:])
	if n <= 0 || term > math.MaxUint32 || n != len(binary.AppendUvarint(nil, term)) {
		return parsed{}, fmt.Errorf("%w: bad term", ErrMalformed)
	}
	body := raw[1+n:]
	if len(body) < nonceSize+tagSize {
		return parsed{}, fmt.Errorf("%w: too short", ErrMalformed)
	}
	return parsed{version: raw[0], term: uint32(term), nonce: body[:nonceSize], sealed: body[nonceSize:]}, nil
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("%w: want %d bytes, got %d", ErrInvalidKey, KeySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidKey, err)
	}
	return cipher.NewGCM(block)
}

func associatedData(version byte, term uint32, b Binding) []byte {
	var buf bytes.Buffer
	buf.Grow(len(aadDomain) + 5 + 16 + len(b.Tenant) + len(b.Object) + len(b.RecordID) + len(b.Field))
	buf.WriteString(aadDomain)
	buf.WriteByte(version)
	buf.Write(binary.BigEndian.AppendUint32(nil, term))
	for _, part := range []string{string(b.Tenant), b.Object, b.RecordID, b.Field} {
		writeLP(&buf, part)
	}
	return buf.Bytes()
}

// writeLP writes a 4-byte big-endian length and then s.
func writeLP(buf *bytes.Buffer, s string) {
	buf.Write(binary.BigEndian.AppendUint32(nil, uint32(len(s))))
	buf.WriteString(s)
}
