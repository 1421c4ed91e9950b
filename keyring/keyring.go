// Package keyring holds Haven's key hierarchy: a key-encryption key (KEK)
// from a provider, and per-tenant data keys (DEKs) numbered by term.
//
// A DEK is 256 random bits. It exists in clear only in memory: the
// database holds it wrapped by the KEK, with the tenant ID and the term
// bound as associated data, so a wrapped key copied to another tenant or
// term does not unwrap. The newest active term encrypts; every stored
// term decrypts, until the tenant's keys are destroyed (crypto-shredding).
//
// # Providers
//
// KEKProvider is deliberately small so that other key stores fit behind
// it without changing the keyring:
//
//   - keyring/local (the default): versioned 256-bit key files outside
//     the database, AES-256-GCM wrapping.
//   - a cloud KMS (AWS KMS Encrypt/Decrypt with EncryptionContext, GCP
//     Cloud KMS with additionalAuthenticatedData, Azure Key Vault
//     wrapKey/unwrapKey): Wrap calls Encrypt with aad as the encryption
//     context, KeyID returns the key ARN or version name. The KMS embeds
//     the key version in its ciphertext, so Unwrap needs nothing else.
//   - Vault or OpenBao Transit: Wrap is transit/encrypt/<name> with aad
//     as "context" (a derived key) or as associated data, KeyID is
//     "<name>:v<latest_version>"; the "vault:vN:" prefix of the
//     ciphertext names the version for Unwrap, and transit/rewrap or a
//     plain Unwrap+Wrap moves keys to the newest version.
//   - a PKCS#11 HSM (ThalesGroup/crypto11): Wrap encrypts with
//     CKM_AES_GCM under a non-extractable AES key found by label, aad as
//     the GCM AAD; the wrapped blob carries a version byte and the key
//     label so Unwrap finds older keys after rotation. Providers that need
//     cgo live in files with a "cgo" build constraint.
//
// A provider's wrapped bytes must identify the KEK version that made them,
// so Unwrap keeps working for older versions after a rotation; KeyID
// names the version Wrap uses now, and RewrapAll moves every DEK to it.
package keyring

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"
	"time"

	"golang.org/x/crypto/hkdf"

	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/tenant"
)

// KeySize is the size of data keys and derived keys in bytes (256 bits).
const KeySize = 32

// KEKProvider wraps and unwraps data keys with a key-encryption key that
// never leaves the provider (a key file, a KMS, Vault Transit, an HSM).
type KEKProvider interface {
	// KeyID names the KEK version Wrap uses now, e.g. "local:v2".
	KeyID() string
	// Wrap encrypts a data key, authenticating aad with it.
	Wrap(ctx context.Context, plaintextDEK, aad []byte) (wrapped []byte, err error)
	// Unwrap decrypts a data key wrapped by any version of the KEK still
	// held by the provider; a wrong aad or tampered bytes fail.
	Unwrap(ctx context.Context, wrapped, aad []byte) (plaintextDEK []byte, err error)
}

// State is the life-cycle state of a stored data key.
type State string

const (
	// StateActive keys decrypt; the newest active term also encrypts.
	StateActive State = "active"
	// StateRetired keys no longer encrypt and no value was counted as
	// using them; they still decrypt, so a value written by a writer that
	// raced with the count (or restored from a backup) stays readable.
	StateRetired State = "retired"
	// StateDestroyed rows are tombstones left by DestroyTenantKeys: the
	// wrapped key is gone and the tenant can never get keys again.
	StateDestroyed State = "destroyed"
)

// WrappedKey is a data key as stored: wrapped by the KEK, never in clear.
type WrappedKey struct {
	Term        uint32
	KEKID       string
	Wrapped     []byte // nil once destroyed
	State       State
	CreatedAt   time.Time
	RetiredAt   *time.Time
	DestroyedAt *time.Time
}

// Store keeps wrapped data keys. Every method takes the tenant ID.
type Store interface {
	// InsertTenantKey adds a key; an existing term is an apperr conflict.
	InsertTenantKey(ctx context.Context, tid tenant.ID, k WrappedKey) error
	// TenantKeys lists a tenant's keys, tombstones included, by term.
	TenantKeys(ctx context.Context, tid tenant.ID) ([]WrappedKey, error)
	// TenantKey returns one term; a missing term is apperr not found.
	TenantKey(ctx context.Context, tid tenant.ID, term uint32) (WrappedKey, error)
	// RetireTenantKey marks an active term retired.
	RetireTenantKey(ctx context.Context, tid tenant.ID, term uint32, at time.Time) error
	// RewrapTenantKey replaces the wrapped bytes of a live term if it is
	// still wrapped by oldKEKID; it reports whether it did.
	RewrapTenantKey(ctx context.Context, tid tenant.ID, term uint32, oldKEKID, newKEKID string, wrapped []byte) (bool, error)
	// DestroyTenantKeys erases every wrapped key of the tenant, leaving
	// destroyed tombstones (at least one, even for a tenant without keys);
	// it returns how many live keys it erased.
	DestroyTenantKeys(ctx context.Context, tid tenant.ID, at time.Time) (int, error)
	// TenantIDs lists every tenant, for RewrapAll.
	TenantIDs(ctx context.Context) ([]tenant.ID, error)
}

// ErrDestroyed is in the chain of the not-found error returned for a
// tenant whose keys were destroyed.
var ErrDestroyed = errors.New("keyring: the tenant's data keys were destroyed")

func destroyedErr() error {
	return apperr.NotFound("data key (the tenant's keys were destroyed)").Wrap(ErrDestroyed)
}

// Options tune a Keyring.
type Options struct {
	// CacheTTL bounds how long an unwrapped data key stays in memory;
	// 0 means one minute, a negative value disables the cache.
	CacheTTL time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Rand is the randomness source; nil means crypto/rand.
	Rand io.Reader
}

// Keyring hands out per-tenant data keys.
type Keyring struct {
	kek   KEKProvider
	store Store
	ttl   time.Duration
	now   func() time.Time
	rand  io.Reader

	mu        sync.Mutex
	keys      map[termKey]*cachedKey
	current   map[tenant.ID]cachedTerm
	destroyed map[tenant.ID]bool
	lastSweep time.Time
}

type termKey struct {
	tid  tenant.ID
	term uint32
}

type cachedKey struct {
	key     []byte
	expires time.Time
}

type cachedTerm struct {
	term    uint32
	expires time.Time
}

// New returns a Keyring over a KEK provider and a store.
func New(kek KEKProvider, st Store, opts Options) *Keyring {
	k := &Keyring{kek: kek, store: st, ttl: opts.CacheTTL, now: opts.Now, rand: opts.Rand,
		keys: map[termKey]*cachedKey{}, current: map[tenant.ID]cachedTerm{}, destroyed: map[tenant.ID]bool{}}
	if k.ttl == 0 {
		k.ttl = time.Minute
	}
	if k.now == nil {
		k.now = time.Now
	}
	if k.rand == nil {
		k.rand = rand.Reader
	}
	return k
}

// AAD is the associated data a tenant's data key of one term is wrapped
// with: a wrapped key moved to another tenant or term does not unwrap.
func AAD(tid tenant.ID, term uint32) []byte {
	const label = "haven/dek/v1"
	b := make([]byte, 0, len(label)+1+4+len(tid)+4)
	b = append(b, label...)
	b = append(b, 0)
	b = binary.BigEndian.AppendUint32(b, uint32(len(tid)))
	b = append(b, tid...)
	b = binary.BigEndian.AppendUint32(b, term)
	return b
}

// EnsureTenantKey creates term 1 for a tenant without keys and returns
// the current term. Concurrent calls, on one instance or several, end
// with exactly one term 1.
func (k *Keyring) EnsureTenantKey(ctx context.Context, tid tenant.ID) (uint32, error) {
	term, _, err := k.current0(ctx, tid, false)
	return term, err
}

// CurrentKey returns the term and data key new values are encrypted with,
// creating term 1 if the tenant has none yet. The returned slice is the
// caller's copy; it may clear it after use.
func (k *Keyring) CurrentKey(ctx context.Context, tid tenant.ID) (uint32, []byte, error) {
	return k.current0(ctx, tid, true)
}

func (k *Keyring) current0(ctx context.Context, tid tenant.ID, wantKey bool) (uint32, []byte, error) {
	if tid == "" {
		return 0, nil, apperr.Invalid("tenant required")
	}
	if term, ok := k.cachedCurrent(tid); ok {
		if !wantKey {
			return term, nil, nil
		}
		key, err := k.KeyForTerm(ctx, tid, term)
		return term, key, err
	}
	keys, err := k.store.TenantKeys(ctx, tid)
	if err != nil {
		return 0, nil, err
	}
	term, live, err := currentTerm(keys)
	if err != nil {
		return 0, nil, err
	}
	if !live {
		t, key, err := k.create(ctx, tid, 1)
		if apperr.Is(err, apperr.KindConflict) {
			// Another caller created term 1 first: use theirs.
			return k.current0(ctx, tid, wantKey)
		}
		if err != nil {
			return 0, nil, err
		}
		if !wantKey {
			clear(key)
			key = nil
		}
		return t, key, nil
	}
	k.setCurrent(tid, term)
	if !wantKey {
		return term, nil, nil
	}
	key, err := k.KeyForTerm(ctx, tid, term)
	return term, key, err
}

// currentTerm picks the newest active term; live is false when the
// tenant has no key at all.
func currentTerm(keys []WrappedKey) (term uint32, live bool, err error) {
	var newestRetired uint32
	for _, w := range keys {
		switch w.State {
		case StateDestroyed:
			return 0, false, destroyedErr()
		case StateActive:
			if w.Term > term {
				term = w.Term
			}
		case StateRetired:
			newestRetired = max(newestRetired, w.Term)
		}
	}
	if term == 0 && newestRetired != 0 {
		// Retire refuses the current term, so this means a store edited
		// by hand; refuse rather than guess.
		return 0, false, apperr.Internal(fmt.Errorf("keyring: tenant has retired keys but no active one"))
	}
	return term, term != 0, nil
}

// create makes, wraps and stores a new data key of the given term.
func (k *Keyring) create(ctx context.Context, tid tenant.ID, term uint32) (uint32, []byte, error) {
	key := make([]byte, KeySize)
	if _, err := io.ReadFull(k.rand, key); err != nil {
		return 0, nil, apperr.Internal(fmt.Errorf("keyring: generate data key: %w", err))
	}
	wrapped, err := k.kek.Wrap(ctx, key, AAD(tid, term))
	if err != nil {
		clear(key)
		return 0, nil, apperr.Internal(fmt.Errorf("keyring: wrap data key term %d of tenant %s: %w", term, tid, err))
	}
	err = k.store.InsertTenantKey(ctx, tid, WrappedKey{Term: term, KEKID: k.kek.KeyID(), Wrapped: wrapped,
		State: StateActive, CreatedAt: k.now().UTC()})
	if err != nil {
		clear(key)
		return 0, nil, err
	}
	k.put(tid, term, key)
	k.setCurrent(tid, term)
	return term, key, nil
}

// KeyForTerm returns a tenant's data key of one term (active or retired).
// A missing term, or a tenant whose keys were destroyed, is an apperr
// not-found error; for the latter errors.Is(err, ErrDestroyed) holds.
func (k *Keyring) KeyForTerm(ctx context.Context, tid tenant.ID, term uint32) ([]byte, error) {
	if key, ok, destroyed := k.cached(tid, term); destroyed {
		return nil, destroyedErr()
	} else if ok {
		return key, nil
	}
	w, err := k.store.TenantKey(ctx, tid, term)
	if apperr.Is(err, apperr.KindNotFound) {
		return nil, apperr.NotFound("data key").Wrap(err)
	}
	if err != nil {
		return nil, err
	}
	if w.State == StateDestroyed {
		return nil, destroyedErr()
	}
	key, err := k.kek.Unwrap(ctx, w.Wrapped, AAD(tid, term))
	if err != nil {
		return nil, apperr.Internal(fmt.Errorf("keyring: unwrap data key term %d of tenant %s (KEK %s): %w", term, tid, w.KEKID, err))
	}
	if len(key) != KeySize {
		clear(key)
		return nil, apperr.Internal(fmt.Errorf("keyring: data key term %d of tenant %s has the wrong size", term, tid))
	}
	k.put(tid, term, key)
	out := append([]byte(nil), key...)
	return out, nil
}

// Rotate makes a new term the tenant's current key; older terms keep
// decrypting. Two rotations racing each other: one wins, the other gets
// an apperr conflict.
func (k *Keyring) Rotate(ctx context.Context, tid tenant.ID) (uint32, error) {
	keys, err := k.store.TenantKeys(ctx, tid)
	if err != nil {
		return 0, err
	}
	if _, _, err := currentTerm(keys); err != nil {
		return 0, err
	}
	var newest uint32
	for _, w := range keys {
		newest = max(newest, w.Term)
	}
	term, key, err := k.create(ctx, tid, newest+1)
	if apperr.Is(err, apperr.KindConflict) {
		return 0, apperr.Conflict("the tenant's data key was rotated concurrently; retry").Wrap(err)
	}
	clear(key)
	return term, err
}

// ActiveTerms lists the tenant's active terms, oldest first: the terms
// values may still be sealed under until a re-encryption retires them.
// A destroyed tenant answers the destroyed error.
func (k *Keyring) ActiveTerms(ctx context.Context, tid tenant.ID) ([]uint32, error) {
	keys, err := k.store.TenantKeys(ctx, tid)
	if err != nil {
		return nil, err
	}
	var out []uint32
	for _, w := range keys {
		switch w.State {
		case StateDestroyed:
			return nil, destroyedErr()
		case StateActive:
			out = append(out, w.Term)
		}
	}
	return out, nil
}

// UsageCounter counts the stored values that still use a term.
type UsageCounter func(ctx context.Context, tid tenant.ID, term uint32) (int64, error)

// Retire marks an old term retired after count reports that no value uses
// it. The current term cannot be retired (rotate first).
func (k *Keyring) Retire(ctx context.Context, tid tenant.ID, term uint32, count UsageCounter) error {
	if count == nil {
		return apperr.Invalid("a usage counter is required to retire a data key")
	}
	keys, err := k.store.TenantKeys(ctx, tid)
	if err != nil {
		return err
	}
	cur, _, err := currentTerm(keys)
	if err != nil {
		return err
	}
	i := sort.Search(len(keys), func(i int) bool { return keys[i].Term >= term })
	if i == len(keys) || keys[i].Term != term {
		return apperr.NotFound("data key")
	}
	switch {
	case keys[i].State == StateRetired:
		return nil
	case term == cur:
		return apperr.Conflict("data key term %d is the current key; rotate before retiring it", term)
	}
	n, err := count(ctx, tid, term)
	if err != nil {
		return err
	}
	if n != 0 {
		return apperr.Conflict("%d values still use data key term %d; re-encrypt them first", n, term)
	}
	return k.store.RetireTenantKey(ctx, tid, term, k.now().UTC())
}

// RewrapAll rewraps every live data key of every tenant that is not
// wrapped by the provider's current KEK (after a KEK rotation), and
// returns how many it rewrapped. It is safe to run again after a crash or
// concurrently: each key moves only from the KEK it was read under.
func (k *Keyring) RewrapAll(ctx context.Context) (int, error) {
	tids, err := k.store.TenantIDs(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, tid := range tids {
		m, err := k.rewrapTenant(ctx, tid)
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func (k *Keyring) rewrapTenant(ctx context.Context, tid tenant.ID) (int, error) {
	keys, err := k.store.TenantKeys(ctx, tid)
	if err != nil {
		return 0, err
	}
	target := k.kek.KeyID()
	n := 0
	for _, w := range keys {
		if w.State == StateDestroyed || w.KEKID == target {
			continue
		}
		aad := AAD(tid, w.Term)
		key, err := k.kek.Unwrap(ctx, w.Wrapped, aad)
		if err != nil {
			return n, apperr.Internal(fmt.Errorf("keyring: unwrap data key term %d of tenant %s (KEK %s): %w", w.Term, tid, w.KEKID, err))
		}
		wrapped, err := k.kek.Wrap(ctx, key, aad)
		clear(key)
		if err != nil {
			return n, apperr.Internal(fmt.Errorf("keyring: rewrap data key term %d of tenant %s: %w", w.Term, tid, err))
		}
		done, err := k.store.RewrapTenantKey(ctx, tid, w.Term, w.KEKID, target, wrapped)
		if err != nil {
			return n, err
		}
		if done {
			n++
		}
	}
	return n, nil
}

// DestroyTenantKeys crypto-shreds a tenant: every wrapped data key is
// erased from the store and from this instance's cache, so none of the
// tenant's encrypted values can be decrypted again; afterwards the tenant
// cannot get new keys. It returns how many keys it erased and is
// idempotent. Other instances drop their cached copies within CacheTTL.
func (k *Keyring) DestroyTenantKeys(ctx context.Context, tid tenant.ID) (int, error) {
	if tid == "" {
		return 0, apperr.Invalid("tenant required")
	}
	k.mu.Lock()
	k.destroyed[tid] = true
	k.evictTenantLocked(tid)
	k.mu.Unlock()
	return k.store.DestroyTenantKeys(ctx, tid, k.now().UTC())
}

// DeriveKey returns a 256-bit key for one purpose (such as "blind-index")
// derived with HKDF-SHA256 from the tenant's data key of a term.
func (k *Keyring) DeriveKey(ctx context.Context, tid tenant.ID, term uint32, purpose string) ([]byte, error) {
	if purpose == "" {
		return nil, apperr.Invalid("a key purpose is required")
	}
	dek, err := k.KeyForTerm(ctx, tid, term)
	if err != nil {
		return nil, err
	}
	defer clear(dek)
	return Derive(dek, tid, term, purpose), nil
}

// Derive computes DeriveKey's result from a data key: HKDF-SHA256 with
// the tenant, term and purpose, length-prefixed, as info.
func Derive(dek []byte, tid tenant.ID, term uint32, purpose string) []byte {
	info := AAD(tid, term)
	info = binary.BigEndian.AppendUint32(info, uint32(len(purpose)))
	info = append(info, purpose...)
	out := make([]byte, KeySize)
	if _, err := io.ReadFull(hkdf.New(sha256.New, dek, []byte("haven/derive/v1"), info), out); err != nil {
		// HKDF-SHA256 yields up to 255*32 bytes; 32 cannot fail.
		panic("keyring: hkdf: " + err.Error())
	}
	return out
}

// Close zeroes every cached data key.
func (k *Keyring) Close() {
	k.mu.Lock()
	defer k.mu.Unlock()
	for tk, c := range k.keys {
		clear(c.key)
		delete(k.keys, tk)
	}
	clear(k.current)
}

// cached returns a copy of a cached key; destroyed reports a tenant
// destroyed by this instance.
func (k *Keyring) cached(tid tenant.ID, term uint32) (key []byte, ok, destroyed bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.destroyed[tid] {
		return nil, false, true
	}
	now := k.now()
	k.sweepLocked(now)
	c, found := k.keys[termKey{tid, term}]
	if !found || !now.Before(c.expires) {
		return nil, false, false
	}
	return append([]byte(nil), c.key...), true, false
}

// put caches key (owned by the cache from now on).
func (k *Keyring) put(tid tenant.ID, term uint32, key []byte) {
	if k.ttl < 0 {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.destroyed[tid] {
		clear(key)
		return
	}
	tk := termKey{tid, term}
	if old, ok := k.keys[tk]; ok {
		clear(old.key)
	}
	k.keys[tk] = &cachedKey{key: append([]byte(nil), key...), expires: k.now().Add(k.ttl)}
}

func (k *Keyring) cachedCurrent(tid tenant.ID) (uint32, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	c, ok := k.current[tid]
	if !ok || !k.now().Before(c.expires) || k.destroyed[tid] {
		return 0, false
	}
	return c.term, true
}

func (k *Keyring) setCurrent(tid tenant.ID, term uint32) {
	if k.ttl < 0 {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if c, ok := k.current[tid]; ok && c.term > term && k.now().Before(c.expires) {
		return
	}
	k.current[tid] = cachedTerm{term: term, expires: k.now().Add(k.ttl)}
}

// sweepLocked zeroes and drops expired keys, at most twice per TTL.
func (k *Keyring) sweepLocked(now time.Time) {
	if now.Sub(k.lastSweep) < k.ttl/2 {
		return
	}
	k.lastSweep = now
	for tk, c := range k.keys {
		if !now.Before(c.expires) {
			clear(c.key)
			delete(k.keys, tk)
		}
	}
	for tid, c := range k.current {
		if !now.Before(c.expires) {
			delete(k.current, tid)
		}
	}
}

func (k *Keyring) evictTenantLocked(tid tenant.ID) {
	for tk, c := range k.keys {
		if tk.tid == tid {
			clear(c.key)
			delete(k.keys, tk)
		}
	}
	delete(k.current, tid)
}
