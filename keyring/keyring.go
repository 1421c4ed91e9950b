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
//   - keyring/pkcs11, a PKCS#11 HSM (ThalesGroup/crypto11): Wrap
//     encrypts with CKM_AES_GCM under a non-extractable AES key found by
//     label, aad as the GCM AAD; the wrapped blob carries a version byte
//     and the key label so Unwrap finds older keys after rotation. It
//     needs cgo, so its files have a "cgo" build constraint;
//     keyring/kekset picks the configured provider and says so when a
//     build without cgo is asked for it.
//
// A provider's wrapped bytes must identify the KEK version that made them,
// so Unwrap keeps working for older versions after a rotation; KeyID
// names the version Wrap uses now, and RewrapAll moves every DEK to it.
//
// # A tenant's own key (BYOK)
//
// A tenant may have its data keys wrapped by a KEK of its own instead of
// the platform's: a key in an HSM partition the customer controls. The
// choice (TenantKEK: provider and key reference, never a PIN) is kept by
// a TenantKEKStore; a KEKOpener reaches such keys. Every stored data key
// records the ID of the KEK that wrapped it, so unwrapping needs no
// lookup: an ID the platform provider does not hold goes to the opener.
// Wrapping (new terms, rewraps) goes to the tenant's own KEK when it has
// one, so RewrapAll never moves such a tenant back to the platform KEK.
// When the customer withdraws its key, the tenant's data keys stop
// unwrapping (after at most CacheTTL on a running instance, at once on a
// cold one) with an apperr of kind locked; other tenants are unaffected.
package keyring

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
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

// KeyIDHolder is implemented by providers that can tell whether a key ID
// names one of their keys (any version). Providers without it hold the
// IDs that share the scheme of their KeyID ("local:" for "local:v2").
type KeyIDHolder interface {
	HoldsKeyID(id string) bool
}

// KEKOpener reaches key-encryption keys other than the platform's: the
// tenants' own (BYOK). The platform provider is always open; tenants'
// keys are opened on demand, so a key that becomes reachable again (a
// PIN restored, an HSM back online) works without a restart.
type KEKOpener interface {
	// OpenKEK returns a provider whose KeyID is keyID and whose Wrap uses
	// that key; its Unwrap accepts what any key of the same key store
	// (token, KMS account) wrapped. A key that cannot be reached has
	// ErrKEKUnavailable in its error chain.
	OpenKEK(ctx context.Context, keyID string) (KEKProvider, error)
}

// TenantKEK is a tenant's choice of its own key-encryption key. It holds
// only a reference: a PIN or credential for the key never enters the
// database.
type TenantKEK struct {
	// Provider names the kind of key store, e.g. "pkcs11".
	Provider string
	// KeyRef names the key within the provider, e.g. "<token label>/<key
	// label>" for PKCS#11.
	KeyRef    string
	CreatedAt time.Time
	// CreatedBy names who enabled it (an operator, "cli").
	CreatedBy string
}

// KeyID is the ID data keys wrapped by this KEK are recorded under:
// "<provider>:<key reference>".
func (t TenantKEK) KeyID() string { return t.Provider + ":" + t.KeyRef }

// TenantKEKStore keeps tenants' own-KEK choices. Every method takes the
// tenant ID.
type TenantKEKStore interface {
	// TenantKEK returns the tenant's own KEK; ok is false for a tenant
	// whose data keys are wrapped by the platform KEK.
	TenantKEK(ctx context.Context, tid tenant.ID) (k TenantKEK, ok bool, err error)
	// PutTenantKEK sets (or replaces) the tenant's own KEK.
	PutTenantKEK(ctx context.Context, tid tenant.ID, k TenantKEK) error
	// DeleteTenantKEK returns the tenant to the platform KEK; it reports
	// whether there was a choice to delete.
	DeleteTenantKEK(ctx context.Context, tid tenant.ID) (bool, error)
}

// ErrKEKUnavailable is in the chain of errors about a key-encryption key
// that cannot be reached: deleted from its HSM, its token absent, its
// PIN withheld. Providers wrap it; for a tenant's own KEK the keyring
// answers such failures with an apperr of kind locked (CodeKEKUnavailable).
var ErrKEKUnavailable = errors.New("keyring: the key-encryption key is unavailable")

// CodeKEKUnavailable is the public error code when a tenant's own
// key-encryption key cannot be reached.
const CodeKEKUnavailable = "tenant_key_unavailable"

// kekUnavailableErr is what users of a tenant whose own KEK is withdrawn
// see: the reason, and that it is the organization's key, not a fault.
// The cause (KEK ID, provider error; never key material or a PIN) is kept
// for logs.
func kekUnavailableErr(cause error) error {
	e := &apperr.Error{Kind: apperr.KindLocked, Code: CodeKEKUnavailable,
		Message: "the organization's own encryption key is unavailable (withdrawn by its owner or unreachable); its encrypted data cannot be read until the key is back"}
	return e.Wrap(cause)
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
	// KEKs opens tenants' own KEKs; nil means no tenant may have one.
	KEKs KEKOpener
	// TenantKEKs keeps which tenants have their own KEK; nil means the
	// Store when it implements TenantKEKStore (store.DB does), so that a
	// Keyring built without it still never wraps a BYOK tenant's keys
	// under the platform KEK.
	TenantKEKs TenantKEKStore
}

// Keyring hands out per-tenant data keys.
type Keyring struct {
	kek   KEKProvider // the platform KEK
	keks  KEKOpener
	tkeks TenantKEKStore
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
	k := &Keyring{kek: kek, keks: opts.KEKs, tkeks: opts.TenantKEKs, store: st, ttl: opts.CacheTTL, now: opts.Now, rand: opts.Rand,
		keys: map[termKey]*cachedKey{}, current: map[tenant.ID]cachedTerm{}, destroyed: map[tenant.ID]bool{}}
	if k.tkeks == nil {
		k.tkeks, _ = st.(TenantKEKStore)
	}
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
	kek, own, err := k.wrapper(ctx, tid)
	if err != nil {
		clear(key)
		return 0, nil, err
	}
	wrapped, err := kek.Wrap(ctx, key, AAD(tid, term))
	if err != nil {
		clear(key)
		return 0, nil, kekErr(own, fmt.Errorf("keyring: wrap data key term %d of tenant %s under %s: %w", term, tid, kek.KeyID(), err))
	}
	err = k.store.InsertTenantKey(ctx, tid, WrappedKey{Term: term, KEKID: kek.KeyID(), Wrapped: wrapped,
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
	key, err := k.unwrap(ctx, tid, w)
	if err != nil {
		return nil, err
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
// wrapped by the KEK it belongs under (the platform's current KEK, or the
// tenant's own), after a KEK rotation, and returns how many it rewrapped.
// A tenant whose keys cannot be rewrapped (its own KEK withdrawn) does not
// stop the others; the error names how many tenants failed. It is safe to
// run again after a crash or concurrently: each key moves only from the
// KEK it was read under.
func (k *Keyring) RewrapAll(ctx context.Context) (int, error) {
	tids, err := k.store.TenantIDs(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	var first error
	failed := 0
	for _, tid := range tids {
		m, err := k.RewrapTenant(ctx, tid)
		n += m
		if err != nil {
			if ctx.Err() != nil {
				return n, err
			}
			if first == nil {
				first = err
			}
			failed++
		}
	}
	if failed > 0 {
		return n, fmt.Errorf("keyring: data keys of %d of %d tenants not rewrapped; first: %w", failed, len(tids), first)
	}
	return n, nil
}

// RewrapTenant rewraps one tenant's live data keys under the KEK they
// belong under (see RewrapAll) and returns how many it moved. Inside a
// caller's transaction (store.DB.WriteTx) the moves commit together with
// whatever else the caller does, such as an audit event.
func (k *Keyring) RewrapTenant(ctx context.Context, tid tenant.ID) (int, error) {
	choice, own, err := k.tenantKEK(ctx, tid)
	if err != nil {
		return 0, err
	}
	if !own {
		return k.rewrapTo(ctx, tid, k.kek.KeyID(), false, func() (KEKProvider, error) { return k.kek, nil })
	}
	// The tenant's own KEK is opened only when a key must move, so a
	// withdrawn key does not fail a rewrap that has nothing to do.
	return k.rewrapTo(ctx, tid, choice.KeyID(), true, func() (KEKProvider, error) {
		return k.openOwn(ctx, choice.KeyID())
	})
}

// rewrapTo moves the tenant's live data keys that are not under targetID
// to the provider open returns (called at most once, when needed).
func (k *Keyring) rewrapTo(ctx context.Context, tid tenant.ID, targetID string, own bool, open func() (KEKProvider, error)) (int, error) {
	keys, err := k.store.TenantKeys(ctx, tid)
	if err != nil {
		return 0, err
	}
	var target KEKProvider
	n := 0
	for _, w := range keys {
		if w.State == StateDestroyed || w.KEKID == targetID {
			continue
		}
		if target == nil {
			if target, err = open(); err != nil {
				return n, kekErr(own, fmt.Errorf("keyring: tenant %s: %w", tid, err))
			}
			if target.KeyID() != targetID {
				// The platform KEK rotated under us: the next run moves
				// these keys on.
				targetID = target.KeyID()
			}
		}
		key, err := k.unwrap(ctx, tid, w)
		if err != nil {
			return n, err
		}
		aad := AAD(tid, w.Term)
		wrapped, err := target.Wrap(ctx, key, aad)
		clear(key)
		if err != nil {
			return n, kekErr(own, fmt.Errorf("keyring: rewrap data key term %d of tenant %s under %s: %w", w.Term, tid, targetID, err))
		}
		done, err := k.store.RewrapTenantKey(ctx, tid, w.Term, w.KEKID, targetID, wrapped)
		if err != nil {
			return n, err
		}
		if done {
			n++
		}
	}
	return n, nil
}

// tenantKEK returns the tenant's own KEK choice, if any.
func (k *Keyring) tenantKEK(ctx context.Context, tid tenant.ID) (TenantKEK, bool, error) {
	if k.tkeks == nil {
		return TenantKEK{}, false, nil
	}
	return k.tkeks.TenantKEK(ctx, tid)
}

// wrapper returns the provider new data keys of the tenant are wrapped
// under: its own KEK (own is true) or the platform's.
func (k *Keyring) wrapper(ctx context.Context, tid tenant.ID) (kek KEKProvider, own bool, err error) {
	choice, own, err := k.tenantKEK(ctx, tid)
	if err != nil || !own {
		return k.kek, false, err
	}
	p, err := k.openOwn(ctx, choice.KeyID())
	if err != nil {
		return nil, true, kekErr(true, fmt.Errorf("keyring: tenant %s: %w", tid, err))
	}
	return p, true, nil
}

// openOwn opens a KEK that is not the platform's.
func (k *Keyring) openOwn(ctx context.Context, id string) (KEKProvider, error) {
	if k.keks == nil {
		return nil, fmt.Errorf("keyring: KEK %s is not the platform's and no provider for tenants' own keys is configured", id)
	}
	p, err := k.keks.OpenKEK(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("keyring: open KEK %s: %w", id, err)
	}
	return p, nil
}

// holds reports whether the platform provider holds the KEK named id.
func (k *Keyring) holds(id string) bool {
	if h, ok := k.kek.(KeyIDHolder); ok {
		return h.HoldsKeyID(id)
	}
	scheme, _, _ := strings.Cut(k.kek.KeyID(), ":")
	s, _, _ := strings.Cut(id, ":")
	return s == scheme
}

// unwrap decrypts a stored data key with the KEK its row names: the
// platform's, or (when the platform does not hold it) a tenant's own.
func (k *Keyring) unwrap(ctx context.Context, tid tenant.ID, w WrappedKey) ([]byte, error) {
	kek, own := k.kek, false
	if !k.holds(w.KEKID) && k.keks != nil {
		p, err := k.openOwn(ctx, w.KEKID)
		if err != nil {
			return nil, kekErr(true, fmt.Errorf("keyring: data key term %d of tenant %s: %w", w.Term, tid, err))
		}
		kek, own = p, true
	}
	key, err := kek.Unwrap(ctx, w.Wrapped, AAD(tid, w.Term))
	if err != nil {
		return nil, kekErr(own, fmt.Errorf("keyring: unwrap data key term %d of tenant %s (KEK %s): %w", w.Term, tid, w.KEKID, err))
	}
	return key, nil
}

// kekErr classifies a KEK failure: a tenant's own KEK that cannot be
// reached is the tenant's decision (kind locked); anything else is
// internal.
func kekErr(own bool, err error) error {
	if _, ok := apperr.As(err); ok {
		return err
	}
	if own && errors.Is(err, ErrKEKUnavailable) {
		return kekUnavailableErr(err)
	}
	return apperr.Internal(err)
}

// KEKChange describes a change of the KEK a tenant's data keys are
// wrapped under, for the audit trail.
type KEKChange struct {
	// From and To are KEK IDs: "platform" stands for the platform KEK.
	From, To string
	// Rewrapped counts the data keys moved.
	Rewrapped int
	// Changed is false when the tenant already was where it was asked to
	// go and no key moved (a repeated command).
	Changed bool
}

// PlatformKEK is how KEKChange names the platform KEK.
const PlatformKEK = "platform"

// EnableTenantKEK makes the tenant's own KEK wrap its data keys: it
// checks the key works (a test wrap and unwrap), records the choice and
// rewraps every live data key under it. Running it again after a crash
// finishes the move; running it with another key of the tenant's (the
// customer rotated its key) moves the data keys to that one. Call it
// inside store.DB.WriteTx to commit the choice, the moves and an audit
// event together.
func (k *Keyring) EnableTenantKEK(ctx context.Context, tid tenant.ID, choice TenantKEK) (KEKChange, error) {
	if tid == "" {
		return KEKChange{}, apperr.Invalid("tenant required")
	}
	if choice.Provider == "" || choice.KeyRef == "" {
		return KEKChange{}, apperr.Invalid("a key provider and a key reference are required")
	}
	if k.tkeks == nil || k.keks == nil {
		return KEKChange{}, apperr.Invalid("this Haven is not configured for tenants' own keys")
	}
	if k.holds(choice.KeyID()) {
		return KEKChange{}, apperr.Invalid("%s is held by the platform's key store (whose PIN the vendor holds), so it is not the tenant's own key", choice.KeyID())
	}
	keys, err := k.store.TenantKeys(ctx, tid)
	if err != nil {
		return KEKChange{}, err
	}
	if _, _, err := currentTerm(keys); err != nil {
		return KEKChange{}, err
	}
	p, err := k.openOwn(ctx, choice.KeyID())
	if err == nil {
		err = k.probe(ctx, p)
	}
	if err != nil {
		return KEKChange{}, apperr.Invalid("the key %s cannot be used", choice.KeyID()).Wrap(err)
	}
	if p.KeyID() != choice.KeyID() {
		return KEKChange{}, apperr.Internal(fmt.Errorf("keyring: provider for %s names itself %s", choice.KeyID(), p.KeyID()))
	}
	prev, had, err := k.tenantKEK(ctx, tid)
	if err != nil {
		return KEKChange{}, err
	}
	ch := KEKChange{From: PlatformKEK, To: p.KeyID()}
	if had {
		ch.From = prev.KeyID()
	}
	if !had || prev.KeyID() != choice.KeyID() {
		if choice.CreatedAt.IsZero() {
			choice.CreatedAt = k.now().UTC()
		}
		if err := k.tkeks.PutTenantKEK(ctx, tid, choice); err != nil {
			return KEKChange{}, err
		}
		ch.Changed = true
	}
	ch.Rewrapped, err = k.rewrapTo(ctx, tid, p.KeyID(), true, func() (KEKProvider, error) { return p, nil })
	ch.Changed = ch.Changed || ch.Rewrapped > 0
	return ch, err
}

// DisableTenantKEK returns the tenant to the platform KEK: every live data
// key is rewrapped under it, which needs the tenant's own key to still be
// reachable (nothing changes when it is not). Running it again after a
// crash finishes the move. Call it inside store.DB.WriteTx to commit with
// an audit event.
func (k *Keyring) DisableTenantKEK(ctx context.Context, tid tenant.ID) (KEKChange, error) {
	if tid == "" {
		return KEKChange{}, apperr.Invalid("tenant required")
	}
	ch := KEKChange{From: PlatformKEK, To: PlatformKEK}
	prev, had, err := k.tenantKEK(ctx, tid)
	if err != nil {
		return KEKChange{}, err
	}
	if had {
		ch.From = prev.KeyID()
	}
	keys, err := k.store.TenantKeys(ctx, tid)
	if err != nil {
		return KEKChange{}, err
	}
	// Every key must unwrap before anything changes: a tenant whose key is
	// gone stays as it is, and the operator learns why.
	for _, w := range keys {
		if w.State == StateDestroyed || k.holds(w.KEKID) {
			continue
		}
		key, err := k.unwrap(ctx, tid, w)
		if err != nil {
			return KEKChange{}, err
		}
		clear(key)
	}
	if ch.From != PlatformKEK {
		if _, err := k.tkeks.DeleteTenantKEK(ctx, tid); err != nil {
			return KEKChange{}, err
		}
		ch.Changed = true
	}
	ch.Rewrapped, err = k.rewrapTo(ctx, tid, k.kek.KeyID(), false, func() (KEKProvider, error) { return k.kek, nil })
	ch.Changed = ch.Changed || ch.Rewrapped > 0
	return ch, err
}

// probe checks a KEK can wrap and unwrap (and so is present, logged in
// and permitted to encrypt and decrypt) before data keys depend on it.
func (k *Keyring) probe(ctx context.Context, p KEKProvider) error {
	secret := make([]byte, KeySize)
	defer clear(secret)
	if _, err := io.ReadFull(k.rand, secret); err != nil {
		return fmt.Errorf("keyring: generate probe: %w", err)
	}
	aad := []byte("haven/kek-probe/v1")
	w, err := p.Wrap(ctx, secret, aad)
	if err != nil {
		return fmt.Errorf("wrap: %w", err)
	}
	got, err := p.Unwrap(ctx, w, aad)
	if err != nil {
		return fmt.Errorf("unwrap: %w", err)
	}
	defer clear(got)
	if subtle.ConstantTimeCompare(got, secret) != 1 {
		return errors.New("unwrap returned another key")
	}
	return nil
}

// KeyStatus describes a tenant's keys without key material.
type KeyStatus struct {
	// KEK is the tenant's own KEK; zero when Own is false.
	KEK TenantKEK
	Own bool
	// WrapKEKID is the KEK new data keys are wrapped under.
	WrapKEKID string
	// Keys lists the terms; Wrapped is always nil.
	Keys []WrappedKey
}

// Status reports the tenant's KEK choice and data key terms, with their
// states and the KEK each is wrapped under.
func (k *Keyring) Status(ctx context.Context, tid tenant.ID) (KeyStatus, error) {
	var st KeyStatus
	var err error
	if st.KEK, st.Own, err = k.tenantKEK(ctx, tid); err != nil {
		return KeyStatus{}, err
	}
	st.WrapKEKID = k.kek.KeyID()
	if st.Own {
		st.WrapKEKID = st.KEK.KeyID()
	}
	keys, err := k.store.TenantKeys(ctx, tid)
	if err != nil {
		return KeyStatus{}, err
	}
	for _, w := range keys {
		w.Wrapped = nil
		st.Keys = append(st.Keys, w)
	}
	return st, nil
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
