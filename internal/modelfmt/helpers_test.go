package modelfmt

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/mlcycle/mlcycle/internal/frame"
	"github.com/mlcycle/mlcycle/internal/learn"
	"github.com/mlcycle/mlcycle/internal/learn/gbdt"
	"github.com/mlcycle/mlcycle/internal/learn/linear"
	"github.com/mlcycle/mlcycle/internal/learn/prep"
)

// testTable is a small table with one column of every type, some missing
// values, and a binary, a multiclass and a regression target.
func testTable(t testing.TB, n int, seed uint64) *frame.Table {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 1))
	x1 := make([]float64, n)
	x1Null := make([]bool, n)
	x2 := make([]int64, n)
	flag := make([]bool, n)
	color := make([]string, n)
	colorNull := make([]bool, n)
	ts := make([]int64, n)
	yBin := make([]string, n)
	yMulti := make([]string, n)
	yReg := make([]float64, n)
	colors := []string{"red", "green", "blue", "mauve"}
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro()
	for i := range n {
		x1[i] = r.NormFloat64()
		x1Null[i] = i%17 == 3
		x2[i] = int64(r.IntN(20))
		flag[i] = r.IntN(2) == 1
		color[i] = colors[r.IntN(len(colors))]
		colorNull[i] = i%23 == 5
		ts[i] = base + int64(r.IntN(365*24*3600))*1e6
		v := 0.0
		if !x1Null[i] {
			v += 2 * x1[i]
		}
		v += float64(x2[i])/5 - 2
		if !colorNull[i] && color[i] == "red" {
			v += 1.5
		}
		if flag[i] {
			v -= 1
		}
		v += 0.3 * r.NormFloat64()
		yBin[i] = "no"
		if v > 0 {
			yBin[i] = "yes"
		}
		switch {
		case v < -1:
			yMulti[i] = "low"
		case v < 1:
			yMulti[i] = "mid"
		default:
			yMulti[i] = "high"
		}
		yReg[i] = 3*v + 10
	}
	tab, err := frame.NewTable(
		frame.FloatColumn("x1", x1, x1Null),
		frame.IntColumn("x2", x2, nil),
		frame.BoolColumn("flag", flag, nil),
		frame.StringColumn("color", color, colorNull),
		frame.TimestampColumn("ts", ts, nil),
		frame.StringColumn("y_bin", yBin, nil),
		frame.StringColumn("y_multi", yMulti, nil),
		frame.FloatColumn("y_reg", yReg, nil),
	)
	if err != nil {
		t.Fatal(err)
	}
	return tab
}

var targets = map[learn.Task]string{learn.Binary: "y_bin", learn.Multiclass: "y_multi", learn.Regression: "y_reg"}

// trainModel fits preprocessing and a learner of algo on tab for task.
func trainModel(t testing.TB, tab *frame.Table, algo string, task learn.Task) *Model {
	t.Helper()
	ctx := context.Background()
	target := targets[task]
	var exclude []string
	for _, c := range targets {
		if c != target {
			exclude = append(exclude, c)
		}
	}
	mode := prep.Trees
	if algo == AlgoLinear {
		mode = prep.Linear
	}
	p, err := prep.Fit(tab, prep.Spec{Target: target, Exclude: exclude, Mode: mode, Task: task})
	if err != nil {
		t.Fatal(err)
	}
	x, err := p.Matrix(tab)
	if err != nil {
		t.Fatal(err)
	}
	y, err := p.Target(tab)
	if err != nil {
		t.Fatal(err)
	}
	var pred learn.Predictor
	switch algo {
	case AlgoGBDT:
		gp := gbdt.DefaultParams()
		gp.NumRounds = 15
		gp.MinDataInLeaf = 5
		gp.MaxLeaves = 8
		gp.NumClass = p.NumClass()
		if task != learn.Multiclass {
			gp.NumClass = 0
		}
		g, err := gbdt.Train(ctx, task, x, y, gp, gbdt.Options{})
		if err != nil {
			t.Fatal(err)
		}
		pred = g
	case AlgoLinear:
		l, err := linear.Train(ctx, task, p.NumClass(), x, y, linear.DefaultParams(), linear.Options{})
		if err != nil {
			t.Fatal(err)
		}
		pred = l
	}
	m, err := New(p, pred)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// fixedInfo makes packages byte-for-byte reproducible.
var fixedInfo = Info{
	RunID:          "0123456789abcdef0123456789abcdef",
	ModelUUID:      "fedcba9876543210fedcba9876543210",
	Created:        time.Date(2026, 11, 26, 10, 0, 0, 123456000, time.UTC),
	MlcycleVersion: "1.2.3",
}

// rowGetter returns a get function for row i of tab.
func rowGetter(tab *frame.Table, i int) func(string) (any, bool) {
	return func(name string) (any, bool) {
		c, err := tab.Column(name)
		if err != nil || c.IsNull(i) {
			return nil, err == nil
		}
		switch c.Field.Type {
		case frame.TypeFloat:
			return c.Floats[i], true
		case frame.TypeInt:
			return c.Ints[i], true
		case frame.TypeBool:
			return c.Bools[i], true
		case frame.TypeString:
			return c.Strings[i], true
		case frame.TypeTimestamp:
			return float64(c.Ints[i]) / 1e6, true // Unix seconds
		}
		return nil, false
	}
}

func near(a, b float64) bool {
	return a == b || math.Abs(a-b) <= 1e-12*math.Max(1, math.Abs(a))
}

// oddClassTable is tab with multiclass labels that YAML 1.1 (PyYAML) reads
// as other types or refuses when they are written unquoted.
func oddClassTable(t testing.TB, tab *frame.Table) *frame.Table {
	t.Helper()
	rename := map[string]string{"low": "=", "mid": "12:30", "high": "no"}
	var cols []*frame.TableColumn
	for _, c := range tab.Cols {
		if c.Field.Name == "y_multi" {
			labels := make([]string, len(c.Strings))
			for i, v := range c.Strings {
				labels[i] = rename[v]
			}
			c = frame.StringColumn("y_multi", labels, nil)
		}
		cols = append(cols, c)
	}
	odd, err := frame.NewTable(cols...)
	if err != nil {
		t.Fatal(err)
	}
	return odd
}
