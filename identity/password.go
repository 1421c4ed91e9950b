package identity

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/havencrm/haven/identity/commonpw"
	"golang.org/x/crypto/argon2"
)

// HashParams are the argon2id cost parameters.
type HashParams struct {
	MemoryKiB   uint32
	Iterations  uint32
	Parallelism uint8
}

// DefaultHashParams are OWASP's recommended minimum for argon2id.
var DefaultHashParams = HashParams{MemoryKiB: 19 * 1024, Iterations: 2, Parallelism: 1}

const (
	saltLen = 16
	keyLen  = 32
	// MaxPasswordBytes bounds the work an attacker can make us do per guess.
	MaxPasswordBytes = 256
)

// Hasher hashes and verifies passwords with argon2id in PHC string format,
// so parameters can be raised later without invalidating old hashes.
type Hasher struct {
	params HashParams
	// dummy is a hash of a random password verified against for unknown
	// logins, so that they cost the same time as known ones.
	dummy string
}

// NewHasher returns a Hasher with the given parameters.
func NewHasher(p HashParams) (*Hasher, error) {
	if p.MemoryKiB < 8*1024 || p.Iterations < 1 || p.Parallelism < 1 {
		return nil, errors.New("argon2id parameters below the safe minimum (m >= 8192 KiB, t >= 1, p >= 1)")
	}
	h := &Hasher{params: p}
	random := make([]byte, 24)
	if _, err := rand.Read(random); err != nil {
		return nil, fmt.Errorf("read random: %w", err)
	}
	dummy, err := h.Hash(base64.RawStdEncoding.EncodeToString(random))
	if err != nil {
		return nil, err
	}
	h.dummy = dummy
	return h, nil
}

// Hash returns the PHC-encoded argon2id hash of password.
func (h *Hasher) Hash(password string) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("read random: %w", err)
	}
	p := h.params
	key := argon2.IDKey([]byte(password), salt, p.Iterations, p.MemoryKiB, p.Parallelism, keyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.MemoryKiB, p.Iterations, p.Parallelism,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
}

// Verify reports whether password matches encoded, comparing in constant time.
func (h *Hasher) Verify(encoded, password string) bool {
	p, salt, key, err := decodeHash(encoded)
	if err != nil {
		return false
	}
	got := argon2.IDKey([]byte(password), salt, p.Iterations, p.MemoryKiB, p.Parallelism, uint32(len(key)))
	return subtle.ConstantTimeCompare(got, key) == 1
}

// VerifyDummy spends the time of one verification and always fails; it is
// used when the login is unknown.
func (h *Hasher) VerifyDummy(password string) bool {
	h.Verify(h.dummy, password)
	return false
}

func decodeHash(encoded string) (HashParams, []byte, []byte, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return HashParams{}, nil, nil, errors.New("not an argon2id hash")
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return HashParams{}, nil, nil, errors.New("unsupported argon2 version")
	}
	var p HashParams
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.MemoryKiB, &p.Iterations, &p.Parallelism); err != nil {
		return HashParams{}, nil, nil, errors.New("bad argon2 parameters")
	}
	// Bound the parameters: argon2.IDKey panics on t=0 or p=0, and a huge
	// m or t would let a tampered hash exhaust memory or CPU.
	if p.Iterations < 1 || p.Iterations > 100 || p.Parallelism < 1 || p.MemoryKiB < 8*1024 || p.MemoryKiB > 4<<20 {
		return HashParams{}, nil, nil, errors.New("argon2 parameters out of range")
	}
	salt, err := base64.RawStdEncoding.DecodeString(parts[4])
	if err != nil {
		return HashParams{}, nil, nil, errors.New("bad salt")
	}
	key, err := base64.RawStdEncoding.DecodeString(parts[5])
	if err != nil || len(key) < 16 || len(key) > 64 {
		return HashParams{}, nil, nil, errors.New("bad key")
	}
	return p, salt, key, nil
}

// One-time passwords draw from letters and digits without look-alikes
// (0 O 1 l I) and from symbols that need no quoting in a shell or
// escaping in a URL and cannot be mistaken for one another.
const (
	otpUpper   = "ABCDEFGHJKLMNPQRSTUVWXYZ"
	otpLower   = "abcdefghijkmnopqrstuvwxyz"
	otpDigits  = "23456789"
	otpSymbols = "-._"
	// OneTimePasswordAlphabet is every character a one-time password uses.
	OneTimePasswordAlphabet = otpUpper + otpLower + otpDigits + otpSymbols
	// OneTimePasswordLength is the length of one-time passwords.
	OneTimePasswordLength = 16
)

// OneTimePassword returns a random 16-character password with all four
// character classes, so it satisfies the strictest allowed class rule; it
// starts and ends with a letter or digit, so that a shell never reads it
// as an option and a sentence's full stop is never taken for part of it.
// A candidate the common-password list reports (a false positive of its
// compact filter, about one in a few thousand) is drawn again, since the
// policy would refuse it when the user types it back.
func OneTimePassword() (string, error) {
	const alnum = otpUpper + otpLower + otpDigits
	for {
		out := make([]byte, OneTimePasswordLength)
		for i := range out {
			set := OneTimePasswordAlphabet
			if i == 0 || i == len(out)-1 {
				set = alnum
			}
			c, err := randomIndex(len(set))
			if err != nil {
				return "", err
			}
			out[i] = set[c]
		}
		s := string(out)
		if strings.ContainsAny(s, otpUpper) && strings.ContainsAny(s, otpLower) && strings.ContainsAny(s, otpDigits) &&
			strings.ContainsAny(s, otpSymbols) && !commonpw.Default().Contains(s) {
			return s, nil
		}
	}
}

// randomIndex returns a uniformly random integer in [0, n), n <= 256.
func randomIndex(n int) (int, error) {
	limit := 256 - 256%n // reject the biased tail
	var b [1]byte
	for {
		if _, err := rand.Read(b[:]); err != nil {
			return 0, fmt.Errorf("read random: %w", err)
		}
		if int(b[0]) < limit {
			return int(b[0]) % n, nil
		}
	}
}
