package testserver

import (
	"context"
	"database/sql"
	"net/url"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// TamperAuditEvent changes the stored object name of event seq of a
// tenant's audit trail behind the server's back, as someone with direct
// database access would: it lifts the append-only guard for this one
// UPDATE (dropping and recreating the SQLite trigger; on PostgreSQL,
// replica mode skips the trigger for the transaction) and leaves the
// event's hash as it was. Verification must then find the trail broken
// at seq.
func (s *Server) TamperAuditEvent(t testing.TB, tn Tenant, seq int64) {
	t.Helper()
	ctx := context.Background()
	cfg := s.App.Config
	const update = `UPDATE audit_events SET object_name = object_name || ' (forged)' WHERE tenant_id = ? AND seq = ?`
	if cfg.DatabaseURL != "" {
		// The test database's URL is the administrative one: a superuser,
		// who may switch triggers off and is not bound by row security.
		conn, err := pgx.Connect(ctx, cfg.DatabaseURL)
		if err != nil {
			t.Fatalf("tamper: connect: %v", err)
		}
		defer conn.Close(ctx)
		tx, err := conn.Begin(ctx)
		if err != nil {
			t.Fatalf("tamper: begin: %v", err)
		}
		defer func() { _ = tx.Rollback(ctx) }()
		if _, err := tx.Exec(ctx, `SET LOCAL session_replication_role = replica`); err != nil {
			t.Fatalf("tamper: replica mode: %v", err)
		}
		tag, err := tx.Exec(ctx, strings.Replace(strings.Replace(update, "?", "$1", 1), "?", "$2", 1), tn.ID, seq)
		if err != nil || tag.RowsAffected() != 1 {
			t.Fatalf("tamper: update event %d: %v (%d rows)", seq, err, tag.RowsAffected())
		}
		if err := tx.Commit(ctx); err != nil {
			t.Fatalf("tamper: commit: %v", err)
		}
		return
	}
	// A second connection to the server's SQLite file (modernc's driver,
	// registered by the store package). DDL is transactional in SQLite,
	// so the trigger is never missing for anyone else.
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: cfg.SQLitePath()}).EscapedPath()+"?_pragma=busy_timeout(10000)&_txlock=immediate")
	if err != nil {
		t.Fatalf("tamper: open: %v", err)
	}
	defer db.Close()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatalf("tamper: begin: %v", err)
	}
	defer func() { _ = tx.Rollback() }()
	var trigger string
	if err := tx.QueryRowContext(ctx, `SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = 'audit_events_append_only_update'`).Scan(&trigger); err != nil {
		t.Fatalf("tamper: read the append-only trigger: %v", err)
	}
	if _, err := tx.ExecContext(ctx, `DROP TRIGGER audit_events_append_only_update`); err != nil {
		t.Fatalf("tamper: drop trigger: %v", err)
	}
	res, err := tx.ExecContext(ctx, update, tn.ID, seq)
	if err != nil {
		t.Fatalf("tamper: update event %d: %v", seq, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		t.Fatalf("tamper: update event %d: %d rows", seq, n)
	}
	if _, err := tx.ExecContext(ctx, trigger); err != nil {
		t.Fatalf("tamper: restore trigger: %v", err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatalf("tamper: commit: %v", err)
	}
}
