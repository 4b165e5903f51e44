package linear

import (
	"math"

	"github.com/mlcycle/mlcycle/internal/learn"
)

// fista minimises the objective by FISTA (Beck & Teboulle's accelerated
// proximal gradient) with backtracking on the step and gradient-based
// adaptive restart (O'Donoghue & Candès), which keeps it converging
// linearly on strongly convex problems and robust on the rest. The smooth
// part is the mean loss plus the L2 term; the L1 term is handled exactly by
// soft-thresholding, so irrelevant coefficients end at exact zeros.
//
// Each iteration costs one pass for the gradient (Xᵀr) and one per step
// tried (Xw); the scores of the momentum point are a linear combination of
// scores already computed, since they are linear in the parameters.
func (pr *problem) fista() (*result, error) {
	n, d, k := pr.n, pr.d, pr.k
	fn := float64(n)
	newW := func() [][]float64 {
		w := make([][]float64, k)
		for c := range w {
			w[c] = make([]float64, d)
		}
		return w
	}
	newZ := func() [][]float64 {
		z := make([][]float64, k)
		for c := range z {
			z[c] = make([]float64, n)
		}
		return z
	}
	w, wn, wy, gw := newW(), newW(), newW(), newW()
	b, bn, by, gb := make([]float64, k), make([]float64, k), make([]float64, k), make([]float64, k)
	zx, zn, zy, rs := newZ(), newZ(), newZ(), newZ()

	if pr.fitIntercept {
		pr.initIntercept(b)
	}
	scores(pr.threads, pr.x, w, b, zx)
	copy(by, b)
	for c := range zy {
		copy(zy[c], zx[c])
	}

	// The first step is the inverse of the largest diagonal entry of the
	// bound on the loss Hessian: optimistic (λmax is at least that entry),
	// and backtracking shortens it as needed.
	curv := 1.0
	switch pr.task {
	case learn.Binary:
		curv = 0.25
	case learn.Multiclass:
		curv = 0.5
	}
	var diag float64
	if pr.fitIntercept {
		diag = 1
	}
	for j := 0; j < d; j++ {
		diag = max(diag, dot(pr.x.Col(j), pr.x.Col(j))/fn)
	}
	step := 1.0
	if l := curv*diag + pr.l2; l > 0 {
		step = 1 / l
	}
	// The step may grow far beyond the first guess (logistic curvature
	// vanishes on separable data) but not overflow.
	maxStep := step * 1e12
	tolScaled := pr.tol
	if pr.task == learn.Regression {
		tolScaled *= pr.stdY()
	}

	res := &result{}
	tk := 1.0
	for it := 1; it <= pr.maxIter; it++ {
		if err := pr.canceled(); err != nil {
			return nil, err
		}
		// The gradient of the smooth part at the momentum point y.
		residuals(pr.threads, pr.task, zy, pr.y, rs)
		forEach(pr.threads, k*d+k, func(u int) {
			if u < k*d {
				c, j := u/d, u%d
				gw[c][j] = dot(pr.x.Col(j), rs[c])/fn + pr.l2*wy[c][j]
				return
			}
			c := u - k*d
			gb[c] = 0
			if pr.fitIntercept {
				gb[c] = sumBlocks(1, n, func(lo, hi int) float64 { return sum(rs[c][lo:hi]) }) / fn
			}
		})

		// Let the step grow back: the curvature of the logistic losses
		// falls as the fit sharpens, and backtracking trims any excess.
		step = min(step*stepGrowth, maxStep)
		stalled := false
		var gmap float64
		for bt := 0; ; bt++ {
			var dist, dw float64
			gmap = 0
			for c := 0; c < k; c++ {
				for j := 0; j < d; j++ {
					v := softThreshold(wy[c][j]-step*gw[c][j], step*pr.l1)
					wn[c][j] = v
					dlt := v - wy[c][j]
					dist += dlt * dlt
					dw += dlt * dlt
					// The gradient mapping (wy−v)/step, written so that
					// it does not lose digits when the step is tiny.
					if v != 0 {
						gmap = max(gmap, math.Abs(gw[c][j]+math.Copysign(pr.l1, v)))
					} else {
						gmap = max(gmap, math.Abs(wy[c][j])/step)
					}
				}
				bn[c] = by[c] - step*gb[c]
				dlt := bn[c] - by[c]
				dist += dlt * dlt
				gmap = max(gmap, math.Abs(gb[c]))
			}
			scores(pr.threads, pr.x, wn, bn, zn)
			// Sufficient decrease, f(x⁺) <= f(y) + ∇f(y)·Δ + ‖Δ‖²/(2·step),
			// tested on the Bregman divergence of f computed from the
			// score changes directly: differencing two nearly equal
			// objective values would drown the test in rounding near
			// the optimum.
			div := divergence(pr.threads, pr.task, zy, rs, zn, pr.y)
			if div+pr.l2/2*dw <= dist/(2*step) {
				break
			}
			if bt == maxBacktracks {
				stalled = true
				break
			}
			step /= 2
		}
		if stalled {
			// No step decreases the objective any more, at the limit of
			// float64: keep the current iterate, reported unconverged.
			break
		}

		// Restart the momentum when it points against the step just taken.
		var align float64
		for c := 0; c < k; c++ {
			for j := 0; j < d; j++ {
				align += (wy[c][j] - wn[c][j]) * (wn[c][j] - w[c][j])
			}
			align += (by[c] - bn[c]) * (bn[c] - b[c])
		}
		var beta float64
		if align > 0 {
			tk = 1
		} else {
			tk1 := (1 + math.Sqrt(1+4*tk*tk)) / 2
			beta = (tk - 1) / tk1
			tk = tk1
		}
		for c := 0; c < k; c++ {
			for j := 0; j < d; j++ {
				wy[c][j] = wn[c][j] + beta*(wn[c][j]-w[c][j])
			}
			by[c] = bn[c] + beta*(bn[c]-b[c])
		}
		forBlocks(pr.threads, n, func(lo, hi int) {
			for c := 0; c < k; c++ {
				a, p, o := zn[c][lo:hi], zx[c][lo:hi], zy[c][lo:hi]
				for i := range a {
					o[i] = a[i] + beta*(a[i]-p[i])
				}
			}
		})
		w, wn = wn, w
		b, bn = bn, b
		zx, zn = zn, zx

		res.iter = it
		// The loss itself is not needed to take steps: compute it only
		// for a report.
		if pr.opt.OnIteration != nil {
			loss := meanLoss(pr.threads, pr.task, zx, pr.y)
			pr.report(it, loss+pr.penalty(w), loss, w, b)
		}
		if gmap <= tolScaled {
			res.converged = true
			break
		}
	}
	res.objective = meanLoss(pr.threads, pr.task, zx, pr.y) + pr.penalty(w)
	res.w, res.b = w, b
	return res, nil
}

// maxBacktracks bounds the step halvings in one iteration; 60 halvings
// take any step below float64 resolution.
const maxBacktracks = 60

// stepGrowth is how much the step may grow per iteration.
const stepGrowth = 1.25

func l1norm(w [][]float64) float64 {
	var s float64
	for _, row := range w {
		for _, v := range row {
			s += math.Abs(v)
		}
	}
	return s
}

// initIntercept sets the intercepts that are optimal with all coefficients
// zero: the mean for regression, the log-odds of the base rate for binary,
// the centred log class frequencies for multiclass.
func (pr *problem) initIntercept(b []float64) {
	fn := float64(pr.n)
	switch pr.task {
	case learn.Regression:
		b[0] = sum(pr.y) / fn
	case learn.Binary:
		p := sum(pr.y) / fn
		b[0] = math.Log(p / (1 - p))
	case learn.Multiclass:
		counts := make([]float64, pr.k)
		for _, v := range pr.y {
			counts[int(v)]++
		}
		var mean float64
		for c := range b {
			b[c] = math.Log(counts[c] / fn)
			mean += b[c]
		}
		mean /= float64(pr.k)
		for c := range b {
			b[c] -= mean
		}
	}
}

// divergence returns the mean Bregman divergence of the loss between
// scores zy and zn: the loss at zn minus its first-order expansion around
// zy, computed from the score changes without cancellation. rs holds the
// residuals at zy (prediction minus target), from which it reads the
// predicted probabilities instead of recomputing them.
func divergence(threads int, task learn.Task, zy, rs, zn [][]float64, y []float64) float64 {
	k := len(zn)
	return sumBlocks(threads, len(y), func(lo, hi int) float64 {
		var dv float64
		switch task {
		case learn.Regression:
			for i := lo; i < hi; i++ {
				dl := zn[0][i] - zy[0][i]
				dv += 0.5 * dl * dl
			}
		case learn.Binary:
			for i := lo; i < hi; i++ {
				s, dl := rs[0][i]+y[i], zn[0][i]-zy[0][i]
				dv += math.Log1p((1-s)*expm1mx(-s*dl) + s*expm1mx((1-s)*dl))
			}
		case learn.Multiclass:
			for i := lo; i < hi; i++ {
				yi := int(y[i])
				var m float64
				for c := 0; c < k; c++ {
					p := rs[c][i]
					if c == yi {
						p++
					}
					m += p * (zn[c][i] - zy[c][i])
				}
				var u float64
				for c := 0; c < k; c++ {
					p := rs[c][i]
					if c == yi {
						p++
					}
					u += p * expm1mx(zn[c][i]-zy[c][i]-m)
				}
				dv += math.Log1p(u)
			}
		}
		return dv
	}) / float64(len(y))
}

// expm1mx is e^x − 1 − x, accurate for small |x|.
func expm1mx(x float64) float64 {
	if math.Abs(x) < 1e-2 {
		return x * x * (1.0/2 + x*(1.0/6+x*(1.0/24+x*(1.0/120))))
	}
	return math.Expm1(x) - x
}
