package identity_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/havencrm/haven/identity"
)

var cheap = identity.HashParams{MemoryKiB: 8192, Iterations: 1, Parallelism: 1}

func newHasher(t testing.TB) *identity.Hasher {
	t.Helper()
	h, err := identity.NewHasher(cheap)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// verify calls Verify and turns a panic into a test failure, since a
// hash that makes Verify panic does not fail closed.
func verify(t *testing.T, h *identity.Hasher, encoded, password string) (ok bool) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("Verify(%q) panicked: %v", encoded, r)
			ok = false
		}
	}()
	return h.Verify(encoded, password)
}

func TestHashVerifyRoundTrip(t *testing.T) {
	h := newHasher(t)
	for _, pw := range []string{"correct horse battery", "密码很长很长很长", strings.Repeat("x", identity.MaxPasswordBytes), "with $ dollar and , comma"} {
		enc, err := h.Hash(pw)
		if err != nil {
			t.Fatal(err)
		}
		if !verify(t, h, enc, pw) {
			t.Errorf("round trip failed for %q", pw)
		}
		if strings.Contains(enc, pw) {
			t.Errorf("hash contains the password")
		}
	}
}

func TestWrongPasswordFails(t *testing.T) {
	h := newHasher(t)
	enc, _ := h.Hash("correct horse battery")
	for _, pw := range []string{"", "correct horse batter", "correct horse battery ", "Correct horse battery", "correct horse battery\x00"} {
		if verify(t, h, enc, pw) {
			t.Errorf("Verify accepted %q", pw)
		}
	}
}

func TestHashFormat(t *testing.T) {
	h := newHasher(t)
	enc, _ := h.Hash("correct horse battery")
	re := regexp.MustCompile(`^\$argon2id\$v=19\$m=8192,t=1,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)
	if !re.MatchString(enc) {
		t.Fatalf("hash %q is not PHC argon2id with the configured parameters", enc)
	}
	// Parameters come from the hasher.
	h2, _ := identity.NewHasher(identity.HashParams{MemoryKiB: 9000, Iterations: 2, Parallelism: 2})
	enc2, _ := h2.Hash("x")
	if !strings.HasPrefix(enc2, "$argon2id$v=19$m=9000,t=2,p=2$") {
		t.Fatalf("hash %q", enc2)
	}
	// A hash made with other parameters still verifies (parameters are read
	// from the hash, so they can be raised later).
	if !verify(t, h, enc2, "x") {
		t.Fatal("hash with other parameters did not verify")
	}
}

func TestHashesAreSalted(t *testing.T) {
	h := newHasher(t)
	a, _ := h.Hash("same password")
	b, _ := h.Hash("same password")
	if a == b {
		t.Fatal("two hashes of the same password are equal")
	}
	sa := strings.Split(a, "$")[4]
	sb := strings.Split(b, "$")[4]
	if sa == sb {
		t.Fatal("salts are equal")
	}
}

func TestTamperedAndGarbageHashesFailClosed(t *testing.T) {
	h := newHasher(t)
	pw := "correct horse battery"
	enc, _ := h.Hash(pw)
	parts := strings.Split(enc, "$")
	flip := func(s string) string {
		b := []byte(s)
		if b[5] == 'A' {
			b[5] = 'B'
		} else {
			b[5] = 'A'
		}
		return string(b)
	}
	join := func(p ...string) string { return strings.Join(p, "$") }
	cases := map[string]string{
		"empty":             "",
		"garbage":           "garbage",
		"plaintext":         pw,
		"bcrypt":            "$2a$10$abcdefghijklmnopqrstuuJ9z8jV0S0cfkjD8n3rK1R2Y2nYc4b1S",
		"argon2i":           join("", "argon2i", parts[2], parts[3], parts[4], parts[5]),
		"other version":     join("", "argon2id", "v=16", parts[3], parts[4], parts[5]),
		"tampered salt":     join("", "argon2id", parts[2], parts[3], flip(parts[4]), parts[5]),
		"tampered key":      join("", "argon2id", parts[2], parts[3], parts[4], flip(parts[5])),
		"changed params":    join("", "argon2id", parts[2], "m=8192,t=2,p=1", parts[4], parts[5]),
		"bad params":        join("", "argon2id", parts[2], "m=x,t=1,p=1", parts[4], parts[5]),
		"bad base64 salt":   join("", "argon2id", parts[2], parts[3], "!!!", parts[5]),
		"bad base64 key":    join("", "argon2id", parts[2], parts[3], parts[4], "!!!"),
		"short key":         join("", "argon2id", parts[2], parts[3], parts[4], "AAAA"),
		"empty key":         join("", "argon2id", parts[2], parts[3], parts[4], ""),
		"extra field":       enc + "$x",
		"missing field":     join("", "argon2id", parts[2], parts[3], parts[4]),
		"parallelism > 255": join("", "argon2id", parts[2], "m=8192,t=1,p=256", parts[4], parts[5]),
		// Zero cost parameters make argon2.IDKey panic unless rejected.
		"zero iterations":  join("", "argon2id", parts[2], "m=8192,t=0,p=1", parts[4], parts[5]),
		"zero parallelism": join("", "argon2id", parts[2], "m=8192,t=1,p=0", parts[4], parts[5]),
	}
	for name, encoded := range cases {
		t.Run(name, func(t *testing.T) {
			if verify(t, h, encoded, pw) {
				t.Fatalf("Verify accepted %q", encoded)
			}
		})
	}
}

func TestNewHasherRejectsWeakParams(t *testing.T) {
	for _, p := range []identity.HashParams{
		{MemoryKiB: 8191, Iterations: 1, Parallelism: 1},
		{MemoryKiB: 8192, Iterations: 0, Parallelism: 1},
		{MemoryKiB: 8192, Iterations: 1, Parallelism: 0},
		{},
	} {
		if _, err := identity.NewHasher(p); err == nil {
			t.Errorf("NewHasher(%+v) accepted", p)
		}
	}
	if _, err := identity.NewHasher(identity.DefaultHashParams); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyDummyAlwaysFalse(t *testing.T) {
	h := newHasher(t)
	for _, pw := range []string{"", "password", "correct horse battery", strings.Repeat("a", 256)} {
		if h.VerifyDummy(pw) {
			t.Fatalf("VerifyDummy(%q) = true", pw)
		}
	}
}

func TestCheckPassword(t *testing.T) {
	mlps3, _ := identity.PresetSettings(identity.PresetMLPS3)
	nist, _ := identity.PresetSettings(identity.PresetNIST)
	strict := mlps3
	strict.PasswordMinLength, strict.PasswordClasses, strict.PasswordMaxLength = 12, 4, 64
	long := nist
	long.PasswordMaxLength = 128
	bob := identity.User{Email: "bob.smith@example.com", Name: "Bob Smith"}
	alice := identity.User{Phone: "+8613800138000", Name: "Alice"}
	li := identity.User{Email: "li@example.com", Name: "Li Na"}
	wang := identity.User{Email: "w@example.com", Name: "王小明"}
	cases := []struct {
		name string
		s    identity.SecuritySettings
		u    identity.User
		pw   string
		want []string // violation codes, in order; nil: none
	}{
		{"ok under nist", nist, bob, "correct horse battery", nil},
		{"ok under mlps3", mlps3, bob, "Correct horse battery", nil},
		{"exactly 8, 3 classes", mlps3, li, "Kxqmvpz7", nil},
		{"7 characters", mlps3, li, "Kxqmvp7", []string{"min_length"}},
		{"8 runes of CJK count as 8 under nist", nist, li, "密码密码密码密码", nil},
		{"7 runes of CJK (21 bytes)", nist, li, "密码密码密码密", []string{"min_length"}},
		{"CJK counts as the symbol class", mlps3, li, "密码Secret1", nil},
		{"empty", mlps3, li, "", []string{"min_length", "classes"}},
		{"minimum from the settings", strict, li, "Abcdefgh-12", []string{"min_length"}},
		{"maximum from the settings", nist, li, strings.Repeat("Ab1-", 16) + "x", []string{"max_length"}},
		{"over 256 bytes", long, li, strings.Repeat("密", 90), []string{"max_bytes"}},
		{"invalid utf8", nist, li, "abcdefgh\xff\xfe", []string{"invalid_text"}},
		{"control character", nist, li, "abcd\nefgh", []string{"invalid_text"}},
		{"two classes under mlps3", mlps3, li, "abcdefgh12", []string{"classes"}},
		{"three classes under strict", strict, li, "Abcdefgh1234", []string{"classes"}},
		{"four classes under strict", strict, li, "Abcdefgh-1234", nil},
		{"contains the e-mail local part", nist, bob, "xxBOB.SMITH12345", []string{"contains_login", "contains_name"}},
		{"contains a piece of the local part", nist, bob, "hello-smith-2026", []string{"contains_login", "contains_name"}},
		{"contains the phone", nist, alice, "pw8613800138000", []string{"contains_login"}},
		{"contains the phone without the country code", nist, alice, "pw13800138000x", []string{"contains_login"}},
		{"contains the name case-insensitively", nist, alice, "iamALICEwonder", []string{"contains_name"}},
		{"contains a CJK name", nist, wang, "我是王小明啊啊啊", []string{"contains_name"}},
		{"short name parts ignored", nist, li, "nana-lili-99", nil},
		{"contains the name without spaces", nist, li, "xlinax-99", []string{"contains_name"}},
		{"domain is not the login", nist, bob, "example.com-rocks", nil},
		{"common password", nist, li, "iloveyou", []string{"common"}},
		{"common password in other case", nist, li, "PassWord", []string{"common"}},
		{"common password with classes", mlps3, li, "Password1", []string{"common"}},
		{"common check off", func() identity.SecuritySettings { s := nist; s.PasswordCheckCommon = false; return s }(), li, "iloveyou", nil},
		{"several violations", strict, bob, "bob", []string{"min_length", "classes", "contains_login", "contains_name", "common"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := c.s.CheckPassword(c.pw, c.u)
			var codes []string
			for _, v := range got {
				codes = append(codes, v.Code)
				if v.Message == "" {
					t.Errorf("violation %s has no message", v.Code)
				}
			}
			if strings.Join(codes, ",") != strings.Join(c.want, ",") {
				t.Fatalf("violations %v, want %v (%+v)", codes, c.want, got)
			}
		})
	}
	// The messages carry the numbers of the settings.
	vs := strict.CheckPassword("Ab1", li)
	if len(vs) == 0 || !strings.Contains(vs[0].Message, "12") || !strings.Contains(vs[1].Message, "4") {
		t.Errorf("messages %+v", vs)
	}
}

func TestOneTimePassword(t *testing.T) {
	// The strictest policy the bounds allow for classes, with a long
	// minimum, the common-password check and the login/name rules.
	strictest, _ := identity.PresetSettings(identity.PresetMLPS3)
	strictest.Preset, strictest.PasswordMinLength, strictest.PasswordClasses = identity.PresetCustom, 16, 4
	if err := strictest.Validate(); err != nil {
		t.Fatal(err)
	}
	u := identity.User{Email: "qa.tester@example.com", Name: "Zhiqiang Wuxiandong"} // long parts: a random match is negligible
	seen := map[string]bool{}
	symbols := 0
	for i := 0; i < 2000; i++ {
		p, err := identity.OneTimePassword()
		if err != nil {
			t.Fatal(err)
		}
		if len(p) != 16 {
			t.Fatalf("length %d: %q", len(p), p)
		}
		for _, r := range p {
			if !strings.ContainsRune(identity.OneTimePasswordAlphabet, r) {
				t.Fatalf("%q contains %q outside the alphabet", p, r)
			}
		}
		if strings.ContainsAny(p, "0O1lI|,;:'\"`$!&?#%+/=\\ ~*^(){}[]<>") {
			t.Fatalf("%q contains a look-alike or a character awkward in a shell or URL", p)
		}
		if strings.ContainsAny(p[:1]+p[len(p)-1:], "-._") {
			t.Fatalf("%q starts or ends with a symbol", p)
		}
		if c := identity.PasswordClasses(p); len(c) != 4 {
			t.Fatalf("%q has classes %v", p, c)
		}
		if strings.ContainsAny(p, "-._") {
			symbols++
		}
		if seen[p] {
			t.Fatalf("duplicate one-time password %q", p)
		}
		seen[p] = true
		// A one-time password passes the strictest rules itself.
		if v := strictest.CheckPassword(p, u); len(v) != 0 {
			t.Fatalf("%q violates %+v", p, v)
		}
	}
	if symbols != 2000 {
		t.Fatalf("only %d of 2000 have a symbol", symbols)
	}
}

func TestNormalizeEmail(t *testing.T) {
	cases := []struct {
		in, want string
		ok       bool
	}{
		{"bob@example.com", "bob@example.com", true},
		{"  Bob@Example.COM ", "bob@example.com", true},
		{"a.b+tag@sub.example.cn", "a.b+tag@sub.example.cn", true},
		{"", "", false},
		{"   ", "", false},
		{"bob", "", false},
		{"bob@", "", false},
		{"@example.com", "", false},
		{"Bob <bob@example.com>", "", false},
		{"<bob@example.com>", "", false},
		{"bob@example.com, eve@example.com", "", false},
		{"bob@exa mple.com", "", false},
		{"bob@example.com\nBcc: eve@example.com", "", false},
		{strings.Repeat("a", 64) + "@" + strings.Repeat("b", 190) + ".com", "", false}, // 259 chars
	}
	for _, c := range cases {
		got, ok := identity.NormalizeEmail(c.in)
		if got != c.want || ok != c.ok {
			t.Errorf("NormalizeEmail(%q) = %q %v, want %q %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

func TestNormalizePhone(t *testing.T) {
	cases := []struct {
		in, want string
		ok       bool
	}{
		{"13800138000", "13800138000", true},
		{"+86 138-0013-8000", "+8613800138000", true},
		{"(010) 1234.5678", "01012345678", true},
		{" 12345 ", "12345", true},
		{"1234", "", false},
		{"+" + strings.Repeat("1", 20), "+" + strings.Repeat("1", 20), true},
		{strings.Repeat("1", 21), "", false},
		{"", "", false},
		{"abcdefg", "", false},
		{"++8613800138000", "", false},
		{"138+00138000", "", false},
		{"１３８００１３８０００", "", false}, // full-width digits
		{"13800138000\n", "13800138000", true},
		{"138001380x0", "", false},
	}
	for _, c := range cases {
		got, ok := identity.NormalizePhone(c.in)
		if got != c.want || ok != c.ok {
			t.Errorf("NormalizePhone(%q) = %q %v, want %q %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

func TestNormalizeLogin(t *testing.T) {
	cases := []struct {
		in, want string
		ok       bool
	}{
		{"Bob@Example.com", "bob@example.com", true},
		{"+86 138 0013 8000", "+8613800138000", true},
		{"bob", "", false},
		{"bob@", "", false},
		{"", "", false},
	}
	for _, c := range cases {
		got, ok := identity.NormalizeLogin(c.in)
		if got != c.want || ok != c.ok {
			t.Errorf("NormalizeLogin(%q) = %q %v, want %q %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

func TestUserLogin(t *testing.T) {
	if got := (identity.User{Email: "a@b.c", Phone: "123456"}).Login(); got != "a@b.c" {
		t.Fatal(got)
	}
	if got := (identity.User{Phone: "123456"}).Login(); got != "123456" {
		t.Fatal(got)
	}
}
