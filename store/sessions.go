package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/identity"
	"github.com/havencrm/haven/records"
	"github.com/havencrm/haven/tenant"
)

const sessionCols = `id, user_id, token_hash, created_at, last_seen_at, expires_at, revoked_at, ip, user_agent`

func scanSession(row scanner) (identity.Session, error) {
	var s identity.Session
	var created, seen, expires int64
	var revoked sql.NullInt64
	if err := row.Scan(&s.ID, &s.UserID, &s.TokenHash, &created, &seen, &expires, &revoked, &s.IP, &s.UserAgent); err != nil {
		if errors.Is(err, errNoRows) {
			return s, apperr.NotFound("session")
		}
		return s, err
	}
	s.CreatedAt, s.LastSeenAt, s.ExpiresAt, s.RevokedAt = fromMicros(created), fromMicros(seen), fromMicros(expires), fromNullMicros(revoked)
	return s, nil
}

// UserSessions lists a user's sessions that are neither revoked nor past
// their absolute end, newest first.
func (db *DB) UserSessions(ctx context.Context, tid tenant.ID, userID string, now time.Time) ([]identity.Session, error) {
	return queryAll(ctx, db, tid, scanSession, `SELECT `+sessionCols+` FROM sessions
		WHERE tenant_id = ? AND user_id = ? AND revoked_at IS NULL AND expires_at > ? ORDER BY created_at DESC, id DESC`,
		string(tid), userID, micros(now))
}

// SessionByID returns one session.
func (db *DB) SessionByID(ctx context.Context, tid tenant.ID, id string) (identity.Session, error) {
	var s identity.Session
	err := db.inTx(ctx, tid, false, func(ctx context.Context, q querier) error {
		var err error
		s, err = scanSession(q.queryRow(ctx, `SELECT `+sessionCols+` FROM sessions WHERE tenant_id = ? AND id = ?`, string(tid), id))
		return err
	})
	return s, err
}

// TransferRecords gives every record owned by from to to, bumping each
// record's version so concurrent editors notice, and returns what moved.
func (db *DB) TransferRecords(ctx context.Context, tid tenant.ID, from, to, by string, at time.Time) ([]identity.TransferredRecord, error) {
	var out []identity.TransferredRecord
	err := db.inTx(ctx, tid, true, func(ctx context.Context, q querier) error {
		rows, err := q.query(ctx, `SELECT object, id, name, version FROM records WHERE tenant_id = ? AND owner_id = ? ORDER BY object, id`,
			string(tid), from)
		if err != nil {
			return err
		}
		for rows.Next() {
			var r identity.TransferredRecord
			if err := rows.Scan(&r.Object, &r.ID, &r.Name, &r.Version); err != nil {
				rows.Close()
				return err
			}
			r.Version++
			out = append(out, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return mapErr(err)
		}
		res, err := q.exec(ctx, `UPDATE records SET owner_id = ?, version = version + 1, updated_at = ?, updated_by = ?
			WHERE tenant_id = ? AND owner_id = ?`, to, micros(at), by, string(tid), from)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if int(n) != len(out) {
			return fmt.Errorf("transfer records: listed %d, updated %d", len(out), n)
		}
		for _, r := range out {
			if err := db.appendChange(ctx, q, tid, records.ChangeUpdate, r.Object, r.ID, at); err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}
