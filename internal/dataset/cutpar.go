package dataset

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"

	chunkers "github.com/PlakarKorp/go-cdc-chunkers"

	"github.com/mlcycle/mlcycle/internal/errs"
)

// Cutting one large file on all cores.
//
// FastCDC is sequential: where a chunk ends depends on where it began. But
// it depends on nothing else (the cutter starts afresh at every chunk, and
// sees at most ChunkMax bytes from there), so two cutters that ever begin a
// chunk at the same offset agree from there on. parallelCuts splits the
// file into segments of cutSegment bytes, cuts each segment on its own from
// its first byte (reading up to ChunkMax past its end, so every chunk begun
// in it is cut exactly as a cutter from the file's start would cut it), and
// then follows the true chunk boundaries from the start: along segment k's
// chunks until the first boundary at or past the next segment's start. If
// that boundary also begins a chunk of the next segment, the two agree from
// there; if not, a cutter continues from it, chunk by chunk, until a
// boundary begins a chunk of the segment it falls in. On real data that
// takes a chunk or two; on data without cut points (long runs of one byte
// value) it can take the rest of the file, which is then cut as it always
// was. The boundaries are the same as one cutter's, whatever the segment
// size (tested against it).

// cutSegment is the size of the segments of a file cut in parallel; a file
// of fewer than two is cut by one cutter as it is read.
const cutSegment = 64 << 20

// segSize is the segment size of parallel cutting.
func (p *hashPipeline) segSize() int64 {
	if p.s != nil && p.s.cutSegment > 0 {
		return p.s.cutSegment
	}
	return cutSegment
}

// segment is the cutting of [start, end) of a file from start: the chunks
// begun in it and where the last of them ends.
type segment struct {
	start, end int64
	starts     []int64 // chunk starts, from start; all < end
	last       int64   // end of the chunk begun at starts[len(starts)-1]
	err        error
	done       chan struct{}
}

// has reports whether a chunk of the segment begins at off.
func (s *segment) has(off int64) (int, bool) {
	return slices.BinarySearch(s.starts, off)
}

// cutFrom cuts r, whose first byte is at offset from, with a cutter from
// the pool, calling fn with each chunk's offset and length until fn
// returns false or r ends.
func (p *hashPipeline) cutFrom(ctx context.Context, r io.Reader, from int64, fn func(off, n int64) bool) error {
	c, err := p.getCutter(ctx, r)
	if err != nil {
		return err
	}
	defer func() {
		c.Reset(nil)
		p.cutters <- c
	}()
	return cutWith(ctx, c, from, fn)
}

// cutJunction is cutFrom with the pipeline's junction cutter, which is not
// in the pool: whoever cuts a junction waits for segments to be cut, so it
// must not hold a cutter they may need.
func (p *hashPipeline) cutJunction(ctx context.Context, r io.Reader, from int64, fn func(off, n int64) bool) error {
	p.junctionMu.Lock()
	defer p.junctionMu.Unlock()
	if p.junction == nil {
		// The smallest buffer a cutter takes: a junction is a chunk or
		// two, and this one is on top of the pool's.
		c, err := newChunkerBuffer(r, ChunkMax)
		if err != nil {
			return err
		}
		p.junction = c
	} else {
		p.junction.Reset(r)
	}
	defer p.junction.Reset(nil)
	return cutWith(ctx, p.junction, from, fn)
}

func cutWith(ctx context.Context, c *chunkers.Chunker, from int64, fn func(off, n int64) bool) error {
	off := from
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		data, err := c.Next()
		if err != nil && err != io.EOF {
			return err
		}
		if len(data) == 0 {
			return nil
		}
		n := int64(len(data))
		if !fn(off, n) {
			return nil
		}
		off += n
		if err == io.EOF {
			return nil
		}
	}
}

// parallelCuts returns the chunk boundaries of the first size bytes of f
// (ends of chunks, ascending, the last one size), as one cutter from the
// start would find them, cutting segments of segSize bytes on up to
// p.maxCutters goroutines. emit is called with each chunk, in order, as
// soon as it is known.
func (p *hashPipeline) parallelCuts(ctx context.Context, f *os.File, size, segSize int64, emit func(off, n int64) error) error {
	ctx, cancel := context.WithCancel(ctx)
	var segs []*segment
	for start := int64(0); start < size; start += segSize {
		segs = append(segs, &segment{start: start, end: min(size, start+segSize), done: make(chan struct{})})
	}
	// Segments are cut in order by a few goroutines, so the ones the
	// boundaries are followed through next are ready first, and at most
	// lookahead segments past the one being followed: the chunks are read
	// again to be hashed, which should find them still in the page cache.
	next := make(chan *segment, len(segs))
	for _, s := range segs {
		next <- s
	}
	close(next)
	cutters := min(int(p.maxCutters), len(segs))
	ahead := make(chan struct{}, 2*cutters)
	released := 0 // segments whose place in ahead was given back
	advance := func(to int) error {
		for ; released < to; released++ {
			select {
			case <-ahead:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	}
	var wg sync.WaitGroup
	for range cutters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				// The place first, then the lowest segment left: a
				// segment never waits behind later ones.
				select {
				case ahead <- struct{}{}:
				case <-ctx.Done():
					return
				}
				s, ok := <-next
				if !ok {
					return
				}
				limit := min(size, s.end+ChunkMax)
				s.last = s.start
				s.err = p.cutFrom(ctx, io.NewSectionReader(f, s.start, limit-s.start), s.start, func(off, n int64) bool {
					if off >= s.end {
						return false
					}
					s.starts = append(s.starts, off)
					s.last = off + n
					return true
				})
				close(s.done)
			}
		}()
	}
	defer func() {
		cancel()
		wg.Wait()
	}()

	wait := func(s *segment) error {
		if err := advance(int(s.start / segSize)); err != nil {
			return err
		}
		select {
		case <-s.done:
			return s.err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	segOf := func(off int64) *segment { return segs[off/segSize] }

	pos := int64(0)
	cur := segs[0]
	i := 0 // index in cur.starts of the chunk beginning at pos
	for pos < size {
		if err := wait(cur); err != nil {
			return err
		}
		// Follow cur's chunks to its end.
		for ; i < len(cur.starts); i++ {
			end := cur.last
			if i+1 < len(cur.starts) {
				end = cur.starts[i+1]
			}
			if err := emit(cur.starts[i], end-cur.starts[i]); err != nil {
				return err
			}
		}
		pos = cur.last
		if pos >= size {
			break
		}
		// pos lies in a later segment: join it if one of its chunks
		// begins there, else cut on from pos until one does.
		s := segOf(pos)
		if err := wait(s); err != nil {
			return err
		}
		if j, ok := s.has(pos); ok {
			cur, i = s, j
			continue
		}
		var joined bool
		var emitErr error
		from := pos
		err := p.cutJunction(ctx, io.NewSectionReader(f, from, size-from), from, func(off, n int64) bool {
			if off != from {
				s := segOf(off)
				if emitErr = wait(s); emitErr != nil {
					return false
				}
				if j, ok := s.has(off); ok {
					cur, i, joined = s, j, true
					return false
				}
			}
			if emitErr = emit(off, n); emitErr != nil {
				return false
			}
			pos = off + n
			return true
		})
		if err == nil {
			err = emitErr
		}
		if err != nil {
			return err
		}
		if !joined {
			if pos != size {
				return fmt.Errorf("cutting stopped at byte %d of %d", pos, size)
			}
			break
		}
		pos = cur.starts[i]
	}
	return nil
}

// hashLargeParallel is hashLarge for a file that is not read by anything
// else meanwhile: the cuts are found on all cores (parallelCuts), and each
// chunk is read into its buffer by the worker that hashes and stores it.
func (p *hashPipeline) hashLargeParallel(ctx context.Context, f *os.File, lf localFile, size int64) (hashed, error) {
	var (
		outs []*chunkOut
		wg   sync.WaitGroup
	)
	err := p.parallelCuts(ctx, f, size, p.segSize(), func(off, n int64) error {
		b, err := p.getBuf(ctx)
		if err != nil {
			return err
		}
		b.data = b.b[:n]
		p.progress.Add(n)
		out := &chunkOut{size: n}
		outs = append(outs, out)
		wg.Add(1)
		p.jobs <- chunkJob{buf: b, out: out, wg: &wg, f: f, off: off}
		return nil
	})
	wg.Wait()
	if err != nil {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return hashed{}, err
		}
		return hashed{}, errs.E(errs.Invalid, "cannot read %s: %v", lf.rel, pathErr(err))
	}
	return fileOfChunks(lf, outs)
}
