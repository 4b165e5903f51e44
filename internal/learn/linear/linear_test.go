package linear

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/mlcycle/mlcycle/internal/learn"
)

func TestRegressionRecoversCoefficients(t *testing.T) {
	x := gen(3000, 5, 1)
	wTrue := []float64{1.5, -2, 0.5, 0, 3}
	y := linearScores(x, wTrue, 0.7)
	r := rand.New(rand.NewPCG(2, 2))
	for i := range y {
		y[i] += 0.01 * r.NormFloat64()
	}
	wLS, bLS := leastSquares(x, y)
	for _, proximal := range []bool{false, true} {
		p := params(0, 0)
		p.Tol = 1e-12
		p.MaxIter = 100000
		m, err := Train(t.Context(), learn.Regression, 0, x, y, p, Options{proximal: proximal})
		if err != nil {
			t.Fatal(err)
		}
		if !m.Converged {
			t.Errorf("proximal=%v: not converged after %d iterations", proximal, m.Iterations)
		}
		near(t, "intercept", m.Intercept(0), bLS, 1e-9)
		for j := range wTrue {
			near(t, "coef vs least squares", m.Coef(0)[j], wLS[j], 1e-9)
			near(t, "coef vs truth", m.Coef(0)[j], wTrue[j], 0.002)
		}
		t.Logf("proximal=%v iterations=%d", proximal, m.Iterations)
	}
}

func TestLogisticRecoversDirectionAndBoundary(t *testing.T) {
	x := gen(20000, 4, 3)
	wTrue := []float64{2, -1, 0.5, 0}
	z := linearScores(x, wTrue, -0.5)
	r := rand.New(rand.NewPCG(4, 4))
	y := make([]float64, x.Rows)
	for i, v := range z {
		if r.Float64() < learn.Sigmoid(v) {
			y[i] = 1
		}
	}
	m := train(t, learn.Binary, 2, x, y, params(1e-6, 0))
	if !m.Converged {
		t.Fatalf("not converged in %d iterations", m.Iterations)
	}
	w := m.Coef(0)
	// The MLE is consistent: the coefficients themselves come back, and so
	// do their ratios (the direction of the boundary).
	for j, v := range wTrue {
		near(t, "coef", w[j], v, 0.1)
	}
	near(t, "intercept", m.Intercept(0), -0.5, 0.06)
	near(t, "w1/w0", w[1]/w[0], -0.5, 0.04)
	near(t, "w2/w0", w[2]/w[0], 0.25, 0.03)
	// The boundary b + x·w = 0 agrees with the true one on nearly every row.
	var agree int
	out := make([]float64, 1)
	row := make([]float64, x.Cols)
	for i := range z {
		m.PredictRaw(x.Row(i, row), out)
		if (out[0] > 0) == (z[i] > 0) {
			agree++
		}
	}
	if frac := float64(agree) / float64(len(z)); frac < 0.98 {
		t.Errorf("boundary agrees on %.3f of rows, want >= 0.98", frac)
	}
}

func TestL1GivesExactZeros(t *testing.T) {
	x := gen(2000, 10, 5)
	wTrue := []float64{3, -2, 1.5, 0, 0, 0, 0, 0, 0, 0}
	yReg := linearScores(x, wTrue, 1)
	r := rand.New(rand.NewPCG(6, 6))
	yBin := make([]float64, x.Rows)
	for i := range yReg {
		yReg[i] += 0.5 * r.NormFloat64()
		if r.Float64() < learn.Sigmoid(yReg[i]-1) {
			yBin[i] = 1
		}
	}
	for _, tc := range []struct {
		task  learn.Task
		y     []float64
		alpha float64
	}{
		{learn.Regression, yReg, 0.1},
		{learn.Binary, yBin, 0.02},
	} {
		for _, l1 := range []float64{1, 0.7} {
			m := train(t, tc.task, 0, x, tc.y, params(tc.alpha, l1))
			w := m.Coef(0)
			for j := 0; j < 3; j++ {
				if w[j] == 0 || math.Signbit(w[j]) != math.Signbit(wTrue[j]) {
					t.Errorf("%s l1_ratio %g: relevant coef %d = %g", tc.task, l1, j, w[j])
				}
			}
			for j := 3; j < len(w); j++ {
				if w[j] != 0 {
					t.Errorf("%s l1_ratio %g: irrelevant coef %d = %g, want exactly 0", tc.task, l1, j, w[j])
				}
			}
		}
	}
}

func TestPenaltyShrinks(t *testing.T) {
	x := gen(1000, 5, 7)
	y := linearScores(x, []float64{1, -1, 2, 0.5, -0.5}, 0)
	r := rand.New(rand.NewPCG(8, 8))
	for i := range y {
		y[i] += 0.1 * r.NormFloat64()
	}
	norm := func(m *Model) float64 {
		var s float64
		for _, v := range m.Coef(0) {
			s += v * v
		}
		return math.Sqrt(s)
	}
	for _, l1 := range []float64{0, 0.5, 1} {
		prev := math.Inf(1)
		for _, alpha := range []float64{0, 0.01, 0.1, 0.5, 1, 10} {
			m := train(t, learn.Regression, 0, x, y, params(alpha, l1))
			if nm := norm(m); nm >= prev && nm != 0 {
				t.Errorf("l1_ratio %g: ‖w‖ = %g at alpha %g, not below %g", l1, nm, alpha, prev)
			} else {
				prev = nm
			}
		}
		// A large penalty leaves the intercept alone: it is the mean of y.
		m := train(t, learn.Regression, 0, x, y, params(1e6, l1))
		near(t, "intercept under huge penalty", m.Intercept(0), sum(y)/float64(len(y)), 1e-3)
	}
	// Ridge has a closed form: w = (XcᵀXc + n·alpha·I)⁻¹ Xcᵀyc on centred
	// data, which is least squares on Xc augmented with sqrt(n·alpha)·I rows.
	const alpha = 0.3
	n, d := x.Rows, x.Cols
	aug := learn.NewMatrix(n+d, x.Names)
	ya := make([]float64, n+d)
	mx := make([]float64, d)
	for j := 0; j < d; j++ {
		mx[j] = sum(x.Col(j)) / float64(n)
	}
	my := sum(y) / float64(n)
	for j := 0; j < d; j++ {
		for i := 0; i < n; i++ {
			aug.Data[j*(n+d)+i] = x.At(i, j) - mx[j]
		}
		aug.Data[j*(n+d)+n+j] = math.Sqrt(float64(n) * alpha)
	}
	for i := 0; i < n; i++ {
		ya[i] = y[i] - my
	}
	// The augmented rows must not move the intercept: fit without one.
	wRef := ridgeNoIntercept(aug, ya)
	p := params(alpha, 0)
	p.Tol = 1e-12
	m := train(t, learn.Regression, 0, x, y, p)
	for j := range wRef {
		near(t, "ridge coef", m.Coef(0)[j], wRef[j], 1e-9)
	}
}

// ridgeNoIntercept solves min ‖y − Xw‖² (no intercept) by the normal
// equations.
func ridgeNoIntercept(x *learn.Matrix, y []float64) []float64 {
	d := x.Cols
	a := make([][]float64, d)
	for r := range a {
		a[r] = make([]float64, d+1)
		for c := 0; c < d; c++ {
			a[r][c] = dot(x.Col(r), x.Col(c))
		}
		a[r][d] = dot(x.Col(r), y)
	}
	for col := 0; col < d; col++ {
		for r := 0; r < d; r++ {
			if r != col {
				f := a[r][col] / a[col][col]
				for c := col; c <= d; c++ {
					a[r][c] -= f * a[col][c]
				}
			}
		}
	}
	w := make([]float64, d)
	for r := range w {
		w[r] = a[r][d] / a[r][r]
	}
	return w
}

func TestSoftmaxSeparatesBlobs(t *testing.T) {
	centres := [][]float64{{0, 4}, {4, -2}, {-4, -2}, {0, 0}}
	r := rand.New(rand.NewPCG(9, 9))
	const per = 500
	n := per * len(centres)
	x := learn.NewMatrix(n, []string{"u", "v"})
	y := make([]float64, n)
	for c, ctr := range centres {
		for i := 0; i < per; i++ {
			row := c*per + i
			x.Data[row] = ctr[0] + 0.7*r.NormFloat64()
			x.Data[n+row] = ctr[1] + 0.7*r.NormFloat64()
			y[row] = float64(c)
		}
	}
	m := train(t, learn.Multiclass, len(centres), x, y, params(1e-4, 0))
	if !m.Converged {
		t.Errorf("not converged in %d iterations", m.Iterations)
	}
	pred := learn.PredictMatrix(m, x)
	var correct int
	for i := 0; i < n; i++ {
		p := pred[i*len(centres) : (i+1)*len(centres)]
		best := 0
		for c := range p {
			if p[c] > p[best] {
				best = c
			}
		}
		if best == int(y[i]) {
			correct++
		}
	}
	if acc := float64(correct) / float64(n); acc < 0.97 {
		t.Errorf("accuracy %.3f, want >= 0.97", acc)
	}
	var sb float64
	for c := range centres {
		sb += m.Intercept(c)
	}
	near(t, "sum of intercepts", sb, 0, 1e-12)
}

func TestSeparableWithoutPenaltyStaysFinite(t *testing.T) {
	x := gen(400, 2, 13)
	y := make([]float64, x.Rows)
	for i := range y {
		if x.At(i, 0)+x.At(i, 1) > 0 {
			y[i] = 1
		}
	}
	for _, task := range []learn.Task{learn.Binary, learn.Multiclass} {
		p := params(0, 0)
		p.MaxIter = 5000
		// The optimum is at infinity; the fit stops once the gradient
		// has vanished below tol, finite (Train validates that) and
		// separating.
		m := train(t, task, 2, x, y, p)
		pred := learn.PredictMatrix(m, x)
		k := task.Outputs(2)
		for i := range y {
			p1 := pred[i*k+k-1]
			if (p1 > 0.5) != (y[i] == 1) {
				t.Fatalf("%s: row %d misclassified (p=%g)", task, i, p1)
			}
		}
		t.Logf("%s: %d iterations, objective %g", task, m.Iterations, m.Objective)
	}
}
