package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/havencrm/haven/identity"
	"github.com/havencrm/haven/tenant"
)

const securitySettingsName = "security"

// SecuritySettings returns the tenant's stored security settings, and
// false when none are stored.
func (db *DB) SecuritySettings(ctx context.Context, tid tenant.ID) (identity.SecuritySettings, bool, error) {
	var s identity.SecuritySettings
	found := false
	err := db.inTx(ctx, tid, false, func(ctx context.Context, q querier) error {
		var raw string
		err := q.queryRow(ctx, `SELECT value FROM tenant_settings WHERE tenant_id = ? AND name = ?`, string(tid), securitySettingsName).Scan(&raw)
		if errors.Is(err, errNoRows) {
			return nil
		}
		if err != nil {
			return mapErr(err)
		}
		if err := json.Unmarshal([]byte(raw), &s); err != nil {
			return fmt.Errorf("security settings: %w", err)
		}
		found = true
		return nil
	})
	return s, found, err
}

// PutSecuritySettings stores the tenant's security settings.
func (db *DB) PutSecuritySettings(ctx context.Context, tid tenant.ID, s identity.SecuritySettings, at time.Time) error {
	raw, err := json.Marshal(s)
	if err != nil {
		return err
	}
	return db.inTx(ctx, tid, true, func(ctx context.Context, q querier) error {
		_, err := q.exec(ctx, `INSERT INTO tenant_settings (tenant_id, name, value, updated_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (tenant_id, name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
			string(tid), securitySettingsName, string(raw), micros(at))
		return err
	})
}
