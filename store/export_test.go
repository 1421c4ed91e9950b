package store

import (
	"context"
	"database/sql"

	"github.com/havencrm/haven/audit"
)

// RawQueryRow runs SQL on the transaction in ctx, for tests that must
// bypass the store's own predicates.
func RawQueryRow(ctx context.Context, query string, args ...any) *sql.Row {
	st := ctx.Value(txKey{}).(*txState)
	return st.tx.QueryRowContext(ctx, query, args...)
}

// RawExec executes SQL on the transaction in ctx.
func RawExec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	st := ctx.Value(txKey{}).(*txState)
	return st.tx.ExecContext(ctx, query, args...)
}

type AuditFilter = audit.Filter
