package httpapi

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/mlcycle/mlcycle/internal/errs"
	"github.com/mlcycle/mlcycle/internal/tracking"
)

// The MLflow tracking API (MlflowService in MLflow's service.proto):
// experiments, runs, metrics and MLflow 3 logged models, with the paths and
// methods of the proto's rpc options, under both MLflow prefixes. Reads need
// a viewer, changes an editor. Responses follow MLflow's protobuf JSON: int64
// as numbers, enums by name, unset optional fields and empty lists left out.

// registerMLflowTracking registers the MLflow tracking routes.
func (a *API) registerMLflowTracking() {
	a.mlflow("POST", "/experiments/create", RoleEditor, a.createExperiment)
	a.mlflow("GET", "/experiments/get", RoleViewer, a.getExperiment)
	a.mlflow("GET", "/experiments/get-by-name", RoleViewer, a.getExperimentByName)
	a.mlflow("GET", "/experiments/search", RoleViewer, a.searchExperiments)
	a.mlflow("POST", "/experiments/search", RoleViewer, a.searchExperiments)
	a.mlflow("POST", "/experiments/update", RoleEditor, a.updateExperiment)
	a.mlflow("POST", "/experiments/delete", RoleEditor, a.deleteExperiment)
	a.mlflow("POST", "/experiments/restore", RoleEditor, a.restoreExperiment)
	a.mlflow("POST", "/experiments/set-experiment-tag", RoleEditor, a.setExperimentTag)
	a.mlflow("POST", "/experiments/delete-experiment-tag", RoleEditor, a.deleteExperimentTag)

	a.mlflow("POST", "/runs/create", RoleEditor, a.createRun)
	a.mlflow("GET", "/runs/get", RoleViewer, a.getRun)
	a.mlflow("POST", "/runs/update", RoleEditor, a.updateRun)
	a.mlflow("POST", "/runs/delete", RoleEditor, a.deleteRun)
	a.mlflow("POST", "/runs/restore", RoleEditor, a.restoreRun)
	a.mlflow("POST", "/runs/search", RoleViewer, a.searchRuns)
	a.mlflow("POST", "/runs/set-tag", RoleEditor, a.setRunTag)
	a.mlflow("POST", "/runs/delete-tag", RoleEditor, a.deleteRunTag)
	a.mlflow("POST", "/runs/log-parameter", RoleEditor, a.logParam)
	a.mlflow("POST", "/runs/log-metric", RoleEditor, a.logMetric)
	a.mlflow("POST", "/runs/log-batch", RoleEditor, a.logBatch)
	a.mlflow("POST", "/runs/log-model", RoleEditor, a.logModel)
	a.mlflow("POST", "/runs/log-inputs", RoleEditor, a.logInputs)
	a.mlflow("POST", "/runs/outputs", RoleEditor, a.logOutputs)

	a.mlflow("GET", "/metrics/get-history", RoleViewer, a.getMetricHistory)
	a.mlflow("GET", "/metrics/get-history-bulk-interval", RoleViewer, a.getMetricHistoryBulkInterval)
	// The MLflow UI's chart endpoint (not in the proto).
	a.mlflow("GET", "/metrics/get-history-bulk", RoleViewer, a.getMetricHistoryBulk)

	a.mlflow("POST", "/logged-models", RoleEditor, a.createLoggedModel)
	a.mlflow("GET", "/logged-models/{model_id}", RoleViewer, a.getLoggedModel)
	a.mlflow("PATCH", "/logged-models/{model_id}", RoleEditor, a.finalizeLoggedModel)
	a.mlflow("DELETE", "/logged-models/{model_id}", RoleEditor, a.deleteLoggedModel)
	// POST /logged-models/search. It is registered on the {model_id}
	// pattern because a literal "search" segment beside GET {model_id}
	// would make ServeMux's method-less 405 patterns conflict; the handler
	// answers every other POST there as an unknown endpoint.
	a.mlflow("POST", "/logged-models/{model_id}", RoleViewer, a.searchLoggedModels)
	a.mlflow("PATCH", "/logged-models/{model_id}/tags", RoleEditor, a.setLoggedModelTags)
	a.mlflow("DELETE", "/logged-models/{model_id}/tags/{tag_key}", RoleEditor, a.deleteLoggedModelTag)
	a.mlflow("POST", "/logged-models/{model_id}/params", RoleEditor, a.logLoggedModelParams)
}

// trackingService returns the tracking service, or the error for a server
// without one.
func (a *API) trackingService() (*tracking.Service, error) {
	if a.tracking == nil {
		return nil, errs.E(errs.Invalid, "experiment tracking is not enabled on this server")
	}
	return a.tracking, nil
}

// wireError is a malformed scalar in a request, with a message for the
// client.
type wireError struct{ msg string }

func (e *wireError) Error() string { return e.msg }

// wireInt is an integer field of an MLflow request. Protobuf's JSON mapping
// sends 64-bit integers as numbers or as decimal strings; both are accepted.
type wireInt int64

func (n *wireInt) UnmarshalJSON(b []byte) error {
	s := string(b)
	if s == "null" {
		return nil
	}
	s = strings.TrimSuffix(strings.TrimPrefix(s, `"`), `"`)
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		// Exponent and ".0" forms of whole numbers are valid protobuf JSON.
		f, ferr := strconv.ParseFloat(s, 64)
		if ferr != nil || f != math.Trunc(f) || math.Abs(f) > 1<<62 {
			return &wireError{fmt.Sprintf("%s is not an integer", clipBytes(b))}
		}
		v = int64(f)
	}
	*n = wireInt(v)
	return nil
}

// wireEnum is an enum field: protobuf's JSON mapping sends the value's name
// or its number; a number arrives here as its decimal text.
type wireEnum string

func (e *wireEnum) UnmarshalJSON(b []byte) error {
	s := string(b)
	switch {
	case s == "null":
		return nil
	case strings.HasPrefix(s, `"`):
		v, err := strconv.Unquote(s)
		if err != nil {
			return &wireError{fmt.Sprintf("%s is not a valid enum value", clipBytes(b))}
		}
		*e = wireEnum(v)
	default:
		if _, err := strconv.Atoi(s); err != nil {
			return &wireError{fmt.Sprintf("%s is not a valid enum value", clipBytes(b))}
		}
		*e = wireEnum(s)
	}
	return nil
}

func clipBytes(b []byte) string {
	if len(b) > 40 {
		return string(b[:40]) + "..."
	}
	return string(b)
}

// decodeTracking reads an MLflow tracking request (query parameters for
// GET, a JSON body otherwise) and names a malformed number in the error.
func decodeTracking(r *http.Request, dst any) error {
	err := decodeMLflow(r, dst)
	var we *wireError
	if errors.As(err, &we) {
		return errs.E(errs.Invalid, "Invalid request: %s", we.msg)
	}
	return err
}

// required fails with MLflow's message when a required field is empty.
func required(name, v string) error {
	if v == "" {
		return errs.E(errs.Invalid, "Missing value for required parameter '%s'. See the API docs for more information about request parameters.", name)
	}
	return nil
}

// Wire shapes.

type mlflowKV struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

type mlflowExperiment struct {
	ExperimentID     string     `json:"experiment_id"`
	Name             string     `json:"name"`
	ArtifactLocation string     `json:"artifact_location"`
	LifecycleStage   string     `json:"lifecycle_stage"`
	LastUpdateTime   int64      `json:"last_update_time,omitempty"`
	CreationTime     int64      `json:"creation_time,omitempty"`
	Tags             []mlflowKV `json:"tags,omitempty"`
}

type mlflowRunInfo struct {
	RunID          string `json:"run_id"`
	RunUUID        string `json:"run_uuid"`
	RunName        string `json:"run_name"`
	ExperimentID   string `json:"experiment_id"`
	UserID         string `json:"user_id"`
	Status         string `json:"status"`
	StartTime      int64  `json:"start_time"`
	EndTime        int64  `json:"end_time,omitempty"`
	ArtifactURI    string `json:"artifact_uri,omitempty"`
	LifecycleStage string `json:"lifecycle_stage"`
}

type mlflowMetric struct {
	Key           string `json:"key"`
	Value         Double `json:"value"`
	Timestamp     int64  `json:"timestamp"`
	Step          int64  `json:"step"`
	DatasetName   string `json:"dataset_name,omitempty"`
	DatasetDigest string `json:"dataset_digest,omitempty"`
	ModelID       string `json:"model_id,omitempty"`
	RunID         string `json:"run_id,omitempty"`
}

type mlflowRunData struct {
	Metrics []mlflowMetric `json:"metrics,omitempty"`
	Params  []mlflowKV     `json:"params,omitempty"`
	Tags    []mlflowKV     `json:"tags,omitempty"`
}

type mlflowDataset struct {
	Name       string `json:"name"`
	Digest     string `json:"digest"`
	SourceType string `json:"source_type"`
	Source     string `json:"source"`
	Schema     string `json:"schema,omitempty"`
	Profile    string `json:"profile,omitempty"`
}

type mlflowDatasetInput struct {
	Tags    []mlflowKV    `json:"tags,omitempty"`
	Dataset mlflowDataset `json:"dataset"`
}

type mlflowModelInput struct {
	ModelID string `json:"model_id"`
}

type mlflowModelOutput struct {
	ModelID string `json:"model_id"`
	Step    int64  `json:"step"`
}

type mlflowRunInputs struct {
	DatasetInputs []mlflowDatasetInput `json:"dataset_inputs,omitempty"`
	ModelInputs   []mlflowModelInput   `json:"model_inputs,omitempty"`
}

type mlflowRunOutputs struct {
	ModelOutputs []mlflowModelOutput `json:"model_outputs,omitempty"`
}

type mlflowRun struct {
	Info    mlflowRunInfo    `json:"info"`
	Data    mlflowRunData    `json:"data"`
	Inputs  mlflowRunInputs  `json:"inputs"`
	Outputs mlflowRunOutputs `json:"outputs"`
}

type mlflowLoggedModelInfo struct {
	ModelID                string     `json:"model_id"`
	ExperimentID           string     `json:"experiment_id"`
	Name                   string     `json:"name"`
	CreationTimestampMS    int64      `json:"creation_timestamp_ms"`
	LastUpdatedTimestampMS int64      `json:"last_updated_timestamp_ms"`
	ArtifactURI            string     `json:"artifact_uri"`
	Status                 string     `json:"status"`
	ModelType              string     `json:"model_type,omitempty"`
	SourceRunID            string     `json:"source_run_id,omitempty"`
	StatusMessage          string     `json:"status_message,omitempty"`
	Tags                   []mlflowKV `json:"tags,omitempty"`
}

type mlflowLoggedModelData struct {
	Params  []mlflowKV     `json:"params,omitempty"`
	Metrics []mlflowMetric `json:"metrics,omitempty"`
}

type mlflowLoggedModel struct {
	Info mlflowLoggedModelInfo `json:"info"`
	Data mlflowLoggedModelData `json:"data"`
}

// Conversions between the wire and the service.

func tagsToWire(ts []tracking.Tag) []mlflowKV {
	out := make([]mlflowKV, len(ts))
	for i, t := range ts {
		out[i] = mlflowKV(t)
	}
	return out
}

func paramsToWire(ps []tracking.Param) []mlflowKV {
	out := make([]mlflowKV, len(ps))
	for i, p := range ps {
		out[i] = mlflowKV(p)
	}
	return out
}

func tagsFromWire(kvs []mlflowKV) []tracking.Tag {
	out := make([]tracking.Tag, len(kvs))
	for i, kv := range kvs {
		out[i] = tracking.Tag(kv)
	}
	return out
}

func paramsFromWire(kvs []mlflowKV) []tracking.Param {
	out := make([]tracking.Param, len(kvs))
	for i, kv := range kvs {
		out[i] = tracking.Param(kv)
	}
	return out
}

func experimentToWire(e tracking.Experiment) mlflowExperiment {
	return mlflowExperiment{
		ExperimentID: e.ID, Name: e.Name, ArtifactLocation: e.ArtifactLocation, LifecycleStage: e.LifecycleStage,
		LastUpdateTime: e.LastUpdateTime, CreationTime: e.CreationTime, Tags: tagsToWire(e.Tags),
	}
}

func runInfoToWire(ri tracking.RunInfo) mlflowRunInfo {
	return mlflowRunInfo{
		RunID: ri.RunID, RunUUID: ri.RunID, RunName: ri.RunName, ExperimentID: ri.ExperimentID, UserID: ri.UserID,
		Status: ri.Status, StartTime: ri.StartTime, EndTime: ri.EndTime, ArtifactURI: ri.ArtifactURI, LifecycleStage: ri.LifecycleStage,
	}
}

func metricToWire(m tracking.Metric) mlflowMetric {
	return mlflowMetric{
		Key: m.Key, Value: Double(m.Value), Timestamp: m.Timestamp, Step: m.Step,
		DatasetName: m.DatasetName, DatasetDigest: m.DatasetDigest, ModelID: m.ModelID, RunID: m.RunID,
	}
}

func metricsToWire(ms []tracking.Metric) []mlflowMetric {
	out := make([]mlflowMetric, len(ms))
	for i, m := range ms {
		out[i] = metricToWire(m)
	}
	return out
}

func runToWire(r tracking.Run) mlflowRun {
	out := mlflowRun{
		Info: runInfoToWire(r.Info),
		Data: mlflowRunData{Metrics: metricsToWire(r.Metrics), Params: paramsToWire(r.Params), Tags: tagsToWire(r.Tags)},
	}
	for _, di := range r.DatasetInputs {
		d := di.Dataset
		out.Inputs.DatasetInputs = append(out.Inputs.DatasetInputs, mlflowDatasetInput{
			Tags:    tagsToWire(di.Tags),
			Dataset: mlflowDataset{Name: d.Name, Digest: d.Digest, SourceType: d.SourceType, Source: d.Source, Schema: d.Schema, Profile: d.Profile},
		})
	}
	for _, m := range r.ModelInputs {
		out.Inputs.ModelInputs = append(out.Inputs.ModelInputs, mlflowModelInput{ModelID: m})
	}
	for _, o := range r.ModelOutputs {
		out.Outputs.ModelOutputs = append(out.Outputs.ModelOutputs, mlflowModelOutput(o))
	}
	return out
}

func loggedModelToWire(m tracking.LoggedModel) mlflowLoggedModel {
	return mlflowLoggedModel{
		Info: mlflowLoggedModelInfo{
			ModelID: m.ModelID, ExperimentID: m.ExperimentID, Name: m.Name,
			CreationTimestampMS: m.CreationTimestamp, LastUpdatedTimestampMS: m.LastUpdatedTimestamp,
			ArtifactURI: m.ArtifactLocation, Status: m.Status, ModelType: m.ModelType, SourceRunID: m.SourceRunID,
			StatusMessage: m.StatusMessage, Tags: tagsToWire(m.Tags),
		},
		Data: mlflowLoggedModelData{Params: paramsToWire(m.Params), Metrics: metricsToWire(m.Metrics)},
	}
}

// viewType reads MLflow's ViewType by name or number; "" means ACTIVE_ONLY.
func viewType(field string, v wireEnum) (tracking.ViewType, error) {
	switch strings.ToUpper(string(v)) {
	case "", "1", "ACTIVE_ONLY":
		return tracking.ActiveOnly, nil
	case "2", "DELETED_ONLY":
		return tracking.DeletedOnly, nil
	case "3", "ALL":
		return tracking.All, nil
	}
	return 0, errs.E(errs.Invalid, "Invalid value %q for parameter '%s' supplied: must be ACTIVE_ONLY, DELETED_ONLY or ALL", string(v), field)
}

// runStatus reads MLflow's RunStatus by name or number.
func runStatus(v wireEnum) (string, error) {
	switch s := strings.ToUpper(string(v)); s {
	case "":
		return "", nil
	case "1":
		return tracking.StatusRunning, nil
	case "2":
		return tracking.StatusScheduled, nil
	case "3":
		return tracking.StatusFinished, nil
	case "4":
		return tracking.StatusFailed, nil
	case "5":
		return tracking.StatusKilled, nil
	default:
		return s, nil // the service checks names
	}
}

// Experiments.

func (a *API) createExperiment(r *http.Request) (any, error) {
	var req struct {
		Name             string     `json:"name"`
		ArtifactLocation string     `json:"artifact_location"`
		Tags             []mlflowKV `json:"tags"`
	}
	svc, err := a.trackingService()
	if err != nil {
		return nil, err
	}
	if err := decodeTracking(r, &req); err != nil {
		return nil, err
	}
	if err := required("name", req.Name); err != nil {
		return nil, err
	}
	id, err := svc.CreateExperiment(r.Context(), req.Name, req.ArtifactLocation, tagsFromWire(req.Tags))
	if err != nil {
		return nil, err
	}
	return map[string]string{"experiment_id": id}, nil
}

func (a *API) getExperiment(r *http.Request) (any, error) {
	var req struct {
		ExperimentID string `json:"experiment_id"`
	}
	svc, err := a.trackingService()
	if err != nil {
		return nil, err
	}
	if err := decodeTracking(r, &req); err != nil {
		return nil, err
	}
	if err := required("experiment_id", req.ExperimentID); err != nil {
		return nil, err
	}
	e, err := svc.GetExperiment(r.Context(), req.ExperimentID)
	if err != nil {
		return nil, err
	}
	return map[string]any{"experiment": experimentToWire(e)}, nil
}

func (a *API) getExperimentByName(r *http.Request) (any, error) {
	var req struct {
		ExperimentName string `json:"experiment_name"`
	}
	svc, err := a.trackingService()
	if err != nil {
		return nil, err
	}
	if err := decodeTracking(r, &req); err != nil {
		return nil, err
	}
	if err := required("experiment_name", req.ExperimentName); err != nil {
		return nil, err
	}
	e, err := svc.GetExperimentByName(r.Context(), req.ExperimentName)
	if err != nil {
		return nil, err
	}
	return map[string]any{"experiment": experimentToWire(e)}, nil
}

func (a *API) searchExperiments(r *http.Request) (any, error) {
	var req struct {
		MaxResults wireInt  `json:"max_results"`
		PageToken  string   `json:"page_token"`
		Filter     string   `json:"filter"`
		OrderBy    []string `json:"order_by"`
		ViewType   wireEnum `json:"view_type"`
	}
	svc, err := a.trackingService()
	if err != nil {
		return nil, err
	}
	if err := decodeTracking(r, &req); err != nil {
		return nil, err
	}
	vt, err := viewType("view_type", req.ViewType)
	if err != nil {
		return nil, err
	}
	exps, next, err := svc.SearchExperiments(r.Context(), tracking.ExperimentQuery{
		ViewType: vt, MaxResults: int(req.MaxResults), Filter: req.Filter, OrderBy: req.OrderBy, PageToken: req.PageToken,
	})
	if err != nil {
		return nil, err
	}
	out := struct {
		Experiments   []mlflowExperiment `json:"experiments,omitempty"`
		NextPageToken string             `json:"next_page_token,omitempty"`
	}{NextPageToken: next}
	for _, e := range exps {
		out.Experiments = append(out.Experiments, experimentToWire(e))
	}
	return out, nil
}

func (a *API) updateExperiment(r *http.Request) (any, error) {
	var req struct {
		ExperimentID string `json:"experiment_id"`
		NewName      string `json:"new_name"`
	}
	svc, err := a.trackingService()
	if err != nil {
		return nil, err
	}
	if err := decodeTracking(r, &req); err != nil {
		return nil, err
	}
	if err := required("experiment_id", req.ExperimentID); err != nil {
		return nil, err
	}
	if err := required("new_name", req.NewName); err != nil {
		return nil, err
	}
	return struct{}{}, svc.UpdateExperiment(r.Context(), req.ExperimentID, req.NewName)
}

// experimentAction handles the requests that name only an experiment.
func (a *API) experimentAction(r *http.Request, do func(svc *tracking.Service, id string) error) (any, error) {
	var req struct {
		ExperimentID string `json:"experiment_id"`
	}
	svc, err := a.trackingService()
	if err != nil {
		return nil, err
	}
	if err := decodeTracking(r, &req); err != nil {
		return nil, err
	}
	if err := required("experiment_id", req.ExperimentID); err != nil {
		return nil, err
	}
	return struct{}{}, do(svc, req.ExperimentID)
}

func (a *API) deleteExperiment(r *http.Request) (any, error) {
	return a.experimentAction(r, func(svc *tracking.Service, id string) error { return svc.DeleteExperiment(r.Context(), id) })
}

func (a *API) restoreExperiment(r *http.Request) (any, error) {
	return a.experimentAction(r, func(svc *tracking.Service, id string) error { return svc.RestoreExperiment(r.Context(), id) })
}

func (a *API) setExperimentTag(r *http.Request) (any, error) {
	var req struct {
		ExperimentID string `json:"experiment_id"`
		Key          string `json:"key"`
		Value        string `json:"value"`
	}
	svc, err := a.trackingService()
	if err != nil {
		return nil, err
	}
	if err := decodeTracking(r, &req); err != nil {
		return nil, err
	}
	if err := required("experiment_id", req.ExperimentID); err != nil {
		return nil, err
	}
	if err := required("key", req.Key); err != nil {
		return nil, err
	}
	return struct{}{}, svc.SetExperimentTag(r.Context(), req.ExperimentID, req.Key, req.Value)
}

func (a *API) deleteExperimentTag(r *http.Request) (any, error) {
	var req struct {
		ExperimentID string `json:"experiment_id"`
		Key          string `json:"key"`
	}
	svc, err := a.trackingService()
	if err != nil {
		return nil, err
	}
	if err := decodeTracking(r, &req); err != nil {
		return nil, err
	}
	if err := required("experiment_id", req.ExperimentID); err != nil {
		return nil, err
	}
	if err := required("key", req.Key); err != nil {
		return nil, err
	}
	return struct{}{}, svc.DeleteExperimentTag(r.Context(), req.ExperimentID, req.Key)
}

// Runs.

// runRef is the run named by a request: run_id, or the older run_uuid.
type runRef struct {
	RunID   string `json:"run_id"`
	RunUUID string `json:"run_uuid"`
}

func (ref runRef) id() (string, error) {
	id := ref.RunID
	if id == "" {
		id = ref.RunUUID
	}
	return id, required("run_id", id)
}

func (a *API) createRun(r *http.Request) (any, error) {
	var req struct {
		ExperimentID string     `json:"experiment_id"`
		UserID       string     `json:"user_id"`
		RunName      string     `json:"run_name"`
		StartTime    wireInt    `json:"start_time"`
		Tags         []mlflowKV `json:"tags"`
	}
	svc, err := a.trackingService()
	if err != nil {
		return nil, err
	}
	if err := decodeTracking(r, &req); err != nil {
		return nil, err
	}
	run, err := svc.CreateRun(r.Context(), tracking.CreateRunInput{
		ExperimentID: req.ExperimentID, UserID: req.UserID, RunName: req.RunName,
		StartTime: int64(req.StartTime), Tags: tagsFromWire(req.Tags),
	})
	if err != nil {
		return nil, err
	}
	return map[string]any{"run": runToWire(run)}, nil
}

func (a *API) getRun(r *http.Request) (any, error) {
	var req runRef
	svc, err := a.trackingService()
	if err != nil {
		return nil, err
	}
	if err := decodeTracking(r, &req); err != nil {
		return nil, err
	}
	id, err := req.id()
	if err != nil {
		return nil, err
	}
	run, err := svc.GetRun(r.Context(), id)
	if err != nil {
		return nil, err
	}
	return map[string]any{"run": runToWire(run)}, nil
}

func (a *API) updateRun(r *http.Request) (any, error) {
	var req struct {
		runRef
		Status  wireEnum `json:"status"`
		EndTime *wireInt `json:"end_time"`
		RunName string   `json:"run_name"`
	}
	svc, err := a.trackingService()
	if err != nil {
		return nil, err
	}
	if err := decodeTracking(r, &req); err != nil {
		return nil, err
	}
	id, err := req.id()
	if err != nil {
		return nil, err
	}
	status, err := runStatus(req.Status)
	if err != nil {
		return nil, err
	}
	u := tracking.RunUpdate{Status: status, RunName: req.RunName}
	if req.EndTime != nil {
		end := int64(*req.EndTime)
		u.EndTime = &end
	}
	ri, err := svc.UpdateRun(r.Context(), id, u)
	if err != nil {
		return nil, err
	}
	return map[string]any{"run_info": runInfoToWire(ri)}, nil
}

// runAction handles the requests that name only a run.
func (a *API) runAction(r *http.Request, do func(svc *tracking.Service, id string) error) (any, error) {
	var req runRef
	svc, err := a.trackingService()
	if err != nil {
		return nil, err
	}
	if err := decodeTracking(r, &req); err != nil {
		return nil, err
	}
	id, err := req.id()
	if err != nil {
		return nil, err
	}
	return struct{}{}, do(svc, id)
}

func (a *API) deleteRun(r *http.Request) (any, error) {
	return a.runAction(r, func(svc *tracking.Service, id string) error { return svc.DeleteRun(r.Context(), id) })
}

func (a *API) restoreRun(r *http.Request) (any, error) {
	return a.runAction(r, func(svc *tracking.Service, id string) error { return svc.RestoreRun(r.Context(), id) })
}

func (a *API) searchRuns(r *http.Request) (any, error) {
	var req struct {
		ExperimentIDs []string `json:"experiment_ids"`
		Filter        string   `json:"filter"`
		RunViewType   wireEnum `json:"run_view_type"`
		MaxResults    *wireInt `json:"max_results"`
		OrderBy       []string `json:"order_by"`
		PageToken     string   `json:"page_token"`
	}
	svc, err := a.trackingService()
	if err != nil {
		return nil, err
	}
	if err := decodeTracking(r, &req); err != nil {
		return nil, err
	}
	vt, err := viewType("run_view_type", req.RunViewType)
	if err != nil {
		return nil, err
	}
	limit := tracking.MaxResultsDefault
	if req.MaxResults != nil {
		limit = int(*req.MaxResults)
		if limit <= 0 {
			return nil, errs.E(errs.Invalid, "Invalid value %d for parameter 'max_results' supplied. It must be a positive integer", limit)
		}
	}
	runs, next, err := svc.SearchRuns(r.Context(), tracking.RunQuery{
		ExperimentIDs: req.ExperimentIDs, Filter: req.Filter, ViewType: vt, MaxResults: limit, OrderBy: req.OrderBy, PageToken: req.PageToken,
	})
	if err != nil {
		return nil, err
	}
	out := struct {
		Runs          []mlflowRun `json:"runs,omitempty"`
		NextPageToken string      `json:"next_page_token,omitempty"`
	}{NextPageToken: next}
	for _, run := range runs {
		out.Runs = append(out.Runs, runToWire(run))
	}
	return out, nil
}

func (a *API) setRunTag(r *http.Request) (any, error) {
	var req struct {
		runRef
		Key   string `json:"key"`
		Value string `json:"value"`
	}
	svc, err := a.trackingService()
	if err != nil {
		return nil, err
	}
	if err := decodeTracking(r, &req); err != nil {
		return nil, err
	}
	id, err := req.id()
	if err != nil {
		return nil, err
	}
	if err := required("key", req.Key); err != nil {
		return nil, err
	}
	return struct{}{}, svc.SetTag(r.Context(), id, req.Key, req.Value)
}

func (a *API) deleteRunTag(r *http.Request) (any, error) {
	var req struct {
		runRef
		Key string `json:"key"`
	}
	svc, err := a.trackingService()
	if err != nil {
		return nil, err
	}
	if err := decodeTracking(r, &req); err != nil {
		return nil, err
	}
	id, err := req.id()
	if err != nil {
		return nil, err
	}
	if err := required("key", req.Key); err != nil {
		return nil, err
	}
	return struct{}{}, svc.DeleteTag(r.Context(), id, req.Key)
}

func (a *API) logParam(r *http.Request) (any, error) {
	var req struct {
		runRef
		Key   string `json:"key"`
		Value string `json:"value"`
	}
	svc, err := a.trackingService()
	if err != nil {
		return nil, err
	}
	if err := decodeTracking(r, &req); err != nil {
		return nil, err
	}
	id, err := req.id()
	if err != nil {
		return nil, err
	}
	if err := required("key", req.Key); err != nil {
		return nil, err
	}
	return struct{}{}, svc.LogParam(r.Context(), id, req.Key, req.Value)
}

// wireMetric is a metric in a request; value and timestamp are required.
type wireMetric struct {
	Key           string   `json:"key"`
	Value         *Double  `json:"value"`
	Timestamp     *wireInt `json:"timestamp"`
	Step          wireInt  `json:"step"`
	ModelID       string   `json:"model_id"`
	DatasetName   string   `json:"dataset_name"`
	DatasetDigest string   `json:"dataset_digest"`
}

func (m wireMetric) metric(prefix string) (tracking.Metric, error) {
	if err := required(prefix+"key", m.Key); err != nil {
		return tracking.Metric{}, err
	}
	if m.Value == nil {
		return tracking.Metric{}, required(prefix+"value", "")
	}
	if m.Timestamp == nil {
		return tracking.Metric{}, required(prefix+"timestamp", "")
	}
	return tracking.Metric{
		Key: m.Key, Value: float64(*m.Value), Timestamp: int64(*m.Timestamp), Step: int64(m.Step),
		ModelID: m.ModelID, DatasetName: m.DatasetName, DatasetDigest: m.DatasetDigest,
	}, nil
}

func (a *API) logMetric(r *http.Request) (any, error) {
	var req struct {
		runRef
		wireMetric
	}
	svc, err := a.trackingService()
	if err != nil {
		return nil, err
	}
	if err := decodeTracking(r, &req); err != nil {
		return nil, err
	}
	id, err := req.id()
	if err != nil {
		return nil, err
	}
	m, err := req.wireMetric.metric("")
	if err != nil {
		return nil, err
	}
	return struct{}{}, svc.LogMetric(r.Context(), id, m)
}

// logBatchRequest is the body of runs/log-batch.
type logBatchRequest struct {
	RunID   string       `json:"run_id"`
	Metrics []wireMetric `json:"metrics"`
	Params  []mlflowKV   `json:"params"`
	Tags    []mlflowKV   `json:"tags"`
}

func (a *API) logBatch(r *http.Request) (any, error) {
	var req logBatchRequest
	svc, err := a.trackingService()
	if err != nil {
		return nil, err
	}
	if err := decodeTracking(r, &req); err != nil {
		return nil, err
	}
	if err := required("run_id", req.RunID); err != nil {
		return nil, err
	}
	ms := make([]tracking.Metric, len(req.Metrics))
	for i, wm := range req.Metrics {
		if ms[i], err = wm.metric(""); err != nil {
			// Name the field only on failure: formatting it for every
			// point costs more than checking it.
			_, err = wm.metric(fmt.Sprintf("metrics[%d].", i))
			return nil, err
		}
	}
	for i, p := range req.Params {
		if err := required(fmt.Sprintf("params[%d].key", i), p.Key); err != nil {
			return nil, err
		}
	}
	for i, t := range req.Tags {
		if err := required(fmt.Sprintf("tags[%d].key", i), t.Key); err != nil {
			return nil, err
		}
	}
	return struct{}{}, svc.LogBatch(r.Context(), req.RunID, ms, paramsFromWire(req.Params), tagsFromWire(req.Tags))
}

func (a *API) logModel(r *http.Request) (any, error) {
	var req struct {
		RunID     string `json:"run_id"`
		ModelJSON string `json:"model_json"`
	}
	svc, err := a.trackingService()
	if err != nil {
		return nil, err
	}
	if err := decodeTracking(r, &req); err != nil {
		return nil, err
	}
	if err := required("run_id", req.RunID); err != nil {
		return nil, err
	}
	if err := required("model_json", req.ModelJSON); err != nil {
		return nil, err
	}
	return struct{}{}, svc.RecordLoggedModel(r.Context(), req.RunID, req.ModelJSON)
}

func (a *API) logInputs(r *http.Request) (any, error) {
	var req struct {
		RunID    string               `json:"run_id"`
		Datasets []mlflowDatasetInput `json:"datasets"`
		Models   []mlflowModelInput   `json:"models"`
	}
	svc, err := a.trackingService()
	if err != nil {
		return nil, err
	}
	if err := decodeTracking(r, &req); err != nil {
		return nil, err
	}
	if err := required("run_id", req.RunID); err != nil {
		return nil, err
	}
	ds := make([]tracking.DatasetInput, len(req.Datasets))
	for i, di := range req.Datasets {
		d := di.Dataset
		ds[i] = tracking.DatasetInput{
			Dataset: tracking.Dataset{Name: d.Name, Digest: d.Digest, SourceType: d.SourceType, Source: d.Source, Schema: d.Schema, Profile: d.Profile},
			Tags:    tagsFromWire(di.Tags),
		}
	}
	models := make([]string, len(req.Models))
	for i, m := range req.Models {
		models[i] = m.ModelID
	}
	return struct{}{}, svc.LogInputs(r.Context(), req.RunID, ds, models)
}

func (a *API) logOutputs(r *http.Request) (any, error) {
	var req struct {
		RunID  string `json:"run_id"`
		Models []struct {
			ModelID string  `json:"model_id"`
			Step    wireInt `json:"step"`
		} `json:"models"`
	}
	svc, err := a.trackingService()
	if err != nil {
		return nil, err
	}
	if err := decodeTracking(r, &req); err != nil {
		return nil, err
	}
	if err := required("run_id", req.RunID); err != nil {
		return nil, err
	}
	outs := make([]tracking.ModelOutput, len(req.Models))
	for i, m := range req.Models {
		outs[i] = tracking.ModelOutput{ModelID: m.ModelID, Step: int64(m.Step)}
	}
	return struct{}{}, svc.LogOutputs(r.Context(), req.RunID, outs)
}

// Metric history.

func (a *API) getMetricHistory(r *http.Request) (any, error) {
	var req struct {
		RunID      string   `json:"run_id"`
		RunUUID    string   `json:"run_uuid"`
		MetricKey  string   `json:"metric_key"`
		PageToken  string   `json:"page_token"`
		MaxResults *wireInt `json:"max_results"`
	}
	svc, err := a.trackingService()
	if err != nil {
		return nil, err
	}
	if err := decodeTracking(r, &req); err != nil {
		return nil, err
	}
	id, err := runRef{req.RunID, req.RunUUID}.id()
	if err != nil {
		return nil, err
	}
	if err := required("metric_key", req.MetricKey); err != nil {
		return nil, err
	}
	limit := 0
	if req.MaxResults != nil {
		if limit = int(*req.MaxResults); limit <= 0 {
			return nil, errs.E(errs.Invalid, "Invalid value %d for parameter 'max_results' supplied. It must be a positive integer.", limit)
		}
	}
	ms, next, err := svc.GetMetricHistory(r.Context(), id, req.MetricKey, limit, req.PageToken)
	if err != nil {
		return nil, err
	}
	return struct {
		Metrics       []mlflowMetric `json:"metrics,omitempty"`
		NextPageToken string         `json:"next_page_token,omitempty"`
	}{metricsToWire(ms), next}, nil
}

func (a *API) getMetricHistoryBulkInterval(r *http.Request) (any, error) {
	var req struct {
		RunIDs     []string `json:"run_ids"`
		MetricKey  string   `json:"metric_key"`
		StartStep  *wireInt `json:"start_step"`
		EndStep    *wireInt `json:"end_step"`
		MaxResults *wireInt `json:"max_results"`
	}
	svc, err := a.trackingService()
	if err != nil {
		return nil, err
	}
	if err := decodeTracking(r, &req); err != nil {
		return nil, err
	}
	q := tracking.IntervalQuery{RunIDs: req.RunIDs, MetricKey: req.MetricKey}
	if req.StartStep != nil {
		s := int64(*req.StartStep)
		q.StartStep = &s
	}
	if req.EndStep != nil {
		e := int64(*req.EndStep)
		q.EndStep = &e
	}
	if req.MaxResults != nil {
		if q.MaxResults = int(*req.MaxResults); q.MaxResults <= 0 {
			return nil, errs.E(errs.Invalid, "max_results must be between 1 and %d.", tracking.MaxResultsPerRunInterval)
		}
	}
	ms, err := svc.GetMetricHistoryBulkInterval(r.Context(), q)
	if err != nil {
		return nil, err
	}
	out := make([]mlflowMetric, len(ms))
	for i, m := range ms {
		out[i] = mlflowMetric{Key: m.Key, Value: Double(m.Value), Timestamp: m.Timestamp, Step: m.Step, RunID: m.RunID}
	}
	return struct {
		Metrics []mlflowMetric `json:"metrics"`
	}{out}, nil
}

// getMetricHistoryBulk is the MLflow UI's older chart endpoint: the full
// history of one metric for up to 100 runs, at most 25000 points in all.
func (a *API) getMetricHistoryBulk(r *http.Request) (any, error) {
	var req struct {
		RunIDs     []string `json:"run_id"`
		MetricKey  string   `json:"metric_key"`
		MaxResults *wireInt `json:"max_results"`
	}
	svc, err := a.trackingService()
	if err != nil {
		return nil, err
	}
	if err := decodeTracking(r, &req); err != nil {
		return nil, err
	}
	const maxPoints = 25000
	switch {
	case len(req.RunIDs) == 0:
		return nil, errs.E(errs.Invalid, "GetMetricHistoryBulk request must specify at least one run_id.")
	case len(req.RunIDs) > 100:
		return nil, errs.E(errs.Invalid, "GetMetricHistoryBulk request cannot specify more than 100 run_ids. Received %d run_ids.", len(req.RunIDs))
	case req.MetricKey == "":
		return nil, errs.E(errs.Invalid, "GetMetricHistoryBulk request must specify a metric_key.")
	}
	limit := maxPoints
	if req.MaxResults != nil && int(*req.MaxResults) < limit {
		limit = int(*req.MaxResults)
	}
	out := []mlflowMetric{}
	ids := slices.Sorted(slices.Values(req.RunIDs))
	for _, id := range ids {
		if len(out) >= limit {
			break
		}
		ms, _, err := svc.GetMetricHistory(r.Context(), id, req.MetricKey, limit-len(out), "")
		if errs.Is(err, errs.NotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, m := range ms {
			w := metricToWire(m)
			w.RunID = id
			out = append(out, w)
		}
	}
	return struct {
		Metrics []mlflowMetric `json:"metrics"`
	}{out}, nil
}

// Logged models.

func (a *API) createLoggedModel(r *http.Request) (any, error) {
	var req struct {
		ExperimentID string     `json:"experiment_id"`
		Name         string     `json:"name"`
		ModelType    string     `json:"model_type"`
		SourceRunID  string     `json:"source_run_id"`
		Params       []mlflowKV `json:"params"`
		Tags         []mlflowKV `json:"tags"`
	}
	svc, err := a.trackingService()
	if err != nil {
		return nil, err
	}
	if err := decodeTracking(r, &req); err != nil {
		return nil, err
	}
	if err := required("experiment_id", req.ExperimentID); err != nil {
		return nil, err
	}
	m, err := svc.CreateLoggedModel(r.Context(), tracking.CreateLoggedModelInput{
		ExperimentID: req.ExperimentID, Name: req.Name, ModelType: req.ModelType, SourceRunID: req.SourceRunID,
		Params: paramsFromWire(req.Params), Tags: tagsFromWire(req.Tags),
	})
	if err != nil {
		return nil, err
	}
	return map[string]any{"model": loggedModelToWire(m)}, nil
}

func (a *API) getLoggedModel(r *http.Request) (any, error) {
	var req struct {
		AllowDeleted bool `json:"allow_deleted"`
	}
	svc, err := a.trackingService()
	if err != nil {
		return nil, err
	}
	if err := decodeQuery(r, &req); err != nil {
		return nil, err
	}
	m, err := svc.GetLoggedModel(r.Context(), r.PathValue("model_id"), req.AllowDeleted)
	if err != nil {
		return nil, err
	}
	return map[string]any{"model": loggedModelToWire(m)}, nil
}

func (a *API) finalizeLoggedModel(r *http.Request) (any, error) {
	var req struct {
		Status wireEnum `json:"status"`
	}
	svc, err := a.trackingService()
	if err != nil {
		return nil, err
	}
	if err := decodeTracking(r, &req); err != nil {
		return nil, err
	}
	if err := required("status", string(req.Status)); err != nil {
		return nil, err
	}
	m, err := svc.FinalizeLoggedModel(r.Context(), r.PathValue("model_id"), string(req.Status))
	if err != nil {
		return nil, err
	}
	return map[string]any{"model": loggedModelToWire(m)}, nil
}

func (a *API) deleteLoggedModel(r *http.Request) (any, error) {
	svc, err := a.trackingService()
	if err != nil {
		return nil, err
	}
	return struct{}{}, svc.DeleteLoggedModel(r.Context(), r.PathValue("model_id"))
}

func (a *API) searchLoggedModels(r *http.Request) (any, error) {
	if r.PathValue("model_id") != "search" {
		return nil, errs.E(errs.NotFound, "no endpoint %s %s", r.Method, r.URL.Path)
	}
	var req struct {
		ExperimentIDs []string `json:"experiment_ids"`
		Filter        string   `json:"filter"`
		Datasets      []struct {
			DatasetName   string `json:"dataset_name"`
			DatasetDigest string `json:"dataset_digest"`
		} `json:"datasets"`
		MaxResults wireInt `json:"max_results"`
		OrderBy    []struct {
			FieldName     string `json:"field_name"`
			Ascending     *bool  `json:"ascending"`
			DatasetName   string `json:"dataset_name"`
			DatasetDigest string `json:"dataset_digest"`
		} `json:"order_by"`
		PageToken string `json:"page_token"`
	}
	svc, err := a.trackingService()
	if err != nil {
		return nil, err
	}
	if err := decodeTracking(r, &req); err != nil {
		return nil, err
	}
	q := tracking.LoggedModelQuery{ExperimentIDs: req.ExperimentIDs, Filter: req.Filter, MaxResults: int(req.MaxResults), PageToken: req.PageToken}
	for _, d := range req.Datasets {
		q.Datasets = append(q.Datasets, tracking.DatasetFilter{Name: d.DatasetName, Digest: d.DatasetDigest})
	}
	for _, o := range req.OrderBy {
		if err := required("order_by.field_name", o.FieldName); err != nil {
			return nil, err
		}
		asc := o.Ascending == nil || *o.Ascending // the proto's default is ascending
		q.OrderBy = append(q.OrderBy, tracking.ModelOrder{Field: o.FieldName, Ascending: asc, DatasetName: o.DatasetName, DatasetDigest: o.DatasetDigest})
	}
	models, next, err := svc.SearchLoggedModels(r.Context(), q)
	if err != nil {
		return nil, err
	}
	out := struct {
		Models        []mlflowLoggedModel `json:"models,omitempty"`
		NextPageToken string              `json:"next_page_token,omitempty"`
	}{NextPageToken: next}
	for _, m := range models {
		out.Models = append(out.Models, loggedModelToWire(m))
	}
	return out, nil
}

func (a *API) setLoggedModelTags(r *http.Request) (any, error) {
	var req struct {
		Tags []mlflowKV `json:"tags"`
	}
	svc, err := a.trackingService()
	if err != nil {
		return nil, err
	}
	if err := decodeTracking(r, &req); err != nil {
		return nil, err
	}
	return struct{}{}, svc.SetLoggedModelTags(r.Context(), r.PathValue("model_id"), tagsFromWire(req.Tags))
}

func (a *API) deleteLoggedModelTag(r *http.Request) (any, error) {
	svc, err := a.trackingService()
	if err != nil {
		return nil, err
	}
	return struct{}{}, svc.DeleteLoggedModelTag(r.Context(), r.PathValue("model_id"), r.PathValue("tag_key"))
}

func (a *API) logLoggedModelParams(r *http.Request) (any, error) {
	var req struct {
		Params []mlflowKV `json:"params"`
	}
	svc, err := a.trackingService()
	if err != nil {
		return nil, err
	}
	if err := decodeTracking(r, &req); err != nil {
		return nil, err
	}
	return struct{}{}, svc.LogLoggedModelParams(r.Context(), r.PathValue("model_id"), paramsFromWire(req.Params))
}
