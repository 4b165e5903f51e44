// Package blob stores artifact bytes in a bucket chosen by URL (file, s3, gs,
// azblob, mem) through gocloud.dev/blob.
//
// Every key a Store accepts passes CleanPath, so no caller can address
// anything outside the store, whatever path a client sent. Bytes are streamed,
// never held whole in memory, and writes are atomic: an object appears
// complete or not at all.
package blob

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"sort"
	"strings"
	"time"

	gcblob "gocloud.dev/blob"
	"gocloud.dev/gcerrors"

	// The drivers register their URL schemes with gocloud's default mux.
	// The native GCS driver (gcsblob) is in gcs.go behind the "gcs" build
	// tag: its gRPC and protobuf dependencies cost ~17 MB of resident memory
	// at start, which every server would pay. GCS is reachable without it
	// through its S3-compatible endpoint (s3://bucket?endpoint=https://storage.googleapis.com).
	_ "gocloud.dev/blob/azureblob"
	_ "gocloud.dev/blob/memblob"
	_ "gocloud.dev/blob/s3blob"
)

// ErrNotFound is returned, wrapped, when a key does not exist.
var ErrNotFound = errors.New("blob: not found")

// supportedSchemes are listed in errors for unknown schemes.
var supportedSchemes = []string{"file", "s3", "gs", "azblob", "mem"}

// Info describes an object or, with IsDir, a folder (a common key prefix).
type Info struct {
	Key     string // full key from the store root, without a trailing slash
	Size    int64
	ModTime time.Time
	IsDir   bool
}

// Store reads and writes artifact objects. It is safe for concurrent use.
type Store struct {
	bucket *gcblob.Bucket
	// dir is the file backend's root folder with symlinks resolved; "" for
	// other backends. It enables the checks that only a filesystem needs.
	dir string
}

// Open opens the store at rawURL:
//
//	file:///abs/path               folder, created if missing; must be writable
//	s3://bucket/prefix?region=...  also endpoint=http://..., use_path_style=true, ...
//	gs://bucket/prefix
//	azblob://container/prefix
//	mem://                          in memory, for tests
//
// Query parameters of the cloud schemes are passed to gocloud's openers. A
// path after the bucket becomes a key prefix, so several installations can
// share a bucket. Credentials come from the usual environment of each cloud.
func Open(ctx context.Context, rawURL string) (*Store, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("parsing artifact store URL: %w", err)
	}
	switch u.Scheme {
	case "file":
		return openFile(u)
	case "gs":
		if !gcblob.DefaultURLMux().ValidBucketScheme("gs") {
			return nil, fmt.Errorf("this mlcycle was built without the native GCS driver: use s3://%s?endpoint=https://storage.googleapis.com&region=auto with GCS HMAC keys, or build with -tags gcs", u.Host)
		}
		return openCloud(ctx, u)
	case "s3", "azblob", "mem":
		return openCloud(ctx, u)
	default:
		return nil, fmt.Errorf("unsupported artifact store scheme %q (supported: %s)",
			u.Scheme, strings.Join(supportedSchemes, ", "))
	}
}

// openCloud opens a bucket through gocloud's URL mux, turning the URL path
// into a key prefix.
func openCloud(ctx context.Context, u *url.URL) (*Store, error) {
	prefix, err := CleanPath(strings.TrimPrefix(u.Path, "/"), true)
	if err != nil {
		return nil, fmt.Errorf("artifact store URL prefix: %w", err)
	}
	bucketURL := *u
	bucketURL.Path, bucketURL.RawPath = "", ""
	b, err := gcblob.OpenBucket(ctx, bucketURL.String())
	if err != nil {
		return nil, fmt.Errorf("opening bucket: %w", err)
	}
	if prefix != "" {
		b = gcblob.PrefixedBucket(b, prefix+"/")
	}
	return &Store{bucket: b}, nil
}

// LocalDir is the file backend's root folder, symlinks resolved; "" for
// other backends. The dataset store writes its immutable chunks there
// directly, which costs far fewer system calls per object than Put.
func (s *Store) LocalDir() string { return s.dir }

// Close releases the bucket.
func (s *Store) Close() error {
	if err := s.bucket.Close(); err != nil {
		return fmt.Errorf("closing bucket: %w", err)
	}
	return nil
}

// Put streams r to key and returns the number of bytes stored. The object is
// written atomically: readers see the previous object (or none) until Put
// succeeds. If anything fails, including r returning an error or ctx being
// cancelled, the write is aborted, nothing is stored and Put returns 0.
func (s *Store) Put(ctx context.Context, key string, r io.Reader) (int64, error) {
	key, err := s.objectKey(key)
	if err != nil {
		return 0, err
	}
	// Cancelling the writer's context before Close is gocloud's way to abort:
	// every driver then discards what was written instead of committing it.
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w, err := s.bucket.NewWriter(wctx, key, &gcblob.WriterOptions{
		ContentType: "application/octet-stream", // skips content sniffing
	})
	if err != nil {
		return 0, fmt.Errorf("putting %q: %w", key, err)
	}
	n, err := io.Copy(w, ctxReader{ctx: ctx, r: r})
	if err != nil {
		cancel()
		_ = w.Close()
		return 0, fmt.Errorf("putting %q: %w", key, err)
	}
	if err := w.Close(); err != nil {
		return 0, fmt.Errorf("putting %q: %w", key, err)
	}
	return n, nil
}

// Get opens key for streaming and returns its size. The caller closes the
// reader; ctx must stay live until then, because it governs the reads.
func (s *Store) Get(ctx context.Context, key string) (io.ReadCloser, int64, error) {
	key, err := s.objectKey(key)
	if err != nil {
		return nil, 0, err
	}
	r, err := s.bucket.NewReader(ctx, key, nil)
	if err != nil {
		return nil, 0, wrapErr("getting", key, err)
	}
	return r, r.Size(), nil
}

// Stat describes key. A key that is not an object but has objects under it
// is reported as a folder (IsDir), since clients ask about both.
func (s *Store) Stat(ctx context.Context, key string) (Info, error) {
	key, err := s.objectKey(key)
	if err != nil {
		return Info{}, err
	}
	attrs, err := s.bucket.Attributes(ctx, key)
	if err == nil {
		return Info{Key: key, Size: attrs.Size, ModTime: attrs.ModTime}, nil
	}
	if gcerrors.Code(err) != gcerrors.NotFound {
		return Info{}, wrapErr("stat", key, err)
	}
	errFound := errors.New("found")
	err = s.walk(ctx, key+"/", func(Info) error { return errFound })
	switch {
	case errors.Is(err, errFound):
		return Info{Key: key, IsDir: true}, nil
	case err != nil:
		return Info{}, err
	}
	return Info{}, fmt.Errorf("stat %q: %w", key, ErrNotFound)
}

// List returns the direct children of the folder prefix ("" is the root):
// objects, and sub-folders with IsDir set. It is sorted by key. A missing
// folder is simply empty: object stores cannot tell the two apart.
func (s *Store) List(ctx context.Context, prefix string) ([]Info, error) {
	prefix, err := s.cleanKey(prefix, true)
	if err != nil {
		return nil, err
	}
	if prefix != "" {
		prefix += "/"
	}
	it := s.bucket.List(&gcblob.ListOptions{Prefix: prefix, Delimiter: "/"})
	var out []Info
	for {
		obj, err := it.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("listing %q: %w", prefix, err)
		}
		if !obj.IsDir && s.hidden(obj.Key) {
			continue
		}
		out = append(out, Info{
			Key:     strings.TrimSuffix(obj.Key, "/"),
			Size:    obj.Size,
			ModTime: obj.ModTime,
			IsDir:   obj.IsDir,
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// Walk calls fn for every object under the folder prefix ("" is the root), at
// any depth, and stops at the first error fn returns, returning it unchanged.
func (s *Store) Walk(ctx context.Context, prefix string, fn func(Info) error) error {
	prefix, err := s.cleanKey(prefix, true)
	if err != nil {
		return err
	}
	if prefix != "" {
		prefix += "/"
	}
	return s.walk(ctx, prefix, fn)
}

// walk visits the objects whose keys start with the raw prefix.
func (s *Store) walk(ctx context.Context, prefix string, fn func(Info) error) error {
	it := s.bucket.List(&gcblob.ListOptions{Prefix: prefix})
	for {
		obj, err := it.Next(ctx)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("listing %q: %w", prefix, err)
		}
		if s.hidden(obj.Key) {
			continue
		}
		if err := fn(Info{Key: obj.Key, Size: obj.Size, ModTime: obj.ModTime}); err != nil {
			return err
		}
	}
}

// Delete removes the object key.
func (s *Store) Delete(ctx context.Context, key string) error {
	key, err := s.objectKey(key)
	if err != nil {
		return err
	}
	if s.dir != "" {
		// fileblob would remove an empty directory named key, or fail on a
		// full one; check that key is an object, as the other backends do.
		if _, err := s.bucket.Attributes(ctx, key); err != nil {
			return wrapErr("deleting", key, err)
		}
	}
	if err := s.bucket.Delete(ctx, key); err != nil {
		return wrapErr("deleting", key, err)
	}
	return nil
}

// DeletePrefix removes everything under the folder prefix. It is not an
// error if there is nothing there. The empty prefix is refused: it would wipe
// the whole store.
func (s *Store) DeletePrefix(ctx context.Context, prefix string) error {
	prefix, err := s.cleanKey(prefix, true)
	if err != nil {
		return err
	}
	if prefix == "" {
		return fmt.Errorf("%w: refusing to delete everything (empty prefix)", ErrInvalidPath)
	}
	if s.dir != "" {
		return s.removeDir(prefix)
	}
	return s.walk(ctx, prefix+"/", func(info Info) error {
		err := s.bucket.Delete(ctx, info.Key)
		if err != nil && gcerrors.Code(err) != gcerrors.NotFound { // gone already is fine
			return fmt.Errorf("deleting %q: %w", info.Key, err)
		}
		return nil
	})
}

// cleanKey applies CleanPath and, on the file backend, the symlink check.
// Store methods repeat what callers should already have done: defence in
// depth for the one rule that must never break.
func (s *Store) cleanKey(key string, allowEmpty bool) (string, error) {
	key, err := CleanPath(key, allowEmpty)
	if err != nil {
		return "", err
	}
	if s.dir != "" {
		if err := s.confine(key); err != nil {
			return "", err
		}
	}
	return key, nil
}

// objectKey is cleanKey for a single object, which also may not use a name
// the backend reserves for itself.
func (s *Store) objectKey(key string) (string, error) {
	key, err := s.cleanKey(key, false)
	if err != nil {
		return "", err
	}
	if s.hidden(key) {
		return "", invalidPath(key, "uses a name reserved by the file store")
	}
	return key, nil
}

// hidden reports listing entries that are not artifacts: folder markers some
// S3 tools create ("a/"), and the file backend's temp and metadata files.
func (s *Store) hidden(key string) bool {
	return strings.HasSuffix(key, "/") || (s.dir != "" && reservedFileName(key))
}

// wrapErr adds context and turns a backend's not-found into ErrNotFound.
func wrapErr(op, key string, err error) error {
	if gcerrors.Code(err) == gcerrors.NotFound {
		return fmt.Errorf("%s %q: %w", op, key, ErrNotFound)
	}
	return fmt.Errorf("%s %q: %w", op, key, err)
}

// ctxReader stops a copy as soon as ctx is done, instead of streaming the
// rest of a large upload into a write that will be discarded anyway.
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

// WriteTo lets io.Copy hand an in-memory source straight to the writer:
// without it the bucket writer's ReadFrom allocates and zeroes a 1 MiB
// buffer per object, which dominated adding many small dataset chunks.
// Streamed sources keep going through Read, so cancellation stays prompt.
func (c ctxReader) WriteTo(w io.Writer) (int64, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	if br, ok := c.r.(*bytes.Reader); ok {
		return br.WriteTo(w)
	}
	return io.CopyBuffer(w, struct{ io.Reader }{c}, make([]byte, 64<<10))
}
