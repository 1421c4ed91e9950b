// Package store holds all SQL: the SQLite and PostgreSQL connections,
// embedded migrations, the small dialect seam and the implementations of
// the domain packages' store interfaces. Driver errors are mapped to apperr
// kinds here and nowhere else.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/havencrm/haven/tenant"
)

// DB is Haven's database: on SQLite a single writer connection beside a
// read pool, on PostgreSQL one pool whose transactions run as the
// row-level-security-bound application role.
type DB struct {
	writer  *sql.DB
	reader  *sql.DB
	pool    *pgxpool.Pool // PostgreSQL only
	dialect dialect
	appRole string
	// checkpointer signs audit checkpoints as events are appended.
	checkpointer atomic.Pointer[AuditCheckpointer]
}

// Options tune Open.
type Options struct {
	// AppRole is the PostgreSQL role each transaction switches to (SET
	// LOCAL ROLE) so that row-level security applies even to an owner or
	// superuser connection. Empty means "haven_app".
	AppRole string
	// ReadConns is the SQLite read pool size; 0 means 4.
	ReadConns int
}

// IsPostgresURL reports whether u names a PostgreSQL database.
func IsPostgresURL(u string) bool {
	return strings.HasPrefix(u, "postgres://") || strings.HasPrefix(u, "postgresql://")
}

// OpenSQLite opens (creating if needed) the SQLite database at path.
func OpenSQLite(ctx context.Context, path string, opts Options) (*DB, error) {
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("create data directory: %w", err)
		}
	}
	base := "file:" + (&url.URL{Path: path}).EscapedPath() +
		"?_pragma=foreign_keys(1)&_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)"
	// BEGIN IMMEDIATE takes the write lock up front, so a transaction never
	// fails half-way on a lock upgrade.
	writer, err := sql.Open("sqlite", base+"&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("open sqlite writer: %w", err)
	}
	writer.SetMaxOpenConns(1)
	writer.SetMaxIdleConns(1)
	writer.SetConnMaxLifetime(0)
	if err := writer.PingContext(ctx); err != nil {
		writer.Close()
		return nil, fmt.Errorf("open sqlite database %s: %w", path, err)
	}
	reader, err := sql.Open("sqlite", base+"&_pragma=query_only(1)")
	if err != nil {
		writer.Close()
		return nil, fmt.Errorf("open sqlite reader: %w", err)
	}
	n := opts.ReadConns
	if n <= 0 {
		n = 4
	}
	reader.SetMaxOpenConns(n)
	reader.SetMaxIdleConns(n)
	if err := os.Chmod(path, 0o600); err != nil {
		writer.Close()
		reader.Close()
		return nil, fmt.Errorf("restrict database file permissions: %w", err)
	}
	return &DB{writer: writer, reader: reader, dialect: sqliteDialect{}}, nil
}

// OpenPostgres connects to the PostgreSQL database at dsn.
func OpenPostgres(ctx context.Context, dsn string, opts Options) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// The parse error may echo the password; never pass it on.
		return nil, errors.New("invalid PostgreSQL URL")
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to PostgreSQL at %s:%d: %w", cfg.ConnConfig.Host, cfg.ConnConfig.Port, redactErr(err))
	}
	db := stdlib.OpenDBFromPool(pool)
	role := opts.AppRole
	if role == "" {
		role = "haven_app"
	}
	return &DB{writer: db, reader: db, pool: pool, dialect: postgresDialect{}, appRole: role}, nil
}

// Open opens PostgreSQL when databaseURL is set, otherwise SQLite at
// sqlitePath.
func Open(ctx context.Context, databaseURL, sqlitePath string, opts Options) (*DB, error) {
	if databaseURL != "" {
		if !IsPostgresURL(databaseURL) {
			return nil, errors.New("database URL must start with postgres:// or postgresql://")
		}
		return OpenPostgres(ctx, databaseURL, opts)
	}
	return OpenSQLite(ctx, sqlitePath, opts)
}

// Dialect names the database engine: "sqlite" or "postgres".
func (db *DB) Dialect() string { return db.dialect.name() }

// Close closes every connection; in-flight transactions must have ended.
func (db *DB) Close() error {
	var errs []error
	if db.writer != nil {
		errs = append(errs, db.writer.Close())
	}
	if db.reader != nil && db.reader != db.writer {
		errs = append(errs, db.reader.Close())
	}
	if db.pool != nil {
		db.pool.Close()
	}
	return errors.Join(errs...)
}

// Ping checks the database answers.
func (db *DB) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return db.reader.PingContext(ctx)
}

// redactErr drops anything from a connection error that might contain a
// password, keeping it useful for operators.
func redactErr(err error) error {
	msg := err.Error()
	if i := strings.Index(msg, "password="); i >= 0 {
		msg = msg[:i] + "password=REDACTED"
	}
	return errors.New(msg)
}

type txKey struct{}

type txState struct {
	tx     *sql.Tx
	tenant tenant.ID
	write  bool
}

// querier is what store methods run their SQL on.
type querier struct {
	tx *sql.Tx
	d  dialect
}

func (q querier) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	res, err := q.tx.ExecContext(ctx, q.d.rebind(query), args...)
	return res, mapErr(err)
}

func (q querier) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	rows, err := q.tx.QueryContext(ctx, q.d.rebind(query), args...)
	return rows, mapErr(err)
}

func (q querier) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	return q.tx.QueryRowContext(ctx, q.d.rebind(query), args...)
}

// WriteTx runs fn in one write transaction for tenantID; store calls made
// with the context fn receives join it, so a change and its audit event
// commit together or not at all.
func (db *DB) WriteTx(ctx context.Context, tenantID tenant.ID, fn func(ctx context.Context) error) error {
	return db.inTx(ctx, tenantID, true, func(ctx context.Context, _ querier) error { return fn(ctx) })
}

// ReadTx runs fn in one read-only transaction (a consistent snapshot).
func (db *DB) ReadTx(ctx context.Context, tenantID tenant.ID, fn func(ctx context.Context) error) error {
	return db.inTx(ctx, tenantID, false, func(ctx context.Context, _ querier) error { return fn(ctx) })
}

func (db *DB) inTx(ctx context.Context, tenantID tenant.ID, write bool, fn func(ctx context.Context, q querier) error) error {
	if st, ok := ctx.Value(txKey{}).(*txState); ok {
		if st.tenant != tenantID {
			// A call for another tenant inside a transaction is a bug that
			// would cross the tenant fence; refuse it loudly.
			return fmt.Errorf("store: transaction for tenant %q used for tenant %q", st.tenant, tenantID)
		}
		if write && !st.write {
			return errors.New("store: write inside a read transaction")
		}
		return fn(ctx, querier{tx: st.tx, d: db.dialect})
	}
	conn := db.reader
	var opts *sql.TxOptions
	if write {
		conn = db.writer
	} else if db.pool != nil {
		opts = &sql.TxOptions{ReadOnly: true}
	}
	tx, err := conn.BeginTx(ctx, opts)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", mapErr(err))
	}
	committed := false
	defer func() {
		if !committed {
			_ = tx.Rollback()
		}
	}()
	if db.pool != nil {
		// One round trip switches to the application role (so row-level
		// security applies even to an owner or superuser connection) and
		// names the tenant; both end with the transaction.
		if _, err := tx.ExecContext(ctx, "SELECT set_config('role', $1, true), set_config('haven.tenant_id', $2, true)",
			db.appRole, string(tenantID)); err != nil {
			return fmt.Errorf("switch to application role %q for the tenant: %w", db.appRole, err)
		}
	}
	st := &txState{tx: tx, tenant: tenantID, write: write}
	if err := fn(context.WithValue(ctx, txKey{}, st), querier{tx: tx, d: db.dialect}); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", mapErr(err))
	}
	committed = true
	return nil
}

// micros and fromMicros store times as UTC Unix microseconds, the one
// representation both engines sort and compare alike.
func micros(t time.Time) int64 { return t.UTC().UnixMicro() }

func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

func nullMicros(t *time.Time) any {
	if t == nil {
		return nil
	}
	return micros(*t)
}

func fromNullMicros(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMicros(v.Int64)
	return &t
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// scanner is a row to scan: *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

// queryAll runs a read query in tenantID's transaction and scans every
// row with scan.
func queryAll[T any](ctx context.Context, db *DB, tid tenant.ID, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	var out []T
	err := db.inTx(ctx, tid, false, func(ctx context.Context, q querier) error {
		rows, err := q.query(ctx, query, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			v, err := scan(rows)
			if err != nil {
				return err
			}
			out = append(out, v)
		}
		return mapErr(rows.Err())
	})
	return out, err
}
