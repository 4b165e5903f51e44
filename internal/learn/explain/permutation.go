package explain

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/mlcycle/mlcycle/internal/learn"
)

// Importance is the permutation importance of one feature or group of
// columns.
type Importance struct {
	Columns []int     // matrix columns permuted together
	Name    string    // the column's name, or the names joined by "+"
	Mean    float64   // mean drop of the score (baseline − permuted)
	Std     float64   // population standard deviation of the drops
	Drops   []float64 // the drop of each repeat
}

// PermutationResult is what Permutation returns.
type PermutationResult struct {
	Baseline float64      // score on the unpermuted matrix
	Features []Importance // one per column, or per group, in order
}

// Permutation measures how much score drops when the values of a column
// (or of a group of columns, shuffled with the same row permutation, e.g.
// the one-hot columns of one input) are shuffled across rows. y holds the
// targets of m's rows; score(y, pred) is higher-is-better and receives the
// user-facing predictions laid out as learn.PredictMatrix returns them.
// Each feature is permuted repeats times with a random stream derived from
// seed and its index, so results do not depend on GOMAXPROCS. Features are
// scored in parallel: p.PredictRaw and score must be safe for concurrent
// use. groups nil means every column alone.
func Permutation(ctx context.Context, p learn.Predictor, m *learn.Matrix, y []float64,
	score func(y, pred []float64) float64, repeats int, seed uint64, groups [][]int) (PermutationResult, error) {
	switch {
	case score == nil:
		return PermutationResult{}, fmt.Errorf("explain: no score function")
	case repeats < 1:
		return PermutationResult{}, fmt.Errorf("explain: repeats %d, want >= 1", repeats)
	case len(y) != m.Rows:
		return PermutationResult{}, fmt.Errorf("explain: %d targets for %d rows", len(y), m.Rows)
	case m.Rows == 0:
		return PermutationResult{}, fmt.Errorf("explain: no rows")
	}
	if groups == nil {
		groups = make([][]int, m.Cols)
		for j := range groups {
			groups[j] = []int{j}
		}
	}
	feats := make([]Importance, len(groups))
	for g, cols := range groups {
		if len(cols) == 0 {
			return PermutationResult{}, fmt.Errorf("explain: group %d has no columns", g)
		}
		names := make([]string, len(cols))
		for i, c := range cols {
			if c < 0 || c >= m.Cols {
				return PermutationResult{}, fmt.Errorf("explain: group %d has column %d out of range [0,%d)", g, c, m.Cols)
			}
			names[i] = fmt.Sprint(c)
			if c < len(m.Names) {
				names[i] = m.Names[c]
			}
		}
		feats[g] = Importance{Columns: append([]int(nil), cols...), Name: strings.Join(names, "+"), Drops: make([]float64, repeats)}
	}

	k := p.Task().Outputs(p.NumClass())
	pred := make([]float64, m.Rows*k)
	predictPermuted(p, m, nil, nil, pred, make([]float64, m.Cols))
	base := score(y, pred)

	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(feats)) {
		wg.Go(func() {
			pred := make([]float64, m.Rows*k)
			row := make([]float64, m.Cols)
			for {
				g := int(next.Add(1)) - 1
				if g >= len(feats) {
					return
				}
				f := &feats[g]
				rng := rand.New(rand.NewPCG(seed, uint64(g)))
				for r := range repeats {
					if ctx.Err() != nil {
						return
					}
					perm := rng.Perm(m.Rows)
					predictPermuted(p, m, f.Columns, perm, pred, row)
					f.Drops[r] = base - score(y, pred)
				}
				f.Mean, f.Std = meanStd(f.Drops)
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return PermutationResult{}, fmt.Errorf("explain: %w", err)
	}
	return PermutationResult{Baseline: base, Features: feats}, nil
}

// predictPermuted writes the user-facing predictions of every row of m
// into pred, reading the columns cols from row perm[i] instead of row i.
func predictPermuted(p learn.Predictor, m *learn.Matrix, cols, perm []int, pred, row []float64) {
	k := len(pred) / m.Rows
	for i := 0; i < m.Rows; i++ {
		row = m.Row(i, row)
		for _, c := range cols {
			row[c] = m.At(perm[i], c)
		}
		o := pred[i*k : (i+1)*k]
		p.PredictRaw(row, o)
		learn.Output(p.Task(), o)
	}
}

func meanStd(v []float64) (mean, std float64) {
	for _, x := range v {
		mean += x
	}
	mean /= float64(len(v))
	for _, x := range v {
		std += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(std / float64(len(v)))
}
