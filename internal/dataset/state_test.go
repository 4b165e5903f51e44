package dataset

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// realDir is dir with symlinks resolved, as Add keys the snapshot.
func realDir(t *testing.T, dir string) string {
	t.Helper()
	r, err := filepath.EvalSymlinks(dir)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestReAddFromSnapshotDetectsChanges re-adds a tree whose state comes
// from the snapshot file, after each kind of change the stat identity
// must catch.
func TestReAddFromSnapshotDetectsChanges(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		dir := t.TempDir()
		for i := range 50 {
			writeFile(t, dir, fmt.Sprintf("d%d/%02d.txt", i%3, i), []byte(fmt.Sprintf("file %02d\n", i)))
		}
		old := time.Now().Add(-time.Hour)
		e.add(t, "ds", dir)
		snap := snapshotPath(e.statePath, realDir(t, dir))
		if _, err := os.Stat(snap); err != nil {
			t.Fatalf("no snapshot after the first add: %v", err)
		}
		version := int64(1)
		readd := func(what string, wantHashed int64) {
			t.Helper()
			// A new Service is a new process: nothing in memory.
			e2 := newEnvOn(t, e, Options{StatePath: e.statePath})
			r := e2.add(t, "ds", dir)
			if wantHashed == 0 {
				if r.Created || r.Stats.FilesHashed != 0 || r.Stats.CacheHits != 50 {
					t.Fatalf("%s: created %v, stats %+v", what, r.Created, r.Stats)
				}
				return
			}
			version++
			if !r.Created || r.Version.Version != version || r.Stats.FilesHashed != wantHashed {
				t.Fatalf("%s: created %v, version %d, stats %+v", what, r.Created, r.Version.Version, r.Stats)
			}
			e2.getSame(t, "ds", dir)
		}
		readd("unchanged", 0)

		// Another size.
		writeFile(t, dir, "d0/00.txt", []byte("a longer content\n"))
		readd("size changed", 1)
		readd("unchanged after a change", 0)

		// Same size, another mtime.
		writeFile(t, dir, "d1/01.txt", []byte("FILE 01\n"))
		readd("mtime changed", 1)

		// Same size and mtime as the cached entry, other content: a file
		// replaced by rename has another inode.
		p := filepath.Join(dir, "d2", "02.txt")
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		tmp := filepath.Join(dir, "tmp")
		if err := os.WriteFile(tmp, []byte("FILE 02\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(tmp, fi.ModTime(), fi.ModTime()); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, p); err != nil {
			t.Fatal(err)
		}
		readd("same size and mtime, new inode", 1)

		// A file written just now is read at every add until its mtime is
		// safely in the past (racy window).
		if err := os.WriteFile(filepath.Join(dir, "d0/03.txt"), []byte("new 03\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		readd("racy file", 1)
		e2 := newEnvOn(t, e, Options{StatePath: e.statePath})
		if r := e2.add(t, "ds", dir); r.Created || r.Stats.FilesHashed != 1 {
			t.Fatalf("racy file re-added: created %v, stats %+v", r.Created, r.Stats)
		}
		if err := os.Chtimes(filepath.Join(dir, "d0/03.txt"), old, old); err != nil {
			t.Fatal(err)
		}
		// Its mtime changed (to the past): read once more, then cached.
		e3 := newEnvOn(t, e, Options{StatePath: e.statePath})
		if r := e3.add(t, "ds", dir); r.Created || r.Stats.FilesHashed != 1 {
			t.Fatalf("settled file: created %v, stats %+v", r.Created, r.Stats)
		}
		readd("settled", 0)

		// A removed and an added file.
		if err := os.Remove(filepath.Join(dir, "d1/04.txt")); err != nil {
			t.Fatal(err)
		}
		writeFile(t, dir, "d1/new.txt", []byte("new\n"))
		e4 := newEnvOn(t, e, Options{StatePath: e.statePath})
		if r := e4.add(t, "ds", dir); !r.Created || r.Stats.FilesHashed != 1 || r.Stats.CacheHits != 49 {
			t.Fatalf("one file removed, one added: created %v, stats %+v", r.Created, r.Stats)
		}
	})
}

// TestDamagedSnapshotFallsBackToDatabase checks that a snapshot with a bad
// checksum, or of another folder, is ignored and rewritten.
func TestDamagedSnapshotFallsBackToDatabase(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		dir := t.TempDir()
		for i := range 20 {
			writeFile(t, dir, fmt.Sprintf("%02d.txt", i), []byte(fmt.Sprintf("file %02d\n", i)))
		}
		e.add(t, "ds", dir)
		snap := snapshotPath(e.statePath, realDir(t, dir))
		b, err := os.ReadFile(snap)
		if err != nil {
			t.Fatal(err)
		}
		for name, damaged := range map[string][]byte{
			"flipped byte": append(append([]byte{}, b[:len(b)/2]...), append([]byte{b[len(b)/2] ^ 1}, b[len(b)/2+1:]...)...),
			"truncated":    b[:len(b)-1],
			"empty":        {},
		} {
			if err := os.WriteFile(snap, damaged, 0o600); err != nil {
				t.Fatal(err)
			}
			if readSnapshot(e.statePath, realDir(t, dir)) != nil {
				t.Fatalf("%s: snapshot accepted", name)
			}
			e2 := newEnvOn(t, e, Options{StatePath: e.statePath})
			if r := e2.add(t, "ds", dir); r.Created || r.Stats.FilesHashed != 0 || r.Stats.CacheHits != 20 {
				t.Fatalf("%s: created %v, stats %+v", name, r.Created, r.Stats)
			}
			if got := readSnapshot(e.statePath, realDir(t, dir)); got == nil || len(got.paths) != 20 {
				t.Fatalf("%s: snapshot not rewritten: %+v", name, got)
			}
		}
		// The snapshot of one folder is not taken for another.
		if readSnapshot(e.statePath, realDir(t, dir)+"x") != nil {
			t.Fatal("snapshot read for another folder")
		}
	})
}

func TestSnapshotRoundTrip(t *testing.T) {
	root := t.TempDir()
	state := filepath.Join(t.TempDir(), "state.db")
	m := map[string]stateEntry{
		root + "/a.csv": {st: fileStat{size: 10, mtime: -5, inode: 1 << 60, dev: 3}, hash: strings.Repeat("ab", 32),
			chunks:   []Chunk{{Hash: strings.Repeat("cd", 32), Size: 4}, {Hash: strings.Repeat("ef", 32), Size: 6}},
			profiled: true, profile: json.RawMessage(`{"rows":1}`), usedAt: 123},
		root + "/b.bin": {st: fileStat{size: 0, mtime: 1700000000123456789}, hash: strings.Repeat("00", 32), profiled: true},
		root + "/c.bin": {st: fileStat{size: 1}, hash: strings.Repeat("11", 32), chunks: []Chunk{{Hash: strings.Repeat("11", 32), Size: 1}}},
	}
	in := &stateEntries{}
	for _, p := range []string{root + "/c.bin", root + "/a.csv", root + "/b.bin", root + "/a.csv"} { // unsorted, a repeat
		in.add(p, m[p])
	}
	if err := writeSnapshot(state, root, in); err != nil {
		t.Fatal(err)
	}
	got := readSnapshot(state, root)
	if got == nil || len(got.paths) != len(m) {
		t.Fatalf("got %+v, want %d entries", got, len(m))
	}
	files := []localFile{{open: root + "/a.csv"}, {open: root + "/b.bin"}, {open: root + "/c.bin"}, {open: root + "/d"}}
	for i, f := range files[:3] {
		files[i].st = m[f.open].st
	}
	matched := got.match(files)
	if matched[3] != nil {
		t.Fatalf("a file not in the snapshot matched: %+v", matched[3])
	}
	for i, f := range files[:3] {
		want, g := m[f.open], matched[i]
		if g == nil {
			t.Fatalf("%s: no match", f.open)
		}
		if g.st != want.st || g.hash != want.hash || g.profiled != want.profiled || string(g.profile) != string(want.profile) ||
			g.usedAt != want.usedAt || fmt.Sprint(g.chunks) != fmt.Sprint(want.chunks) || (g.profile == nil) != (want.profile == nil) {
			t.Fatalf("%s: got %+v, want %+v", f.open, g, want)
		}
	}
	// Another stat does not match.
	files[1].st.inode++
	if got.match(files)[1] != nil {
		t.Fatal("an entry with another inode matched")
	}
	// No truncation of the body decodes, and none panics.
	b, err := os.ReadFile(snapshotPath(state, root))
	if err != nil {
		t.Fatal(err)
	}
	body := string(b[:len(b)-32])
	for n := range len(body) {
		if _, err := decodeSnapshot(body[:n], root); err == nil {
			t.Fatalf("body truncated to %d bytes decoded", n)
		}
	}
}

// An add of many files writes their state cache entries in batches while
// it runs, and at the end the rest: every file's entry is in the database
// (a re-add without the snapshot reads no file), once.
func TestStateSavedInBatchesDuringAdd(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		dir := t.TempDir()
		n := 2*stateSaveBatch + 345
		for i := range n {
			writeFile(t, dir, fmt.Sprintf("d%d/%04d.txt", i%7, i), []byte(fmt.Sprintf("file %d\n", i)))
		}
		if r := e.add(t, "ds", dir); r.Stats.FilesHashed != int64(n) {
			t.Fatalf("first add %+v", r.Stats)
		}
		if err := os.Remove(snapshotPath(e.statePath, realDir(t, dir))); err != nil {
			t.Fatal(err)
		}
		c, err := openStateCache(e.ctx, e.statePath)
		if err != nil {
			t.Fatal(err)
		}
		var rows int
		err = c.db.QueryRow(e.ctx, `SELECT COUNT(*) FROM files`).Scan(&rows)
		c.close()
		if err != nil || rows != n {
			t.Fatalf("%d state cache rows (%v), want %d", rows, err, n)
		}
		e2 := newEnvOn(t, e, Options{StatePath: e.statePath})
		if r := e2.add(t, "ds", dir); r.Created || r.Stats.FilesHashed != 0 || r.Stats.CacheHits != int64(n) {
			t.Fatalf("re-add from the database: created %v, stats %+v", r.Created, r.Stats)
		}
	})
}
