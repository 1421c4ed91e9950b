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

// InsertTenant adds a tenant row inside the caller's transaction.
func (db *DB) InsertTenant(ctx context.Context, t tenant.Tenant) error {
	return db.inTx(ctx, t.ID, true, func(ctx context.Context, q querier) error {
		_, err := q.exec(ctx, `INSERT INTO tenants (id, slug, name, status, contract_start, contract_end, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, string(t.ID), t.Slug, t.Name, string(t.Status), micros(t.ContractStart), nullMicros(t.ContractEnd), micros(t.CreatedAt))
		if apperr.Is(err, apperr.KindConflict) {
			return apperr.Conflict("a tenant with slug %q already exists", t.Slug)
		}
		if err != nil {
			return err
		}
		_, err = q.exec(ctx, `INSERT INTO audit_heads (tenant_id, last_seq) VALUES (?, 0)`, string(t.ID))
		return err
	})
}

const tenantCols = `id, slug, name, status, contract_start, contract_end, created_at`

func scanTenant(row scanner) (tenant.Tenant, error) {
	var t tenant.Tenant
	var id, status string
	var start, created int64
	var end sql.NullInt64
	if err := row.Scan(&id, &t.Slug, &t.Name, &status, &start, &end, &created); err != nil {
		if errors.Is(err, errNoRows) {
			return t, apperr.NotFound("tenant")
		}
		return t, err
	}
	t.ID, t.Status = tenant.ID(id), tenant.Status(status)
	t.ContractStart, t.ContractEnd, t.CreatedAt = fromMicros(start), fromNullMicros(end), fromMicros(created)
	return t, nil
}

// TenantBySlug finds a tenant by its slug.
func (db *DB) TenantBySlug(ctx context.Context, slug string) (tenant.Tenant, error) {
	var t tenant.Tenant
	err := db.inTx(ctx, "", false, func(ctx context.Context, q querier) error {
		var err error
		t, err = scanTenant(q.queryRow(ctx, `SELECT `+tenantCols+` FROM tenants WHERE slug = ?`, slug))
		return err
	})
	return t, err
}

// Tenant returns one tenant.
func (db *DB) Tenant(ctx context.Context, id tenant.ID) (tenant.Tenant, error) {
	var t tenant.Tenant
	err := db.inTx(ctx, id, false, func(ctx context.Context, q querier) error {
		var err error
		t, err = scanTenant(q.queryRow(ctx, `SELECT `+tenantCols+` FROM tenants WHERE id = ?`, string(id)))
		return err
	})
	return t, err
}

// Tenants lists every tenant (platform operations only).
func (db *DB) Tenants(ctx context.Context) ([]tenant.Tenant, error) {
	return queryAll(ctx, db, "", scanTenant, `SELECT `+tenantCols+` FROM tenants ORDER BY slug`)
}

const userCols = `id, email, phone, name, role, status, password_hash, must_change_password, password_changed_at, last_login_at, created_at, updated_at`

func scanUser(row scanner) (identity.User, error) {
	var u identity.User
	var email, phone sql.NullString
	var status string
	var changed, created, updated int64
	var last sql.NullInt64
	if err := row.Scan(&u.ID, &email, &phone, &u.Name, &u.Role, &status, &u.PasswordHash, &u.MustChangePassword,
		&changed, &last, &created, &updated); err != nil {
		if errors.Is(err, errNoRows) {
			return u, apperr.NotFound("user")
		}
		return u, err
	}
	u.Email, u.Phone, u.Status = email.String, phone.String, identity.Status(status)
	u.PasswordChangedAt, u.LastLoginAt = fromMicros(changed), fromNullMicros(last)
	u.CreatedAt, u.UpdatedAt = fromMicros(created), fromMicros(updated)
	return u, nil
}

// InsertUser adds a user.
func (db *DB) InsertUser(ctx context.Context, tid tenant.ID, u identity.User) error {
	return db.inTx(ctx, tid, true, func(ctx context.Context, q querier) error {
		_, err := q.exec(ctx, `INSERT INTO users (tenant_id, `+userCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			string(tid), u.ID, nullString(u.Email), nullString(u.Phone), u.Name, u.Role, string(u.Status), u.PasswordHash,
			u.MustChangePassword, micros(u.PasswordChangedAt), nullMicros(u.LastLoginAt), micros(u.CreatedAt), micros(u.UpdatedAt))
		return err
	})
}

// UpdateUser stores every mutable column of u.
func (db *DB) UpdateUser(ctx context.Context, tid tenant.ID, u identity.User) error {
	return db.inTx(ctx, tid, true, func(ctx context.Context, q querier) error {
		res, err := q.exec(ctx, `UPDATE users SET email = ?, phone = ?, name = ?, role = ?, status = ?, password_hash = ?,
			must_change_password = ?, password_changed_at = ?, last_login_at = ?, updated_at = ?
			WHERE tenant_id = ? AND id = ?`,
			nullString(u.Email), nullString(u.Phone), u.Name, u.Role, string(u.Status), u.PasswordHash, u.MustChangePassword,
			micros(u.PasswordChangedAt), nullMicros(u.LastLoginAt), micros(u.UpdatedAt), string(tid), u.ID)
		return expectOne(res, err, "user")
	})
}

func expectOne(res sql.Result, err error, what string) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return apperr.NotFound(what)
	}
	return nil
}

// User returns one user of the tenant.
func (db *DB) User(ctx context.Context, tid tenant.ID, id string) (identity.User, error) {
	var u identity.User
	err := db.inTx(ctx, tid, false, func(ctx context.Context, q querier) error {
		var err error
		u, err = scanUser(q.queryRow(ctx, `SELECT `+userCols+` FROM users WHERE tenant_id = ? AND id = ?`, string(tid), id))
		return err
	})
	return u, err
}

// UserByLogin finds a user by normalized e-mail or phone.
func (db *DB) UserByLogin(ctx context.Context, tid tenant.ID, login string) (identity.User, error) {
	var u identity.User
	err := db.inTx(ctx, tid, false, func(ctx context.Context, q querier) error {
		var err error
		u, err = scanUser(q.queryRow(ctx, `SELECT `+userCols+` FROM users WHERE tenant_id = ? AND (email = ? OR phone = ?)`,
			string(tid), login, login))
		return err
	})
	return u, err
}

// Users lists users ordered by ID after afterID.
func (db *DB) Users(ctx context.Context, tid tenant.ID, afterID string, limit int) ([]identity.User, error) {
	return queryAll(ctx, db, tid, scanUser, `SELECT `+userCols+` FROM users WHERE tenant_id = ? AND id > ? ORDER BY id LIMIT ?`,
		string(tid), afterID, limit)
}

// LockTenant makes the caller's write transaction the only one of its
// tenant until it ends, as every SQLite write transaction already is. On
// PostgreSQL it locks the tenant's audit head, which the transaction's
// audit append would lock anyway, only earlier, so that reads made after
// it cannot go stale before the commit.
func (db *DB) LockTenant(ctx context.Context, tid tenant.ID) error {
	return db.inTx(ctx, tid, true, func(ctx context.Context, q querier) error {
		if db.pool == nil {
			return nil
		}
		var seq int64
		return mapErr(q.queryRow(ctx, `SELECT last_seq FROM audit_heads WHERE tenant_id = ? FOR UPDATE`, string(tid)).Scan(&seq))
	})
}

// CountActiveAdmins counts the tenant's active admins.
func (db *DB) CountActiveAdmins(ctx context.Context, tid tenant.ID) (int, error) {
	var n int
	err := db.inTx(ctx, tid, false, func(ctx context.Context, q querier) error {
		return q.queryRow(ctx, `SELECT COUNT(*) FROM users WHERE tenant_id = ? AND role = 'admin' AND status = 'active'`, string(tid)).Scan(&n)
	})
	return n, err
}

// InsertSession stores a new session.
func (db *DB) InsertSession(ctx context.Context, tid tenant.ID, s identity.Session) error {
	return db.inTx(ctx, tid, true, func(ctx context.Context, q querier) error {
		_, err := q.exec(ctx, `INSERT INTO sessions (tenant_id, id, user_id, token_hash, created_at, last_seen_at, expires_at, ip, user_agent)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, string(tid), s.ID, s.UserID, s.TokenHash, micros(s.CreatedAt), micros(s.LastSeenAt),
			micros(s.ExpiresAt), s.IP, s.UserAgent)
		return err
	})
}

// SessionByTokenHash finds a session by its token's hash.
func (db *DB) SessionByTokenHash(ctx context.Context, tid tenant.ID, hash []byte) (identity.Session, error) {
	var s identity.Session
	err := db.inTx(ctx, tid, false, func(ctx context.Context, q querier) error {
		var created, seen, expires int64
		var revoked sql.NullInt64
		err := q.queryRow(ctx, `SELECT id, user_id, token_hash, created_at, last_seen_at, expires_at, revoked_at, ip, user_agent
			FROM sessions WHERE tenant_id = ? AND token_hash = ?`, string(tid), hash).
			Scan(&s.ID, &s.UserID, &s.TokenHash, &created, &seen, &expires, &revoked, &s.IP, &s.UserAgent)
		if errors.Is(err, errNoRows) {
			return apperr.NotFound("session")
		}
		if err != nil {
			return err
		}
		s.CreatedAt, s.LastSeenAt, s.ExpiresAt, s.RevokedAt = fromMicros(created), fromMicros(seen), fromMicros(expires), fromNullMicros(revoked)
		return nil
	})
	return s, err
}

// TouchSession records activity on a session.
func (db *DB) TouchSession(ctx context.Context, tid tenant.ID, id string, at time.Time) error {
	return db.inTx(ctx, tid, true, func(ctx context.Context, q querier) error {
		_, err := q.exec(ctx, `UPDATE sessions SET last_seen_at = ? WHERE tenant_id = ? AND id = ? AND last_seen_at < ?`,
			micros(at), string(tid), id, micros(at))
		return err
	})
}

// RevokeSession ends one session.
func (db *DB) RevokeSession(ctx context.Context, tid tenant.ID, id string, at time.Time) error {
	return db.inTx(ctx, tid, true, func(ctx context.Context, q querier) error {
		_, err := q.exec(ctx, `UPDATE sessions SET revoked_at = ? WHERE tenant_id = ? AND id = ? AND revoked_at IS NULL`,
			micros(at), string(tid), id)
		return err
	})
}

// RevokeUserSessions ends a user's live sessions except one.
func (db *DB) RevokeUserSessions(ctx context.Context, tid tenant.ID, userID, except string, at time.Time) (int, error) {
	var n int64
	err := db.inTx(ctx, tid, true, func(ctx context.Context, q querier) error {
		res, err := q.exec(ctx, `UPDATE sessions SET revoked_at = ? WHERE tenant_id = ? AND user_id = ? AND id <> ? AND revoked_at IS NULL`,
			micros(at), string(tid), userID, except)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return int(n), err
}

// IsActiveUser reports whether id is an active user of the tenant.
func (db *DB) IsActiveUser(ctx context.Context, tid tenant.ID, id string) (bool, error) {
	var n int
	err := db.inTx(ctx, tid, false, func(ctx context.Context, q querier) error {
		return q.queryRow(ctx, `SELECT COUNT(*) FROM users WHERE tenant_id = ? AND id = ? AND status = 'active'`, string(tid), id).Scan(&n)
	})
	return n > 0, err
}
