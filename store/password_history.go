package store

import (
	"context"
	"time"

	"github.com/havencrm/haven/tenant"
)

// AddPasswordHistory records a user's replaced password hash and keeps
// only the newest keep entries of that user.
func (db *DB) AddPasswordHistory(ctx context.Context, tid tenant.ID, userID, hash string, replacedAt time.Time, keep int) error {
	return db.inTx(ctx, tid, true, func(ctx context.Context, q querier) error {
		if _, err := q.exec(ctx, `INSERT INTO password_history (tenant_id, user_id, seq, hash, replaced_at)
			SELECT ?, ?, COALESCE(MAX(seq), 0) + 1, ?, ? FROM password_history WHERE tenant_id = ? AND user_id = ?`,
			string(tid), userID, hash, micros(replacedAt), string(tid), userID); err != nil {
			return err
		}
		_, err := q.exec(ctx, `DELETE FROM password_history WHERE tenant_id = ? AND user_id = ?
			AND seq <= (SELECT MAX(seq) FROM password_history WHERE tenant_id = ? AND user_id = ?) - ?`,
			string(tid), userID, string(tid), userID, keep)
		return err
	})
}

// PasswordHistory returns up to limit of a user's earlier password
// hashes, newest first.
func (db *DB) PasswordHistory(ctx context.Context, tid tenant.ID, userID string, limit int) ([]string, error) {
	var out []string
	if limit <= 0 {
		return nil, nil
	}
	err := db.inTx(ctx, tid, false, func(ctx context.Context, q querier) error {
		rows, err := q.query(ctx, `SELECT hash FROM password_history WHERE tenant_id = ? AND user_id = ? ORDER BY seq DESC LIMIT ?`,
			string(tid), userID, limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var h string
			if err := rows.Scan(&h); err != nil {
				return err
			}
			out = append(out, h)
		}
		return rows.Err()
	})
	return out, err
}
