package export

import (
	"context"
	"time"

	"github.com/havencrm/haven/audit"
	"github.com/havencrm/haven/tenant"
)

// Status is where an export is in its life.
type Status string

const (
	StatusQueued  Status = "queued"
	StatusRunning Status = "running"
	StatusDone    Status = "done"
	StatusFailed  Status = "failed"
)

// Encryption is how the zip is protected at rest and in transit.
type Encryption string

const (
	EncryptNone       Encryption = "none"
	EncryptRecipient  Encryption = "recipient"
	EncryptPassphrase Encryption = "passphrase"
)

// ScopeAll is the only scope: everything the tenant has.
const ScopeAll = "all"

// Export is one full export: who asked, how far the job got, what the
// file holds and until when it may be downloaded.
type Export struct {
	ID          string
	TenantID    tenant.ID
	RequestedBy string
	JobID       string
	Scope       string
	Status      Status
	// RecordsDone and RecordsTotal measure progress in records.
	RecordsDone, RecordsTotal int64
	// FileName is the file's base name under the tenant's export
	// directory; Size and SHA256 describe the finished file.
	FileName   string
	Size       int64
	SHA256     string
	Encryption Encryption
	// Recipient is the age X25519 public key the file is encrypted to.
	Recipient string
	// PassphraseSealed is the passphrase sealed under the tenant's data
	// key while the job needs it; empty once the job ended.
	PassphraseSealed string
	// Error is a safe public message when Status is failed.
	Error      string
	CreatedAt  time.Time
	FinishedAt *time.Time
	ExpiresAt  *time.Time
	DeletedAt  *time.Time
}

// Progress returns 0..1.
func (e Export) Progress() float64 {
	switch {
	case e.Status == StatusDone:
		return 1
	case e.RecordsTotal <= 0:
		return 0
	case e.RecordsDone >= e.RecordsTotal:
		// The file is still being finished (attachments, audit, manifest).
		return 0.99
	}
	return float64(e.RecordsDone) / float64(e.RecordsTotal)
}

// Downloadable reports whether the file may still be fetched at now.
func (e Export) Downloadable(now time.Time) bool {
	return e.Status == StatusDone && e.DeletedAt == nil && e.ExpiresAt != nil && now.Before(*e.ExpiresAt)
}

// Finish is how a run ended, as the store records it.
type Finish struct {
	Status     Status
	FileName   string
	Size       int64
	SHA256     string
	Records    int64
	Error      string
	FinishedAt time.Time
	ExpiresAt  *time.Time
}

// Store is the persistence an export needs; *store.DB implements it.
type Store interface {
	WriteTx(ctx context.Context, tid tenant.ID, fn func(ctx context.Context) error) error
	AppendAudit(ctx context.Context, e audit.Event) error
	InsertExport(ctx context.Context, tid tenant.ID, e Export) error
	Export(ctx context.Context, tid tenant.ID, id string) (Export, error)
	Exports(ctx context.Context, tid tenant.ID, limit int) ([]Export, error)
	// SetExportProgress records status and counts of a queued or running
	// export (never of a finished one).
	SetExportProgress(ctx context.Context, tid tenant.ID, id string, status Status, done, total int64) error
	// FinishExport records the outcome and erases the sealed passphrase.
	FinishExport(ctx context.Context, tid tenant.ID, id string, f Finish) error
	// MarkExportDeleted records that the file was removed; it reports
	// false when it already was.
	MarkExportDeleted(ctx context.Context, tid tenant.ID, id string, at time.Time) (bool, error)
	// ExpiredExports lists the tenant's finished exports whose file is past
	// expiry and not yet deleted.
	ExpiredExports(ctx context.Context, tid tenant.ID, now time.Time, limit int) ([]Export, error)
}
