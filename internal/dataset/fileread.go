package dataset

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"

	"github.com/mlcycle/mlcycle/internal/errs"
)

// FileReader reads one file of a version from the store, for serving it
// (it is an io.ReadSeeker, so HTTP range requests work). Each chunk is
// read whole and checked against its hash before any of its bytes are
// returned: a damaged store gives an error, never wrong bytes. It holds one
// chunk in memory at a time.
type FileReader struct {
	ctx    context.Context
	open   func(context.Context, string) (io.ReadCloser, error)
	file   FileEntry
	chunks []Chunk
	starts []int64 // starts[i] is the offset of chunks[i] in the file
	pos    int64
	cur    int // index of the chunk in buf, -1 if none
	buf    []byte
	err    error // the first read error, sticky
}

// OpenFile opens the file at path (a dataset path, "data/train.csv") of
// the version ref names. The reader uses ctx for every read.
func (s *Service) OpenFile(ctx context.Context, ref, path string) (Version, *FileReader, error) {
	v, m, err := s.resolveManifest(ctx, ref)
	if err != nil {
		return Version{}, nil, err
	}
	f, ok := m.File(path)
	if !ok {
		return Version{}, nil, errs.E(errs.NotFound, "%s has no file %q", v.Ref(), path)
	}
	open, err := s.chunkOpener(ctx, chunkHashes([]FileEntry{f}))
	if err != nil {
		return Version{}, nil, err
	}
	fr, err := newFileReader(ctx, open, f)
	if err != nil {
		return Version{}, nil, err
	}
	return v, fr, nil
}

// FileSet is the files of a version opened together (OpenFiles): their
// chunks are looked up once for all of them.
type FileSet struct {
	Version Version
	Files   []FileEntry
	ctx     context.Context
	open    func(context.Context, string) (io.ReadCloser, error)
}

// OpenFiles opens the files of the version ref names, all of them or those
// of paths (files, or folders meaning the files under them), as get
// selects them.
func (s *Service) OpenFiles(ctx context.Context, ref string, paths []string) (*FileSet, error) {
	v, m, err := s.resolveManifest(ctx, ref)
	if err != nil {
		return nil, err
	}
	files, err := selectFiles(m, paths)
	if err != nil {
		return nil, err
	}
	open, err := s.chunkOpener(ctx, chunkHashes(files))
	if err != nil {
		return nil, err
	}
	return &FileSet{Version: v, Files: files, ctx: ctx, open: open}, nil
}

// Reader returns a reader of file i of the set.
func (fs *FileSet) Reader(i int) (*FileReader, error) {
	return newFileReader(fs.ctx, fs.open, fs.Files[i])
}

func (s *Service) resolveManifest(ctx context.Context, ref string) (Version, Manifest, error) {
	v, err := s.Resolve(ctx, ref)
	if err != nil {
		return Version{}, Manifest{}, err
	}
	m, err := s.manifest(ctx, v)
	if err != nil {
		return Version{}, Manifest{}, err
	}
	return v, m, nil
}

// chunkHashes lists the distinct chunks of files.
func chunkHashes(files []FileEntry) []string {
	var out []string
	seen := map[string]bool{}
	for _, f := range files {
		for _, c := range f.ChunkList() {
			if !seen[c.Hash] {
				seen[c.Hash] = true
				out = append(out, c.Hash)
			}
		}
	}
	return out
}

// newFileReader checks f's chunk list against its hash and size.
func newFileReader(ctx context.Context, open func(context.Context, string) (io.ReadCloser, error), f FileEntry) (*FileReader, error) {
	chunks := f.ChunkList()
	if len(chunks) > 1 {
		got, err := ChunkListHash(chunks)
		if err != nil || got != f.Hash {
			return nil, errs.Wrap(errs.Internal, ErrCorrupt, "%s: its chunk list does not hash to %s as recorded", f.Path, f.Hash)
		}
	}
	starts := make([]int64, len(chunks))
	var off int64
	for i, c := range chunks {
		starts[i] = off
		off += c.Size
	}
	if off != f.Size {
		return nil, errs.Wrap(errs.Internal, ErrCorrupt, "%s: its chunks add up to %d bytes, not %d as recorded", f.Path, off, f.Size)
	}
	return &FileReader{ctx: ctx, open: open, file: f, chunks: chunks, starts: starts, cur: -1}, nil
}

// File is the manifest entry of the file being read.
func (r *FileReader) File() FileEntry { return r.file }

// Read implements io.Reader.
func (r *FileReader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	if r.pos >= r.file.Size {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	// the chunk holding pos: the last one starting at or before it
	i := sort.Search(len(r.starts), func(i int) bool { return r.starts[i] > r.pos }) - 1
	if i != r.cur {
		buf, err := loadChunk(r.ctx, r.open, r.file, i, len(r.chunks), r.chunks[i], r.buf)
		if err != nil {
			r.err, r.cur = err, -1
			return 0, err
		}
		r.buf, r.cur = buf, i
	}
	n := copy(p, r.buf[r.pos-r.starts[i]:])
	r.pos += int64(n)
	return n, nil
}

// Seek implements io.Seeker. Seeking never reads; the next Read loads the
// chunk it lands in.
func (r *FileReader) Seek(offset int64, whence int) (int64, error) {
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = offset
	case io.SeekCurrent:
		abs = r.pos + offset
	case io.SeekEnd:
		abs = r.file.Size + offset
	default:
		return 0, errors.New("seek: invalid whence")
	}
	if abs < 0 {
		return 0, fmt.Errorf("seek: negative position %d", abs)
	}
	r.pos = abs
	return abs, nil
}
