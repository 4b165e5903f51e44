package dataset

import (
	"bytes"
	"context"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zeebo/blake3"

	"github.com/mlcycle/mlcycle/internal/errs"
)

func TestGCRemovesOnlyUnreferencedAfterGrace(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		shared := randBytes(21, 1<<20)
		only1 := randBytes(22, 400<<10) // below ChunkMin: one chunk
		only2 := randBytes(23, 300<<10)
		d0, d1, d2 := t.TempDir(), t.TempDir(), t.TempDir()
		writeFile(t, d0, "shared.bin", shared)
		writeFile(t, d1, "shared.bin", shared)
		writeFile(t, d1, "only1.bin", only1)
		writeFile(t, d2, "shared.bin", shared)
		writeFile(t, d2, "only2.bin", only2)
		// shared's chunks are stored (packed) by a dataset of their own, so
		// each of the adds below packs only its own file.
		e.add(t, "base", d0)
		e.add(t, "ds", d1)
		e.add(t, "ds", d2)
		n0, _ := e.objects(t)

		// An orphan: bytes an interrupted upload wrote but never registered.
		orphan := []byte("left behind by an interrupted upload")
		sum := blake3.Sum256(orphan)
		orphanHash := hex.EncodeToString(sum[:])
		if _, err := e.blobs.Put(e.ctx, ChunkKey(orphanHash), bytes.NewReader(orphan)); err != nil {
			t.Fatal(err)
		}
		// Something under cas/ that is not a chunk key is never touched.
		if _, err := e.blobs.Put(e.ctx, "cas/README", strings.NewReader("keep me")); err != nil {
			t.Fatal(err)
		}

		manifest1 := manifestSize(t, e, "ds", 1)
		if _, err := e.svc.Remove(e.ctx, "ds@1", RemoveOptions{}); err != nil {
			t.Fatal(err)
		}
		// Within the grace period nothing goes, and the report says what
		// stays for that reason: only1's chunk and v1's manifest (the
		// orphan is not registered, so it is not counted).
		rep, err := e.svc.GC(e.ctx, GCOptions{})
		young := GCReport{Young: 2, YoungBytes: int64(len(only1)) + manifest1, Grace: DefaultGracePeriod}
		if err != nil || rep != young {
			t.Fatalf("GC within grace = %+v, %v; want %+v", rep, err, young)
		}
		e.clock.advance(2 * time.Hour)
		dry, err := e.svc.GC(e.ctx, GCOptions{DryRun: true})
		if err != nil {
			t.Fatal(err)
		}
		// only1's chunk, v1's manifest and the orphan; only1 was the one
		// new chunk of its add, alone in its pack, which goes too.
		want := GCReport{Chunks: 3, Bytes: int64(len(only1)+len(orphan)) + manifest1, Orphans: 1, DryRun: true, Grace: DefaultGracePeriod, Packs: 1}
		if dry != want {
			t.Fatalf("dry run %+v, want %+v", dry, want)
		}
		if n, _ := e.objects(t); n != n0+2 {
			t.Fatalf("a dry run deleted objects: %d, want %d", n, n0+2)
		}
		rep, err = e.svc.GC(e.ctx, GCOptions{})
		want.DryRun = false
		if err != nil || rep != want {
			t.Fatalf("GC = %+v, %v; want %+v", rep, err, want)
		}
		if n, _ := e.objects(t); n != n0+2-3 {
			t.Fatalf("%d objects left, want %d", n, n0-1)
		}
		if _, err := os.Stat(filepath.Join(e.blobDir, "cas", "README")); err != nil {
			t.Fatal("gc removed a non-chunk object")
		}
		// v2 is intact; v1 is gone.
		e.getSame(t, "ds@2", d2)
		_, err = e.svc.Resolve(e.ctx, "ds@1")
		wantCode(t, err, errs.NotFound)
		// A second run finds nothing; re-adding v1's content stores only1 anew.
		if rep, err := e.svc.GC(e.ctx, GCOptions{}); err != nil || rep.Chunks != 0 {
			t.Fatalf("second GC = %+v, %v", rep, err)
		}
		r := e.add(t, "ds", d1)
		if r.Stats.ChunksNew != 1 || r.Stats.BytesNew != int64(len(only1)) {
			t.Fatalf("re-add after gc: %+v", r.Stats)
		}
		if _, err := e.svc.Get(e.ctx, "ds", t.TempDir(), GetOptions{}); err != nil {
			t.Fatal(err)
		}
		ev := e.events(t)
		if n := countPrefix(ev, "dataset.gc"); n != 3 {
			t.Fatalf("%d dataset.gc events (dry runs are not audited): %v", n, ev)
		}
	})
}

func manifestSize(t *testing.T, e *env, name string, version int64) int64 {
	t.Helper()
	var h string
	if err := e.db.QueryRow(e.ctx, `SELECT v.manifest_hash FROM dataset_versions v JOIN datasets d ON d.id = v.dataset_id
		WHERE d.name = ? AND v.version = ?`, name, version).Scan(&h); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(filepath.Join(e.blobDir, filepath.FromSlash(ChunkKey(h))))
	if err != nil {
		t.Fatal(err)
	}
	return info.Size()
}

func countPrefix(ss []string, prefix string) int {
	n := 0
	for _, s := range ss {
		if strings.HasPrefix(s, prefix) {
			n++
		}
	}
	return n
}

func TestGCKeepsChunksOfAnAddInFlight(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		d := t.TempDir()
		writeFile(t, d, "a.bin", randBytes(31, 700<<10))
		e.add(t, "ds", d)
		if _, err := e.svc.Remove(e.ctx, "ds@1", RemoveOptions{}); err != nil {
			t.Fatal(err)
		}
		e.clock.advance(2 * time.Hour)
		// An add reusing the old chunk touches it before GC looks, so GC keeps
		// it even though no live version needs it yet.
		reg := &registrar{s: e.svc}
		if err := reg.touch(e.ctx, mustChunks(t, e, d)[0]); err != nil {
			t.Fatal(err)
		}
		if err := reg.flush(e.ctx); err != nil {
			t.Fatal(err)
		}
		rep, err := e.svc.GC(e.ctx, GCOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Chunks != 1 { // only v1's manifest
			t.Fatalf("GC = %+v, want only the manifest removed", rep)
		}
	})
}

func mustChunks(t *testing.T, e *env, dir string) []string {
	t.Helper()
	rows, err := e.db.Query(e.ctx, `SELECT hash FROM dataset_chunks WHERE size = ?`, 700<<10)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var h string
		rows.Scan(&h)
		out = append(out, h)
	}
	if len(out) == 0 {
		t.Fatal("no chunk found")
	}
	return out
}

func TestGCLeaseBlocksUploads(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		d := t.TempDir()
		writeFile(t, d, "a.txt", []byte("a"))
		l, err := e.svc.takeLease(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		// While a GC holds the lease: no second GC, no uploads, no versions.
		_, err = e.svc.GC(e.ctx, GCOptions{})
		wantCode(t, err, errs.State, "running")
		data := []byte("some chunk")
		sum := blake3.Sum256(data)
		err = e.svc.PutChunk(e.ctx, hex.EncodeToString(sum[:]), bytes.NewReader(data))
		wantCode(t, err, errs.Unavailable, "garbage collection")
		_, err = e.svc.Add(e.ctx, AddInput{Name: "ds", Paths: []string{d}})
		wantCode(t, err, errs.Unavailable, "garbage collection")
		if list, _ := e.svc.List(e.ctx); len(list) != 0 {
			t.Fatalf("recorded during gc: %v", list)
		}
		if _, err := e.svc.endGC(e.ctx, l, GCReport{}, time.Hour, nil); err != nil {
			t.Fatal(err)
		}
		// After it: the add goes through, reusing what it stored before.
		r := e.add(t, "ds", d)
		if !r.Created {
			t.Fatal("not created")
		}
		// An expired lease (a crashed GC) is taken over.
		if _, err := e.svc.takeLease(e.ctx); err != nil {
			t.Fatal(err)
		}
		e.clock.advance(leaseTTL + time.Second)
		if _, err := e.svc.GC(e.ctx, GCOptions{}); err != nil {
			t.Fatalf("GC after an expired lease: %v", err)
		}
	})
}

func TestGCDuringUploadIsDetected(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		// An upload stores a chunk, then a GC with no grace runs before the
		// upload registers it: the registration notices (epoch changed) and
		// refuses rather than record a chunk that is gone.
		epoch, err := e.svc.gcEpoch(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		data := []byte("uploaded but not yet registered")
		sum := blake3.Sum256(data)
		h := hex.EncodeToString(sum[:])
		if _, err := e.blobs.Put(e.ctx, ChunkKey(h), bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
		e.clock.advance(2 * time.Hour)
		if rep, err := e.svc.GC(e.ctx, GCOptions{}); err != nil || rep.Orphans != 1 {
			t.Fatalf("GC = %+v, %v", rep, err)
		}
		err = e.svc.registerChunks(e.ctx, []Chunk{{Hash: h, Size: int64(len(data))}}, nil, epoch)
		wantCode(t, err, errs.Unavailable, "run it again")
		// Reused chunks that GC removed are caught by the touch.
		err = e.svc.registerChunks(e.ctx, nil, []string{h}, epoch+1)
		wantCode(t, err, errs.Unavailable, "run it again")
	})
}

func TestGCNegativeGrace(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		_, err := e.svc.GC(e.ctx, GCOptions{GracePeriod: -time.Second})
		wantCode(t, err, errs.Invalid, "negative")
	})
}

func TestLineage(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		d := t.TempDir()
		writeFile(t, d, "a.txt", []byte("a"))
		v1 := e.add(t, "ds", d).Version
		writeFile(t, d, "a.txt", []byte("b"))
		v2 := e.add(t, "ds", d).Version
		// The same content in another dataset shares the digest.
		other := e.add(t, "copy", d).Version
		if other.Digest != v2.Digest {
			t.Fatal("equal content, different digests")
		}

		for _, in := range []struct{ run, source, digest, ctx string }{
			{"run1", "mlcycle://ds@1", "", "training"},
			{"run1", "mlcycle://ds@1", "", "training"}, // again: no duplicate
			{"run2", "s3://bucket/elsewhere", v2.Digest, "eval"},
			{"run3", "s3://bucket/x", "deadbeef", ""},                   // foreign digest: ignored
			{"run3", "mlcycle://nope@1", "", ""},                        // unknown dataset: ignored
			{"run3", "mlcycle://BAD name", "", ""},                      // malformed: ignored
			{"run4", "mlcycle://ds@latest", "", "training"},             // resolved now
			{"run5", "mlcycle://ds@9", strings.ToUpper(v1.Digest), "x"}, // bad source, digest matches
		} {
			if err := e.svc.LinkDatasetInput(e.ctx, in.run, in.source, in.digest, in.ctx); err != nil {
				t.Fatalf("LinkDatasetInput(%+v): %v", in, err)
			}
		}
		runs := func(ref string) []string {
			t.Helper()
			links, err := e.svc.RunsOf(e.ctx, ref)
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, l := range links {
				out = append(out, l.RunID+"/"+l.Context)
			}
			slices.Sort(out)
			return out
		}
		if got := runs("ds@1"); !slices.Equal(got, []string{"run1/training", "run5/x"}) {
			t.Fatalf("runs of ds@1: %v", got)
		}
		if got := runs("ds@2"); !slices.Equal(got, []string{"run2/eval", "run4/training"}) {
			t.Fatalf("runs of ds@2: %v", got)
		}
		if got := runs("copy@1"); !slices.Equal(got, []string{"run2/eval"}) {
			t.Fatalf("runs of copy@1 (same digest): %v", got)
		}
		used, err := e.svc.VersionsOfRun(e.ctx, "run2")
		if err != nil || len(used) != 2 || used[0].Dataset != "copy" || used[1].Dataset != "ds" || used[1].Version != 2 {
			t.Fatalf("VersionsOfRun(run2) = %+v, %v", used, err)
		}
		if used, _ := e.svc.VersionsOfRun(e.ctx, "run3"); len(used) != 0 {
			t.Fatalf("run3 linked to %+v", used)
		}
		show, err := e.svc.Show(e.ctx, "ds@1")
		if err != nil || len(show.Runs) != 2 {
			t.Fatalf("Show runs = %+v, %v", show.Runs, err)
		}
		// A version runs used is kept unless forced; then it stays in
		// their lineage, marked removed.
		_, err = e.svc.Remove(e.ctx, "ds@1", RemoveOptions{})
		wantCode(t, err, errs.State, "ds@1 was used by 2 runs (run1, run5)", "--force")
		if v, err := e.svc.Resolve(e.ctx, "ds@1"); err != nil || v.Deleted {
			t.Fatalf("refused removal changed ds@1: %+v, %v", v, err)
		}
		if _, err := e.svc.Remove(e.ctx, "ds@1", RemoveOptions{Force: true}); err != nil {
			t.Fatal(err)
		}
		used, _ = e.svc.VersionsOfRun(e.ctx, "run1")
		if len(used) != 1 || !used[0].Deleted {
			t.Fatalf("lineage of a removed version: %+v", used)
		}
		// Explicit links validate their input.
		_, err = e.svc.LinkRun(e.ctx, LinkInput{Ref: "ds@2", Digest: v2.Digest, RunID: "r"})
		wantCode(t, err, errs.Invalid)
		_, err = e.svc.LinkRun(e.ctx, LinkInput{Ref: "ds@2"})
		wantCode(t, err, errs.Invalid, "run_id")
		_, err = e.svc.LinkRun(e.ctx, LinkInput{Digest: "xyz", RunID: "r"})
		wantCode(t, err, errs.Invalid, "digest")
		_, err = e.svc.LinkRun(e.ctx, LinkInput{Digest: strings.Repeat("0", DigestLen), RunID: "r"})
		wantCode(t, err, errs.NotFound)
		// Links are not audited (a run's own record).
		if n := countPrefix(e.events(t), "dataset_run"); n != 0 {
			t.Fatalf("%d link events", n)
		}
	})
}

func TestBadInputRecordsNothing(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		root := t.TempDir()
		base := filepath.Join(root, "data")
		writeFile(t, base, "ok.csv", []byte("x\n1\n"))
		writeFile(t, root, "secret.txt", []byte("outside"))
		writeFile(t, root, "outdir/f.txt", []byte("outside"))
		linkDir := filepath.Join(root, "links")
		writeFile(t, linkDir, "ok.csv", []byte("x\n1\n"))
		mustSymlink(t, filepath.Join(root, "secret.txt"), filepath.Join(linkDir, "escape.txt"))
		dirLink := filepath.Join(root, "dirlink")
		writeFile(t, dirLink, "ok.csv", []byte("x\n1\n"))
		mustSymlink(t, filepath.Join(root, "outdir"), filepath.Join(dirLink, "sub"))
		pct := filepath.Join(root, "pct")
		writeFile(t, pct, "50%.csv", []byte("x\n"))

		cases := []struct {
			name  string
			in    AddInput
			names string // what the error must mention
		}{
			{"dotdot", AddInput{Paths: []string{filepath.Join(base, "..", "secret.txt")}, BaseDir: base}, "secret.txt"},
			{"absolute outside", AddInput{Paths: []string{base, filepath.Join(root, "secret.txt")}, BaseDir: base}, "outside the base folder"},
			{"symlink escape", AddInput{Paths: []string{linkDir}}, "escape.txt"},
			{"symlinked folder", AddInput{Paths: []string{dirLink}}, "sub"},
			{"missing", AddInput{Paths: []string{filepath.Join(base, "nope.csv")}, BaseDir: base}, "nope.csv"},
			{"unstorable name", AddInput{Paths: []string{pct}}, "50%.csv"},
			{"no paths", AddInput{}, "no paths"},
			{"empty folder", AddInput{Paths: []string{t.TempDir()}}, "no files"},
			{"bad base", AddInput{Paths: []string{base}, BaseDir: filepath.Join(root, "secret.txt")}, "not a folder"},
		}
		for _, c := range cases {
			c.in.Name = "ds"
			_, err := e.svc.Add(e.ctx, c.in)
			if errs.CodeOf(err) != errs.Invalid || !strings.Contains(err.Error(), c.names) {
				t.Errorf("%s: %v (kind %s), want invalid naming %q", c.name, err, errs.CodeOf(err), c.names)
			}
		}
		// A symlink to a file inside the base is followed, under its own name.
		mustSymlink(t, filepath.Join(base, "ok.csv"), filepath.Join(base, "alias.csv"))
		r := e.add(t, "inside", base)
		if r.Version.FileCount != 2 {
			t.Fatalf("files %d", r.Version.FileCount)
		}
		if n := countPrefix(e.events(t), "dataset_version.create ds"); n != 0 {
			t.Fatal("bad input recorded a version")
		}
		if os.Geteuid() != 0 { // root reads anything
			unreadable := writeFile(t, base, "locked.csv", []byte("x"))
			os.Chmod(unreadable, 0)
			_, err := e.svc.Add(e.ctx, AddInput{Name: "ds", Paths: []string{base}})
			wantCode(t, err, errs.Invalid, "locked.csv")
		}
	})
}

func mustSymlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Skipf("symlinks unavailable: %v", err)
	}
}

func TestFIFOIsRefused(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		d := t.TempDir()
		if err := mkfifo(filepath.Join(d, "pipe")); err != nil {
			t.Skip(err)
		}
		_, err := e.svc.Add(e.ctx, AddInput{Name: "ds", Paths: []string{d}})
		wantCode(t, err, errs.Invalid, "pipe", "not a regular file")
	})
}

func TestPushPull(t *testing.T) {
	each(t, func(t *testing.T, server *env) {
		local := newEnv(t, storetestSQLite(t), Options{})
		d := t.TempDir()
		writeFile(t, d, "big.csv", csvBytes(0, 3<<20))
		writeFile(t, d, "x/small.txt", []byte("small"))
		v := local.add(t, "ds", d).Version
		show, err := local.svc.Show(local.ctx, "ds")
		if err != nil {
			t.Fatal(err)
		}
		// Recording before the chunks are there is refused.
		_, err = server.svc.RecordVersion(server.ctx, RecordInput{Name: "ds", Manifest: show.Manifest})
		wantCode(t, err, errs.Invalid, "not stored")
		if list, _ := server.svc.List(server.ctx); len(list) != 0 {
			t.Fatal("recorded without chunks")
		}
		// An interrupted push resumes: copy a part, then everything.
		chunks := show.Manifest.Chunks()
		st, err := CopyChunks(server.ctx, server.svc, local.svc, chunks[:2], CopyOptions{})
		if err != nil || st.Chunks != 2 {
			t.Fatalf("partial copy %+v, %v", st, err)
		}
		var progressed int64
		st, err = CopyChunks(server.ctx, server.svc, local.svc, chunks, CopyOptions{Progress: func(done, total int64) { progressed = done }})
		if err != nil || st.Chunks != int64(len(chunks)-2) || st.Present != 2 || progressed != st.Bytes {
			t.Fatalf("copy %+v (progress %d), %v", st, progressed, err)
		}
		pushed, err := server.svc.RecordVersion(server.ctx, RecordInput{Name: "ds", Message: "pushed", Manifest: show.Manifest})
		if err != nil || pushed.Digest != v.Digest || pushed.Version != 1 || pushed.ManifestHash != v.ManifestHash {
			t.Fatalf("RecordVersion = %+v, %v", pushed, err)
		}
		// Pushing again changes nothing.
		again, err := server.svc.RecordVersion(server.ctx, RecordInput{Name: "ds", Manifest: show.Manifest})
		if err != nil || again.Version != 1 {
			t.Fatalf("second push = %+v, %v", again, err)
		}
		if missing, _ := server.svc.MissingChunks(server.ctx, []string{chunks[0].Hash, chunks[0].Hash}); len(missing) != 0 {
			t.Fatalf("missing after push: %v", missing)
		}
		// Pull into an empty local store, materialise from the server.
		fresh := newEnv(t, storetestSQLite(t), Options{})
		if _, err := CopyChunks(fresh.ctx, fresh.svc, server.svc, chunks, CopyOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := fresh.svc.RecordVersion(fresh.ctx, RecordInput{Name: "ds", Manifest: show.Manifest}); err != nil {
			t.Fatal(err)
		}
		fresh.getSame(t, "ds", d)
		out2 := t.TempDir()
		if _, err := Materialize(server.ctx, show.Manifest, server.svc, out2, GetOptions{}); err != nil {
			t.Fatal(err)
		}
		sameTree(t, d, out2)
	})
}

func TestPutChunkVerifies(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		data := []byte("chunk bytes")
		sum := blake3.Sum256(data)
		h := hex.EncodeToString(sum[:])
		other := blake3.Sum256([]byte("other"))
		wrong := hex.EncodeToString(other[:])

		err := e.svc.PutChunk(e.ctx, wrong, bytes.NewReader(data))
		wantCode(t, err, errs.Invalid, "hashes to "+h)
		if n, _ := e.objects(t); n != 0 {
			t.Fatal("a mismatching chunk was stored")
		}
		wantCode(t, e.svc.PutChunk(e.ctx, "abc", bytes.NewReader(data)), errs.Invalid, "hash")
		big := make([]byte, ChunkMax+1)
		bs := blake3.Sum256(big)
		wantCode(t, e.svc.PutChunk(e.ctx, hex.EncodeToString(bs[:]), bytes.NewReader(big)), errs.Invalid, "larger")
		empty := blake3.Sum256(nil)
		wantCode(t, e.svc.PutChunk(e.ctx, hex.EncodeToString(empty[:]), bytes.NewReader(nil)), errs.Invalid, "empty")
		if n, _ := e.objects(t); n != 0 {
			t.Fatalf("%d objects stored by refused puts", n)
		}

		if err := e.svc.PutChunk(e.ctx, h, bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
		// Known chunks are not read again.
		if err := e.svc.PutChunk(e.ctx, h, failingReader{}); err != nil {
			t.Fatal(err)
		}
		missing, err := e.svc.MissingChunks(e.ctx, []string{wrong, h, wrong})
		if err != nil || !slices.Equal(missing, []string{wrong}) {
			t.Fatalf("MissingChunks = %v, %v", missing, err)
		}
		_, err = e.svc.MissingChunks(e.ctx, []string{h, "ZZ"})
		wantCode(t, err, errs.Invalid, "hashes[1]")
		rc, err := e.svc.GetChunk(e.ctx, h)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || string(got) != string(data) {
			t.Fatalf("GetChunk = %q, %v", got, err)
		}
		_, err = e.svc.GetChunk(e.ctx, wrong)
		wantCode(t, err, errs.NotFound)
	})
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errs.E(errs.Internal, "read") }

func TestMaterializeRefusesSymlinkOut(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		d := t.TempDir()
		writeFile(t, d, "sub/f.txt", []byte("x"))
		e.add(t, "ds", d)
		out, elsewhere := t.TempDir(), t.TempDir()
		mustSymlink(t, elsewhere, filepath.Join(out, "sub"))
		_, err := e.svc.Get(e.ctx, "ds", out, GetOptions{})
		wantCode(t, err, errs.Invalid, "sub/f.txt", "symlink")
		if entries, _ := os.ReadDir(elsewhere); len(entries) != 0 {
			t.Fatal("wrote through the symlink")
		}
	})
}

func TestGetCancelled(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		d := t.TempDir()
		writeFile(t, d, "a.bin", randBytes(41, 2<<20))
		e.add(t, "ds", d)
		ctx, cancel := context.WithCancel(e.ctx)
		cancel()
		out := t.TempDir()
		if _, err := e.svc.Get(ctx, "ds", out, GetOptions{}); err == nil {
			t.Fatal("cancelled get succeeded")
		}
		if entries, _ := os.ReadDir(out); len(entries) != 0 {
			t.Fatalf("cancelled get left %d entries", len(entries))
		}
	})
}
