package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlcycle/mlcycle/client"
	"github.com/mlcycle/mlcycle/internal/app"
	"github.com/mlcycle/mlcycle/internal/app/apptest"
	"github.com/mlcycle/mlcycle/internal/buildinfo"
)

// The remote commands, run through Main against the real server.

func startTestServer(t *testing.T) string {
	t.Helper()
	return apptest.Start(t, app.Config{}).URL()
}

type cliResult struct {
	code           int
	stdout, stderr string
}

func runCLI(t *testing.T, args ...string) cliResult {
	t.Helper()
	var out, errOut bytes.Buffer
	code := Main(context.Background(), buildinfo.Info{Version: "test"}, args, strings.NewReader(""), &out, &errOut)
	return cliResult{code, out.String(), errOut.String()}
}

// mustRun runs the CLI, fails the test unless it exits 0, and returns stdout.
func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	r := runCLI(t, args...)
	if r.code != 0 {
		t.Fatalf("mlcycle %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

func TestRemoteCommands(t *testing.T) {
	for _, v := range []string{"MLCYCLE_SERVER", "MLFLOW_TRACKING_URI", "MLCYCLE_TOKEN", "MLFLOW_TRACKING_TOKEN", "MLCYCLE_USERNAME", "MLFLOW_TRACKING_USERNAME"} {
		t.Setenv(v, "")
	}
	base := startTestServer(t)
	srv := "--server=" + base
	ctx := context.Background()
	c, err := client.New(base)
	if err != nil {
		t.Fatal(err)
	}

	// Experiments.
	out := mustRun(t, "experiments", "create", "fraud", "--tag", "team=risk", srv)
	if !strings.Contains(out, `created experiment "fraud" with id`) {
		t.Fatalf("create: %s", out)
	}
	mustRun(t, "experiments", "create", "churn", srv)
	var exps []client.Experiment
	decode(t, mustRun(t, "experiments", "ls", "--output", "json", "--filter", "tags.team = 'risk'", srv), &exps)
	if len(exps) != 1 || exps[0].Name != "fraud" {
		t.Fatalf("ls json: %+v", exps)
	}
	if out := mustRun(t, "experiments", "ls", "--order-by", "name ASC", srv); !strings.Contains(out, "ID") || strings.Index(out, "churn") > strings.Index(out, "fraud") {
		t.Fatalf("ls table:\n%s", out)
	}
	mustRun(t, "experiments", "rename", "fraud", "fraud-v2", srv)
	mustRun(t, "experiments", "rename", exps[0].ID, "fraud", srv) // by id
	if r := runCLI(t, "experiments", "rm", "nope", srv); r.code != 1 || !strings.Contains(r.stderr, `no experiment has the id or name "nope"`) {
		t.Fatalf("rm unknown: %+v", r)
	}
	if r := runCLI(t, "experiments", "ls", "--filter", "name >> 1", srv); r.code != 1 || !strings.Contains(r.stderr, "INVALID_PARAMETER_VALUE") {
		t.Fatalf("bad filter: %+v", r)
	}

	// Runs: created with the client (the CLI has no "runs create"), then
	// logged to, searched and shown with the CLI.
	run, err := c.CreateRun(ctx, client.RunCreate{ExperimentID: exps[0].ID, RunName: "baseline"})
	if err != nil {
		t.Fatal(err)
	}
	id := run.Info.RunID
	mustRun(t, "runs", "log-param", id, "lr", "0.1", srv)
	mustRun(t, "runs", "log-metric", id, "acc", "0.93", "--step", "2", srv)
	mustRun(t, "runs", "log-metric", id, "loss", "NaN", "--time", "2026-01-02T15:04:05Z", srv)
	if r := runCLI(t, "runs", "log-metric", id, "acc", "high", srv); r.code != 1 || !strings.Contains(r.stderr, `"high" is not a number`) {
		t.Fatalf("bad metric: %+v", r)
	}
	var runs []client.Run
	decode(t, mustRun(t, "runs", "ls", "--experiment", "fraud", "--filter", "metrics.acc > 0.9 AND params.lr = '0.1'", "--output", "json", srv), &runs)
	if len(runs) != 1 || runs[0].Info.RunID != id {
		t.Fatalf("runs ls: %+v", runs)
	}
	if out := mustRun(t, "runs", "ls", "-e", "fraud", "-e", "churn", srv); !strings.Contains(out, id) || !strings.Contains(out, "baseline") {
		t.Fatalf("runs ls table:\n%s", out)
	}
	out = mustRun(t, "runs", "show", id, srv)
	for _, want := range []string{"baseline", "lr", "0.1", "acc", "0.93", "loss", "NaN"} {
		if !strings.Contains(out, want) {
			t.Errorf("runs show lacks %q:\n%s", want, out)
		}
	}
	if r := runCLI(t, "runs", "ls", srv); r.code != 1 || !strings.Contains(r.stderr, "give --experiment") {
		t.Fatalf("runs ls without experiment: %+v", r)
	}

	// Artifacts.
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "model", "MLmodel"), "flavors: {}\n")
	writeFile(t, filepath.Join(dir, "model", "data", "weights.bin"), strings.Repeat("w", 10000))
	writeFile(t, filepath.Join(dir, "report.html"), "<h1>ok</h1>")
	r := runCLI(t, "artifacts", "put", id, filepath.Join(dir, "model"), "model", srv)
	if r.code != 0 || !strings.Contains(r.stderr, "uploaded 2 files (9.8 KiB) to model") {
		t.Fatalf("put folder: %+v", r)
	}
	mustRun(t, "artifacts", "put", id, filepath.Join(dir, "report.html"), srv)
	var files []client.FileInfo
	decode(t, mustRun(t, "artifacts", "ls", id, "--output", "json", srv), &files)
	if len(files) != 2 {
		t.Fatalf("ls root: %+v", files)
	}
	out = mustRun(t, "artifacts", "ls", id, "model", srv)
	if !strings.Contains(out, "model/MLmodel") || !strings.Contains(out, "model/data/") {
		t.Fatalf("ls model:\n%s", out)
	}
	if out := mustRun(t, "artifacts", "get", id, "report.html", "-o", "-", srv); out != "<h1>ok</h1>" {
		t.Fatalf("get to stdout: %q", out)
	}
	dst := t.TempDir()
	mustRun(t, "artifacts", "get", id, "model/MLmodel", "-o", filepath.Join(dst, "MLmodel"), srv)
	mustRun(t, "artifacts", "get", id, "model", "-o", filepath.Join(dst, "copy"), srv)
	for file, want := range map[string]string{
		"MLmodel":               "flavors: {}\n",
		"copy/MLmodel":          "flavors: {}\n",
		"copy/data/weights.bin": strings.Repeat("w", 10000),
	} {
		b, err := os.ReadFile(filepath.Join(dst, filepath.FromSlash(file)))
		if err != nil || string(b) != want {
			t.Errorf("downloaded %s: %d bytes, %v", file, len(b), err)
		}
	}
	if r := runCLI(t, "artifacts", "get", id, "nope.txt", "-o", filepath.Join(dst, "nope.txt"), srv); r.code != 1 {
		t.Fatalf("get missing: %+v", r)
	}
	if entries, _ := os.ReadDir(dst); len(entries) != 2 {
		t.Errorf("a failed download left files behind: %v", entries)
	}

	// Registry.
	if _, err := c.CreateRegisteredModel(ctx, "fraud-model", "detects fraud"); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := c.CreateModelVersion(ctx, "fraud-model", run.Info.ArtifactURI+"/model", id); err != nil {
			t.Fatal(err)
		}
	}
	mustRun(t, "models", "alias", "set", "fraud-model", "champion", "2", srv)
	if out := mustRun(t, "models", "ls", srv); !strings.Contains(out, "fraud-model") || !strings.Contains(out, "champion=2") {
		t.Fatalf("models ls:\n%s", out)
	}
	if out := mustRun(t, "models", "show", "fraud-model", srv); !strings.Contains(out, "detects fraud") {
		t.Fatalf("models show:\n%s", out)
	}
	var versions []client.ModelVersion
	decode(t, mustRun(t, "models", "versions", "fraud-model", "--output", "json", srv), &versions)
	if len(versions) != 2 {
		t.Fatalf("versions: %+v", versions)
	}
	var v client.ModelVersion
	decode(t, mustRun(t, "models", "alias", "get", "fraud-model", "champion", "-o", "json", srv), &v)
	if v.Version != "2" {
		t.Fatalf("alias get: %+v", v)
	}
	mustRun(t, "models", "stage", "fraud-model", "1", "Production", srv)
	if out := mustRun(t, "models", "stage", "fraud-model", "2", "Production", "--archive-existing", srv); !strings.Contains(out, "stage Production") {
		t.Fatalf("stage: %s", out)
	}
	if v, err := c.GetModelVersion(ctx, "fraud-model", "1"); err != nil || v.CurrentStage != client.StageArchived {
		t.Fatalf("version 1 after --archive-existing: %+v, %v", v, err)
	}
	mustRun(t, "models", "alias", "rm", "fraud-model", "champion", srv)
	if r := runCLI(t, "models", "alias", "get", "fraud-model", "champion", srv); r.code != 1 || !strings.Contains(r.stderr, "RESOURCE_DOES_NOT_EXIST") {
		t.Fatalf("alias get after rm: %+v", r)
	}

	// Delete and restore.
	mustRun(t, "runs", "rm", id, srv)
	decode(t, mustRun(t, "runs", "ls", "-e", "fraud", "-o", "json", srv), &runs)
	if len(runs) != 0 {
		t.Fatalf("deleted run still listed: %+v", runs)
	}
	mustRun(t, "runs", "restore", id, srv)
	mustRun(t, "experiments", "rm", "churn", srv)
	decode(t, mustRun(t, "experiments", "ls", "--view", "deleted", "-o", "json", srv), &exps)
	if len(exps) != 1 || exps[0].Name != "churn" {
		t.Fatalf("deleted experiments: %+v", exps)
	}
	mustRun(t, "experiments", "restore", "churn", srv)

	// MLflow's environment variable names the server when --server is absent.
	t.Setenv("MLFLOW_TRACKING_URI", base)
	if out := mustRun(t, "experiments", "ls"); !strings.Contains(out, "churn") {
		t.Fatalf("ls via MLFLOW_TRACKING_URI:\n%s", out)
	}
	t.Setenv("MLFLOW_TRACKING_URI", "file:///tmp/mlruns")
	if r := runCLI(t, "experiments", "ls"); r.code != 1 || !strings.Contains(r.stderr, "MLFLOW_TRACKING_URI") {
		t.Fatalf("file: tracking URI: %+v", r)
	}
}

func TestRemoteHelp(t *testing.T) {
	for _, args := range [][]string{
		{"experiments", "--help"}, {"runs", "ls", "--help"}, {"models", "alias", "--help"}, {"artifacts", "get", "--help"},
	} {
		out := mustRun(t, args...)
		if !strings.Contains(out, "--server") || !strings.Contains(out, "MLFLOW_TRACKING_URI") {
			t.Errorf("mlcycle %s: help does not explain --server:\n%s", strings.Join(args, " "), out)
		}
	}
}

func decode(t *testing.T, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("output is not JSON (%v):\n%s", err, s)
	}
}

func writeFile(t *testing.T, p, s string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

// The REST-only commands work on a local data folder with --data-dir (an
// embedded server for the command), on both engines; only the command line
// turns that on, never MLCYCLE_DATA_DIR.
func TestRemoteCommandsOnLocalStore(t *testing.T) { eachEngine(t, testRemoteCommandsOnLocalStore) }

func testRemoteCommandsOnLocalStore(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	t.Setenv("MLCYCLE_SERVER", "")
	dir := t.TempDir()
	dd := "--data-dir=" + dir
	db := "--db=" + os.Getenv("MLCYCLE_DB")
	if out := mustRun(t, "experiments", "create", "local-exp", dd, db); !strings.Contains(out, `created experiment "local-exp"`) {
		t.Fatalf("experiments create: %s", out)
	}
	if out := mustRun(t, "experiments", "ls", dd, db); !strings.Contains(out, "local-exp") {
		t.Fatalf("experiments ls: %s", out)
	}
	if out := mustRun(t, "runs", "ls", "--experiment", "local-exp", dd, db); !strings.HasPrefix(out, "RUN ID") || strings.Count(out, "\n") != 1 {
		t.Fatalf("runs ls of an empty experiment: %q", out)
	}
	if out := mustRun(t, "models", "ls", dd, db); !strings.HasPrefix(out, "NAME") || strings.Count(out, "\n") != 1 {
		t.Fatalf("models ls of an empty registry: %q", out)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"experiments", "ls", "--data-dir", filepath.Join(dir, "nope")}, "no such data folder"},
		{[]string{"experiments", "ls", dd, "--server", "http://127.0.0.1:1"}, "not both"},
		{[]string{"experiments", "ls", "--artifacts", "file:///tmp/x", "--server", "http://127.0.0.1:1"}, "--artifacts goes with"},
	} {
		if r := runCLI(t, tc.args...); r.code == 0 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q, want %q", tc.args, r.code, r.stderr, tc.want)
		}
	}
	// The environment does not switch a REST command to the local store:
	// it still asks the server, here one that is not there.
	t.Setenv("MLCYCLE_DATA_DIR", dir)
	if r := runCLI(t, "experiments", "ls", "--server", "http://127.0.0.1:1"); r.code == 0 || !strings.Contains(r.stderr, "127.0.0.1:1") {
		t.Fatalf("with MLCYCLE_DATA_DIR set: exit %d, stderr %q", r.code, r.stderr)
	}
}
