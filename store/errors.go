package store

import (
	"database/sql"
	"errors"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/havencrm/haven/apperr"
)

// errNoRows is returned by scans that found nothing; callers turn it into
// a not-found error naming what was missing.
var errNoRows = sql.ErrNoRows

// mapErr turns driver errors into apperr kinds where the kind is known
// (uniqueness → conflict, busy → internal with cause), so that domain code
// never inspects driver types.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "23505":
			return apperr.Conflict("a record with this value already exists").Wrap(err)
		case "23503":
			return apperr.Invalid("a referenced item does not exist").Wrap(err)
		case "40001", "40P01":
			return apperr.Conflict("a concurrent change interfered; retry").Wrap(err)
		}
		return err
	}
	var sqErr *sqlite.Error
	if errors.As(err, &sqErr) {
		switch sqErr.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return apperr.Conflict("a record with this value already exists").Wrap(err)
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return apperr.Invalid("a referenced item does not exist").Wrap(err)
		}
		return err
	}
	return err
}
