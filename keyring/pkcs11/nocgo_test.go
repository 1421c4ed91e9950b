//go:build !cgo

package pkcs11

import (
	"testing"

	"github.com/havencrm/haven/internal/testenv"
)

// TestNeedsCgo says why the HSM tests did not run in a build without cgo.
func TestNeedsCgo(t *testing.T) {
	testenv.SkipOrFail(t, "PKCS#11 (HSM) tests skipped: the provider needs cgo; run with CGO_ENABLED=1 and a C compiler")
}
