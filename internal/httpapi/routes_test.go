package httpapi

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/mlcycle/mlcycle/internal/actor"
)

// samplePath fills a pattern's wildcards with plausible values.
func samplePath(pattern string) string {
	r := strings.NewReplacer("{name}", "vic", "{id}", "1")
	return r.Replace(pattern)
}

// TestRouteRoles tries every route with no credentials and with each role:
// the route table must be the authorization table.
func TestRouteRoles(t *testing.T) {
	env := newEnv(t, nil)
	creds := map[string]cred{
		RoleViewer: bearer("viewer-token"),
		RoleEditor: bearer("editor-token"),
		RoleAdmin:  bearer("admin-token"),
	}
	routes := env.api.Routes()
	if len(routes) < 10 {
		t.Fatalf("only %d routes registered", len(routes))
	}
	for _, rt := range routes {
		if rt.UI {
			continue // tested in TestUIRoutes
		}
		t.Run(rt.Method+" "+rt.Pattern, func(t *testing.T) {
			if rt.Role != RolePublic && roleRank(rt.Role) == 0 {
				t.Fatalf("unknown role %q", rt.Role)
			}
			path, body := samplePath(rt.Pattern), ""
			if rt.Method == "POST" || rt.Method == "PATCH" || rt.Method == "PUT" {
				body = "{}"
			}
			res := env.do(t, rt.Method, path, body)
			if rt.Role == RolePublic {
				if res.status == 401 || res.status == 403 {
					t.Errorf("public route without credentials: %d", res.status)
				}
			} else if res.status != 401 {
				t.Errorf("without credentials: %d, want 401", res.status)
			}
			for _, role := range []string{RoleViewer, RoleEditor, RoleAdmin} {
				res := env.do(t, rt.Method, path, body, creds[role])
				allowed := roleRank(role) >= roleRank(rt.Role)
				switch {
				case allowed && (res.status == 401 || res.status == 403):
					t.Errorf("as %s: %d %s, want access", role, res.status, res.body)
				case !allowed && res.status != 403:
					t.Errorf("as %s: %d, want 403", role, res.status)
				}
			}
		})
	}
}

// TestRoutesWithAuthOff checks every route is reachable as the anonymous admin.
func TestRoutesWithAuthOff(t *testing.T) {
	env := newEnv(t, func(d *Deps) { d.Auth = nil })
	for _, rt := range env.api.Routes() {
		if rt.UI {
			continue
		}
		res := env.do(t, rt.Method, samplePath(rt.Pattern), "{}")
		if res.status == 401 || res.status == 403 {
			t.Errorf("%s %s with auth off: %d", rt.Method, rt.Pattern, res.status)
		}
	}
}

type openAPIDoc struct {
	OpenAPI string                          `yaml:"openapi"`
	Paths   map[string]map[string]yaml.Node `yaml:"paths"`
}

type openAPIOperation struct {
	Role        string `yaml:"x-mlcycle-role"`
	OperationID string `yaml:"operationId"`
}

// TestOpenAPIMatchesRoutes keeps openapi.yaml and the route table in step:
// every /api/v1 and top-level route is documented with its role, and every
// documented operation exists.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	var doc openAPIDoc
	if err := yaml.Unmarshal(openAPISpec, &doc); err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi = %q, want 3.1.0", doc.OpenAPI)
	}
	documented := map[string]string{} // "GET /path" -> role
	for path, item := range doc.Paths {
		for method, node := range item {
			switch method {
			case "get", "put", "post", "delete", "options", "head", "patch", "trace":
			default:
				continue // parameters, summary, ...
			}
			var op openAPIOperation
			if err := node.Decode(&op); err != nil {
				t.Fatalf("%s %s: %v", method, path, err)
			}
			if op.OperationID == "" {
				t.Errorf("%s %s has no operationId", method, path)
			}
			documented[strings.ToUpper(method)+" "+path] = op.Role
		}
	}

	api, err := New(Deps{})
	if err != nil {
		t.Fatal(err)
	}
	served := map[string]string{}
	for _, rt := range api.Routes() {
		topLevel := strings.Count(rt.Pattern, "/") == 1
		if rt.UI || !(topLevel || strings.HasPrefix(rt.Pattern, "/api/v1/")) {
			continue
		}
		role := rt.Role
		if role == RolePublic {
			role = "public"
		}
		// OpenAPI has no rest-of-path parameter: {path...} is written {path}.
		served[rt.Method+" "+strings.ReplaceAll(rt.Pattern, "...}", "}")] = role
	}

	for _, k := range sortedKeys(served) {
		docRole, ok := documented[k]
		switch {
		case !ok:
			t.Errorf("route %s is not in openapi.yaml", k)
		case docRole != served[k]:
			t.Errorf("route %s: openapi.yaml says role %q, the route needs %q", k, docRole, served[k])
		}
	}
	for _, k := range sortedKeys(documented) {
		if _, ok := served[k]; !ok {
			t.Errorf("openapi.yaml documents %s, which is not served", k)
		}
	}
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// webEcho stands in for the UI: it reports the actor it was given.
func webEcho() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a := actor.From(r.Context())
		fmt.Fprintf(w, "ui %s %s name=%s role=%s", r.Method, r.URL.Path, a.Name, a.Role)
	})
}

// TestUIRoutes: UI paths reach the web handler even without credentials (it
// redirects to its login page), with the actor set when there is one.
func TestUIRoutes(t *testing.T) {
	env := newEnv(t, func(d *Deps) { d.Web = webEcho() })
	tests := []struct {
		name, method, path string
		cred               cred
		want               string
	}{
		{"no credentials", "GET", "/", nil, "ui GET / name=system role="},
		{"bad session", "GET", "/experiments", session("old", ""), "ui GET /experiments name=system role="},
		{"bad bearer", "GET", "/", bearer("nope"), "name=system role="},
		{"session", "GET", "/models", session("sess-alice", ""), "ui GET /models name=alice role=admin"},
		{"bearer", "GET", "/", bearer("viewer-token"), "name=vic role=viewer"},
		// The UI checks CSRF on its own forms, so the actor passes through.
		{"session post", "POST", "/logout", session("sess-alice", ""), "ui POST /logout name=alice"},
		{"static", "GET", "/static/style.css", nil, "ui GET /static/style.css"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := env.do(t, tc.method, tc.path, "", tc.cred)
			if res.status != 200 || !strings.Contains(res.body, tc.want) {
				t.Errorf("%d %q, want %q", res.status, res.body, tc.want)
			}
		})
	}
	// The API around the UI is unchanged.
	if res := env.do(t, "GET", "/api/v1/whoami", ""); res.status != 401 {
		t.Errorf("API without credentials: %d", res.status)
	}
	if res := env.do(t, "GET", "/api/v1/nope", ""); res.status != 404 || !strings.Contains(res.body, "ENDPOINT_NOT_FOUND") {
		t.Errorf("unknown API path with a UI: %d %s", res.status, res.body)
	}
	ui := slices.IndexFunc(env.api.Routes(), func(r RouteInfo) bool { return r.UI })
	if ui < 0 || env.api.Routes()[ui].Pattern != "/" {
		t.Errorf("no UI route at / in %v", env.api.Routes())
	}
}
