package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Experiment is an MLflow experiment: a named group of runs.
type Experiment struct {
	ID               string    `json:"experiment_id"`
	Name             string    `json:"name"`
	ArtifactLocation string    `json:"artifact_location,omitempty"`
	LifecycleStage   string    `json:"lifecycle_stage,omitempty"` // active or deleted
	LastUpdateTime   Timestamp `json:"last_update_time,omitzero"`
	CreationTime     Timestamp `json:"creation_time,omitzero"`
	Tags             []Tag     `json:"tags,omitempty"`
}

// ExperimentSearch selects experiments. Zero fields take the server's
// defaults (active experiments, the first page).
type ExperimentSearch struct {
	Filter     string   // e.g. "name LIKE 'fraud-%' AND tags.team = 'risk'"
	OrderBy    []string // e.g. "last_update_time DESC"
	MaxResults int
	PageToken  string
	ViewType   ViewType
}

// Run statuses.
const (
	RunRunning   = "RUNNING"
	RunScheduled = "SCHEDULED"
	RunFinished  = "FINISHED"
	RunFailed    = "FAILED"
	RunKilled    = "KILLED"
)

// Run is a run with its data and inputs.
type Run struct {
	Info   RunInfo   `json:"info"`
	Data   RunData   `json:"data"`
	Inputs RunInputs `json:"inputs"`
}

// RunInfo is a run's metadata.
type RunInfo struct {
	RunID          string    `json:"run_id"`
	RunName        string    `json:"run_name,omitempty"`
	ExperimentID   string    `json:"experiment_id"`
	UserID         string    `json:"user_id,omitempty"`
	Status         string    `json:"status,omitempty"`
	StartTime      Timestamp `json:"start_time,omitzero"`
	EndTime        Timestamp `json:"end_time,omitzero"`
	ArtifactURI    string    `json:"artifact_uri,omitempty"`
	LifecycleStage string    `json:"lifecycle_stage,omitempty"`
}

// RunData is what a run recorded: the latest value of each metric, its
// params and its tags.
type RunData struct {
	Metrics []Metric `json:"metrics,omitempty"`
	Params  []Param  `json:"params,omitempty"`
	Tags    []Tag    `json:"tags,omitempty"`
}

// Param returns the value of the run's param key.
func (d RunData) Param(key string) (string, bool) {
	for _, p := range d.Params {
		if p.Key == key {
			return p.Value, true
		}
	}
	return "", false
}

// Metric returns the latest value of the run's metric key.
func (d RunData) Metric(key string) (Metric, bool) {
	for _, m := range d.Metrics {
		if m.Key == key {
			return m, true
		}
	}
	return Metric{}, false
}

// Tag returns the value of the run's tag key.
func (d RunData) Tag(key string) (string, bool) { return TagValue(d.Tags, key) }

// RunInputs are the datasets a run used.
type RunInputs struct {
	DatasetInputs []DatasetInput `json:"dataset_inputs,omitempty"`
}

// Param is a run's hyperparameter; a key is logged once per run.
type Param struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Metric is one value of a run's metric. A zero Timestamp is sent as the
// time of the call.
type Metric struct {
	Key       string
	Value     float64 // NaN and ±Inf are allowed
	Timestamp Timestamp
	Step      int64
}

type metricJSON struct {
	Key       string    `json:"key"`
	Value     double    `json:"value"`
	Timestamp Timestamp `json:"timestamp"`
	Step      int64JSON `json:"step"`
}

func (m Metric) MarshalJSON() ([]byte, error) {
	return json.Marshal(metricJSON{Key: m.Key, Value: double(m.Value), Timestamp: m.Timestamp, Step: int64JSON(m.Step)})
}

func (m *Metric) UnmarshalJSON(b []byte) error {
	var w metricJSON
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*m = Metric{Key: w.Key, Value: float64(w.Value), Timestamp: w.Timestamp, Step: int64(w.Step)}
	return nil
}

// Dataset describes data a run used. Digest identifies the content;
// Schema and Profile are JSON documents, as MLflow writes them.
type Dataset struct {
	Name       string `json:"name"`
	Digest     string `json:"digest"`
	SourceType string `json:"source_type"` // e.g. local, s3, http, code
	Source     string `json:"source"`      // JSON describing where the data came from
	Schema     string `json:"schema,omitempty"`
	Profile    string `json:"profile,omitempty"`
}

// DatasetInput is a dataset as one run used it. The tag
// mlflow.data.context says how (e.g. training, validation, eval).
type DatasetInput struct {
	Tags    []Tag   `json:"tags,omitempty"`
	Dataset Dataset `json:"dataset"`
}

// TagDatasetContext is the input tag that says how a run used a dataset.
const TagDatasetContext = "mlflow.data.context"

// RunCreate describes a new run. A zero StartTime is the time of the call.
type RunCreate struct {
	ExperimentID string
	RunName      string
	StartTime    time.Time
	Tags         []Tag
	UserID       string // deprecated by MLflow; the server records the caller
}

// RunUpdate changes a run; empty fields stay as they are.
type RunUpdate struct {
	Status  string // RunFinished, RunFailed, RunKilled, ...
	EndTime time.Time
	RunName string
}

// RunSearch selects runs. Zero fields take the server's defaults (active
// runs, up to 1000 per page, newest first).
type RunSearch struct {
	ExperimentIDs []string
	Filter        string   // e.g. "metrics.acc > 0.9 AND params.model = 'xgb'"
	OrderBy       []string // e.g. "metrics.acc DESC"
	MaxResults    int
	PageToken     string
	ViewType      ViewType
}

// Batch is what one LogBatch call records. MLflow takes at most
// MaxBatchMetrics metrics, MaxBatchParams params, MaxBatchTags tags and
// MaxBatchItems items in all per call; LogBatchAll splits bigger batches.
type Batch struct {
	Metrics []Metric
	Params  []Param
	Tags    []Tag
}

// MLflow's LogBatch limits.
const (
	MaxBatchMetrics = 1000
	MaxBatchParams  = 100
	MaxBatchTags    = 100
	MaxBatchItems   = 1000
)

// ErrBatchTooLarge is returned by LogBatch for a batch over MLflow's limits.
var ErrBatchTooLarge = errors.New("batch over MLflow's limits")

// --- experiments ------------------------------------------------------------

// CreateExperiment creates an experiment and returns its ID.
func (c *Client) CreateExperiment(ctx context.Context, name string, tags ...Tag) (string, error) {
	in := struct {
		Name string `json:"name"`
		Tags []Tag  `json:"tags,omitempty"`
	}{name, tags}
	var out struct {
		ID string `json:"experiment_id"`
	}
	err := c.mlflowPost(ctx, "/experiments/create", in, &out)
	return out.ID, err
}

// GetExperiment returns an experiment by ID, deleted ones included.
func (c *Client) GetExperiment(ctx context.Context, id string) (Experiment, error) {
	var out struct {
		Experiment Experiment `json:"experiment"`
	}
	err := c.mlflowGet(ctx, "/experiments/get", url.Values{"experiment_id": {id}}, &out)
	return out.Experiment, err
}

// GetExperimentByName returns an experiment by name, preferring an active
// one over a deleted one of the same name.
func (c *Client) GetExperimentByName(ctx context.Context, name string) (Experiment, error) {
	var out struct {
		Experiment Experiment `json:"experiment"`
	}
	err := c.mlflowGet(ctx, "/experiments/get-by-name", url.Values{"experiment_name": {name}}, &out)
	return out.Experiment, err
}

// SearchExperiments returns one page of experiments and the token of the
// next page ("" on the last).
func (c *Client) SearchExperiments(ctx context.Context, q ExperimentSearch) ([]Experiment, string, error) {
	in := struct {
		MaxResults int      `json:"max_results,omitempty"`
		PageToken  string   `json:"page_token,omitempty"`
		Filter     string   `json:"filter,omitempty"`
		OrderBy    []string `json:"order_by,omitempty"`
		ViewType   ViewType `json:"view_type,omitempty"`
	}{q.MaxResults, q.PageToken, q.Filter, q.OrderBy, q.ViewType}
	var out struct {
		Experiments   []Experiment `json:"experiments"`
		NextPageToken string       `json:"next_page_token"`
	}
	err := c.mlflowPost(ctx, "/experiments/search", in, &out)
	return out.Experiments, out.NextPageToken, err
}

// DeleteExperiment marks an experiment and its runs deleted.
func (c *Client) DeleteExperiment(ctx context.Context, id string) error {
	return c.mlflowPost(ctx, "/experiments/delete", map[string]string{"experiment_id": id}, nil)
}

// RestoreExperiment brings back a deleted experiment and its runs.
func (c *Client) RestoreExperiment(ctx context.Context, id string) error {
	return c.mlflowPost(ctx, "/experiments/restore", map[string]string{"experiment_id": id}, nil)
}

// UpdateExperiment renames an experiment.
func (c *Client) UpdateExperiment(ctx context.Context, id, newName string) error {
	return c.mlflowPost(ctx, "/experiments/update", map[string]string{"experiment_id": id, "new_name": newName}, nil)
}

// SetExperimentTag sets (or replaces) a tag on an experiment.
func (c *Client) SetExperimentTag(ctx context.Context, id, key, value string) error {
	return c.mlflowPost(ctx, "/experiments/set-experiment-tag", map[string]string{"experiment_id": id, "key": key, "value": value}, nil)
}

// --- runs -------------------------------------------------------------------

// CreateRun starts a run in an experiment.
func (c *Client) CreateRun(ctx context.Context, r RunCreate) (Run, error) {
	start := r.StartTime
	if start.IsZero() {
		start = time.Now()
	}
	in := struct {
		ExperimentID string `json:"experiment_id"`
		UserID       string `json:"user_id,omitempty"`
		RunName      string `json:"run_name,omitempty"`
		StartTime    int64  `json:"start_time"`
		Tags         []Tag  `json:"tags,omitempty"`
	}{r.ExperimentID, r.UserID, r.RunName, start.UnixMilli(), r.Tags}
	var out struct {
		Run Run `json:"run"`
	}
	err := c.mlflowPost(ctx, "/runs/create", in, &out)
	return out.Run, err
}

// GetRun returns a run with its latest metrics, params, tags and inputs.
func (c *Client) GetRun(ctx context.Context, runID string) (Run, error) {
	var out struct {
		Run Run `json:"run"`
	}
	err := c.mlflowGet(ctx, "/runs/get", url.Values{"run_id": {runID}}, &out)
	return out.Run, err
}

// UpdateRun changes a run's status, end time or name and returns its info.
func (c *Client) UpdateRun(ctx context.Context, runID string, u RunUpdate) (RunInfo, error) {
	in := struct {
		RunID   string `json:"run_id"`
		Status  string `json:"status,omitempty"`
		EndTime int64  `json:"end_time,omitempty"`
		RunName string `json:"run_name,omitempty"`
	}{RunID: runID, Status: u.Status, RunName: u.RunName}
	if !u.EndTime.IsZero() {
		in.EndTime = u.EndTime.UnixMilli()
	}
	var out struct {
		RunInfo RunInfo `json:"run_info"`
	}
	err := c.mlflowPost(ctx, "/runs/update", in, &out)
	return out.RunInfo, err
}

// DeleteRun marks a run deleted.
func (c *Client) DeleteRun(ctx context.Context, runID string) error {
	return c.mlflowPost(ctx, "/runs/delete", map[string]string{"run_id": runID}, nil)
}

// RestoreRun brings back a deleted run.
func (c *Client) RestoreRun(ctx context.Context, runID string) error {
	return c.mlflowPost(ctx, "/runs/restore", map[string]string{"run_id": runID}, nil)
}

// SearchRuns returns one page of runs and the token of the next page (""
// on the last).
func (c *Client) SearchRuns(ctx context.Context, q RunSearch) ([]Run, string, error) {
	in := struct {
		ExperimentIDs []string `json:"experiment_ids"`
		Filter        string   `json:"filter,omitempty"`
		RunViewType   ViewType `json:"run_view_type,omitempty"`
		MaxResults    int      `json:"max_results,omitempty"`
		OrderBy       []string `json:"order_by,omitempty"`
		PageToken     string   `json:"page_token,omitempty"`
	}{q.ExperimentIDs, q.Filter, q.ViewType, q.MaxResults, q.OrderBy, q.PageToken}
	if in.ExperimentIDs == nil {
		in.ExperimentIDs = []string{}
	}
	var out struct {
		Runs          []Run  `json:"runs"`
		NextPageToken string `json:"next_page_token"`
	}
	err := c.mlflowPost(ctx, "/runs/search", in, &out)
	return out.Runs, out.NextPageToken, err
}

// SearchRunsAll iterates over every run that q selects, fetching pages as
// needed (q.MaxResults is the page size). It stops at the first error,
// which it yields.
func (c *Client) SearchRunsAll(ctx context.Context, q RunSearch) iter.Seq2[Run, error] {
	return func(yield func(Run, error) bool) {
		for {
			runs, next, err := c.SearchRuns(ctx, q)
			if err != nil {
				yield(Run{}, err)
				return
			}
			for _, r := range runs {
				if !yield(r, nil) {
					return
				}
			}
			if next == "" {
				return
			}
			if next == q.PageToken {
				yield(Run{}, fmt.Errorf("searching runs: the server returned the same page token %q twice", next))
				return
			}
			q.PageToken = next
		}
	}
}

// LogParam records a param of a run. Logging the same key again with a
// different value fails.
func (c *Client) LogParam(ctx context.Context, runID, key, value string) error {
	return c.mlflowPost(ctx, "/runs/log-parameter", map[string]string{"run_id": runID, "key": key, "value": value}, nil)
}

// LogMetric records one metric value of a run.
func (c *Client) LogMetric(ctx context.Context, runID string, m Metric) error {
	if m.Timestamp.IsZero() {
		m.Timestamp = At(time.Now())
	}
	in := struct {
		RunID string `json:"run_id"`
		metricJSON
	}{runID, metricJSON{Key: m.Key, Value: double(m.Value), Timestamp: m.Timestamp, Step: int64JSON(m.Step)}}
	return c.mlflowPost(ctx, "/runs/log-metric", in, nil)
}

// LogBatch records metrics, params and tags of a run in one call, within
// MLflow's limits (ErrBatchTooLarge otherwise; see LogBatchAll).
func (c *Client) LogBatch(ctx context.Context, runID string, b Batch) error {
	if err := b.check(); err != nil {
		return err
	}
	now := At(time.Now())
	metrics := make([]Metric, len(b.Metrics))
	for i, m := range b.Metrics {
		if m.Timestamp.IsZero() {
			m.Timestamp = now
		}
		metrics[i] = m
	}
	in := struct {
		RunID   string   `json:"run_id"`
		Metrics []Metric `json:"metrics,omitempty"`
		Params  []Param  `json:"params,omitempty"`
		Tags    []Tag    `json:"tags,omitempty"`
	}{runID, metrics, b.Params, b.Tags}
	return c.mlflowPost(ctx, "/runs/log-batch", in, nil)
}

func (b Batch) check() error {
	switch {
	case len(b.Metrics) > MaxBatchMetrics:
		return fmt.Errorf("%w: %d metrics, at most %d per call", ErrBatchTooLarge, len(b.Metrics), MaxBatchMetrics)
	case len(b.Params) > MaxBatchParams:
		return fmt.Errorf("%w: %d params, at most %d per call", ErrBatchTooLarge, len(b.Params), MaxBatchParams)
	case len(b.Tags) > MaxBatchTags:
		return fmt.Errorf("%w: %d tags, at most %d per call", ErrBatchTooLarge, len(b.Tags), MaxBatchTags)
	case len(b.Metrics)+len(b.Params)+len(b.Tags) > MaxBatchItems:
		return fmt.Errorf("%w: %d items, at most %d per call", ErrBatchTooLarge, len(b.Metrics)+len(b.Params)+len(b.Tags), MaxBatchItems)
	}
	return nil
}

// LogBatchAll records a batch of any size, in as few LogBatch calls as
// MLflow's limits allow. Within each kind the order is kept. A failure
// leaves the calls before it recorded.
func (c *Client) LogBatchAll(ctx context.Context, runID string, b Batch) error {
	for _, part := range splitBatch(b) {
		if err := c.LogBatch(ctx, runID, part); err != nil {
			return err
		}
	}
	return nil
}

// splitBatch cuts b into batches within the limits: params and tags go
// first, and metrics fill what room is left.
func splitBatch(b Batch) []Batch {
	var out []Batch
	for len(b.Metrics)+len(b.Params)+len(b.Tags) > 0 {
		var part Batch
		n := min(len(b.Params), MaxBatchParams)
		part.Params, b.Params = b.Params[:n:n], b.Params[n:]
		n = min(len(b.Tags), MaxBatchTags)
		part.Tags, b.Tags = b.Tags[:n:n], b.Tags[n:]
		n = min(len(b.Metrics), MaxBatchMetrics, MaxBatchItems-len(part.Params)-len(part.Tags))
		part.Metrics, b.Metrics = b.Metrics[:n:n], b.Metrics[n:]
		out = append(out, part)
	}
	return out
}

// SetTag sets (or replaces) a tag on a run.
func (c *Client) SetTag(ctx context.Context, runID, key, value string) error {
	return c.mlflowPost(ctx, "/runs/set-tag", map[string]string{"run_id": runID, "key": key, "value": value}, nil)
}

// DeleteTag removes a tag from a run.
func (c *Client) DeleteTag(ctx context.Context, runID, key string) error {
	return c.mlflowPost(ctx, "/runs/delete-tag", map[string]string{"run_id": runID, "key": key}, nil)
}

// GetMetricHistory returns one page of every value logged for a run's
// metric, and the token of the next page ("" on the last). maxResults 0
// asks for all values in one answer.
func (c *Client) GetMetricHistory(ctx context.Context, runID, key string, maxResults int, pageToken string) ([]Metric, string, error) {
	q := url.Values{"run_id": {runID}, "metric_key": {key}}
	if maxResults > 0 {
		q.Set("max_results", strconv.Itoa(maxResults))
	}
	if pageToken != "" {
		q.Set("page_token", pageToken)
	}
	var out struct {
		Metrics       []Metric `json:"metrics"`
		NextPageToken string   `json:"next_page_token"`
	}
	err := c.mlflowGet(ctx, "/metrics/get-history", q, &out)
	return out.Metrics, out.NextPageToken, err
}

// GetMetricHistoryAll returns every value logged for a run's metric,
// following the pages.
func (c *Client) GetMetricHistoryAll(ctx context.Context, runID, key string) ([]Metric, error) {
	var all []Metric
	tok := ""
	for {
		ms, next, err := c.GetMetricHistory(ctx, runID, key, 0, tok)
		if err != nil {
			return nil, err
		}
		all = append(all, ms...)
		if next == "" {
			return all, nil
		}
		if next == tok {
			return nil, fmt.Errorf("reading metric history: the server returned the same page token %q twice", next)
		}
		tok = next
	}
}

// LogInputs records the datasets a run used.
func (c *Client) LogInputs(ctx context.Context, runID string, inputs ...DatasetInput) error {
	in := struct {
		RunID    string         `json:"run_id"`
		Datasets []DatasetInput `json:"datasets"`
	}{runID, inputs}
	if in.Datasets == nil {
		in.Datasets = []DatasetInput{}
	}
	return c.mlflowPost(ctx, "/runs/log-inputs", in, nil)
}

func (c *Client) mlflowPost(ctx context.Context, path string, in, out any) error {
	return c.do(ctx, http.MethodPost, mlflowAPI+path, nil, in, out)
}

func (c *Client) mlflowGet(ctx context.Context, path string, q url.Values, out any) error {
	return c.do(ctx, http.MethodGet, mlflowAPI+path, q, nil, out)
}
