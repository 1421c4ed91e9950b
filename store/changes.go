package store

import (
	"context"
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
