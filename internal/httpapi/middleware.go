package httpapi

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"
)

// reqState is what the layers of one request tell each other: the outer
// layers (log, metrics) learn the route and actor that only the router and
// guard know.
type reqState struct {
	id     string
	route  string // registered pattern; "" until a route claims the request
	actor  string
	status int // first status written; 0 while nothing is written
	bytes  int64
}

type stateKey struct{}

func stateOf(r *http.Request) *reqState {
	if st, ok := r.Context().Value(stateKey{}).(*reqState); ok {
		return st
	}
	return &reqState{} // a handler used outside Handler's chain, as in a unit test
}

// routeLabel keeps metric labels bounded: the pattern, never the raw path.
func (st *reqState) routeLabel() string {
	if st.route == "" {
		return "unmatched"
	}
	return st.route
}

// finalStatus is the status the client saw. completed is false when the
// handler panicked: recoverPanics then answers 500 unless a status went out.
func (st *reqState) finalStatus(completed bool) int {
	switch {
	case st.status != 0:
		return st.status
	case !completed:
		return http.StatusInternalServerError
	}
	return http.StatusOK
}

// recorder notes the status and size of a response.
type recorder struct {
	http.ResponseWriter
	st *reqState
}

func (w *recorder) WriteHeader(code int) {
	if w.st.status == 0 && code >= 200 { // 1xx are interim, more headers follow
		w.st.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recorder) Write(b []byte) (int, error) {
	if w.st.status == 0 {
		w.st.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.st.bytes += int64(n)
	return n, err
}

// ReadFrom keeps the server's sendfile path for streamed files.
func (w *recorder) ReadFrom(src io.Reader) (int64, error) {
	if w.st.status == 0 {
		w.st.status = http.StatusOK
	}
	n, err := io.Copy(w.ResponseWriter, src)
	w.st.bytes += n
	return n, err
}

// Flush lets streaming handlers (and promhttp) flush through the recorder.
func (w *recorder) Flush() {
	if w.st.status == 0 {
		w.st.status = http.StatusOK
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap serves http.ResponseController.
func (w *recorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// recoverPanics turns a panic into a logged 500 instead of a dropped
// connection. It is outermost, so it also sets up the request state.
func (a *API) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := &reqState{}
		rec := &recorder{ResponseWriter: w, st: st}
		r = r.WithContext(context.WithValue(r.Context(), stateKey{}, st))
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler { // the server's own "abort quietly"
				panic(v)
			}
			a.log.ErrorContext(r.Context(), "panic serving request", "panic", fmt.Sprint(v),
				"request_id", st.id, "method", r.Method, "route", st.routeLabel(),
				"stack", string(debug.Stack()))
			if st.status == 0 {
				writeErrorBody(rec, http.StatusInternalServerError, "INTERNAL_ERROR", "internal error")
			}
		}()
		next.ServeHTTP(rec, r)
	})
}

const maxRequestIDLen = 64

// requestID adopts the caller's X-Request-Id when it is sane, so one id
// follows a request across proxies, and otherwise makes one.
func (a *API) requestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id")
		if !validRequestID(id) {
			id = rand.Text()
		}
		stateOf(r).id = id
		w.Header().Set("X-Request-Id", id)
		next.ServeHTTP(w, r)
	})
}

func validRequestID(id string) bool {
	if id == "" || len(id) > maxRequestIDLen {
		return false
	}
	for _, c := range []byte(id) {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
		if !ok {
			return false
		}
	}
	return true
}

func (a *API) accessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		completed := false
		defer func() { // deferred, so panicking requests are logged too
			st := stateOf(r)
			a.log.LogAttrs(r.Context(), slog.LevelInfo, "http request",
				slog.String("method", r.Method),
				slog.String("route", st.routeLabel()),
				slog.String("path", r.URL.Path),
				slog.Int("status", st.finalStatus(completed)),
				slog.Int64("bytes", st.bytes),
				slog.Duration("duration", time.Since(start)),
				slog.String("request_id", st.id),
				slog.String("actor", st.actor),
				slog.String("client", clientAddr(r)),
			)
		}()
		next.ServeHTTP(w, r)
		completed = true
	})
}

func (a *API) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		completed := false
		defer func() {
			st := stateOf(r)
			route, method := st.routeLabel(), methodLabel(r.Method)
			a.metrics.requests.WithLabelValues(route, method, strconv.Itoa(st.finalStatus(completed))).Inc()
			a.metrics.duration.WithLabelValues(route, method).Observe(time.Since(start).Seconds())
		}()
		next.ServeHTTP(w, r)
		completed = true
	})
}

// methodLabel folds unusual methods into one label value: clients choose
// the method, and must not be able to grow the metric's cardinality.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
		http.MethodPatch, http.MethodDelete, http.MethodOptions:
		return m
	}
	return "OTHER"
}

// checkHost rejects requests whose Host is not on the allowlist. A web page
// on an attacker's domain that rebinds its DNS to 127.0.0.1 still sends the
// attacker's host name, so this stops it reaching a local server.
func (a *API) checkHost(next http.Handler) http.Handler {
	if a.hosts.any {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !a.hosts.allows(r.Host) {
			host := r.Host
			if len(host) > 100 {
				host = host[:100] + "..."
			}
			writeErrorBody(w, http.StatusForbidden, "PERMISSION_DENIED",
				fmt.Sprintf("host %q is not allowed; add it with --allowed-hosts", host))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// hostAllowlist matches Host headers against the allowed entries.
type hostAllowlist struct {
	any   bool
	rules []hostRule
}

type hostRule struct {
	host     string // lower case, no brackets, no trailing dot
	port     string // "" matches any port
	wildcard bool   // host is a suffix such as ".example.com"
}

func parseAllowedHosts(entries []string) (hostAllowlist, error) {
	var l hostAllowlist
	for _, e := range entries {
		e = strings.TrimSpace(e)
		if e == "*" {
			l.any = true
			continue
		}
		if e == "" || strings.ContainsAny(e, "/ \t@") {
			return l, fmt.Errorf("allowed host %q: want a host name, host:port, *.domain or *", e)
		}
		host, port := splitHost(e)
		rule := hostRule{host: host, port: port}
		if rest, ok := strings.CutPrefix(host, "*."); ok {
			if rest == "" || strings.Contains(rest, "*") {
				return l, fmt.Errorf("allowed host %q: a wildcard must look like *.example.com", e)
			}
			rule = hostRule{host: "." + rest, port: port, wildcard: true}
		} else if strings.Contains(host, "*") {
			return l, fmt.Errorf("allowed host %q: a wildcard must look like *.example.com", e)
		}
		l.rules = append(l.rules, rule)
	}
	return l, nil
}

func (l hostAllowlist) allows(hostHeader string) bool {
	if l.any {
		return true
	}
	if hostHeader == "" {
		return false
	}
	host, port := splitHost(hostHeader)
	for _, rule := range l.rules {
		if rule.port != "" && rule.port != port {
			continue
		}
		if rule.wildcard && strings.HasSuffix(host, rule.host) || host == rule.host {
			return true
		}
	}
	return false
}

// splitHost splits "Host:port", "[v6]:port", "[v6]", "v6" or "host" and
// normalises the host for comparison.
func splitHost(s string) (host, port string) {
	s = strings.ToLower(s)
	if h, p, err := net.SplitHostPort(s); err == nil {
		host, port = h, p
	} else {
		host = s
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	return strings.TrimSuffix(host, "."), port
}
