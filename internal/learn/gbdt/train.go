// Package gbdt trains histogram-based gradient-boosted decision trees for
// binary, multiclass and regression tasks: features are binned once into
// uint8 histogram bins, trees grow leaf-wise (best first) with histogram
// subtraction, missing values learn their direction at every split, and
// categorical features get set splits (categories ordered by gradient over
// hessian, best prefix chosen). Training uses all cores and is deterministic:
// the same data, parameters and seed give the same model bytes whatever the
// number of cores.
package gbdt

import (
	"context"
	"math"
	"math/rand/v2"
	"runtime"

	"github.com/mlcycle/mlcycle/internal/errs"
	"github.com/mlcycle/mlcycle/internal/learn"
)

// Options are the optional inputs of Train.
type Options struct {
	// Valid and ValidY are a validation set: its loss is reported each round
	// and drives early stopping.
	Valid  *learn.Matrix
	ValidY []float64
	// Weights are per-row training weights (nil = all 1).
	Weights []float64
	// OnRound, when set, is called after every round (0-based) with the
	// training loss and, when a validation set is given, its loss; the keys
	// are the metric names ("logloss", "mlogloss" or "rmse").
	OnRound func(round int, train, valid map[string]float64)
}

// Train fits a model of the given task on x and y: y holds 0/1 for binary,
// class indices 0..p.NumClass-1 for multiclass and values for regression.
func Train(ctx context.Context, task learn.Task, x *learn.Matrix, y []float64, p Params, opt Options) (*Model, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	k, err := checkInput(task, x, y, p, opt)
	if err != nil {
		return nil, err
	}
	threads := p.Threads
	if threads == 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	t := &trainer{p: p, task: task, x: x, y: y, w: opt.Weights, k: k, n: x.Rows, threads: threads}
	return t.run(ctx, opt)
}

func checkInput(task learn.Task, x *learn.Matrix, y []float64, p Params, opt Options) (int, error) {
	if x == nil || x.Rows < 1 || x.Cols < 1 {
		return 0, errs.E(errs.Invalid, "training data has no rows or no features")
	}
	if x.Rows > math.MaxInt32 {
		return 0, errs.E(errs.Invalid, "training data has %d rows, more than %d", x.Rows, math.MaxInt32)
	}
	if err := checkMatrix("training", x, x); err != nil {
		return 0, err
	}
	if len(y) != x.Rows {
		return 0, errs.E(errs.Invalid, "target has %d values for %d rows", len(y), x.Rows)
	}
	var k int
	switch task {
	case learn.Binary:
		k = 1
	case learn.Multiclass:
		if p.NumClass < 2 {
			return 0, errs.E(errs.Invalid, "parameter num_class: multiclass needs num_class >= 2")
		}
		k = p.NumClass
	case learn.Regression:
		k = 1
	default:
		return 0, errs.E(errs.Invalid, "unknown task %q", task)
	}
	if err := checkTarget(task, y, p.NumClass, "target"); err != nil {
		return 0, err
	}
	if opt.Weights != nil {
		if len(opt.Weights) != x.Rows {
			return 0, errs.E(errs.Invalid, "weights have %d values for %d rows", len(opt.Weights), x.Rows)
		}
		var s float64
		for i, w := range opt.Weights {
			if !(w >= 0) || math.IsInf(w, 0) {
				return 0, errs.E(errs.Invalid, "weight of row %d is %v (want finite and >= 0)", i, w)
			}
			s += w
		}
		if s <= 0 {
			return 0, errs.E(errs.Invalid, "weights sum to zero")
		}
	}
	if opt.Valid != nil {
		if err := checkMatrix("validation", opt.Valid, x); err != nil {
			return 0, err
		}
		if len(opt.ValidY) != opt.Valid.Rows {
			return 0, errs.E(errs.Invalid, "validation target has %d values for %d rows", len(opt.ValidY), opt.Valid.Rows)
		}
		if err := checkTarget(task, opt.ValidY, p.NumClass, "validation target"); err != nil {
			return 0, err
		}
	} else if p.EarlyStoppingRounds > 0 {
		return 0, errs.E(errs.Invalid, "parameter early_stopping_rounds: needs a validation set")
	}
	return k, nil
}

// checkMatrix checks shape and values: numeric columns must be finite or NaN,
// categorical columns must hold codes 0..k-1 or NaN.
func checkMatrix(what string, m, like *learn.Matrix) error {
	if m.Cols != like.Cols || len(m.Data) != m.Rows*m.Cols || len(m.Categories) != m.Cols || len(like.Names) != like.Cols {
		return errs.E(errs.Invalid, "%s matrix: shape does not match its columns", what)
	}
	for j := range m.Cols {
		if m.Categories[j] != like.Categories[j] || m.Categories[j] < 0 {
			return errs.E(errs.Invalid, "%s matrix: column %q: category count differs from training", what, like.Names[j])
		}
		kc := float64(m.Categories[j])
		for i, v := range m.Col(j) {
			if v != v {
				continue
			}
			if kc > 0 {
				if v < 0 || v >= kc || v != math.Trunc(v) {
					return errs.E(errs.Invalid, "%s matrix: column %q row %d: %v is not a category code below %d", what, like.Names[j], i, v, m.Categories[j])
				}
			} else if math.IsInf(v, 0) {
				return errs.E(errs.Invalid, "%s matrix: column %q row %d: infinite value", what, like.Names[j], i)
			}
		}
	}
	return nil
}

func checkTarget(task learn.Task, y []float64, numClass int, what string) error {
	for i, v := range y {
		switch task {
		case learn.Binary:
			if v != 0 && v != 1 {
				return errs.E(errs.Invalid, "%s row %d: %v is not 0 or 1", what, i, v)
			}
		case learn.Multiclass:
			if v < 0 || v >= float64(numClass) || v != math.Trunc(v) {
				return errs.E(errs.Invalid, "%s row %d: %v is not a class index below %d", what, i, v, numClass)
			}
		default:
			if !finite(v) {
				return errs.E(errs.Invalid, "%s row %d: %v is not finite", what, i, v)
			}
		}
	}
	return nil
}

type trainer struct {
	p       Params
	task    learn.Task
	x       *learn.Matrix
	y, w    []float64
	k, n    int
	threads int

	mappers []binMapper
	bins    []uint8 // column-major, n per feature
	rows    []uint8 // the same bins row-major (x.Cols per row), when useRows
	raw     []float64
	gh      [][]gpair // per output
}

// chunk is the row block size of parallel row loops; fixed so that sums
// combine in the same order whatever the core count.
const chunk = 1 << 14

func (t *trainer) run(ctx context.Context, opt Options) (*Model, error) {
	t.bin()
	n, k := t.n, t.k
	base := t.baseScore()
	t.raw = make([]float64, n*k)
	for c := range k {
		for i := range n {
			t.raw[c*n+i] = base[c]
		}
	}
	t.gh = make([][]gpair, k)
	for c := range k {
		t.gh[c] = make([]gpair, n)
	}

	var vrows [][]float64
	var vraw []float64
	if opt.Valid != nil {
		vrows = make([][]float64, opt.Valid.Rows)
		for i := range vrows {
			vrows[i] = opt.Valid.Row(i, nil)
		}
		vraw = make([]float64, opt.Valid.Rows*k)
		for c := range k {
			for i := range opt.Valid.Rows {
				vraw[c*opt.Valid.Rows+i] = base[c]
			}
		}
	}

	g := newGrower(t)
	rng := rand.New(rand.NewPCG(t.p.Seed, t.p.Seed^0x9e3779b97f4a7c15))
	trees := make([][]learn.Tree, k)
	gains := make([][][]float64, k)
	bestRound, bestLoss := -1, math.Inf(1)
	metric := t.metricName()
	for round := range t.p.NumRounds {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		t.gradients()
		bag := t.sampleRows(rng)
		for c := range k {
			feats := t.sampleFeatures(rng)
			tree, gain := g.grow(t.gh[c], bag, feats)
			g.updateScores(tree, t.raw[c*n:(c+1)*n], bag)
			trees[c] = append(trees[c], tree)
			gains[c] = append(gains[c], gain)
			if vraw != nil {
				nv := len(vrows)
				parallelChunks(t.threads, nv, func(lo, hi int) {
					for i := lo; i < hi; i++ {
						vraw[c*nv+i] += tree.Predict(vrows[i])
					}
				})
			}
		}
		var vloss float64
		if vraw != nil {
			vloss = t.loss(vraw, opt.ValidY, nil)
			if vloss < bestLoss {
				bestLoss, bestRound = vloss, round
			}
		}
		if opt.OnRound != nil {
			train := map[string]float64{metric: t.loss(t.raw, t.y, t.w)}
			var valid map[string]float64
			if vraw != nil {
				valid = map[string]float64{metric: vloss}
			}
			opt.OnRound(round, train, valid)
		}
		if t.p.EarlyStoppingRounds > 0 && round-bestRound >= t.p.EarlyStoppingRounds {
			break
		}
	}
	keep := len(trees[0])
	if t.p.EarlyStoppingRounds > 0 && bestRound >= 0 {
		keep = bestRound + 1
	}
	m := &Model{
		task: t.task, numClass: t.p.NumClass,
		names: append([]string(nil), t.x.Names...), categories: append([]int(nil), t.x.Categories...),
		base: base, trees: make([][]learn.Tree, k), bestIter: keep,
		gain: make([]float64, t.x.Cols), splits: make([]float64, t.x.Cols),
	}
	switch t.task {
	case learn.Binary:
		m.numClass = 2
	case learn.Regression:
		m.numClass = 0
	}
	for c := range k {
		m.trees[c] = trees[c][:keep]
		for r := range keep {
			for i, nd := range m.trees[c][r].Nodes {
				if !nd.IsLeaf() {
					m.gain[nd.Feature] += gains[c][r][i]
					m.splits[nd.Feature]++
				}
			}
		}
	}
	m.flatten()
	return m, nil
}

func (t *trainer) bin() {
	x := t.x
	t.mappers = make([]binMapper, x.Cols)
	t.bins = make([]uint8, x.Rows*x.Cols)
	parallelFor(t.threads, x.Cols, func(j int) {
		col := x.Col(j)
		if x.Categories[j] > 0 {
			t.mappers[j] = newCategoricalMapper(col, x.Categories[j], t.p.MaxBins)
		} else {
			t.mappers[j] = newNumericMapper(col, t.p.MaxBins)
		}
		t.mappers[j].binColumn(col, t.bins[j*x.Rows:(j+1)*x.Rows])
	})
	if useRows {
		t.rows = make([]uint8, x.Rows*x.Cols)
		f := x.Cols
		parallelChunks(t.threads, x.Rows, func(lo, hi int) {
			for j := range f {
				col := t.bins[j*x.Rows : (j+1)*x.Rows]
				for i := lo; i < hi; i++ {
					t.rows[i*f+j] = col[i]
				}
			}
		})
	}
}

func (t *trainer) weight(i int) float64 {
	if t.w == nil {
		return 1
	}
	return t.w[i]
}

func (t *trainer) baseScore() []float64 {
	var sw float64
	switch t.task {
	case learn.Multiclass:
		freq := make([]float64, t.k)
		for i, v := range t.y {
			w := t.weight(i)
			freq[int(v)] += w
			sw += w
		}
		for c := range freq {
			freq[c] = math.Log(max(freq[c]/sw, 1e-15))
		}
		return freq
	default:
		var s float64
		for i, v := range t.y {
			w := t.weight(i)
			s += w * v
			sw += w
		}
		mean := s / sw
		if t.task == learn.Binary {
			mean = min(max(mean, 1e-15), 1-1e-15)
			return []float64{math.Log(mean / (1 - mean))}
		}
		return []float64{mean}
	}
}

func (t *trainer) metricName() string {
	switch t.task {
	case learn.Binary:
		return "logloss"
	case learn.Multiclass:
		return "mlogloss"
	}
	return "rmse"
}

// gradients fills gh from the current raw scores.
func (t *trainer) gradients() {
	n, k := t.n, t.k
	parallelChunks(t.threads, n, func(lo, hi int) {
		switch t.task {
		case learn.Binary:
			gh, raw := t.gh[0], t.raw
			for i := lo; i < hi; i++ {
				p := learn.Sigmoid(raw[i])
				w := t.weight(i)
				gh[i] = gpair{(p - t.y[i]) * w, max(p*(1-p), 1e-16) * w}
			}
		case learn.Regression:
			gh, raw := t.gh[0], t.raw
			for i := lo; i < hi; i++ {
				w := t.weight(i)
				gh[i] = gpair{(raw[i] - t.y[i]) * w, w}
			}
		case learn.Multiclass:
			p := make([]float64, k)
			for i := lo; i < hi; i++ {
				for c := range k {
					p[c] = t.raw[c*n+i]
				}
				learn.Softmax(p)
				w := t.weight(i)
				yi := int(t.y[i])
				for c := range k {
					var yc float64
					if c == yi {
						yc = 1
					}
					t.gh[c][i] = gpair{(p[c] - yc) * w, max(p[c]*(1-p[c]), 1e-16) * w}
				}
			}
		}
	})
}

// loss is the weighted mean loss of raw scores (output-major, k outputs)
// against y: log loss, multiclass log loss or RMSE.
func (t *trainer) loss(raw, y, w []float64) float64 {
	n, k := len(y), t.k
	nc := (n + chunk - 1) / chunk
	sums := make([]float64, nc)
	wsums := make([]float64, nc)
	parallelFor(t.threads, nc, func(ci int) {
		lo, hi := ci*chunk, min((ci+1)*chunk, n)
		var s, sw float64
		p := make([]float64, k)
		for i := lo; i < hi; i++ {
			wi := 1.0
			if w != nil {
				wi = w[i]
			}
			var l float64
			switch t.task {
			case learn.Binary:
				// log(1+e^r) - y*r, stable
				r := raw[i]
				l = max(r, 0) + math.Log1p(math.Exp(-math.Abs(r))) - y[i]*r
			case learn.Regression:
				d := raw[i] - y[i]
				l = d * d
			case learn.Multiclass:
				mx := math.Inf(-1)
				for c := range k {
					p[c] = raw[c*n+i]
					mx = max(mx, p[c])
				}
				var se float64
				for c := range k {
					se += math.Exp(p[c] - mx)
				}
				l = mx + math.Log(se) - p[int(y[i])]
			}
			s += wi * l
			sw += wi
		}
		sums[ci], wsums[ci] = s, sw
	})
	var s, sw float64
	for i := range sums {
		s += sums[i]
		sw += wsums[i]
	}
	if sw == 0 {
		return 0
	}
	if t.task == learn.Regression {
		return math.Sqrt(s / sw)
	}
	return s / sw
}

// sampleRows draws the rows of one round (nil = all rows).
func (t *trainer) sampleRows(rng *rand.Rand) []int32 {
	if t.p.Subsample >= 1 {
		return nil
	}
	bag := make([]int32, 0, int(float64(t.n)*t.p.Subsample)+16)
	for i := range t.n {
		if rng.Float64() < t.p.Subsample {
			bag = append(bag, int32(i))
		}
	}
	if len(bag) == 0 {
		bag = append(bag, int32(rng.IntN(t.n)))
	}
	return bag
}

// sampleFeatures draws the features of one tree (a mask).
func (t *trainer) sampleFeatures(rng *rand.Rand) []bool {
	f := t.x.Cols
	use := make([]bool, f)
	if t.p.Colsample >= 1 {
		for j := range use {
			use[j] = true
		}
		return use
	}
	m := max(1, int(math.Round(t.p.Colsample*float64(f))))
	for _, j := range rng.Perm(f)[:m] {
		use[j] = true
	}
	return use
}
