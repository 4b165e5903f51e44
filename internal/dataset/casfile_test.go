package dataset

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mlcycle/mlcycle/internal/actor"
	"github.com/mlcycle/mlcycle/internal/audit"
	"github.com/mlcycle/mlcycle/internal/blob"
	"github.com/mlcycle/mlcycle/internal/errs"
	"github.com/mlcycle/mlcycle/internal/store"
	"github.com/mlcycle/mlcycle/internal/store/storetest"
)

// The direct chunk writer of a file:// store: a chunk already there is not
// rewritten, a damaged one is replaced, and nothing but a complete chunk is
// ever visible under a chunk's name.
func TestCASFilesPut(t *testing.T) {
	e := newEnv(t, storetestSQLite(t), Options{})
	c := e.svc.files
	if c == nil {
		t.Fatal("a file:// store has no direct chunk writer")
	}
	data := bytes.Repeat([]byte("chunk "), 1000)
	hash := hashOf(string(data))
	path := filepath.Join(e.blobDir, "cas", hash[:2], hash)

	wrote, err := c.put(hash, data)
	if err != nil || !wrote {
		t.Fatalf("first put: wrote %v, %v", wrote, err)
	}
	before, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, data) {
		t.Fatal("stored bytes differ")
	}
	// Present with the right content: left alone (same inode).
	if wrote, err := c.put(hash, data); err != nil || wrote {
		t.Fatalf("second put: wrote %v, %v", wrote, err)
	}
	after, _ := os.Stat(path)
	if !os.SameFile(before, after) {
		t.Fatal("an intact chunk was rewritten")
	}

	// What a crash can leave under the name (a rename that reached the disk
	// before the data): empty, or the right size with other bytes.
	for _, bad := range [][]byte{nil, bytes.Repeat([]byte("x"), len(data))} {
		if err := os.WriteFile(path, bad, 0o640); err != nil {
			t.Fatal(err)
		}
		if wrote, err := c.put(hash, data); err != nil || !wrote {
			t.Fatalf("put over a damaged chunk: wrote %v, %v", wrote, err)
		}
		if got, _ := os.ReadFile(path); !bytes.Equal(got, data) {
			t.Fatal("damaged chunk not replaced")
		}
	}

	if err := c.sync(); err != nil {
		t.Fatal(err)
	}
	if len(c.pending) != 0 {
		t.Fatalf("pending after sync: %v", c.pending)
	}
	// A pushed chunk is synced on its own and not kept for a later sync
	// (a server that only receives pushes never calls it).
	pushed := []byte("pushed chunk")
	if err := c.putSynced(hashOf(string(pushed)), pushed); err != nil {
		t.Fatal(err)
	}
	if len(c.pending) != 0 {
		t.Fatalf("pending after a synced put: %v", c.pending)
	}
	// Only the chunk itself is in its folder: no temp files, no sidecars.
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 || entries[0].Name() != hash {
		t.Fatalf("chunk folder holds %v", entries)
	}
}

// A torn write (a temp file a crash left behind) is never taken for the
// chunk: not by get, not by gc's listing, and the next add stores the chunk
// whole and registers it.
func TestCASFilesTornWriteInvisible(t *testing.T) {
	storetest.Each(t, testMigrations(), func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, Options{NoStateCache: true})
		dir := t.TempDir()
		data := bytes.Repeat([]byte("torn write "), 5000)
		writeFile(t, dir, "f.bin", data)
		hash := hashOf(string(data))
		folder := filepath.Join(e.blobDir, "cas", hash[:2])
		if err := os.MkdirAll(folder, 0o750); err != nil {
			t.Fatal(err)
		}
		tmp := filepath.Join(folder, hash+".8000000000000001.tmp")
		if err := os.WriteFile(tmp, data[:100], 0o640); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.GetChunk(e.ctx, hash); !errs.Is(err, errs.NotFound) {
			t.Fatalf("GetChunk with only a temp file: %v, want not found", err)
		}
		if infos, err := e.blobs.List(e.ctx, "cas/"+hash[:2]); err != nil || len(infos) != 0 {
			t.Fatalf("listing shows %v (%v)", infos, err)
		}
		r := e.add(t, "ds", dir)
		if r.Stats.ChunksNew != 1 {
			t.Fatalf("stats %+v", r.Stats)
		}
		if missing, err := e.svc.MissingChunks(e.ctx, []string{hash}); err != nil || len(missing) != 0 {
			t.Fatalf("chunk not registered: %v %v", missing, err)
		}
		rc, err := e.svc.GetChunk(e.ctx, hash)
		if err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		_, err = got.ReadFrom(rc)
		rc.Close()
		if err != nil || !bytes.Equal(got.Bytes(), data) {
			t.Fatalf("stored chunk: %d bytes, %v", got.Len(), err)
		}
		if len(e.svc.files.pending) != 0 {
			t.Fatal("chunks registered before they were synced")
		}
	})
}

// A chunk the catalog knows but whose file is gone (a damaged store) is
// written again by the next add of that content.
func TestCASFilesRestoresLostChunk(t *testing.T) {
	e := newEnv(t, storetestSQLite(t), Options{NoStateCache: true})
	dir := t.TempDir()
	data := bytes.Repeat([]byte("lost "), 3000)
	writeFile(t, dir, "a.bin", data)
	e.add(t, "ds", dir)
	hash := hashOf(string(data))
	at, err := e.svc.chunkPlace(e.ctx, hash)
	if err != nil || at.Pack == "" {
		t.Fatalf("small chunk not in a pack: %+v, %v", at, err)
	}
	if err := os.Remove(e.svc.files.packPath(at.Pack)); err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "b.txt", []byte("new file"))
	r := e.add(t, "ds", dir)
	if r.Stats.ChunksNew != 2 {
		t.Fatalf("stats %+v", r.Stats)
	}
	if moved, err := e.svc.chunkPlace(e.ctx, hash); err != nil || moved.Pack == at.Pack || moved.Pack == "" {
		t.Fatalf("the lost chunk's row still points at its lost pack: %+v, %v", moved, err)
	}
	if _, err := e.svc.Get(e.ctx, "ds", filepath.Join(t.TempDir(), "out"), GetOptions{}); err != nil {
		t.Fatalf("get after restore: %v", err)
	}
}

// Other stores go through the blob store's Put: add and get still work.
func TestAddGetOnObjectStore(t *testing.T) {
	db := storetestSQLite(t)
	bs, err := blob.Open(context.Background(), "mem://")
	if err != nil {
		t.Fatal(err)
	}
	defer bs.Close()
	svc := New(db, audit.New(db, audit.Options{}), bs, Options{NoStateCache: true})
	if svc.files != nil {
		t.Fatal("a mem:// store has a direct chunk writer")
	}
	ctx := actor.With(context.Background(), actor.Actor{UserID: 2, Name: "ed", Role: "editor"})
	dir := t.TempDir()
	data := csvBytes(0, 3<<20) // several chunks
	writeFile(t, dir, "big.csv", data)
	if _, err := svc.Add(ctx, AddInput{Name: "ds", Paths: []string{dir}}); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out")
	if _, err := svc.Get(ctx, "ds", out, GetOptions{}); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(out, "big.csv")); !bytes.Equal(got, data) {
		t.Fatal("materialised bytes differ")
	}
}

// A state cache made before the table was keyed by path keeps its entries
// through that migration; the format-2 migration after it then drops them
// (they hold format-1 hashes), and the cache works on.
func TestStateCacheUpgrade(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	db, err := store.Open(ctx, "sqlite://"+path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	migs := stateMigrations()
	if _, err := db.Migrate(ctx, migs[:1]); err != nil {
		t.Fatal(err)
	}
	c := &stateCache{db: db}
	e := stateEntry{st: fileStat{size: 3, mtime: 5, inode: 7, dev: 9}, hash: emptyHash}
	if err := c.save(ctx, map[string]stateEntry{"/data/a.txt": e}, nil, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Migrate(ctx, migs[:2]); err != nil {
		t.Fatal(err)
	}
	got, err := c.load(ctx, "/data")
	if err != nil || len(got.paths) != 1 || got.paths[0] != "/data/a.txt" || got.ents[0].st != e.st || got.ents[0].hash != e.hash {
		t.Fatalf("after keying by path: %+v, %v", got, err)
	}
	if _, err := db.Migrate(ctx, migs); err != nil {
		t.Fatal(err)
	}
	if got, err := c.load(ctx, "/data"); err != nil || len(got.paths) != 0 {
		t.Fatalf("after format 2: %+v, %v", got, err)
	}
	if err := c.save(ctx, map[string]stateEntry{"/data/a.txt": e}, nil, time.Now()); err != nil {
		t.Fatal(err)
	}
	if got, err := c.load(ctx, "/data"); err != nil || len(got.paths) != 1 {
		t.Fatalf("saved after format 2: %+v, %v", got, err)
	}
}
