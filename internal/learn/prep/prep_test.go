package prep

import (
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/mlcycle/mlcycle/internal/errs"
	"github.com/mlcycle/mlcycle/internal/frame"
	"github.com/mlcycle/mlcycle/internal/learn"
)

var nan = math.NaN()

func fld(name string, typ frame.Type, nullable bool) frame.Field {
	return frame.Field{Name: name, Type: typ, Nullable: nullable}
}

func table(t *testing.T, cols ...*frame.TableColumn) *frame.Table {
	t.Helper()
	tb, err := frame.NewTable(cols...)
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

// sameFloats compares with NaN equal to NaN.
func sameFloats(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] && !(math.IsNaN(a[i]) && math.IsNaN(b[i])) {
			return false
		}
	}
	return true
}

// rowsOf returns matrix rows.
func rowsOf(m *learn.Matrix) [][]float64 {
	out := make([][]float64, m.Rows)
	for i := range out {
		out[i] = m.Row(i, nil)
	}
	return out
}

func checkRows(t *testing.T, m *learn.Matrix, want [][]float64) {
	t.Helper()
	got := rowsOf(m)
	if len(got) != len(want) {
		t.Fatalf("%d rows, want %d", len(got), len(want))
	}
	for i := range want {
		if !sameFloats(got[i], want[i]) {
			t.Errorf("row %d = %v, want %v", i, got[i], want[i])
		}
	}
}

// mixed is a small table with every column type and missing values.
func mixed(t *testing.T) *frame.Table {
	return table(t,
		frame.FloatColumn("x", []float64{1, 2, nan, 3}, []bool{false, false, false, false}),
		frame.IntColumn("n", []int64{10, 0, 30, 20}, []bool{false, true, false, false}),
		frame.BoolColumn("b", []bool{true, false, true, true}, nil),
		frame.TimestampColumn("ts", []int64{1_000_000, 2_500_000, 0, 4_000_000}, nil),
		frame.StringColumn("color", []string{"red", "blue", "red", ""}, []bool{false, false, false, true}),
		frame.StringColumn("y", []string{"no", "yes", "yes", "no"}, nil),
	)
}

func TestFitTrees(t *testing.T) {
	tb := mixed(t)
	p, err := Fit(tb, Spec{Target: "y"})
	if err != nil {
		t.Fatal(err)
	}
	if p.Task() != learn.Binary || !reflect.DeepEqual(p.Classes(), []string{"no", "yes"}) || p.Mode() != Trees {
		t.Fatalf("task %s classes %v", p.Task(), p.Classes())
	}
	if got, want := p.Names(), []string{"x", "n", "b", "ts", "color"}; !reflect.DeepEqual(got, want) {
		t.Errorf("names %v", got)
	}
	if got, want := p.Categories(), []int{0, 0, 0, 0, 3}; !reflect.DeepEqual(got, want) {
		t.Errorf("categories %v", got)
	}
	wantInputs := []frame.Field{fld("x", frame.TypeFloat, false), fld("n", frame.TypeInt, true), fld("b", frame.TypeBool, false), fld("ts", frame.TypeTimestamp, false), fld("color", frame.TypeString, true)}
	if !reflect.DeepEqual(p.Inputs(), wantInputs) {
		t.Errorf("inputs %v", p.Inputs())
	}
	m, err := p.Matrix(tb)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(m.Categories, []int{0, 0, 0, 0, 3}) || !reflect.DeepEqual(m.Names, p.Names()) {
		t.Errorf("matrix meta %v %v", m.Names, m.Categories)
	}
	// color codes: blue 0, red 1, other 2; missing NaN.
	checkRows(t, m, [][]float64{
		{1, 10, 1, 1, 1},
		{2, nan, 0, 2.5, 0},
		{nan, 30, 1, 0, 1},
		{3, 20, 1, 4, nan},
	})
	y, err := p.Target(tb)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(y, []float64{0, 1, 1, 0}) {
		t.Errorf("target %v", y)
	}
	// Unseen category -> other; extra columns ignored; types may differ.
	tb2 := table(t,
		frame.StringColumn("color", []string{"green"}, nil),
		frame.StringColumn("x", []string{"4.5"}, nil),
		frame.FloatColumn("n", []float64{7}, nil),
		frame.IntColumn("b", []int64{0}, nil),
		frame.StringColumn("ts", []string{"1970-01-01T00:00:03Z"}, nil),
		frame.IntColumn("extra", []int64{1}, nil),
	)
	m2, err := p.Matrix(tb2)
	if err != nil {
		t.Fatal(err)
	}
	checkRows(t, m2, [][]float64{{4.5, 7, 0, 3, 2}})
	for i := 0; i < m2.Cols; i++ {
		if p.Source(i) != i {
			t.Errorf("source(%d) = %d", i, p.Source(i))
		}
	}
}

func TestFitLinear(t *testing.T) {
	tb := table(t,
		frame.FloatColumn("x", []float64{1, 2, 3, 0}, []bool{false, false, false, true}),
		frame.IntColumn("k", []int64{5, 5, 5, 5}, nil),
		frame.StringColumn("color", []string{"red", "blue", "red", ""}, []bool{false, false, false, true}),
		frame.FloatColumn("y", []float64{0.5, 1.5, 2.5, 3.5}, nil),
	)
	p, err := Fit(tb, Spec{Target: "y", Mode: Linear})
	if err != nil {
		t.Fatal(err)
	}
	if p.Task() != learn.Regression || p.Classes() != nil {
		t.Fatalf("task %s classes %v", p.Task(), p.Classes())
	}
	if got, want := p.Names(), []string{"x", "k", "color=blue", "color=red"}; !reflect.DeepEqual(got, want) {
		t.Errorf("names %v", got)
	}
	if got := []int{p.Source(0), p.Source(1), p.Source(2), p.Source(3)}; !reflect.DeepEqual(got, []int{0, 1, 2, 2}) {
		t.Errorf("sources %v", got)
	}
	m, err := p.Matrix(tb)
	if err != nil {
		t.Fatal(err)
	}
	// x: mean 2, population std sqrt(2/3); the missing value is imputed with
	// the mean, so 0 after standardising. k: std 0, kept as 0. color:
	// missing -> most frequent (red).
	s := math.Sqrt(2.0 / 3)
	checkRows(t, m, [][]float64{
		{-1 / s, 0, 0, 1},
		{0, 0, 1, 0},
		{1 / s, 0, 0, 1},
		{0, 0, 0, 1},
	})
	if !reflect.DeepEqual(m.Categories, []int{0, 0, 0, 0}) {
		t.Errorf("categories %v", m.Categories)
	}
	// Median imputation: x observed {1, 2, 10} -> mean 13/3, median 2.
	tb3 := table(t,
		frame.FloatColumn("x", []float64{1, 2, 10, 0}, []bool{false, false, false, true}),
		frame.FloatColumn("y", []float64{1, 2, 3, 4}, nil),
	)
	p, err = Fit(tb3, Spec{Target: "y", Mode: Linear, Impute: Median})
	if err != nil {
		t.Fatal(err)
	}
	m, err = p.Matrix(tb3)
	if err != nil {
		t.Fatal(err)
	}
	mean := 13.0 / 3
	std := math.Sqrt(((1-mean)*(1-mean) + (2-mean)*(2-mean) + (10-mean)*(10-mean)) / 3)
	want := []float64{(1 - mean) / std, (2 - mean) / std, (10 - mean) / std, (2 - mean) / std}
	if got := m.Col(0); !closeAll(got, want, 1e-12) {
		t.Errorf("median-imputed x = %v, want %v", got, want)
	}
}

func closeAll(a, b []float64, tol float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Abs(a[i]-b[i]) > tol {
			return false
		}
	}
	return true
}

func TestHighCardinality(t *testing.T) {
	vals := []string{"a", "a", "a", "c", "b", "c", "b", "d"}
	tb := table(t,
		frame.StringColumn("s", vals, nil),
		frame.IntColumn("y", []int64{0, 1, 0, 1, 0, 1, 0, 1}, nil),
	)
	// Keep 2: a (3 rows), then b and c tie (2 rows each) -> b by value.
	p, err := Fit(tb, Spec{Target: "y", MaxCategories: 2})
	if err != nil {
		t.Fatal(err)
	}
	m, err := p.Matrix(tb)
	if err != nil {
		t.Fatal(err)
	}
	if m.Categories[0] != 3 || !reflect.DeepEqual(m.Col(0), []float64{0, 0, 0, 2, 1, 2, 1, 2}) {
		t.Errorf("trees codes %v categories %v", m.Col(0), m.Categories)
	}
	p, err = Fit(tb, Spec{Target: "y", MaxCategories: 2, Mode: Linear})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(p.Names(), []string{"s=a", "s=b"}) {
		t.Errorf("names %v", p.Names())
	}
	m, err = p.Matrix(tb)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(m.Col(0), []float64{1, 1, 1, 0, 0, 0, 0, 0}) || !reflect.DeepEqual(m.Col(1), []float64{0, 0, 0, 0, 1, 0, 1, 0}) {
		t.Errorf("one-hot %v %v", m.Col(0), m.Col(1))
	}
	// Defaults: 255 for trees, 50 for linear.
	many := make([]string, 300)
	ys := make([]int64, 300)
	for i := range many {
		many[i] = string(rune('A'+i%60)) + string(rune('a'+i/60))
		ys[i] = int64(i % 2)
	}
	tb = table(t, frame.StringColumn("s", many, nil), frame.IntColumn("y", ys, nil))
	for _, c := range []struct {
		mode Mode
		want int
	}{{Trees, 1}, {Linear, 50}} {
		p, err := Fit(tb, Spec{Target: "y", Mode: c.mode})
		if err != nil {
			t.Fatal(err)
		}
		if p.Width() != c.want {
			t.Errorf("%s: width %d, want %d", c.mode, p.Width(), c.want)
		}
		if c.mode == Trees && p.Categories()[0] != 256 {
			t.Errorf("trees categories %d, want 256", p.Categories()[0])
		}
	}
}

func TestTaskAndClasses(t *testing.T) {
	x := func(n int) *frame.TableColumn {
		v := make([]float64, n)
		for i := range v {
			v[i] = float64(i)
		}
		return frame.FloatColumn("x", v, nil)
	}
	cases := []struct {
		name    string
		target  *frame.TableColumn
		task    learn.Task
		want    learn.Task
		classes []string
	}{
		{"strings 2", frame.StringColumn("y", []string{"b", "a", "b"}, nil), "", learn.Binary, []string{"a", "b"}},
		{"strings 3", frame.StringColumn("y", []string{"b", "a", "c"}, nil), "", learn.Multiclass, []string{"a", "b", "c"}},
		{"yes/no mixed case", frame.StringColumn("y", []string{"Yes", "no", "Yes"}, nil), "", learn.Binary, []string{"no", "Yes"}},
		{"TRUE/false", frame.StringColumn("y", []string{"TRUE", "false", "TRUE"}, nil), "", learn.Binary, []string{"false", "TRUE"}},
		{"pos/neg", frame.StringColumn("y", []string{"pos", "neg", "pos"}, nil), "", learn.Binary, []string{"neg", "pos"}},
		{"spam/ham", frame.StringColumn("y", []string{"spam", "ham", "ham"}, nil), "", learn.Binary, []string{"ham", "spam"}},
		{"bool", frame.BoolColumn("y", []bool{true, false, true}, nil), "", learn.Binary, []string{"false", "true"}},
		{"int 2", frame.IntColumn("y", []int64{1, 0, 1}, nil), "", learn.Binary, []string{"0", "1"}},
		{"int -1/1", frame.IntColumn("y", []int64{1, -1, 1}, nil), "", learn.Binary, []string{"-1", "1"}},
		{"int 3", frame.IntColumn("y", []int64{1, 2, 3}, nil), "", learn.Regression, nil},
		{"int 3 multiclass", frame.IntColumn("y", []int64{10, 2, 1}, nil), learn.Multiclass, learn.Multiclass, []string{"1", "2", "10"}},
		{"float whole 0/1", frame.FloatColumn("y", []float64{0, 1, 1}, nil), "", learn.Binary, []string{"0", "1"}},
		{"float 2 values", frame.FloatColumn("y", []float64{0.5, 1, 1}, nil), "", learn.Regression, nil},
		{"numeric text regression", frame.StringColumn("y", []string{"1.5", "2", "3"}, nil), learn.Regression, learn.Regression, nil},
		{"strings 2 as multiclass", frame.StringColumn("y", []string{"b", "a", "b"}, nil), learn.Multiclass, learn.Multiclass, []string{"a", "b"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tb := table(t, x(3), c.target)
			p, err := Fit(tb, Spec{Target: "y", Task: c.task})
			if err != nil {
				t.Fatal(err)
			}
			if p.Task() != c.want || !reflect.DeepEqual(p.Classes(), c.classes) {
				t.Errorf("task %s classes %q; want %s %q", p.Task(), p.Classes(), c.want, c.classes)
			}
			y, err := p.Target(tb)
			if err != nil {
				t.Fatal(err)
			}
			for i, v := range y {
				if c.classes != nil && p.Classes()[int(v)] != c.target.Str(i) {
					t.Errorf("row %d: index %v is %q, value %q", i, v, p.Classes()[int(v)], c.target.Str(i))
				}
			}
		})
	}
}

func TestFitErrors(t *testing.T) {
	x := frame.FloatColumn("x", []float64{1, 2, 3}, nil)
	y := frame.StringColumn("y", []string{"a", "b", "a"}, nil)
	cases := []struct {
		name string
		cols []*frame.TableColumn
		spec Spec
		want string
	}{
		{"no target", []*frame.TableColumn{x, y}, Spec{}, "no target column given"},
		{"target not found", []*frame.TableColumn{x, y}, Spec{Target: "label"}, `target column "label" not found (available: "x", "y")`},
		{"target constant", []*frame.TableColumn{x, frame.StringColumn("y", []string{"a", "a", "a"}, nil)}, Spec{Target: "y"}, `target column "y" is constant (every row is "a"); nothing to learn`},
		{"target all missing", []*frame.TableColumn{x, frame.StringColumn("y", []string{"", "", ""}, []bool{true, true, true})}, Spec{Target: "y"}, `target column "y" has no values (every row is missing)`},
		{"target partly missing", []*frame.TableColumn{x, frame.StringColumn("y", []string{"a", "", "b"}, []bool{false, true, false})}, Spec{Target: "y"}, `target column "y" is missing in 1 row(s) (first: row 2); drop or fill them before training`},
		{"target NaN", []*frame.TableColumn{x, frame.FloatColumn("y", []float64{1, nan, 2}, nil)}, Spec{Target: "y"}, `target column "y" is missing in 1 row(s) (first: row 2)`},
		{"target Inf", []*frame.TableColumn{x, frame.FloatColumn("y", []float64{1, math.Inf(1), 2}, nil)}, Spec{Target: "y"}, `target: column "y", row 2: infinite value +Inf`},
		{"feature all missing", []*frame.TableColumn{frame.FloatColumn("x", []float64{0, 0, 0}, []bool{true, true, true}), y}, Spec{Target: "y"}, `feature column "x" has no values (every row is missing)`},
		{"feature all NaN", []*frame.TableColumn{frame.FloatColumn("x", []float64{nan, nan, nan}, nil), y}, Spec{Target: "y"}, `feature column "x" has no values (every row is missing or NaN)`},
		{"feature Inf", []*frame.TableColumn{frame.FloatColumn("x", []float64{1, 2, math.Inf(-1)}, nil), y}, Spec{Target: "y"}, `column "x", row 3: infinite value -Inf`},
		{"feature is target", []*frame.TableColumn{x, y}, Spec{Target: "y", Features: []string{"x", "y"}}, `feature "y" is the target column`},
		{"feature twice", []*frame.TableColumn{x, y}, Spec{Target: "y", Features: []string{"x", "x"}}, `feature "x" is listed twice`},
		{"feature not found", []*frame.TableColumn{x, y}, Spec{Target: "y", Features: []string{"z"}}, `feature column "z" not found (available: "x", "y")`},
		{"no features", []*frame.TableColumn{x, y}, Spec{Target: "y", Exclude: []string{"x"}}, `no feature columns left`},
		{"exclude unknown", []*frame.TableColumn{x, y}, Spec{Target: "y", Exclude: []string{"q"}}, `excluded column "q" not found`},
		{"text in numeric", []*frame.TableColumn{frame.StringColumn("s", []string{"1", "abc", "2"}, nil), y}, Spec{Target: "y", Numeric: []string{"s"}}, `column "s", row 2: "abc" is not a number`},
		{"numeric not a feature", []*frame.TableColumn{x, y}, Spec{Target: "y", Numeric: []string{"y"}}, `declared column "y" is not a feature`},
		{"numeric unknown", []*frame.TableColumn{x, y}, Spec{Target: "y", Numeric: []string{"q"}}, `declared column "q" not found`},
		{"numeric and categorical", []*frame.TableColumn{x, y}, Spec{Target: "y", Numeric: []string{"x"}, Categorical: []string{"x"}}, `column "x" is declared both numeric and categorical`},
		{"binary with 3 classes", []*frame.TableColumn{x, frame.StringColumn("y", []string{"a", "b", "c"}, nil)}, Spec{Target: "y", Task: learn.Binary}, `target column "y" has more than 2 classes; a binary task needs exactly 2`},
		{"regression on text", []*frame.TableColumn{x, y}, Spec{Target: "y", Task: learn.Regression}, `target: column "y", row 1: "a" is not a number`},
		{"regression on bool", []*frame.TableColumn{x, frame.BoolColumn("y", []bool{true, false, true}, nil)}, Spec{Target: "y", Task: learn.Regression}, `regression needs numbers`},
		{"bad task", []*frame.TableColumn{x, y}, Spec{Target: "y", Task: "ranking"}, `unknown task "ranking"`},
		{"bad mode", []*frame.TableColumn{x, y}, Spec{Target: "y", Mode: "deep"}, `unknown preprocessing mode "deep"`},
		{"bad impute", []*frame.TableColumn{x, y}, Spec{Target: "y", Impute: "mode"}, `unknown imputation "mode"`},
		{"bad max categories", []*frame.TableColumn{x, y}, Spec{Target: "y", MaxCategories: -1}, `max categories is -1`},
		{"empty table", []*frame.TableColumn{frame.FloatColumn("x", nil, nil), frame.StringColumn("y", nil, nil)}, Spec{Target: "y"}, `the training table has no rows`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Fit(table(t, c.cols...), c.spec)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want %q", err, c.want)
			}
			if errs.CodeOf(err) != errs.Invalid {
				t.Errorf("error kind %s, want invalid", errs.CodeOf(err))
			}
		})
	}
}

func TestApplyErrors(t *testing.T) {
	p, err := Fit(mixed(t), Spec{Target: "y"})
	if err != nil {
		t.Fatal(err)
	}
	tb := mixed(t)
	cases := []struct {
		name string
		tb   *frame.Table
		want string
	}{
		{"input missing", tb.Take([]int{0}), ""},
		{"no color", table(t, frame.FloatColumn("x", []float64{1}, nil)), `input column "n" is missing`},
		{"text in numeric", table(t,
			frame.StringColumn("x", []string{"1", "two"}, nil), frame.IntColumn("n", []int64{1, 2}, nil),
			frame.BoolColumn("b", []bool{true, false}, nil), frame.IntColumn("ts", []int64{1, 2}, nil),
			frame.StringColumn("color", []string{"a", "b"}, nil)), `column "x", row 2: "two" is not a number`},
		{"inf", table(t,
			frame.FloatColumn("x", []float64{1, math.Inf(1)}, nil), frame.IntColumn("n", []int64{1, 2}, nil),
			frame.BoolColumn("b", []bool{true, false}, nil), frame.IntColumn("ts", []int64{1, 2}, nil),
			frame.StringColumn("color", []string{"a", "b"}, nil)), `column "x", row 2: infinite value +Inf`},
	}
	for _, c := range cases {
		_, err := p.Matrix(c.tb)
		if c.want == "" {
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.name, err, c.want)
		}
	}
	unseen := table(t, frame.StringColumn("y", []string{"no", "maybe"}, nil))
	if _, err := p.Target(unseen); err == nil || err.Error() != `target column "y", row 2: class "maybe" was not seen in training (known: no, yes)` {
		t.Errorf("unseen class: %v", err)
	}
	if _, err := p.Target(table(t, frame.StringColumn("z", []string{"no"}, nil))); err == nil || !strings.Contains(err.Error(), `target column "y" is missing`) {
		t.Errorf("no target: %v", err)
	}
}

// rowGetter returns a TransformRow getter over row i of tb, with JSON-like
// values: numbers as float64, timestamps as RFC 3339 text.
func rowGetter(tb *frame.Table, i int) func(string) (any, bool) {
	return func(name string) (any, bool) {
		c, err := tb.Column(name)
		if err != nil {
			return nil, false
		}
		if c.IsNull(i) {
			return nil, true
		}
		switch c.Field.Type {
		case frame.TypeFloat, frame.TypeInt:
			v, _ := c.Float(i)
			return v, true
		case frame.TypeBool:
			return c.Bools[i], true
		}
		return c.Str(i), true
	}
}

func TestTransformRowMatchesMatrix(t *testing.T) {
	tb := mixed(t)
	for _, mode := range []Mode{Trees, Linear} {
		p, err := Fit(tb, Spec{Target: "y", Mode: mode})
		if err != nil {
			t.Fatal(err)
		}
		m, err := p.Matrix(tb)
		if err != nil {
			t.Fatal(err)
		}
		var dst []float64
		for i := range tb.Rows() {
			dst, err = p.TransformRow(rowGetter(tb, i), dst)
			if err != nil {
				t.Fatal(err)
			}
			if want := m.Row(i, nil); !sameFloats(dst, want) {
				t.Errorf("%s row %d: TransformRow %v, Matrix %v", mode, i, dst, want)
			}
			vals := make([]any, len(p.Inputs()))
			for j, f := range p.Inputs() {
				vals[j], _ = rowGetter(tb, i)(f.Name)
			}
			got, err := p.TransformValues(vals, nil)
			if err != nil || !sameFloats(got, dst) {
				t.Errorf("%s row %d: TransformValues %v, %v", mode, i, got, err)
			}
		}
	}
}

func TestTransformRowValues(t *testing.T) {
	p, err := Fit(mixed(t), Spec{Target: "y", Mode: Trees})
	if err != nil {
		t.Fatal(err)
	}
	row := func(vals map[string]any) ([]float64, error) {
		return p.TransformRow(func(name string) (any, bool) { v, ok := vals[name]; return v, ok }, nil)
	}
	got, err := row(map[string]any{"x": "2.5", "n": json.Number("7"), "b": false, "ts": 3.0, "color": "purple"})
	if err != nil {
		t.Fatal(err)
	}
	if !sameFloats(got, []float64{2.5, 7, 0, 3, 2}) {
		t.Errorf("values %v", got)
	}
	got, err = row(map[string]any{"x": nil, "n": 3})
	if err != nil || !sameFloats(got, []float64{nan, 3, nan, nan, nan}) {
		t.Errorf("missing: %v %v", got, err)
	}
	bad := []struct {
		vals map[string]any
		want string
	}{
		{map[string]any{"x": "abc"}, `input "x": "abc" is not a number`},
		{map[string]any{"x": []int{1}}, `input "x": want a number, got []int`},
		{map[string]any{"x": math.Inf(1)}, `input "x": infinite value`},
		{map[string]any{"color": map[string]any{}}, `input "color": want a string, got map[string]interface {}`},
	}
	for _, c := range bad {
		if _, err := row(c.vals); err == nil || err.Error() != c.want {
			t.Errorf("%v: error %v, want %q", c.vals, err, c.want)
		}
	}
	if _, err := p.TransformValues([]any{1.0}, nil); err == nil {
		t.Error("short values accepted")
	}
}

func TestTransformRowAllocs(t *testing.T) {
	for _, mode := range []Mode{Trees, Linear} {
		p, err := Fit(mixed(t), Spec{Target: "y", Mode: mode})
		if err != nil {
			t.Fatal(err)
		}
		vals := []any{1.5, 3.0, true, "2020-01-01T00:00:00Z", "red"}
		names := []string{"x", "n", "b", "ts", "color"}
		get := func(name string) (any, bool) {
			for i, n := range names {
				if n == name {
					return vals[i], true
				}
			}
			return nil, false
		}
		dst := make([]float64, p.Width())
		if a := testing.AllocsPerRun(100, func() { dst, _ = p.TransformRow(get, dst) }); a != 0 {
			t.Errorf("%s: %v allocations per row", mode, a)
		}
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	tb := mixed(t)
	specs := []Spec{
		{Target: "y"},
		{Target: "y", Mode: Linear},
		{Target: "y", Mode: Linear, Impute: Median, MaxCategories: 1},
		{Target: "n", Features: []string{"x", "color", "b"}, Mode: Linear},
	}
	for _, spec := range specs {
		tb := tb
		if spec.Target == "n" {
			tb = tb.Take([]int{0, 2, 3})
		}
		p, err := Fit(tb, spec)
		if err != nil {
			t.Fatal(err)
		}
		b1, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		q, err := Unmarshal(b1)
		if err != nil {
			t.Fatalf("%s: %v", b1, err)
		}
		b2, _ := json.Marshal(q)
		if string(b1) != string(b2) {
			t.Errorf("bytes differ:\n%s\n%s", b1, b2)
		}
		m1, err := p.Matrix(tb)
		if err != nil {
			t.Fatal(err)
		}
		m2, err := q.Matrix(tb)
		if err != nil {
			t.Fatal(err)
		}
		if !sameFloats(m1.Data, m2.Data) || !reflect.DeepEqual(m1.Names, m2.Names) || !reflect.DeepEqual(m1.Categories, m2.Categories) {
			t.Errorf("matrices differ")
		}
		if q.Task() != p.Task() || !reflect.DeepEqual(q.Classes(), p.Classes()) || !reflect.DeepEqual(q.Inputs(), p.Inputs()) || q.TargetField() != p.TargetField() {
			t.Errorf("metadata differs")
		}
	}
}

func TestUnmarshalRejects(t *testing.T) {
	good := `{"format":"mlcycle-prep/1","mode":"trees","task":"binary","target":{"name":"y","type":"string","nullable":false},"classes":["a","b"],"inputs":[{"name":"x","type":"float","nullable":false,"numeric":{"fill":0,"mean":0,"std":0}},{"name":"c","type":"string","nullable":false,"categorical":{"values":["p","q"],"fill":1}}]}`
	if _, err := Unmarshal([]byte(good)); err != nil {
		t.Fatalf("good: %v", err)
	}
	bad := map[string]string{
		"format":          strings.Replace(good, "mlcycle-prep/1", "mlcycle-prep/9", 1),
		"mode":            strings.Replace(good, `"trees"`, `"deep"`, 1),
		"task":            strings.Replace(good, `"binary"`, `"ranking"`, 1),
		"binary classes":  strings.Replace(good, `["a","b"]`, `["a"]`, 1),
		"dup classes":     strings.Replace(good, `["a","b"]`, `["a","a"]`, 1),
		"regression":      strings.Replace(good, `"binary"`, `"regression"`, 1),
		"target type":     strings.Replace(good, `"type":"string","nullable":false},"classes"`, `"type":"blob","nullable":false},"classes"`, 1),
		"no target":       strings.Replace(good, `"name":"y"`, `"name":""`, 1),
		"input is target": strings.Replace(good, `"name":"x"`, `"name":"y"`, 1),
		"dup input":       strings.Replace(good, `"name":"c"`, `"name":"x"`, 1),
		"input type":      strings.Replace(good, `"type":"float"`, `"type":"null"`, 1),
		"neg std":         strings.Replace(good, `"std":0`, `"std":-1`, 1),
		"both kinds":      strings.Replace(good, `"numeric":{"fill":0,"mean":0,"std":0}`, `"numeric":{"fill":0,"mean":0,"std":0},"categorical":{"values":["p"],"fill":0}`, 1),
		"neither kind":    strings.Replace(good, `,"numeric":{"fill":0,"mean":0,"std":0}`, ``, 1),
		"fill range":      strings.Replace(good, `"fill":1}`, `"fill":2}`, 1),
		"no values":       strings.Replace(good, `["p","q"]`, `[]`, 1),
		"dup values":      strings.Replace(good, `["p","q"]`, `["p","p"]`, 1),
		"no inputs":       good[:strings.Index(good, `"inputs"`)] + `"inputs":[]}`,
		"unknown field":   strings.Replace(good, `"mode"`, `"extra":1,"mode"`, 1),
		"trailing":        good + `{}`,
		"not json":        `{"format":`,
		"empty":           ``,
		"null":            `null`,
	}
	for name, s := range bad {
		if _, err := Unmarshal([]byte(s)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func FuzzUnmarshal(f *testing.F) {
	tb := table(&testing.T{},
		frame.FloatColumn("x", []float64{1, 2, 3}, nil),
		frame.StringColumn("c", []string{"a", "b", "a"}, nil),
		frame.StringColumn("y", []string{"u", "v", "w"}, nil),
	)
	for _, mode := range []Mode{Trees, Linear} {
		p, err := Fit(tb, Spec{Target: "y", Mode: mode})
		if err != nil {
			f.Fatal(err)
		}
		b, _ := json.Marshal(p)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Unmarshal(data)
		if err != nil {
			return
		}
		// Whatever loads must work on a row.
		if _, err := p.TransformRow(func(string) (any, bool) { return "1", true }, nil); err != nil {
			return
		}
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Unmarshal(b); err != nil {
			t.Fatalf("re-read: %v", err)
		}
	})
}

func TestEmbeddedJSON(t *testing.T) {
	p, err := Fit(mixed(t), Spec{Target: "y"})
	if err != nil {
		t.Fatal(err)
	}
	type doc struct {
		Prep *Prep `json:"prep"`
	}
	b, err := json.Marshal(doc{p})
	if err != nil {
		t.Fatal(err)
	}
	var d doc
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	if k, ok := d.Prep.ClassIndex("yes"); !ok || k != 1 || !reflect.DeepEqual(d.Prep.Names(), p.Names()) {
		t.Errorf("embedded prep: %v %v %v", k, ok, d.Prep.Names())
	}
	if err := json.Unmarshal([]byte(`{"prep":{"format":"x"}}`), &d); err == nil {
		t.Error("bad embedded prep accepted")
	}
}

func BenchmarkTransformRow(b *testing.B) {
	const n, cols = 1000, 28
	var tcs []*frame.TableColumn
	names := make([]string, cols+1)
	vals := make([]any, cols+1)
	for j := range cols {
		v := make([]float64, n)
		for i := range v {
			v[i] = float64(i*j%97) / 7
		}
		names[j] = "f" + string(rune('a'+j%26)) + string(rune('a'+j/26))
		vals[j] = float64(j)
		tcs = append(tcs, frame.FloatColumn(names[j], v, nil))
	}
	cat := make([]string, n)
	y := make([]int64, n)
	for i := range cat {
		cat[i] = string(rune('a' + i%20))
		y[i] = int64(i % 2)
	}
	names[cols], vals[cols] = "cat", "q"
	tcs = append(tcs, frame.StringColumn("cat", cat, nil), frame.IntColumn("y", y, nil))
	tb, err := frame.NewTable(tcs...)
	if err != nil {
		b.Fatal(err)
	}
	for _, mode := range []Mode{Trees, Linear} {
		p, err := Fit(tb, Spec{Target: "y", Mode: mode})
		if err != nil {
			b.Fatal(err)
		}
		b.Run(string(mode), func(b *testing.B) {
			dst := make([]float64, p.Width())
			idx := make(map[string]int, len(names))
			for i, nm := range names {
				idx[nm] = i
			}
			get := func(name string) (any, bool) {
				i, ok := idx[name]
				if !ok {
					return nil, false
				}
				return vals[i], true
			}
			for b.Loop() {
				dst, _ = p.TransformRow(get, dst)
			}
		})
	}
}
