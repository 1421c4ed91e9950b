package store

import (
	"context"
	"encoding/hex"
	"errors"
	"time"

	"encoding/json"
	"fmt"
	"github.com/havencrm/haven/apperr"
	"strings"

	"github.com/havencrm/haven/audit"
	"github.com/havencrm/haven/tenant"
)

// AuditCheckpointer signs the chain as events are appended: due tells
// whether a checkpoint is due after an event (given where the last one
// stands), sign signs it.
type AuditCheckpointer interface {
	Due(seq, checkpointSeq int64, at, checkpointAt time.Time) bool
	Sign(c audit.Checkpoint) (audit.Checkpoint, error)
}

// SetAuditCheckpointer makes appends sign checkpoints in the appending
// transaction when due; nil turns that off.
func (db *DB) SetAuditCheckpointer(c AuditCheckpointer) {
	db.checkpointer.Store(&c)
}

func (db *DB) auditCheckpointer() AuditCheckpointer {
	if p := db.checkpointer.Load(); p != nil {
		return *p
	}
	return nil
}

// AppendAudit appends e to its tenant's trail with the next sequence
// number and its chain hash, and signs a checkpoint when one is due. It
// must run inside the write transaction of the change it describes; the
// UPDATE of audit_heads serializes appends per tenant.
func (db *DB) AppendAudit(ctx context.Context, e audit.Event) error {
	changes, err := audit.CanonicalChanges(e.Changes)
	if err != nil {
		return err
	}
	return db.inTx(ctx, e.TenantID, true, func(ctx context.Context, q querier) error {
		var lastHash string
		var cpSeq, cpAt int64
		if err := q.queryRow(ctx, `UPDATE audit_heads SET last_seq = last_seq + 1 WHERE tenant_id = ?
			RETURNING last_seq, last_hash, checkpoint_seq, checkpoint_at`,
			string(e.TenantID)).Scan(&e.Seq, &lastHash, &cpSeq, &cpAt); err != nil {
			return fmt.Errorf("advance audit sequence: %w", mapErr(err))
		}
		prev := audit.GenesisHash
		if e.Seq > 1 {
			var err error
			if prev, err = hex.DecodeString(lastHash); err != nil || len(prev) != audit.HashSize {
				return fmt.Errorf("audit trail of tenant %q has no valid head hash: chain its stored events first (ChainAuditBacklog)", e.TenantID)
			}
		}
		e.At = fromMicros(micros(e.At)) // the precision stored is the precision hashed
		h, err := audit.HashEvent(prev, e)
		if err != nil {
			return err
		}
		e.Hash = hex.EncodeToString(h)
		if _, err := q.exec(ctx, `INSERT INTO audit_events (tenant_id, seq, at, actor_type, actor_id, actor_name, via, action, object_type,
			object_id, object_name, ip, user_agent, request_id, changes, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			string(e.TenantID), e.Seq, micros(e.At), e.ActorType, e.ActorID, e.ActorName, e.Via, e.Action, e.ObjectType, e.ObjectID,
			e.ObjectName, e.IP, e.UserAgent, e.RequestID, string(changes), e.Hash); err != nil {
			return err
		}
		cp := db.auditCheckpointer()
		if cp == nil || !cp.Due(e.Seq, cpSeq, e.At, fromMicros(cpAt)) {
			_, err := q.exec(ctx, `UPDATE audit_heads SET last_hash = ? WHERE tenant_id = ?`, e.Hash, string(e.TenantID))
			return err
		}
		signed, err := cp.Sign(audit.Checkpoint{TenantID: e.TenantID, Kind: audit.KindCheckpoint, Seq: e.Seq, Hash: e.Hash, At: e.At})
		if err != nil {
			return fmt.Errorf("sign audit checkpoint: %w", err)
		}
		if err := insertCheckpoint(ctx, q, signed); err != nil {
			return err
		}
		_, err = q.exec(ctx, `UPDATE audit_heads SET last_hash = ?, checkpoint_seq = ?, checkpoint_at = ? WHERE tenant_id = ?`,
			e.Hash, e.Seq, micros(e.At), string(e.TenantID))
		return err
	})
}

func insertCheckpoint(ctx context.Context, q querier, c audit.Checkpoint) error {
	_, err := q.exec(ctx, `INSERT INTO audit_checkpoints (tenant_id, kind, seq, hash, at, key_id, signature) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		string(c.TenantID), c.Kind, c.Seq, c.Hash, micros(c.At), c.KeyID, c.Signature)
	return mapErr(err)
}

// QueryAudit returns events matching f, newest first.
func (db *DB) QueryAudit(ctx context.Context, tid tenant.ID, f audit.Filter) ([]audit.Event, error) {
	var where strings.Builder
	args := []any{string(tid)}
	where.WriteString(`WHERE tenant_id = ?`)
	add := func(cond string, v any) {
		where.WriteString(" AND " + cond)
		args = append(args, v)
	}
	if !f.From.IsZero() {
		add(`at >= ?`, micros(f.From))
	}
	if !f.To.IsZero() {
		add(`at < ?`, micros(f.To))
	}
	if f.ActorID != "" {
		add(`actor_id = ?`, f.ActorID)
	}
	if f.Action != "" {
		add(`action = ?`, f.Action)
	}
	if f.ObjectType != "" {
		add(`object_type = ?`, f.ObjectType)
	}
	if f.ObjectID != "" {
		add(`object_id = ?`, f.ObjectID)
	}
	if f.BeforeSeq > 0 {
		add(`seq < ?`, f.BeforeSeq)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 50
	}
	args = append(args, limit)
	var out []audit.Event
	err := db.inTx(ctx, tid, false, func(ctx context.Context, q querier) error {
		rows, err := q.query(ctx, `SELECT `+auditCols+` FROM audit_events `+where.String()+` ORDER BY seq DESC LIMIT ?`, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			e, err := scanAuditEvent(rows, tid)
			if err != nil {
				return err
			}
			out = append(out, e)
		}
		return rows.Err()
	})
	return out, err
}

const auditCols = `seq, at, actor_type, actor_id, actor_name, via, action, object_type, object_id, object_name,
	ip, user_agent, request_id, changes, hash`

func scanAuditEvent(row scanner, tid tenant.ID) (audit.Event, error) {
	return scanAuditEventAs(row, tid, false)
}

// unreadableChanges names the one change an event whose stored changes
// are not JSON carries in the verification walk: the stored text.
const unreadableChanges = "(unreadable changes)"

// scanAuditEventAs reads an event; lenient keeps stored changes that are
// not JSON as a change holding the raw text, instead of failing.
func scanAuditEventAs(row scanner, tid tenant.ID, lenient bool) (audit.Event, error) {
	e := audit.Event{TenantID: tid}
	var at int64
	var changes string
	if err := row.Scan(&e.Seq, &at, &e.ActorType, &e.ActorID, &e.ActorName, &e.Via, &e.Action, &e.ObjectType, &e.ObjectID,
		&e.ObjectName, &e.IP, &e.UserAgent, &e.RequestID, &changes, &e.Hash); err != nil {
		return e, err
	}
	e.At = fromMicros(at)
	if changes != "{}" {
		if err := json.Unmarshal([]byte(changes), &e.Changes); err != nil {
			if !lenient {
				return e, fmt.Errorf("audit event %d changes: %w", e.Seq, err)
			}
			e.Changes = map[string]audit.Change{unreadableChanges: {Before: changes}}
		}
	}
	return e, nil
}

// AuditEventsAfter returns up to limit events of a trail with sequence
// numbers above afterSeq, in order: the walk verification and export take.
// Stored changes that are not JSON (only tampering writes them) come back
// as their raw text, so the event fails its hash at its own sequence
// number rather than the whole walk failing to read.
func (db *DB) AuditEventsAfter(ctx context.Context, tid tenant.ID, afterSeq int64, limit int) ([]audit.Event, error) {
	return queryAll(ctx, db, tid, func(row scanner) (audit.Event, error) { return scanAuditEventAs(row, tid, true) },
		`SELECT `+auditCols+` FROM audit_events WHERE tenant_id = ? AND seq > ? ORDER BY seq LIMIT ?`, string(tid), afterSeq, limit)
}

func scanCheckpoint(tid tenant.ID) func(row scanner) (audit.Checkpoint, error) {
	return func(row scanner) (audit.Checkpoint, error) {
		c := audit.Checkpoint{TenantID: tid}
		var at int64
		if err := row.Scan(&c.Kind, &c.Seq, &c.Hash, &at, &c.KeyID, &c.Signature); err != nil {
			return c, err
		}
		c.At = fromMicros(at)
		return c, nil
	}
}

// AuditCheckpoints returns a trail's checkpoints and anchors with
// sequence numbers above afterSeq, in order (anchors first at a tie).
func (db *DB) AuditCheckpoints(ctx context.Context, tid tenant.ID, afterSeq int64, limit int) ([]audit.Checkpoint, error) {
	return queryAll(ctx, db, tid, scanCheckpoint(tid),
		`SELECT kind, seq, hash, at, key_id, signature FROM audit_checkpoints WHERE tenant_id = ? AND seq > ? ORDER BY seq, kind LIMIT ?`,
		string(tid), afterSeq, limit)
}

// AuditAnchor returns the newest purge anchor of a trail, if any.
func (db *DB) AuditAnchor(ctx context.Context, tid tenant.ID) (*audit.Checkpoint, error) {
	cs, err := queryAll(ctx, db, tid, scanCheckpoint(tid),
		`SELECT kind, seq, hash, at, key_id, signature FROM audit_checkpoints WHERE tenant_id = ? AND kind = 'anchor' ORDER BY seq DESC LIMIT 1`,
		string(tid))
	if err != nil || len(cs) == 0 {
		return nil, err
	}
	return &cs[0], nil
}

// AuditHead reads where a trail stands: its last event and last checkpoint.
func (db *DB) AuditHead(ctx context.Context, tid tenant.ID) (audit.Head, error) {
	var h audit.Head
	var at int64
	err := db.inTx(ctx, tid, false, func(ctx context.Context, q querier) error {
		return mapErr(q.queryRow(ctx, `SELECT last_seq, last_hash, checkpoint_seq, checkpoint_at FROM audit_heads WHERE tenant_id = ?`,
			string(tid)).Scan(&h.Seq, &h.Hash, &h.CheckpointSeq, &at))
	})
	if errors.Is(err, errNoRows) {
		return h, apperr.NotFound("audit trail")
	}
	h.CheckpointAt = fromMicros(at)
	return h, err
}

// CheckpointAuditHead signs a checkpoint of a trail's last event if it
// has none yet (the periodic checkpoint between busy spells).
func (db *DB) CheckpointAuditHead(ctx context.Context, tid tenant.ID, sign func(audit.Checkpoint) (audit.Checkpoint, error)) (bool, error) {
	var done bool
	err := db.inTx(ctx, tid, true, func(ctx context.Context, q querier) error {
		var seq, cpSeq int64
		var hash string
		// Taking the head row in a write serializes with appends.
		if err := q.queryRow(ctx, `UPDATE audit_heads SET last_seq = last_seq WHERE tenant_id = ? RETURNING last_seq, last_hash, checkpoint_seq`,
			string(tid)).Scan(&seq, &hash, &cpSeq); err != nil {
			return mapErr(err)
		}
		if seq == 0 || cpSeq >= seq || hash == "" {
			return nil
		}
		var at int64
		if err := q.queryRow(ctx, `SELECT at FROM audit_events WHERE tenant_id = ? AND seq = ?`, string(tid), seq).Scan(&at); err != nil {
			return mapErr(err)
		}
		c, err := sign(audit.Checkpoint{TenantID: tid, Kind: audit.KindCheckpoint, Seq: seq, Hash: hash, At: fromMicros(at)})
		if err != nil {
			return err
		}
		if err := insertCheckpoint(ctx, q, c); err != nil {
			return err
		}
		_, err = q.exec(ctx, `UPDATE audit_heads SET checkpoint_seq = ?, checkpoint_at = ? WHERE tenant_id = ?`, seq, micros(c.At), string(tid))
		done = err == nil
		return err
	})
	return done, err
}

// ChainAuditBacklog gives hashes to a trail's events stored before the
// chain existed, in order, continuing from the last hashed event. It is
// idempotent and returns how many events it chained.
func (db *DB) ChainAuditBacklog(ctx context.Context, tid tenant.ID) (int, error) {
	n := 0
	err := db.inTx(ctx, tid, true, func(ctx context.Context, q querier) error {
		var seq int64
		var hash string
		if err := q.queryRow(ctx, `SELECT last_seq, last_hash FROM audit_heads WHERE tenant_id = ?`, string(tid)).Scan(&seq, &hash); err != nil {
			return mapErr(err)
		}
		if seq == 0 || hash != "" {
			return nil
		}
		prev := audit.GenesisHash
		var after int64
		for {
			rows, err := q.query(ctx, `SELECT `+auditCols+` FROM audit_events WHERE tenant_id = ? AND seq > ? ORDER BY seq LIMIT 500`, string(tid), after)
			if err != nil {
				return err
			}
			var batch []audit.Event
			for rows.Next() {
				e, err := scanAuditEvent(rows, tid)
				if err != nil {
					rows.Close()
					return err
				}
				batch = append(batch, e)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			for _, e := range batch {
				h, err := audit.HashEvent(prev, e)
				if err != nil {
					return err
				}
				if _, err := q.exec(ctx, `UPDATE audit_events SET hash = ? WHERE tenant_id = ? AND seq = ? AND hash = ''`,
					hex.EncodeToString(h), string(tid), e.Seq); err != nil {
					return err
				}
				prev, after = h, e.Seq
				n++
			}
			if len(batch) < 500 {
				break
			}
		}
		_, err := q.exec(ctx, `UPDATE audit_heads SET last_hash = ? WHERE tenant_id = ?`, hex.EncodeToString(prev), string(tid))
		return err
	})
	return n, err
}

// AuditTrails lists every trail: each tenant's and the platform's ("").
func (db *DB) AuditTrails(ctx context.Context) ([]tenant.ID, error) {
	ids, err := db.TenantIDs(ctx)
	if err != nil {
		return nil, err
	}
	return append([]tenant.ID{""}, ids...), nil
}
