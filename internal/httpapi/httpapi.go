// Package httpapi is mlcycle's HTTP front door: our REST API under /api/v1,
// /health, /version and /metrics, the web UI mounted at "/", and later the
// MLflow-compatible API under /api/2.0/mlflow and /ajax-api/2.0/mlflow.
//
// A request passes, outermost first, through: panic recovery, request id,
// access log, Prometheus metrics, the Host allowlist, the router, and then,
// per route: the body limit, authentication, the role check, the handler.
//
// Every route is registered through one helper (handle, or handleRaw for
// streaming) that states its minimum role, so the route table is also the
// authorization table; Routes exposes it so a test can try every route with
// every role.
//
// Authentication happens here for every caller, the API and the UI alike:
// "Authorization: Bearer <token>", "Authorization: Basic" with a password or
// with a token as the password, or the UI session cookie (which must come
// with the session's CSRF token on unsafe methods). The actor goes into the
// request context (package actor). Routes flagged UI, the web handler, are
// the exception to "no credentials, 401": a browser without a session must be
// sent to the login page rather than shown JSON, so such requests reach the
// web handler with no actor and web redirects them to /login. The web
// handler checks CSRF on its own forms, since it renders them.
package httpapi

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/mlcycle/mlcycle/internal/actor"
	"github.com/mlcycle/mlcycle/internal/blob"
	"github.com/mlcycle/mlcycle/internal/dataset"
	"github.com/mlcycle/mlcycle/internal/errs"
	"github.com/mlcycle/mlcycle/internal/registry"
	"github.com/mlcycle/mlcycle/internal/tracking"
)

// DefaultMaxBodyBytes bounds request bodies of JSON routes when
// Deps.MaxBodyBytes is zero.
const DefaultMaxBodyBytes = 32 << 20

// SessionCookie is the UI session cookie. It must match the name package web
// sets at login.
const SessionCookie = "mlcycle_session"

// Roles, weakest first. A route's role is the minimum the caller must hold.
const (
	RolePublic = "" // no authentication at all
	RoleViewer = "viewer"
	RoleEditor = "editor"
	RoleAdmin  = "admin"
)

// BuildInfo describes the running binary for GET /version.
type BuildInfo struct {
	Version, Commit, Date, GoVersion string
}

// Deps is what the API needs from the composition root.
type Deps struct {
	Logger *slog.Logger
	// Auth authenticates callers. Nil turns authentication off: every request
	// then acts as {Name: "anonymous", Role: "admin"}.
	Auth  Authenticator
	Users UserAdmin   // nil: user and token routes answer that auth is off
	Audit AuditLister // nil: the audit route answers that there is no audit log
	// Health pings the database for GET /health; nil means always healthy.
	Health func(ctx context.Context) error
	Build  BuildInfo
	// Registry receives the HTTP, DB pool, Go and process metrics and is
	// served at /metrics. Nil means a fresh private registry.
	Registry *prometheus.Registry
	// AllowedHosts lists the Host header values the server answers to, a
	// defence against DNS rebinding. Entries are a host name or IP ("any
	// port"), host:port, "*.example.com", or "*" for any host. Empty means
	// LoopbackHosts().
	AllowedHosts []string
	// MaxBodyBytes bounds request bodies; zero means DefaultMaxBodyBytes.
	// Routes that stream large bodies set their own limit.
	MaxBodyBytes int64
	// Web is the UI, served for every path the API does not claim; nil
	// answers those with a JSON 404.
	Web http.Handler
	// DBStats reports connection pool statistics by pool name for the
	// mlcycle_db_* gauges; nil omits them.
	DBStats func() map[string]sql.DBStats
	// Artifacts is the artifact store behind the MLflow artifact routes; nil
	// answers them 503.
	Artifacts *blob.Store
	// RunArtifacts and ModelArtifacts find the artifact roots of runs and
	// model versions; nil answers their routes 404.
	RunArtifacts   RunArtifactResolver
	ModelArtifacts ModelVersionArtifactResolver
	// LoggedModelArtifacts finds the artifact roots of MLflow 3 logged
	// models; nil answers their routes 404.
	LoggedModelArtifacts LoggedModelArtifactResolver
	// MaxArtifactBytes bounds one artifact upload; zero means no limit.
	MaxArtifactBytes int64
	// ModelRegistry serves the MLflow model registry routes; nil answers
	// them that the registry is not enabled. (Registry is the Prometheus
	// one.)
	ModelRegistry *registry.Service
	// Tracking serves the MLflow tracking routes (experiments, runs,
	// metrics, logged models); nil answers them that tracking is not enabled.
	Tracking *tracking.Service
	// Datasets serves the /api/v1 dataset and chunk routes; nil answers
	// them that datasets are not enabled.
	Datasets *dataset.Service
}

// LoopbackHosts is the allowlist for a server bound to a loopback address.
func LoopbackHosts() []string { return []string{"localhost", "127.0.0.1", "[::1]"} }

// RouteInfo describes one registered route.
type RouteInfo struct {
	Method  string // "" for UI routes, which take every method
	Pattern string // path pattern as registered, e.g. "/api/v1/users/{name}"
	Role    string // minimum role; RolePublic for none
	// UI routes are reached without credentials too (with no actor in the
	// context), so that the UI can redirect to its login page.
	UI bool
}

// API serves mlcycle's HTTP interface. Build it with New.
type API struct {
	log     *slog.Logger
	auth    Authenticator
	users   UserAdmin
	audit   AuditLister
	health  func(ctx context.Context) error
	build   BuildInfo
	reg     *prometheus.Registry
	metrics *httpMetrics
	promh   http.Handler // serves reg at /metrics
	hosts   hostAllowlist
	maxBody int64

	mux     *http.ServeMux
	routes  []RouteInfo
	methods map[string][]string // path pattern -> registered methods, for 405 answers
	handler http.Handler
	art     artifactDeps
	// registry is the model registry behind the MLflow registry routes.
	registry *registry.Service
	// tracking is the service behind the MLflow tracking routes.
	tracking *tracking.Service
	// datasets is the service behind the dataset routes.
	datasets *dataset.Service
}

// New builds the API and registers its routes and metrics.
func New(d Deps) (*API, error) {
	a := &API{
		log:      d.Logger,
		auth:     d.Auth,
		users:    d.Users,
		audit:    d.Audit,
		health:   d.Health,
		build:    d.Build,
		reg:      d.Registry,
		maxBody:  d.MaxBodyBytes,
		art:      artifactDepsOf(d),
		registry: d.ModelRegistry,
		tracking: d.Tracking,
		datasets: d.Datasets,
		mux:      http.NewServeMux(),
		methods:  map[string][]string{},
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.maxBody == 0 {
		a.maxBody = DefaultMaxBodyBytes
	}
	if a.maxBody < 0 {
		return nil, fmt.Errorf("max body bytes must not be negative, got %d", a.maxBody)
	}
	if a.reg == nil {
		a.reg = prometheus.NewRegistry()
	}
	hostList := d.AllowedHosts
	if len(hostList) == 0 {
		hostList = LoopbackHosts()
	}
	var err error
	if a.hosts, err = parseAllowedHosts(hostList); err != nil {
		return nil, err
	}
	if a.metrics, err = registerMetrics(a.reg, d.Build, d.DBStats); err != nil {
		return nil, fmt.Errorf("registering metrics: %w", err)
	}
	a.promh = promhttp.HandlerFor(a.reg, promhttp.HandlerOpts{Registry: a.reg})

	a.registerRoutes(d.Web)
	a.handler = a.recoverPanics(a.requestID(a.accessLog(a.instrument(a.checkHost(a.refuseArtifactDotSegments(a.mux))))))
	return a, nil
}

// Handler returns the root handler for the HTTP server.
func (a *API) Handler() http.Handler { return a.handler }

// Routes lists every registered route, in registration order.
func (a *API) Routes() []RouteInfo { return slices.Clone(a.routes) }

func (a *API) registerRoutes(web http.Handler) {
	a.handleRaw("GET", "/health", RolePublic, a.serveHealth)
	a.handle("GET", "/version", RolePublic, a.version)
	// Metrics need a viewer token when auth is on: route names and traffic
	// are not for anonymous eyes on a shared network.
	a.handleRaw("GET", "/metrics", RoleViewer, a.promh.ServeHTTP)
	a.handleRaw("GET", "/api/v1/openapi.yaml", RolePublic, serveOpenAPI)

	a.handle("GET", "/api/v1/whoami", RoleViewer, a.whoami)

	a.handle("GET", "/api/v1/users", RoleAdmin, a.listUsers)
	a.handle("POST", "/api/v1/users", RoleAdmin, a.createUser)
	a.handle("PATCH", "/api/v1/users/{name}", RoleAdmin, a.updateUser)
	a.handle("DELETE", "/api/v1/users/{name}", RoleAdmin, a.deleteUser)

	// Viewers manage their own tokens; the handlers let admins reach others'.
	a.handle("GET", "/api/v1/tokens", RoleViewer, a.listTokens)
	a.handle("POST", "/api/v1/tokens", RoleViewer, a.createToken)
	a.handle("DELETE", "/api/v1/tokens/{id}", RoleViewer, a.revokeToken)

	a.handle("GET", "/api/v1/audit", RoleAdmin, a.listAudit)

	a.registerDatasets()
	a.registerMLflow()

	// Paths that exist with other methods answer 405 rather than falling
	// through to the 404 catch-alls below.
	// They are registered per method, not for the bare path: a bare
	// "/api/v1/chunks/missing" would conflict with "PUT /api/v1/chunks/{hash}"
	// in ServeMux (more methods, but a more specific path).
	for path, methods := range a.methods {
		h := methodNotAllowed(methods)
		for _, m := range otherMethods(methods) {
			a.mux.Handle(m+" "+path, h)
		}
	}
	a.mux.Handle("/api/", http.HandlerFunc(endpointNotFound))
	a.mux.Handle("/ajax-api/", http.HandlerFunc(endpointNotFound))
	if web != nil {
		a.register(route{RouteInfo: RouteInfo{Pattern: "/", UI: true}}, web)
	} else {
		a.mux.Handle("/", http.HandlerFunc(endpointNotFound))
	}
}

// apiFunc is the shape of a JSON route: return a value to encode (200, or a
// response to choose the status) or an error to map to a status.
type apiFunc func(r *http.Request) (any, error)

// response lets a handler answer with a status other than 200 OK.
type response struct {
	status int
	body   any
}

func created(body any) response { return response{status: http.StatusCreated, body: body} }

// route is a RouteInfo plus per-route options.
type route struct {
	RouteInfo
	maxBody int64 // 0: the API default; negative: no limit
}

type routeOption func(*route)

// withBodyLimit overrides the API's body limit for one route, for uploads
// that stream far more than a JSON request. Negative means no limit: the
// handler must then bound what it reads itself.
func withBodyLimit(n int64) routeOption { return func(rt *route) { rt.maxBody = n } }

// handle registers a JSON route.
func (a *API) handle(method, pattern, role string, h apiFunc, opts ...routeOption) {
	a.handleRaw(method, pattern, role, func(w http.ResponseWriter, r *http.Request) {
		v, err := h(r)
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		status := http.StatusOK
		if resp, ok := v.(response); ok {
			status, v = resp.status, resp.body
		}
		a.writeJSON(w, r, status, v)
	}, opts...)
}

// handleRaw registers a route that writes its own response, such as a
// stream. Authentication and the role check are the same as for handle.
func (a *API) handleRaw(method, pattern, role string, h http.HandlerFunc, opts ...routeOption) {
	if method == "" {
		panic("httpapi: route " + pattern + " has no method")
	}
	rt := route{RouteInfo: RouteInfo{Method: method, Pattern: pattern, Role: role}}
	for _, o := range opts {
		o(&rt)
	}
	a.register(rt, h)
	a.methods[pattern] = append(a.methods[pattern], method)
}

func (a *API) register(rt route, h http.Handler) {
	if rt.Role != RolePublic && roleRank(rt.Role) == 0 {
		panic(fmt.Sprintf("httpapi: route %s %s has unknown role %q", rt.Method, rt.Pattern, rt.Role))
	}
	a.routes = append(a.routes, rt.RouteInfo)
	pattern := rt.Pattern
	if rt.Method != "" {
		pattern = rt.Method + " " + pattern
	}
	a.mux.Handle(pattern, a.guard(rt, h))
}

// guard applies a route's body limit, authentication and role rule.
func (a *API) guard(rt route, next http.Handler) http.Handler {
	limit := rt.maxBody
	if limit == 0 {
		limit = a.maxBody
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := stateOf(r)
		st.route = rt.Pattern
		if limit > 0 && r.Body != nil {
			if r.ContentLength > limit {
				a.writeError(w, r, tooLarge(limit))
				return
			}
			r.Body = http.MaxBytesReader(w, r.Body, limit)
		}
		if rt.Role == RolePublic && !rt.UI {
			next.ServeHTTP(w, r)
			return
		}

		act, err := a.authenticate(r, !rt.UI)
		if rt.UI {
			// Bad or missing credentials are the UI's to handle (login page).
			if err != nil {
				a.log.DebugContext(r.Context(), "ui request without valid credentials",
					"request_id", st.id, "err", err)
			}
			if act != nil {
				st.actor = act.Name
				r = r.WithContext(actor.With(r.Context(), *act))
			}
			next.ServeHTTP(w, r)
			return
		}
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		if act == nil {
			a.writeError(w, r, errs.E(errs.Unauthorized, "authentication required"))
			return
		}
		st.actor = act.Name
		if roleRank(act.Role) < roleRank(rt.Role) {
			a.writeError(w, r, errs.E(errs.Forbidden, "this endpoint requires the %s role", rt.Role))
			return
		}
		next.ServeHTTP(w, r.WithContext(actor.With(r.Context(), *act)))
	})
}

// roleRank orders roles; unknown roles rank 0, below viewer.
func roleRank(role string) int {
	switch role {
	case RoleViewer:
		return 1
	case RoleEditor:
		return 2
	case RoleAdmin:
		return 3
	}
	return 0
}

func methodNotAllowed(methods []string) http.Handler {
	allowed := slices.Clone(methods)
	if slices.Contains(allowed, "GET") && !slices.Contains(allowed, "HEAD") {
		allowed = append(allowed, "HEAD")
	}
	slices.Sort(allowed)
	allow := strings.Join(allowed, ", ")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		writeErrorBody(w, http.StatusMethodNotAllowed, "ENDPOINT_NOT_FOUND",
			fmt.Sprintf("method %s is not allowed on %s; allowed: %s", r.Method, r.URL.Path, allow))
	})
}

// commonMethods are the methods a path answers 405 for when it does not
// serve them (HEAD aside, served with GET).
func commonMethods() []string { return []string{"GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"} }

// otherMethods lists the common methods a path does not serve (GET
// serves HEAD too).
func otherMethods(served []string) []string {
	var out []string
	for _, m := range append([]string{"HEAD"}, commonMethods()...) {
		if slices.Contains(served, m) || m == "HEAD" && slices.Contains(served, "GET") {
			continue
		}
		out = append(out, m)
	}
	return out
}

func endpointNotFound(w http.ResponseWriter, r *http.Request) {
	if !slices.Contains(commonMethods(), r.Method) && r.Method != "HEAD" {
		// The per-method 405 handlers cover the common methods only.
		writeErrorBody(w, http.StatusMethodNotAllowed, "ENDPOINT_NOT_FOUND",
			fmt.Sprintf("method %s is not allowed on %s", r.Method, r.URL.Path))
		return
	}
	writeErrorBody(w, http.StatusNotFound, "ENDPOINT_NOT_FOUND",
		fmt.Sprintf("no endpoint %s %s", r.Method, r.URL.Path))
}

func tooLarge(limit int64) error {
	return errs.E(errs.TooLarge, "request body is larger than the limit of %d bytes", limit)
}

// userAdmin returns the user store, or the error for a server without one.
func (a *API) userAdmin() (UserAdmin, error) {
	if a.users == nil {
		return nil, errs.E(errs.Invalid, "authentication is off; start the server with authentication to manage users and tokens")
	}
	return a.users, nil
}

// requestTimeout bounds dependency checks such as the health ping.
const requestTimeout = 5 * time.Second
