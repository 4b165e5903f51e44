package linear

import (
	"math/rand/v2"
	"testing"

	"github.com/mlcycle/mlcycle/internal/learn"
)

func benchData(n, d int, task learn.Task) (*learn.Matrix, []float64, int) {
	x := gen(n, d, 21)
	w := make([]float64, d)
	r := rand.New(rand.NewPCG(22, 22))
	for j := range w {
		w[j] = r.NormFloat64() / 2
	}
	z := linearScores(x, w, 0.2)
	y, k := labelsFor(task, z, r, 5)
	return x, y, k
}

// BenchmarkTrain fits 200k rows x 28 features with default parameters.
func BenchmarkTrain(b *testing.B) {
	for _, task := range []learn.Task{learn.Regression, learn.Binary, learn.Multiclass} {
		for _, l1 := range []float64{0, 0.5} {
			x, y, k := benchData(200_000, 28, task)
			b.Run(string(task)+map[bool]string{true: "/l1", false: "/l2"}[l1 > 0], func(b *testing.B) {
				p := DefaultParams()
				p.L1Ratio = l1
				var m *Model
				for b.Loop() {
					var err error
					m, err = Train(b.Context(), task, k, x, y, p, Options{})
					if err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(m.Iterations), "iters")
			})
		}
	}
}

func BenchmarkPredictRaw(b *testing.B) {
	x, y, k := benchData(2000, 28, learn.Binary)
	m, err := Train(b.Context(), learn.Binary, k, x, y, DefaultParams(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	row, out := x.Row(0, nil), make([]float64, 1)
	for b.Loop() {
		m.PredictRaw(row, out)
	}
}
