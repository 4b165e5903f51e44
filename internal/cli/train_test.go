package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlcycle/mlcycle/client"
	"github.com/mlcycle/mlcycle/internal/learn"
)

func TestParseSplit(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want [3]float64
		err  string
	}{
		{"0.7,0.15,0.15", [3]float64{0.7, 0.15, 0.15}, ""},
		{"0.8, 0, 0.2", [3]float64{0.8, 0, 0.2}, ""},
		{"0.5,0.5", [3]float64{}, "three fractions"},
		{"0.5,0.5,0.5", [3]float64{}, "add up to 1.5"},
		{"0,0.5,0.5", [3]float64{}, "above 0"},
		{"0.5,0.5,0", [3]float64{}, "above 0"},
		{"a,0.5,0.5", [3]float64{}, `"a" is not a fraction`},
		{"-0.1,0.6,0.5", [3]float64{}, "not a fraction"},
	} {
		got, err := parseSplit(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("parseSplit(%q) = %v, want error with %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("parseSplit(%q) = %v, %v", tc.in, got, err)
		}
	}
}

func TestParseKV(t *testing.T) {
	got, err := parseKV("--param", []string{"a=1", " b = x=y "})
	if err != nil || len(got) != 2 || got["a"] != "1" || got["b"] != "x=y" {
		t.Errorf("parseKV = %v, %v", got, err)
	}
	for _, bad := range [][]string{{"a"}, {"=1"}, {"a=1", "a=2"}} {
		if _, err := parseKV("--param", bad); err == nil || !strings.Contains(err.Error(), "--param") {
			t.Errorf("parseKV(%q) = %v, want an error naming --param", bad, err)
		}
	}
}

func TestTrainCheckFlags(t *testing.T) {
	ok := trainOptions{data: "d@1", target: "y", task: "auto", algo: "gbdt", split: "0.7,0.15,0.15", output: "table", sampleExplain: 10}
	if err := ok.checkFlags(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		change func(o *trainOptions)
		want   string
	}{
		{func(o *trainOptions) { o.data = "" }, "--data is required"},
		{func(o *trainOptions) { o.target = "" }, "--target is required"},
		{func(o *trainOptions) { o.task = "ranking" }, "--task"},
		{func(o *trainOptions) { o.algo = "forest" }, "--algo"},
		{func(o *trainOptions) { o.algo = "auto" }, "--search"},
		{func(o *trainOptions) { o.search = -1 }, "--search"},
		{func(o *trainOptions) { o.space = []string{"a=1"} }, "--space needs --search"},
		{func(o *trainOptions) { o.cv = 1 }, "--cv"},
		{func(o *trainOptions) { o.alias = "champion" }, "--alias needs --register"},
		{func(o *trainOptions) { o.sensitive = "y" }, "--sensitive"},
		{func(o *trainOptions) { o.timeColumn, o.stratify = "t", true }, "--time-column"},
		{func(o *trainOptions) { o.params = []string{"x"} }, "--param"},
		{func(o *trainOptions) { o.output = "yaml" }, "--output"},
	} {
		o := ok
		tc.change(&o)
		if err := o.checkFlags(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("checkFlags(%+v) = %v, want an error with %q", o, err, tc.want)
		}
	}
}

func TestEvenSample(t *testing.T) {
	rows := []int{10, 11, 12, 13, 14, 15, 16, 17, 18, 19}
	if got := evenSample(rows, 20); len(got) != 10 {
		t.Errorf("evenSample of more than there are: %v", got)
	}
	if got := fmt.Sprint(evenSample(rows, 5)); got != "[10 12 14 16 18]" {
		t.Errorf("evenSample(5) = %s", got)
	}
}

func TestLossScore(t *testing.T) {
	bin := lossScore(learn.Binary, 2)([]float64{1, 0}, []float64{0.8, 0.4})
	if want := -(-math.Log(0.8) - math.Log(0.6)) / 2; math.Abs(bin-want) > 1e-12 {
		t.Errorf("binary score %v, want %v", bin, want)
	}
	multi := lossScore(learn.Multiclass, 3)([]float64{2}, []float64{0.2, 0.3, 0.5})
	if math.Abs(multi-math.Log(0.5)) > 1e-12 {
		t.Errorf("multiclass score %v", multi)
	}
	reg := lossScore(learn.Regression, 0)([]float64{1, 3}, []float64{2, 2})
	if reg != -1 {
		t.Errorf("regression score %v, want -1", reg)
	}
}

// TestTrainSearchAndCV trains locally (on both engines) with a search and
// cross-validation: every trial is a child run of the training run with
// its params and validation score, and the run has the CV summaries.
func TestTrainSearchAndCV(t *testing.T) { eachEngine(t, testTrainSearchAndCV) }

func testTrainSearchAndCV(t *testing.T) {
	t.Setenv("MLCYCLE_SERVER", "")
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(5, 6))
	var b strings.Builder
	b.WriteString("x1,x2,kind,label\n")
	for range 400 {
		x1, x2 := r.NormFloat64(), r.NormFloat64()
		kind := []string{"p", "q", "r"}[r.IntN(3)]
		label := "low"
		switch {
		case x1+0.3*r.NormFloat64() > 0.6:
			label = "high"
		case x2 > 0.3:
			label = "mid"
		}
		fmt.Fprintf(&b, "%.3f,%.3f,%s,%s\n", x1, x2, kind, label)
	}
	data := filepath.Join(dir, "three.csv")
	if err := os.WriteFile(data, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	dd := "--data-dir=" + dir
	// A password in the database URL (the test cluster trusts every
	// connection, so any will do) must not show in the result.
	const password = "pw-must-stay-hidden"
	if u, err := url.Parse(os.Getenv("MLCYCLE_DB")); err == nil && u.Scheme == "postgres" {
		u.User = url.UserPassword(u.User.Username(), password)
		t.Setenv("MLCYCLE_DB", u.String())
	}
	out := mustRun(t, "train", "--data", data, "--target", "label", "--algo", "auto", "--search", "5", "--cv", "3",
		"--stratify", "--experiment", "search", "-q", "-o", "json", dd)
	var res trainResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("train output %q: %v", out, err)
	}
	if res.Task != "multiclass" || (res.Algo != "gbdt" && res.Algo != "linear") {
		t.Fatalf("result %+v", res)
	}
	// The result names where the run went, never with the database password.
	if strings.Contains(res.Where, password) || strings.Contains(out, password) {
		t.Fatalf("the result shows the database password: %q", res.Where)
	}
	if res.Where == "" {
		t.Fatal("the result does not say where the run went")
	}
	_, runs := runsUnder(t, dir, "search")
	var parent *client.Run
	var children []client.Run
	for i, r := range runs {
		if r.Info.RunID == res.RunID {
			parent = &runs[i]
		} else if p, _ := r.Data.Tag("mlflow.parentRunId"); p == res.RunID {
			children = append(children, r)
		}
	}
	if parent == nil || parent.Info.Status != client.RunFinished {
		t.Fatalf("training run %s missing or not finished", res.RunID)
	}
	for _, k := range []string{"cv_log_loss_mean", "cv_log_loss_std", "cv_accuracy_mean", "search_best_valid_log_loss", "test_accuracy"} {
		if _, ok := parent.Data.Metric(k); !ok {
			t.Errorf("training run lacks metric %s", k)
		}
	}
	if a, _ := parent.Data.Param("algo"); a != res.Algo {
		t.Errorf("param algo %q, result %q", a, res.Algo)
	}
	// 5 candidates at the first rung, then the best third and so on.
	if len(children) < 6 || len(children) != len(runs)-1 {
		t.Fatalf("%d trial runs of %d runs", len(children), len(runs))
	}
	algos := map[string]bool{}
	for _, c := range children {
		a, _ := c.Data.Param("algo")
		algos[a] = true
		_, hasBudget := c.Data.Param("budget")
		_, hasScore := c.Data.Metric("valid_log_loss")
		if c.Info.Status != client.RunFinished || !hasBudget || !hasScore {
			t.Errorf("trial run %s: status %s, budget %v, valid_log_loss %v", c.Info.RunName, c.Info.Status, hasBudget, hasScore)
		}
	}
	if !algos["gbdt"] || !algos["linear"] {
		t.Errorf("--algo auto searched %v, want both", algos)
	}
}

func TestPredictURIAndFormat(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		in   string
		want modelURI
		err  string
	}{
		{"models:/churn@champion", modelURI{name: "churn", alias: "champion"}, ""},
		{"models:/churn/3", modelURI{name: "churn", version: "3"}, ""},
		{"models:/team/churn/3", modelURI{name: "team/churn", version: "3"}, ""},
		{"runs:/abc/model", modelURI{runID: "abc", runPath: "model"}, ""},
		{"runs:/abc", modelURI{runID: "abc", runPath: "model"}, ""},
		{dir, modelURI{dir: dir}, ""},
		{"models:/churn/latest", modelURI{}, "not a number"},
		{"models:/churn", modelURI{}, "want models:/"},
		{"models:/@x", modelURI{}, "want models:/"},
		{"s3://bucket/model", modelURI{}, "unknown URI scheme"},
		{filepath.Join(dir, "nope"), modelURI{}, "no such file"},
	} {
		got, err := parseModelURI(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("parseModelURI(%q) = %+v, %v; want an error with %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("parseModelURI(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
	for _, tc := range [][3]string{
		{"", "-", "csv"}, {"", "out.jsonl", "jsonl"}, {"", "out.CSV", "csv"}, {"jsonl", "-", "jsonl"}, {"csv", "x.jsonl", "csv"},
	} {
		if got, err := predictFormat(tc[0], tc[1]); err != nil || got != tc[2] {
			t.Errorf("predictFormat(%q, %q) = %q, %v", tc[0], tc[1], got, err)
		}
	}
	if _, err := predictFormat("xml", "-"); err == nil {
		t.Error("predictFormat accepted xml")
	}
}

// runsUnder lists the runs of an experiment through an embedded server on
// the data dir.
func runsUnder(t *testing.T, dir, experiment string) (*client.Client, []client.Run) {
	t.Helper()
	ctx := context.Background()
	tg := &target{}
	tg.cfg.DataDir = dir
	tg.cfg.DB = os.Getenv("MLCYCLE_DB")
	cn, err := tg.connect(ctx, &deps{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cn.close() })
	e, err := cn.c.GetExperimentByName(ctx, experiment)
	if err != nil {
		t.Fatal(err)
	}
	runs, _, err := cn.c.SearchRuns(ctx, client.RunSearch{ExperimentIDs: []string{e.ID}})
	if err != nil {
		t.Fatal(err)
	}
	return cn.c, runs
}

// TestTrainTimeSplit: --time-column splits oldest-first and keeps the time
// column out of the model's inputs; --file picks one table of a version.
func TestTrainTimeSplit(t *testing.T) {
	t.Setenv("MLCYCLE_SERVER", "")
	t.Setenv("MLCYCLE_DB", "")
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	var b strings.Builder
	b.WriteString("day,x,y\n")
	r := rand.New(rand.NewPCG(9, 9))
	for i := range 300 {
		x := r.NormFloat64()
		fmt.Fprintf(&b, "2025-01-%02dT%02d:00:00Z,%.3f,%.3f\n", 1+i/24, i%24, x, 2*x+r.NormFloat64()*0.1)
	}
	writeFiles(t, src, map[string]string{"sales.csv": b.String(), "other.csv": "a,b\n1,2\n"})
	dd := "--data-dir=" + filepath.Join(dir, "data")
	mustRun(t, "data", "add", src, "--name", "sales", dd)
	if r := runCLI(t, "train", "--data", "sales@1", "--target", "y", "-q", dd); r.code == 0 || !strings.Contains(r.stderr, "--file") {
		t.Errorf("two tables with different columns: exit %d, %q", r.code, r.stderr)
	}
	out := mustRun(t, "train", "--data", "sales@1", "--file", "sales.csv", "--target", "y", "--time-column", "day",
		"--experiment", "time", "-q", "-o", "json", dd)
	var res trainResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	if res.Task != "regression" || !(res.Metrics["r2"] > 0.8) {
		t.Errorf("result %+v", res)
	}
	c, runs := runsUnder(t, filepath.Join(dir, "data"), "time")
	if len(runs) != 1 {
		t.Fatalf("%d runs", len(runs))
	}
	for k, want := range map[string]string{"split_method": "time", "time_column": "day", "data_file": "sales.csv"} {
		if got, _ := runs[0].Data.Param(k); got != want {
			t.Errorf("param %s = %q, want %q", k, got, want)
		}
	}
	ctx := context.Background()
	root, err := c.RunArtifactRoot(ctx, res.RunID)
	if err != nil {
		t.Fatal(err)
	}
	var mlmodel strings.Builder
	if _, err := c.DownloadArtifact(ctx, root+"/model/MLmodel", &mlmodel); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(mlmodel.String(), `"day"`) || !strings.Contains(mlmodel.String(), `"x"`) {
		t.Errorf("the signature should have x and not day:\n%s", mlmodel.String())
	}
}
