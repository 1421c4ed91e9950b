// Package auditkey holds the platform's audit signing keys: Ed25519 keys
// in files outside the database (audit-signing-vN.key, the 32-byte seed,
// mode 0600), versioned so a rotation keeps older checkpoints verifiable.
// The newest version signs; every version's public key is published.
package auditkey

import (
	"crypto/ed25519"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/havencrm/haven/audit"
	"github.com/havencrm/haven/internal/keyfile"
)

const label = "auditkey"

var fileName = regexp.MustCompile(`^audit-signing-v([1-9][0-9]{0,8})\.key$`)

type version struct {
	n       uint32
	priv    ed25519.PrivateKey
	id      string
	created time.Time
}

// Keys signs with the newest version and lists every version's public key.
type Keys struct {
	dir string

	mu       sync.RWMutex
	versions []version // oldest first
}

// Open loads the keys in dir, creating the directory (0700) and a first
// key (0600) when there is none.
func Open(dir string) (*Keys, error) {
	if err := keyfile.EnsureDir(label, dir); err != nil {
		return nil, err
	}
	k := &Keys{dir: dir}
	if err := k.load(); err != nil {
		return nil, err
	}
	if len(k.versions) == 0 {
		if _, err := k.Rotate(); err != nil {
			return nil, err
		}
	}
	return k, nil
}

func (k *Keys) path(n uint32) string {
	return filepath.Join(k.dir, "audit-signing-v"+strconv.FormatUint(uint64(n), 10)+".key")
}

func (k *Keys) load() error {
	if err := keyfile.CheckDir(label, k.dir); err != nil {
		return err
	}
	entries, err := os.ReadDir(k.dir)
	if err != nil {
		return fmt.Errorf("%s: read key directory: %w", label, err)
	}
	var vs []version
	for _, e := range entries {
		m := fileName.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		n, err := strconv.ParseUint(m[1], 10, 32)
		if err != nil {
			continue
		}
		path := filepath.Join(k.dir, e.Name())
		seed, err := keyfile.Read(label, path, ed25519.SeedSize)
		if err != nil {
			return err
		}
		priv := ed25519.NewKeyFromSeed(seed)
		clear(seed)
		info, err := e.Info()
		if err != nil {
			return fmt.Errorf("%s: %w", label, err)
		}
		vs = append(vs, version{n: uint32(n), priv: priv, id: audit.KeyID(priv.Public().(ed25519.PublicKey)), created: info.ModTime().UTC()})
	}
	sort.Slice(vs, func(i, j int) bool { return vs[i].n < vs[j].n })
	k.mu.Lock()
	k.versions = vs
	k.mu.Unlock()
	return nil
}

// Rotate creates a new signing key version and returns its key ID. Older
// versions keep verifying what they signed.
func (k *Keys) Rotate() (string, error) {
	k.mu.RLock()
	next := uint32(1)
	if n := len(k.versions); n > 0 {
		next = k.versions[n-1].n + 1
	}
	k.mu.RUnlock()
	if err := keyfile.CreateRandom(label, k.dir, filepath.Base(k.path(next)), ed25519.SeedSize); err != nil {
		return "", err
	}
	if err := k.load(); err != nil {
		return "", err
	}
	return k.KeyID(), nil
}

// KeyID names the key Sign uses.
func (k *Keys) KeyID() string {
	k.mu.RLock()
	defer k.mu.RUnlock()
	if len(k.versions) == 0 {
		return ""
	}
	return k.versions[len(k.versions)-1].id
}

// Sign signs a checkpoint with the newest key, setting KeyID first (the
// signature covers it).
func (k *Keys) Sign(c audit.Checkpoint) (audit.Checkpoint, error) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	if len(k.versions) == 0 {
		return c, fmt.Errorf("%s: no signing key", label)
	}
	v := k.versions[len(k.versions)-1]
	c.KeyID = v.id
	c.Signature = ed25519.Sign(v.priv, audit.CheckpointMessage(c))
	return c, nil
}

// PublicKeys lists every version's public key, oldest first.
func (k *Keys) PublicKeys() []audit.PublicKey {
	k.mu.RLock()
	defer k.mu.RUnlock()
	out := make([]audit.PublicKey, len(k.versions))
	for i, v := range k.versions {
		out[i] = audit.PublicKey{ID: v.id, Key: v.priv.Public().(ed25519.PublicKey), CreatedAt: v.created}
	}
	return out
}

// KeySet returns the public keys for verification.
func (k *Keys) KeySet() audit.KeySet {
	ks := audit.KeySet{}
	for _, p := range k.PublicKeys() {
		ks[p.ID] = p.Key
	}
	return ks
}

// Close forgets the private keys.
func (k *Keys) Close() {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, v := range k.versions {
		clear(v.priv)
	}
	k.versions = nil
}
