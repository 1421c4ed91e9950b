package identity

import (
	"testing"
	"time"
)

func TestNewRecoveryCodeIsUniformDigits(t *testing.T) {
	const n = 20000
	var first [10]int
	seen := map[string]bool{}
	for range n {
		c, err := newRecoveryCode()
		if err != nil {
			t.Fatal(err)
		}
		if len(c) != RecoveryCodeDigits {
			t.Fatalf("code %q", c)
		}
		for i := 0; i < len(c); i++ {
			if c[i] < '0' || c[i] > '9' {
				t.Fatalf("code %q", c)
			}
		}
		first[c[0]-'0']++
		seen[c] = true
	}
	// Leading zeros are kept, and each leading digit appears about a tenth
	// of the time (2000 ± 5 sigma).
	for d, k := range first {
		if k < 1790 || k > 2210 {
			t.Errorf("leading digit %d drawn %d times of %d", d, k, n)
		}
	}
	if len(seen) < n*97/100 {
		t.Errorf("only %d distinct codes of %d", len(seen), n)
	}
}

func TestNormalizeRecoveryCode(t *testing.T) {
	for in, want := range map[string]string{
		"042917": "042917", " 042 917 ": "042917", "042-917": "042917", "０４２９１７": "042917", "042\u3000917": "042917",
	} {
		if got, ok := normalizeRecoveryCode(in); !ok || got != want {
			t.Errorf("%q -> %q %v", in, got, ok)
		}
	}
	for _, in := range []string{"", "04291", "0429170", "04291a", "٠٤٢٩١٧", "042917\x00"} {
		if _, ok := normalizeRecoveryCode(in); ok {
			t.Errorf("%q accepted", in)
		}
	}
}

func TestIPKey(t *testing.T) {
	for in, want := range map[string]string{
		"203.0.113.7":          "203.0.113.7",
		"::ffff:203.0.113.7":   "203.0.113.7",
		"2001:db8:1:2:3:4:5:6": "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff::1": "2001:db8:1:2::/64",
		"":                     "unknown",
		"not an ip":            "unknown",
		"fe80::1%eth0":         "fe80::/64",
	} {
		if got := ipKey(in); got != want {
			t.Errorf("ipKey(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRecoveryRateLimitedError(t *testing.T) {
	for d, want := range map[int64]int64{0: 1, 1: 1, 999: 1, 1000: 1, 1001: 2, 900000: 900} {
		e := recoveryRateLimited(time.Duration(d) * time.Millisecond)
		if e.Code != "rate_limited" || e.Details["retry_after_seconds"] != want {
			t.Errorf("%d ms: %+v", d, e)
		}
	}
}
