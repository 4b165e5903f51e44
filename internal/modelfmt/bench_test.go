package modelfmt

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"syscall"
	"testing"

	"github.com/mlcycle/mlcycle/internal/frame"
	"github.com/mlcycle/mlcycle/internal/learn"
	"github.com/mlcycle/mlcycle/internal/learn/gbdt"
	"github.com/mlcycle/mlcycle/internal/learn/prep"
)

// benchModel is a binary model on nf numeric features with nt complete
// trees of the given depth, built directly (not trained) so the size is
// exact, and a table of rows to score.
func benchModel(tb testing.TB, nf, nt, depth, rows int) (*Model, *frame.Table) {
	tb.Helper()
	r := rand.New(rand.NewPCG(7, 7))
	var cols []*frame.TableColumn
	names := make([]string, nf)
	for j := range nf {
		names[j] = fmt.Sprintf("f%d", j)
		v := make([]float64, rows)
		for i := range v {
			v[i] = r.NormFloat64()
		}
		cols = append(cols, frame.FloatColumn(names[j], v, nil))
	}
	y := make([]int64, rows)
	for i := range y {
		y[i] = int64(i % 2)
	}
	cols = append(cols, frame.IntColumn("y", y, nil))
	tab, err := frame.NewTable(cols...)
	if err != nil {
		tb.Fatal(err)
	}
	p, err := prep.Fit(tab, prep.Spec{Target: "y"})
	if err != nil {
		tb.Fatal(err)
	}
	trees := make([]learn.Tree, nt)
	inner := 1<<depth - 1
	for t := range trees {
		nodes := make([]learn.Node, 2*inner+1)
		for i := range nodes {
			n := &nodes[i]
			n.Cover = 1
			if i < inner {
				n.Feature = r.IntN(nf)
				n.Threshold = r.NormFloat64() * 0.7
				n.DefaultLeft = r.IntN(2) == 0
				n.Left, n.Right = int32(2*i+1), int32(2*i+2)
			} else {
				n.Feature = -1
				n.Value = r.NormFloat64() * 0.1
			}
		}
		trees[t] = learn.Tree{Nodes: nodes}
	}
	zeros := make([]float64, nf)
	data, err := json.Marshal(map[string]any{
		"format": "mlcycle-gbdt", "version": 1, "task": "binary", "num_class": 2,
		"features": names, "categories": make([]int, nf), "base": []float64{0.1},
		"best_iteration": nt, "importance_gain": zeros, "importance_split": zeros,
		"trees": [][]learn.Tree{trees},
	})
	if err != nil {
		tb.Fatal(err)
	}
	g, err := gbdt.Unmarshal(data)
	if err != nil {
		tb.Fatal(err)
	}
	m, err := New(p, g)
	if err != nil {
		tb.Fatal(err)
	}
	return m, tab
}

// rowMaps turns the feature columns of tab into records.
func rowMaps(tab *frame.Table, n int) []map[string]any {
	out := make([]map[string]any, n)
	for i := range out {
		rec := map[string]any{}
		for _, c := range tab.Cols {
			if c.Field.Type == frame.TypeFloat {
				rec[c.Field.Name] = c.Floats[i]
			}
		}
		out[i] = rec
	}
	return out
}

// BenchmarkPredictRow is one row through the whole serving path: values
// looked up by name, preprocessing, 100 trees of depth 6, sigmoid, label.
func BenchmarkPredictRow(b *testing.B) {
	m, tab := benchModel(b, 28, 100, 6, 1024)
	recs := rowMaps(tab, 1024)
	gets := make([]func(string) (any, bool), len(recs))
	for i, rec := range recs {
		gets[i] = func(name string) (any, bool) { v, ok := rec[name]; return v, ok }
	}
	var out Prediction
	b.ReportAllocs()
	cpu0 := cpuTime()
	i := 0
	for b.Loop() {
		if err := m.PredictRow(gets[i%len(gets)], &out); err != nil {
			b.Fatal(err)
		}
		i++
	}
	reportCPU(b, cpu0)
}

// cpuTime is the process's user+system CPU time in nanoseconds.
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// reportCPU adds the CPU time per op: on a shared machine wall time counts
// the time spent waiting for a core, CPU time does not.
func reportCPU(b *testing.B, cpu0 int64) {
	if cpu0 > 0 && b.N > 0 {
		b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
	}
}

// BenchmarkScorerPredictValues is the same with the values already in
// input order (the MLflow split request path) and a Scorer held by the
// caller.
func BenchmarkScorerPredictValues(b *testing.B) {
	m, tab := benchModel(b, 28, 100, 6, 1024)
	vals := make([][]any, 1024)
	for i := range vals {
		for _, c := range tab.Cols[:28] {
			vals[i] = append(vals[i], c.Floats[i])
		}
	}
	s := m.NewScorer()
	var out Prediction
	b.ReportAllocs()
	cpu0 := cpuTime()
	i := 0
	for b.Loop() {
		if err := s.PredictValues(vals[i%len(vals)], &out); err != nil {
			b.Fatal(err)
		}
		i++
	}
	reportCPU(b, cpu0)
}

// BenchmarkPredictTable scores a 100k-row table on all cores; ns/op is per
// table.
func BenchmarkPredictTable(b *testing.B) {
	m, tab := benchModel(b, 28, 100, 6, 100_000)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.PredictTable(ctx, tab); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/100_000, "ns/row")
}

func TestPredictRowAllocs(t *testing.T) {
	m, tab := benchModel(t, 28, 10, 6, 16)
	rec := rowMaps(tab, 1)[0]
	get := func(name string) (any, bool) { v, ok := rec[name]; return v, ok }
	var out Prediction
	if err := m.PredictRow(get, &out); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(200, func() { _ = m.PredictRow(get, &out) }); n != 0 {
		t.Errorf("PredictRow allocates %v times per row", n)
	}
	s := m.NewScorer()
	if n := testing.AllocsPerRun(200, func() { _ = s.PredictRow(get, &out) }); n != 0 {
		t.Errorf("Scorer.PredictRow allocates %v times per row", n)
	}
}
