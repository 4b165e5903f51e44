package httpapi

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestBodyTooLarge(t *testing.T) {
	env := newEnv(t, func(d *Deps) { d.MaxBodyBytes = 64 })
	big := `{"name":"bob","password":"` + strings.Repeat("x", 100) + `"}`

	// Declared length over the limit: refused before reading.
	res := env.do(t, "POST", "/api/v1/users", big, bearer("admin-token"))
	if res.status != 413 || !strings.Contains(res.body, `"error_code":"RESOURCE_LIMIT_EXCEEDED"`) {
		t.Errorf("content-length: %d %s", res.status, res.body)
	}

	// Chunked, length unknown up front: cut off while decoding.
	req, _ := http.NewRequest("POST", env.srv.URL+"/api/v1/users", io.MultiReader(strings.NewReader(big)))
	req.Header.Set("Authorization", "Bearer admin-token")
	resp, err := env.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 413 || !strings.Contains(string(b), "larger than the limit of 64 bytes") {
		t.Errorf("chunked: %d %s", resp.StatusCode, b)
	}

	// Under the limit is fine.
	if res := env.do(t, "POST", "/api/v1/users", `{"name":"bob","password":"pw"}`, bearer("admin-token")); res.status != 201 {
		t.Errorf("small body: %d %s", res.status, res.body)
	}
}

func TestRouteBodyLimitOption(t *testing.T) {
	env := newEnv(t, func(d *Deps) { d.MaxBodyBytes = 8 })
	// A route registered with its own limit, as artifact uploads will be.
	env.api.handleRaw("PUT", "/api/v1/test-upload", RoleEditor, func(w http.ResponseWriter, r *http.Request) {
		n, err := io.Copy(io.Discard, r.Body)
		if err != nil {
			env.api.writeError(w, r, tooLarge(16))
			return
		}
		env.api.writeJSON(w, r, 200, map[string]int64{"read": n})
	}, withBodyLimit(16))
	if res := env.do(t, "PUT", "/api/v1/test-upload", "0123456789", bearer("editor-token")); res.status != 200 || !strings.Contains(res.body, `"read":10`) {
		t.Errorf("within the route's limit: %d %s", res.status, res.body)
	}
	if res := env.do(t, "PUT", "/api/v1/test-upload", strings.Repeat("x", 17), bearer("editor-token")); res.status != 413 {
		t.Errorf("over the route's limit: %d %s", res.status, res.body)
	}
}

func TestHostAllowlist(t *testing.T) {
	env := newEnv(t, func(d *Deps) { d.AllowedHosts = append(LoopbackHosts(), "mlcycle.example.com") })
	for host, want := range map[string]int{
		"127.0.0.1:5000":           200,
		"localhost":                200,
		"LOCALHOST:8080":           200,
		"[::1]:5000":               200,
		"mlcycle.example.com":      200,
		"mlcycle.example.com.:443": 200,
		"evil.example":             403,
		"evil.example:5000":        403,
		"127.0.0.1.evil.example":   403,
	} {
		req, _ := http.NewRequest("GET", env.srv.URL+"/health", nil)
		req.Host = host
		resp, err := env.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("Host %s: %d %s, want %d", host, resp.StatusCode, b, want)
		}
		if want == 403 && !strings.Contains(string(b), `is not allowed; add it with --allowed-hosts`) {
			t.Errorf("Host %s: message %s", host, b)
		}
	}
}

func TestDefaultHostsAreLoopback(t *testing.T) {
	env := newEnv(t, nil)
	req, _ := http.NewRequest("GET", env.srv.URL+"/health", nil)
	req.Host = "attacker.example"
	resp, err := env.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Errorf("default allowlist let %s in: %d", req.Host, resp.StatusCode)
	}
}

func TestParseAllowedHosts(t *testing.T) {
	l, err := parseAllowedHosts([]string{"*.corp.example", "ml.example:8443", "::1"})
	if err != nil {
		t.Fatal(err)
	}
	for host, want := range map[string]bool{
		"a.corp.example":      true,
		"a.b.corp.example:80": true,
		"corp.example":        false,
		"evilcorp.example":    false,
		"ml.example:8443":     true,
		"ml.example:80":       false,
		"ml.example":          false,
		"[::1]:1":             true,
		"":                    false,
	} {
		if got := l.allows(host); got != want {
			t.Errorf("allows(%q) = %v, want %v", host, got, want)
		}
	}
	if l, _ := parseAllowedHosts([]string{"*"}); !l.allows("anything:1") {
		t.Error(`"*" does not allow everything`)
	}
	for _, bad := range []string{"", "http://x", "a*.example", "*.", "x y"} {
		if _, err := parseAllowedHosts([]string{bad}); err == nil {
			t.Errorf("parseAllowedHosts(%q) accepted", bad)
		}
	}
	if _, err := New(Deps{AllowedHosts: []string{"http://x"}}); err == nil {
		t.Error("New accepted a bad allowed host")
	}
}

func TestRequestID(t *testing.T) {
	env := newEnv(t, nil)
	res := env.do(t, "GET", "/version", "", header("X-Request-Id", "trace-1.2_3"))
	if got := res.header.Get("X-Request-Id"); got != "trace-1.2_3" {
		t.Errorf("sane id not echoed: %q", got)
	}
	for _, bad := range []string{"", "has space", "semi;colon", strings.Repeat("a", 65)} {
		res := env.do(t, "GET", "/version", "", header("X-Request-Id", bad))
		got := res.header.Get("X-Request-Id")
		if got == "" || got == bad || !validRequestID(got) {
			t.Errorf("incoming %q: got id %q, want a fresh one", bad, got)
		}
	}
	a := env.do(t, "GET", "/version", "").header.Get("X-Request-Id")
	b := env.do(t, "GET", "/version", "").header.Get("X-Request-Id")
	if a == b {
		t.Errorf("generated ids repeat: %q", a)
	}
	// Errors carry the id too, and the access log records it with the actor.
	res = env.do(t, "GET", "/api/v1/whoami", "", bearer("viewer-token"), header("X-Request-Id", "req-77"))
	if res.header.Get("X-Request-Id") != "req-77" {
		t.Error("id not echoed on an API route")
	}
	logs := env.logs.String()
	for _, want := range []string{"request_id=req-77", "actor=vic", "route=/api/v1/whoami", "status=200"} {
		if !strings.Contains(logs, want) {
			t.Errorf("access log lacks %s:\n%s", want, logs)
		}
	}
}

func TestMetrics(t *testing.T) {
	env := newEnv(t, nil)
	env.do(t, "GET", "/api/v1/whoami", "", bearer("viewer-token"))
	env.do(t, "GET", "/api/v1/whoami", "")
	env.do(t, "PATCH", "/api/v1/users/vic", `{"disabled":true}`, bearer("admin-token"))
	env.do(t, "GET", "/api/v1/no/such/thing", "")
	env.do(t, "BREW", "/api/v1/whoami", "")

	if res := env.do(t, "GET", "/metrics", ""); res.status != 401 {
		t.Errorf("metrics without credentials: %d", res.status)
	}
	res := env.do(t, "GET", "/metrics", "", bearer("viewer-token"))
	if res.status != 200 {
		t.Fatalf("metrics: %d %s", res.status, res.body)
	}
	for _, want := range []string{
		`mlcycle_http_requests_total{code="200",method="GET",route="/api/v1/whoami"} 1`,
		`mlcycle_http_requests_total{code="401",method="GET",route="/api/v1/whoami"} 1`,
		`mlcycle_http_requests_total{code="200",method="PATCH",route="/api/v1/users/{name}"} 1`,
		`mlcycle_http_requests_total{code="404",method="GET",route="unmatched"} 1`,
		`mlcycle_http_requests_total{code="405",method="OTHER",route="unmatched"} 1`,
		`mlcycle_http_request_duration_seconds_bucket{method="GET",route="/api/v1/whoami",le="+Inf"} 2`,
		`mlcycle_db_open_connections{pool="main"} 3`,
		`mlcycle_db_in_use_connections{pool="main"} 1`,
		`mlcycle_db_idle_connections{pool="main"} 2`,
		`mlcycle_db_wait_count_total{pool="main"} 7`,
		`mlcycle_db_wait_duration_seconds_total{pool="main"} 0`,
		`mlcycle_build_info{commit="abc123",go_version="go1.26",version="1.2.3"} 1`,
		`go_goroutines`,
	} {
		if !strings.Contains(res.body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(res.body, "/api/v1/users/vic") || strings.Contains(res.body, "no/such") {
		t.Error("a raw path leaked into metric labels")
	}
}

func TestMetricsOnSharedRegistry(t *testing.T) {
	env := newEnv(t, nil)
	// A second API on the same registry reuses the collectors instead of failing.
	if _, err := New(Deps{Registry: env.api.reg}); err != nil {
		t.Fatal(err)
	}
}

func TestPanicRecovery(t *testing.T) {
	env := newEnv(t, nil)
	env.users.mu.Lock()
	env.users.panics = true
	env.users.mu.Unlock()
	res := env.do(t, "GET", "/api/v1/users", "", bearer("admin-token"), header("X-Request-Id", "req-panic"))
	if res.status != 500 || strings.TrimSpace(res.body) != `{"error_code":"INTERNAL_ERROR","message":"internal error"}` {
		t.Fatalf("%d %s", res.status, res.body)
	}
	if res.header.Get("X-Request-Id") != "req-panic" {
		t.Error("no request id on the panic answer")
	}
	logs := env.logs.String()
	for _, want := range []string{"panic serving request", "boom", "request_id=req-panic", "goroutine", "status=500"} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q", want)
		}
	}
	// The server keeps serving.
	if res := env.do(t, "GET", "/health", ""); res.status != 200 {
		t.Errorf("after a panic: %d", res.status)
	}
	m := env.do(t, "GET", "/metrics", "", bearer("admin-token"))
	if !strings.Contains(m.body, `mlcycle_http_requests_total{code="500",method="GET",route="/api/v1/users"} 1`) {
		t.Error("the panicking request is not counted as a 500")
	}
}
