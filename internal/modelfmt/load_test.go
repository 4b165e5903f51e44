package modelfmt

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/mlcycle/mlcycle/internal/errs"
	"github.com/mlcycle/mlcycle/internal/frame"
	"github.com/mlcycle/mlcycle/internal/learn"
)

// packageFS renders a model package as an in-memory file system.
func packageFS(t testing.TB, m *Model) fstest.MapFS {
	t.Helper()
	files, err := Files(m, fixedInfo, nil)
	if err != nil {
		t.Fatal(err)
	}
	fsys := fstest.MapFS{}
	for _, f := range files {
		fsys[f.Name] = &fstest.MapFile{Data: f.Data}
	}
	return fsys
}

// editJSON decodes model.json, lets edit change it, and encodes it again.
func editJSON(t *testing.T, data []byte, edit func(map[string]any)) []byte {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	edit(v)
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestLoadBadPackages(t *testing.T) {
	tab := testTable(t, 300, 10)
	g := trainModel(t, tab, AlgoGBDT, learn.Binary)
	l := trainModel(t, tab, AlgoLinear, learn.Binary)
	gm := trainModel(t, tab, AlgoGBDT, learn.Multiclass)
	good := packageFS(t, g)
	mj := good[ModelFile].Data
	mlm := string(good[MLmodelFile].Data)
	linJSON := packageFS(t, l)[ModelFile].Data
	// A gbdt model on a table without "flag": one feature fewer.
	var cols []*frame.TableColumn
	for _, c := range tab.Cols {
		if c.Field.Name != "flag" {
			cols = append(cols, c)
		}
	}
	narrow, err := frame.NewTable(cols...)
	if err != nil {
		t.Fatal(err)
	}
	var fewer map[string]any
	json.Unmarshal(packageFS(t, trainModel(t, narrow, AlgoGBDT, learn.Binary))[ModelFile].Data, &fewer)
	multiJSON := packageFS(t, gm)[ModelFile].Data

	if _, err := LoadFS(good); err != nil {
		t.Fatalf("good package: %v", err)
	}
	with := func(name string, data []byte) fstest.MapFS {
		fsys := fstest.MapFS{}
		for k, v := range good {
			fsys[k] = v
		}
		if data == nil {
			delete(fsys, name)
		} else {
			fsys[name] = &fstest.MapFile{Data: data}
		}
		return fsys
	}
	var lin, multi map[string]any
	json.Unmarshal(linJSON, &lin)
	json.Unmarshal(multiJSON, &multi)

	for _, tc := range []struct {
		name string
		fsys fstest.MapFS
		want string
	}{
		{"no MLmodel", with(MLmodelFile, nil), "no MLmodel file"},
		{"no model.json", with(ModelFile, nil), "model file model.json is missing"},
		{"MLmodel not YAML", with(MLmodelFile, []byte("flavors: [\n")), "parsing MLmodel"},
		{"other flavor only", with(MLmodelFile, []byte("flavors:\n  sklearn:\n    pickled_model: model.pkl\n  python_function:\n    loader_module: mlflow.sklearn\n")), `no "mlcycle" flavor (flavors: [python_function sklearn])`},
		{"no model_file", with(MLmodelFile, []byte(strings.Replace(mlm, "model_file: model.json", "model_file: ''", 1))), "names no model_file"},
		{"model_file escapes", with(MLmodelFile, []byte(strings.Replace(mlm, "model_file: model.json", "model_file: ../model.json", 1))), "not a path inside the package"},
		{"flavor algo disagrees", with(MLmodelFile, []byte(strings.Replace(mlm, "algo: gbdt", "algo: linear", 1))), `says algo "linear"`},
		{"flavor classes disagree", with(MLmodelFile, []byte(strings.Replace(mlm, `- "yes"`, `- "si"`, 1))), "classes"},
		{"signature disagrees", with(MLmodelFile, []byte(strings.Replace(mlm, `{"type": "long", "name": "x2"`, `{"type": "double", "name": "x2"`, 1))), "signature disagrees"},
		{"bad time", with(MLmodelFile, []byte(strings.Replace(mlm, "2026-11-26 10:00:00.123456", "yesterday", 1))), "not a time"},
		{"truncated model.json", with(ModelFile, mj[:len(mj)/2]), "model.json is not valid"},
		{"empty model.json", with(ModelFile, []byte{}), "model.json is not valid"},
		{"model.json not an object", with(ModelFile, []byte(`[1,2]`)), "model.json is not valid"},
		{"wrong format", with(ModelFile, editJSON(t, mj, func(v map[string]any) { v["format"] = "onnx" })), `format "onnx"`},
		{"newer version", with(ModelFile, editJSON(t, mj, func(v map[string]any) { v["version"] = 2 })), "version 2"},
		{"unknown algo", with(ModelFile, editJSON(t, mj, func(v map[string]any) { v["algo"] = "forest" })), `unknown algo "forest"`},
		{"no prep", with(ModelFile, editJSON(t, mj, func(v map[string]any) { delete(v, "prep") })), "no preprocessing"},
		{"no learner", with(ModelFile, editJSON(t, mj, func(v map[string]any) { v["model"] = nil })), "no learner"},
		{"bad prep", with(ModelFile, editJSON(t, mj, func(v map[string]any) { v["prep"] = map[string]any{"format": "x"} })), "preprocessing"},
		{"bad learner", with(ModelFile, editJSON(t, mj, func(v map[string]any) { v["model"] = map[string]any{"format": "mlcycle-gbdt", "version": 1} })), "gbdt model"},
		{"feature count", with(ModelFile, editJSON(t, mj, func(v map[string]any) { v["prep"] = fewer["prep"] })), "the learner takes 5 features, the preprocessing makes 4"},
		{"linear prep for gbdt", with(ModelFile, editJSON(t, mj, func(v map[string]any) { v["prep"] = lin["prep"] })), `needs "trees" preprocessing`},
		{"learner of another algo", with(ModelFile, editJSON(t, mj, func(v map[string]any) { v["model"] = lin["model"] })), "gbdt"},
		{"learner of another task", with(ModelFile, editJSON(t, mj, func(v map[string]any) { v["model"] = multi["model"] })), "task"},
		{"task disagrees", with(ModelFile, editJSON(t, mj, func(v map[string]any) { v["task"] = "regression"; delete(v, "classes") })), "task"},
		{"classes disagree", with(ModelFile, editJSON(t, mj, func(v map[string]any) { v["classes"] = []string{"a", "b"} })), "classes"},
		{"three classes for binary", with(ModelFile, editJSON(t, mj, func(v map[string]any) { v["classes"] = []string{"no", "yes", "maybe"} })), "classes"},
		{"target disagrees", with(ModelFile, editJSON(t, mj, func(v map[string]any) { v["target"] = "other" })), "target"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := LoadFS(tc.fsys)
			if err == nil {
				t.Fatalf("loaded %+v", m)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
			if !errs.Is(err, errs.Invalid) {
				t.Errorf("error %q is %s, want invalid", err, errs.CodeOf(err))
			}
		})
	}
}

func TestLoadDir(t *testing.T) {
	if _, err := Load(filepath.Join(t.TempDir(), "nope")); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing folder: %v", err)
	}
	f := filepath.Join(t.TempDir(), "file")
	os.WriteFile(f, []byte("x"), 0o644)
	if _, err := Load(f); err == nil || !strings.Contains(err.Error(), "not a folder") {
		t.Errorf("file: %v", err)
	}
	if _, err := Load(t.TempDir()); err == nil || !strings.Contains(err.Error(), "no MLmodel file") {
		t.Errorf("empty folder: %v", err)
	}
}

// TestLoadForeignMLmodel reads an MLmodel file as MLflow writes it, with
// other flavors, mlflow_version and fields we do not know, around ours.
func TestLoadForeignMLmodel(t *testing.T) {
	tab := testTable(t, 300, 11)
	m := trainModel(t, tab, AlgoLinear, learn.Regression)
	fsys := packageFS(t, m)
	fsys[MLmodelFile] = &fstest.MapFile{Data: []byte(`artifact_path: model
flavors:
  mlcycle:
    algo: linear
    mlcycle_version: 0.9.0
    model_file: model.json
    task: regression
  python_function:
    loader_module: somewhere
is_signature_from_type_hint: false
mlflow_version: 3.17.2
model_id: null
model_uuid: bcf96664a59e40a096502121ca2ec001
prompts: null
run_id: abc
utc_time_created: '2026-11-26 10:10:03'
`)}
	got, err := LoadFS(fsys)
	if err != nil {
		t.Fatal(err)
	}
	if got.Info.RunID != "abc" || got.Info.MlcycleVersion != "0.9.0" || got.Signature != nil || got.Info.Created.Second() != 3 {
		t.Errorf("info %+v, signature %v", got.Info, got.Signature)
	}
}

// FuzzLoad feeds arbitrary model.json bytes to the loader: it must return
// a model or an error, never panic, and a model it returns must score.
func FuzzLoad(f *testing.F) {
	tab := testTable(f, 200, 12)
	for _, tc := range cases {
		m := trainModel(f, tab, tc.algo, tc.task)
		mj, err := m.MarshalJSON()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(mj)
	}
	mlm := packageFS(f, trainModel(f, tab, AlgoGBDT, learn.Binary))[MLmodelFile].Data
	// A package's MLmodel names the algo, task and classes; the fuzzer varies
	// model.json under a fixed one, and under one that names nothing.
	mlmLoose := []byte("flavors:\n  mlcycle:\n    model_file: model.json\n")
	get := func(name string) (any, bool) {
		switch name {
		case "x1":
			return 0.5, true
		case "color":
			return "red", true
		}
		return nil, false
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Decode(data)
		if err == nil {
			var out Prediction
			if err := m.PredictRow(get, &out); err != nil && !strings.Contains(err.Error(), "input") {
				t.Errorf("a decoded model failed to score: %v", err)
			}
		}
		for _, ml := range [][]byte{mlm, mlmLoose} {
			fsys := fstest.MapFS{MLmodelFile: {Data: ml}, ModelFile: {Data: data}}
			if m, err := LoadFS(fsys); err == nil {
				var out Prediction
				_ = m.PredictRow(get, &out)
				// What loads re-encodes, and the encoding is stable.
				again, err := m.MarshalJSON()
				if err != nil {
					t.Fatalf("re-encoding a loaded model: %v", err)
				}
				m2, err := Decode(again)
				if err != nil {
					t.Fatalf("decoding a re-encoded model: %v", err)
				}
				if third, err := m2.MarshalJSON(); err != nil || !bytes.Equal(third, again) {
					t.Fatalf("encoding is not stable: %v", err)
				}
			}
		}
	})
}
