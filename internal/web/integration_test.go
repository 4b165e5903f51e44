package web_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/mlcycle/mlcycle/internal/actor"
	"github.com/mlcycle/mlcycle/internal/errs"
	"github.com/mlcycle/mlcycle/internal/httpapi"
	"github.com/mlcycle/mlcycle/internal/web"
)

// fakeAuth serves both httpapi.Authenticator and web.SessionAuth, as the
// app's adapter over package auth will. One user: alice/secret, admin.
type fakeAuth struct {
	mu       sync.Mutex
	sessions map[string]string // token -> csrf
}

var alice = actor.Actor{UserID: 1, Name: "alice", Role: "admin"}

func (f *fakeAuth) AuthenticateToken(context.Context, string) (actor.Actor, error) {
	return actor.Actor{}, errs.E(errs.Unauthorized, "invalid token")
}

func (f *fakeAuth) AuthenticatePassword(_ context.Context, user, pass, _ string) (actor.Actor, error) {
	if user == "alice" && pass == "secret" {
		return alice, nil
	}
	return actor.Actor{}, errs.E(errs.Unauthorized, "invalid username or password")
}

func (f *fakeAuth) CreateSession(context.Context, int64) (string, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	token := fmt.Sprintf("sess%d", len(f.sessions)+1)
	f.sessions[token] = "csrf-" + token + "-0123456789abcdef"
	return token, f.sessions[token], nil
}

func (f *fakeAuth) SessionActor(_ context.Context, token string) (actor.Actor, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	csrf, ok := f.sessions[token]
	if !ok {
		return actor.Actor{}, "", errs.E(errs.Unauthorized, "session expired")
	}
	return alice, csrf, nil
}

func (f *fakeAuth) DeleteSession(_ context.Context, token string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.sessions, token)
	return nil
}

// TestBehindHTTPAPI runs the UI the way the server does, behind httpapi,
// which authenticates the session cookie and lets UI requests without one
// through to be redirected to the login page.
func TestBehindHTTPAPI(t *testing.T) {
	auth := &fakeAuth{sessions: map[string]string{}}
	ui, err := web.New(web.Deps{Sessions: auth})
	if err != nil {
		t.Fatal(err)
	}
	api, err := httpapi.New(httpapi.Deps{Auth: auth, Web: ui.Handler()})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api.Handler())
	defer srv.Close()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	do := func(method, path string, form url.Values, hdr map[string]string) (int, string, http.Header) {
		t.Helper()
		var body io.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
		}
		req, _ := http.NewRequest(method, srv.URL+path, body)
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header
	}

	// A browser without a session is sent to the login page, not given JSON.
	status, _, h := do("GET", "/models", nil, nil)
	if status != 303 || h.Get("Location") != "/login?next=%2Fmodels" {
		t.Fatalf("GET /models without a session: %d %s", status, h.Get("Location"))
	}
	// The API still answers 401.
	if status, _, _ := do("GET", "/api/v1/whoami", nil, nil); status != 401 {
		t.Fatalf("API without credentials: %d", status)
	}

	_, body, _ := do("GET", "/login?next=/models", nil, nil)
	token := regexp.MustCompile(`name="csrf_token" value="([^"]+)"`).FindStringSubmatch(body)
	if token == nil {
		t.Fatalf("no login form:\n%s", body)
	}
	status, _, h = do("POST", "/login", url.Values{
		"csrf_token": {token[1]}, "username": {"alice"}, "password": {"secret"}, "next": {"/models"},
	}, nil)
	if status != 303 || h.Get("Location") != "/models" {
		t.Fatalf("login: %d %s", status, h.Get("Location"))
	}

	status, body, _ = do("GET", "/", nil, nil)
	if status != 200 || !strings.Contains(body, "alice") {
		t.Fatalf("home after login: %d", status)
	}

	// The session works for the API too; unsafe calls need the CSRF token,
	// which scripts read from the mlcycle_csrf cookie.
	if status, body, _ := do("GET", "/api/v1/whoami", nil, nil); status != 200 || !strings.Contains(body, `"name":"alice"`) {
		t.Fatalf("whoami with the session: %d %s", status, body)
	}
	var csrf string
	for _, ck := range jar.Cookies(must(url.Parse(srv.URL))) {
		if ck.Name == web.CSRFCookie {
			csrf = ck.Value
		}
	}
	if status, _, _ := do("DELETE", "/api/v1/tokens/1", nil, nil); status != 403 {
		t.Errorf("API call without the CSRF token: %d, want 403", status)
	}
	if status, body, _ := do("DELETE", "/api/v1/tokens/1", nil, map[string]string{"X-CSRF-Token": csrf}); status == 401 || status == 403 {
		t.Errorf("API call with the CSRF token: %d %s", status, body)
	}

	// Sign out with the token from the page.
	_, body, _ = do("GET", "/", nil, nil)
	token = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`).FindStringSubmatch(body)
	if status, _, h := do("POST", "/logout", url.Values{"csrf_token": {token[1]}}, nil); status != 303 || h.Get("Location") != "/login" {
		t.Fatalf("logout: %d %s", status, h.Get("Location"))
	}
	if status, _, _ := do("GET", "/", nil, nil); status != 303 {
		t.Errorf("home after logout: %d", status)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
