package explain

import (
	"context"
	"fmt"
	"math"

	"github.com/mlcycle/mlcycle/internal/learn"
)

// LinearContrib writes the exact contributions of row x under the linear
// model m into out (length Outputs × (len(x)+1)): feature j adds
// Coef(k)[j]·(x[j] − means[j]) to output k, and the bias is the raw score at
// the means, so the values of each output add up to its raw score. means is
// the background (usually the training column means, see ColumnMeans).
func LinearContrib(m learn.LinearModel, means []float64, x, out []float64) error {
	f := len(x)
	k := m.Task().Outputs(m.NumClass())
	if len(means) != f {
		return fmt.Errorf("explain: %d background means for %d features", len(means), f)
	}
	if len(out) != k*(f+1) {
		return fmt.Errorf("explain: out has length %d, want %d", len(out), k*(f+1))
	}
	for c := 0; c < k; c++ {
		coef := m.Coef(c)
		if len(coef) != f {
			return fmt.Errorf("explain: output %d has %d coefficients for %d features", c, len(coef), f)
		}
		o := out[c*(f+1) : (c+1)*(f+1)]
		bias := m.Intercept(c)
		for j, w := range coef {
			o[j] = w * (x[j] - means[j])
			bias += w * means[j]
		}
		o[f] = bias
	}
	return nil
}

// LinearContribMatrix explains the given rows of mat (all when rows is nil)
// with LinearContrib; row r of the result starts at r × Outputs × (Cols+1).
func LinearContribMatrix(ctx context.Context, m learn.LinearModel, means []float64, mat *learn.Matrix, rows []int) ([]float64, error) {
	rows, err := checkRows(mat, rows)
	if err != nil {
		return nil, err
	}
	n := m.Task().Outputs(m.NumClass()) * (mat.Cols + 1)
	out := make([]float64, len(rows)*n)
	x := make([]float64, mat.Cols)
	for r, i := range rows {
		if r%1024 == 0 && ctx.Err() != nil {
			return nil, fmt.Errorf("explain: %w", ctx.Err())
		}
		x = mat.Row(i, x)
		if err := LinearContrib(m, means, x, out[r*n:(r+1)*n]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// ColumnMeans returns the mean of each column of m over its non-missing
// values (0 for a column with none).
func ColumnMeans(m *learn.Matrix) []float64 {
	means := make([]float64, m.Cols)
	for j := range means {
		var s float64
		var n int
		for _, v := range m.Col(j) {
			if !math.IsNaN(v) {
				s += v
				n++
			}
		}
		if n > 0 {
			means[j] = s / float64(n)
		}
	}
	return means
}
