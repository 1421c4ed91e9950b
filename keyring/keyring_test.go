package keyring_test

import (
	"bytes"
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/havencrm/haven/internal/testdb"
	"github.com/havencrm/haven/keyring"
	"github.com/havencrm/haven/keyring/local"
	"github.com/havencrm/haven/store"
	"github.com/havencrm/haven/tenant"
)

// countingStore counts the reads that reach the database.
type countingStore struct {
	keyring.Store
	reads atomic.Int64
}

func (s *countingStore) TenantKey(ctx context.Context, tid tenant.ID, term uint32) (keyring.WrappedKey, error) {
	s.reads.Add(1)
	return s.Store.TenantKey(ctx, tid, term)
}

func setup(t *testing.T, db *store.DB) (*local.Provider, tenant.ID) {
	t.Helper()
	kek, err := local.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	if err := db.InsertTenant(context.Background(), tenant.Tenant{ID: "acme", Slug: "acme", Name: "Acme",
		Status: tenant.StatusActive, ContractStart: now, CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	return kek, "acme"
}

func TestCacheExpiresAndIsCleared(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		kek, a := setup(t, db)
		now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		st := &countingStore{Store: db}
		kr := keyring.New(kek, st, keyring.Options{CacheTTL: time.Minute, Now: func() time.Time { return now }})
		_, want, err := kr.CurrentKey(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		// The caller's copy is its own: clearing it leaves the cache intact.
		clear(want)
		k1, err := kr.KeyForTerm(ctx, a, 1)
		if err != nil || st.reads.Load() != 0 {
			t.Fatalf("cached read went to the store (%d reads): %v", st.reads.Load(), err)
		}
		if bytes.Equal(k1, make([]byte, keyring.KeySize)) {
			t.Fatal("clearing the caller's copy cleared the cache")
		}
		now = now.Add(2 * time.Minute)
		k2, err := kr.KeyForTerm(ctx, a, 1)
		if err != nil || st.reads.Load() != 1 || !bytes.Equal(k1, k2) {
			t.Fatalf("after the TTL: %d reads, same key %v, %v", st.reads.Load(), bytes.Equal(k1, k2), err)
		}
		kr.Close()
		if _, err := kr.KeyForTerm(ctx, a, 1); err != nil || st.reads.Load() != 2 {
			t.Fatalf("after Close: %d reads, %v", st.reads.Load(), err)
		}

		off := keyring.New(kek, st, keyring.Options{CacheTTL: -1})
		for range 2 {
			if _, err := off.KeyForTerm(ctx, a, 1); err != nil {
				t.Fatal(err)
			}
		}
		if st.reads.Load() != 4 {
			t.Fatalf("disabled cache: %d reads, want 4", st.reads.Load())
		}
	})
}

func TestDeriveKey(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		kek, a := setup(t, db)
		kr := keyring.New(kek, db, keyring.Options{})
		_, dek, err := kr.CurrentKey(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		bi, err := kr.DeriveKey(ctx, a, 1, "blind-index")
		if err != nil || len(bi) != keyring.KeySize {
			t.Fatalf("DeriveKey: %d bytes, %v", len(bi), err)
		}
		if !bytes.Equal(bi, keyring.Derive(dek, a, 1, "blind-index")) {
			t.Fatal("DeriveKey and Derive disagree")
		}
		if bytes.Equal(bi, dek) {
			t.Fatal("derived key equals the data key")
		}
		others := [][]byte{
			keyring.Derive(dek, a, 1, "attachment"),
			keyring.Derive(dek, a, 2, "blind-index"),
			keyring.Derive(dek, "acme2", 1, "blind-index"),
			keyring.Derive(dek, "acme", 1, "blind-indexx"),
		}
		for i, o := range others {
			if bytes.Equal(o, bi) {
				t.Fatalf("derivation %d collides with the blind-index key", i)
			}
		}
		if _, err := kr.DeriveKey(ctx, a, 1, ""); err == nil {
			t.Fatal("empty purpose accepted")
		}
	})
}

func TestAADIsUnambiguous(t *testing.T) {
	if bytes.Equal(keyring.AAD("ab", 1), keyring.AAD("a", 1)) || bytes.Equal(keyring.AAD("a", 1), keyring.AAD("a", 2)) {
		t.Fatal("AAD collides")
	}
}
