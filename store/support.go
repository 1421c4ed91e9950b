package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/supportaccess"
	"github.com/havencrm/haven/tenant"
)

// InsertGrant stores a new access grant at version 1.
func (db *DB) InsertGrant(ctx context.Context, tid tenant.ID, g supportaccess.Grant) error {
	b, err := json.Marshal(g)
	if err != nil {
		return err
	}
	return db.inTx(ctx, tid, true, func(ctx context.Context, q querier) error {
		_, err := q.exec(ctx, `INSERT INTO support_grants (tenant_id, id, operator_id, kind, state, version, grant_json, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, 1, ?, ?, ?)`, string(tid), g.ID, g.OperatorID, string(g.Kind), string(g.State), string(b),
			micros(g.CreatedAt), micros(g.CreatedAt))
		return mapErr(err)
	})
}

// UpdateGrant stores g if the stored grant is still at version; another
// decision in between answers conflict.
func (db *DB) UpdateGrant(ctx context.Context, tid tenant.ID, g supportaccess.Grant, version int64, at time.Time) error {
	b, err := json.Marshal(g)
	if err != nil {
		return err
	}
	return db.inTx(ctx, tid, true, func(ctx context.Context, q querier) error {
		res, err := q.exec(ctx, `UPDATE support_grants SET state = ?, grant_json = ?, version = version + 1, updated_at = ?
			WHERE tenant_id = ? AND id = ? AND version = ?`, string(g.State), string(b), micros(at), string(tid), g.ID, version)
		if err := expectOne(res, err, "grant"); apperr.Is(err, apperr.KindNotFound) {
			return apperr.Conflict("the request was decided by someone else meanwhile; reload it")
		} else if err != nil {
			return err
		}
		return nil
	})
}

func scanGrant(row scanner) (supportaccess.Grant, int64, error) {
	var g supportaccess.Grant
	var raw string
	var version int64
	if err := row.Scan(&raw, &version); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return g, 0, apperr.NotFound("access request")
		}
		return g, 0, err
	}
	if err := json.Unmarshal([]byte(raw), &g); err != nil {
		return g, 0, fmt.Errorf("access grant: %w", err)
	}
	return g, version, nil
}

// Grant returns one grant of the tenant and its version.
func (db *DB) Grant(ctx context.Context, tid tenant.ID, id string) (supportaccess.Grant, int64, error) {
	var g supportaccess.Grant
	var v int64
	err := db.inTx(ctx, tid, false, func(ctx context.Context, q querier) error {
		var err error
		g, v, err = scanGrant(q.queryRow(ctx, `SELECT grant_json, version FROM support_grants WHERE tenant_id = ? AND id = ?`, string(tid), id))
		return err
	})
	return g, v, err
}

// Grants lists the tenant's grants, newest first.
func (db *DB) Grants(ctx context.Context, tid tenant.ID, limit int) ([]supportaccess.Grant, error) {
	return queryAll(ctx, db, tid, func(row scanner) (supportaccess.Grant, error) {
		g, _, err := scanGrant(row)
		return g, err
	}, `SELECT grant_json, version FROM support_grants WHERE tenant_id = ? ORDER BY created_at DESC, id DESC LIMIT ?`, string(tid), limit)
}

// RequiredApprovals reads how many admins must approve (1 by default).
func (db *DB) RequiredApprovals(ctx context.Context, tid tenant.ID) (int, error) {
	n := 1
	err := db.inTx(ctx, tid, false, func(ctx context.Context, q querier) error {
		err := q.queryRow(ctx, `SELECT required_approvals FROM support_settings WHERE tenant_id = ?`, string(tid)).Scan(&n)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		return err
	})
	return n, err
}

// SetRequiredApprovals stores how many admins must approve.
func (db *DB) SetRequiredApprovals(ctx context.Context, tid tenant.ID, n int) error {
	return db.inTx(ctx, tid, true, func(ctx context.Context, q querier) error {
		_, err := q.exec(ctx, `INSERT INTO support_settings (tenant_id, required_approvals) VALUES (?, ?)
			ON CONFLICT (tenant_id) DO UPDATE SET required_approvals = excluded.required_approvals`, string(tid), n)
		return mapErr(err)
	})
}

// GrantByID finds a grant in any tenant (the operator side knows a grant
// by its ID only); a platform read, which row-level security allows for
// grants and nothing else of the tenants.
func (db *DB) GrantByID(ctx context.Context, id string) (tenant.ID, supportaccess.Grant, error) {
	var g supportaccess.Grant
	var tid string
	err := db.inTx(ctx, "", false, func(ctx context.Context, q querier) error {
		var raw string
		if err := q.queryRow(ctx, `SELECT tenant_id, grant_json FROM support_grants WHERE id = ?`, id).Scan(&tid, &raw); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return apperr.NotFound("access request")
			}
			return err
		}
		return json.Unmarshal([]byte(raw), &g)
	})
	return tenant.ID(tid), g, err
}

// CountPendingGrants counts the tenant's requests awaiting a decision,
// for the admins' in-app notice.
func (db *DB) CountPendingGrants(ctx context.Context, tid tenant.ID) (int, error) {
	var n int
	err := db.inTx(ctx, tid, false, func(ctx context.Context, q querier) error {
		return q.queryRow(ctx, `SELECT COUNT(*) FROM support_grants WHERE tenant_id = ? AND state = ?`,
			string(tid), string(supportaccess.Pending)).Scan(&n)
	})
	return n, err
}

// GrantsAwaitingDigest lists, across tenants, the grants that were in
// force or revoked and whose digest has not gone out: a platform read
// (row-level security allows grants and nothing else of the tenants).
// Whether an active one has expired by now is the caller's question.
func (db *DB) GrantsAwaitingDigest(ctx context.Context, limit int) ([]supportaccess.TenantGrant, error) {
	var out []supportaccess.TenantGrant
	err := db.inTx(ctx, "", false, func(ctx context.Context, q querier) error {
		rows, err := q.query(ctx, `SELECT tenant_id, grant_json FROM support_grants
			WHERE digest_at IS NULL AND state IN (?, ?) ORDER BY updated_at LIMIT ?`,
			string(supportaccess.Active), string(supportaccess.Revoked), limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var tid, raw string
			if err := rows.Scan(&tid, &raw); err != nil {
				return err
			}
			var g supportaccess.Grant
			if err := json.Unmarshal([]byte(raw), &g); err != nil {
				return fmt.Errorf("access grant: %w", err)
			}
			out = append(out, supportaccess.TenantGrant{TenantID: tenant.ID(tid), Grant: g})
		}
		return rows.Err()
	})
	return out, err
}

// ClaimGrantDigest marks the grant's digest as sent at; false when
// another instance claimed it first.
func (db *DB) ClaimGrantDigest(ctx context.Context, tid tenant.ID, id string, at time.Time) (bool, error) {
	var claimed bool
	err := db.inTx(ctx, tid, true, func(ctx context.Context, q querier) error {
		res, err := q.exec(ctx, `UPDATE support_grants SET digest_at = ? WHERE tenant_id = ? AND id = ? AND digest_at IS NULL`,
			micros(at), string(tid), id)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		claimed = n == 1
		return err
	})
	return claimed, err
}
