package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/havencrm/haven/records"
	"github.com/havencrm/haven/tenant"
)

// appendChange records one record write in the tenant's change feed. It
// must run inside the write transaction of the change it describes: the
// sequence number comes from the tenant's change_heads row, which the
// upsert keeps locked until that transaction ends, so sequence order is
// commit order and a reader never sees seq N+1 committed before N (the
// same scheme as AppendAudit with audit_heads).
func (db *DB) appendChange(ctx context.Context, q querier, tid tenant.ID, op records.ChangeOp, object, id string, at time.Time) error {
	if db.pool != nil {
		// Every record write also appends to the audit trail, which locks
		// the tenant's audit head; paths that lock it first (LockTenant,
		// then a record write) would deadlock with one that took the
		// change head first. Taking the audit head here, before the change
		// head, keeps one lock order everywhere. SQLite has one writer.
		if _, err := q.exec(ctx, `SELECT 1 FROM audit_heads WHERE tenant_id = ? FOR UPDATE`, string(tid)); err != nil {
			return fmt.Errorf("lock audit head: %w", err)
		}
	}
	var seq int64
	if err := q.queryRow(ctx, `INSERT INTO change_heads (tenant_id, last_seq) VALUES (?, 1)
		ON CONFLICT (tenant_id) DO UPDATE SET last_seq = change_heads.last_seq + 1 RETURNING last_seq`,
		string(tid)).Scan(&seq); err != nil {
		return fmt.Errorf("advance change sequence: %w", mapErr(err))
	}
	_, err := q.exec(ctx, `INSERT INTO record_changes (tenant_id, seq, op, object, record_id, at) VALUES (?, ?, ?, ?, ?, ?)`,
		string(tid), seq, string(op), object, id, micros(at))
	return err
}

// ChangesAfter returns up to limit changes of the tenant with sequence
// numbers above afterSeq, in sequence (commit) order.
func (db *DB) ChangesAfter(ctx context.Context, tid tenant.ID, afterSeq int64, limit int) ([]records.Change, error) {
	return queryAll(ctx, db, tid, func(row scanner) (records.Change, error) {
		var c records.Change
		var op string
		var at int64
		if err := row.Scan(&c.Seq, &op, &c.Object, &c.RecordID, &at); err != nil {
			return c, err
		}
		c.Op, c.At = records.ChangeOp(op), fromMicros(at)
		return c, nil
	}, `SELECT seq, op, object, record_id, at FROM record_changes WHERE tenant_id = ? AND seq > ? ORDER BY seq LIMIT ?`,
		string(tid), afterSeq, limit)
}

// ChangeHead returns the tenant's last change sequence number (0 before
// the first change).
func (db *DB) ChangeHead(ctx context.Context, tid tenant.ID) (int64, error) {
	var seq int64
	err := db.inTx(ctx, tid, false, func(ctx context.Context, q querier) error {
		return mapErr(q.queryRow(ctx, `SELECT COALESCE(MAX(last_seq), 0) FROM change_heads WHERE tenant_id = ?`, string(tid)).Scan(&seq))
	})
	return seq, err
}

// ChangeBounds returns the tenant's change head and the highest sequence
// number purged from its feed (both 0 before the first change). A cursor
// below purgedThrough stands before changes that are gone.
func (db *DB) ChangeBounds(ctx context.Context, tid tenant.ID) (head, purgedThrough int64, err error) {
	err = db.inTx(ctx, tid, false, func(ctx context.Context, q querier) error {
		err := q.queryRow(ctx, `SELECT last_seq, purged_through FROM change_heads WHERE tenant_id = ?`, string(tid)).Scan(&head, &purgedThrough)
		if errors.Is(err, errNoRows) {
			return nil // no change yet
		}
		return mapErr(err)
	})
	return head, purgedThrough, err
}

// changePurgeBatch bounds the changes one purge transaction removes: the
// transaction holds the tenant's change head, which every record write of
// the tenant waits for, so a large backlog (the first purge after an
// upgrade) goes in short steps instead of one long stall.
const changePurgeBatch = 5000

// PurgeChanges removes the tenant's changes older than cutoff and returns
// how many it removed, in transactions of at most changePurgeBatch
// changes, each moving purged_through with the rows it deletes.
func (db *DB) PurgeChanges(ctx context.Context, tid tenant.ID, cutoff time.Time) (int64, error) {
	var total int64
	for {
		n, more, err := db.purgeChangesStep(ctx, tid, cutoff, changePurgeBatch)
		total += n
		if err != nil || !more {
			return total, err
		}
	}
}

// purgeChangesStep removes up to limit of the tenant's oldest changes
// older than cutoff and reports whether older ones remain. It walks by
// sequence, not by time: it stops before the first change at or after
// the cutoff, so a change stamped out of order by a skewed clock never
// takes newer ones with it, and what is left is always one unbroken run
// up to the head. Taking the head row first serializes the purge with
// writers (which take the next number from it) and with a purge on
// another instance.
func (db *DB) purgeChangesStep(ctx context.Context, tid tenant.ID, cutoff time.Time, limit int64) (n int64, more bool, err error) {
	err = db.inTx(ctx, tid, true, func(ctx context.Context, q querier) error {
		var last, purged int64
		err := q.queryRow(ctx, `UPDATE change_heads SET last_seq = last_seq WHERE tenant_id = ? RETURNING last_seq, purged_through`,
			string(tid)).Scan(&last, &purged)
		if errors.Is(err, errNoRows) {
			return nil // the tenant never wrote a record
		}
		if err != nil {
			return mapErr(err)
		}
		through := last
		var first sql.NullInt64
		if err := q.queryRow(ctx, `SELECT MIN(seq) FROM record_changes WHERE tenant_id = ? AND at >= ?`,
			string(tid), micros(cutoff)).Scan(&first); err != nil {
			return mapErr(err)
		}
		if first.Valid {
			through = first.Int64 - 1
		}
		if through <= purged {
			return nil // nothing old enough, or another purge got here first
		}
		if through > purged+limit {
			through, more = purged+limit, true
		}
		res, err := q.exec(ctx, `DELETE FROM record_changes WHERE tenant_id = ? AND seq <= ?`, string(tid), through)
		if err != nil {
			return mapErr(err)
		}
		if n, err = res.RowsAffected(); err != nil {
			return err
		}
		_, err = q.exec(ctx, `UPDATE change_heads SET purged_through = ? WHERE tenant_id = ?`, through, string(tid))
		return mapErr(err)
	})
	if err != nil {
		return 0, false, err
	}
	return n, more, nil
}
