//go:build cgo

package pkcs11_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/internal/testdb"
	"github.com/havencrm/haven/keyring"
	"github.com/havencrm/haven/keyring/kekset"
	"github.com/havencrm/haven/keyring/pkcs11"
	"github.com/havencrm/haven/keyring/pkcs11/softhsmtest"
	"github.com/havencrm/haven/store"
	"github.com/havencrm/haven/tenant"
)

func fatalIf(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func newTenant(t *testing.T, db *store.DB, id string) tenant.ID {
	t.Helper()
	now := time.Now().UTC()
	fatalIf(t, db.InsertTenant(ctx, tenant.Tenant{ID: tenant.ID(id), Slug: id, Name: id, Status: tenant.StatusActive,
		ContractStart: now, CreatedAt: now}))
	return tenant.ID(id)
}

func openSet(t *testing.T, cfg kekset.Config) *kekset.Set {
	t.Helper()
	s, err := kekset.Open(cfg)
	if err != nil {
		t.Fatalf("open KEKs: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func mustKey(t *testing.T, kr *keyring.Keyring, tid tenant.ID, term uint32) []byte {
	t.Helper()
	k, err := kr.KeyForTerm(ctx, tid, term)
	if err != nil {
		t.Fatalf("key of %s term %d: %v", tid, term, err)
	}
	return k
}

func kekIDs(t *testing.T, db *store.DB, tid tenant.ID) []string {
	t.Helper()
	keys, err := db.TenantKeys(ctx, tid)
	fatalIf(t, err)
	var out []string
	for _, k := range keys {
		out = append(out, k.KEKID)
	}
	return out
}

func allEqual(ids []string, want string) bool {
	for _, id := range ids {
		if id != want {
			return false
		}
	}
	return len(ids) > 0
}

// TestKeyringOverHSM runs the keyring with the platform KEK in the HSM
// over a real database: data keys made, reopened by a fresh instance,
// and moved by a KEK rotation done inside the HSM.
func TestKeyringOverHSM(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		h := softhsmtest.New(t)
		pin := h.InitToken("platform")
		cfg := kekset.Config{Provider: kekset.ProviderPKCS11, PKCS11: kekset.PKCS11{Module: h.Module, Token: "platform", PIN: pin}}
		set := openSet(t, cfg)
		if set.KeyID() != "pkcs11:platform/haven-kek-v1" {
			t.Fatalf("platform KEK %q", set.KeyID())
		}
		kr := keyring.New(set.Platform(), db, keyring.Options{KEKs: set})
		a, b := newTenant(t, db, "acme"), newTenant(t, db, "globex")
		_, ka1, err := kr.CurrentKey(ctx, a)
		fatalIf(t, err)
		_, err = kr.Rotate(ctx, a)
		fatalIf(t, err)
		ka2 := mustKey(t, kr, a, 2)
		_, kb1, err := kr.CurrentKey(ctx, b)
		fatalIf(t, err)
		if !allEqual(kekIDs(t, db, a), "pkcs11:platform/haven-kek-v1") {
			t.Fatalf("acme's keys under %v", kekIDs(t, db, a))
		}

		// Another instance (a fresh token session, an empty cache).
		set2 := openSet(t, cfg)
		fresh := keyring.New(set2.Platform(), db, keyring.Options{KEKs: set2})
		if !bytes.Equal(mustKey(t, fresh, a, 1), ka1) || !bytes.Equal(mustKey(t, fresh, a, 2), ka2) || !bytes.Equal(mustKey(t, fresh, b, 1), kb1) {
			t.Fatal("a fresh instance reads other keys")
		}

		id, err := set.Rotate()
		if err != nil || id != "pkcs11:platform/haven-kek-v2" {
			t.Fatalf("rotate = %q, %v", id, err)
		}
		if n, err := kr.RewrapAll(ctx); err != nil || n != 3 {
			t.Fatalf("RewrapAll = %d, %v", n, err)
		}
		if n, err := kr.RewrapAll(ctx); err != nil || n != 0 {
			t.Fatalf("second RewrapAll = %d, %v", n, err)
		}
		tok := h.Open("platform", pin)
		fatalIf(t, tok.DeleteKey("haven-kek-v1"))
		set3 := openSet(t, cfg)
		fresh = keyring.New(set3.Platform(), db, keyring.Options{KEKs: set3})
		if !bytes.Equal(mustKey(t, fresh, a, 1), ka1) || !bytes.Equal(mustKey(t, fresh, b, 1), kb1) {
			t.Fatal("keys changed across the KEK rotation")
		}
	})
}

// byokFixture: the platform KEK in local key files (what the vendor
// holds), tenant acme with its own key in its own token, globex on the
// platform KEK.
type byokFixture struct {
	h      *softhsmtest.HSM
	db     *store.DB
	cfg    kekset.Config
	pinDir string
	pin    string
	a, b   tenant.ID
	ka, kb [][]byte      // data keys by term-1
	cust   *pkcs11.Token // the customer's own session to its token
	sets   []*kekset.Set
}

func newBYOK(t *testing.T, db *store.DB) *byokFixture {
	t.Helper()
	h := softhsmtest.New(t)
	f := &byokFixture{h: h, db: db, pinDir: t.TempDir()}
	f.pin = h.InitToken("customer-a")
	// The customer's key, made by the customer in its token.
	f.cust = h.Open("customer-a", f.pin)
	fatalIf(t, f.cust.GenerateKey("acme-kek"))
	fatalIf(t, f.cust.GenerateKey("acme-kek-2"))
	f.writePIN(t)
	f.cfg = kekset.Config{Provider: kekset.ProviderLocal, KeyDir: filepath.Join(t.TempDir(), "keys"),
		PKCS11: kekset.PKCS11{Module: h.Module, TenantPINDir: f.pinDir}}
	f.a, f.b = newTenant(t, db, "acme"), newTenant(t, db, "globex")
	return f
}

func (f *byokFixture) writePIN(t *testing.T) {
	t.Helper()
	fatalIf(t, os.WriteFile(filepath.Join(f.pinDir, "customer-a.pin"), []byte(f.pin+"\n"), 0o600))
}

func (f *byokFixture) withholdPIN(t *testing.T) {
	t.Helper()
	fatalIf(t, os.Remove(filepath.Join(f.pinDir, "customer-a.pin")))
}

// instance is one Haven process: its own KEK set and keyring.
func (f *byokFixture) instance(t *testing.T, opts keyring.Options) (*kekset.Set, *keyring.Keyring) {
	t.Helper()
	set := openSet(t, f.cfg)
	f.sets = append(f.sets, set)
	opts.KEKs = set
	return set, keyring.New(set.Platform(), f.db, opts)
}

// closeAll ends every token session, as stopping every instance would.
func (f *byokFixture) closeAll(t *testing.T) {
	t.Helper()
	for _, s := range f.sets {
		fatalIf(t, s.Close())
	}
	f.sets = nil
	fatalIf(t, f.cust.Close())
}

// checkUnavailable asserts the clear, safe failure of a withdrawn key.
func (f *byokFixture) checkUnavailable(t *testing.T, what string, key []byte, err error) {
	t.Helper()
	if err == nil || key != nil {
		t.Fatalf("%s: worked without the tenant's key", what)
	}
	e, ok := apperr.As(err)
	if !ok || e.Kind != apperr.KindLocked || e.Code != keyring.CodeKEKUnavailable || !errors.Is(err, keyring.ErrKEKUnavailable) {
		t.Fatalf("%s: %v", what, err)
	}
	msg := err.Error()
	for _, k := range append(f.ka, f.kb...) {
		if strings.Contains(msg, string(k)) || strings.Contains(strings.ToLower(msg), hex.EncodeToString(k)) {
			t.Fatalf("%s: the error holds key material", what)
		}
	}
	if strings.Contains(msg, f.pin) {
		t.Fatalf("%s: the error holds the PIN", what)
	}
}

func TestBYOKEnableDisable(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		f := newBYOK(t, db)
		_, kr := f.instance(t, keyring.Options{})
		_, err := kr.EnsureTenantKey(ctx, f.a)
		fatalIf(t, err)
		_, err = kr.Rotate(ctx, f.a)
		fatalIf(t, err)
		_, err = kr.EnsureTenantKey(ctx, f.b)
		fatalIf(t, err)
		ka1, ka2, kb1 := mustKey(t, kr, f.a, 1), mustKey(t, kr, f.a, 2), mustKey(t, kr, f.b, 1)

		// Refused: a key that is not there, a token without a PIN file, a
		// tenant key that names the platform's KEK.
		for _, bad := range []keyring.TenantKEK{
			{Provider: "pkcs11", KeyRef: "customer-a/nosuchkey"},
			{Provider: "pkcs11", KeyRef: "customer-b/acme-kek"},
			{Provider: "local", KeyRef: "v1"},
			{Provider: "pkcs11", KeyRef: "customer-a/../x"},
		} {
			if _, err := kr.EnableTenantKEK(ctx, f.a, bad); !apperr.Is(err, apperr.KindInvalid) {
				t.Fatalf("enable %s: %v", bad.KeyID(), err)
			}
		}
		if got, _, err := db.TenantKEK(ctx, f.a); err != nil || got.Provider != "" {
			t.Fatalf("a refused key was recorded: %+v %v", got, err)
		}

		own := keyring.TenantKEK{Provider: "pkcs11", KeyRef: "customer-a/acme-kek", CreatedBy: "test"}
		ch, err := kr.EnableTenantKEK(ctx, f.a, own)
		if err != nil || !ch.Changed || ch.Rewrapped != 2 || ch.From != keyring.PlatformKEK || ch.To != "pkcs11:customer-a/acme-kek" {
			t.Fatalf("enable = %+v, %v", ch, err)
		}
		if ch, err := kr.EnableTenantKEK(ctx, f.a, own); err != nil || ch.Changed || ch.Rewrapped != 0 {
			t.Fatalf("enable again = %+v, %v", ch, err)
		}
		if !allEqual(kekIDs(t, db, f.a), own.KeyID()) || !allEqual(kekIDs(t, db, f.b), "local:v1") {
			t.Fatalf("after enable: acme %v, globex %v", kekIDs(t, db, f.a), kekIDs(t, db, f.b))
		}
		st, err := kr.Status(ctx, f.a)
		if err != nil || !st.Own || st.KEK.CreatedBy != "test" || st.WrapKEKID != own.KeyID() || len(st.Keys) != 2 || st.Keys[0].Wrapped != nil {
			t.Fatalf("status %+v, %v", st, err)
		}

		// A new term of a BYOK tenant is wrapped by its own key from the start.
		_, err = kr.Rotate(ctx, f.a)
		fatalIf(t, err)
		ka3 := mustKey(t, kr, f.a, 3)
		if !allEqual(kekIDs(t, db, f.a), own.KeyID()) {
			t.Fatalf("new term under %v", kekIDs(t, db, f.a))
		}

		// A platform KEK rotation and RewrapAll leave the BYOK tenant where
		// it is and move the others.
		local, err := kekset.Open(f.cfg)
		fatalIf(t, err)
		newID, err := local.Rotate()
		fatalIf(t, err)
		local.Close()
		_, kr = f.instance(t, keyring.Options{})
		if n, err := kr.RewrapAll(ctx); err != nil || n != 1 {
			t.Fatalf("RewrapAll = %d, %v; want only globex's key", n, err)
		}
		if !allEqual(kekIDs(t, db, f.a), own.KeyID()) || !allEqual(kekIDs(t, db, f.b), newID) {
			t.Fatalf("after RewrapAll: acme %v, globex %v", kekIDs(t, db, f.a), kekIDs(t, db, f.b))
		}

		// The customer rotates its own key: enabling the new one moves
		// every data key; the old key can then go.
		own2 := keyring.TenantKEK{Provider: "pkcs11", KeyRef: "customer-a/acme-kek-2", CreatedBy: "test"}
		ch, err = kr.EnableTenantKEK(ctx, f.a, own2)
		if err != nil || ch.Rewrapped != 3 || ch.From != own.KeyID() || ch.To != own2.KeyID() {
			t.Fatalf("enable the customer's new key = %+v, %v", ch, err)
		}
		fatalIf(t, f.cust.DeleteKey("acme-kek"))
		_, fresh := f.instance(t, keyring.Options{})
		for term, want := range [][]byte{ka1, ka2, ka3} {
			if !bytes.Equal(mustKey(t, fresh, f.a, uint32(term+1)), want) {
				t.Fatalf("term %d changed", term+1)
			}
		}

		// Back to the platform KEK.
		ch, err = kr.DisableTenantKEK(ctx, f.a)
		if err != nil || !ch.Changed || ch.Rewrapped != 3 || ch.From != own2.KeyID() || ch.To != keyring.PlatformKEK {
			t.Fatalf("disable = %+v, %v", ch, err)
		}
		if ch, err := kr.DisableTenantKEK(ctx, f.a); err != nil || ch.Changed {
			t.Fatalf("disable again = %+v, %v", ch, err)
		}
		if !allEqual(kekIDs(t, db, f.a), newID) {
			t.Fatalf("after disable: %v", kekIDs(t, db, f.a))
		}
		// Now the customer's key is no longer needed.
		fatalIf(t, f.cust.DeleteKey("acme-kek-2"))
		f.withholdPIN(t)
		_, fresh = f.instance(t, keyring.Options{})
		if !bytes.Equal(mustKey(t, fresh, f.a, 1), ka1) || !bytes.Equal(mustKey(t, fresh, f.b, 1), kb1) {
			t.Fatal("keys changed across disable")
		}
	})
}

// TestVendorCannotDecryptWithoutTheTenantsKey is the proof behind BYOK:
// the vendor holds the database and the platform KEK, yet once the
// customer withholds its token's PIN or deletes its key, tenant acme's
// data keys do not unwrap — on a fresh instance and once the cache has
// expired on a running one — while globex is unaffected; with the key
// back, acme works again.
func TestVendorCannotDecryptWithoutTheTenantsKey(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		f := newBYOK(t, db)
		clock := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
		now := func() time.Time { return clock }
		_, running := f.instance(t, keyring.Options{Now: now, CacheTTL: time.Minute})
		for _, tid := range []tenant.ID{f.a, f.b} {
			_, err := running.EnsureTenantKey(ctx, tid)
			fatalIf(t, err)
		}
		_, err := running.Rotate(ctx, f.a)
		fatalIf(t, err)
		_, err = running.EnableTenantKEK(ctx, f.a, keyring.TenantKEK{Provider: "pkcs11", KeyRef: "customer-a/acme-kek"})
		fatalIf(t, err)
		f.ka = [][]byte{mustKey(t, running, f.a, 1), mustKey(t, running, f.a, 2)}
		f.kb = [][]byte{mustKey(t, running, f.b, 1)}

		// 1. The customer withholds its token's PIN.
		f.withholdPIN(t)
		_, cold := f.instance(t, keyring.Options{Now: now})
		for term := uint32(1); term <= 2; term++ {
			k, err := cold.KeyForTerm(ctx, f.a, term)
			f.checkUnavailable(t, "cold KeyForTerm without the PIN", k, err)
		}
		_, k, err := cold.CurrentKey(ctx, f.a)
		f.checkUnavailable(t, "cold CurrentKey without the PIN", k, err)
		_, err = cold.DeriveKey(ctx, f.a, 1, "blind-index")
		f.checkUnavailable(t, "DeriveKey without the PIN", nil, err)
		if !bytes.Equal(mustKey(t, cold, f.b, 1), f.kb[0]) {
			t.Fatal("globex's key changed")
		}
		// Neither a new term nor disabling BYOK falls back to the
		// platform KEK: nothing changes while the key is away.
		_, err = cold.Rotate(ctx, f.a)
		f.checkUnavailable(t, "Rotate without the PIN", nil, err)
		_, err = cold.DisableTenantKEK(ctx, f.a)
		f.checkUnavailable(t, "DisableTenantKEK without the PIN", nil, err)
		if ids := kekIDs(t, db, f.a); len(ids) != 2 || !allEqual(ids, "pkcs11:customer-a/acme-kek") {
			t.Fatalf("acme's keys changed while its key was away: %v", ids)
		}
		if _, err := cold.RewrapAll(ctx); err != nil {
			t.Fatalf("RewrapAll with nothing to move: %v", err)
		}
		// A vendor tool with only the platform KEK and the database.
		vendor := keyring.New(openSet(t, f.cfg).Platform(), db, keyring.Options{})
		if k, err := vendor.KeyForTerm(ctx, f.a, 1); err == nil || k != nil {
			t.Fatal("the platform KEK alone unwrapped acme's data key")
		}
		// The running instance serves from its cache until the TTL ends.
		if !bytes.Equal(mustKey(t, running, f.a, 1), f.ka[0]) {
			t.Fatal("cached key changed")
		}

		// The PIN comes back: acme works again, with the same keys.
		f.writePIN(t)
		_, cold = f.instance(t, keyring.Options{Now: now})
		if !bytes.Equal(mustKey(t, cold, f.a, 1), f.ka[0]) || !bytes.Equal(mustKey(t, cold, f.a, 2), f.ka[1]) {
			t.Fatal("acme's keys differ after the PIN came back")
		}

		// 2. The customer deletes its key from the token (having made a
		// backup of its HSM). The running instance's token session stays
		// logged in, but the key is gone.
		restore := f.h.Snapshot()
		fatalIf(t, f.cust.DeleteKey("acme-kek"))
		clock = clock.Add(2 * time.Minute) // the running instance's cache expires
		k, err = running.KeyForTerm(ctx, f.a, 1)
		f.checkUnavailable(t, "running KeyForTerm after the key was deleted", k, err)
		_, cold = f.instance(t, keyring.Options{Now: now})
		k, err = cold.KeyForTerm(ctx, f.a, 2)
		f.checkUnavailable(t, "cold KeyForTerm after the key was deleted", k, err)
		if !bytes.Equal(mustKey(t, running, f.b, 1), f.kb[0]) || !bytes.Equal(mustKey(t, cold, f.b, 1), f.kb[0]) {
			t.Fatal("globex stopped working")
		}

		// The customer restores its HSM backup: the key is back, and so
		// is acme.
		f.closeAll(t)
		restore()
		_, cold = f.instance(t, keyring.Options{Now: now})
		if !bytes.Equal(mustKey(t, cold, f.a, 1), f.ka[0]) || !bytes.Equal(mustKey(t, cold, f.a, 2), f.ka[1]) {
			t.Fatal("acme's keys differ after the key came back")
		}
	})
}
