package dataset

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	chunkers "github.com/PlakarKorp/go-cdc-chunkers"
	"github.com/mlcycle/mlcycle/internal/actor"
	"github.com/mlcycle/mlcycle/internal/audit"
	"github.com/mlcycle/mlcycle/internal/blob"
	"github.com/mlcycle/mlcycle/internal/errs"
	"github.com/mlcycle/mlcycle/internal/store"
	"github.com/mlcycle/mlcycle/internal/store/storetest"
)

func testMigrations() []store.Migration {
	return append(audit.Migrations(), Migrations()...)
}

// clock is real time plus an offset the test can advance, so that the
// blob store's real modification times and the service's clock agree.
type clock struct{ offset atomic.Int64 }

func (c *clock) now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *clock) advance(d time.Duration) { c.offset.Add(int64(d)) }

type env struct {
	svc       *Service
	db        *store.DB
	log       *audit.Log
	blobs     *blob.Store
	blobDir   string
	statePath string
	clock     *clock
	ctx       context.Context
}

// newEnv builds a Service over db with a file:// blob store and a state
// cache in temporary folders.
func newEnv(t testing.TB, db *store.DB, opts Options) *env {
	t.Helper()
	dir := t.TempDir()
	blobDir := filepath.Join(dir, "blobs")
	bs, err := blob.Open(context.Background(), "file://"+blobDir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bs.Close() })
	c := &clock{}
	if opts.Now == nil {
		opts.Now = c.now
	}
	if opts.StatePath == "" {
		opts.StatePath = filepath.Join(dir, "state.db")
	}
	log := audit.New(db, audit.Options{Now: opts.Now})
	svc := New(db, log, bs, opts)
	t.Cleanup(func() { svc.Close() })
	return &env{
		svc: svc, db: db, log: log, blobs: bs, blobDir: blobDir, statePath: opts.StatePath, clock: c,
		ctx: actor.With(context.Background(), actor.Actor{UserID: 2, Name: "ed", Role: "editor", RequestID: "req-1"}),
	}
}

func each(t *testing.T, fn func(t *testing.T, e *env)) {
	storetest.Each(t, testMigrations(), func(t *testing.T, db *store.DB) { fn(t, newEnv(t, db, Options{})) })
}

// add adds paths (base folder: base) and fails the test on error.
func (e *env) add(t testing.TB, name, base string, paths ...string) AddResult {
	t.Helper()
	if len(paths) == 0 {
		paths = []string{base}
	}
	res, err := e.svc.Add(e.ctx, AddInput{Name: name, BaseDir: base, Paths: paths})
	if err != nil {
		t.Fatalf("adding %s: %v", name, err)
	}
	return res
}

// events returns the audit actions recorded so far, in order.
func (e *env) events(t testing.TB) []string {
	t.Helper()
	list, err := e.log.List(e.ctx, audit.Filter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, ev := range list {
		out = append(out, ev.Action+" "+ev.ResourceID)
	}
	return out
}

// objects counts the objects under cas/ in the blob folder and their bytes
// (not the temporary files of writes in progress).
func (e *env) objects(t testing.TB) (n, size int64) {
	t.Helper()
	n, size, err := countObjects(filepath.Join(e.blobDir, "cas"))
	if err != nil {
		t.Fatal(err)
	}
	return n, size
}

// countObjects is objects without a test, for use in other goroutines.
// Files that vanish while it walks (renamed temporary files) are skipped.
func countObjects(dir string) (n, size int64, err error) {
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil || d.IsDir() || strings.HasSuffix(p, ".tmp") {
			return err
		}
		info, err := d.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		n++
		size += info.Size()
		return nil
	})
	return n, size, err
}

func wantCode(t testing.TB, err error, code errs.Code, contains ...string) {
	t.Helper()
	if errs.CodeOf(err) != code {
		t.Fatalf("error %v (kind %q), want kind %q", err, errs.CodeOf(err), code)
	}
	for _, s := range contains {
		if !strings.Contains(err.Error(), s) {
			t.Fatalf("error %q does not mention %q", err, s)
		}
	}
}

// randBytes returns n deterministic pseudo-random bytes.
func randBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		v := r.Uint64()
		for k := range 8 {
			b[i+k] = byte(v >> (8 * k))
		}
	}
	for i := n - n%8; i < n; i++ {
		b[i] = byte(r.Uint32())
	}
	return b
}

// csvBytes returns a CSV of about n bytes with rows numbered from first.
func csvBytes(first, n int) []byte {
	var b bytes.Buffer
	if first == 0 {
		b.WriteString("id,name,value,score\n")
	}
	r := rand.New(rand.NewPCG(uint64(first), 7))
	for i := first; b.Len() < n; i++ {
		fmt.Fprintf(&b, "%d,name-%d,%d,%.6f\n", i, r.IntN(100000), r.IntN(1<<30), r.Float64())
	}
	return b.Bytes()
}

// writeFile writes data at dir/rel with an mtime an hour old, so the state
// cache does not treat it as racy.
func writeFile(t testing.TB, dir, rel string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(p, old, old); err != nil {
		t.Fatal(err)
	}
	return p
}

// sameTree fails unless every file under want is in got with equal bytes,
// and got has nothing else.
func sameTree(t testing.TB, want, got string) {
	t.Helper()
	files := map[string]bool{}
	err := filepath.WalkDir(want, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(want, p)
		files[rel] = true
		a, _ := os.ReadFile(p)
		b, err := os.ReadFile(filepath.Join(got, rel))
		if err != nil {
			t.Errorf("%s: %v", rel, err)
			return nil
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s: bytes differ (%d vs %d bytes)", rel, len(a), len(b))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = filepath.WalkDir(got, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(got, p)
		if !files[rel] {
			t.Errorf("unexpected file %s in output", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func storetestSQLite(t testing.TB) *store.DB { return storetest.SQLite(t, testMigrations()) }

// sequentialCuts is what one cutter from the start finds: chunk lengths.
func sequentialCuts(t *testing.T, data []byte) []int64 {
	t.Helper()
	c, err := newChunker(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	return chunkLengths(t, c)
}

// chunkLengths reads c to its end and returns the lengths of its chunks.
func chunkLengths(t testing.TB, c *chunkers.Chunker) []int64 {
	t.Helper()
	var out []int64
	for {
		b, err := c.Next()
		if err != nil && err != io.EOF {
			t.Fatal(err)
		}
		if len(b) > 0 {
			out = append(out, int64(len(b)))
		}
		if err == io.EOF || len(b) == 0 {
			return out
		}
	}
}

// getSame gets ref into a fresh folder and fails unless it holds exactly
// the files of want, byte for byte.
func (e *env) getSame(t testing.TB, ref, want string) {
	t.Helper()
	out := t.TempDir()
	if _, err := e.svc.Get(e.ctx, ref, out, GetOptions{}); err != nil {
		t.Fatalf("get %s: %v", ref, err)
	}
	sameTree(t, want, out)
}

// flipStoredByte flips the byte at off of the stored chunk hash, wherever
// it is stored (a pack or a file of its own), and returns its place, the
// file and the file's new bytes.
func flipStoredByte(t testing.TB, e *env, hash string, off int64) (at storedChunk, path string, b []byte) {
	t.Helper()
	at, err := e.svc.chunkPlace(e.ctx, hash)
	if err != nil {
		t.Fatal(err)
	}
	path = filepath.Join(e.blobDir, filepath.FromSlash(ChunkKey(hash)))
	if at.Pack != "" {
		path = e.svc.files.packPath(at.Pack)
	}
	if b, err = os.ReadFile(path); err != nil {
		t.Fatal(err)
	}
	b[at.Offset+off] ^= 1
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return at, path, b
}
