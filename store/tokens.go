package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/identity"
	"github.com/havencrm/haven/tenant"
)

const tokenCols = `id, user_id, name, token_hash, scope, created_at, created_by, expires_at, last_used_at, revoked_at`

func scanAPIToken(row scanner) (identity.APIToken, error) {
	var t identity.APIToken
	var created, expires int64
	var used, revoked sql.NullInt64
	if err := row.Scan(&t.ID, &t.UserID, &t.Name, &t.TokenHash, &t.Scope, &created, &t.CreatedBy, &expires, &used, &revoked); err != nil {
		if errors.Is(err, errNoRows) {
			return t, apperr.NotFound("token")
		}
		return t, err
	}
	t.CreatedAt, t.ExpiresAt, t.LastUsedAt, t.RevokedAt = fromMicros(created), fromMicros(expires), fromNullMicros(used), fromNullMicros(revoked)
	return t, nil
}

// InsertAPIToken stores a new API token.
func (db *DB) InsertAPIToken(ctx context.Context, tid tenant.ID, t identity.APIToken) error {
	return db.inTx(ctx, tid, true, func(ctx context.Context, q querier) error {
		_, err := q.exec(ctx, `INSERT INTO api_tokens (tenant_id, `+tokenCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			string(tid), t.ID, t.UserID, t.Name, t.TokenHash, t.Scope, micros(t.CreatedAt), t.CreatedBy, micros(t.ExpiresAt),
			nullMicros(t.LastUsedAt), nullMicros(t.RevokedAt))
		return err
	})
}

func (db *DB) oneAPIToken(ctx context.Context, tid tenant.ID, where string, arg any) (identity.APIToken, error) {
	var t identity.APIToken
	err := db.inTx(ctx, tid, false, func(ctx context.Context, q querier) error {
		var err error
		t, err = scanAPIToken(q.queryRow(ctx, `SELECT `+tokenCols+` FROM api_tokens WHERE tenant_id = ? AND `+where+` = ?`, string(tid), arg))
		return err
	})
	return t, err
}

// APITokenByHash finds a token by its hash.
func (db *DB) APITokenByHash(ctx context.Context, tid tenant.ID, hash []byte) (identity.APIToken, error) {
	return db.oneAPIToken(ctx, tid, "token_hash", hash)
}

// APIToken returns one token.
func (db *DB) APIToken(ctx context.Context, tid tenant.ID, id string) (identity.APIToken, error) {
	return db.oneAPIToken(ctx, tid, "id", id)
}

// UserAPITokens lists a user's tokens, newest first.
func (db *DB) UserAPITokens(ctx context.Context, tid tenant.ID, userID string) ([]identity.APIToken, error) {
	return queryAll(ctx, db, tid, scanAPIToken,
		`SELECT `+tokenCols+` FROM api_tokens WHERE tenant_id = ? AND user_id = ? ORDER BY created_at DESC, id DESC`, string(tid), userID)
}

// RevokeAPIToken ends a token.
func (db *DB) RevokeAPIToken(ctx context.Context, tid tenant.ID, id string, at time.Time) error {
	return db.inTx(ctx, tid, true, func(ctx context.Context, q querier) error {
		_, err := q.exec(ctx, `UPDATE api_tokens SET revoked_at = ? WHERE tenant_id = ? AND id = ? AND revoked_at IS NULL`, micros(at), string(tid), id)
		return err
	})
}

// TouchAPIToken records a token's use.
func (db *DB) TouchAPIToken(ctx context.Context, tid tenant.ID, id string, at time.Time) error {
	return db.inTx(ctx, tid, true, func(ctx context.Context, q querier) error {
		_, err := q.exec(ctx, `UPDATE api_tokens SET last_used_at = ? WHERE tenant_id = ? AND id = ?`, micros(at), string(tid), id)
		return err
	})
}

// LiveAPITokens lists every token of the tenant that can still
// authenticate at now, so the users list shows every credential.
func (db *DB) LiveAPITokens(ctx context.Context, tid tenant.ID, now time.Time) ([]identity.APIToken, error) {
	return queryAll(ctx, db, tid, scanAPIToken, `SELECT `+tokenCols+` FROM api_tokens
		WHERE tenant_id = ? AND revoked_at IS NULL AND expires_at > ? ORDER BY user_id, created_at DESC`, string(tid), micros(now))
}
