package dataset

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/mlcycle/mlcycle/internal/errs"
	"golang.org/x/sync/errgroup"
)

// ChunkStore receives chunks: a remote server for push, a local Service for
// pull. Service implements it.
type ChunkStore interface {
	// MissingChunks returns the hashes the store does not hold.
	MissingChunks(ctx context.Context, hashes []string) ([]string, error)
	// PutChunk stores a chunk, verifying its hash.
	PutChunk(ctx context.Context, hash string, r io.Reader) error
}

// ChunkBatchSource is a ChunkSource that reads many small chunks better
// at once: a client of a server (one request for a batch). GetChunks
// returns the chunks of hashes, in that order, or ErrNoBatchSource when
// the source cannot batch after all (an older server), and the caller
// reads them one by one.
type ChunkBatchSource interface {
	GetChunks(ctx context.Context, hashes []string) ([]ChunkData, error)
}

// ErrNoBatchSource is GetChunks' answer when batches are not available.
var ErrNoBatchSource = errors.New("this source does not read chunks in batches")

// CopyOptions tune CopyChunks.
type CopyOptions struct {
	// Workers is the number of chunks copied at once. Zero means 8.
	Workers int
	// Progress, when set, is called after each chunk copied with the bytes
	// copied and the bytes to copy. Calls never overlap.
	Progress func(done, total int64)
}

// CopyStats tells what CopyChunks moved.
type CopyStats struct {
	Chunks  int64 // copied
	Bytes   int64
	Present int64 // already in dst, not copied
}

// missingBatch is the number of hashes asked about at once.
const missingBatch = 10_000

// CopyChunks copies from src to dst every chunk of chunks that dst does
// not hold yet, several at a time; both ends verify each chunk's hash. It
// is resumable: after an interruption, running it again copies only what is
// still missing. Push is CopyChunks(remote, local, m.Chunks()) followed by
// the remote's RecordVersion; pull is the reverse.
func CopyChunks(ctx context.Context, dst ChunkStore, src ChunkSource, chunks []Chunk, opts CopyOptions) (CopyStats, error) {
	workers := opts.Workers
	if workers <= 0 {
		workers = 8
	}
	size := make(map[string]int64, len(chunks))
	var hashes []string
	for _, c := range chunks {
		if _, dup := size[c.Hash]; !dup {
			size[c.Hash] = c.Size
			hashes = append(hashes, c.Hash)
		}
	}
	var missing []string
	for start := 0; start < len(hashes); start += missingBatch {
		m, err := dst.MissingChunks(ctx, hashes[start:min(start+missingBatch, len(hashes))])
		if err != nil {
			return CopyStats{}, fmt.Errorf("asking which chunks are missing: %w", err)
		}
		missing = append(missing, m...)
	}
	var st CopyStats
	st.Present = int64(len(hashes) - len(missing))
	var total int64
	for _, h := range missing {
		total += size[h]
	}
	var (
		done, copied atomic.Int64
		mu           sync.Mutex
	)
	report := func(n int64) {
		if opts.Progress != nil {
			mu.Lock()
			opts.Progress(n, total)
			mu.Unlock()
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(workers)
	// A destination that stores chunks better in batches (a local
	// Service: one pack, one sync, one registration, for chunks of any size
	// on a local folder; a server through the client: one request, the
	// same there, for small ones) gets them so, in batches of about a
	// pack; each batch is read by one worker.
	if b, ok := dst.(ChunkBatcher); ok {
		limit := int64(BatchChunkMax)
		if l, ok := dst.(batchLimiter); ok {
			limit = l.BatchChunkLimit()
		}
		var large []string
		var batch []string
		var batchBytes int64
		flush := func() {
			hs := batch
			batch, batchBytes = nil, 0
			g.Go(func() error {
				chunks, err := readChunks(gctx, src, hs, size)
				if err != nil {
					return err
				}
				var n int64
				for _, c := range chunks {
					n += int64(len(c.Data))
				}
				if err := b.PutChunks(gctx, chunks); err != nil {
					return fmt.Errorf("copying %d chunks: %w", len(chunks), err)
				}
				copied.Add(int64(len(chunks)))
				report(done.Add(n))
				return nil
			})
		}
		for _, h := range missing {
			if size[h] <= 0 || size[h] >= limit {
				large = append(large, h)
				continue
			}
			if gctx.Err() != nil {
				break
			}
			// under packTarget before, at most ChunkMax more: never over
			// MaxBatchBytes
			batch = append(batch, h)
			if batchBytes += size[h]; batchBytes >= packTarget || len(batch) == MaxBatchChunks {
				flush()
			}
		}
		if len(batch) > 0 && gctx.Err() == nil {
			flush()
		}
		missing = large
	}
	for _, h := range missing {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error {
			rc, err := src.GetChunk(gctx, h)
			if err != nil {
				return fmt.Errorf("reading chunk %s: %w", h, err)
			}
			defer rc.Close()
			if err := dst.PutChunk(gctx, h, rc); err != nil {
				return fmt.Errorf("copying chunk %s: %w", h, err)
			}
			copied.Add(1)
			report(done.Add(size[h]))
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return CopyStats{}, err
	}
	if err := ctx.Err(); err != nil {
		return CopyStats{}, err
	}
	st.Chunks, st.Bytes = copied.Load(), done.Load()
	return st, nil
}

// readChunks reads the small chunks hs from src: in one batch when src
// can, else one by one. A chunk of another size than the manifest says is
// refused (the hashes are checked by the receiving store).
func readChunks(ctx context.Context, src ChunkSource, hs []string, size map[string]int64) ([]ChunkData, error) {
	if bs, ok := src.(ChunkBatchSource); ok {
		chunks, err := bs.GetChunks(ctx, hs)
		switch {
		case err == nil:
			if len(chunks) != len(hs) {
				return nil, fmt.Errorf("reading %d chunks: %w: got %d", len(hs), ErrCorrupt, len(chunks))
			}
			for i, c := range chunks {
				if c.Hash != hs[i] || int64(len(c.Data)) != size[c.Hash] {
					return nil, fmt.Errorf("reading chunk %s: %w: got %s of %d bytes, the manifest says %d",
						hs[i], ErrCorrupt, c.Hash, len(c.Data), size[hs[i]])
				}
			}
			return chunks, nil
		case !errors.Is(err, ErrNoBatchSource):
			return nil, fmt.Errorf("reading %d chunks: %w", len(hs), err)
		}
	}
	chunks := make([]ChunkData, 0, len(hs))
	for _, h := range hs {
		data, err := readChunk(ctx, src, h, size[h])
		if err != nil {
			return nil, err
		}
		chunks = append(chunks, ChunkData{Hash: h, Data: data})
	}
	return chunks, nil
}

// readChunk reads a whole small chunk from src; a chunk of another size
// than the manifest says is refused (its hash is checked by the store).
func readChunk(ctx context.Context, src ChunkSource, hash string, size int64) ([]byte, error) {
	rc, err := src.GetChunk(ctx, hash)
	if err != nil {
		return nil, fmt.Errorf("reading chunk %s: %w", hash, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, size+1))
	if err != nil {
		return nil, fmt.Errorf("reading chunk %s: %w", hash, err)
	}
	if int64(len(data)) != size {
		return nil, fmt.Errorf("reading chunk %s: %w: %d bytes, the manifest says %d", hash, ErrCorrupt, len(data), size)
	}
	return data, nil
}

// Service is both ends of a transfer.
var (
	_ ChunkStore   = (*Service)(nil)
	_ ChunkSource  = (*Service)(nil)
	_ ChunkBatcher = (*Service)(nil)
)

// ReadChunks reads the chunks hashes (at most MaxBatchChunks, MaxBatchBytes
// in all, each under ChunkMax+1 bytes) from the store, checks each against
// its hash and hands them to fn in order, one at a time (Data is reused
// after fn returns). A hash not stored
// is an errs.NotFound error before any chunk is read; a damaged chunk
// stops the reading before fn sees it. The server's batch download.
func (s *Service) ReadChunks(ctx context.Context, hashes []string, fn func(ChunkData) error) error {
	if len(hashes) > MaxBatchChunks {
		return errs.E(errs.Invalid, "at most %d chunks can be read at once, got %d", MaxBatchChunks, len(hashes))
	}
	for i, h := range hashes {
		if err := checkHash(fmt.Sprintf("hashes[%d]", i), h); err != nil {
			return err
		}
	}
	places, err := chunkPlaces(ctx, s.db, hashes)
	if err != nil {
		return err
	}
	var total int64
	for _, h := range hashes {
		at, ok := places[h]
		if !ok {
			return errs.E(errs.NotFound, "chunk %s is not stored", h)
		}
		total += at.Size
	}
	if total > MaxBatchBytes {
		return errs.E(errs.Invalid, "%d bytes of chunks asked for: at most %d at once", total, MaxBatchBytes)
	}
	open, err := s.chunkOpener(ctx, hashes)
	if err != nil {
		return err
	}
	var buf []byte
	for _, h := range hashes {
		c := Chunk{Hash: h, Size: places[h].Size}
		if buf, err = loadChunk(ctx, open, FileEntry{Path: "chunk batch"}, 0, 1, c, buf); err != nil {
			return err
		}
		if err := fn(ChunkData{Hash: h, Data: buf}); err != nil {
			return err
		}
	}
	return nil
}
