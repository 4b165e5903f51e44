package httpapi

import (
	"context"
	"encoding/json"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/mlcycle/mlcycle/internal/audit"
	"github.com/mlcycle/mlcycle/internal/errs"
	"github.com/mlcycle/mlcycle/internal/registry"
	"github.com/mlcycle/mlcycle/internal/store"
	"github.com/mlcycle/mlcycle/internal/store/storetest"
)

// regSources stands in for the tracking service behind the registry: one run
// and one logged model.
type regSources struct{}

func (regSources) RunArtifactURI(_ context.Context, id string) (string, error) {
	if id == "r1" {
		return "mlflow-artifacts:/1/r1/artifacts", nil
	}
	return "", errs.E(errs.NotFound, "run %s not found", id)
}

func (regSources) LoggedModelArtifactURI(_ context.Context, id string) (string, error) {
	if id == "m-abc" {
		return "mlflow-artifacts:/1/models/m-abc/artifacts", nil
	}
	return "", errs.E(errs.NotFound, "logged model %s not found", id)
}

func (regSources) LoggedModelRunID(_ context.Context, id string) (string, error) {
	if id == "m-abc" {
		return "r1", nil
	}
	return "", errs.E(errs.NotFound, "logged model %s not found", id)
}

// eachRegistry runs fn against a real API server whose registry lives in a
// fresh SQLite database and a fresh PostgreSQL schema.
func eachRegistry(t *testing.T, fn func(t *testing.T, env *testEnv, log *audit.Log)) {
	migs := append(audit.Migrations(), registry.Migrations()...)
	storetest.Each(t, migs, func(t *testing.T, db *store.DB) {
		log := audit.New(db, audit.Options{})
		svc := registry.New(db, log, regSources{}, registry.Options{})
		env := newEnv(t, func(d *Deps) { d.ModelRegistry = svc })
		fn(t, env, log)
	})
}

var (
	regEditor = bearer("editor-token")
	regViewer = bearer("viewer-token")
)

func regJSON(t *testing.T, res result) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(res.body), &m); err != nil {
		t.Fatalf("response %d is not a JSON object: %v\n%s", res.status, err, res.body)
	}
	return m
}

func regKeys(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// TestMLflowRegistryFlow walks a model through its life over HTTP, the way
// the MLflow client does, alternating the two API prefixes.
func TestMLflowRegistryFlow(t *testing.T) {
	eachRegistry(t, func(t *testing.T, env *testEnv, log *audit.Log) {
		prefixes := []string{"/api/2.0/mlflow", "/ajax-api/2.0/mlflow"}
		step := 0
		call := func(method, path, body string, c cred) result {
			t.Helper()
			step++
			return env.do(t, method, prefixes[step%2]+path, body, c)
		}
		expect := func(res result, status int, code string) map[string]any {
			t.Helper()
			if res.status != status {
				t.Fatalf("status %d, want %d: %s", res.status, status, res.body)
			}
			m := regJSON(t, res)
			if code != "" && m["error_code"] != code {
				t.Fatalf("error_code %v, want %s: %s", m["error_code"], code, res.body)
			}
			return m
		}

		m := expect(call("POST", "/registered-models/create",
			`{"name":"fraud","tags":[{"key":"team","value":"risk"}],"description":"d"}`, regEditor), 200, "")
		rm := m["registered_model"].(map[string]any)
		if got := regKeys(rm); !reflect.DeepEqual(got, []string{"aliases", "creation_timestamp", "description",
			"last_updated_timestamp", "latest_versions", "name", "tags"}) {
			t.Errorf("registered_model keys %v", got)
		}
		if rm["name"] != "fraud" || rm["description"] != "d" || !reflect.DeepEqual(rm["tags"], []any{map[string]any{"key": "team", "value": "risk"}}) {
			t.Errorf("registered_model %v", rm)
		}
		m = expect(call("POST", "/registered-models/create", `{"name":"fraud"}`, regEditor), 400, "RESOURCE_ALREADY_EXISTS")
		if m["message"] != "Registered Model (name=fraud) already exists." {
			t.Errorf("message %v", m["message"])
		}
		expect(call("POST", "/registered-models/create", `{"name":"a/b"}`, regEditor), 400, "INVALID_PARAMETER_VALUE")
		expect(call("POST", "/registered-models/create", `{}`, regEditor), 400, "INVALID_PARAMETER_VALUE")
		expect(call("POST", "/registered-models/create", `{"name":`, regEditor), 400, "INVALID_PARAMETER_VALUE")
		expect(call("POST", "/registered-models/create", `{"name":"x"}`, regViewer), 403, "PERMISSION_DENIED")
		expect(call("GET", "/registered-models/get?name=nope", "", regViewer), 404, "RESOURCE_DOES_NOT_EXIST")

		// Versions: the MLflow 3 client registers a logged model.
		m = expect(call("POST", "/model-versions/create",
			`{"name":"fraud","source":"models:/m-abc","model_id":"m-abc","tags":[{"key":"k","value":"v"}]}`, regEditor), 200, "")
		mv := m["model_version"].(map[string]any)
		if got := regKeys(mv); !reflect.DeepEqual(got, []string{"aliases", "creation_timestamp", "current_stage", "description",
			"last_updated_timestamp", "model_id", "name", "run_id", "run_link", "source", "status", "tags",
			"user_id", "version"}) {
			t.Errorf("model_version keys %v", got)
		}
		if mv["version"] != "1" || mv["status"] != "READY" || mv["current_stage"] != "None" || mv["run_id"] != "r1" ||
			mv["model_id"] != "m-abc" || mv["source"] != "models:/m-abc" || mv["user_id"] != "ed" {
			t.Errorf("model_version %v", mv)
		}
		expect(call("POST", "/model-versions/create", `{"name":"fraud","source":"runs:/r1/model","run_id":"r1"}`, regEditor), 200, "")
		for _, src := range []string{"/etc/passwd", "file:///etc", "../x", "s3://b/k", "mlflow-artifacts:/../../x", "%2e%2e%2f", `C:\\x`, "//proc/self/root"} {
			body, _ := json.Marshal(map[string]string{"name": "fraud", "source": src})
			expect(call("POST", "/model-versions/create", string(body), regEditor), 400, "INVALID_PARAMETER_VALUE")
		}
		expect(call("POST", "/model-versions/create", `{"name":"nope","source":"runs:/r1/model"}`, regEditor), 404, "RESOURCE_DOES_NOT_EXIST")

		m = expect(call("GET", "/model-versions/get?name=fraud&version=2", "", regViewer), 200, "")
		if mv := m["model_version"].(map[string]any); mv["version"] != "2" || mv["source"] != "runs:/r1/model" {
			t.Errorf("get version %v", mv)
		}
		expect(call("GET", "/model-versions/get?name=fraud&version=abc", "", regViewer), 400, "INVALID_PARAMETER_VALUE")
		expect(call("GET", "/model-versions/get?name=fraud", "", regViewer), 400, "INVALID_PARAMETER_VALUE")
		expect(call("GET", "/model-versions/get?name=fraud&version=9", "", regViewer), 404, "RESOURCE_DOES_NOT_EXIST")

		m = expect(call("PATCH", "/model-versions/update", `{"name":"fraud","version":"2","description":"second"}`, regEditor), 200, "")
		if mv := m["model_version"].(map[string]any); mv["description"] != "second" {
			t.Errorf("updated version %v", mv)
		}
		m = expect(call("PATCH", "/registered-models/update", `{"name":"fraud","description":"new"}`, regEditor), 200, "")
		if rm := m["registered_model"].(map[string]any); rm["description"] != "new" {
			t.Errorf("updated model %v", rm)
		}

		// Stages: a JSON number for the version is accepted too.
		expect(call("POST", "/model-versions/transition-stage",
			`{"name":"fraud","version":"1","stage":"Production","archive_existing_versions":false}`, regEditor), 200, "")
		m = expect(call("POST", "/model-versions/transition-stage",
			`{"name":"fraud","version":2,"stage":"production","archive_existing_versions":true}`, regEditor), 200, "")
		if mv := m["model_version"].(map[string]any); mv["current_stage"] != "Production" {
			t.Errorf("transition %v", mv)
		}
		expect(call("POST", "/model-versions/transition-stage", `{"name":"fraud","version":"1","stage":"Limbo"}`, regEditor), 400, "INVALID_PARAMETER_VALUE")
		m = expect(call("GET", "/registered-models/get-latest-versions?name=fraud&stages=Production&stages=Archived", "", regViewer), 200, "")
		var got []string
		for _, v := range m["model_versions"].([]any) {
			v := v.(map[string]any)
			got = append(got, v["version"].(string)+":"+v["current_stage"].(string))
		}
		if !reflect.DeepEqual(got, []string{"1:Archived", "2:Production"}) {
			t.Errorf("latest versions %v", got)
		}
		m = expect(call("POST", "/registered-models/get-latest-versions", `{"name":"fraud","stages":["production"]}`, regViewer), 200, "")
		if vs := m["model_versions"].([]any); len(vs) != 1 || vs[0].(map[string]any)["version"] != "2" {
			t.Errorf("latest production %v", vs)
		}

		// Aliases.
		expect(call("POST", "/registered-models/alias", `{"name":"fraud","alias":"champion","version":"2"}`, regEditor), 200, "")
		for _, alias := range []string{"latest", "v1", "V12", "bad alias"} {
			expect(call("POST", "/registered-models/alias", `{"name":"fraud","alias":"`+alias+`","version":"1"}`, regEditor), 400, "INVALID_PARAMETER_VALUE")
		}
		expect(call("POST", "/registered-models/alias", `{"name":"fraud","alias":"x","version":"7"}`, regEditor), 404, "RESOURCE_DOES_NOT_EXIST")
		m = expect(call("GET", "/registered-models/alias?name=fraud&alias=champion", "", regViewer), 200, "")
		if mv := m["model_version"].(map[string]any); mv["version"] != "2" || !reflect.DeepEqual(mv["aliases"], []any{"champion"}) {
			t.Errorf("by alias %v", mv)
		}
		m = expect(call("GET", "/registered-models/get?name=fraud", "", regViewer), 200, "")
		if rm := m["registered_model"].(map[string]any); !reflect.DeepEqual(rm["aliases"], []any{map[string]any{"alias": "champion", "version": "2"}}) {
			t.Errorf("model aliases %v", rm["aliases"])
		}
		m = expect(call("GET", "/model-versions/get-download-uri?name=fraud&version=2", "", regViewer), 200, "")
		if m["artifact_uri"] != "mlflow-artifacts:/1/r1/artifacts/model" {
			t.Errorf("download uri %v", m)
		}

		// Tags, with DELETE carrying a JSON body as the MLflow client sends it.
		expect(call("POST", "/registered-models/set-tag", `{"name":"fraud","key":"owner","value":"ann"}`, regEditor), 200, "")
		expect(call("DELETE", "/registered-models/delete-tag", `{"name":"fraud","key":"team"}`, regEditor), 200, "")
		expect(call("POST", "/model-versions/set-tag", `{"name":"fraud","version":"2","key":"ok","value":"yes"}`, regEditor), 200, "")
		expect(call("DELETE", "/model-versions/delete-tag", `{"name":"fraud","version":"1","key":"k"}`, regEditor), 200, "")
		expect(call("POST", "/model-versions/set-tag", `{"name":"fraud","version":"2","key":"../x","value":"y"}`, regEditor), 400, "INVALID_PARAMETER_VALUE")

		// Search.
		q := url.Values{"filter": {"name LIKE 'fr%' AND tag.`mlflow.prompt.is_prompt` != 'true'"}, "max_results": {"10"}}
		m = expect(call("GET", "/registered-models/search?"+q.Encode(), "", regViewer), 200, "")
		rms := m["registered_models"].([]any)
		if len(rms) != 1 || m["next_page_token"] != nil {
			t.Fatalf("search %v", m)
		}
		if rm := rms[0].(map[string]any); !reflect.DeepEqual(rm["tags"], []any{map[string]any{"key": "owner", "value": "ann"}}) {
			t.Errorf("searched model tags %v", rm["tags"])
		}
		q = url.Values{"filter": {"run_id = 'r1'"}, "order_by": {"version_number ASC"}}
		m = expect(call("GET", "/model-versions/search?"+q.Encode(), "", regViewer), 200, "")
		if vs := m["model_versions"].([]any); len(vs) != 2 || vs[0].(map[string]any)["version"] != "1" {
			t.Errorf("version search %v", vs)
		}
		q = url.Values{"filter": {"name = 'fraud'"}, "max_results": {"1"}}
		m = expect(call("GET", "/model-versions/search?"+q.Encode(), "", regViewer), 200, "")
		token, _ := m["next_page_token"].(string)
		if token == "" {
			t.Fatalf("no next page token: %v", m)
		}
		q.Set("page_token", token)
		m = expect(call("GET", "/model-versions/search?"+q.Encode(), "", regViewer), 200, "")
		if vs := m["model_versions"].([]any); len(vs) != 1 || m["next_page_token"] != nil {
			t.Errorf("second page %v", m)
		}
		expect(call("GET", "/registered-models/search?max_results=1001", "", regViewer), 400, "INVALID_PARAMETER_VALUE")
		expect(call("GET", "/registered-models/search?filter="+url.QueryEscape("name = 'a' OR name = 'b'"), "", regViewer), 400, "INVALID_PARAMETER_VALUE")
		expect(call("GET", "/model-versions/search?page_token=garbage", "", regViewer), 400, "INVALID_PARAMETER_VALUE")

		// Rename, then delete, everything through DELETE with a JSON body.
		m = expect(call("POST", "/registered-models/rename", `{"name":"fraud","new_name":"fraud2"}`, regEditor), 200, "")
		if rm := m["registered_model"].(map[string]any); rm["name"] != "fraud2" || len(rm["latest_versions"].([]any)) != 2 {
			t.Errorf("renamed %v", rm)
		}
		m = expect(call("GET", "/registered-models/alias?name=fraud2&alias=champion", "", regViewer), 200, "")
		if mv := m["model_version"].(map[string]any); mv["name"] != "fraud2" {
			t.Errorf("alias after rename %v", mv)
		}
		expect(call("DELETE", "/registered-models/alias", `{"name":"fraud2","alias":"champion"}`, regEditor), 200, "")
		expect(call("GET", "/registered-models/alias?name=fraud2&alias=champion", "", regViewer), 404, "RESOURCE_DOES_NOT_EXIST")
		expect(call("DELETE", "/model-versions/delete", `{"name":"fraud2","version":"1"}`, regEditor), 200, "")
		expect(call("GET", "/model-versions/get?name=fraud2&version=1", "", regViewer), 404, "RESOURCE_DOES_NOT_EXIST")
		expect(call("DELETE", "/registered-models/delete", `{"name":"fraud2"}`, regEditor), 200, "")
		expect(call("DELETE", "/registered-models/delete", `{"name":"fraud2"}`, regEditor), 404, "RESOURCE_DOES_NOT_EXIST")
		expect(call("DELETE", "/registered-models/delete", `{"name":"fraud2"}`, regViewer), 403, "PERMISSION_DENIED")

		// Every change was audited, under the caller's name.
		events, err := log.List(context.Background(), audit.Filter{Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		var actions []string
		for _, ev := range events {
			if ev.Actor != "ed" {
				t.Errorf("event by %q: %+v", ev.Actor, ev)
			}
			actions = append(actions, ev.Action)
		}
		want := []string{"model.create", "model_version.create", "model_version.create", "model_version.update", "model.update",
			"model_version.stage", "model_version.stage", "model_version.stage", "model.alias.set",
			"model.tag.set", "model.tag.delete", "model_version.tag.set", "model_version.tag.delete",
			"model.rename", "model.alias.delete", "model_version.delete", "model.delete"}
		if !reflect.DeepEqual(actions, want) {
			t.Errorf("audit actions\n got %v\nwant %v", actions, want)
		}
	})
}

// TestMLflowRegistryRoutes checks every registry route exists under both
// prefixes with MLflow's method, and answers its role.
func TestMLflowRegistryRoutes(t *testing.T) {
	env := newEnv(t, nil)
	routes := map[string]string{}
	for _, rt := range env.api.Routes() {
		routes[rt.Method+" "+rt.Pattern] = rt.Role
	}
	want := map[string]string{
		"POST /registered-models/create":              RoleEditor,
		"GET /registered-models/get":                  RoleViewer,
		"POST /registered-models/rename":              RoleEditor,
		"PATCH /registered-models/update":             RoleEditor,
		"DELETE /registered-models/delete":            RoleEditor,
		"GET /registered-models/search":               RoleViewer,
		"GET /registered-models/get-latest-versions":  RoleViewer,
		"POST /registered-models/get-latest-versions": RoleViewer,
		"POST /registered-models/set-tag":             RoleEditor,
		"DELETE /registered-models/delete-tag":        RoleEditor,
		"POST /registered-models/alias":               RoleEditor,
		"DELETE /registered-models/alias":             RoleEditor,
		"GET /registered-models/alias":                RoleViewer,
		"POST /model-versions/create":                 RoleEditor,
		"GET /model-versions/get":                     RoleViewer,
		"PATCH /model-versions/update":                RoleEditor,
		"DELETE /model-versions/delete":               RoleEditor,
		"GET /model-versions/search":                  RoleViewer,
		"POST /model-versions/transition-stage":       RoleEditor,
		"GET /model-versions/get-download-uri":        RoleViewer,
		"POST /model-versions/set-tag":                RoleEditor,
		"DELETE /model-versions/delete-tag":           RoleEditor,
	}
	for route, role := range want {
		method, path, _ := strings.Cut(route, " ")
		for _, prefix := range []string{"/api/2.0/mlflow", "/ajax-api/2.0/mlflow"} {
			key := method + " " + prefix + path
			if got, ok := routes[key]; !ok || got != role {
				t.Errorf("%s: role %q registered=%v, want %q", key, got, ok, role)
			}
		}
	}
	// Without a registry the routes answer a clear 400, not a 5xx the MLflow
	// client would retry for minutes.
	res := env.do(t, "GET", "/api/2.0/mlflow/registered-models/get?name=x", "", regViewer)
	if res.status != 400 || !strings.Contains(res.body, "not enabled") {
		t.Errorf("without a registry: %d %s", res.status, res.body)
	}
	// A wrong method on a registry path is a 405 naming the right ones.
	res = env.do(t, "PUT", "/api/2.0/mlflow/registered-models/alias", "{}", regEditor)
	if res.status != 405 || res.header.Get("Allow") != "DELETE, GET, HEAD, POST" {
		t.Errorf("PUT alias: %d Allow %q", res.status, res.header.Get("Allow"))
	}
}

// TestMLflowRegistryDeleteQuery: DELETE parameters may come in the URL too.
func TestMLflowRegistryDeleteQuery(t *testing.T) {
	eachRegistry(t, func(t *testing.T, env *testEnv, _ *audit.Log) {
		if res := env.do(t, "POST", "/api/2.0/mlflow/registered-models/create", `{"name":"q"}`, regEditor); res.status != 200 {
			t.Fatal(res.body)
		}
		if res := env.do(t, "DELETE", "/api/2.0/mlflow/registered-models/delete?name=q", "", regEditor); res.status != 200 {
			t.Fatalf("%d %s", res.status, res.body)
		}
		if res := env.do(t, "GET", "/api/2.0/mlflow/registered-models/get?name=q", "", regViewer); res.status != 404 {
			t.Errorf("after delete: %d", res.status)
		}
	})
}
