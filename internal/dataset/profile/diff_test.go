package profile

import (
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mlcycle/mlcycle/internal/frame"
)

func TestPSI(t *testing.T) {
	cases := []struct {
		name string
		e, a []float64
		want float64
	}{
		// (0.4-0.5)ln(0.4/0.5) + (0.6-0.5)ln(0.6/0.5)
		{"two bins", []float64{0.5, 0.5}, []float64{0.4, 0.6}, 0.1*math.Log(0.5/0.4) + 0.1*math.Log(0.6/0.5)},
		{"counts are normalised", []float64{50, 50}, []float64{400, 600}, 0.1*math.Log(0.5/0.4) + 0.1*math.Log(0.6/0.5)},
		{"identical", []float64{1, 2, 3}, []float64{2, 4, 6}, 0},
		// an empty bin is raised to 1e-4: (1e-4-0.5)ln(1e-4/0.5) + (1-0.5)ln(1/0.5)
		{"empty bin", []float64{0.5, 0.5}, []float64{0, 1}, (PSIEpsilon-0.5)*math.Log(PSIEpsilon/0.5) + 0.5*math.Log(2)},
		{"length mismatch", []float64{1}, []float64{1, 2}, 0},
		{"empty", nil, nil, 0},
	}
	for _, c := range cases {
		if got := PSI(c.e, c.a); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("%s: PSI = %.10f, want %.10f", c.name, got, c.want)
		}
	}
	if got := PSI([]float64{0.5, 0.5}, []float64{0.4, 0.6}); math.Abs(got-0.0405465108) > 1e-9 {
		t.Errorf("PSI = %v", got)
	}
}

func TestJensenShannon(t *testing.T) {
	// [0.5,0.5] vs [1,0]: m = [0.75,0.25];
	// KL(p||m) = 0.5 log2(0.5/0.75) + 0.5 log2(0.5/0.25); KL(q||m) = log2(1/0.75)
	kl1 := 0.5*math.Log2(0.5/0.75) + 0.5*math.Log2(2)
	kl2 := math.Log2(1 / 0.75)
	cases := []struct {
		name string
		p, q []float64
		want float64
	}{
		{"disjoint", []float64{1, 0}, []float64{0, 1}, 1},
		{"identical", []float64{3, 1}, []float64{0.75, 0.25}, 0},
		{"half", []float64{0.5, 0.5}, []float64{1, 0}, math.Sqrt((kl1 + kl2) / 2)},
		{"mismatch", []float64{1}, []float64{1, 1}, 0},
	}
	for _, c := range cases {
		if got := JensenShannon(c.p, c.q); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("%s: JS = %.10f, want %.10f", c.name, got, c.want)
		}
	}
	if got := JensenShannon([]float64{0.5, 0.5}, []float64{1, 0}); math.Abs(got-0.5579230) > 1e-6 {
		t.Errorf("JS = %v", got)
	}
}

func profileOf(t *testing.T, name, content string) Profile {
	t.Helper()
	p, err := ComputeFile(write(t, name, content), frame.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func genTable(seed uint64, n int, shift float64, catWeights []float64, withNew bool) string {
	rng := rand.New(rand.NewPCG(seed, seed))
	var sb strings.Builder
	sb.WriteString("x,cat,same,old,kind,opt")
	if withNew {
		sb.WriteString(",new")
	}
	sb.WriteString("\n")
	cats := []string{"a", "b", "c"}
	for i := range n {
		r := rng.Float64()
		c := cats[len(cats)-1]
		acc := 0.0
		for k, w := range catWeights {
			if acc += w; r < acc {
				c = cats[k]
				break
			}
		}
		kind := fmt.Sprint(i % 5)
		if withNew {
			kind = "k" + kind // int in the reference, string in the new table
		}
		opt := "1"
		if withNew && i%10 == 0 {
			opt = ""
		}
		sb.WriteString(fmt.Sprintf("%.4f,%s,%.4f,%d,%s,%s", rng.NormFloat64()+shift, c, rng.NormFloat64(), i, kind, opt))
		if withNew {
			sb.WriteString(",z")
		}
		sb.WriteString("\n")
	}
	return sb.String()
}

func TestCompare(t *testing.T) {
	a := profileOf(t, "a.csv", genTable(1, 20000, 0, []float64{0.5, 0.3, 0.2}, false))
	// b: x shifted by one standard deviation, categories reweighted, column
	// "old" removed (renamed away below), "new" added, "kind" retyped, "opt"
	// now has missing values
	bText := genTable(2, 15000, 1, []float64{0.2, 0.3, 0.5}, true)
	bText = strings.Replace(bText, ",old,", ",older,", 1)
	b := profileOf(t, "b.csv", bText)

	d := Compare(a, b)
	if d.RowsFrom != 20000 || d.RowsTo != 15000 {
		t.Errorf("rows %d -> %d", d.RowsFrom, d.RowsTo)
	}
	// removed columns first, then in the new table's column order
	wantChanges := []SchemaChange{
		{Column: "old", Kind: ChangeRemoved, From: "int"},
		{Column: "older", Kind: ChangeAdded, To: "int"},
		{Column: "kind", Kind: ChangeType, From: "int", To: "string"},
		{Column: "opt", Kind: ChangeNullability, From: "false", To: "true"},
		{Column: "new", Kind: ChangeAdded, To: "string"},
	}
	if !reflect.DeepEqual(d.SchemaChanges, wantChanges) {
		t.Errorf("schema changes:\n%+v\nwant\n%+v", d.SchemaChanges, wantChanges)
	}
	byName := map[string]ColumnDiff{}
	for _, c := range d.Columns {
		byName[c.Name] = c
	}
	x := byName["x"]
	if x.PSI == nil || *x.PSI < PSIThreshold || !x.Drift || x.JS != nil {
		t.Errorf("x: psi=%v drift=%v", x.PSI, x.Drift)
	}
	if math.Abs(*x.MeanTo-*x.MeanFrom-1) > 0.05 {
		t.Errorf("x means %v -> %v", *x.MeanFrom, *x.MeanTo)
	}
	same := byName["same"]
	if same.PSI == nil || *same.PSI > 0.05 || same.Drift {
		t.Errorf("same: psi=%v drift=%v", same.PSI, same.Drift)
	}
	cat := byName["cat"]
	if cat.JS == nil || *cat.JS < JSThreshold || !cat.Drift || cat.PSI != nil {
		t.Errorf("cat: js=%v drift=%v", cat.JS, cat.Drift)
	}
	// the JS distance of the true weights is about 0.23; the sampled one is close
	exp := JensenShannon([]float64{0.5, 0.3, 0.2}, []float64{0.2, 0.3, 0.5})
	if math.Abs(*cat.JS-exp) > 0.02 {
		t.Errorf("cat JS %v, expected about %v", *cat.JS, exp)
	}
	if kind := byName["kind"]; kind.PSI != nil || kind.JS != nil || kind.Drift {
		t.Errorf("retyped column compared: %+v", kind)
	}
	if opt := byName["opt"]; opt.MissingRateFrom != 0 || math.Abs(opt.MissingRateTo-0.1) > 1e-9 {
		t.Errorf("opt missing rates %v -> %v", opt.MissingRateFrom, opt.MissingRateTo)
	}
	if !reflect.DeepEqual(d.Drifted, []string{"x", "cat"}) {
		t.Errorf("drifted %v", d.Drifted)
	}

	// a profile compared with itself does not drift
	self := Compare(a, a)
	if len(self.SchemaChanges) != 0 || len(self.Drifted) != 0 {
		t.Errorf("self diff: %+v", self)
	}
	for _, c := range self.Columns {
		if c.PSI != nil && *c.PSI > 1e-12 || c.JS != nil && *c.JS > 1e-12 {
			t.Errorf("%s: self psi=%v js=%v", c.Name, c.PSI, c.JS)
		}
	}
}

func TestCompareConstantReference(t *testing.T) {
	a := profileOf(t, "a.csv", "v\n5\n5\n5\n5\n")
	same := profileOf(t, "b.csv", "v\n5\n5\n")
	moved := profileOf(t, "c.csv", "v\n5\n6\n7\n4\n")
	if d := Compare(a, same); *d.Columns[0].PSI != 0 || d.Columns[0].Drift {
		t.Errorf("constant, unchanged: %v", *d.Columns[0].PSI)
	}
	d := Compare(a, moved)
	// bins below/equal/above 5: expected [0,1,0] (eps-raised), actual [1/4,1/4,2/4]
	e := []float64{0, 4, 0}
	act := []float64{1, 1, 2}
	if got, want := *d.Columns[0].PSI, PSI(e, act); math.Abs(got-want) > 1e-12 || !d.Columns[0].Drift {
		t.Errorf("constant, moved: psi %v want %v", got, want)
	}
}

// A timestamp column has no drift score, and its range moves with the data.
func TestCompareTimestampRange(t *testing.T) {
	a := profileOf(t, "a.csv", "when\n2024-01-03\n2024-01-01\n2024-01-20\n")
	b := profileOf(t, "b.csv", "when\n2024-02-05T10:00:00Z\n2024-02-01\n")
	d := Compare(a, b)
	if len(d.Columns) != 1 {
		t.Fatalf("columns: %+v", d.Columns)
	}
	c := d.Columns[0]
	day := func(m, d, h int) time.Time { return time.Date(2024, time.Month(m), d, h, 0, 0, 0, time.UTC) }
	if c.TypeFrom != "timestamp" || c.PSI != nil || c.JS != nil || c.Drift || c.MinFrom != nil ||
		c.MinTimeFrom == nil || !c.MinTimeFrom.Equal(day(1, 1, 0)) || !c.MaxTimeFrom.Equal(day(1, 20, 0)) ||
		c.MinTimeTo == nil || !c.MinTimeTo.Equal(day(2, 1, 0)) || !c.MaxTimeTo.Equal(day(2, 5, 10)) {
		t.Fatalf("timestamp column: %+v", c)
	}
}
