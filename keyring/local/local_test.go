package local_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/havencrm/haven/keyring/local"
)

func TestOpenCreatesPrivateKeyFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	p, err := local.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if p.KeyID() != "local:v1" {
		t.Fatalf("key id %q", p.KeyID())
	}
	fi, err := os.Stat(p.Path(1))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 || fi.Size() != 32 {
		t.Fatalf("key file mode %#o size %d, want 0600 and 32", fi.Mode().Perm(), fi.Size())
	}
	di, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if di.Mode().Perm() != 0o700 {
		t.Fatalf("key directory mode %#o, want 0700", di.Mode().Perm())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("key directory holds %d entries, want only the key file", len(entries))
	}

	// Reopening reads the same key: what one Open wrapped, the next unwraps.
	w, err := p.Wrap(context.Background(), bytes.Repeat([]byte{7}, 32), []byte("aad"))
	if err != nil {
		t.Fatal(err)
	}
	p2, err := local.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	got, err := p2.Unwrap(context.Background(), w, []byte("aad"))
	if err != nil || !bytes.Equal(got, bytes.Repeat([]byte{7}, 32)) {
		t.Fatalf("unwrap after reopen: %v", err)
	}
}

func TestOpenRefusesUnsafeKeyFiles(t *testing.T) {
	tests := []struct {
		name  string
		spoil func(t *testing.T, dir, file string)
		want  string
	}{
		{"group and world readable", func(t *testing.T, _, file string) { must(t, os.Chmod(file, 0o644)) }, "chmod 600"},
		{"group readable", func(t *testing.T, _, file string) { must(t, os.Chmod(file, 0o640)) }, "chmod 600"},
		{"truncated", func(t *testing.T, _, file string) { must(t, os.Truncate(file, 31)) }, "holds 31 bytes, not 32"},
		{"too long", func(t *testing.T, _, file string) {
			f, err := os.OpenFile(file, os.O_APPEND|os.O_WRONLY, 0)
			must(t, err)
			_, err = f.Write([]byte("\n"))
			must(t, err)
			must(t, f.Close())
		}, "holds 33 bytes"},
		{"world-writable directory", func(t *testing.T, dir, _ string) { must(t, os.Chmod(dir, 0o777)) }, "chmod 700"},
		{"not a regular file", func(t *testing.T, _, file string) {
			must(t, os.Remove(file))
			must(t, os.Mkdir(file, 0o700))
		}, "not a regular file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "keys")
			p, err := local.Open(dir)
			must(t, err)
			tc.spoil(t, dir, p.Path(1))
			_, err = local.Open(dir)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Open = %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
	t.Run("read-only 0400 is accepted", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "keys")
		p, err := local.Open(dir)
		must(t, err)
		must(t, os.Chmod(p.Path(1), 0o400))
		if _, err := local.Open(dir); err != nil {
			t.Fatal(err)
		}
	})
}

func TestWrapUnwrap(t *testing.T) {
	ctx := context.Background()
	p, err := local.Open(t.TempDir())
	must(t, err)
	dek := bytes.Repeat([]byte{0xA5}, 32)
	aad := []byte("tenant-a/1")
	w, err := p.Wrap(ctx, dek, aad)
	must(t, err)
	if bytes.Contains(w, dek) {
		t.Fatal("wrapped key contains the key")
	}
	w2, err := p.Wrap(ctx, dek, aad)
	must(t, err)
	if bytes.Equal(w, w2) {
		t.Fatal("two wraps are identical: the nonce is not random")
	}
	got, err := p.Unwrap(ctx, w, aad)
	if err != nil || !bytes.Equal(got, dek) {
		t.Fatalf("round trip: %v", err)
	}
	if _, err := p.Unwrap(ctx, w, []byte("tenant-b/1")); err == nil {
		t.Fatal("unwrap with another aad succeeded")
	}
	for i := range w {
		bad := bytes.Clone(w)
		bad[i] ^= 0x01
		if _, err := p.Unwrap(ctx, bad, aad); err == nil {
			t.Fatalf("unwrap of a key tampered at byte %d succeeded", i)
		}
	}
	if _, err := p.Unwrap(ctx, w[:len(w)-1], aad); err == nil {
		t.Fatal("unwrap of a truncated key succeeded")
	}
}

func TestRotateKeepsOldVersionsReadable(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	p, err := local.Open(dir)
	must(t, err)
	other, err := local.Open(dir) // another instance, opened before the rotation
	must(t, err)
	dek := bytes.Repeat([]byte{1}, 32)
	old, err := p.Wrap(ctx, dek, nil)
	must(t, err)
	id, err := p.Rotate()
	must(t, err)
	if id != "local:v2" || p.KeyID() != "local:v2" {
		t.Fatalf("after rotate key id %q / %q", id, p.KeyID())
	}
	fi, err := os.Stat(p.Path(2))
	must(t, err)
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("new key file mode %#o", fi.Mode().Perm())
	}
	if got, err := p.Unwrap(ctx, old, nil); err != nil || !bytes.Equal(got, dek) {
		t.Fatalf("old version unreadable after rotate: %v", err)
	}
	cur, err := p.Wrap(ctx, dek, nil)
	must(t, err)

	// The other instance finds v2 on demand.
	if got, err := other.Unwrap(ctx, cur, nil); err != nil || !bytes.Equal(got, dek) {
		t.Fatalf("instance opened before the rotation: %v", err)
	}
	// Without v1 on disk, v2 keys still unwrap and v1 keys fail clearly.
	must(t, os.Remove(p.Path(1)))
	p2, err := local.Open(dir)
	must(t, err)
	if got, err := p2.Unwrap(ctx, cur, nil); err != nil || !bytes.Equal(got, dek) {
		t.Fatalf("v2 unwrap: %v", err)
	}
	_, err = p2.Unwrap(ctx, old, nil)
	if err == nil || !strings.Contains(err.Error(), "local:v1 is not in") {
		t.Fatalf("unwrap under a deleted version = %v", err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
