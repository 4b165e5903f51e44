package dataset

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"

	chunkers "github.com/PlakarKorp/go-cdc-chunkers"
	_ "github.com/PlakarKorp/go-cdc-chunkers/chunkers/fastcdc" // registers "fastcdc-v1.0.0"
	"github.com/zeebo/blake3"

	"github.com/mlcycle/mlcycle/internal/errs"
)

// Chunking parameters. They are part of the storage format: every machine
// must cut the same bytes at the same places, or identical data would be
// stored twice and versions would not deduplicate across clients. Changing
// any of them is a new format.
//
// Files are cut by FastCDC (a Gear rolling hash over the last 64 bytes,
// with normalised chunking: a stricter mask before ChunkNormal bytes and a
// looser one after), unkeyed, as implemented by go-cdc-chunkers'
// "fastcdc-v1.0.0" (an add runs gearCutter, which cuts exactly alike,
// faster). Never before ChunkMin bytes, always at ChunkMax: chunks are
// 512 KiB to 8 MiB, about 1.2 MiB on average. Files smaller than ChunkMin
// are always one chunk.
const (
	ChunkMin    = 512 << 10
	ChunkNormal = 1 << 20
	ChunkMax    = 8 << 20
	// ChunkAlgorithm names the cutter in go-cdc-chunkers' registry.
	ChunkAlgorithm = "fastcdc-v1.0.0"
)

// newChunker returns a cutter over r with the format's parameters. Its scan
// buffer is twice ChunkMax: with exactly ChunkMax the reader would slide
// the unread tail to the front after nearly every chunk.
func newChunker(r io.Reader) (*chunkers.Chunker, error) {
	return newChunkerBuffer(r, 2*ChunkMax)
}

// newChunkerBuffer is newChunker with a scan buffer of n bytes (at least
// ChunkMax).
func newChunkerBuffer(r io.Reader, n int) (*chunkers.Chunker, error) {
	opts := &chunkers.ChunkerOpts{MinSize: ChunkMin, NormalSize: ChunkNormal, MaxSize: ChunkMax}
	return chunkers.NewChunkerBuffer(gearAlgorithm, r, opts, make([]byte, n))
}

// hashPipeline hashes files and stores their chunks. Each file is read by
// one goroutine; a file of at least ChunkMin bytes is cut by the chunker in
// that goroutine while a shared pool hashes and stores its chunks. Chunk
// buffers come from a bounded pool, so memory stays at a few buffers per
// worker whatever the file sizes.
type hashPipeline struct {
	s   *Service
	reg *registrar

	bufs     chan *chunkBuf // free buffers
	bufCount atomic.Int32   // buffers allocated so far
	maxBufs  int32
	small    sync.Pool // *[]byte of ChunkMin bytes

	// cutters holds idle cutters; at most maxCutters exist, so at most that
	// many large files are cut at once (each cutter keeps 2*ChunkMax).
	cutters    chan *chunkers.Chunker
	cutCount   atomic.Int32
	maxCutters int32
	jobs       chan chunkJob

	// junction is the cutter that joins segments cut in parallel (see
	// cutJunction), made when first needed.
	junctionMu sync.Mutex
	junction   *chunkers.Chunker

	seen sync.Map // chunk hashes stored, being stored or known present in this run

	packs *packWriter // small chunks, for a file:// store; nil for others

	// hashOnly: chunks are hashed, never stored or registered (Status).
	hashOnly bool

	progress atomic.Int64 // bytes read
	newChunks,
	newBytes,
	reused atomic.Int64
}

type chunkBuf struct {
	b    []byte // cap ChunkMax
	data []byte
	p    *hashPipeline
}

func (b *chunkBuf) release() { b.p.bufs <- b }

type chunkOut struct {
	hash string
	size int64
	err  error
}

type chunkJob struct {
	buf *chunkBuf
	out *chunkOut
	wg  *sync.WaitGroup
	// f, when set, is read at off into buf.data first.
	f   *os.File
	off int64
}

func newHashPipeline(s *Service, reg *registrar, workers int) *hashPipeline {
	p := &hashPipeline{s: s, reg: reg, maxBufs: int32(2*workers + 2), maxCutters: int32(workers)}
	p.bufs = make(chan *chunkBuf, p.maxBufs)
	p.cutters = make(chan *chunkers.Chunker, p.maxCutters)
	p.jobs = make(chan chunkJob, workers)
	p.small.New = func() any { b := make([]byte, ChunkMin); return &b }
	if s.files != nil {
		p.packs = newPackWriter(p, s.files)
	}
	return p
}

// startChunkWorkers runs n chunk hashers until stop is called.
func (p *hashPipeline) startChunkWorkers(ctx context.Context, n int) (stop func()) {
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range p.jobs {
				if err := ctx.Err(); err != nil {
					j.out.err = err
				} else if err := j.read(); err != nil {
					j.out.err = err
				} else {
					sum := blake3.Sum256(j.buf.data)
					j.out.hash = hex.EncodeToString(sum[:])
					j.out.err = p.store(ctx, j.out.hash, j.buf.data)
				}
				j.buf.release()
				j.wg.Done()
			}
		}()
	}
	return func() { close(p.jobs); wg.Wait() }
}

// read fills the job's buffer from its file, if it has one. A file that
// ends early fails with io.ErrUnexpectedEOF.
func (j chunkJob) read() error {
	if j.f == nil {
		return nil
	}
	n, err := j.f.ReadAt(j.buf.data, j.off)
	if n == len(j.buf.data) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// getCutter returns an idle cutter reading r, making up to maxCutters.
func (p *hashPipeline) getCutter(ctx context.Context, r io.Reader) (*chunkers.Chunker, error) {
	var c *chunkers.Chunker
	select {
	case c = <-p.cutters:
	default:
		if p.cutCount.Add(1) <= p.maxCutters {
			c, err := newChunker(r)
			if err != nil {
				p.cutCount.Add(-1)
			}
			return c, err
		}
		select {
		case c = <-p.cutters:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	c.Reset(r)
	return c, nil
}

// getBuf returns a free chunk buffer, allocating up to maxBufs of them.
func (p *hashPipeline) getBuf(ctx context.Context) (*chunkBuf, error) {
	select {
	case b := <-p.bufs:
		return b, nil
	default:
	}
	if p.bufCount.Add(1) <= p.maxBufs {
		return &chunkBuf{b: make([]byte, 0, ChunkMax), p: p}, nil
	}
	select {
	case b := <-p.bufs:
		return b, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// store makes sure the chunk is in the blob store: skipped when this run
// already handled it or it is registered, written otherwise.
func (p *hashPipeline) store(ctx context.Context, hash string, data []byte) error {
	if p.hashOnly {
		return nil
	}
	if _, dup := p.seen.LoadOrStore(hash, true); dup {
		return nil
	}
	if p.packs != nil {
		if len(data) >= ChunkMin {
			// A large chunk is looked up before it is copied into a pack:
			// most chunks of an edited large file are stored already. Small
			// ones are looked up a pack at a time when it is written.
			stored, err := p.packs.stored(ctx, hash)
			if err != nil {
				return err
			}
			if stored {
				p.reused.Add(1)
				return p.reg.touch(ctx, hash)
			}
		}
		return p.packs.add(ctx, hash, data)
	}
	if f := p.s.files; f != nil && !f.has(hash) {
		// Not in the folder, so not usable whatever the catalog says:
		// write it without asking the database (one query per chunk was a
		// good part of adding many small files).
		if err := f.write(hash, data); err != nil {
			return err
		}
		p.newChunks.Add(1)
		p.newBytes.Add(int64(len(data)))
		return p.reg.add(ctx, Chunk{Hash: hash, Size: int64(len(data))})
	}
	known, err := p.s.chunkKnown(ctx, hash)
	if err != nil {
		return err
	}
	if known {
		p.reused.Add(1)
		return p.reg.touch(ctx, hash)
	}
	n, err := p.s.putChunk(ctx, hash, data)
	if err != nil {
		return err
	}
	p.newChunks.Add(1)
	p.newBytes.Add(n)
	return p.reg.add(ctx, Chunk{Hash: hash, Size: n})
}

// hashed is what hashing one file found.
type hashed struct {
	hash   string
	size   int64
	chunks []Chunk // nil for a single chunk or an empty file
	st     fileStat
}

// hashFile reads, hashes and stores one file. It fails if the file changes
// while being read, so the hash always matches the stat recorded with it.
//
// A file of at least two cutSegments that nothing else reads meanwhile
// (alone: it is not being profiled) is cut on all cores; otherwise one
// cutter reads it, as fast as a profiler parsing it would anyway.
func (p *hashPipeline) hashFile(ctx context.Context, lf localFile, alone bool) (hashed, error) {
	f, err := os.Open(lf.open)
	if err != nil {
		return hashed{}, errs.E(errs.Invalid, "cannot read %s: %v", lf.rel, pathErr(err))
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return hashed{}, errs.E(errs.Invalid, "cannot read %s: %v", lf.rel, pathErr(err))
	}
	if !fi.Mode().IsRegular() {
		return hashed{}, errs.E(errs.Invalid, "%s is not a regular file", lf.rel)
	}
	before := statOf(fi)
	var h hashed
	switch {
	case before.size == 0:
		h = hashed{hash: emptyHash}
	case before.size < ChunkMin:
		h, err = p.hashSmall(ctx, f, lf, before.size)
	case alone && before.size >= 2*p.segSize():
		h, err = p.hashLargeParallel(ctx, f, lf, before.size)
	default:
		h, err = p.hashLarge(ctx, f, lf)
	}
	if err != nil {
		return hashed{}, err
	}
	fi, err = f.Stat()
	if err != nil {
		return hashed{}, errs.E(errs.Invalid, "cannot read %s: %v", lf.rel, pathErr(err))
	}
	after := statOf(fi)
	if after != before || h.size != before.size {
		return hashed{}, errs.E(errs.Invalid, "%s changed while it was being added; add it again once it is complete", lf.rel)
	}
	h.st = after
	return h, nil
}

func (p *hashPipeline) hashSmall(ctx context.Context, f *os.File, lf localFile, size int64) (hashed, error) {
	bp := p.small.Get().(*[]byte)
	defer p.small.Put(bp)
	buf := (*bp)[:size]
	if _, err := io.ReadFull(f, buf); err != nil {
		if err == io.ErrUnexpectedEOF || err == io.EOF {
			return hashed{}, errs.E(errs.Invalid, "%s changed while it was being added; add it again once it is complete", lf.rel)
		}
		return hashed{}, errs.E(errs.Invalid, "cannot read %s: %v", lf.rel, pathErr(err))
	}
	p.progress.Add(size)
	sum := blake3.Sum256(buf)
	hash := hex.EncodeToString(sum[:])
	if err := p.store(ctx, hash, buf); err != nil {
		return hashed{}, err
	}
	return hashed{hash: hash, size: size}, nil
}

// hashLarge streams the file through the chunker. Chunks go to the chunk
// workers (hash + store, in parallel); the file's hash is then that of its
// chunk list.
func (p *hashPipeline) hashLarge(ctx context.Context, f *os.File, lf localFile) (hashed, error) {
	c, err := p.getCutter(ctx, f)
	if err != nil {
		return hashed{}, fmt.Errorf("chunking %s: %w", lf.rel, err)
	}
	defer func() {
		c.Reset(nil) // drop the file
		p.cutters <- c
	}()

	var (
		outs    []*chunkOut
		wg      sync.WaitGroup
		readErr error
	)
	for {
		b, err := p.getBuf(ctx)
		if err != nil {
			readErr = err
			break
		}
		// The cutter's slice aliases its scan buffer, which it reuses:
		// copy the chunk so the workers can hash and store it meanwhile.
		// The last chunk may come with io.EOF.
		data, err := c.Next()
		if err != nil && err != io.EOF {
			p.bufs <- b
			readErr = errs.E(errs.Invalid, "cannot read %s: %v", lf.rel, pathErr(err))
			break
		}
		last := err == io.EOF
		if len(data) == 0 {
			p.bufs <- b
			break
		}
		b.data = append(b.b[:0], data...)
		out := &chunkOut{size: int64(len(b.data))}
		outs = append(outs, out)
		p.progress.Add(out.size)
		wg.Add(1)
		p.jobs <- chunkJob{buf: b, out: out, wg: &wg}
		if last {
			break
		}
	}
	wg.Wait()
	if readErr != nil {
		return hashed{}, readErr
	}
	return fileOfChunks(lf, outs)
}

// fileOfChunks is what hashing a file found, given what the chunk workers
// found of each of its chunks, in order.
func fileOfChunks(lf localFile, outs []*chunkOut) (hashed, error) {
	chunks := make([]Chunk, len(outs))
	var total int64
	for i, o := range outs {
		if o.err != nil {
			if errors.Is(o.err, io.ErrUnexpectedEOF) { // a worker read the file short
				return hashed{}, errs.E(errs.Invalid, "%s changed while it was being added; add it again once it is complete", lf.rel)
			}
			return hashed{}, o.err
		}
		chunks[i] = Chunk{Hash: o.hash, Size: o.size}
		total += o.size
	}
	if len(chunks) == 1 {
		// The file is its only chunk: its hash is the chunk's.
		return hashed{hash: chunks[0].Hash, size: total}, nil
	}
	hash, err := ChunkListHash(chunks)
	if err != nil {
		return hashed{}, fmt.Errorf("hashing %s: %w", lf.rel, err)
	}
	return hashed{hash: hash, size: total, chunks: chunks}, nil
}

// registrar batches the registration of chunks an add stored or reuses, so
// an interrupted add leaves registered (reusable) chunks behind without one
// transaction per chunk.
type registrar struct {
	s     *Service
	epoch int64

	mu      sync.Mutex
	added   []storedChunk
	touched []string
}

const registerBatch = 2000

func (r *registrar) add(ctx context.Context, c Chunk) error {
	return r.addStored(ctx, storedChunk{Chunk: c})
}

func (r *registrar) addStored(ctx context.Context, c storedChunk) error {
	r.mu.Lock()
	r.added = append(r.added, c)
	return r.flushIfFull(ctx)
}

func (r *registrar) touch(ctx context.Context, hash string) error {
	r.mu.Lock()
	r.touched = append(r.touched, hash)
	return r.flushIfFull(ctx)
}

// flushIfFull registers a full batch. It is called with r.mu held and
// releases it; the batch is taken out first, so the other workers go on
// while this one syncs and registers it.
func (r *registrar) flushIfFull(ctx context.Context) error {
	if len(r.added)+len(r.touched) < registerBatch {
		r.mu.Unlock()
		return nil
	}
	added, touched := r.added, r.touched
	r.added, r.touched = nil, nil
	r.mu.Unlock()
	return r.s.registerStored(ctx, added, touched, r.epoch)
}

func (r *registrar) flush(ctx context.Context) error {
	r.mu.Lock()
	added, touched := r.added, r.touched
	r.added, r.touched = nil, nil
	r.mu.Unlock()
	return r.s.registerStored(ctx, added, touched, r.epoch)
}

// pathErr strips the path from an *os.PathError, since messages name the
// file by its dataset path already.
func pathErr(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// finishPacks writes the pack still being filled, if any.
func (p *hashPipeline) finishPacks(ctx context.Context) error {
	if p.packs == nil {
		return nil
	}
	return p.packs.finish(ctx)
}
