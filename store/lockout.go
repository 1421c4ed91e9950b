package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/identity"
	"github.com/havencrm/haven/tenant"
)

// Login lockout and CAPTCHA state (identity.LockoutStore). A tenant ID
// names the tenant's own login_attempts rows; the empty tenant ID is the
// platform scope of sign-ins naming no active tenant. The IP counters and
// CAPTCHA challenges are platform-wide: their methods join whatever
// transaction the context carries, of any tenant, since those tables have
// no tenant fence to cross.

// attemptsTable returns the table and the leading key condition of a
// login subject of tid.
func attemptsTable(tid tenant.ID) (table, where string, args []any) {
	if tid == "" {
		return "platform_login_attempts", "subject = ?", nil
	}
	return "login_attempts", "tenant_id = ? AND subject = ?", []any{string(tid)}
}

// platformTx runs fn in the context's transaction, or in a new one of the
// platform scope when there is none.
func (db *DB) platformTx(ctx context.Context, write bool, fn func(ctx context.Context, q querier) error) error {
	if st, ok := ctx.Value(txKey{}).(*txState); ok {
		if write && !st.write {
			return errors.New("store: write inside a read transaction")
		}
		return fn(ctx, querier{tx: st.tx, d: db.dialect})
	}
	return db.inTx(ctx, "", write, fn)
}

func scanAttempt(row interface{ Scan(...any) error }) (identity.LoginAttempt, error) {
	var a identity.LoginAttempt
	var last, lockedAt, until sql.NullInt64
	if err := row.Scan(&a.Failures, &last, &lockedAt, &until); err != nil {
		return a, err
	}
	a.LastFailureAt, a.LockedAt, a.LockedUntil = fromNullMicros(last), fromNullMicros(lockedAt), fromNullMicros(until)
	return a, nil
}

const attemptCols = `failures, last_failure_at, locked_at, locked_until`

// LoginAttemptForUpdate returns the subject's state and holds its row
// until the write transaction ends, so that concurrent sign-ins of one
// subject (on any instance) decide one after another. A subject without a
// row gets one with no failures.
func (db *DB) LoginAttemptForUpdate(ctx context.Context, tid tenant.ID, subject string) (identity.LoginAttempt, error) {
	var a identity.LoginAttempt
	err := db.inTx(ctx, tid, true, func(ctx context.Context, q querier) error {
		table, where, args := attemptsTable(tid)
		args = append(args, subject)
		ins := `INSERT INTO ` + table + ` (subject, failures) VALUES (?, 0) ON CONFLICT DO NOTHING`
		if tid != "" {
			ins = `INSERT INTO login_attempts (tenant_id, subject, failures) VALUES (?, ?, 0) ON CONFLICT DO NOTHING`
		}
		if _, err := q.exec(ctx, ins, args...); err != nil {
			return err
		}
		lock := ""
		if db.pool != nil {
			// SQLite write transactions are exclusive already.
			lock = " FOR UPDATE"
		}
		var err error
		a, err = scanAttempt(q.queryRow(ctx, `SELECT `+attemptCols+` FROM `+table+` WHERE `+where+lock, args...))
		return mapErr(err)
	})
	return a, err
}

// LoginAttempts returns the state of several subjects of a tenant;
// subjects without a row are absent from the map.
func (db *DB) LoginAttempts(ctx context.Context, tid tenant.ID, subjects []string) (map[string]identity.LoginAttempt, error) {
	out := map[string]identity.LoginAttempt{}
	if len(subjects) == 0 {
		return out, nil
	}
	err := db.inTx(ctx, tid, false, func(ctx context.Context, q querier) error {
		table, _, args := attemptsTable(tid)
		cond := "subject IN ("
		for i, s := range subjects {
			if i > 0 {
				cond += ", "
			}
			cond += "?"
			args = append(args, s)
		}
		cond += ")"
		if tid != "" {
			cond = "tenant_id = ? AND " + cond
		}
		rows, err := q.query(ctx, `SELECT subject, `+attemptCols+` FROM `+table+` WHERE `+cond, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var subject string
			var last, lockedAt, until sql.NullInt64
			var a identity.LoginAttempt
			if err := rows.Scan(&subject, &a.Failures, &last, &lockedAt, &until); err != nil {
				return err
			}
			a.LastFailureAt, a.LockedAt, a.LockedUntil = fromNullMicros(last), fromNullMicros(lockedAt), fromNullMicros(until)
			out[subject] = a
		}
		return mapErr(rows.Err())
	})
	return out, err
}

// AddLoginFailure counts one failure of the subject atomically and
// returns the new count.
func (db *DB) AddLoginFailure(ctx context.Context, tid tenant.ID, subject string, at time.Time) (int, error) {
	var n int
	err := db.inTx(ctx, tid, true, func(ctx context.Context, q querier) error {
		table, where, args := attemptsTable(tid)
		args = append([]any{micros(at)}, append(args, subject)...)
		err := q.queryRow(ctx, `UPDATE `+table+` SET failures = failures + 1, last_failure_at = ? WHERE `+where+` RETURNING failures`, args...).Scan(&n)
		if errors.Is(err, errNoRows) {
			return fmt.Errorf("count login failure: no attempt row for %s", subject)
		}
		return mapErr(err)
	})
	return n, err
}

// LockLogin locks the subject from at until until (nil: until an admin
// unlocks it).
func (db *DB) LockLogin(ctx context.Context, tid tenant.ID, subject string, at time.Time, until *time.Time) error {
	return db.inTx(ctx, tid, true, func(ctx context.Context, q querier) error {
		table, where, args := attemptsTable(tid)
		args = append([]any{micros(at), nullMicros(until)}, append(args, subject)...)
		_, err := q.exec(ctx, `UPDATE `+table+` SET locked_at = ?, locked_until = ? WHERE `+where, args...)
		return err
	})
}

// ResetLoginAttempts forgets the subject's failures and lock and returns
// what they were.
func (db *DB) ResetLoginAttempts(ctx context.Context, tid tenant.ID, subject string) (identity.LoginAttempt, error) {
	var prev identity.LoginAttempt
	err := db.inTx(ctx, tid, true, func(ctx context.Context, q querier) error {
		table, where, args := attemptsTable(tid)
		args = append(args, subject)
		var err error
		prev, err = scanAttempt(q.queryRow(ctx, `DELETE FROM `+table+` WHERE `+where+` RETURNING `+attemptCols, args...))
		if errors.Is(err, errNoRows) {
			prev = identity.LoginAttempt{}
			return nil
		}
		return mapErr(err)
	})
	return prev, err
}

// IPFailures returns how many failed sign-ins came from ip in its current
// window, 0 when the window began before since.
func (db *DB) IPFailures(ctx context.Context, ip string, since time.Time) (int, error) {
	var n int
	err := db.platformTx(ctx, false, func(ctx context.Context, q querier) error {
		err := q.queryRow(ctx, `SELECT failures FROM login_ip_failures WHERE ip = ? AND window_start > ?`, ip, micros(since)).Scan(&n)
		if errors.Is(err, errNoRows) {
			n = 0
			return nil
		}
		return mapErr(err)
	})
	return n, err
}

// AddIPFailure counts one failed sign-in from ip atomically: a window
// that began at or before windowStart is over and starts again at at. It
// returns the count in the current window.
func (db *DB) AddIPFailure(ctx context.Context, ip string, at, windowStart time.Time) (int, error) {
	var n int
	err := db.platformTx(ctx, true, func(ctx context.Context, q querier) error {
		err := q.queryRow(ctx, `INSERT INTO login_ip_failures (ip, window_start, failures) VALUES (?, ?, 1)
			ON CONFLICT (ip) DO UPDATE SET
				failures = CASE WHEN login_ip_failures.window_start <= ? THEN 1 ELSE login_ip_failures.failures + 1 END,
				window_start = CASE WHEN login_ip_failures.window_start <= ? THEN excluded.window_start ELSE login_ip_failures.window_start END
			RETURNING failures`, ip, micros(at), micros(windowStart), micros(windowStart)).Scan(&n)
		if err != nil {
			return mapErr(err)
		}
		// Forget other addresses whose window is over, so that a spray
		// from many addresses does not pile up rows.
		_, err = q.exec(ctx, `DELETE FROM login_ip_failures WHERE window_start <= ?`, micros(windowStart))
		return err
	})
	return n, err
}

// InsertCaptcha stores a new challenge and drops challenges that expired
// more than an hour ago.
func (db *DB) InsertCaptcha(ctx context.Context, c identity.CaptchaChallenge) error {
	return db.platformTx(ctx, true, func(ctx context.Context, q querier) error {
		if _, err := q.exec(ctx, `DELETE FROM captcha_challenges WHERE expires_at < ?`, micros(c.CreatedAt.Add(-time.Hour))); err != nil {
			return err
		}
		_, err := q.exec(ctx, `INSERT INTO captcha_challenges (id_hash, answer_hash, sealed, created_at, expires_at) VALUES (?, ?, ?, ?, ?)`,
			c.IDHash, c.AnswerHash, c.Sealed, micros(c.CreatedAt), micros(c.ExpiresAt))
		return err
	})
}

const captchaCols = `id_hash, answer_hash, sealed, created_at, expires_at, used_at`

func scanCaptcha(row interface{ Scan(...any) error }) (identity.CaptchaChallenge, error) {
	var c identity.CaptchaChallenge
	var created, expires int64
	var used sql.NullInt64
	if err := row.Scan(&c.IDHash, &c.AnswerHash, &c.Sealed, &created, &expires, &used); err != nil {
		if errors.Is(err, errNoRows) {
			return c, apperr.NotFound("captcha")
		}
		return c, mapErr(err)
	}
	c.CreatedAt, c.ExpiresAt, c.UsedAt = fromMicros(created), fromMicros(expires), fromNullMicros(used)
	return c, nil
}

// Captcha returns a challenge that is neither used nor expired at at.
func (db *DB) Captcha(ctx context.Context, idHash []byte, at time.Time) (identity.CaptchaChallenge, error) {
	var c identity.CaptchaChallenge
	err := db.platformTx(ctx, false, func(ctx context.Context, q querier) error {
		var err error
		c, err = scanCaptcha(q.queryRow(ctx, `SELECT `+captchaCols+` FROM captcha_challenges
			WHERE id_hash = ? AND used_at IS NULL AND expires_at > ?`, idHash, micros(at)))
		return err
	})
	return c, err
}

// UseCaptcha marks a challenge used, once: of several concurrent calls
// (on any instance) only one gets it; the others, and calls for used or
// expired challenges, get not_found.
func (db *DB) UseCaptcha(ctx context.Context, idHash []byte, at time.Time) (identity.CaptchaChallenge, error) {
	var c identity.CaptchaChallenge
	err := db.platformTx(ctx, true, func(ctx context.Context, q querier) error {
		var err error
		c, err = scanCaptcha(q.queryRow(ctx, `UPDATE captcha_challenges SET used_at = ?
			WHERE id_hash = ? AND used_at IS NULL AND expires_at > ? RETURNING `+captchaCols, micros(at), idHash, micros(at)))
		return err
	})
	return c, err
}
