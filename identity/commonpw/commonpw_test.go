package commonpw_test

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"github.com/havencrm/haven/identity/commonpw"
)

func TestEmbeddedListIsLargeAndFindsCommonPasswords(t *testing.T) {
	set := commonpw.Default()
	if set.Len() < 100_000 {
		t.Fatalf("the embedded list holds %d passwords, want at least 100,000", set.Len())
	}
	if r := set.FalsePositiveRate(); r > 0.001 {
		t.Fatalf("designed false-positive rate %.5f above 0.1%%", r)
	}
	// From the top of every source list, and further down the lists; the
	// check ignores case.
	for _, pw := range []string{
		"password", "123456", "qwerty123", "iloveyou", "PASSWORD", "Password", "IloveYou", "qwertyuiop", "1q2w3e4r",
		"sunshine", "trustno1", "football", "monkey123", "dragon", "letmein", "abc123", "p@ssw0rd", "zaq12wsx",
		"password1", "superman", "baseball", "princess", "1qaz2wsx", "admin123", "welcome1",
	} {
		if !set.Contains(pw) {
			t.Errorf("%q is not reported as common", pw)
		}
	}
}

// TestFalsePositiveRate measures how often 100,000 random strings (that
// no list holds) are reported as common.
func TestFalsePositiveRate(t *testing.T) {
	set := commonpw.Default()
	const n = 100_000
	buf := make([]byte, 12)
	hits := 0
	for range n {
		if _, err := rand.Read(buf); err != nil {
			t.Fatal(err)
		}
		if set.Contains("Zr-" + base64.RawURLEncoding.EncodeToString(buf)) {
			hits++
		}
	}
	rate := float64(hits) / n
	t.Logf("false positives: %d of %d random strings (%.4f%%; designed %.4f%%)", hits, n, 100*rate, 100*set.FalsePositiveRate())
	if rate > 0.001 {
		t.Fatalf("false-positive rate %.4f%% above 0.1%%", 100*rate)
	}
}

func TestBuildParseRoundTrip(t *testing.T) {
	var list []string
	for i := range 5000 {
		list = append(list, fmt.Sprintf("Entry-%d", i))
	}
	list = append(list, "", "entry-1", "ENTRY-2") // empty ignored, duplicates by case merged
	data, err := commonpw.Build(list, 10)
	if err != nil {
		t.Fatal(err)
	}
	set, err := commonpw.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	if set.Len() != 5000 {
		t.Fatalf("Len %d, want 5000", set.Len())
	}
	for _, pw := range list[:5000] {
		if !set.Contains(pw) || !set.Contains(strings.ToUpper(pw)) {
			t.Fatalf("%q missing", pw)
		}
	}
	misses := 0
	for i := range 20000 {
		if set.Contains(fmt.Sprintf("other-%d", i)) {
			misses++
		}
	}
	if misses > 100 { // expected about 20 at 2^-10
		t.Fatalf("%d of 20000 absent entries reported", misses)
	}
	// Damaged data is refused rather than misread.
	for name, bad := range map[string][]byte{
		"empty":     nil,
		"magic":     append([]byte("XXXX"), data[4:]...),
		"version":   append(append([]byte{}, data[:4]...), append([]byte{9}, data[5:]...)...),
		"truncated": data[:len(data)/2],
	} {
		if _, err := commonpw.Parse(bad); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
}
