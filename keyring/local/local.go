// Package local is Haven's default key-encryption-key provider: 256-bit
// keys in files outside the database, one file per KEK version
// (kek-v1.key, kek-v2.key, ...), wrapping data keys with AES-256-GCM.
//
// The directory is created with mode 0700 and the first key file with
// mode 0600 on first use. Open refuses a key file readable or writable by
// group or others, a file of the wrong size, and a group- or
// world-writable directory, naming the file and the fix.
//
// Rotate adds a version; Wrap uses the newest, Unwrap any version still
// on disk. Once keyring.RewrapAll has moved every data key to the newest
// version, older files may be deleted (and should be, off every backup
// too, to retire the old KEK).
//
// Wrapped format: version byte (1) | KEK version (uint32, big endian) |
// 12-byte random nonce | AES-256-GCM ciphertext and tag, with the first
// five bytes followed by the caller's aad as the GCM associated data.
package local

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/havencrm/haven/internal/keyfile"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
)

const (
	keySize       = 32
	formatVersion = 1
	headerSize    = 1 + 4
	nonceSize     = 12
)

// label prefixes this provider's error messages.
const label = "keyring/local"

var fileName = regexp.MustCompile(`^kek-v([1-9][0-9]{0,8})\.key$`)

// Provider is a keyring.KEKProvider over a directory of key files.
type Provider struct {
	dir string

	mu     sync.RWMutex
	aeads  map[uint32]cipher.AEAD
	newest uint32
}

// Open loads every key version in dir, creating the directory (0700) and
// a first key (0600) when there is none.
func Open(dir string) (*Provider, error) {
	if dir == "" {
		return nil, errors.New("keyring/local: key directory required")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("keyring/local: create key directory: %w", err)
	}
	p := &Provider{dir: dir}
	if err := p.load(); err != nil {
		return nil, err
	}
	if p.newest == 0 {
		if err := p.create(1); err != nil {
			return nil, err
		}
		if err := p.load(); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// Dir returns the key directory.
func (p *Provider) Dir() string { return p.dir }

// KeyID names the KEK version Wrap uses, e.g. "local:v2".
func (p *Provider) KeyID() string {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return keyID(p.newest)
}

func keyID(v uint32) string { return "local:v" + strconv.FormatUint(uint64(v), 10) }

// Versions lists the KEK versions loaded, oldest first.
func (p *Provider) Versions() []uint32 {
	p.mu.RLock()
	defer p.mu.RUnlock()
	out := make([]uint32, 0, len(p.aeads))
	for v := uint32(1); v <= p.newest; v++ {
		if _, ok := p.aeads[v]; ok {
			out = append(out, v)
		}
	}
	return out
}

// Path returns the file of one KEK version.
func (p *Provider) Path(version uint32) string {
	return filepath.Join(p.dir, "kek-v"+strconv.FormatUint(uint64(version), 10)+".key")
}

// Rotate creates a new KEK version and makes it the one Wrap uses; it
// returns the new key ID. Older versions stay readable.
func (p *Provider) Rotate() (string, error) {
	p.mu.RLock()
	next := p.newest + 1
	p.mu.RUnlock()
	if err := p.create(next); err != nil {
		return "", err
	}
	if err := p.load(); err != nil {
		return "", err
	}
	return p.KeyID(), nil
}

// Wrap encrypts a data key under the newest KEK version.
func (p *Provider) Wrap(_ context.Context, dek, aad []byte) ([]byte, error) {
	p.mu.RLock()
	v, a := p.newest, p.aeads[p.newest]
	p.mu.RUnlock()
	if a == nil {
		return nil, errors.New("keyring/local: provider closed")
	}
	out := make([]byte, headerSize+nonceSize, headerSize+nonceSize+len(dek)+a.Overhead())
	out[0] = formatVersion
	binary.BigEndian.PutUint32(out[1:headerSize], v)
	if _, err := io.ReadFull(rand.Reader, out[headerSize:]); err != nil {
		return nil, fmt.Errorf("keyring/local: nonce: %w", err)
	}
	return a.Seal(out, out[headerSize:], dek, associated(out[:headerSize], aad)), nil
}

// Unwrap decrypts a data key wrapped by any KEK version on disk.
func (p *Provider) Unwrap(_ context.Context, wrapped, aad []byte) ([]byte, error) {
	if len(wrapped) < headerSize+nonceSize+16 || wrapped[0] != formatVersion {
		return nil, errors.New("keyring/local: not a wrapped key of a known format")
	}
	v := binary.BigEndian.Uint32(wrapped[1:headerSize])
	a, err := p.aead(v)
	if err != nil {
		return nil, err
	}
	dek, err := a.Open(nil, wrapped[headerSize:headerSize+nonceSize], wrapped[headerSize+nonceSize:], associated(wrapped[:headerSize], aad))
	if err != nil {
		return nil, fmt.Errorf("keyring/local: wrapped key fails authentication under KEK %s (tampered, or bound to another tenant or term)", keyID(v))
	}
	return dek, nil
}

// aead returns a version's cipher, rescanning the directory once when the
// version is unknown (another instance may have rotated).
func (p *Provider) aead(v uint32) (cipher.AEAD, error) {
	p.mu.RLock()
	a, ok := p.aeads[v]
	p.mu.RUnlock()
	if ok {
		return a, nil
	}
	if err := p.load(); err != nil {
		return nil, err
	}
	p.mu.RLock()
	a, ok = p.aeads[v]
	p.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("keyring/local: KEK %s is not in %s (was its key file deleted before every data key was rewrapped?)", keyID(v), p.dir)
	}
	return a, nil
}

func associated(header, aad []byte) []byte {
	b := make([]byte, 0, len(header)+len(aad))
	return append(append(b, header...), aad...)
}

// load reads every key file, checking modes and sizes.
func (p *Provider) load() error {
	if err := checkDir(p.dir); err != nil {
		return err
	}
	entries, err := os.ReadDir(p.dir)
	if err != nil {
		return fmt.Errorf("keyring/local: read key directory: %w", err)
	}
	aeads := map[uint32]cipher.AEAD{}
	var newest uint32
	for _, e := range entries {
		m := fileName.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		n, err := strconv.ParseUint(m[1], 10, 32)
		if err != nil {
			continue
		}
		v := uint32(n)
		a, err := readKey(filepath.Join(p.dir, e.Name()))
		if err != nil {
			return err
		}
		aeads[v] = a
		newest = max(newest, v)
	}
	p.mu.Lock()
	p.aeads, p.newest = aeads, newest
	p.mu.Unlock()
	return nil
}

func checkDir(dir string) error { return keyfile.CheckDir(label, dir) }

func readKey(path string) (cipher.AEAD, error) {
	key, err := keyfile.Read(label, path, keySize)
	if err != nil {
		return nil, err
	}
	defer clear(key)
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("keyring/local: key file %s: %w", path, err)
	}
	return cipher.NewGCM(block)
}

// create writes a new random key file for version v: written to a
// temporary file, synced, then linked into place so a crash never leaves a
// short key file and two instances creating the same version at once end
// with one key.
func (p *Provider) create(v uint32) error {
	return keyfile.CreateRandom(label, p.dir, filepath.Base(p.Path(v)), keySize)
}

// Close forgets the keys held in memory.
func (p *Provider) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.aeads, p.newest = map[uint32]cipher.AEAD{}, 0
}
