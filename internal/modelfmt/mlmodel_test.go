package modelfmt

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/mlcycle/mlcycle/internal/frame"
	"github.com/mlcycle/mlcycle/internal/learn"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// TestMLmodelGolden pins the MLmodel file byte for byte. Regenerate with
// go test ./internal/modelfmt -run TestMLmodelGolden -update (and check the
// result with the mlflow client: see the package README in the report).
func TestMLmodelGolden(t *testing.T) {
	tab := testTable(t, 300, 7)
	for _, tc := range []struct {
		algo string
		task learn.Task
	}{{AlgoGBDT, learn.Multiclass}, {AlgoLinear, learn.Regression}} {
		t.Run(tc.algo+"/"+string(tc.task), func(t *testing.T) {
			m := trainModel(t, tab, tc.algo, tc.task)
			dir := filepath.Join(t.TempDir(), "model")
			if err := Save(dir, m, fixedInfo, tab); err != nil {
				t.Fatal(err)
			}
			for _, name := range []string{MLmodelFile, InputExampleFile} {
				got, err := os.ReadFile(filepath.Join(dir, name))
				if err != nil {
					t.Fatal(err)
				}
				golden := filepath.Join("testdata", tc.algo+"-"+string(tc.task)+"."+name+".golden")
				if *update {
					if err := os.WriteFile(golden, got, 0o644); err != nil {
						t.Fatal(err)
					}
				}
				want, err := os.ReadFile(golden)
				if err != nil {
					t.Fatal(err)
				}
				if string(got) != string(want) {
					t.Errorf("%s differs from %s:\n%s", name, golden, got)
				}
			}
		})
	}
}

// TestMLmodelShape parses the MLmodel file back as generic YAML and checks
// the fields and types MLflow's loader reads.
func TestMLmodelShape(t *testing.T) {
	tab := testTable(t, 300, 8)
	m := trainModel(t, tab, AlgoGBDT, learn.Binary)
	files, err := Files(m, fixedInfo, tab)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(files[len(files)-1].Data, &doc); err != nil {
		t.Fatal(err)
	}
	if doc["artifact_path"] != "model" || doc["run_id"] != fixedInfo.RunID || doc["model_uuid"] != fixedInfo.ModelUUID {
		t.Errorf("ids: %v %v %v", doc["artifact_path"], doc["run_id"], doc["model_uuid"])
	}
	// A string, not a YAML timestamp: Python's yaml would otherwise load a
	// datetime.
	if doc["utc_time_created"] != "2026-11-26 10:00:00.123456" {
		t.Errorf("utc_time_created %#v", doc["utc_time_created"])
	}
	if _, ok := doc["mlflow_version"]; ok {
		t.Error("mlflow_version is set; no MLflow wrote this model")
	}
	fl := doc["flavors"].(map[string]any)["mlcycle"].(map[string]any)
	if fl["model_file"] != "model.json" || fl["algo"] != "gbdt" || fl["task"] != "binary" || fl["mlcycle_version"] != "1.2.3" {
		t.Errorf("flavor %v", fl)
	}
	if cl := fl["classes"].([]any); len(cl) != 2 || cl[0] != "no" || cl[1] != "yes" {
		t.Errorf("classes %v", cl)
	}
	ex := doc["saved_input_example_info"].(map[string]any)
	if ex["artifact_path"] != InputExampleFile || ex["type"] != "dataframe" || ex["pandas_orient"] != "split" || ex["serving_input_path"] != ServingInputFile {
		t.Errorf("saved_input_example_info %v", ex)
	}
	sig := doc["signature"].(map[string]any)
	if v, ok := sig["params"]; !ok || v != nil {
		t.Errorf("signature params %v, want null", v)
	}
	var inputs []map[string]any
	if err := json.Unmarshal([]byte(sig["inputs"].(string)), &inputs); err != nil {
		t.Fatal(err)
	}
	want := [][2]string{{"x1", "double"}, {"x2", "long"}, {"flag", "boolean"}, {"color", "string"}, {"ts", "datetime"}}
	if len(inputs) != len(want) {
		t.Fatalf("inputs %v", inputs)
	}
	for i, w := range want {
		if inputs[i]["name"] != w[0] || inputs[i]["type"] != w[1] || inputs[i]["required"] != true {
			t.Errorf("input %d: %v, want %v", i, inputs[i], w)
		}
	}
	if got := sig["outputs"]; got != `[{"type": "string", "name": "label", "required": true}, {"type": "array", "items": {"type": "double"}, "name": "probabilities", "required": true}]` {
		t.Errorf("outputs %v", got)
	}
}

func TestSchemaJSON(t *testing.T) {
	cols := []Column{
		{Name: "a", Type: TypeDouble, Required: true},
		{Name: "é \"q\"\n\x01😀<>&", Type: TypeString, Required: false},
	}
	got := schemaJSON(cols)
	// What Python's json.dumps writes for the same list.
	want := `[{"type": "double", "name": "a", "required": true}, {"type": "string", "name": "\u00e9 \"q\"\n\u0001\ud83d\ude00<>&", "required": false}]`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	back, err := parseSchema(got)
	if err != nil {
		t.Fatal(err)
	}
	if len(back) != 2 || back[1] != cols[1] || back[0] != cols[0] {
		t.Errorf("parsed back %+v", back)
	}
	// MLflow leaves out name for unnamed columns and required defaults to true.
	back, err = parseSchema(`[{"type": "long"}]`)
	if err != nil || len(back) != 1 || back[0] != (Column{Type: TypeLong, Required: true}) {
		t.Errorf("unnamed column: %+v, %v", back, err)
	}
	for _, bad := range []string{`{}`, `[{"name": "a"}]`, `[{"type": "array", "name": "a"}]`, `[`} {
		if _, err := parseSchema(bad); err == nil {
			t.Errorf("parseSchema(%s): no error", bad)
		}
	}
}

func TestPythonTime(t *testing.T) {
	for _, tc := range []struct {
		t    time.Time
		want string
	}{
		{time.Date(2026, 1, 2, 3, 4, 5, 600000000, time.UTC), "2026-01-02 03:04:05.600000"},
		{time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), "2026-01-02 03:04:05"},
		{time.Date(2026, 1, 2, 3, 4, 5, 999, time.FixedZone("x", 3600)), "2026-01-02 02:04:05"},
	} {
		if got := pythonTime(tc.t); got != tc.want {
			t.Errorf("pythonTime(%v) = %q, want %q", tc.t, got, tc.want)
		}
		back, err := parsePythonTime(tc.want)
		if err != nil || !back.Equal(tc.t.Truncate(time.Microsecond)) {
			t.Errorf("parsePythonTime(%q) = %v, %v", tc.want, back, err)
		}
	}
}

func TestInputExample(t *testing.T) {
	tab := testTable(t, 30, 9)
	m := trainModel(t, tab, AlgoLinear, learn.Multiclass)
	files, err := Files(m, fixedInfo, tab)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string][]byte{}
	for _, f := range files {
		byName[f.Name] = f.Data
	}
	var ex struct {
		Columns []string `json:"columns"`
		Data    [][]any  `json:"data"`
	}
	if err := json.Unmarshal(byName[InputExampleFile], &ex); err != nil {
		t.Fatal(err)
	}
	if strings.Join(ex.Columns, ",") != "x1,x2,flag,color,ts" {
		t.Errorf("columns %v (inputs only, in input order)", ex.Columns)
	}
	if len(ex.Data) != ExampleRows {
		t.Fatalf("%d rows, want %d", len(ex.Data), ExampleRows)
	}
	for i, r := range ex.Data {
		if len(r) != len(ex.Columns) {
			t.Fatalf("row %d has %d values", i, len(r))
		}
	}
	// Row 3 has x1 missing (see testTable).
	if ex.Data[3][0] != nil {
		t.Errorf("missing x1 written as %v", ex.Data[3][0])
	}
	if _, ok := ex.Data[0][4].(string); !ok {
		t.Errorf("timestamp written as %T", ex.Data[0][4])
	}
	// The example scores, through the MLflow request path.
	rows, err := DecodeRequest(byName[ServingInputFile])
	if err != nil {
		t.Fatal(err)
	}
	p, err := m.PredictRows(t.Context(), rows)
	if err != nil {
		t.Fatal(err)
	}
	want, err := m.PredictTable(t.Context(), tab.Take([]int{0, 1, 2, 3, 4}))
	if err != nil {
		t.Fatal(err)
	}
	for i := range ExampleRows {
		for k := range m.Classes {
			a, b := p.Probs[i*len(m.Classes)+k], want.Probs[i*len(m.Classes)+k]
			if !near(a, b) {
				t.Errorf("example row %d class %d: %v, table %v", i, k, a, b)
			}
		}
	}
	// A table without an input column cannot give an example.
	short, err := frame.NewTable(frame.FloatColumn("x1", []float64{1}, nil))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Files(m, fixedInfo, short); err == nil || !strings.Contains(err.Error(), `"x2"`) {
		t.Errorf("example without x2: %v", err)
	}
}

func TestAppendFloat(t *testing.T) {
	for f, want := range map[float64]string{1: "1.0", -2.5: "-2.5", 1e21: "1e+21", 1e-7: "1e-07", 0: "0.0"} {
		if got := string(appendFloat(nil, f)); got != want {
			t.Errorf("appendFloat(%v) = %s, want %s", f, got, want)
		}
	}
}
