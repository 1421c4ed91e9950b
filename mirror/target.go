package mirror

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	_ "modernc.org/sqlite"             // registers the "sqlite" driver
)

// identRE is what an object or field name must look like to become a
// table or column name. Names come from the server, so they are checked
// here as well as quoted, never trusted.
var identRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)

// reservedPrefix names the mirror's own tables; no object may take it.
const reservedPrefix = "haven_mirror"

func validIdent(s string) bool { return identRE.MatchString(s) }

// quote quotes an identifier already checked by validIdent; the check
// leaves no quote character to escape, the doubling is belt and braces.
func quote(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// kind is how a column stores its values.
type kind int

const (
	kindText kind = iota
	kindReal
	kindBool
	kindDate
	kindTime
	kindInt
)

// target is the customer's database the mirror writes to.
type target struct {
	db       *sql.DB
	postgres bool
}

// openTarget opens a sqlite:///PATH or postgres:// URL. Errors never
// repeat the URL, which may hold a password.
func openTarget(ctx context.Context, to string) (*target, error) {
	switch {
	case strings.HasPrefix(to, "sqlite://"):
		path := strings.TrimPrefix(to, "sqlite://")
		if path == "" || strings.ContainsAny(path, "?#") {
			return nil, errors.New("--to sqlite:///PATH needs a file path (e.g. sqlite:///var/lib/crm/mirror.db)")
		}
		path = filepath.Clean(path)
		dsn := "file:" + (&url.URL{Path: path}).EscapedPath() + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_txlock=immediate"
		db, err := sql.Open("sqlite", dsn)
		if err != nil {
			return nil, fmt.Errorf("open SQLite target: %w", err)
		}
		db.SetMaxOpenConns(1)
		if err := db.PingContext(ctx); err != nil {
			db.Close()
			return nil, fmt.Errorf("open SQLite target %s: %w", path, err)
		}
		return &target{db: db}, nil
	case strings.HasPrefix(to, "postgres://"), strings.HasPrefix(to, "postgresql://"):
		db, err := sql.Open("pgx", to)
		if err != nil {
			return nil, errors.New("invalid PostgreSQL target URL")
		}
		// One connection: it holds the run's advisory lock, so two runs
		// into the same database never interleave their pages (an older
		// page applied after a newer one would leave stale rows until the
		// next run).
		db.SetMaxOpenConns(1)
		db.SetConnMaxLifetime(0)
		db.SetConnMaxIdleTime(0)
		var locked bool
		if err := db.QueryRowContext(ctx, `SELECT pg_try_advisory_lock(hashtext('haven_mirror'))`).Scan(&locked); err != nil {
			db.Close()
			return nil, fmt.Errorf("connect to the PostgreSQL target: %w", scrubErr(err))
		}
		if !locked {
			db.Close()
			return nil, errors.New("another haven mirror is running into this database")
		}
		return &target{db: db, postgres: true}, nil
	}
	return nil, errors.New("--to must be sqlite:///PATH or a postgres:// URL")
}

// scrubErr drops anything after "password=" from a connection error.
func scrubErr(err error) error {
	msg := err.Error()
	if i := strings.Index(msg, "password="); i >= 0 {
		msg = msg[:i] + "password=REDACTED"
	}
	return errors.New(msg)
}

func (t *target) Close() error { return t.db.Close() }

// rebind turns "?" placeholders into PostgreSQL's numbered ones; the
// mirror's SQL has no "?" anywhere else (identifiers are validated).
func (t *target) rebind(q string) string {
	if !t.postgres {
		return q
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

func (t *target) sqlType(k kind) string {
	switch k {
	case kindReal:
		if t.postgres {
			return "DOUBLE PRECISION"
		}
		return "REAL"
	case kindBool:
		if t.postgres {
			return "BOOLEAN"
		}
		return "INTEGER"
	case kindDate:
		if t.postgres {
			return "DATE"
		}
		return "TEXT"
	case kindTime:
		if t.postgres {
			return "TIMESTAMPTZ"
		}
		return "TEXT"
	case kindInt:
		if t.postgres {
			return "BIGINT"
		}
		return "INTEGER"
	}
	return "TEXT"
}

// ensureStateTables creates the mirror's bookkeeping: which server and
// tenant this database mirrors, the change-feed cursor, and how far the
// first full copy got per object.
func (t *target) ensureStateTables(ctx context.Context) error {
	for _, q := range []string{
		`CREATE TABLE IF NOT EXISTS haven_mirror_state (
			id        INTEGER PRIMARY KEY CHECK (id = 1),
			source    TEXT NOT NULL,
			tenant_id TEXT NOT NULL,
			cursor    TEXT NOT NULL,
			phase     TEXT NOT NULL CHECK (phase IN ('copy', 'changes'))
		)`,
		`CREATE TABLE IF NOT EXISTS haven_mirror_copy (
			object      TEXT PRIMARY KEY,
			list_cursor TEXT NOT NULL,
			done        INTEGER NOT NULL
		)`,
		// A row here marks the copy in progress as a fresh copy after the
		// server refused the saved cursor as expired: the target then holds
		// rows the server may have deleted meanwhile, so the copy notes
		// every ID it sees and, once done, removes the rest.
		`CREATE TABLE IF NOT EXISTS haven_mirror_recopy (
			id INTEGER PRIMARY KEY CHECK (id = 1)
		)`,
		`CREATE TABLE IF NOT EXISTS haven_mirror_seen (
			object TEXT NOT NULL,
			id     TEXT NOT NULL,
			PRIMARY KEY (object, id)
		)`,
	} {
		if _, err := t.db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("create mirror state tables: %w", err)
		}
	}
	return nil
}

// columns returns the columns table has now (empty when it does not exist).
func (t *target) columns(ctx context.Context, table string) (map[string]bool, error) {
	var rows *sql.Rows
	var err error
	if t.postgres {
		rows, err = t.db.QueryContext(ctx, `SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1`, table)
	} else {
		rows, err = t.db.QueryContext(ctx, `SELECT name FROM pragma_table_info(?)`, table)
	}
	if err != nil {
		return nil, fmt.Errorf("read columns of %s: %w", table, err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, err
		}
		out[name] = true
	}
	return out, rows.Err()
}

// ensureTable creates an object's table, or adds the columns it lacks
// (fields added on the server since the last run).
func (t *target) ensureTable(ctx context.Context, tb table) error {
	have, err := t.columns(ctx, tb.name)
	if err != nil {
		return err
	}
	tx, err := t.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	if len(have) == 0 {
		defs := make([]string, 0, len(tb.cols))
		for i, c := range tb.cols {
			d := quote(c.name) + " " + t.sqlType(c.kind)
			if i == 0 {
				d += " PRIMARY KEY"
			}
			defs = append(defs, d)
		}
		if _, err := tx.ExecContext(ctx, `CREATE TABLE `+quote(tb.name)+` (`+strings.Join(defs, ", ")+`)`); err != nil {
			return fmt.Errorf("create table %s: %w", tb.name, err)
		}
	} else {
		for _, c := range tb.cols {
			if have[c.name] {
				continue
			}
			if _, err := tx.ExecContext(ctx, `ALTER TABLE `+quote(tb.name)+` ADD COLUMN `+quote(c.name)+` `+t.sqlType(c.kind)); err != nil {
				return fmt.Errorf("add column %s.%s: %w", tb.name, c.name, err)
			}
		}
	}
	return tx.Commit()
}

// value converts a JSON value of the API to what column c stores.
func (t *target) value(c column, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	bad := fmt.Errorf("a value of %s does not fit its %s column (did the field's type or visibility change? mirror into a fresh database)", c.name, t.sqlType(c.kind))
	switch c.kind {
	case kindText:
		switch x := v.(type) {
		case string:
			return x, nil
		case float64:
			return strconv.FormatFloat(x, 'f', -1, 64), nil
		case bool:
			return strconv.FormatBool(x), nil
		}
	case kindReal:
		if f, ok := v.(float64); ok {
			return f, nil
		}
	case kindBool:
		if b, ok := v.(bool); ok {
			if t.postgres {
				return b, nil
			}
			if b {
				return int64(1), nil
			}
			return int64(0), nil
		}
	case kindDate:
		if s, ok := v.(string); ok {
			if _, err := time.Parse(time.DateOnly, s); err == nil {
				return s, nil
			}
		}
	case kindTime:
		var tm time.Time
		switch x := v.(type) {
		case time.Time:
			tm = x
		case string:
			var err error
			if tm, err = time.Parse(time.RFC3339Nano, x); err != nil {
				return nil, bad
			}
		default:
			return nil, bad
		}
		if t.postgres {
			return tm.UTC(), nil
		}
		return tm.UTC().Format(time.RFC3339Nano), nil
	case kindInt:
		switch x := v.(type) {
		case int64:
			return x, nil
		case float64:
			return int64(x), nil
		}
	}
	return nil, bad
}
