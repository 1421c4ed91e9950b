package store

import (
	"context"
	"database/sql"
	"time"

	"github.com/havencrm/haven/audit"
	"github.com/havencrm/haven/tenant"
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

// RawWriter returns the underlying write connection pool, for benchmarks
// that compare Haven's paths with bare SQL.
func RawWriter(db *DB) *sql.DB { return db.writer }

// RawReader returns the underlying read connection pool.
func RawReader(db *DB) *sql.DB { return db.reader }

// Rebind turns "?" placeholders into the engine's own.
func Rebind(db *DB, q string) string { return db.dialect.rebind(q) }

// PurgeChangesStep runs one purge transaction of at most limit changes.
func (db *DB) PurgeChangesStep(ctx context.Context, tid tenant.ID, cutoff time.Time, limit int64) (int64, bool, error) {
	return db.purgeChangesStep(ctx, tid, cutoff, limit)
}
