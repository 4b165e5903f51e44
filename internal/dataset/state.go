package dataset

import (
	"context"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/mlcycle/mlcycle/internal/store"
)

// The state cache remembers, per machine, the hash and chunks of files Add
// has read, keyed by real absolute path and checked against size, mtime (in
// nanoseconds), inode and device. A re-add of an unchanged tree then stats
// files and reads none. It is a small SQLite file beside the user's other
// caches; deleting it only costs one full re-read.
//
// Racy files: a file modified within racyWindow before Add read it might be
// modified again within the same timestamp tick without its mtime changing
// (file systems store mtime at a granularity of nanoseconds to 2 s). Such
// entries are not cached; the next add reads the file again, as git does.
const (
	racyWindow   = 2 * time.Second
	stateExpiry  = 30 * 24 * time.Hour // entries not used for this long are dropped
	stateRefresh = 24 * time.Hour      // used_at is rewritten at most this often
)

func stateMigrations() []store.Migration {
	return []store.Migration{{ID: "state/0001_files", SQL: `
CREATE TABLE files (
	path     TEXT PRIMARY KEY,
	size     BIGINT NOT NULL,
	mtime_ns BIGINT NOT NULL,
	inode    BIGINT NOT NULL,
	dev      BIGINT NOT NULL,
	hash     TEXT NOT NULL,
	chunks   {{bytes}} NOT NULL,
	profiled SMALLINT NOT NULL,
	profile  TEXT,
	used_at  BIGINT NOT NULL
);
CREATE INDEX files_used ON files (used_at);
`}, {
		// Without rowid the rows are stored in path order, so loading the
		// entries under a folder (the no-op re-add) is one range scan of
		// the table instead of an index scan plus a lookup per row.
		ID: "state/0002_files_by_path", SQL: `
CREATE TABLE files_by_path (
	path     TEXT PRIMARY KEY,
	size     BIGINT NOT NULL,
	mtime_ns BIGINT NOT NULL,
	inode    BIGINT NOT NULL,
	dev      BIGINT NOT NULL,
	hash     TEXT NOT NULL,
	chunks   {{bytes}} NOT NULL,
	profiled SMALLINT NOT NULL,
	profile  TEXT,
	used_at  BIGINT NOT NULL
) WITHOUT ROWID;
INSERT INTO files_by_path SELECT path, size, mtime_ns, inode, dev, hash, chunks, profiled, profile, used_at FROM files;
DROP TABLE files;
ALTER TABLE files_by_path RENAME TO files;
CREATE INDEX files_used ON files (used_at);
`}}
}

type stateCache struct{ db *store.DB }

type stateEntry struct {
	st       fileStat
	hash     string
	chunks   []Chunk
	profiled bool            // the profiler ran on this content
	profile  json.RawMessage // nil when it is not a table
	usedAt   int64
}

// DefaultStatePath is where Add keeps its state cache unless told otherwise.
func DefaultStatePath() (string, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("finding the user cache folder (set XDG_CACHE_HOME or the state cache path): %w", err)
	}
	return filepath.Join(dir, "mlcycle", "state.db"), nil
}

func openStateCache(ctx context.Context, path string) (*stateCache, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("creating state cache folder: %w", err)
	}
	db, err := store.Open(ctx, "sqlite://"+path, store.Options{MaxConns: 4})
	if err != nil {
		return nil, fmt.Errorf("opening state cache: %w", err)
	}
	if _, err := db.Migrate(ctx, stateMigrations()); err != nil {
		db.Close()
		return nil, fmt.Errorf("opening state cache %s: %w", path, err)
	}
	return &stateCache{db: db}, nil
}

func (c *stateCache) close() error { return c.db.Close() }

// stateCache opens the cache on first use; nil when disabled.
func (s *Service) stateCache(ctx context.Context) (*stateCache, error) {
	if s.opts.NoStateCache {
		return nil, nil
	}
	s.stateMu.Lock()
	defer s.stateMu.Unlock()
	if s.state != nil {
		return s.state, nil
	}
	path := s.opts.StatePath
	if path == "" {
		var err error
		if path, err = DefaultStatePath(); err != nil {
			return nil, err
		}
	}
	c, err := openStateCache(ctx, path)
	if err != nil {
		return nil, err
	}
	s.state = c
	return c, nil
}

// load returns the entries of every file under the folder root.
func (c *stateCache) load(ctx context.Context, root string) (map[string]stateEntry, error) {
	q := `SELECT path, size, mtime_ns, inode, dev, hash, chunks, profiled, profile, used_at FROM files`
	var args []any
	if root != string(filepath.Separator) {
		// Paths under root sort between root+"/" and root+"0" ('/'+1).
		sep := string(filepath.Separator)
		q += ` WHERE path > ? AND path < ?`
		args = append(args, root+sep, root+string(sep[0]+1))
	}
	rows, err := c.db.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("reading state cache: %w", err)
	}
	defer rows.Close()
	out := map[string]stateEntry{}
	for rows.Next() {
		var (
			p        string
			e        stateEntry
			ino, dev int64
			chunks   []byte
			profiled int
			profile  sql.NullString
		)
		if err := rows.Scan(&p, &e.st.size, &e.st.mtime, &ino, &dev, &e.hash, &chunks, &profiled, &profile, &e.usedAt); err != nil {
			return nil, fmt.Errorf("reading state cache: %w", err)
		}
		e.st.inode, e.st.dev = uint64(ino), uint64(dev)
		if e.chunks, err = decodeChunkList(chunks); err != nil {
			continue // a damaged entry is a miss
		}
		e.profiled = profiled == 1
		if profile.Valid {
			e.profile = json.RawMessage(profile.String)
		}
		out[p] = e
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading state cache: %w", err)
	}
	return out, nil
}

// save writes entries (keyed by real path), refreshes used_at of the paths
// in used, and drops entries unused for stateExpiry.
func (c *stateCache) save(ctx context.Context, entries map[string]stateEntry, used []string, now time.Time) error {
	nowMS := now.UnixMilli()
	keys := make([]string, 0, len(entries))
	for k := range entries {
		keys = append(keys, k)
	}
	return c.db.InTx(ctx, func(tx *store.Tx) error {
		const cols = 10
		for start := 0; start < len(keys); start += batchSize {
			part := keys[start:min(start+batchSize, len(keys))]
			args := make([]any, 0, cols*len(part))
			for _, k := range part {
				e := entries[k]
				var profile any
				if e.profile != nil {
					profile = string(e.profile)
				}
				args = append(args, k, e.st.size, e.st.mtime, int64(e.st.inode), int64(e.st.dev), e.hash,
					encodeChunkList(e.chunks), boolInt(e.profiled), profile, nowMS)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO files (path, size, mtime_ns, inode, dev, hash, chunks, profiled, profile, used_at)
				VALUES `+rowsOf(len(part), cols)+` ON CONFLICT (path) DO UPDATE SET size = excluded.size, mtime_ns = excluded.mtime_ns,
				inode = excluded.inode, dev = excluded.dev, hash = excluded.hash, chunks = excluded.chunks,
				profiled = excluded.profiled, profile = excluded.profile, used_at = excluded.used_at`, args...); err != nil {
				return fmt.Errorf("writing state cache: %w", err)
			}
		}
		for start := 0; start < len(used); start += batchSize {
			part := used[start:min(start+batchSize, len(used))]
			if _, err := tx.Exec(ctx, `UPDATE files SET used_at = ? WHERE path IN (`+placeholders(len(part))+`)`,
				append([]any{nowMS}, anys(part)...)...); err != nil {
				return fmt.Errorf("writing state cache: %w", err)
			}
		}
		if _, err := tx.Exec(ctx, `DELETE FROM files WHERE used_at < ?`, now.Add(-stateExpiry).UnixMilli()); err != nil {
			return fmt.Errorf("pruning state cache: %w", err)
		}
		return nil
	})
}

// encodeChunkList packs chunks as 32 hash bytes and a uvarint size each.
func encodeChunkList(chunks []Chunk) []byte {
	out := make([]byte, 0, len(chunks)*36)
	for _, c := range chunks {
		h, _ := hex.DecodeString(c.Hash)
		out = append(out, h...)
		out = binary.AppendUvarint(out, uint64(c.Size))
	}
	return out
}

func decodeChunkList(b []byte) ([]Chunk, error) {
	var out []Chunk
	for len(b) > 0 {
		if len(b) < 33 {
			return nil, errors.New("truncated chunk list")
		}
		h := hex.EncodeToString(b[:32])
		size, n := binary.Uvarint(b[32:])
		if n <= 0 {
			return nil, errors.New("bad chunk size")
		}
		out = append(out, Chunk{Hash: h, Size: int64(size)})
		b = b[32+n:]
	}
	return out, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
