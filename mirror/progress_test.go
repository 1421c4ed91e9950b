package mirror_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/havencrm/haven/mirror"
)

// TestBarKeepsLogLinesApart: a log line written while the bar is shown
// clears the bar's line first and the bar is redrawn after it, so that
// the two never share a line; once the bar is done, log lines go out
// untouched.
func TestBarKeepsLogLinesApart(t *testing.T) {
	var out bytes.Buffer
	bar, logs := mirror.NewBar(&out)
	bar.Start("copy", 2)
	bar.Step("account", 40)
	out.Reset()
	if _, err := logs.Write([]byte("level=WARN msg=\"mirror: cursor expired\"\n")); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	want := "\r\033[Klevel=WARN msg=\"mirror: cursor expired\"\n\r\033[Kcopy ["
	if !strings.HasPrefix(got, want) || !strings.HasSuffix(got, "1/2 account: 40 records") {
		t.Fatalf("log line beside the bar: %q", got)
	}
	bar.Done()
	out.Reset()
	if _, err := logs.Write([]byte("after\n")); err != nil {
		t.Fatal(err)
	}
	if out.String() != "after\n" {
		t.Fatalf("log line after the bar: %q", out.String())
	}
}
