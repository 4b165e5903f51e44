package app_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mlcycle/mlcycle/client"
	"github.com/mlcycle/mlcycle/internal/app"
	"github.com/mlcycle/mlcycle/internal/app/apptest"
	"github.com/mlcycle/mlcycle/internal/httpapi"
	"github.com/mlcycle/mlcycle/internal/store/storetest"
)

const adminPassword = "correct horse battery"

// startServer runs a real mlcycle server on 127.0.0.1 for one test.
func startServer(t *testing.T, cfg app.Config) *apptest.Server {
	t.Helper()
	return apptest.Start(t, cfg)
}

// eachDB runs fn with a fresh SQLite database and a fresh PostgreSQL schema.
func eachDB(t *testing.T, fn func(t *testing.T, dbURL string)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, storetest.SQLiteURL(t)) })
	t.Run("postgres", func(t *testing.T) { fn(t, storetest.PostgresURL(t)) })
}

func mustClient(t *testing.T, base string, opts ...client.Option) *client.Client {
	t.Helper()
	c, err := client.New(base, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestEmbeddedDefaultHealth(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, app.Config{DataDir: dir})
	c := mustClient(t, s.URL())
	if err := c.Health(context.Background()); err != nil {
		t.Fatalf("health: %v", err)
	}
	for _, want := range []string{"mlcycle.db", "artifacts"} {
		if _, err := filepath.Glob(filepath.Join(dir, want)); err != nil {
			t.Fatal(err)
		}
		if m, _ := filepath.Glob(filepath.Join(dir, want)); len(m) == 0 {
			t.Errorf("%s was not created in the data folder", want)
		}
	}
}

// TestRouteRoleTable checks every registered route with the real auth
// service: no credentials -> 401, a viewer on an editor/admin route -> 403,
// an admin -> neither. A new route without a rule cannot pass: httpapi
// refuses to register a route without a role, and this table walks them all.
func TestRouteRoleTable(t *testing.T) {
	eachDB(t, func(t *testing.T, dbURL string) {
		ctx := context.Background()
		s := startServer(t, app.Config{DB: dbURL, Auth: true, AdminPassword: adminPassword})
		admin := mustClient(t, s.URL(), client.WithBasicAuth("admin", adminPassword))
		if _, err := admin.CreateUser(ctx, "vera", "viewer-password", "viewer"); err != nil {
			t.Fatal(err)
		}
		vt, err := admin.CreateToken(ctx, "vera", "test", 0)
		if err != nil {
			t.Fatal(err)
		}
		at, err := admin.CreateToken(ctx, "", "test", 0)
		if err != nil {
			t.Fatal(err)
		}
		rank := map[string]int{httpapi.RolePublic: 0, httpapi.RoleViewer: 1, httpapi.RoleEditor: 2, httpapi.RoleAdmin: 3}
		routes := s.Routes()
		if len(routes) < 10 {
			t.Fatalf("only %d routes registered", len(routes))
		}
		for _, r := range routes {
			if r.UI {
				continue // the UI redirects to its login page instead; see TestUILogin
			}
			if _, ok := rank[r.Role]; !ok {
				t.Errorf("%s %s has unknown role %q", r.Method, r.Pattern, r.Role)
				continue
			}
			path := examplePath(r.Pattern)
			name := r.Method + " " + r.Pattern
			if code := call(t, s.URL(), r.Method, path, ""); r.Role != httpapi.RolePublic && code != 401 {
				t.Errorf("%s without credentials: %d, want 401", name, code)
			}
			code := call(t, s.URL(), r.Method, path, vt.Secret)
			if rank[r.Role] > rank[httpapi.RoleViewer] && code != 403 {
				t.Errorf("%s as viewer: %d, want 403", name, code)
			}
			if rank[r.Role] <= rank[httpapi.RoleViewer] && (code == 401 || code == 403) {
				t.Errorf("%s as viewer: %d, want allowed", name, code)
			}
			// 501 is the deliberate answer of MLflow's multipart-upload routes,
			// which makes the client fall back to a single PUT.
			if code := call(t, s.URL(), r.Method, path, at.Secret); code == 401 || code == 403 || (code >= 500 && code != http.StatusNotImplemented) {
				t.Errorf("%s as admin: %d", name, code)
			}
		}
	})
}

// examplePath fills a route pattern's wildcards with harmless values.
func examplePath(pattern string) string {
	var b strings.Builder
	for _, seg := range strings.Split(pattern, "/") {
		if b.Len() > 0 || seg != "" {
			b.WriteString("/")
		}
		if strings.HasPrefix(seg, "{") {
			if strings.Contains(seg, "id") {
				seg = "999999"
			} else {
				seg = "nobody"
			}
		}
		b.WriteString(seg)
	}
	if b.Len() == 0 {
		return "/"
	}
	return b.String()
}

func call(t *testing.T, base, method, path, token string) int {
	t.Helper()
	var body io.Reader
	if method == http.MethodPost || method == http.MethodPatch || method == http.MethodPut {
		body = strings.NewReader("{}")
	}
	req, err := http.NewRequest(method, base+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// TestAuditThroughAPI checks that a change made over HTTP is audited with
// the actor, request id and client address, in the same transaction.
func TestAuditThroughAPI(t *testing.T) {
	eachDB(t, func(t *testing.T, dbURL string) {
		ctx := context.Background()
		s := startServer(t, app.Config{DB: dbURL, Auth: true, AdminPassword: adminPassword})
		req, _ := http.NewRequest("POST", s.URL()+"/api/v1/users", strings.NewReader(`{"name":"bob","password":"bob-password","role":"editor"}`))
		req.SetBasicAuth("admin", adminPassword)
		req.Header.Set("X-Request-Id", "req-audit-1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 201 {
			t.Fatalf("create user: %d", resp.StatusCode)
		}
		admin := mustClient(t, s.URL(), client.WithBasicAuth("admin", adminPassword))
		// A failed login is audited too.
		bad := mustClient(t, s.URL(), client.WithBasicAuth("bob", "wrong-password"))
		if _, err := bad.WhoAmI(ctx); err == nil {
			t.Fatal("wrong password accepted")
		}
		events, err := admin.ListAudit(ctx, client.AuditFilter{Action: "user.create", ResourceID: "bob"})
		if err != nil {
			t.Fatal(err)
		}
		if len(events) != 1 {
			t.Fatalf("want 1 user.create event for bob, got %d", len(events))
		}
		e := events[0]
		if e.Actor != "admin" || e.RequestID != "req-audit-1" || !strings.HasPrefix(e.ClientAddr, "127.0.0.1") || e.Outcome != "success" {
			t.Errorf("event = %+v", e)
		}
		fails, err := admin.ListAudit(ctx, client.AuditFilter{Action: "login", Outcome: "failure"})
		if err != nil {
			t.Fatal(err)
		}
		if len(fails) == 0 {
			t.Error("failed login was not audited")
		}
		// Viewers may not read the audit log.
		if _, err := admin.CreateUser(ctx, "vic", "viewer-password", "viewer"); err != nil {
			t.Fatal(err)
		}
		viewer := mustClient(t, s.URL(), client.WithBasicAuth("vic", "viewer-password"))
		var ce *client.Error
		if _, err := viewer.ListAudit(ctx, client.AuditFilter{}); !errors.As(err, &ce) || ce.Status != 403 {
			t.Errorf("viewer reading audit: %v", err)
		}
	})
}

// TestGracefulShutdown starts a request, cancels the server while the
// request body is still arriving, and checks the request completes.
func TestGracefulShutdown(t *testing.T) {
	s := startServer(t, app.Config{})
	pr, pw := io.Pipe()
	req, _ := http.NewRequest("POST", s.URL()+"/api/v1/users", pr)
	req.Header.Set("Content-Type", "application/json")
	type result struct {
		code int
		err  error
	}
	resc := make(chan result, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			resc <- result{err: err}
			return
		}
		resp.Body.Close()
		resc <- result{code: resp.StatusCode}
	}()
	if _, err := pw.Write([]byte(`{"name":"slow","password":`)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // the request is now in flight
	s.Cancel()
	time.Sleep(100 * time.Millisecond) // shutdown has begun
	if _, err := http.Get(s.URL() + "/health"); err == nil {
		t.Error("server still accepts new connections during shutdown")
	}
	pw.Write([]byte(`"slow-password","role":"viewer"}`))
	pw.Close()
	r := <-resc
	if r.err != nil || r.code != 201 {
		t.Fatalf("in-flight request: code %d, err %v", r.code, r.err)
	}
	if err := s.Wait(); err != nil {
		t.Fatalf("Run returned %v", err)
	}
}

func TestStartupErrors(t *testing.T) {
	busy := startServer(t, app.Config{})
	port := busy.Addr()[strings.LastIndex(busy.Addr(), ":")+1:]
	cases := []struct {
		name string
		cfg  app.Config
		want string
	}{
		{"unknown db scheme", app.Config{DB: "mysql://x/y"}, `unknown database scheme "mysql"`},
		{"unreachable postgres", app.Config{DB: "postgres://u@127.0.0.1:1/db?sslmode=disable"}, "cannot reach PostgreSQL"},
		{"unwritable data dir", app.Config{DataDir: "/dev/null/data"}, "creating database folder"},
		{"non-loopback without auth", app.Config{Host: "0.0.0.0"}, "refusing to listen on 0.0.0.0 without authentication"},
		{"bad log format", app.Config{LogFormat: "xml"}, "--log-format"},
		{"bad artifacts", app.Config{Artifacts: "ftp://x"}, "ftp"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.cfg.DataDir == "" {
				c.cfg.DataDir = t.TempDir()
			}
			start := time.Now()
			a, err := app.New(context.Background(), c.cfg, io.Discard)
			if err == nil {
				a.Close()
				t.Fatal("started")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not mention %q", err, c.want)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %v to fail", d)
			}
		})
	}
	t.Run("port in use", func(t *testing.T) {
		var out bytes.Buffer
		cfg := app.Config{DataDir: t.TempDir()}
		cfg.Port = mustAtoi(t, port)
		_, err := app.New(context.Background(), cfg, &out)
		if err == nil || !strings.Contains(err.Error(), "already in use") {
			t.Fatalf("got %v", err)
		}
	})
}

func mustAtoi(t *testing.T, s string) int {
	var n int
	if _, err := fmt.Sscan(s, &n); err != nil {
		t.Fatal(err)
	}
	return n
}
