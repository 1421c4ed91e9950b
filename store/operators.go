package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/operators"
	"github.com/havencrm/haven/tenant"
)

// The operator realm's tables are platform tables: every query here runs
// in a platform transaction (tenant ""), the only kind PostgreSQL's
// row-level security lets see them.
const platformTx tenant.ID = ""

const operatorCols = `id, email, name, role, password_hash, must_change_password, password_changed_at, totp_secret, totp_last_step,
	failed_attempts, locked_until, created_at, deactivated_at`

func scanOperator(row scanner) (operators.Operator, error) {
	var o operators.Operator
	var role string
	var changed, created int64
	var locked, deactivated sql.NullInt64
	if err := row.Scan(&o.ID, &o.Email, &o.Name, &role, &o.PasswordHash, &o.MustChangePassword, &changed, &o.TOTPSecret,
		&o.TOTPLastStep, &o.FailedAttempts, &locked, &created, &deactivated); err != nil {
		if errors.Is(err, errNoRows) {
			return o, apperr.NotFound("operator")
		}
		return o, mapErr(err)
	}
	o.Role = operators.Role(role)
	o.PasswordChangedAt, o.CreatedAt = fromMicros(changed), fromMicros(created)
	o.LockedUntil, o.DeactivatedAt = fromNullMicros(locked), fromNullMicros(deactivated)
	return o, nil
}

// InsertOperator stores a new operator.
func (db *DB) InsertOperator(ctx context.Context, o operators.Operator) error {
	return db.inTx(ctx, platformTx, true, func(ctx context.Context, q querier) error {
		_, err := q.exec(ctx, `INSERT INTO operators (id, email, name, role, password_hash, must_change_password, password_changed_at,
			totp_secret, totp_last_step, failed_attempts, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, 0, ?)`,
			o.ID, o.Email, o.Name, string(o.Role), o.PasswordHash, o.MustChangePassword, micros(o.PasswordChangedAt), o.TOTPSecret,
			micros(o.CreatedAt))
		return err
	})
}

func (db *DB) operatorWhere(ctx context.Context, where string, arg any) (operators.Operator, error) {
	var o operators.Operator
	err := db.inTx(ctx, platformTx, false, func(ctx context.Context, q querier) error {
		var err error
		o, err = scanOperator(q.queryRow(ctx, `SELECT `+operatorCols+` FROM operators WHERE `+where, arg))
		return err
	})
	return o, err
}

// OperatorByEmail finds an operator by e-mail (given lower-case).
func (db *DB) OperatorByEmail(ctx context.Context, email string) (operators.Operator, error) {
	return db.operatorWhere(ctx, `lower(email) = ?`, email)
}

// OperatorByID finds an operator by ID.
func (db *DB) OperatorByID(ctx context.Context, id string) (operators.Operator, error) {
	return db.operatorWhere(ctx, `id = ?`, id)
}

// RecordOperatorFailure counts a failed sign-in in one guarded UPDATE, so
// that concurrent guesses cannot slip past the limit between a read and a
// write; the failure that reaches lockAfter locks until lockUntil and
// starts the count again.
func (db *DB) RecordOperatorFailure(ctx context.Context, id string, lockAfter int, lockUntil time.Time) (bool, error) {
	locked := false
	err := db.inTx(ctx, platformTx, true, func(ctx context.Context, q querier) error {
		var n int
		if err := q.queryRow(ctx, `UPDATE operators SET failed_attempts = failed_attempts + 1 WHERE id = ? RETURNING failed_attempts`,
			id).Scan(&n); err != nil {
			if errors.Is(err, errNoRows) {
				return apperr.NotFound("operator")
			}
			return mapErr(err)
		}
		if n < lockAfter {
			return nil
		}
		locked = true
		_, err := q.exec(ctx, `UPDATE operators SET failed_attempts = 0, locked_until = ? WHERE id = ?`, micros(lockUntil), id)
		return err
	})
	return locked, err
}

// ResetOperatorFailures clears the failure count and any lock after a
// successful sign-in.
func (db *DB) ResetOperatorFailures(ctx context.Context, id string) error {
	return db.inTx(ctx, platformTx, true, func(ctx context.Context, q querier) error {
		_, err := q.exec(ctx, `UPDATE operators SET failed_attempts = 0, locked_until = NULL WHERE id = ?`, id)
		return err
	})
}

// AdvanceOperatorTOTPStep marks step used if it is later than the last
// used one; the guarded UPDATE makes two racing uses of one code succeed
// once.
func (db *DB) AdvanceOperatorTOTPStep(ctx context.Context, id string, step int64) (bool, error) {
	var ok bool
	err := db.inTx(ctx, platformTx, true, func(ctx context.Context, q querier) error {
		res, err := q.exec(ctx, `UPDATE operators SET totp_last_step = ? WHERE id = ? AND totp_last_step < ?`, step, id, step)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		ok = n == 1
		return err
	})
	return ok, err
}

// SetOperatorPassword replaces an operator's password and clears
// must_change_password.
func (db *DB) SetOperatorPassword(ctx context.Context, id, hash string, at time.Time) error {
	return db.inTx(ctx, platformTx, true, func(ctx context.Context, q querier) error {
		res, err := q.exec(ctx, `UPDATE operators SET password_hash = ?, must_change_password = ?, password_changed_at = ? WHERE id = ?`,
			hash, false, micros(at), id)
		return expectOne(res, err, "operator")
	})
}

// InsertOperatorSession stores a new operator session.
func (db *DB) InsertOperatorSession(ctx context.Context, s operators.Session) error {
	return db.inTx(ctx, platformTx, true, func(ctx context.Context, q querier) error {
		_, err := q.exec(ctx, `INSERT INTO operator_sessions (id, operator_id, token_hash, created_at, last_seen_at, expires_at, ip, user_agent)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, s.ID, s.OperatorID, s.TokenHash, micros(s.CreatedAt), micros(s.LastSeenAt),
			micros(s.ExpiresAt), s.IP, s.UserAgent)
		return err
	})
}

// OperatorSessionByTokenHash finds an operator session by its token's hash.
func (db *DB) OperatorSessionByTokenHash(ctx context.Context, hash []byte) (operators.Session, error) {
	var s operators.Session
	err := db.inTx(ctx, platformTx, false, func(ctx context.Context, q querier) error {
		var created, seen, expires int64
		var revoked sql.NullInt64
		err := q.queryRow(ctx, `SELECT id, operator_id, token_hash, created_at, last_seen_at, expires_at, revoked_at, ip, user_agent
			FROM operator_sessions WHERE token_hash = ?`, hash).
			Scan(&s.ID, &s.OperatorID, &s.TokenHash, &created, &seen, &expires, &revoked, &s.IP, &s.UserAgent)
		if errors.Is(err, errNoRows) {
			return apperr.NotFound("session")
		}
		if err != nil {
			return mapErr(err)
		}
		s.CreatedAt, s.LastSeenAt, s.ExpiresAt, s.RevokedAt = fromMicros(created), fromMicros(seen), fromMicros(expires), fromNullMicros(revoked)
		return nil
	})
	return s, err
}

// TouchOperatorSession records activity on an operator session.
func (db *DB) TouchOperatorSession(ctx context.Context, id string, at time.Time) error {
	return db.inTx(ctx, platformTx, true, func(ctx context.Context, q querier) error {
		_, err := q.exec(ctx, `UPDATE operator_sessions SET last_seen_at = ? WHERE id = ? AND last_seen_at < ?`, micros(at), id, micros(at))
		return err
	})
}

// RevokeOperatorSession ends one operator session.
func (db *DB) RevokeOperatorSession(ctx context.Context, id string, at time.Time) error {
	return db.inTx(ctx, platformTx, true, func(ctx context.Context, q querier) error {
		_, err := q.exec(ctx, `UPDATE operator_sessions SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`, micros(at), id)
		return err
	})
}

// RevokeOperatorSessions ends every session of an operator but except.
func (db *DB) RevokeOperatorSessions(ctx context.Context, operatorID, except string, at time.Time) error {
	return db.inTx(ctx, platformTx, true, func(ctx context.Context, q querier) error {
		_, err := q.exec(ctx, `UPDATE operator_sessions SET revoked_at = ? WHERE operator_id = ? AND id <> ? AND revoked_at IS NULL`,
			micros(at), operatorID, except)
		return err
	})
}

// TenantCounts counts a tenant's users and records. It runs in the
// tenant's own read transaction (row-level security shows a platform
// transaction no tenant rows) and returns numbers only.
func (db *DB) TenantCounts(ctx context.Context, tid tenant.ID) (operators.TenantCounts, error) {
	var c operators.TenantCounts
	err := db.inTx(ctx, tid, false, func(ctx context.Context, q querier) error {
		return mapErr(q.queryRow(ctx, `SELECT (SELECT COUNT(*) FROM users WHERE tenant_id = ?), (SELECT COUNT(*) FROM records WHERE tenant_id = ?)`,
			string(tid), string(tid)).Scan(&c.Users, &c.Records))
	})
	return c, err
}

// DeactivateOperator marks the operator deactivated at; false when they
// already were.
func (db *DB) DeactivateOperator(ctx context.Context, id string, at time.Time) (bool, error) {
	var done bool
	err := db.inTx(ctx, platformTx, true, func(ctx context.Context, q querier) error {
		res, err := q.exec(ctx, `UPDATE operators SET deactivated_at = ? WHERE id = ? AND deactivated_at IS NULL`, micros(at), id)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		done = n == 1
		return err
	})
	return done, err
}
