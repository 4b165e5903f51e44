package linear

import (
	"bytes"
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"

	"github.com/mlcycle/mlcycle/internal/errs"
	"github.com/mlcycle/mlcycle/internal/learn"
)

// bigProblem is large enough to use several row blocks and goroutines.
func bigProblem(task learn.Task) (*learn.Matrix, []float64, int) {
	x := gen(3*blockRows+123, 6, 11)
	z := linearScores(x, []float64{1, -0.5, 0.25, 0, 2, -1}, 0.3)
	y, k := labelsFor(task, z, rand.New(rand.NewPCG(12, 12)), 3)
	return x, y, k
}

// labelsFor draws labels from linear scores z: z plus noise for
// regression, a Bernoulli draw of sigmoid(z) for binary, and for
// multiclass the noisy score cut into classes bands around the middle.
// It returns the labels and the class count (0 for regression).
func labelsFor(task learn.Task, z []float64, r *rand.Rand, classes int) ([]float64, int) {
	y := make([]float64, len(z))
	k := 0
	for i, v := range z {
		switch task {
		case learn.Regression:
			y[i] = v + r.NormFloat64()
		case learn.Binary:
			k = 2
			if r.Float64() < learn.Sigmoid(v) {
				y[i] = 1
			}
		case learn.Multiclass:
			k = classes
			y[i] = float64(min(classes-1, max(0, int(v+r.NormFloat64()+float64(classes)/2))))
		}
	}
	return y, k
}

func TestDeterministicAcrossThreads(t *testing.T) {
	runs := []struct{ procs, threads int }{{1, 0}, {2, 0}, {2, 3}, {3, 1}}
	for _, task := range []learn.Task{learn.Regression, learn.Binary, learn.Multiclass} {
		x, y, k := bigProblem(task)
		for _, l1 := range []float64{0, 0.5} {
			for _, proximal := range []bool{false, true} {
				if proximal && task != learn.Regression {
					continue // classification always runs the proximal solver
				}
				var ref []byte
				for _, r := range runs {
					prev := runtime.GOMAXPROCS(r.procs)
					p := params(0.01, l1)
					p.Threads = r.threads
					m, err := Train(t.Context(), task, k, x, y, p, Options{proximal: proximal})
					runtime.GOMAXPROCS(prev)
					if err != nil {
						t.Fatal(err)
					}
					b, err := m.MarshalJSON()
					if err != nil {
						t.Fatal(err)
					}
					if ref == nil {
						ref = b
					} else if !bytes.Equal(b, ref) {
						t.Fatalf("%s l1 %g proximal %v: GOMAXPROCS %d threads %d gives different bytes", task, l1, proximal, r.procs, r.threads)
					}
				}
			}
		}
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	for _, task := range []learn.Task{learn.Regression, learn.Binary, learn.Multiclass} {
		x, y, k := bigProblem(task)
		m := train(t, task, k, x, y, params(0.01, 0.5))
		b, err := m.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		got, err := Unmarshal(b)
		if err != nil {
			t.Fatalf("%s: Unmarshal: %v", task, err)
		}
		b2, err := got.MarshalJSON()
		if err != nil || !bytes.Equal(b, b2) {
			t.Fatalf("%s: re-encoding differs (%v)", task, err)
		}
		if got.Task() != task || got.NumClass() != k || got.Iterations != m.Iterations || got.Params != m.Params {
			t.Errorf("%s: decoded header differs", task)
		}
		out1, out2 := make([]float64, task.Outputs(k)), make([]float64, task.Outputs(k))
		row := make([]float64, x.Cols)
		for i := 0; i < 50; i++ {
			row = x.Row(i, row)
			m.PredictRaw(row, out1)
			got.PredictRaw(row, out2)
			for c := range out1 {
				if out1[c] != out2[c] {
					t.Fatalf("%s: row %d prediction %g != %g", task, i, out2[c], out1[c])
				}
			}
		}
	}
}

func TestUnmarshalRejects(t *testing.T) {
	good := `{"format":"mlcycle-linear/1","task":"binary","num_class":2,"features":["a","b"],"intercept":[0.5],"coef":[[1,2]],"iterations":3,"converged":true,"objective":0.1,"params":{"alpha":0.1,"l1_ratio":0,"fit_intercept":true,"max_iter":10,"tol":0.001,"seed":0}}`
	if _, err := Unmarshal([]byte(good)); err != nil {
		t.Fatalf("good model refused: %v", err)
	}
	for name, bad := range map[string]string{
		"not json":        `{`,
		"format":          strings.Replace(good, "mlcycle-linear/1", "other/1", 1),
		"task":            strings.Replace(good, `"binary"`, `"ranking"`, 1),
		"num_class":       strings.Replace(good, `"num_class":2`, `"num_class":3`, 1),
		"coef length":     strings.Replace(good, `[[1,2]]`, `[[1]]`, 1),
		"coef rows":       strings.Replace(good, `[[1,2]]`, `[[1,2],[3,4]]`, 1),
		"intercepts":      strings.Replace(good, `[0.5]`, `[]`, 1),
		"null coef":       strings.Replace(good, `[[1,2]]`, `null`, 1),
		"huge number":     strings.Replace(good, `[[1,2]]`, `[[1e999,2]]`, 1),
		"bad param":       strings.Replace(good, `"l1_ratio":0`, `"l1_ratio":2`, 1),
		"negative iters":  strings.Replace(good, `"iterations":3`, `"iterations":-1`, 1),
		"multiclass size": strings.Replace(strings.Replace(good, `"binary"`, `"multiclass"`, 1), `"num_class":2`, `"num_class":1`, 1),
	} {
		if _, err := Unmarshal([]byte(bad)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func FuzzUnmarshal(f *testing.F) {
	f.Add([]byte(`{"format":"mlcycle-linear/1","task":"regression","num_class":0,"features":["a"],"intercept":[1],"coef":[[2]],"iterations":1,"converged":true,"objective":0,"params":{"alpha":0,"l1_ratio":0,"fit_intercept":true,"max_iter":1,"tol":1,"seed":0}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Unmarshal(data)
		if err != nil {
			return
		}
		// Whatever decodes must score a row and encode again.
		out := make([]float64, m.Task().Outputs(m.NumClass()))
		m.PredictRaw(make([]float64, len(m.Features())), out)
		if _, err := m.MarshalJSON(); err != nil {
			t.Fatalf("decoded model does not encode: %v", err)
		}
	})
}

func TestParseParams(t *testing.T) {
	p, err := ParseParams(map[string]string{"alpha": "0.5", "l1_ratio": "1", "fit_intercept": "false", "max_iter": "20", "tol": "1e-3", "seed": "7", "threads": "2"})
	if err != nil {
		t.Fatal(err)
	}
	want := Params{Alpha: 0.5, L1Ratio: 1, FitIntercept: false, MaxIter: 20, Tol: 1e-3, Seed: 7, Threads: 2}
	if p != want {
		t.Fatalf("got %+v, want %+v", p, want)
	}
	if back, err := ParseParams(p.Map()); err != nil || back != p {
		t.Fatalf("Map round trip: %+v, %v", back, err)
	}
	if p, err := ParseParams(nil); err != nil || p != DefaultParams() {
		t.Fatalf("defaults: %+v, %v", p, err)
	}
	for _, tc := range []struct {
		kv   map[string]string
		want string
	}{
		{map[string]string{"lambda": "1"}, `unknown parameter "lambda"`},
		{map[string]string{"lambda": "1"}, "alpha, fit_intercept, l1_ratio"},
		{map[string]string{"alpha": "-1"}, "alpha"},
		{map[string]string{"alpha": "NaN"}, "alpha"},
		{map[string]string{"alpha": "Inf"}, "alpha"},
		{map[string]string{"alpha": "x"}, "alpha"},
		{map[string]string{"l1_ratio": "1.5"}, "l1_ratio"},
		{map[string]string{"l1_ratio": "-0.1"}, "l1_ratio"},
		{map[string]string{"max_iter": "0"}, "max_iter"},
		{map[string]string{"max_iter": "2.5"}, "max_iter"},
		{map[string]string{"tol": "0"}, "tol"},
		{map[string]string{"threads": "-1"}, "threads"},
		{map[string]string{"fit_intercept": "maybe"}, "fit_intercept"},
		{map[string]string{"seed": "-3"}, "seed"},
	} {
		_, err := ParseParams(tc.kv)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !errs.Is(err, errs.Invalid) {
			t.Errorf("%v: error %v, want invalid mentioning %q", tc.kv, err, tc.want)
		}
	}
}

func TestTrainRefusesBadInput(t *testing.T) {
	x := gen(10, 2, 1)
	y := []float64{0, 1, 0, 1, 0, 1, 0, 1, 0, 1}
	withNaN := gen(10, 2, 1)
	withNaN.Data[10+3] = math.NaN()
	withInf := gen(10, 2, 1)
	withInf.Data[4] = math.Inf(1)
	cat := gen(10, 2, 1)
	cat.Categories = []int{0, 3}
	short := gen(10, 2, 1)
	short.Data = short.Data[:15]
	for _, tc := range []struct {
		name string
		task learn.Task
		k    int
		x    *learn.Matrix
		y    []float64
		p    Params
		opt  Options
		want string
	}{
		{"nan feature", learn.Binary, 2, withNaN, y, DefaultParams(), Options{}, `column "x1"`},
		{"inf feature", learn.Binary, 2, withInf, y, DefaultParams(), Options{}, `column "x0"`},
		{"categorical", learn.Binary, 2, cat, y, DefaultParams(), Options{}, `column "x1" is categorical`},
		{"short data", learn.Binary, 2, short, y, DefaultParams(), Options{}, "values"},
		{"no rows", learn.Regression, 0, learn.NewMatrix(0, nil), nil, DefaultParams(), Options{}, "no rows"},
		{"nil matrix", learn.Regression, 0, nil, nil, DefaultParams(), Options{}, "no rows"},
		{"target length", learn.Binary, 2, x, y[:5], DefaultParams(), Options{}, "target has 5 values"},
		{"binary label", learn.Binary, 2, x, []float64{0, 1, 2, 1, 0, 1, 0, 1, 0, 1}, DefaultParams(), Options{}, "0 or 1"},
		{"one class", learn.Binary, 2, x, make([]float64, 10), DefaultParams(), Options{}, "class 1"},
		{"class index", learn.Multiclass, 3, x, []float64{0, 1, 2, 3, 0, 1, 2, 0, 1, 2}, DefaultParams(), Options{}, "class index"},
		{"missing class", learn.Multiclass, 4, x, []float64{0, 1, 2, 0, 0, 1, 2, 0, 1, 2}, DefaultParams(), Options{}, "class 3"},
		{"nan target", learn.Regression, 0, x, []float64{0, 1, math.NaN(), 1, 0, 1, 0, 1, 0, 1}, DefaultParams(), Options{}, "non-finite"},
		{"task", learn.Task("ranking"), 0, x, y, DefaultParams(), Options{}, "unknown task"},
		{"regression classes", learn.Regression, 3, x, y, DefaultParams(), Options{}, "no classes"},
		{"multiclass one", learn.Multiclass, 1, x, y, DefaultParams(), Options{}, "classes"},
		{"bad param", learn.Binary, 2, x, y, Params{Alpha: -1, MaxIter: 1, Tol: 1}, Options{}, "alpha"},
		{"valid without y", learn.Binary, 2, x, y, DefaultParams(), Options{ValidX: x}, "validation"},
		{"valid columns", learn.Binary, 2, x, y, DefaultParams(), Options{ValidX: gen(10, 3, 1), ValidY: y}, "validation set has 3"},
		{"valid nan", learn.Binary, 2, x, y, DefaultParams(), Options{ValidX: withNaN, ValidY: y}, "validation row 3"},
	} {
		_, err := Train(t.Context(), tc.task, tc.k, tc.x, tc.y, tc.p, tc.opt)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !errs.Is(err, errs.Invalid) {
			t.Errorf("%s: error %v, want invalid mentioning %q", tc.name, err, tc.want)
		}
	}
}

func TestTrainHonoursContext(t *testing.T) {
	x, y, k := bigProblem(learn.Binary)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := Train(ctx, learn.Binary, k, x, y, DefaultParams(), Options{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	// Cancelled from the progress callback, mid-fit.
	ctx, cancel = context.WithCancel(t.Context())
	defer cancel()
	_, err := Train(ctx, learn.Regression, 0, x, y, DefaultParams(), Options{OnIteration: func(Iteration) { cancel() }})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
}

func TestOnIterationReportsLosses(t *testing.T) {
	for _, task := range []learn.Task{learn.Regression, learn.Binary, learn.Multiclass} {
		x, y, k := bigProblem(task)
		vx, vy := x.Take([]int{0, 5, 10, 15, 20, 25, 30}), []float64{y[0], y[5], y[10], y[15], y[20], y[25], y[30]}
		var its []Iteration
		p := DefaultParams()
		m, err := Train(t.Context(), task, k, x, y, p, Options{ValidX: vx, ValidY: vy, OnIteration: func(it Iteration) { its = append(its, it) }})
		if err != nil {
			t.Fatal(err)
		}
		if len(its) != m.Iterations || len(its) == 0 {
			t.Fatalf("%s: %d reports for %d iterations", task, len(its), m.Iterations)
		}
		first, last := its[0], its[len(its)-1]
		if last.Iter != m.Iterations || last.Objective != m.Objective {
			t.Errorf("%s: last report %+v, model has %d iterations, objective %g", task, last, m.Iterations, m.Objective)
		}
		for _, it := range its {
			if math.IsNaN(it.ValidLoss) || math.IsNaN(it.TrainLoss) || it.TrainLoss < 0 {
				t.Fatalf("%s: bad report %+v", task, it)
			}
		}
		if last.Objective > first.Objective+1e-12 {
			t.Errorf("%s: objective rose from %g to %g", task, first.Objective, last.Objective)
		}
		// The reported validation loss is that of the final model.
		raw := make([]float64, task.Outputs(k))
		var want float64
		for i := 0; i < vx.Rows; i++ {
			m.PredictRaw(vx.Row(i, nil), raw)
			switch task {
			case learn.Regression:
				want += (raw[0] - vy[i]) * (raw[0] - vy[i])
			case learn.Binary:
				pr := learn.Sigmoid(raw[0])
				want -= vy[i]*math.Log(pr) + (1-vy[i])*math.Log(1-pr)
			case learn.Multiclass:
				learn.Softmax(raw)
				want -= math.Log(raw[int(vy[i])])
			}
		}
		near(t, string(task)+" validation loss", last.ValidLoss, want/float64(vx.Rows), 1e-9)
	}
}

func TestNoFeaturesAndNoIntercept(t *testing.T) {
	// Intercept only: the mean / base rate.
	x := learn.NewMatrix(4, nil)
	m := train(t, learn.Binary, 2, x, []float64{1, 1, 1, 0}, DefaultParams())
	near(t, "base log-odds", m.Intercept(0), math.Log(3), 1e-6)
	// No intercept: the fit goes through the origin.
	x = gen(500, 1, 3)
	y := linearScores(x, []float64{2}, 5)
	p := params(0, 0)
	p.FitIntercept = false
	m = train(t, learn.Regression, 0, x, y, p)
	if m.Intercept(0) != 0 {
		t.Errorf("intercept %g, want 0", m.Intercept(0))
	}
	near(t, "slope through origin", m.Coef(0)[0], dot(x.Col(0), y)/dot(x.Col(0), x.Col(0)), 1e-9)
}

func TestNotConvergedIsReported(t *testing.T) {
	x, y, k := bigProblem(learn.Multiclass)
	p := DefaultParams()
	p.MaxIter = 2
	m := train(t, learn.Multiclass, k, x, y, p)
	if m.Converged || m.Iterations != 2 {
		t.Errorf("converged %v after %d iterations, want false after 2", m.Converged, m.Iterations)
	}
}
