package gbdt

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

// genMatrix fills an n x len(names) matrix with N(0,1) values.
func genMatrix(rng *rand.Rand, n int, names ...string) *learn.Matrix {
	m := learn.NewMatrix(n, names)
	for i := range m.Data {
		m.Data[i] = rng.NormFloat64()
	}
	return m
}

func accuracy(t *testing.T, m *Model, x *learn.Matrix, y []float64) float64 {
	t.Helper()
	pred := learn.PredictMatrix(m, x)
	k := m.Task().Outputs(m.NumClass())
	var ok int
	for i := range y {
		var c int
		if k == 1 {
			if pred[i] > 0.5 {
				c = 1
			}
		} else {
			for j := 1; j < k; j++ {
				if pred[i*k+j] > pred[i*k+c] {
					c = j
				}
			}
		}
		if float64(c) == y[i] {
			ok++
		}
	}
	return float64(ok) / float64(len(y))
}

func train(t *testing.T, task learn.Task, x *learn.Matrix, y []float64, p Params, opt Options) *Model {
	t.Helper()
	m, err := Train(context.Background(), task, x, y, p, opt)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// xorData labels y = (x0 > 0.3) xor (x1 > -0.2), flipped with probability
// noise; the Bayes accuracy is 1-noise.
func xorData(seed uint64, n int, noise float64) (*learn.Matrix, []float64) {
	rng := rand.New(rand.NewPCG(seed, 1))
	x := genMatrix(rng, n, "x0", "x1", "x2", "x3")
	y := make([]float64, n)
	for i := range y {
		a, b := x.At(i, 0) > 0.3, x.At(i, 1) > -0.2
		if a != b {
			y[i] = 1
		}
		if rng.Float64() < noise {
			y[i] = 1 - y[i]
		}
	}
	return x, y
}

func TestBinaryDecisionBoundary(t *testing.T) {
	x, y := xorData(1, 20000, 0.1)
	xt, yt := xorData(2, 10000, 0.1)
	m := train(t, learn.Binary, x, y, DefaultParams(), Options{})
	if acc := accuracy(t, m, xt, yt); acc < 0.88 {
		t.Fatalf("test accuracy %.4f, want >= 0.88 (Bayes 0.90)", acc)
	}
	// the splits must be on the informative features
	gain, _ := m.FeatureImportance()
	if gain[0]+gain[1] < 0.9*(gain[0]+gain[1]+gain[2]+gain[3]) {
		t.Fatalf("importance %v: noise features dominate", gain)
	}
}

func TestRegressionStep(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	gen := func(n int) (*learn.Matrix, []float64) {
		x := genMatrix(rng, n, "a", "b")
		y := make([]float64, n)
		for i := range y {
			y[i] = 2*x.At(i, 0) + rng.NormFloat64()*0.1
			if x.At(i, 1) > 0.5 {
				y[i] += 3
			}
		}
		return x, y
	}
	x, y := gen(20000)
	xt, yt := gen(5000)
	p := DefaultParams()
	p.NumRounds = 300
	var vr float64
	m := train(t, learn.Regression, x, y, p, Options{Valid: xt, ValidY: yt, OnRound: func(_ int, _, va map[string]float64) { vr = va["rmse"] }})
	pred := learn.PredictMatrix(m, xt)
	var se float64
	for i := range yt {
		se += (pred[i] - yt[i]) * (pred[i] - yt[i])
	}
	rmse := math.Sqrt(se / float64(len(yt)))
	if rmse > 0.2 {
		t.Fatalf("test RMSE %.4f, want <= 0.2 (noise 0.1)", rmse)
	}
	if math.Abs(rmse-vr) > 1e-9 {
		t.Fatalf("reported validation rmse %v, computed %v", vr, rmse)
	}
}

func TestMulticlassBlobs(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	centers := [][2]float64{{0, 0}, {3, 0}, {0, 3}, {3, 3}}
	gen := func(n int) (*learn.Matrix, []float64) {
		x := learn.NewMatrix(n, []string{"u", "v", "noise"})
		y := make([]float64, n)
		for i := range y {
			c := rng.IntN(len(centers))
			y[i] = float64(c)
			x.Data[i] = centers[c][0] + rng.NormFloat64()*0.5
			x.Data[n+i] = centers[c][1] + rng.NormFloat64()*0.5
			x.Data[2*n+i] = rng.NormFloat64()
		}
		return x, y
	}
	x, y := gen(8000)
	xt, yt := gen(4000)
	p := DefaultParams()
	p.NumClass = 4
	var first, last float64
	m := train(t, learn.Multiclass, x, y, p, Options{Valid: xt, ValidY: yt, OnRound: func(r int, _, va map[string]float64) {
		if r == 0 {
			first = va["mlogloss"]
		}
		last = va["mlogloss"]
	}})
	if !(last < first/5) {
		t.Fatalf("validation mlogloss went from %v to %v", first, last)
	}
	if len(m.Trees(3)) != p.NumRounds || len(m.Base()) != 4 {
		t.Fatalf("want %d trees per class and 4 base scores", p.NumRounds)
	}
	// Bayes accuracy: each coordinate errs with P(|N(0,.5)| > 1.5) one-sided ~ 0.00135
	if acc := accuracy(t, m, xt, yt); acc < 0.99 {
		t.Fatalf("test accuracy %.4f, want >= 0.99", acc)
	}
}

func TestMissingDirection(t *testing.T) {
	// f0 is missing exactly for class 1, otherwise uninformative.
	rng := rand.New(rand.NewPCG(5, 5))
	gen := func(n int) (*learn.Matrix, []float64) {
		x := genMatrix(rng, n, "f0", "f1")
		y := make([]float64, n)
		for i := range y {
			if rng.IntN(2) == 1 {
				y[i] = 1
				x.Data[i] = math.NaN()
			}
		}
		return x, y
	}
	x, y := gen(5000)
	xt, yt := gen(2000)
	p := DefaultParams()
	p.NumRounds = 20
	m := train(t, learn.Binary, x, y, p, Options{})
	if acc := accuracy(t, m, xt, yt); acc != 1 {
		t.Fatalf("accuracy %.4f, want 1", acc)
	}
	root := m.Trees(0)[0].Nodes[0]
	if root.Feature != 0 {
		t.Fatalf("root splits on %d, want 0", root.Feature)
	}
	right := m.Trees(0)[0].Nodes[root.Right]
	left := m.Trees(0)[0].Nodes[root.Left]
	missSide := right
	if root.DefaultLeft {
		missSide = left
	}
	if missSide.Value <= 0 {
		t.Fatalf("missing rows went to a leaf of value %v, want positive", missSide.Value)
	}
}

func TestCategoricalSetSplit(t *testing.T) {
	// 12 categories; the positive ones {1, 4, 6, 9, 11} are not a range of
	// codes, so only a set split separates them in one node.
	pos := map[int]bool{1: true, 4: true, 6: true, 9: true, 11: true}
	rng := rand.New(rand.NewPCG(6, 6))
	gen := func(n int) (*learn.Matrix, []float64) {
		x := genMatrix(rng, n, "cat", "noise")
		x.Categories[0] = 12
		y := make([]float64, n)
		for i := range y {
			c := rng.IntN(12)
			x.Data[i] = float64(c)
			if pos[c] {
				y[i] = 1
			}
			if rng.Float64() < 0.05 {
				y[i] = 1 - y[i]
			}
		}
		return x, y
	}
	x, y := gen(10000)
	xt, yt := gen(4000)
	p := DefaultParams()
	p.NumRounds = 1
	p.MaxLeaves = 2
	p.LearningRate = 1
	m := train(t, learn.Binary, x, y, p, Options{})
	root := m.Trees(0)[0].Nodes[0]
	if root.Feature != 0 || root.Cats == nil {
		t.Fatalf("root %+v, want a set split on feature 0", root)
	}
	var got []int
	for c := range 12 {
		if root.GoesLeft(float64(c)) {
			got = append(got, c)
		}
	}
	isPos := pos[got[0]]
	for c := range 12 {
		if root.GoesLeft(float64(c)) != (pos[c] == isPos) {
			t.Fatalf("left set %v does not separate %v", got, pos)
		}
	}
	if acc := accuracy(t, m, xt, yt); acc < 0.93 {
		t.Fatalf("one-split accuracy %.4f, want >= 0.93", acc)
	}
	// an unseen code and a missing value must not panic and go right / default
	out := make([]float64, 1)
	m.PredictRaw([]float64{100, 0}, out)
	m.PredictRaw([]float64{math.NaN(), 0}, out)
}

func TestEarlyStopping(t *testing.T) {
	// pure noise: the validation loss stops improving quickly
	rng := rand.New(rand.NewPCG(7, 7))
	gen := func(n int) (*learn.Matrix, []float64) {
		x := genMatrix(rng, n, "a", "b", "c")
		y := make([]float64, n)
		for i := range y {
			if rng.Float64() < 0.5+0.2*math.Tanh(x.At(i, 0)) {
				y[i] = 1
			}
		}
		return x, y
	}
	x, y := gen(3000)
	xv, yv := gen(3000)
	p := DefaultParams()
	p.NumRounds = 500
	p.EarlyStoppingRounds = 10
	var rounds int
	var vl []float64
	m := train(t, learn.Binary, x, y, p, Options{Valid: xv, ValidY: yv, OnRound: func(r int, tr, va map[string]float64) {
		rounds = r + 1
		vl = append(vl, va["logloss"])
		if _, ok := tr["logloss"]; !ok {
			t.Errorf("round %d: no training logloss in %v", r, tr)
		}
	}})
	if rounds >= 500 {
		t.Fatalf("ran all %d rounds", rounds)
	}
	best := m.BestIteration()
	if rounds != best+10 || len(m.Trees(0)) != best {
		t.Fatalf("rounds %d, best %d, trees %d", rounds, best, len(m.Trees(0)))
	}
	for i, l := range vl {
		if l < vl[best-1] {
			t.Fatalf("round %d loss %v beats the kept best %v", i, l, vl[best-1])
		}
	}
	// the kept model reproduces the best validation loss
	pred := learn.PredictMatrix(m, xv)
	var ll float64
	for i, p := range pred {
		if yv[i] == 1 {
			ll -= math.Log(p)
		} else {
			ll -= math.Log(1 - p)
		}
	}
	if d := ll/float64(len(yv)) - vl[best-1]; math.Abs(d) > 1e-9 {
		t.Fatalf("kept model loss differs from best by %v", d)
	}
}

func TestDeterminism(t *testing.T) {
	x, y := xorData(8, 40000, 0.2) // several row blocks: parallel partition
	rng := rand.New(rand.NewPCG(9, 9))
	// add missing values and a categorical column
	cat := make([]float64, x.Rows)
	for i := range cat {
		cat[i] = float64(rng.IntN(20))
		if i%17 == 0 {
			x.Data[i] = math.NaN()
		}
	}
	x.Data = append(x.Data, cat...)
	x.Cols++
	x.Names = append(x.Names, "cat")
	x.Categories = append(x.Categories, 20)
	p := DefaultParams()
	p.NumRounds = 30
	p.Subsample = 0.7
	p.Colsample = 0.6
	p.Seed = 42
	run := func(procs int) []byte {
		prev := runtime.GOMAXPROCS(procs)
		defer runtime.GOMAXPROCS(prev)
		m := train(t, learn.Binary, x, y, p, Options{})
		b, err := m.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	a, b, c := run(1), run(2), run(4)
	if !bytes.Equal(a, b) || !bytes.Equal(a, c) {
		t.Fatal("model bytes differ between GOMAXPROCS 1, 2 and 4")
	}
	p.Seed = 43
	if d := run(2); bytes.Equal(a, d) {
		t.Fatal("a different seed gave the same model")
	}
	// round trip: same bytes, same predictions
	m, err := Unmarshal(a)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := m.MarshalJSON()
	if !bytes.Equal(a, again) {
		t.Fatal("Unmarshal + MarshalJSON changed the bytes")
	}
	row := make([]float64, x.Cols)
	out1, out2 := make([]float64, 1), make([]float64, 1)
	for i := 0; i < 200; i++ {
		row = x.Row(i, row)
		m.PredictRaw(row, out1)
		want := m.Base()[0]
		for _, tr := range m.Trees(0) {
			want += tr.Predict(row)
		}
		out2[0] = want
		if math.Abs(out1[0]-out2[0]) > 1e-12 {
			t.Fatalf("row %d: flat %v, tree walk %v", i, out1[0], out2[0])
		}
	}
}

func TestTrainingScoresMatchPrediction(t *testing.T) {
	// The scores kept during training (by leaf segments and binned walks)
	// must equal what the model predicts on raw values.
	x, y := xorData(10, 3000, 0.1)
	for i := 0; i < x.Rows; i += 7 {
		x.Data[x.Rows+i] = math.NaN()
	}
	p := DefaultParams()
	p.NumRounds = 10
	p.Subsample = 0.5
	var last float64
	m := train(t, learn.Binary, x, y, p, Options{OnRound: func(_ int, tr, _ map[string]float64) { last = tr["logloss"] }})
	pred := learn.PredictMatrix(m, x)
	var ll float64
	for i, q := range pred {
		if y[i] == 1 {
			ll -= math.Log(q)
		} else {
			ll -= math.Log(1 - q)
		}
	}
	if d := ll/float64(len(y)) - last; math.Abs(d) > 1e-9 {
		t.Fatalf("training loss %v, model loss %v", last, ll/float64(len(y)))
	}
}

func TestCover(t *testing.T) {
	x, y := xorData(11, 2000, 0.1)
	p := DefaultParams()
	p.NumRounds = 3
	m := train(t, learn.Regression, x, y, p, Options{})
	for _, tr := range m.Trees(0) {
		if tr.Nodes[0].Cover != 2000 {
			t.Fatalf("root cover %v, want 2000 (row count for squared loss)", tr.Nodes[0].Cover)
		}
		for i, n := range tr.Nodes {
			if !n.IsLeaf() && tr.Nodes[n.Left].Cover+tr.Nodes[n.Right].Cover != n.Cover {
				t.Fatalf("node %d: children cover %v + %v != %v", i, tr.Nodes[n.Left].Cover, tr.Nodes[n.Right].Cover, n.Cover)
			}
		}
	}
}

func TestParseParams(t *testing.T) {
	p, err := ParseParams(map[string]string{"num_rounds": "50", "learning_rate": "0.05", "max_depth": "6", "seed": "7", "subsample": "0.8"})
	if err != nil {
		t.Fatal(err)
	}
	if p.NumRounds != 50 || p.LearningRate != 0.05 || p.MaxDepth != 6 || p.Seed != 7 || p.Subsample != 0.8 || p.MaxLeaves != 31 {
		t.Fatalf("parsed %+v", p)
	}
	// Map covers every parameter and round-trips
	q := p
	q.L1, q.CatSmooth, q.NumClass, q.Threads, q.MinDataPerGroup = 0.5, 3, 4, 2, 7
	if len(q.Map()) != len(ParamNames()) {
		t.Fatalf("Map has %d names, ParseParams knows %d", len(q.Map()), len(ParamNames()))
	}
	if back, err := ParseParams(q.Map()); err != nil || back != q {
		t.Fatalf("round trip: %+v, %v", back, err)
	}
	for _, tc := range []struct {
		kv   map[string]string
		want string
	}{
		{map[string]string{"num_round": "5"}, `unknown gbdt parameter "num_round" (known: cat_l2, cat_smooth, colsample, early_stopping_rounds`},
		{map[string]string{"num_rounds": "0"}, "parameter num_rounds: 0 is out of range"},
		{map[string]string{"num_rounds": "ten"}, `parameter num_rounds: "ten" is not an integer`},
		{map[string]string{"learning_rate": "0"}, "parameter learning_rate"},
		{map[string]string{"learning_rate": "NaN"}, "parameter learning_rate"},
		{map[string]string{"subsample": "1.5"}, "parameter subsample"},
		{map[string]string{"colsample": "0"}, "parameter colsample"},
		{map[string]string{"max_bins": "256"}, "parameter max_bins"},
		{map[string]string{"max_leaves": "1"}, "parameter max_leaves"},
		{map[string]string{"l2": "-1"}, "parameter l2"},
		{map[string]string{"num_class": "1"}, "parameter num_class"},
		{map[string]string{"seed": "-1"}, "parameter seed"},
		{map[string]string{"threads": "-2"}, "parameter threads"},
	} {
		_, err := ParseParams(tc.kv)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !errs.Is(err, errs.Invalid) {
			t.Errorf("%v: error %v, want invalid containing %q", tc.kv, err, tc.want)
		}
	}
}

func TestTrainBadInput(t *testing.T) {
	x, y := xorData(12, 100, 0)
	ctx := context.Background()
	p := DefaultParams()
	inf := learn.NewMatrix(2, []string{"a"})
	inf.Data[1] = math.Inf(1)
	badCat := learn.NewMatrix(2, []string{"c"})
	badCat.Categories[0] = 3
	badCat.Data[0] = 3
	for name, tc := range map[string]struct {
		task learn.Task
		x    *learn.Matrix
		y    []float64
		p    func(*Params)
		opt  Options
		want string
	}{
		"y length":        {learn.Binary, x, y[:5], nil, Options{}, "target has 5 values"},
		"binary target":   {learn.Binary, x, append(make([]float64, 99), 2), nil, Options{}, "target row 99: 2 is not 0 or 1"},
		"infinite":        {learn.Regression, inf, []float64{1, 2}, nil, Options{}, `column "a" row 1: infinite`},
		"bad code":        {learn.Regression, badCat, []float64{1, 2}, nil, Options{}, `column "c" row 0`},
		"no num_class":    {learn.Multiclass, x, y, nil, Options{}, "num_class"},
		"early no valid":  {learn.Binary, x, y, func(p *Params) { p.EarlyStoppingRounds = 5 }, Options{}, "early_stopping_rounds"},
		"weights length":  {learn.Binary, x, y, nil, Options{Weights: []float64{1}}, "weights have 1 values"},
		"valid shape":     {learn.Binary, x, y, nil, Options{Valid: inf, ValidY: []float64{0, 1}}, "validation matrix"},
		"bad param":       {learn.Binary, x, y, func(p *Params) { p.MaxBins = 1 }, Options{}, "max_bins"},
		"regression NaNy": {learn.Regression, x, append(make([]float64, 99), math.NaN()), nil, Options{}, "not finite"},
	} {
		q := p
		if tc.p != nil {
			tc.p(&q)
		}
		_, err := Train(ctx, tc.task, tc.x, tc.y, q, tc.opt)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !errs.Is(err, errs.Invalid) {
			t.Errorf("%s: error %v, want invalid containing %q", name, err, tc.want)
		}
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := Train(cctx, learn.Binary, x, y, p, Options{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
}

func TestWeights(t *testing.T) {
	x, y := xorData(13, 2000, 0.1)
	p := DefaultParams()
	p.NumRounds = 5
	p.MinChildWeight = 0
	// doubling every weight scales gradients and hessians alike: same model
	two := make([]float64, x.Rows)
	for i := range two {
		two[i] = 2
	}
	m1 := train(t, learn.Binary, x, y, p, Options{})
	m2 := train(t, learn.Binary, x, y, p, Options{Weights: two})
	// zero weight on the positives pulls every prediction down
	w := make([]float64, x.Rows)
	for i := range w {
		w[i] = 1 - y[i]*0.99
	}
	p.MinChildWeight = 1
	m3 := train(t, learn.Binary, x, y, p, Options{Weights: w})
	row := make([]float64, x.Cols)
	o1, o2, o3 := make([]float64, 1), make([]float64, 1), make([]float64, 1)
	for i := 0; i < 200; i++ {
		row = x.Row(i, row)
		m1.PredictRaw(row, o1)
		m2.PredictRaw(row, o2)
		m3.PredictRaw(row, o3)
		if o1[0] != o2[0] {
			t.Fatalf("row %d: unit weights %v, doubled %v", i, o1[0], o2[0])
		}
		if o3[0] >= o1[0] {
			t.Fatalf("row %d: down-weighting positives raised the score %v -> %v", i, o1[0], o3[0])
		}
	}
}

func TestTinyInputs(t *testing.T) {
	// one row, a constant target, an all-missing column, an absent class:
	// training succeeds and the model round-trips
	x := learn.NewMatrix(1, []string{"a", "b"})
	x.Data[1] = math.NaN()
	for _, tc := range []struct {
		task learn.Task
		y    []float64
		k    int
	}{
		{learn.Binary, []float64{1}, 0},
		{learn.Regression, []float64{3.5}, 0},
		{learn.Multiclass, []float64{2}, 3},
	} {
		p := DefaultParams()
		p.NumRounds = 3
		p.NumClass = tc.k
		m := train(t, tc.task, x, tc.y, p, Options{})
		b, err := m.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Unmarshal(b); err != nil {
			t.Fatalf("%s: %v", tc.task, err)
		}
		out := learn.PredictMatrix(m, x)
		if tc.task == learn.Regression && math.Abs(out[0]-3.5) > 1e-9 {
			t.Fatalf("regression on one row predicts %v", out[0])
		}
		if tc.task == learn.Multiclass && out[2] < 0.99 {
			t.Fatalf("multiclass on one row: %v", out)
		}
	}
}
