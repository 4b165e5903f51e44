package web

import (
	"context"
	"errors"
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
	"time"

	"github.com/mlcycle/mlcycle/internal/actor"
	"github.com/mlcycle/mlcycle/internal/errs"
)

// fakeSessions stands in for package auth. Users: alice/secret (admin),
// vic/pw (viewer); "locked" is rate limited; "broken" fails internally.
type fakeSessions struct {
	mu       sync.Mutex
	n        int
	sessions map[string]session
}

type session struct {
	actor actor.Actor
	csrf  string
}

func newFakeSessions() *fakeSessions { return &fakeSessions{sessions: map[string]session{}} }

func (f *fakeSessions) AuthenticatePassword(_ context.Context, user, pass, clientAddr string) (actor.Actor, error) {
	if clientAddr != "127.0.0.1" {
		return actor.Actor{}, fmt.Errorf("unexpected client address %q", clientAddr)
	}
	switch {
	case user == "locked":
		return actor.Actor{}, errs.E(errs.TooMany, "too many failed sign-ins; try again in 5 minutes")
	case user == "broken":
		return actor.Actor{}, errors.New("database is locked")
	case user == "alice" && pass == "secret":
		return actor.Actor{UserID: 1, Name: "alice", Role: "admin"}, nil
	case user == "vic" && pass == "pw":
		return actor.Actor{UserID: 3, Name: "vic", Role: "viewer"}, nil
	}
	return actor.Actor{}, errs.E(errs.Unauthorized, "invalid username or password")
}

func (f *fakeSessions) CreateSession(_ context.Context, userID int64) (string, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	names := map[int64]actor.Actor{1: {UserID: 1, Name: "alice", Role: "admin"}, 3: {UserID: 3, Name: "vic", Role: "viewer"}}
	token := fmt.Sprintf("sess-%d", f.n)
	f.sessions[token] = session{actor: names[userID], csrf: fmt.Sprintf("csrf-token-%d-abcdefghijklmnop", f.n)}
	return token, f.sessions[token].csrf, nil
}

func (f *fakeSessions) SessionActor(_ context.Context, token string) (actor.Actor, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.sessions[token]
	if !ok {
		return actor.Actor{}, "", errs.E(errs.Unauthorized, "session expired")
	}
	return s.actor, s.csrf, nil
}

func (f *fakeSessions) DeleteSession(_ context.Context, token string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.sessions[token]; !ok {
		return errs.E(errs.NotFound, "no such session")
	}
	delete(f.sessions, token)
	return nil
}

func (f *fakeSessions) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.sessions)
}

// front does what httpapi does before the UI: authenticate the session
// cookie, if any, and put the actor in the context.
func front(sessions SessionAuth, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if sessions == nil {
			r = r.WithContext(actor.With(r.Context(), actor.Actor{Name: "anonymous", Role: "admin"}))
		} else if c, err := r.Cookie(SessionCookie); err == nil {
			if a, _, err := sessions.SessionActor(r.Context(), c.Value); err == nil {
				r = r.WithContext(actor.With(r.Context(), a))
			}
		}
		next.ServeHTTP(w, r)
	})
}

type webEnv struct {
	srv      *httptest.Server
	sessions *fakeSessions
	client   *http.Client
}

func newWebEnv(t *testing.T, authOn bool) *webEnv {
	t.Helper()
	env := &webEnv{}
	d := Deps{Status: func(context.Context) Status {
		return Status{Version: "1.2.3", Commit: "abc123", DB: "sqlite", DBOK: true,
			Artifacts: "file:///data/artifacts", Uptime: 3*time.Hour + 25*time.Minute, Users: 2}
	}}
	var sessions SessionAuth
	if authOn {
		env.sessions = newFakeSessions()
		d.Sessions, sessions = env.sessions, env.sessions
	}
	ui, err := New(d)
	if err != nil {
		t.Fatal(err)
	}
	env.srv = httptest.NewServer(front(sessions, ui.Handler()))
	t.Cleanup(env.srv.Close)
	jar, _ := cookiejar.New(nil)
	env.client = &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return env
}

type webPage struct {
	status int
	body   string
	resp   *http.Response
}

func (e *webEnv) get(t *testing.T, path string) webPage {
	t.Helper()
	resp, err := e.client.Get(e.srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	return readPage(t, resp)
}

func (e *webEnv) post(t *testing.T, path string, form url.Values) webPage {
	t.Helper()
	resp, err := e.client.PostForm(e.srv.URL+path, form)
	if err != nil {
		t.Fatal(err)
	}
	return readPage(t, resp)
}

func readPage(t *testing.T, resp *http.Response) webPage {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return webPage{status: resp.StatusCode, body: string(b), resp: resp}
}

func (p webPage) cookie(name string) *http.Cookie {
	for _, c := range p.resp.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

var csrfField = regexp.MustCompile(`name="csrf_token" value="([^"]*)"`)

// formCSRF is the CSRF token of the first form on a page.
func formCSRF(t *testing.T, body string) string {
	t.Helper()
	m := csrfField.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no csrf_token field in:\n%s", body)
	}
	return m[1]
}

// login signs in through the form and returns the response to the POST.
func (e *webEnv) login(t *testing.T, user, pass, next string) webPage {
	t.Helper()
	form := e.get(t, "/login?next="+url.QueryEscape(next))
	return e.post(t, "/login", url.Values{
		"csrf_token": {formCSRF(t, form.body)}, "username": {user}, "password": {pass}, "next": {next},
	})
}

func wantContains(t *testing.T, p webPage, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(p.body, s) {
			t.Errorf("page lacks %q:\n%s", s, p.body)
		}
	}
}

func TestPagesAuthOff(t *testing.T) {
	env := newWebEnv(t, false)

	home := env.get(t, "/")
	if home.status != 200 {
		t.Fatalf("home: %d", home.status)
	}
	wantContains(t, home, "Authentication is off", "anonymous", "auth off",
		"1.2.3", "abc123", "3h 25m", "sqlite", "healthy", "file:///data/artifacts",
		`href="/experiments"`, `href="/models"`, `href="/datasets"`, `href="/deployments"`, `href="/monitoring"`,
		`href="/audit"`, // the anonymous user is an admin
		`class="active" aria-current="page">Home`,
		"MLFLOW_TRACKING_URI="+env.srv.URL)
	if strings.Contains(home.body, `action="/logout"`) {
		t.Error("a sign-out form with auth off")
	}
	for _, h := range []string{"Content-Security-Policy", "X-Frame-Options", "X-Content-Type-Options"} {
		if home.resp.Header.Get(h) == "" {
			t.Errorf("no %s header", h)
		}
	}

	section := env.get(t, "/experiments")
	if section.status != 404 {
		t.Errorf("/experiments: %d", section.status)
	}
	wantContains(t, section, "Experiments will arrive", `class="active" aria-current="page">Experiments`, `href="/models"`)

	missing := env.get(t, "/no/such/page")
	if missing.status != 404 {
		t.Errorf("missing page: %d", missing.status)
	}
	wantContains(t, missing, "Page not found", `href="/datasets"`)

	if p := env.get(t, "/login"); p.status != 303 || p.resp.Header.Get("Location") != "/" {
		t.Errorf("login page with auth off: %d %s", p.status, p.resp.Header.Get("Location"))
	}
}

func TestPagesAuthOnRequireLogin(t *testing.T) {
	env := newWebEnv(t, true)
	for path, next := range map[string]string{
		"/":              "%2F",
		"/models?page=2": "%2Fmodels%3Fpage%3D2",
		"/nope":          "%2Fnope",
	} {
		p := env.get(t, path)
		if want := "/login?next=" + next; p.status != 303 || p.resp.Header.Get("Location") != want {
			t.Errorf("GET %s: %d to %q, want 303 to %q", path, p.status, p.resp.Header.Get("Location"), want)
		}
	}

	login := env.get(t, "/login?next=/models")
	if login.status != 200 {
		t.Fatalf("login page: %d", login.status)
	}
	wantContains(t, login, "Sign in", `name="next" value="/models"`, `name="username"`)
	pre := login.cookie(PreCSRFCookie)
	if pre == nil || pre.Value != formCSRF(t, login.body) || !pre.HttpOnly {
		t.Errorf("pre-login CSRF cookie %v does not match the form", pre)
	}
	if strings.Contains(login.body, `href="/experiments"`) {
		t.Error("navigation shown before signing in")
	}
	// The token is stable across page loads, so two open tabs both work.
	if again := env.get(t, "/login"); formCSRF(t, again.body) != pre.Value {
		t.Error("the pre-login token changed between webPage loads")
	}
}

func TestStatic(t *testing.T) {
	env := newWebEnv(t, true) // no session needed
	home := env.get(t, "/login")
	m := regexp.MustCompile(`href="(/static/style\.css\?v=[0-9a-f]+)"`).FindStringSubmatch(home.body)
	if m == nil {
		t.Fatal("no versioned stylesheet link")
	}
	css := env.get(t, m[1])
	if css.status != 200 || !strings.HasPrefix(css.resp.Header.Get("Content-Type"), "text/css") ||
		!strings.Contains(css.resp.Header.Get("Cache-Control"), "immutable") {
		t.Errorf("versioned css: %d %v", css.status, css.resp.Header)
	}
	plain := env.get(t, "/static/style.css")
	if plain.status != 200 || plain.resp.Header.Get("Cache-Control") != "no-cache" || plain.resp.Header.Get("ETag") == "" {
		t.Errorf("unversioned css: %d %v", plain.status, plain.resp.Header)
	}
	if svg := env.get(t, "/static/logo.svg"); svg.status != 200 || svg.resp.Header.Get("Content-Type") != "image/svg+xml" {
		t.Errorf("logo: %d %s", svg.status, svg.resp.Header.Get("Content-Type"))
	}
	for _, p := range []string{"/static/", "/static/nope.js"} {
		if got := env.get(t, p); got.status != 404 {
			t.Errorf("GET %s: %d", p, got.status)
		}
	}
	if got := env.get(t, "/static/../templates/layout.html"); got.status == 200 || strings.Contains(got.body, "{{") {
		t.Errorf("a template escaped through /static/: %d", got.status)
	}
}

func TestLoginFlow(t *testing.T) {
	env := newWebEnv(t, true)
	res := env.login(t, "alice", "secret", "/models?page=2")
	if res.status != 303 || res.resp.Header.Get("Location") != "/models?page=2" {
		t.Fatalf("login: %d to %q\n%s", res.status, res.resp.Header.Get("Location"), res.body)
	}
	sess := res.cookie(SessionCookie)
	if sess == nil || !sess.HttpOnly || sess.SameSite != http.SameSiteLaxMode || sess.Path != "/" || sess.Secure {
		t.Errorf("session cookie = %+v; want HttpOnly, SameSite=Lax, Path=/, not Secure over plain HTTP", sess)
	}
	csrf := res.cookie(CSRFCookie)
	if csrf == nil || csrf.HttpOnly || csrf.Value == "" {
		t.Errorf("CSRF cookie = %+v; want a readable token", csrf)
	}

	home := env.get(t, "/")
	if home.status != 200 {
		t.Fatalf("home after login: %d", home.status)
	}
	wantContains(t, home, "alice", `action="/logout"`, `href="/audit"`, "2 users",
		"MLFLOW_TRACKING_TOKEN")
	if strings.Contains(home.body, "Authentication is off") {
		t.Error("auth-off notice with auth on")
	}
	if got := formCSRF(t, home.body); got != csrf.Value {
		t.Errorf("logout form token %q, want the session's %q", got, csrf.Value)
	}

	// Signed in, the login webPage sends you on.
	if p := env.get(t, "/login?next=/datasets"); p.status != 303 || p.resp.Header.Get("Location") != "/datasets" {
		t.Errorf("login webPage when signed in: %d %s", p.status, p.resp.Header.Get("Location"))
	}
}

func TestViewerHasNoAuditLink(t *testing.T) {
	env := newWebEnv(t, true)
	env.login(t, "vic", "pw", "/")
	home := env.get(t, "/")
	wantContains(t, home, "vic", "viewer")
	if strings.Contains(home.body, `href="/audit"`) {
		t.Error("a viewer sees the Audit link")
	}
}

func TestLoginFailures(t *testing.T) {
	tests := []struct {
		user, pass string
		status     int
		want       string
	}{
		{"alice", "wrong", 200, "Invalid username or password."},
		{"nobody", "x", 200, "Invalid username or password."},
		{"alice", "", 200, "Enter your username and password."},
		{"locked", "x", 429, "too many failed sign-ins; try again in 5 minutes"},
		{"broken", "x", 503, "Signing in is not possible right now."},
	}
	for _, tc := range tests {
		t.Run(tc.user+"/"+tc.pass, func(t *testing.T) {
			env := newWebEnv(t, true)
			res := env.login(t, tc.user, tc.pass, "/models")
			if res.status != tc.status {
				t.Fatalf("status %d, want %d", res.status, tc.status)
			}
			wantContains(t, res, tc.want, `value="`+tc.user+`"`, `name="next" value="/models"`)
			if res.cookie(SessionCookie) != nil || env.sessions.count() != 0 {
				t.Error("a failed login created a session")
			}
			if strings.Contains(res.body, "database is locked") {
				t.Error("an internal error leaked to the page")
			}
		})
	}
}

func TestCSRF(t *testing.T) {
	env := newWebEnv(t, true)
	form := env.get(t, "/login")
	pre := formCSRF(t, form.body)

	for name, token := range map[string]string{"missing": "", "wrong": "WRONGWRONGWRONGWRONGWRONG"} {
		res := env.post(t, "/login", url.Values{"csrf_token": {token}, "username": {"alice"}, "password": {"secret"}})
		if res.status != 403 || !strings.Contains(res.body, "Request refused") {
			t.Errorf("login with %s token: %d", name, res.status)
		}
	}
	if env.sessions.count() != 0 {
		t.Fatal("a session was created without a valid CSRF token")
	}

	// Signed in, unsafe requests need the session's token, not the pre-login one.
	env.post(t, "/login", url.Values{"csrf_token": {pre}, "username": {"alice"}, "password": {"secret"}})
	if env.sessions.count() != 1 {
		t.Fatal("login failed")
	}
	for name, token := range map[string]string{"missing": "", "pre-login": pre} {
		res := env.post(t, "/logout", url.Values{"csrf_token": {token}})
		if res.status != 403 {
			t.Errorf("logout with %s token: %d", name, res.status)
		}
	}
	if env.sessions.count() != 1 {
		t.Error("a forged logout ended the session")
	}
	// The header works as well as the form field.
	req, _ := http.NewRequest("POST", env.srv.URL+"/logout", nil)
	req.Header.Set("X-CSRF-Token", formCSRF(t, env.get(t, "/").body))
	resp, err := env.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 303 || env.sessions.count() != 0 {
		t.Errorf("logout with the header token: %d, %d sessions left", resp.StatusCode, env.sessions.count())
	}
}

func TestLogout(t *testing.T) {
	env := newWebEnv(t, true)
	env.login(t, "alice", "secret", "/")
	home := env.get(t, "/")
	res := env.post(t, "/logout", url.Values{"csrf_token": {formCSRF(t, home.body)}})
	if res.status != 303 || res.resp.Header.Get("Location") != "/login" {
		t.Fatalf("logout: %d %s", res.status, res.resp.Header.Get("Location"))
	}
	for _, name := range []string{SessionCookie, CSRFCookie} {
		if c := res.cookie(name); c == nil || c.MaxAge >= 0 || c.Value != "" {
			t.Errorf("cookie %s not cleared: %+v", name, c)
		}
	}
	if env.sessions.count() != 0 {
		t.Error("the session still exists on the server")
	}
	if p := env.get(t, "/"); p.status != 303 {
		t.Errorf("home after logout: %d", p.status)
	}
}

func TestNewLoginReplacesOldSession(t *testing.T) {
	env := newWebEnv(t, true)
	env.login(t, "alice", "secret", "/")
	// Signing in again from the same browser (as another user) ends the first session.
	form := env.get(t, "/login?next=/") // redirects: already signed in
	if form.status != 303 {
		t.Fatalf("login webPage while signed in: %d", form.status)
	}
	pre := env.client.Jar.Cookies(mustURL(t, env.srv.URL))
	var preToken string
	for _, c := range pre {
		if c.Name == PreCSRFCookie {
			preToken = c.Value
		}
	}
	res := env.post(t, "/login", url.Values{"csrf_token": {preToken}, "username": {"vic"}, "password": {"pw"}})
	if res.status != 303 || env.sessions.count() != 1 {
		t.Errorf("second login: %d, %d sessions", res.status, env.sessions.count())
	}
	wantContains(t, env.get(t, "/"), "vic")
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestOpenRedirect(t *testing.T) {
	for next, want := range map[string]string{
		"":                     "/",
		"/models":              "/models",
		"/models?x=1#top":      "/models?x=1#top",
		"//evil.example":       "/",
		"///evil.example":      "/",
		"http://evil.example":  "/",
		"https:evil.example":   "/",
		"evil.example":         "/",
		"/\\evil.example":      "/",
		"\\\\evil.example":     "/",
		"/\t/evil.example":     "/",
		"/\n/evil.example":     "/",
		"javascript:alert(1)":  "/",
		"/login":               "/",
		"/%2F%2Fevil.example":  "/%2F%2Fevil.example", // a path on this site, not a host
		"/ok/../..//evil.test": "/ok/../..//evil.test",
	} {
		if got := safeNext(next); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", next, got, want)
		}
	}

	// End to end: the attack URL signs you in and keeps you here.
	for _, next := range []string{"//evil.example/x", "https://evil.example", "/\\evil.example"} {
		env := newWebEnv(t, true)
		res := env.login(t, "alice", "secret", next)
		if loc := res.resp.Header.Get("Location"); res.status != 303 || loc != "/" {
			t.Errorf("next=%q: %d to %q", next, res.status, loc)
		}
		// The login form does not echo a rejected next either.
		if p := env.get(t, "/login?next="+url.QueryEscape(next)); p.status == 303 && p.resp.Header.Get("Location") != "/" {
			t.Errorf("login page with next=%q redirects to %q", next, p.resp.Header.Get("Location"))
		}
	}
}

func TestSecureCookiesOverTLS(t *testing.T) {
	sessions := newFakeSessions()
	ui, err := New(Deps{Sessions: sessions})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(front(sessions, ui.Handler()))
	defer srv.Close()
	client := srv.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	client.Jar, _ = cookiejar.New(nil)

	resp, err := client.Get(srv.URL + "/login")
	if err != nil {
		t.Fatal(err)
	}
	form := readPage(t, resp)
	resp, err = client.PostForm(srv.URL+"/login", url.Values{
		"csrf_token": {formCSRF(t, form.body)}, "username": {"alice"}, "password": {"secret"},
	})
	if err != nil {
		t.Fatal(err)
	}
	res := readPage(t, resp)
	for _, name := range []string{SessionCookie, CSRFCookie} {
		if c := res.cookie(name); c == nil || !c.Secure {
			t.Errorf("cookie %s over TLS: %+v, want Secure", name, c)
		}
	}
}

func TestNoStatusFunc(t *testing.T) {
	ui, err := New(Deps{})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	ui.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "anonymous") {
		t.Errorf("home without status: %d\n%s", rec.Code, rec.Body)
	}
}

func TestFormatUptime(t *testing.T) {
	for d, want := range map[time.Duration]string{
		42 * time.Second:              "42s",
		5*time.Minute + 3*time.Second: "5m 3s",
		2*time.Hour + 7*time.Minute:   "2h 7m",
		50*time.Hour + 59*time.Minute: "2d 2h",
		999 * time.Millisecond:        "1s",
	} {
		if got := formatUptime(d); got != want {
			t.Errorf("formatUptime(%v) = %q, want %q", d, got, want)
		}
	}
}
