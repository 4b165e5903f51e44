package gbdt

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/mlcycle/mlcycle/internal/learn"
)

func benchData(n, f int) (*learn.Matrix, []float64) {
	rng := rand.New(rand.NewPCG(1, 2))
	names := make([]string, f)
	for j := range names {
		names[j] = string(rune('a'+j%26)) + string(rune('a'+j/26))
	}
	x := genMatrix(rng, n, names...)
	y := make([]float64, n)
	for i := range y {
		s := x.At(i, 0) - x.At(i, 1)*x.At(i, 2) + 0.5*x.At(i, 3)
		if s+rng.NormFloat64() > 0 {
			y[i] = 1
		}
	}
	return x, y
}

// BenchmarkTrain is 20 rounds on 200k rows x 28 features.
func BenchmarkTrain(b *testing.B) {
	x, y := benchData(200_000, 28)
	p := DefaultParams()
	p.NumRounds = 20
	b.ResetTimer()
	for b.Loop() {
		if _, err := Train(context.Background(), learn.Binary, x, y, p, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPredictRow is one row through 100 trees of depth 6.
func BenchmarkPredictRow(b *testing.B) {
	x, y := benchData(50_000, 28)
	p := DefaultParams()
	p.MaxDepth = 6
	p.MaxLeaves = 64
	p.MinDataInLeaf = 1
	m, err := Train(context.Background(), learn.Binary, x, y, p, Options{})
	if err != nil {
		b.Fatal(err)
	}
	if d := m.Trees(0)[0].Depth(); d != 6 {
		b.Fatalf("depth %d, want 6", d)
	}
	rows := make([][]float64, 1024)
	for i := range rows {
		rows[i] = x.Row(i, nil)
	}
	out := make([]float64, 1)
	b.ResetTimer()
	i := 0
	for b.Loop() {
		m.PredictRaw(rows[i&1023], out)
		i++
	}
}
