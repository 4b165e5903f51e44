package httpapi

import (
	"encoding/json"
	"math"
	"net/url"
	"strings"
	"testing"

	"github.com/mlcycle/mlcycle/internal/audit"
	"github.com/mlcycle/mlcycle/internal/store"
	"github.com/mlcycle/mlcycle/internal/store/storetest"
	"github.com/mlcycle/mlcycle/internal/tracking"
)

// eachTracking runs fn against a real API server whose tracking service
// lives in a fresh SQLite database and a fresh PostgreSQL schema.
func eachTracking(t *testing.T, fn func(t *testing.T, env *testEnv)) {
	migs := append(audit.Migrations(), tracking.Migrations()...)
	storetest.Each(t, migs, func(t *testing.T, db *store.DB) {
		svc := tracking.New(db, audit.New(db, audit.Options{}), tracking.Options{})
		env := newEnv(t, func(d *Deps) { d.Tracking = svc })
		fn(t, env)
	})
}

var (
	trkEditor = bearer("editor-token")
	trkViewer = bearer("viewer-token")
)

// call sends a request and decodes the JSON answer, failing unless the
// status is want.
func call(t *testing.T, env *testEnv, method, path, body string, want int, c cred) map[string]any {
	t.Helper()
	res := env.do(t, method, path, body, c)
	if res.status != want {
		t.Fatalf("%s %s: status %d, want %d: %s", method, path, res.status, want, res.body)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(res.body), &m); err != nil {
		t.Fatalf("%s %s: not a JSON object: %v\n%s", method, path, err, res.body)
	}
	return m
}

// dig walks a decoded JSON value by object keys and list indexes.
func dig(t *testing.T, v any, path ...any) any {
	t.Helper()
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("at %v: %T is not an object", p, v)
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				t.Fatalf("at %v: %v is not a list that long", p, v)
			}
			v = l[k]
		}
	}
	return v
}

func TestMLflowTrackingFlow(t *testing.T) {
	eachTracking(t, func(t *testing.T, env *testEnv) {
		api, ajax := "/api/2.0/mlflow", "/ajax-api/2.0/mlflow"

		// Experiments, alternating the prefixes.
		m := call(t, env, "POST", api+"/experiments/create", `{"name":"exp","tags":[{"key":"team","value":"a"}]}`, 200, trkEditor)
		expID := m["experiment_id"].(string)
		if expID != "1" {
			t.Fatalf("experiment_id = %v", m)
		}
		m = call(t, env, "GET", ajax+"/experiments/get?experiment_id="+expID, "", 200, trkViewer)
		x := m["experiment"].(map[string]any)
		if x["name"] != "exp" || x["artifact_location"] != "mlflow-artifacts:/1" || x["lifecycle_stage"] != "active" ||
			dig(t, x, "tags", 0, "value") != "a" {
			t.Fatalf("experiment = %v", x)
		}
		if _, ok := x["creation_time"].(float64); !ok {
			t.Fatalf("creation_time is not a JSON number: %v", x)
		}
		m = call(t, env, "GET", api+"/experiments/get-by-name?experiment_name=Default", "", 200, trkViewer)
		if dig(t, m, "experiment", "experiment_id") != "0" {
			t.Fatalf("default: %v", m)
		}
		// GET search: repeated order_by keys, view type by name.
		call(t, env, "POST", api+"/experiments/create", `{"name":"other"}`, 200, trkEditor)
		m = call(t, env, "GET", ajax+"/experiments/search?max_results=2&view_type=ALL&order_by=name+DESC&order_by=experiment_id", "", 200, trkViewer)
		if len(m["experiments"].([]any)) != 2 || dig(t, m, "experiments", 0, "name") != "other" || m["next_page_token"] == nil {
			t.Fatalf("search experiments: %v", m)
		}
		m = call(t, env, "POST", api+"/experiments/search", `{"max_results":"10","filter":"name LIKE 'ex%'","view_type":1}`, 200, trkViewer)
		if len(m["experiments"].([]any)) != 1 {
			t.Fatalf("POST search experiments: %v", m)
		}
		call(t, env, "POST", api+"/experiments/update", `{"experiment_id":"2","new_name":"renamed"}`, 200, trkEditor)
		call(t, env, "POST", api+"/experiments/set-experiment-tag", `{"experiment_id":"2","key":"k","value":"v"}`, 200, trkEditor)
		call(t, env, "POST", api+"/experiments/delete-experiment-tag", `{"experiment_id":"2","key":"k"}`, 200, trkEditor)
		call(t, env, "POST", api+"/experiments/delete", `{"experiment_id":"2"}`, 200, trkEditor)
		call(t, env, "POST", ajax+"/experiments/restore", `{"experiment_id":"2"}`, 200, trkEditor)

		// A run: create, log a batch with NaN and Infinity, read it back.
		m = call(t, env, "POST", api+"/runs/create", `{"experiment_id":"1","user_id":"u","start_time":"1700000000000","run_name":"r",
			"tags":[{"key":"mlflow.source.name","value":"train.py"}]}`, 200, trkEditor)
		info := dig(t, m, "run", "info").(map[string]any)
		runID := info["run_id"].(string)
		if info["run_uuid"] != runID || info["status"] != "RUNNING" || info["lifecycle_stage"] != "active" || info["run_name"] != "r" ||
			info["start_time"].(float64) != 1700000000000 || info["end_time"] != nil || info["user_id"] != "u" ||
			info["artifact_uri"] != "mlflow-artifacts:/1/"+runID+"/artifacts" {
			t.Fatalf("run info: %v", info)
		}
		call(t, env, "POST", api+"/runs/log-batch", `{"run_id":"`+runID+`",
			"metrics":[{"key":"loss","value":"NaN","timestamp":1,"step":0},{"key":"big","value":"Infinity","timestamp":1},
			{"key":"acc","value":0.5,"timestamp":"2","step":"3"}],
			"params":[{"key":"lr","value":"0.1"}],"tags":[{"key":"t","value":"v"}]}`, 200, trkEditor)
		call(t, env, "POST", ajax+"/runs/log-metric", `{"run_uuid":"`+runID+`","key":"acc","value":0.75,"timestamp":5,"step":4}`, 200, trkEditor)
		call(t, env, "POST", api+"/runs/log-parameter", `{"run_id":"`+runID+`","key":"opt","value":"adam"}`, 200, trkEditor)
		call(t, env, "POST", api+"/runs/set-tag", `{"run_id":"`+runID+`","key":"t2","value":"x"}`, 200, trkEditor)
		call(t, env, "POST", api+"/runs/delete-tag", `{"run_id":"`+runID+`","key":"t2"}`, 200, trkEditor)
		res := env.do(t, "GET", api+"/runs/get?run_id="+runID, "", trkViewer)
		for _, w := range []string{`"value":"NaN"`, `"value":"Infinity"`, `"key":"acc","value":0.75,"timestamp":5,"step":4`,
			`"params":[{"key":"lr","value":"0.1"},{"key":"opt","value":"adam"}]`, `"inputs":{}`, `"outputs":{}`} {
			if !strings.Contains(res.body, w) {
				t.Errorf("get run: %s lacks %s", res.body, w)
			}
		}

		// History, paged; GET query decoding of ints.
		m = call(t, env, "GET", api+"/metrics/get-history?run_id="+runID+"&metric_key=acc&max_results=1", "", 200, trkViewer)
		if len(m["metrics"].([]any)) != 1 || m["next_page_token"] == nil {
			t.Fatalf("history page 1: %v", m)
		}
		m = call(t, env, "GET", api+"/metrics/get-history?run_id="+runID+"&metric_key=acc&max_results=1&page_token="+
			url.QueryEscape(m["next_page_token"].(string)), "", 200, trkViewer)
		if dig(t, m, "metrics", 0, "value") != 0.75 || m["next_page_token"] != nil {
			t.Fatalf("history page 2: %v", m)
		}
		m = call(t, env, "GET", ajax+"/metrics/get-history-bulk-interval?run_ids="+runID+"&run_ids="+runID+"&metric_key=acc&max_results=10", "", 200, trkViewer)
		if len(m["metrics"].([]any)) != 4 || dig(t, m, "metrics", 0, "run_id") != runID {
			t.Fatalf("bulk interval: %v", m)
		}
		m = call(t, env, "GET", ajax+"/metrics/get-history-bulk?run_id="+runID+"&metric_key=acc", "", 200, trkViewer)
		if len(m["metrics"].([]any)) != 2 {
			t.Fatalf("bulk: %v", m)
		}

		// Update: status by name, end time as a string.
		m = call(t, env, "POST", api+"/runs/update", `{"run_id":"`+runID+`","status":"FINISHED","end_time":"1700000009000"}`, 200, trkEditor)
		if dig(t, m, "run_info", "status") != "FINISHED" || dig(t, m, "run_info", "end_time").(float64) != 1700000009000 {
			t.Fatalf("update: %v", m)
		}

		// Search.
		m = call(t, env, "POST", api+"/runs/search", `{"experiment_ids":["1"],"filter":"metrics.acc > 0.6 and params.lr = '0.1'",
			"order_by":["metrics.acc DESC"],"max_results":10}`, 200, trkViewer)
		if len(m["runs"].([]any)) != 1 || dig(t, m, "runs", 0, "info", "run_id") != runID {
			t.Fatalf("search runs: %v", m)
		}
		m = call(t, env, "POST", ajax+"/runs/search", `{"experiment_ids":["1"],"filter":"metrics.acc > 0.8"}`, 200, trkViewer)
		if len(m) != 0 {
			t.Fatalf("empty search must be {}: %v", m)
		}
		m = call(t, env, "POST", api+"/runs/search", `{"experiment_ids":["1"],"run_view_type":"DELETED_ONLY"}`, 200, trkViewer)
		if len(m) != 0 {
			t.Fatalf("deleted-only search: %v", m)
		}

		// Inputs, logged models and outputs.
		call(t, env, "POST", api+"/runs/log-inputs", `{"run_id":"`+runID+`","datasets":[{"tags":[{"key":"mlflow.data.context","value":"training"}],
			"dataset":{"name":"iris","digest":"abc","source_type":"local","source":"{}","schema":"{\"a\":1}"}}]}`, 200, trkEditor)
		m = call(t, env, "POST", api+"/logged-models", `{"experiment_id":"1","name":"clf","source_run_id":"`+runID+`",
			"params":[{"key":"alpha","value":"1"}],"tags":[{"key":"k","value":"v"}]}`, 200, trkEditor)
		model := dig(t, m, "model", "info").(map[string]any)
		modelID := model["model_id"].(string)
		if model["status"] != "LOGGED_MODEL_PENDING" || model["artifact_uri"] != "mlflow-artifacts:/1/models/"+modelID+"/artifacts" ||
			dig(t, m, "model", "data", "params", 0, "key") != "alpha" {
			t.Fatalf("logged model: %v", m)
		}
		call(t, env, "POST", api+"/runs/outputs", `{"run_id":"`+runID+`","models":[{"model_id":"`+modelID+`","step":"2"}]}`, 200, trkEditor)
		call(t, env, "POST", api+"/runs/log-model", `{"run_id":"`+runID+`","model_json":"{\"artifact_path\":\"m\",\"flavors\":{},\"run_id\":\"x\",\"utc_time_created\":\"t\"}"}`, 200, trkEditor)
		m = call(t, env, "GET", api+"/runs/get?run_uuid="+runID, "", 200, trkViewer)
		run := m["run"].(map[string]any)
		if dig(t, run, "inputs", "dataset_inputs", 0, "dataset", "schema") != `{"a":1}` ||
			dig(t, run, "inputs", "dataset_inputs", 0, "tags", 0, "value") != "training" ||
			dig(t, run, "outputs", "model_outputs", 0, "model_id") != modelID ||
			dig(t, run, "outputs", "model_outputs", 0, "step").(float64) != 2 {
			t.Fatalf("run inputs/outputs: %v", run)
		}

		mp := api + "/logged-models/" + modelID
		m = call(t, env, "PATCH", mp, `{"model_id":"`+modelID+`","status":"LOGGED_MODEL_READY"}`, 200, trkEditor)
		if dig(t, m, "model", "info", "status") != "LOGGED_MODEL_READY" {
			t.Fatalf("finalize: %v", m)
		}
		call(t, env, "PATCH", mp+"/tags", `{"tags":[{"key":"a","value":"1"},{"key":"b","value":"2"}]}`, 200, trkEditor)
		call(t, env, "DELETE", mp+"/tags/b", "", 200, trkEditor)
		call(t, env, "POST", mp+"/params", `{"model_id":"`+modelID+`","params":[{"key":"beta","value":"2"}]}`, 200, trkEditor)
		call(t, env, "POST", api+"/runs/log-metric", `{"run_id":"`+runID+`","key":"acc","value":0.9,"timestamp":9,"step":9,
			"model_id":"`+modelID+`","dataset_name":"val","dataset_digest":"d"}`, 200, trkEditor)
		m = call(t, env, "GET", ajax+"/logged-models/"+modelID, "", 200, trkViewer)
		if len(dig(t, m, "model", "info", "tags").([]any)) != 2 || len(dig(t, m, "model", "data", "params").([]any)) != 2 ||
			dig(t, m, "model", "data", "metrics", 0, "dataset_name") != "val" {
			t.Fatalf("get logged model: %v", m)
		}
		m = call(t, env, "POST", api+"/logged-models/search", `{"experiment_ids":["1"],"filter":"metrics.acc > 0.5",
			"order_by":[{"field_name":"creation_timestamp","ascending":false}],"max_results":5}`, 200, trkViewer)
		if len(m["models"].([]any)) != 1 {
			t.Fatalf("search logged models: %v", m)
		}
		call(t, env, "DELETE", mp, `{"model_id":"`+modelID+`"}`, 200, trkEditor)
		call(t, env, "GET", mp, "", 404, trkViewer)
		m = call(t, env, "GET", mp+"?allow_deleted=True", "", 200, trkViewer)
		if dig(t, m, "model", "info", "model_id") != modelID {
			t.Fatalf("allow_deleted: %v", m)
		}

		// Delete and restore the run.
		call(t, env, "POST", api+"/runs/delete", `{"run_id":"`+runID+`"}`, 200, trkEditor)
		m = call(t, env, "GET", api+"/runs/get?run_id="+runID, "", 200, trkViewer)
		if dig(t, m, "run", "info", "lifecycle_stage") != "deleted" {
			t.Fatalf("deleted run: %v", m)
		}
		call(t, env, "POST", api+"/runs/restore", `{"run_id":"`+runID+`"}`, 200, trkEditor)
	})
}

func TestMLflowTrackingErrors(t *testing.T) {
	eachTracking(t, func(t *testing.T, env *testEnv) {
		api := "/api/2.0/mlflow"
		m := call(t, env, "POST", api+"/runs/create", `{"experiment_id":"0"}`, 200, trkEditor)
		runID := dig(t, m, "run", "info", "run_id").(string)
		cases := []struct {
			name, method, path, body string
			c                        cred
			status                   int
			code, msg                string
		}{
			{"missing run", "GET", "/runs/get?run_id=abc", "", trkViewer, 404, "RESOURCE_DOES_NOT_EXIST", "Run with id=abc not found"},
			{"run id required", "GET", "/runs/get", "", trkViewer, 400, "INVALID_PARAMETER_VALUE", "Missing value for required parameter 'run_id'"},
			{"duplicate experiment", "POST", "/experiments/create", `{"name":"Default"}`, trkEditor, 400, "RESOURCE_ALREADY_EXISTS", "Experiment(name=Default) already exists."},
			{"experiment name required", "POST", "/experiments/create", `{}`, trkEditor, 400, "INVALID_PARAMETER_VALUE", "'name'"},
			{"bad artifact location", "POST", "/experiments/create", `{"name":"x","artifact_location":"file:///etc"}`, trkEditor, 400, "INVALID_PARAMETER_VALUE", "artifact_location"},
			{"missing experiment", "GET", "/experiments/get?experiment_id=77", "", trkViewer, 404, "RESOURCE_DOES_NOT_EXIST", "No Experiment with id=77 exists"},
			{"bad experiment id", "GET", "/experiments/get?experiment_id=x", "", trkViewer, 400, "INVALID_PARAMETER_VALUE", "valid integer"},
			{"viewer cannot write", "POST", "/experiments/create", `{"name":"v"}`, trkViewer, 403, "PERMISSION_DENIED", "editor"},
			{"viewer may search", "POST", "/runs/search", `{"experiment_ids":["0"]}`, trkViewer, 200, "", ""},
			{"param change", "POST", "/runs/log-parameter", `{"run_id":"` + runID + `","key":"p","value":"2"}`, trkEditor, 400, "INVALID_PARAMETER_VALUE", "Changing param values is not allowed"},
			{"metric value required", "POST", "/runs/log-metric", `{"run_id":"` + runID + `","key":"m","timestamp":1}`, trkEditor, 400, "INVALID_PARAMETER_VALUE", "'value'"},
			{"batch metric timestamp required", "POST", "/runs/log-batch", `{"run_id":"` + runID + `","metrics":[{"key":"m","value":1}]}`, trkEditor, 400, "INVALID_PARAMETER_VALUE", "'metrics[0].timestamp'"},
			{"bad integer", "POST", "/runs/log-metric", `{"run_id":"` + runID + `","key":"m","value":1,"timestamp":"soon"}`, trkEditor, 400, "INVALID_PARAMETER_VALUE", `"soon" is not an integer`},
			{"bad JSON", "POST", "/runs/log-batch", `{"run_id":`, trkEditor, 400, "INVALID_PARAMETER_VALUE", "malformed JSON"},
			{"bad filter", "POST", "/runs/search", `{"experiment_ids":["0"],"filter":"metrics.a ~ 1"}`, trkViewer, 400, "INVALID_PARAMETER_VALUE", "invalid filter"},
			{"max_results too big", "POST", "/runs/search", `{"experiment_ids":["0"],"max_results":50001}`, trkViewer, 400, "INVALID_PARAMETER_VALUE", "at most 50000"},
			{"max_results zero", "POST", "/runs/search", `{"experiment_ids":["0"],"max_results":0}`, trkViewer, 400, "INVALID_PARAMETER_VALUE", "positive integer"},
			{"bad view type", "GET", "/experiments/search?view_type=SOME", "", trkViewer, 400, "INVALID_PARAMETER_VALUE", "view_type"},
			{"bad boolean", "GET", "/logged-models/m-x?allow_deleted=maybe", "", trkViewer, 400, "INVALID_PARAMETER_VALUE", "boolean"},
			{"missing logged model", "GET", "/logged-models/m-x", "", trkViewer, 404, "RESOURCE_DOES_NOT_EXIST", "Logged model with ID 'm-x' not found."},
			{"not the search endpoint", "POST", "/logged-models/m-x", `{}`, trkViewer, 404, "", "no endpoint"},
			{"bad model status", "PATCH", "/logged-models/m-x", `{"status":"NOPE"}`, trkEditor, 400, "INVALID_PARAMETER_VALUE", "'status'"},
			{"too many run ids", "GET", "/metrics/get-history-bulk-interval?metric_key=m" + strings.Repeat("&run_ids=a", 101), "", trkViewer, 400, "INVALID_PARAMETER_VALUE", "at most 100 run_ids"},
			{"wrong method", "GET", "/runs/create", "", trkViewer, 405, "ENDPOINT_NOT_FOUND", "allowed: POST"},
			{"invalid UTF-8 id", "GET", "/runs/get?run_id=%ff", "", trkViewer, 400, "INVALID_PARAMETER_VALUE", "UTF-8"},
			{"NUL in a filter", "GET", "/experiments/search?filter=name%3D%27a%00%27", "", trkViewer, 400, "INVALID_PARAMETER_VALUE", "NUL"},
			{"invalid UTF-8 in a filter", "GET", "/experiments/search?filter=name%3D%27%ff%27", "", trkViewer, 400, "INVALID_PARAMETER_VALUE", "UTF-8"},
			{"invalid UTF-8 model id", "GET", "/logged-models/m%ff", "", trkViewer, 400, "INVALID_PARAMETER_VALUE", "UTF-8"},
		}
		call(t, env, "POST", api+"/runs/log-parameter", `{"run_id":"`+runID+`","key":"p","value":"1"}`, 200, trkEditor)
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				res := env.do(t, c.method, api+c.path, c.body, c.c)
				if res.status != c.status {
					t.Fatalf("status %d, want %d: %s", res.status, c.status, res.body)
				}
				if c.code != "" && !strings.Contains(res.body, `"error_code":"`+c.code+`"`) {
					t.Errorf("body %s lacks error code %s", res.body, c.code)
				}
				if !strings.Contains(res.body, jsonText(c.msg)) {
					t.Errorf("body %s lacks %q", res.body, c.msg)
				}
			})
		}
	})
}

// jsonText is s as it appears inside a JSON string.
func jsonText(s string) string {
	b, _ := json.Marshal(s)
	return string(b[1 : len(b)-1])
}

func TestMLflowTrackingWithoutService(t *testing.T) {
	env := newEnv(t, nil)
	res := env.do(t, "POST", "/api/2.0/mlflow/experiments/create", `{"name":"x"}`, trkEditor)
	if res.status != 400 || !strings.Contains(res.body, "tracking is not enabled") {
		t.Fatalf("%d %s", res.status, res.body)
	}
}

func TestWireScalars(t *testing.T) {
	var v struct {
		N wireInt  `json:"n"`
		E wireEnum `json:"e"`
		D *Double  `json:"d"`
	}
	for _, c := range []struct {
		in   string
		n    int64
		e    string
		d    float64
		fail bool
	}{
		{in: `{"n":5,"e":"ALL","d":1.5}`, n: 5, e: "ALL", d: 1.5},
		{in: `{"n":"-7","e":3,"d":"-Infinity"}`, n: -7, e: "3", d: math.Inf(-1)},
		{in: `{"n":1e3,"e":"x","d":"NaN"}`, n: 1000, e: "x", d: math.NaN()},
		{in: `{"n":1.5}`, fail: true},
		{in: `{"n":"x"}`, fail: true},
		{in: `{"e":true}`, fail: true},
	} {
		v.N, v.E, v.D = 0, "", nil
		err := json.Unmarshal([]byte(c.in), &v)
		if c.fail {
			if err == nil {
				t.Errorf("%s: no error", c.in)
			}
			continue
		}
		if err != nil || int64(v.N) != c.n || string(v.E) != c.e || v.D == nil ||
			(float64(*v.D) != c.d && !(math.IsNaN(c.d) && math.IsNaN(float64(*v.D)))) {
			t.Errorf("%s: %+v %v", c.in, v, err)
		}
	}
}
