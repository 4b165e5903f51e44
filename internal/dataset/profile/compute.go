package profile

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/mlcycle/mlcycle/internal/frame"
	"github.com/mlcycle/mlcycle/internal/sketch"
)

// quantileKeys are the quantiles every numeric column reports.
var quantileKeys = [...]struct {
	key string
	q   float64
}{{"p01", 0.01}, {"p05", 0.05}, {"p25", 0.25}, {"p50", 0.50}, {"p75", 0.75}, {"p95", 0.95}, {"p99", 0.99}}

// ComputeWith is Compute with options.
func ComputeWith(r frame.Reader, opts Options) (Profile, error) {
	if opts.Bins <= 0 {
		opts.Bins = DefaultBins
	}
	if opts.TopK <= 0 {
		opts.TopK = DefaultTopK
	}
	if opts.Workers <= 0 {
		opts.Workers = runtime.GOMAXPROCS(0)
	}
	var accs []*colAcc
	var rows int64
	pool := newColumnPool(opts.Workers)
	defer pool.close()
	for {
		b, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return Profile{}, err
		}
		n := b.Len()
		for len(accs) < b.NumColumns() {
			// a column that first appears now was missing in every earlier row
			a := newColAcc()
			a.missing = rows
			accs = append(accs, a)
		}
		pool.run(len(accs), func(j int) {
			if j < b.NumColumns() {
				accs[j].add(b.Column(j))
			} else {
				accs[j].missing += int64(n)
			}
		})
		rows += int64(n)
	}
	schema := r.Schema()
	p := Profile{Version: Version, Rows: rows}
	if f, ok := r.(interface{ Format() frame.Format }); ok {
		p.Format = string(f.Format())
	}
	for j, f := range schema.Fields {
		a := newColAcc()
		if j < len(accs) {
			a = accs[j]
		} else {
			a.missing = rows
		}
		cp, err := a.profile(f, opts)
		if err != nil {
			return Profile{}, fmt.Errorf("profiling column %q: %w", f.Name, err)
		}
		p.Columns = append(p.Columns, cp)
	}
	return p, nil
}

// columnPool runs per-column work of one batch on a few goroutines. Each
// column's accumulator is touched by one goroutine at a time and sees the
// batches in order, so results do not depend on scheduling.
type columnPool struct {
	workers int
	jobs    chan func()
}

func newColumnPool(workers int) *columnPool {
	p := &columnPool{workers: workers}
	if workers > 1 {
		p.jobs = make(chan func())
		for range workers {
			go func() {
				for f := range p.jobs {
					f()
				}
			}()
		}
	}
	return p
}

func (p *columnPool) run(n int, f func(j int)) {
	if p.jobs == nil || n < 2 {
		for j := range n {
			f(j)
		}
		return
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	next := 0
	claim := func() int {
		mu.Lock()
		defer mu.Unlock()
		j := next
		next++
		return j
	}
	for range min(p.workers, n) {
		wg.Add(1)
		p.jobs <- func() {
			defer wg.Done()
			for j := claim(); j < n; j = claim() {
				f(j)
			}
		}
	}
	wg.Wait()
}

func (p *columnPool) close() {
	if p.jobs != nil {
		close(p.jobs)
	}
}

// colAcc accumulates one column over all batches.
type colAcc struct {
	typ     frame.Type // type of the batches seen so far (widest)
	missing int64
	count   int64 // non-missing
	hll     *sketch.HLL

	// numeric (int, float)
	nonFinite int64
	finite    int64
	mean, m2  float64
	quant     *sketch.Quantiles
	scratch   []float64
	hashes    []uint64

	// string and bool
	top            *sketch.TopK
	agg            *strAgg // scratch of addStrings
	trueN, falseN  int64
	beforeWidening int64 // values counted under a narrower type before the column became a string

	// timestamp
	minT, maxT int64
}

func newColAcc() *colAcc {
	return &colAcc{typ: frame.TypeNull, hll: sketch.NewHLL(), minT: math.MaxInt64, maxT: math.MinInt64}
}

func (a *colAcc) add(c *frame.Column) {
	t := c.Type()
	if t != a.typ && t != frame.TypeNull {
		if a.typ != frame.TypeNull && t == frame.TypeString {
			a.beforeWidening = a.count
		}
		a.typ = frame.Join(a.typ, t)
	}
	n := c.Len()
	nulls := c.Nulls()
	a.missing += int64(c.NullCount())
	a.count += int64(n - c.NullCount())
	switch t {
	case frame.TypeInt:
		ints := c.Ints()
		xs := a.scratch[:0]
		if nulls == nil {
			xs = slices.Grow(xs, len(ints))[:len(ints)]
			for i, v := range ints {
				xs[i] = float64(v)
			}
		} else {
			for i, v := range ints {
				if !nulls[i] {
					xs = append(xs, float64(v))
				}
			}
		}
		a.addNumbers(xs)
		a.scratch = xs[:0]
	case frame.TypeFloat:
		fs := c.Floats()
		if nulls == nil && allFinite(fs) {
			// the common case needs no copy
			a.addNumbers(fs)
			break
		}
		xs := a.scratch[:0]
		for i, v := range fs {
			if nulls != nil && nulls[i] {
				continue
			}
			if math.IsNaN(v) || math.IsInf(v, 0) {
				a.nonFinite++
				a.hll.Add(sketch.HashFloat(v))
				continue
			}
			xs = append(xs, v)
		}
		a.addNumbers(xs)
		a.scratch = xs[:0]
	case frame.TypeBool:
		for i, v := range c.Bools() {
			if nulls != nil && nulls[i] {
				continue
			}
			if v {
				a.trueN++
			} else {
				a.falseN++
			}
		}
	case frame.TypeTimestamp:
		for i, v := range c.Ints() {
			if nulls != nil && nulls[i] {
				continue
			}
			a.minT = min(a.minT, v)
			a.maxT = max(a.maxT, v)
			a.hll.Add(sketch.HashUint64(uint64(v)))
		}
	case frame.TypeString:
		a.addStrings(c, nulls)
	}
}

// allFinite reports whether no value of xs is NaN or ±Inf.
func allFinite(xs []float64) bool {
	for _, x := range xs {
		if x-x != 0 { // NaN for NaN and ±Inf
			return false
		}
	}
	return true
}

// aggMax is how many distinct values addStrings gathers before handing
// them to the TopK.
const aggMax = 1024

// strAgg counts the distinct strings of a stretch of a batch by hash: an
// open-addressing table (never more than half full) and the entries in
// order of first occurrence.
type strAgg struct {
	slots [2 * aggMax]aggSlot
	ents  []aggEnt
}

type aggSlot struct {
	hash uint64
	ent  int32 // index+1 into ents; 0 is empty
}

type aggEnt struct {
	hash  uint64
	cell  int   // first row holding the value
	count int64 // rows holding it
	slot  int32
}

// addStrings counts the values of a string column. While the TopK has room
// for every distinct value of a stretch of rows it is exact and nothing is
// evicted, so counting each distinct value once with its row count, in
// order of first occurrence, leaves the TopK (slots, order and counts) and
// the HLL exactly as adding row by row would, at one map lookup per
// distinct value instead of per row. Otherwise it adds row by row.
func (a *colAcc) addStrings(c *frame.Column, nulls []bool) {
	if a.top == nil {
		a.top = sketch.NewTopK(sketch.TopKCapacity)
	}
	n := c.Len()
	i := 0
	for i < n && a.top.Exact() && a.top.Len()+aggMax <= a.top.Capacity() {
		if a.agg == nil {
			a.agg = new(strAgg)
		}
		slots, ents := &a.agg.slots, a.agg.ents[:0]
		const mask = len(slots) - 1
	rows:
		for ; i < n; i++ {
			if nulls != nil && nulls[i] {
				continue
			}
			h := sketch.Hash(c.Bytes(i))
			for s := int(h) & mask; ; s = (s + 1) & mask {
				sl := &slots[s]
				if sl.ent == 0 {
					if len(ents) == aggMax {
						break rows // full: row i starts the next stretch
					}
					ents = append(ents, aggEnt{hash: h, cell: i, count: 1, slot: int32(s)})
					*sl = aggSlot{hash: h, ent: int32(len(ents))}
					break
				}
				if sl.hash == h {
					ents[sl.ent-1].count++
					break
				}
			}
		}
		for _, e := range ents {
			a.hll.Add(e.hash)
			a.top.AddN(e.hash, c.Bytes(e.cell), e.count, 0)
			slots[e.slot] = aggSlot{}
		}
		a.agg.ents = ents[:0]
	}
	for ; i < n; i++ {
		if nulls != nil && nulls[i] {
			continue
		}
		b := c.Bytes(i)
		h := sketch.Hash(b)
		a.hll.Add(h)
		a.top.Add(h, b)
	}
}

// addNumbers folds a batch of finite values into the moments (Chan et
// al.'s pairwise update over a two-pass batch mean and sum of squares, which
// stays accurate where a running sum of squares would cancel), the
// quantile sketch and the distinct counter.
func (a *colAcc) addNumbers(xs []float64) {
	if len(xs) == 0 {
		return
	}
	if a.quant == nil {
		a.quant = sketch.NewQuantiles()
	}
	// Each sum below waits on its previous addition, which leaves room in
	// the same pass for the extremes and the hashes.
	lo, hi := xs[0], xs[0]
	var sum float64
	for _, x := range xs {
		sum += x
		if x < lo {
			lo = x
		}
		if x > hi {
			hi = x
		}
	}
	nb := float64(len(xs))
	mb := sum / nb
	hs := slices.Grow(a.hashes[:0], len(xs))[:len(xs)]
	var m2b float64
	for i, x := range xs {
		d := x - mb
		m2b += d * d
		hs[i] = sketch.HashFloat(x)
	}
	a.hll.AddHashes(hs)
	a.hashes = hs[:0]
	na := float64(a.finite)
	tot := na + nb
	delta := mb - a.mean
	a.mean += delta * nb / tot
	a.m2 += m2b + delta*delta*na*nb/tot
	a.finite += int64(len(xs))
	a.quant.AddFinite(xs, lo, hi)
}

// profile builds the column's summary; f is its final schema field.
func (a *colAcc) profile(f frame.Field, opts Options) (ColumnProfile, error) {
	cp := ColumnProfile{
		Name: f.Name, Type: string(f.Type), Nullable: f.Nullable || a.missing > 0,
		Missing: a.missing, Count: a.count,
	}
	switch f.Type {
	case frame.TypeInt, frame.TypeFloat:
		cp.NonFinite = a.nonFinite
		if a.finite > 0 {
			q := a.quant
			cp.Min, cp.Max = ptr(q.Min()), ptr(q.Max())
			if math.IsInf(a.mean, 0) || math.IsNaN(a.mean) {
				// only for values near ±MaxFloat64
			} else {
				cp.Mean = ptr(a.mean)
			}
			if a.finite > 1 {
				if s := math.Sqrt(a.m2 / float64(a.finite-1)); !math.IsInf(s, 0) && !math.IsNaN(s) {
					cp.Std = ptr(s)
				}
			}
			cp.Quantiles = map[string]float64{}
			for _, k := range quantileKeys {
				cp.Quantiles[k.key] = q.Quantile(k.q)
			}
			cp.Histogram = histogram(q, f.Type == frame.TypeInt, opts.Bins)
			b, err := q.MarshalBinary()
			if err != nil {
				return cp, err
			}
			cp.QuantileSketch = base64.StdEncoding.EncodeToString(b)
		}
	case frame.TypeBool:
		var cats []CategoryCount
		if a.trueN > 0 {
			cats = append(cats, CategoryCount{"true", a.trueN})
			a.hll.Add(sketch.HashString("true"))
		}
		if a.falseN > 0 {
			cats = append(cats, CategoryCount{"false", a.falseN})
			a.hll.Add(sketch.HashString("false"))
		}
		if len(cats) == 2 && cats[1].Count > cats[0].Count {
			cats[0], cats[1] = cats[1], cats[0]
		}
		cp.TopCategories = cats
		cp.CategoriesExact = true
	case frame.TypeTimestamp:
		if a.count > 0 && a.minT <= a.maxT {
			lo, hi := time.UnixMicro(a.minT).UTC(), time.UnixMicro(a.maxT).UTC()
			cp.MinTime, cp.MaxTime = &lo, &hi
		}
	case frame.TypeString:
		listed := int64(0)
		if a.top != nil {
			for _, it := range a.top.Top(opts.TopK) {
				cp.TopCategories = append(cp.TopCategories, CategoryCount{Value: it.Value, Count: it.Count})
				listed += it.Count
			}
		}
		cp.OtherCount = max(a.count-listed, 0)
		cp.CategoriesExact = (a.top == nil || a.top.Exact()) && a.beforeWidening == 0
	}
	cp.Distinct = a.hll.Estimate()
	b, err := a.hll.MarshalBinary()
	if err != nil {
		return cp, err
	}
	cp.HLL = base64.StdEncoding.EncodeToString(b)
	return cp, nil
}

// histogram derives equal-width bins over [min, max] from the sketch; see
// the package doc for the bin convention.
func histogram(q *sketch.Quantiles, isInt bool, bins int) *Histogram {
	lo, hi := q.Min(), q.Max()
	var edges []float64
	switch {
	case lo == hi:
		edges = []float64{lo, hi}
	case isInt && hi-lo+1 <= float64(bins):
		for v := lo; v <= hi; v++ {
			edges = append(edges, v-0.5)
		}
		edges = append(edges, hi+0.5)
	default:
		width := (hi - lo) / float64(bins)
		edges = make([]float64, bins+1)
		for i := range edges {
			edges[i] = lo + float64(i)*width
		}
		edges[bins] = hi
	}
	h := &Histogram{Edges: edges, Counts: make([]int64, len(edges)-1)}
	prev := int64(0)
	for i := 1; i < len(edges); i++ {
		r := q.Rank(edges[i])
		if i == len(edges)-1 {
			r = q.Count()
		}
		h.Counts[i-1] = r - prev
		prev = r
	}
	return h
}

func ptr(f float64) *float64 { return &f }
