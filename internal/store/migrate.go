package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Migration is one schema change. Domain packages declare their own (their
// tables are theirs); the app passes them all, in order, to Migrate.
// SQL may hold several statements and the dialect tokens {{id}} and {{bytes}}.
type Migration struct {
	ID  string // unique and stable, e.g. "auth/0001_users"
	SQL string
	// Only, when set, applies the migration on that engine alone (triggers
	// and functions differ). It is still recorded on the other engine.
	Only Dialect
}

// Migrate applies, in order, every migration not yet applied, each in its own
// transaction, and returns the IDs it applied. It refuses to run when a
// migration that was applied has since changed, or when the database holds
// migrations this binary does not know (it is newer than the binary).
func (db *DB) Migrate(ctx context.Context, migs []Migration) ([]string, error) {
	seen := map[string]bool{}
	for _, m := range migs {
		if m.ID == "" || seen[m.ID] {
			return nil, fmt.Errorf("migration list is invalid: empty or duplicate id %q", m.ID)
		}
		seen[m.ID] = true
	}
	if _, err := db.w.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		id TEXT PRIMARY KEY, checksum TEXT NOT NULL, applied_at BIGINT NOT NULL)`); err != nil {
		return nil, fmt.Errorf("creating schema_migrations: %w", err)
	}
	var applied []string
	err := db.InTx(ctx, func(tx *Tx) error {
		// Replicas starting together must not race each other's DDL.
		if err := tx.Lock(ctx, "mlcycle.migrate"); err != nil {
			return err
		}
		done, err := appliedMigrations(ctx, tx)
		if err != nil {
			return err
		}
		for id := range done {
			if !seen[id] {
				return fmt.Errorf("the database has migration %q that this mlcycle binary does not know: it was upgraded by a newer mlcycle; run that version or newer", id)
			}
		}
		for _, m := range migs {
			sum := checksum(m.SQL)
			if old, ok := done[m.ID]; ok {
				if old != sum {
					return fmt.Errorf("migration %q changed after it was applied (checksum %s, now %s): migrations are immutable; add a new one", m.ID, old[:12], sum[:12])
				}
				continue
			}
			if m.Only == "" || m.Only == db.dialect {
				if _, err := tx.Exec(ctx, db.dialect.expand(m.SQL)); err != nil {
					return fmt.Errorf("applying migration %s: %w", m.ID, err)
				}
			}
			if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (id, checksum, applied_at) VALUES (?, ?, ?)`,
				m.ID, sum, time.Now().UnixMilli()); err != nil {
				return fmt.Errorf("recording migration %s: %w", m.ID, err)
			}
			applied = append(applied, m.ID)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return applied, nil
}

// Pending returns the IDs of migrations not yet applied, without applying them.
func (db *DB) Pending(ctx context.Context, migs []Migration) ([]string, error) {
	done, err := appliedMigrations(ctx, db)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, m := range migs {
		if _, ok := done[m.ID]; !ok {
			out = append(out, m.ID)
		}
	}
	return out, nil
}

func appliedMigrations(ctx context.Context, q Querier) (map[string]string, error) {
	rows, err := q.Query(ctx, `SELECT id, checksum FROM schema_migrations`)
	if err != nil {
		if isMissingTable(err) {
			return map[string]string{}, nil
		}
		return nil, fmt.Errorf("reading schema_migrations: %w", err)
	}
	defer rows.Close()
	done := map[string]string{}
	for rows.Next() {
		var id, sum string
		if err := rows.Scan(&id, &sum); err != nil {
			return nil, fmt.Errorf("reading schema_migrations: %w", err)
		}
		done[id] = sum
	}
	return done, rows.Err()
}

func isMissingTable(err error) bool {
	return err != nil && !errors.Is(err, sql.ErrNoRows) && (strings.Contains(err.Error(), "no such table") || strings.Contains(err.Error(), "does not exist"))
}

func checksum(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}
