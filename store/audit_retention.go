package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/havencrm/haven/audit"
	"github.com/havencrm/haven/tenant"
)

// AuditRetentionDays returns the tenant's chosen audit retention period,
// and false when it chose none.
func (db *DB) AuditRetentionDays(ctx context.Context, tid tenant.ID) (int, bool, error) {
	var days int
	found := false
	err := db.inTx(ctx, tid, false, func(ctx context.Context, q querier) error {
		err := q.queryRow(ctx, `SELECT retention_days FROM audit_settings WHERE tenant_id = ?`, string(tid)).Scan(&days)
		if errors.Is(err, errNoRows) {
			return nil
		}
		found = err == nil
		return mapErr(err)
	})
	return days, found, err
}

// PutAuditRetentionDays stores the tenant's audit retention period. The
// table's CHECK refuses a period below the platform minimum.
func (db *DB) PutAuditRetentionDays(ctx context.Context, tid tenant.ID, days int, at time.Time) error {
	return db.inTx(ctx, tid, true, func(ctx context.Context, q querier) error {
		_, err := q.exec(ctx, `INSERT INTO audit_settings (tenant_id, retention_days, updated_at) VALUES (?, ?, ?)
			ON CONFLICT (tenant_id) DO UPDATE SET retention_days = excluded.retention_days, updated_at = excluded.updated_at`,
			string(tid), days, micros(at))
		return err
	})
}

// AuditPurgeCandidate returns the newest event of a trail such that it
// and every event before it are older than cutoff, or nil when the
// oldest stored event is not. Walking by sequence (not by time) means an
// event stamped out of order by a skewed clock is never removed early:
// the purge stops before the first event at or after the cutoff.
func (db *DB) AuditPurgeCandidate(ctx context.Context, tid tenant.ID, cutoff time.Time) (*audit.Event, error) {
	var out *audit.Event
	err := db.inTx(ctx, tid, false, func(ctx context.Context, q querier) error {
		var first int64
		err := q.queryRow(ctx, `SELECT seq FROM audit_events WHERE tenant_id = ? AND at >= ? ORDER BY seq LIMIT 1`,
			string(tid), micros(cutoff)).Scan(&first)
		var row *sql.Row
		switch {
		case errors.Is(err, errNoRows):
			// Every stored event is old enough.
			row = q.queryRow(ctx, `SELECT `+auditCols+` FROM audit_events WHERE tenant_id = ? ORDER BY seq DESC LIMIT 1`, string(tid))
		case err != nil:
			return mapErr(err)
		default:
			row = q.queryRow(ctx, `SELECT `+auditCols+` FROM audit_events WHERE tenant_id = ? AND seq < ? ORDER BY seq DESC LIMIT 1`,
				string(tid), first)
		}
		e, err := scanAuditEvent(row, tid)
		if errors.Is(err, errNoRows) {
			return nil
		}
		if err != nil {
			return mapErr(err)
		}
		out = &e
		return nil
	})
	return out, err
}

// PurgeAudit removes a trail's events and checkpoints at or before a
// signed purge anchor and stores the anchor, in one transaction (the
// caller's, when it runs in one, so that the purge's own audit event
// commits with it). The append-only triggers allow exactly these
// deletes, because the anchor is inserted first. It returns how many
// events it deleted: 0 when an anchor at or after this one exists (a
// concurrent purge by another instance got there first).
func (db *DB) PurgeAudit(ctx context.Context, tid tenant.ID, anchor audit.Checkpoint) (int64, error) {
	if anchor.Kind != audit.KindAnchor || anchor.TenantID != tid || anchor.Seq <= 0 || len(anchor.Signature) == 0 {
		return 0, fmt.Errorf("store: purge of trail %q needs a signed anchor of that trail", tid)
	}
	var n int64
	err := db.inTx(ctx, tid, true, func(ctx context.Context, q querier) error {
		// Taking the head row serializes with appends and other purges.
		var last int64
		if err := q.queryRow(ctx, `UPDATE audit_heads SET last_seq = last_seq WHERE tenant_id = ? RETURNING last_seq`,
			string(tid)).Scan(&last); err != nil {
			return mapErr(err)
		}
		if anchor.Seq > last {
			return fmt.Errorf("store: purge anchor %d is past the end of trail %q (%d)", anchor.Seq, tid, last)
		}
		var newest sql.NullInt64
		if err := q.queryRow(ctx, `SELECT MAX(seq) FROM audit_checkpoints WHERE tenant_id = ? AND kind = 'anchor'`,
			string(tid)).Scan(&newest); err != nil {
			return mapErr(err)
		}
		if newest.Valid && newest.Int64 >= anchor.Seq {
			return nil
		}
		var hash string
		err := q.queryRow(ctx, `SELECT hash FROM audit_events WHERE tenant_id = ? AND seq = ?`, string(tid), anchor.Seq).Scan(&hash)
		if errors.Is(err, errNoRows) {
			return fmt.Errorf("store: audit event %d of trail %q is missing; nothing is purged", anchor.Seq, tid)
		}
		if err != nil {
			return mapErr(err)
		}
		if hash == "" || hash != anchor.Hash {
			// Changed between verification and now: leave everything for
			// investigation.
			return fmt.Errorf("store: audit event %d of trail %q does not match the anchor; nothing is purged", anchor.Seq, tid)
		}
		if err := insertCheckpoint(ctx, q, anchor); err != nil {
			return err
		}
		if _, err := q.exec(ctx, `DELETE FROM audit_checkpoints WHERE tenant_id = ? AND kind = 'checkpoint' AND seq <= ?`,
			string(tid), anchor.Seq); err != nil {
			return err
		}
		res, err := q.exec(ctx, `DELETE FROM audit_events WHERE tenant_id = ? AND seq <= ?`, string(tid), anchor.Seq)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// InTx reports whether ctx carries a transaction of this store. A
// platform audit event cannot join a tenant's transaction (a transaction
// serves one trail), so code that records one after a change defers it
// to its caller when the change ran inside the caller's transaction.
func (db *DB) InTx(ctx context.Context) bool {
	_, ok := ctx.Value(txKey{}).(*txState)
	return ok
}
