package dataset

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/mlcycle/mlcycle/internal/errs"
)

func TestOpenFileReadsAndSeeksAcrossChunks(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		dir := t.TempDir()
		big := randBytes(7, 3*ChunkMax) // several chunks
		writeFile(t, dir, "data/big.bin", big)
		writeFile(t, dir, "small.txt", []byte("hello\n"))
		e.add(t, "files", dir)

		v, fr, err := e.svc.OpenFile(e.ctx, "files@latest", "data/big.bin")
		if err != nil {
			t.Fatal(err)
		}
		if v.Ref() != "files@1" || fr.File().Size != int64(len(big)) || len(fr.File().ChunkList()) < 3 {
			t.Fatalf("opened %s: %+v", v.Ref(), fr.File())
		}
		got, err := io.ReadAll(fr)
		if err != nil || !bytes.Equal(got, big) {
			t.Fatalf("read %d bytes (%v), want the %d added", len(got), err, len(big))
		}
		// A read that starts near the end of one chunk and runs into the next.
		second := fr.File().ChunkList()[1]
		start := fr.File().ChunkList()[0].Size - 10
		if pos, err := fr.Seek(start, io.SeekStart); err != nil || pos != start {
			t.Fatalf("seek: %d, %v", pos, err)
		}
		part := make([]byte, 30)
		if _, err := io.ReadFull(fr, part); err != nil || !bytes.Equal(part, big[start:start+30]) {
			t.Fatalf("read across the chunk boundary: %v", err)
		}
		if pos, _ := fr.Seek(-5, io.SeekEnd); pos != int64(len(big))-5 {
			t.Fatalf("seek from the end: %d", pos)
		}
		if tail, err := io.ReadAll(fr); err != nil || !bytes.Equal(tail, big[len(big)-5:]) {
			t.Fatalf("tail: %q, %v", tail, err)
		}
		if _, err := fr.Seek(-1, io.SeekStart); err == nil {
			t.Fatal("seek before the start accepted")
		}

		if _, fr, err = e.svc.OpenFile(e.ctx, "files@1", "small.txt"); err != nil {
			t.Fatal(err)
		}
		if b, err := io.ReadAll(fr); err != nil || string(b) != "hello\n" {
			t.Fatalf("small file: %q, %v", b, err)
		}

		for _, c := range []struct{ ref, path string }{{"files@1", "nope.txt"}, {"files@1", "data"}, {"files@2", "small.txt"}} {
			if _, _, err := e.svc.OpenFile(e.ctx, c.ref, c.path); errs.CodeOf(err) != errs.NotFound {
				t.Errorf("open %s %s: %v, want not found", c.ref, c.path, err)
			}
		}

		// A damaged chunk is an error naming the file and chunk, and no
		// byte of that chunk comes out.
		flipStoredByte(t, e, second.Hash, 100)
		_, fr, err = e.svc.OpenFile(e.ctx, "files@1", "data/big.bin")
		if err != nil {
			t.Fatal(err)
		}
		got, err = io.ReadAll(fr)
		if !errors.Is(err, ErrCorrupt) || !bytes.Contains([]byte(err.Error()), []byte("data/big.bin: chunk 2 of")) {
			t.Fatalf("read of a damaged file: %v", err)
		}
		if int64(len(got)) != fr.File().ChunkList()[0].Size || !bytes.Equal(got, big[:len(got)]) {
			t.Fatalf("read %d bytes before the damaged chunk, want exactly the first chunk", len(got))
		}
		if _, err := fr.Read(make([]byte, 1)); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("read after the error: %v", err)
		}
	})
}

// A get into a folder that holds some files of the version already writes
// only the others; a file whose bytes differ, even at the same size, is
// written again.
func TestGetLeavesFilesInPlace(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		dir := t.TempDir()
		big := randBytes(11, 2*ChunkMax)
		writeFile(t, dir, "a.txt", []byte("alpha\n"))
		writeFile(t, dir, "data/big.bin", big)
		writeFile(t, dir, "empty.txt", nil)
		e.add(t, "inplace", dir)

		out := t.TempDir()
		st, err := e.svc.Get(e.ctx, "inplace@1", out, GetOptions{})
		if err != nil || st.Files != 3 || st.Unchanged != 0 {
			t.Fatalf("first get: %+v, %v", st, err)
		}
		writeFile(t, out, "mine.txt", []byte("not in the version\n"))
		st, err = e.svc.Get(e.ctx, "inplace@1", out, GetOptions{})
		if err != nil || st.Files != 3 || st.Unchanged != 3 || st.UnchangedBytes != int64(len(big)+6) {
			t.Fatalf("second get: %+v, %v", st, err)
		}

		damaged := bytes.Clone(big)
		damaged[len(damaged)-3] ^= 1 // the last chunk differs, the size does not
		writeFile(t, out, "data/big.bin", damaged)
		writeFile(t, out, "a.txt", []byte("alpha\n")) // rewritten with the same bytes: in place
		st, err = e.svc.Get(e.ctx, "inplace@1", out, GetOptions{})
		if err != nil || st.Unchanged != 2 || st.UnchangedBytes != 6 {
			t.Fatalf("get over a changed file: %+v, %v", st, err)
		}
		if b, _ := os.ReadFile(filepath.Join(out, "data", "big.bin")); !bytes.Equal(b, big) {
			t.Fatal("the changed file was not written again")
		}
		if b, _ := os.ReadFile(filepath.Join(out, "mine.txt")); string(b) != "not in the version\n" {
			t.Fatalf("a file outside the version was touched: %q", b)
		}
		if err := os.Remove(filepath.Join(out, "mine.txt")); err != nil {
			t.Fatal(err)
		}
		sameTree(t, dir, out)
	})
}
