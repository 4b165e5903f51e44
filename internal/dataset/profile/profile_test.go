package profile

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/mlcycle/mlcycle/internal/frame"
	"github.com/mlcycle/mlcycle/internal/sketch"
)

func write(t testing.TB, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// exact statistics, computed the slow and obvious way
func mean(xs []float64) float64 {
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

func sampleStd(xs []float64) float64 {
	m := mean(xs)
	s := 0.0
	for _, x := range xs {
		s += (x - m) * (x - m)
	}
	return math.Sqrt(s / float64(len(xs)-1))
}

// numpyQuantile is numpy.quantile(xs, p) with linear interpolation.
func numpyQuantile(xs []float64, p float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	h := float64(len(s)-1) * p
	lo := int(math.Floor(h))
	if lo+1 >= len(s) {
		return s[len(s)-1]
	}
	return s[lo] + (h-float64(lo))*(s[lo+1]-s[lo])
}

// histCounts counts xs into [e0,e1], (e1,e2], ... (pandas.cut, include_lowest).
func histCounts(xs, edges []float64) []int64 {
	c := make([]int64, len(edges)-1)
	for _, x := range xs {
		for i := 1; i < len(edges); i++ {
			if x <= edges[i] || i == len(edges)-1 {
				c[i-1]++
				break
			}
		}
	}
	return c
}

func near(a, b, tol float64) bool {
	return math.Abs(a-b) <= tol*math.Max(1, math.Max(math.Abs(a), math.Abs(b)))
}

func TestComputeSmallExact(t *testing.T) {
	path := write(t, "small.csv", `x,n,cat,flag,ts,empty
1.5,3,a,true,2024-01-01,
-2,1,b,false,2024-01-03T00:00:00Z,
NA,2,a,true,,
4.25,,a,,2024-01-02,
inf,5,c,false,2023-12-31,
0,3,,true,2024-01-05,
`)
	p, err := ComputeFile(path, frame.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Rows != 6 || p.Format != "csv" || p.Version != Version || len(p.Columns) != 6 {
		t.Fatalf("profile header: rows=%d format=%q columns=%d", p.Rows, p.Format, len(p.Columns))
	}

	xs := []float64{1.5, -2, 4.25, 0}
	x := p.Column("x")
	if x.Type != "float" || !x.Nullable || x.Missing != 1 || x.Count != 5 || x.NonFinite != 1 || x.Distinct != 5 {
		t.Errorf("x counts: %+v", *x)
	}
	if *x.Min != -2 || *x.Max != 4.25 || !near(*x.Mean, mean(xs), 1e-15) || !near(*x.Std, sampleStd(xs), 1e-15) {
		t.Errorf("x moments: min %v max %v mean %v std %v", *x.Min, *x.Max, *x.Mean, *x.Std)
	}
	for key, q := range map[string]float64{"p01": 0.01, "p05": 0.05, "p25": 0.25, "p50": 0.5, "p75": 0.75, "p95": 0.95, "p99": 0.99} {
		if got, want := x.Quantiles[key], numpyQuantile(xs, q); !near(got, want, 1e-12) {
			t.Errorf("x %s = %v, want %v", key, got, want)
		}
	}
	if len(x.Histogram.Edges) != 21 || x.Histogram.Edges[0] != -2 || x.Histogram.Edges[20] != 4.25 {
		t.Errorf("x edges %v", x.Histogram.Edges)
	}
	if want := histCounts(xs, x.Histogram.Edges); !reflect.DeepEqual(x.Histogram.Counts, want) {
		t.Errorf("x histogram %v, want %v", x.Histogram.Counts, want)
	}

	n := p.Column("n")
	ns := []float64{3, 1, 2, 5, 3}
	if n.Type != "int" || n.Missing != 1 || n.Count != 5 || n.Distinct != 4 || *n.Min != 1 || *n.Max != 5 || *n.Mean != 2.8 || !near(*n.Std, sampleStd(ns), 1e-15) {
		t.Errorf("n: %+v", *n)
	}
	// an int column spanning few integers gets one bin per integer
	if !reflect.DeepEqual(n.Histogram.Edges, []float64{0.5, 1.5, 2.5, 3.5, 4.5, 5.5}) || !reflect.DeepEqual(n.Histogram.Counts, []int64{1, 1, 2, 0, 1}) {
		t.Errorf("n histogram %+v", *n.Histogram)
	}
	if n.Quantiles["p50"] != 3 || n.Quantiles["p25"] != 2 {
		t.Errorf("n quantiles %v", n.Quantiles)
	}

	cat := p.Column("cat")
	wantCats := []CategoryCount{{"a", 3}, {"b", 1}, {"c", 1}}
	if cat.Type != "string" || cat.Missing != 1 || cat.Distinct != 3 || !reflect.DeepEqual(cat.TopCategories, wantCats) || cat.OtherCount != 0 || !cat.CategoriesExact {
		t.Errorf("cat: %+v", *cat)
	}
	if cat.Min != nil || cat.Histogram != nil || cat.QuantileSketch != "" {
		t.Error("cat has numeric statistics")
	}

	flag := p.Column("flag")
	if flag.Type != "bool" || flag.Missing != 1 || flag.Distinct != 2 || !reflect.DeepEqual(flag.TopCategories, []CategoryCount{{"true", 3}, {"false", 2}}) {
		t.Errorf("flag: %+v", *flag)
	}

	ts := p.Column("ts")
	if ts.Type != "timestamp" || ts.Missing != 1 || ts.Distinct != 5 ||
		!ts.MinTime.Equal(time.Date(2023, 12, 31, 0, 0, 0, 0, time.UTC)) || !ts.MaxTime.Equal(time.Date(2024, 1, 5, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("ts: %+v", *ts)
	}

	empty := p.Column("empty")
	if empty.Type != "null" || empty.Missing != 6 || empty.Count != 0 || empty.Distinct != 0 || !empty.Nullable {
		t.Errorf("empty: %+v", *empty)
	}
}

// TestComputeLarge checks a table past the sketches' exact modes against
// exact statistics.
func TestComputeLarge(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	const n = 60000
	var sb strings.Builder
	sb.WriteString("v,k,cat\n")
	var vs []float64
	cats := map[string]int64{}
	ks := map[int]bool{}
	for i := range n {
		v := math.Round(rng.NormFloat64()*1000*100) / 100
		k := rng.IntN(5000)
		c := fmt.Sprintf("c%03d", int(math.Abs(rng.NormFloat64()*60))%300)
		if i%10 == 0 {
			sb.WriteString(fmt.Sprintf(",%d,%s\n", k, c))
		} else {
			sb.WriteString(fmt.Sprintf("%v,%d,%s\n", v, k, c))
			vs = append(vs, v)
		}
		ks[k] = true
		cats[c]++
	}
	path := write(t, "large.csv", sb.String())
	p, err := ComputeFile(path, frame.Options{BatchRows: 1000})
	if err != nil {
		t.Fatal(err)
	}
	v := p.Column("v")
	if v.Count != int64(len(vs)) || v.Missing != n/10 {
		t.Fatalf("v count %d missing %d", v.Count, v.Missing)
	}
	sorted := slices.Clone(vs)
	slices.Sort(sorted)
	if *v.Min != sorted[0] || *v.Max != sorted[len(sorted)-1] || !near(*v.Mean, mean(vs), 1e-9) || !near(*v.Std, sampleStd(vs), 1e-9) {
		t.Errorf("v moments %v %v %v %v", *v.Min, *v.Max, *v.Mean, *v.Std)
	}
	for key, q := range map[string]float64{"p01": 0.01, "p25": 0.25, "p50": 0.5, "p95": 0.95, "p99": 0.99} {
		got := v.Quantiles[key]
		rank := float64(sort.SearchFloat64s(sorted, got)) / float64(len(sorted))
		if math.Abs(rank-q) > sketch.RankError {
			t.Errorf("v %s = %v has rank %.4f", key, got, rank)
		}
	}
	var sum int64
	exact := histCounts(vs, v.Histogram.Edges)
	for i, c := range v.Histogram.Counts {
		sum += c
		if math.Abs(float64(c-exact[i])) > 2*sketch.RankError*float64(len(vs)) {
			t.Errorf("bin %d: %d, exact %d", i, c, exact[i])
		}
	}
	if sum != int64(len(vs)) {
		t.Errorf("histogram sums to %d, want %d", sum, len(vs))
	}
	if est, want := float64(v.Distinct), float64(len(uniq(vs))); math.Abs(est-want)/want > 4*sketch.HLLStdError {
		t.Errorf("v distinct %v, exact %v", est, want)
	}
	if k := p.Column("k"); math.Abs(float64(k.Distinct)-float64(len(ks)))/float64(len(ks)) > 4*sketch.HLLStdError {
		t.Errorf("k distinct %d, want %d", k.Distinct, len(ks))
	}
	c := p.Column("cat")
	if !c.CategoriesExact || len(c.TopCategories) != DefaultTopK || c.Distinct != uint64(len(cats)) {
		t.Errorf("cat: exact=%v listed=%d distinct=%d", c.CategoriesExact, len(c.TopCategories), c.Distinct)
	}
	var listed int64
	for i, cc := range c.TopCategories {
		if cc.Count != cats[cc.Value] {
			t.Errorf("%s: %d, exact %d", cc.Value, cc.Count, cats[cc.Value])
		}
		if i > 0 && cc.Count > c.TopCategories[i-1].Count {
			t.Error("categories not sorted by count")
		}
		listed += cc.Count
	}
	if c.OtherCount != n-listed {
		t.Errorf("other %d, want %d", c.OtherCount, n-listed)
	}

	// the same profile whatever the parallelism
	r1, _ := frame.Open(path, frame.Options{BatchRows: 1000, Workers: 1})
	p1, err := ComputeWith(r1, Options{Workers: 1})
	r1.Close()
	if err != nil {
		t.Fatal(err)
	}
	j0, _ := json.Marshal(p)
	j1, _ := json.Marshal(p1)
	if string(j0) != string(j1) {
		t.Error("profile depends on the number of workers")
	}
}

func uniq(xs []float64) map[float64]bool {
	m := map[float64]bool{}
	for _, x := range xs {
		m[x] = true
	}
	return m
}

func TestComputeJSONLAndWidening(t *testing.T) {
	// long enough that the widening happens beyond the reader's first
	// chunk, after batches of ints were already profiled
	const n, widen = 100000, 90000
	pad := strings.Repeat("x", 50)
	var sb strings.Builder
	strs := map[string]int64{}
	for i := range n {
		switch {
		case i == widen:
			sb.WriteString(`{"a": "oops", "late": 1.5, "pad": "` + pad + `"}` + "\n")
			strs["oops"]++
		case i > widen && i%2 == 0:
			s := fmt.Sprintf("s%d", i%3)
			strs[s]++
			sb.WriteString(`{"a": "` + s + `", "late": 2, "pad": "` + pad + `"}` + "\n")
		default:
			sb.WriteString(fmt.Sprintf(`{"a": %d, "pad": "%s"}`+"\n", i%7, pad))
		}
	}
	r, err := frame.OpenReader(strings.NewReader(sb.String()), "w.jsonl", frame.FormatJSONL, frame.Options{SampleRows: 100, BatchRows: 1000})
	if err != nil {
		t.Fatal(err)
	}
	p, err := Compute(r)
	r.Close()
	if err != nil {
		t.Fatal(err)
	}
	a := p.Column("a")
	if a.Type != "string" || a.Count != n || a.Min != nil {
		t.Fatalf("a: %+v", *a)
	}
	// Every batch read before the widening was int; the values read as
	// strings are listed exactly, the earlier ones are in other.
	var listed int64
	for _, c := range a.TopCategories {
		listed += c.Count
		if !strings.HasPrefix(c.Value, "s") && c.Value != "oops" {
			continue // ints re-read as text in the batch that widened
		}
		if c.Count != strs[c.Value] {
			t.Errorf("%s: %d, want %d", c.Value, c.Count, strs[c.Value])
		}
	}
	if a.CategoriesExact || a.OtherCount != n-listed || a.OtherCount < widen/2 {
		t.Errorf("a: exact=%v other=%d listed=%d", a.CategoriesExact, a.OtherCount, listed)
	}
	late := p.Column("late")
	if late.Type != "float" || late.Missing != n-(n-widen)/2 || late.Count != (n-widen)/2 || *late.Min != 1.5 || *late.Max != 2 || !late.Nullable {
		t.Errorf("late: %+v", *late)
	}
}

func TestProfileJSON(t *testing.T) {
	path := write(t, "j.csv", "a,b\n1,x\n2,y\n,x\n")
	p, err := ComputeFile(path, frame.Options{})
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"rows":3`, `"columns":`, `"missing":1`, `"distinct":`, `"top_categories":`, `"quantile_sketch":"`, `"hll":"`, `"histogram":{"edges":`, `"categories_exact":true`} {
		if !strings.Contains(string(data), key) {
			t.Errorf("JSON lacks %s: %s", key, data)
		}
	}
	var back Profile
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, p) {
		t.Error("JSON round trip changed the profile")
	}
	// the stored sketches decode and agree with the summary
	q, err := decodeQuantiles(p.Column("a").QuantileSketch)
	if err != nil || q.Count() != 2 || q.Quantile(0.5) != 1.5 {
		t.Errorf("quantile sketch: %v %v", q, err)
	}
}

func TestComputeBadInput(t *testing.T) {
	path := write(t, "bad.csv", "a,b\n1,2\n3\n")
	_, err := ComputeFile(path, frame.Options{})
	if err == nil || err.Error() != path+": line 3: row has 1 field, header has 2" {
		t.Errorf("error = %v", err)
	}
}
