package dataset

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/mlcycle/mlcycle/internal/errs"
)

func TestStatusComparesFilesWithAVersion(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		dir := t.TempDir()
		big := randBytes(3, 2*ChunkMax) // several chunks
		writeFile(t, dir, "a.csv", []byte("x\n1\n"))
		writeFile(t, dir, "b.txt", []byte("bee\n"))
		writeFile(t, dir, "data/big.bin", big)
		in := AddInput{Name: "ds", Paths: []string{dir}}

		// No version yet: every file is new, and nothing is stored.
		rep, err := e.svc.Status(e.ctx, in, "")
		if err != nil {
			t.Fatal(err)
		}
		if rep.Against != "" || !slices.Equal(rep.Added, []string{"a.csv", "b.txt", "data/big.bin"}) ||
			rep.Clean() || rep.Stats.FilesHashed != 3 || rep.Stats.Files != 3 {
			t.Fatalf("status of a new dataset: %+v", rep)
		}
		if list, err := e.svc.List(e.ctx); err != nil || len(list) != 0 {
			t.Fatalf("status recorded %+v (%v)", list, err)
		}
		if packs, _ := filepath.Glob(filepath.Join(e.blobDir, "cas", "packs", "*")); len(packs) != 0 {
			t.Fatalf("status stored packs: %v", packs)
		}

		// The add after it reads the files again, since their chunks are
		// not stored, and records them whole.
		res, err := e.svc.Add(e.ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		if res.Version.Ref() != "ds@1" || res.Stats.FilesHashed != 3 {
			t.Fatalf("add after status: %+v", res)
		}
		e.getSame(t, "ds@1", dir)
		if packs, _ := filepath.Glob(filepath.Join(e.blobDir, "cas", "packs", "*")); len(packs) == 0 {
			t.Fatal("no packs where the add stores them: the check after status looked in the wrong place")
		}

		rep, err = e.svc.Status(e.ctx, in, "")
		if err != nil {
			t.Fatal(err)
		}
		if !rep.Clean() || rep.Unchanged != 3 || rep.Against != "ds@1" || rep.Stats.FilesHashed != 0 || rep.Stats.CacheHits != 3 {
			t.Fatalf("status of unchanged files: %+v", rep)
		}

		writeFile(t, dir, "b.txt", []byte("a longer bee\n"))
		writeFile(t, dir, "c.txt", []byte("sea\n"))
		if err := os.Remove(filepath.Join(dir, "a.csv")); err != nil {
			t.Fatal(err)
		}
		rep, err = e.svc.Status(e.ctx, in, "")
		if err != nil {
			t.Fatal(err)
		}
		if rep.Clean() || !slices.Equal(rep.Added, []string{"c.txt"}) || !slices.Equal(rep.Removed, []string{"a.csv"}) ||
			len(rep.Changed) != 1 || rep.Changed[0] != (FileChange{Path: "b.txt", SizeFrom: 4, SizeTo: 13}) || rep.Unchanged != 1 ||
			rep.Stats.FilesHashed != 2 {
			t.Fatalf("status of changed files: %+v", rep)
		}
		if _, err := e.svc.Status(e.ctx, in, "ds@9"); errs.CodeOf(err) != errs.NotFound {
			t.Fatalf("status against a missing version: %v", err)
		}
		if _, err := e.svc.Status(e.ctx, AddInput{Name: "bad name", Paths: []string{dir}}, ""); errs.CodeOf(err) != errs.Invalid {
			t.Fatalf("status under a bad name: %v", err)
		}
		// Against another dataset's version.
		rep, err = e.svc.Status(e.ctx, AddInput{Name: "other", Paths: []string{dir}}, "ds@1")
		if err != nil || rep.Against != "ds@1" || len(rep.Changed) != 1 {
			t.Fatalf("status against ds@1 under another name: %+v, %v", rep, err)
		}
		if vs, _ := e.svc.Versions(e.ctx, "ds"); len(vs) != 1 {
			t.Fatalf("status recorded versions: %+v", vs)
		}
	})
}
