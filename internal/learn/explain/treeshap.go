// Package explain attributes model outputs to input features: exact
// path-dependent TreeSHAP for tree ensembles, exact contributions for linear
// models, and permutation importance for any learn.Predictor.
//
// Contributions of one row are laid out per output k as
// out[k*(F+1)+j] for feature j < F, and out[k*(F+1)+F] holds the bias (the
// expected raw score), so that the F+1 values of output k add up to raw score
// k of the row.
package explain

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/mlcycle/mlcycle/internal/learn"
)

// TreeExplainer computes exact path-dependent TreeSHAP values (Lundberg,
// Erion & Lee 2018, Algorithm 2) for a tree ensemble. Build it once per
// ensemble; Explain is safe for concurrent use.
//
// A feature outside the coalition is integrated out by descending both
// branches weighted by the children's Cover, normalised over the two children
// (so the weights of a node's branches always add up to 1; a node whose
// children both have no cover splits evenly). The bias is the expectation of
// the raw score under that same weighting.
type TreeExplainer struct {
	nFeatures int
	outputs   int
	trees     [][]shapTree // per output
	bias      []float64    // per output: Base + expected value of every tree
	maxDepth  int
}

// shapTree is a validated tree with the cover fraction of each left child
// precomputed (the right child gets 1 - frac).
type shapTree struct {
	t     *learn.Tree
	left  []float64
	depth int
}

// NewTreeExplainer validates e against rows of nFeatures columns (node
// indices in range, no cycles or shared nodes, split features < nFeatures)
// and precomputes what every row's explanation shares.
func NewTreeExplainer(e learn.TreeEnsemble, nFeatures int) (*TreeExplainer, error) {
	k := e.Task().Outputs(e.NumClass())
	base := e.Base()
	if len(base) != k {
		return nil, fmt.Errorf("explain: ensemble has %d base scores, want %d", len(base), k)
	}
	te := &TreeExplainer{nFeatures: nFeatures, outputs: k, trees: make([][]shapTree, k), bias: make([]float64, k)}
	for c := 0; c < k; c++ {
		trees := e.Trees(c)
		te.bias[c] = base[c]
		te.trees[c] = make([]shapTree, len(trees))
		for i := range trees {
			st, err := prepareTree(&trees[i], nFeatures)
			if err != nil {
				return nil, fmt.Errorf("explain: output %d tree %d: %w", c, i, err)
			}
			te.trees[c][i] = st
			te.bias[c] += st.expected(0)
			te.maxDepth = max(te.maxDepth, st.depth)
		}
	}
	return te, nil
}

// Len is the length of one row's contributions: outputs × (features + 1).
func (te *TreeExplainer) Len() int { return te.outputs * (te.nFeatures + 1) }

// ExpectedValue returns the bias of each output (the expected raw score).
func (te *TreeExplainer) ExpectedValue() []float64 { return append([]float64(nil), te.bias...) }

// Explain writes the contributions of row x into out (see the package
// comment for the layout). It panics if len(x) or len(out) is wrong, like
// indexing out of range.
func (te *TreeExplainer) Explain(x, out []float64) {
	if len(x) != te.nFeatures || len(out) != te.Len() {
		panic(fmt.Sprintf("explain: row has %d values and out %d, want %d and %d", len(x), len(out), te.nFeatures, te.Len()))
	}
	d := te.maxDepth + 2
	buf := make([]pathElem, d*(d+1)/2)
	te.explain(x, out, buf)
}

func (te *TreeExplainer) explain(x, out []float64, buf []pathElem) {
	f := te.nFeatures
	clear(out)
	for c := 0; c < te.outputs; c++ {
		phi := out[c*(f+1) : (c+1)*(f+1)]
		for i := range te.trees[c] {
			st := &te.trees[c][i]
			w := shapWalker{st: st, x: x, phi: phi}
			w.recurse(0, nil, buf, 1, 1, -1)
		}
		phi[f] = te.bias[c]
	}
}

// TreeSHAP writes the exact TreeSHAP contributions of row x under e into
// out, which must have length Outputs × (len(x)+1). For many rows build a
// TreeExplainer once or call TreeSHAPMatrix.
func TreeSHAP(e learn.TreeEnsemble, x []float64, out []float64) error {
	te, err := NewTreeExplainer(e, len(x))
	if err != nil {
		return err
	}
	if len(out) != te.Len() {
		return fmt.Errorf("explain: out has length %d, want %d", len(out), te.Len())
	}
	te.Explain(x, out)
	return nil
}

// TreeSHAPMatrix explains the given rows of m (all rows when rows is nil) in
// parallel. Row r of the result (rows[r]) starts at r×Len(), laid out as in
// the package comment; the result does not depend on GOMAXPROCS.
func TreeSHAPMatrix(ctx context.Context, e learn.TreeEnsemble, m *learn.Matrix, rows []int) ([]float64, error) {
	te, err := NewTreeExplainer(e, m.Cols)
	if err != nil {
		return nil, err
	}
	return te.Matrix(ctx, m, rows)
}

// Matrix is TreeSHAPMatrix with a prepared explainer.
func (te *TreeExplainer) Matrix(ctx context.Context, m *learn.Matrix, rows []int) ([]float64, error) {
	if m.Cols != te.nFeatures {
		return nil, fmt.Errorf("explain: matrix has %d columns, want %d", m.Cols, te.nFeatures)
	}
	rows, err := checkRows(m, rows)
	if err != nil {
		return nil, err
	}
	n := te.Len()
	out := make([]float64, len(rows)*n)
	d := te.maxDepth + 2
	err = parallelRows(ctx, len(rows), func() func(r int) {
		x := make([]float64, m.Cols)
		buf := make([]pathElem, d*(d+1)/2)
		return func(r int) {
			x = m.Row(rows[r], x)
			te.explain(x, out[r*n:(r+1)*n], buf)
		}
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// checkRows returns rows, or all row indices when rows is nil, after
// checking they are in range.
func checkRows(m *learn.Matrix, rows []int) ([]int, error) {
	if rows == nil {
		rows = make([]int, m.Rows)
		for i := range rows {
			rows[i] = i
		}
		return rows, nil
	}
	for _, i := range rows {
		if i < 0 || i >= m.Rows {
			return nil, fmt.Errorf("explain: row %d out of range [0,%d)", i, m.Rows)
		}
	}
	return rows, nil
}

// parallelRows runs the function made by worker for every r in [0,n) on
// GOMAXPROCS goroutines, in blocks, checking ctx between blocks. Each worker
// gets its own function (and scratch space); results must be written to
// per-row locations so the order of execution does not matter.
func parallelRows(ctx context.Context, n int, worker func() func(r int)) error {
	const block = 32
	blocks := (n + block - 1) / block
	workers := min(runtime.GOMAXPROCS(0), blocks)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			do := worker()
			for {
				b := int(next.Add(1)) - 1
				if b >= blocks || ctx.Err() != nil {
					return
				}
				for r := b * block; r < min(n, (b+1)*block); r++ {
					do(r)
				}
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("explain: %w", err)
	}
	return nil
}

// prepareTree checks the structure of t and computes the cover fractions.
func prepareTree(t *learn.Tree, nFeatures int) (shapTree, error) {
	nodes := t.Nodes
	if len(nodes) == 0 {
		return shapTree{}, fmt.Errorf("tree has no nodes")
	}
	st := shapTree{t: t, left: make([]float64, len(nodes))}
	seen := make([]bool, len(nodes))
	type item struct{ i, depth int }
	stack := []item{{0, 0}}
	seen[0] = true
	for len(stack) > 0 {
		it := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		st.depth = max(st.depth, it.depth)
		n := &nodes[it.i]
		if n.IsLeaf() {
			continue
		}
		if n.Feature >= nFeatures {
			return shapTree{}, fmt.Errorf("node %d splits on feature %d, rows have %d", it.i, n.Feature, nFeatures)
		}
		for _, c := range []int32{n.Left, n.Right} {
			if c <= 0 || int(c) >= len(nodes) {
				return shapTree{}, fmt.Errorf("node %d has child %d out of range", it.i, c)
			}
			if seen[c] {
				return shapTree{}, fmt.Errorf("node %d is reached twice", c)
			}
			seen[c] = true
			stack = append(stack, item{int(c), it.depth + 1})
		}
		cl, cr := cover(&nodes[n.Left]), cover(&nodes[n.Right])
		if s := cl + cr; s > 0 && s <= math.MaxFloat64 {
			st.left[it.i] = cl / s
		} else {
			st.left[it.i] = 0.5
		}
	}
	return st, nil
}

// cover is the node's Cover, with negative, NaN or infinite covers read as 0
// so they cannot poison the weights.
func cover(n *learn.Node) float64 {
	c := n.Cover
	if !(c > 0) || c > math.MaxFloat64 {
		return 0
	}
	return c
}

// expected is the cover-weighted mean leaf value below node i.
func (st *shapTree) expected(i int) float64 {
	n := &st.t.Nodes[i]
	if n.IsLeaf() {
		return n.Value
	}
	fl := st.left[i]
	var v float64
	if fl > 0 {
		v += fl * st.expected(int(n.Left))
	}
	if fl < 1 {
		v += (1 - fl) * st.expected(int(n.Right))
	}
	return v
}

// pathElem is one feature on the path from the root to the current node:
// the fraction of "zero" paths (feature outside the coalition) and "one"
// paths (feature inside it) flowing through, and the permutation weight.
type pathElem struct {
	feature   int
	zero, one float64
	weight    float64
}

type shapWalker struct {
	st  *shapTree
	x   []float64
	phi []float64
}

// recurse is RECURSE of Algorithm 2: parent is the path above node, free is
// scratch space for this call and its descendants.
func (w *shapWalker) recurse(node int, parent, free []pathElem, zero, one float64, feature int) {
	n := len(parent)
	p := free[:n+1]
	free = free[n+1:]
	copy(p, parent)
	extendPath(p, n, zero, one, feature)

	nd := &w.st.t.Nodes[node]
	if nd.IsLeaf() {
		for i := 1; i < len(p); i++ {
			s := unwoundSum(p, i)
			w.phi[p[i].feature] += s * (p[i].one - p[i].zero) * nd.Value
		}
		return
	}

	hot, cold := int(nd.Left), int(nd.Right)
	fh := w.st.left[node]
	fc := 1 - fh
	if !nd.GoesLeft(w.x[nd.Feature]) {
		hot, cold = cold, hot
		fh, fc = fc, fh
	}
	iz, io := 1.0, 1.0
	// A feature already on the path is taken out and re-added below with
	// the product of its fractions, so each feature appears once.
	for k := 1; k < len(p); k++ {
		if p[k].feature == nd.Feature {
			iz, io = p[k].zero, p[k].one
			unwindPath(p, k)
			p = p[:len(p)-1]
			break
		}
	}
	// A branch where both fractions are zero adds nothing to any feature;
	// skipping it also keeps unwinding free of 0/0.
	if iz*fh != 0 || io != 0 {
		w.recurse(hot, p, free, iz*fh, io, nd.Feature)
	}
	if iz*fc != 0 {
		w.recurse(cold, p, free, iz*fc, 0, nd.Feature)
	}
}

// extendPath appends (feature, zero, one) to the n elements of p (len(p) ==
// n+1) and updates the permutation weights (EXTEND).
func extendPath(p []pathElem, n int, zero, one float64, feature int) {
	p[n] = pathElem{feature: feature, zero: zero, one: one}
	if n == 0 {
		p[n].weight = 1
	}
	l1 := float64(n + 1)
	for i := n - 1; i >= 0; i-- {
		p[i+1].weight += one * p[i].weight * float64(i+1) / l1
		p[i].weight = zero * p[i].weight * float64(n-i) / l1
	}
}

// unwindPath removes element i from p, undoing its EXTEND (UNWIND). The
// caller shortens p by one afterwards.
func unwindPath(p []pathElem, i int) {
	l := len(p) - 1
	one, zero := p[i].one, p[i].zero
	next := p[l].weight
	l1 := float64(l + 1)
	for j := l - 1; j >= 0; j-- {
		if one != 0 {
			t := p[j].weight
			p[j].weight = next * l1 / (float64(j+1) * one)
			next = t - p[j].weight*zero*float64(l-j)/l1
		} else {
			p[j].weight = p[j].weight * l1 / (zero * float64(l-j))
		}
	}
	for j := i; j < l; j++ {
		p[j].feature, p[j].zero, p[j].one = p[j+1].feature, p[j+1].zero, p[j+1].one
	}
}

// unwoundSum is the total weight of p after unwinding element i, without
// changing p.
func unwoundSum(p []pathElem, i int) float64 {
	l := len(p) - 1
	one, zero := p[i].one, p[i].zero
	next := p[l].weight
	l1 := float64(l + 1)
	var total float64
	for j := l - 1; j >= 0; j-- {
		if one != 0 {
			t := next * l1 / (float64(j+1) * one)
			total += t
			next = p[j].weight - t*zero*float64(l-j)/l1
		} else {
			total += p[j].weight * l1 / (zero * float64(l-j))
		}
	}
	return total
}
