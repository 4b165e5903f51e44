package sketch

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
)

// Quantile sketch parameters.
const (
	// ExactLimit is how many values a Quantiles keeps verbatim; up to it,
	// every answer is exact.
	ExactLimit = 4096
	// DefaultK is the KLL accuracy parameter used by NewQuantiles.
	DefaultK = 512
	// RankError bounds the normalised rank error of Quantile, Rank and CDF
	// in sketch mode with k = DefaultK: a returned quantile's true rank is
	// within RankError*n of the requested one, and CDF(x) within RankError of
	// the true fraction. The tests observe at most 0.7% on 1M-20M values of
	// several distributions and orders; 1% leaves a margin for the
	// randomness of compaction.
	RankError = 0.01
	// minLevelCap keeps low levels from shrinking to a few items, where
	// compactions would be frequent and costly; it only adds accuracy.
	minLevelCap = 64
	// compactorLevels is how many levels are compactors; below them a
	// sampler keeps one random item of each block of 2^s (the KLL paper's
	// bottom sampler), so a long stream costs O(1) per item instead of a
	// sort.
	compactorLevels = 8
)

// Quantiles is a KLL quantile sketch (Karnin, Lang, Liberty 2016) over
// float64 values, with an exact mode: the first ExactLimit values are kept
// as they are. NaN values are ignored and -0 counts as 0. Compactions and
// the bottom sampler use a deterministic pseudo-random sequence, so the
// same input in the same order gives the same sketch. Memory is O(k) values
// whatever the stream length. Values are held as order-preserving uint64
// keys, which sort faster than float64.
type Quantiles struct {
	k        int
	n        int64
	min, max float64
	exact    []uint64   // exact mode (levels == nil)
	levels   [][]uint64 // sketch mode: levels <= s unsorted, above sorted; weight 2^h
	rng      uint64     // xorshift state
	caps     []int      // capacity per level for the current height
	tmp      []uint64   // merge scratch
	view     *qview     // sorted weighted items, rebuilt after changes

	// bottom sampler: items enter level s; with s > 0 one item of each
	// block of 2^s consecutive items is kept, chosen uniformly
	s    int
	blk  int64
	pick int64
	cand uint64
}

// qview is the sorted, cumulative view used by queries.
type qview struct {
	keys []uint64
	cum  []int64 // cum[i] = total weight of keys[0..i]
}

// key maps a float64 (not NaN, not -0) to a uint64 with the same order.
func key(x float64) uint64 {
	b := math.Float64bits(x)
	if b>>63 != 0 {
		return ^b
	}
	return b | 1<<63
}

func unkey(k uint64) float64 {
	if k>>63 != 0 {
		return math.Float64frombits(k &^ (1 << 63))
	}
	return math.Float64frombits(^k)
}

// NewQuantiles returns an empty sketch with accuracy parameter DefaultK.
func NewQuantiles() *Quantiles { return NewQuantilesK(DefaultK) }

// NewQuantilesK returns an empty sketch with accuracy parameter k (>= 8);
// larger k is more accurate; the sketch holds at most about 3k values.
func NewQuantilesK(k int) *Quantiles {
	k = max(k, 8)
	return &Quantiles{k: k, min: math.Inf(1), max: math.Inf(-1), rng: 0x9e3779b97f4a7c15}
}

func (q *Quantiles) rand() uint64 {
	q.rng ^= q.rng << 13
	q.rng ^= q.rng >> 7
	q.rng ^= q.rng << 17
	return q.rng
}

// Count is the number of values added.
func (q *Quantiles) Count() int64 { return q.n }

// Exact reports whether the sketch still holds every value.
func (q *Quantiles) Exact() bool { return q.levels == nil }

// Min and Max are the exact extremes (NaN when empty).
func (q *Quantiles) Min() float64 {
	if q.n == 0 {
		return math.NaN()
	}
	return q.min
}

// Max: see Min.
func (q *Quantiles) Max() float64 {
	if q.n == 0 {
		return math.NaN()
	}
	return q.max
}

// Add records x; NaN is ignored.
func (q *Quantiles) Add(x float64) {
	if x != x {
		return
	}
	if x == 0 {
		x = 0 // -0
	}
	q.n++
	q.min = min(q.min, x)
	q.max = max(q.max, x)
	q.view = nil
	q.push(key(x))
}

// push inserts one key (already counted in n).
func (q *Quantiles) push(k uint64) {
	if q.levels == nil {
		if len(q.exact) < ExactLimit {
			q.exact = append(q.exact, k)
			return
		}
		q.toSketch()
	}
	if q.s > 0 {
		if q.blk == q.pick {
			q.cand = k
		}
		q.blk++
		if q.blk < 1<<q.s {
			return
		}
		q.blk = 0
		q.pick = int64(q.rand() & (1<<q.s - 1))
		k = q.cand
	}
	q.levels[q.s] = append(q.levels[q.s], k)
	if len(q.levels[q.s]) >= q.caps[q.s] {
		q.compress()
	}
}

// AddSlice records every value of xs (NaN ignored); faster than Add in a
// loop. It gives the same sketch as Add called on each value in order.
func (q *Quantiles) AddSlice(xs []float64) {
	if len(xs) == 0 {
		return
	}
	// extremes in one tight pass; NaN compares false, so it never wins
	mn, mx := xs[0], xs[0]
	nan := false
	for _, x := range xs {
		if x < mn {
			mn = x
		}
		if !(x <= mx) {
			if x != x {
				nan = true
			} else {
				mx = x
			}
		}
	}
	if nan {
		q.view = nil
		for _, x := range xs {
			q.Add(x)
		}
		return
	}
	q.AddFinite(xs, mn, mx)
}

// AddFinite is AddSlice for a caller that already knows xs holds no NaN
// and has lo and hi as its smallest and largest values (either zero may
// be -0); a caller summing xs anyway gets the extremes for free in the same
// pass. Wrong bounds make Min, Max and the quantiles at 0 and 1 wrong.
func (q *Quantiles) AddFinite(xs []float64, lo, hi float64) {
	if len(xs) == 0 {
		return
	}
	q.view = nil
	// -0 and 0 compare equal; a zero extreme is +0 as in Add
	q.min = min(q.min, zeroPos(lo))
	q.max = max(q.max, zeroPos(hi))
	for i := 0; i < len(xs); {
		if q.levels == nil {
			q.n++
			q.push(key(zeroPos(xs[i])))
			i++
			continue
		}
		if q.s == 0 {
			// push without a sampler: append to the bottom level
			lv := append(q.levels[0], key(zeroPos(xs[i])))
			i++
			q.n++
			q.levels[0] = lv
			if len(lv) >= q.caps[0] {
				q.compress()
			}
			continue
		}
		// push's bottom sampler a block at a time: of the 2^s items of a
		// block only the one at position pick is kept, so the others need
		// no work beyond counting
		rest := xs[i:]
		need := int64(1)<<q.s - q.blk
		if int64(len(rest)) < need {
			if off := q.pick - q.blk; off >= 0 && off < int64(len(rest)) {
				q.cand = key(zeroPos(rest[off]))
			}
			q.blk += int64(len(rest))
			q.n += int64(len(rest))
			return
		}
		if off := q.pick - q.blk; off >= 0 {
			q.cand = key(zeroPos(rest[off]))
		}
		i += int(need)
		q.n += need
		q.blk = 0
		q.pick = int64(q.rand() & (1<<q.s - 1))
		lv := append(q.levels[q.s], q.cand)
		q.levels[q.s] = lv
		if len(lv) >= q.caps[q.s] {
			q.compress()
		}
	}
}

// zeroPos maps -0 to 0 and leaves other values alone.
func zeroPos(x float64) float64 {
	if x == 0 {
		return 0
	}
	return x
}

func (q *Quantiles) toSketch() {
	q.levels = [][]uint64{q.exact}
	q.exact = nil
	q.resize()
	q.compress()
}

// resize recomputes the level capacities after the height changed (k at
// the top, shrinking by 2/3 per level below, never under minLevelCap) and
// moves the sampler up so that at most compactorLevels levels compact.
func (q *Quantiles) resize() {
	q.caps = q.caps[:0]
	for h := range q.levels {
		depth := len(q.levels) - h - 1
		c := max(int(math.Ceil(float64(q.k)*math.Pow(2.0/3.0, float64(depth)))), minLevelCap)
		q.caps = append(q.caps, c)
	}
	if s := len(q.levels) - compactorLevels; s > q.s {
		q.s = s
		q.blk = 0
		q.pick = int64(q.rand() & (1<<q.s - 1))
	}
}

// compress compacts every level that has reached its capacity, lowest
// first. Keeping each level within its capacity (rather than compacting
// lazily when the whole sketch is full) keeps every merge small.
func (q *Quantiles) compress() {
	for again := true; again; {
		again = false
		for h := 0; h < len(q.levels); h++ {
			if len(q.levels[h]) >= q.caps[h] {
				q.compact(h)
				again = true
			}
		}
	}
}

// compact halves level h into level h+1: sort it, keep every other item
// starting at a random offset, and merge those (now of double weight) into
// the sorted level above. An odd item out stays at level h.
func (q *Quantiles) compact(h int) {
	if h+1 == len(q.levels) {
		q.levels = append(q.levels, nil)
		q.resize()
	}
	lv := q.levels[h]
	if h <= q.s {
		slices.Sort(lv)
	}
	odd := len(lv)%2 == 1
	var keep uint64
	if odd {
		keep = lv[len(lv)-1]
		lv = lv[:len(lv)-1]
	}
	half := lv[:0]
	for i := int(q.rand() & 1); i < len(lv); i += 2 {
		half = append(half, lv[i]) // in place: writes trail reads
	}
	up := q.levels[h+1]
	if h+1 <= q.s {
		up = append(up, half...) // an unsorted level
	} else {
		q.tmp = mergeSorted(q.tmp[:0], up, half)
		up, q.tmp = q.tmp, up
	}
	q.levels[h+1] = up
	lv = lv[:0]
	if odd {
		lv = append(lv, keep)
	}
	q.levels[h] = lv
}

// mergeSorted appends the merge of sorted a and b to dst.
func mergeSorted(dst, a, b []uint64) []uint64 {
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		if x, y := a[i], b[j]; y < x {
			dst = append(dst, y)
			j++
		} else {
			dst = append(dst, x)
			i++
		}
	}
	dst = append(dst, a[i:]...)
	return append(dst, b[j:]...)
}

// Merge adds every value summarised by o to q. With sampling active, the
// few items of o's unfinished sampling block are dropped (Count stays
// exact; ranks lose at most 2^s of weight).
func (q *Quantiles) Merge(o *Quantiles) {
	if o.n == 0 {
		return
	}
	q.view = nil
	q.min = min(q.min, o.min)
	q.max = max(q.max, o.max)
	if o.levels == nil {
		for _, k := range o.exact {
			q.n++
			q.push(k)
		}
		return
	}
	q.n += o.n
	if q.levels == nil {
		q.toSketch()
	}
	for len(q.levels) < len(o.levels) {
		q.levels = append(q.levels, nil)
	}
	q.resize()
	unsorted := max(q.s, o.s)
	for h, l := range o.levels {
		if h <= unsorted {
			q.levels[h] = append(q.levels[h], l...)
		} else {
			q.levels[h] = mergeSorted(nil, q.levels[h], l)
		}
	}
	if o.s > q.s {
		q.s = o.s
		q.blk = 0
		q.pick = int64(q.rand() & (1<<q.s - 1))
	}
	for h := range q.levels[:q.s+1] {
		slices.Sort(q.levels[h])
	}
	q.compress()
}

func (q *Quantiles) buildView() *qview {
	if q.view != nil {
		return q.view
	}
	v := &qview{}
	if q.levels == nil {
		v.keys = slices.Clone(q.exact)
		slices.Sort(v.keys)
		v.cum = make([]int64, len(v.keys))
		for i := range v.cum {
			v.cum[i] = int64(i + 1)
		}
		q.view = v
		return v
	}
	type wk struct {
		k uint64
		w int64
	}
	var all []wk
	for h, l := range q.levels {
		for _, k := range l {
			all = append(all, wk{k, int64(1) << h})
		}
	}
	slices.SortFunc(all, func(a, b wk) int {
		switch {
		case a.k < b.k:
			return -1
		case a.k > b.k:
			return 1
		}
		return 0
	})
	v.keys = make([]uint64, len(all))
	v.cum = make([]int64, len(all))
	var c int64
	for i, e := range all {
		c += e.w
		v.keys[i] = e.k
		v.cum[i] = c
	}
	q.view = v
	return v
}

// Quantile returns the value at fraction p (0..1) of the sorted stream; NaN
// when empty. In exact mode it interpolates linearly between the two
// nearest order statistics (numpy's default); in sketch mode it returns the
// smallest retained value whose cumulative weight reaches p of the total.
// Quantile(0) and Quantile(1) are the exact min and max.
func (q *Quantiles) Quantile(p float64) float64 {
	if q.n == 0 || p != p {
		return math.NaN()
	}
	if p <= 0 {
		return q.min
	}
	if p >= 1 {
		return q.max
	}
	v := q.buildView()
	if q.levels == nil {
		h := float64(len(v.keys)-1) * p
		lo := int(math.Floor(h))
		a := unkey(v.keys[lo])
		if lo+1 >= len(v.keys) {
			return a
		}
		return a + (h-float64(lo))*(unkey(v.keys[lo+1])-a)
	}
	if len(v.cum) == 0 {
		return q.max
	}
	target := int64(math.Ceil(p * float64(v.cum[len(v.cum)-1])))
	i := sort.Search(len(v.cum), func(i int) bool { return v.cum[i] >= target })
	if i >= len(v.keys) {
		return q.max
	}
	return unkey(v.keys[i])
}

// Rank returns how many values are <= x: exact in exact mode, otherwise an
// estimate within RankError*n. Rank(x) for x >= Max() is exactly Count().
func (q *Quantiles) Rank(x float64) int64 {
	if q.n == 0 || x != x {
		return 0
	}
	if x >= q.max {
		return q.n
	}
	if x < q.min {
		return 0
	}
	if x == 0 {
		x = 0
	}
	v := q.buildView()
	k := key(x)
	i := sort.Search(len(v.keys), func(i int) bool { return v.keys[i] > k })
	if i == 0 {
		return 0
	}
	return v.cum[i-1]
}

// CDF returns the fraction of values <= x (0 when empty).
func (q *Quantiles) CDF(x float64) float64 {
	if q.n == 0 {
		return 0
	}
	return float64(q.Rank(x)) / float64(q.n)
}

// retained is the number of values the sketch holds.
func (q *Quantiles) retained() int {
	n := len(q.exact)
	for _, l := range q.levels {
		n += len(l)
	}
	return n
}

// Binary layout (little endian): byte 'Q', byte version 1, uint32 k,
// uint64 n, float64 min, float64 max, uint64 rng, byte mode (0 exact,
// 1 sketch); exact: uint32 count, values; sketch: byte s, uint64 blk,
// uint64 pick, uint64 cand (the sampler's pending item as an order key),
// uint32 levels, then per level uint32 count and values. Values are
// float64.
const qVersion = 1

// MarshalBinary encodes q.
func (q *Quantiles) MarshalBinary() ([]byte, error) {
	le := binary.LittleEndian
	out := []byte{'Q', qVersion}
	out = le.AppendUint32(out, uint32(q.k))
	out = le.AppendUint64(out, uint64(q.n))
	out = le.AppendUint64(out, math.Float64bits(q.min))
	out = le.AppendUint64(out, math.Float64bits(q.max))
	out = le.AppendUint64(out, q.rng)
	appendVals := func(out []byte, ks []uint64) []byte {
		out = le.AppendUint32(out, uint32(len(ks)))
		for _, k := range ks {
			out = le.AppendUint64(out, math.Float64bits(unkey(k)))
		}
		return out
	}
	if q.levels == nil {
		out = append(out, 0)
		return appendVals(out, q.exact), nil
	}
	out = append(out, 1, byte(q.s))
	out = le.AppendUint64(out, uint64(q.blk))
	out = le.AppendUint64(out, uint64(q.pick))
	out = le.AppendUint64(out, q.cand)
	out = le.AppendUint32(out, uint32(len(q.levels)))
	for _, l := range q.levels {
		out = appendVals(out, l)
	}
	return out, nil
}

var errQData = errors.New("sketch: invalid quantile sketch data")

// UnmarshalBinary replaces q with the sketch encoded in data.
func (q *Quantiles) UnmarshalBinary(data []byte) error {
	le := binary.LittleEndian
	if len(data) < 2 || data[0] != 'Q' {
		return errQData
	}
	if data[1] != qVersion {
		return fmt.Errorf("sketch: quantile sketch version %d not supported", data[1])
	}
	d := data[2:]
	if len(d) < 37 {
		return errQData
	}
	k := int(le.Uint32(d))
	n := int64(le.Uint64(d[4:]))
	mn := math.Float64frombits(le.Uint64(d[12:]))
	mx := math.Float64frombits(le.Uint64(d[20:]))
	nq := Quantiles{k: k, n: n, min: mn, max: mx, rng: le.Uint64(d[28:])}
	mode := d[36]
	d = d[37:]
	if k < 8 || k > 1<<20 || n < 0 || n > 0 && !(mn <= mx) {
		return errQData
	}
	readKey := func(b []byte) (uint64, bool) {
		x := math.Float64frombits(le.Uint64(b))
		if x != x || x < mn || x > mx {
			return 0, false
		}
		if x == 0 {
			x = 0
		}
		return key(x), true
	}
	readVals := func() ([]uint64, error) {
		if len(d) < 4 {
			return nil, errQData
		}
		c := int(le.Uint32(d))
		d = d[4:]
		if c < 0 || c > len(d)/8 {
			return nil, errQData
		}
		ks := make([]uint64, c)
		for i := range ks {
			var ok bool
			if ks[i], ok = readKey(d[8*i:]); !ok {
				return nil, errQData
			}
		}
		d = d[8*c:]
		return ks, nil
	}
	switch mode {
	case 0:
		xs, err := readVals()
		if err != nil {
			return err
		}
		if int64(len(xs)) != n || len(xs) > ExactLimit {
			return errQData
		}
		nq.exact = xs
	case 1:
		if len(d) < 29 {
			return errQData
		}
		nq.s = int(d[0])
		nq.blk = int64(le.Uint64(d[1:]))
		nq.pick = int64(le.Uint64(d[9:]))
		nq.cand = le.Uint64(d[17:])
		nl := int(le.Uint32(d[25:]))
		d = d[29:]
		if nl < 1 || nl > 62 || nq.s >= nl || nq.blk < 0 || nq.pick < 0 || nq.blk >= 1<<nq.s || nq.pick >= 1<<nq.s {
			return errQData
		}
		var w int64
		for h := range nl {
			xs, err := readVals()
			if err != nil {
				return err
			}
			if h > nq.s && !slices.IsSorted(xs) {
				return errQData
			}
			w += int64(len(xs)) << h
			nq.levels = append(nq.levels, xs)
		}
		if w > n || w <= 0 {
			return errQData
		}
		nq.caps = nil
		s := nq.s
		nq.resize()
		nq.s = s
	default:
		return errQData
	}
	if len(d) != 0 {
		return errQData
	}
	*q = nq
	return nil
}
