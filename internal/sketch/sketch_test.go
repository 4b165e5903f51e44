package sketch

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"testing"
)

func TestHLLExactWhenSparse(t *testing.T) {
	for _, n := range []int{0, 1, 10, 1000, sparseMax - 1} {
		h := NewHLL()
		for i := range n {
			h.Add(HashUint64(uint64(i)))
			h.Add(HashUint64(uint64(i))) // duplicates do not count
		}
		if got := h.Estimate(); got != uint64(n) {
			t.Errorf("n=%d: estimate %d", n, got)
		}
	}
}

func TestHLLErrorBound(t *testing.T) {
	// 1M distinct values, each added twice, plus intermediate checkpoints;
	// allow 4 standard errors.
	rng := rand.New(rand.NewPCG(7, 8))
	h := NewHLL()
	checks := map[int]bool{5000: true, 20000: true, 100000: true, 1000000: true}
	for i := 1; i <= 1000000; i++ {
		v := rng.Uint64()
		b := strconv.AppendUint(nil, v, 10)
		h.Add(Hash(b))
		h.Add(Hash(b))
		if checks[i] {
			est := float64(h.Estimate())
			if rel := math.Abs(est-float64(i)) / float64(i); rel > 4*HLLStdError {
				t.Errorf("n=%d: estimate %.0f, relative error %.4f", i, est, rel)
			} else {
				t.Logf("n=%d: estimate %.0f, relative error %.4f", i, est, rel)
			}
		}
	}
}

func TestHLLMergeAndMarshal(t *testing.T) {
	a, b, all := NewHLL(), NewHLL(), NewHLL()
	for i := range 300000 {
		x := HashUint64(uint64(i))
		all.Add(x)
		if i%3 == 0 {
			a.Add(x)
		} else {
			b.Add(x)
		}
		if i%5 == 0 { // overlap
			a.Add(x)
			b.Add(x)
		}
	}
	a.Merge(b)
	if a.Estimate() != all.Estimate() {
		t.Errorf("merged estimate %d, direct %d", a.Estimate(), all.Estimate())
	}
	small := NewHLL()
	small.Add(0)
	small.Add(42)
	for _, h := range []*HLL{a, small, NewHLL()} {
		data, err := h.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var back HLL
		if err := back.UnmarshalBinary(data); err != nil {
			t.Fatal(err)
		}
		if back.Estimate() != h.Estimate() {
			t.Errorf("round trip: %d != %d", back.Estimate(), h.Estimate())
		}
	}
	// sparse merged into dense and dense into sparse agree
	s := NewHLL()
	s.Add(HashUint64(1 << 40))
	d := NewHLL()
	d.Merge(a)
	d.Merge(s)
	s.Merge(a)
	if s.Estimate() != d.Estimate() {
		t.Errorf("merge order: %d != %d", s.Estimate(), d.Estimate())
	}
	for _, bad := range [][]byte{nil, []byte("H"), {'H', 1, 14, 1, 0}, {'H', 2, 14, 0}, {'X', 1, 14, 0}} {
		var h HLL
		if err := h.UnmarshalBinary(bad); err == nil {
			t.Errorf("UnmarshalBinary(%v) accepted", bad)
		}
	}
}

// trueRank is the number of values <= x in sorted xs.
func trueRank(sorted []float64, x float64) int {
	return sort.Search(len(sorted), func(i int) bool { return sorted[i] > x })
}

func TestQuantilesExactMode(t *testing.T) {
	q := NewQuantiles()
	xs := []float64{5, 1, 4, 2, 3, math.NaN(), 10}
	q.AddSlice(xs[:3])
	for _, x := range xs[3:] {
		q.Add(x)
	}
	if !q.Exact() || q.Count() != 6 {
		t.Fatalf("exact=%v count=%d", q.Exact(), q.Count())
	}
	// numpy.quantile([1,2,3,4,5,10], p) with linear interpolation
	for _, c := range []struct{ p, want float64 }{{0, 1}, {0.25, 2.25}, {0.5, 3.5}, {0.75, 4.75}, {0.9, 7.5}, {1, 10}} {
		if got := q.Quantile(c.p); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("Quantile(%v) = %v, want %v", c.p, got, c.want)
		}
	}
	for _, c := range []struct {
		x    float64
		want int64
	}{{0.5, 0}, {1, 1}, {3.5, 3}, {10, 6}, {11, 6}} {
		if got := q.Rank(c.x); got != c.want {
			t.Errorf("Rank(%v) = %d, want %d", c.x, got, c.want)
		}
	}
	if got := q.CDF(4); got != 4.0/6 {
		t.Errorf("CDF(4) = %v", got)
	}
	empty := NewQuantiles()
	if !math.IsNaN(empty.Quantile(0.5)) || empty.CDF(1) != 0 || !math.IsNaN(empty.Min()) {
		t.Error("empty sketch answers")
	}
}

func TestQuantilesErrorBound(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	dists := map[string]func() float64{
		"uniform":   rng.Float64,
		"normal":    rng.NormFloat64,
		"lognormal": func() float64 { return math.Exp(2 * rng.NormFloat64()) },
		"sorted":    nil, // filled below: increasing input is the adversarial order for compaction
		"discrete":  func() float64 { return float64(rng.IntN(50)) },
	}
	const n = 1000000
	for name, gen := range dists {
		t.Run(name, func(t *testing.T) {
			xs := make([]float64, n)
			for i := range xs {
				if gen == nil {
					xs[i] = float64(i)
				} else {
					xs[i] = gen()
				}
			}
			q := NewQuantiles()
			if name == "normal" {
				q.AddSlice(xs)
			} else {
				for _, x := range xs {
					q.Add(x)
				}
			}
			sorted := slices.Clone(xs)
			slices.Sort(sorted)
			if q.Min() != sorted[0] || q.Max() != sorted[n-1] || q.Count() != n {
				t.Fatalf("min/max/count wrong")
			}
			worst := 0.0
			for p := 0.01; p < 0.995; p += 0.01 {
				v := q.Quantile(p)
				// the true rank range of v is [rank(<v)+1, rank(<=v)]; the error is
				// the distance from p*n to that range
				hiR := float64(trueRank(sorted, v))
				loR := float64(sort.SearchFloat64s(sorted, v))
				target := p * n
				e := 0.0
				if target < loR {
					e = loR - target
				} else if target > hiR {
					e = target - hiR
				}
				worst = max(worst, e/n)
				cdf := q.CDF(sorted[int(target)])
				truth := hiR / n
				_ = truth
				truthC := float64(trueRank(sorted, sorted[int(target)])) / n
				worst = max(worst, math.Abs(cdf-truthC))
			}
			t.Logf("%s: worst normalised rank error %.4f (bound %.4f), retained %d values", name, worst, RankError, q.retained())
			if worst > RankError {
				t.Errorf("rank error %.4f exceeds %.4f", worst, RankError)
			}
		})
	}
}

// TestQuantilesLongStream covers the bottom sampler: 20M values.
func TestQuantilesLongStream(t *testing.T) {
	if testing.Short() {
		t.Skip("20M values")
	}
	const n = 20000000
	rng := rand.New(rand.NewPCG(21, 22))
	q := NewQuantiles()
	buf := make([]float64, 8192)
	hist := make([]int64, 1000) // exact counts of uniform values per 0.001 bucket
	for done := 0; done < n; done += len(buf) {
		for i := range buf {
			buf[i] = rng.Float64()
			hist[int(buf[i]*1000)]++
		}
		q.AddSlice(buf)
	}
	if q.s == 0 {
		t.Fatal("sampler never engaged")
	}
	var cum int64
	worst := 0.0
	for b := range 999 {
		cum += hist[b]
		edge := float64(b+1) / 1000
		worst = max(worst, math.Abs(q.CDF(math.Nextafter(edge, 0))-float64(cum)/n))
	}
	t.Logf("20M values: sampling level %d, worst CDF error %.4f, retained %d", q.s, worst, q.retained())
	if worst > RankError {
		t.Errorf("CDF error %.4f exceeds %.4f", worst, RankError)
	}
}

func TestQuantilesMergeAndMarshal(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	const n = 400000
	var all []float64
	parts := []*Quantiles{NewQuantiles(), NewQuantiles(), NewQuantiles(), NewQuantiles()}
	sizes := []int{n / 2, n / 4, 1000, n/4 - 1000}
	for i, q := range parts {
		for range sizes[i] {
			x := rng.NormFloat64()*10 + float64(i)
			q.Add(x)
			all = append(all, x)
		}
	}
	m := NewQuantiles()
	for _, q := range parts {
		data, err := q.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var back Quantiles
		if err := back.UnmarshalBinary(data); err != nil {
			t.Fatal(err)
		}
		if back.Quantile(0.3) != q.Quantile(0.3) || back.Count() != q.Count() {
			t.Fatal("round trip changed the sketch")
		}
		m.Merge(&back)
	}
	slices.Sort(all)
	if m.Count() != int64(len(all)) || m.Min() != all[0] || m.Max() != all[len(all)-1] {
		t.Fatalf("merged count/min/max wrong: %d %v %v", m.Count(), m.Min(), m.Max())
	}
	for _, p := range []float64{0.01, 0.1, 0.5, 0.9, 0.99} {
		v := m.Quantile(p)
		r := float64(trueRank(all, v)) / float64(len(all))
		if math.Abs(r-p) > RankError {
			t.Errorf("merged Quantile(%v) has rank %.4f", p, r)
		}
	}
	// exact + exact stays exact
	a, b := NewQuantiles(), NewQuantiles()
	a.AddSlice([]float64{1, 2, 3})
	b.AddSlice([]float64{4, 5})
	a.Merge(b)
	if !a.Exact() || a.Quantile(0.5) != 3 || a.Count() != 5 {
		t.Errorf("exact merge: exact=%v median=%v", a.Exact(), a.Quantile(0.5))
	}
	for _, bad := range [][]byte{nil, []byte("Q"), {'Q', 1, 0, 0}, {'Q', 9}} {
		var q Quantiles
		if err := q.UnmarshalBinary(bad); err == nil {
			t.Errorf("UnmarshalBinary(%v) accepted", bad)
		}
	}
}

func TestQuantilesDeterministic(t *testing.T) {
	mk := func() []byte {
		q := NewQuantiles()
		rng := rand.New(rand.NewPCG(1, 1))
		for range 100000 {
			q.Add(rng.Float64())
		}
		b, _ := q.MarshalBinary()
		return b
	}
	if string(mk()) != string(mk()) {
		t.Error("same input gave different sketches")
	}
}

func TestTopK(t *testing.T) {
	add := func(tk *TopK, s string, n int) {
		for range n {
			tk.Add(HashString(s), []byte(s))
		}
	}
	tk := NewTopK(3)
	add(tk, "a", 5)
	add(tk, "b", 3)
	add(tk, "c", 3)
	if !tk.Exact() {
		t.Fatal("should be exact")
	}
	got := tk.Top(0)
	want := []Item{{"a", 5, 0}, {"b", 3, 0}, {"c", 3, 0}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("Top = %v, want %v", got, want)
	}
	add(tk, "d", 1) // evicts b or c (count 3): d gets 4 with err 3
	if tk.Exact() || tk.Total() != 12 {
		t.Fatalf("exact=%v total=%d", tk.Exact(), tk.Total())
	}
	top := tk.Top(1)
	if top[0].Value != "a" || top[0].Count != 5 {
		t.Errorf("Top(1) = %v", top)
	}
	for _, it := range tk.Top(0) {
		if it.Value == "d" && (it.Count != 4 || it.Err != 3) {
			t.Errorf("d = %+v, want count 4 err 3", it)
		}
	}

	// heavy hitters survive a long tail: 10 values with 5% each, 500k tail values
	rng := rand.New(rand.NewPCG(9, 9))
	big := NewTopK(1000)
	const n = 1000000
	truth := map[string]int64{}
	for range n {
		var s string
		if rng.Float64() < 0.5 {
			s = "heavy" + strconv.Itoa(rng.IntN(10))
		} else {
			s = "tail" + strconv.Itoa(rng.IntN(500000))
		}
		truth[s]++
		big.Add(HashString(s), []byte(s))
	}
	top10 := big.Top(10)
	for _, it := range top10 {
		tc := truth[it.Value]
		if len(it.Value) < 5 || it.Value[:5] != "heavy" {
			t.Errorf("unexpected top value %q", it.Value)
		}
		if it.Count < tc || it.Count-it.Err > tc || it.Err > n/1000 {
			t.Errorf("%s: count %d err %d, truth %d", it.Value, it.Count, it.Err, tc)
		}
	}

	// merge and marshal
	m := NewTopK(1000)
	m.Merge(big)
	data, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var back TopK
	if err := back.UnmarshalBinary(data); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(back.Top(10)) != fmt.Sprint(top10) || back.Total() != n || back.Exact() {
		t.Errorf("round trip: %v", back.Top(3))
	}
}

func TestHashStable(t *testing.T) {
	// The hashes are part of the stored sketch format: pin a few values.
	got := []uint64{Hash(nil), Hash([]byte("a")), Hash([]byte("hello world")), Hash([]byte("a much longer string of more than sixteen bytes")), HashUint64(1), HashFloat(1)}
	t.Logf("%#x", got)
	if HashFloat(0) != HashFloat(math.Copysign(0, -1)) || HashFloat(math.NaN()) != HashFloat(-math.NaN()) {
		t.Error("HashFloat must identify ±0 and NaNs")
	}
	seen := map[uint64]bool{}
	for i := range 100000 {
		h := Hash(strconv.AppendInt(nil, int64(i), 10))
		if seen[h] {
			t.Fatal("collision among 100k short strings")
		}
		seen[h] = true
	}
}

func BenchmarkQuantilesAdd(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	xs := make([]float64, 1<<16)
	for i := range xs {
		xs[i] = rng.NormFloat64()
	}
	q := NewQuantiles()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		q.Add(xs[i&(len(xs)-1)])
	}
}

func BenchmarkQuantilesAddSlice(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	xs := make([]float64, 8192)
	for i := range xs {
		xs[i] = rng.NormFloat64()
	}
	q := NewQuantiles()
	b.SetBytes(int64(len(xs)) * 8)
	for b.Loop() {
		q.AddSlice(xs)
	}
}

func BenchmarkHLLAdd(b *testing.B) {
	h := NewHLL()
	for i := 0; b.Loop(); i++ {
		h.Add(HashFloat(float64(i)))
	}
}

// AddSlice is Add in a loop, also once the bottom sampler is active: the
// same values in the same order give the same sketch, byte for byte.
func TestQuantilesAddSliceSameAsAdd(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	a, b := NewQuantiles(), NewQuantiles()
	buf := make([]float64, 0, 1000)
	for i := range 3_000_000 {
		x := rng.ExpFloat64()
		switch i % 100_003 {
		case 7:
			x = math.NaN()
		case 8:
			x = math.Copysign(0, -1)
		}
		a.Add(x)
		buf = append(buf, x)
		if len(buf) == cap(buf) || i%777 == 0 {
			b.AddSlice(buf)
			buf = buf[:0]
		}
	}
	b.AddSlice(buf)
	ba, _ := a.MarshalBinary()
	bb, _ := b.MarshalBinary()
	if a.Count() != b.Count() || a.Min() != b.Min() || a.Max() != b.Max() || !bytes.Equal(ba, bb) {
		t.Fatalf("AddSlice differs from Add: n %d/%d, min %v/%v, max %v/%v", a.Count(), b.Count(), a.Min(), b.Min(), a.Max(), b.Max())
	}
}

// AddFinite with the caller's extremes (a zero extreme given as -0) is Add
// in a loop, byte for byte, through the exact, compacting and sampling
// phases.
func TestQuantilesAddFiniteSameAsAdd(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	a, b := NewQuantiles(), NewQuantiles()
	var buf []float64
	for i := range 2_000_000 {
		x := rng.NormFloat64()
		if i%50_001 == 3 {
			x = math.Copysign(0, -1)
		}
		a.Add(x)
		buf = append(buf, x)
		if len(buf) == 1+i%1500 {
			lo, hi := slices.Min(buf), slices.Max(buf)
			b.AddFinite(buf, lo, hi)
			buf = buf[:0]
		}
	}
	b.AddFinite(buf, slices.Min(buf), slices.Max(buf))
	// only zeros: both extremes -0
	zs := []float64{math.Copysign(0, -1), 0}
	for _, z := range zs {
		a.Add(z)
	}
	b.AddFinite(zs, math.Copysign(0, -1), math.Copysign(0, -1))
	ba, _ := a.MarshalBinary()
	bb, _ := b.MarshalBinary()
	if a.Count() != b.Count() || a.Min() != b.Min() || a.Max() != b.Max() || !bytes.Equal(ba, bb) {
		t.Fatalf("AddFinite differs from Add: n %d/%d, min %v/%v, max %v/%v", a.Count(), b.Count(), a.Min(), b.Min(), a.Max(), b.Max())
	}
	if math.Signbit(quantilesOf(zs).Min()) {
		t.Error("min of zeros is -0")
	}
}

// quantilesOf is a test helper: a sketch of xs added with AddSlice.
func quantilesOf(xs []float64) *Quantiles {
	q := NewQuantiles()
	q.AddSlice(xs)
	return q
}

// AddHashes is Add in a loop, byte for byte, across the sparse to dense
// switch and with the zero hash; on 1M distinct values the estimate stays
// within 4 standard errors.
func TestHLLAddHashesSameAsAdd(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for _, n := range []int{0, 1, 100, sparseMax - 1, sparseMax, sparseMax + 1, 1_000_000} {
		a, b := NewHLL(), NewHLL()
		var buf []uint64
		for i := range n {
			h := HashFloat(float64(i))
			if i == 5 {
				h = 0
			}
			a.Add(h)
			buf = append(buf, h)
			if i%3 == 0 { // a duplicate
				a.Add(h)
				buf = append(buf, h)
			}
			if len(buf) >= 1+rng.IntN(2000) {
				b.AddHashes(buf)
				buf = buf[:0]
			}
		}
		b.AddHashes(buf)
		ba, _ := a.MarshalBinary()
		bb, _ := b.MarshalBinary()
		if !bytes.Equal(ba, bb) || a.Estimate() != b.Estimate() {
			t.Fatalf("n=%d: AddHashes differs from Add (estimates %d, %d)", n, a.Estimate(), b.Estimate())
		}
		if n < sparseMax && b.Estimate() != uint64(n) {
			t.Errorf("n=%d: sparse estimate %d", n, b.Estimate())
		}
		if rel := math.Abs(float64(b.Estimate())-float64(n)) / float64(max(n, 1)); rel > 4*HLLStdError {
			t.Errorf("n=%d: estimate %d, relative error %.4f", n, b.Estimate(), rel)
		}
	}
	if NewTopK(7).Capacity() != 7 {
		t.Error("Capacity")
	}
}
