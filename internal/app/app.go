// Package app is the composition root: it turns a Config into a running
// server by opening storage, building the domain services and wiring them
// into the HTTP API and the web UI. Nothing else constructs services.
package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mlcycle/mlcycle/internal/audit"
	"github.com/mlcycle/mlcycle/internal/auth"
	"github.com/mlcycle/mlcycle/internal/blob"
	"github.com/mlcycle/mlcycle/internal/buildinfo"
	"github.com/mlcycle/mlcycle/internal/dataset"
	"github.com/mlcycle/mlcycle/internal/httpapi"
	"github.com/mlcycle/mlcycle/internal/registry"
	"github.com/mlcycle/mlcycle/internal/store"
	"github.com/mlcycle/mlcycle/internal/tracking"
	"github.com/mlcycle/mlcycle/internal/web"
)

// Migrations lists every schema change of every domain, in the order they
// must be applied. New domains append theirs.
func Migrations() []store.Migration {
	var m []store.Migration
	m = append(m, audit.Migrations()...)
	m = append(m, auth.Migrations()...)
	m = append(m, tracking.Migrations()...)
	m = append(m, registry.Migrations()...)
	m = append(m, dataset.Migrations()...)
	return m
}

// App is a running (or ready to run) mlcycle server.
type App struct {
	cfg     Config
	log     *slog.Logger
	started time.Time

	DB        *store.DB
	Artifacts *blob.Store
	Audit     *audit.Log
	Auth      *auth.Service
	Registry  *registry.Service
	Tracking  *tracking.Service
	Datasets  *dataset.Service

	api *httpapi.API
	srv *http.Server
	ln  net.Listener
}

// New opens storage, migrates it, builds the services and binds the port.
// Every failure names the problem and the fix, and leaves nothing open.
func New(ctx context.Context, cfg Config, logOut io.Writer) (a *App, err error) {
	cfg, err = cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	a = &App{cfg: cfg, log: newLogger(cfg, logOut), started: time.Now()}
	opened := a // the named result is nil on the error returns below
	defer func() {
		if err != nil {
			opened.Close()
		}
	}()

	if a.DB, a.Audit, a.Auth, err = openServices(ctx, cfg); err != nil {
		return nil, err
	}
	if a.Artifacts, err = blob.Open(ctx, cfg.Artifacts); err != nil {
		return nil, fmt.Errorf("opening artifact store %s: %w", cfg.Artifacts, err)
	}
	// Dataset chunks share the artifact store (under cas/); the server only
	// records pushed versions, so it needs no local profiler. Runs that log
	// an input naming a dataset version are linked to it.
	a.Datasets = dataset.New(a.DB, a.Audit, a.Artifacts, dataset.Options{})
	a.Tracking = tracking.New(a.DB, a.Audit, tracking.Options{DatasetLinker: DatasetLinker{a.Datasets}})
	// Concurrent log-batch calls share transactions; Close drains the queue.
	a.Tracking.Start()
	// The registry resolves runs:/ and models:/<id> sources through tracking.
	a.Registry = registry.New(a.DB, a.Audit, a.Tracking, registry.Options{})
	if cfg.AdminPassword != "" {
		created, err := a.Auth.EnsureAdmin(ctx, cfg.AdminUser, cfg.AdminPassword)
		if err != nil {
			return nil, fmt.Errorf("creating the first admin from MLCYCLE_ADMIN_PASSWORD: %w", err)
		}
		if created {
			a.log.Info("created the first admin user", "user", cfg.AdminUser)
		}
	}
	if cfg.Auth {
		if has, err := a.Auth.HasUsers(ctx); err != nil {
			return nil, err
		} else if !has {
			a.log.Warn("auth is on but there are no users yet: create an admin with `mlcycle users create NAME --admin` (or set MLCYCLE_ADMIN_PASSWORD)")
		}
	}

	if a.api, err = a.newAPI(); err != nil {
		return nil, err
	}
	addr := net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port))
	if a.ln, err = net.Listen("tcp", addr); err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("port %d on %s is already in use: stop the other server or choose another --port", cfg.Port, cfg.Host)
		}
		return nil, fmt.Errorf("listening on %s: %w (check --host and --port)", addr, err)
	}
	a.srv = &http.Server{
		Handler:           a.api.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    1 << 20,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	return a, nil
}

// openServices opens the database, migrates it and builds the services that
// live on it. The CLI's local admin commands use it too.
func openServices(ctx context.Context, cfg Config) (*store.DB, *audit.Log, *auth.Service, error) {
	db, err := store.Open(ctx, cfg.DB, store.Options{})
	if err != nil {
		return nil, nil, nil, err
	}
	if _, err := db.Migrate(ctx, Migrations()); err != nil {
		db.Close()
		return nil, nil, nil, fmt.Errorf("migrating %s: %w", db, err)
	}
	log := audit.New(db, audit.Options{})
	return db, log, auth.New(db, log, auth.Options{}), nil
}

func (a *App) newAPI() (*httpapi.API, error) {
	reg := prometheus.NewRegistry()
	var authn httpapi.Authenticator
	var sessions web.SessionAuth
	if a.cfg.Auth {
		authn, sessions = a.Auth, a.Auth
	}
	ui, err := web.New(web.Deps{Logger: a.log, Sessions: sessions, Status: a.status,
		Tracking: a.Tracking, Registry: a.Registry, Artifacts: a.Artifacts, Datasets: a.Datasets})
	if err != nil {
		return nil, fmt.Errorf("building web UI: %w", err)
	}
	api, err := httpapi.New(httpapi.Deps{
		Logger:               a.log,
		Auth:                 authn,
		Users:                userAdmin{a.Auth},
		Audit:                auditLister{a.Audit},
		Health:               a.DB.Ping,
		Build:                httpapi.BuildInfo(a.build()),
		Registry:             reg,
		AllowedHosts:         a.cfg.allowedHosts(),
		MaxBodyBytes:         a.cfg.MaxBodyBytes,
		Web:                  ui.Handler(),
		DBStats:              a.DB.PoolStats,
		Artifacts:            a.Artifacts,
		ModelRegistry:        a.Registry,
		Tracking:             a.Tracking,
		RunArtifacts:         a.Tracking,
		ModelArtifacts:       a.Registry,
		LoggedModelArtifacts: a.Tracking,
		Datasets:             a.Datasets,
	})
	if err != nil {
		return nil, fmt.Errorf("building API: %w", err)
	}
	return api, nil
}

// Routes lists every HTTP route with the role it requires.
func (a *App) Routes() []httpapi.RouteInfo { return a.api.Routes() }

func (a *App) build() buildinfo.Info { return buildinfo.Read("") }

func (a *App) status(ctx context.Context) web.Status {
	pingCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return web.Status{
		Version:   a.build().Version,
		DB:        string(a.DB.Dialect()),
		DBOK:      a.DB.Ping(pingCtx) == nil,
		Artifacts: a.cfg.Artifacts,
		Uptime:    time.Since(a.started),
	}
}

// Addr is the address the server listens on, e.g. 127.0.0.1:5000.
func (a *App) Addr() string { return a.ln.Addr().String() }

// URL is the server's base URL.
func (a *App) URL() string { return "http://" + a.Addr() }

// Run serves until ctx is cancelled, then shuts down gracefully: it stops
// accepting, lets requests in flight finish (up to ShutdownTimeout), and
// closes the database.
func (a *App) Run(ctx context.Context) error {
	defer a.Close()
	a.log.Info("mlcycle listening", "url", a.URL(), "db", a.DB.String(), "artifacts", a.cfg.Artifacts,
		"auth", a.cfg.Auth, "startup", time.Since(a.started).Round(time.Millisecond))
	errc := make(chan error, 1)
	go func() { errc <- a.srv.Serve(a.ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serving: %w", err)
	case <-ctx.Done():
	}
	a.log.Info("shutting down: finishing requests in flight", "timeout", a.cfg.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout)
	defer cancel()
	if err := a.srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutting down: %w", err)
	}
	a.log.Info("stopped")
	return nil
}

// Close releases everything New opened. It is safe to call more than once.
func (a *App) Close() error {
	var errs []error
	if a.srv != nil {
		errs = append(errs, ignoreClosed(a.srv.Close()))
	} else if a.ln != nil {
		errs = append(errs, ignoreClosed(a.ln.Close()))
	}
	if a.Datasets != nil {
		errs = append(errs, a.Datasets.Close())
		a.Datasets = nil
	}
	if a.Artifacts != nil {
		errs = append(errs, a.Artifacts.Close())
		a.Artifacts = nil
	}
	if a.Tracking != nil {
		// Queued metric writes commit before the database closes.
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		errs = append(errs, a.Tracking.Stop(sctx))
		cancel()
	}
	if a.DB != nil {
		errs = append(errs, a.DB.Close())
		a.DB = nil
	}
	return errors.Join(errs...)
}

func ignoreClosed(err error) error {
	if err == nil || errors.Is(err, net.ErrClosed) || errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

func newLogger(cfg Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(strings.ToUpper(cfg.LogLevel)))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// Local gives CLI admin commands direct access to the services on the
// database (no server needed: the first admin is created this way).
type Local struct {
	DB    *store.DB
	Audit *audit.Log
	Auth  *auth.Service

	artifacts string // the artifact store's URL, for OpenDatasets
}

// OpenLocal opens and migrates the database named by cfg.
func OpenLocal(ctx context.Context, cfg Config) (*Local, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	db, log, svc, err := openServices(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return &Local{DB: db, Audit: log, Auth: svc, artifacts: cfg.Artifacts}, nil
}

// OpenDB opens the database named by cfg without migrating it.
func OpenDB(ctx context.Context, cfg Config) (*store.DB, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return store.Open(ctx, cfg.DB, store.Options{})
}

// Close closes the database.
func (l *Local) Close() error { return l.DB.Close() }

// OpenDatasets opens the artifact store and returns the dataset service the
// server would use, for the CLI's embedded data commands. close releases
// the service and the store (not the database).
func (l *Local) OpenDatasets(ctx context.Context, opts dataset.Options) (s *dataset.Service, close func() error, err error) {
	blobs, err := blob.Open(ctx, l.artifacts)
	if err != nil {
		return nil, nil, fmt.Errorf("opening artifact store %s: %w", l.artifacts, err)
	}
	s = dataset.New(l.DB, l.Audit, blobs, opts)
	return s, func() error { return errors.Join(s.Close(), blobs.Close()) }, nil
}

// DatasetLinker adapts dataset.Service to tracking.DatasetLinker: MLflow
// clients log a dataset's source as JSON such as {"uri": "mlcycle://iris@3"}
// (or a plain string), which is unwrapped before linking.
type DatasetLinker struct{ S *dataset.Service }

// LinkDatasetInput links the run to the version the input's source or
// digest names, if any.
func (l DatasetLinker) LinkDatasetInput(ctx context.Context, runID, source, digest, context string) error {
	return l.S.LinkDatasetInput(ctx, runID, sourceURI(source), digest, context)
}

// sourceURI returns the URI in an MLflow dataset source: the "uri" (or
// "url", "path") field of a JSON object, or the text itself.
func sourceURI(source string) string {
	s := strings.TrimSpace(source)
	if !strings.HasPrefix(s, "{") {
		return s
	}
	var fields map[string]any
	if json.Unmarshal([]byte(s), &fields) != nil {
		return s
	}
	for _, k := range []string{"uri", "url", "path"} {
		if v, ok := fields[k].(string); ok && v != "" {
			return v
		}
	}
	return s
}
