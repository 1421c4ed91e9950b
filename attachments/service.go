// Package attachments stores files uploaded to CRM records (contract
// scans, ID copies) encrypted with the tenant's keys.
//
// Each attachment has its own random 256-bit file key. The file is
// encrypted with it in 64 KiB AES-256-GCM chunks (see the format in
// stream.go), streamed from the upload to disk and from disk to the
// download in constant memory. The file key and the original file name
// are sealed with fieldcrypt under the tenant's current data key, bound
// to the attachment, and stored in the attachments table; content type,
// size, owner record and creation facts stay in clear. So:
//
//   - rotating the tenant's data key re-seals two short values per
//     attachment (RekeyTenant) and never re-encrypts a file;
//   - destroying the tenant's keys (crypto-shredding) makes every file
//     unreadable, wherever copies of the files went;
//   - deleting an attachment's row destroys its file key, so the file is
//     unreadable even before it is removed from disk;
//   - a file moved to another attachment, tenant or position, truncated or
//     extended fails authentication.
//
// Every operation checks access to the record through the records
// service: whoever cannot read the record sees no attachments (not found),
// and uploading or deleting needs edit rights on it.
package attachments

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/havencrm/haven/access"
	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/audit"
	"github.com/havencrm/haven/fieldcrypt"
	"github.com/havencrm/haven/keyring"
	"github.com/havencrm/haven/records"
	"github.com/havencrm/haven/tenant"
)

// DefaultMaxBytes is the default upload size limit (25 MiB).
const DefaultMaxBytes = 25 << 20

// ObjectType names attachments in fieldcrypt bindings and audit events.
const ObjectType = "attachment"

// Sealed value names (the fieldcrypt binding's Field).
const (
	fieldFileKey  = "file_key"
	fieldFilename = "filename"
)

// Attachment is an attachment with its file name in clear. It exists
// only in memory; handlers map it to their DTOs.
type Attachment struct {
	ID          string
	Object      string
	RecordID    string
	Filename    string
	ContentType string
	Size        int64
	CreatedAt   time.Time
	CreatedBy   string
}

// Row is an attachment as stored: its file name and file key sealed.
type Row struct {
	ID          string
	Object      string
	RecordID    string
	SealedName  string
	SealedKey   string
	KeyTerm     uint32 // the data key term both sealed values use
	ContentType string
	Size        int64
	Format      int // file format version
	CreatedAt   time.Time
	CreatedBy   string
}

// Store is what the service needs from the database.
type Store interface {
	WriteTx(ctx context.Context, tid tenant.ID, fn func(ctx context.Context) error) error
	InsertAttachment(ctx context.Context, tid tenant.ID, r Row) error
	// Attachment returns one attachment of one record; any other is
	// apperr not found.
	Attachment(ctx context.Context, tid tenant.ID, object, recordID, id string) (Row, error)
	// RecordAttachments lists a record's attachments, oldest first.
	RecordAttachments(ctx context.Context, tid tenant.ID, object, recordID string) ([]Row, error)
	DeleteAttachment(ctx context.Context, tid tenant.ID, id string) error
	// AttachmentsBelowTerm pages, by ID, through attachments sealed under
	// a term older than term.
	AttachmentsBelowTerm(ctx context.Context, tid tenant.ID, term uint32, afterID string, limit int) ([]Row, error)
	// ResealAttachment replaces the sealed name and key and the term if
	// the sealed key is still oldSealedKey; it reports whether it did.
	ResealAttachment(ctx context.Context, tid tenant.ID, id, oldSealedKey, sealedName, sealedKey string, term uint32) (bool, error)
	// CountAttachmentTerm counts attachments sealed under term.
	CountAttachmentTerm(ctx context.Context, tid tenant.ID, term uint32) (int64, error)
	AppendAudit(ctx context.Context, e audit.Event) error
}

// Records answers whether the actor may read a record (not found if not).
type Records interface {
	Get(ctx context.Context, actor tenant.Actor, object, id string) (records.Record, error)
}

// FileStore keeps the encrypted files. Dir is the local implementation.
type FileStore interface {
	Create(ctx context.Context, tid tenant.ID, id string) (PendingFile, error)
	Open(ctx context.Context, tid tenant.ID, id string) (io.ReadCloser, error)
	Remove(ctx context.Context, tid tenant.ID, id string) error
}

// PendingFile is a file being written: invisible until Commit.
type PendingFile interface {
	io.Writer
	Commit() error
	Abort() error
}

// Options tune the service.
type Options struct {
	// MaxBytes bounds an attachment's size; 0 means DefaultMaxBytes.
	MaxBytes int64
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Log receives warnings (never file names or contents); nil means
	// slog.Default().
	Log *slog.Logger
}

// Service manages attachments.
type Service struct {
	store     Store
	records   Records
	keys      fieldcrypt.KeySource
	files     FileStore
	maxBytes  int64
	now       func() time.Time
	log       *slog.Logger
	chunkSize int
}

// NewService returns the attachments service.
func NewService(st Store, recs Records, keys fieldcrypt.KeySource, files FileStore, opts Options) *Service {
	s := &Service{store: st, records: recs, keys: keys, files: files, maxBytes: opts.MaxBytes, now: opts.Now, log: opts.Log,
		chunkSize: DefaultChunkSize}
	if s.maxBytes <= 0 {
		s.maxBytes = DefaultMaxBytes
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	return s
}

// MaxBytes is the size limit of one attachment.
func (s *Service) MaxBytes() int64 { return s.maxBytes }

// record returns the record if the actor may read it and, when edit is
// set, change it.
func (s *Service) record(ctx context.Context, actor tenant.Actor, object, recordID string, edit bool) (records.Record, error) {
	rec, err := s.records.Get(ctx, actor, object, recordID)
	if err != nil {
		return records.Record{}, err
	}
	if edit && !access.CanRecord(actor, object, access.Edit, rec.OwnerID) {
		return records.Record{}, apperr.Forbidden()
	}
	return rec, nil
}

func binding(tid tenant.ID, id, field string) fieldcrypt.Binding {
	return fieldcrypt.Binding{Tenant: tid, Object: ObjectType, RecordID: id, Field: field}
}

// pinnedKey is a key source that seals with one term and key fetched
// once, so an attachment's name and key always share a term even if the
// tenant's key rotates between the two seals.
type pinnedKey struct {
	term uint32
	key  []byte
}

func (p pinnedKey) CurrentKey(context.Context, tenant.ID) (uint32, []byte, error) {
	return p.term, slices.Clone(p.key), nil
}

func (p pinnedKey) KeyForTerm(context.Context, tenant.ID, uint32) ([]byte, error) {
	return nil, errors.New("attachments: the pinned key only seals")
}

// seal seals a file key and file name under the tenant's current key.
func (s *Service) seal(ctx context.Context, pin pinnedKey, tid tenant.ID, id string, fileKey []byte, name string) (sealedKey, sealedName string, err error) {
	if sealedKey, err = fieldcrypt.Encrypt(ctx, pin, binding(tid, id, fieldFileKey), fileKey); err != nil {
		return "", "", fmt.Errorf("attachments: seal file key: %w", err)
	}
	if sealedName, err = fieldcrypt.Encrypt(ctx, pin, binding(tid, id, fieldFilename), []byte(name)); err != nil {
		return "", "", fmt.Errorf("attachments: seal file name: %w", err)
	}
	return sealedKey, sealedName, nil
}

func (s *Service) currentKey(ctx context.Context, tid tenant.ID) (pinnedKey, error) {
	term, key, err := s.keys.CurrentKey(ctx, tid)
	if err != nil {
		return pinnedKey{}, keyErr(err)
	}
	return pinnedKey{term: term, key: key}, nil
}

// keyErr reports a failure to use the tenant's keys: not found once they
// were destroyed (the data is gone for good), the keyring's own client-safe
// error when it has one (such as the tenant's own key-encryption key being
// withdrawn), internal otherwise.
func keyErr(err error) error {
	if errors.Is(err, keyring.ErrDestroyed) {
		return apperr.NotFound("attachment (the tenant's data keys were destroyed)").Wrap(err)
	}
	if e, ok := apperr.As(err); ok && e.Kind != apperr.KindInternal {
		return e
	}
	return apperr.Internal(fmt.Errorf("attachments: tenant key: %w", err))
}

// UploadInput is one file to attach.
type UploadInput struct {
	Object   string
	RecordID string
	// Filename is the original name, as the client sent it.
	Filename string
	// DeclaredType is the content type the client declared ("" if none);
	// it must agree with the content but is never stored.
	DeclaredType string
	// Body is read once, to the end or to the size limit.
	Body io.Reader
}

// Upload encrypts a file onto a record the actor may edit. The body is
// streamed through the encryptor to a temporary file in constant memory;
// a file over the size limit, of a type not allowed, or whose name or
// declared type disagrees with its content leaves nothing behind.
func (s *Service) Upload(ctx context.Context, actor tenant.Actor, in UploadInput) (Attachment, error) {
	tid := actor.TenantID
	if in.Body == nil {
		return Attachment{}, apperr.Invalid("the file is empty").WithDetail("reason", ReasonEmpty)
	}
	name, err := CleanFilename(in.Filename)
	if err != nil {
		return Attachment{}, err
	}
	if _, err := s.record(ctx, actor, in.Object, in.RecordID, true); err != nil {
		return Attachment{}, err
	}
	head := make([]byte, SniffLen)
	n, err := io.ReadFull(in.Body, head)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return Attachment{}, s.readErr(err)
	}
	head = head[:n]
	if n == 0 {
		return Attachment{}, apperr.Invalid("the file is empty").WithDetail("reason", ReasonEmpty)
	}
	contentType, err := classify(head, name, in.DeclaredType)
	if err != nil {
		return Attachment{}, err
	}

	id := tenant.NewID()
	fileKey := make([]byte, KeySize)
	if _, err := rand.Read(fileKey); err != nil {
		return Attachment{}, apperr.Internal(fmt.Errorf("attachments: generate file key: %w", err))
	}
	defer clear(fileKey)
	pin, err := s.currentKey(ctx, tid)
	if err != nil {
		return Attachment{}, err
	}
	defer clear(pin.key)
	sealedKey, sealedName, err := s.seal(ctx, pin, tid, id, fileKey, name)
	if err != nil {
		return Attachment{}, apperr.Internal(err)
	}

	size, err := s.writeFile(ctx, tid, id, fileKey, io.MultiReader(bytes.NewReader(head), in.Body))
	if err != nil {
		return Attachment{}, err
	}
	now := s.now().UTC()
	row := Row{ID: id, Object: in.Object, RecordID: in.RecordID, SealedName: sealedName, SealedKey: sealedKey, KeyTerm: pin.term,
		ContentType: contentType, Size: size, Format: formatVersion, CreatedAt: now, CreatedBy: actor.UserID}
	err = s.store.WriteTx(ctx, tid, func(ctx context.Context) error {
		// Checked again under the write lock: the record may have been
		// deleted or given away while the file streamed in.
		if _, err := s.record(ctx, actor, in.Object, in.RecordID, true); err != nil {
			return err
		}
		if err := s.store.InsertAttachment(ctx, tid, row); err != nil {
			return err
		}
		return s.store.AppendAudit(ctx, s.event(actor, now, audit.ActionAttachmentUploaded, row, false))
	})
	if err != nil {
		s.removeFile(ctx, tid, id)
		return Attachment{}, err
	}
	return attachmentOf(row, name), nil
}

// writeFile streams src through the encryptor into a new file and
// returns the plaintext size; on any failure the file is discarded.
func (s *Service) writeFile(ctx context.Context, tid tenant.ID, id string, fileKey []byte, src io.Reader) (int64, error) {
	pf, err := s.files.Create(ctx, tid, id)
	if err != nil {
		return 0, apperr.Internal(err)
	}
	committed := false
	defer func() {
		if !committed {
			if err := pf.Abort(); err != nil {
				s.log.Warn("discarding a rejected upload", "tenant_id", tid, "attachment_id", id, "err", err)
			}
		}
	}()
	enc, err := NewWriterSize(pf, fileKey, FileBinding{Tenant: tid, AttachmentID: id}, s.chunkSize)
	if err != nil {
		return 0, apperr.Internal(err)
	}
	// One byte over the limit is enough to know the file is too large;
	// Content-Length is not trusted, so the limit holds for chunked
	// bodies too.
	limited := &io.LimitedReader{R: sourceReader{src}, N: s.maxBytes + 1}
	size, err := io.Copy(enc, limited)
	if err != nil {
		var rerr readError
		if errors.As(err, &rerr) {
			return 0, s.readErr(rerr.err)
		}
		return 0, apperr.Internal(err)
	}
	if size > s.maxBytes {
		return 0, s.tooLarge()
	}
	if err := enc.Close(); err != nil {
		return 0, apperr.Internal(err)
	}
	if err := pf.Commit(); err != nil {
		return 0, apperr.Internal(err)
	}
	committed = true
	return size, nil
}

// sourceReader marks the errors of the upload's body, so they are told
// apart from the errors of writing the file.
type sourceReader struct{ r io.Reader }

func (s sourceReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF {
		err = readError{err}
	}
	return n, err
}

type readError struct{ err error }

func (e readError) Error() string { return "reading the upload: " + e.err.Error() }
func (e readError) Unwrap() error { return e.err }

func (s *Service) tooLarge() error {
	return apperr.Invalid("the file exceeds the size limit of %d bytes (%d MiB)", s.maxBytes, s.maxBytes>>20).
		WithDetail("reason", ReasonTooLarge).WithDetail("max_bytes", s.maxBytes)
}

// readErr reports a body that could not be read to the end: over an HTTP
// body limit (too large) or cut off by the client.
func (s *Service) readErr(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return s.tooLarge()
	}
	if errors.Is(err, context.Canceled) {
		return err
	}
	return apperr.Invalid("the upload could not be read to the end").Wrap(err)
}

func (s *Service) removeFile(ctx context.Context, tid tenant.ID, id string) {
	// Without its row the file's key is gone: what is left is
	// undecryptable noise, so a failure here only wastes space.
	if err := s.files.Remove(context.WithoutCancel(ctx), tid, id); err != nil {
		s.log.Warn("removing an attachment file", "tenant_id", tid, "attachment_id", id, "err", err)
	}
}

func attachmentOf(r Row, name string) Attachment {
	return Attachment{ID: r.ID, Object: r.Object, RecordID: r.RecordID, Filename: name, ContentType: r.ContentType, Size: r.Size,
		CreatedAt: r.CreatedAt, CreatedBy: r.CreatedBy}
}

// event describes an attachment operation. The file name is sensitive
// and stays out of the trail; the record and the file's size and type
// identify it.
func (s *Service) event(actor tenant.Actor, at time.Time, action string, r Row, removed bool) audit.Event {
	ev := audit.New(actor, at, action, ObjectType, r.ID, "")
	vals := map[string]any{"object": r.Object, "record_id": r.RecordID, "size": r.Size, "content_type": r.ContentType}
	ev.Changes = make(map[string]audit.Change, len(vals))
	for k, v := range vals {
		if removed {
			ev.Changes[k] = audit.Change{Before: v}
		} else {
			ev.Changes[k] = audit.Change{After: v}
		}
	}
	return ev
}

// List returns the attachments of a record the actor may read, oldest
// first.
func (s *Service) List(ctx context.Context, actor tenant.Actor, object, recordID string) ([]Attachment, error) {
	if _, err := s.record(ctx, actor, object, recordID, false); err != nil {
		return nil, err
	}
	rows, err := s.store.RecordAttachments(ctx, actor.TenantID, object, recordID)
	if err != nil {
		return nil, err
	}
	out := make([]Attachment, 0, len(rows))
	for _, r := range rows {
		name, err := s.openName(ctx, actor.TenantID, r)
		if err != nil {
			return nil, err
		}
		out = append(out, attachmentOf(r, name))
	}
	return out, nil
}

func (s *Service) openName(ctx context.Context, tid tenant.ID, r Row) (string, error) {
	b, err := fieldcrypt.Decrypt(ctx, s.keys, binding(tid, r.ID, fieldFilename), r.SealedName)
	if err != nil {
		return "", openErr(r.ID, "file name", err)
	}
	return string(b), nil
}

// openErr reports a sealed value that did not open: a key problem as
// keyErr does, anything else (a value altered or moved) as internal.
func openErr(id, what string, err error) error {
	if e, ok := apperr.As(err); ok && e.Kind != apperr.KindInternal || errors.Is(err, keyring.ErrDestroyed) {
		return keyErr(err)
	}
	return apperr.Internal(fmt.Errorf("attachments: open the %s of attachment %s: %w", what, id, err))
}

// Download is an attachment being read: Read returns authenticated
// plaintext and fails (wrapping ErrCorrupt) on a corrupt file, so a
// transfer that ends in an error must be treated as failed as a whole.
type Download struct {
	Attachment
	f io.ReadCloser
	r *Reader
}

// Read implements io.Reader.
func (d *Download) Read(p []byte) (int, error) {
	n, err := d.r.Read(p)
	if d.r.Decrypted() > d.Size || (errors.Is(err, io.EOF) && d.r.Decrypted() != d.Size) {
		// The file authenticates but disagrees with the size on record:
		// the row was altered. Never send more than was promised.
		return 0, fmt.Errorf("%w: attachment %s: file size differs from its record", ErrCorrupt, d.ID)
	}
	if err != nil && !errors.Is(err, io.EOF) {
		err = fmt.Errorf("attachment %s: %w", d.ID, err)
	}
	return n, err
}

// Close closes the file.
func (d *Download) Close() error { return d.f.Close() }

// Open starts the download of one attachment of a record the actor may
// read. The file key is unsealed and the first chunk authenticated before
// it returns, so a destroyed key or a corrupt file is an error here, not
// half a response. The download is audited.
func (s *Service) Open(ctx context.Context, actor tenant.Actor, object, recordID, id string) (*Download, error) {
	tid := actor.TenantID
	if !canonicalID(id) {
		return nil, apperr.NotFound("attachment")
	}
	if _, err := s.record(ctx, actor, object, recordID, false); err != nil {
		return nil, err
	}
	row, err := s.store.Attachment(ctx, tid, object, recordID, id)
	if err != nil {
		return nil, err
	}
	name, err := s.openName(ctx, tid, row)
	if err != nil {
		return nil, err
	}
	fileKey, err := fieldcrypt.Decrypt(ctx, s.keys, binding(tid, row.ID, fieldFileKey), row.SealedKey)
	if err != nil {
		return nil, openErr(row.ID, "file key", err)
	}
	defer clear(fileKey)
	f, err := s.files.Open(ctx, tid, row.ID)
	if err != nil {
		// The row exists, so a missing file is lost data, not a 404.
		return nil, apperr.Internal(fmt.Errorf("attachments: file of attachment %s: %w", row.ID, err))
	}
	r, err := NewReader(f, fileKey, FileBinding{Tenant: tid, AttachmentID: row.ID})
	if err == nil {
		err = r.prime()
	}
	if err != nil {
		f.Close()
		return nil, apperr.Internal(fmt.Errorf("attachments: attachment %s: %w", row.ID, err))
	}
	now := s.now().UTC()
	err = s.store.WriteTx(ctx, tid, func(ctx context.Context) error {
		return s.store.AppendAudit(ctx, s.event(actor, now, audit.ActionAttachmentDownloaded, row, false))
	})
	if err != nil {
		f.Close()
		return nil, err
	}
	return &Download{Attachment: attachmentOf(row, name), f: f, r: r}, nil
}

// Delete removes an attachment from a record the actor may edit. The row
// (and with it the only copy of the file key) goes in one transaction
// with its audit event; the file is removed after the commit.
func (s *Service) Delete(ctx context.Context, actor tenant.Actor, object, recordID, id string) error {
	tid := actor.TenantID
	if !canonicalID(id) {
		return apperr.NotFound("attachment")
	}
	now := s.now().UTC()
	err := s.store.WriteTx(ctx, tid, func(ctx context.Context) error {
		if _, err := s.record(ctx, actor, object, recordID, true); err != nil {
			return err
		}
		row, err := s.store.Attachment(ctx, tid, object, recordID, id)
		if err != nil {
			return err
		}
		if err := s.store.DeleteAttachment(ctx, tid, id); err != nil {
			return err
		}
		return s.store.AppendAudit(ctx, s.event(actor, now, audit.ActionAttachmentDeleted, row, true))
	})
	if err != nil {
		return err
	}
	s.removeFile(ctx, tid, id)
	return nil
}

// rekeyBatch is how many attachments RekeyTenant reads at a time.
const rekeyBatch = 100

// RekeyTenant re-seals the file key and file name of every attachment of
// the tenant sealed under an older term than the current one, and returns
// how many it re-sealed. Files are not touched. It is idempotent and
// resumable: each attachment moves in its own statement, only from the
// sealed key it was read with, and a second run finds nothing left.
func (s *Service) RekeyTenant(ctx context.Context, tid tenant.ID) (resealed int, err error) {
	pin, err := s.currentKey(ctx, tid)
	if err != nil {
		return 0, err
	}
	defer clear(pin.key)
	after := ""
	for {
		rows, err := s.store.AttachmentsBelowTerm(ctx, tid, pin.term, after, rekeyBatch)
		if err != nil {
			return resealed, err
		}
		if len(rows) == 0 {
			return resealed, nil
		}
		for _, r := range rows {
			after = r.ID
			done, err := s.reseal(ctx, pin, tid, r)
			if err != nil {
				return resealed, err
			}
			if done {
				resealed++
			}
		}
	}
}

func (s *Service) reseal(ctx context.Context, pin pinnedKey, tid tenant.ID, r Row) (bool, error) {
	fileKey, err := fieldcrypt.Decrypt(ctx, s.keys, binding(tid, r.ID, fieldFileKey), r.SealedKey)
	if err != nil {
		return false, openErr(r.ID, "file key", err)
	}
	defer clear(fileKey)
	name, err := fieldcrypt.Decrypt(ctx, s.keys, binding(tid, r.ID, fieldFilename), r.SealedName)
	if err != nil {
		return false, openErr(r.ID, "file name", err)
	}
	defer clear(name)
	sealedKey, sealedName, err := s.seal(ctx, pin, tid, r.ID, fileKey, string(name))
	if err != nil {
		return false, apperr.Internal(err)
	}
	return s.store.ResealAttachment(ctx, tid, r.ID, r.SealedKey, sealedName, sealedKey, pin.term)
}

// CountTermUsage counts the tenant's attachments whose file key and name
// are sealed under term; a keyring.UsageCounter for retiring the term.
func (s *Service) CountTermUsage(ctx context.Context, tid tenant.ID, term uint32) (int64, error) {
	return s.store.CountAttachmentTerm(ctx, tid, term)
}
