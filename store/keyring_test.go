package store_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/internal/testdb"
	"github.com/havencrm/haven/keyring"
	"github.com/havencrm/haven/keyring/local"
	"github.com/havencrm/haven/store"
	"github.com/havencrm/haven/tenant"
)

func keyTenant(t *testing.T, db *store.DB, id string) tenant.ID {
	t.Helper()
	now := time.Now().UTC()
	err := db.InsertTenant(context.Background(), tenant.Tenant{ID: tenant.ID(id), Slug: id, Name: id, Status: tenant.StatusActive,
		ContractStart: now, CreatedAt: now})
	if err != nil {
		t.Fatal(err)
	}
	return tenant.ID(id)
}

func openKEK(t *testing.T, dir string) *local.Provider {
	t.Helper()
	p, err := local.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func fatalIf(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func keyFor(t *testing.T, kr *keyring.Keyring, tid tenant.ID, term uint32) []byte {
	t.Helper()
	k, err := kr.KeyForTerm(context.Background(), tid, term)
	if err != nil {
		t.Fatalf("key of %s term %d: %v", tid, term, err)
	}
	return k
}

func TestKeyringRotateAndRetire(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		kek := openKEK(t, t.TempDir())
		a := keyTenant(t, db, "acme")
		kr := keyring.New(kek, db, keyring.Options{})

		term, err := kr.EnsureTenantKey(ctx, a)
		if err != nil || term != 1 {
			t.Fatalf("EnsureTenantKey = %d, %v", term, err)
		}
		if term, err := kr.EnsureTenantKey(ctx, a); err != nil || term != 1 {
			t.Fatalf("second EnsureTenantKey = %d, %v", term, err)
		}
		term, k1, err := kr.CurrentKey(ctx, a)
		if err != nil || term != 1 || len(k1) != keyring.KeySize {
			t.Fatalf("CurrentKey = %d, %d bytes, %v", term, len(k1), err)
		}
		term, err = kr.Rotate(ctx, a)
		if err != nil || term != 2 {
			t.Fatalf("Rotate = %d, %v", term, err)
		}
		term, k2, err := kr.CurrentKey(ctx, a)
		if err != nil || term != 2 || bytes.Equal(k1, k2) {
			t.Fatalf("after rotate CurrentKey = %d, %v (same key: %v)", term, err, bytes.Equal(k1, k2))
		}
		// A fresh keyring (another instance, empty cache) reads both terms.
		fresh := keyring.New(openKEK(t, kek.Dir()), db, keyring.Options{})
		if !bytes.Equal(keyFor(t, fresh, a, 1), k1) || !bytes.Equal(keyFor(t, fresh, a, 2), k2) {
			t.Fatal("a fresh keyring reads different keys")
		}
		if term, _, _ := fresh.CurrentKey(ctx, a); term != 2 {
			t.Fatalf("fresh CurrentKey term %d", term)
		}
		if _, err := fresh.KeyForTerm(ctx, a, 3); !apperr.Is(err, apperr.KindNotFound) {
			t.Fatalf("missing term: %v", err)
		}

		inUse := func(n int64) keyring.UsageCounter {
			return func(context.Context, tenant.ID, uint32) (int64, error) { return n, nil }
		}
		if err := kr.Retire(ctx, a, 1, inUse(3)); !apperr.Is(err, apperr.KindConflict) {
			t.Fatalf("retire a term in use: %v", err)
		}
		if err := kr.Retire(ctx, a, 2, inUse(0)); !apperr.Is(err, apperr.KindConflict) {
			t.Fatalf("retire the current term: %v", err)
		}
		if err := kr.Retire(ctx, a, 1, nil); !apperr.Is(err, apperr.KindInvalid) {
			t.Fatalf("retire without a counter: %v", err)
		}
		if err := kr.Retire(ctx, a, 1, inUse(0)); err != nil {
			t.Fatal(err)
		}
		if err := kr.Retire(ctx, a, 1, inUse(0)); err != nil {
			t.Fatalf("retire twice: %v", err)
		}
		keys, err := db.TenantKeys(ctx, a)
		fatalIf(t, err)
		if len(keys) != 2 || keys[0].State != keyring.StateRetired || keys[0].RetiredAt == nil || keys[1].State != keyring.StateActive {
			t.Fatalf("keys after retire: %+v", keys)
		}
		// A retired term still decrypts (a late writer or a restored backup).
		fresh = keyring.New(kek, db, keyring.Options{})
		if !bytes.Equal(keyFor(t, fresh, a, 1), k1) {
			t.Fatal("retired key changed")
		}
		if term, _, _ := fresh.CurrentKey(ctx, a); term != 2 {
			t.Fatalf("current term after retire %d", term)
		}
	})
}

// TestDatabaseNeverHoldsDataKeys scans every row and column of
// tenant_keys, as a database administrator or a stolen dump would see
// them, for the data keys in clear or hex.
func TestDatabaseNeverHoldsDataKeys(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		kr := keyring.New(openKEK(t, t.TempDir()), db, keyring.Options{})
		var dek [][]byte
		for _, id := range []string{"acme", "globex"} {
			tid := keyTenant(t, db, id)
			for range 3 {
				_, err := kr.Rotate(ctx, tid)
				if apperr.Is(err, apperr.KindNotFound) {
					_, err = kr.EnsureTenantKey(ctx, tid)
				}
				fatalIf(t, err)
				_, k, err := kr.CurrentKey(ctx, tid)
				fatalIf(t, err)
				dek = append(dek, k)
			}
		}
		rows, err := store.RawReader(db).QueryContext(ctx, `SELECT * FROM tenant_keys`)
		fatalIf(t, err)
		defer rows.Close()
		cols, err := rows.Columns()
		fatalIf(t, err)
		n := 0
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			fatalIf(t, rows.Scan(ptrs...))
			n++
			for i, v := range vals {
				var b []byte
				switch v := v.(type) {
				case []byte:
					b = v
				case string:
					b = []byte(v)
				}
				for _, k := range dek {
					if bytes.Contains(b, k) || bytes.Contains(bytes.ToLower(b), []byte(hex.EncodeToString(k))) {
						t.Fatalf("column %s holds a data key in clear", cols[i])
					}
				}
			}
		}
		fatalIf(t, rows.Err())
		if n != len(dek) {
			t.Fatalf("scanned %d rows, want %d", n, len(dek))
		}
	})
}

func TestWrappedKeysAreBoundToTenantAndTerm(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		kek := openKEK(t, t.TempDir())
		kr := keyring.New(kek, db, keyring.Options{})
		a, b := keyTenant(t, db, "acme"), keyTenant(t, db, "globex")
		_, ka1, err := kr.CurrentKey(ctx, a)
		fatalIf(t, err)
		_, err = kr.Rotate(ctx, a)
		fatalIf(t, err)
		_, _, err = kr.CurrentKey(ctx, b)
		fatalIf(t, err)
		wa1, err := db.TenantKey(ctx, a, 1)
		fatalIf(t, err)

		raw := store.RawWriter(db) // the owner connection: a DBA moving rows
		set := func(tid tenant.ID, term uint32, wrapped []byte) {
			t.Helper()
			_, err := raw.ExecContext(ctx, store.Rebind(db, `UPDATE tenant_keys SET wrapped = ? WHERE tenant_id = ? AND term = ?`),
				wrapped, string(tid), int64(term))
			fatalIf(t, err)
		}
		check := func(what string, tid tenant.ID, term uint32) {
			t.Helper()
			fresh := keyring.New(kek, db, keyring.Options{})
			k, err := fresh.KeyForTerm(ctx, tid, term)
			if err == nil {
				t.Fatalf("%s: unwrapped", what)
			}
			if k != nil || !apperr.Is(err, apperr.KindInternal) {
				t.Fatalf("%s: %v", what, err)
			}
			msg := err.Error()
			if strings.Contains(msg, string(ka1)) || strings.Contains(msg, hex.EncodeToString(ka1)) {
				t.Fatalf("%s: error contains key material", what)
			}
		}
		set(b, 1, wa1.Wrapped)
		check("acme's term 1 copied to globex", b, 1)
		set(a, 2, wa1.Wrapped)
		check("acme's term 1 copied to term 2", a, 2)
		tampered := bytes.Clone(wa1.Wrapped)
		tampered[len(tampered)-1] ^= 0x80
		set(a, 1, tampered)
		check("tampered", a, 1)
		set(a, 1, wa1.Wrapped)
		if !bytes.Equal(keyFor(t, keyring.New(kek, db, keyring.Options{}), a, 1), ka1) {
			t.Fatal("restored row does not unwrap to the original key")
		}
	})
}

func TestKEKRotationRewrapsEveryDataKey(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		dir := t.TempDir()
		kek := openKEK(t, dir)
		kr := keyring.New(kek, db, keyring.Options{})
		a, b := keyTenant(t, db, "acme"), keyTenant(t, db, "globex")
		keyTenant(t, db, "initech") // no keys: skipped
		_, err := kr.EnsureTenantKey(ctx, a)
		fatalIf(t, err)
		_, err = kr.Rotate(ctx, a)
		fatalIf(t, err)
		_, err = kr.EnsureTenantKey(ctx, b)
		fatalIf(t, err)
		want := map[[2]any][]byte{
			{a, uint32(1)}: keyFor(t, kr, a, 1), {a, uint32(2)}: keyFor(t, kr, a, 2), {b, uint32(1)}: keyFor(t, kr, b, 1),
		}

		newID, err := kek.Rotate()
		fatalIf(t, err)
		// A key made after the KEK rotation is already under the new KEK.
		_, err = kr.Rotate(ctx, b)
		fatalIf(t, err)
		want[[2]any{b, uint32(2)}] = keyFor(t, kr, b, 2)

		// Control: without the old KEK and before the rewrap, old keys are lost.
		onlyNew := t.TempDir()
		raw, err := os.ReadFile(kek.Path(2))
		fatalIf(t, err)
		fatalIf(t, os.WriteFile(filepath.Join(onlyNew, "kek-v2.key"), raw, 0o600))
		if _, err := keyring.New(openKEK(t, onlyNew), db, keyring.Options{}).KeyForTerm(ctx, a, 1); err == nil {
			t.Fatal("an old data key unwrapped without the old KEK")
		}

		n, err := kr.RewrapAll(ctx)
		if err != nil || n != 3 {
			t.Fatalf("RewrapAll = %d, %v; want 3", n, err)
		}
		if n, err := kr.RewrapAll(ctx); err != nil || n != 0 {
			t.Fatalf("second RewrapAll = %d, %v; want 0", n, err)
		}
		for _, tid := range []tenant.ID{a, b} {
			keys, err := db.TenantKeys(ctx, tid)
			fatalIf(t, err)
			for _, k := range keys {
				if k.KEKID != newID {
					t.Fatalf("%s term %d still under %s", tid, k.Term, k.KEKID)
				}
			}
		}

		fatalIf(t, os.Remove(kek.Path(1)))
		fresh := keyring.New(openKEK(t, dir), db, keyring.Options{})
		for tk, k := range want {
			if !bytes.Equal(keyFor(t, fresh, tk[0].(tenant.ID), tk[1].(uint32)), k) {
				t.Fatalf("%v changed across the KEK rotation", tk)
			}
		}
	})
}

func TestDestroyTenantKeys(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		kek := openKEK(t, t.TempDir())
		kr := keyring.New(kek, db, keyring.Options{})
		a, b, c := keyTenant(t, db, "acme"), keyTenant(t, db, "globex"), keyTenant(t, db, "initech")
		_, err := kr.EnsureTenantKey(ctx, a)
		fatalIf(t, err)
		_, err = kr.Rotate(ctx, a)
		fatalIf(t, err)
		_, kb, err := kr.CurrentKey(ctx, b)
		fatalIf(t, err)
		keyFor(t, kr, a, 1) // warm the cache

		n, err := kr.DestroyTenantKeys(ctx, a)
		if err != nil || n != 2 {
			t.Fatalf("DestroyTenantKeys = %d, %v", n, err)
		}
		destroyed := func(what string, err error) {
			t.Helper()
			if !apperr.Is(err, apperr.KindNotFound) || !errors.Is(err, keyring.ErrDestroyed) {
				t.Fatalf("%s after destroy: %v", what, err)
			}
		}
		for _, r := range []*keyring.Keyring{kr, keyring.New(kek, db, keyring.Options{})} {
			for _, term := range []uint32{1, 2} {
				_, err := r.KeyForTerm(ctx, a, term)
				destroyed("KeyForTerm", err)
			}
			_, _, err := r.CurrentKey(ctx, a)
			destroyed("CurrentKey", err)
			_, err = r.EnsureTenantKey(ctx, a)
			destroyed("EnsureTenantKey", err)
			_, err = r.Rotate(ctx, a)
			destroyed("Rotate", err)
			_, err = r.DeriveKey(ctx, a, 1, "blind-index")
			destroyed("DeriveKey", err)
		}
		if n, err := kr.DestroyTenantKeys(ctx, a); err != nil || n != 0 {
			t.Fatalf("second DestroyTenantKeys = %d, %v", n, err)
		}
		keys, err := db.TenantKeys(ctx, a)
		fatalIf(t, err)
		for _, k := range keys {
			if k.State != keyring.StateDestroyed || k.Wrapped != nil || k.DestroyedAt == nil {
				t.Fatalf("tombstone %+v", k)
			}
		}
		// Other tenants are untouched.
		if !bytes.Equal(keyFor(t, keyring.New(kek, db, keyring.Options{}), b, 1), kb) {
			t.Fatal("another tenant's key changed")
		}
		if _, err := kr.RewrapAll(ctx); err != nil {
			t.Fatalf("RewrapAll with a destroyed tenant: %v", err)
		}
		// A tenant destroyed before it had keys can never get one.
		if n, err := kr.DestroyTenantKeys(ctx, c); err != nil || n != 0 {
			t.Fatalf("destroy keyless tenant = %d, %v", n, err)
		}
		_, err = keyring.New(kek, db, keyring.Options{}).EnsureTenantKey(ctx, c)
		destroyed("EnsureTenantKey of a tenant destroyed without keys", err)
	})
}

func TestConcurrentEnsureTenantKeyCreatesOneTerm(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		dir := t.TempDir()
		a := keyTenant(t, db, "acme")
		const n = 8
		keys := make([][]byte, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			// One keyring per goroutine: separate instances, no shared cache.
			kr := keyring.New(openKEK(t, dir), db, keyring.Options{})
			wg.Add(1)
			go func() {
				defer wg.Done()
				var term uint32
				term, keys[i], errs[i] = kr.CurrentKey(ctx, a)
				if errs[i] == nil && term != 1 {
					errs[i] = errors.New("term is not 1")
				}
			}()
		}
		wg.Wait()
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("caller %d: %v", i, errs[i])
			}
			if !bytes.Equal(keys[i], keys[0]) {
				t.Fatalf("caller %d got another key", i)
			}
		}
		stored, err := db.TenantKeys(ctx, a)
		fatalIf(t, err)
		if len(stored) != 1 || stored[0].Term != 1 {
			t.Fatalf("stored keys %+v", stored)
		}
	})
}

// TestTenantKeysRowLevelSecurity checks the second fence: on PostgreSQL a
// transaction for one tenant sees no other tenant's key rows even without
// a WHERE clause.
func TestTenantKeysRowLevelSecurity(t *testing.T) {
	db := testdb.Open(t, "postgres")
	ctx := context.Background()
	kr := keyring.New(openKEK(t, t.TempDir()), db, keyring.Options{})
	a, b := keyTenant(t, db, "acme"), keyTenant(t, db, "globex")
	_, err := kr.EnsureTenantKey(ctx, a)
	fatalIf(t, err)
	_, err = kr.Rotate(ctx, a)
	fatalIf(t, err)
	_, err = kr.EnsureTenantKey(ctx, b)
	fatalIf(t, err)
	var seen int
	fatalIf(t, db.ReadTx(ctx, b, func(ctx context.Context) error {
		return store.RawQueryRow(ctx, `SELECT COUNT(*) FROM tenant_keys`).Scan(&seen)
	}))
	if seen != 1 {
		t.Fatalf("globex's transaction sees %d key rows, want only its own 1", seen)
	}
	err = db.WriteTx(ctx, b, func(ctx context.Context) error {
		_, err := store.RawExec(ctx, `UPDATE tenant_keys SET wrapped = NULL, state = 'destroyed' WHERE tenant_id = 'acme'`)
		return err
	})
	fatalIf(t, err)
	keys, err := db.TenantKeys(ctx, a)
	fatalIf(t, err)
	if len(keys) != 2 || keys[0].State != keyring.StateActive || keys[1].State != keyring.StateActive {
		t.Fatalf("globex's transaction changed acme's keys: %+v", keys)
	}
}

func TestTenantKEKChoice(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		a, b := keyTenant(t, db, "acme"), keyTenant(t, db, "globex")
		if _, ok, err := db.TenantKEK(ctx, a); ok || err != nil {
			t.Fatalf("a new tenant has its own KEK: %v %v", ok, err)
		}
		at := time.Date(2026, 2, 3, 4, 5, 6, 789000, time.UTC)
		want := keyring.TenantKEK{Provider: "pkcs11", KeyRef: "customer/acme-kek", CreatedAt: at, CreatedBy: "cli user ops"}
		fatalIf(t, db.PutTenantKEK(ctx, a, want))
		got, ok, err := db.TenantKEK(ctx, a)
		if err != nil || !ok || got != want {
			t.Fatalf("TenantKEK = %+v %v %v", got, ok, err)
		}
		// Replacing it (the customer rotated its key) keeps one row.
		want.KeyRef = "customer/acme-kek-2"
		fatalIf(t, db.PutTenantKEK(ctx, a, want))
		if got, _, _ := db.TenantKEK(ctx, a); got != want {
			t.Fatalf("after replace %+v", got)
		}
		if _, ok, _ := db.TenantKEK(ctx, b); ok {
			t.Fatal("globex sees acme's choice")
		}
		if err := db.PutTenantKEK(ctx, a, keyring.TenantKEK{Provider: "pkcs11"}); err == nil {
			t.Fatal("a choice without a key reference was stored")
		}
		if deleted, err := db.DeleteTenantKEK(ctx, a); err != nil || !deleted {
			t.Fatalf("delete = %v, %v", deleted, err)
		}
		if deleted, err := db.DeleteTenantKEK(ctx, a); err != nil || deleted {
			t.Fatalf("second delete = %v, %v", deleted, err)
		}
		if _, ok, _ := db.TenantKEK(ctx, a); ok {
			t.Fatal("deleted choice still there")
		}
	})
}

// TestTenantKEKRowLevelSecurity: on PostgreSQL one tenant's transaction
// neither sees nor changes another tenant's KEK choice.
func TestTenantKEKRowLevelSecurity(t *testing.T) {
	db := testdb.Open(t, "postgres")
	ctx := context.Background()
	a, b := keyTenant(t, db, "acme"), keyTenant(t, db, "globex")
	fatalIf(t, db.PutTenantKEK(ctx, a, keyring.TenantKEK{Provider: "pkcs11", KeyRef: "customer/acme-kek", CreatedAt: time.Now()}))
	var seen int
	fatalIf(t, db.ReadTx(ctx, b, func(ctx context.Context) error {
		return store.RawQueryRow(ctx, `SELECT COUNT(*) FROM tenant_kek`).Scan(&seen)
	}))
	if seen != 0 {
		t.Fatalf("globex's transaction sees %d KEK rows", seen)
	}
	fatalIf(t, db.WriteTx(ctx, b, func(ctx context.Context) error {
		if _, err := store.RawExec(ctx, `DELETE FROM tenant_kek WHERE tenant_id = 'acme'`); err != nil {
			return err
		}
		_, err := store.RawExec(ctx, `UPDATE tenant_kek SET key_ref = 'vendor/kek' WHERE tenant_id = 'acme'`)
		return err
	}))
	if got, ok, err := db.TenantKEK(ctx, a); err != nil || !ok || got.KeyRef != "customer/acme-kek" {
		t.Fatalf("globex's transaction changed acme's choice: %+v %v %v", got, ok, err)
	}
	c := keyTenant(t, db, "initech")
	err := db.WriteTx(ctx, b, func(ctx context.Context) error {
		_, err := store.RawExec(ctx, `INSERT INTO tenant_kek (tenant_id, provider, key_ref, created_at, created_by) VALUES ('initech', 'pkcs11', 'vendor/kek', 0, 'x')`)
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "row-level security") {
		t.Fatalf("globex's transaction wrote a KEK choice for initech: %v", err)
	}
	if _, ok, _ := db.TenantKEK(ctx, c); ok {
		t.Fatal("initech has a KEK choice")
	}
}
