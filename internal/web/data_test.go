package web

import (
	"context"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/mlcycle/mlcycle/internal/actor"
	"github.com/mlcycle/mlcycle/internal/audit"
	"github.com/mlcycle/mlcycle/internal/blob"
	"github.com/mlcycle/mlcycle/internal/registry"
	"github.com/mlcycle/mlcycle/internal/store"
	"github.com/mlcycle/mlcycle/internal/store/storetest"
	"github.com/mlcycle/mlcycle/internal/tracking"
)

func dataMigrations() []store.Migration {
	m := audit.Migrations()
	m = append(m, tracking.Migrations()...)
	return append(m, registry.Migrations()...)
}

// dataEnv is the UI over real tracking and registry services, a real
// artifact store in a temporary folder, and a real HTTP server.
type dataEnv struct {
	*webEnv
	tr    *tracking.Service
	reg   *registry.Service
	blobs *blob.Store
	ctx   context.Context
}

// runSources lets the registry resolve runs:/ sources through tracking, as
// the app's adapter does.
type runSources struct{ tr *tracking.Service }

func (s runSources) RunArtifactURI(ctx context.Context, runID string) (string, error) {
	return s.tr.RunArtifactURI(ctx, runID)
}

func (s runSources) LoggedModelArtifactURI(ctx context.Context, id string) (string, error) {
	return s.tr.LoggedModelArtifactURI(ctx, id)
}

func (s runSources) LoggedModelRunID(ctx context.Context, id string) (string, error) {
	m, err := s.tr.GetLoggedModel(ctx, id, true)
	return m.SourceRunID, err
}

// newDataEnv serves the UI with authentication off, or with the fake
// sessions of web_test.go when sessions is set.
func newDataEnv(t *testing.T, db *store.DB, withSessions bool) *dataEnv {
	t.Helper()
	ctx := actor.With(context.Background(), actor.Actor{UserID: 1, Name: "alice", Role: "admin"})
	log := audit.New(db, audit.Options{})
	tr := tracking.New(db, log, tracking.Options{})
	reg := registry.New(db, log, runSources{tr}, registry.Options{})
	blobs, err := blob.Open(ctx, "file://"+t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { blobs.Close() })
	env := &dataEnv{webEnv: &webEnv{}, tr: tr, reg: reg, blobs: blobs, ctx: ctx}
	d := Deps{Tracking: tr, Registry: reg, Artifacts: blobs}
	var sessions SessionAuth
	if withSessions {
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
	env.client = &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return env
}

// eachData runs fn over a fresh SQLite database and PostgreSQL schema.
func eachData(t *testing.T, fn func(t *testing.T, env *dataEnv)) {
	storetest.Each(t, dataMigrations(), func(t *testing.T, db *store.DB) {
		fn(t, newDataEnv(t, db, false))
	})
}

func (e *dataEnv) experiment(t *testing.T, name string) string {
	t.Helper()
	id, err := e.tr.CreateExperiment(e.ctx, name, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// run creates a finished run with params and one metric point per metric.
func (e *dataEnv) run(t *testing.T, expID, name string, start int64, params map[string]string, metrics map[string]float64) string {
	t.Helper()
	r, err := e.tr.CreateRun(e.ctx, tracking.CreateRunInput{ExperimentID: expID, RunName: name, StartTime: start})
	if err != nil {
		t.Fatal(err)
	}
	id := r.Info.RunID
	var ps []tracking.Param
	for k, v := range params {
		ps = append(ps, tracking.Param{Key: k, Value: v})
	}
	var ms []tracking.Metric
	for k, v := range metrics {
		ms = append(ms, tracking.Metric{Key: k, Value: v, Timestamp: start + 1000, Step: 0})
	}
	if err := e.tr.LogBatch(e.ctx, id, ms, ps, nil); err != nil {
		t.Fatal(err)
	}
	end := start + 65_000
	if _, err := e.tr.UpdateRun(e.ctx, id, tracking.RunUpdate{Status: tracking.StatusFinished, EndTime: &end}); err != nil {
		t.Fatal(err)
	}
	return id
}

func (e *dataEnv) mustGet(t *testing.T, path string, status int) webPage {
	t.Helper()
	p := e.get(t, path)
	if p.status != status {
		t.Fatalf("GET %s: %d, want %d\n%s", path, p.status, status, p.body)
	}
	return p
}

func wantLacks(t *testing.T, p webPage, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if strings.Contains(p.body, s) {
			t.Errorf("page has %q", s)
		}
	}
}
