package store

import (
	"context"
	"errors"

	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/attachments"
	"github.com/havencrm/haven/tenant"
)

var _ attachments.Store = (*DB)(nil)

const attachmentCols = `id, object, record_id, name_sealed, key_sealed, key_term, content_type, size, format, created_at, created_by`

func scanAttachment(row scanner) (attachments.Row, error) {
	var a attachments.Row
	var term, created int64
	if err := row.Scan(&a.ID, &a.Object, &a.RecordID, &a.SealedName, &a.SealedKey, &term, &a.ContentType, &a.Size, &a.Format,
		&created, &a.CreatedBy); err != nil {
		if errors.Is(err, errNoRows) {
			return a, apperr.NotFound("attachment")
		}
		return a, err
	}
	a.KeyTerm, a.CreatedAt = uint32(term), fromMicros(created)
	return a, nil
}

// InsertAttachment stores a new attachment's row.
func (db *DB) InsertAttachment(ctx context.Context, tid tenant.ID, a attachments.Row) error {
	return db.inTx(ctx, tid, true, func(ctx context.Context, q querier) error {
		_, err := q.exec(ctx, `INSERT INTO attachments (tenant_id, `+attachmentCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			string(tid), a.ID, a.Object, a.RecordID, a.SealedName, a.SealedKey, int64(a.KeyTerm), a.ContentType, a.Size, a.Format,
			micros(a.CreatedAt), a.CreatedBy)
		return err
	})
}

// Attachment returns one attachment of one record.
func (db *DB) Attachment(ctx context.Context, tid tenant.ID, object, recordID, id string) (attachments.Row, error) {
	var a attachments.Row
	err := db.inTx(ctx, tid, false, func(ctx context.Context, q querier) error {
		var err error
		a, err = scanAttachment(q.queryRow(ctx, `SELECT `+attachmentCols+` FROM attachments
			WHERE tenant_id = ? AND object = ? AND record_id = ? AND id = ?`, string(tid), object, recordID, id))
		return err
	})
	return a, err
}

// RecordAttachments lists a record's attachments, oldest first.
func (db *DB) RecordAttachments(ctx context.Context, tid tenant.ID, object, recordID string) ([]attachments.Row, error) {
	return queryAll(ctx, db, tid, scanAttachment, `SELECT `+attachmentCols+` FROM attachments
		WHERE tenant_id = ? AND object = ? AND record_id = ? ORDER BY created_at, id`, string(tid), object, recordID)
}

// DeleteAttachment removes an attachment's row.
func (db *DB) DeleteAttachment(ctx context.Context, tid tenant.ID, id string) error {
	return db.inTx(ctx, tid, true, func(ctx context.Context, q querier) error {
		res, err := q.exec(ctx, `DELETE FROM attachments WHERE tenant_id = ? AND id = ?`, string(tid), id)
		return expectOne(res, err, "attachment")
	})
}

// AttachmentsBelowTerm pages by ID through attachments sealed under a
// term older than term.
func (db *DB) AttachmentsBelowTerm(ctx context.Context, tid tenant.ID, term uint32, afterID string, limit int) ([]attachments.Row, error) {
	return queryAll(ctx, db, tid, scanAttachment, `SELECT `+attachmentCols+` FROM attachments
		WHERE tenant_id = ? AND key_term < ? AND id > ? ORDER BY id LIMIT ?`, string(tid), int64(term), afterID, limit)
}

// ResealAttachment replaces the sealed name and key if the sealed key is
// still the one the caller read (compare-and-swap), and reports whether
// it did.
func (db *DB) ResealAttachment(ctx context.Context, tid tenant.ID, id, oldSealedKey, sealedName, sealedKey string, term uint32) (bool, error) {
	var done bool
	err := db.inTx(ctx, tid, true, func(ctx context.Context, q querier) error {
		res, err := q.exec(ctx, `UPDATE attachments SET name_sealed = ?, key_sealed = ?, key_term = ?
			WHERE tenant_id = ? AND id = ? AND key_sealed = ?`, sealedName, sealedKey, int64(term), string(tid), id, oldSealedKey)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		done = n == 1
		return err
	})
	return done, err
}

// CountAttachmentTerm counts attachments sealed under term.
func (db *DB) CountAttachmentTerm(ctx context.Context, tid tenant.ID, term uint32) (int64, error) {
	var n int64
	err := db.inTx(ctx, tid, false, func(ctx context.Context, q querier) error {
		return mapErr(q.queryRow(ctx, `SELECT COUNT(*) FROM attachments WHERE tenant_id = ? AND key_term = ?`,
			string(tid), int64(term)).Scan(&n))
	})
	return n, err
}
