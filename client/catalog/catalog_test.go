package catalog_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mlcycle/mlcycle/client"
	"github.com/mlcycle/mlcycle/client/catalog"
	"github.com/mlcycle/mlcycle/internal/app"
	"github.com/mlcycle/mlcycle/internal/app/apptest"
	"github.com/mlcycle/mlcycle/internal/store/storetest"
)

// engines yields, per database, the options of a fresh catalog whose
// database is that engine (the chunk store a local folder).
func engines(t *testing.T, fn func(t *testing.T, opts func() catalog.Options)) {
	t.Helper()
	for _, e := range []struct {
		name string
		url  func(testing.TB) string
	}{{"sqlite", storetest.SQLiteURL}, {"postgres", storetest.PostgresURL}} {
		t.Run(e.name, func(t *testing.T) {
			fn(t, func() catalog.Options {
				return catalog.Options{Dir: t.TempDir(), DB: e.url(t), User: "tester",
					StatePath: filepath.Join(t.TempDir(), "state.db")}
			})
		})
	}
}

func open(t *testing.T, opts catalog.Options) *catalog.Catalog {
	t.Helper()
	c, err := catalog.Open(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Error(err)
		}
	})
	return c
}

// startServer runs the real server on 127.0.0.1 with a fresh data folder.
func startServer(t *testing.T) *client.Client {
	t.Helper()
	return apptest.Start(t, app.Config{}).Client(t)
}

func write(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	// An add trusts a file's stat in its state cache only once its mtime
	// is a little in the past.
	old := time.Now().Add(-time.Minute)
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
}

// sameFiles fails unless dir holds exactly the files of want (path -> bytes).
func sameFiles(t *testing.T, dir string, want map[string][]byte) {
	t.Helper()
	got := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		got[filepath.ToSlash(rel)] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%s holds %d files, want %d", dir, len(got), len(want))
	}
	for p, b := range want {
		if !bytes.Equal(got[p], b) {
			t.Fatalf("%s: %d bytes differ from the %d added", p, len(got[p]), len(b))
		}
	}
}

func TestCatalogAddShowGet(t *testing.T) {
	engines(t, func(t *testing.T, opts func() catalog.Options) {
		ctx := context.Background()
		cat := open(t, opts())
		src := t.TempDir()
		var csv strings.Builder
		csv.WriteString("id,amount,city\n")
		for i := range 200 {
			fmt.Fprintf(&csv, "%d,%d.5,%s\n", i, i%7, []string{"oslo", "lima"}[i%2])
		}
		blob := make([]byte, 3<<20) // several chunks
		rand.Read(blob)
		files := map[string][]byte{"sales.csv": []byte(csv.String()), "raw/blob.bin": blob, "raw/copy.csv": []byte(csv.String())}
		for p, b := range files {
			write(t, filepath.Join(src, p), b)
		}

		var calls int
		res, err := cat.Add(ctx, "sales", []string{src}, catalog.AddOptions{Message: "first cut", Progress: func(done, total int64) { calls++ }})
		if err != nil {
			t.Fatal(err)
		}
		v := res.Version
		if !res.Created || v.Ref != "sales@1" || v.Source != "mlcycle://sales@1" || v.FileCount != 3 || v.Message != "first cut" || v.CreatedBy != "tester" {
			t.Fatalf("add: %+v", res)
		}
		if st := res.Stats; st.Files != 3 || st.FilesHashed != 3 || st.FilesProfiled != 2 || st.Bytes != int64(len(blob)+2*csv.Len()) {
			t.Fatalf("stats: %+v", st)
		}
		if calls == 0 {
			t.Error("Progress was never called")
		}
		if len(v.Tables) != 2 || v.Tables[0].Rows != 200 || v.Tables[0].Columns != 3 {
			t.Fatalf("tables: %+v", v.Tables)
		}

		st, err := cat.Status(ctx, "sales", []string{src}, catalog.StatusOptions{})
		if err != nil || !st.Clean() || st.Against != "sales@1" || st.Unchanged != 3 {
			t.Fatalf("status: %+v, %v", st, err)
		}
		write(t, filepath.Join(src, "raw", "new.txt"), []byte("new\n"))
		st, err = cat.Status(ctx, "sales", []string{src}, catalog.StatusOptions{})
		if err != nil || st.Clean() || len(st.Added) != 1 || st.Added[0] != "raw/new.txt" || st.Unchanged != 3 {
			t.Fatalf("status with a new file: %+v, %v", st, err)
		}
		os.Remove(filepath.Join(src, "raw", "new.txt"))

		// Unchanged files: nothing recorded, nothing read (state cache).
		again, err := cat.Add(ctx, "sales", []string{src}, catalog.AddOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if again.Created || again.Version.Ref != "sales@1" || again.Stats.FilesHashed != 0 {
			t.Fatalf("re-add of unchanged files: %+v", again)
		}

		d, err := cat.Show(ctx, "sales@latest")
		if err != nil {
			t.Fatal(err)
		}
		if d.Ref != "sales@1" || len(d.Manifest.Files) != 3 || d.Digest != v.Digest {
			t.Fatalf("show: %+v", d.DatasetVersion)
		}
		var prof struct {
			Rows    int64 `json:"rows"`
			Columns []struct {
				Name string `json:"name"`
				Type string `json:"type"`
			} `json:"columns"`
		}
		for _, f := range d.Manifest.Files {
			if f.Path == "sales.csv" {
				if err := json.Unmarshal(f.Profile, &prof); err != nil {
					t.Fatal(err)
				}
			}
		}
		if prof.Rows != 200 || len(prof.Columns) != 3 || prof.Columns[1].Name != "amount" || prof.Columns[1].Type != "float" {
			t.Fatalf("profile of sales.csv: %+v", prof)
		}
		ds, err := cat.Datasets(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) != 1 || ds[0].Name != "sales" || ds[0].Latest != 1 {
			t.Fatalf("datasets: %+v", ds)
		}

		out := t.TempDir()
		got, err := cat.Get(ctx, "sales", out, client.GetDatasetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got.Version.Ref != "sales@1" || got.Files != 3 {
			t.Fatalf("get: %+v", got)
		}
		sameFiles(t, out, files)

		f, err := cat.OpenFile(ctx, "sales@1", "raw/blob.bin")
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(f)
		if err != nil || !bytes.Equal(b, blob) || f.Ref != "sales@1" || f.Size != int64(len(blob)) {
			t.Fatalf("open file: %d bytes, %+v, %v", len(b), f, err)
		}
		if _, err := cat.OpenFile(ctx, "sales@1", "raw"); err == nil {
			t.Fatal("a folder opened as a file")
		}
	})
}

func TestCatalogAddRefusesBadInput(t *testing.T) {
	engines(t, func(t *testing.T, opts func() catalog.Options) {
		ctx := context.Background()
		cat := open(t, opts())
		src := t.TempDir()
		write(t, filepath.Join(src, "people.csv"), []byte("id,age\n1,34\n2,131\n3,200\n"))
		rules := filepath.Join(t.TempDir(), "rules.yaml")
		write(t, rules, []byte("columns:\n  age: {type: int, max: 130}\n"))

		_, err := cat.Add(ctx, "people", []string{src}, catalog.AddOptions{RulesFile: rules})
		var ve *catalog.ValidationError
		if !errors.As(err, &ve) {
			t.Fatalf("add of failing data: %v, want a *ValidationError", err)
		}
		if len(ve.Reports) != 1 || !strings.Contains(ve.Reports[0], "people.csv") ||
			!strings.Contains(ve.Reports[0], "FAIL columns.age.max: 2 rows above 130") {
			t.Fatalf("reports: %q", ve.Reports)
		}

		_, err = cat.Add(ctx, "bad name!", []string{src}, catalog.AddOptions{})
		if err == nil || !strings.Contains(err.Error(), "bad name!") {
			t.Fatalf("add under an illegal name: %v", err)
		}
		write(t, filepath.Join(src, "ragged.csv"), []byte("a,b\n1,2\n3\n"))
		_, err = cat.Add(ctx, "people", []string{src}, catalog.AddOptions{})
		if err == nil || !strings.Contains(err.Error(), "ragged.csv") || !strings.Contains(err.Error(), "line 3") {
			t.Fatalf("add of a ragged CSV: %v", err)
		}
		ds, err := cat.Datasets(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) != 0 {
			t.Fatalf("failed adds recorded %+v", ds)
		}

		// Without profiling, and with rules that do not cover it, the
		// ragged file is only bytes: it is stored as it is.
		write(t, rules, []byte("columns:\n  age: {type: int, max: 300}\nfiles: '*people.csv'\n"))
		res, err := cat.Add(ctx, "people", []string{src}, catalog.AddOptions{RulesFile: rules, NoProfile: true})
		if err != nil || res.Version.Ref != "people@1" || len(res.Version.Tables) != 0 || res.Stats.FilesProfiled != 0 {
			t.Fatalf("add without profiling: %+v, %v", res, err)
		}
		os.Remove(filepath.Join(src, "ragged.csv"))
		res, err = cat.Add(ctx, "people", []string{src}, catalog.AddOptions{RulesFile: rules})
		if err != nil || res.Version.Ref != "people@2" || len(res.Version.Tables) != 1 {
			t.Fatalf("add of passing data: %+v, %v", res, err)
		}
	})
}

func TestCatalogTagDiffRemoveGCVerify(t *testing.T) {
	engines(t, func(t *testing.T, opts func() catalog.Options) {
		ctx := context.Background()
		o := opts()
		cat := open(t, o)
		src := t.TempDir()
		write(t, filepath.Join(src, "t.csv"), []byte("x,c\n1,a\n2,a\n3,b\n"))
		if _, err := cat.Add(ctx, "tbl", []string{src}, catalog.AddOptions{}); err != nil {
			t.Fatal(err)
		}
		write(t, filepath.Join(src, "t.csv"), []byte("x,c\n10,b\n20,b\n30,b\n40,b\n"))
		write(t, filepath.Join(src, "notes.txt"), []byte("v2\n"))
		if _, err := cat.Add(ctx, "tbl", []string{src}, catalog.AddOptions{}); err != nil {
			t.Fatal(err)
		}

		v, err := cat.Tag(ctx, "tbl@1", "gold")
		if err != nil || v.Ref != "tbl@1" || len(v.Tags) != 1 || v.Tags[0] != "gold" {
			t.Fatalf("tag: %+v, %v", v, err)
		}
		if _, err := cat.Tag(ctx, "tbl@2", "latest"); err == nil || !strings.Contains(err.Error(), "reserved") {
			t.Fatalf("tag latest: %v", err)
		}

		d, err := cat.Diff(ctx, "tbl@gold", "tbl@latest")
		if err != nil {
			t.Fatal(err)
		}
		if d.From != "tbl@1" || d.To != "tbl@2" || len(d.Added) != 1 || d.Added[0] != "notes.txt" || len(d.Changed) != 1 {
			t.Fatalf("diff: %+v", d)
		}
		tb := d.Changed[0].Table
		if tb == nil || tb.RowsFrom != 3 || tb.RowsTo != 4 || len(tb.Columns) != 2 || tb.Columns[0].Name != "x" ||
			*tb.Columns[0].MeanFrom != 2 || *tb.Columns[0].MeanTo != 25 || tb.Columns[1].JS == nil {
			t.Fatalf("table diff: %+v", tb)
		}

		if err := cat.Untag(ctx, "tbl", "gold"); err != nil {
			t.Fatal(err)
		}
		if _, err := cat.Show(ctx, "tbl@gold"); err == nil {
			t.Fatal("tbl@gold still resolves after untag")
		}
		rm, err := cat.Remove(ctx, "tbl@1", client.RemoveOptions{})
		if err != nil || rm.Ref != "tbl@1" || !rm.Deleted {
			t.Fatalf("remove: %+v, %v", rm, err)
		}
		vs, err := cat.Versions(ctx, "tbl")
		if err != nil || len(vs) != 1 || vs[0].Ref != "tbl@2" {
			t.Fatalf("versions after remove: %+v, %v", vs, err)
		}

		// tbl@1's table and manifest are needed by no live version.
		time.Sleep(5 * time.Millisecond)
		dry, err := cat.GC(ctx, true, time.Nanosecond)
		if err != nil || !dry.DryRun || dry.Chunks != 2 {
			t.Fatalf("gc dry run: %+v, %v", dry, err)
		}
		gc, err := cat.GC(ctx, false, time.Nanosecond)
		if err != nil || gc.DryRun || gc.Chunks != 2 || gc.Bytes != dry.Bytes {
			t.Fatalf("gc: %+v, %v", gc, err)
		}
		if again, err := cat.GC(ctx, true, time.Nanosecond); err != nil || again.Chunks != 0 {
			t.Fatalf("gc after gc: %+v, %v", again, err)
		}

		rep, err := cat.Verify(ctx)
		if err != nil || rep.Versions != 1 || rep.Chunks != 2 || len(rep.Damaged) != 0 {
			t.Fatalf("verify: %+v, %v", rep, err)
		}
		packs, err := filepath.Glob(filepath.Join(o.Dir, "artifacts", "cas", "packs", "*"))
		if err != nil || len(packs) == 0 {
			t.Fatalf("packs: %v, %v", packs, err)
		}
		for _, p := range packs {
			if err := os.Truncate(p, 1); err != nil {
				t.Fatal(err)
			}
		}
		rep, err = cat.Verify(ctx, "tbl@2")
		if err != nil || len(rep.Damaged) != 2 || !strings.HasPrefix(rep.Damaged[0].UsedBy[0], "tbl@2:") {
			t.Fatalf("verify a damaged store: %+v, %v", rep, err)
		}
	})
}

// TestCatalogPushPull moves a version from one catalog to a real server
// and from there into a second catalog, which gives back the same files.
func TestCatalogPushPull(t *testing.T) {
	engines(t, func(t *testing.T, opts func() catalog.Options) {
		ctx := context.Background()
		srv := startServer(t)
		a, b := open(t, opts()), open(t, opts())
		src := t.TempDir()
		big := make([]byte, 4<<20)
		rand.Read(big)
		files := map[string][]byte{"big.bin": big, "notes.txt": []byte("hello\n")}
		for p, data := range files {
			write(t, filepath.Join(src, p), data)
		}
		added, err := a.Add(ctx, "blobs", []string{src}, catalog.AddOptions{})
		if err != nil {
			t.Fatal(err)
		}

		pushed, err := a.Push(ctx, srv, "blobs@1", client.TransferOptions{Name: "shared"})
		if err != nil {
			t.Fatal(err)
		}
		if pushed.Version.Ref != "shared@1" || pushed.Version.Digest != added.Version.Digest || pushed.Chunks < 2 || pushed.ChunksPresent != 0 {
			t.Fatalf("push: %+v", pushed)
		}
		again, err := a.Push(ctx, srv, "blobs@1", client.TransferOptions{Name: "shared"})
		if err != nil {
			t.Fatal(err)
		}
		if again.Chunks != 0 || again.ChunksPresent != pushed.Chunks || again.Version.Ref != "shared@1" {
			t.Fatalf("second push: %+v", again)
		}
		onServer, err := srv.ShowDataset(ctx, "shared@1")
		if err != nil {
			t.Fatal(err)
		}
		if onServer.Digest != added.Version.Digest || onServer.FileCount != 2 {
			t.Fatalf("server's version: %+v", onServer.DatasetVersion)
		}

		f, err := srv.OpenDatasetFile(ctx, "mlcycle://shared@latest", "big.bin")
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(f)
		f.Close()
		if err != nil || !bytes.Equal(got, big) || f.Ref != "shared@1" || f.Size != int64(len(big)) || f.Hash == "" {
			t.Fatalf("file from the server: %d bytes, %+v, %v", len(got), f, err)
		}
		if _, err := srv.OpenDatasetFile(ctx, "shared@1", "nope.bin"); err == nil || !strings.Contains(err.Error(), "nope.bin") {
			t.Fatalf("missing file from the server: %v", err)
		}
		if _, err := srv.OpenDatasetFile(ctx, "shared@1/../../x", "big.bin"); err == nil || !strings.Contains(err.Error(), "dataset reference") {
			t.Fatalf("a malformed reference: %v", err)
		}

		pulled, err := b.Pull(ctx, srv, "shared", client.TransferOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if pulled.Version.Ref != "shared@1" || pulled.Version.CreatedBy != "tester" || pulled.Chunks != pushed.Chunks {
			t.Fatalf("pull: %+v", pulled)
		}
		out := t.TempDir()
		if _, err := b.Get(ctx, "shared@1", out, client.GetDatasetOptions{}); err != nil {
			t.Fatal(err)
		}
		sameFiles(t, out, files)
	})
}
