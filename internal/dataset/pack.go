package dataset

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"unsafe"

	"github.com/zeebo/blake3"

	"github.com/mlcycle/mlcycle/internal/blob"
	"github.com/mlcycle/mlcycle/internal/errs"
	"github.com/mlcycle/mlcycle/internal/store"
)

// Packs: the chunks an add writes to a local-folder store.
//
// One file per chunk costs a file creation each (inode, folder entry, a
// page-cache copy of its bytes): adding 10,000 files of 100 KiB spent two
// thirds of its time in the kernel creating and filling chunk files, and on
// a filesystem where many files were just deleted ext4 takes up to a
// millisecond of CPU to find a free inode (855 chunk files of a 1 GB CSV:
// 0.8 s). So an add collects its chunks in memory and writes them about
// packTarget bytes at a time into pack files, cas/packs/<32 hex digits> (a
// random name), with one large write (O_DIRECT on Linux, see createWrite).
// A pack is only bytes: which chunk lies where is in dataset_chunks (pack,
// pack_offset), and a chunk is still read, verified and garbage-collected
// on its own.
//
// Packs follow the rules of cas.go: a pack is written (temp file, rename)
// and made durable before its chunks are registered; a chunk already
// registered is touched instead of packed again. gc deletes a pack once no
// row refers to it and it is older than the grace period, and rewrites a
// pack whose live chunks take less than half of it (see gcPacks). Other
// stores (S3, GCS, Azure) keep one object per chunk, and so does a chunk
// uploaded on its own (PutChunk); pulls and pushes pack theirs a batch at
// a time (PutChunks).
const (
	packTarget = 8 << 20 // a pack is written once it holds this much
	// packCap is the capacity of a pack buffer: a pack takes chunks until
	// it holds packTarget bytes, and any chunk (at most ChunkMax) fits in
	// an empty one.
	packCap = packTarget + ChunkMin
	packDir = "packs" // under cas/
	// packBufs bounds the pack buffers of one add: one filling, the others
	// being written.
	packBufs = 3
	// packAlign is the alignment of pack buffers, for direct writes.
	packAlign = 4096
)

// packKey is the blob key of a pack.
func packKey(name string) string { return casPrefix + "/" + packDir + "/" + name }

// packOfKey returns the name of the pack with blob key key.
func packOfKey(key string) (string, bool) {
	const prefix = casPrefix + "/" + packDir + "/"
	if len(key) != len(prefix)+32 || key[:len(prefix)] != prefix {
		return "", false
	}
	name := key[len(prefix):]
	if _, err := hex.DecodeString(name); err != nil {
		return "", false
	}
	return name, true
}

func newPackName() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (c *casFiles) packPath(name string) string {
	return filepath.Join(c.root, casPrefix, packDir, name)
}

// writePack stores data as the pack name (durable after the next sync).
func (c *casFiles) writePack(name string, data []byte) error {
	return c.writeIn(packDir, c.packPath(name), "pack "+name, data)
}

// openPacked opens the bytes of a chunk in its pack. A pack cut short
// yields fewer bytes, which the caller's hash check reports.
func (c *casFiles) openPacked(at storedChunk) (io.ReadCloser, error) {
	f, err := os.Open(c.packPath(at.Pack))
	if err != nil {
		return nil, err
	}
	return packedReader{Reader: io.NewSectionReader(f, at.Offset, at.Size), f: f}, nil
}

type packedReader struct {
	io.Reader
	f *os.File
}

func (r packedReader) Close() error { return r.f.Close() }

// alignedBuf returns an empty slice of capacity n whose array starts at a
// packAlign boundary.
func alignedBuf(n int) []byte {
	b := make([]byte, n+packAlign)
	off := int(uintptr(unsafe.Pointer(unsafe.SliceData(b))) % packAlign)
	if off != 0 {
		off = packAlign - off
	}
	return b[off : off : off+n]
}

// packWriter collects the small chunks of one add into packs.
type packWriter struct {
	p     *hashPipeline
	files *casFiles

	free chan []byte // buffers not in use
	made int         // buffers allocated, guarded by mu

	mu  sync.Mutex
	cur *packBuf // the pack being filled, nil if none
}

type packBuf struct {
	data    []byte // chunk bytes, back to back; cap packCap
	chunks  []storedChunk
	copying sync.WaitGroup // copies into data under way
}

func newPackWriter(p *hashPipeline, files *casFiles) *packWriter {
	return &packWriter{p: p, files: files, free: make(chan []byte, packBufs)}
}

// add copies a chunk into the current pack and writes the pack once it is
// full. A chunk that does not fit in what is left of the current pack
// closes it (it is written) and starts the next one.
func (w *packWriter) add(ctx context.Context, hash string, data []byte) error {
	w.mu.Lock()
	var closed *packBuf
	if w.cur != nil && len(w.cur.data)+len(data) > cap(w.cur.data) {
		closed, w.cur = w.cur, nil
	}
	if w.cur == nil {
		// Waiting for a free buffer here holds the lock: the other adders
		// would wait for it anyway, and a flush, which frees buffers,
		// never takes it. The pack this call closed is not among those
		// waited for: it was the current one, so the others are free or
		// being written.
		b, err := w.buffer(ctx)
		if err != nil {
			w.mu.Unlock()
			if closed != nil {
				closed.copying.Wait()
				w.free <- closed.data[:0]
			}
			return err
		}
		w.cur = &packBuf{data: b}
	}
	// Take the room under the lock, copy outside it: the adders copy in
	// parallel, and whoever fills (or closes) a pack writes it once all
	// copies into it are done.
	pb := w.cur
	off := len(pb.data)
	pb.data = pb.data[:off+len(data)]
	dst := pb.data[off:]
	pb.chunks = append(pb.chunks, storedChunk{Chunk: Chunk{Hash: hash, Size: int64(len(data))}, Offset: int64(off)})
	pb.copying.Add(1)
	full := len(pb.data) >= packTarget
	if full {
		w.cur = nil
	}
	w.mu.Unlock()
	copy(dst, data)
	pb.copying.Done()
	if closed != nil {
		closed.copying.Wait()
		if err := w.flush(ctx, closed); err != nil {
			if full {
				pb.copying.Wait()
				w.free <- pb.data[:0]
			}
			return err
		}
	}
	if !full {
		return nil
	}
	pb.copying.Wait()
	return w.flush(ctx, pb)
}

// stored reports whether the chunk hash is registered and its file (loose
// or pack) is there.
func (w *packWriter) stored(ctx context.Context, hash string) (bool, error) {
	known, err := chunkPlaces(ctx, w.p.s.db, []string{hash})
	if err != nil {
		return false, err
	}
	at, ok := known[hash]
	return ok && w.present(at, map[string]bool{}), nil
}

// buffer returns a free pack buffer, allocating up to packBufs. Called
// with mu held.
func (w *packWriter) buffer(ctx context.Context) ([]byte, error) {
	select {
	case b := <-w.free:
		return b, nil
	default:
	}
	if w.made < packBufs {
		w.made++
		return alignedBuf(packCap), nil
	}
	select {
	case b := <-w.free:
		return b, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// present reports whether the file holding a registered chunk exists;
// packs caches the answers for pack files.
func (w *packWriter) present(at storedChunk, packs map[string]bool) bool {
	if at.Pack == "" {
		return w.files.has(at.Hash)
	}
	ok, seen := packs[at.Pack]
	if !seen {
		_, err := os.Lstat(w.files.packPath(at.Pack))
		ok = err == nil
		packs[at.Pack] = ok
	}
	return ok
}

// finish writes the last, partly filled pack.
func (w *packWriter) finish(ctx context.Context) error {
	w.mu.Lock()
	pb := w.cur
	w.cur = nil
	w.mu.Unlock()
	if pb == nil {
		return nil
	}
	pb.copying.Wait()
	return w.flush(ctx, pb)
}

// flush writes a pack of the chunks not registered yet, then queues them
// for registration; the registered ones are touched instead.
func (w *packWriter) flush(ctx context.Context, pb *packBuf) error {
	defer func() { w.free <- pb.data[:0] }()
	hashes := make([]string, len(pb.chunks))
	for i, c := range pb.chunks {
		hashes[i] = c.Hash
	}
	known, err := chunkPlaces(ctx, w.p.s.db, hashes)
	if err != nil {
		return err
	}
	keep := pb.chunks[:0]
	data := pb.data
	n := int64(0)
	packs := map[string]bool{} // pack name -> its file exists
	for _, c := range pb.chunks {
		if at, ok := known[c.Hash]; ok {
			if w.present(at, packs) {
				w.p.reused.Add(1)
				if err := w.p.reg.touch(ctx, c.Hash); err != nil {
					return err
				}
				continue
			}
			// Registered, but its file is gone (a damaged store): store
			// it again and move its row here.
			c.replace = true
		}
		if c.Offset != n {
			copy(data[n:], data[c.Offset:c.Offset+c.Size])
			c.Offset = n
		}
		n += c.Size
		keep = append(keep, c)
	}
	if len(keep) == 0 {
		return nil
	}
	name := newPackName()
	if err := w.files.writePack(name, data[:n]); err != nil {
		return err
	}
	for _, c := range keep {
		c.Pack = name
		w.p.newChunks.Add(1)
		w.p.newBytes.Add(c.Size)
		if err := w.p.reg.addStored(ctx, c); err != nil {
			return err
		}
	}
	return nil
}

// chunkPlaces returns, for the hashes that have rows, where each is stored.
func chunkPlaces(ctx context.Context, q store.Querier, hashes []string) (map[string]storedChunk, error) {
	out := make(map[string]storedChunk, len(hashes))
	for start := 0; start < len(hashes); start += batchSize {
		part := hashes[start:min(start+batchSize, len(hashes))]
		rows, err := q.Query(ctx, `SELECT hash, size, pack, pack_offset FROM dataset_chunks WHERE hash IN (`+placeholders(len(part))+`)`, anys(part)...)
		if err != nil {
			return nil, fmt.Errorf("looking up chunks: %w", err)
		}
		for rows.Next() {
			var c storedChunk
			if err := rows.Scan(&c.Hash, &c.Size, &c.Pack, &c.Offset); err != nil {
				rows.Close()
				return nil, fmt.Errorf("looking up chunks: %w", err)
			}
			out[c.Hash] = c
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("looking up chunks: %w", err)
		}
	}
	return out, nil
}

// packObject is a pack file gc found.
type packObject struct {
	name string
	size int64
}

// packPlan is what gc does with the pack files older than its cutoff.
type packPlan struct {
	orphans []packObject // no row ever referred to them: an interrupted add's
	emptied []packObject // every chunk in them is being collected
	repack  []packObject // less than half of their bytes are still needed
	// kept is the bytes of unused chunks in packs that stay: freed when
	// those packs are emptied or rewritten by a later gc.
	kept int64
}

// planPacks sorts the pack files by what is left in them once the unused
// chunks are forgotten.
func (s *Service) planPacks(ctx context.Context, packs []packObject, unused []gcChunk) (plan packPlan, err error) {
	defer func() {
		// Whatever is not removed or rewritten now stays on disk.
		gone := map[string]bool{}
		for _, p := range append(plan.emptied, plan.repack...) {
			gone[p.name] = true
		}
		for _, c := range unused {
			if c.pack != "" && !gone[c.pack] {
				plan.kept += c.Size
			}
		}
	}()
	if len(packs) == 0 {
		return plan, nil
	}
	type usage struct{ rows, live, liveBytes int64 }
	use := map[string]*usage{}
	rows, err := s.db.Query(ctx, `SELECT pack, COUNT(*), SUM(size) FROM dataset_chunks WHERE pack <> '' GROUP BY pack`)
	if err != nil {
		return plan, fmt.Errorf("summing pack contents: %w", err)
	}
	for rows.Next() {
		var name string
		var u usage
		if err := rows.Scan(&name, &u.rows, &u.liveBytes); err != nil {
			rows.Close()
			return plan, fmt.Errorf("summing pack contents: %w", err)
		}
		u.live = u.rows
		use[name] = &u
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return plan, fmt.Errorf("summing pack contents: %w", err)
	}
	for _, c := range unused {
		if u := use[c.pack]; c.pack != "" && u != nil {
			u.live--
			u.liveBytes -= c.Size
		}
	}
	for _, p := range packs {
		u := use[p.name]
		switch {
		case u == nil:
			plan.orphans = append(plan.orphans, p)
		case u.live == 0:
			plan.emptied = append(plan.emptied, p)
		case 2*u.liveBytes < p.size && s.files != nil:
			plan.repack = append(plan.repack, p)
		}
	}
	return plan, nil
}

// collectPacks deletes the orphaned and emptied packs and rewrites the
// packs to repack. Called with the lease held, after the unused chunks'
// rows are gone. A pack that cannot be rewritten is left as it is; its
// error is returned once the others are done.
func (s *Service) collectPacks(ctx context.Context, l *lease, plan packPlan) error {
	for _, p := range append(plan.orphans, plan.emptied...) {
		if err := l.renewIfDue(ctx, s); err != nil {
			return err
		}
		if err := s.blobs.Delete(ctx, packKey(p.name)); err != nil && !errors.Is(err, blob.ErrNotFound) {
			return fmt.Errorf("deleting pack %s: %w", p.name, err)
		}
	}
	var failed []error
	for _, p := range plan.repack {
		if err := l.renewIfDue(ctx, s); err != nil {
			return err
		}
		if err := s.repack(ctx, p.name); err != nil {
			if ctx.Err() != nil {
				return err
			}
			failed = append(failed, err)
		}
	}
	return errors.Join(failed...)
}

// repack writes the registered chunks of a pack into a new pack, verifying
// each, points their rows at it, and deletes the old pack. A reader that
// looked the old place up just before retries (see GetChunk).
func (s *Service) repack(ctx context.Context, name string) error {
	rows, err := s.db.Query(ctx, `SELECT hash, size, pack_offset FROM dataset_chunks WHERE pack = ? ORDER BY pack_offset`, name)
	if err != nil {
		return fmt.Errorf("listing the chunks of pack %s: %w", name, err)
	}
	var live []storedChunk
	var total int64
	for rows.Next() {
		var c storedChunk
		if err := rows.Scan(&c.Hash, &c.Size, &c.Offset); err != nil {
			rows.Close()
			return fmt.Errorf("listing the chunks of pack %s: %w", name, err)
		}
		live = append(live, c)
		total += c.Size
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return fmt.Errorf("listing the chunks of pack %s: %w", name, err)
	}
	old, err := os.ReadFile(s.files.packPath(name))
	if err != nil {
		return fmt.Errorf("reading pack %s: %w", name, err)
	}
	buf := alignedBuf(int(total))
	for i, c := range live {
		var sum [32]byte
		if c.Offset+c.Size <= int64(len(old)) {
			sum = blake3.Sum256(old[c.Offset : c.Offset+c.Size])
		}
		if c.Offset+c.Size > int64(len(old)) || hex.EncodeToString(sum[:]) != c.Hash {
			return errs.Wrap(errs.Internal, fmt.Errorf("%w: chunk %s in pack %s", ErrCorrupt, c.Hash, name),
				"stored chunk %s failed verification; its pack %s is left as it is", c.Hash, name)
		}
		live[i].Offset = int64(len(buf))
		buf = append(buf, old[c.Offset:c.Offset+c.Size]...)
	}
	next := newPackName()
	if err := s.files.writePack(next, buf); err != nil {
		return err
	}
	if err := s.files.sync(); err != nil {
		return err
	}
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		for _, c := range live {
			if _, err := tx.Exec(ctx, `UPDATE dataset_chunks SET pack = ?, pack_offset = ? WHERE hash = ? AND pack = ?`,
				next, c.Offset, c.Hash, name); err != nil {
				return fmt.Errorf("moving chunk %s to pack %s: %w", c.Hash, next, err)
			}
		}
		return nil
	})
	if err != nil {
		_ = s.blobs.Delete(context.WithoutCancel(ctx), packKey(next))
		return err
	}
	if err := s.blobs.Delete(ctx, packKey(name)); err != nil && !errors.Is(err, blob.ErrNotFound) {
		return fmt.Errorf("deleting pack %s: %w", name, err)
	}
	return nil
}

// ChunkData is a whole chunk in memory.
type ChunkData struct {
	Hash string
	Data []byte
}

// batchLimiter is a ChunkBatcher that says which chunks it takes in
// batches: those smaller than BatchChunkLimit. Without it, those smaller
// than BatchChunkMax. The client's answer is the server's, known once
// MissingChunks was called.
type batchLimiter interface {
	BatchChunkLimit() int64
}

// ChunkBatcher is a ChunkStore that stores small chunks better in batches
// than one by one. A Service writes a batch as one pack, makes it durable
// with one sync and registers it in one transaction (PutChunk fsyncs and
// registers each chunk on its own); the client sends a batch in one
// request to a server that does the same.
type ChunkBatcher interface {
	PutChunks(ctx context.Context, chunks []ChunkData) error
}

// BatchChunkLimit is the size below which PutChunks takes a chunk:
// BatchChunkMax, or any chunk (ChunkMax+1) on a local-folder store, which
// writes a batch as one pack (a chunk on its own would be a file of its
// own, fsynced on its own).
func (s *Service) BatchChunkLimit() int64 {
	if s.files != nil {
		return ChunkMax + 1
	}
	return BatchChunkMax
}

// PutChunks stores a batch of chunks (each under BatchChunkLimit bytes, at
// most MaxBatchChunks of them and MaxBatchBytes in all), verifying every
// hash first: one bad chunk stores nothing of the batch and is an
// errs.Invalid error naming it. Chunks already stored are skipped.
func (s *Service) PutChunks(ctx context.Context, chunks []ChunkData) error {
	if len(chunks) > MaxBatchChunks {
		return errs.E(errs.Invalid, "a batch holds at most %d chunks, got %d", MaxBatchChunks, len(chunks))
	}
	var total int
	hashes := make([]string, len(chunks))
	for i, c := range chunks {
		if err := checkHash(fmt.Sprintf("chunks[%d]", i), c.Hash); err != nil {
			return err
		}
		if limit := s.BatchChunkLimit(); len(c.Data) == 0 || int64(len(c.Data)) >= limit {
			return errs.E(errs.Invalid, "chunk %s: %d bytes; a batch holds chunks of 1 to %d bytes", c.Hash, len(c.Data), limit-1)
		}
		if total += len(c.Data); total > MaxBatchBytes {
			return errs.E(errs.Invalid, "a batch holds at most %d bytes of chunks", MaxBatchBytes)
		}
		sum := blake3.Sum256(c.Data)
		if got := hex.EncodeToString(sum[:]); got != c.Hash {
			return errs.E(errs.Invalid, "chunk content hashes to %s, not %s: refused", got, c.Hash)
		}
		hashes[i] = c.Hash
	}
	epoch, err := s.gcEpoch(ctx)
	if err != nil {
		return err
	}
	known, err := knownChunks(ctx, s.db, hashes)
	if err != nil {
		return err
	}
	var added []storedChunk
	if s.files == nil {
		for _, c := range chunks {
			if _, ok := known[c.Hash]; ok {
				continue
			}
			n, err := s.putChunk(ctx, c.Hash, c.Data)
			if err != nil {
				return err
			}
			known[c.Hash] = 0
			added = append(added, storedChunk{Chunk: Chunk{Hash: c.Hash, Size: n}})
		}
		return s.registerChunksAt(ctx, added, nil, epoch)
	}
	buf := alignedBuf(total)
	for _, c := range chunks {
		if _, ok := known[c.Hash]; ok {
			continue
		}
		known[c.Hash] = 0 // a repeat in the batch is stored once
		added = append(added, storedChunk{Chunk: Chunk{Hash: c.Hash, Size: int64(len(c.Data))}, Offset: int64(len(buf))})
		buf = append(buf, c.Data...)
	}
	if len(added) == 0 {
		return nil
	}
	name := newPackName()
	if err := s.files.writePack(name, buf); err != nil {
		return err
	}
	for i := range added {
		added[i].Pack = name
	}
	return s.registerStored(ctx, added, nil, epoch)
}

// Limits of a chunk batch (PutChunks, and its wire form).
const (
	// BatchChunkMax bounds the chunks of a batch for any receiver: they
	// are smaller. A local-folder store takes larger ones too (see
	// BatchChunkLimit; a server says so in its answer to MissingChunks).
	BatchChunkMax  = ChunkMin
	MaxBatchBytes  = 16 << 20 // chunk bytes in one batch
	MaxBatchChunks = 10_000   // chunks in one batch
)

// EncodeChunkBatch writes chunks in the wire form of a batch upload: for
// each, its 32-byte hash, its length as 4 big-endian bytes, its bytes.
func EncodeChunkBatch(w io.Writer, chunks []ChunkData) error {
	var head [36]byte
	for _, c := range chunks {
		h, err := hex.DecodeString(c.Hash)
		if err != nil || len(h) != 32 {
			return fmt.Errorf("chunk hash %q is not 64 hex digits", c.Hash)
		}
		copy(head[:32], h)
		binary.BigEndian.PutUint32(head[32:], uint32(len(c.Data)))
		if _, err := w.Write(head[:]); err != nil {
			return err
		}
		if _, err := w.Write(c.Data); err != nil {
			return err
		}
	}
	return nil
}

// DecodeChunkBatch reads a batch written by EncodeChunkBatch, of chunks
// smaller than chunkLimit bytes (a receiving Service's BatchChunkLimit).
// Bad framing or a batch beyond the limits is an errs.Invalid error; the
// hashes are checked by PutChunks.
func DecodeChunkBatch(r io.Reader, chunkLimit int64) ([]ChunkData, error) {
	var out []ChunkData
	var total int
	var head [36]byte
	for {
		if _, err := io.ReadFull(r, head[:]); err != nil {
			if err == io.EOF {
				return out, nil
			}
			if err == io.ErrUnexpectedEOF {
				return nil, errs.E(errs.Invalid, "chunk batch: cut short in the header of chunk %d", len(out)+1)
			}
			return nil, err
		}
		if len(out) == MaxBatchChunks {
			return nil, errs.E(errs.Invalid, "chunk batch: more than %d chunks", MaxBatchChunks)
		}
		n := int(binary.BigEndian.Uint32(head[32:]))
		hash := hex.EncodeToString(head[:32])
		if n == 0 || int64(n) >= chunkLimit {
			return nil, errs.E(errs.Invalid, "chunk batch: chunk %s is %d bytes; a batch holds chunks of 1 to %d bytes", hash, n, chunkLimit-1)
		}
		if total += n; total > MaxBatchBytes {
			return nil, errs.E(errs.Invalid, "chunk batch: more than %d bytes of chunks", MaxBatchBytes)
		}
		data := make([]byte, n)
		if _, err := io.ReadFull(r, data); err != nil {
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				return nil, errs.E(errs.Invalid, "chunk batch: chunk %s cut short", hash)
			}
			return nil, err
		}
		out = append(out, ChunkData{Hash: hash, Data: data})
	}
}

// SpareProc raises GOMAXPROCS by one, unless the GOMAXPROCS environment
// variable sets it. The first Add of a Service with Options.SpareProc
// calls it before reading files (the CLI sets it; the benchmark calls it
// before parsing alone, to compare like with like).
//
// An add writes its packs with O_DIRECT, and a goroutine blocked in such a
// write keeps its P for the whole write: the runtime hands a P stuck in a
// system call to another goroutine only when sysmon looks, which it does
// at most every 10 ms when it has had nothing to do, and a pack write
// takes about 7 ms. With as many Ps as cores, a core then idles while
// parsing and hashing wait for a P. One spare P keeps every core busy:
// the profiled add of a 1 GB CSV took 9% less time on 2 cores, in the same
// CPU time. Buffered writes instead cost 30% more CPU time (the copy into
// the page cache). An unchanged re-add reads no file and keeps the
// default: the spare P made its stat-only run of 10,000 files 7% slower.
func SpareProc() {
	if os.Getenv("GOMAXPROCS") != "" {
		return
	}
	runtime.GOMAXPROCS(runtime.GOMAXPROCS(0) + 1)
}
