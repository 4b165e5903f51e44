package linear

import (
	"context"
	"fmt"
	"math"
	"runtime"

	"github.com/mlcycle/mlcycle/internal/learn"
)

// Options are the optional parts of a Train call.
type Options struct {
	// ValidX and ValidY are an optional validation set (same columns as the
	// training matrix); its loss is reported to OnIteration.
	ValidX *learn.Matrix
	ValidY []float64
	// OnIteration, when set, is called after every solver iteration, on the
	// goroutine that called Train.
	OnIteration func(Iteration)

	// proximal makes regression use the proximal gradient solver whatever
	// the width (tests compare the two solvers).
	proximal bool
}

// Iteration is the progress report of one solver iteration.
type Iteration struct {
	Iter      int     // 1-based
	Objective float64 // penalised training objective (see Params)
	TrainLoss float64 // mean training loss: squared error for regression, log loss otherwise
	ValidLoss float64 // the same on the validation set; NaN without one
}

// Train fits a linear model of the given task on x (numeric, finite
// columns) and y: the value for regression, 0 or 1 for binary, the class
// index 0..numClass-1 for multiclass. numClass is 2 for binary (0 is taken
// as 2), K >= 2 for multiclass and 0 for regression.
//
// Solvers: regression with at most 1024 columns (gramMaxCols) runs cyclic
// coordinate descent on the centred Gram matrix and stops when, in a full
// pass, no coefficient's contribution |Δw_j|·std(x_j) changed by more than
// tol·std(y). Everything else runs FISTA (accelerated proximal gradient)
// with backtracking and adaptive restart, and stops when the largest entry
// of the gradient mapping (the proximal analogue of the gradient, zero at the
// optimum) is at most tol (tol·std(y) for regression). A fit that reaches
// max_iter first is returned with Converged false.
//
// The result does not depend on Threads or GOMAXPROCS: parallel work is
// split in fixed blocks and combined in a fixed order.
func Train(ctx context.Context, task learn.Task, numClass int, x *learn.Matrix, y []float64, p Params, opt Options) (*Model, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if task == learn.Binary && numClass == 0 {
		numClass = 2
	}
	if err := checkInput(task, numClass, x, y, "training"); err != nil {
		return nil, err
	}
	if opt.ValidX != nil || opt.ValidY != nil {
		if opt.ValidX == nil || opt.ValidY == nil {
			return nil, invalidf("validation set needs both features and target")
		}
		if opt.ValidX.Cols != x.Cols {
			return nil, invalidf("validation set has %d feature columns, training set %d", opt.ValidX.Cols, x.Cols)
		}
		if err := checkInput(task, numClass, opt.ValidX, opt.ValidY, "validation"); err != nil {
			return nil, err
		}
	}
	k := task.Outputs(numClass)
	if task != learn.Regression {
		if err := checkClasses(y, k, task); err != nil {
			return nil, err
		}
	}
	threads := p.Threads
	if threads == 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	pr := &problem{
		ctx: ctx, task: task, k: k, x: x, y: y, n: x.Rows, d: x.Cols,
		l1: p.Alpha * p.L1Ratio, l2: p.Alpha * (1 - p.L1Ratio),
		fitIntercept: p.FitIntercept, maxIter: p.MaxIter, tol: p.Tol,
		threads: threads, opt: opt,
	}
	// Small problems are not worth the goroutines; the result is the same.
	if x.Rows*max(x.Cols, 1)*k < 1<<15 {
		pr.threads = 1
	}
	var res *result
	var err error
	if task == learn.Regression && x.Cols <= gramMaxCols && !opt.proximal {
		res, err = pr.coordinateDescent()
	} else {
		res, err = pr.fista()
	}
	if err != nil {
		return nil, err
	}
	if task == learn.Multiclass {
		// Softmax is unchanged by a shift common to all classes; centre
		// the unpenalised intercepts so the model is unique.
		var mean float64
		for _, b := range res.b {
			mean += b
		}
		mean /= float64(k)
		for c := range res.b {
			res.b[c] -= mean
		}
	}
	m := &Model{
		task: task, numClass: numClass, names: names(x),
		intercept: res.b, coef: res.w,
		Iterations: res.iter, Converged: res.converged, Objective: res.objective,
		Params: p,
	}
	m.Params.Threads = 0
	if err := validate(m); err != nil {
		return nil, fmt.Errorf("train linear: diverged: %w", err)
	}
	return m, nil
}

// gramMaxCols is the widest matrix regression solves through the d x d
// Gram matrix; wider ones use proximal gradient, which needs no d² memory.
const gramMaxCols = 1024

func names(x *learn.Matrix) []string {
	out := make([]string, x.Cols)
	for j := range out {
		if j < len(x.Names) {
			out[j] = x.Names[j]
		}
		if out[j] == "" {
			out[j] = fmt.Sprintf("f%d", j)
		}
	}
	return out
}

// colName names column j in errors.
func colName(x *learn.Matrix, j int) string {
	if j < len(x.Names) && x.Names[j] != "" {
		return fmt.Sprintf("%q", x.Names[j])
	}
	return fmt.Sprintf("%d", j)
}

// checkInput refuses shapes that do not fit, categorical columns, and
// non-finite features or targets, naming the column.
func checkInput(task learn.Task, numClass int, x *learn.Matrix, y []float64, which string) error {
	switch task {
	case learn.Binary:
		if numClass != 2 {
			return invalidf("binary task needs 2 classes, got %d", numClass)
		}
	case learn.Multiclass:
		if numClass < 2 || numClass > maxClasses {
			return invalidf("multiclass task needs 2..%d classes, got %d", maxClasses, numClass)
		}
	case learn.Regression:
		if numClass != 0 {
			return invalidf("regression task takes no classes, got %d", numClass)
		}
	default:
		return invalidf("unknown task %q (want binary, multiclass or regression)", task)
	}
	if x == nil || x.Rows <= 0 {
		return invalidf("%s set has no rows", which)
	}
	if x.Cols < 0 || len(x.Data) != x.Rows*x.Cols {
		return invalidf("%s matrix holds %d values, want %d rows x %d columns", which, len(x.Data), x.Rows, x.Cols)
	}
	if len(x.Names) != 0 && len(x.Names) != x.Cols {
		return invalidf("%s matrix has %d names for %d columns", which, len(x.Names), x.Cols)
	}
	if len(x.Categories) != 0 && len(x.Categories) != x.Cols {
		return invalidf("%s matrix has %d category counts for %d columns", which, len(x.Categories), x.Cols)
	}
	if len(y) != x.Rows {
		return invalidf("%s target has %d values for %d rows", which, len(y), x.Rows)
	}
	for j := 0; j < x.Cols; j++ {
		if len(x.Categories) != 0 && x.Categories[j] > 0 {
			return invalidf("feature column %s is categorical; linear models need numeric columns (one-hot encode it)", colName(x, j))
		}
		for i, v := range x.Col(j) {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return invalidf("feature column %s has a non-finite value (%v) at %s row %d; impute or drop it first", colName(x, j), v, which, i)
			}
		}
	}
	for i, v := range y {
		switch task {
		case learn.Regression:
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return invalidf("target has a non-finite value (%v) at %s row %d", v, which, i)
			}
		case learn.Binary:
			if v != 0 && v != 1 {
				return invalidf("binary target must be 0 or 1, got %v at %s row %d", v, which, i)
			}
		case learn.Multiclass:
			if v != math.Trunc(v) || v < 0 || v >= float64(numClass) {
				return invalidf("multiclass target must be a class index in 0..%d, got %v at %s row %d", numClass-1, v, which, i)
			}
		}
	}
	return nil
}

// checkClasses refuses a classification target missing a class: its
// unpenalised intercept would run off to -Inf.
func checkClasses(y []float64, k int, task learn.Task) error {
	nc := max(k, 2)
	seen := make([]bool, nc)
	for _, v := range y {
		seen[int(v)] = true
	}
	for c, ok := range seen {
		if !ok {
			if task == learn.Binary {
				return invalidf("binary target has no rows of class %d; it needs both classes", c)
			}
			return invalidf("multiclass target has no rows of class %d", c)
		}
	}
	return nil
}
