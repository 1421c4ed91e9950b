package attachments

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/tenant"
)

// Dir keeps encrypted attachment files on the local file system as
// <root>/<tenant ID>/<attachment ID>: directories mode 0700, files 0600.
// Paths are built only from server-issued IDs, never from user input,
// and both are checked to be canonical UUIDs before use.
type Dir struct {
	root string
}

// OpenDir opens (creating if needed) the attachment directory at root.
func OpenDir(root string) (*Dir, error) {
	if root == "" {
		return nil, errors.New("attachments: directory required")
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("attachments: directory: %w", err)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("attachments: create directory: %w", err)
	}
	// MkdirAll leaves an existing directory's mode alone; the files are
	// ciphertext, but their names and sizes are still the tenant's business.
	if err := os.Chmod(abs, 0o700); err != nil {
		return nil, fmt.Errorf("attachments: restrict directory permissions: %w", err)
	}
	return &Dir{root: abs}, nil
}

// Root is the directory's absolute path.
func (d *Dir) Root() string { return d.root }

// canonicalID reports whether s is an ID as Haven issues them: a UUID in
// lower-case canonical form, so one attachment has exactly one path.
func canonicalID(s string) bool {
	return tenant.ValidID(s) && s == strings.ToLower(s)
}

func (d *Dir) paths(tid tenant.ID, id string) (dir, file string, err error) {
	if !canonicalID(string(tid)) || !canonicalID(id) {
		return "", "", apperr.Internal(errors.New("attachments: refusing a file path from a malformed ID"))
	}
	dir = filepath.Join(d.root, string(tid))
	return dir, filepath.Join(dir, id), nil
}

// Create starts writing an attachment's file. Nothing is visible under
// its final name until Commit; Abort (or a crash) leaves at most a
// temporary file, which holds only ciphertext under a key that was never
// stored.
func (d *Dir) Create(_ context.Context, tid tenant.ID, id string) (PendingFile, error) {
	dir, final, err := d.paths(tid, id)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("attachments: create tenant directory: %w", err)
	}
	f, err := os.CreateTemp(dir, ".upload-*") // mode 0600
	if err != nil {
		return nil, fmt.Errorf("attachments: create temporary file: %w", err)
	}
	return &pendingFile{f: f, final: final, dir: dir}, nil
}

type pendingFile struct {
	f     *os.File
	final string
	dir   string
	done  bool
}

func (p *pendingFile) Write(b []byte) (int, error) { return p.f.Write(b) }

// Commit flushes the file to stable storage and moves it to its final
// name, then syncs the directory so the rename survives a power cut.
func (p *pendingFile) Commit() error {
	if p.done {
		return errors.New("attachments: file already committed or aborted")
	}
	p.done = true
	tmp := p.f.Name()
	if err := p.f.Sync(); err != nil {
		p.f.Close()
		os.Remove(tmp)
		return fmt.Errorf("attachments: sync file: %w", err)
	}
	if err := p.f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("attachments: close file: %w", err)
	}
	// A fresh UUIDv7 never names an existing file; Link (unlike Rename)
	// would fail rather than replace one if it somehow did.
	if err := os.Link(tmp, p.final); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("attachments: publish file: %w", err)
	}
	if err := os.Remove(tmp); err != nil {
		return fmt.Errorf("attachments: remove temporary file: %w", err)
	}
	return syncDir(p.dir)
}

// Abort discards the file.
func (p *pendingFile) Abort() error {
	if p.done {
		return nil
	}
	p.done = true
	tmp := p.f.Name()
	p.f.Close()
	if err := os.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("attachments: remove temporary file: %w", err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("attachments: open directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("attachments: sync directory: %w", err)
	}
	return nil
}

// Open opens an attachment's file for reading; a missing file is an
// apperr not found.
func (d *Dir) Open(_ context.Context, tid tenant.ID, id string) (io.ReadCloser, error) {
	_, file, err := d.paths(tid, id)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, apperr.NotFound("attachment file").Wrap(err)
	}
	if err != nil {
		return nil, fmt.Errorf("attachments: open file: %w", err)
	}
	return f, nil
}

// Remove deletes an attachment's file; a missing file is not an error, so
// a retried delete succeeds.
func (d *Dir) Remove(_ context.Context, tid tenant.ID, id string) error {
	dir, file, err := d.paths(tid, id)
	if err != nil {
		return err
	}
	err = os.Remove(file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("attachments: remove file: %w", err)
	}
	return syncDir(dir)
}

// RemoveTenant deletes every file of a tenant (for a purge after its keys
// were destroyed, when the files are unreadable anyway).
func (d *Dir) RemoveTenant(_ context.Context, tid tenant.ID) error {
	if !canonicalID(string(tid)) {
		return apperr.Internal(errors.New("attachments: refusing a directory path from a malformed tenant ID"))
	}
	if err := os.RemoveAll(filepath.Join(d.root, string(tid))); err != nil {
		return fmt.Errorf("attachments: remove tenant files: %w", err)
	}
	return nil
}
