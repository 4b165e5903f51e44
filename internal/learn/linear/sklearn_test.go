package linear

import (
	"math"
	"testing"

	"github.com/mlcycle/mlcycle/internal/learn"
)

// skData is the small fixed problem the scikit-learn reference numbers
// below were fitted on (the same formulas in Python).
func skData() (x *learn.Matrix, yReg, yBin, yMulti []float64) {
	const n, d = 40, 4
	x = learn.NewMatrix(n, []string{"a", "b", "c", "d"})
	for i := 0; i < n; i++ {
		for j := 0; j < d; j++ {
			fi, fj := float64(i), float64(j)
			x.Data[j*n+i] = math.Sin(0.37*(fi+1)*(fj+1)+0.5*fj) + 0.3*math.Cos(1.1*fi+fj)
		}
	}
	yReg, yBin, yMulti = make([]float64, n), make([]float64, n), make([]float64, n)
	for i := 0; i < n; i++ {
		fi := float64(i)
		x0, x1, x2, x3 := x.At(i, 0), x.At(i, 1), x.At(i, 2), x.At(i, 3)
		yReg[i] = 1.2*x0 - 0.8*x1 + 0.4*x3 + 0.5 + 0.2*math.Sin(2.3*fi+0.1)
		if x0-1.5*x1+0.5*x3+0.6*math.Sin(1.9*fi) > 0.1 {
			yBin[i] = 1
		}
		s := []float64{x0 + 0.3*math.Sin(1.3*fi), -x0 + x1, x2 - 0.5*x3 + 0.4*math.Cos(0.9*fi)}
		best := 0
		for c := range s {
			if s[c] > s[best] {
				best = c
			}
		}
		yMulti[i] = float64(best)
	}
	return x, yReg, yBin, yMulti
}

// skRef holds the intercepts and coefficients scikit-learn 1.9.1 fitted on
// skData. Produced once by running testdata/sklearn_ref.py in the test venv
// ($HOME/.cache/mlcycle-test/venv/bin/python); it builds the same X and y
// and calls, all with tol=1e-12 and a large max_iter:
//
//	ols:        LinearRegression()
//	ridge:      Ridge(alpha=2.0)                                  -> alpha = 2/n, l1_ratio 0
//	lasso:      Lasso(alpha=0.05)                                 -> alpha 0.05, l1_ratio 1
//	enet:       ElasticNet(alpha=0.05, l1_ratio=0.5)              -> alpha 0.05, l1_ratio 0.5
//	logit_l2:   LogisticRegression(C=0.5)  (lbfgs)                -> alpha = 1/(C·n)
//	logit_l1:   LogisticRegression(C=0.5, l1_ratio=1, solver=saga, random_state=0)
//	logit_enet: LogisticRegression(C=0.5, l1_ratio=0.5, solver=saga, random_state=0)
//	softmax_l2: LogisticRegression(C=1.0)  on the 3-class target (multinomial)
//	softmax_l1: LogisticRegression(C=1.0, l1_ratio=1, solver=saga, random_state=0)
//
// and printing intercept_ and coef_ with repr.
var skRef = []struct {
	name string
	b    []float64
	w    [][]float64
}{
	{"ols", []float64{0.503398448389603}, [][]float64{{1.2042820972491404, -0.8017751205289207, 0.006212707215597527, 0.39267825493755454}}},
	{"ridge", []float64{0.5152738587919953}, [][]float64{{1.0980474995476868, -0.7335832105393697, 0.0020435774233293932, 0.356644995706712}}},
	{"lasso", []float64{0.5140833246056584}, [][]float64{{1.1010898102037383, -0.7139369614539248, -0.0, 0.30235372141300737}}},
	{"enet", []float64{0.5146805331732045}, [][]float64{{1.0997651900874175, -0.7238655797405587, -0.0, 0.33050590301123844}}},
	{"logit_l2", []float64{-0.29293433778755773}, [][]float64{{0.6832149415848767, -1.8929624943912058, -0.1708775119845582, 0.060177919088832466}}},
	{"logit_l1", []float64{-0.3383742903077422}, [][]float64{{0.5379345180035332, -2.698489736819564, 0.0, 0.0}}},
	{"logit_enet", []float64{-0.28580676000717675}, [][]float64{{0.6156864250397477, -2.1500824158508762, 0.0, 0.0}}},
	{"softmax_l2", []float64{0.10851962000646499, 0.5922378275172846, -0.7007574475237494}, [][]float64{{1.5354288414735453, -0.01730968792925084, -1.029798064897571, 0.46276252062041867}, {-1.9064997847307443, 0.2474385799559586, -0.2171756458203605, 0.406681249212673}, {0.37107094325719897, -0.23012889202670772, 1.246973710717931, -0.8694437698330916}}},
	{"softmax_l1", []float64{0.10609805854101777, 0.6602309445093034, -0.7663290030502562}, [][]float64{{1.1759004042986358, 0.0, -0.9506757765337916, 0.0}, {-2.950608631742857, 0.0, 0.0, 0.0}, {0.0, 0.0, 1.496141805199911, -1.2796234736227956}}},
}

func TestAgreesWithScikitLearn(t *testing.T) {
	x, yReg, yBin, yMulti := skData()
	n := float64(x.Rows)
	cases := map[string]struct {
		task    learn.Task
		k       int
		y       []float64
		alpha   float64
		l1Ratio float64
	}{
		"ols":        {learn.Regression, 0, yReg, 0, 0},
		"ridge":      {learn.Regression, 0, yReg, 2.0 / n, 0},
		"lasso":      {learn.Regression, 0, yReg, 0.05, 1},
		"enet":       {learn.Regression, 0, yReg, 0.05, 0.5},
		"logit_l2":   {learn.Binary, 2, yBin, 1 / (0.5 * n), 0},
		"logit_l1":   {learn.Binary, 2, yBin, 1 / (0.5 * n), 1},
		"logit_enet": {learn.Binary, 2, yBin, 1 / (0.5 * n), 0.5},
		"softmax_l2": {learn.Multiclass, 3, yMulti, 1 / (1.0 * n), 0},
		"softmax_l1": {learn.Multiclass, 3, yMulti, 1 / (1.0 * n), 1},
	}
	for _, ref := range skRef {
		t.Run(ref.name, func(t *testing.T) {
			c := cases[ref.name]
			p := params(c.alpha, c.l1Ratio)
			p.Tol, p.MaxIter = 1e-12, 1_000_000
			solvers := []bool{false}
			if c.task == learn.Regression {
				solvers = append(solvers, true) // coordinate descent and proximal gradient
			}
			for _, proximal := range solvers {
				m, err := Train(t.Context(), c.task, c.k, x, c.y, p, Options{proximal: proximal})
				if err != nil {
					t.Fatal(err)
				}
				if !m.Converged {
					t.Errorf("not converged in %d iterations", m.Iterations)
				}
				for k := range ref.b {
					near(t, "intercept", m.Intercept(k), ref.b[k], 1e-7)
					for j := range ref.w[k] {
						near(t, "coef", m.Coef(k)[j], ref.w[k][j], 1e-7)
						if ref.w[k][j] == 0 && m.Coef(k)[j] != 0 {
							t.Errorf("coef[%d][%d] = %g, want exactly 0", k, j, m.Coef(k)[j])
						}
					}
				}
			}
		})
	}
}
