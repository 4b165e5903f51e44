// Package store opens the metadata database (SQLite or PostgreSQL, chosen by
// URL), runs migrations, and gives domain packages transactions. Domain
// packages own their tables and SQL; store only knows how to talk to the two
// databases and where they differ.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	_ "modernc.org/sqlite"             // registers the "sqlite" driver
)

// Dialect names a database engine.
type Dialect string

const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// Options tune Open. The zero value is right for a server.
type Options struct {
	// MaxConns caps the PostgreSQL pool and the SQLite reader pool.
	// Zero means 4 × GOMAXPROCS (at least 8).
	MaxConns int
	// ConnectTimeout bounds the first ping. Zero means 5 s.
	ConnectTimeout time.Duration
}

// DB is an open metadata database. Reads go to a pool; writes go through
// InTx (on SQLite, a single writer connection, so writers queue in-process
// instead of failing with SQLITE_BUSY).
type DB struct {
	dialect Dialect
	w       *sql.DB // writer; on PostgreSQL the same pool as r
	r       *sql.DB
	display string // URL without password, for messages
}

// Open opens the database named by rawURL:
//
//	sqlite:///abs/path/mlcycle.db, sqlite://relative/path.db
//	postgres://user:pass@host:5432/db?sslmode=disable (or postgresql://)
func Open(ctx context.Context, rawURL string, opts Options) (*DB, error) {
	if opts.MaxConns <= 0 {
		opts.MaxConns = max(8, 4*runtime.GOMAXPROCS(0))
	}
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = 5 * time.Second
	}
	scheme, rest, ok := strings.Cut(rawURL, "://")
	if !ok {
		return nil, fmt.Errorf("database URL %q has no scheme: use sqlite:///path/to/mlcycle.db or postgres://user@host/db", rawURL)
	}
	switch strings.ToLower(scheme) {
	case "sqlite", "sqlite3":
		path, _, _ := strings.Cut(rest, "?")
		return openSQLite(ctx, path, opts)
	case "postgres", "postgresql":
		return openPostgres(ctx, rawURL, opts)
	default:
		return nil, fmt.Errorf("unknown database scheme %q in --db: use sqlite:///path/to/mlcycle.db or postgres://user@host/db", scheme)
	}
}

func openSQLite(ctx context.Context, path string, opts Options) (*DB, error) {
	if path == "" {
		return nil, errors.New("sqlite URL has no file path: use sqlite:///path/to/mlcycle.db")
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating database folder %s: %w (choose a writable --data-dir or --db)", dir, err)
	}
	probe, err := os.CreateTemp(dir, ".probe-*")
	if err != nil {
		return nil, fmt.Errorf("database folder %s is not writable: %w (choose a writable --data-dir or --db)", dir, err)
	}
	probe.Close()
	os.Remove(probe.Name())

	// synchronous=NORMAL in WAL mode keeps every committed transaction across
	// a process crash (kill -9); only an OS crash may lose the last commits.
	// temp_store=MEMORY keeps the temporary b-trees of sorts (search_runs
	// ordered by a metric) in memory instead of temp files.
	pragmas := "_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_pragma=temp_store(MEMORY)"
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() + "?"
	w, err := sql.Open("sqlite", dsn+pragmas+"&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("opening sqlite %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	r, err := sql.Open("sqlite", dsn+pragmas+"&_pragma=query_only(1)")
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("opening sqlite %s: %w", path, err)
	}
	r.SetMaxOpenConns(opts.MaxConns)
	r.SetMaxIdleConns(min(opts.MaxConns, 4))
	r.SetConnMaxIdleTime(5 * time.Minute)
	db := &DB{dialect: SQLite, w: w, r: r, display: "sqlite://" + path}
	pctx, cancel := context.WithTimeout(ctx, opts.ConnectTimeout)
	defer cancel()
	// The writer connection must come up first: it switches the file to WAL.
	if err := w.PingContext(pctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("opening sqlite %s: %w", path, err)
	}
	if err := r.PingContext(pctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("opening sqlite %s: %w", path, err)
	}
	return db, nil
}

func openPostgres(ctx context.Context, rawURL string, opts Options) (*DB, error) {
	display := redact(rawURL)
	p, err := sql.Open("pgx", rawURL)
	if err != nil {
		return nil, fmt.Errorf("parsing postgres URL %s: %w", display, err)
	}
	p.SetMaxOpenConns(opts.MaxConns)
	p.SetMaxIdleConns(min(opts.MaxConns, 8))
	p.SetConnMaxIdleTime(5 * time.Minute)
	pctx, cancel := context.WithTimeout(ctx, opts.ConnectTimeout)
	defer cancel()
	if err := p.PingContext(pctx); err != nil {
		p.Close()
		return nil, fmt.Errorf("cannot reach PostgreSQL at %s: %w (is it running, and are host, port, user and password in --db right?)", display, err)
	}
	return &DB{dialect: Postgres, w: p, r: p, display: display}, nil
}

// redact hides the password of a URL for messages and logs.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// Close closes the pools. On SQLite it first checkpoints the WAL so the
// database file is complete on its own.
func (db *DB) Close() error {
	var errs []error
	if db.dialect == SQLite && db.w != nil {
		_, _ = db.w.Exec("PRAGMA wal_checkpoint(TRUNCATE)")
	}
	if db.r != nil && db.r != db.w {
		errs = append(errs, db.r.Close())
	}
	if db.w != nil {
		errs = append(errs, db.w.Close())
	}
	return errors.Join(errs...)
}

// Dialect tells which engine this is.
func (db *DB) Dialect() Dialect { return db.dialect }

// String is the database URL without its password.
func (db *DB) String() string { return db.display }

// Ping checks that the database answers (for readiness probes).
func (db *DB) Ping(ctx context.Context) error { return db.r.PingContext(ctx) }

// PoolStats reports the reader and writer pool statistics (the same pool on
// PostgreSQL).
func (db *DB) PoolStats() map[string]sql.DBStats {
	if db.r == db.w {
		return map[string]sql.DBStats{"main": db.r.Stats()}
	}
	return map[string]sql.DBStats{"read": db.r.Stats(), "write": db.w.Stats()}
}

// Querier runs SQL written with '?' placeholders on either engine.
type Querier interface {
	Exec(ctx context.Context, query string, args ...any) (sql.Result, error)
	Query(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRow(ctx context.Context, query string, args ...any) *sql.Row
	Dialect() Dialect
}

// Query runs a read on the reader pool.
func (db *DB) Query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return db.r.QueryContext(ctx, rebind(db.dialect, q), args...)
}

// QueryRow runs a single-row read on the reader pool.
func (db *DB) QueryRow(ctx context.Context, q string, args ...any) *sql.Row {
	return db.r.QueryRowContext(ctx, rebind(db.dialect, q), args...)
}

// Exec runs one write statement in its own transaction on the writer.
func (db *DB) Exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return db.w.ExecContext(ctx, rebind(db.dialect, q), args...)
}

// Tx is an open transaction.
type Tx struct {
	tx      *sql.Tx
	dialect Dialect
}

func (t *Tx) Dialect() Dialect { return t.dialect }

func (t *Tx) Exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return t.tx.ExecContext(ctx, rebind(t.dialect, q), args...)
}

func (t *Tx) Query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return t.tx.QueryContext(ctx, rebind(t.dialect, q), args...)
}

func (t *Tx) QueryRow(ctx context.Context, q string, args ...any) *sql.Row {
	return t.tx.QueryRowContext(ctx, rebind(t.dialect, q), args...)
}

// Lock serialises transactions that take the same named lock until they end.
// SQLite already has one writer at a time; PostgreSQL takes a transaction
// advisory lock. Use it to keep a sequence (an audit chain, a version
// counter) gap-free and unforked under concurrent writers.
func (t *Tx) Lock(ctx context.Context, name string) error {
	if t.dialect != Postgres {
		return nil
	}
	if _, err := t.tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(hashtext($1))", name); err != nil {
		return fmt.Errorf("taking lock %q: %w", name, err)
	}
	return nil
}

// InTx runs fn in a write transaction and commits if fn returns nil.
// On PostgreSQL a serialization failure or deadlock re-runs fn (a few times),
// so fn must not have effects outside the transaction.
func (db *DB) InTx(ctx context.Context, fn func(tx *Tx) error) error {
	for attempt := 0; ; attempt++ {
		err := db.inTx(ctx, fn)
		if err == nil || attempt >= 4 || !retryable(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(attempt+1) * 10 * time.Millisecond):
		}
	}
}

func (db *DB) inTx(ctx context.Context, fn func(tx *Tx) error) (err error) {
	sqltx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("beginning transaction: %w", err)
	}
	defer func() {
		if p := recover(); p != nil {
			_ = sqltx.Rollback()
			panic(p)
		}
		if err != nil {
			_ = sqltx.Rollback()
		}
	}()
	if err := fn(&Tx{tx: sqltx, dialect: db.dialect}); err != nil {
		return err
	}
	if err := sqltx.Commit(); err != nil {
		return fmt.Errorf("committing transaction: %w", err)
	}
	return nil
}

// rebind turns '?' placeholders into PostgreSQL's $1, $2, ... It leaves
// question marks inside quoted strings and identifiers alone.
func rebind(d Dialect, q string) string {
	if d != Postgres || !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 8)
	n := 0
	var quote byte
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '?':
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}
