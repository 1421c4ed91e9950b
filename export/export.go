// Package export takes all of a tenant's data out in one zip: every
// object (standard and custom) as CSV and JSON Lines with every field
// decrypted, users and roles without secrets, field metadata,
// attachments, the audit trail in its verifiable form, and a manifest
// with counts and SHA-256 digests that names the exporter (the
// watermark). The file is written by a durable background job, streamed
// in constant memory, optionally encrypted with age to the customer's own
// X25519 key or a passphrase, and served only to the user who asked,
// until it expires and is deleted.
package export

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"filippo.io/age"

	"github.com/havencrm/haven/access"
	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/attachments"
	"github.com/havencrm/haven/audit"
	"github.com/havencrm/haven/fieldcrypt"
	"github.com/havencrm/haven/identity"
	"github.com/havencrm/haven/jobs"
	"github.com/havencrm/haven/records"
	"github.com/havencrm/haven/tenant"
)

// Job kinds.
const (
	KindFull   = "export.full"
	KindExpire = "export.expire"
)

// Audit actions.
const (
	ActionRequested  = "export.request"
	ActionCompleted  = "export.complete"
	ActionFailed     = "export.fail"
	ActionDownloaded = "export.download"
)

// DefaultTTL is how long a finished export may be downloaded.
const DefaultTTL = 24 * time.Hour

// MinPassphraseLen is the shortest passphrase accepted (in characters):
// the file may travel anywhere, so only its length stands between it and
// an offline guesser (age's scrypt slows each guess).
const MinPassphraseLen = 12

// maxPassphraseBytes bounds what is sealed and fed to scrypt.
const maxPassphraseBytes = 1024

// jobKey allows one unfinished full export per tenant: each reads the
// whole database, and a second one at the same time only doubles the load.
const jobKey = "export:full"

// ErrExpired is in the chain of the error a download answers once the
// file expired (or was deleted); the API answers 410 Gone.
var ErrExpired = errors.New("export: the download expired")

// Governor decides who may export everything and hears of every export
// (package exportgov implements it: role permission, contract state,
// admin notifications).
type Governor interface {
	// AllowFullExport answers nil, or an apperr saying why not.
	AllowFullExport(ctx context.Context, actor tenant.Actor) error
	// Exported notifies the tenant's admins of a large export.
	Exported(ctx context.Context, actor tenant.Actor, kind, exportID string, rows int64)
}

// Records reads every record in full and the tenant's metadata.
type Records interface {
	ExportObjects(ctx context.Context, tid tenant.ID) ([]records.Object, error)
	ExportBatch(ctx context.Context, tid tenant.ID, object, afterID string, limit int) ([]records.Record, error)
	CountRecords(ctx context.Context, tid tenant.ID, object string) (int64, error)
}

// Users reads the tenant's users.
type Users interface {
	Users(ctx context.Context, tid tenant.ID, afterID string, limit int) ([]identity.User, error)
	User(ctx context.Context, tid tenant.ID, id string) (identity.User, error)
}

// Attachments lists and opens every attachment of the tenant.
type Attachments interface {
	ExportBatch(ctx context.Context, tid tenant.ID, afterID string, limit int) ([]attachments.Attachment, error)
	OpenForExport(ctx context.Context, tid tenant.ID, a attachments.Attachment) (*attachments.Download, error)
}

// AuditChain is the hash-chained trail, read in the format `haven audit
// verify --file` checks, with a checkpoint signed at the head first.
type AuditChain interface {
	audit.ChainStore
	CheckpointAuditHead(ctx context.Context, tid tenant.ID, sign func(audit.Checkpoint) (audit.Checkpoint, error)) (bool, error)
}

// AuditKeys signs checkpoints and publishes the public keys.
type AuditKeys interface {
	Sign(c audit.Checkpoint) (audit.Checkpoint, error)
	PublicKeys() []audit.PublicKey
}

// Queue enqueues and reads jobs.
type Queue interface {
	Enqueue(ctx context.Context, tid tenant.ID, kind string, payload any, createdBy string, opts jobs.EnqueueOptions) (jobs.Job, error)
	Get(ctx context.Context, tid tenant.ID, id string) (jobs.Job, error)
	Notify()
}

// Scheduler inserts a job due at a later time (the expiry sweep); the
// job store implements it.
type Scheduler interface {
	EnqueueJob(ctx context.Context, j jobs.Job, notBefore time.Time) (jobs.Job, bool, error)
}

// ChangeHeads reads where a tenant's change feed stands (the store
// implements it); the manifest names it so the feed can be followed from
// the export.
type ChangeHeads interface {
	ChangeHead(ctx context.Context, tid tenant.ID) (int64, error)
}

// Options are the service's collaborators; Attachments, Governor,
// Scheduler and Changes may be nil.
type Options struct {
	Store       Store
	Records     Records
	Users       Users
	Attachments Attachments
	Chain       AuditChain
	AuditKeys   AuditKeys
	Keys        fieldcrypt.KeySource
	Queue       Queue
	Scheduler   Scheduler
	Governor    Governor
	// Changes gives the change-feed head the manifest records.
	Changes ChangeHeads
	// Dir holds the files, one directory per tenant.
	Dir string
	// TTL is how long a file may be downloaded (default DefaultTTL).
	TTL time.Duration
	Now func() time.Time
	Log *slog.Logger
	// SchemaVersion is the database schema version the manifest names.
	SchemaVersion string
}

// Service requests, runs and serves full exports.
type Service struct {
	o Options
	// hook, when set (tests), runs after each batch of records is written
	// and may fail the run as a crash would.
	hook atomic.Pointer[func(records int64) error]
}

// New returns the service.
func New(o Options) *Service {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.TTL <= 0 {
		o.TTL = DefaultTTL
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	return &Service{o: o}
}

// SetGovernor sets the export governance (nil: admins only, no notices).
func (s *Service) SetGovernor(g Governor) { s.o.Governor = g }

// Register adds the job handlers to a worker.
func (s *Service) Register(w *jobs.Worker) {
	w.Handle(KindFull, s.runFull)
	w.Handle(KindExpire, s.runExpire)
}

// Request is what a user asks for.
type Request struct {
	Scope string
	// Recipient is an age X25519 public key ("age1…"); Passphrase a
	// passphrase for age's scrypt mode. At most one of them.
	Recipient  string
	Passphrase string
}

// Allowed answers nil when actor may export everything (the web UI
// shows its page only then), or an apperr saying why not.
func (s *Service) Allowed(ctx context.Context, actor tenant.Actor) error {
	return s.allowed(ctx, actor)
}

// allowed decides whether actor may take everything out.
func (s *Service) allowed(ctx context.Context, actor tenant.Actor) error {
	if actor.Kind != tenant.ActorUser || actor.UserID == "" {
		// Operators and the system never take a tenant's data out.
		return apperr.Forbidden()
	}
	if s.o.Governor != nil {
		return s.o.Governor.AllowFullExport(ctx, actor)
	}
	if !access.CanManageSettings(actor) {
		return apperr.Forbidden()
	}
	return nil
}

type jobPayload struct {
	ExportID string `json:"export_id"`
}

func passphraseBinding(tid tenant.ID, id string) fieldcrypt.Binding {
	return fieldcrypt.Binding{Tenant: tid, Object: "export", RecordID: id, Field: "passphrase"}
}

// Start queues a full export for actor and returns it.
func (s *Service) Start(ctx context.Context, actor tenant.Actor, in Request) (Export, error) {
	if err := s.allowed(ctx, actor); err != nil {
		return Export{}, err
	}
	if in.Scope != ScopeAll {
		return Export{}, apperr.InvalidFields(map[string]string{"scope": `the only scope is "all"`})
	}
	enc := EncryptNone
	switch {
	case in.Recipient != "" && in.Passphrase != "":
		return Export{}, apperr.Invalid("give either an age recipient or a passphrase, not both")
	case in.Recipient != "":
		if _, err := age.ParseX25519Recipient(strings.TrimSpace(in.Recipient)); err != nil {
			// Other recipient kinds (SSH keys, plugins, post-quantum) are
			// refused: Debian's age and every age tool read X25519.
			return Export{}, apperr.InvalidFields(map[string]string{"recipient": "give an age X25519 public key (age1…)"})
		}
		enc = EncryptRecipient
	case in.Passphrase != "":
		if !utf8.ValidString(in.Passphrase) || len(in.Passphrase) > maxPassphraseBytes {
			return Export{}, apperr.InvalidFields(map[string]string{"passphrase": "the passphrase is too long or not valid text"})
		}
		if utf8.RuneCountInString(in.Passphrase) < MinPassphraseLen {
			return Export{}, apperr.InvalidFields(map[string]string{"passphrase": fmt.Sprintf("use at least %d characters", MinPassphraseLen)})
		}
		enc = EncryptPassphrase
	}
	tid := actor.TenantID
	now := s.o.Now().UTC().Truncate(time.Microsecond)
	e := Export{ID: tenant.NewID(), TenantID: tid, RequestedBy: actor.UserID, Scope: ScopeAll, Status: StatusQueued,
		Encryption: enc, Recipient: strings.TrimSpace(in.Recipient), CreatedAt: now}
	if enc == EncryptPassphrase {
		// Sealed under the tenant's data key and bound to this export, so
		// the row alone (or a backup of it) never yields the passphrase;
		// erased when the job ends.
		sealed, err := fieldcrypt.Encrypt(ctx, s.o.Keys, passphraseBinding(tid, e.ID), []byte(in.Passphrase))
		if err != nil {
			return Export{}, fmt.Errorf("export: seal the passphrase: %w", err)
		}
		e.PassphraseSealed = sealed
	}
	err := s.o.Store.WriteTx(ctx, tid, func(ctx context.Context) error {
		j, err := s.o.Queue.Enqueue(ctx, tid, KindFull, jobPayload{ExportID: e.ID}, actor.UserID, jobs.EnqueueOptions{Key: jobKey})
		if err != nil {
			return err
		}
		var pl jobPayload
		if json.Unmarshal(j.Payload, &pl) != nil || pl.ExportID != e.ID {
			return apperr.Conflict("another full export of this tenant is still running; wait for it to finish").WithDetail("job_id", j.ID)
		}
		e.JobID = j.ID
		if err := s.o.Store.InsertExport(ctx, tid, e); err != nil {
			return err
		}
		ev := audit.New(actor, now, ActionRequested, "export", e.ID, "full export")
		ev.Changes = map[string]audit.Change{"scope": {After: e.Scope}, "encryption": {After: string(enc)}}
		if e.Recipient != "" {
			// A public key: which key the file is for, never a secret.
			ev.Changes["recipient"] = audit.Change{After: e.Recipient}
		}
		return s.o.Store.AppendAudit(ctx, ev)
	})
	if err != nil {
		return Export{}, err
	}
	s.o.Queue.Notify()
	e.PassphraseSealed = ""
	return e, nil
}

// Get returns one of actor's exports with its current state. Only the
// user who asked sees it; anyone else gets not found.
func (s *Service) Get(ctx context.Context, actor tenant.Actor, id string) (Export, error) {
	if actor.Kind != tenant.ActorUser || actor.UserID == "" || !tenant.ValidID(id) {
		return Export{}, apperr.NotFound("export")
	}
	e, err := s.o.Store.Export(ctx, actor.TenantID, id)
	if err != nil {
		return Export{}, err
	}
	if e.RequestedBy != actor.UserID {
		return Export{}, apperr.NotFound("export")
	}
	e, err = s.reconcile(ctx, e)
	e.PassphraseSealed = ""
	return e, err
}

// List returns actor's own most recent exports, newest first.
func (s *Service) List(ctx context.Context, actor tenant.Actor, limit int) ([]Export, error) {
	if actor.Kind != tenant.ActorUser || actor.UserID == "" {
		return nil, apperr.Forbidden()
	}
	if limit <= 0 || limit > 100 {
		limit = 20
	}
	all, err := s.o.Store.Exports(ctx, actor.TenantID, 200)
	if err != nil {
		return nil, err
	}
	var out []Export
	for _, e := range all {
		if e.RequestedBy != actor.UserID {
			continue
		}
		if e, err = s.reconcile(ctx, e); err != nil {
			return nil, err
		}
		e.PassphraseSealed = ""
		if out = append(out, e); len(out) == limit {
			break
		}
	}
	return out, nil
}

// reconcile brings an unfinished export's row in line with its job: a job
// that failed for good (it ran out of attempts, possibly by crashing)
// marks the export failed, erases the passphrase and the partial file.
func (s *Service) reconcile(ctx context.Context, e Export) (Export, error) {
	if e.Status == StatusDone || e.Status == StatusFailed || e.JobID == "" {
		return e, nil
	}
	j, err := s.o.Queue.Get(ctx, e.TenantID, e.JobID)
	if err != nil {
		return e, err
	}
	if j.State != jobs.Failed {
		return e, nil
	}
	msg := j.Error
	if msg == "" {
		msg = "the export failed"
	}
	if err := s.fail(ctx, e, msg); err != nil {
		return e, err
	}
	return s.o.Store.Export(ctx, e.TenantID, e.ID)
}

// fail records a failed export once: status, audit event, partial file
// removed, passphrase erased.
func (s *Service) fail(ctx context.Context, e Export, msg string) error {
	s.removeFiles(e)
	now := s.o.Now().UTC()
	return s.o.Store.WriteTx(ctx, e.TenantID, func(ctx context.Context) error {
		cur, err := s.o.Store.Export(ctx, e.TenantID, e.ID)
		if err != nil {
			return err
		}
		if cur.Status == StatusDone || cur.Status == StatusFailed {
			return nil
		}
		if err := s.o.Store.FinishExport(ctx, e.TenantID, e.ID, Finish{Status: StatusFailed, Records: cur.RecordsDone, Error: msg, FinishedAt: now}); err != nil {
			return err
		}
		ev := audit.New(s.requester(ctx, e), now, ActionFailed, "export", e.ID, "full export")
		ev.Changes = map[string]audit.Change{"rows": {After: float64(cur.RecordsDone)}, "error": {After: msg}}
		return s.o.Store.AppendAudit(ctx, ev)
	})
}

// requester is the actor the export's later events are recorded for: the
// user who asked (the job acts on their behalf).
func (s *Service) requester(ctx context.Context, e Export) tenant.Actor {
	a := tenant.Actor{Kind: tenant.ActorUser, TenantID: e.TenantID, UserID: e.RequestedBy}
	if u, err := s.o.Users.User(ctx, e.TenantID, e.RequestedBy); err == nil {
		a.Name, a.Role = u.Name, u.Role
	}
	return a
}

// tenantDir is the directory of one tenant's files. The tenant ID is a
// UUID (checked), so it cannot climb out of Dir.
func (s *Service) tenantDir(tid tenant.ID) (string, error) {
	if !tenant.ValidID(string(tid)) || s.o.Dir == "" {
		return "", apperr.Internal(fmt.Errorf("export: no directory for tenant %q", tid))
	}
	return filepath.Join(s.o.Dir, string(tid)), nil
}

func fileName(e Export) string {
	if e.Encryption == EncryptNone {
		return e.ID + ".zip"
	}
	return e.ID + ".zip.age"
}

func partialName(e Export) string { return "." + e.ID + ".partial" }

// removeFiles deletes an export's file and any partial one or spool a
// crashed run left; a file already gone is fine.
func (s *Service) removeFiles(e Export) {
	dir, err := s.tenantDir(e.TenantID)
	if err != nil || !tenant.ValidID(e.ID) {
		return
	}
	for _, name := range []string{fileName(e), partialName(e), "." + e.ID + ".spool"} {
		if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			s.o.Log.Error("removing an export file", "tenant_id", string(e.TenantID), "export_id", e.ID, "err", err)
		}
	}
}

// Download is an open export file.
type Download struct {
	*os.File
	Export Export
	// Name is what the browser saves the file as.
	Name string
}

// Open opens actor's finished export for download and records it. Only
// the user who asked may download, only while still allowed to export,
// and only before expiry (after it, an error wrapping ErrExpired).
func (s *Service) Open(ctx context.Context, actor tenant.Actor, id string) (*Download, error) {
	e, err := s.Get(ctx, actor, id)
	if err != nil {
		return nil, err
	}
	// A user demoted, or a contract that ended, since the request stops
	// the download too.
	if err := s.allowed(ctx, actor); err != nil {
		return nil, err
	}
	now := s.o.Now().UTC()
	switch {
	case e.DeletedAt != nil || (e.Status == StatusDone && !e.Downloadable(now)):
		if e.DeletedAt == nil {
			s.expire(ctx, e, now)
		}
		return nil, apperr.Conflict("this export expired and its file was deleted; start a new export").Wrap(ErrExpired)
	case e.Status == StatusFailed:
		return nil, apperr.Conflict("this export failed: %s", e.Error)
	case e.Status != StatusDone:
		return nil, apperr.Conflict("this export is not finished yet")
	}
	dir, err := s.tenantDir(e.TenantID)
	if err != nil {
		return nil, err
	}
	if e.FileName != fileName(e) {
		// The name is ours; anything else in the row is tampering.
		return nil, apperr.Internal(fmt.Errorf("export: export %s names an unexpected file", e.ID))
	}
	f, err := os.Open(filepath.Join(dir, e.FileName))
	if err != nil {
		return nil, apperr.Internal(fmt.Errorf("export: open the file of export %s: %w", e.ID, err))
	}
	err = s.o.Store.WriteTx(ctx, e.TenantID, func(ctx context.Context) error {
		ev := audit.New(actor, now, ActionDownloaded, "export", e.ID, "full export")
		ev.Changes = map[string]audit.Change{"sha256": {After: e.SHA256}, "size": {After: float64(e.Size)}}
		return s.o.Store.AppendAudit(ctx, ev)
	})
	if err != nil {
		f.Close()
		return nil, err
	}
	name := "haven-export-" + e.CreatedAt.UTC().Format("20060102-150405") + ".zip"
	if e.Encryption != EncryptNone {
		name += ".age"
	}
	return &Download{File: f, Export: e, Name: name}, nil
}

// expire deletes an expired export's file and marks the row deleted.
func (s *Service) expire(ctx context.Context, e Export, now time.Time) {
	s.removeFiles(e)
	if _, err := s.o.Store.MarkExportDeleted(ctx, e.TenantID, e.ID, now); err != nil {
		s.o.Log.Error("marking an expired export deleted", "tenant_id", string(e.TenantID), "export_id", e.ID, "err", err)
	}
}

// SweepExpired deletes the tenant's expired export files and marks them
// deleted; it returns how many it deleted. It also closes exports whose
// job failed for good without saying so (a worker that kept crashing),
// which erases their sealed passphrase and partial file.
func (s *Service) SweepExpired(ctx context.Context, tid tenant.ID) (int, error) {
	now := s.o.Now().UTC()
	recent, err := s.o.Store.Exports(ctx, tid, 200)
	if err != nil {
		return 0, err
	}
	for _, e := range recent {
		if _, err := s.reconcile(ctx, e); err != nil {
			return 0, err
		}
	}
	n := 0
	for {
		list, err := s.o.Store.ExpiredExports(ctx, tid, now, 100)
		if err != nil {
			return n, err
		}
		for _, e := range list {
			s.removeFiles(e)
			if _, err := s.o.Store.MarkExportDeleted(ctx, tid, e.ID, now); err != nil {
				return n, err
			}
			n++
		}
		if len(list) < 100 {
			return n, nil
		}
	}
}

// runExpire is the job scheduled at an export's expiry: it sweeps the
// tenant's expired files (that one included).
func (s *Service) runExpire(ctx context.Context, job jobs.Job, _ *jobs.Progress) error {
	_, err := s.SweepExpired(ctx, job.TenantID)
	return err
}

// scheduleExpiry queues the sweep due when e expires. Without a
// scheduler, expired files go at the next export's sweep or download.
func (s *Service) scheduleExpiry(ctx context.Context, e Export, at time.Time) error {
	if s.o.Scheduler == nil {
		return nil
	}
	now := s.o.Now().UTC().Truncate(time.Microsecond)
	raw, _ := json.Marshal(jobPayload{ExportID: e.ID})
	_, _, err := s.o.Scheduler.EnqueueJob(ctx, jobs.Job{ID: tenant.NewID(), TenantID: e.TenantID, Kind: KindExpire, Payload: raw,
		State: jobs.Queued, CreatedBy: e.RequestedBy, CreatedAt: now, UpdatedAt: now}, at)
	return err
}
