package gbdt

import (
	"math"
	"math/bits"
	"slices"
	"sort"
)

// binMapper maps one feature's values to histogram bins. Value bins are
// 0..nBins-1 and the missing bin is nBins, so a feature uses at most
// max_bins+1 <= 256 bins and fits a uint8.
type binMapper struct {
	nBins int
	// numeric: upper[b] is the largest value in bin b (a midpoint between
	// neighbouring training values); the last is +Inf.
	upper []float64
	// categorical: binOf[code] is the bin of a code (-1: the shared bin of
	// rare codes, which always goes right); codeOf[b] is the code of bin b.
	categorical bool
	binOf       []int32
	codeOf      []int32
	otherBin    int // -1 when every code has its own bin
}

func (m *binMapper) missingBin() int { return m.nBins }

// binSample is how many rows numeric bin edges are computed from.
const binSample = 200_000

func newNumericMapper(col []float64, maxBins int) binMapper {
	n := len(col)
	step := 1
	if n > binSample {
		step = n / binSample
	}
	// Sort as order-preserving integer keys: much faster than sorting
	// floats, whose comparison must handle NaN (there is none here).
	keys := make([]uint64, 0, min(n, binSample+1))
	for i := 0; i < n; i += step {
		if v := col[i]; v == v {
			keys = append(keys, floatKey(v))
		}
	}
	radixSort(keys)
	vals := make([]float64, len(keys))
	for i, k := range keys {
		vals[i] = keyFloat(k)
	}
	// distinct values and their counts
	var distinct []float64
	var counts []int
	for i, v := range vals {
		if i > 0 && v == vals[i-1] {
			counts[len(counts)-1]++
			continue
		}
		distinct = append(distinct, v)
		counts = append(counts, 1)
	}
	var upper []float64
	mid := func(i int) float64 { return distinct[i]/2 + distinct[i+1]/2 }
	if len(distinct) <= maxBins {
		for i := 0; i+1 < len(distinct); i++ {
			upper = append(upper, mid(i))
		}
	} else {
		// Greedy equal-frequency bins, re-aiming after each cut so a heavy
		// value does not leave a run of tiny bins behind it.
		total, cut, acc := len(vals), 0, 0
		for i := 0; i+1 < len(distinct) && len(upper) < maxBins-1; i++ {
			acc += counts[i]
			left := maxBins - len(upper)
			if float64(acc-cut) >= float64(total-cut)/float64(left) {
				upper = append(upper, mid(i))
				cut = acc
			}
		}
	}
	// A midpoint can round onto a neighbour; drop repeats so edges increase.
	upper = slices.Compact(upper)
	upper = append(upper, math.Inf(1))
	return binMapper{nBins: len(upper), upper: upper, otherBin: -1}
}

func newCategoricalMapper(col []float64, k, maxBins int) binMapper {
	counts := make([]int, k)
	for _, v := range col {
		if v == v {
			counts[int(v)]++
		}
	}
	m := binMapper{categorical: true, binOf: make([]int32, k), otherBin: -1}
	if k <= maxBins {
		m.nBins = k
		m.codeOf = make([]int32, k)
		for c := range k {
			m.binOf[c] = int32(c)
			m.codeOf[c] = int32(c)
		}
		return m
	}
	// Too many categories: the most frequent get their own bins, the rest
	// share one bin that never joins a left set.
	order := make([]int, k)
	for c := range order {
		order[c] = c
	}
	sort.SliceStable(order, func(a, b int) bool { return counts[order[a]] > counts[order[b]] })
	m.nBins = maxBins
	m.otherBin = maxBins - 1
	m.codeOf = make([]int32, maxBins)
	for c := range m.binOf {
		m.binOf[c] = -1
	}
	for b := 0; b < maxBins-1; b++ {
		m.binOf[order[b]] = int32(b)
		m.codeOf[b] = int32(order[b])
	}
	m.codeOf[m.otherBin] = -1
	return m
}

// binColumn writes the bins of col into dst.
func (m *binMapper) binColumn(col []float64, dst []uint8) {
	miss := uint8(m.nBins)
	if m.categorical {
		for i, v := range col {
			if v != v {
				dst[i] = miss
				continue
			}
			b := m.binOf[int(v)]
			if b < 0 {
				b = int32(m.otherBin)
			}
			dst[i] = uint8(b)
		}
		return
	}
	// Compare order-preserving integer keys: the compiler makes the search
	// below branch-free for integers, not for floats.
	up := make([]uint64, len(m.upper))
	for b, u := range m.upper {
		up[b] = floatKey(u)
	}
	for i, v := range col {
		if v != v {
			dst[i] = miss
			continue
		}
		// first bin whose upper edge is >= v (the last is +Inf), by a
		// branch-free binary search
		base, n := 0, len(up)
		kv := floatKey(v)
		for n > 1 {
			half := n >> 1
			// borrow is 1 when up[...] < kv: a mask, not a branch the
			// CPU would mispredict half the time
			_, borrow := bits.Sub64(up[base+half-1], kv, 0)
			base += half & -int(borrow)
			n -= half
		}
		dst[i] = uint8(base)
	}
}

// radixSort sorts keys ascending, a byte per pass from the lowest (several
// times faster than a comparison sort on the 200k sampled values); a pass
// whose byte is the same in every key is skipped.
func radixSort(keys []uint64) {
	n := len(keys)
	if n < 256 {
		slices.Sort(keys)
		return
	}
	var counts [8][256]int
	for _, k := range keys {
		for d := range 8 {
			counts[d][byte(k>>(8*d))]++
		}
	}
	src, dst := keys, make([]uint64, n)
	for d := range 8 {
		c := &counts[d]
		shift := 8 * d
		if c[byte(src[0]>>shift)] == n {
			continue
		}
		sum := 0
		for b := range c {
			c[b], sum = sum, sum+c[b]
		}
		for _, k := range src {
			b := byte(k >> shift)
			dst[c[b]] = k
			c[b]++
		}
		src, dst = dst, src
	}
	copy(keys, src) // a no-op when src is keys
}

// floatKey maps a float64 to a uint64 with the same order.
func floatKey(v float64) uint64 {
	b := math.Float64bits(v)
	return b ^ (uint64(int64(b)>>63) | 1<<63)
}

func keyFloat(k uint64) float64 {
	if k>>63 == 1 {
		return math.Float64frombits(k &^ (1 << 63))
	}
	return math.Float64frombits(^k)
}
