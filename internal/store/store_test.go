package store_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/mlcycle/mlcycle/internal/store"
	"github.com/mlcycle/mlcycle/internal/store/storetest"
)

var testMigs = []store.Migration{
	{ID: "test/0001_items", SQL: `
		CREATE TABLE items (id {{id}}, name TEXT NOT NULL UNIQUE, data {{bytes}});
		CREATE TABLE counters (name TEXT PRIMARY KEY, n BIGINT NOT NULL);
		CREATE TABLE children (id {{id}}, item_id BIGINT NOT NULL REFERENCES items(id));`},
	{ID: "test/0002_sqlite_only", Only: store.SQLite, SQL: `CREATE TABLE only_sqlite (x INTEGER);`},
	{ID: "test/0003_pg_only", Only: store.Postgres, SQL: `CREATE TABLE only_pg (x INTEGER);`},
}

func TestStore(t *testing.T) {
	storetest.Each(t, testMigs, func(t *testing.T, db *store.DB) {
		ctx := context.Background()

		t.Run("placeholders and returning", func(t *testing.T) {
			var id int64
			err := db.InTx(ctx, func(tx *store.Tx) error {
				return tx.QueryRow(ctx, `INSERT INTO items (name, data) VALUES (?, ?) RETURNING id`, "a?b", []byte{0, 1, 2}).Scan(&id)
			})
			if err != nil {
				t.Fatal(err)
			}
			var name string
			var data []byte
			if err := db.QueryRow(ctx, `SELECT name, data FROM items WHERE id = ? AND name <> '??'`, id).Scan(&name, &data); err != nil {
				t.Fatal(err)
			}
			if name != "a?b" || string(data) != "\x00\x01\x02" {
				t.Fatalf("got %q %v", name, data)
			}
		})

		t.Run("unique violation is recognised", func(t *testing.T) {
			err := db.InTx(ctx, func(tx *store.Tx) error {
				_, err := tx.Exec(ctx, `INSERT INTO items (name) VALUES (?)`, "a?b")
				return err
			})
			if !store.IsUniqueViolation(err) {
				t.Fatalf("want unique violation, got %v", err)
			}
		})

		t.Run("foreign keys are enforced", func(t *testing.T) {
			err := db.InTx(ctx, func(tx *store.Tx) error {
				_, err := tx.Exec(ctx, `INSERT INTO children (item_id) VALUES (?)`, 999999)
				return err
			})
			if !store.IsForeignKeyViolation(err) {
				t.Fatalf("want foreign key violation, got %v", err)
			}
		})

		t.Run("error rolls back", func(t *testing.T) {
			boom := errors.New("boom")
			err := db.InTx(ctx, func(tx *store.Tx) error {
				if _, err := tx.Exec(ctx, `INSERT INTO items (name) VALUES (?)`, "rolled-back"); err != nil {
					return err
				}
				return boom
			})
			if !errors.Is(err, boom) {
				t.Fatalf("want boom, got %v", err)
			}
			var n int
			if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM items WHERE name = ?`, "rolled-back").Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != 0 {
				t.Fatalf("rolled-back row is visible")
			}
		})

		t.Run("dialect-only migrations", func(t *testing.T) {
			own, other := "only_sqlite", "only_pg"
			if db.Dialect() == store.Postgres {
				own, other = other, own
			}
			if _, err := db.Query(ctx, `SELECT x FROM `+own); err != nil {
				t.Fatalf("%s missing: %v", own, err)
			}
			if _, err := db.Query(ctx, `SELECT x FROM `+other); err == nil {
				t.Fatalf("%s exists on %s", other, db.Dialect())
			}
		})

		t.Run("concurrent locked increments lose nothing", func(t *testing.T) {
			if _, err := db.Exec(ctx, `INSERT INTO counters (name, n) VALUES ('c', 0)`); err != nil {
				t.Fatal(err)
			}
			const workers, each = 8, 25
			var wg sync.WaitGroup
			errc := make(chan error, workers)
			for range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range each {
						err := db.InTx(ctx, func(tx *store.Tx) error {
							if err := tx.Lock(ctx, "counter"); err != nil {
								return err
							}
							var n int64
							if err := tx.QueryRow(ctx, `SELECT n FROM counters WHERE name = 'c'`).Scan(&n); err != nil {
								return err
							}
							_, err := tx.Exec(ctx, `UPDATE counters SET n = ? WHERE name = 'c'`, n+1)
							return err
						})
						if err != nil {
							errc <- err
							return
						}
					}
				}()
			}
			wg.Wait()
			close(errc)
			for err := range errc {
				t.Fatal(err)
			}
			var n int64
			if err := db.QueryRow(ctx, `SELECT n FROM counters WHERE name = 'c'`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != workers*each {
				t.Fatalf("counter = %d, want %d", n, workers*each)
			}
		})

		t.Run("migrate is idempotent", func(t *testing.T) {
			applied, err := db.Migrate(ctx, testMigs)
			if err != nil || len(applied) != 0 {
				t.Fatalf("second migrate applied %v, err %v", applied, err)
			}
			pending, err := db.Pending(ctx, append(testMigs, store.Migration{ID: "test/0004", SQL: "SELECT 1"}))
			if err != nil || len(pending) != 1 || pending[0] != "test/0004" {
				t.Fatalf("pending = %v, %v", pending, err)
			}
		})

		t.Run("changed migration is refused", func(t *testing.T) {
			changed := append([]store.Migration(nil), testMigs...)
			changed[0].SQL += " -- edited"
			_, err := db.Migrate(ctx, changed)
			if err == nil || !strings.Contains(err.Error(), "changed after it was applied") {
				t.Fatalf("want changed-migration error, got %v", err)
			}
		})

		t.Run("unknown applied migration is refused", func(t *testing.T) {
			_, err := db.Migrate(ctx, testMigs[:1])
			if err == nil || !strings.Contains(err.Error(), "does not know") {
				t.Fatalf("want newer-database error, got %v", err)
			}
		})

		t.Run("failed migration leaves nothing", func(t *testing.T) {
			bad := append(append([]store.Migration(nil), testMigs...),
				store.Migration{ID: "test/0005_bad", SQL: "CREATE TABLE half (x INTEGER); THIS IS NOT SQL;"})
			if _, err := db.Migrate(ctx, bad); err == nil {
				t.Fatal("bad migration applied")
			}
			if _, err := db.Query(ctx, `SELECT x FROM half`); err == nil {
				t.Fatal("table of failed migration exists")
			}
			pending, err := db.Pending(ctx, bad)
			if err != nil || len(pending) != 1 {
				t.Fatalf("pending after failure = %v, %v", pending, err)
			}
		})
	})
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		url, want string
	}{
		{"mysql://localhost/db", `unknown database scheme "mysql"`},
		{"no-scheme.db", "has no scheme"},
		{"sqlite://", "no file path"},
		{"sqlite:///dev/null/sub/x.db", "creating database folder"},
		{"postgres://nobody@127.0.0.1:1/db?sslmode=disable&connect_timeout=2", "cannot reach PostgreSQL at"},
	}
	for _, c := range cases {
		t.Run(c.url, func(t *testing.T) {
			db, err := store.Open(ctx, c.url, store.Options{})
			if err == nil {
				db.Close()
				t.Fatal("opened")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not contain %q", err, c.want)
			}
		})
	}
}

func TestPostgresPasswordRedacted(t *testing.T) {
	_, err := store.Open(context.Background(), "postgres://u:s3cret@127.0.0.1:1/db?sslmode=disable", store.Options{})
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("password leaked or no error: %v", err)
	}
}
