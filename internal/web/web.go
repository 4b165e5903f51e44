// Package web serves mlcycle's server-rendered UI: html/template pages and
// embedded static assets, no build step.
//
// How a browser is authenticated. Package httpapi sits in front of this
// handler and authenticates every request (session cookie, bearer token,
// basic auth), putting the actor in the request context. It mounts this
// handler as a "UI" route: a request without valid credentials still arrives
// here, with no actor, instead of getting a 401 JSON answer. So this package
// never re-authenticates a GET; it reads actor.From and, when there is no
// signed-in user, redirects to /login?next=<path>.
//
// Signing in is this package's job: POST /login checks the password through
// SessionAuth, creates a session and sets two cookies, mlcycle_session (the
// session token, HttpOnly) and mlcycle_csrf (the session's CSRF token, which
// pages put in their forms and scripts may send as X-CSRF-Token to the API).
//
// CSRF. Every unsafe request here must carry a csrf_token form field (or the
// X-CSRF-Token header), compared in constant time with the session's token
// when there is a valid session, and otherwise (the login form, or auth off)
// with the double-submit cookie mlcycle_csrf_pre. httpapi does not check CSRF
// for UI routes, since only this package can answer a failure with a page.
package web

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/mlcycle/mlcycle/internal/actor"
	"github.com/mlcycle/mlcycle/internal/blob"
	"github.com/mlcycle/mlcycle/internal/registry"
	"github.com/mlcycle/mlcycle/internal/tracking"
)

// Cookie names. SessionCookie must match httpapi.SessionCookie.
const (
	SessionCookie = "mlcycle_session"
	CSRFCookie    = "mlcycle_csrf"     // the session's CSRF token, readable by scripts
	PreCSRFCookie = "mlcycle_csrf_pre" // double-submit token for forms without a session
)

// SessionAuth signs browsers in and out.
type SessionAuth interface {
	AuthenticatePassword(ctx context.Context, user, pass, clientAddr string) (actor.Actor, error)
	CreateSession(ctx context.Context, userID int64) (sessionToken, csrf string, err error)
	SessionActor(ctx context.Context, sessionToken string) (a actor.Actor, csrf string, err error)
	DeleteSession(ctx context.Context, sessionToken string) error
}

// Status is what the home page shows about the server.
type Status struct {
	Version   string
	Commit    string
	DB        string // backend, e.g. "sqlite" or "postgres"
	DBOK      bool   // the database answered a ping
	Artifacts string // artifact store location, without credentials
	Uptime    time.Duration
	Users     int // user accounts; shown when authentication is on
}

// Deps is what the UI needs from the composition root.
type Deps struct {
	Logger *slog.Logger
	// Sessions signs users in; nil means authentication is off, there is no
	// login, and everyone is "anonymous".
	Sessions SessionAuth
	// Status reports the server's state for the home page; nil shows no cards.
	Status func(ctx context.Context) Status
	// Tracking serves the experiment, run and compare pages; nil leaves them
	// out (their nav item then says they are not available yet).
	Tracking Tracking
	// Registry serves the model pages; nil leaves them out.
	Registry Registry
	// Artifacts is the artifact store behind the run artifact browser; nil
	// hides the browser.
	Artifacts ArtifactStore
	// Datasets serves the dataset pages; nil leaves them out.
	Datasets Datasets
}

// Tracking is what the experiment and run pages read. *tracking.Service
// implements it.
type Tracking interface {
	SearchExperiments(ctx context.Context, q tracking.ExperimentQuery) ([]tracking.Experiment, string, error)
	GetExperiment(ctx context.Context, id string) (tracking.Experiment, error)
	SearchRuns(ctx context.Context, q tracking.RunQuery) ([]tracking.Run, string, error)
	GetRun(ctx context.Context, runID string) (tracking.Run, error)
	GetMetricHistory(ctx context.Context, runID, key string, maxResults int, pageToken string) ([]tracking.Metric, string, error)
	GetMetricHistoryBulkInterval(ctx context.Context, q tracking.IntervalQuery) ([]tracking.Metric, error)
}

// Registry is what the model pages read. *registry.Service implements it.
type Registry interface {
	SearchRegisteredModels(ctx context.Context, o registry.SearchOptions) ([]registry.RegisteredModel, string, error)
	GetRegisteredModel(ctx context.Context, name string) (registry.RegisteredModel, error)
	SearchModelVersions(ctx context.Context, o registry.SearchOptions) ([]registry.ModelVersion, string, error)
}

// ArtifactStore reads artifacts for the browser. *blob.Store implements it.
type ArtifactStore interface {
	List(ctx context.Context, prefix string) ([]blob.Info, error)
	Stat(ctx context.Context, key string) (blob.Info, error)
	Get(ctx context.Context, key string) (io.ReadCloser, int64, error)
}

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// UI is the web interface. Build it with New.
type UI struct {
	log      *slog.Logger
	sessions SessionAuth
	status   func(ctx context.Context) Status
	tracking Tracking
	registry Registry
	blobs    ArtifactStore
	datasets Datasets

	pages    map[string]*template.Template
	static   fs.FS
	versions map[string]string // static file name -> content hash, for cache busting
	handler  http.Handler
}

// New parses the templates and builds the handler.
func New(d Deps) (*UI, error) {
	u := &UI{log: d.Logger, sessions: d.Sessions, status: d.Status, tracking: d.Tracking, registry: d.Registry,
		blobs: d.Artifacts, datasets: d.Datasets, pages: map[string]*template.Template{}}
	if u.log == nil {
		u.log = slog.New(slog.DiscardHandler)
	}
	var err error
	if u.static, err = fs.Sub(staticFS, "static"); err != nil {
		return nil, err
	}
	if u.versions, err = hashFiles(u.static); err != nil {
		return nil, fmt.Errorf("hashing static files: %w", err)
	}
	funcs := template.FuncMap{"asset": u.assetURL, "initial": initial}
	for k, f := range viewFuncs() {
		funcs[k] = f
	}
	for _, name := range []string{"home.html", "login.html", "message.html",
		"experiments.html", "experiment.html", "run.html", "metric.html", "artifacts.html", "compare.html",
		"models.html", "model.html", "datasets.html", "dataset.html", "dataset_version.html", "dataset_diff.html"} {
		t, err := template.New(name).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/partials.html", "templates/"+name)
		if err != nil {
			return nil, fmt.Errorf("parsing template %s: %w", name, err)
		}
		u.pages[name] = t
	}

	mux := http.NewServeMux()
	mux.Handle("GET /{$}", u.requireUser(http.HandlerFunc(u.home)))
	mux.HandleFunc("GET /login", u.loginPage)
	mux.HandleFunc("POST /login", u.login)
	mux.HandleFunc("POST /logout", u.logout)
	mux.HandleFunc("GET /static/", u.serveStatic)
	if u.tracking != nil {
		u.trackingRoutes(mux)
	}
	if u.registry != nil {
		u.registryRoutes(mux)
	}
	if u.datasets != nil {
		u.datasetRoutes(mux)
	}
	mux.Handle("/", u.requireUser(http.HandlerFunc(u.notFound)))
	u.handler = u.checkCSRF(mux)
	return u, nil
}

// Handler serves the UI. It expects httpapi in front of it to have put the
// authenticated actor, if any, in the request context.
func (u *UI) Handler() http.Handler { return u.handler }

// assetURL names a static file with its content hash, so browsers may cache
// it forever and still see a new release at once.
func (u *UI) assetURL(name string) (string, error) {
	v, ok := u.versions[name]
	if !ok {
		return "", fmt.Errorf("no static file %q", name)
	}
	return "/static/" + name + "?v=" + v, nil
}

// initial is the avatar letter for a user name.
func initial(name string) string {
	for _, r := range name {
		return strings.ToUpper(string(r))
	}
	return "?"
}

func hashFiles(fsys fs.FS) (map[string]string, error) {
	versions := map[string]string{}
	err := fs.WalkDir(fsys, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(fsys, path)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		versions[path] = hex.EncodeToString(sum[:6])
		return nil
	})
	return versions, err
}

// currentUser is the signed-in actor, if any. With authentication off
// everyone is the anonymous admin, as httpapi also says.
func (u *UI) currentUser(r *http.Request) (actor.Actor, bool) {
	a := actor.From(r.Context())
	if a.Role != "" {
		return a, true
	}
	if u.sessions == nil {
		return actor.Actor{Name: "anonymous", Role: "admin"}, true
	}
	return a, false // actor.From's "system" placeholder: nobody signed in
}

// requireUser sends visitors without a session to the login page.
func (u *UI) requireUser(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := u.currentUser(r); !ok {
			http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		next.ServeHTTP(w, r)
	})
}
