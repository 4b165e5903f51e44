package linear

import (
	"context"
	"fmt"
	"math"

	"github.com/mlcycle/mlcycle/internal/learn"
)

// problem is one fit: data, penalty and solver settings.
type problem struct {
	ctx          context.Context
	task         learn.Task
	k            int // raw scores per row
	x            *learn.Matrix
	y            []float64
	n, d         int
	l1, l2       float64 // alpha·l1_ratio, alpha·(1-l1_ratio)
	fitIntercept bool
	maxIter      int
	tol          float64
	threads      int
	opt          Options
}

// result is what a solver returns.
type result struct {
	w         [][]float64
	b         []float64
	iter      int
	converged bool
	objective float64
}

func (pr *problem) canceled() error {
	if err := pr.ctx.Err(); err != nil {
		return fmt.Errorf("train linear: %w", err)
	}
	return nil
}

func softThreshold(v, t float64) float64 {
	switch {
	case v > t:
		return v - t
	case v < -t:
		return v + t
	}
	return 0
}

// penalty is alpha·P(w) over all rows of w.
func (pr *problem) penalty(w [][]float64) float64 {
	var a, q float64
	for _, row := range w {
		for _, v := range row {
			a += math.Abs(v)
			q += v * v
		}
	}
	return pr.l1*a + pr.l2/2*q
}

// stdY is the standard deviation of a regression target, the scale tol
// is measured in (1 for a constant target).
func (pr *problem) stdY() float64 {
	mean := sum(pr.y) / float64(pr.n)
	var s float64
	for _, v := range pr.y {
		s += (v - mean) * (v - mean)
	}
	if sd := math.Sqrt(s / float64(pr.n)); sd > 0 {
		return sd
	}
	return 1
}

// report calls OnIteration, scoring the validation set when there is one.
func (pr *problem) report(it int, objective, trainLoss float64, w [][]float64, b []float64) {
	if pr.opt.OnIteration == nil {
		return
	}
	valid := math.NaN()
	if vx := pr.opt.ValidX; vx != nil {
		z := make([][]float64, pr.k)
		for c := range z {
			z[c] = make([]float64, vx.Rows)
		}
		scores(pr.threads, vx, w, b, z)
		valid = meanLoss(pr.threads, pr.task, z, pr.opt.ValidY)
		if pr.task == learn.Regression {
			valid *= 2
		}
	}
	if pr.task == learn.Regression {
		trainLoss *= 2 // report the mean squared error, not half of it
	}
	pr.opt.OnIteration(Iteration{Iter: it, Objective: objective, TrainLoss: trainLoss, ValidLoss: valid})
}

// coordinateDescent solves the regression problem by cyclic coordinate
// descent on the centred Gram matrix G = Xcᵀ·Xc/n and c = Xcᵀ·yc/n. The
// objective in these terms is ½wᵀGw − cᵀw + ½var(y) + alpha·P(w); the
// intercept is recovered as mean(y) − mean(x)·w.
func (pr *problem) coordinateDescent() (*result, error) {
	n, d, x := pr.n, pr.d, pr.x
	fn := float64(n)
	mx := make([]float64, d)
	var my float64
	if pr.fitIntercept {
		forEach(pr.threads, d, func(j int) { mx[j] = sum(x.Col(j)) / fn })
		my = sum(pr.y) / fn
	}
	// yc = y − mean(y), kept for c and the constant term.
	yc := make([]float64, n)
	for i, v := range pr.y {
		yc[i] = v - my
	}
	yy := dot(yc, yc) / fn
	g := make([]float64, d*d)
	c := make([]float64, d)
	// Rows are taken in chunks small enough for all columns of a chunk to
	// stay in cache while every pair is multiplied. Within a chunk, row j
	// of the upper triangle is one unit of work; chunks are added in order,
	// so every entry is the same sum whatever the thread count.
	chunk := max(256, min(8192, (1<<17)/max(d, 1)))
	for lo := 0; lo < n; lo += chunk {
		hi := min(lo+chunk, n)
		forEach(pr.threads, d, func(j int) {
			a := x.Col(j)[lo:hi]
			ma := mx[j]
			c[j] += centredDot(a, ma, yc[lo:hi], 0)
			for k := j; k < d; k++ {
				g[j*d+k] += centredDot(a, ma, x.Col(k)[lo:hi], mx[k])
			}
		})
	}
	for j := 0; j < d; j++ {
		c[j] /= fn
		for k := j; k < d; k++ {
			g[j*d+k] /= fn
			g[k*d+j] = g[j*d+k]
		}
	}
	if err := pr.canceled(); err != nil {
		return nil, err
	}
	w := make([]float64, d)
	q := make([]float64, d) // q = G·w
	sy := math.Sqrt(yy)
	if sy == 0 {
		sy = 1
	}
	objective := func() float64 {
		var quad, lin float64
		for j := range w {
			quad += w[j] * q[j]
			lin += c[j] * w[j]
		}
		// Clamped: cancellation can leave a perfect fit at −1e-17.
		return max(0, 0.5*quad-lin+0.5*yy)
	}
	intercept := func() []float64 {
		b := my
		for j := range w {
			b -= mx[j] * w[j]
		}
		return []float64{b}
	}
	res := &result{}
	for it := 1; it <= pr.maxIter; it++ {
		if err := pr.canceled(); err != nil {
			return nil, err
		}
		var maxDelta float64
		for j := 0; j < d; j++ {
			gjj := g[j*d+j]
			den := gjj + pr.l2
			old := w[j]
			var nw float64
			if den > 0 {
				rho := c[j] - q[j] + gjj*old
				nw = softThreshold(rho, pr.l1) / den
			}
			if delta := nw - old; delta != 0 {
				w[j] = nw
				axpy(delta, g[j*d:(j+1)*d], q)
				maxDelta = max(maxDelta, math.Abs(delta)*math.Sqrt(gjj))
			}
		}
		res.iter = it
		loss := objective()
		wr := [][]float64{w}
		res.objective = loss + pr.penalty(wr)
		if pr.opt.OnIteration != nil {
			pr.report(it, res.objective, loss, wr, intercept())
		}
		if maxDelta <= pr.tol*sy {
			res.converged = true
			break
		}
	}
	res.w = [][]float64{w}
	res.b = intercept()
	return res, nil
}

// centredDot is Σ (a[i]−ma)·(b[i]−mb), in a fixed order.
func centredDot(a []float64, ma float64, b []float64, mb float64) float64 {
	b = b[:len(a)]
	var s0, s1 float64
	i := 0
	for ; i+2 <= len(a); i += 2 {
		s0 += (a[i] - ma) * (b[i] - mb)
		s1 += (a[i+1] - ma) * (b[i+1] - mb)
	}
	for ; i < len(a); i++ {
		s0 += (a[i] - ma) * (b[i] - mb)
	}
	return s0 + s1
}

// scores sets z[k][i] = b[k] + Σ_j w[k][j]·x[i][j], in row blocks.
func scores(threads int, x *learn.Matrix, w [][]float64, b []float64, z [][]float64) {
	forBlocks(threads, x.Rows, func(lo, hi int) {
		for k, wk := range w {
			zk := z[k][lo:hi]
			for i := range zk {
				zk[i] = b[k]
			}
			for j, v := range wk {
				if v != 0 {
					axpy(v, x.Col(j)[lo:hi], zk)
				}
			}
		}
	})
}

// meanLoss returns the mean loss of scores z against y (half the squared
// error for regression).
func meanLoss(threads int, task learn.Task, z [][]float64, y []float64) float64 {
	k := len(z)
	return sumBlocks(threads, len(y), func(lo, hi int) float64 {
		var s float64
		switch task {
		case learn.Regression:
			for i := lo; i < hi; i++ {
				r := z[0][i] - y[i]
				s += 0.5 * r * r
			}
		case learn.Binary:
			for i := lo; i < hi; i++ {
				// log(1+e^v) − y·v, stable for large |v|.
				v := z[0][i]
				s += math.Max(v, 0) + math.Log1p(math.Exp(-math.Abs(v))) - y[i]*v
			}
		case learn.Multiclass:
			for i := lo; i < hi; i++ {
				mx := math.Inf(-1)
				for c := 0; c < k; c++ {
					mx = max(mx, z[c][i])
				}
				var se float64
				for c := 0; c < k; c++ {
					se += math.Exp(z[c][i] - mx)
				}
				s += mx + math.Log(se) - z[int(y[i])][i]
			}
		}
		return s
	}) / float64(len(y))
}

// residuals sets r to the derivative of each row's loss with respect to
// each score: prediction minus target.
func residuals(threads int, task learn.Task, z [][]float64, y []float64, r [][]float64) {
	k := len(z)
	forBlocks(threads, len(y), func(lo, hi int) {
		switch task {
		case learn.Regression:
			for i := lo; i < hi; i++ {
				r[0][i] = z[0][i] - y[i]
			}
		case learn.Binary:
			for i := lo; i < hi; i++ {
				r[0][i] = learn.Sigmoid(z[0][i]) - y[i]
			}
		case learn.Multiclass:
			for i := lo; i < hi; i++ {
				mx := math.Inf(-1)
				for c := 0; c < k; c++ {
					mx = max(mx, z[c][i])
				}
				var se float64
				for c := 0; c < k; c++ {
					e := math.Exp(z[c][i] - mx)
					r[c][i] = e
					se += e
				}
				for c := 0; c < k; c++ {
					r[c][i] /= se
				}
				r[int(y[i])][i]--
			}
		}
	})
}
