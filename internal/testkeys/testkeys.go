// Package testkeys builds a real keyring for tests: a local key-encryption
// key in a temporary directory over the test's database.
package testkeys

import (
	"testing"
	"time"

	"github.com/havencrm/haven/keyring"
	"github.com/havencrm/haven/keyring/local"
	"github.com/havencrm/haven/store"
)

// Keyring returns a keyring whose KEK file lives in a temporary directory
// removed after the test.
func Keyring(t testing.TB, db *store.DB, now func() time.Time) *keyring.Keyring {
	t.Helper()
	kek, err := local.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	keys := keyring.New(kek, db, keyring.Options{Now: now})
	t.Cleanup(func() {
		keys.Close()
		kek.Close()
	})
	return keys
}
