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

// TOTP returns a user's TOTP enrolment.
func (db *DB) TOTP(ctx context.Context, tid tenant.ID, userID string) (identity.TOTPEnrolment, error) {
	var e identity.TOTPEnrolment
	err := db.inTx(ctx, tid, false, func(ctx context.Context, q querier) error {
		var created int64
		var confirmed sql.NullInt64
		err := q.queryRow(ctx, `SELECT secret, created_at, confirmed_at, last_step FROM user_totp WHERE tenant_id = ? AND user_id = ?`,
			string(tid), userID).Scan(&e.Secret, &created, &confirmed, &e.LastStep)
		if errors.Is(err, errNoRows) {
			return apperr.NotFound("totp")
		}
		if err != nil {
			return mapErr(err)
		}
		e.UserID, e.CreatedAt, e.ConfirmedAt = userID, fromMicros(created), fromNullMicros(confirmed)
		return nil
	})
	return e, err
}

// PutTOTP replaces a user's TOTP enrolment.
func (db *DB) PutTOTP(ctx context.Context, tid tenant.ID, e identity.TOTPEnrolment) error {
	return db.inTx(ctx, tid, true, func(ctx context.Context, q querier) error {
		_, err := q.exec(ctx, `INSERT INTO user_totp (tenant_id, user_id, secret, created_at, confirmed_at, last_step) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (tenant_id, user_id) DO UPDATE SET secret = excluded.secret, created_at = excluded.created_at,
			confirmed_at = excluded.confirmed_at, last_step = excluded.last_step`,
			string(tid), e.UserID, e.Secret, micros(e.CreatedAt), nullMicros(e.ConfirmedAt), e.LastStep)
		return err
	})
}

// AdvanceTOTPStep records the time step of a TOTP code just accepted; it
// fails (false) when that step or a later one was used already, so a
// code cannot be replayed, even by two instances at once.
func (db *DB) AdvanceTOTPStep(ctx context.Context, tid tenant.ID, userID string, step int64) (bool, error) {
	var n int64
	err := db.inTx(ctx, tid, true, func(ctx context.Context, q querier) error {
		res, err := q.exec(ctx, `UPDATE user_totp SET last_step = ? WHERE tenant_id = ? AND user_id = ? AND last_step < ? AND confirmed_at IS NOT NULL`,
			step, string(tid), userID, step)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return n == 1, err
}

// DeleteMFA removes a user's TOTP enrolment and recovery codes.
func (db *DB) DeleteMFA(ctx context.Context, tid tenant.ID, userID string) error {
	return db.inTx(ctx, tid, true, func(ctx context.Context, q querier) error {
		if _, err := q.exec(ctx, `DELETE FROM mfa_recovery_codes WHERE tenant_id = ? AND user_id = ?`, string(tid), userID); err != nil {
			return err
		}
		_, err := q.exec(ctx, `DELETE FROM user_totp WHERE tenant_id = ? AND user_id = ?`, string(tid), userID)
		return err
	})
}

// ReplaceRecoveryCodes stores a fresh set of recovery code hashes.
func (db *DB) ReplaceRecoveryCodes(ctx context.Context, tid tenant.ID, userID string, hashes [][]byte, at time.Time) error {
	return db.inTx(ctx, tid, true, func(ctx context.Context, q querier) error {
		if _, err := q.exec(ctx, `DELETE FROM mfa_recovery_codes WHERE tenant_id = ? AND user_id = ?`, string(tid), userID); err != nil {
			return err
		}
		for _, h := range hashes {
			if _, err := q.exec(ctx, `INSERT INTO mfa_recovery_codes (tenant_id, user_id, code_hash, created_at) VALUES (?, ?, ?, ?)`,
				string(tid), userID, h, micros(at)); err != nil {
				return err
			}
		}
		return nil
	})
}

// UseRecoveryCode marks an unused recovery code used; false when there is
// no such unused code.
func (db *DB) UseRecoveryCode(ctx context.Context, tid tenant.ID, userID string, hash []byte, at time.Time) (bool, error) {
	var n int64
	err := db.inTx(ctx, tid, true, func(ctx context.Context, q querier) error {
		res, err := q.exec(ctx, `UPDATE mfa_recovery_codes SET used_at = ? WHERE tenant_id = ? AND user_id = ? AND code_hash = ? AND used_at IS NULL`,
			micros(at), string(tid), userID, hash)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return n == 1, err
}

// UnusedRecoveryCodes counts a user's unused recovery codes.
func (db *DB) UnusedRecoveryCodes(ctx context.Context, tid tenant.ID, userID string) (int, error) {
	var n int
	err := db.inTx(ctx, tid, false, func(ctx context.Context, q querier) error {
		return q.queryRow(ctx, `SELECT COUNT(*) FROM mfa_recovery_codes WHERE tenant_id = ? AND user_id = ? AND used_at IS NULL`,
			string(tid), userID).Scan(&n)
	})
	return n, err
}
