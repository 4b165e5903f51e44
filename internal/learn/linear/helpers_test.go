package linear

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/mlcycle/mlcycle/internal/learn"
)

// gen makes n rows of d standard normal features (column j scaled by
// scale[j] when given) from seed.
func gen(n, d int, seed uint64) *learn.Matrix {
	r := rand.New(rand.NewPCG(seed, 1))
	names := make([]string, d)
	for j := range names {
		names[j] = fmt.Sprintf("x%d", j)
	}
	m := learn.NewMatrix(n, names)
	for i := range m.Data {
		m.Data[i] = r.NormFloat64()
	}
	return m
}

// linearScores returns b + X·w per row.
func linearScores(x *learn.Matrix, w []float64, b float64) []float64 {
	out := make([]float64, x.Rows)
	for i := range out {
		out[i] = b
		for j, v := range w {
			out[i] += v * x.At(i, j)
		}
	}
	return out
}

func train(t *testing.T, task learn.Task, k int, x *learn.Matrix, y []float64, p Params) *Model {
	t.Helper()
	m, err := Train(context.Background(), task, k, x, y, p, Options{})
	if err != nil {
		t.Fatalf("Train: %v", err)
	}
	return m
}

func params(alpha, l1 float64) Params {
	p := DefaultParams()
	p.Alpha, p.L1Ratio = alpha, l1
	return p
}

func near(t *testing.T, what string, got, want, tol float64) {
	t.Helper()
	if math.Abs(got-want) > tol || math.IsNaN(got) {
		t.Errorf("%s = %.10g, want %.10g (±%g)", what, got, want, tol)
	}
}

// leastSquares solves min ‖y − b − Xw‖² by the normal equations with
// Gaussian elimination (partial pivoting), as an independent reference.
func leastSquares(x *learn.Matrix, y []float64) ([]float64, float64) {
	d := x.Cols + 1
	a := make([][]float64, d)
	for r := range a {
		a[r] = make([]float64, d+1)
	}
	row := make([]float64, d)
	for i := 0; i < x.Rows; i++ {
		row[0] = 1
		for j := 0; j < x.Cols; j++ {
			row[j+1] = x.At(i, j)
		}
		for r := 0; r < d; r++ {
			for c := 0; c < d; c++ {
				a[r][c] += row[r] * row[c]
			}
			a[r][d] += row[r] * y[i]
		}
	}
	for col := 0; col < d; col++ {
		p := col
		for r := col + 1; r < d; r++ {
			if math.Abs(a[r][col]) > math.Abs(a[p][col]) {
				p = r
			}
		}
		a[col], a[p] = a[p], a[col]
		for r := 0; r < d; r++ {
			if r == col {
				continue
			}
			f := a[r][col] / a[col][col]
			for c := col; c <= d; c++ {
				a[r][c] -= f * a[col][c]
			}
		}
	}
	sol := make([]float64, d)
	for r := range sol {
		sol[r] = a[r][d] / a[r][r]
	}
	return sol[1:], sol[0]
}
