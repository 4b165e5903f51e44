package gbdt

import (
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/mlcycle/mlcycle/internal/learn"
)

// smallModel is a 3-round model with a numeric, a missing-aware and a
// categorical split.
func smallModel(t testing.TB) *Model {
	rng := rand.New(rand.NewPCG(21, 21))
	n := 400
	x := genMatrix(rng, n, "num", "cat")
	x.Categories[1] = 5
	y := make([]float64, n)
	for i := range y {
		c := rng.IntN(5)
		x.Data[n+i] = float64(c)
		if x.Data[i] > 0 || c == 2 || c == 4 {
			y[i] = 1
		}
		if i%10 == 0 {
			x.Data[i] = math.NaN()
		}
	}
	p := DefaultParams()
	p.NumRounds = 3
	p.MaxLeaves = 4
	p.MinDataInLeaf = 5
	m, err := Train(context.Background(), learn.Binary, x, y, p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestUnmarshalErrors(t *testing.T) {
	good, err := smallModel(t).MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Unmarshal(good); err != nil {
		t.Fatalf("good model: %v", err)
	}
	// edit applies a change to the decoded generic JSON
	edit := func(f func(m map[string]any)) []byte {
		var m map[string]any
		if err := json.Unmarshal(good, &m); err != nil {
			t.Fatal(err)
		}
		f(m)
		b, _ := json.Marshal(m)
		return b
	}
	node := func(m map[string]any, k, tr, i int) map[string]any {
		return m["trees"].([]any)[k].([]any)[tr].(map[string]any)["nodes"].([]any)[i].(map[string]any)
	}
	for name, tc := range map[string]struct {
		data []byte
		want string
	}{
		"not json":       {[]byte("{"), "unexpected end"},
		"format":         {edit(func(m map[string]any) { m["format"] = "xgboost" }), "format"},
		"task":           {edit(func(m map[string]any) { m["task"] = "ranking" }), "unknown task"},
		"num_class":      {edit(func(m map[string]any) { m["num_class"] = 3 }), "num_class 3"},
		"base length":    {edit(func(m map[string]any) { m["base"] = []any{0, 0} }), "base scores"},
		"categories":     {edit(func(m map[string]any) { m["categories"] = []any{0} }), "differ in length"},
		"best iteration": {edit(func(m map[string]any) { m["best_iteration"] = 7 }), "best_iteration"},
		"no nodes":       {edit(func(m map[string]any) { m["trees"].([]any)[0].([]any)[0].(map[string]any)["nodes"] = []any{} }), "no nodes"},
		"feature range":  {edit(func(m map[string]any) { node(m, 0, 0, 0)["f"] = 9 }), "feature 9 out of range"},
		"child range":    {edit(func(m map[string]any) { node(m, 0, 0, 0)["l"] = 99 }), "out of range"},
		"self cycle":     {edit(func(m map[string]any) { node(m, 0, 0, 0)["l"] = 0 }), "out of range"},
		"two parents": {edit(func(m map[string]any) {
			n := node(m, 0, 0, 0)
			n["r"] = n["l"]
		}), "two parents"},
		"leaf fields": {edit(func(m map[string]any) {
			nodes := m["trees"].([]any)[0].([]any)[0].(map[string]any)["nodes"].([]any)
			nodes[len(nodes)-1].(map[string]any)["l"] = 1
		}), "leaf with split fields"},
		"base nan": {[]byte(strings.Replace(string(good), `"base":[`, `"base":[1e999,`, 1)), ""},
	} {
		_, err := Unmarshal(tc.data)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", name, err, tc.want)
		}
	}
}

func TestBinsMatchThresholds(t *testing.T) {
	// Heavy ties, more distinct values than bins, negative zero: a value
	// is in a bin <= b exactly when it is <= the stored threshold upper[b].
	rng := rand.New(rand.NewPCG(31, 31))
	col := make([]float64, 50000)
	for i := range col {
		switch rng.IntN(4) {
		case 0:
			col[i] = 0
		case 1:
			col[i] = math.Copysign(0, -1)
		case 2:
			col[i] = math.Round(rng.NormFloat64()*10) / 10
		default:
			col[i] = rng.ExpFloat64() * 1e6
		}
	}
	m := newNumericMapper(col, 63)
	if m.nBins > 63 || m.nBins < 30 {
		t.Fatalf("%d bins for max 63", m.nBins)
	}
	bins := make([]uint8, len(col))
	m.binColumn(col, bins)
	for i, v := range col {
		for b := 0; b < m.nBins-1; b++ {
			if (int(bins[i]) <= b) != (v <= m.upper[b]) {
				t.Fatalf("value %v in bin %d, threshold %d is %v", v, bins[i], b, m.upper[b])
			}
		}
	}
	// the most common value does not swallow its neighbours
	counts := make([]int, m.nBins+1)
	for _, b := range bins {
		counts[b]++
	}
	for b, c := range counts[:m.nBins] {
		if c == 0 {
			t.Errorf("bin %d is empty", b)
		}
	}
}

func TestManyCategories(t *testing.T) {
	// more categories than bins: the rare ones share a bin that goes right
	rng := rand.New(rand.NewPCG(41, 41))
	n, k := 20000, 600
	x := learn.NewMatrix(n, []string{"c"})
	x.Categories[0] = k
	y := make([]float64, n)
	for i := range y {
		c := int(float64(k) * math.Pow(rng.Float64(), 3))
		x.Data[i] = float64(c)
		if c%3 == 0 {
			y[i] = 1
		}
	}
	p := DefaultParams()
	p.MaxBins = 32
	p.NumRounds = 30
	m, err := Train(context.Background(), learn.Binary, x, y, p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := m.MarshalJSON()
	if _, err := Unmarshal(b); err != nil {
		t.Fatal(err)
	}
	// the frequent categories (codes 0..30 hold most rows) are learned
	out := make([]float64, 1)
	for c := range 20 {
		m.PredictRaw([]float64{float64(c)}, out)
		if (out[0] > 0) != (c%3 == 0) {
			t.Errorf("category %d: raw %v", c, out[0])
		}
	}
}

// FuzzUnmarshal: any input either fails to load or loads into a model that
// predicts and re-marshals without panicking.
func FuzzUnmarshal(f *testing.F) {
	good, err := smallModel(f).MarshalJSON()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Unmarshal(data)
		if err != nil {
			return
		}
		row := make([]float64, m.NumFeatures())
		out := make([]float64, m.Task().Outputs(m.NumClass()))
		for _, v := range []float64{math.NaN(), -1, 0, 3, 1e9} {
			for j := range row {
				row[j] = v
			}
			m.PredictRaw(row, out)
		}
		if _, err := m.MarshalJSON(); err != nil {
			t.Fatalf("marshal of a loaded model: %v", err)
		}
	})
}
