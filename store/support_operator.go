package store

import (
	"context"

	"github.com/havencrm/haven/supportaccess"
	"github.com/havencrm/haven/tenant"
)

// OperatorGrants lists one operator's requests and grants across every
// tenant, newest first, for the operator console's status page. Like
// GrantByID it is a platform read (tenant ""), which row-level security
// allows on support_grants and nothing else of the tenants; each grant
// carries its own tenant ID. The support_grants_operator index serves it.
func (db *DB) OperatorGrants(ctx context.Context, operatorID string, limit int) ([]supportaccess.Grant, error) {
	if operatorID == "" || limit <= 0 {
		return nil, nil
	}
	return queryAll(ctx, db, tenant.ID(""), func(row scanner) (supportaccess.Grant, error) {
		g, _, err := scanGrant(row)
		return g, err
	}, `SELECT grant_json, version FROM support_grants WHERE operator_id = ? ORDER BY created_at DESC, id DESC LIMIT ?`, operatorID, limit)
}
