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
	"slices"
	"strings"
	"time"

	"github.com/zeebo/blake3"

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
`}, {
		// Manifest format 2 cuts and hashes files differently: entries
		// recorded under format 1 must be read again.
		ID: "state/0003_manifest_format_2", SQL: `DELETE FROM files;`,
	}}
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

// stateEntries are state cache entries sorted by real path: an add looks
// its files up in path order, so a lookup is usually one comparison with
// the entry after the previous one.
type stateEntries struct {
	paths []string
	ents  []stateEntry
}

func (c *stateEntries) add(path string, e stateEntry) {
	c.paths = append(c.paths, path)
	c.ents = append(c.ents, e)
}

// match returns, per file, its entry when it has one with the file's
// current stat, else nil.
func (c *stateEntries) match(files []localFile) []*stateEntry {
	out := make([]*stateEntry, len(files))
	if c == nil {
		return out
	}
	next := 0
	for i, f := range files {
		j := next
		if j >= len(c.paths) || c.paths[j] != f.open {
			var ok bool
			if j, ok = slices.BinarySearch(c.paths, f.open); !ok {
				next = j
				continue
			}
		}
		next = j + 1
		if c.ents[j].st == f.st {
			out[i] = &c.ents[j]
		}
	}
	return out
}

// sortByPath sorts the entries by path and drops repeated paths (a file
// added under two names through a symlink), unless they already are.
func (c *stateEntries) sortByPath() {
	sorted := true
	for i := 1; i < len(c.paths) && sorted; i++ {
		sorted = c.paths[i-1] < c.paths[i]
	}
	if sorted {
		return
	}
	idx := make([]int, len(c.paths))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return strings.Compare(c.paths[a], c.paths[b]) })
	paths, ents := make([]string, 0, len(idx)), make([]stateEntry, 0, len(idx))
	for _, j := range idx {
		if len(paths) > 0 && paths[len(paths)-1] == c.paths[j] {
			continue
		}
		paths, ents = append(paths, c.paths[j]), append(ents, c.ents[j])
	}
	c.paths, c.ents = paths, ents
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

// statePath is the state cache file; "" when the cache is disabled.
func (s *Service) statePath() (string, error) {
	if s.opts.NoStateCache {
		return "", nil
	}
	if s.opts.StatePath != "" {
		return s.opts.StatePath, nil
	}
	return DefaultStatePath()
}

// stateCache opens the cache on first use; nil when disabled.
func (s *Service) stateCache(ctx context.Context) (*stateCache, error) {
	path, err := s.statePath()
	if err != nil || path == "" {
		return nil, err
	}
	s.stateMu.Lock()
	defer s.stateMu.Unlock()
	if s.state != nil {
		return s.state, nil
	}
	c, err := openStateCache(ctx, path)
	if err != nil {
		return nil, err
	}
	s.state = c
	return c, nil
}

// loadState returns the state cache's entries under the folder root: from
// its snapshot when trySnapshot and there is one (snapshot true), else from
// the database (which is then opened). Nil when the cache is disabled.
func (s *Service) loadState(ctx context.Context, root string, trySnapshot bool) (entries *stateEntries, snapshot bool, err error) {
	path, err := s.statePath()
	if err != nil || path == "" {
		return nil, false, err
	}
	if trySnapshot {
		if m := readSnapshot(path, root); m != nil {
			return m, true, nil
		}
	}
	c, err := s.stateCache(ctx)
	if err != nil {
		return nil, false, err
	}
	m, err := c.load(ctx, root)
	return m, false, err
}

// allHit reports whether every file has an entry.
func allHit(matched []*stateEntry) bool {
	return !slices.Contains(matched, nil)
}

// load returns the entries of every file under the folder root.
func (c *stateCache) load(ctx context.Context, root string) (*stateEntries, error) {
	q := `SELECT path, size, mtime_ns, inode, dev, hash, chunks, profiled, profile, used_at FROM files`
	var args []any
	if root != string(filepath.Separator) {
		// Paths under root sort between root+"/" and root+"0" ('/'+1).
		sep := string(filepath.Separator)
		q += ` WHERE path > ? AND path < ?`
		args = append(args, root+sep, root+string(sep[0]+1))
	}
	q += ` ORDER BY path` // the primary key's order: no sort
	rows, err := c.db.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("reading state cache: %w", err)
	}
	defer rows.Close()
	out := &stateEntries{}
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
		out.add(p, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading state cache: %w", err)
	}
	return out, nil
}

// saveEntries writes entries (keyed by real path), used now.
func (c *stateCache) saveEntries(ctx context.Context, entries map[string]stateEntry, now time.Time) error {
	return c.db.InTx(ctx, func(tx *store.Tx) error { return writeEntries(ctx, tx, entries, now) })
}

func writeEntries(ctx context.Context, tx *store.Tx, entries map[string]stateEntry, now time.Time) error {
	nowMS := now.UnixMilli()
	keys := make([]string, 0, len(entries))
	for k := range entries {
		keys = append(keys, k)
	}
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
	return nil
}

// save writes entries (keyed by real path), refreshes used_at of the paths
// in used, and drops entries unused for stateExpiry.
func (c *stateCache) save(ctx context.Context, entries map[string]stateEntry, used []string, now time.Time) error {
	nowMS := now.UnixMilli()
	return c.db.InTx(ctx, func(tx *store.Tx) error {
		if err := writeEntries(ctx, tx, entries, now); err != nil {
			return err
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

// Snapshots. Reading 10,000 rows from SQLite takes tens of milliseconds,
// most of a no-op re-add. So after an add, the entries of its files are
// also written to a flat snapshot file per base folder, beside the SQLite
// file, and the next add under that base reads that one file instead. A
// snapshot is only a copy of facts (this content had these stat values),
// each checked against a fresh stat like a database entry, so a stale one
// is harmless: it is replaced at the next add that misses in it. A damaged
// one (bad checksum) is ignored.
//
// Layout: snapshotMagic, then uvarint-prefixed strings and varints: the
// base folder, the entry count, and per entry the path, size, mtime, inode,
// device, hash, chunk count and per chunk its hash and size, profiled, the
// profile (length + 1; 0 for none) and used_at; last the BLAKE3-256 of all
// that precedes it.
const snapshotMagic = "mlcycle-state-snapshot-2\n"

// snapshotPath is the snapshot file of the base folder root.
func snapshotPath(statePath, root string) string {
	sum := blake3.Sum256([]byte(root))
	return filepath.Join(filepath.Dir(statePath), "state-snapshots", hex.EncodeToString(sum[:16]))
}

// readSnapshot returns the entries of the snapshot of root, or nil when
// there is none or it is damaged.
func readSnapshot(statePath, root string) *stateEntries {
	b, err := os.ReadFile(snapshotPath(statePath, root))
	if err != nil || len(b) < len(snapshotMagic)+32 {
		return nil
	}
	body, sum := b[:len(b)-32], b[len(b)-32:]
	if want := blake3.Sum256(body); string(want[:]) != string(sum) {
		return nil
	}
	entries, err := decodeSnapshot(string(body), root)
	if err != nil {
		return nil
	}
	return entries
}

// decodeSnapshot parses a checksummed snapshot body. Paths and hashes are
// substrings of b: one allocation for all of them.
func decodeSnapshot(b, root string) (*stateEntries, error) {
	d := snapshotDecoder{b: b}
	if d.str(len(snapshotMagic)) != snapshotMagic || d.lenStr() != root {
		return nil, errors.New("not a snapshot of this folder")
	}
	n := d.uvarint()
	if d.err != nil || n > uint64(len(b)) {
		return nil, errors.New("bad entry count")
	}
	out := &stateEntries{paths: make([]string, 0, n), ents: make([]stateEntry, 0, n)}
	var slab []Chunk // the chunk lists of all entries, one allocation at a time
	for range n {
		path := d.lenStr()
		var e stateEntry
		e.st.size = d.varint()
		e.st.mtime = d.varint()
		e.st.inode = d.uvarint()
		e.st.dev = d.uvarint()
		e.hash = d.lenStr()
		nc := d.uvarint()
		if d.err != nil || nc > uint64(len(b)) {
			return nil, errors.New("bad chunk count")
		}
		if uint64(cap(slab)-len(slab)) < nc {
			slab = make([]Chunk, 0, max(nc, 1024))
		}
		start := len(slab)
		for range nc {
			h := d.lenStr()
			slab = append(slab, Chunk{Hash: h, Size: d.varint()})
		}
		e.chunks = slab[start:len(slab):len(slab)]
		e.profiled = d.str(1) == "\x01"
		if pl := d.uvarint(); pl > 0 {
			e.profile = json.RawMessage(d.str(int(pl - 1)))
		}
		e.usedAt = d.varint()
		if d.err != nil {
			return nil, d.err
		}
		if len(out.paths) > 0 && out.paths[len(out.paths)-1] >= path {
			return nil, errors.New("entries out of order")
		}
		out.add(path, e)
	}
	if d.err == nil && len(d.b) != 0 {
		return nil, errors.New("trailing bytes")
	}
	return out, d.err
}

type snapshotDecoder struct {
	b   string
	err error
}

func (d *snapshotDecoder) str(n int) string {
	if d.err != nil || n < 0 || n > len(d.b) {
		d.fail()
		return ""
	}
	s := d.b[:n]
	d.b = d.b[n:]
	return s
}

func (d *snapshotDecoder) lenStr() string {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail()
		return ""
	}
	return d.str(int(n))
}

func (d *snapshotDecoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	var v uint64
	for i := 0; i < len(d.b) && i < binary.MaxVarintLen64; i++ {
		c := d.b[i]
		v |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			d.b = d.b[i+1:]
			return v
		}
	}
	d.fail()
	return 0
}

func (d *snapshotDecoder) varint() int64 {
	u := d.uvarint()
	return int64(u>>1) ^ -int64(u&1) // zig-zag, as binary.AppendVarint
}

func (d *snapshotDecoder) fail() {
	if d.err == nil {
		d.err = errors.New("truncated snapshot")
	}
}

// writeSnapshot replaces the snapshot of root with entries, atomically, and
// removes snapshots of other folders unused for stateExpiry.
func writeSnapshot(statePath, root string, entries *stateEntries) error {
	entries.sortByPath()
	b := []byte(snapshotMagic)
	appendStr := func(s string) {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	appendStr(root)
	b = binary.AppendUvarint(b, uint64(len(entries.paths)))
	for i, e := range entries.ents {
		appendStr(entries.paths[i])
		b = binary.AppendVarint(b, e.st.size)
		b = binary.AppendVarint(b, e.st.mtime)
		b = binary.AppendUvarint(b, e.st.inode)
		b = binary.AppendUvarint(b, e.st.dev)
		appendStr(e.hash)
		b = binary.AppendUvarint(b, uint64(len(e.chunks)))
		for _, c := range e.chunks {
			appendStr(c.Hash)
			b = binary.AppendVarint(b, c.Size)
		}
		b = append(b, byte(boolInt(e.profiled)))
		if e.profile == nil {
			b = binary.AppendUvarint(b, 0)
		} else {
			b = binary.AppendUvarint(b, uint64(len(e.profile))+1)
			b = append(b, e.profile...)
		}
		b = binary.AppendVarint(b, e.usedAt)
	}
	sum := blake3.Sum256(b)
	b = append(b, sum[:]...)

	path := snapshotPath(statePath, root)
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("writing state snapshot: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("writing state snapshot: %w", err)
	}
	_, err = tmp.Write(b)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("writing state snapshot: %w", err)
	}
	// Forget folders not added for a long time (and temporary files of
	// crashed writers).
	if des, err := os.ReadDir(dir); err == nil {
		for _, de := range des {
			if fi, err := de.Info(); err == nil && time.Since(fi.ModTime()) > stateExpiry {
				os.Remove(filepath.Join(dir, de.Name()))
			}
		}
	}
	return nil
}
