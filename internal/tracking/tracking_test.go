package tracking

import (
	"context"
	"fmt"
	"math"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mlcycle/mlcycle/internal/actor"
	"github.com/mlcycle/mlcycle/internal/audit"
	"github.com/mlcycle/mlcycle/internal/errs"
	"github.com/mlcycle/mlcycle/internal/store"
	"github.com/mlcycle/mlcycle/internal/store/storetest"
)

func testMigrations() []store.Migration {
	return append(audit.Migrations(), Migrations()...)
}

// clock is a test clock that moves only when told.
type clock struct{ ms atomic.Int64 }

func (c *clock) Now() time.Time      { return time.UnixMilli(c.ms.Load()) }
func (c *clock) Add(d time.Duration) { c.ms.Add(d.Milliseconds()) }

type env struct {
	svc   *Service
	log   *audit.Log
	db    *store.DB
	clock *clock
	ctx   context.Context
}

func newEnv(t *testing.T, db *store.DB) *env {
	t.Helper()
	c := &clock{}
	// Later than the Default experiment, which the migration stamps with
	// the real time.
	c.ms.Store(time.Now().Add(time.Hour).Truncate(time.Second).UnixMilli())
	l := audit.New(db, audit.Options{Now: c.Now})
	ctx := actor.With(context.Background(), actor.Actor{UserID: 7, Name: "alice", Role: "editor"})
	return &env{svc: New(db, l, Options{Now: c.Now}), log: l, db: db, clock: c, ctx: ctx}
}

// mustCode fails unless err has the given kind and its message contains want.
func mustCode(t *testing.T, err error, code errs.Code, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("want %s error containing %q, got nil", code, want)
	}
	if errs.CodeOf(err) != code || !strings.Contains(errs.MessageOf(err), want) {
		t.Fatalf("want %s error containing %q, got %s: %v", code, want, errs.CodeOf(err), err)
	}
}

func must[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func ok(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// actions returns the audit actions recorded, in order.
func (e *env) actions(t *testing.T) []string {
	t.Helper()
	list, err := e.log.List(context.Background(), audit.Filter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, x := range list {
		out = append(out, x.Action+" "+x.ResourceType)
	}
	return out
}

func (e *env) newRun(t *testing.T, exp string, tags ...Tag) Run {
	t.Helper()
	r, err := e.svc.CreateRun(e.ctx, CreateRunInput{ExperimentID: exp, Tags: tags})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestDefaultExperiment(t *testing.T) {
	storetest.Each(t, testMigrations(), func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		x := must[Experiment](t)(e.svc.GetExperiment(e.ctx, "0"))
		if x.Name != "Default" || x.ArtifactLocation != "mlflow-artifacts:/0" || x.LifecycleStage != StageActive || x.CreationTime == 0 {
			t.Fatalf("default experiment = %+v", x)
		}
		y := must[Experiment](t)(e.svc.GetExperimentByName(e.ctx, "Default"))
		if y.ID != "0" {
			t.Fatalf("by name: %+v", y)
		}
		// The next experiment gets id 1, and a run without an experiment goes to 0.
		id := must[string](t)(e.svc.CreateExperiment(e.ctx, "first", "", nil))
		if id != "1" {
			t.Fatalf("first experiment id = %s", id)
		}
		r := must[Run](t)(e.svc.CreateRun(e.ctx, CreateRunInput{}))
		if r.Info.ExperimentID != "0" || r.Info.ArtifactURI != "mlflow-artifacts:/0/"+r.Info.RunID+"/artifacts" {
			t.Fatalf("run in default experiment: %+v", r.Info)
		}
	})
}

func TestExperimentLifecycle(t *testing.T) {
	storetest.Each(t, testMigrations(), func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		ctx := e.ctx
		id := must[string](t)(e.svc.CreateExperiment(ctx, "exp", "", []Tag{{"team", "a"}, {"team", "b"}, {"note", "x"}}))
		x := must[Experiment](t)(e.svc.GetExperiment(ctx, id))
		if x.Name != "exp" || x.ArtifactLocation != "mlflow-artifacts:/"+id || len(x.Tags) != 2 || x.Tags[1] != (Tag{"team", "b"}) {
			t.Fatalf("created: %+v", x)
		}

		_, err := e.svc.CreateExperiment(ctx, "exp", "", nil)
		mustCode(t, err, errs.Conflict, "Experiment(name=exp) already exists.")
		_, err = e.svc.CreateExperiment(ctx, "", "", nil)
		mustCode(t, err, errs.Invalid, "Invalid experiment name")
		_, err = e.svc.CreateExperiment(ctx, strings.Repeat("n", 501), "", nil)
		mustCode(t, err, errs.Invalid, "exceeds the maximum length of 500")
		_, err = e.svc.CreateExperiment(ctx, "bad tag", "", []Tag{{"", "v"}})
		mustCode(t, err, errs.Invalid, "Invalid value")
		_, err = e.svc.CreateExperiment(ctx, "nul\x00name", "", nil)
		mustCode(t, err, errs.Invalid, "NUL")

		_, err = e.svc.GetExperiment(ctx, "999")
		mustCode(t, err, errs.NotFound, "No Experiment with id=999 exists")
		_, err = e.svc.GetExperiment(ctx, "abc")
		mustCode(t, err, errs.Invalid, "Experiment ID must be a valid integer")
		_, err = e.svc.GetExperimentByName(ctx, "nope")
		mustCode(t, err, errs.NotFound, "Could not find experiment with name 'nope'")

		// Rename; last_update_time moves.
		e.clock.Add(time.Second)
		ok(t, e.svc.UpdateExperiment(ctx, id, "renamed"))
		x = must[Experiment](t)(e.svc.GetExperimentByName(ctx, "renamed"))
		if x.LastUpdateTime != x.CreationTime+1000 {
			t.Fatalf("last_update_time = %d, creation %d", x.LastUpdateTime, x.CreationTime)
		}
		mustCode(t, e.svc.UpdateExperiment(ctx, id, "Default"), errs.Conflict, "already exists")

		// Tags.
		ok(t, e.svc.SetExperimentTag(ctx, id, "team", "c"))
		ok(t, e.svc.DeleteExperimentTag(ctx, id, "note"))
		mustCode(t, e.svc.DeleteExperimentTag(ctx, id, "note"), errs.NotFound, "No tag with name: note")
		mustCode(t, e.svc.SetExperimentTag(ctx, id, "k", strings.Repeat("v", 20001)), errs.Invalid, "exceeds the maximum length of 20000")
		x = must[Experiment](t)(e.svc.GetExperiment(ctx, id))
		if len(x.Tags) != 1 || x.Tags[0] != (Tag{"team", "c"}) {
			t.Fatalf("tags: %+v", x.Tags)
		}

		// Delete takes the runs along; restore brings them all back.
		r1 := e.newRun(t, id)
		r2 := e.newRun(t, id)
		ok(t, e.svc.DeleteRun(ctx, r2.Info.RunID))
		ok(t, e.svc.DeleteExperiment(ctx, id))
		x = must[Experiment](t)(e.svc.GetExperiment(ctx, id))
		if x.LifecycleStage != StageDeleted {
			t.Fatalf("stage after delete: %s", x.LifecycleStage)
		}
		if got := must[Run](t)(e.svc.GetRun(ctx, r1.Info.RunID)); got.Info.LifecycleStage != StageDeleted {
			t.Fatalf("run after experiment delete: %s", got.Info.LifecycleStage)
		}
		mustCode(t, e.svc.DeleteExperiment(ctx, id), errs.NotFound, "No Experiment with id="+id)
		mustCode(t, e.svc.UpdateExperiment(ctx, id, "other"), errs.Invalid, "Cannot rename a non-active experiment.")
		mustCode(t, e.svc.SetExperimentTag(ctx, id, "k", "v"), errs.Invalid, "must be in the 'active' state")
		_, err = e.svc.CreateRun(ctx, CreateRunInput{ExperimentID: id})
		mustCode(t, err, errs.Invalid, "must be in the 'active' state")
		_, err = e.svc.CreateExperiment(ctx, "renamed", "", nil)
		mustCode(t, err, errs.Conflict, "already exists") // names of deleted experiments stay taken

		ok(t, e.svc.RestoreExperiment(ctx, id))
		mustCode(t, e.svc.RestoreExperiment(ctx, id), errs.NotFound, "No Experiment")
		for _, r := range []Run{r1, r2} {
			if got := must[Run](t)(e.svc.GetRun(ctx, r.Info.RunID)); got.Info.LifecycleStage != StageActive {
				t.Fatalf("run after restore: %s", got.Info.LifecycleStage)
			}
		}

		want := []string{
			"experiment.create experiment", "experiment.rename experiment",
			"run.create run", "run.create run", "run.delete run",
			"experiment.delete experiment", "experiment.restore experiment",
		}
		if got := e.actions(t); strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("audit = %v\nwant    %v", got, want)
		}
	})
}

func TestArtifactLocation(t *testing.T) {
	storetest.Each(t, testMigrations(), func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		id := must[string](t)(e.svc.CreateExperiment(e.ctx, "custom", "mlflow-artifacts:/team//a/./b/", nil))
		x := must[Experiment](t)(e.svc.GetExperiment(e.ctx, id))
		if x.ArtifactLocation != "mlflow-artifacts:/team/a/b" {
			t.Fatalf("cleaned location = %q", x.ArtifactLocation)
		}
		r := e.newRun(t, id)
		if r.Info.ArtifactURI != "mlflow-artifacts:/team/a/b/"+r.Info.RunID+"/artifacts" {
			t.Fatalf("run artifact uri = %q", r.Info.ArtifactURI)
		}
		if u := must[string](t)(e.svc.RunArtifactURI(e.ctx, r.Info.RunID)); u != r.Info.ArtifactURI {
			t.Fatalf("RunArtifactURI = %q", u)
		}
		for i, loc := range []string{
			"file:///etc", "/abs/path", "../x", "x", "dbfs:/x", "s3://bucket/x", "gs://b/x", "http://host/x",
			"mlflow-artifacts:/../x", "mlflow-artifacts:/a/../../x", "mlflow-artifacts:/%2e%2e/x", "mlflow-artifacts:/a%2Fb",
			"mlflow-artifacts://host/x", "mlflow-artifacts:x", "mlflow-artifacts:/", "mlflow-artifacts:/a\\b",
			"mlflow-artifacts:/c:/x", "mlflow-artifacts:/a?b", "runs:/abc/x", "MLFLOW-ARTIFACTS:/x",
		} {
			_, err := e.svc.CreateExperiment(e.ctx, fmt.Sprintf("bad-%d", i), loc, nil)
			mustCode(t, err, errs.Invalid, "artifact_location")
		}
	})
}

func TestRunLifecycle(t *testing.T) {
	storetest.Each(t, testMigrations(), func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		ctx := e.ctx
		exp := must[string](t)(e.svc.CreateExperiment(ctx, "runs", "", nil))

		r := must[Run](t)(e.svc.CreateRun(ctx, CreateRunInput{ExperimentID: exp, StartTime: 1000, Tags: []Tag{{"a", "1"}}}))
		if len(r.Info.RunID) != 32 || r.Info.Status != StatusRunning || r.Info.StartTime != 1000 || r.Info.UserID != "alice" ||
			r.Info.LifecycleStage != StageActive || r.Info.EndTime != 0 {
			t.Fatalf("created: %+v", r.Info)
		}
		parts := strings.Split(r.Info.RunName, "-")
		if len(parts) != 3 || len(r.Info.RunName) > 20 {
			t.Fatalf("generated name %q", r.Info.RunName)
		}
		if len(r.Tags) != 2 || r.Tags[1] != (Tag{TagRunName, r.Info.RunName}) {
			t.Fatalf("tags: %+v", r.Tags)
		}

		named := must[Run](t)(e.svc.CreateRun(ctx, CreateRunInput{ExperimentID: exp, RunName: "n1", UserID: "bob"}))
		if named.Info.RunName != "n1" || named.Info.UserID != "bob" {
			t.Fatalf("named: %+v", named.Info)
		}
		byTag := must[Run](t)(e.svc.CreateRun(ctx, CreateRunInput{ExperimentID: exp, Tags: []Tag{{TagRunName, "from-tag"}}}))
		if byTag.Info.RunName != "from-tag" {
			t.Fatalf("name from tag: %+v", byTag.Info)
		}
		_, err := e.svc.CreateRun(ctx, CreateRunInput{ExperimentID: exp, RunName: "x", Tags: []Tag{{TagRunName, "y"}}})
		mustCode(t, err, errs.Invalid, "Both 'run_name' argument and 'mlflow.runName' tag are specified")
		_, err = e.svc.CreateRun(ctx, CreateRunInput{ExperimentID: "42"})
		mustCode(t, err, errs.NotFound, "No Experiment with id=42 exists")

		// Update: end it, rename it.
		end := int64(5000)
		ri := must[RunInfo](t)(e.svc.UpdateRun(ctx, r.Info.RunID, RunUpdate{Status: StatusFinished, EndTime: &end, RunName: "done"}))
		if ri.Status != StatusFinished || ri.EndTime != 5000 || ri.RunName != "done" {
			t.Fatalf("updated: %+v", ri)
		}
		got := must[Run](t)(e.svc.GetRun(ctx, r.Info.RunID))
		if got.Info != ri {
			t.Fatalf("get after update:\n%+v\n%+v", got.Info, ri)
		}
		if v := tagValue(got.Tags, TagRunName); v != "done" {
			t.Fatalf("runName tag after rename = %q", v)
		}
		_, err = e.svc.UpdateRun(ctx, r.Info.RunID, RunUpdate{Status: "DONE"})
		mustCode(t, err, errs.Invalid, "'status'")

		// Renaming through the tag renames the run.
		ok(t, e.svc.SetTag(ctx, named.Info.RunID, TagRunName, "n2"))
		if got := must[Run](t)(e.svc.GetRun(ctx, named.Info.RunID)); got.Info.RunName != "n2" {
			t.Fatalf("rename by tag: %+v", got.Info)
		}

		// Tags.
		ok(t, e.svc.SetTag(ctx, r.Info.RunID, "a", "2"))
		ok(t, e.svc.DeleteTag(ctx, r.Info.RunID, "a"))
		mustCode(t, e.svc.DeleteTag(ctx, r.Info.RunID, "a"), errs.NotFound, "No tag with name: a in run with id "+r.Info.RunID)
		mustCode(t, e.svc.SetTag(ctx, r.Info.RunID, "bad\tkey", "v"), errs.Invalid, "Names may only contain")
		mustCode(t, e.svc.SetTag(ctx, r.Info.RunID, "../up", "v"), errs.Invalid, "would resolve to")
		mustCode(t, e.svc.SetTag(ctx, r.Info.RunID, strings.Repeat("k", 251), "v"), errs.Invalid, "exceeds the maximum length of 250")

		// Delete and restore.
		ok(t, e.svc.DeleteRun(ctx, r.Info.RunID))
		ok(t, e.svc.DeleteRun(ctx, r.Info.RunID)) // idempotent
		mustCode(t, e.svc.LogParam(ctx, r.Info.RunID, "p", "1"), errs.Invalid, "must be in the 'active' state. Current state is deleted.")
		mustCode(t, e.svc.LogMetric(ctx, r.Info.RunID, Metric{Key: "m", Value: 1}), errs.Invalid, "must be in the 'active' state")
		_, err = e.svc.UpdateRun(ctx, r.Info.RunID, RunUpdate{Status: StatusKilled})
		mustCode(t, err, errs.Invalid, "must be in the 'active' state")
		ok(t, e.svc.RestoreRun(ctx, r.Info.RunID))
		ok(t, e.svc.LogParam(ctx, r.Info.RunID, "p", "1"))

		_, err = e.svc.GetRun(ctx, "0123456789abcdef0123456789abcdef")
		mustCode(t, err, errs.NotFound, "Run with id=0123456789abcdef0123456789abcdef not found")
		mustCode(t, e.svc.DeleteRun(ctx, "nope"), errs.NotFound, "Run with id=nope not found")

		// Resuming a finished run is audited, and so is ending it again.
		ok(t, nilErr(e.svc.UpdateRun(ctx, r.Info.RunID, RunUpdate{Status: StatusRunning})))
		ok(t, nilErr(e.svc.UpdateRun(ctx, r.Info.RunID, RunUpdate{Status: StatusFailed})))

		want := []string{
			"experiment.create experiment", "run.create run", "run.create run", "run.create run",
			"run.rename run", "run.end run", "run.rename run",
			"run.delete run", "run.restore run", "run.resume run", "run.end run",
		}
		if got := e.actions(t); strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("audit = %v\nwant    %v", got, want)
		}
	})
}

func nilErr[T any](_ T, err error) error { return err }

func tagValue(tags []Tag, key string) string {
	for _, t := range tags {
		if t.Key == key {
			return t.Value
		}
	}
	return ""
}

func TestNestedRuns(t *testing.T) {
	storetest.Each(t, testMigrations(), func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		parent := e.newRun(t, "0")
		child := e.newRun(t, "0", Tag{TagParentRunID, parent.Info.RunID})
		got := must[Run](t)(e.svc.GetRun(e.ctx, child.Info.RunID))
		if tagValue(got.Tags, TagParentRunID) != parent.Info.RunID {
			t.Fatalf("child tags: %+v", got.Tags)
		}
		list, err := e.log.List(context.Background(), audit.Filter{Action: "run.create", ResourceID: child.Info.RunID})
		if err != nil || len(list) != 1 || list[0].Detail["parent_run_id"] != parent.Info.RunID {
			t.Fatalf("audit of nested run: %+v %v", list, err)
		}
	})
}

func TestParamsAndTagValues(t *testing.T) {
	storetest.Each(t, testMigrations(), func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		ctx := e.ctx
		r := e.newRun(t, "0")
		id := r.Info.RunID
		ok(t, e.svc.LogParam(ctx, id, "lr", "0.1"))
		ok(t, e.svc.LogParam(ctx, id, "lr", "0.1")) // same value: no-op
		err := e.svc.LogParam(ctx, id, "lr", "0.2")
		mustCode(t, err, errs.Invalid, "Changing param values is not allowed. Param with key='lr' was already logged with value='0.1' for run ID='"+id+"'. Attempted logging new value '0.2'.")
		mustCode(t, e.svc.LogParam(ctx, id, "", "x"), errs.Invalid, "Invalid value \"\" for parameter 'key'")
		mustCode(t, e.svc.LogParam(ctx, id, "v", "a\x00b"), errs.Invalid, "NUL")

		// Over-long values are truncated as MLflow's server does.
		long := strings.Repeat("é", 7000)
		ok(t, e.svc.LogParam(ctx, id, "long", long))
		ok(t, e.svc.SetTag(ctx, id, "long", strings.Repeat("t", 9000)))
		got := must[Run](t)(e.svc.GetRun(ctx, id))
		for _, p := range got.Params {
			if p.Key == "long" && p.Value != strings.Repeat("é", 6000) {
				t.Fatalf("param truncated to %d characters", len([]rune(p.Value)))
			}
		}
		if v := tagValue(got.Tags, "long"); len(v) != 8000 {
			t.Fatalf("tag truncated to %d", len(v))
		}
		if len(got.Params) != 2 || got.Params[1] != (Param{"lr", "0.1"}) {
			t.Fatalf("params: %+v", got.Params[1:])
		}
		// Keys: unicode word characters, ":", "/" and spaces are fine.
		ok(t, e.svc.LogParam(ctx, id, "Schicht/größe: 2", "x"))
	})
}

func TestMetrics(t *testing.T) {
	storetest.Each(t, testMigrations(), func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		ctx := e.ctx
		id := e.newRun(t, "0").Info.RunID
		for _, m := range []Metric{
			{Key: "loss", Value: 0.5, Timestamp: 10, Step: 1},
			{Key: "loss", Value: 0.5, Timestamp: 10, Step: 1}, // duplicate: ignored
			{Key: "loss", Value: 0.4, Timestamp: 5, Step: 2},  // higher step wins over later time
			{Key: "loss", Value: 0.9, Timestamp: 1, Step: 0},
			{Key: "nan", Value: math.NaN(), Timestamp: 1},
			{Key: "nan", Value: math.NaN(), Timestamp: 1}, // NaN duplicates too
			{Key: "inf", Value: math.Inf(1), Timestamp: 1},
			{Key: "inf", Value: math.Inf(-1), Timestamp: 2},
			{Key: "tie", Value: 1, Timestamp: 5, Step: 3},
			{Key: "tie", Value: 2, Timestamp: 5, Step: 3}, // same step and time: larger value wins
			{Key: "tie", Value: 0, Timestamp: 4, Step: 3},
		} {
			ok(t, e.svc.LogMetric(ctx, id, m))
		}
		hist := must[[]Metric](t)(nilToken(e.svc.GetMetricHistory(ctx, id, "loss", 0, "")))
		if len(hist) != 3 || hist[0].Timestamp != 1 || hist[2].Timestamp != 10 {
			t.Fatalf("loss history: %+v", hist)
		}
		nan := must[[]Metric](t)(nilToken(e.svc.GetMetricHistory(ctx, id, "nan", 0, "")))
		if len(nan) != 1 || !math.IsNaN(nan[0].Value) {
			t.Fatalf("nan history: %+v", nan)
		}
		inf := must[[]Metric](t)(nilToken(e.svc.GetMetricHistory(ctx, id, "inf", 0, "")))
		if len(inf) != 2 || !math.IsInf(inf[0].Value, 1) || !math.IsInf(inf[1].Value, -1) {
			t.Fatalf("inf history: %+v", inf)
		}
		latest := map[string]Metric{}
		for _, m := range must[Run](t)(e.svc.GetRun(ctx, id)).Metrics {
			latest[m.Key] = m
		}
		if m := latest["loss"]; m.Value != 0.4 || m.Step != 2 {
			t.Fatalf("latest loss: %+v", m)
		}
		if m := latest["nan"]; !math.IsNaN(m.Value) {
			t.Fatalf("latest nan: %+v", m)
		}
		if m := latest["inf"]; !math.IsInf(m.Value, -1) || m.Timestamp != 2 {
			t.Fatalf("latest inf: %+v", m)
		}
		if m := latest["tie"]; m.Value != 2 {
			t.Fatalf("latest tie: %+v", m)
		}

		mustCode(t, e.svc.LogMetric(ctx, id, Metric{Key: "m", Value: 1, Timestamp: -1}), errs.Invalid, "Timestamp must be a nonnegative long")
		mustCode(t, e.svc.LogMetric(ctx, id, Metric{Key: "bad|key", Value: 1}), errs.Invalid, "Names may only contain")
		_, _, err := e.svc.GetMetricHistory(ctx, "missing", "loss", 0, "")
		mustCode(t, err, errs.NotFound, "Run with id=missing not found")

		// Metric points are not audited.
		for _, a := range e.actions(t) {
			if strings.Contains(a, "metric") || strings.Contains(a, "param") {
				t.Fatalf("unexpected audit event %s", a)
			}
		}
		if n := len(e.actions(t)); n != 1 {
			t.Fatalf("audit events: %v", e.actions(t))
		}
	})
}

func nilToken[T any](v T, _ string, err error) (T, error) { return v, err }

func TestLogBatch(t *testing.T) {
	storetest.Each(t, testMigrations(), func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		ctx := e.ctx
		id := e.newRun(t, "0").Info.RunID
		metrics := func(n int) []Metric {
			out := make([]Metric, n)
			for i := range out {
				out[i] = Metric{Key: fmt.Sprintf("m%d", i%10), Value: float64(i), Timestamp: int64(i), Step: int64(i)}
			}
			return out
		}
		params := func(n int) []Param {
			out := make([]Param, n)
			for i := range out {
				out[i] = Param{fmt.Sprintf("p%d", i), "v"}
			}
			return out
		}
		tags := func(n int) []Tag {
			out := make([]Tag, n)
			for i := range out {
				out[i] = Tag{fmt.Sprintf("t%d", i), "v"}
			}
			return out
		}
		ok(t, e.svc.LogBatch(ctx, id, metrics(900), params(100), nil))
		ok(t, e.svc.LogBatch(ctx, id, metrics(1000), nil, nil))
		ok(t, e.svc.LogBatch(ctx, id, nil, params(100), tags(100))) // same params again: fine

		cases := []struct {
			name string
			m    []Metric
			p    []Param
			tg   []Tag
			want string
		}{
			{"too many metrics", metrics(1001), nil, nil, "at most 1000 metrics. Got 1001 metrics"},
			{"too many params", nil, params(101), nil, "at most 100 params"},
			{"too many tags", nil, nil, tags(101), "at most 100 tags"},
			{"too many in all", metrics(900), nil, append(tags(100), Tag{"x", "y"})[:100], ""},
			{"bad metric key last", append(metrics(5), Metric{Key: "", Value: 1}), nil, nil, "metrics[5].name"},
			{"bad param key", metrics(5), []Param{{"ok", "1"}, {"a//b", "1"}}, nil, "params[1].key"},
			{"changed param", metrics(5), []Param{{"p1", "other"}}, nil, "Changing param values is not allowed. Params were already logged"},
			{"duplicate param keys", nil, []Param{{"new", "1"}, {"new", "2"}}, nil, "Duplicate parameter keys have been submitted: ['new']"},
			{"bad tag", metrics(5), nil, []Tag{{"t", "a\x00"}}, "NUL"},
			{"negative timestamp", []Metric{{Key: "ok", Value: 1}, {Key: "ok", Value: 1, Timestamp: -5}}, nil, nil, "metrics[1].timestamp"},
		}
		// 900 metrics + 100 params + 1 tag: each under its limit, 1001 in all.
		cases[3].p = params(100)
		cases[3].tg = tags(1)
		cases[3].want = "at most 1000 metrics, params, and tags. Got 1001"
		before := countRows(t, db, id)
		for _, c := range cases {
			err := e.svc.LogBatch(ctx, id, c.m, c.p, c.tg)
			mustCode(t, err, errs.Invalid, c.want)
			if after := countRows(t, db, id); after != before {
				t.Fatalf("%s: batch changed rows %v -> %v", c.name, before, after)
			}
		}
		mustCode(t, e.svc.LogBatch(ctx, "bad id!", nil, nil, nil), errs.Invalid, "'run_id'")
		mustCode(t, e.svc.LogBatch(ctx, "ffffffffffffffffffffffffffffffff", nil, nil, nil), errs.NotFound, "not found")

		latest := map[string]Metric{}
		for _, m := range must[Run](t)(e.svc.GetRun(ctx, id)).Metrics {
			latest[m.Key] = m
		}
		if len(latest) != 10 || latest["m3"].Value != 993 || latest["m3"].Step != 993 {
			t.Fatalf("latest after batch: %+v", latest["m3"])
		}
	})
}

// countRows counts a run's metric points, params and tags.
func countRows(t *testing.T, db *store.DB, runID string) [3]int {
	t.Helper()
	var out [3]int
	for i, table := range []string{"run_metrics", "run_params", "run_tags"} {
		if err := db.QueryRow(context.Background(), `SELECT COUNT(*) FROM `+table+` WHERE run_uuid = ?`, runID).Scan(&out[i]); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func TestMetricHistoryPaging(t *testing.T) {
	storetest.Each(t, testMigrations(), func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		id := e.newRun(t, "0").Info.RunID
		var ms []Metric
		for i := range 25 {
			ms = append(ms, Metric{Key: "acc", Value: float64(i), Timestamp: int64(100 + i), Step: int64(i)})
		}
		ok(t, e.svc.LogBatch(e.ctx, id, ms, nil, nil))
		var all []Metric
		tok := ""
		pages := 0
		for {
			page, next, err := e.svc.GetMetricHistory(e.ctx, id, "acc", 10, tok)
			ok(t, err)
			pages++
			all = append(all, page...)
			if next == "" {
				break
			}
			tok = next
		}
		if pages != 3 || len(all) != 25 || all[24].Value != 24 || all[10].Step != 10 {
			t.Fatalf("pages %d, points %d: %+v", pages, len(all), all)
		}
		_, _, err := e.svc.GetMetricHistory(e.ctx, id, "acc", 10, "not-a-token")
		mustCode(t, err, errs.Invalid, "page token")
	})
}

func TestMetricHistoryBulkInterval(t *testing.T) {
	storetest.Each(t, testMigrations(), func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		a := e.newRun(t, "0").Info.RunID
		b := e.newRun(t, "0").Info.RunID
		var ms []Metric
		for i := range 100 {
			ms = append(ms, Metric{Key: "loss", Value: float64(i), Timestamp: int64(i), Step: int64(i)})
		}
		ok(t, e.svc.LogBatch(e.ctx, a, ms, nil, nil))
		ok(t, e.svc.LogBatch(e.ctx, b, ms[:3], nil, nil))

		got := must[[]Metric](t)(e.svc.GetMetricHistoryBulkInterval(e.ctx, IntervalQuery{RunIDs: []string{a, b}, MetricKey: "loss", MaxResults: 10}))
		if len(got) != 13 {
			t.Fatalf("got %d points: %+v", len(got), got)
		}
		steps := []int64{}
		for _, m := range got[:10] {
			if m.RunID != a || m.Key != "loss" {
				t.Fatalf("point %+v", m)
			}
			steps = append(steps, m.Step)
		}
		if steps[0] != 0 || steps[9] != 99 || steps[1] != 10 || steps[5] != 50 {
			t.Fatalf("sampled steps %v", steps)
		}
		if got[10].RunID != b || got[12].Step != 2 {
			t.Fatalf("second run: %+v", got[10:])
		}

		start, end := int64(20), int64(29)
		got = must[[]Metric](t)(e.svc.GetMetricHistoryBulkInterval(e.ctx, IntervalQuery{RunIDs: []string{a}, MetricKey: "loss", StartStep: &start, EndStep: &end, MaxResults: 5}))
		if len(got) != 5 || got[0].Step != 20 || got[4].Step != 29 {
			t.Fatalf("window: %+v", got)
		}
		one := must[[]Metric](t)(e.svc.GetMetricHistoryBulkInterval(e.ctx, IntervalQuery{RunIDs: []string{a}, MetricKey: "loss", MaxResults: 1}))
		if len(one) != 1 || one[0].Step != 99 {
			t.Fatalf("max_results 1 keeps the last point: %+v", one)
		}

		_, err := e.svc.GetMetricHistoryBulkInterval(e.ctx, IntervalQuery{RunIDs: make([]string, 101), MetricKey: "loss"})
		mustCode(t, err, errs.Invalid, "at most 100 run_ids")
		_, err = e.svc.GetMetricHistoryBulkInterval(e.ctx, IntervalQuery{RunIDs: []string{a}, MetricKey: "loss", StartStep: &start})
		mustCode(t, err, errs.Invalid, "both must be specified")
		_, err = e.svc.GetMetricHistoryBulkInterval(e.ctx, IntervalQuery{RunIDs: []string{a}, MetricKey: "loss", StartStep: &end, EndStep: &start})
		mustCode(t, err, errs.Invalid, "end_step must be greater than start_step")
		_, err = e.svc.GetMetricHistoryBulkInterval(e.ctx, IntervalQuery{RunIDs: []string{a}, MetricKey: "loss", MaxResults: 2501})
		mustCode(t, err, errs.Invalid, "between 1 and 2500")
	})
}

func TestInputsAndOutputs(t *testing.T) {
	storetest.Each(t, testMigrations(), func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		ctx := e.ctx
		r1 := e.newRun(t, "0").Info.RunID
		r2 := e.newRun(t, "0").Info.RunID
		ds := Dataset{Name: "iris", Digest: "abc123", SourceType: "local", Source: `{"uri":"x"}`, Schema: `{"s":1}`, Profile: `{"rows":150}`}
		in := []DatasetInput{{Dataset: ds, Tags: []Tag{{TagDataContext, "training"}}}, {Dataset: ds}}
		ok(t, e.svc.LogInputs(ctx, r1, in, nil))
		ok(t, e.svc.LogInputs(ctx, r1, in, nil)) // again: nothing new
		ok(t, e.svc.LogInputs(ctx, r2, []DatasetInput{{Dataset: ds, Tags: []Tag{{TagDataContext, "eval"}}}}, nil))
		var n int
		ok(t, db.QueryRow(ctx, `SELECT COUNT(*) FROM input_datasets`).Scan(&n))
		if n != 1 {
			t.Fatalf("datasets stored: %d", n)
		}
		got := must[Run](t)(e.svc.GetRun(ctx, r1))
		if len(got.DatasetInputs) != 1 || got.DatasetInputs[0].Dataset != ds || len(got.DatasetInputs[0].Tags) != 1 ||
			got.DatasetInputs[0].Tags[0].Value != "training" {
			t.Fatalf("inputs: %+v", got.DatasetInputs)
		}
		mustCode(t, e.svc.LogInputs(ctx, r1, []DatasetInput{{Dataset: Dataset{Digest: "x"}}}, nil), errs.Invalid, "name")
		mustCode(t, e.svc.LogInputs(ctx, r1, []DatasetInput{{Dataset: Dataset{Name: "d", Digest: strings.Repeat("x", 37)}}}, nil), errs.Invalid, "digest")

		m := must[LoggedModel](t)(e.svc.CreateLoggedModel(ctx, CreateLoggedModelInput{ExperimentID: "0", SourceRunID: r1}))
		ok(t, e.svc.LogOutputs(ctx, r1, []ModelOutput{{ModelID: m.ModelID, Step: 3}}))
		ok(t, e.svc.LogOutputs(ctx, r1, []ModelOutput{{ModelID: m.ModelID, Step: 3}}))
		ok(t, e.svc.LogInputs(ctx, r2, nil, []string{m.ModelID}))
		mustCode(t, e.svc.LogOutputs(ctx, r1, []ModelOutput{{ModelID: "m-nope"}}), errs.NotFound, "Logged model with ID 'm-nope' not found.")
		mustCode(t, e.svc.LogOutputs(ctx, r1, nil), errs.Invalid, "models")
		got = must[Run](t)(e.svc.GetRun(ctx, r1))
		if len(got.ModelOutputs) != 1 || got.ModelOutputs[0] != (ModelOutput{m.ModelID, 3}) {
			t.Fatalf("outputs: %+v", got.ModelOutputs)
		}
		if got := must[Run](t)(e.svc.GetRun(ctx, r2)); len(got.ModelInputs) != 1 || got.ModelInputs[0] != m.ModelID {
			t.Fatalf("model inputs: %+v", got.ModelInputs)
		}

		// runs/log-model keeps a JSON history in a tag.
		model := `{"artifact_path":"model","flavors":{"sklearn":{}},"run_id":"` + r1 + `","utc_time_created":"2026-01-01"}`
		ok(t, e.svc.RecordLoggedModel(ctx, r1, model))
		ok(t, e.svc.RecordLoggedModel(ctx, r1, model))
		hist := tagValue(must[Run](t)(e.svc.GetRun(ctx, r1)).Tags, TagLoggedModels)
		if strings.Count(hist, `"artifact_path":"model"`) != 2 || !strings.HasPrefix(hist, "[{") {
			t.Fatalf("history tag: %s", hist)
		}
		mustCode(t, e.svc.RecordLoggedModel(ctx, r1, `{"flavors":{}}`), errs.Invalid, "missing mandatory fields: {'artifact_path', 'run_id', 'utc_time_created'}")
		mustCode(t, e.svc.RecordLoggedModel(ctx, r1, `nope`), errs.Invalid, "not a valid JSON")
	})
}

func TestConcurrentLogging(t *testing.T) {
	storetest.Each(t, testMigrations(), func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		id := e.newRun(t, "0").Info.RunID
		const writers, batches = 6, 15
		errc := make(chan error, writers)
		for w := range writers {
			go func() {
				var err error
				for b := range batches {
					var ms []Metric
					for k := range 20 {
						// Keys in a different order per writer.
						key := fmt.Sprintf("m%02d", (k*7+w*3)%20)
						ms = append(ms, Metric{Key: key, Value: float64(w), Timestamp: int64(b), Step: int64(b*10 + w)})
					}
					if err = e.svc.LogBatch(e.ctx, id, ms, []Param{{"shared", "same"}}, []Tag{{"writer", fmt.Sprint(w)}}); err != nil {
						break
					}
				}
				errc <- err
			}()
		}
		for range writers {
			ok(t, <-errc)
		}
		var n int
		ok(t, db.QueryRow(context.Background(), `SELECT COUNT(*) FROM run_metrics WHERE run_uuid = ?`, id).Scan(&n))
		if n != writers*batches*20 {
			t.Fatalf("%d points stored", n)
		}
		for _, m := range must[Run](t)(e.svc.GetRun(e.ctx, id)).Metrics {
			if m.Step != int64((batches-1)*10+writers-1) {
				t.Fatalf("latest %s at step %d", m.Key, m.Step)
			}
		}
	})
}
