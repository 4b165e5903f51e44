package dataset

import (
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

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
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(workers)
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
			n := done.Add(size[h])
			if opts.Progress != nil {
				mu.Lock()
				opts.Progress(n, total)
				mu.Unlock()
			}
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

// Service is both ends of a transfer.
var (
	_ ChunkStore  = (*Service)(nil)
	_ ChunkSource = (*Service)(nil)
)
