package httpapi

import (
	"bytes"
	"context"
	"database/sql"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mlcycle/mlcycle/internal/actor"
	"github.com/mlcycle/mlcycle/internal/errs"
)

// fakeAuth stands in for package auth, which this package must not import.
// Tokens: admin-token (alice, admin), editor-token (ed), viewer-token (vic).
// Passwords: alice/secret, vic/viewerpw; user "locked" is rate limited.
// Session "sess-alice" has CSRF token "csrf-alice"; "sess-vic" has "csrf-vic".
type fakeAuth struct{}

func (fakeAuth) AuthenticateToken(_ context.Context, token string) (actor.Actor, error) {
	switch token {
	case "admin-token":
		return actor.Actor{UserID: 1, Name: "alice", Role: "admin"}, nil
	case "editor-token":
		return actor.Actor{UserID: 2, Name: "ed", Role: "editor"}, nil
	case "viewer-token":
		return actor.Actor{UserID: 3, Name: "vic", Role: "viewer"}, nil
	case "broken-token":
		return actor.Actor{}, io.ErrUnexpectedEOF // an unkinded error: internal
	}
	return actor.Actor{}, errs.E(errs.Unauthorized, "invalid token")
}

func (fakeAuth) AuthenticatePassword(_ context.Context, user, pass, clientAddr string) (actor.Actor, error) {
	if clientAddr != "127.0.0.1" {
		return actor.Actor{}, errs.E(errs.Internal, "unexpected client address %q", clientAddr)
	}
	switch {
	case user == "locked":
		return actor.Actor{}, errs.E(errs.TooMany, "too many failed logins; try again later")
	case user == "alice" && pass == "secret":
		return actor.Actor{UserID: 1, Name: "alice", Role: "admin"}, nil
	case user == "vic" && pass == "viewerpw":
		return actor.Actor{UserID: 3, Name: "vic", Role: "viewer"}, nil
	}
	return actor.Actor{}, errs.E(errs.Unauthorized, "invalid username or password")
}

func (fakeAuth) SessionActor(_ context.Context, token string) (actor.Actor, string, error) {
	switch token {
	case "sess-alice":
		return actor.Actor{UserID: 1, Name: "alice", Role: "admin"}, "csrf-alice", nil
	case "sess-vic":
		return actor.Actor{UserID: 3, Name: "vic", Role: "viewer"}, "csrf-vic", nil
	}
	return actor.Actor{}, "", errs.E(errs.Unauthorized, "session expired")
}

// fakeUsers is an in-memory UserAdmin.
type fakeUsers struct {
	mu     sync.Mutex
	users  []User
	tokens []Token
	panics bool // ListUsers panics, to test recovery
}

func newFakeUsers() *fakeUsers {
	t0 := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	return &fakeUsers{
		users: []User{
			{ID: 1, Name: "alice", Role: "admin", CreatedAt: t0, UpdatedAt: t0},
			{ID: 2, Name: "ed", Role: "editor", CreatedAt: t0, UpdatedAt: t0},
			{ID: 3, Name: "vic", Role: "viewer", CreatedAt: t0, UpdatedAt: t0},
		},
		tokens: []Token{
			{ID: 1, UserID: 3, UserName: "vic", Name: "laptop", Prefix: "mlc_ab", CreatedAt: t0},
			{ID: 2, UserID: 1, UserName: "alice", Name: "ci", Prefix: "mlc_cd", CreatedAt: t0},
		},
	}
}

func (f *fakeUsers) find(name string) int {
	return slices.IndexFunc(f.users, func(u User) bool { return u.Name == name })
}

func (f *fakeUsers) CreateUser(_ context.Context, name, password, role string) (User, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.find(name) >= 0 {
		return User{}, errs.E(errs.Conflict, "user %q already exists", name)
	}
	u := User{ID: int64(len(f.users) + 1), Name: name, Role: role, CreatedAt: time.Now().UTC()}
	f.users = append(f.users, u)
	return u, nil
}

func (f *fakeUsers) ListUsers(context.Context) ([]User, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.panics {
		panic("boom")
	}
	return slices.Clone(f.users), nil
}

func (f *fakeUsers) update(name string, fn func(*User)) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	i := f.find(name)
	if i < 0 {
		return errs.E(errs.NotFound, "user %q does not exist", name)
	}
	fn(&f.users[i])
	return nil
}

func (f *fakeUsers) SetRole(_ context.Context, name, role string) error {
	return f.update(name, func(u *User) { u.Role = role })
}

func (f *fakeUsers) SetPassword(_ context.Context, name, _ string) error {
	return f.update(name, func(*User) {})
}

func (f *fakeUsers) SetDisabled(_ context.Context, name string, disabled bool) error {
	return f.update(name, func(u *User) { u.Disabled = disabled })
}

func (f *fakeUsers) DeleteUser(_ context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	i := f.find(name)
	if i < 0 {
		return errs.E(errs.NotFound, "user %q does not exist", name)
	}
	f.users = slices.Delete(f.users, i, i+1)
	return nil
}

func (f *fakeUsers) CreateToken(_ context.Context, user, name string, ttl time.Duration) (string, Token, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.find(user) < 0 {
		return "", Token{}, errs.E(errs.NotFound, "user %q does not exist", user)
	}
	t := Token{ID: int64(len(f.tokens) + 1), UserName: user, Name: name, Prefix: "mlc_zz", CreatedAt: time.Now().UTC()}
	if ttl > 0 {
		exp := t.CreatedAt.Add(ttl)
		t.ExpiresAt = &exp
	}
	f.tokens = append(f.tokens, t)
	return "mlc_zzsecret", t, nil
}

func (f *fakeUsers) ListTokens(_ context.Context, user string) ([]Token, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Token
	for _, t := range f.tokens {
		if t.UserName == user {
			out = append(out, t)
		}
	}
	return out, nil
}

func (f *fakeUsers) RevokeToken(_ context.Context, user string, id int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	i := slices.IndexFunc(f.tokens, func(t Token) bool { return t.ID == id && (user == "" || t.UserName == user) })
	if i < 0 {
		return errs.E(errs.NotFound, "token %d does not exist", id)
	}
	f.tokens = slices.Delete(f.tokens, i, i+1)
	return nil
}

type fakeAudit struct{ got AuditFilter }

func (f *fakeAudit) ListAudit(_ context.Context, filter AuditFilter) ([]AuditEntry, error) {
	f.got = filter
	var out []AuditEntry
	for seq := filter.AfterSeq + 1; seq <= 3 && len(out) < filter.Limit; seq++ {
		out = append(out, AuditEntry{Seq: seq, Actor: "alice", Action: "user.create", Outcome: "ok", Hash: "h"})
	}
	return out, nil
}

// syncBuffer is a log sink that handlers may write while the test reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type testEnv struct {
	api   *API
	srv   *httptest.Server
	users *fakeUsers
	audit *fakeAudit
	logs  *syncBuffer
}

// newEnv starts the API on 127.0.0.1 with fake auth, users and audit;
// edit adjusts the deps first.
func newEnv(t *testing.T, edit func(*Deps)) *testEnv {
	t.Helper()
	env := &testEnv{users: newFakeUsers(), audit: &fakeAudit{}, logs: &syncBuffer{}}
	d := Deps{
		Logger: slog.New(slog.NewTextHandler(env.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Auth:   fakeAuth{},
		Users:  env.users,
		Audit:  env.audit,
		Health: func(context.Context) error { return nil },
		Build:  BuildInfo{Version: "1.2.3", Commit: "abc123", Date: "2025-01-02", GoVersion: "go1.26"},
		DBStats: func() map[string]sql.DBStats {
			return map[string]sql.DBStats{"main": {OpenConnections: 3, InUse: 1, Idle: 2, WaitCount: 7}}
		},
	}
	if edit != nil {
		edit(&d)
	}
	api, err := New(d)
	if err != nil {
		t.Fatal(err)
	}
	env.api = api
	env.srv = httptest.NewServer(api.Handler())
	t.Cleanup(env.srv.Close)
	return env
}

// cred adds credentials to a request.
type cred func(*http.Request)

func bearer(token string) cred {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token) }
}

func basic(user, pass string) cred { return func(r *http.Request) { r.SetBasicAuth(user, pass) } }

func session(token, csrf string) cred {
	return func(r *http.Request) {
		r.AddCookie(&http.Cookie{Name: SessionCookie, Value: token})
		if csrf != "" {
			r.Header.Set("X-CSRF-Token", csrf)
		}
	}
}

func header(k, v string) cred { return func(r *http.Request) { r.Header.Set(k, v) } }

type result struct {
	status int
	body   string
	header http.Header
}

func (e *testEnv) do(t *testing.T, method, path, body string, creds ...cred) result {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for _, c := range creds {
		if c != nil {
			c(req)
		}
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return result{status: resp.StatusCode, body: string(b), header: resp.Header}
}
