package dataset

import (
	"bytes"
	"slices"
	"testing"

	chunkers "github.com/PlakarKorp/go-cdc-chunkers"
)

// cutsWith returns the chunk sizes algorithm cuts data into with opts.
func cutsWith(t testing.TB, algorithm string, opts chunkers.ChunkerOpts, data []byte) []int64 {
	t.Helper()
	c, err := chunkers.NewChunkerBuffer(algorithm, bytes.NewReader(data), &opts, make([]byte, 2*opts.MaxSize))
	if err != nil {
		t.Fatal(err)
	}
	return chunkLengths(t, c)
}

// TestGearCutterCutsAsTheLibrary checks that our cutter and the library's
// fastcdc-v1.0.0 cut the same bytes at the same places, with the format's
// sizes and with small ones that put many cuts (and every rule's edge) in
// little data.
func TestGearCutterCutsAsTheLibrary(t *testing.T) {
	format := chunkers.ChunkerOpts{MinSize: ChunkMin, NormalSize: ChunkNormal, MaxSize: ChunkMax}
	small := chunkers.ChunkerOpts{MinSize: 64, NormalSize: 256, MaxSize: 1024}
	odd := chunkers.ChunkerOpts{MinSize: 100, NormalSize: 512, MaxSize: 515}
	// a mask with more ones than 64/2 bits (level 2 over 2^31)
	wide := chunkers.ChunkerOpts{MinSize: 64, NormalSize: 1 << 31, MaxSize: 1<<31 + 1}
	zeroRuns := randBytes(3, 40<<10)
	for i := 0; i < len(zeroRuns); i += 3000 {
		clear(zeroRuns[i : i+min(1500, len(zeroRuns)-i)])
	}
	cases := []struct {
		name string
		opts chunkers.ChunkerOpts
		data []byte
	}{
		{"format random", format, randBytes(42, 40<<20)},
		{"format csv", format, csvBytes(0, 24<<20)},
		{"format zeros", format, make([]byte, 3*ChunkMax+5)},
		{"format below minimum", format, randBytes(5, ChunkMin)},
		{"format one over minimum", format, randBytes(6, ChunkMin+1)},
		{"format normal size", format, randBytes(7, ChunkNormal)},
		{"small random", small, randBytes(8, 1<<20)},
		{"small csv", small, csvBytes(1, 1<<20)},
		{"small zero runs", small, zeroRuns},
		{"odd sizes", odd, randBytes(9, 1<<20)},
		{"wide mask", wide, randBytes(10, 64<<10)},
	}
	for n := range 1100 {
		cases = append(cases, struct {
			name string
			opts chunkers.ChunkerOpts
			data []byte
		}{"small length", small, randBytes(uint64(n), n)})
	}
	for _, tc := range cases {
		want := cutsWith(t, ChunkAlgorithm, tc.opts, tc.data)
		got := cutsWith(t, gearAlgorithm, tc.opts, tc.data)
		if !slices.Equal(got, want) {
			t.Fatalf("%s (%d bytes): cut into %v\nlibrary: %v", tc.name, len(tc.data), got, want)
		}
	}
}

// FuzzGearCutter compares our cutter with the library's on arbitrary bytes,
// with sizes small enough that fuzzed inputs hold several chunks.
func FuzzGearCutter(f *testing.F) {
	f.Add([]byte("id,x\n1,2.5\n"), uint8(0))
	f.Add([]byte("a,b,c\n"), uint8(3))
	f.Add([]byte{0, 0, 0}, uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, shift uint8) {
		normal := 128 << (shift % 4)
		opts := chunkers.ChunkerOpts{MinSize: 64 + int(shift)%32, NormalSize: normal, MaxSize: normal + 1 + int(shift)*3}
		want := cutsWith(t, ChunkAlgorithm, opts, data)
		if got := cutsWith(t, gearAlgorithm, opts, data); !slices.Equal(got, want) {
			t.Fatalf("cut into %v\nlibrary: %v", got, want)
		}
	})
}

func TestGearCutterRefuses(t *testing.T) {
	for name, o := range map[string]chunkers.ChunkerOpts{
		"keyed":             {MinSize: 64, NormalSize: 256, MaxSize: 1024, Key: []byte("k")},
		"normal not pow2":   {MinSize: 64, NormalSize: 300, MaxSize: 1024},
		"min above normal":  {MinSize: 512, NormalSize: 256, MaxSize: 1024},
		"max below normal":  {MinSize: 64, NormalSize: 256, MaxSize: 256},
		"library's legacy":  {MinSize: 2 << 10, NormalSize: 8 << 10, MaxSize: 64 << 10},
		"min below 64":      {MinSize: 32, NormalSize: 256, MaxSize: 1024},
		"normal below min":  {MinSize: 64, NormalSize: 64, MaxSize: 1024},
		"normal tiny pow 2": {MinSize: 64, NormalSize: 32, MaxSize: 1024},
	} {
		if _, err := chunkers.NewChunker(gearAlgorithm, bytes.NewReader(nil), &o); err == nil {
			t.Errorf("%s: accepted %+v", name, o)
		}
	}
}

func BenchmarkGearCut(b *testing.B) {
	data := csvBytes(0, 256<<20)
	opts := chunkers.ChunkerOpts{MinSize: ChunkMin, NormalSize: ChunkNormal, MaxSize: ChunkMax}
	for _, alg := range []string{ChunkAlgorithm, gearAlgorithm} {
		b.Run(alg, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			buf := make([]byte, 2*ChunkMax)
			for b.Loop() {
				o := opts
				c, err := chunkers.NewChunkerBuffer(alg, bytes.NewReader(data), &o, buf)
				if err != nil {
					b.Fatal(err)
				}
				for {
					if _, err := c.Next(); err != nil {
						break
					}
				}
			}
		})
	}
}
