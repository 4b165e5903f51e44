package dataset

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mlcycle/mlcycle/internal/errs"
)

func TestAddResolveShowGetRoundTrip(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		src := t.TempDir()
		writeFile(t, src, "train.csv", csvBytes(0, 3<<20)) // several chunks
		writeFile(t, src, "small/a.txt", []byte("hello"))
		writeFile(t, src, "small/empty", nil)
		writeFile(t, src, "deep/x/y/z.bin", randBytes(1, 700<<10))

		res, err := e.svc.Add(e.ctx, AddInput{Name: "iris", Message: "first", Paths: []string{src}})
		if err != nil {
			t.Fatal(err)
		}
		v := res.Version
		if !res.Created || v.Version != 1 || v.Dataset != "iris" || v.FileCount != 4 || v.Message != "first" || v.CreatedBy != "ed" {
			t.Fatalf("version = %+v (created %v)", v, res.Created)
		}
		if want := int64(len(csvBytes(0, 3<<20)) + 5 + 700<<10); v.TotalBytes != want {
			t.Fatalf("total bytes %d, want %d", v.TotalBytes, want)
		}
		if len(v.Digest) != DigestLen || res.Stats.FilesHashed != 4 || res.Stats.ChunksNew < 5 {
			t.Fatalf("digest %q, stats %+v", v.Digest, res.Stats)
		}
		for _, ref := range []string{"iris", "iris@1", "iris@latest", "mlcycle://iris@1"} {
			got, err := e.svc.Resolve(e.ctx, ref)
			if err != nil || got.Digest != v.Digest || got.Version != 1 {
				t.Fatalf("Resolve(%s) = %+v, %v", ref, got, err)
			}
		}
		d, err := e.svc.Show(e.ctx, "iris@1")
		if err != nil {
			t.Fatal(err)
		}
		var paths []string
		for _, f := range d.Manifest.Files {
			paths = append(paths, f.Path)
		}
		if want := []string{"deep/x/y/z.bin", "small/a.txt", "small/empty", "train.csv"}; !slices.Equal(paths, want) {
			t.Fatalf("manifest paths %v, want %v", paths, want)
		}
		if d.Manifest.Digest() != v.Digest {
			t.Fatal("manifest digest differs from the version's")
		}
		if f, _ := d.Manifest.File("train.csv"); len(f.Chunks) < 2 {
			t.Fatalf("train.csv has %d chunks, want several", len(f.Chunks))
		}
		out := filepath.Join(t.TempDir(), "out")
		st, err := e.svc.Get(e.ctx, "iris@1", out, GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if st.Files != 4 || st.Bytes != v.TotalBytes {
			t.Fatalf("get stats %+v", st)
		}
		sameTree(t, src, out)

		// A subset by folder.
		sub := t.TempDir()
		if _, err := e.svc.Get(e.ctx, "iris", sub, GetOptions{Paths: []string{"small"}}); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(sub, "small", "a.txt")); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(sub, "train.csv")); !os.IsNotExist(err) {
			t.Fatalf("train.csv written though not asked for: %v", err)
		}
		_, err = e.svc.Get(e.ctx, "iris", sub, GetOptions{Paths: []string{"nope"}})
		wantCode(t, err, errs.NotFound, "nope")

		list, err := e.svc.List(e.ctx)
		if err != nil || len(list) != 1 || list[0].Name != "iris" || list[0].Latest != 1 || list[0].Versions != 1 {
			t.Fatalf("List = %+v, %v", list, err)
		}
		if got := e.events(t); !slices.Equal(got, []string{"dataset.create iris", "dataset_version.create iris@1"}) {
			t.Fatalf("audit events %v", got)
		}
	})
}

func TestSingleFileAndGlobs(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		src := t.TempDir()
		writeFile(t, src, "a.csv", []byte("x\n1\n"))
		writeFile(t, src, "b.csv", []byte("x\n2\n"))
		writeFile(t, src, "c.txt", []byte("other"))
		res, err := e.svc.Add(e.ctx, AddInput{Name: "g", BaseDir: src, Paths: []string{filepath.Join(src, "*.csv")}})
		if err != nil {
			t.Fatal(err)
		}
		d, _ := e.svc.Show(e.ctx, "g")
		if len(d.Manifest.Files) != 2 || d.Manifest.Files[0].Path != "a.csv" || res.Version.FileCount != 2 {
			t.Fatalf("manifest %+v", d.Manifest.Files)
		}
		_, err = e.svc.Add(e.ctx, AddInput{Name: "g", BaseDir: src, Paths: []string{filepath.Join(src, "*.parquet")}})
		wantCode(t, err, errs.Invalid, "no files match")
	})
}

func TestDedupAcrossDatasets(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		data := randBytes(7, 3<<20)
		a, b := t.TempDir(), t.TempDir()
		writeFile(t, a, "data.bin", data)
		writeFile(t, a, "copy.bin", data) // the same bytes twice in one version
		writeFile(t, b, "renamed.bin", data)
		r1 := e.add(t, "one", a)
		n1, size1 := e.objects(t)
		r2 := e.add(t, "two", b)
		n2, size2 := e.objects(t)

		d, _ := e.svc.Show(e.ctx, "one")
		chunks := len(d.Manifest.Chunks())
		if chunks < 2 || size1 < int64(len(data)) || size1 > int64(len(data))+4096 { // + the manifest
			t.Fatalf("%d chunks, %d bytes in %d objects after the first add, want the %d bytes once and the manifest", chunks, size1, n1, len(data))
		}
		if n2 != n1+1 || size2-size1 > 4096 {
			t.Fatalf("second dataset stored %d objects, %d bytes; want only its manifest", n2-n1, size2-size1)
		}
		if r2.Stats.ChunksNew != 0 || r2.Stats.ChunksReused != int64(chunks) || r1.Stats.BytesNew != int64(len(data)) {
			t.Fatalf("stats %+v / %+v", r1.Stats, r2.Stats)
		}
	})
}

func TestAppendOnePercentStoresLittle(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		dir := t.TempDir()
		base := csvBytes(0, 100<<20)
		p := writeFile(t, dir, "big.csv", base)
		r1 := e.add(t, "big", dir)
		_, before := e.objects(t)

		more := append(base, csvBytes(5_000_000, len(base)/100)...)
		writeFile(t, dir, "big.csv", more)
		r2 := e.add(t, "big", dir)
		_, after := e.objects(t)
		if r2.Version.Version != 2 || r2.Stats.FilesHashed != 1 {
			t.Fatalf("second add: %+v", r2)
		}
		added := after - before
		if limit := int64(len(more)) / 20; added >= limit || r2.Stats.BytesNew >= limit {
			t.Fatalf("appending 1%% stored %d new bytes (stats %d), want < 5%% (%d)", added, r2.Stats.BytesNew, limit)
		}
		t.Logf("v1: %d chunks, %d bytes; v2 added %d bytes (%.2f%% of %d)", r1.Stats.ChunksNew, r1.Stats.BytesNew,
			added, 100*float64(added)/float64(len(more)), len(more))

		// Both versions read back intact.
		out := t.TempDir()
		if _, err := e.svc.Get(e.ctx, "big@1", out, GetOptions{}); err != nil {
			t.Fatal(err)
		}
		if got, _ := os.ReadFile(filepath.Join(out, "big.csv")); string(got) != string(base) {
			t.Fatal("big@1 differs")
		}
		if _, err := e.svc.Get(e.ctx, "big@2", out, GetOptions{}); err != nil {
			t.Fatal(err)
		}
		if got, _ := os.ReadFile(filepath.Join(out, "big.csv")); string(got) != string(more) {
			t.Fatal("big@2 differs")
		}
		_ = p
	})
}

func TestUnchangedReAddUsesStateCache(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		dir := t.TempDir()
		for i := range 200 {
			writeFile(t, dir, fmt.Sprintf("f/%03d.txt", i), []byte(fmt.Sprintf("file %d\n", i)))
		}
		writeFile(t, dir, "big.bin", randBytes(3, 2<<20))
		r1 := e.add(t, "ds", dir)
		if r1.Stats.FilesHashed != 201 || r1.Stats.CacheHits != 0 {
			t.Fatalf("first add stats %+v", r1.Stats)
		}
		r2 := e.add(t, "ds", dir)
		if r2.Created || r2.Version.Version != 1 || r2.Stats.FilesHashed != 0 || r2.Stats.CacheHits != 201 {
			t.Fatalf("unchanged re-add: created %v, version %d, stats %+v", r2.Created, r2.Version.Version, r2.Stats)
		}
		// A fresh Service (a new process) reads the same cache file.
		e2 := newEnvOn(t, e, Options{StatePath: e.statePath})
		r3 := e2.add(t, "ds", dir)
		if r3.Created || r3.Stats.FilesHashed != 0 {
			t.Fatalf("re-add from a new service: %+v", r3.Stats)
		}
		// One changed file is the only one read.
		writeFile(t, dir, "f/007.txt", []byte("changed\n"))
		r4 := e.add(t, "ds", dir)
		if !r4.Created || r4.Version.Version != 2 || r4.Stats.FilesHashed != 1 || r4.Stats.ChunksNew != 1 {
			t.Fatalf("one file changed: created %v, stats %+v", r4.Created, r4.Stats)
		}
		if got := e.events(t); len(got) != 3 {
			t.Fatalf("an unchanged add must record nothing; events %v", got)
		}
	})
}

// newEnvOn is another Service on e's database and blob store.
func newEnvOn(t testing.TB, e *env, opts Options) *env {
	t.Helper()
	if opts.Now == nil {
		opts.Now = e.clock.now
	}
	svc := New(e.db, e.log, e.blobs, opts)
	t.Cleanup(func() { svc.Close() })
	e2 := *e
	e2.svc = svc
	return &e2
}

func TestStateCacheHitWithChunksMissingReadsAgain(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		dir := t.TempDir()
		writeFile(t, dir, "a.bin", randBytes(11, 1<<20))
		writeFile(t, dir, "b.txt", []byte("b"))
		e.add(t, "ds", dir)
		// Another store (a new server, say) with the same state cache: the
		// cache knows the hashes, but the chunks must be stored anew.
		other := newEnv(t, storetestSQLite(t), Options{StatePath: e.statePath})
		r := other.add(t, "ds", dir)
		if r.Stats.FilesHashed != 2 || r.Stats.ChunksNew < 2 {
			t.Fatalf("stats %+v", r.Stats)
		}
		other.getSame(t, "ds", dir)
	})
}

func TestTagsAndReservedNames(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		dir := t.TempDir()
		writeFile(t, dir, "a", []byte("1"))
		e.add(t, "ds", dir)
		writeFile(t, dir, "a", []byte("2"))
		e.add(t, "ds", dir)

		v, err := e.svc.SetTag(e.ctx, "ds@1", "prod-2026-11")
		if err != nil || v.Version != 1 || !slices.Equal(v.Tags, []string{"prod-2026-11"}) {
			t.Fatalf("SetTag = %+v, %v", v, err)
		}
		if got, err := e.svc.Resolve(e.ctx, "ds@prod-2026-11"); err != nil || got.Version != 1 {
			t.Fatalf("Resolve(tag) = %+v, %v", got, err)
		}
		if _, err := e.svc.SetTag(e.ctx, "ds@latest", "prod-2026-11"); err != nil { // moves
			t.Fatal(err)
		}
		if got, _ := e.svc.Resolve(e.ctx, "ds@prod-2026-11"); got.Version != 2 || !slices.Equal(got.Tags, []string{"prod-2026-11"}) {
			t.Fatalf("moved tag resolves to %+v", got)
		}
		vs, err := e.svc.Versions(e.ctx, "ds")
		if err != nil || len(vs) != 2 || vs[0].Version != 2 || len(vs[1].Tags) != 0 {
			t.Fatalf("Versions = %+v, %v", vs, err)
		}
		for _, tag := range []string{"latest", "3", "007", "Prod", "-x", "a b", "", strings.Repeat("t", 129)} {
			_, err := e.svc.SetTag(e.ctx, "ds@1", tag)
			wantCode(t, err, errs.Invalid)
		}
		if err := e.svc.DeleteTag(e.ctx, "ds", "prod-2026-11"); err != nil {
			t.Fatal(err)
		}
		_, err = e.svc.Resolve(e.ctx, "ds@prod-2026-11")
		wantCode(t, err, errs.NotFound, "prod-2026-11")
		wantCode(t, e.svc.DeleteTag(e.ctx, "ds", "prod-2026-11"), errs.NotFound)

		_, err = e.svc.Resolve(e.ctx, "ds@9")
		wantCode(t, err, errs.NotFound, "ds@9")
		_, err = e.svc.Resolve(e.ctx, "nope")
		wantCode(t, err, errs.NotFound, "nope")
		_, err = e.svc.Resolve(e.ctx, "ds@0")
		wantCode(t, err, errs.Invalid)

		want := []string{
			"dataset.create ds", "dataset_version.create ds@1", "dataset_version.create ds@2",
			"dataset_tag.set ds@prod-2026-11", "dataset_tag.set ds@prod-2026-11", "dataset_tag.delete ds@prod-2026-11",
		}
		if got := e.events(t); !slices.Equal(got, want) {
			t.Fatalf("events %v\nwant %v", got, want)
		}
	})
}

func TestIllegalDatasetNames(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		dir := t.TempDir()
		writeFile(t, dir, "a", []byte("1"))
		for _, name := range []string{"Iris", "", "-iris", ".x", "a/b", "a@b", "a b", "ünï", strings.Repeat("n", 129), "x\x00"} {
			_, err := e.svc.Add(e.ctx, AddInput{Name: name, Paths: []string{dir}})
			wantCode(t, err, errs.Invalid)
			if name != "" && !strings.Contains(err.Error(), fmt.Sprintf("%q", clip(name))) {
				t.Fatalf("error %q does not name %q", err, name)
			}
		}
		if list, _ := e.svc.List(e.ctx); len(list) != 0 {
			t.Fatalf("datasets recorded: %v", list)
		}
		for _, name := range []string{"iris", "0", "a.b_c-d", strings.Repeat("n", 128)} {
			if err := ValidateName(name); err != nil {
				t.Errorf("ValidateName(%q) = %v", name, err)
			}
		}
	})
}

func TestRemove(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		dir := t.TempDir()
		writeFile(t, dir, "a", []byte("1"))
		e.add(t, "ds", dir)
		writeFile(t, dir, "a", []byte("2"))
		e.add(t, "ds", dir)
		if _, err := e.svc.SetTag(e.ctx, "ds@2", "best"); err != nil {
			t.Fatal(err)
		}
		_, err := e.svc.Remove(e.ctx, "ds", RemoveOptions{})
		wantCode(t, err, errs.Invalid, "ds@")
		v, err := e.svc.Remove(e.ctx, "ds@best", RemoveOptions{})
		if err != nil || v.Version != 2 || !v.Deleted {
			t.Fatalf("Remove = %+v, %v", v, err)
		}
		if got, _ := e.svc.Resolve(e.ctx, "ds"); got.Version != 1 {
			t.Fatalf("latest after removing 2 is %d", got.Version)
		}
		_, err = e.svc.Resolve(e.ctx, "ds@2")
		wantCode(t, err, errs.NotFound, "removed")
		_, err = e.svc.Resolve(e.ctx, "ds@best")
		wantCode(t, err, errs.NotFound)
		// The number is not reused.
		writeFile(t, dir, "a", []byte("3"))
		if r := e.add(t, "ds", dir); r.Version.Version != 3 {
			t.Fatalf("next version %d, want 3", r.Version.Version)
		}
		// Re-adding content equal to a removed version is a new version.
		writeFile(t, dir, "a", []byte("2"))
		if r := e.add(t, "ds", dir); !r.Created || r.Version.Version != 4 {
			t.Fatalf("re-add of removed content: %+v", r)
		}
	})
}

func TestConcurrentAddsNumberVersions(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		const n = 8
		dirs := make([]string, n)
		for i := range dirs {
			dirs[i] = t.TempDir()
			writeFile(t, dirs[i], "data.txt", []byte(fmt.Sprintf("content %d", i)))
			writeFile(t, dirs[i], "shared.bin", randBytes(5, 600<<10))
		}
		var wg sync.WaitGroup
		versions := make([]int64, n)
		errc := make(chan error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// Separate services: separate state caches, as separate processes.
				svc := newEnvOn(t, e, Options{NoStateCache: true})
				r, err := svc.svc.Add(e.ctx, AddInput{Name: "shared", Paths: []string{dirs[i]}})
				if err != nil {
					errc <- err
					return
				}
				versions[i] = r.Version.Version
			}()
		}
		wg.Wait()
		close(errc)
		for err := range errc {
			t.Fatal(err)
		}
		slices.Sort(versions)
		for i, v := range versions {
			if v != int64(i+1) {
				t.Fatalf("versions %v, want 1..%d", versions, n)
			}
		}
	})
}

func TestCorruptChunkDetectedOnGet(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		dir := t.TempDir()
		writeFile(t, dir, "big.csv", csvBytes(0, 3<<20))
		writeFile(t, dir, "ok.txt", []byte("fine"))
		e.add(t, "ds", dir)
		d, _ := e.svc.Show(e.ctx, "ds")
		f, _ := d.Manifest.File("big.csv")
		bad := f.Chunks[1].Hash
		flipStoredByte(t, e, bad, 1000)
		out := t.TempDir()
		_, err := e.svc.Get(e.ctx, "ds", out, GetOptions{})
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Get of a corrupt chunk: %v, want ErrCorrupt", err)
		}
		t.Logf("corrupt chunk: %v", err)
		for _, s := range []string{"big.csv", "chunk 2 of", bad} {
			if !strings.Contains(err.Error(), s) {
				t.Fatalf("error %q does not name %q", err, s)
			}
		}
		if _, err := os.Stat(filepath.Join(out, "big.csv")); !os.IsNotExist(err) {
			t.Fatalf("a corrupt file was written: %v", err)
		}
		left, _ := filepath.Glob(filepath.Join(out, ".mlcycle-get-*"))
		if len(left) != 0 {
			t.Fatalf("temporary files left: %v", left)
		}
		// GetChunk reports it too, at the end of the read.
		rc, err := e.svc.GetChunk(e.ctx, bad)
		if err != nil {
			t.Fatal(err)
		}
		_, err = io.ReadAll(rc)
		rc.Close()
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("GetChunk read: %v", err)
		}
	})
}

func TestInterruptedAddRecordsNothing(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		dir := t.TempDir()
		for i := range 8 {
			writeFile(t, dir, fmt.Sprintf("part-%d.bin", i), randBytes(uint64(i), 4<<20))
		}
		ctx, cancel := context.WithCancel(e.ctx)
		defer cancel()
		// Validation runs beside hashing: cancel once some chunks are stored.
		validate := func(vctx context.Context, files []LocalFile) error {
			for {
				if n, _, _ := countObjects(filepath.Join(e.blobDir, "cas")); n >= 3 {
					cancel()
					return nil
				}
				select {
				case <-vctx.Done():
					return nil
				case <-time.After(time.Millisecond):
				}
			}
		}
		_, err := e.svc.Add(ctx, AddInput{Name: "ds", Paths: []string{dir}, Validate: validate})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("interrupted add: %v", err)
		}
		if list, _ := e.svc.List(e.ctx); len(list) != 0 {
			t.Fatalf("datasets after an interrupted add: %v", list)
		}
		if got := e.events(t); len(got) != 0 {
			t.Fatalf("events after an interrupted add: %v", got)
		}
		// What it stored is reused.
		r := e.add(t, "ds", dir)
		if r.Stats.ChunksReused == 0 {
			t.Fatalf("nothing reused after the interruption: %+v", r.Stats)
		}
	})
}

func TestValidateHookFailureRecordsNothing(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		dir := t.TempDir()
		writeFile(t, dir, "a.csv", []byte("x\n1\n"))
		var seen []LocalFile
		bad := errs.E(errs.Invalid, "a.csv: column x: 1 value out of range")
		_, err := e.svc.Add(e.ctx, AddInput{Name: "ds", Paths: []string{dir}, Validate: func(_ context.Context, files []LocalFile) error {
			seen = files
			return bad
		}})
		if err != bad {
			t.Fatalf("err = %v, want the hook's error", err)
		}
		if len(seen) != 1 || seen[0].Path != "a.csv" || seen[0].Size != 4 || !filepath.IsAbs(seen[0].AbsPath) {
			t.Fatalf("hook saw %+v", seen)
		}
		if list, _ := e.svc.List(e.ctx); len(list) != 0 {
			t.Fatalf("datasets after failed validation: %v", list)
		}
	})
}

func TestProfileHook(t *testing.T) {
	each(t, func(t *testing.T, e0 *env) {
		var calls sync.Map
		profile := func(_ context.Context, path string, _ func(int64)) (json.RawMessage, error) {
			n, _ := calls.LoadOrStore(filepath.Base(path), new(int))
			*(n.(*int))++
			switch filepath.Ext(path) {
			case ".csv":
				if strings.Contains(path, "broken") {
					return nil, errs.E(errs.Invalid, "line 3: wrong number of fields")
				}
				return json.RawMessage(`{"rows": 2, "columns": [{"name": "x"}, {"name": "y"}]}`), nil
			}
			return nil, nil
		}
		e := newEnvOn(t, e0, Options{Profile: profile, StatePath: e0.statePath})
		dir := t.TempDir()
		writeFile(t, dir, "t.csv", []byte("x,y\n1,2\n3,4\n"))
		writeFile(t, dir, "notes.txt", []byte("hi"))
		r := e.add(t, "ds", dir)
		if r.Stats.FilesProfiled != 1 { // the table; notes.txt is not one
			t.Fatalf("stats %+v", r.Stats)
		}
		if want := []TableSummary{{Path: "t.csv", Rows: 2, Columns: 2}}; !slices.Equal(r.Version.Tables, want) {
			t.Fatalf("tables %+v", r.Version.Tables)
		}
		d, _ := e.svc.Show(e.ctx, "ds")
		if f, _ := d.Manifest.File("t.csv"); !strings.Contains(string(f.Profile), `"rows":2`) {
			t.Fatalf("profile in manifest: %s", f.Profile)
		}
		got, _ := e.svc.Resolve(e.ctx, "ds")
		if !slices.Equal(got.Tables, r.Version.Tables) {
			t.Fatalf("stored tables %+v", got.Tables)
		}
		// Unchanged: neither hashed nor profiled again.
		r2 := e.add(t, "ds", dir)
		if r2.Created || r2.Stats.FilesProfiled != 0 || r2.Stats.FilesHashed != 0 {
			t.Fatalf("re-add stats %+v", r2.Stats)
		}
		// A profile adds nothing to the digest.
		e3 := newEnvOn(t, e0, Options{NoStateCache: true})
		r3, err := e3.svc.Add(e.ctx, AddInput{Name: "plain", Paths: []string{dir}})
		if err != nil || r3.Version.Digest != r.Version.Digest {
			t.Fatalf("digest without profiles %s, with %s (%v)", r3.Version.Digest, r.Version.Digest, err)
		}
		// A table the profiler cannot read fails the add, naming the file.
		writeFile(t, dir, "broken.csv", []byte("x,y\n1\n"))
		_, err = e.svc.Add(e.ctx, AddInput{Name: "ds", Paths: []string{dir}})
		wantCode(t, err, errs.Invalid, "broken.csv", "line 3")
		if vs, _ := e.svc.Versions(e.ctx, "ds"); len(vs) != 1 {
			t.Fatalf("versions after a failed profile: %d", len(vs))
		}
	})
}

// TestUnreadableFileIsNamed covers a file that cannot be opened when its
// turn comes (root reads anything, so permissions cannot stage this).
func TestUnreadableFileIsNamed(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		p := newHashPipeline(e.svc, &registrar{s: e.svc}, 2)
		_, err := p.hashFile(e.ctx, localFile{rel: "data/gone.csv", open: filepath.Join(t.TempDir(), "gone.csv")}, true)
		wantCode(t, err, errs.Invalid, "cannot read data/gone.csv", "no such file")
	})
}
