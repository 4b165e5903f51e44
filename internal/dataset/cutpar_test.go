package dataset

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	chunkers "github.com/PlakarKorp/go-cdc-chunkers"
)

// The boundaries found in parallel are one cutter's, whatever the segment
// size, on data with cut points everywhere (random, CSV), without any
// (zeros: every chunk is ChunkMax long, so segments never line up with the
// true chunks and the last resort cuts on to the end), and with such runs
// across segment ends.
func TestParallelCutsMatchSequential(t *testing.T) {
	zeros := make([]byte, 30<<20)
	mixed := slices.Concat(randBytes(7, 9<<20), make([]byte, 19<<20), randBytes(8, 11<<20), make([]byte, 3<<20), randBytes(9, 2<<20))
	cases := []struct {
		name string
		data []byte
		segs []int64
	}{
		{"random", randBytes(5, 37<<20+12345), []int64{1 << 20, 3<<20 + 7, 8 << 20, 8<<20 + 1, 13 << 20, 18<<20 + 6172}},
		{"csv", csvBytes(0, 29<<20), []int64{2 << 20, 5 << 20, 10 << 20}},
		{"zeros", zeros, []int64{3 << 20, 8 << 20, 12 << 20}},
		{"zero runs", mixed, []int64{4 << 20, 7<<20 + 3, 16 << 20}},
		{"just over one segment", randBytes(6, 16<<20+5), []int64{8 << 20, 16 << 20}},
	}
	for _, tc := range cases {
		want := sequentialCuts(t, tc.data)
		path := filepath.Join(t.TempDir(), "f")
		if err := os.WriteFile(path, tc.data, 0o644); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, seg := range tc.segs {
			for _, cutters := range []int32{1, 2, 4} {
				t.Run(fmt.Sprintf("%s/seg=%d/cutters=%d", tc.name, seg, cutters), func(t *testing.T) {
					p := &hashPipeline{maxCutters: cutters, cutters: make(chan *chunkers.Chunker, cutters)}
					var got []int64
					next := int64(0)
					err := p.parallelCuts(context.Background(), f, int64(len(tc.data)), seg, func(off, n int64) error {
						if off != next {
							return fmt.Errorf("chunk at %d, want %d", off, next)
						}
						next += n
						got = append(got, n)
						return nil
					})
					if err != nil {
						t.Fatal(err)
					}
					if !slices.Equal(got, want) {
						t.Fatalf("%d chunks %v..., want %d %v...", len(got), got[:min(5, len(got))], len(want), want[:min(5, len(want))])
					}
				})
			}
		}
		f.Close()
	}
}

// An add that cuts a large file in parallel records the same chunks as one
// that cuts it as it reads, and reads back.
func TestAddCutsLargeFileInParallel(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		data := csvBytes(0, 21<<20)
		d1, d2 := t.TempDir(), t.TempDir()
		writeFile(t, d1, "t.csv", data)
		writeFile(t, d2, "t.data", data)
		r1 := e.add(t, "seq", d1) // under two segments of 64 MiB: one cutter
		e.svc.cutSegment = 3 << 20
		r2, err := e.svc.Add(e.ctx, AddInput{Name: "par", Paths: []string{d2}})
		if err != nil {
			t.Fatal(err)
		}
		if r2.Stats.ChunksNew != 0 || r2.Stats.ChunksReused == 0 {
			t.Fatalf("parallel add stored new chunks: %+v (first add %+v)", r2.Stats, r1.Stats)
		}
		v1, _ := e.svc.Show(e.ctx, "seq")
		v2, _ := e.svc.Show(e.ctx, "par")
		f1, _ := v1.Manifest.File("t.csv")
		f2, _ := v2.Manifest.File("t.data")
		if f1.Hash != f2.Hash || !slices.Equal(f1.Chunks, f2.Chunks) || len(f2.Chunks) < 10 {
			t.Fatalf("parallel cut %d chunks (%s), sequential %d (%s)", len(f2.Chunks), f2.Hash, len(f1.Chunks), f1.Hash)
		}
		e.getSame(t, "par", d2)
	})
}
