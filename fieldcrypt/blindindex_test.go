package fieldcrypt_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/havencrm/haven/fieldcrypt"
)

var scope = fieldcrypt.IndexScope{Tenant: "t1", Object: "contact", Field: "mobile"}

func index(t *testing.T, k []byte, s fieldcrypt.IndexScope, v string) string {
	t.Helper()
	got, err := fieldcrypt.BlindIndex(k, s, v)
	if err != nil {
		t.Fatalf("BlindIndex: %v", err)
	}
	return got
}

func TestBlindIndexGolden(t *testing.T) {
	k := make([]byte, 32)
	for i := range k {
		k[i] = byte(i)
	}
	got := index(t, k, scope, "13812345678")
	// Independent construction of the documented format.
	m := hmac.New(sha256.New, k)
	m.Write([]byte("haven/blindindex/v1"))
	for _, p := range []string{"t1", "contact", "mobile", "13812345678"} {
		m.Write([]byte{0, 0, 0, byte(len(p))})
		m.Write([]byte(p))
	}
	if want := hex.EncodeToString(m.Sum(nil)[:16]); got != want {
		t.Errorf("BlindIndex = %s, format says %s", got, want)
	}
	// Frozen: changing this value orphans every stored index.
	if golden := "1197443f414cdb7b7ebc85d836b07a80"; got != golden {
		t.Errorf("BlindIndex changed: %s", got)
	}
	if len(got) != 2*fieldcrypt.IndexSize || strings.ToLower(got) != got {
		t.Errorf("shape %q", got)
	}
}

func TestBlindIndexSeparation(t *testing.T) {
	k1, k2 := key("idx1"), key("idx2")
	base := index(t, k1, scope, "13812345678")
	if again := index(t, k1, scope, "13812345678"); again != base {
		t.Error("not deterministic")
	}
	if index(t, k1, scope, fieldcrypt.NormalizePhone("+86 138-1234-5678")) != base {
		t.Error("normalised forms differ")
	}
	differ := map[string]string{
		"value":  index(t, k1, scope, "13812345679"),
		"key":    index(t, k2, scope, "13812345678"),
		"tenant": index(t, k1, fieldcrypt.IndexScope{Tenant: "t2", Object: "contact", Field: "mobile"}, "13812345678"),
		"object": index(t, k1, fieldcrypt.IndexScope{Tenant: "t1", Object: "lead", Field: "mobile"}, "13812345678"),
		"field":  index(t, k1, fieldcrypt.IndexScope{Tenant: "t1", Object: "contact", Field: "phone"}, "13812345678"),
		"shift":  index(t, k1, fieldcrypt.IndexScope{Tenant: "t1", Object: "contact", Field: "mobile1"}, "3812345678"),
	}
	for name, v := range differ {
		if v == base {
			t.Errorf("%s: same index", name)
		}
	}
}

func TestBlindIndexErrors(t *testing.T) {
	if _, err := fieldcrypt.BlindIndex(make([]byte, 31), scope, "x"); !errors.Is(err, fieldcrypt.ErrInvalidKey) {
		t.Errorf("short key: %v", err)
	}
	if _, err := fieldcrypt.BlindIndex(key("k"), scope, ""); !errors.Is(err, fieldcrypt.ErrEmptyValue) {
		t.Errorf("empty: %v", err)
	}
	for _, s := range []fieldcrypt.IndexScope{{}, {Tenant: "t1", Object: "contact"}, {Tenant: "t1", Field: "f"}, {Object: "o", Field: "f"}} {
		if _, err := fieldcrypt.BlindIndex(key("k"), s, "x"); !errors.Is(err, fieldcrypt.ErrInvalidBinding) {
			t.Errorf("scope %+v: %v", s, err)
		}
	}
	if _, err := fieldcrypt.BlindIndex(key("k"), scope, strings.Repeat("x", fieldcrypt.MaxPlaintext+1)); !errors.Is(err, fieldcrypt.ErrTooLarge) {
		t.Errorf("large: %v", err)
	}
	// Longer keys are fine (HMAC).
	if _, err := fieldcrypt.BlindIndex(make([]byte, 64), scope, "x"); err != nil {
		t.Errorf("64-byte key: %v", err)
	}
}

func TestNormalizePhone(t *testing.T) {
	cases := map[string]string{
		"13812345678":         "13812345678",
		"138 1234 5678":       "13812345678",
		"138-1234-5678":       "13812345678",
		"+86 138 1234 5678":   "13812345678",
		"+86-13812345678":     "13812345678",
		"+8613812345678":      "13812345678",
		"008613812345678":     "13812345678",
		"0086 138 1234 5678":  "13812345678",
		"8613812345678":       "13812345678",
		"(+86) 13812345678":   "13812345678",
		"１３８１２３４５６７８":         "13812345678",
		"010-62345678":        "01062345678",
		"(010) 6234 5678":     "01062345678",
		"+86 10 6234 5678":    "01062345678",
		"0086 10 62345678":    "01062345678",
		"+86 0755 1234 5678":  "075512345678",
		"+86 755 1234 5678":   "075512345678",
		"+1 415 555 0100":     "+14155550100",
		"001 415 555 0100":    "+14155550100",
		"+44 20 7946 0958":    "+442079460958",
		"62345678":            "62345678",
		"861234":              "861234",
		"":                    "",
		"no digits":           "",
		"+":                   "",
		"00":                  "",
		"+86":                 "+86",
		"tel: 138-1234-5678 ": "13812345678",
		"138\xff12345678":     "13812345678",
	}
	for in, want := range cases {
		if got := fieldcrypt.NormalizePhone(in); got != want {
			t.Errorf("NormalizePhone(%q) = %q, want %q", in, got, want)
		}
		if got := fieldcrypt.NormalizePhone(fieldcrypt.NormalizePhone(in)); got != fieldcrypt.NormalizePhone(in) {
			t.Errorf("NormalizePhone not idempotent on %q: %q", in, got)
		}
	}
}

func TestNormalizeEmail(t *testing.T) {
	cases := map[string]string{
		"Alice@Example.COM":           "alice@example.com",
		"  alice@example.com\t\n":     "alice@example.com",
		"alice+crm@example.com":       "alice+crm@example.com",
		"a.lice@example.com":          "a.lice@example.com",
		"ａｌｉｃｅ＠ｅｘａｍｐｌｅ．ｃｏｍ":           "alice@example.com",
		"\u3000bob@example.com\u3000": "bob@example.com",
		"":                            "",
	}
	for in, want := range cases {
		if got := fieldcrypt.NormalizeEmail(in); got != want {
			t.Errorf("NormalizeEmail(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNormalizeText(t *testing.T) {
	cases := map[string]string{
		"  Acme   Corp ": "acme corp",
		"ACME\tCORP":     "acme corp",
		"上海　汉文 ":         "上海 汉文",
		"ＡＣＭＥ":           "acme",
		"Straße":         "straße", // only ASCII letters fold
		"ÉCOLE":          "École",
		"":               "",
		"   ":            "",
		"a\xffb":         "a\ufffdb",
	}
	for in, want := range cases {
		if got := fieldcrypt.NormalizeText(in); got != want {
			t.Errorf("NormalizeText(%q) = %q, want %q", in, got, want)
		}
	}
}
