package gbdt

import (
	"encoding/json"
	"fmt"
	"math"

	"github.com/mlcycle/mlcycle/internal/learn"
)

// Model is a trained ensemble. Raw score k of a row is Base()[k] plus the
// leaf values the row reaches in Trees(k).
type Model struct {
	task       learn.Task
	numClass   int
	names      []string
	categories []int
	base       []float64
	trees      [][]learn.Tree // [output][round]
	bestIter   int
	gain       []float64
	splits     []float64

	// flat is every tree of an output laid out in one array for fast
	// prediction; roots[k] are the indices of the trees' roots in flat[k].
	flat  [][]flatNode
	roots [][]int32
	cats  []uint64
}

// flatNode is a 16-byte copy of learn.Node, trees laid out in preorder so
// the left child of node i is i+1. feature is -1 for a leaf (value in thr);
// otherwise its low bits are the feature and the flag bits below mark a
// missing-goes-left split and a categorical one, whose set is at
// cats[int(thr)]: the word count, then the words.
type flatNode struct {
	thr     float64
	right   int32
	feature int32
}

const (
	flagDefaultLeft = 1 << 30
	flagCategorical = 1 << 29
	featureMask     = flagCategorical - 1
)

var (
	_ learn.Predictor    = (*Model)(nil)
	_ learn.TreeEnsemble = (*Model)(nil)
)

// Task is what the model predicts.
func (m *Model) Task() learn.Task { return m.task }

// NumClass is 2 for binary, the class count for multiclass, 0 for regression.
func (m *Model) NumClass() int { return m.numClass }

// NumFeatures is the number of feature columns a row must have.
func (m *Model) NumFeatures() int { return len(m.names) }

// FeatureNames are the training matrix's column names.
func (m *Model) FeatureNames() []string { return append([]string(nil), m.names...) }

// Categories is the training matrix's Categories (0 for a numeric column).
func (m *Model) Categories() []int { return append([]int(nil), m.categories...) }

// Base is the initial raw score per output.
func (m *Model) Base() []float64 { return m.base }

// Trees returns the trees of output k in boosting order (shared storage; do
// not modify).
func (m *Model) Trees(k int) []learn.Tree { return m.trees[k] }

// BestIteration is the number of boosting rounds the model keeps: the round
// with the best validation loss when early stopping was on, else all rounds.
func (m *Model) BestIteration() int { return m.bestIter }

// FeatureImportance returns, per feature, the total loss reduction of the
// splits on it and the number of those splits, over the kept trees.
func (m *Model) FeatureImportance() (gain, splits []float64) {
	return append([]float64(nil), m.gain...), append([]float64(nil), m.splits...)
}

// PredictRaw writes the raw scores of row x into out.
func (m *Model) PredictRaw(x []float64, out []float64) {
	for k, nodes := range m.flat {
		s := m.base[k]
		for _, r := range m.roots[k] {
			i := r
			for {
				n := &nodes[i]
				f := n.feature
				if f < 0 {
					s += n.thr
					break
				}
				v := x[f&featureMask]
				var left bool
				switch {
				case f <= featureMask: // numeric; NaN <= t is false: right
					left = v <= n.thr
				case f&flagCategorical == 0: // numeric, missing left
					left = v <= n.thr || v != v
				default:
					left = m.catLeft(n, v)
				}
				// a select rather than a branch: the compiler emits a
				// conditional move, and tree paths are unpredictable
				next := n.right
				if left {
					next = i + 1
				}
				i = next
			}
		}
		out[k] = s
	}
}

func (m *Model) catLeft(n *flatNode, v float64) bool {
	if v != v {
		return n.feature&flagDefaultLeft != 0
	}
	if v < 0 {
		return false
	}
	off := int(n.thr)
	c := uint64(v)
	w := c / 64
	return w < m.cats[off] && m.cats[off+1+int(w)]>>(c%64)&1 == 1
}

// flatten builds the prediction arrays from m.trees.
func (m *Model) flatten() {
	m.flat = make([][]flatNode, len(m.trees))
	m.roots = make([][]int32, len(m.trees))
	m.cats = nil
	for k, trees := range m.trees {
		var nodes []flatNode
		roots := make([]int32, len(trees))
		for t := range trees {
			roots[t] = int32(len(nodes))
			nodes = m.appendPreorder(nodes, trees[t].Nodes, 0)
		}
		m.flat[k], m.roots[k] = nodes, roots
	}
}

// appendPreorder appends node i of tree and its subtree, left first.
func (m *Model) appendPreorder(dst []flatNode, tree []learn.Node, i int) []flatNode {
	n := &tree[i]
	if n.IsLeaf() {
		return append(dst, flatNode{feature: -1, thr: n.Value})
	}
	at := len(dst)
	f := flatNode{feature: int32(n.Feature), thr: n.Threshold}
	if n.DefaultLeft {
		f.feature |= flagDefaultLeft
	}
	if n.Cats != nil {
		f.feature |= flagCategorical
		f.thr = float64(len(m.cats))
		m.cats = append(m.cats, uint64(len(n.Cats)))
		m.cats = append(m.cats, n.Cats...)
	}
	dst = append(dst, f)
	dst = m.appendPreorder(dst, tree, int(n.Left))
	dst[at].right = int32(len(dst))
	return m.appendPreorder(dst, tree, int(n.Right))
}

const formatName = "mlcycle-gbdt"

type modelJSON struct {
	Format        string         `json:"format"`
	Version       int            `json:"version"`
	Task          learn.Task     `json:"task"`
	NumClass      int            `json:"num_class"`
	Features      []string       `json:"features"`
	Categories    []int          `json:"categories"`
	Base          []float64      `json:"base"`
	BestIteration int            `json:"best_iteration"`
	Gain          []float64      `json:"importance_gain"`
	Splits        []float64      `json:"importance_split"`
	Trees         [][]learn.Tree `json:"trees"`
}

// MarshalJSON writes the model; the same model always gives the same bytes.
func (m *Model) MarshalJSON() ([]byte, error) {
	return json.Marshal(modelJSON{
		Format: formatName, Version: 1,
		Task: m.task, NumClass: m.numClass,
		Features: m.names, Categories: m.categories,
		Base: m.base, BestIteration: m.bestIter,
		Gain: m.gain, Splits: m.splits,
		Trees: m.trees,
	})
}

// Unmarshal reads a model written by MarshalJSON and checks it completely:
// a model it accepts predicts without panicking.
func Unmarshal(data []byte) (*Model, error) {
	var j modelJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return nil, fmt.Errorf("gbdt model: %w", err)
	}
	if err := j.validate(); err != nil {
		return nil, fmt.Errorf("gbdt model: %w", err)
	}
	m := &Model{
		task: j.Task, numClass: j.NumClass,
		names: j.Features, categories: j.Categories,
		base: j.Base, trees: j.Trees, bestIter: j.BestIteration,
		gain: j.Gain, splits: j.Splits,
	}
	m.flatten()
	return m, nil
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

func (j *modelJSON) validate() error {
	if j.Format != formatName || j.Version != 1 {
		return fmt.Errorf("format %q version %d is not %s version 1", j.Format, j.Version, formatName)
	}
	switch j.Task {
	case learn.Binary:
		if j.NumClass != 2 {
			return fmt.Errorf("binary model with num_class %d", j.NumClass)
		}
	case learn.Multiclass:
		if j.NumClass < 2 || j.NumClass > 10000 {
			return fmt.Errorf("multiclass model with num_class %d", j.NumClass)
		}
	case learn.Regression:
		if j.NumClass != 0 {
			return fmt.Errorf("regression model with num_class %d", j.NumClass)
		}
	default:
		return fmt.Errorf("unknown task %q", j.Task)
	}
	nf := len(j.Features)
	if nf == 0 || nf > featureMask {
		return fmt.Errorf("%d features", nf)
	}
	if len(j.Categories) != nf || len(j.Gain) != nf || len(j.Splits) != nf {
		return fmt.Errorf("features, categories and importances differ in length")
	}
	for f, c := range j.Categories {
		if c < 0 {
			return fmt.Errorf("feature %d: negative category count", f)
		}
		if !finite(j.Gain[f]) || !finite(j.Splits[f]) {
			return fmt.Errorf("feature %d: importance is not finite", f)
		}
	}
	k := j.Task.Outputs(j.NumClass)
	if len(j.Base) != k || len(j.Trees) != k {
		return fmt.Errorf("want %d base scores and tree lists, have %d and %d", k, len(j.Base), len(j.Trees))
	}
	for c := range k {
		if !finite(j.Base[c]) {
			return fmt.Errorf("base score %d is not finite", c)
		}
		if len(j.Trees[c]) != len(j.Trees[0]) {
			return fmt.Errorf("outputs have different tree counts")
		}
		for t := range j.Trees[c] {
			if err := validateTree(&j.Trees[c][t], j.Categories); err != nil {
				return fmt.Errorf("output %d tree %d: %w", c, t, err)
			}
		}
	}
	if j.BestIteration != len(j.Trees[0]) {
		return fmt.Errorf("best_iteration %d but %d rounds of trees", j.BestIteration, len(j.Trees[0]))
	}
	return nil
}

// validateTree checks that the nodes form one tree rooted at 0: every child
// index is after its parent and is the child of exactly one node, which also
// rules out cycles.
func validateTree(t *learn.Tree, categories []int) error {
	n := len(t.Nodes)
	if n == 0 {
		return fmt.Errorf("no nodes")
	}
	if n > 1<<20 {
		return fmt.Errorf("%d nodes is too many", n)
	}
	seen := make([]bool, n)
	for i := range t.Nodes {
		nd := &t.Nodes[i]
		if !finite(nd.Value) || !finite(nd.Cover) || nd.Cover < 0 {
			return fmt.Errorf("node %d: value or cover is not finite", i)
		}
		if nd.Feature < 0 {
			if nd.Feature != -1 || nd.Left != 0 || nd.Right != 0 || nd.Cats != nil || nd.Threshold != 0 {
				return fmt.Errorf("node %d: leaf with split fields", i)
			}
			continue
		}
		if nd.Feature >= len(categories) {
			return fmt.Errorf("node %d: feature %d out of range", i, nd.Feature)
		}
		if !finite(nd.Threshold) {
			return fmt.Errorf("node %d: threshold is not finite", i)
		}
		if categories[nd.Feature] > 0 {
			if nd.Cats == nil || len(nd.Cats) > (categories[nd.Feature]+63)/64 || nd.Threshold != 0 {
				return fmt.Errorf("node %d: bad categorical split", i)
			}
		} else if nd.Cats != nil {
			return fmt.Errorf("node %d: category set on numeric feature %d", i, nd.Feature)
		}
		for _, c := range []int32{nd.Left, nd.Right} {
			if int(c) <= i || int(c) >= n {
				return fmt.Errorf("node %d: child %d out of range", i, c)
			}
			if seen[c] {
				return fmt.Errorf("node %d: child %d has two parents", i, c)
			}
			seen[c] = true
		}
		if nd.Left == nd.Right {
			return fmt.Errorf("node %d: both children are %d", i, nd.Left)
		}
	}
	for i := 1; i < n; i++ {
		if !seen[i] {
			return fmt.Errorf("node %d is unreachable", i)
		}
	}
	return nil
}
