package dataset

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/zeebo/blake3"
	"golang.org/x/sync/errgroup"

	"github.com/mlcycle/mlcycle/internal/blob"
	"github.com/mlcycle/mlcycle/internal/errs"
)

// ChunkSource reads stored chunks by hash: a Service, or a client of a
// remote server. Materialize verifies everything it reads, so a source need
// not be trusted.
type ChunkSource interface {
	GetChunk(ctx context.Context, hash string) (io.ReadCloser, error)
}

// chunkOpener is what a Service offers Materialize beyond GetChunk (see
// Service.chunkOpener).
type chunkOpener interface {
	chunkOpener(ctx context.Context, hashes []string) (func(context.Context, string) (io.ReadCloser, error), error)
}

// GetOptions tune Get and Materialize.
type GetOptions struct {
	// Paths limits the files written to these files and the files under
	// these folders (dataset paths). Empty means every file.
	Paths []string
	// Workers is the number of files written at once. Zero means twice
	// GOMAXPROCS.
	Workers int
	// Progress, when set, is called after each file with the bytes written
	// and the total. Calls never overlap.
	Progress func(done, total int64)
}

// GetStats tells what Get wrote.
type GetStats struct {
	Files int64 // files of the version (or of Paths) now in the folder
	Bytes int64
	// Unchanged and UnchangedBytes count those files that were there
	// already with the version's content, so were not written again.
	Unchanged      int64
	UnchangedBytes int64
}

// prefetch is how many chunks of one file are fetched ahead of the writer.
const prefetch = 4

// Get writes the files of the version ref names under outDir (created if
// missing). See Materialize.
func (s *Service) Get(ctx context.Context, ref, outDir string, opts GetOptions) (GetStats, error) {
	_, m, err := s.resolveManifest(ctx, ref)
	if err != nil {
		return GetStats{}, err
	}
	if opts.Workers <= 0 {
		opts.Workers = 2 * s.opts.Workers
	}
	return Materialize(ctx, m, s, outDir, opts)
}

// Materialize writes the files of m under outDir, reading chunks from src.
// Each file is written to a temporary file beside its target and renamed
// into place only once its chunk list has matched the file's hash and every
// chunk its own, so a target is either its complete, verified content or left as
// it was. A chunk that does not match its hash (a corrupted store) fails
// with an error wrapping ErrCorrupt that names the file and the chunk.
// Paths are checked again here (a manifest may come from a server), and a
// target reached through a symlink leading out of outDir is refused.
func Materialize(ctx context.Context, m Manifest, src ChunkSource, outDir string, opts GetOptions) (GetStats, error) {
	m = m.Normalize()
	if err := m.Validate(); err != nil {
		return GetStats{}, err
	}
	files, err := selectFiles(m, opts.Paths)
	if err != nil {
		return GetStats{}, err
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return GetStats{}, errs.E(errs.Invalid, "creating output folder %s: %v", outDir, pathErr(err))
	}
	abs, err := filepath.Abs(outDir)
	if err != nil {
		return GetStats{}, fmt.Errorf("output folder %s: %w", outDir, err)
	}
	root, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return GetStats{}, fmt.Errorf("output folder %s: %w", outDir, err)
	}
	workers := opts.Workers
	if workers <= 0 {
		workers = 2 * max(2, runtime.GOMAXPROCS(0))
	}
	w := &writer{open: src.GetChunk, root: root, shown: outDir, bufs: sync.Pool{New: func() any { b := make([]byte, 0, ChunkMax); return &b }}}
	if o, ok := src.(chunkOpener); ok {
		if w.open, err = o.chunkOpener(ctx, chunkHashes(files)); err != nil {
			return GetStats{}, err
		}
	}
	var total int64
	for _, f := range files {
		total += f.Size
	}

	var (
		done     atomic.Int64
		progress sync.Mutex
	)
	report := func(f FileEntry) {
		n := done.Add(f.Size)
		if opts.Progress != nil {
			progress.Lock()
			opts.Progress(n, total)
			progress.Unlock()
		}
	}
	// A remote source that reads small chunks in batches gets runs of
	// small files as one request each (a local store opens chunks itself).
	bs, batched := src.(ChunkBatchSource)
	if _, local := src.(chunkOpener); local {
		batched = false
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(workers)
	for i := 0; i < len(files) && gctx.Err() == nil; {
		if batched && smallFile(files[i]) {
			j, n := i, int64(0)
			for j < len(files) && smallFile(files[j]) && n+files[j].Size <= packTarget && j-i < MaxBatchChunks {
				n += files[j].Size
				j++
			}
			group := files[i:j]
			i = j
			g.Go(func() error { return w.writeGroup(gctx, bs, group, report) })
			continue
		}
		f := files[i]
		i++
		g.Go(func() error {
			if err := w.writeFile(gctx, f); err != nil {
				return err
			}
			report(f)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return GetStats{}, err
	}
	if err := ctx.Err(); err != nil {
		return GetStats{}, err
	}
	return GetStats{Files: int64(len(files)), Bytes: total, Unchanged: w.unchanged.Load(), UnchangedBytes: w.unchangedBytes.Load()}, nil
}

func selectFiles(m Manifest, paths []string) ([]FileEntry, error) {
	if len(paths) == 0 {
		return m.Files, nil
	}
	want := make([]string, len(paths))
	for i, p := range paths {
		c, err := blob.CleanPath(p, false)
		if err != nil {
			return nil, errs.E(errs.Invalid, "path %v", err)
		}
		want[i] = c
	}
	matched := make([]bool, len(want))
	var out []FileEntry
	for _, f := range m.Files {
		for i, p := range want {
			if f.Path == p || strings.HasPrefix(f.Path, p+"/") {
				matched[i] = true
				out = append(out, f)
				break
			}
		}
	}
	for i, ok := range matched {
		if !ok {
			return nil, errs.E(errs.NotFound, "no file or folder %q in this version", want[i])
		}
	}
	return out, nil
}

type writer struct {
	open func(context.Context, string) (io.ReadCloser, error) // a chunk, verified or not

	unchanged, unchangedBytes atomic.Int64 // files already in place

	root  string // real output folder
	shown string
	bufs  sync.Pool
	dirs  sync.Map // real parent folders already checked
}

// target returns where f goes, creating its folder and checking that the
// folder is (after symlinks) inside the output folder.
func (w *writer) target(f FileEntry) (string, error) {
	target := filepath.Join(w.root, filepath.FromSlash(f.Path))
	dir := filepath.Dir(target)
	if _, ok := w.dirs.Load(dir); ok {
		return target, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", errs.E(errs.Invalid, "creating the folder of %s: %v", f.Path, pathErr(err))
	}
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return "", fmt.Errorf("resolving the folder of %s: %w", f.Path, err)
	}
	if !within(w.root, real) {
		return "", errs.E(errs.Invalid, "%s would be written through a symlink outside %s: refused", f.Path, w.shown)
	}
	w.dirs.Store(dir, true)
	return target, nil
}

// inPlace reports whether target is a regular file with f's content: its
// size, then each of its chunks (as the manifest cuts it) read and hashed
// in turn, stopping at the first that differs. A file that cannot be read
// is not in place (writing it says why, if it fails).
func (w *writer) inPlace(target string, f FileEntry, chunks []Chunk) bool {
	fi, err := os.Lstat(target)
	if err != nil || !fi.Mode().IsRegular() || fi.Size() != f.Size {
		return false
	}
	file, err := os.Open(target)
	if err != nil {
		return false
	}
	defer file.Close()
	if len(chunks) == 0 { // an empty file
		return true
	}
	bp := w.bufs.Get().(*[]byte)
	defer w.bufs.Put(bp)
	for _, c := range chunks {
		buf := slices.Grow((*bp)[:0], int(c.Size))[:c.Size]
		*bp = buf
		if _, err := io.ReadFull(file, buf); err != nil {
			return false
		}
		if sum := blake3.Sum256(buf); hex.EncodeToString(sum[:]) != c.Hash {
			return false
		}
	}
	return true
}

type fetched struct {
	buf *[]byte
	err error
}

func (w *writer) writeFile(ctx context.Context, f FileEntry) error {
	target, in, err := w.check(f)
	if err != nil || in {
		return err
	}
	return w.write(ctx, f, target, w.open)
}

// smallFile reports whether f is one chunk small enough for a batch.
func smallFile(f FileEntry) bool {
	return len(f.Chunks) == 0 && f.Size > 0 && f.Size < BatchChunkMax
}

// writeGroup writes small files whose chunks it reads from bs in one
// batch. If the batch fails, the files are written one by one, which
// names a missing or damaged chunk's file.
func (w *writer) writeGroup(ctx context.Context, bs ChunkBatchSource, group []FileEntry, done func(FileEntry)) error {
	type todo struct {
		f      FileEntry
		target string
	}
	var need []todo
	var hashes []string
	seen := map[string]bool{}
	for _, f := range group {
		target, in, err := w.check(f)
		if err != nil {
			return err
		}
		if in {
			done(f)
			continue
		}
		need = append(need, todo{f, target})
		if !seen[f.Hash] {
			seen[f.Hash] = true
			hashes = append(hashes, f.Hash)
		}
	}
	if len(need) == 0 {
		return nil
	}
	open := w.open
	if chunks, err := bs.GetChunks(ctx, hashes); err == nil {
		got := make(map[string][]byte, len(chunks))
		for _, c := range chunks {
			got[c.Hash] = c.Data
		}
		open = func(ctx context.Context, hash string) (io.ReadCloser, error) {
			if b, ok := got[hash]; ok {
				return io.NopCloser(bytes.NewReader(b)), nil
			}
			return w.open(ctx, hash)
		}
	} else if ctx.Err() != nil {
		return ctx.Err()
	}
	for _, t := range need {
		if err := w.write(ctx, t.f, t.target, open); err != nil {
			return err
		}
		done(t.f)
	}
	return nil
}

// check returns where f goes and whether it is in place already (counted
// as unchanged then), after checking its chunk list against its hash.
func (w *writer) check(f FileEntry) (target string, in bool, err error) {
	target, err = w.target(f)
	if err != nil {
		return "", false, err
	}
	if fi, err := os.Lstat(target); err == nil && fi.IsDir() {
		return "", false, errs.E(errs.Invalid, "cannot write %s: a folder is in the way", f.Path)
	}
	chunks := f.ChunkList()
	if len(chunks) > 1 {
		got, err := ChunkListHash(chunks)
		if err != nil {
			return "", false, errs.Wrap(errs.Internal, ErrCorrupt, "%s: %v", f.Path, err)
		}
		if got != f.Hash {
			return "", false, errs.Wrap(errs.Internal, ErrCorrupt,
				"%s: its chunk list hashes to %s, not %s as recorded", f.Path, got, f.Hash)
		}
	}
	if w.inPlace(target, f, chunks) {
		w.unchanged.Add(1)
		w.unchangedBytes.Add(f.Size)
		return target, true, nil
	}
	return target, false, nil
}

// write writes f to target, reading its chunks with open and verifying
// each, through a temporary file renamed into place at the end.
func (w *writer) write(ctx context.Context, f FileEntry, target string, open func(context.Context, string) (io.ReadCloser, error)) (err error) {
	chunks := f.ChunkList()
	tmp, err := os.CreateTemp(filepath.Dir(target), ".mlcycle-get-*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", f.Path, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make([]chan fetched, len(chunks))
	for i := range results {
		results[i] = make(chan fetched, 1)
	}
	slots := make(chan struct{}, prefetch)
	go func() {
		for i, c := range chunks {
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return
			}
			go func() { results[i] <- w.fetch(ctx, open, f, i, len(chunks), c) }()
		}
	}()
	for i := range chunks {
		var r fetched
		select {
		case r = <-results[i]:
		case <-ctx.Done():
			return ctx.Err()
		}
		if r.err != nil {
			return r.err
		}
		_, werr := tmp.Write(*r.buf)
		w.bufs.Put(r.buf)
		<-slots
		if werr != nil {
			return fmt.Errorf("writing %s: %w", f.Path, werr)
		}
	}
	if err := tmp.Chmod(0o644); err != nil {
		return fmt.Errorf("writing %s: %w", f.Path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", f.Path, err)
	}
	if err := os.Rename(tmp.Name(), target); err != nil {
		return fmt.Errorf("writing %s: %w", f.Path, err)
	}
	return nil
}

// fetch reads chunk i of f and checks its size and hash.
func (w *writer) fetch(ctx context.Context, open func(context.Context, string) (io.ReadCloser, error), f FileEntry, i, n int, c Chunk) fetched {
	bp := w.bufs.Get().(*[]byte)
	buf, err := loadChunk(ctx, open, f, i, n, c, *bp)
	if err != nil {
		w.bufs.Put(bp)
		if errors.Is(err, ErrCorrupt) {
			return fetched{err: fmt.Errorf("%w; nothing was written for this file", err)}
		}
		return fetched{err: err}
	}
	*bp = buf
	return fetched{buf: bp}
}

// loadChunk reads chunk i of the n chunks of f into buf (which it grows
// as needed) and checks its size and hash. A chunk that is missing is an
// errs.NotFound error, one that does not match wraps ErrCorrupt; both
// name the file and the chunk.
func loadChunk(ctx context.Context, open func(context.Context, string) (io.ReadCloser, error), f FileEntry, i, n int, c Chunk, buf []byte) ([]byte, error) {
	which := fmt.Sprintf("%s: chunk %d of %d (%s)", f.Path, i+1, n, c.Hash)
	rc, err := open(ctx, c.Hash)
	if err != nil {
		if errs.Is(err, errs.NotFound) {
			return nil, errs.E(errs.NotFound, "%s is missing from the store", which)
		}
		return nil, fmt.Errorf("%s: %w", which, err)
	}
	defer rc.Close()
	buf = slices.Grow(buf[:0], int(c.Size))[:c.Size]
	_, err = io.ReadFull(rc, buf)
	if err == nil {
		// The chunk must end here: read on to EOF, which is also where the
		// source's own verification reports.
		var one [1]byte
		var k int
		k, err = io.ReadFull(rc, one[:])
		switch {
		case err == io.EOF:
			err = nil
		case err == nil || k > 0:
			err = fmt.Errorf("%w: longer than %d bytes", ErrCorrupt, c.Size)
		}
	} else if err == io.ErrUnexpectedEOF || err == io.EOF {
		err = fmt.Errorf("%w: shorter than %d bytes", ErrCorrupt, c.Size)
	}
	if err == nil {
		if sum := blake3.Sum256(buf); hex.EncodeToString(sum[:]) != c.Hash {
			err = fmt.Errorf("%w: stored bytes hash to %s", ErrCorrupt, hex.EncodeToString(sum[:]))
		}
	}
	if err != nil {
		if errors.Is(err, ErrCorrupt) {
			return nil, errs.Wrap(errs.Internal, err, "%s failed verification", which)
		}
		return nil, fmt.Errorf("%s: %w", which, err)
	}
	return buf, nil
}
