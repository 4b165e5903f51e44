package registry

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mlcycle/mlcycle/internal/actor"
	"github.com/mlcycle/mlcycle/internal/audit"
	"github.com/mlcycle/mlcycle/internal/errs"
	"github.com/mlcycle/mlcycle/internal/store"
	"github.com/mlcycle/mlcycle/internal/store/storetest"
)

func testMigrations() []store.Migration {
	return append(audit.Migrations(), Migrations()...)
}

// mapSources is the Sources port backed by maps: runs by id, logged models
// by id. It stands in for the tracking service, which this package must not
// import.
type mapSources struct {
	mu     sync.Mutex
	runs   map[string]string    // run id -> artifact root
	models map[string][2]string // model id -> {artifact location, source run id}
}

func newMapSources() *mapSources {
	return &mapSources{
		runs: map[string]string{
			"r1": "mlflow-artifacts:/1/r1/artifacts",
			"r2": "mlflow-artifacts:/1/r2/artifacts",
		},
		models: map[string][2]string{
			"m-abc": {"mlflow-artifacts:/1/models/m-abc/artifacts", "r1"},
			"m-def": {"mlflow-artifacts:/1/models/m-def/artifacts", ""},
			"m-bad": {"file:///etc", ""}, // a corrupt location must never be used
		},
	}
}

func (m *mapSources) RunArtifactURI(_ context.Context, runID string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if uri, ok := m.runs[runID]; ok {
		return uri, nil
	}
	return "", errs.E(errs.NotFound, "run %s not found", runID)
}

func (m *mapSources) LoggedModelArtifactURI(_ context.Context, id string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if x, ok := m.models[id]; ok {
		return x[0], nil
	}
	return "", errs.E(errs.NotFound, "logged model %s not found", id)
}

func (m *mapSources) LoggedModelRunID(_ context.Context, id string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if x, ok := m.models[id]; ok {
		return x[1], nil
	}
	return "", errs.E(errs.NotFound, "logged model %s not found", id)
}

type env struct {
	svc *Service
	db  *store.DB
	log *audit.Log
	src *mapSources
	ctx context.Context
}

// newEnv builds a Service with a clock that ticks one millisecond per
// reading, so every change has its own timestamp.
func newEnv(t testing.TB, db *store.DB) *env {
	t.Helper()
	var tick atomic.Int64
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	now := func() time.Time { return t0.Add(time.Duration(tick.Add(1)) * time.Millisecond) }
	log := audit.New(db, audit.Options{Now: now})
	src := newMapSources()
	return &env{
		svc: New(db, log, src, Options{Now: now}),
		db:  db,
		log: log,
		src: src,
		ctx: actor.With(context.Background(), actor.Actor{UserID: 2, Name: "ed", Role: "editor", RequestID: "req-1"}),
	}
}

func each(t *testing.T, fn func(t *testing.T, e *env)) {
	storetest.Each(t, testMigrations(), func(t *testing.T, db *store.DB) { fn(t, newEnv(t, db)) })
}

func (e *env) model(t testing.TB, name string) RegisteredModel {
	t.Helper()
	m, err := e.svc.CreateRegisteredModel(e.ctx, name, "", nil)
	if err != nil {
		t.Fatalf("creating model %s: %v", name, err)
	}
	return m
}

func (e *env) version(t testing.TB, name, source string) ModelVersion {
	t.Helper()
	v, err := e.svc.CreateModelVersion(e.ctx, NewVersion{Name: name, Source: source})
	if err != nil {
		t.Fatalf("creating version of %s from %s: %v", name, source, err)
	}
	return v
}

// events returns the audit actions recorded so far, in order.
func (e *env) events(t *testing.T) []audit.Entry {
	t.Helper()
	list, err := e.log.List(e.ctx, audit.Filter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return list
}

func wantCode(t *testing.T, err error, code errs.Code) {
	t.Helper()
	if errs.CodeOf(err) != code {
		t.Fatalf("error %v (kind %q), want kind %q", err, errs.CodeOf(err), code)
	}
}
