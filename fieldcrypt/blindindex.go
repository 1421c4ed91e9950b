package fieldcrypt

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/havencrm/haven/tenant"
)

// Blind indexes.
//
// BlindIndex = hex(HMAC-SHA256(key, msg)[:16]), 32 lower-case hex
// characters, where
//
//	msg = "haven/blindindex/v1" || len(tenant) || tenant
//	      || len(object) || object || len(field) || field
//	      || len(value) || value
//
// with 4-byte big-endian lengths. The index key is passed in; the keyring
// derives it per tenant, so equal values in different tenants, objects or
// fields never share an index. 128 bits keep collisions out of reach; the
// index still reveals which rows hold equal values within one field, and
// anyone holding the index key can test guesses of low-entropy values such
// as phone numbers, so the key must be as guarded as a data key.
//
// Values must be normalised first with the Normalize* helper matching the
// field, and the same helper must be used when searching.

// IndexSize is the number of HMAC bytes kept (hex-encoded: twice as many
// characters).
const IndexSize = 16

// MinIndexKeySize is the shortest accepted blind-index key.
const MinIndexKeySize = 32

const indexDomain = "haven/blindindex/v1"

// ErrEmptyValue: empty values get no blind index; store NULL instead, so
// there is no bucket of "all records without a value".
var ErrEmptyValue = errors.New("fieldcrypt: empty value has no blind index")

// IndexScope names the column a blind index belongs to.
type IndexScope struct {
	Tenant tenant.ID
	Object string
	Field  string
}

// BlindIndex computes the blind index of an already normalised value.
func BlindIndex(key []byte, s IndexScope, normalized string) (string, error) {
	if len(key) < MinIndexKeySize {
		return "", fmt.Errorf("%w: index key shorter than %d bytes", ErrInvalidKey, MinIndexKeySize)
	}
	if err := validParts(string(s.Tenant), s.Object, s.Field); err != nil {
		return "", err
	}
	if normalized == "" {
		return "", ErrEmptyValue
	}
	if len(normalized) > MaxPlaintext {
		return "", ErrTooLarge
	}
	m := hmac.New(sha256.New, key)
	var lp [4]byte
	write := func(p string) {
		n := len(p)
		lp[0], lp[1], lp[2], lp[3] = byte(n>>24), byte(n>>16), byte(n>>8), byte(n)
		m.Write(lp[:])
		m.Write([]byte(p))
	}
	m.Write([]byte(indexDomain))
	write(string(s.Tenant))
	write(s.Object)
	write(s.Field)
	write(normalized)
	return hex.EncodeToString(m.Sum(nil)[:IndexSize]), nil
}

// foldRune maps full-width ASCII forms (U+FF01–U+FF5E, common in Chinese
// input methods) and the ideographic space to ASCII, and ASCII upper case
// to lower case. It is deliberately independent of Unicode table versions
// so indexes stay stable across Go releases; it is not NFC/NFKC (the
// standard library has neither).
func foldRune(r rune) rune {
	switch {
	case r >= 0xFF01 && r <= 0xFF5E:
		r -= 0xFEE0
	case r == 0x3000:
		r = ' '
	}
	if r >= 'A' && r <= 'Z' {
		r += 'a' - 'A'
	}
	return r
}

func isSpace(r rune) bool {
	switch r {
	case ' ', '\t', '\n', '\v', '\f', '\r', 0x85, 0xA0, 0x3000:
		return true
	}
	return false
}

// NormalizeText prepares a generic text value for exact-match search:
// full-width ASCII folded to ASCII, ASCII letters lower-cased, leading and
// trailing white space removed and inner runs of white space collapsed to
// one space. Other characters (including Chinese) are kept as they are;
// invalid UTF-8 bytes become U+FFFD.
func NormalizeText(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	pendingSpace := false
	for _, r := range s {
		r = foldRune(r)
		if isSpace(r) {
			pendingSpace = b.Len() > 0
			continue
		}
		if pendingSpace {
			b.WriteByte(' ')
			pendingSpace = false
		}
		b.WriteRune(r)
	}
	return b.String()
}

// NormalizeEmail prepares an e-mail address: full-width ASCII folded,
// surrounding white space trimmed, ASCII lower-cased (the local part too:
// mail systems in practice treat it case-insensitively). Dots and "+tags"
// are kept: they may name different mailboxes.
func NormalizeEmail(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		b.WriteRune(foldRune(r))
	}
	return strings.TrimFunc(b.String(), isSpace)
}

// NormalizePhone prepares a phone number: only digits are kept (full-width
// digits folded), then the country code is handled so that domestic and
// international forms of a Chinese number index alike:
//
//   - "+86…", "0086…" and, for 13 digits, "861…" (a mobile with the
//     country code but no "+") drop the 86; a Chinese landline written
//     internationally ("+86 10 6234 5678") regains its trunk 0
//     ("01062345678"), the form dialled at home;
//   - other international numbers ("+1…", "001…") become "+" and digits;
//   - anything else is just its digits.
//
// A value without digits normalises to "".
func NormalizePhone(s string) string {
	plus := false
	digits := make([]byte, 0, len(s))
	for _, r := range s {
		r = foldRune(r)
		switch {
		case r >= '0' && r <= '9':
			digits = append(digits, byte(r))
		case r == '+' && len(digits) == 0:
			plus = true
		}
	}
	d := string(digits)
	if d == "" {
		return ""
	}
	intl := plus
	if !intl && strings.HasPrefix(d, "00") {
		intl, d = true, d[2:]
	}
	if !intl && len(d) == 13 && strings.HasPrefix(d, "861") {
		intl = true
	}
	if !intl {
		return d
	}
	if rest, ok := strings.CutPrefix(d, "86"); ok && rest != "" {
		if !(len(rest) == 11 && rest[0] == '1') && rest[0] != '0' {
			rest = "0" + rest
		}
		return rest
	}
	if d == "" {
		return ""
	}
	return "+" + d
}
