package blob

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// testEnv is one freshly opened store; dir is its folder on the file backend.
type testEnv struct {
	s   *Store
	dir string
}

// backends opens an empty store of each kind. Every test in the conformance
// suite runs against all of them.
var backends = []struct {
	name string
	open func(t *testing.T) testEnv
}{
	{"file", func(t *testing.T) testEnv {
		dir := filepath.Join(t.TempDir(), "artifacts") // also checks that Open creates it
		return testEnv{s: openStore(t, "file://"+filepath.ToSlash(dir)), dir: dir}
	}},
	{"mem", func(t *testing.T) testEnv {
		return testEnv{s: openStore(t, "mem://")}
	}},
	{"s3", func(t *testing.T) testEnv {
		return testEnv{s: openStore(t, newFakeS3(t))}
	}},
}

// newFakeS3 starts an in-process S3 server on 127.0.0.1 and returns a store
// URL for a bucket in it, with a key prefix to exercise PrefixedBucket.
func newFakeS3(t *testing.T) string {
	t.Helper()
	// Static credentials, and no config files or instance metadata: the SDK
	// must never reach for the network beyond our server.
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))

	backend := s3mem.New()
	if err := backend.CreateBucket("artifacts"); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gofakes3.New(backend).Server())
	t.Cleanup(srv.Close)
	q := url.Values{
		"endpoint":       {srv.URL},
		"region":         {"us-east-1"},
		"use_path_style": {"true"},
		// The fake returns no checksums; don't log a warning for each read.
		"response_checksum_validation": {"when_required"},
	}
	return "s3://artifacts/team/mlcycle?" + q.Encode()
}

func openStore(t *testing.T, rawURL string) *Store {
	t.Helper()
	s, err := Open(t.Context(), rawURL)
	if err != nil {
		t.Fatalf("Open(%q): %v", rawURL, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func TestStore(t *testing.T) {
	tests := []struct {
		name string
		fn   func(t *testing.T, e testEnv)
	}{
		{"PutGet", testPutGet},
		{"Stat", testStat},
		{"List", testList},
		{"Walk", testWalk},
		{"Delete", testDelete},
		{"DeletePrefix", testDeletePrefix},
		{"InvalidKeys", testInvalidKeys},
		{"FailedPutLeavesNothing", testFailedPut},
		{"CancelledPutLeavesNothing", testCancelledPut},
		{"Large", testLarge},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) { tc.fn(t, b.open(t)) })
			}
		})
	}
}

func testPutGet(t *testing.T, e testEnv) {
	for _, obj := range []struct{ key, data string }{
		{"a.txt", "hello"},
		{"dir/sub/model.bin", "\x00\x01binary\xff"},
		{"empty", ""},
		{"données/файл.txt", "unicode"},
		{"a.txt", "replaced"}, // overwrite
	} {
		n, err := e.s.Put(t.Context(), obj.key, strings.NewReader(obj.data))
		if err != nil || n != int64(len(obj.data)) {
			t.Fatalf("Put(%q) = %d, %v; want %d", obj.key, n, err, len(obj.data))
		}
		if got := mustGet(t, e.s, obj.key); got != obj.data {
			t.Fatalf("Get(%q) = %q; want %q", obj.key, got, obj.data)
		}
	}
	// Keys are cleaned the same way on the way in and out.
	if got := mustGet(t, e.s, "./dir//sub/model.bin"); got != "\x00\x01binary\xff" {
		t.Fatalf("Get of uncleaned key = %q", got)
	}
	if _, _, err := e.s.Get(t.Context(), "missing"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get(missing) error %v; want ErrNotFound", err)
	}
	if _, _, err := e.s.Get(t.Context(), "dir/sub"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get(folder) error %v; want ErrNotFound", err)
	}
}

func testStat(t *testing.T, e testEnv) {
	before := time.Now().Add(-time.Minute)
	mustPut(t, e.s, "d/f.txt", "12345")
	info, err := e.s.Stat(t.Context(), "d/f.txt")
	if err != nil {
		t.Fatal(err)
	}
	if info.Key != "d/f.txt" || info.Size != 5 || info.IsDir || info.ModTime.Before(before) {
		t.Fatalf("Stat(file) = %+v", info)
	}
	info, err = e.s.Stat(t.Context(), "d/")
	if err != nil || info != (Info{Key: "d", IsDir: true}) {
		t.Fatalf("Stat(folder) = %+v, %v", info, err)
	}
	if _, err := e.s.Stat(t.Context(), "d/missing"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Stat(missing) error %v; want ErrNotFound", err)
	}
}

func testList(t *testing.T, e testEnv) {
	for _, k := range []string{"a.txt", "b/c.txt", "b/d/e.txt", "b-x", "c", "b/d/f/g.txt"} {
		mustPut(t, e.s, k, "data:"+k)
	}
	tests := []struct {
		prefix string
		want   []string // folders end in "/" here for readability
	}{
		{"", []string{"a.txt", "b/", "b-x", "c"}}, // sorted by key: "b" < "b-x"
		{"b", []string{"b/c.txt", "b/d/"}},
		{"./b/", []string{"b/c.txt", "b/d/"}},
		{"b/d", []string{"b/d/e.txt", "b/d/f/"}},
		{"missing", nil},
		{"a.txt", nil}, // a file is not a folder
	}
	for _, tc := range tests {
		infos, err := e.s.List(t.Context(), tc.prefix)
		if err != nil {
			t.Fatalf("List(%q): %v", tc.prefix, err)
		}
		var got []string
		for _, in := range infos {
			switch {
			case in.IsDir:
				got = append(got, in.Key+"/")
			case in.Size != int64(len("data:"+in.Key)):
				t.Errorf("List(%q): %q has size %d", tc.prefix, in.Key, in.Size)
				fallthrough
			default:
				got = append(got, in.Key)
			}
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("List(%q) = %q; want %q", tc.prefix, got, tc.want)
		}
	}
}

func testWalk(t *testing.T, e testEnv) {
	keys := []string{"a.txt", "b/c.txt", "b/d/e.txt", "b-x", "bb/x"}
	for _, k := range keys {
		mustPut(t, e.s, k, k)
	}
	walk := func(prefix string) []string {
		var got []string
		err := e.s.Walk(t.Context(), prefix, func(in Info) error {
			if in.IsDir || in.Size != int64(len(in.Key)) {
				t.Errorf("Walk gave %+v", in)
			}
			got = append(got, in.Key)
			return nil
		})
		if err != nil {
			t.Fatalf("Walk(%q): %v", prefix, err)
		}
		slices.Sort(got)
		return got
	}
	if got := walk(""); !slices.Equal(got, []string{"a.txt", "b-x", "b/c.txt", "b/d/e.txt", "bb/x"}) {
		t.Errorf("Walk(root) = %q", got)
	}
	if got := walk("b"); !slices.Equal(got, []string{"b/c.txt", "b/d/e.txt"}) {
		t.Errorf("Walk(b) = %q", got)
	}
	if got := walk("nothing"); got != nil {
		t.Errorf("Walk(nothing) = %q", got)
	}
	stop := errors.New("stop")
	calls := 0
	err := e.s.Walk(t.Context(), "", func(Info) error { calls++; return stop })
	if err != stop || calls != 1 {
		t.Errorf("Walk with failing fn = %v after %d calls; want stop after 1", err, calls)
	}
}

func testDelete(t *testing.T, e testEnv) {
	mustPut(t, e.s, "x/y.txt", "y")
	mustPut(t, e.s, "x/z.txt", "z")
	if err := e.s.Delete(t.Context(), "x/y.txt"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.s.Get(t.Context(), "x/y.txt"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get after Delete error %v; want ErrNotFound", err)
	}
	if err := e.s.Delete(t.Context(), "x/y.txt"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second Delete error %v; want ErrNotFound", err)
	}
	// A folder is not an object.
	if err := e.s.Delete(t.Context(), "x"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Delete(folder) error %v; want ErrNotFound", err)
	}
	if got := mustGet(t, e.s, "x/z.txt"); got != "z" {
		t.Fatalf("sibling changed: %q", got)
	}
}

func testDeletePrefix(t *testing.T, e testEnv) {
	for _, k := range []string{"run/1/a", "run/1/sub/b", "run/1x", "run/10/c", "keep"} {
		mustPut(t, e.s, k, k)
	}
	if err := e.s.DeletePrefix(t.Context(), "run/1"); err != nil {
		t.Fatal(err)
	}
	if got := walkKeys(t, e.s, ""); !slices.Equal(got, []string{"keep", "run/10/c", "run/1x"}) {
		t.Fatalf("after DeletePrefix(run/1): %q", got)
	}
	if l, err := e.s.List(t.Context(), "run"); err != nil || len(l) != 2 {
		t.Fatalf("List(run) = %+v, %v; want the folder gone", l, err)
	}
	// Deleting nothing is fine; a file is not a folder.
	if err := e.s.DeletePrefix(t.Context(), "nothing/here"); err != nil {
		t.Fatal(err)
	}
	if err := e.s.DeletePrefix(t.Context(), "keep"); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"", ".", "/", "./"} {
		if err := e.s.DeletePrefix(t.Context(), p); !errors.Is(err, ErrInvalidPath) {
			t.Fatalf("DeletePrefix(%q) error %v; want ErrInvalidPath", p, err)
		}
	}
	if got := walkKeys(t, e.s, ""); len(got) != 3 {
		t.Fatalf("objects lost: %q", got)
	}
}

func testInvalidKeys(t *testing.T, e testEnv) {
	mustPut(t, e.s, "ok", "ok")
	ctx := t.Context()
	for _, key := range []string{"../x", "/etc/passwd", "%2e%2e/x", "a/..;/b", "file:///etc/passwd", "a\\b"} {
		_, putErr := e.s.Put(ctx, key, strings.NewReader("x"))
		_, _, getErr := e.s.Get(ctx, key)
		_, statErr := e.s.Stat(ctx, key)
		_, listErr := e.s.List(ctx, key)
		walkErr := e.s.Walk(ctx, key, func(Info) error { return nil })
		delErr := e.s.Delete(ctx, key)
		delPrefixErr := e.s.DeletePrefix(ctx, key)
		for _, err := range []error{putErr, getErr, statErr, listErr, walkErr, delErr, delPrefixErr} {
			if !errors.Is(err, ErrInvalidPath) {
				t.Errorf("key %q: error %v; want ErrInvalidPath", key, err)
			}
		}
	}
	for _, key := range []string{"", ".", "/"} {
		if _, err := e.s.Put(ctx, key, strings.NewReader("x")); !errors.Is(err, ErrInvalidPath) {
			t.Errorf("Put(%q) error %v; want ErrInvalidPath", key, err)
		}
	}
	if got := walkKeys(t, e.s, ""); !slices.Equal(got, []string{"ok"}) {
		t.Fatalf("store changed: %q", got)
	}
}

// failingReader yields n bytes and then fails.
type failingReader struct {
	n   int
	err error
}

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, r.err
	}
	m := min(len(p), r.n)
	clear(p[:m])
	r.n -= m
	return m, nil
}

func testFailedPut(t *testing.T, e testEnv) {
	mustPut(t, e.s, "old.bin", "previous")
	boom := errors.New("boom")
	for _, key := range []string{"broken.bin", "deep/er/broken.bin", "old.bin"} {
		// More than one S3 part (5 MiB), so the multipart path is aborted too.
		n, err := e.s.Put(t.Context(), key, &failingReader{n: 6 << 20, err: boom})
		if !errors.Is(err, boom) || n != 0 {
			t.Fatalf("Put(%q) = %d, %v; want 0, boom", key, n, err)
		}
	}
	if got := mustGet(t, e.s, "old.bin"); got != "previous" {
		t.Fatalf("failed overwrite changed the object to %d bytes", len(got))
	}
	if got := walkKeys(t, e.s, ""); !slices.Equal(got, []string{"old.bin"}) {
		t.Fatalf("objects after failed puts: %q", got)
	}
	assertOnlyFiles(t, e, "old.bin")
}

func testCancelledPut(t *testing.T, e testEnv) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	// The reader cancels the context halfway through the stream.
	r := io.MultiReader(&failingReader{n: 1 << 20, err: io.EOF}, readerFunc(func(p []byte) (int, error) {
		cancel()
		return len(p), nil
	}), &failingReader{n: 1 << 20, err: io.EOF})
	if _, err := e.s.Put(ctx, "cancelled.bin", r); !errors.Is(err, context.Canceled) {
		t.Fatalf("Put error %v; want context.Canceled", err)
	}
	if _, _, err := e.s.Get(t.Context(), "cancelled.bin"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get after cancelled Put error %v; want ErrNotFound", err)
	}
	assertOnlyFiles(t, e)
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

// testLarge streams 64 MiB through the store and checks it comes back intact.
// On the file backend it also checks that memory use does not grow with the
// object: neither side may buffer it whole.
func testLarge(t *testing.T, e testEnv) {
	if testing.Short() && e.dir == "" {
		t.Skip("large object in memory backends")
	}
	const size = 64 << 20
	src := io.LimitReader(rand.NewChaCha8([32]byte{1}), size)
	putHash, getHash := sha256.New(), sha256.New()

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	n, err := e.s.Put(t.Context(), "big/blob.bin", io.TeeReader(src, putHash))
	if err != nil || n != size {
		t.Fatalf("Put = %d, %v", n, err)
	}
	rc, gotSize, err := e.s.Get(t.Context(), "big/blob.bin")
	if err != nil || gotSize != size {
		t.Fatalf("Get = %d, %v", gotSize, err)
	}
	m, err := io.Copy(getHash, rc)
	if err != nil || m != size {
		t.Fatalf("reading = %d, %v", m, err)
	}
	if err := rc.Close(); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)

	if !bytes.Equal(putHash.Sum(nil), getHash.Sum(nil)) {
		t.Fatal("checksum mismatch")
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; e.dir != "" && alloc > size/8 {
		t.Errorf("allocated %d MiB for a %d MiB object; want streaming", alloc>>20, size>>20)
	}
}

func TestFileSymlinkEscape(t *testing.T) {
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret.txt"), []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	s := openStore(t, "file://"+dir)
	mustPut(t, s, "inner/ok.txt", "ok")
	for name, target := range map[string]string{
		"link":          outside,
		"file-link":     filepath.Join(outside, "secret.txt"),
		"inner/up":      "../..",
		"dangling":      filepath.Join(outside, "nothing"),
		"inside-link":   filepath.Join(dir, "inner"), // stays inside: allowed
		"inner/relback": "../inner",                  // stays inside: allowed
	} {
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}

	ctx := t.Context()
	for _, key := range []string{"link/secret.txt", "file-link", "inner/up/x", "link/new.txt", "dangling", "dangling/x"} {
		_, putErr := s.Put(ctx, key, strings.NewReader("pwned"))
		rc, _, getErr := s.Get(ctx, key)
		if rc != nil {
			rc.Close()
		}
		_, statErr := s.Stat(ctx, key)
		delErr := s.Delete(ctx, key)
		for _, err := range []error{putErr, getErr, statErr, delErr} {
			if !errors.Is(err, ErrInvalidPath) {
				t.Errorf("key %q: error %v; want ErrInvalidPath", key, err)
			}
		}
	}
	for _, prefix := range []string{"link", "inner/up"} {
		_, listErr := s.List(ctx, prefix)
		walkErr := s.Walk(ctx, prefix, func(Info) error { return nil })
		delErr := s.DeletePrefix(ctx, prefix)
		for _, err := range []error{listErr, walkErr, delErr} {
			if !errors.Is(err, ErrInvalidPath) {
				t.Errorf("prefix %q: error %v; want ErrInvalidPath", prefix, err)
			}
		}
	}
	entries, err := os.ReadDir(outside)
	if err != nil || len(entries) != 1 {
		t.Fatalf("outside folder changed: %v, %v", entries, err)
	}
	if b, err := os.ReadFile(filepath.Join(outside, "secret.txt")); err != nil || string(b) != "secret" {
		t.Fatalf("secret changed: %q, %v", b, err)
	}

	// Links that resolve inside the root are fine.
	for _, key := range []string{"inside-link/ok.txt", "inner/relback/ok.txt"} {
		if got := mustGet(t, s, key); got != "ok" {
			t.Errorf("Get(%q) = %q", key, got)
		}
	}
}

func TestFileOpen(t *testing.T) {
	tmp := t.TempDir()
	afile := filepath.Join(tmp, "afile")
	if err := os.WriteFile(afile, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Open(t.Context(), "file://"+afile+"/sub")
	if err == nil || !strings.Contains(err.Error(), afile+"/sub") || !strings.Contains(err.Error(), "choose") {
		t.Fatalf("Open under a regular file: %v; want an error naming the folder and the fix", err)
	}

	if os.Geteuid() != 0 { // root ignores permissions
		ro := filepath.Join(tmp, "readonly")
		if err := os.Mkdir(ro, 0o500); err != nil {
			t.Fatal(err)
		}
		_, err := Open(t.Context(), "file://"+ro)
		if err == nil || !strings.Contains(err.Error(), "not writable") || !strings.Contains(err.Error(), ro) {
			t.Fatalf("Open read-only folder: %v", err)
		}
	}

	for _, u := range []string{"file://./relative", "file://host/x", "file:///tmp/x?create_dir=1", "file:relative"} {
		if _, err := Open(t.Context(), u); err == nil {
			t.Errorf("Open(%q) succeeded; want an error", u)
		}
	}

	// The probe leaves nothing behind.
	dir := filepath.Join(tmp, "new", "nested")
	openStore(t, "file://"+dir)
	if entries, err := os.ReadDir(dir); err != nil || len(entries) != 0 {
		t.Fatalf("new folder: %v, %v; want it created and empty", entries, err)
	}
}

func TestOpenErrors(t *testing.T) {
	_, err := Open(t.Context(), "ftp://host/x")
	if err == nil || !strings.Contains(err.Error(), `"ftp"`) || !strings.Contains(err.Error(), "s3") {
		t.Fatalf("Open(ftp) error %v; want it to name the scheme and the supported ones", err)
	}
	for _, u := range []string{"mem:///../x", "s3://bucket/a/%2e%2e/b", "::not a url"} {
		if _, err := Open(t.Context(), u); err == nil {
			t.Errorf("Open(%q) succeeded; want an error", u)
		}
	}
}

func TestOpenPrefix(t *testing.T) {
	// A path after the bucket confines the store to that prefix; two stores on
	// one bucket with different prefixes do not see each other.
	base := newFakeS3(t)
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/one"
	one := openStore(t, u.String())
	u.Path = "/two/"
	two := openStore(t, u.String())
	mustPut(t, one, "k", "1")
	mustPut(t, two, "k", "2")
	if a, b := mustGet(t, one, "k"), mustGet(t, two, "k"); a != "1" || b != "2" {
		t.Fatalf("prefixes overlap: %q %q", a, b)
	}
	if got := walkKeys(t, one, ""); !slices.Equal(got, []string{"k"}) {
		t.Fatalf("Walk sees %q; want keys relative to the prefix", got)
	}
}

func TestFileHidesInternalFiles(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, "file://"+dir)
	mustPut(t, s, "d/real.bin", "x")
	// What fileblob leaves behind after a crash mid-write, and old sidecars.
	for _, name := range []string{"d/real.bin.18a2b3c4d5e6f789.tmp", "top.18a2b3c4d5e6f789.tmp", "d/real.bin.attrs"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("junk"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if got := walkKeys(t, s, ""); !slices.Equal(got, []string{"d/real.bin"}) {
		t.Fatalf("Walk = %q", got)
	}
	if l, err := s.List(t.Context(), "d"); err != nil || len(l) != 1 || l[0].Key != "d/real.bin" {
		t.Fatalf("List = %+v, %v", l, err)
	}
	if l, err := s.List(t.Context(), ""); err != nil || len(l) != 1 || l[0].Key != "d" {
		t.Fatalf("List(root) = %+v, %v", l, err)
	}
	for _, key := range []string{"x.18a2b3c4d5e6f789.tmp", "x.attrs"} {
		if _, err := s.Put(t.Context(), key, strings.NewReader("x")); !errors.Is(err, ErrInvalidPath) {
			t.Errorf("Put(%q) error %v; want ErrInvalidPath", key, err)
		}
	}
	// DeletePrefix removes the folder with its leftovers.
	if err := s.DeletePrefix(t.Context(), "d"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "d")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("folder still there: %v", err)
	}
}

func mustPut(t *testing.T, s *Store, key, data string) {
	t.Helper()
	if _, err := s.Put(t.Context(), key, strings.NewReader(data)); err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
}

func mustGet(t *testing.T, s *Store, key string) string {
	t.Helper()
	rc, size, err := s.Get(t.Context(), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("reading %q: %v", key, err)
	}
	if int64(len(b)) != size {
		t.Fatalf("Get(%q): size %d but read %d bytes", key, size, len(b))
	}
	return string(b)
}

func walkKeys(t *testing.T, s *Store, prefix string) []string {
	t.Helper()
	var keys []string
	if err := s.Walk(t.Context(), prefix, func(in Info) error {
		keys = append(keys, in.Key)
		return nil
	}); err != nil {
		t.Fatalf("Walk(%q): %v", prefix, err)
	}
	slices.Sort(keys)
	return keys
}

// assertOnlyFiles checks, on the file backend, that the folder holds exactly
// the given regular files: no temp file of an aborted write may survive.
func assertOnlyFiles(t *testing.T, e testEnv, want ...string) {
	t.Helper()
	if e.dir == "" {
		return
	}
	var got []string
	err := filepath.WalkDir(e.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(e.dir, p)
		got = append(got, filepath.ToSlash(rel))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("files on disk = %q; want %q", got, want)
	}
}

func TestOpenGSWithoutDriverExplains(t *testing.T) {
	_, err := Open(context.Background(), "gs://bucket/prefix")
	if err == nil || !strings.Contains(err.Error(), "storage.googleapis.com") {
		t.Fatalf("want a message pointing at the S3-compatible endpoint, got %v", err)
	}
}
