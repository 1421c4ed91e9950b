package keyring_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/havencrm/haven/apperr"
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

// fakeKEKs stands in for tenants' own keys without an HSM: each "fake:"
// key is a local key directory; withdrawing one makes it unreachable.
type fakeKEKs struct {
	t    *testing.T
	keys map[string]*local.Provider
}

type fakeKEK struct {
	id string
	*local.Provider
}

func (f fakeKEK) KeyID() string { return f.id }

func (f *fakeKEKs) add(name string) string {
	p, err := local.Open(f.t.TempDir())
	if err != nil {
		f.t.Fatal(err)
	}
	f.keys["fake:"+name] = p
	return "fake:" + name
}

func (f *fakeKEKs) OpenKEK(_ context.Context, id string) (keyring.KEKProvider, error) {
	p, ok := f.keys[id]
	if !ok {
		return nil, fmt.Errorf("no key %s: %w", id, keyring.ErrKEKUnavailable)
	}
	return fakeKEK{id, p}, nil
}

func kekIDsOf(t *testing.T, db *store.DB, tid tenant.ID) []string {
	t.Helper()
	keys, err := db.TenantKeys(context.Background(), tid)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, k := range keys {
		out = append(out, k.KEKID)
	}
	return out
}

func TestTenantKEKRouting(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		kek, a := setup(t, db)
		now := time.Now().UTC()
		if err := db.InsertTenant(ctx, tenant.Tenant{ID: "globex", Slug: "globex", Name: "Globex", Status: tenant.StatusActive,
			ContractStart: now, CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
		b := tenant.ID("globex")
		fakes := &fakeKEKs{t: t, keys: map[string]*local.Provider{}}
		id := fakes.add("acme")
		kr := keyring.New(kek, db, keyring.Options{KEKs: fakes, CacheTTL: -1})
		_, ka1, err := kr.CurrentKey(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		_, kb1, err := kr.CurrentKey(ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		ch, err := kr.EnableTenantKEK(ctx, a, keyring.TenantKEK{Provider: "fake", KeyRef: "acme"})
		if err != nil || ch.Rewrapped != 1 || !ch.Changed {
			t.Fatalf("enable = %+v, %v", ch, err)
		}
		if ids := kekIDsOf(t, db, a); len(ids) != 1 || ids[0] != id {
			t.Fatalf("acme under %v", ids)
		}
		if k, err := kr.KeyForTerm(ctx, a, 1); err != nil || !bytes.Equal(k, ka1) {
			t.Fatalf("acme through its own key: %v", err)
		}

		// A keyring built without tenants' KEKs (a misconfigured instance)
		// never wraps acme's keys under the platform KEK.
		plain := keyring.New(kek, db, keyring.Options{})
		if _, err := plain.Rotate(ctx, a); err == nil {
			t.Fatal("a new term of a BYOK tenant was made without its key")
		}
		if n, err := plain.RewrapAll(ctx); n != 0 || err != nil {
			t.Fatalf("RewrapAll without tenants' KEKs = %d, %v", n, err)
		}
		if ids := kekIDsOf(t, db, a); len(ids) != 1 || ids[0] != id {
			t.Fatalf("acme moved to %v", ids)
		}

		// The key is withdrawn: acme is locked, globex is not.
		own := fakes.keys[id]
		delete(fakes.keys, id)
		_, err = kr.KeyForTerm(ctx, a, 1)
		if !apperr.Is(err, apperr.KindLocked) || !errors.Is(err, keyring.ErrKEKUnavailable) {
			t.Fatalf("withdrawn key: %v", err)
		}
		if k, err := kr.KeyForTerm(ctx, b, 1); err != nil || !bytes.Equal(k, kb1) {
			t.Fatalf("globex: %v", err)
		}

		// A platform KEK rotation still finishes for everyone else when one
		// tenant's keys cannot move: acme has a key left under the old
		// platform KEK (as after a crash between recording its choice and
		// the rewrap), and its own key is away.
		fakes.keys[id] = own
		if _, err := kr.DisableTenantKEK(ctx, a); err != nil {
			t.Fatal(err)
		}
		if err := db.PutTenantKEK(ctx, a, keyring.TenantKEK{Provider: "fake", KeyRef: "acme", CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
		delete(fakes.keys, id)
		if _, err := kek.Rotate(); err != nil {
			t.Fatal(err)
		}
		n, err := kr.RewrapAll(ctx)
		if n != 1 || err == nil || !strings.Contains(err.Error(), "1 of 2 tenants") || !apperr.Is(err, apperr.KindLocked) {
			t.Fatalf("RewrapAll = %d, %v", n, err)
		}
		if ids := kekIDsOf(t, db, b); ids[0] != "local:v2" {
			t.Fatalf("globex under %v", ids)
		}
	})
}
