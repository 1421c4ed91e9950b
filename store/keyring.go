package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/keyring"
	"github.com/havencrm/haven/tenant"
)

var (
	_ keyring.Store          = (*DB)(nil)
	_ keyring.TenantKEKStore = (*DB)(nil)
)

const tenantKeyCols = `term, kek_id, wrapped, state, created_at, retired_at, destroyed_at`

func scanTenantKey(row interface{ Scan(...any) error }) (keyring.WrappedKey, error) {
	var k keyring.WrappedKey
	var term, created int64
	var state string
	var retired, destroyed sql.NullInt64
	if err := row.Scan(&term, &k.KEKID, &k.Wrapped, &state, &created, &retired, &destroyed); err != nil {
		if errors.Is(err, errNoRows) {
			return k, apperr.NotFound("data key")
		}
		return k, err
	}
	k.Term, k.State, k.CreatedAt = uint32(term), keyring.State(state), fromMicros(created)
	k.RetiredAt, k.DestroyedAt = fromNullMicros(retired), fromNullMicros(destroyed)
	return k, nil
}

// InsertTenantKey stores a wrapped data key; an existing term is a
// conflict.
func (db *DB) InsertTenantKey(ctx context.Context, tid tenant.ID, k keyring.WrappedKey) error {
	if k.State != keyring.StateActive || len(k.Wrapped) == 0 {
		return apperr.Internal(errors.New("store: only active wrapped keys can be inserted"))
	}
	return db.inTx(ctx, tid, true, func(ctx context.Context, q querier) error {
		_, err := q.exec(ctx, `INSERT INTO tenant_keys (tenant_id, term, kek_id, wrapped, state, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
			string(tid), int64(k.Term), k.KEKID, k.Wrapped, string(k.State), micros(k.CreatedAt))
		if apperr.Is(err, apperr.KindConflict) {
			return apperr.Conflict("data key term %d already exists", k.Term).Wrap(err)
		}
		return err
	})
}

// TenantKeys lists a tenant's wrapped data keys by term, tombstones too.
func (db *DB) TenantKeys(ctx context.Context, tid tenant.ID) ([]keyring.WrappedKey, error) {
	var out []keyring.WrappedKey
	err := db.inTx(ctx, tid, false, func(ctx context.Context, q querier) error {
		rows, err := q.query(ctx, `SELECT `+tenantKeyCols+` FROM tenant_keys WHERE tenant_id = ? ORDER BY term`, string(tid))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			k, err := scanTenantKey(rows)
			if err != nil {
				return err
			}
			out = append(out, k)
		}
		return rows.Err()
	})
	return out, err
}

// TenantKey returns one term of a tenant's wrapped data keys.
func (db *DB) TenantKey(ctx context.Context, tid tenant.ID, term uint32) (keyring.WrappedKey, error) {
	var k keyring.WrappedKey
	err := db.inTx(ctx, tid, false, func(ctx context.Context, q querier) error {
		var err error
		k, err = scanTenantKey(q.queryRow(ctx, `SELECT `+tenantKeyCols+` FROM tenant_keys WHERE tenant_id = ? AND term = ?`,
			string(tid), int64(term)))
		return err
	})
	return k, err
}

// RetireTenantKey marks an active term retired (a retired term stays so).
func (db *DB) RetireTenantKey(ctx context.Context, tid tenant.ID, term uint32, at time.Time) error {
	return db.inTx(ctx, tid, true, func(ctx context.Context, q querier) error {
		res, err := q.exec(ctx, `UPDATE tenant_keys SET state = ?, retired_at = ? WHERE tenant_id = ? AND term = ? AND state = ?`,
			string(keyring.StateRetired), micros(at), string(tid), int64(term), string(keyring.StateActive))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 1 {
			return err
		}
		var state string
		err = q.queryRow(ctx, `SELECT state FROM tenant_keys WHERE tenant_id = ? AND term = ?`, string(tid), int64(term)).Scan(&state)
		switch {
		case errors.Is(err, errNoRows):
			return apperr.NotFound("data key")
		case err != nil:
			return mapErr(err)
		case state == string(keyring.StateRetired):
			return nil
		default:
			return apperr.Conflict("data key term %d is %s", term, state)
		}
	})
}

// RewrapTenantKey replaces a live term's wrapped bytes when it is still
// wrapped by oldKEKID.
func (db *DB) RewrapTenantKey(ctx context.Context, tid tenant.ID, term uint32, oldKEKID, newKEKID string, wrapped []byte) (bool, error) {
	if len(wrapped) == 0 {
		return false, apperr.Internal(errors.New("store: empty wrapped key"))
	}
	var n int64
	err := db.inTx(ctx, tid, true, func(ctx context.Context, q querier) error {
		res, err := q.exec(ctx, `UPDATE tenant_keys SET kek_id = ?, wrapped = ? WHERE tenant_id = ? AND term = ? AND kek_id = ? AND state <> ?`,
			newKEKID, wrapped, string(tid), int64(term), oldKEKID, string(keyring.StateDestroyed))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return n == 1, err
}

// DestroyTenantKeys erases every wrapped data key of a tenant, leaving
// destroyed tombstones (term 0 for a tenant that had none).
func (db *DB) DestroyTenantKeys(ctx context.Context, tid tenant.ID, at time.Time) (int, error) {
	var n int64
	err := db.inTx(ctx, tid, true, func(ctx context.Context, q querier) error {
		res, err := q.exec(ctx, `UPDATE tenant_keys SET wrapped = NULL, state = ?, destroyed_at = ? WHERE tenant_id = ? AND state <> ?`,
			string(keyring.StateDestroyed), micros(at), string(tid), string(keyring.StateDestroyed))
		if err != nil {
			return err
		}
		if n, err = res.RowsAffected(); err != nil {
			return err
		}
		var rows int64
		if err := q.queryRow(ctx, `SELECT COUNT(*) FROM tenant_keys WHERE tenant_id = ?`, string(tid)).Scan(&rows); err != nil {
			return mapErr(err)
		}
		if rows > 0 {
			return nil
		}
		_, err = q.exec(ctx, `INSERT INTO tenant_keys (tenant_id, term, kek_id, wrapped, state, created_at, destroyed_at) VALUES (?, 0, '', NULL, ?, ?, ?)`,
			string(tid), string(keyring.StateDestroyed), micros(at), micros(at))
		return err
	})
	return int(n), err
}

// TenantIDs lists every tenant's ID (platform operations only).
func (db *DB) TenantIDs(ctx context.Context) ([]tenant.ID, error) {
	var out []tenant.ID
	err := db.inTx(ctx, "", false, func(ctx context.Context, q querier) error {
		rows, err := q.query(ctx, `SELECT id FROM tenants ORDER BY id`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return err
			}
			out = append(out, tenant.ID(id))
		}
		return rows.Err()
	})
	return out, err
}

// TenantKEK returns the tenant's own key-encryption key, if it has one.
func (db *DB) TenantKEK(ctx context.Context, tid tenant.ID) (keyring.TenantKEK, bool, error) {
	var k keyring.TenantKEK
	found := false
	err := db.inTx(ctx, tid, false, func(ctx context.Context, q querier) error {
		var created int64
		err := q.queryRow(ctx, `SELECT provider, key_ref, created_at, created_by FROM tenant_kek WHERE tenant_id = ?`, string(tid)).
			Scan(&k.Provider, &k.KeyRef, &created, &k.CreatedBy)
		if errors.Is(err, errNoRows) {
			return nil
		}
		if err != nil {
			return mapErr(err)
		}
		k.CreatedAt, found = fromMicros(created), true
		return nil
	})
	if err != nil || !found {
		return keyring.TenantKEK{}, false, err
	}
	return k, true, nil
}

// PutTenantKEK sets or replaces the tenant's own key-encryption key.
func (db *DB) PutTenantKEK(ctx context.Context, tid tenant.ID, k keyring.TenantKEK) error {
	if k.Provider == "" || k.KeyRef == "" {
		return apperr.Internal(errors.New("store: a tenant KEK needs a provider and a key reference"))
	}
	return db.inTx(ctx, tid, true, func(ctx context.Context, q querier) error {
		_, err := q.exec(ctx, `INSERT INTO tenant_kek (tenant_id, provider, key_ref, created_at, created_by) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (tenant_id) DO UPDATE SET provider = excluded.provider, key_ref = excluded.key_ref,
			created_at = excluded.created_at, created_by = excluded.created_by`,
			string(tid), k.Provider, k.KeyRef, micros(k.CreatedAt), k.CreatedBy)
		return err
	})
}

// DeleteTenantKEK returns the tenant to the platform key-encryption key.
func (db *DB) DeleteTenantKEK(ctx context.Context, tid tenant.ID) (bool, error) {
	var n int64
	err := db.inTx(ctx, tid, true, func(ctx context.Context, q querier) error {
		res, err := q.exec(ctx, `DELETE FROM tenant_kek WHERE tenant_id = ?`, string(tid))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return n == 1, err
}
