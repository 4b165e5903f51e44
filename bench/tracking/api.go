package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"
)

// api calls one server's MLflow REST API and records every failed answer.
type api struct {
	base string
	http *http.Client
	errs *errLog
}

// errFailed marks a request that got a non-2xx answer or none; the details
// are already in the errLog.
var errFailed = errors.New("request failed")

// post sends req as JSON to /api/2.0/mlflow/<path> and decodes the answer
// into resp (if not nil). It returns how long the round trip took.
func (a *api) post(ctx context.Context, path string, req, resp any) (time.Duration, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return 0, fmt.Errorf("encoding %s request: %w", path, err)
	}
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, a.base+"/api/2.0/mlflow/"+path, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	r.Header.Set("Content-Type", "application/json")
	return a.do(r, "POST "+path, resp)
}

// get sends a GET with query parameters to /api/2.0/mlflow/<path>.
func (a *api) get(ctx context.Context, path string, q url.Values, resp any) (time.Duration, error) {
	r, err := http.NewRequestWithContext(ctx, http.MethodGet, a.base+"/api/2.0/mlflow/"+path+"?"+q.Encode(), nil)
	if err != nil {
		return 0, err
	}
	return a.do(r, "GET "+path, resp)
}

func (a *api) do(r *http.Request, endpoint string, resp any) (time.Duration, error) {
	start := time.Now()
	res, err := a.http.Do(r)
	if err != nil {
		if r.Context().Err() != nil {
			return 0, r.Context().Err()
		}
		a.errs.add(endpoint, "no answer", err.Error())
		return 0, errFailed
	}
	b, err := io.ReadAll(res.Body)
	res.Body.Close()
	took := time.Since(start)
	if err != nil {
		a.errs.add(endpoint, "truncated answer", err.Error())
		return took, errFailed
	}
	if res.StatusCode/100 != 2 {
		a.errs.add(endpoint, res.Status, string(b))
		return took, errFailed
	}
	if resp != nil {
		if err := json.Unmarshal(b, resp); err != nil {
			a.errs.add(endpoint, "undecodable 2xx body", err.Error()+": "+string(b))
			return took, errFailed
		}
	}
	return took, nil
}

// errLog counts failed answers by endpoint and status, and keeps the first
// body of each kind so the report can show what went wrong.
type errLog struct {
	mu    sync.Mutex
	kinds map[string]*errKind
}

type errKind struct {
	Endpoint  string `json:"endpoint"`
	Status    string `json:"status"`
	Count     int    `json:"count"`
	FirstBody string `json:"first_body"`
}

func newErrLog() *errLog { return &errLog{kinds: map[string]*errKind{}} }

func (l *errLog) add(endpoint, status, body string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	key := endpoint + " " + status
	k := l.kinds[key]
	if k == nil {
		body = strings.TrimSpace(body)
		if len(body) > 500 {
			body = body[:500] + "..."
		}
		k = &errKind{Endpoint: endpoint, Status: status, FirstBody: body}
		l.kinds[key] = k
	}
	k.Count++
}

// total returns how many requests to endpoints starting with prefix failed.
func (l *errLog) total(prefix string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, k := range l.kinds {
		if strings.HasPrefix(k.Endpoint, prefix) {
			n += k.Count
		}
	}
	return n
}

func (l *errLog) summary() []errKind {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]errKind, 0, len(l.kinds))
	for _, k := range l.kinds {
		out = append(out, *k)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Endpoint != out[j].Endpoint {
			return out[i].Endpoint < out[j].Endpoint
		}
		return out[i].Status < out[j].Status
	})
	return out
}

// The MLflow wire types this benchmark sends and reads (service.proto).

type keyValue struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

type metric struct {
	Key       string  `json:"key"`
	Value     float64 `json:"value"`
	Timestamp int64   `json:"timestamp"`
	Step      int64   `json:"step"`
}

type createExperimentReq struct {
	Name string `json:"name"`
}

type createExperimentResp struct {
	ExperimentID string `json:"experiment_id"`
}

type createRunReq struct {
	ExperimentID string     `json:"experiment_id"`
	RunName      string     `json:"run_name,omitempty"`
	StartTime    int64      `json:"start_time"`
	Tags         []keyValue `json:"tags,omitempty"`
}

type runInfo struct {
	RunID        string `json:"run_id"`
	ExperimentID string `json:"experiment_id"`
}

type runData struct {
	Metrics []metric   `json:"metrics"`
	Params  []keyValue `json:"params"`
	Tags    []keyValue `json:"tags"`
}

type runMsg struct {
	Info runInfo `json:"info"`
	Data runData `json:"data"`
}

type runResp struct {
	Run runMsg `json:"run"`
}

type logBatchReq struct {
	RunID   string     `json:"run_id"`
	Metrics []metric   `json:"metrics,omitempty"`
	Params  []keyValue `json:"params,omitempty"`
	Tags    []keyValue `json:"tags,omitempty"`
}

type searchRunsReq struct {
	ExperimentIDs []string `json:"experiment_ids"`
	Filter        string   `json:"filter"`
	RunViewType   string   `json:"run_view_type"`
	MaxResults    int      `json:"max_results"`
	OrderBy       []string `json:"order_by"`
}

type searchRunsResp struct {
	Runs          []runMsg `json:"runs"`
	NextPageToken string   `json:"next_page_token"`
}

type metricHistoryResp struct {
	Metrics       []metric `json:"metrics"`
	NextPageToken string   `json:"next_page_token"`
}

func (a *api) createExperiment(ctx context.Context, name string) (string, error) {
	var resp createExperimentResp
	if _, err := a.post(ctx, "experiments/create", createExperimentReq{Name: name}, &resp); err != nil {
		return "", fmt.Errorf("creating experiment %q: %w", name, err)
	}
	if resp.ExperimentID == "" {
		a.errs.add("POST experiments/create", "200 without experiment_id", "")
		return "", fmt.Errorf("creating experiment %q: no experiment_id in the answer", name)
	}
	return resp.ExperimentID, nil
}

func (a *api) createRun(ctx context.Context, req createRunReq) (string, time.Duration, error) {
	var resp runResp
	took, err := a.post(ctx, "runs/create", req, &resp)
	if err != nil {
		return "", took, err
	}
	if resp.Run.Info.RunID == "" {
		a.errs.add("POST runs/create", "200 without run.info.run_id", "")
		return "", took, errFailed
	}
	return resp.Run.Info.RunID, took, nil
}
