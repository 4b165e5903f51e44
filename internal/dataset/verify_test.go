package dataset

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// Verify reads back every chunk of every live version: a sound store
// reports nothing; a flipped byte in a pack, a pack that is gone and a
// damaged manifest are each reported once, with the files that use them,
// and the other chunks still check out.
func TestVerifyReportsDamage(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		dir := t.TempDir()
		writeFile(t, dir, "a.bin", randBytes(1, 5000))
		writeFile(t, dir, "b.bin", randBytes(2, 7000))
		big := csvBytes(0, 3<<20)
		writeFile(t, dir, "big.csv", big)
		e.add(t, "ds", dir)
		other := t.TempDir()
		writeFile(t, other, "copy-of-b.bin", randBytes(2, 7000))
		writeFile(t, other, "c.bin", randBytes(3, 9000))
		e.add(t, "other", other)

		rep, err := e.svc.Verify(e.ctx, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Versions != 2 || rep.Chunks < 5 || rep.Bytes != int64(5000+7000+len(big)+9000) || len(rep.Damaged) != 0 {
			t.Fatalf("sound store: %+v", rep)
		}

		// b.bin's chunk: a byte flipped in its pack.
		bad := hashOf(string(randBytes(2, 7000)))
		at, _, _ := flipStoredByte(t, e, bad, 10)
		if at.Pack == "" {
			t.Fatalf("b.bin not packed: %+v", at)
		}
		// c.bin's pack (other's own add) is gone.
		gone := hashOf(string(randBytes(3, 9000)))
		atGone, err := e.svc.chunkPlace(e.ctx, gone)
		if err != nil || atGone.Pack == "" || atGone.Pack == at.Pack {
			t.Fatalf("c.bin not in a pack of its own add: %+v %v", atGone, err)
		}
		if err := os.Remove(e.svc.files.packPath(atGone.Pack)); err != nil {
			t.Fatal(err)
		}

		rep, err = e.svc.Verify(e.ctx, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]DamagedObject{
			bad:  {Hash: bad, Problem: "does not match its hash", UsedBy: []string{"ds@1:b.bin", "other@1:copy-of-b.bin"}},
			gone: {Hash: gone, Problem: "missing", UsedBy: []string{"other@1:c.bin"}},
		}
		if len(rep.Damaged) != len(want) {
			t.Fatalf("damaged %+v, want %d", rep.Damaged, len(want))
		}
		for _, d := range rep.Damaged {
			w := want[d.Hash]
			if d.Problem != w.Problem || !slices.Equal(d.UsedBy, w.UsedBy) {
				t.Fatalf("damaged %+v, want %+v", d, w)
			}
		}

		// One version only: the damage of the other is not looked at.
		rep, err = e.svc.Verify(e.ctx, []string{"ds@1"}, nil)
		if err != nil || rep.Versions != 1 || len(rep.Damaged) != 1 || rep.Damaged[0].Hash != bad {
			t.Fatalf("verify ds@1: %+v %v", rep, err)
		}
		// A damaged manifest is reported for its version.
		d, err := e.svc.Resolve(e.ctx, "ds@1")
		if err != nil {
			t.Fatal(err)
		}
		mp := filepath.Join(e.blobDir, filepath.FromSlash(ChunkKey(d.ManifestHash)))
		if err := os.WriteFile(mp, []byte(`{"format":"not this"}`), 0o644); err != nil {
			t.Fatal(err)
		}
		rep, err = e.svc.Verify(e.ctx, []string{"ds@1"}, nil)
		if err != nil || len(rep.Damaged) != 1 || rep.Damaged[0].Hash != d.ManifestHash || !slices.Equal(rep.Damaged[0].UsedBy, []string{"ds@1:manifest"}) {
			t.Fatalf("verify with a damaged manifest: %+v %v", rep, err)
		}
		if _, err := e.svc.Verify(e.ctx, []string{"nope@1"}, nil); err == nil {
			t.Fatal("verify of an unknown version: no error")
		}
	})
}
