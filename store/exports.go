package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/export"
	"github.com/havencrm/haven/tenant"
)

var _ export.Store = (*DB)(nil)

const exportCols = `tenant_id, id, requested_by, job_id, scope, status, records_done, records_total, file_name, size, sha256,
	encryption, recipient, passphrase_sealed, error_message, created_at, finished_at, expires_at, deleted_at`

func scanExport(row scanner) (export.Export, error) {
	var e export.Export
	var tid, status, enc string
	var created int64
	var finished, expires, deleted sql.NullInt64
	if err := row.Scan(&tid, &e.ID, &e.RequestedBy, &e.JobID, &e.Scope, &status, &e.RecordsDone, &e.RecordsTotal, &e.FileName,
		&e.Size, &e.SHA256, &enc, &e.Recipient, &e.PassphraseSealed, &e.Error, &created, &finished, &expires, &deleted); err != nil {
		if errors.Is(err, errNoRows) {
			return e, apperr.NotFound("export")
		}
		return e, mapErr(err)
	}
	e.TenantID, e.Status, e.Encryption = tenant.ID(tid), export.Status(status), export.Encryption(enc)
	e.CreatedAt, e.FinishedAt, e.ExpiresAt, e.DeletedAt = fromMicros(created), fromNullMicros(finished), fromNullMicros(expires), fromNullMicros(deleted)
	return e, nil
}

// InsertExport stores a newly requested export.
func (db *DB) InsertExport(ctx context.Context, tid tenant.ID, e export.Export) error {
	return db.inTx(ctx, tid, true, func(ctx context.Context, q querier) error {
		_, err := q.exec(ctx, `INSERT INTO exports (`+exportCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			string(tid), e.ID, e.RequestedBy, e.JobID, e.Scope, string(e.Status), e.RecordsDone, e.RecordsTotal, e.FileName, e.Size, e.SHA256,
			string(e.Encryption), e.Recipient, e.PassphraseSealed, e.Error, micros(e.CreatedAt), nullMicros(e.FinishedAt),
			nullMicros(e.ExpiresAt), nullMicros(e.DeletedAt))
		return err
	})
}

// Export returns one export of the tenant.
func (db *DB) Export(ctx context.Context, tid tenant.ID, id string) (export.Export, error) {
	var e export.Export
	err := db.inTx(ctx, tid, false, func(ctx context.Context, q querier) error {
		var err error
		e, err = scanExport(q.queryRow(ctx, `SELECT `+exportCols+` FROM exports WHERE tenant_id = ? AND id = ?`, string(tid), id))
		return err
	})
	return e, err
}

// Exports lists the tenant's most recent exports, newest first.
func (db *DB) Exports(ctx context.Context, tid tenant.ID, limit int) ([]export.Export, error) {
	return queryAll(ctx, db, tid, scanExport, `SELECT `+exportCols+` FROM exports WHERE tenant_id = ?
		ORDER BY created_at DESC, id DESC LIMIT ?`, string(tid), limit)
}

// SetExportProgress records the status and counts of an unfinished export.
func (db *DB) SetExportProgress(ctx context.Context, tid tenant.ID, id string, status export.Status, done, total int64) error {
	return db.inTx(ctx, tid, true, func(ctx context.Context, q querier) error {
		_, err := q.exec(ctx, `UPDATE exports SET status = ?, records_done = ?, records_total = ?
			WHERE tenant_id = ? AND id = ? AND status IN ('queued', 'running')`, string(status), done, total, string(tid), id)
		return err
	})
}

// FinishExport records an export's outcome and erases its sealed
// passphrase, which nothing needs any more.
func (db *DB) FinishExport(ctx context.Context, tid tenant.ID, id string, f export.Finish) error {
	return db.inTx(ctx, tid, true, func(ctx context.Context, q querier) error {
		res, err := q.exec(ctx, `UPDATE exports SET status = ?, file_name = ?, size = ?, sha256 = ?, records_done = ?,
				records_total = CASE WHEN records_total < ? THEN ? ELSE records_total END,
				error_message = ?, finished_at = ?, expires_at = ?, passphrase_sealed = ''
			WHERE tenant_id = ? AND id = ?`,
			string(f.Status), f.FileName, f.Size, f.SHA256, f.Records, f.Records, f.Records, f.Error, micros(f.FinishedAt),
			nullMicros(f.ExpiresAt), string(tid), id)
		return expectOne(res, err, "export")
	})
}

// MarkExportDeleted records that an export's file was removed.
func (db *DB) MarkExportDeleted(ctx context.Context, tid tenant.ID, id string, at time.Time) (bool, error) {
	var done bool
	err := db.inTx(ctx, tid, true, func(ctx context.Context, q querier) error {
		res, err := q.exec(ctx, `UPDATE exports SET deleted_at = ?, passphrase_sealed = '' WHERE tenant_id = ? AND id = ? AND deleted_at IS NULL`,
			micros(at), string(tid), id)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		done = n == 1
		return mapErr(err)
	})
	return done, err
}

// ExpiredExports lists finished exports past expiry whose file is not yet
// marked deleted.
func (db *DB) ExpiredExports(ctx context.Context, tid tenant.ID, now time.Time, limit int) ([]export.Export, error) {
	return queryAll(ctx, db, tid, scanExport, `SELECT `+exportCols+` FROM exports
		WHERE tenant_id = ? AND deleted_at IS NULL AND expires_at IS NOT NULL AND expires_at <= ? ORDER BY id LIMIT ?`,
		string(tid), micros(now), limit)
}

// SchemaVersion is the highest migration this binary carries: the schema
// an export's manifest names (Migrate applies it at start).
func (db *DB) SchemaVersion() int {
	ms, err := db.migrations()
	if err != nil || len(ms) == 0 {
		return 0
	}
	return ms[len(ms)-1].version
}
