package httpapi

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestAPI(t *testing.T) {
	admin, editor, viewer := bearer("admin-token"), bearer("editor-token"), bearer("viewer-token")
	tests := []struct {
		name         string
		method, path string
		body         string
		cred         cred
		status       int
		want         []string // substrings of the body
		notWant      string
	}{
		{name: "health", method: "GET", path: "/health", status: 200, want: []string{"OK"}},
		{name: "version", method: "GET", path: "/version", status: 200,
			want: []string{`"version":"1.2.3"`, `"commit":"abc123"`, `"date":"2025-01-02"`, `"go_version":"go1.26"`}},
		{name: "openapi", method: "GET", path: "/api/v1/openapi.yaml", status: 200, want: []string{"openapi: 3.1.0"}},

		// Authentication.
		{name: "no credentials", method: "GET", path: "/api/v1/whoami", status: 401, want: []string{`"error_code":"UNAUTHENTICATED"`}},
		{name: "bearer", method: "GET", path: "/api/v1/whoami", cred: viewer, status: 200,
			want: []string{`"name":"vic"`, `"role":"viewer"`, `"auth_enabled":true`}},
		{name: "bad bearer", method: "GET", path: "/api/v1/whoami", cred: bearer("nope"), status: 401, want: []string{"invalid token"}},
		{name: "lower-case scheme", method: "GET", path: "/api/v1/whoami", cred: header("Authorization", "bearer admin-token"), status: 200, want: []string{`"name":"alice"`}},
		{name: "basic password", method: "GET", path: "/api/v1/whoami", cred: basic("alice", "secret"), status: 200, want: []string{`"name":"alice"`}},
		{name: "basic token as password", method: "GET", path: "/api/v1/whoami", cred: basic("anything", "viewer-token"), status: 200, want: []string{`"name":"vic"`}},
		{name: "basic wrong password", method: "GET", path: "/api/v1/whoami", cred: basic("alice", "wrong"), status: 401, want: []string{"invalid username or password"}},
		{name: "basic malformed", method: "GET", path: "/api/v1/whoami", cred: header("Authorization", "Basic !!!"), status: 401, want: []string{"malformed basic"}},
		{name: "unknown scheme", method: "GET", path: "/api/v1/whoami", cred: header("Authorization", "Digest x"), status: 401, want: []string{"unsupported authorization scheme"}},
		{name: "rate limited", method: "GET", path: "/api/v1/whoami", cred: basic("locked", "x"), status: 429, want: []string{`"error_code":"REQUEST_LIMIT_EXCEEDED"`}},
		{name: "authenticator failure is internal", method: "GET", path: "/api/v1/whoami", cred: bearer("broken-token"), status: 500,
			want: []string{`"message":"internal error"`}, notWant: "unexpected EOF"},
		{name: "session cookie", method: "GET", path: "/api/v1/whoami", cred: session("sess-vic", ""), status: 200, want: []string{`"name":"vic"`}},
		{name: "expired session", method: "GET", path: "/api/v1/whoami", cred: session("old", ""), status: 401},
		{name: "session unsafe method without csrf", method: "POST", path: "/api/v1/tokens", body: `{"name":"x"}`,
			cred: session("sess-vic", ""), status: 403, want: []string{"CSRF"}},
		{name: "session unsafe method wrong csrf", method: "POST", path: "/api/v1/tokens", body: `{"name":"x"}`,
			cred: session("sess-vic", "csrf-alice"), status: 403, want: []string{"CSRF"}},
		{name: "session unsafe method with csrf", method: "POST", path: "/api/v1/tokens", body: `{"name":"x"}`,
			cred: session("sess-vic", "csrf-vic"), status: 201, want: []string{`"secret":"mlc_zzsecret"`, `"user_name":"vic"`}},

		// Users.
		{name: "list users as viewer", method: "GET", path: "/api/v1/users", cred: viewer, status: 403, want: []string{`"error_code":"PERMISSION_DENIED"`, "admin role"}},
		{name: "list users as editor", method: "GET", path: "/api/v1/users", cred: editor, status: 403},
		{name: "list users", method: "GET", path: "/api/v1/users", cred: admin, status: 200, want: []string{`"name":"alice"`, `"name":"vic"`}},
		{name: "create user", method: "POST", path: "/api/v1/users", body: `{"name":"bob","password":"pw","role":"editor"}`, cred: admin, status: 201,
			want: []string{`"user":{"id":4,"name":"bob","role":"editor"`}},
		{name: "create user default role", method: "POST", path: "/api/v1/users", body: `{"name":"bob","password":"pw"}`, cred: admin, status: 201,
			want: []string{`"role":"viewer"`}},
		{name: "create existing user", method: "POST", path: "/api/v1/users", body: `{"name":"vic","password":"pw"}`, cred: admin, status: 400,
			want: []string{`"error_code":"RESOURCE_ALREADY_EXISTS"`}},
		{name: "create user bad role", method: "POST", path: "/api/v1/users", body: `{"name":"bob","password":"pw","role":"root"}`, cred: admin, status: 400,
			want: []string{`"error_code":"INVALID_PARAMETER_VALUE"`, "role must be"}},
		{name: "create user without password", method: "POST", path: "/api/v1/users", body: `{"name":"bob"}`, cred: admin, status: 400, want: []string{"password is required"}},
		{name: "malformed JSON", method: "POST", path: "/api/v1/users", body: `{"name": bob}`, cred: admin, status: 400,
			want: []string{"malformed JSON at byte 10"}},
		{name: "truncated JSON", method: "POST", path: "/api/v1/users", body: `{"name":`, cred: admin, status: 400, want: []string{"unexpected end"}},
		{name: "empty body", method: "POST", path: "/api/v1/users", cred: admin, status: 400, want: []string{"request body is empty"}},
		{name: "wrong JSON type", method: "POST", path: "/api/v1/users", body: `{"name":7}`, cred: admin, status: 400, want: []string{`field \"name\"`}},
		{name: "not an object", method: "POST", path: "/api/v1/users", body: `[1]`, cred: admin, status: 400, want: []string{"expected a JSON object"}},
		{name: "unknown field", method: "POST", path: "/api/v1/users", body: `{"name":"bob","password":"pw","rol":"admin"}`, cred: admin, status: 400,
			want: []string{`unknown field \"rol\"`}},
		{name: "trailing data", method: "POST", path: "/api/v1/users", body: `{"name":"bob","password":"pw"}{}`, cred: admin, status: 400, want: []string{"single JSON object"}},
		{name: "disable user", method: "PATCH", path: "/api/v1/users/vic", body: `{"disabled":true,"role":"editor"}`, cred: admin, status: 200,
			want: []string{`"name":"vic","role":"editor","disabled":true`}},
		{name: "patch nothing", method: "PATCH", path: "/api/v1/users/vic", body: `{}`, cred: admin, status: 400, want: []string{"nothing to update"}},
		{name: "patch empty password", method: "PATCH", path: "/api/v1/users/vic", body: `{"password":""}`, cred: admin, status: 400, want: []string{"password must not be empty"}},
		{name: "patch missing user", method: "PATCH", path: "/api/v1/users/nobody", body: `{"role":"viewer"}`, cred: admin, status: 404,
			want: []string{`"error_code":"RESOURCE_DOES_NOT_EXIST"`}},
		{name: "delete user", method: "DELETE", path: "/api/v1/users/ed", cred: admin, status: 200, want: []string{"{}"}},
		{name: "delete user as viewer", method: "DELETE", path: "/api/v1/users/ed", cred: viewer, status: 403},

		// Tokens.
		{name: "own tokens", method: "GET", path: "/api/v1/tokens", cred: viewer, status: 200, want: []string{`"name":"laptop"`}, notWant: `"name":"ci"`},
		{name: "no tokens is an empty list", method: "GET", path: "/api/v1/tokens", cred: editor, status: 200, want: []string{`{"tokens":[]}`}},
		{name: "others' tokens as viewer", method: "GET", path: "/api/v1/tokens?user=alice", cred: viewer, status: 403, want: []string{"only admins"}},
		{name: "others' tokens as admin", method: "GET", path: "/api/v1/tokens?user=vic", cred: admin, status: 200, want: []string{`"name":"laptop"`}},
		{name: "create own token", method: "POST", path: "/api/v1/tokens", body: `{"name":"ci","ttl_seconds":3600}`, cred: viewer, status: 201,
			want: []string{`"secret":"mlc_zzsecret"`, `"user_name":"vic"`, `"expires_at"`}},
		{name: "create token for another as viewer", method: "POST", path: "/api/v1/tokens", body: `{"name":"x","user":"alice"}`, cred: viewer, status: 403},
		{name: "create token for another as admin", method: "POST", path: "/api/v1/tokens", body: `{"name":"x","user":"vic"}`, cred: admin, status: 201, want: []string{`"user_name":"vic"`}},
		{name: "create token without name", method: "POST", path: "/api/v1/tokens", body: `{"ttl_seconds":5}`, cred: viewer, status: 400, want: []string{"name is required"}},
		{name: "create token negative ttl", method: "POST", path: "/api/v1/tokens", body: `{"name":"x","ttl_seconds":-1}`, cred: viewer, status: 400, want: []string{"ttl_seconds"}},
		{name: "revoke own token", method: "DELETE", path: "/api/v1/tokens/1", cred: viewer, status: 200},
		{name: "revoke another's token as viewer", method: "DELETE", path: "/api/v1/tokens/2", cred: viewer, status: 404},
		{name: "revoke any token as admin", method: "DELETE", path: "/api/v1/tokens/1", cred: admin, status: 200},
		{name: "revoke bad id", method: "DELETE", path: "/api/v1/tokens/abc", cred: viewer, status: 400, want: []string{"positive integer"}},

		// Audit.
		{name: "audit", method: "GET", path: "/api/v1/audit?limit=2", cred: admin, status: 200,
			want: []string{`"seq":1`, `"seq":2`, `"next_after_seq":2`}},
		{name: "audit last page", method: "GET", path: "/api/v1/audit?after_seq=2", cred: admin, status: 200,
			want: []string{`"seq":3`}, notWant: "next_after_seq"},
		{name: "audit as editor", method: "GET", path: "/api/v1/audit", cred: editor, status: 403},
		{name: "audit bad since", method: "GET", path: "/api/v1/audit?since=yesterday", cred: admin, status: 400, want: []string{"RFC 3339"}},
		{name: "audit bad limit", method: "GET", path: "/api/v1/audit?limit=0", cred: admin, status: 400, want: []string{"limit"}},
		{name: "audit query with a semicolon", method: "GET", path: "/api/v1/audit?actor=alice;action=x", cred: admin, status: 400, want: []string{"malformed query string"}},
		{name: "tokens query with a bad escape", method: "GET", path: "/api/v1/tokens?user=%zz", cred: admin, status: 400, want: []string{"malformed query string"}},
		{name: "audit until before since", method: "GET", path: "/api/v1/audit?since=2025-02-01T00:00:00Z&until=2025-01-01T00:00:00Z", cred: admin, status: 400},

		// Routing.
		{name: "unknown API route", method: "GET", path: "/api/v1/nope", cred: admin, status: 404, want: []string{`"error_code":"ENDPOINT_NOT_FOUND"`}},
		{name: "unknown MLflow route", method: "POST", path: "/api/2.0/mlflow/nope", status: 404, want: []string{`"error_code":"ENDPOINT_NOT_FOUND"`}},
		{name: "unknown ajax route", method: "GET", path: "/ajax-api/2.0/mlflow/nope", status: 404, want: []string{`"error_code":"ENDPOINT_NOT_FOUND"`}},
		{name: "no web UI", method: "GET", path: "/experiments", status: 404, want: []string{`"error_code":"ENDPOINT_NOT_FOUND"`}},
		{name: "wrong method", method: "PUT", path: "/api/v1/users", cred: admin, status: 405, want: []string{"method PUT is not allowed", "GET, HEAD, POST"}},
		{name: "wrong method on top level", method: "POST", path: "/health", status: 405},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := newEnv(t, nil)
			res := env.do(t, tc.method, tc.path, tc.body, tc.cred)
			if res.status != tc.status {
				t.Fatalf("status = %d, want %d; body: %s", res.status, tc.status, res.body)
			}
			for _, w := range tc.want {
				if !strings.Contains(res.body, w) {
					t.Errorf("body %s does not contain %s", res.body, w)
				}
			}
			if tc.notWant != "" && strings.Contains(res.body, tc.notWant) {
				t.Errorf("body %s contains %s", res.body, tc.notWant)
			}
			if res.status >= 400 && tc.method != "HEAD" && tc.path != "/health" {
				if ct := res.header.Get("Content-Type"); ct != "application/json" {
					t.Errorf("error Content-Type = %q, want application/json", ct)
				}
			}
		})
	}
}

func TestUnauthorizedChallenge(t *testing.T) {
	env := newEnv(t, nil)
	res := env.do(t, "GET", "/api/v1/whoami", "")
	if got := res.header.Get("WWW-Authenticate"); got != `Basic realm="mlcycle"` {
		t.Errorf("WWW-Authenticate = %q", got)
	}
	// A UI call with an expired session must not pop up the browser's dialog.
	res = env.do(t, "GET", "/api/v1/whoami", "", session("old", ""))
	if res.status != 401 || res.header.Get("WWW-Authenticate") != "" {
		t.Errorf("session 401: status %d, WWW-Authenticate %q", res.status, res.header.Get("WWW-Authenticate"))
	}
}

func TestWrongMethodAllowHeader(t *testing.T) {
	env := newEnv(t, nil)
	res := env.do(t, "DELETE", "/api/v1/whoami", "", bearer("admin-token"))
	if res.status != 405 || res.header.Get("Allow") != "GET, HEAD" {
		t.Errorf("status %d, Allow %q", res.status, res.header.Get("Allow"))
	}
}

func TestAuthOff(t *testing.T) {
	env := newEnv(t, func(d *Deps) { d.Auth, d.Users = nil, nil })
	res := env.do(t, "GET", "/api/v1/whoami", "")
	if res.status != 200 || !strings.Contains(res.body, `"name":"anonymous","role":"admin","auth_enabled":false`) {
		t.Errorf("whoami: %d %s", res.status, res.body)
	}
	res = env.do(t, "GET", "/api/v1/users", "")
	if res.status != 400 || !strings.Contains(res.body, "authentication is off") {
		t.Errorf("users with auth off: %d %s", res.status, res.body)
	}
}

func TestHealthFailure(t *testing.T) {
	env := newEnv(t, func(d *Deps) {
		d.Health = func(context.Context) error { return errors.New("dial tcp: connection refused") }
	})
	res := env.do(t, "GET", "/health", "")
	if res.status != 503 || strings.Contains(res.body, "refused") {
		t.Errorf("health: %d %q", res.status, res.body)
	}
	if !strings.HasPrefix(res.header.Get("Content-Type"), "text/plain") {
		t.Errorf("Content-Type = %q", res.header.Get("Content-Type"))
	}
	if !strings.Contains(env.logs.String(), "connection refused") {
		t.Error("the cause is not logged")
	}
}

func TestInternalErrorIsLoggedNotLeaked(t *testing.T) {
	env := newEnv(t, nil)
	res := env.do(t, "GET", "/api/v1/whoami", "", bearer("broken-token"), header("X-Request-Id", "req-42"))
	if res.status != 500 || !strings.Contains(res.body, `{"error_code":"INTERNAL_ERROR","message":"internal error"}`) {
		t.Fatalf("%d %s", res.status, res.body)
	}
	logs := env.logs.String()
	if !strings.Contains(logs, "unexpected EOF") || !strings.Contains(logs, "request_id=req-42") {
		t.Errorf("log lacks the cause or request id:\n%s", logs)
	}
}

func TestAuditFilterParsed(t *testing.T) {
	env := newEnv(t, nil)
	res := env.do(t, "GET", "/api/v1/audit?actor=bob&action=user.create&resource_type=user&resource_id=7&outcome=denied"+
		"&since=2025-01-01T00:00:00Z&until=2025-02-01T00:00:00.5Z&after_seq=9&limit=50", "", bearer("admin-token"))
	if res.status != 200 {
		t.Fatalf("%d %s", res.status, res.body)
	}
	f := env.audit.got
	if f.Actor != "bob" || f.Action != "user.create" || f.ResourceType != "user" || f.ResourceID != "7" ||
		f.Outcome != "denied" || f.AfterSeq != 9 || f.Limit != 50 ||
		f.Since.Format("2006-01-02") != "2025-01-01" || f.Until.Nanosecond() != 5e8 {
		t.Errorf("filter = %+v", f)
	}
}
