package explain

import (
	"context"
	"math"
	"math/rand/v2"
	"reflect"
	"runtime"
	"testing"

	"github.com/mlcycle/mlcycle/internal/learn"
)

// linModel is a hand-built learn.LinearModel.
type linModel struct {
	task   learn.Task
	nclass int
	b      []float64
	w      [][]float64
}

func (m *linModel) Task() learn.Task        { return m.task }
func (m *linModel) NumClass() int           { return m.nclass }
func (m *linModel) Intercept(k int) float64 { return m.b[k] }
func (m *linModel) Coef(k int) []float64    { return m.w[k] }
func (m *linModel) PredictRaw(x, out []float64) {
	for k := range out {
		out[k] = m.b[k]
		for j, w := range m.w[k] {
			out[k] += w * x[j]
		}
	}
}

func TestLinearContrib(t *testing.T) {
	m := &linModel{task: learn.Multiclass, nclass: 2 + 1, b: []float64{1, -2, 0.5},
		w: [][]float64{{2, 0, -1}, {0.5, 3, 0}, {-1, -1, 4}}}
	means := []float64{1, -1, 0.25}
	x := []float64{3, 2, -1}
	out := make([]float64, 3*4)
	if err := LinearContrib(m, means, x, out); err != nil {
		t.Fatal(err)
	}
	// Output 0: 2*(3-1)=4, 0, -1*(-1-0.25)=1.25, bias 1 + 2*1 + 0 - 0.25 = 2.75.
	if want := []float64{4, 0, 1.25, 2.75}; !reflect.DeepEqual(out[:4], want) {
		t.Errorf("output 0: got %v, want %v", out[:4], want)
	}
	raw := make([]float64, 3)
	m.PredictRaw(x, raw)
	for k := range 3 {
		var s float64
		for _, v := range out[k*4 : (k+1)*4] {
			s += v
		}
		if math.Abs(s-raw[k]) > 1e-12 {
			t.Errorf("output %d: contributions add up to %v, raw score %v", k, s, raw[k])
		}
	}
	if err := LinearContrib(m, means[:2], x, out); err == nil {
		t.Error("short means: no error")
	}
	if err := LinearContrib(m, means, x, out[:5]); err == nil {
		t.Error("short out: no error")
	}

	mat := learn.NewMatrix(4, []string{"a", "b", "c"})
	for i := range mat.Data {
		mat.Data[i] = float64(i%5) - 1
	}
	mat.Data[1] = math.NaN()
	// Column 0 is -1, NaN, 1, 2; column 2 is 2, 3, -1, 0.
	if got, want := ColumnMeans(mat), []float64{(-1.0 + 1 + 2) / 3, (3 - 1 + 0 + 1) / 4.0, 1}; !reflect.DeepEqual(got, want) {
		t.Errorf("ColumnMeans: got %v, want %v", got, want)
	}
	all, err := LinearContribMatrix(context.Background(), m, means, mat, []int{2})
	if err != nil {
		t.Fatal(err)
	}
	one := make([]float64, 12)
	if err := LinearContrib(m, means, mat.Row(2, nil), one); err != nil || !reflect.DeepEqual(all, one) {
		t.Errorf("matrix %v, single row %v (%v)", all, one, err)
	}
}

func TestPermutation(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	const n = 2000
	m := learn.NewMatrix(n, []string{"strong", "unused", "weak"})
	y := make([]float64, n)
	for i := range n {
		for j := range 3 {
			m.Data[j*n+i] = rng.NormFloat64()
		}
		y[i] = 2*m.At(i, 0) + 0.5*m.At(i, 2) + 0.1*rng.NormFloat64()
	}
	p := &linModel{task: learn.Regression, b: []float64{0}, w: [][]float64{{2, 0, 0.5}}}
	negMSE := func(y, pred []float64) float64 {
		var s float64
		for i := range y {
			s += (y[i] - pred[i]) * (y[i] - pred[i])
		}
		return -s / float64(len(y))
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	var prev PermutationResult
	for _, procs := range []int{1, 2, 5} {
		runtime.GOMAXPROCS(procs)
		res, err := Permutation(context.Background(), p, m, y, negMSE, 5, 42, nil)
		if err != nil {
			t.Fatal(err)
		}
		if procs > 1 && !reflect.DeepEqual(res, prev) {
			t.Fatalf("GOMAXPROCS %d changed the result", procs)
		}
		prev = res
	}
	f := prev.Features
	if len(f) != 3 || f[1].Name != "unused" || len(f[0].Drops) != 5 {
		t.Fatalf("unexpected result shape: %+v", f)
	}
	// Shuffling x0 adds E[(2(x0-x0'))^2] = 8 to the MSE, x2 adds 0.5.
	if f[0].Mean < 7 || f[0].Mean > 9 || f[0].Std <= 0 {
		t.Errorf("strong feature: mean drop %v ± %v, want about 8", f[0].Mean, f[0].Std)
	}
	if f[2].Mean < 0.4 || f[2].Mean > 0.6 {
		t.Errorf("weak feature: mean drop %v, want about 0.5", f[2].Mean)
	}
	if f[1].Mean != 0 || f[1].Std != 0 {
		t.Errorf("unused feature: mean drop %v ± %v, want 0", f[1].Mean, f[1].Std)
	}
	if math.Abs(prev.Baseline+0.01) > 0.002 {
		t.Errorf("baseline %v, want about -0.01", prev.Baseline)
	}

	other, err := Permutation(context.Background(), p, m, y, negMSE, 5, 43, nil)
	if err != nil || reflect.DeepEqual(other.Features[0].Drops, f[0].Drops) {
		t.Errorf("another seed gave the same drops (%v)", err)
	}

	grouped, err := Permutation(context.Background(), p, m, y, negMSE, 3, 42, [][]int{{0, 2}, {1}})
	if err != nil {
		t.Fatal(err)
	}
	if g := grouped.Features; len(g) != 2 || g[0].Name != "strong+weak" || g[0].Mean < 7.5 || g[1].Mean != 0 {
		t.Errorf("groups: %+v", g)
	}

	bad := []struct {
		name    string
		y       []float64
		repeats int
		groups  [][]int
	}{
		{"short y", y[:10], 1, nil},
		{"no repeats", y, 0, nil},
		{"empty group", y, 1, [][]int{{}}},
		{"column out of range", y, 1, [][]int{{3}}},
	}
	for _, b := range bad {
		if _, err := Permutation(context.Background(), p, m, b.y, negMSE, b.repeats, 1, b.groups); err == nil {
			t.Errorf("%s: no error", b.name)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Permutation(ctx, p, m, y, negMSE, 1, 1, nil); err == nil {
		t.Error("cancelled context: no error")
	}
}

func TestPermutationGetsProbabilities(t *testing.T) {
	m := learn.NewMatrix(50, []string{"x"})
	y := make([]float64, 50)
	for i := range 50 {
		m.Data[i] = float64(i - 25)
		if i >= 25 {
			y[i] = 1
		}
	}
	p := &linModel{task: learn.Binary, nclass: 2, b: []float64{0}, w: [][]float64{{1}}}
	accuracy := func(y, pred []float64) float64 {
		var ok float64
		for i, v := range pred {
			if v < 0 || v > 1 {
				t.Errorf("prediction %v is not a probability", v)
			}
			if (v > 0.5) == (y[i] == 1) {
				ok++
			}
		}
		return ok / float64(len(y))
	}
	res, err := Permutation(context.Background(), p, m, y, accuracy, 3, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Baseline < 0.97 || res.Features[0].Mean < 0.2 {
		t.Errorf("baseline %v, drop %v", res.Baseline, res.Features[0].Mean)
	}
}

func TestAggregateAndMeanAbs(t *testing.T) {
	// Columns: a, color=red, color=blue, b -> inputs a, color, b.
	src := []int{0, 1, 1, 2}
	source := func(j int) int { return src[j] }
	got, err := Aggregate([]float64{1, 2, 3, 4, 10}, source, 3)
	if err != nil {
		t.Fatal(err)
	}
	if want := []float64{1, 5, 4, 10}; !reflect.DeepEqual(got, want) {
		t.Errorf("Aggregate: got %v, want %v", got, want)
	}
	if _, err := Aggregate([]float64{1, 2, 3, 4, 10}, func(int) int { return 3 }, 3); err == nil {
		t.Error("source out of range: no error")
	}
	blocks, err := AggregateBlocks([]float64{1, 2, 3, 4, 10, -1, -2, -3, -4, 0}, 4, source, 3)
	if err != nil {
		t.Fatal(err)
	}
	if want := []float64{1, 5, 4, 10, -1, -5, -4, 0}; !reflect.DeepEqual(blocks, want) {
		t.Errorf("AggregateBlocks: got %v, want %v", blocks, want)
	}
	if _, err := AggregateBlocks([]float64{1, 2, 3}, 4, source, 3); err == nil {
		t.Error("ragged blocks: no error")
	}

	// Two rows, two outputs, two features.
	contrib := []float64{
		1, -2, 9 /**/, 0, 4, 9,
		-3, 2, 9 /**/, 2, 0, 9,
	}
	mean, err := MeanAbs(contrib, 2, 2)
	if err != nil {
		t.Fatal(err)
	}
	if want := []float64{2, 2, 1, 2}; !reflect.DeepEqual(mean, want) {
		t.Errorf("MeanAbs: got %v, want %v", mean, want)
	}
	if _, err := MeanAbs(contrib[:5], 2, 2); err == nil {
		t.Error("ragged contributions: no error")
	}
}
