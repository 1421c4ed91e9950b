package store

import (
	"context"
	"errors"
	"time"

	"github.com/havencrm/haven/exportgov"
	"github.com/havencrm/haven/tenant"
)

// ExportSettings returns the tenant's stored export rules, and false when
// it has none.
func (db *DB) ExportSettings(ctx context.Context, tid tenant.ID) (exportgov.Settings, bool, error) {
	var s exportgov.Settings
	found := false
	err := db.inTx(ctx, tid, false, func(ctx context.Context, q querier) error {
		var list, full string
		err := q.queryRow(ctx, `SELECT list_roles, full_roles, daily_row_quota, notify_threshold FROM export_settings WHERE tenant_id = ?`,
			string(tid)).Scan(&list, &full, &s.DailyRowQuota, &s.NotifyThreshold)
		if errors.Is(err, errNoRows) {
			return nil
		}
		if err != nil {
			return mapErr(err)
		}
		if s.ListRoles, err = exportgov.UnmarshalRoles(list); err != nil {
			return err
		}
		if s.FullRoles, err = exportgov.UnmarshalRoles(full); err != nil {
			return err
		}
		found = true
		return nil
	})
	return s, found, err
}

// PutExportSettings stores the tenant's export rules.
func (db *DB) PutExportSettings(ctx context.Context, tid tenant.ID, s exportgov.Settings, at time.Time) error {
	return db.inTx(ctx, tid, true, func(ctx context.Context, q querier) error {
		_, err := q.exec(ctx, `INSERT INTO export_settings (tenant_id, list_roles, full_roles, daily_row_quota, notify_threshold, updated_at)
			VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (tenant_id) DO UPDATE SET list_roles = excluded.list_roles, full_roles = excluded.full_roles,
				daily_row_quota = excluded.daily_row_quota, notify_threshold = excluded.notify_threshold, updated_at = excluded.updated_at`,
			string(tid), exportgov.MarshalRoles(s.ListRoles), exportgov.MarshalRoles(s.FullRoles), s.DailyRowQuota, s.NotifyThreshold, micros(at))
		return err
	})
}

// ChargeExportRows adds rows to a user's usage of day if the total stays
// within quota. It is one conditional upsert: on PostgreSQL a concurrent
// charge of the same row waits for this one's lock and then re-evaluates
// the condition against the committed total; on SQLite writes are
// serialized anyway. No row changed means refused, and nothing was
// charged.
func (db *DB) ChargeExportRows(ctx context.Context, tid tenant.ID, userID, day string, rows, quota int64, at time.Time) (bool, error) {
	if rows > quota {
		return false, nil // the insert branch has no condition of its own
	}
	var ok bool
	err := db.inTx(ctx, tid, true, func(ctx context.Context, q querier) error {
		res, err := q.exec(ctx, `INSERT INTO export_usage (tenant_id, user_id, day, rows_used, updated_at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (tenant_id, user_id, day) DO UPDATE SET rows_used = export_usage.rows_used + excluded.rows_used,
				updated_at = excluded.updated_at
			WHERE export_usage.rows_used + excluded.rows_used <= ?`,
			string(tid), userID, day, rows, micros(at), quota)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		ok = n == 1
		return err
	})
	return ok, err
}

// ExportRowsUsed returns the rows a user exported on day.
func (db *DB) ExportRowsUsed(ctx context.Context, tid tenant.ID, userID, day string) (int64, error) {
	var n int64
	err := db.inTx(ctx, tid, false, func(ctx context.Context, q querier) error {
		err := q.queryRow(ctx, `SELECT rows_used FROM export_usage WHERE tenant_id = ? AND user_id = ? AND day = ?`,
			string(tid), userID, day).Scan(&n)
		if errors.Is(err, errNoRows) {
			return nil
		}
		return mapErr(err)
	})
	return n, err
}
