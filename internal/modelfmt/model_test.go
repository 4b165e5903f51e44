package modelfmt

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mlcycle/mlcycle/internal/errs"
	"github.com/mlcycle/mlcycle/internal/learn"
)

var cases = []struct {
	algo string
	task learn.Task
}{
	{AlgoGBDT, learn.Binary},
	{AlgoGBDT, learn.Multiclass},
	{AlgoGBDT, learn.Regression},
	{AlgoLinear, learn.Binary},
	{AlgoLinear, learn.Multiclass},
	{AlgoLinear, learn.Regression},
}

func readDir(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = b
	}
	return out
}

func TestSaveLoadRoundTrip(t *testing.T) {
	tab := testTable(t, 400, 1)
	ctx := context.Background()
	for _, tc := range cases {
		t.Run(tc.algo+"/"+string(tc.task), func(t *testing.T) {
			m := trainModel(t, tab, tc.algo, tc.task)
			tmp := t.TempDir()
			a, b := filepath.Join(tmp, "a", "model"), filepath.Join(tmp, "b")
			if err := Save(a, m, fixedInfo, tab); err != nil {
				t.Fatal(err)
			}
			if err := Save(b, m, fixedInfo, tab); err != nil {
				t.Fatal(err)
			}
			fa, fb := readDir(t, a), readDir(t, b)
			want := []string{MLmodelFile, InputExampleFile, ModelFile, ServingInputFile}
			if got := slices.Sorted(maps.Keys(fa)); !slices.Equal(got, want) {
				t.Fatalf("files %v, want %v", got, want)
			}
			for name := range fa {
				if !bytes.Equal(fa[name], fb[name]) {
					t.Errorf("%s differs between two saves", name)
				}
			}
			// Saving again over a non-empty folder is refused.
			if err := Save(a, m, fixedInfo, tab); err == nil || !strings.Contains(err.Error(), "not empty") {
				t.Errorf("save over a package: %v", err)
			}

			got, err := Load(a)
			if err != nil {
				t.Fatal(err)
			}
			if got.Task != m.Task || got.Algo != m.Algo || got.Target != m.Target || !slices.Equal(got.Classes, m.Classes) {
				t.Errorf("loaded %s/%s/%s/%v, want %s/%s/%s/%v", got.Algo, got.Task, got.Target, got.Classes, m.Algo, m.Task, m.Target, m.Classes)
			}
			if got.Info.RunID != fixedInfo.RunID || got.Info.ModelUUID != fixedInfo.ModelUUID ||
				!got.Info.Created.Equal(fixedInfo.Created) || got.Info.MlcycleVersion != "1.2.3" || got.Info.ArtifactPath != "model" {
				t.Errorf("info %+v", got.Info)
			}
			// The loaded model encodes to the same bytes.
			mj, err := got.MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(mj, fa[ModelFile]) {
				t.Error("model.json of the loaded model differs from the saved one")
			}
			p1, err := m.PredictTable(ctx, tab)
			if err != nil {
				t.Fatal(err)
			}
			p2, err := got.PredictTable(ctx, tab)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(p1.Values, p2.Values) || !slices.Equal(p1.Probs, p2.Probs) || !slices.Equal(p1.Class, p2.Class) {
				t.Error("the loaded model predicts differently")
			}
		})
	}
}

// TestPredictPathsAgree checks PredictRow, PredictTable, PredictRows,
// PredictRecords and learn.PredictMatrix on the preprocessing's matrix.
func TestPredictPathsAgree(t *testing.T) {
	tab := testTable(t, 2500, 2) // more than two chunks
	ctx := context.Background()
	for _, tc := range cases {
		t.Run(tc.algo+"/"+string(tc.task), func(t *testing.T) {
			m := trainModel(t, tab, tc.algo, tc.task)
			x, err := m.Prep.Matrix(tab)
			if err != nil {
				t.Fatal(err)
			}
			ref := learn.PredictMatrix(m.Predictor, x)
			k := m.Task.Outputs(m.Predictor.NumClass())
			pt, err := m.PredictTable(ctx, tab)
			if err != nil {
				t.Fatal(err)
			}
			if pt.Rows != tab.Rows() {
				t.Fatalf("%d rows, want %d", pt.Rows, tab.Rows())
			}
			// The same rows as MLflow records and as a split frame.
			names := []string{"x1", "x2", "flag", "color", "ts", "unused"}
			recs := make([]map[string]any, tab.Rows())
			rows := &Rows{Columns: names}
			for i := range recs {
				get := rowGetter(tab, i)
				rec := map[string]any{}
				var row []any
				for _, n := range names {
					v, ok := get(n)
					if ok && v != nil {
						rec[n] = v
					}
					row = append(row, v)
				}
				recs[i] = rec
				rows.Data = append(rows.Data, row)
			}
			pr, err := m.PredictRecords(ctx, recs)
			if err != nil {
				t.Fatal(err)
			}
			ps, err := m.PredictRows(ctx, rows)
			if err != nil {
				t.Fatal(err)
			}
			var one, fromTable Prediction
			for i := range tab.Rows() {
				if err := m.PredictRow(rowGetter(tab, i), &one); err != nil {
					t.Fatalf("row %d: %v", i, err)
				}
				pt.Row(i, &fromTable)
				r := ref[i*k : (i+1)*k]
				switch m.Task {
				case learn.Regression:
					if one.Value != r[0] || fromTable.Value != r[0] || pr.Values[i] != r[0] || ps.Values[i] != r[0] {
						t.Fatalf("row %d: row %v, table %v, records %v, split %v, matrix %v", i, one.Value, fromTable.Value, pr.Values[i], ps.Values[i], r[0])
					}
				case learn.Binary:
					if one.Probs[1] != r[0] || fromTable.Probs[1] != r[0] || !near(one.Probs[0], 1-r[0]) {
						t.Fatalf("row %d: row %v, table %v, matrix %v", i, one.Probs, fromTable.Probs, r[0])
					}
				default:
					if !slices.Equal(one.Probs, r) || !slices.Equal(fromTable.Probs, r) {
						t.Fatalf("row %d: row %v, table %v, matrix %v", i, one.Probs, fromTable.Probs, r)
					}
				}
				if m.Task != learn.Regression {
					if one.Label != fromTable.Label || one.Class != fromTable.Class || one.Label != m.Classes[one.Class] ||
						pr.Label(i) != one.Label || ps.Label(i) != one.Label {
						t.Fatalf("row %d: labels %q/%q/%q/%q", i, one.Label, fromTable.Label, pr.Label(i), ps.Label(i))
					}
					if one.Class != argmax(one.Probs) {
						t.Fatalf("row %d: class %d is not the most probable of %v", i, one.Class, one.Probs)
					}
				}
			}
			if !slices.Equal(pr.Probs, pt.Probs) || !slices.Equal(ps.Probs, pt.Probs) || !slices.Equal(pr.Class, pt.Class) {
				t.Error("records / split predictions differ from the table's")
			}
		})
	}
}

func TestPredictErrors(t *testing.T) {
	tab := testTable(t, 200, 3)
	m := trainModel(t, tab, AlgoGBDT, learn.Binary)
	ctx := context.Background()
	var out Prediction
	err := m.PredictRow(func(name string) (any, bool) {
		if name == "x1" {
			return "abc", true
		}
		return nil, false
	}, &out)
	if err == nil || !strings.Contains(err.Error(), `"x1"`) {
		t.Errorf("text for a number: %v", err)
	}
	// An absent column in one row is a missing value.
	if err := m.PredictRow(func(string) (any, bool) { return nil, false }, &out); err != nil {
		t.Errorf("all missing: %v", err)
	}
	if _, err := m.PredictRecords(ctx, []map[string]any{{"x1": 1.0}}); err == nil || !strings.Contains(err.Error(), `"x2"`) {
		t.Errorf("records without a column: %v", err)
	}
	if _, err := m.PredictRows(ctx, &Rows{Columns: []string{"x1"}, Data: [][]any{{1.0}}}); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("rows without a column: %v", err)
	}
	rows := &Rows{Columns: []string{"x1", "x2", "flag", "color", "ts"}, Data: [][]any{{1.0, 2.0, true, "red", 0.0}, {1.0, "x", true, "red", 0.0}}}
	if _, err := m.PredictRows(ctx, rows); err == nil || !strings.Contains(errs.MessageOf(err), `row 1: input "x2"`) || !errs.Is(err, errs.Invalid) {
		t.Errorf("bad value in row 1: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := m.PredictTable(cctx, tab); err == nil {
		t.Error("cancelled context: no error")
	}
	// An incomplete model is refused, not a panic.
	bad := &Model{Task: learn.Binary, Algo: AlgoGBDT, Prep: m.Prep}
	if err := bad.PredictRow(func(string) (any, bool) { return nil, false }, &out); err == nil {
		t.Error("model without a learner: no error")
	}
}

func TestPredictRowConcurrent(t *testing.T) {
	tab := testTable(t, 300, 4)
	m := trainModel(t, tab, AlgoGBDT, learn.Multiclass)
	pt, err := m.PredictTable(context.Background(), tab)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 8)
	for g := range 8 {
		go func() {
			var out Prediction
			for i := g; i < tab.Rows(); i += 3 {
				if err := m.PredictRow(rowGetter(tab, i), &out); err != nil {
					done <- err
					return
				}
				if out.Class != pt.Class[i] {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

func TestNewRejectsMismatch(t *testing.T) {
	tab := testTable(t, 300, 5)
	g := trainModel(t, tab, AlgoGBDT, learn.Binary)
	l := trainModel(t, tab, AlgoLinear, learn.Binary)
	gm := trainModel(t, tab, AlgoGBDT, learn.Multiclass)
	for _, tc := range []struct {
		name string
		m    *Model
		want string
	}{
		{"linear prep, gbdt learner", &Model{Task: learn.Binary, Classes: g.Classes, Target: "y_bin", Algo: AlgoGBDT, Prep: l.Prep, Predictor: g.Predictor}, "preprocessing"},
		{"feature count", &Model{Task: learn.Binary, Classes: g.Classes, Target: "y_bin", Algo: AlgoLinear, Prep: g.Prep, Predictor: l.Predictor}, "features"},
		{"task", &Model{Task: learn.Binary, Classes: g.Classes, Target: "y_bin", Algo: AlgoGBDT, Prep: g.Prep, Predictor: gm.Predictor}, "task"},
		{"algo", &Model{Task: learn.Binary, Classes: g.Classes, Target: "y_bin", Algo: AlgoLinear, Prep: g.Prep, Predictor: g.Predictor}, "algo"},
		{"classes", &Model{Task: learn.Binary, Classes: []string{"a", "b"}, Target: "y_bin", Algo: AlgoGBDT, Prep: g.Prep, Predictor: g.Predictor}, "classes"},
		{"target", &Model{Task: learn.Binary, Classes: g.Classes, Target: "y", Algo: AlgoGBDT, Prep: g.Prep, Predictor: g.Predictor}, "target"},
		{"no learner", &Model{Task: learn.Binary, Classes: g.Classes, Target: "y_bin", Algo: AlgoGBDT, Prep: g.Prep}, "learner"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Save(filepath.Join(t.TempDir(), "m"), tc.m, fixedInfo, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
}

func TestWrite(t *testing.T) {
	tab := testTable(t, 200, 6)
	m := trainModel(t, tab, AlgoLinear, learn.Regression)
	var names []string
	files := map[string][]byte{}
	err := Write(m, fixedInfo, nil, func(name string, r io.Reader) error {
		b, err := io.ReadAll(r)
		names = append(names, name)
		files[name] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(names, []string{ModelFile, MLmodelFile}) {
		t.Errorf("files %v (MLmodel must come last; no example without a table)", names)
	}
	var f map[string]any
	if err := json.Unmarshal(files[ModelFile], &f); err != nil {
		t.Fatal(err)
	}
	if f["format"] != Format || f["version"] != 1.0 || f["algo"] != AlgoLinear || f["task"] != "regression" || f["target"] != "y_reg" {
		t.Errorf("model.json header: %v %v %v %v %v", f["format"], f["version"], f["algo"], f["task"], f["target"])
	}
	if _, ok := f["classes"]; ok {
		t.Error("regression model.json has classes")
	}
	if strings.Contains(string(files[MLmodelFile]), "saved_input_example_info") {
		t.Error("MLmodel declares an input example that was not written")
	}
}
