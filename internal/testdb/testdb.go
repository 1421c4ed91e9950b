// Package testdb gives tests real databases: a fresh SQLite file, and a
// fresh PostgreSQL database when HAVEN_TEST_POSTGRES_URL is set.
package testdb

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/havencrm/haven/internal/testenv"
	"github.com/havencrm/haven/store"
)

// EnvPostgres names the variable holding an administrative PostgreSQL URL.
const EnvPostgres = "HAVEN_TEST_POSTGRES_URL"

// Engines lists the engines tests run on in this environment.
func Engines() []string {
	if os.Getenv(EnvPostgres) != "" {
		return []string{"sqlite", "postgres"}
	}
	return []string{"sqlite"}
}

// Each runs fn once per available engine with a fresh, migrated database.
// Without HAVEN_TEST_POSTGRES_URL the PostgreSQL run is skipped with a
// message (CI sets it and fails on such skips).
func Each(t *testing.T, fn func(t *testing.T, db *store.DB)) {
	t.Helper()
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			fn(t, Open(t, engine))
		})
	}
}

// Open returns a fresh migrated database of the given engine, closed
// (and for PostgreSQL dropped) when the test ends.
func Open(t testing.TB, engine string) *store.DB {
	t.Helper()
	ctx := context.Background()
	var db *store.DB
	var err error
	switch engine {
	case "sqlite":
		db, err = store.OpenSQLite(ctx, t.TempDir()+"/haven.db", store.Options{})
	case "postgres":
		db, err = store.OpenPostgres(ctx, NewPostgresDatabase(t), store.Options{})
	default:
		t.Fatalf("unknown engine %q", engine)
	}
	if err != nil {
		t.Fatalf("open %s: %v", engine, err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatalf("migrate %s: %v", engine, err)
	}
	return db
}

// NewPostgresDatabase creates an empty database for this test and returns
// its URL; it skips the test when no PostgreSQL is configured.
func NewPostgresDatabase(t testing.TB) string {
	t.Helper()
	admin := os.Getenv(EnvPostgres)
	if admin == "" {
		testenv.SkipOrFail(t, "PostgreSQL tests skipped: set "+EnvPostgres+" (e.g. postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable) to run them")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("connect to %s: %v", EnvPostgres, err)
	}
	defer conn.Close(ctx)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "haven_test_" + hex.EncodeToString(b)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, admin)
		if err != nil {
			t.Logf("drop %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Logf("drop %s: %v", name, err)
		}
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("parse %s: %v", EnvPostgres, err)
	}
	u.Path = "/" + name
	return u.String()
}
