//go:build !cgo

package kekset_test

import (
	"strings"
	"testing"

	"github.com/havencrm/haven/keyring/kekset"
)

// TestPKCS11NeedsCgo: a binary built without cgo refuses the pkcs11
// provider with a reason instead of failing obscurely.
func TestPKCS11NeedsCgo(t *testing.T) {
	_, err := kekset.Open(kekset.Config{Provider: kekset.ProviderPKCS11, PKCS11: kekset.PKCS11{Token: "t", PIN: "1"}})
	if err == nil || !strings.Contains(err.Error(), "cgo") {
		t.Fatalf("pkcs11 without cgo: %v", err)
	}
	_, err = kekset.Open(kekset.Config{KeyDir: t.TempDir(), PKCS11: kekset.PKCS11{TenantPINDir: t.TempDir()}})
	if err == nil || !strings.Contains(err.Error(), "cgo") {
		t.Fatalf("tenant keys without cgo: %v", err)
	}
}
