package gbdt

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestHistKernels checks the kernels used on this platform (assembly on
// amd64) against the plain Go loops, bit for bit, on dense and scattered
// rows, including lengths shorter than the prefetch distance.
func TestHistKernels(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	const n, f = 5000, 7
	cols := make([][]uint8, f)
	rows := make([]uint8, n*f)
	for j := range cols {
		cols[j] = make([]uint8, n)
		for i := range cols[j] {
			b := uint8(rng.IntN(256))
			if j == 3 {
				b = uint8(rng.IntN(3)) // long runs in one bin
			}
			cols[j][i] = b
			rows[i*f+j] = b
		}
	}
	gh := make([]gpair, n)
	for i := range gh {
		gh[i] = gpair{rng.NormFloat64(), rng.Float64() / 4}
	}
	for _, size := range []int{0, 1, 5, 31, 32, 33, 100, 1000, n} {
		var seg []int32
		for i := range n {
			if rng.IntN(n) < size {
				seg = append(seg, int32(i))
			}
		}
		og := make([]gpair, len(seg))
		for k, r := range seg {
			og[k] = gh[r]
		}
		want := make([][256]hbin, f)
		for j := 0; j+1 < f; j += 2 {
			hist2SegGo(&want[j], &want[j+1], cols[j], cols[j+1], seg, og)
		}
		histOneSeg(&want[f-1], cols[f-1], seg, og)

		got := make([][256]hbin, f)
		for j := 0; j+1 < f; j += 2 {
			hist2Seg(&got[j], &got[j+1], cols[j], cols[j+1], seg, og)
		}
		histOneSeg(&got[f-1], cols[f-1], seg, og)
		for j := range want {
			if got[j] != want[j] {
				t.Fatalf("%d rows: column kernel, feature %d differs", len(seg), j)
			}
		}
		if useRows {
			got := make([][256]hbin, f)
			histRows(got[:3], rows, f, 0, seg, gh)
			histRows(got[3:], rows, f, 3, seg, gh)
			for j := range want {
				if got[j] != want[j] {
					t.Fatalf("%d rows: row-major kernel, feature %d differs", len(seg), j)
				}
			}
		}

		// whole columns, from an offset as the row blocks do
		lo := n - size
		want = make([][256]hbin, 2)
		hist2AllGo(&want[0], &want[1], cols[0][lo:], cols[3][lo:], gh[lo:])
		got = make([][256]hbin, 2)
		hist2All(&got[0], &got[1], cols[0][lo:], cols[3][lo:], gh[lo:])
		if got[0] != want[0] || got[1] != want[1] {
			t.Fatalf("%d rows: all-rows kernel differs", size)
		}
	}
}

func TestRadixSort(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	for _, n := range []int{0, 1, 255, 256, 1000, 70000} {
		keys := make([]uint64, n)
		for i := range keys {
			switch i % 3 {
			case 0:
				keys[i] = floatKey(rng.NormFloat64())
			case 1:
				keys[i] = floatKey(float64(rng.IntN(10))) // repeats
			default:
				keys[i] = rng.Uint64()
			}
		}
		want := slices.Clone(keys)
		slices.Sort(want)
		radixSort(keys)
		if !slices.Equal(keys, want) {
			t.Fatalf("%d keys: not sorted", n)
		}
	}
}
