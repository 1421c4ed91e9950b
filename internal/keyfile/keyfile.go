// Package keyfile keeps secret keys in files outside the database: a
// directory others cannot write to, files of an exact size that only the
// owner may read, created atomically. Key-encryption keys and the audit
// signing keys both live this way.
package keyfile

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// EnsureDir creates dir (0700) if needed and refuses one that others
// could write to. label prefixes error messages.
func EnsureDir(label, dir string) error {
	if dir == "" {
		return fmt.Errorf("%s: key directory required", label)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("%s: create key directory: %w", label, err)
	}
	return CheckDir(label, dir)
}

// CheckDir refuses a missing key directory or one others could write to.
func CheckDir(label, dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("%s: key directory: %w", label, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s: %s is not a directory", label, dir)
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("%s: key directory %s has mode %#o: others could replace the key; run chmod 700 %s", label, dir, fi.Mode().Perm(), dir)
	}
	return nil
}

// Read returns the size bytes of a key file after checking that it is a
// regular file only its owner can read or change. The caller clears the
// returned slice after use.
func Read(label, path string, size int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%s: open key file: %w", label, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%s: key file %s: %w", label, path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: key file %s is not a regular file", label, path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("%s: key file %s has mode %#o, which lets other users read or change it; refusing to start: run chmod 600 %s", label, path, perm, path)
	}
	if fi.Size() != int64(size) {
		return nil, fmt.Errorf("%s: key file %s holds %d bytes, not %d: it is truncated or not a Haven key; restore it from your key backup", label, path, fi.Size(), size)
	}
	key := make([]byte, size)
	if _, err := io.ReadFull(f, key); err != nil {
		clear(key)
		return nil, fmt.Errorf("%s: read key file %s: %w", label, path, err)
	}
	return key, nil
}

// CreateRandom writes a new file name in dir holding size random bytes:
// written to a temporary file, synced, then linked into place, so a crash
// never leaves a short key file and two processes creating the same name
// at once end with one key (the second gets nil: the file exists).
func CreateRandom(label, dir, name string, size int) error {
	final := filepath.Join(dir, name)
	tmp, err := os.CreateTemp(dir, ".key-new-*")
	if err != nil {
		return fmt.Errorf("%s: create key file: %w", label, err)
	}
	defer os.Remove(tmp.Name())
	key := make([]byte, size)
	defer clear(key)
	if _, err := io.ReadFull(rand.Reader, key); err != nil {
		tmp.Close()
		return fmt.Errorf("%s: generate key: %w", label, err)
	}
	// CreateTemp already uses mode 0600; make it explicit.
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("%s: restrict key file: %w", label, err)
	}
	if _, err := tmp.Write(key); err != nil {
		tmp.Close()
		return fmt.Errorf("%s: write key file: %w", label, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("%s: sync key file: %w", label, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("%s: write key file: %w", label, err)
	}
	if err := os.Link(tmp.Name(), final); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil // another process created this version first
		}
		return fmt.Errorf("%s: install key file: %w", label, err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
