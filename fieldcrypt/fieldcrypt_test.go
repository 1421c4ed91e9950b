package fieldcrypt_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/havencrm/haven/fieldcrypt"
	"github.com/havencrm/haven/tenant"
)

// keys is an in-memory KeySource: per tenant, keys by term.
type keys struct {
	current map[tenant.ID]uint32
	byTerm  map[tenant.ID]map[uint32][]byte
}

var errNoKey = errors.New("no such key")

func (k *keys) CurrentKey(_ context.Context, t tenant.ID) (uint32, []byte, error) {
	term, ok := k.current[t]
	if !ok {
		return 0, nil, errNoKey
	}
	return term, k.byTerm[t][term], nil
}

func (k *keys) KeyForTerm(_ context.Context, t tenant.ID, term uint32) ([]byte, error) {
	key, ok := k.byTerm[t][term]
	if !ok {
		return nil, errNoKey
	}
	return key, nil
}

func key(seed string) []byte {
	s := sha256.Sum256([]byte(seed))
	return s[:]
}

// newKeys gives tenants "t1" and "t2" one key each under term 1.
func newKeys() *keys {
	return &keys{
		current: map[tenant.ID]uint32{"t1": 1, "t2": 1},
		byTerm: map[tenant.ID]map[uint32][]byte{
			"t1": {1: key("t1/1")},
			"t2": {1: key("t2/1")},
		},
	}
}

func (k *keys) rotate(t tenant.ID, term uint32) {
	k.byTerm[t][term] = key(fmt.Sprintf("%s/%d", t, term))
	k.current[t] = term
}

var (
	ctx  = context.Background()
	bind = fieldcrypt.Binding{Tenant: "t1", Object: "contact", RecordID: "0190a0a0-0000-7000-8000-000000000001", Field: "mobile"}
)

func mustEncrypt(t *testing.T, ks fieldcrypt.KeySource, b fieldcrypt.Binding, pt []byte) string {
	t.Helper()
	env, err := fieldcrypt.Encrypt(ctx, ks, b, pt)
	if err != nil {
		t.Fatalf("Encrypt: %v", err)
	}
	return env
}

func TestRoundTrip(t *testing.T) {
	ks := newKeys()
	large := bytes.Repeat([]byte("张三 13812345678 "), 1<<16) // ~1.3 MiB
	for name, pt := range map[string][]byte{
		"empty":   {},
		"short":   []byte("13812345678"),
		"unicode": []byte("上海市浦东新区张江路88号"),
		"binary":  {0, 1, 2, 0xff, 0xfe},
		"large":   large,
	} {
		t.Run(name, func(t *testing.T) {
			env := mustEncrypt(t, ks, bind, pt)
			if !strings.HasPrefix(env, fieldcrypt.Prefix) || !fieldcrypt.IsEnvelope(env) {
				t.Fatalf("not an envelope: %.40q", env)
			}
			if len(pt) >= 4 && strings.Contains(env, string(pt[:4])) && name != "binary" {
				t.Errorf("envelope contains plaintext")
			}
			got, err := fieldcrypt.Decrypt(ctx, ks, bind, env)
			if err != nil {
				t.Fatalf("Decrypt: %v", err)
			}
			if got == nil || !bytes.Equal(got, pt) {
				t.Fatalf("round trip: got %d bytes, want %d", len(got), len(pt))
			}
		})
	}
}

func TestEnvelopeLayout(t *testing.T) {
	ks := newKeys()
	ks.rotate("t1", 300) // two-byte varint
	env := mustEncrypt(t, ks, bind, []byte("abc"))
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(env, "hv1:"))
	if err != nil {
		t.Fatal(err)
	}
	if raw[0] != 1 {
		t.Errorf("version byte %d", raw[0])
	}
	term, n := binary.Uvarint(raw[1:])
	if term != 300 || n != 2 {
		t.Errorf("term %d (%d bytes)", term, n)
	}
	if want := 1 + 2 + 12 + 3 + 16; len(raw) != want {
		t.Errorf("len %d, want %d", len(raw), want)
	}
	if got, err := fieldcrypt.Term(env); err != nil || got != 300 {
		t.Errorf("Term = %d, %v", got, err)
	}
	// Values under the old term still decrypt after rotation.
	ks2 := newKeys()
	old := mustEncrypt(t, ks2, bind, []byte("old"))
	ks2.rotate("t1", 2)
	if got, err := fieldcrypt.Term(old); err != nil || got != 1 {
		t.Errorf("Term(old) = %d, %v", got, err)
	}
	if got, err := fieldcrypt.Decrypt(ctx, ks2, bind, old); err != nil || string(got) != "old" {
		t.Errorf("old term: %q, %v", got, err)
	}
	if got, _ := fieldcrypt.Term(mustEncrypt(t, ks2, bind, []byte("new"))); got != 2 {
		t.Errorf("new term %d", got)
	}
}

func TestNonceUnique(t *testing.T) {
	ks := newKeys()
	seen := map[string]bool{}
	for range 100 {
		env := mustEncrypt(t, ks, bind, []byte("13812345678"))
		if seen[env] {
			t.Fatal("two encryptions of the same plaintext are equal")
		}
		seen[env] = true
	}
}

func TestTamper(t *testing.T) {
	ks := newKeys()
	env := mustEncrypt(t, ks, bind, []byte("13812345678"))
	raw, _ := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(env, fieldcrypt.Prefix))
	for i := range raw {
		for _, bit := range []byte{0x01, 0x80, 0xff} {
			c := bytes.Clone(raw)
			c[i] ^= bit
			forged := fieldcrypt.Prefix + base64.RawURLEncoding.EncodeToString(c)
			if _, err := fieldcrypt.Decrypt(ctx, ks, bind, forged); !errors.Is(err, fieldcrypt.ErrUndecryptable) {
				t.Fatalf("byte %d ^ %#x: err = %v", i, bit, err)
			}
		}
	}
	// Every character of the text form too (strict base64: no
	// alternative encodings of the same bytes).
	for i := range env {
		for _, r := range []byte{'A', 'B', 'Q', 'g', '_', '-', ':', '='} {
			if env[i] == r {
				continue
			}
			forged := env[:i] + string(r) + env[i+1:]
			if _, err := fieldcrypt.Decrypt(ctx, ks, bind, forged); !errors.Is(err, fieldcrypt.ErrUndecryptable) {
				t.Fatalf("char %d -> %q: err = %v", i, r, err)
			}
		}
	}
	// Truncation and extension.
	for _, forged := range []string{env[:len(env)-1], env[:len(env)-4], env + "A", env + "AAAA"} {
		if _, err := fieldcrypt.Decrypt(ctx, ks, bind, forged); !errors.Is(err, fieldcrypt.ErrUndecryptable) {
			t.Fatalf("resized: err = %v", err)
		}
	}
}

func TestBindingSwap(t *testing.T) {
	ks := newKeys()
	// Give t2 the same key as t1, so only the binding tells them apart.
	ks.byTerm["t2"][1] = ks.byTerm["t1"][1]
	env := mustEncrypt(t, ks, bind, []byte("13812345678"))
	others := map[string]fieldcrypt.Binding{}
	o := bind
	o.Tenant = "t2"
	others["tenant"] = o
	o = bind
	o.Object = "lead"
	others["object"] = o
	o = bind
	o.RecordID = "0190a0a0-0000-7000-8000-000000000002"
	others["record"] = o
	o = bind
	o.Field = "phone"
	others["field"] = o
	// Shifting bytes between parts must not produce the same associated data.
	others["shift object/record"] = fieldcrypt.Binding{Tenant: bind.Tenant, Object: bind.Object + bind.RecordID[:1], RecordID: bind.RecordID[1:], Field: bind.Field}
	others["shift record/field"] = fieldcrypt.Binding{Tenant: bind.Tenant, Object: bind.Object, RecordID: bind.RecordID + "m", Field: "obile"}
	others["shift tenant/object"] = fieldcrypt.Binding{Tenant: "t1c", Object: "ontact", RecordID: bind.RecordID, Field: bind.Field}
	for name, b := range others {
		if _, err := fieldcrypt.Decrypt(ctx, ks, b, env); !errors.Is(err, fieldcrypt.ErrUndecryptable) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

func TestWrongKeyAndUnknownTerm(t *testing.T) {
	ks := newKeys()
	env := mustEncrypt(t, ks, bind, []byte("secret-13812345678"))

	wrong := newKeys()
	wrong.byTerm["t1"][1] = key("attacker")
	_, err := fieldcrypt.Decrypt(ctx, wrong, bind, env)
	if !errors.Is(err, fieldcrypt.ErrUndecryptable) {
		t.Errorf("wrong key: %v", err)
	}
	checkSafe(t, err)

	gone := newKeys()
	delete(gone.byTerm["t1"], 1) // crypto-shredded
	_, err = fieldcrypt.Decrypt(ctx, gone, bind, env)
	if !errors.Is(err, fieldcrypt.ErrUndecryptable) || !errors.Is(err, errNoKey) {
		t.Errorf("unknown term: %v", err)
	}
	checkSafe(t, err)
}

func checkSafe(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	msg := err.Error()
	for _, secret := range []string{"secret", "13812345678", string(key("t1/1")), fmt.Sprintf("%x", key("t1/1")), "hv1:"} {
		if strings.Contains(msg, secret) {
			t.Errorf("error %q leaks %q", msg, secret)
		}
	}
}

func TestBadKeys(t *testing.T) {
	for _, n := range []int{0, 16, 24, 31, 33, 64} {
		ks := newKeys()
		ks.byTerm["t1"][1] = make([]byte, n)
		if _, err := fieldcrypt.Encrypt(ctx, ks, bind, []byte("x")); !errors.Is(err, fieldcrypt.ErrInvalidKey) {
			t.Errorf("Encrypt with %d-byte key: %v", n, err)
		}
		good := mustEncrypt(t, newKeys(), bind, []byte("x"))
		if _, err := fieldcrypt.Decrypt(ctx, ks, bind, good); !errors.Is(err, fieldcrypt.ErrUndecryptable) || !errors.Is(err, fieldcrypt.ErrInvalidKey) {
			t.Errorf("Decrypt with %d-byte key: %v", n, err)
		}
	}
	ks := newKeys()
	delete(ks.current, "t1")
	if _, err := fieldcrypt.Encrypt(ctx, ks, bind, []byte("x")); !errors.Is(err, errNoKey) {
		t.Errorf("no current key: %v", err)
	}
}

func TestInvalidBindingAndSize(t *testing.T) {
	ks := newKeys()
	env := mustEncrypt(t, ks, bind, []byte("x"))
	for _, b := range []fieldcrypt.Binding{
		{},
		{Object: "contact", RecordID: "r", Field: "f"},
		{Tenant: "t1", RecordID: "r", Field: "f"},
		{Tenant: "t1", Object: "contact", Field: "f"},
		{Tenant: "t1", Object: "contact", RecordID: "r"},
		{Tenant: "t1", Object: "contact", RecordID: "r", Field: strings.Repeat("f", 5000)},
	} {
		if _, err := fieldcrypt.Encrypt(ctx, ks, b, []byte("x")); !errors.Is(err, fieldcrypt.ErrInvalidBinding) {
			t.Errorf("Encrypt(%+.20v): %v", b, err)
		}
		if _, err := fieldcrypt.Decrypt(ctx, ks, b, env); !errors.Is(err, fieldcrypt.ErrInvalidBinding) {
			t.Errorf("Decrypt(%+.20v): %v", b, err)
		}
	}
	if _, err := fieldcrypt.Encrypt(ctx, ks, bind, make([]byte, fieldcrypt.MaxPlaintext+1)); !errors.Is(err, fieldcrypt.ErrTooLarge) {
		t.Errorf("too large: %v", err)
	}
}

func TestParseErrors(t *testing.T) {
	ks := newKeys()
	enc := func(raw []byte) string { return "hv1:" + base64.RawURLEncoding.EncodeToString(raw) }
	body := make([]byte, 12+16)
	cases := map[string]struct {
		s    string
		want error
	}{
		"empty":              {"", fieldcrypt.ErrMalformed},
		"plaintext":          {"13812345678", fieldcrypt.ErrMalformed},
		"json-like":          {`{"a":1}`, fieldcrypt.ErrMalformed},
		"other prefix":       {"hv2:" + strings.TrimPrefix(enc(append([]byte{1, 1}, body...)), "hv1:"), fieldcrypt.ErrMalformed},
		"upper prefix":       {"HV1:" + strings.TrimPrefix(enc(append([]byte{1, 1}, body...)), "hv1:"), fieldcrypt.ErrMalformed},
		"prefix only":        {"hv1:", fieldcrypt.ErrMalformed},
		"bad base64":         {"hv1:!!!!", fieldcrypt.ErrMalformed},
		"padded base64":      {"hv1:AQ==", fieldcrypt.ErrMalformed},
		"std alphabet":       {"hv1:" + base64.RawStdEncoding.EncodeToString(append([]byte{1, 0xfb, 0xff, 0x03}, body...)), fieldcrypt.ErrMalformed},
		"whitespace":         {" " + enc(append([]byte{1, 1}, body...)), fieldcrypt.ErrMalformed},
		"inner newline":      {enc(append([]byte{1, 1}, body...))[:10] + "\n" + enc(append([]byte{1, 1}, body...))[10:], fieldcrypt.ErrMalformed},
		"inner CR":           {enc(append([]byte{1, 1}, body...))[:10] + "\r" + enc(append([]byte{1, 1}, body...))[10:], fieldcrypt.ErrMalformed},
		"version only":       {enc([]byte{1}), fieldcrypt.ErrMalformed},
		"version 0":          {enc(append([]byte{0, 1}, body...)), fieldcrypt.ErrUnsupportedVersion},
		"version 2":          {enc(append([]byte{2, 1}, body...)), fieldcrypt.ErrUnsupportedVersion},
		"too short":          {enc(append([]byte{1, 1}, body[:27]...)), fieldcrypt.ErrMalformed},
		"unterminated term":  {enc([]byte{1, 0x80, 0x80}), fieldcrypt.ErrMalformed},
		"term over 32 bits":  {enc(append([]byte{1, 0x80, 0x80, 0x80, 0x80, 0x10}, body...)), fieldcrypt.ErrMalformed},
		"non-minimal term":   {enc(append([]byte{1, 0x81, 0x00}, body...)), fieldcrypt.ErrMalformed},
		"overlong varint":    {enc(append([]byte{1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, body...)), fieldcrypt.ErrMalformed},
		"too long to decode": {"hv1:" + strings.Repeat("A", 23<<20), fieldcrypt.ErrMalformed},
	}
	for name, c := range cases {
		if fieldcrypt.IsEnvelope(c.s) {
			t.Errorf("%s: IsEnvelope true", name)
		}
		if _, err := fieldcrypt.Term(c.s); !errors.Is(err, c.want) {
			t.Errorf("%s: Term err = %v, want %v", name, err, c.want)
		}
		_, err := fieldcrypt.Decrypt(ctx, ks, bind, c.s)
		if !errors.Is(err, fieldcrypt.ErrUndecryptable) || !errors.Is(err, c.want) {
			t.Errorf("%s: Decrypt err = %v", name, err)
		}
	}
	// A structurally valid envelope with the maximum term parses.
	max := enc(append([]byte{1, 0xff, 0xff, 0xff, 0xff, 0x0f}, body...))
	if got, err := fieldcrypt.Term(max); err != nil || got != 1<<32-1 {
		t.Errorf("max term: %d, %v", got, err)
	}
}

func TestVersionByteIsAuthenticated(t *testing.T) {
	// A future version 2 reader must not accept a version 1 body relabelled;
	// here: relabelling is refused before any key is fetched.
	ks := newKeys()
	env := mustEncrypt(t, ks, bind, []byte("x"))
	raw, _ := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(env, "hv1:"))
	raw[0] = 2
	_, err := fieldcrypt.Decrypt(ctx, ks, bind, "hv1:"+base64.RawURLEncoding.EncodeToString(raw))
	if !errors.Is(err, fieldcrypt.ErrUnsupportedVersion) {
		t.Errorf("err = %v", err)
	}
}

func TestTermIsAuthenticated(t *testing.T) {
	// Two terms holding the same key: moving the value to the other term
	// must still fail, because the term is part of the associated data.
	ks := newKeys()
	ks.byTerm["t1"][2] = ks.byTerm["t1"][1]
	env := mustEncrypt(t, ks, bind, []byte("x"))
	raw, _ := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(env, "hv1:"))
	raw[1] = 2
	if _, err := fieldcrypt.Decrypt(ctx, ks, bind, "hv1:"+base64.RawURLEncoding.EncodeToString(raw)); !errors.Is(err, fieldcrypt.ErrUndecryptable) {
		t.Errorf("err = %v", err)
	}
}

// goldenEnvelope was written by this package (version 1) with newKeys and
// bind; it must keep decrypting in every later version.
const goldenEnvelope = "hv1:AQFLOk_L-u2jS2dIQ_q9Y90wDcO4OpX43-ByT-3wOYVTbjeaFEl7k88"

func TestGoldenEnvelope(t *testing.T) {
	got, err := fieldcrypt.Decrypt(ctx, newKeys(), bind, goldenEnvelope)
	if err != nil || string(got) != "13812345678" {
		t.Fatalf("golden envelope: %q, %v", got, err)
	}
}

func FuzzDecrypt(f *testing.F) {
	ks := newKeys()
	env := goldenEnvelope
	for _, s := range []string{"", "hv1:", env, env[:30], "hv1:AQE", "hv1:" + strings.Repeat("A", 40)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_, _ = fieldcrypt.Term(s)
		ok := fieldcrypt.IsEnvelope(s)
		pt, err := fieldcrypt.Decrypt(ctx, ks, bind, s)
		if err == nil && (s != env || string(pt) != "13812345678") {
			t.Fatalf("forged envelope accepted: %q", s)
		}
		if err == nil && !ok {
			t.Fatal("decrypted but not IsEnvelope")
		}
	})
}
