// Package storetest hands tests a fresh SQLite database and a fresh
// PostgreSQL schema, so one suite runs against both engines.
//
// PostgreSQL comes from TEST_DATABASE_URL (scripts/test starts a private
// server and sets it). Without it, PostgreSQL subtests skip locally and fail
// in CI (CI=true), where nothing may be skipped.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mlcycle/mlcycle/internal/store"
)

// Each runs fn once on a fresh migrated SQLite database and once on a fresh
// migrated PostgreSQL schema, as subtests named "sqlite" and "postgres".
func Each(t *testing.T, migs []store.Migration, fn func(t *testing.T, db *store.DB)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) { fn(t, SQLite(t, migs)) })
	t.Run("postgres", func(t *testing.T) { fn(t, Postgres(t, migs)) })
}

// SQLite returns a migrated database in a temporary folder, closed when the
// test ends.
func SQLite(t testing.TB, migs []store.Migration) *store.DB {
	t.Helper()
	path := filepath.Join(t.TempDir(), "test.db")
	return open(t, "sqlite://"+path, migs)
}

// SQLiteURL returns the URL of a fresh (unopened) SQLite database file.
func SQLiteURL(t testing.TB) string {
	return "sqlite://" + filepath.Join(t.TempDir(), "test.db")
}

// Postgres returns a migrated database in a fresh schema, dropped when the
// test ends.
func Postgres(t testing.TB, migs []store.Migration) *store.DB {
	t.Helper()
	return open(t, PostgresURL(t), migs)
}

// PostgresURL creates a fresh schema and returns a URL whose connections use
// it. The schema is dropped when the test ends.
func PostgresURL(t testing.TB) string {
	t.Helper()
	base := os.Getenv("TEST_DATABASE_URL")
	if base == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("TEST_DATABASE_URL is not set: in CI every storage test must run on PostgreSQL (run ./scripts/test)")
		}
		t.Skip("PostgreSQL not available: set TEST_DATABASE_URL or run ./scripts/test")
	}
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	schema := "t_" + hex.EncodeToString(rnd[:])

	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("opening TEST_DATABASE_URL: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		admin.Close()
		t.Fatalf("creating test schema (is PostgreSQL at TEST_DATABASE_URL running?): %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Logf("dropping test schema %s: %v", schema, err)
		}
		admin.Close()
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("parsing TEST_DATABASE_URL: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

func open(t testing.TB, rawURL string, migs []store.Migration) *store.DB {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, rawURL, store.Options{MaxConns: 8})
	if err != nil {
		t.Fatalf("opening test database: %v", err)
	}
	// Registered before any cleanup that drops the schema, so it runs after
	// tests and before the drop (cleanups run last-in first-out).
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx, migs); err != nil {
		t.Fatalf("migrating test database: %v", err)
	}
	return db
}
