package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/havencrm/haven/audit"
	"github.com/havencrm/haven/tenant"
)

// AppendAudit appends e to its tenant's trail with the next sequence
// number. It must run inside the write transaction of the change it
// describes; the UPDATE of audit_heads serializes appends per tenant.
func (db *DB) AppendAudit(ctx context.Context, e audit.Event) error {
	changes := []byte("{}")
	if len(e.Changes) > 0 {
		var err error
		if changes, err = json.Marshal(e.Changes); err != nil {
			return fmt.Errorf("encode audit changes: %w", err)
		}
	}
	return db.inTx(ctx, e.TenantID, true, func(ctx context.Context, q querier) error {
		var seq int64
		if err := q.queryRow(ctx, `UPDATE audit_heads SET last_seq = last_seq + 1 WHERE tenant_id = ? RETURNING last_seq`,
			string(e.TenantID)).Scan(&seq); err != nil {
			return fmt.Errorf("advance audit sequence: %w", mapErr(err))
		}
		_, err := q.exec(ctx, `INSERT INTO audit_events (tenant_id, seq, at, actor_type, actor_id, actor_name, action, object_type,
			object_id, object_name, ip, user_agent, request_id, changes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			string(e.TenantID), seq, micros(e.At), e.ActorType, e.ActorID, e.ActorName, e.Action, e.ObjectType, e.ObjectID,
			e.ObjectName, e.IP, e.UserAgent, e.RequestID, string(changes))
		return err
	})
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
		rows, err := q.query(ctx, `SELECT seq, at, actor_type, actor_id, actor_name, action, object_type, object_id, object_name,
			ip, user_agent, request_id, changes FROM audit_events `+where.String()+` ORDER BY seq DESC LIMIT ?`, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			e := audit.Event{TenantID: tid}
			var at int64
			var changes string
			if err := rows.Scan(&e.Seq, &at, &e.ActorType, &e.ActorID, &e.ActorName, &e.Action, &e.ObjectType, &e.ObjectID,
				&e.ObjectName, &e.IP, &e.UserAgent, &e.RequestID, &changes); err != nil {
				return err
			}
			e.At = fromMicros(at)
			if changes != "{}" {
				if err := json.Unmarshal([]byte(changes), &e.Changes); err != nil {
					return fmt.Errorf("audit event %d changes: %w", e.Seq, err)
				}
			}
			out = append(out, e)
		}
		return rows.Err()
	})
	return out, err
}
