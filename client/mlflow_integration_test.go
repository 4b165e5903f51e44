package client_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/mlcycle/mlcycle/client"
	"github.com/mlcycle/mlcycle/internal/app"
	"github.com/mlcycle/mlcycle/internal/app/apptest"
)

// These tests round-trip the MLflow-compatible client against the real
// mlcycle server, started in-process on a free port with a fresh data dir.

func startServer(t *testing.T) *client.Client {
	t.Helper()
	return apptest.Start(t, app.Config{}).Client(t)
}

func TestIntegrationExperiments(t *testing.T) {
	ctx := context.Background()
	c := startServer(t)

	id, err := c.CreateExperiment(ctx, "fraud", client.Tag{Key: "team", Value: "risk"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateExperiment(ctx, "fraud"); err == nil {
		t.Error("a second experiment of the same name was created")
	}
	exp, err := c.GetExperiment(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if exp.Name != "fraud" || exp.LifecycleStage != "active" || exp.CreationTime.IsZero() || !strings.HasPrefix(exp.ArtifactLocation, "mlflow-artifacts:") {
		t.Errorf("experiment %+v", exp)
	}
	if v, _ := client.TagValue(exp.Tags, "team"); v != "risk" {
		t.Errorf("tags %v", exp.Tags)
	}
	byName, err := c.GetExperimentByName(ctx, "fraud")
	if err != nil || byName.ID != id {
		t.Fatalf("by name: %+v, %v", byName, err)
	}
	if _, err := c.GetExperiment(ctx, "987654"); !client.IsNotFound(err) {
		t.Errorf("missing experiment: %v", err)
	}

	if err := c.UpdateExperiment(ctx, id, "fraud-v2"); err != nil {
		t.Fatal(err)
	}
	if err := c.SetExperimentTag(ctx, id, "owner", "ana"); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"churn", "churn-eu"} {
		if _, err := c.CreateExperiment(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	exps, _, err := c.SearchExperiments(ctx, client.ExperimentSearch{Filter: "name LIKE 'churn%'", OrderBy: []string{"name DESC"}})
	if err != nil {
		t.Fatal(err)
	}
	if names := expNames(exps); !slices.Equal(names, []string{"churn-eu", "churn"}) {
		t.Errorf("search: %v", names)
	}
	exps, _, err = c.SearchExperiments(ctx, client.ExperimentSearch{Filter: "tags.owner = 'ana'"})
	if err != nil || len(exps) != 1 || exps[0].Name != "fraud-v2" {
		t.Errorf("search by tag: %v, %v", expNames(exps), err)
	}
	// Paging: one experiment per page.
	var all []string
	tok := ""
	for i := 0; i < 10; i++ {
		page, next, err := c.SearchExperiments(ctx, client.ExperimentSearch{MaxResults: 1, PageToken: tok, OrderBy: []string{"name ASC"}})
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, expNames(page)...)
		if next == "" {
			break
		}
		tok = next
	}
	if !slices.Contains(all, "fraud-v2") || !slices.Contains(all, "churn") || !sort.StringsAreSorted(all) {
		t.Errorf("paged search: %v", all)
	}
	if _, _, err := c.SearchExperiments(ctx, client.ExperimentSearch{Filter: "name >> 1"}); !isInvalid(err) {
		t.Errorf("bad filter: %v", err)
	}

	if err := c.DeleteExperiment(ctx, id); err != nil {
		t.Fatal(err)
	}
	exps, _, err = c.SearchExperiments(ctx, client.ExperimentSearch{ViewType: client.DeletedOnly})
	if err != nil || !slices.Equal(expNames(exps), []string{"fraud-v2"}) {
		t.Errorf("deleted: %v, %v", expNames(exps), err)
	}
	if err := c.RestoreExperiment(ctx, id); err != nil {
		t.Fatal(err)
	}
	if exp, err := c.GetExperiment(ctx, id); err != nil || exp.LifecycleStage != "active" {
		t.Errorf("restored: %+v, %v", exp, err)
	}
}

func TestIntegrationRuns(t *testing.T) {
	ctx := context.Background()
	c := startServer(t)
	expID, err := c.CreateExperiment(ctx, "runs")
	if err != nil {
		t.Fatal(err)
	}
	start := time.UnixMilli(time.Now().UnixMilli())
	run, err := c.CreateRun(ctx, client.RunCreate{ExperimentID: expID, RunName: "first", StartTime: start, Tags: []client.Tag{{Key: "team", Value: "risk"}}})
	if err != nil {
		t.Fatal(err)
	}
	id := run.Info.RunID
	if id == "" || run.Info.Status != client.RunRunning || !run.Info.StartTime.Equal(start) || run.Info.RunName != "first" {
		t.Fatalf("created run %+v", run.Info)
	}

	if err := c.LogParam(ctx, id, "lr", "0.1"); err != nil {
		t.Fatal(err)
	}
	if err := c.LogParam(ctx, id, "lr", "0.2"); err == nil {
		t.Error("changing a param was accepted")
	}
	for step, v := range []float64{0.5, 0.7, 0.9} {
		if err := c.LogMetric(ctx, id, client.Metric{Key: "acc", Value: v, Step: int64(step)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.LogMetric(ctx, id, client.Metric{Key: "loss", Value: math.NaN()}); err != nil {
		t.Fatal(err)
	}
	if err := c.SetTag(ctx, id, "stage", "dev"); err != nil {
		t.Fatal(err)
	}
	if err := c.SetTag(ctx, id, "tmp", "x"); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteTag(ctx, id, "tmp"); err != nil {
		t.Fatal(err)
	}

	// A batch over MLflow's limits, split by LogBatchAll.
	b := client.Batch{Params: []client.Param{{Key: "depth", Value: "6"}}}
	for i := range 2500 {
		b.Metrics = append(b.Metrics, client.Metric{Key: "curve", Value: float64(i), Step: int64(i)})
	}
	for i := range 150 {
		b.Params = append(b.Params, client.Param{Key: fmt.Sprint("p", i), Value: "v"})
	}
	if err := c.LogBatch(ctx, id, b); !errors.Is(err, client.ErrBatchTooLarge) {
		t.Errorf("oversized LogBatch: %v", err)
	}
	if err := c.LogBatchAll(ctx, id, b); err != nil {
		t.Fatal(err)
	}

	err = c.LogInputs(ctx, id, client.DatasetInput{
		Tags:    []client.Tag{{Key: client.TagDatasetContext, Value: "training"}},
		Dataset: client.Dataset{Name: "transactions", Digest: "abc123", SourceType: "local", Source: `{"uri": "/data/tx.csv"}`, Schema: `{"mlflow_colspec": []}`, Profile: `{"num_rows": 10}`},
	})
	if err != nil {
		t.Fatal(err)
	}

	got, err := c.GetRun(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := got.Data.Param("lr"); v != "0.1" {
		t.Errorf("param lr = %q", v)
	}
	if len(got.Data.Params) != 152 {
		t.Errorf("%d params, want 152", len(got.Data.Params))
	}
	if m, _ := got.Data.Metric("acc"); m.Value != 0.9 || m.Step != 2 {
		t.Errorf("latest acc %+v", m)
	}
	if m, ok := got.Data.Metric("loss"); !ok || !math.IsNaN(m.Value) {
		t.Errorf("loss %+v", m)
	}
	if _, ok := got.Data.Tag("tmp"); ok {
		t.Error("deleted tag still there")
	}
	if v, _ := got.Data.Tag("stage"); v != "dev" {
		t.Errorf("tag stage = %q", v)
	}
	if in := got.Inputs.DatasetInputs; len(in) != 1 || in[0].Dataset.Digest != "abc123" {
		t.Errorf("inputs %+v", in)
	} else if v, _ := client.TagValue(in[0].Tags, client.TagDatasetContext); v != "training" {
		t.Errorf("input tags %+v", in[0].Tags)
	}

	hist, err := c.GetMetricHistoryAll(ctx, id, "curve")
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 2500 {
		t.Errorf("curve history has %d points, want 2500", len(hist))
	}
	page, next, err := c.GetMetricHistory(ctx, id, "curve", 1000, "")
	if err != nil || len(page) != 1000 || next == "" {
		t.Errorf("first history page: %d points, next %q, %v", len(page), next, err)
	}

	end := start.Add(time.Minute)
	info, err := c.UpdateRun(ctx, id, client.RunUpdate{Status: client.RunFinished, EndTime: end})
	if err != nil {
		t.Fatal(err)
	}
	if info.Status != client.RunFinished || !info.EndTime.Equal(end) {
		t.Errorf("updated %+v", info)
	}

	// Search: a second run, then filters and order.
	second, err := c.CreateRun(ctx, client.RunCreate{ExperimentID: expID, RunName: "second"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.LogMetric(ctx, second.Info.RunID, client.Metric{Key: "acc", Value: 0.95}); err != nil {
		t.Fatal(err)
	}
	runs, _, err := c.SearchRuns(ctx, client.RunSearch{ExperimentIDs: []string{expID}, Filter: "metrics.acc > 0.8", OrderBy: []string{"metrics.acc DESC"}})
	if err != nil {
		t.Fatal(err)
	}
	if ids := runIDs(runs); !slices.Equal(ids, []string{second.Info.RunID, id}) {
		t.Errorf("search by metric: %v", ids)
	}
	runs, _, err = c.SearchRuns(ctx, client.RunSearch{ExperimentIDs: []string{expID}, Filter: "params.lr = '0.1' AND tags.team = 'risk' AND attributes.status = 'FINISHED'"})
	if err != nil || !slices.Equal(runIDs(runs), []string{id}) {
		t.Errorf("search by param and tag: %v, %v", runIDs(runs), err)
	}
	runs, _, err = c.SearchRuns(ctx, client.RunSearch{ExperimentIDs: []string{expID}, Filter: "datasets.digest = 'abc123'"})
	if err != nil || !slices.Equal(runIDs(runs), []string{id}) {
		t.Errorf("search by dataset: %v, %v", runIDs(runs), err)
	}
	if _, _, err := c.SearchRuns(ctx, client.RunSearch{ExperimentIDs: []string{expID}, Filter: "metrics.acc >> 1"}); !isInvalid(err) {
		t.Errorf("bad filter: %v", err)
	}
	var iterated []string
	for r, err := range c.SearchRunsAll(ctx, client.RunSearch{ExperimentIDs: []string{expID}, MaxResults: 1}) {
		if err != nil {
			t.Fatal(err)
		}
		iterated = append(iterated, r.Info.RunID)
	}
	if len(iterated) != 2 {
		t.Errorf("iterated %v", iterated)
	}

	if err := c.DeleteRun(ctx, second.Info.RunID); err != nil {
		t.Fatal(err)
	}
	runs, _, err = c.SearchRuns(ctx, client.RunSearch{ExperimentIDs: []string{expID}})
	if err != nil || !slices.Equal(runIDs(runs), []string{id}) {
		t.Errorf("after delete: %v, %v", runIDs(runs), err)
	}
	if err := c.RestoreRun(ctx, second.Info.RunID); err != nil {
		t.Fatal(err)
	}
	if r, err := c.GetRun(ctx, second.Info.RunID); err != nil || r.Info.LifecycleStage != "active" {
		t.Errorf("restored run %+v, %v", r.Info, err)
	}
	if _, err := c.GetRun(ctx, "00000000000000000000000000000000"); !client.IsNotFound(err) {
		t.Errorf("missing run: %v", err)
	}
}

func TestIntegrationArtifacts(t *testing.T) {
	ctx := context.Background()
	c := startServer(t)
	expID, err := c.CreateExperiment(ctx, "artifacts")
	if err != nil {
		t.Fatal(err)
	}
	run, err := c.CreateRun(ctx, client.RunCreate{ExperimentID: expID})
	if err != nil {
		t.Fatal(err)
	}
	root, err := client.ArtifactProxyPath(run.Info.ArtifactURI)
	if err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	big := bytes.Repeat([]byte("mlcycle "), 1<<17) // 1 MiB
	files := map[string][]byte{
		"model/MLmodel":          []byte("flavors: {}\n"),
		"model/data/weights.bin": big,
		"model/empty.txt":        {},
	}
	for rel, b := range files {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.LogArtifact(ctx, run.Info.RunID, filepath.Join(dir, "model"), "model"); err != nil {
		t.Fatal(err)
	}
	if err := c.LogArtifact(ctx, run.Info.RunID, filepath.Join(dir, "model", "MLmodel"), ""); err != nil {
		t.Fatal(err)
	}

	list, err := c.ListArtifacts(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	if got := fileNames(list); !slices.Equal(got, []string{"MLmodel", "model/"}) {
		t.Errorf("root listing %v", got)
	}
	list, err = c.ListArtifacts(ctx, root+"/model")
	if err != nil {
		t.Fatal(err)
	}
	if got := fileNames(list); !slices.Equal(got, []string{"MLmodel", "data/", "empty.txt"}) {
		t.Errorf("model listing %v", got)
	}
	for _, f := range list {
		if f.Path == "MLmodel" && f.Size != int64(len(files["model/MLmodel"])) {
			t.Errorf("MLmodel size %d", f.Size)
		}
	}

	for rel, want := range files {
		var buf bytes.Buffer
		n, err := c.DownloadArtifact(ctx, root+"/"+rel, &buf)
		if err != nil {
			t.Errorf("download %s: %v", rel, err)
			continue
		}
		if n != int64(len(want)) || !bytes.Equal(buf.Bytes(), want) {
			t.Errorf("download %s: %d bytes, want %d", rel, n, len(want))
		}
	}
	if _, err := c.DownloadArtifact(ctx, root+"/nope", io.Discard); !client.IsNotFound(err) {
		t.Errorf("missing artifact: %v", err)
	}

	// A reader of unknown size, sent chunked, with progress.
	var last client.Progress
	pctx := client.WithProgress(ctx, func(p client.Progress) { last = p })
	if err := c.UploadArtifact(pctx, root+"/notes/readme.txt", io.MultiReader(strings.NewReader("hello "), strings.NewReader("world"))); err != nil {
		t.Fatal(err)
	}
	if last.Done != 11 || last.Total != -1 {
		t.Errorf("progress %+v", last)
	}
	var buf bytes.Buffer
	if _, err := c.DownloadArtifact(ctx, root+"/notes/readme.txt", &buf); err != nil || buf.String() != "hello world" {
		t.Errorf("chunked upload read back %q, %v", buf.String(), err)
	}
}

func TestIntegrationRegistry(t *testing.T) {
	ctx := context.Background()
	c := startServer(t)
	expID, err := c.CreateExperiment(ctx, "registry")
	if err != nil {
		t.Fatal(err)
	}
	run, err := c.CreateRun(ctx, client.RunCreate{ExperimentID: expID})
	if err != nil {
		t.Fatal(err)
	}
	runID := run.Info.RunID

	m, err := c.CreateRegisteredModel(ctx, "fraud", "detects fraud", client.Tag{Key: "team", Value: "risk"})
	if err != nil {
		t.Fatal(err)
	}
	if m.Name != "fraud" || m.Description != "detects fraud" || m.CreationTimestamp.IsZero() {
		t.Errorf("created %+v", m)
	}
	if _, err := c.CreateRegisteredModel(ctx, "fraud", ""); err == nil {
		t.Error("duplicate model created")
	}
	if _, err := c.CreateRegisteredModel(ctx, "churn", ""); err != nil {
		t.Fatal(err)
	}

	var versions []client.ModelVersion
	for range 3 {
		v, err := c.CreateModelVersion(ctx, "fraud", run.Info.ArtifactURI+"/model", runID)
		if err != nil {
			t.Fatal(err)
		}
		versions = append(versions, v)
	}
	if versions[0].Version != "1" || versions[2].Version != "3" || versions[0].RunID != runID || versions[0].CurrentStage != client.StageNone {
		t.Errorf("versions %+v", versions)
	}
	v, err := c.GetModelVersion(ctx, "fraud", "2")
	if err != nil || v.Version != "2" || v.Source != run.Info.ArtifactURI+"/model" {
		t.Errorf("get version: %+v, %v", v, err)
	}

	models, _, err := c.SearchRegisteredModels(ctx, client.RegistrySearch{Filter: "name LIKE 'fr%'"})
	if err != nil || len(models) != 1 || models[0].Name != "fraud" {
		t.Errorf("search models: %+v, %v", models, err)
	}
	models, _, err = c.SearchRegisteredModels(ctx, client.RegistrySearch{OrderBy: []string{"name ASC"}})
	if err != nil || len(models) != 2 || models[0].Name != "churn" {
		t.Errorf("ordered models: %+v, %v", models, err)
	}
	vs, _, err := c.SearchModelVersions(ctx, client.RegistrySearch{Filter: "name = 'fraud'"})
	if err != nil || len(vs) != 3 {
		t.Errorf("search versions: %d, %v", len(vs), err)
	}
	vs, _, err = c.SearchModelVersions(ctx, client.RegistrySearch{Filter: fmt.Sprintf("run_id = '%s'", runID)})
	if err != nil || len(vs) != 3 {
		t.Errorf("search versions by run: %d, %v", len(vs), err)
	}

	if err := c.SetRegisteredModelAlias(ctx, "fraud", "champion", "2"); err != nil {
		t.Fatal(err)
	}
	if v, err := c.GetModelVersionByAlias(ctx, "fraud", "champion"); err != nil || v.Version != "2" || !slices.Contains(v.Aliases, "champion") {
		t.Errorf("by alias: %+v, %v", v, err)
	}
	if m, err := c.GetRegisteredModel(ctx, "fraud"); err != nil || len(m.Aliases) != 1 || m.Aliases[0] != (client.ModelAlias{Alias: "champion", Version: "2"}) {
		t.Errorf("model aliases: %+v, %v", m.Aliases, err)
	}
	if err := c.DeleteRegisteredModelAlias(ctx, "fraud", "champion"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetModelVersionByAlias(ctx, "fraud", "champion"); !client.IsNotFound(err) {
		t.Errorf("deleted alias: %v", err)
	}

	if v, err := c.TransitionModelVersionStage(ctx, "fraud", "1", client.StageProduction, false); err != nil || v.CurrentStage != client.StageProduction {
		t.Fatalf("stage v1: %+v, %v", v, err)
	}
	if _, err := c.TransitionModelVersionStage(ctx, "fraud", "3", client.StageProduction, true); err != nil {
		t.Fatal(err)
	}
	if v, err := c.GetModelVersion(ctx, "fraud", "1"); err != nil || v.CurrentStage != client.StageArchived {
		t.Errorf("v1 after archive_existing_versions: %+v, %v", v, err)
	}

	if m, err := c.RenameRegisteredModel(ctx, "fraud", "fraud-v2"); err != nil || m.Name != "fraud-v2" {
		t.Fatalf("rename: %+v, %v", m, err)
	}
	if v, err := c.GetModelVersion(ctx, "fraud-v2", "3"); err != nil || v.Name != "fraud-v2" {
		t.Errorf("version after rename: %+v, %v", v, err)
	}
	if err := c.DeleteRegisteredModel(ctx, "fraud-v2"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetRegisteredModel(ctx, "fraud-v2"); !client.IsNotFound(err) {
		t.Errorf("deleted model: %v", err)
	}
}

func isInvalid(err error) bool {
	var e *client.Error
	return errors.As(err, &e) && e.Status == 400 && e.Code == "INVALID_PARAMETER_VALUE"
}

func expNames(es []client.Experiment) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Name
	}
	return out
}

func runIDs(rs []client.Run) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Info.RunID
	}
	return out
}

// fileNames lists names sorted, folders with a trailing slash.
func fileNames(fs []client.FileInfo) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.Path
		if f.IsDir {
			out[i] += "/"
		}
	}
	sort.Strings(out)
	return out
}
