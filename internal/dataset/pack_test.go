package dataset

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mlcycle/mlcycle/internal/errs"
)

// packFiles lists the pack files of the env's store.
func packFiles(t *testing.T, e *env) []string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(e.blobDir, casPrefix, packDir, "*"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, n := range names {
		if !strings.HasSuffix(n, ".tmp") {
			out = append(out, filepath.Base(n))
		}
	}
	return out
}

// looseFiles counts the chunk files of their own (manifests included).
func looseFiles(t *testing.T, e *env) int {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(e.blobDir, casPrefix, "??", "*"))
	if err != nil {
		t.Fatal(err)
	}
	return len(names)
}

// addThenKeepFirst adds n files of size random bytes as version 1 of "ds"
// (one pack), then version 2 with the first file only, which keeps the
// first chunk of that pack in use once version 1 is removed. It returns
// the folder (holding the first file only) and the first file's bytes.
func addThenKeepFirst(t *testing.T, e *env, seed uint64, n, size int) (string, []byte) {
	t.Helper()
	dir := t.TempDir()
	for i := range n {
		writeFile(t, dir, fmt.Sprintf("f%d.bin", i), randBytes(seed+uint64(i), size))
	}
	e.add(t, "ds", dir)
	for i := 1; i < n; i++ {
		if err := os.Remove(filepath.Join(dir, fmt.Sprintf("f%d.bin", i))); err != nil {
			t.Fatal(err)
		}
	}
	e.add(t, "ds", dir)
	return dir, randBytes(seed, size)
}

// Chunks of every size go into packs of about packTarget bytes: small
// files, the chunks of a large file, and chunks of ChunkMax, which do not
// fit in a partly filled pack and close it. Everything reads back, a
// second add of the same files stores nothing, and an edited large file
// stores only its changed chunks.
func TestPacksHoldChunks(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		dir := t.TempDir()
		var total int
		for i := range 120 {
			n := 1 + int(randBytes(uint64(i), 2)[0])*400 // 1 B to 100 KB
			writeFile(t, dir, fmt.Sprintf("small/%03d.bin", i), randBytes(uint64(1000+i), n))
			total += n
		}
		for i := range 24 { // 24 x 200 KiB: whole packs are written before the end
			writeFile(t, dir, fmt.Sprintf("mid/%d.bin", i), randBytes(uint64(2000+i), 200<<10))
			total += 200 << 10
		}
		big := csvBytes(0, 6<<20) // chunks of >= ChunkMin, a smaller last one
		writeFile(t, dir, "big.csv", big)
		writeFile(t, dir, "zeros.bin", make([]byte, 2*ChunkMax+3)) // two chunks of ChunkMax
		r := e.add(t, "ds", dir)
		if r.Stats.ChunksReused != 0 || r.Stats.BytesNew != r.Stats.Bytes-ChunkMax {
			t.Fatalf("first add %+v (the two chunks of zeros are one)", r.Stats)
		}
		d, err := e.svc.Show(e.ctx, "ds")
		if err != nil {
			t.Fatal(err)
		}
		packs := packFiles(t, e)
		if min := int(r.Stats.BytesNew / packCap); len(packs) < min {
			t.Fatalf("%d packs for %d new bytes, want at least %d", len(packs), r.Stats.BytesNew, min)
		}
		sizes := map[bool]bool{} // large -> seen
		for _, f := range d.Manifest.Files {
			for _, c := range f.ChunkList() {
				at, err := e.svc.chunkPlace(e.ctx, c.Hash)
				if err != nil {
					t.Fatal(err)
				}
				if at.Pack == "" {
					t.Fatalf("%s: chunk of %d bytes not in a pack", f.Path, c.Size)
				}
				sizes[c.Size >= ChunkMin] = true
			}
		}
		if !sizes[true] || !sizes[false] {
			t.Fatalf("chunks large and small: %v", sizes)
		}
		if got := looseFiles(t, e); got != 1 { // the manifest
			t.Fatalf("%d chunk files of their own, want 1 (the manifest)", got)
		}
		for _, name := range packs {
			if fi, err := os.Stat(filepath.Join(e.blobDir, casPrefix, packDir, name)); err != nil || fi.Size() > packCap {
				t.Fatalf("pack %s: %v, %d bytes (at most %d)", name, err, fi.Size(), packCap)
			}
		}
		e.getSame(t, "ds", dir)

		// The same files in another dataset: nothing new is stored.
		r = e.add(t, "copy", dir)
		if r.Stats.ChunksNew != 0 || r.Stats.BytesNew != 0 {
			t.Fatalf("second add %+v", r.Stats)
		}
		if got := packFiles(t, e); len(got) != len(packs) {
			t.Fatalf("packs after a second add of the same files: %d, want %d", len(got), len(packs))
		}

		// An edited large file: its unchanged chunks are found, not
		// packed again.
		edited := t.TempDir()
		writeFile(t, edited, "big.csv", append(slices.Clone(big), csvBytes(1000000, 100<<10)...))
		r = e.add(t, "edited", edited)
		if r.Stats.ChunksReused == 0 || r.Stats.BytesNew >= r.Stats.Bytes/2 {
			t.Fatalf("add of the edited file %+v", r.Stats)
		}
		e.getSame(t, "edited", edited)
	})
}

// A byte flipped in a pack fails the get of the file whose chunk it is,
// naming it, and GetChunk's read of that chunk; the pack's other chunks
// still read.
func TestCorruptPackedChunkDetected(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		dir := t.TempDir()
		writeFile(t, dir, "a.bin", randBytes(1, 5000))
		writeFile(t, dir, "b.bin", randBytes(2, 7000))
		e.add(t, "ds", dir)
		bad := hashOf(string(randBytes(2, 7000)))
		at, p, b := flipStoredByte(t, e, bad, 100)
		if at.Pack == "" {
			t.Fatalf("b.bin not in a pack: %+v", at)
		}
		_, err := e.svc.Get(e.ctx, "ds", t.TempDir(), GetOptions{})
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "b.bin") {
			t.Fatalf("Get with a corrupt packed chunk: %v", err)
		}
		out := t.TempDir()
		if _, err := e.svc.Get(e.ctx, "ds", out, GetOptions{Paths: []string{"a.bin"}}); err != nil {
			t.Fatalf("the pack's sound chunk: %v", err)
		}
		rc, err := e.svc.GetChunk(e.ctx, bad)
		if err != nil {
			t.Fatal(err)
		}
		_, err = new(bytes.Buffer).ReadFrom(rc)
		rc.Close()
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("GetChunk read %v, want ErrCorrupt", err)
		}
		// A pack cut short is reported the same way.
		if err := os.WriteFile(p, b[:at.Offset+10], 0o644); err != nil {
			t.Fatal(err)
		}
		_, err = e.svc.Get(e.ctx, "ds", t.TempDir(), GetOptions{})
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Get with a truncated pack: %v", err)
		}
	})
}

// gc removes a pack whose chunks are all unused, rewrites one that is
// mostly unused (the versions still using it read back), keeps one that is
// mostly used, and removes pack files no row refers to once they are older
// than the grace period.
func TestGCCollectsPacks(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		d1, _ := addThenKeepFirst(t, e, 100, 10, 50_000) // v1: f0..f9 in one pack; v2: f0
		first := packFiles(t, e)
		if len(first) != 1 {
			t.Fatalf("packs after v1 and v2: %v", first)
		}
		// v3 (another dataset): g0..g3 in a pack of their own, of which
		// g0..g2 stay in use.
		d3 := t.TempDir()
		for i := range 4 {
			writeFile(t, d3, fmt.Sprintf("g%d.bin", i), randBytes(uint64(200+i), 50_000))
		}
		e.add(t, "other", d3)
		if err := os.Remove(filepath.Join(d3, "g3.bin")); err != nil {
			t.Fatal(err)
		}
		e.add(t, "other", d3)
		packs := packFiles(t, e)
		if len(packs) != 2 {
			t.Fatalf("packs: %v", packs)
		}
		// An orphan pack: written by an add that never registered it.
		orphan := newPackName()
		if err := os.WriteFile(e.svc.files.packPath(orphan), randBytes(9, 3000), 0o644); err != nil {
			t.Fatal(err)
		}
		for _, ref := range []string{"ds@1", "other@1"} {
			if _, err := e.svc.Remove(e.ctx, ref, RemoveOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		e.clock.advance(2 * time.Hour)
		dry, err := e.svc.GC(e.ctx, GCOptions{DryRun: true})
		if err != nil {
			t.Fatal(err)
		}
		// Unused: f1..f9, g3, two manifests, and the orphan pack.
		// g3's bytes stay in its pack, three quarters still in use.
		if dry.Chunks != 13 || dry.Orphans != 1 || dry.Packs != 1 || dry.Repacked != 1 || dry.KeptInPacks != 50_000 {
			t.Fatalf("dry run %+v", dry)
		}
		if got := packFiles(t, e); len(got) != 3 {
			t.Fatalf("a dry run touched packs: %v", got)
		}
		rep, err := e.svc.GC(e.ctx, GCOptions{})
		if err != nil {
			t.Fatal(err)
		}
		dry.DryRun = false
		if rep != dry {
			t.Fatalf("gc %+v, dry run said %+v", rep, dry)
		}
		after := packFiles(t, e)
		if len(after) != 2 || slicesContain(after, first[0]) || slicesContain(after, orphan) {
			t.Fatalf("packs after gc: %v (first %s, orphan %s)", after, first[0], orphan)
		}
		var sizes []int64
		for _, p := range after {
			fi, err := os.Stat(e.svc.files.packPath(p))
			if err != nil {
				t.Fatal(err)
			}
			sizes = append(sizes, fi.Size())
		}
		// The rewritten pack holds f0 alone; the other still holds g0..g3.
		if !(slicesContain64(sizes, 50_000) && slicesContain64(sizes, 200_000)) {
			t.Fatalf("pack sizes after gc: %v", sizes)
		}
		for ref, dir := range map[string]string{"ds@2": d1, "other@2": d3} {
			out := t.TempDir()
			if _, err := e.svc.Get(e.ctx, ref, out, GetOptions{}); err != nil {
				t.Fatalf("get %s after gc: %v", ref, err)
			}
			sameTree(t, dir, out)
		}
		// Once nothing uses them, both packs go.
		for _, ref := range []string{"ds@2", "other@2"} {
			if _, err := e.svc.Remove(e.ctx, ref, RemoveOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		e.clock.advance(2 * time.Hour)
		rep, err = e.svc.GC(e.ctx, GCOptions{})
		if err != nil || rep.Packs != 2 || rep.Repacked != 0 || rep.Chunks != 6 || rep.KeptInPacks != 0 {
			t.Fatalf("last gc %+v, %v", rep, err)
		}
		if got := packFiles(t, e); len(got) != 0 {
			t.Fatalf("packs left: %v", got)
		}
	})
}

// A pack holding a corrupt chunk that is still used is not rewritten: gc
// reports it and leaves the pack, so nothing more is lost.
func TestRepackRefusesCorruptChunk(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		_, first := addThenKeepFirst(t, e, 300, 4, 40_000)
		keep := hashOf(string(first))
		at, err := e.svc.chunkPlace(e.ctx, keep)
		if err != nil || at.Pack == "" {
			t.Fatalf("%+v %v", at, err)
		}
		p := e.svc.files.packPath(at.Pack)
		b, _ := os.ReadFile(p)
		b[at.Offset+7] ^= 0x80
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.Remove(e.ctx, "ds@1", RemoveOptions{}); err != nil {
			t.Fatal(err)
		}
		e.clock.advance(2 * time.Hour)
		_, err = e.svc.GC(e.ctx, GCOptions{})
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), keep) {
			t.Fatalf("gc over a corrupt packed chunk: %v", err)
		}
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("the pack with the corrupt chunk was removed: %v", err)
		}
		if moved, _ := e.svc.chunkPlace(e.ctx, keep); moved.Pack != at.Pack {
			t.Fatalf("row moved to %q", moved.Pack)
		}
	})
}

// Registration after a gc ran meanwhile checks that the packs it names
// still exist (rule 3 in cas.go).
func TestRegisterChecksPackAfterGC(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		epoch, err := e.svc.gcEpoch(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		c := storedChunk{Chunk: Chunk{Hash: hashOf("x"), Size: 1}, Pack: newPackName()}
		if _, err := e.db.Exec(e.ctx, `UPDATE dataset_cas_state SET gc_epoch = gc_epoch + 1`); err != nil {
			t.Fatal(err)
		}
		err = e.svc.registerChunksAt(e.ctx, []storedChunk{c}, nil, epoch)
		wantCode(t, err, errs.Unavailable, "garbage collection ran")
		if err := e.svc.files.writePack(c.Pack, []byte("x")); err != nil {
			t.Fatal(err)
		}
		if err := e.svc.registerChunksAt(e.ctx, []storedChunk{c}, nil, epoch); err != nil {
			t.Fatal(err)
		}
		rc, err := e.svc.GetChunk(e.ctx, c.Hash)
		if err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		_, err = got.ReadFrom(rc)
		rc.Close()
		if err != nil || got.String() != "x" {
			t.Fatalf("read %q, %v", got.String(), err)
		}
	})
}

func slicesContain(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func slicesContain64(s []int64, v int64) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// A get that looked a chunk's place up before gc rewrote its pack still
// reads it: the old pack is gone, the place is looked up again.
func TestGetFollowsRepackedChunk(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		_, want := addThenKeepFirst(t, e, 400, 4, 30_000)
		hash := hashOf(string(want))
		before, err := e.svc.chunkPlace(e.ctx, hash)
		if err != nil {
			t.Fatal(err)
		}
		open, err := e.svc.chunkOpener(e.ctx, []string{hash})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.Remove(e.ctx, "ds@1", RemoveOptions{}); err != nil {
			t.Fatal(err)
		}
		e.clock.advance(2 * time.Hour)
		if rep, err := e.svc.GC(e.ctx, GCOptions{}); err != nil || rep.Repacked != 1 {
			t.Fatalf("gc %+v, %v", rep, err)
		}
		if after, _ := e.svc.chunkPlace(e.ctx, hash); after.Pack == before.Pack {
			t.Fatalf("the chunk did not move: %+v", after)
		}
		rc, err := open(e.ctx, hash)
		if err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		_, err = got.ReadFrom(rc)
		rc.Close()
		if err != nil || !bytes.Equal(got.Bytes(), want) {
			t.Fatalf("read %d bytes, %v", got.Len(), err)
		}
	})
}

// mapSource serves chunks from memory; bad maps a hash to the bytes served
// instead of the right ones.
type mapSource struct {
	chunks map[string][]byte
	bad    map[string][]byte
}

func (m mapSource) GetChunk(_ context.Context, hash string) (io.ReadCloser, error) {
	if b, ok := m.bad[hash]; ok {
		return io.NopCloser(bytes.NewReader(b)), nil
	}
	b, ok := m.chunks[hash]
	if !ok {
		return nil, errs.E(errs.NotFound, "chunk %s is not stored", hash)
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

// Copying chunks into a local store (a pull) stores them in packs, a few
// syscalls and one registration per batch, large ones (up to ChunkMax)
// too. A chunk whose bytes do not match its hash fails its batch, which
// registers nothing, and names the chunk.
func TestCopyChunksInPacks(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		src := mapSource{chunks: map[string][]byte{}}
		var chunks []Chunk
		for i := range 300 {
			b := randBytes(uint64(500+i), 20_000+i) // 4 MB, then...
			if i >= 200 {
				b = randBytes(uint64(500+i), 60_000) // ...6 MB more: two batches of up to 8 MiB
			}
			h := hashOf(string(b))
			src.chunks[h] = b
			chunks = append(chunks, Chunk{Hash: h, Size: int64(len(b))})
		}
		big := randBytes(499, ChunkMin+10)
		src.chunks[hashOf(string(big))] = big
		chunks = append(chunks, Chunk{Hash: hashOf(string(big)), Size: int64(len(big))}, chunks[0]) // and a repeat
		// Three of the largest size: the first ends the second batch, the
		// others are a batch each.
		for i := range 3 {
			b := randBytes(uint64(600+i), ChunkMax)
			src.chunks[hashOf(string(b))] = b
			chunks = append(chunks, Chunk{Hash: hashOf(string(b)), Size: ChunkMax})
		}
		var last int64
		st, err := CopyChunks(e.ctx, e.svc, src, chunks, CopyOptions{Progress: func(done, total int64) { last = done }})
		if err != nil {
			t.Fatal(err)
		}
		var total int64
		for _, b := range src.chunks {
			total += int64(len(b))
		}
		if st.Chunks != 304 || st.Bytes != total || last != total {
			t.Fatalf("copy %+v (progress %d), want 304 chunks, %d bytes", st, last, total)
		}
		if packs := packFiles(t, e); len(packs) != 4 {
			t.Fatalf("packs %v, want 4", packs)
		}
		if n := looseFiles(t, e); n != 0 {
			t.Fatalf("%d chunk files of their own, want none", n)
		}
		for h, b := range src.chunks {
			rc, err := e.svc.GetChunk(e.ctx, h)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(rc)
			rc.Close()
			if err != nil || !bytes.Equal(got, b) {
				t.Fatalf("chunk %s read back %d bytes, %v", h, len(got), err)
			}
		}
		// Again: nothing is missing, nothing copied.
		if st, err := CopyChunks(e.ctx, e.svc, src, chunks, CopyOptions{}); err != nil || st.Chunks != 0 || st.Present != 304 {
			t.Fatalf("second copy %+v, %v", st, err)
		}

		// A source serving wrong bytes for one chunk of a new batch.
		src2 := mapSource{chunks: map[string][]byte{}, bad: map[string][]byte{}}
		var more []Chunk
		for i := range 20 {
			b := randBytes(uint64(900+i), 5000)
			h := hashOf(string(b))
			src2.chunks[h] = b
			more = append(more, Chunk{Hash: h, Size: int64(len(b))})
		}
		src2.bad[more[7].Hash] = randBytes(1, 5000)
		_, err = CopyChunks(e.ctx, e.svc, src2, more, CopyOptions{})
		wantCode(t, err, errs.Invalid, more[7].Hash)
		hashes := make([]string, len(more))
		for i, c := range more {
			hashes[i] = c.Hash
		}
		if missing, err := e.svc.MissingChunks(e.ctx, hashes); err != nil || len(missing) != len(more) {
			t.Fatalf("after a failed batch %d of %d chunks are missing (%v)", len(missing), len(more), err)
		}
		// One of the wrong size is refused before it is hashed.
		src2.bad[more[7].Hash] = randBytes(1, 5001)
		_, err = CopyChunks(e.ctx, e.svc, src2, more, CopyOptions{})
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), more[7].Hash) {
			t.Fatalf("a chunk of the wrong size: %v", err)
		}
	})
}

// Batches are bounded in chunks as well as bytes: many tiny chunks travel
// in several batches, and a batch of too many is refused on the wire.
func TestChunkBatchCountLimit(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		src := mapSource{chunks: map[string][]byte{}}
		var chunks []Chunk
		for i := range MaxBatchChunks + 50 {
			b := []byte(fmt.Sprintf("tiny %d", i))
			h := hashOf(string(b))
			src.chunks[h] = b
			chunks = append(chunks, Chunk{Hash: h, Size: int64(len(b))})
		}
		st, err := CopyChunks(e.ctx, e.svc, src, chunks, CopyOptions{})
		if err != nil || st.Chunks != int64(len(chunks)) {
			t.Fatalf("copy %+v, %v", st, err)
		}
		if packs := packFiles(t, e); len(packs) != 2 {
			t.Fatalf("%d packs, want 2 batches", len(packs))
		}
	})
	var wire bytes.Buffer
	many := make([]ChunkData, MaxBatchChunks+1)
	for i := range many {
		many[i] = ChunkData{Hash: hashOf("x"), Data: []byte("x")}
	}
	if err := EncodeChunkBatch(&wire, many); err != nil {
		t.Fatal(err)
	}
	_, err := DecodeChunkBatch(&wire, BatchChunkMax)
	wantCode(t, err, errs.Invalid, "more than 10000 chunks")
}

// An add whose packs cannot be written (here cas/packs is a file, which
// stops root too) fails with the reason, records nothing and leaves no
// buffer or goroutine waiting, also when the failing write is of a pack
// that a chunk too large for its rest closed. Once the store is mended the
// same add succeeds and reads back.
func TestAddFailsCleanlyWhenPacksCannotBeWritten(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		dir := t.TempDir()
		for i := range 40 {
			writeFile(t, dir, fmt.Sprintf("small/%02d.bin", i), randBytes(uint64(3000+i), 150<<10))
		}
		writeFile(t, dir, "big.csv", csvBytes(0, 12<<20))
		for i := range 3 {
			writeFile(t, dir, fmt.Sprintf("max/%d.bin", i), append(make([]byte, ChunkMax), byte(i)))
		}
		blocker := filepath.Join(e.blobDir, casPrefix, packDir)
		if err := os.MkdirAll(filepath.Dir(blocker), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(blocker, []byte("not a folder"), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := e.svc.Add(e.ctx, AddInput{Name: "ds", BaseDir: dir, Paths: []string{dir}})
		if err == nil || !strings.Contains(err.Error(), "pack") {
			t.Fatalf("add with packs that cannot be written: %v", err)
		}
		if _, err := e.svc.Show(e.ctx, "ds"); !errs.Is(err, errs.NotFound) {
			t.Fatalf("a failed add recorded a version: %v", err)
		}
		if err := os.Remove(blocker); err != nil {
			t.Fatal(err)
		}
		e.add(t, "ds", dir)
		e.getSame(t, "ds", dir)
	})
}
