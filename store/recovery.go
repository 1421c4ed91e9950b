package store

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/identity"
	"github.com/havencrm/haven/tenant"
)

// PutRecoveryCode stores a user's recovery code, replacing any earlier one.
func (db *DB) PutRecoveryCode(ctx context.Context, tid tenant.ID, c identity.RecoveryCode) error {
	return db.inTx(ctx, tid, true, func(ctx context.Context, q querier) error {
		_, err := q.exec(ctx, `INSERT INTO recovery_codes (tenant_id, user_id, id, channel, code_hash, attempts, created_at, expires_at)
			VALUES (?, ?, ?, ?, ?, 0, ?, ?)
			ON CONFLICT (tenant_id, user_id) DO UPDATE SET id = excluded.id, channel = excluded.channel,
				code_hash = excluded.code_hash, attempts = 0, created_at = excluded.created_at, expires_at = excluded.expires_at`,
			string(tid), c.UserID, c.ID, c.Channel, c.CodeHash, micros(c.CreatedAt), micros(c.ExpiresAt))
		return err
	})
}

// GetRecoveryCode returns a user's recovery code.
func (db *DB) GetRecoveryCode(ctx context.Context, tid tenant.ID, userID string) (identity.RecoveryCode, error) {
	var c identity.RecoveryCode
	err := db.inTx(ctx, tid, false, func(ctx context.Context, q querier) error {
		var created, expires int64
		err := q.queryRow(ctx, `SELECT id, user_id, channel, code_hash, attempts, created_at, expires_at
			FROM recovery_codes WHERE tenant_id = ? AND user_id = ?`, string(tid), userID).
			Scan(&c.ID, &c.UserID, &c.Channel, &c.CodeHash, &c.Attempts, &created, &expires)
		if errors.Is(err, errNoRows) {
			return apperr.NotFound("recovery code")
		}
		if err != nil {
			return mapErr(err)
		}
		c.CreatedAt, c.ExpiresAt = fromMicros(created), fromMicros(expires)
		return nil
	})
	return c, err
}

// ReserveRecoveryAttempt counts one try against a live code in a single
// conditional update, so that concurrent tries cannot exceed max.
func (db *DB) ReserveRecoveryAttempt(ctx context.Context, tid tenant.ID, userID, codeID string, limit int, now time.Time) (bool, error) {
	var n int64
	err := db.inTx(ctx, tid, true, func(ctx context.Context, q querier) error {
		res, err := q.exec(ctx, `UPDATE recovery_codes SET attempts = attempts + 1
			WHERE tenant_id = ? AND user_id = ? AND id = ? AND attempts < ? AND expires_at > ?`,
			string(tid), userID, codeID, limit, micros(now))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return n == 1, err
}

// RefundRecoveryAttempt gives one try back.
func (db *DB) RefundRecoveryAttempt(ctx context.Context, tid tenant.ID, userID, codeID string) error {
	return db.inTx(ctx, tid, true, func(ctx context.Context, q querier) error {
		_, err := q.exec(ctx, `UPDATE recovery_codes SET attempts = attempts - 1
			WHERE tenant_id = ? AND user_id = ? AND id = ? AND attempts > 0`, string(tid), userID, codeID)
		return err
	})
}

// DeleteRecoveryCode consumes a code; it reports whether the code was
// still there.
func (db *DB) DeleteRecoveryCode(ctx context.Context, tid tenant.ID, userID, codeID string) (bool, error) {
	var n int64
	err := db.inTx(ctx, tid, true, func(ctx context.Context, q querier) error {
		res, err := q.exec(ctx, `DELETE FROM recovery_codes WHERE tenant_id = ? AND user_id = ? AND id = ?`, string(tid), userID, codeID)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return n == 1, err
}

// rateRetention is how long rate-limit events are kept at most; no
// window may be longer.
const rateRetention = 7 * 24 * time.Hour

// rateLockClass is the first key of the PostgreSQL advisory locks that
// serialize checks of one rate-limit key across instances.
const rateLockClass = 7262005

// HitRecoveryRateLimits checks and records rate-limit events (see
// identity.RecoveryStore). On PostgreSQL an advisory lock per key, taken
// in a fixed order, keeps concurrent instances from both passing the last
// free slot; SQLite's single writer does the same.
func (db *DB) HitRecoveryRateLimits(ctx context.Context, keys []identity.RecoveryRateKey, now time.Time) (time.Duration, error) {
	type hashed struct {
		k    identity.RecoveryRateKey
		hash []byte
	}
	hs := make([]hashed, 0, len(keys))
	for _, k := range keys {
		for _, l := range k.Limits {
			if l.Max < 1 || l.Window <= 0 || l.Window > rateRetention {
				return 0, errors.New("store: rate limit out of range")
			}
		}
		sum := sha256.Sum256([]byte(k.Scope + "\x00" + k.Key))
		hs = append(hs, hashed{k: k, hash: sum[:]})
	}
	slices.SortFunc(hs, func(a, b hashed) int { return slices.Compare(a.hash, b.hash) })
	var retry time.Duration
	err := db.inTx(ctx, "", true, func(ctx context.Context, q querier) error {
		retry = 0
		if db.pool != nil {
			for _, h := range hs {
				lock := int32(binary.BigEndian.Uint32(h.hash[:4]))
				if _, err := q.exec(ctx, `SELECT pg_advisory_xact_lock(?::int4, ?::int4)`, int32(rateLockClass), lock); err != nil {
					return err
				}
			}
		}
		for _, h := range hs {
			longest := time.Duration(0)
			for _, l := range h.k.Limits {
				longest = max(longest, l.Window)
			}
			if _, err := q.exec(ctx, `DELETE FROM recovery_rate_events WHERE scope = ? AND key_hash = ? AND at <= ?`,
				h.k.Scope, h.hash, micros(now.Add(-longest))); err != nil {
				return err
			}
			for _, l := range h.k.Limits {
				since := micros(now.Add(-l.Window))
				var n int
				if err := q.queryRow(ctx, `SELECT COUNT(*) FROM recovery_rate_events WHERE scope = ? AND key_hash = ? AND at > ?`,
					h.k.Scope, h.hash, since).Scan(&n); err != nil {
					return mapErr(err)
				}
				if n < l.Max {
					continue
				}
				// Room comes back when the event that is n-Max+1 from the
				// oldest leaves the window.
				var at int64
				if err := q.queryRow(ctx, `SELECT at FROM recovery_rate_events WHERE scope = ? AND key_hash = ? AND at > ?
					ORDER BY at LIMIT 1 OFFSET ?`, h.k.Scope, h.hash, since, n-l.Max).Scan(&at); err != nil {
					return mapErr(err)
				}
				retry = max(retry, fromMicros(at).Add(l.Window).Sub(now))
			}
		}
		if retry > 0 {
			return nil
		}
		for _, h := range hs {
			if _, err := q.exec(ctx, `INSERT INTO recovery_rate_events (scope, key_hash, at, id) VALUES (?, ?, ?, ?)`,
				h.k.Scope, h.hash, micros(now), tenant.NewID()); err != nil {
				return err
			}
		}
		// Now and then, drop what no window can still see.
		if rand.IntN(64) == 0 {
			if _, err := q.exec(ctx, `DELETE FROM recovery_rate_events WHERE at <= ?`, micros(now.Add(-rateRetention))); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	if retry > 0 && retry < time.Second {
		retry = time.Second
	}
	return retry, nil
}
