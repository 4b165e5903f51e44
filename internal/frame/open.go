package frame

import (
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
)

// Detect returns the table format of path by its extension: .csv, .tsv/.tab,
// .jsonl/.ndjson, .parquet/.pq, each optionally followed by .gz (not for
// Parquet). Anything else is ErrUnknownFormat.
func Detect(path string) (Format, error) {
	name := strings.ToLower(filepath.Base(path))
	name = strings.TrimSuffix(name, ".gz")
	switch filepath.Ext(name) {
	case ".csv":
		return FormatCSV, nil
	case ".tsv", ".tab":
		return FormatTSV, nil
	case ".jsonl", ".ndjson":
		return FormatJSONL, nil
	case ".parquet", ".pq":
		if strings.HasSuffix(strings.ToLower(path), ".gz") {
			return "", fmt.Errorf("%s: %w (gzip-compressed Parquet is not supported)", path, ErrUnknownFormat)
		}
		return FormatParquet, nil
	}
	return "", fmt.Errorf("%s: %w", path, ErrUnknownFormat)
}

// Open opens the table file at path. The format comes from opts.Format or,
// when empty, from Detect; a .gz suffix is decompressed on the fly. Errors
// name the path.
func Open(path string, opts Options) (Reader, error) {
	f := opts.Format
	if f == "" {
		var err error
		if f, err = Detect(path); err != nil {
			return nil, err
		}
	}
	file, err := os.Open(path)
	if err != nil {
		return nil, err // *fs.PathError names the file
	}
	if f == FormatParquet {
		st, err := file.Stat()
		if err != nil {
			file.Close()
			return nil, err
		}
		if st.IsDir() {
			file.Close()
			return nil, &ParseError{File: path, RowGroup: -1, Msg: "is a directory"}
		}
		var ra io.ReaderAt = file
		if opts.Progress != nil {
			ra = &countingReaderAt{r: file, progress: opts.Progress}
		}
		r, err := openParquet(ra, st.Size(), path, opts)
		if err != nil {
			file.Close()
			return nil, err
		}
		r.closer = file
		return r, nil
	}
	var src io.Reader = file
	if opts.Progress != nil {
		src = &countingReader{r: file, progress: opts.Progress}
	}
	closer := io.Closer(file)
	if strings.HasSuffix(strings.ToLower(path), ".gz") {
		zr, err := gzip.NewReader(src)
		if err != nil {
			file.Close()
			return nil, &ParseError{File: path, RowGroup: -1, Msg: "reading gzip header", Err: err}
		}
		src = zr
	}
	r, err := openStream(src, path, f, opts, closer)
	if err != nil {
		file.Close()
		return nil, err
	}
	return r, nil
}

// OpenReader reads a CSV, TSV or JSON Lines table from a stream; name is
// used in error messages. The caller keeps ownership of r. Parquet needs
// random access: use OpenParquet.
func OpenReader(r io.Reader, name string, f Format, opts Options) (Reader, error) {
	if f == FormatParquet {
		if ra, ok := r.(interface {
			io.ReaderAt
			io.Seeker
		}); ok {
			size, err := ra.Seek(0, io.SeekEnd)
			if err != nil {
				return nil, &ParseError{File: name, RowGroup: -1, Msg: "finding the size", Err: err}
			}
			return OpenParquet(ra, size, name, opts)
		}
		return nil, &ParseError{File: name, RowGroup: -1, Msg: "parquet needs random access (use OpenParquet)"}
	}
	return openStream(r, name, f, opts, nil)
}

func openStream(r io.Reader, name string, f Format, opts Options, closer io.Closer) (Reader, error) {
	opts.Format = f
	switch f {
	case FormatCSV:
		if opts.Delimiter == 0 {
			opts.Delimiter = ','
		}
		return newCSVReader(r, name, opts, closer)
	case FormatTSV:
		if opts.Delimiter == 0 {
			opts.Delimiter = '\t'
		}
		return newCSVReader(r, name, opts, closer)
	case FormatJSONL:
		return newJSONLReader(r, name, opts, closer)
	}
	return nil, fmt.Errorf("%s: %w %q", name, ErrUnknownFormat, f)
}

func defaultWorkers() int {
	return min(runtime.GOMAXPROCS(0), 8)
}

// countingReader reports the bytes read through it.
type countingReader struct {
	r        io.Reader
	n        int64
	progress func(int64)
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 {
		c.n += int64(n)
		c.progress(c.n)
	}
	return n, err
}

// countingReaderAt reports the bytes read through it. Parquet column chunks
// may be read concurrently, so the count is shared and the calls serialised.
type countingReaderAt struct {
	r        io.ReaderAt
	mu       sync.Mutex
	n        int64
	progress func(int64)
}

func (c *countingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(p, off)
	if n > 0 {
		c.mu.Lock()
		c.n += int64(n)
		c.progress(c.n)
		c.mu.Unlock()
	}
	return n, err
}
