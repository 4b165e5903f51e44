package dataset

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strings"

	"github.com/zeebo/blake3"

	"github.com/mlcycle/mlcycle/internal/blob"
	"github.com/mlcycle/mlcycle/internal/errs"
	"github.com/mlcycle/mlcycle/internal/store"
)

// The content-addressed store (CAS) and its safety rules.
//
// Bytes are written to the blob store first (atomically) and registered in
// dataset_chunks after; gc removes rows first and objects after. Three rules
// keep a version from ever referring to a chunk that gc removed:
//
//  1. Registering chunks and recording versions happen in transactions that
//     refuse to run while gc holds its lease (dataset_cas_state), and gc
//     takes the lease only between such transactions (a share/exclusive row
//     lock on PostgreSQL; SQLite has one writer anyway). gc holds the lease
//     until it has deleted the last object.
//  2. RecordVersion checks, in its transaction, that every chunk the
//     manifest needs has a row. gc computes what to delete after taking the
//     lease, so it sees every version recorded before.
//  3. Each gc run bumps gc_epoch. An add remembers the epoch it started in;
//     if it changed by the time the add registers chunks it uploaded, a gc
//     ran meanwhile and may have removed an object the add had just
//     (re)written, so the add checks its objects still exist (and fails,
//     asking to be re-run, if not). Chunks an add reuses are touched when
//     registered; a touch that finds no row fails the add the same way.
//
// The grace period (GCOptions) keeps gc from removing chunks registered or
// touched recently and unregistered objects written recently, so adds and
// pushes in flight normally never hit rules 2 and 3 at all.

// ChunkKey is the blob key of a chunk (or manifest) with the given hash.
func ChunkKey(hash string) string { return "cas/" + hash[:2] + "/" + hash }

// casPrefix is the folder of all chunk objects.
const casPrefix = "cas"

// batchSize bounds the placeholders of one IN (...) or multi-row INSERT.
const batchSize = 500

// ErrCorrupt marks stored bytes that do not match their hash. It is wrapped;
// test with errors.Is.
var ErrCorrupt = errors.New("corrupt data")

var errGCRunning = errs.E(errs.Unavailable, "dataset garbage collection is running; retry when it has finished")

// casState is the one row of dataset_cas_state.
type casState struct {
	epoch      int64
	holder     string
	leaseUntil int64
}

func (c casState) leased(nowMS int64) bool { return c.holder != "" && c.leaseUntil > nowMS }

// readCASState reads the gc state. In a registering transaction (share
// set) it takes a share lock on PostgreSQL, so gc cannot take its lease
// until the transaction ends.
func readCASState(ctx context.Context, q store.Querier, share bool) (casState, error) {
	query := `SELECT gc_epoch, lease_holder, lease_until FROM dataset_cas_state WHERE id = 1`
	if share && q.Dialect() == store.Postgres {
		query += ` FOR SHARE`
	}
	var c casState
	if err := q.QueryRow(ctx, query).Scan(&c.epoch, &c.holder, &c.leaseUntil); err != nil {
		return casState{}, fmt.Errorf("reading dataset store state: %w", err)
	}
	return c, nil
}

// gcEpoch returns the current gc epoch, for an add about to upload.
func (s *Service) gcEpoch(ctx context.Context) (int64, error) {
	c, err := readCASState(ctx, s.db, false)
	return c.epoch, err
}

// knownChunks returns the subset of hashes that have rows, mapped to ids.
func knownChunks(ctx context.Context, q store.Querier, hashes []string) (map[string]int64, error) {
	out := make(map[string]int64, len(hashes))
	for start := 0; start < len(hashes); start += batchSize {
		part := hashes[start:min(start+batchSize, len(hashes))]
		rows, err := q.Query(ctx, `SELECT hash, id FROM dataset_chunks WHERE hash IN (`+placeholders(len(part))+`)`, anys(part)...)
		if err != nil {
			return nil, fmt.Errorf("looking up chunks: %w", err)
		}
		for rows.Next() {
			var h string
			var id int64
			if err := rows.Scan(&h, &id); err != nil {
				rows.Close()
				return nil, fmt.Errorf("looking up chunks: %w", err)
			}
			out[h] = id
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("looking up chunks: %w", err)
		}
	}
	return out, nil
}

// chunkKnown reports whether one chunk has a row.
func (s *Service) chunkKnown(ctx context.Context, hash string) (bool, error) {
	var one int
	err := s.db.QueryRow(ctx, `SELECT 1 FROM dataset_chunks WHERE hash = ?`, hash).Scan(&one)
	if err == nil {
		return true, nil
	}
	if isNoRows(err) {
		return false, nil
	}
	return false, fmt.Errorf("looking up chunk %s: %w", hash, err)
}

// putChunk writes one chunk (or manifest) whose hash is already known to
// the store: straight into the folder of a file:// store (see casFiles),
// through the blob store otherwise. It returns the bytes stored.
func (s *Service) putChunk(ctx context.Context, hash string, data []byte) (int64, error) {
	if s.files != nil {
		if _, err := s.files.put(hash, data); err != nil {
			return 0, err
		}
		return int64(len(data)), nil
	}
	n, err := s.blobs.Put(ctx, ChunkKey(hash), bytes.NewReader(data))
	if err != nil {
		return 0, fmt.Errorf("storing chunk %s: %w", hash, err)
	}
	return n, nil
}

// storedChunk is a chunk an add or upload stored: an object of its own, or
// (Pack set) the bytes at Offset in a pack file.
type storedChunk struct {
	Chunk
	Pack   string
	Offset int64
	// replace moves a registered chunk whose file was lost to this place.
	replace bool
}

func looseChunks(cs []Chunk) []storedChunk {
	out := make([]storedChunk, len(cs))
	for i, c := range cs {
		out[i] = storedChunk{Chunk: c}
	}
	return out
}

// registerStored registers chunks written with putChunk or into packs,
// making them durable first: a row must never name a chunk a crash could
// lose.
func (s *Service) registerStored(ctx context.Context, added []storedChunk, touched []string, epoch int64) error {
	if len(added) > 0 && s.files != nil {
		if err := s.files.sync(); err != nil {
			return err
		}
	}
	return s.registerChunksAt(ctx, added, touched, epoch)
}

// registerChunks records chunks this process wrote since epoch (added) and
// refreshes the chunks it reuses (touched), following the rules above.
// Hashes must be distinct within and across the two lists.
func (s *Service) registerChunks(ctx context.Context, added []Chunk, touched []string, epoch int64) error {
	return s.registerChunksAt(ctx, looseChunks(added), touched, epoch)
}

// registerChunksAt is registerChunks for chunks that may be in packs. A
// chunk registered meanwhile by someone else keeps the place it has.
func (s *Service) registerChunksAt(ctx context.Context, added []storedChunk, touched []string, epoch int64) error {
	if len(added) == 0 && len(touched) == 0 {
		return nil
	}
	// Sorted and distinct: concurrent registrations then lock rows in the
	// same order (no deadlocks on PostgreSQL), and one statement never
	// touches a row twice.
	added = slices.Clone(added)
	slices.SortFunc(added, func(a, b storedChunk) int { return strings.Compare(a.Hash, b.Hash) })
	added = slices.CompactFunc(added, func(a, b storedChunk) bool { return a.Hash == b.Hash })
	touched = slices.Clone(touched)
	slices.Sort(touched)
	touched = slices.Compact(touched)
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		st, err := readCASState(ctx, tx, true)
		if err != nil {
			return err
		}
		now := s.nowMS()
		if st.leased(now) {
			return errGCRunning
		}
		if st.epoch != epoch {
			checked := map[string]bool{}
			for _, c := range added {
				key := ChunkKey(c.Hash)
				if c.Pack != "" {
					key = packKey(c.Pack)
				}
				if checked[key] {
					continue
				}
				checked[key] = true
				if _, err := s.blobs.Stat(ctx, key); err != nil {
					if errors.Is(err, blob.ErrNotFound) {
						return errs.E(errs.Unavailable, "garbage collection ran during this upload and removed chunk %s; run it again (stored chunks are reused)", c.Hash)
					}
					return fmt.Errorf("checking chunk %s: %w", c.Hash, err)
				}
			}
		}
		for start := 0; start < len(added); start += batchSize {
			part := added[start:min(start+batchSize, len(added))]
			args := make([]any, 0, 6*len(part))
			for _, c := range part {
				args = append(args, c.Hash, c.Size, now, now, c.Pack, c.Offset)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO dataset_chunks (hash, size, created_at, touched_at, pack, pack_offset) VALUES `+
				rowsOf(len(part), 6)+` ON CONFLICT (hash) DO UPDATE SET touched_at = excluded.touched_at`, args...); err != nil {
				return fmt.Errorf("registering chunks: %w", err)
			}
		}
		for _, c := range added {
			if !c.replace {
				continue
			}
			if _, err := tx.Exec(ctx, `UPDATE dataset_chunks SET pack = ?, pack_offset = ? WHERE hash = ?`, c.Pack, c.Offset, c.Hash); err != nil {
				return fmt.Errorf("registering chunk %s: %w", c.Hash, err)
			}
		}
		for start := 0; start < len(touched); start += batchSize {
			part := touched[start:min(start+batchSize, len(touched))]
			res, err := tx.Exec(ctx, `UPDATE dataset_chunks SET touched_at = ? WHERE hash IN (`+placeholders(len(part))+`)`,
				append([]any{now}, anys(part)...)...)
			if err != nil {
				return fmt.Errorf("touching chunks: %w", err)
			}
			if n, err := res.RowsAffected(); err != nil {
				return fmt.Errorf("touching chunks: %w", err)
			} else if n != int64(len(part)) {
				return errs.E(errs.Unavailable, "garbage collection removed %d chunks this upload reuses; run it again", int64(len(part))-n)
			}
		}
		return nil
	})
}

// MaxMissingQuery bounds the hashes of one MissingChunks call.
const MaxMissingQuery = 100_000

// MissingChunks returns, in the order given and without repeats, the hashes
// this store does not hold. Push asks it before uploading.
func (s *Service) MissingChunks(ctx context.Context, hashes []string) ([]string, error) {
	if len(hashes) > MaxMissingQuery {
		return nil, errs.E(errs.Invalid, "at most %d hashes can be checked at once, got %d", MaxMissingQuery, len(hashes))
	}
	uniq := make([]string, 0, len(hashes))
	seen := make(map[string]bool, len(hashes))
	for i, h := range hashes {
		if err := checkHash(fmt.Sprintf("hashes[%d]", i), h); err != nil {
			return nil, err
		}
		if !seen[h] {
			seen[h] = true
			uniq = append(uniq, h)
		}
	}
	known, err := knownChunks(ctx, s.db, uniq)
	if err != nil {
		return nil, err
	}
	var missing []string
	for _, h := range uniq {
		if _, ok := known[h]; !ok {
			missing = append(missing, h)
		}
	}
	return missing, nil
}

// PutChunk stores the chunk with the given hash from r, verifying the hash
// while streaming: a mismatch, or more than ChunkMax bytes, stores nothing
// and is an errs.Invalid error. A chunk already stored is not read again.
func (s *Service) PutChunk(ctx context.Context, hash string, r io.Reader) error {
	if err := checkHash("hash", hash); err != nil {
		return err
	}
	if hash == emptyHash {
		return errs.E(errs.Invalid, "chunk %s is empty: empty files have no chunks", hash)
	}
	known, err := s.chunkKnown(ctx, hash)
	if err != nil || known {
		return err
	}
	epoch, err := s.gcEpoch(ctx)
	if err != nil {
		return err
	}
	vr := &verifyReader{r: io.LimitReader(r, ChunkMax+1), h: blake3.New(), want: hash, limit: ChunkMax, upload: true}
	if s.files != nil {
		// A chunk is at most ChunkMax bytes: verify it whole, then write
		// it and make it durable on its own (pushes come one at a time).
		data, err := io.ReadAll(ctxReader{ctx, vr})
		if err != nil {
			if vr.err != nil {
				return vr.err
			}
			return fmt.Errorf("receiving chunk %s: %w", hash, err)
		}
		if err := s.files.putSynced(hash, data); err != nil {
			return err
		}
		return s.registerChunks(ctx, []Chunk{{Hash: hash, Size: int64(len(data))}}, nil, epoch)
	}
	n, err := s.blobs.Put(ctx, ChunkKey(hash), vr)
	if err != nil {
		if vr.err != nil {
			return vr.err
		}
		return fmt.Errorf("storing chunk %s: %w", hash, err)
	}
	return s.registerChunks(ctx, []Chunk{{Hash: hash, Size: n}}, nil, epoch)
}

// GetChunk opens a stored chunk (or manifest). The reader verifies the hash
// as it goes: at the end, bytes that do not match fail the read with an
// error wrapping ErrCorrupt. A chunk that is not stored is errs.NotFound.
func (s *Service) GetChunk(ctx context.Context, hash string) (io.ReadCloser, error) {
	if err := checkHash("hash", hash); err != nil {
		return nil, err
	}
	rc, err := s.openChunk(ctx, hash)
	if err != nil {
		return nil, err
	}
	return &verifyReader{r: rc, c: rc, h: blake3.New(), want: hash}, nil
}

// openChunk opens the stored bytes of a chunk, unverified.
func (s *Service) openChunk(ctx context.Context, hash string) (io.ReadCloser, error) {
	rc, _, err := s.blobs.Get(ctx, ChunkKey(hash))
	if err == nil {
		return rc, nil
	}
	if !errors.Is(err, blob.ErrNotFound) {
		return nil, fmt.Errorf("reading chunk %s: %w", hash, err)
	}
	if s.files != nil {
		// Not an object of its own: maybe in a pack. gc may move it to
		// another pack between the lookup and the open; a second lookup
		// then finds the new place.
		for range 2 {
			at, err := s.chunkPlace(ctx, hash)
			if err != nil {
				return nil, err
			}
			if at.Pack == "" {
				break
			}
			rc, err := s.files.openPacked(at)
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("reading chunk %s: %w", hash, err)
			}
			return rc, nil
		}
	}
	return nil, errs.E(errs.NotFound, "chunk %s is not stored", hash)
}

// chunkOpener returns how Materialize, which verifies every chunk itself,
// opens chunks of this store: unverified (GetChunk would hash each twice),
// with the places of the given hashes looked up in batches first.
func (s *Service) chunkOpener(ctx context.Context, hashes []string) (func(context.Context, string) (io.ReadCloser, error), error) {
	if s.files == nil {
		return s.openChunk, nil
	}
	places, err := chunkPlaces(ctx, s.db, hashes)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, hash string) (io.ReadCloser, error) {
		if at, ok := places[hash]; ok && at.Pack != "" {
			rc, err := s.files.openPacked(at)
			if err == nil {
				return rc, nil
			}
			if !errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("reading chunk %s: %w", hash, err)
			}
			// Moved by gc since the lookup: look again.
		}
		return s.openChunk(ctx, hash)
	}, nil
}

// chunkPlace returns where a registered chunk is stored (Pack empty: as an
// object of its own, or not registered).
func (s *Service) chunkPlace(ctx context.Context, hash string) (storedChunk, error) {
	c := storedChunk{Chunk: Chunk{Hash: hash}}
	err := s.db.QueryRow(ctx, `SELECT size, pack, pack_offset FROM dataset_chunks WHERE hash = ?`, hash).Scan(&c.Size, &c.Pack, &c.Offset)
	if err != nil && !isNoRows(err) {
		return c, fmt.Errorf("looking up chunk %s: %w", hash, err)
	}
	return c, nil
}

// readObject reads a whole (small) stored object, verifying its hash.
func (s *Service) readObject(ctx context.Context, hash string) ([]byte, error) {
	rc, err := s.GetChunk(ctx, hash)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return nil, err
	}
	return b, nil
}

// verifyReader hashes what it reads and, at EOF, fails if the bytes do not
// hash to want. For uploads the failure is errs.Invalid (the client sent
// wrong bytes); for reads of the store it wraps ErrCorrupt.
type verifyReader struct {
	r      io.Reader
	c      io.Closer
	h      *blake3.Hasher
	want   string
	n      int64
	limit  int64 // 0: no limit
	upload bool
	err    error // the verification failure, once found
}

func (v *verifyReader) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	n, err := v.r.Read(p)
	v.n += int64(n)
	_, _ = v.h.Write(p[:n])
	if v.limit > 0 && v.n > v.limit {
		v.err = errs.E(errs.Invalid, "chunk %s is larger than %d bytes", v.want, v.limit)
		return 0, v.err
	}
	if err == io.EOF {
		var sum [32]byte
		v.h.Sum(sum[:0])
		if got := hex.EncodeToString(sum[:]); got != v.want {
			if v.upload {
				v.err = errs.E(errs.Invalid, "chunk content hashes to %s, not %s: refused", got, v.want)
			} else {
				v.err = errs.Wrap(errs.Internal, fmt.Errorf("%w: stored bytes hash to %s", ErrCorrupt, got),
					"stored chunk %s failed verification", v.want)
			}
			return n, v.err
		}
	}
	return n, err
}

func (v *verifyReader) Close() error {
	if v.c == nil {
		return nil
	}
	return v.c.Close()
}

// ctxReader stops reading once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// placeholders returns "?, ?, ..." with n marks.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// rowsOf returns "(?, ?), (?, ?)" for n rows of k columns.
func rowsOf(n, k int) string {
	row := "(" + placeholders(k) + ")"
	return strings.TrimSuffix(strings.Repeat(row+", ", n), ", ")
}

func anys(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}
