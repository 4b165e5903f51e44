package httpapi

import (
	"context"
	_ "embed"
	"net/http"
	"runtime"
)

//go:embed openapi.yaml
var openAPISpec []byte

// serveHealth answers load balancers and probes in plain text.
func (a *API) serveHealth(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if a.health != nil {
		ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
		defer cancel()
		if err := a.health(ctx); err != nil {
			a.log.WarnContext(r.Context(), "health check failed", "err", err, "request_id", stateOf(r).id)
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte("database unavailable"))
			return
		}
	}
	w.Write([]byte("OK"))
}

type versionResponse struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	Date      string `json:"date"`
	GoVersion string `json:"go_version"`
}

func (a *API) version(*http.Request) (any, error) {
	v := versionResponse{Version: a.build.Version, Commit: a.build.Commit, Date: a.build.Date, GoVersion: a.build.GoVersion}
	if v.GoVersion == "" {
		v.GoVersion = runtime.Version()
	}
	return v, nil
}

func serveOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/yaml")
	w.Write(openAPISpec)
}
