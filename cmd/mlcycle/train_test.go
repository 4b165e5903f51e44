package main_test

// End-to-end tests of `mlcycle train` and `mlcycle predict` with the real
// binary, on SQLite and PostgreSQL: locally on the database and through a
// server.

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/mlcycle/mlcycle/client"
	"github.com/mlcycle/mlcycle/internal/frame"
	"github.com/mlcycle/mlcycle/internal/modelfmt"
)

// writeBinaryCSV writes a binary classification table: y depends on x1, x2
// and a categorical column; grp is a sensitive column.
func writeBinaryCSV(t *testing.T, p string, rows int) {
	t.Helper()
	r := rand.New(rand.NewPCG(1, 2))
	var b strings.Builder
	b.WriteString("x1,x2,color,grp,y\n")
	colors := []string{"red", "green", "blue"}
	for range rows {
		x1, x2 := r.NormFloat64(), r.NormFloat64()
		c := colors[r.IntN(3)]
		z := 1.5*x1 - 2*x2 + r.NormFloat64()*0.5
		if c == "red" {
			z += 0.8
		}
		y := "no"
		if z > 0 {
			y = "yes"
		}
		fmt.Fprintf(&b, "%.4f,%.4f,%s,%s,%s\n", x1, x2, c, []string{"a", "b"}[r.IntN(2)], y)
	}
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// mustRun runs the binary and fails the test unless it exits 0.
func mustRun(t *testing.T, args ...string) (string, string) {
	t.Helper()
	code, out, errOut := run(t, nil, "", args...)
	if code != 0 {
		t.Fatalf("mlcycle %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errOut)
	}
	return out, errOut
}

type trainOut struct {
	RunID        string             `json:"run_id"`
	ExperimentID string             `json:"experiment_id"`
	Algo         string             `json:"algo"`
	Task         string             `json:"task"`
	Metrics      map[string]float64 `json:"test_metrics"`
	ModelURI     string             `json:"model_uri"`
	Registered   string             `json:"registered_model_uri"`
	AliasURI     string             `json:"alias_uri"`
}

func trainJSON(t *testing.T, args ...string) trainOut {
	t.Helper()
	out, _ := mustRun(t, append([]string{"train", "-o", "json", "-q"}, args...)...)
	var res trainOut
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("train output %q: %v", out, err)
	}
	return res
}

// downloadDir copies a run's artifact folder into dir.
func downloadDir(t *testing.T, c *client.Client, src, dir string) {
	t.Helper()
	eachArtifact(t, c, src, "", func(rel string, data []byte) {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	})
}

// eachArtifact calls fn with the path below src (prefixed with rel) and
// the content of every file in the artifact folder src.
func eachArtifact(t *testing.T, c *client.Client, src, rel string, fn func(rel string, data []byte)) {
	t.Helper()
	ctx := context.Background()
	entries, err := c.ListArtifacts(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		name := path.Base(e.Path)
		if e.IsDir {
			eachArtifact(t, c, path.Join(src, name), path.Join(rel, name), fn)
			continue
		}
		var buf bytes.Buffer
		if _, err := c.DownloadArtifact(ctx, path.Join(src, name), &buf); err != nil {
			t.Fatal(err)
		}
		fn(path.Join(rel, name), buf.Bytes())
	}
}

func readCSV(t *testing.T, p string) [][]string {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func TestTrainPredictEndToEnd(t *testing.T) {
	eachDB(t, func(t *testing.T, dbURL string) {
		ctx := context.Background()
		dir := t.TempDir()
		store := []string{"--db", dbURL, "--artifacts", "file://" + filepath.Join(dir, "artifacts"), "--data-dir", dir}
		data := filepath.Join(dir, "churn.csv")
		writeBinaryCSV(t, data, 1500)
		mustRun(t, append([]string{"data", "add", data, "--name", "churn"}, store...)...)

		// Locally, on the database: train, register, alias.
		res := trainJSON(t, append([]string{"--data", "churn@1", "--target", "y", "--sensitive", "grp", "--seed", "7",
			"--register", "churn", "--alias", "challenger", "--experiment", "churn", "--param", "num_rounds=40"}, store...)...)
		if res.Task != "binary" || res.Algo != "gbdt" || res.Registered != "models:/churn/1" || res.AliasURI != "models:/churn@challenger" {
			t.Fatalf("train result %+v", res)
		}
		if auc := res.Metrics["roc_auc"]; !(auc > 0.9) {
			t.Errorf("test AUC %v, want > 0.9", auc)
		}

		srv, base := startBinary(t, store...)
		defer func() { srv.Process.Kill(); srv.Wait() }()
		c, err := client.New(base)
		if err != nil {
			t.Fatal(err)
		}

		// The run: params, a metric per round, final metrics, the input.
		run, err := c.GetRun(ctx, res.RunID)
		if err != nil {
			t.Fatal(err)
		}
		if run.Info.Status != client.RunFinished {
			t.Errorf("run status %s", run.Info.Status)
		}
		for k, want := range map[string]string{"target": "y", "algo": "gbdt", "num_rounds": "40", "learning_rate": "0.1",
			"seed": "7", "data": "churn@1", "sensitive": "grp", "split_method": "random"} {
			if got, _ := run.Data.Param(k); got != want {
				t.Errorf("param %s = %q, want %q", k, got, want)
			}
		}
		for _, k := range []string{"test_roc_auc", "test_log_loss", "valid_roc_auc", "test_fairness_demographic_parity_difference"} {
			if _, ok := run.Data.Metric(k); !ok {
				t.Errorf("run lacks metric %s", k)
			}
		}
		hist, err := c.GetMetricHistoryAll(ctx, res.RunID, "train_logloss")
		if err != nil {
			t.Fatal(err)
		}
		vhist, err := c.GetMetricHistoryAll(ctx, res.RunID, "valid_logloss")
		if err != nil {
			t.Fatal(err)
		}
		if len(hist) != 40 || len(vhist) != 40 || hist[0].Step != 1 || hist[39].Step != 40 {
			t.Errorf("train_logloss has %d points, valid_logloss %d; want 40 each, steps 1..40", len(hist), len(vhist))
		}
		if len(run.Inputs.DatasetInputs) != 1 || run.Inputs.DatasetInputs[0].Dataset.Name != "churn" {
			t.Errorf("inputs %+v", run.Inputs)
		}
		links, err := c.DatasetRuns(ctx, "churn@1")
		if err != nil {
			t.Fatal(err)
		}
		if len(links) != 1 || links[0].RunID != res.RunID || links[0].Context != "training" {
			t.Errorf("dataset churn@1 links %+v, want run %s", links, res.RunID)
		}

		// Artifacts: the model package and the report.
		root, err := c.RunArtifactRoot(ctx, res.RunID)
		if err != nil {
			t.Fatal(err)
		}
		files, err := c.ListArtifacts(ctx, root)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, f := range files {
			names = append(names, path.Base(f.Path))
		}
		if strings.Join(names, ",") != "model,report.html,report.json" {
			t.Errorf("artifacts %v", names)
		}
		var rep bytes.Buffer
		if _, err := c.DownloadArtifact(ctx, root+"/report.json", &rep); err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{`"fairness"`, `"shap"`, `"importance"`, `"roc_auc"`, `"rounds"`} {
			if !strings.Contains(rep.String(), want) {
				t.Errorf("report.json lacks %s", want)
			}
		}

		// The alias names the version; the model loads through the registry
		// in Go and predicts what `mlcycle predict` writes.
		mv, err := c.GetModelVersionByAlias(ctx, "churn", "challenger")
		if err != nil {
			t.Fatal(err)
		}
		if mv.Version != "1" || mv.Source != "runs:/"+res.RunID+"/model" || mv.RunID != res.RunID {
			t.Errorf("version by alias %+v", mv)
		}
		modelDir := filepath.Join(dir, "fetched")
		downloadDir(t, c, root+"/model", modelDir)
		m, err := modelfmt.Load(modelDir)
		if err != nil {
			t.Fatal(err)
		}
		table, err := frame.ReadTableFile(ctx, data, frame.Options{})
		if err != nil {
			t.Fatal(err)
		}
		preds, err := m.PredictTable(ctx, table)
		if err != nil {
			t.Fatal(err)
		}
		for _, where := range [][]string{{"--server", base}, store} {
			out := filepath.Join(dir, "pred.csv")
			input := "--input"
			if where[0] != "--server" {
				input = "--data" // train's spelling, accepted too
			}
			mustRun(t, append([]string{"predict", "--model", "models:/churn@challenger", input, data, "-o", out, "-q"}, where...)...)
			recs := readCSV(t, out)
			if strings.Join(recs[0], ",") != "prediction,proba_no,proba_yes" || len(recs) != 1501 {
				t.Fatalf("predictions header %v, %d lines", recs[0], len(recs))
			}
			for i, rec := range recs[1:] {
				yes, _ := strconv.ParseFloat(rec[2], 64)
				if rec[0] != preds.Label(i) || yes != preds.Probs[2*i+1] {
					t.Fatalf("row %d: predict wrote %v, Go predicts %s %v", i, rec, preds.Label(i), preds.Probs[2*i+1])
				}
			}
		}

		// Through the server: the same data, params and seed give the same
		// model file.
		again := trainJSON(t, "--server", base, "--data", "churn@1", "--target", "y", "--sensitive", "grp", "--seed", "7",
			"--experiment", "churn", "--param", "num_rounds=40")
		if again.RunID == res.RunID {
			t.Fatal("same run twice")
		}
		modelJSON := func(runID string) []byte {
			root, err := c.RunArtifactRoot(ctx, runID)
			if err != nil {
				t.Fatal(err)
			}
			var b bytes.Buffer
			if _, err := c.DownloadArtifact(ctx, root+"/model/model.json", &b); err != nil {
				t.Fatal(err)
			}
			return b.Bytes()
		}
		if a, b := modelJSON(res.RunID), modelJSON(again.RunID); !bytes.Equal(a, b) || len(a) == 0 {
			t.Errorf("two trainings with seed 7 wrote different model.json (%d and %d bytes)", len(a), len(b))
		}
	})
}

// TestTrainLinearRecoversCoefficients trains a linear regression on exact
// data through a server and reads the coefficients back from predictions.
// copyArtifacts copies the artifact folder src to dst on the same server.
func copyArtifacts(t *testing.T, c *client.Client, src, dst string) {
	t.Helper()
	eachArtifact(t, c, src, "", func(rel string, data []byte) {
		if err := c.UploadArtifact(context.Background(), path.Join(dst, rel), bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
	})
}

func TestTrainLinearRecoversCoefficients(t *testing.T) {
	dir := t.TempDir()
	srv, base := startBinary(t, "--data-dir", dir)
	defer func() { srv.Process.Kill(); srv.Wait() }()
	r := rand.New(rand.NewPCG(3, 4))
	var b strings.Builder
	b.WriteString("a,b,kind,y\n")
	for range 600 {
		a, bb := r.NormFloat64()*2, r.NormFloat64()
		kind := []string{"u", "v"}[r.IntN(2)]
		y := 3*a - 2*bb + 5
		if kind == "u" {
			y += 1.5
		}
		fmt.Fprintf(&b, "%g,%g,%s,%g\n", a, bb, kind, y)
	}
	data := filepath.Join(dir, "lin.csv")
	if err := os.WriteFile(data, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	res := trainJSON(t, "--server", base, "--data", data, "--target", "y", "--algo", "linear", "--param", "alpha=0", "--param", "tol=1e-10")
	if res.Task != "regression" || res.Algo != "linear" {
		t.Fatalf("train result %+v", res)
	}
	if rmse := res.Metrics["rmse"]; !(rmse < 1e-4) {
		t.Errorf("test RMSE %v on exact data", rmse)
	}
	probe := filepath.Join(dir, "probe.csv")
	if err := os.WriteFile(probe, []byte("a,b,kind\n0,0,v\n1,0,v\n0,1,v\n0,0,u\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "probe-pred.csv")
	mustRun(t, "predict", "--server", base, "--model", res.ModelURI, "--input", probe, "-o", out, "-q")
	recs := readCSV(t, out)
	v := make([]float64, 4)
	for i := range v {
		v[i], _ = strconv.ParseFloat(recs[i+1][0], 64)
	}
	for name, got := range map[string][2]float64{
		"intercept": {v[0], 5}, "a": {v[1] - v[0], 3}, "b": {v[2] - v[0], -2}, "kind=u": {v[3] - v[0], 1.5},
	} {
		if math.Abs(got[0]-got[1]) > 1e-4 {
			t.Errorf("%s: %v, want %v", name, got[0], got[1])
		}
	}

	// The same model registered as MLflow 3 does it: a logged model holds
	// the files, the version's source is models:/<model id>, and predict
	// finds the files through the server's download URI.
	ctx := context.Background()
	c, err := client.New(base)
	if err != nil {
		t.Fatal(err)
	}
	var lm struct {
		Model struct {
			Info struct {
				ModelID     string `json:"model_id"`
				ArtifactURI string `json:"artifact_uri"`
			} `json:"info"`
		} `json:"model"`
	}
	body := strings.NewReader(`{"experiment_id":"0","name":"lin"}`)
	resp, err := http.Post(base+"/api/2.0/mlflow/logged-models", "application/json", body)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.NewDecoder(resp.Body).Decode(&lm); err != nil || resp.StatusCode != 200 {
		t.Fatalf("creating a logged model: %d %v", resp.StatusCode, err)
	}
	resp.Body.Close()
	root, err := client.ArtifactProxyPath(lm.Model.Info.ArtifactURI)
	if err != nil {
		t.Fatal(err)
	}
	runRoot, err := c.RunArtifactRoot(ctx, res.RunID)
	if err != nil {
		t.Fatal(err)
	}
	copyArtifacts(t, c, path.Join(runRoot, "model"), root)
	if _, err := c.CreateRegisteredModel(ctx, "lin-v3", ""); err != nil {
		t.Fatal(err)
	}
	mv, err := c.CreateModelVersion(ctx, "lin-v3", "models:/"+lm.Model.Info.ModelID, res.RunID)
	if err != nil {
		t.Fatal(err)
	}
	out3 := filepath.Join(dir, "probe-pred-v3.csv")
	mustRun(t, "predict", "--server", base, "--model", "models:/lin-v3/"+mv.Version, "--input", probe, "-o", out3, "-q")
	if got, want := readCSV(t, out3), recs; !reflect.DeepEqual(got, want) {
		t.Fatalf("predictions through the logged model %v, through the run %v", got, want)
	}
}

// TestTrainBadInput: each bad input stops train before training with one
// line naming the column or parameter, and logs nothing.
func TestTrainBadInput(t *testing.T) { eachDB(t, testTrainBadInput) }

func testTrainBadInput(t *testing.T, dbURL string) {
	dir := t.TempDir()
	store := []string{"--db", dbURL, "--data-dir", dir}
	good := filepath.Join(dir, "good.csv")
	writeBinaryCSV(t, good, 300)
	files := map[string]string{
		"const.csv":   "x,y\n1,a\n2,a\n3,a\n4,a\n",
		"rare.csv":    "x,y\n1,a\n2,b\n3,a\n4,b\n5,a\n6,b\n7,a\n8,b\n9,c\n10,a\n11,b\n12,a\n",
		"onegrp.csv":  "x,g,y\n1,k,0\n2,k,1\n3,k,0\n4,k,1\n5,k,0\n6,k,1\n",
		"allnull.csv": "x,empty,y\n1,,0\n2,,1\n3,,0\n4,,1\n5,,0\n6,,1\n7,,0\n8,,1\n",
		"inf.csv":     "x,z,y\n1,a,0\ninf,b,1\n3,a,0\n4,b,1\n5,a,0\n6,b,1\n7,a,0\n8,b,1\n",
		"text.csv":    "x,z,y\n1,a,0\n2,b,1\nabc,a,0\n4,b,1\n5,a,0\n6,b,1\n7,a,0\n8,b,1\n",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f := func(name string) string { return filepath.Join(dir, name) }
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--data", good, "--target", "nope"}, `"nope"`},
		{[]string{"--data", f("const.csv"), "--target", "y"}, "--target y is constant"},
		{[]string{"--data", f("rare.csv"), "--target", "y", "--stratify"}, `class "c"`},
		{[]string{"--data", f("onegrp.csv"), "--target", "y", "--sensitive", "g"}, `--sensitive g has one group ("k")`},
		{[]string{"--data", f("allnull.csv"), "--target", "y"}, "empty"},
		{[]string{"--data", good, "--target", "y", "--sensitive", "nope"}, `"nope"`},
		{[]string{"--data", f("inf.csv"), "--target", "y"}, `column "x", row 2: infinite`},
		{[]string{"--data", f("text.csv"), "--target", "y", "--numeric", "x"}, `column "x", row 3: "abc" is not a number`},
		{[]string{"--data", good, "--target", "y", "--param", "nonsense=1"}, `"nonsense"`},
		{[]string{"--data", good, "--target", "y", "--param", "learning_rate=0"}, "learning_rate"},
		{[]string{"--data", good, "--target", "y", "--algo", "linear", "--param", "l1_ratio=2"}, "l1_ratio"},
		{[]string{"--data", good, "--target", "y", "--search", "4", "--space", "max_leaves=1"}, "max_leaves"},
		{[]string{"--data", good, "--target", "y", "--split", "0.5,0.6,0.1"}, "--split"},
		{[]string{"--data", "missing@1", "--target", "y"}, "missing"},
		{[]string{"--data", good}, "--target is required"},
	} {
		code, _, errOut := run(t, nil, "", append(append([]string{"train", "-q"}, tc.args...), store...)...)
		lines := strings.Split(strings.TrimSpace(errOut), "\n")
		if code != 1 || len(lines) != 1 || !strings.Contains(errOut, tc.want) {
			t.Errorf("train %v: exit %d, stderr %q; want exit 1 and one line with %q", tc.args, code, errOut, tc.want)
		}
	}
	// Nothing was logged: no run exists.
	srv, base := startBinary(t, store...)
	defer func() { srv.Process.Kill(); srv.Wait() }()
	c, err := client.New(base)
	if err != nil {
		t.Fatal(err)
	}
	runs, _, err := c.SearchRuns(context.Background(), client.RunSearch{ExperimentIDs: []string{"0"}, ViewType: client.AllViews})
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 0 {
		t.Errorf("bad inputs logged %d runs", len(runs))
	}

	// predict names a missing input column.
	res := trainJSON(t, "--server", base, "--data", good, "--target", "y", "--param", "num_rounds=5")
	partial := f("partial.csv")
	if err := os.WriteFile(partial, []byte("x1,color\n1,red\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := run(t, nil, "", "predict", "--server", base, "--model", res.ModelURI, "--input", partial)
	if code != 1 || !strings.Contains(errOut, "x2") {
		t.Errorf("predict with a missing column: exit %d, %q", code, errOut)
	}
}
