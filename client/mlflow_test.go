package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// These tests check what the client puts on the wire, against a small real
// HTTP server that records each request. The round trips against the real
// mlcycle server are in mlflow_integration_test.go.

type recorded struct {
	Method   string
	Path     string // unescaped
	RawPath  string // as sent
	Query    string
	Header   http.Header
	Body     []byte
	Chunked  bool
	Length   int64
	Received time.Time
}

type recorder struct {
	t       *testing.T
	mu      sync.Mutex
	reqs    []recorded
	respond func(r recorded) (status int, body string)
}

func newRecorder(t *testing.T, respond func(r recorded) (int, string)) (*recorder, *Client) {
	t.Helper()
	rec := &recorder{t: t, respond: respond}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		got := recorded{
			Method: r.Method, Path: r.URL.Path, RawPath: r.URL.EscapedPath(), Query: r.URL.RawQuery,
			Header: r.Header.Clone(), Body: body, Chunked: slices.Contains(r.TransferEncoding, "chunked"),
			Length: r.ContentLength, Received: time.Now(),
		}
		rec.mu.Lock()
		rec.reqs = append(rec.reqs, got)
		rec.mu.Unlock()
		status, answer := http.StatusOK, "{}"
		if rec.respond != nil {
			status, answer = rec.respond(got)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, answer)
	}))
	t.Cleanup(srv.Close)
	c, err := New(srv.URL, WithToken("tok"))
	if err != nil {
		t.Fatal(err)
	}
	return rec, c
}

func (rec *recorder) all() []recorded {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return slices.Clone(rec.reqs)
}

func (rec *recorder) last() recorded {
	all := rec.all()
	if len(all) == 0 {
		rec.t.Fatal("no request was sent")
	}
	return all[len(all)-1]
}

// sameJSON reports whether two JSON documents are equal as values.
func sameJSON(t *testing.T, got []byte, want string) bool {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("request body %q is not JSON: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad want %q: %v", want, err)
	}
	return reflect.DeepEqual(g, w)
}

func TestRequestEncoding(t *testing.T) {
	ctx := context.Background()
	start := time.UnixMilli(1700000000123)
	tests := []struct {
		name   string
		call   func(c *Client) error
		method string
		path   string
		query  string // exact encoded query, for GET
		body   string // JSON, for the others ("" = no body)
	}{
		{"create experiment", func(c *Client) error {
			_, err := c.CreateExperiment(ctx, "fraud", Tag{"team", "risk"})
			return err
		}, "POST", "/api/2.0/mlflow/experiments/create", "", `{"name":"fraud","tags":[{"key":"team","value":"risk"}]}`},
		{"get experiment", func(c *Client) error { _, err := c.GetExperiment(ctx, "7"); return err },
			"GET", "/api/2.0/mlflow/experiments/get", "experiment_id=7", ""},
		{"get experiment by name", func(c *Client) error { _, err := c.GetExperimentByName(ctx, "a b&c"); return err },
			"GET", "/api/2.0/mlflow/experiments/get-by-name", "experiment_name=a+b%26c", ""},
		{"search experiments", func(c *Client) error {
			_, _, err := c.SearchExperiments(ctx, ExperimentSearch{Filter: "name LIKE 'a%'", OrderBy: []string{"name ASC"}, MaxResults: 5, PageToken: "p", ViewType: AllViews})
			return err
		}, "POST", "/api/2.0/mlflow/experiments/search", "", `{"max_results":5,"page_token":"p","filter":"name LIKE 'a%'","order_by":["name ASC"],"view_type":"ALL"}`},
		{"search experiments, defaults", func(c *Client) error { _, _, err := c.SearchExperiments(ctx, ExperimentSearch{}); return err },
			"POST", "/api/2.0/mlflow/experiments/search", "", `{}`},
		{"delete experiment", func(c *Client) error { return c.DeleteExperiment(ctx, "7") },
			"POST", "/api/2.0/mlflow/experiments/delete", "", `{"experiment_id":"7"}`},
		{"restore experiment", func(c *Client) error { return c.RestoreExperiment(ctx, "7") },
			"POST", "/api/2.0/mlflow/experiments/restore", "", `{"experiment_id":"7"}`},
		{"rename experiment", func(c *Client) error { return c.UpdateExperiment(ctx, "7", "new") },
			"POST", "/api/2.0/mlflow/experiments/update", "", `{"experiment_id":"7","new_name":"new"}`},
		{"set experiment tag", func(c *Client) error { return c.SetExperimentTag(ctx, "7", "k", "v") },
			"POST", "/api/2.0/mlflow/experiments/set-experiment-tag", "", `{"experiment_id":"7","key":"k","value":"v"}`},
		{"create run", func(c *Client) error {
			_, err := c.CreateRun(ctx, RunCreate{ExperimentID: "7", RunName: "r1", StartTime: start, Tags: []Tag{{"k", "v"}}})
			return err
		}, "POST", "/api/2.0/mlflow/runs/create", "", `{"experiment_id":"7","run_name":"r1","start_time":1700000000123,"tags":[{"key":"k","value":"v"}]}`},
		{"get run", func(c *Client) error { _, err := c.GetRun(ctx, "abc"); return err },
			"GET", "/api/2.0/mlflow/runs/get", "run_id=abc", ""},
		{"update run", func(c *Client) error {
			_, err := c.UpdateRun(ctx, "abc", RunUpdate{Status: RunFinished, EndTime: start})
			return err
		}, "POST", "/api/2.0/mlflow/runs/update", "", `{"run_id":"abc","status":"FINISHED","end_time":1700000000123}`},
		{"rename run", func(c *Client) error { _, err := c.UpdateRun(ctx, "abc", RunUpdate{RunName: "n"}); return err },
			"POST", "/api/2.0/mlflow/runs/update", "", `{"run_id":"abc","run_name":"n"}`},
		{"delete run", func(c *Client) error { return c.DeleteRun(ctx, "abc") },
			"POST", "/api/2.0/mlflow/runs/delete", "", `{"run_id":"abc"}`},
		{"restore run", func(c *Client) error { return c.RestoreRun(ctx, "abc") },
			"POST", "/api/2.0/mlflow/runs/restore", "", `{"run_id":"abc"}`},
		{"search runs", func(c *Client) error {
			_, _, err := c.SearchRuns(ctx, RunSearch{ExperimentIDs: []string{"1", "2"}, Filter: "metrics.acc > 0.9", ViewType: ActiveOnly, MaxResults: 10, OrderBy: []string{"metrics.acc DESC"}, PageToken: "t"})
			return err
		}, "POST", "/api/2.0/mlflow/runs/search", "", `{"experiment_ids":["1","2"],"filter":"metrics.acc > 0.9","run_view_type":"ACTIVE_ONLY","max_results":10,"order_by":["metrics.acc DESC"],"page_token":"t"}`},
		{"search runs, defaults", func(c *Client) error { _, _, err := c.SearchRuns(ctx, RunSearch{}); return err },
			"POST", "/api/2.0/mlflow/runs/search", "", `{"experiment_ids":[]}`},
		{"log param", func(c *Client) error { return c.LogParam(ctx, "abc", "lr", "0.1") },
			"POST", "/api/2.0/mlflow/runs/log-parameter", "", `{"run_id":"abc","key":"lr","value":"0.1"}`},
		{"log metric", func(c *Client) error {
			return c.LogMetric(ctx, "abc", Metric{Key: "acc", Value: 0.5, Timestamp: At(start), Step: 3})
		}, "POST", "/api/2.0/mlflow/runs/log-metric", "", `{"run_id":"abc","key":"acc","value":0.5,"timestamp":1700000000123,"step":3}`},
		{"log NaN metric", func(c *Client) error {
			return c.LogMetric(ctx, "abc", Metric{Key: "loss", Value: math.NaN(), Timestamp: At(start)})
		}, "POST", "/api/2.0/mlflow/runs/log-metric", "", `{"run_id":"abc","key":"loss","value":"NaN","timestamp":1700000000123,"step":0}`},
		{"log batch", func(c *Client) error {
			return c.LogBatch(ctx, "abc", Batch{
				Metrics: []Metric{{Key: "m", Value: math.Inf(-1), Timestamp: At(start), Step: 1}},
				Params:  []Param{{"p", "1"}},
				Tags:    []Tag{{"t", "x"}},
			})
		}, "POST", "/api/2.0/mlflow/runs/log-batch", "", `{"run_id":"abc","metrics":[{"key":"m","value":"-Infinity","timestamp":1700000000123,"step":1}],"params":[{"key":"p","value":"1"}],"tags":[{"key":"t","value":"x"}]}`},
		{"set tag", func(c *Client) error { return c.SetTag(ctx, "abc", "k", "v") },
			"POST", "/api/2.0/mlflow/runs/set-tag", "", `{"run_id":"abc","key":"k","value":"v"}`},
		{"delete tag", func(c *Client) error { return c.DeleteTag(ctx, "abc", "k") },
			"POST", "/api/2.0/mlflow/runs/delete-tag", "", `{"run_id":"abc","key":"k"}`},
		{"metric history", func(c *Client) error { _, _, err := c.GetMetricHistory(ctx, "abc", "acc", 100, "tok"); return err },
			"GET", "/api/2.0/mlflow/metrics/get-history", "max_results=100&metric_key=acc&page_token=tok&run_id=abc", ""},
		{"log inputs", func(c *Client) error {
			return c.LogInputs(ctx, "abc", DatasetInput{
				Tags:    []Tag{{TagDatasetContext, "training"}},
				Dataset: Dataset{Name: "d", Digest: "123", SourceType: "local", Source: `{"uri":"/d.csv"}`, Schema: "{}", Profile: `{"num_rows":3}`},
			})
		}, "POST", "/api/2.0/mlflow/runs/log-inputs", "", `{"run_id":"abc","datasets":[{"tags":[{"key":"mlflow.data.context","value":"training"}],"dataset":{"name":"d","digest":"123","source_type":"local","source":"{\"uri\":\"/d.csv\"}","schema":"{}","profile":"{\"num_rows\":3}"}}]}`},
		{"create registered model", func(c *Client) error { _, err := c.CreateRegisteredModel(ctx, "m", "desc", Tag{"k", "v"}); return err },
			"POST", "/api/2.0/mlflow/registered-models/create", "", `{"name":"m","description":"desc","tags":[{"key":"k","value":"v"}]}`},
		{"get registered model", func(c *Client) error { _, err := c.GetRegisteredModel(ctx, "m"); return err },
			"GET", "/api/2.0/mlflow/registered-models/get", "name=m", ""},
		{"search registered models", func(c *Client) error {
			_, _, err := c.SearchRegisteredModels(ctx, RegistrySearch{Filter: "name LIKE 'm%'", OrderBy: []string{"name ASC", "timestamp DESC"}, MaxResults: 3, PageToken: "t"})
			return err
		}, "GET", "/api/2.0/mlflow/registered-models/search", "filter=name+LIKE+%27m%25%27&max_results=3&order_by=name+ASC&order_by=timestamp+DESC&page_token=t", ""},
		{"rename registered model", func(c *Client) error { _, err := c.RenameRegisteredModel(ctx, "m", "n"); return err },
			"POST", "/api/2.0/mlflow/registered-models/rename", "", `{"name":"m","new_name":"n"}`},
		{"delete registered model", func(c *Client) error { return c.DeleteRegisteredModel(ctx, "m") },
			"DELETE", "/api/2.0/mlflow/registered-models/delete", "", `{"name":"m"}`},
		{"create model version", func(c *Client) error { _, err := c.CreateModelVersion(ctx, "m", "runs:/abc/model", "abc"); return err },
			"POST", "/api/2.0/mlflow/model-versions/create", "", `{"name":"m","source":"runs:/abc/model","run_id":"abc"}`},
		{"get model version", func(c *Client) error { _, err := c.GetModelVersion(ctx, "m", "2"); return err },
			"GET", "/api/2.0/mlflow/model-versions/get", "name=m&version=2", ""},
		{"search model versions", func(c *Client) error {
			_, _, err := c.SearchModelVersions(ctx, RegistrySearch{Filter: "name = 'm'"})
			return err
		}, "GET", "/api/2.0/mlflow/model-versions/search", "filter=name+%3D+%27m%27", ""},
		{"transition stage", func(c *Client) error {
			_, err := c.TransitionModelVersionStage(ctx, "m", "2", StageProduction, false)
			return err
		}, "POST", "/api/2.0/mlflow/model-versions/transition-stage", "", `{"name":"m","version":"2","stage":"Production","archive_existing_versions":false}`},
		{"set alias", func(c *Client) error { return c.SetRegisteredModelAlias(ctx, "m", "champion", "2") },
			"POST", "/api/2.0/mlflow/registered-models/alias", "", `{"name":"m","alias":"champion","version":"2"}`},
		{"get by alias", func(c *Client) error { _, err := c.GetModelVersionByAlias(ctx, "m", "champion"); return err },
			"GET", "/api/2.0/mlflow/registered-models/alias", "alias=champion&name=m", ""},
		{"delete alias", func(c *Client) error { return c.DeleteRegisteredModelAlias(ctx, "m", "champion") },
			"DELETE", "/api/2.0/mlflow/registered-models/alias", "", `{"name":"m","alias":"champion"}`},
		{"list artifacts", func(c *Client) error { _, err := c.ListArtifacts(ctx, "1/abc/artifacts/my model"); return err },
			"GET", "/api/2.0/mlflow-artifacts/artifacts", "path=1%2Fabc%2Fartifacts%2Fmy+model", ""},
		{"list artifact root", func(c *Client) error { _, err := c.ListArtifacts(ctx, ""); return err },
			"GET", "/api/2.0/mlflow-artifacts/artifacts", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, c := newRecorder(t, nil)
			if err := tt.call(c); err != nil {
				t.Fatal(err)
			}
			got := rec.last()
			if got.Method != tt.method || got.Path != tt.path {
				t.Fatalf("sent %s %s, want %s %s", got.Method, got.Path, tt.method, tt.path)
			}
			if got.Query != tt.query {
				t.Errorf("query %q, want %q", got.Query, tt.query)
			}
			if got.Header.Get("Authorization") != "Bearer tok" {
				t.Errorf("Authorization %q", got.Header.Get("Authorization"))
			}
			if tt.body == "" {
				if len(got.Body) != 0 {
					t.Errorf("body %s, want none", got.Body)
				}
				return
			}
			if ct := got.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			if !sameJSON(t, got.Body, tt.body) {
				t.Errorf("body\n %s\nwant\n %s", got.Body, tt.body)
			}
		})
	}
}

func TestDecodeAnswers(t *testing.T) {
	ctx := context.Background()
	_, c := newRecorder(t, func(r recorded) (int, string) {
		switch r.Path {
		case "/api/2.0/mlflow/runs/get":
			// int64 as strings too, as protobuf's JSON writes them.
			return 200, `{"run":{"info":{"run_id":"abc","experiment_id":"1","status":"FINISHED","start_time":"1700000000123","end_time":1700000000999,"artifact_uri":"mlflow-artifacts:/1/abc/artifacts","lifecycle_stage":"active"},
				"data":{"metrics":[{"key":"loss","value":"NaN","timestamp":5,"step":"2"},{"key":"acc","value":0.75,"timestamp":5,"step":0}],"params":[{"key":"lr","value":"0.1"}],"tags":[{"key":"mlflow.runName","value":"r"}]},
				"inputs":{"dataset_inputs":[{"tags":[{"key":"mlflow.data.context","value":"eval"}],"dataset":{"name":"d","digest":"x","source_type":"local","source":"{}"}}]}}}`
		case "/api/2.0/mlflow/registered-models/get":
			return 404, `{"error_code":"RESOURCE_DOES_NOT_EXIST","message":"Registered Model with name=m not found"}`
		}
		return 500, "boom"
	})
	run, err := c.GetRun(ctx, "abc")
	if err != nil {
		t.Fatal(err)
	}
	if run.Info.StartTime.Millis() != 1700000000123 || run.Info.EndTime.Millis() != 1700000000999 || run.Info.ArtifactURI != "mlflow-artifacts:/1/abc/artifacts" {
		t.Errorf("info %+v", run.Info)
	}
	if loss, ok := run.Data.Metric("loss"); !ok || !math.IsNaN(loss.Value) || loss.Step != 2 || loss.Timestamp.Millis() != 5 {
		t.Errorf("loss %+v", loss)
	}
	if acc, _ := run.Data.Metric("acc"); acc.Value != 0.75 {
		t.Errorf("acc %+v", acc)
	}
	if v, _ := run.Data.Param("lr"); v != "0.1" {
		t.Errorf("param lr %q", v)
	}
	if v, _ := run.Data.Tag("mlflow.runName"); v != "r" {
		t.Errorf("tag %q", v)
	}
	if in := run.Inputs.DatasetInputs; len(in) != 1 || in[0].Dataset.Name != "d" {
		t.Errorf("inputs %+v", in)
	}
	// The run encodes back to MLflow's wire form (the CLI prints it so).
	b, err := json.Marshal(run)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(`"start_time":1700000000123`)) || !bytes.Contains(b, []byte(`"value":"NaN"`)) {
		t.Errorf("re-encoded run: %s", b)
	}

	_, err = c.GetRegisteredModel(ctx, "m")
	var apiErr *Error
	if !IsNotFound(err) || !errors.As(err, &apiErr) || apiErr.Code != "RESOURCE_DOES_NOT_EXIST" {
		t.Errorf("not found: %v", err)
	}
	if _, err := c.GetExperiment(ctx, "1"); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Errorf("500: %v", err)
	}
}

func TestSplitBatch(t *testing.T) {
	metrics := func(n int) []Metric {
		out := make([]Metric, n)
		for i := range out {
			out[i] = Metric{Key: fmt.Sprint("m", i)}
		}
		return out
	}
	params := func(n int) []Param {
		out := make([]Param, n)
		for i := range out {
			out[i] = Param{Key: fmt.Sprint("p", i)}
		}
		return out
	}
	tags := func(n int) []Tag {
		out := make([]Tag, n)
		for i := range out {
			out[i] = Tag{Key: fmt.Sprint("t", i)}
		}
		return out
	}
	tests := []struct {
		m, p, tg int
		want     [][3]int // metrics, params, tags per call
	}{
		{0, 0, 0, nil},
		{1, 1, 1, [][3]int{{1, 1, 1}}},
		{1000, 0, 0, [][3]int{{1000, 0, 0}}},
		{1001, 0, 0, [][3]int{{1000, 0, 0}, {1, 0, 0}}},
		{1000, 100, 100, [][3]int{{800, 100, 100}, {200, 0, 0}}},
		{0, 250, 0, [][3]int{{0, 100, 0}, {0, 100, 0}, {0, 50, 0}}},
		{2500, 150, 30, [][3]int{{870, 100, 30}, {950, 50, 0}, {680, 0, 0}}},
	}
	for _, tt := range tests {
		b := Batch{Metrics: metrics(tt.m), Params: params(tt.p), Tags: tags(tt.tg)}
		parts := splitBatch(b)
		var got [][3]int
		var ms []Metric
		var ps []Param
		var ts []Tag
		for _, p := range parts {
			if err := p.check(); err != nil {
				t.Errorf("%v: part over the limits: %v", tt, err)
			}
			got = append(got, [3]int{len(p.Metrics), len(p.Params), len(p.Tags)})
			ms, ps, ts = append(ms, p.Metrics...), append(ps, p.Params...), append(ts, p.Tags...)
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("split(%d, %d, %d) = %v, want %v", tt.m, tt.p, tt.tg, got, tt.want)
		}
		if len(ms) != tt.m || len(ps) != tt.p || len(ts) != tt.tg ||
			(tt.m > 0 && !reflect.DeepEqual(ms, b.Metrics)) || (tt.p > 0 && !reflect.DeepEqual(ps, b.Params)) || (tt.tg > 0 && !reflect.DeepEqual(ts, b.Tags)) {
			t.Errorf("split(%d, %d, %d) lost or reordered items", tt.m, tt.p, tt.tg)
		}
	}
}

func TestLogBatchLimits(t *testing.T) {
	ctx := context.Background()
	rec, c := newRecorder(t, nil)
	for _, b := range []Batch{
		{Metrics: make([]Metric, 1001)},
		{Params: make([]Param, 101)},
		{Tags: make([]Tag, 101)},
		{Metrics: make([]Metric, 900), Params: make([]Param, 60), Tags: make([]Tag, 60)},
	} {
		if err := c.LogBatch(ctx, "abc", b); !errors.Is(err, ErrBatchTooLarge) {
			t.Errorf("LogBatch(%d, %d, %d) = %v, want ErrBatchTooLarge", len(b.Metrics), len(b.Params), len(b.Tags), err)
		}
	}
	if n := len(rec.all()); n != 0 {
		t.Fatalf("%d requests sent for refused batches", n)
	}

	big := Batch{Metrics: make([]Metric, 2100), Params: make([]Param, 120)}
	for i := range big.Metrics {
		big.Metrics[i] = Metric{Key: "loss", Value: float64(i), Step: int64(i)}
	}
	for i := range big.Params {
		big.Params[i] = Param{Key: fmt.Sprint("p", i), Value: "v"}
	}
	if err := c.LogBatchAll(ctx, "abc", big); err != nil {
		t.Fatal(err)
	}
	reqs := rec.all()
	if len(reqs) != 3 {
		t.Fatalf("LogBatchAll sent %d requests, want 3", len(reqs))
	}
	step := int64(0)
	for _, r := range reqs {
		var body struct {
			RunID   string `json:"run_id"`
			Metrics []struct {
				Step      int64 `json:"step"`
				Timestamp int64 `json:"timestamp"`
			} `json:"metrics"`
		}
		if err := json.Unmarshal(r.Body, &body); err != nil || body.RunID != "abc" {
			t.Fatalf("body %s: %v", r.Body, err)
		}
		for _, m := range body.Metrics {
			if m.Step != step || m.Timestamp == 0 {
				t.Fatalf("metric out of order or without timestamp: step %d (want %d), timestamp %d", m.Step, step, m.Timestamp)
			}
			step++
		}
	}
	if step != 2100 {
		t.Fatalf("%d metrics sent, want 2100", step)
	}
}

func TestSearchRunsAll(t *testing.T) {
	pages := map[string]string{
		"":   `{"runs":[{"info":{"run_id":"a"}},{"info":{"run_id":"b"}}],"next_page_token":"t1"}`,
		"t1": `{"runs":[{"info":{"run_id":"c"}}],"next_page_token":"t2"}`,
		"t2": `{"runs":[]}`,
	}
	_, c := newRecorder(t, func(r recorded) (int, string) {
		var in struct {
			PageToken  string `json:"page_token"`
			MaxResults int    `json:"max_results"`
		}
		json.Unmarshal(r.Body, &in)
		if in.MaxResults != 2 {
			return 400, `{"error_code":"INVALID_PARAMETER_VALUE","message":"page size lost"}`
		}
		return 200, pages[in.PageToken]
	})
	var ids []string
	for run, err := range c.SearchRunsAll(context.Background(), RunSearch{ExperimentIDs: []string{"1"}, MaxResults: 2}) {
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, run.Info.RunID)
	}
	if !slices.Equal(ids, []string{"a", "b", "c"}) {
		t.Fatalf("runs %v", ids)
	}
	// Stopping early stops fetching.
	for range c.SearchRunsAll(context.Background(), RunSearch{MaxResults: 2}) {
		break
	}
}

func TestSearchRunsAllStuckToken(t *testing.T) {
	_, c := newRecorder(t, func(r recorded) (int, string) {
		return 200, `{"runs":[{"info":{"run_id":"a"}}],"next_page_token":"same"}`
	})
	var err error
	n := 0
	for _, e := range c.SearchRunsAll(context.Background(), RunSearch{}) {
		if e != nil {
			err = e
		}
		n++
	}
	if err == nil || n > 5 {
		t.Fatalf("a repeated page token must end the iteration with an error; got %v after %d items", err, n)
	}
}

func TestUploadArtifact(t *testing.T) {
	ctx := context.Background()
	rec, c := newRecorder(t, nil)
	dir := t.TempDir()
	file := filepath.Join(dir, "data.bin")
	content := bytes.Repeat([]byte("0123456789"), 10000)
	if err := os.WriteFile(file, content, 0o600); err != nil {
		t.Fatal(err)
	}

	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var last Progress
	pctx := WithProgress(ctx, func(p Progress) { last = p })
	if err := c.UploadArtifact(pctx, "1/abc/artifacts/my dir/data#1.bin", f); err != nil {
		t.Fatal(err)
	}
	got := rec.last()
	if got.Method != "PUT" || got.Path != "/api/2.0/mlflow-artifacts/artifacts/1/abc/artifacts/my dir/data#1.bin" {
		t.Fatalf("sent %s %s (%s)", got.Method, got.Path, got.RawPath)
	}
	if got.Chunked || got.Length != int64(len(content)) || !bytes.Equal(got.Body, content) {
		t.Fatalf("file upload: chunked %v, length %d, %d bytes", got.Chunked, got.Length, len(got.Body))
	}
	if got.Header.Get("Authorization") != "Bearer tok" {
		t.Fatalf("Authorization %q", got.Header.Get("Authorization"))
	}
	if last.Done != int64(len(content)) || last.Total != int64(len(content)) || last.Path != "1/abc/artifacts/my dir/data#1.bin" {
		t.Fatalf("last progress %+v", last)
	}

	// A reader of unknown size goes chunked; an empty one is a zero-length PUT.
	if err := c.UploadArtifact(ctx, "x/pipe", io.MultiReader(strings.NewReader("abc"))); err != nil {
		t.Fatal(err)
	}
	if got := rec.last(); !got.Chunked || string(got.Body) != "abc" {
		t.Fatalf("unknown size: chunked %v, body %q", got.Chunked, got.Body)
	}
	if err := c.UploadArtifact(ctx, "x/empty", strings.NewReader("")); err != nil {
		t.Fatal(err)
	}
	if got := rec.last(); got.Chunked || got.Length != 0 {
		t.Fatalf("empty: chunked %v, length %d", got.Chunked, got.Length)
	}

	for _, bad := range []string{"", "/abs", "a/../b", "a//b", `a\b`, "./a"} {
		if err := c.UploadArtifact(ctx, bad, strings.NewReader("x")); err == nil {
			t.Errorf("UploadArtifact(%q) accepted", bad)
		}
	}
}

// TestStreamingIgnoresRequestTimeout checks that a transfer slower than the
// client's whole-request timeout completes, while a JSON call does not.
func TestStreamingIgnoresRequestTimeout(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		time.Sleep(300 * time.Millisecond)
		w.Write([]byte("{}"))
	}))
	defer srv.Close()
	c, err := New(srv.URL, WithHTTPClient(&http.Client{Timeout: 100 * time.Millisecond}))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := c.UploadArtifact(ctx, "a/b", strings.NewReader("data")); err != nil {
		t.Fatalf("slow upload: %v", err)
	}
	var buf bytes.Buffer
	if _, err := c.DownloadArtifact(ctx, "a/b", &buf); err != nil || buf.String() != "{}" {
		t.Fatalf("slow download: %q, %v", buf.String(), err)
	}
	if _, err := c.GetRun(ctx, "x"); err == nil {
		t.Fatal("a JSON call must keep the client's timeout")
	}
	// The context still bounds a transfer.
	cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := c.UploadArtifact(cctx, "a/b", strings.NewReader("data")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("cancelled upload: %v", err)
	}
}

func TestDownloadArtifact(t *testing.T) {
	content := strings.Repeat("x", 5000)
	rec, c := newRecorder(t, func(r recorded) (int, string) {
		if strings.HasSuffix(r.Path, "/missing") {
			return 404, `{"error_code":"RESOURCE_DOES_NOT_EXIST","message":"no such artifact"}`
		}
		return 200, content
	})
	var buf bytes.Buffer
	var calls int
	ctx := WithProgress(context.Background(), func(Progress) { calls++ })
	n, err := c.DownloadArtifact(ctx, "1/abc/artifacts/model/MLmodel", &buf)
	if err != nil || n != int64(len(content)) || buf.String() != content {
		t.Fatalf("download: %d bytes, %v", n, err)
	}
	if got := rec.last(); got.Method != "GET" || got.Path != "/api/2.0/mlflow-artifacts/artifacts/1/abc/artifacts/model/MLmodel" {
		t.Fatalf("sent %s %s", got.Method, got.Path)
	}
	if calls == 0 {
		t.Fatal("no progress reported")
	}
	if _, err := c.DownloadArtifact(context.Background(), "1/missing", io.Discard); !IsNotFound(err) {
		t.Fatalf("missing: %v", err)
	}
}

func TestArtifactProxyPath(t *testing.T) {
	tests := []struct {
		uri, want string
		ok        bool
	}{
		{"mlflow-artifacts:/1/abc/artifacts", "1/abc/artifacts", true},
		{"mlflow-artifacts://host:5000/1/abc/artifacts", "1/abc/artifacts", true},
		{"mlflow-artifacts:1/abc/artifacts", "1/abc/artifacts", true},
		{"mlflow-artifacts:/", "", true},
		{"file:///tmp/x", "", false},
		{"s3://bucket/x", "", false},
		{"/tmp/x", "", false},
		{"mlflow-artifacts:/1/../2", "", false},
	}
	for _, tt := range tests {
		got, err := ArtifactProxyPath(tt.uri)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ArtifactProxyPath(%q) = %q, %v", tt.uri, got, err)
		}
	}
}

func TestLogArtifact(t *testing.T) {
	ctx := context.Background()
	rec, c := newRecorder(t, func(r recorded) (int, string) {
		if r.Path == "/api/2.0/mlflow/runs/get" {
			return 200, `{"run":{"info":{"run_id":"abc","artifact_uri":"mlflow-artifacts:/1/abc/artifacts"}}}`
		}
		return 200, "{}"
	})
	dir := t.TempDir()
	write := func(rel, s string) {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("model/MLmodel", "flavors: {}")
	write("model/data/weights.bin", "w")
	if err := os.Symlink(filepath.Join(dir, "model", "MLmodel"), filepath.Join(dir, "model", "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "model", "data"), filepath.Join(dir, "model", "dirlink")); err != nil {
		t.Fatal(err)
	}

	puts := func() map[string]string {
		m := map[string]string{}
		for _, r := range rec.all() {
			if r.Method == "PUT" {
				m[strings.TrimPrefix(r.Path, "/api/2.0/mlflow-artifacts/artifacts/")] = string(r.Body)
			}
		}
		rec.mu.Lock()
		rec.reqs = nil
		rec.mu.Unlock()
		return m
	}

	if err := c.LogArtifact(ctx, "abc", filepath.Join(dir, "model"), "model"); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"1/abc/artifacts/model/MLmodel":          "flavors: {}",
		"1/abc/artifacts/model/link":             "flavors: {}",
		"1/abc/artifacts/model/data/weights.bin": "w",
	}
	if got := puts(); !reflect.DeepEqual(got, want) {
		t.Fatalf("folder upload %v, want %v", got, want)
	}

	if err := c.LogArtifact(ctx, "abc", filepath.Join(dir, "model", "MLmodel"), ""); err != nil {
		t.Fatal(err)
	}
	if got := puts(); !reflect.DeepEqual(got, map[string]string{"1/abc/artifacts/MLmodel": "flavors: {}"}) {
		t.Fatalf("file upload %v", got)
	}

	if err := c.LogArtifact(ctx, "abc", filepath.Join(dir, "model", "MLmodel"), "../other"); err == nil {
		t.Fatal("an artifact path leaving the run was accepted")
	}
	if err := c.LogArtifact(ctx, "abc", filepath.Join(dir, "nope"), ""); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing local file: %v", err)
	}
}

func TestTimestampJSON(t *testing.T) {
	var ts Timestamp
	for _, in := range []string{`0`, `null`, `"0"`} {
		if err := json.Unmarshal([]byte(in), &ts); err != nil || !ts.IsZero() {
			t.Errorf("%s -> %v, %v", in, ts, err)
		}
	}
	if err := json.Unmarshal([]byte(`"x"`), &ts); err == nil {
		t.Error("accepted a non-number timestamp")
	}
	b, _ := json.Marshal(struct {
		A Timestamp `json:"a,omitzero"`
		B Timestamp `json:"b,omitzero"`
	}{B: At(time.UnixMilli(42))})
	if string(b) != `{"b":42}` {
		t.Errorf("marshal: %s", b)
	}
}
