// Package testenv decides what a test does when a real dependency
// (PostgreSQL, Chromium) is missing: skip with a clear message on a
// developer's machine, fail in CI where HAVEN_TEST_REQUIRE_ALL=1.
package testenv

import (
	"os"
	"testing"
)

// EnvRequireAll makes missing test dependencies a failure.
const EnvRequireAll = "HAVEN_TEST_REQUIRE_ALL"

// SkipOrFail skips the test with msg, or fails it when every dependency
// is required.
func SkipOrFail(t testing.TB, msg string) {
	t.Helper()
	if os.Getenv(EnvRequireAll) == "1" {
		t.Fatalf("%s (and %s=1 requires it)", msg, EnvRequireAll)
	}
	t.Skip(msg)
}
