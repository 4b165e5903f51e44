package tracking

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/mlcycle/mlcycle/internal/errs"
	"github.com/mlcycle/mlcycle/internal/store"
	"github.com/mlcycle/mlcycle/internal/store/storetest"
)

func TestLoggedModels(t *testing.T) {
	storetest.Each(t, testMigrations(), func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		ctx := e.ctx
		exp := must[string](t)(e.svc.CreateExperiment(ctx, "models", "", nil))
		run := e.newRun(t, exp).Info.RunID

		m := must[LoggedModel](t)(e.svc.CreateLoggedModel(ctx, CreateLoggedModelInput{
			ExperimentID: exp, Name: "clf", ModelType: "sklearn", SourceRunID: run,
			Params: []Param{{"alpha", "0.1"}, {"alpha", "0.1"}}, Tags: []Tag{{"stage", "a"}, {"stage", "b"}},
		}))
		if !strings.HasPrefix(m.ModelID, "m-") || len(m.ModelID) != 34 || m.Status != ModelPending || m.Name != "clf" ||
			m.ArtifactLocation != "mlflow-artifacts:/"+exp+"/models/"+m.ModelID+"/artifacts" || m.SourceRunID != run ||
			len(m.Params) != 1 || len(m.Tags) != 1 || m.Tags[0].Value != "b" || m.CreationTimestamp == 0 {
			t.Fatalf("created: %+v", m)
		}
		if u := must[string](t)(e.svc.LoggedModelArtifactURI(ctx, m.ModelID)); u != m.ArtifactLocation {
			t.Fatalf("artifact uri %q", u)
		}
		e.clock.Add(time.Second) // distinct creation times keep the default order stable
		unnamed := must[LoggedModel](t)(e.svc.CreateLoggedModel(ctx, CreateLoggedModelInput{ExperimentID: exp}))
		if len(strings.Split(unnamed.Name, "-")) != 3 {
			t.Fatalf("generated name %q", unnamed.Name)
		}
		_, err := e.svc.CreateLoggedModel(ctx, CreateLoggedModelInput{ExperimentID: exp, Name: "a/b"})
		mustCode(t, err, errs.Invalid, "Invalid model name")
		_, err = e.svc.CreateLoggedModel(ctx, CreateLoggedModelInput{ExperimentID: "99"})
		mustCode(t, err, errs.NotFound, "No Experiment with id=99")
		_, err = e.svc.CreateLoggedModel(ctx, CreateLoggedModelInput{ExperimentID: exp, Params: []Param{{"p", "1"}, {"p", "2"}}})
		mustCode(t, err, errs.Invalid, "Changing param values is not allowed")

		// Params, tags, metrics linked through runs.
		ok(t, e.svc.LogLoggedModelParams(ctx, m.ModelID, []Param{{"alpha", "0.1"}, {"beta", "2"}}))
		mustCode(t, e.svc.LogLoggedModelParams(ctx, m.ModelID, []Param{{"beta", "3"}}), errs.Invalid, "Changing param values")
		ok(t, e.svc.SetLoggedModelTags(ctx, m.ModelID, []Tag{{"stage", "c"}, {"owner", "x"}}))
		ok(t, e.svc.DeleteLoggedModelTag(ctx, m.ModelID, "owner"))
		mustCode(t, e.svc.DeleteLoggedModelTag(ctx, m.ModelID, "owner"), errs.NotFound, "No tag with key 'owner' found for model with ID '"+m.ModelID+"'.")
		ok(t, e.svc.LogBatch(ctx, run, []Metric{
			{Key: "acc", Value: 0.8, Timestamp: 1, Step: 0, ModelID: m.ModelID, DatasetName: "val", DatasetDigest: "d1"},
			{Key: "acc", Value: 0.9, Timestamp: 2, Step: 1, ModelID: m.ModelID, DatasetName: "val", DatasetDigest: "d1"},
			{Key: "acc", Value: 0.9, Timestamp: 2, Step: 1, ModelID: m.ModelID, DatasetName: "val", DatasetDigest: "d1"},
			{Key: "nan", Value: math.NaN(), Timestamp: 2, ModelID: m.ModelID},
		}, nil, nil))
		mustCode(t, e.svc.LogMetric(ctx, run, Metric{Key: "acc", Value: 1, ModelID: "m-missing"}), errs.NotFound, "Logged model with ID 'm-missing' not found.")
		got := must[LoggedModel](t)(e.svc.GetLoggedModel(ctx, m.ModelID, false))
		if len(got.Params) != 2 || len(got.Tags) != 1 || got.Tags[0] != (Tag{"stage", "c"}) || len(got.Metrics) != 3 {
			t.Fatalf("model data: %+v", got)
		}
		if mt := got.Metrics[0]; mt.Key != "acc" || mt.Value != 0.8 || mt.RunID != run || mt.DatasetName != "val" || mt.ModelID != m.ModelID {
			t.Fatalf("model metric: %+v", mt)
		}
		if !math.IsNaN(got.Metrics[2].Value) {
			t.Fatalf("nan model metric: %+v", got.Metrics[2])
		}
		// The run sees the points too.
		if r := must[Run](t)(e.svc.GetRun(ctx, run)); len(r.Metrics) != 2 {
			t.Fatalf("run metrics: %+v", r.Metrics)
		}

		// Finalize.
		e.clock.Add(time.Second)
		f := must[LoggedModel](t)(e.svc.FinalizeLoggedModel(ctx, m.ModelID, "LOGGED_MODEL_READY"))
		if f.Status != ModelReady || f.LastUpdatedTimestamp != f.CreationTimestamp+2000 {
			t.Fatalf("finalized: %+v", f)
		}
		_, err = e.svc.FinalizeLoggedModel(ctx, m.ModelID, "DONE")
		mustCode(t, err, errs.Invalid, "'status'")
		must[LoggedModel](t)(e.svc.FinalizeLoggedModel(ctx, unnamed.ModelID, "3"))

		// Search.
		names := func(q LoggedModelQuery) string {
			t.Helper()
			q.ExperimentIDs = []string{exp}
			ms, _, err := e.svc.SearchLoggedModels(ctx, q)
			ok(t, err)
			var out []string
			for _, x := range ms {
				out = append(out, x.Name)
			}
			return strings.Join(out, ",")
		}
		third := must[LoggedModel](t)(e.svc.CreateLoggedModel(ctx, CreateLoggedModelInput{ExperimentID: exp, Name: "reg", Tags: []Tag{{"stage", "x"}}}))
		ok(t, e.svc.LogMetric(ctx, run, Metric{Key: "acc", Value: 0.5, Timestamp: 3, ModelID: third.ModelID, DatasetName: "test"}))
		un := unnamed.Name
		for _, c := range []struct {
			q    LoggedModelQuery
			want string
		}{
			{LoggedModelQuery{}, "reg," + un + ",clf"},
			{LoggedModelQuery{Filter: "name = 'clf'"}, "clf"},
			// Generated names are adjective-noun-N, so none ends in "eg".
			{LoggedModelQuery{Filter: "name LIKE '%eg'"}, "reg"},
			{LoggedModelQuery{Filter: "status = 'READY'"}, "clf"},
			{LoggedModelQuery{Filter: "attributes.status IN ('LOGGED_MODEL_PENDING', 'LOGGED_MODEL_UPLOAD_FAILED')"}, "reg," + un},
			{LoggedModelQuery{Filter: "metrics.acc > 0.6"}, "clf"},
			{LoggedModelQuery{Filter: "metrics.acc > 0.1"}, "reg,clf"},
			{LoggedModelQuery{Filter: "metrics.acc > 0.1", Datasets: []DatasetFilter{{Name: "test"}}}, "reg"},
			{LoggedModelQuery{Datasets: []DatasetFilter{{Name: "val", Digest: "d1"}}}, "clf"},
			{LoggedModelQuery{Filter: "params.beta = '2'"}, "clf"},
			{LoggedModelQuery{Filter: "tags.stage = 'x'"}, "reg"},
			{LoggedModelQuery{Filter: "model_type = 'sklearn'"}, "clf"},
			{LoggedModelQuery{Filter: "source_run_id = '" + run + "'"}, "clf"},
			{LoggedModelQuery{Filter: "creation_timestamp > 0"}, "reg," + un + ",clf"},
			{LoggedModelQuery{OrderBy: []ModelOrder{{Field: "metrics.acc", Ascending: true}}}, "reg,clf," + un},
			{LoggedModelQuery{OrderBy: []ModelOrder{{Field: "metrics.acc", Ascending: false}}}, "clf,reg," + un},
			{LoggedModelQuery{OrderBy: []ModelOrder{{Field: "metrics.acc", DatasetName: "test"}}}, "reg," + un + ",clf"},
			{LoggedModelQuery{OrderBy: []ModelOrder{{Field: "creation_timestamp", Ascending: true}}}, "clf," + un + ",reg"},
			{LoggedModelQuery{MaxResults: 1}, "reg"},
		} {
			if got := names(c.q); got != c.want {
				t.Errorf("%+v = %s, want %s", c.q, got, c.want)
			}
		}
		page, tok, err := e.svc.SearchLoggedModels(ctx, LoggedModelQuery{ExperimentIDs: []string{exp}, MaxResults: 2})
		ok(t, err)
		page2, tok2, err := e.svc.SearchLoggedModels(ctx, LoggedModelQuery{ExperimentIDs: []string{exp}, MaxResults: 2, PageToken: tok})
		ok(t, err)
		if len(page) != 2 || tok == "" || len(page2) != 1 || tok2 != "" {
			t.Fatalf("paging: %d %q %d %q", len(page), tok, len(page2), tok2)
		}
		for _, bad := range []struct{ f, want string }{
			{"metrics.acc = 'x'", "Expected numeric"},
			{"foo = 'x'", "Invalid attribute key"},
			{"status > 'READY'", "Invalid comparison operator for status"},
			{"status = 'SHINY'", "'status'"},
			{"datasets.name = 'x'", "Invalid entity type"},
		} {
			_, _, err := e.svc.SearchLoggedModels(ctx, LoggedModelQuery{ExperimentIDs: []string{exp}, Filter: bad.f})
			mustCode(t, err, errs.Invalid, bad.want)
		}
		_, _, err = e.svc.SearchLoggedModels(ctx, LoggedModelQuery{})
		mustCode(t, err, errs.Invalid, "experiment_ids")
		_, _, err = e.svc.SearchLoggedModels(ctx, LoggedModelQuery{ExperimentIDs: []string{exp}, Datasets: []DatasetFilter{{Digest: "x"}}})
		mustCode(t, err, errs.Invalid, "dataset_name")
		_, _, err = e.svc.SearchLoggedModels(ctx, LoggedModelQuery{ExperimentIDs: []string{exp}, OrderBy: []ModelOrder{{Field: "params.x"}}})
		mustCode(t, err, errs.Invalid, "Invalid order by field name")

		// Delete.
		ok(t, e.svc.DeleteLoggedModel(ctx, third.ModelID))
		_, err = e.svc.GetLoggedModel(ctx, third.ModelID, false)
		mustCode(t, err, errs.NotFound, "Logged model with ID '"+third.ModelID+"' not found.")
		if d := must[LoggedModel](t)(e.svc.GetLoggedModel(ctx, third.ModelID, true)); d.LifecycleStage != StageDeleted {
			t.Fatalf("deleted model: %+v", d)
		}
		if got := names(LoggedModelQuery{}); got != un+",clf" {
			t.Fatalf("search after delete: %s", got)
		}
		mustCode(t, e.svc.DeleteLoggedModel(ctx, third.ModelID), errs.NotFound, "not found")
		_, err = e.svc.LoggedModelArtifactURI(ctx, third.ModelID)
		mustCode(t, err, errs.NotFound, "not found")

		want := "experiment.create,run.create,logged_model.create,logged_model.create,logged_model.finalize,logged_model.finalize,logged_model.create,logged_model.delete"
		var acts []string
		for _, a := range e.actions(t) {
			acts = append(acts, strings.Fields(a)[0])
		}
		if got := strings.Join(acts, ","); got != want {
			t.Fatalf("audit = %s\nwant    %s", got, want)
		}
	})
}
