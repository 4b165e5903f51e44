package explain

import (
	"context"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"

	"github.com/mlcycle/mlcycle/internal/learn"
)

// ensemble is a hand-built learn.TreeEnsemble.
type ensemble struct {
	task   learn.Task
	nclass int
	base   []float64
	trees  [][]learn.Tree
}

func (e *ensemble) Task() learn.Task         { return e.task }
func (e *ensemble) NumClass() int            { return e.nclass }
func (e *ensemble) Base() []float64          { return e.base }
func (e *ensemble) Trees(k int) []learn.Tree { return e.trees[k] }
func (e *ensemble) PredictRaw(x, out []float64) {
	for k := range out {
		out[k] = e.base[k]
		for i := range e.trees[k] {
			out[k] += e.trees[k][i].Predict(x)
		}
	}
}

// randomTree grows a random tree of the given depth over nFeatures
// features, of which those with cats[j] > 0 are categorical with cats[j]
// categories. Leaves stop early with probability pStop; a few leaves get
// zero cover.
func randomTree(rng *rand.Rand, depth, nFeatures int, cats []int, pStop float64) learn.Tree {
	var t learn.Tree
	var grow func(d int) (int32, float64)
	grow = func(d int) (int32, float64) {
		i := int32(len(t.Nodes))
		t.Nodes = append(t.Nodes, learn.Node{})
		if d == depth || (d > 0 && rng.Float64() < pStop) {
			c := float64(1 + rng.IntN(100))
			if rng.IntN(10) == 0 {
				c = 0
			}
			t.Nodes[i] = learn.Node{Feature: -1, Value: rng.NormFloat64(), Cover: c}
			return i, c
		}
		f := rng.IntN(nFeatures)
		n := learn.Node{Feature: f, DefaultLeft: rng.IntN(2) == 0}
		if cats[f] > 0 {
			words := (cats[f] + 63) / 64
			n.Cats = make([]uint64, words)
			for c := range cats[f] {
				if rng.IntN(2) == 0 {
					n.Cats[c/64] |= 1 << (c % 64)
				}
			}
		} else {
			n.Threshold = rng.NormFloat64()
		}
		l, cl := grow(d + 1)
		r, cr := grow(d + 1)
		n.Left, n.Right, n.Cover = l, r, cl+cr
		t.Nodes[i] = n
		return i, cl + cr
	}
	grow(0)
	return t
}

func randomEnsemble(rng *rand.Rand, task learn.Task, nclass, nTrees, depth, nFeatures int, cats []int) *ensemble {
	k := task.Outputs(nclass)
	e := &ensemble{task: task, nclass: nclass, base: make([]float64, k), trees: make([][]learn.Tree, k)}
	for c := range k {
		e.base[c] = rng.NormFloat64()
		for range nTrees {
			e.trees[c] = append(e.trees[c], randomTree(rng, depth, nFeatures, cats, 0.15))
		}
	}
	return e
}

// randomRow draws a row with missing values and, for categorical columns,
// codes that include ones no split has seen.
func randomRow(rng *rand.Rand, cats []int) []float64 {
	x := make([]float64, len(cats))
	for j := range x {
		switch {
		case rng.IntN(6) == 0:
			x[j] = math.NaN()
		case cats[j] > 0:
			x[j] = float64(rng.IntN(cats[j] + 2))
		default:
			x[j] = rng.NormFloat64()
		}
	}
	return x
}

func TestTreeSHAPAdditivity(t *testing.T) {
	cats := []int{0, 5, 0, 0, 70, 0, 3, 0, 0, 0}
	cases := []struct {
		name   string
		task   learn.Task
		nclass int
		depth  int
		trees  int
	}{
		{"regression depth 6", learn.Regression, 0, 6, 20},
		{"binary depth 7", learn.Binary, 2, 7, 10},
		{"multiclass depth 8", learn.Multiclass, 3, 8, 4},
	}
	for ci, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(ci), 1))
			e := randomEnsemble(rng, tc.task, tc.nclass, tc.trees, tc.depth, len(cats), cats)
			k := tc.task.Outputs(tc.nclass)
			f := len(cats)
			out := make([]float64, k*(f+1))
			raw := make([]float64, k)
			for range 200 {
				x := randomRow(rng, cats)
				if err := TreeSHAP(e, x, out); err != nil {
					t.Fatal(err)
				}
				e.PredictRaw(x, raw)
				for c := range k {
					var s float64
					for _, v := range out[c*(f+1) : (c+1)*(f+1)] {
						s += v
					}
					if d := math.Abs(s - raw[c]); d > 1e-9 {
						t.Fatalf("output %d: contributions add up to %v, raw score %v (diff %g)", c, s, raw[c], d)
					}
				}
			}
		})
	}
}

// condExp is the path-dependent conditional expectation TreeSHAP explains:
// features in the set follow x, the others descend both branches weighted
// by the children's cover.
func condExp(t *learn.Tree, i int, x []float64, set uint) float64 {
	n := &t.Nodes[i]
	if n.IsLeaf() {
		return n.Value
	}
	if set&(1<<n.Feature) != 0 {
		if n.GoesLeft(x[n.Feature]) {
			return condExp(t, int(n.Left), x, set)
		}
		return condExp(t, int(n.Right), x, set)
	}
	cl, cr := t.Nodes[n.Left].Cover, t.Nodes[n.Right].Cover
	fl := 0.5
	if cl+cr > 0 {
		fl = cl / (cl + cr)
	}
	return fl*condExp(t, int(n.Left), x, set) + (1-fl)*condExp(t, int(n.Right), x, set)
}

// bruteShapley enumerates every subset of the f features.
func bruteShapley(e *ensemble, x []float64, k int) []float64 {
	f := len(x)
	v := func(set uint) float64 {
		s := e.base[k]
		for i := range e.trees[k] {
			s += condExp(&e.trees[k][i], 0, x, set)
		}
		return s
	}
	fact := func(n int) float64 {
		r := 1.0
		for i := 2; i <= n; i++ {
			r *= float64(i)
		}
		return r
	}
	phi := make([]float64, f+1)
	for j := range f {
		for set := uint(0); set < 1<<f; set++ {
			if set&(1<<j) != 0 {
				continue
			}
			size := 0
			for b := set; b != 0; b &= b - 1 {
				size++
			}
			w := fact(size) * fact(f-size-1) / fact(f)
			phi[j] += w * (v(set|1<<j) - v(set))
		}
	}
	phi[f] = v(0)
	return phi
}

func TestTreeSHAPMatchesBruteForce(t *testing.T) {
	for seed := range uint64(30) {
		rng := rand.New(rand.NewPCG(seed, 2))
		f := 1 + rng.IntN(5)
		cats := make([]int, f)
		for j := range cats {
			if rng.IntN(3) == 0 {
				cats[j] = 2 + rng.IntN(6)
			}
		}
		task, nclass := learn.Regression, 0
		if seed%3 == 0 {
			task, nclass = learn.Multiclass, 3
		}
		// Small feature counts and deep trees make features repeat on a path.
		e := randomEnsemble(rng, task, nclass, 3, 2+rng.IntN(5), f, cats)
		k := task.Outputs(nclass)
		out := make([]float64, k*(f+1))
		for range 20 {
			x := randomRow(rng, cats)
			if err := TreeSHAP(e, x, out); err != nil {
				t.Fatal(err)
			}
			for c := range k {
				want := bruteShapley(e, x, c)
				got := out[c*(f+1) : (c+1)*(f+1)]
				for j := range want {
					if math.Abs(got[j]-want[j]) > 1e-9 {
						t.Fatalf("seed %d output %d feature %d: TreeSHAP %v, brute force %v\nrow %v", seed, c, j, got[j], want[j], x)
					}
				}
			}
		}
	}
}

func TestTreeSHAPHandExample(t *testing.T) {
	// x0 <= 0 (missing goes right) -> leaf 1 (value 1, cover 3) else
	// x1 in {1} -> leaf 10 (cover 1) else leaf 20 (cover 1).
	tree := learn.Tree{Nodes: []learn.Node{
		{Feature: 0, Threshold: 0, Left: 1, Right: 2, Cover: 5},
		{Feature: -1, Value: 1, Cover: 3},
		{Feature: 1, Cats: []uint64{0b10}, DefaultLeft: true, Left: 3, Right: 4, Cover: 2},
		{Feature: -1, Value: 10, Cover: 1},
		{Feature: -1, Value: 20, Cover: 1},
	}}
	e := &ensemble{task: learn.Regression, base: []float64{0.5}, trees: [][]learn.Tree{{tree}}}
	// E = 0.6*1 + 0.4*15 = 6.6. Row (1, 1) reaches leaf 10:
	// v({}) = 6.6, v({0}) = 15, v({1}) = 0.6*1 + 0.4*10 = 4.6, v({0,1}) = 10.
	// phi0 = ((15-6.6) + (10-4.6))/2 = 6.9, phi1 = ((4.6-6.6) + (10-15))/2 = -3.5.
	cases := []struct {
		x    []float64
		want []float64
	}{
		{[]float64{1, 1}, []float64{6.9, -3.5, 7.1}},
		// x1 missing goes left as well.
		{[]float64{1, math.NaN()}, []float64{6.9, -3.5, 7.1}},
		// x0 missing goes right; code 7 is unseen and goes right:
		// v({0}) = 15, v({1}) = 0.6 + 8 = 8.6, v({0,1}) = 20.
		{[]float64{math.NaN(), 7}, []float64{((15 - 6.6) + (20 - 8.6)) / 2, ((8.6 - 6.6) + (20 - 15)) / 2, 7.1}},
		// x0 <= 0 reaches leaf 1, yet x1 gets credit: knowing x1 alone
		// moves the expectation (v({1}) = 4.6, v({0}) = v({0,1}) = 1).
		{[]float64{-1, 1}, []float64{((1 - 6.6) + (1 - 4.6)) / 2, ((4.6 - 6.6) + 0) / 2, 7.1}},
	}
	out := make([]float64, 3)
	for _, tc := range cases {
		if err := TreeSHAP(e, tc.x, out); err != nil {
			t.Fatal(err)
		}
		for j := range out {
			if math.Abs(out[j]-tc.want[j]) > 1e-12 {
				t.Errorf("row %v: got %v, want %v", tc.x, out, tc.want)
				break
			}
		}
	}
}

func TestTreeSHAPMatrixDeterministic(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	cats := []int{0, 4, 0, 0, 9, 0}
	e := randomEnsemble(rng, learn.Multiclass, 3, 15, 6, len(cats), cats)
	m := learn.NewMatrix(500, []string{"a", "b", "c", "d", "e", "f"})
	m.Categories = cats
	for i := range m.Rows {
		for j, v := range randomRow(rng, cats) {
			m.Data[j*m.Rows+i] = v
		}
	}
	rows := []int{499, 3, 3, 250}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	var prev []float64
	for _, procs := range []int{1, 3, 8} {
		runtime.GOMAXPROCS(procs)
		all, err := TreeSHAPMatrix(context.Background(), e, m, nil)
		if err != nil {
			t.Fatal(err)
		}
		if prev != nil && !slices.Equal(all, prev) {
			t.Fatalf("GOMAXPROCS %d changed the result", procs)
		}
		prev = all
	}
	te, err := NewTreeExplainer(e, m.Cols)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := te.Matrix(context.Background(), m, rows)
	if err != nil {
		t.Fatal(err)
	}
	n := te.Len()
	one := make([]float64, n)
	for r, i := range rows {
		te.Explain(m.Row(i, nil), one)
		if !slices.Equal(sub[r*n:(r+1)*n], one) || !slices.Equal(prev[i*n:(i+1)*n], one) {
			t.Fatalf("row %d: matrix and single-row results differ", i)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := te.Matrix(ctx, m, nil); err == nil {
		t.Fatal("cancelled context: no error")
	}
	if _, err := te.Matrix(context.Background(), m, []int{500}); err == nil {
		t.Fatal("row out of range: no error")
	}
}

func TestTreeSHAPRejectsMalformedTrees(t *testing.T) {
	leaf := learn.Node{Feature: -1, Cover: 1}
	cases := map[string][]learn.Node{
		"empty":              {},
		"child out of range": {{Feature: 0, Left: 1, Right: 5}, leaf},
		"root as child":      {{Feature: 0, Left: 0, Right: 1}, leaf},
		"cycle":              {{Feature: 0, Left: 1, Right: 2}, {Feature: 0, Left: 2, Right: 1}, leaf},
		"shared node":        {{Feature: 0, Left: 1, Right: 1}, leaf},
		"feature too large":  {{Feature: 2, Left: 1, Right: 2}, leaf, leaf},
	}
	for name, nodes := range cases {
		e := &ensemble{task: learn.Regression, base: []float64{0}, trees: [][]learn.Tree{{{Nodes: nodes}}}}
		if err := TreeSHAP(e, []float64{1, 2}, make([]float64, 3)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	e := &ensemble{task: learn.Regression, base: []float64{0}, trees: [][]learn.Tree{{{Nodes: []learn.Node{leaf}}}}}
	if err := TreeSHAP(e, []float64{1, 2}, make([]float64, 2)); err == nil {
		t.Error("short out: no error")
	}
	e.base = []float64{0, 1}
	if err := TreeSHAP(e, []float64{1, 2}, make([]float64, 3)); err == nil {
		t.Error("wrong number of base scores: no error")
	}
}

func TestTreeSHAPBadCovers(t *testing.T) {
	// Covers that are NaN, negative or zero on both sides still give
	// additive contributions.
	tree := learn.Tree{Nodes: []learn.Node{
		{Feature: 0, Threshold: 0, Left: 1, Right: 2, Cover: math.NaN()},
		{Feature: 1, Threshold: 0, Left: 3, Right: 4, Cover: -1},
		{Feature: -1, Value: 3, Cover: math.Inf(1)},
		{Feature: -1, Value: 5, Cover: 0},
		{Feature: -1, Value: 7, Cover: 0},
	}}
	e := &ensemble{task: learn.Regression, base: []float64{0}, trees: [][]learn.Tree{{tree}}}
	out := make([]float64, 3)
	for _, x := range [][]float64{{-1, -1}, {-1, 1}, {1, 1}, {math.NaN(), math.NaN()}} {
		if err := TreeSHAP(e, x, out); err != nil {
			t.Fatal(err)
		}
		s := out[0] + out[1] + out[2]
		if want := tree.Predict(x); math.IsNaN(s) || math.Abs(s-want) > 1e-12 {
			t.Errorf("row %v: contributions %v add up to %v, want %v", x, out, s, want)
		}
	}
}

func BenchmarkTreeSHAP(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	cats := make([]int, 28)
	e := randomEnsemble(rng, learn.Binary, 2, 100, 6, len(cats), cats)
	te, err := NewTreeExplainer(e, len(cats))
	if err != nil {
		b.Fatal(err)
	}
	x := randomRow(rng, cats)
	out := make([]float64, te.Len())
	for b.Loop() {
		te.Explain(x, out)
	}
}
