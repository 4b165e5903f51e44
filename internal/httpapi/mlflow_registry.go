package httpapi

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/mlcycle/mlcycle/internal/errs"
	"github.com/mlcycle/mlcycle/internal/registry"
)

// The MLflow model registry API (ModelRegistryService in MLflow's
// model_registry.proto): paths and methods as there, under both MLflow
// prefixes. Reads need a viewer, changes an editor.

// registerMLflowRegistry registers the MLflow registry routes.
func (a *API) registerMLflowRegistry() {
	a.mlflow("POST", "/registered-models/create", RoleEditor, a.createRegisteredModel)
	a.mlflow("GET", "/registered-models/get", RoleViewer, a.getRegisteredModel)
	a.mlflow("POST", "/registered-models/rename", RoleEditor, a.renameRegisteredModel)
	a.mlflow("PATCH", "/registered-models/update", RoleEditor, a.updateRegisteredModel)
	a.mlflow("DELETE", "/registered-models/delete", RoleEditor, a.deleteRegisteredModel)
	a.mlflow("GET", "/registered-models/search", RoleViewer, a.searchRegisteredModels)
	a.mlflow("GET", "/registered-models/get-latest-versions", RoleViewer, a.getLatestVersions)
	a.mlflow("POST", "/registered-models/get-latest-versions", RoleViewer, a.getLatestVersions)
	a.mlflow("POST", "/registered-models/set-tag", RoleEditor, a.setRegisteredModelTag)
	a.mlflow("DELETE", "/registered-models/delete-tag", RoleEditor, a.deleteRegisteredModelTag)
	a.mlflow("POST", "/registered-models/alias", RoleEditor, a.setRegisteredModelAlias)
	a.mlflow("DELETE", "/registered-models/alias", RoleEditor, a.deleteRegisteredModelAlias)
	a.mlflow("GET", "/registered-models/alias", RoleViewer, a.getModelVersionByAlias)

	a.mlflow("POST", "/model-versions/create", RoleEditor, a.createModelVersion)
	a.mlflow("GET", "/model-versions/get", RoleViewer, a.getModelVersion)
	a.mlflow("PATCH", "/model-versions/update", RoleEditor, a.updateModelVersion)
	a.mlflow("DELETE", "/model-versions/delete", RoleEditor, a.deleteModelVersion)
	a.mlflow("GET", "/model-versions/search", RoleViewer, a.searchModelVersions)
	a.mlflow("POST", "/model-versions/transition-stage", RoleEditor, a.transitionModelVersionStage)
	a.mlflow("GET", "/model-versions/get-download-uri", RoleViewer, a.getModelVersionDownloadURI)
	a.mlflow("POST", "/model-versions/set-tag", RoleEditor, a.setModelVersionTag)
	a.mlflow("DELETE", "/model-versions/delete-tag", RoleEditor, a.deleteModelVersionTag)
}

// modelRegistry returns the registry, or the error for a server without one.
func (a *API) modelRegistry() (*registry.Service, error) {
	if a.registry == nil {
		return nil, errs.E(errs.Invalid, "the model registry is not enabled on this server")
	}
	return a.registry, nil
}

// decodeRegistry reads a registry request. DELETE takes a JSON body, as
// MLflow's client sends it; query parameters are read as well, for callers
// that put them in the URL.
func decodeRegistry(r *http.Request, dst any) error {
	if err := decodeMLflow(r, dst); err != nil {
		return err
	}
	if r.Method == http.MethodDelete && r.URL.RawQuery != "" {
		return decodeQuery(r, dst)
	}
	return nil
}

// regVersion is a version number as MLflow sends it: a string, though
// hand-written clients often send a JSON number.
type regVersion string

func (v *regVersion) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*v = regVersion(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return errs.E(errs.Invalid, "field \"version\": expected a version number, got %s", clipJSON(b))
	}
	*v = regVersion(n.String())
	return nil
}

func clipJSON(b []byte) string {
	if len(b) > 40 {
		return string(b[:40]) + "..."
	}
	return string(b)
}

func (v regVersion) parse() (int64, error) { return registry.ParseVersion(string(v)) }

// Wire shapes, as MLflow's protobuf JSON writes them. Lists are always
// present (possibly empty); version numbers are strings.

type regTagJSON struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

type regAliasJSON struct {
	Alias   string `json:"alias"`
	Version string `json:"version"`
}

type regModelJSON struct {
	Name                 string           `json:"name"`
	CreationTimestamp    int64            `json:"creation_timestamp"`
	LastUpdatedTimestamp int64            `json:"last_updated_timestamp"`
	Description          string           `json:"description"`
	LatestVersions       []regVersionJSON `json:"latest_versions"`
	Tags                 []regTagJSON     `json:"tags"`
	Aliases              []regAliasJSON   `json:"aliases"`
}

type regVersionJSON struct {
	Name                 string       `json:"name"`
	Version              string       `json:"version"`
	CreationTimestamp    int64        `json:"creation_timestamp"`
	LastUpdatedTimestamp int64        `json:"last_updated_timestamp"`
	UserID               string       `json:"user_id,omitempty"`
	CurrentStage         string       `json:"current_stage"`
	Description          string       `json:"description"`
	Source               string       `json:"source"`
	RunID                string       `json:"run_id"`
	Status               string       `json:"status"`
	StatusMessage        string       `json:"status_message,omitempty"` // as MLflow: only when set
	Tags                 []regTagJSON `json:"tags"`
	RunLink              string       `json:"run_link"`
	Aliases              []string     `json:"aliases"`
	ModelID              string       `json:"model_id,omitempty"`
}

func regTags(ts []registry.Tag) []regTagJSON {
	out := make([]regTagJSON, len(ts))
	for i, t := range ts {
		out[i] = regTagJSON{Key: t.Key, Value: t.Value}
	}
	return out
}

func regTagsIn(ts []regTagJSON) []registry.Tag {
	out := make([]registry.Tag, len(ts))
	for i, t := range ts {
		out[i] = registry.Tag{Key: t.Key, Value: t.Value}
	}
	return out
}

func regModel(m registry.RegisteredModel) regModelJSON {
	aliases := make([]regAliasJSON, len(m.Aliases))
	for i, al := range m.Aliases {
		aliases[i] = regAliasJSON{Alias: al.Alias, Version: strconv.FormatInt(al.Version, 10)}
	}
	return regModelJSON{
		Name:                 m.Name,
		CreationTimestamp:    m.CreationTime,
		LastUpdatedTimestamp: m.LastUpdatedTime,
		Description:          m.Description,
		LatestVersions:       regVersions(m.LatestVersions),
		Tags:                 regTags(m.Tags),
		Aliases:              aliases,
	}
}

func regModelVersion(v registry.ModelVersion) regVersionJSON {
	aliases := v.Aliases
	if aliases == nil {
		aliases = []string{}
	}
	stage, status := v.Stage, v.Status
	if stage == "" {
		stage = registry.StageNone
	}
	if status == "" {
		status = registry.StatusReady
	}
	return regVersionJSON{
		Name:                 v.Name,
		Version:              strconv.FormatInt(v.Version, 10),
		CreationTimestamp:    v.CreationTime,
		LastUpdatedTimestamp: v.LastUpdatedTime,
		UserID:               v.UserID,
		CurrentStage:         stage,
		Description:          v.Description,
		Source:               v.Source,
		RunID:                v.RunID,
		Status:               status,
		StatusMessage:        v.StatusMessage,
		Tags:                 regTags(v.Tags),
		RunLink:              v.RunLink,
		Aliases:              aliases,
		ModelID:              v.ModelID,
	}
}

func regVersions(vs []registry.ModelVersion) []regVersionJSON {
	out := make([]regVersionJSON, len(vs))
	for i, v := range vs {
		out[i] = regModelVersion(v)
	}
	return out
}

type regModelResponse struct {
	RegisteredModel regModelJSON `json:"registered_model"`
}

type regVersionResponse struct {
	ModelVersion regVersionJSON `json:"model_version"`
}

// --- registered models -------------------------------------------------------

func (a *API) createRegisteredModel(r *http.Request) (any, error) {
	reg, err := a.modelRegistry()
	if err != nil {
		return nil, err
	}
	var req struct {
		Name        string       `json:"name"`
		Tags        []regTagJSON `json:"tags"`
		Description string       `json:"description"`
	}
	if err := decodeRegistry(r, &req); err != nil {
		return nil, err
	}
	m, err := reg.CreateRegisteredModel(r.Context(), req.Name, req.Description, regTagsIn(req.Tags))
	if err != nil {
		return nil, err
	}
	return regModelResponse{regModel(m)}, nil
}

func (a *API) getRegisteredModel(r *http.Request) (any, error) {
	reg, err := a.modelRegistry()
	if err != nil {
		return nil, err
	}
	var req struct {
		Name string `json:"name"`
	}
	if err := decodeRegistry(r, &req); err != nil {
		return nil, err
	}
	m, err := reg.GetRegisteredModel(r.Context(), req.Name)
	if err != nil {
		return nil, err
	}
	return regModelResponse{regModel(m)}, nil
}

func (a *API) renameRegisteredModel(r *http.Request) (any, error) {
	reg, err := a.modelRegistry()
	if err != nil {
		return nil, err
	}
	var req struct {
		Name    string `json:"name"`
		NewName string `json:"new_name"`
	}
	if err := decodeRegistry(r, &req); err != nil {
		return nil, err
	}
	m, err := reg.RenameRegisteredModel(r.Context(), req.Name, req.NewName)
	if err != nil {
		return nil, err
	}
	return regModelResponse{regModel(m)}, nil
}

func (a *API) updateRegisteredModel(r *http.Request) (any, error) {
	reg, err := a.modelRegistry()
	if err != nil {
		return nil, err
	}
	var req struct {
		Name        string `json:"name"`
		Description string `json:"description"`
	}
	if err := decodeRegistry(r, &req); err != nil {
		return nil, err
	}
	m, err := reg.UpdateRegisteredModel(r.Context(), req.Name, req.Description)
	if err != nil {
		return nil, err
	}
	return regModelResponse{regModel(m)}, nil
}

func (a *API) deleteRegisteredModel(r *http.Request) (any, error) {
	reg, err := a.modelRegistry()
	if err != nil {
		return nil, err
	}
	var req struct {
		Name string `json:"name"`
	}
	if err := decodeRegistry(r, &req); err != nil {
		return nil, err
	}
	return struct{}{}, reg.DeleteRegisteredModel(r.Context(), req.Name)
}

type regSearchRequest struct {
	Filter     string   `json:"filter"`
	MaxResults int64    `json:"max_results"`
	OrderBy    []string `json:"order_by"`
	PageToken  string   `json:"page_token"`
}

func (q regSearchRequest) options() registry.SearchOptions {
	return registry.SearchOptions{Filter: q.Filter, MaxResults: q.MaxResults, OrderBy: q.OrderBy, PageToken: q.PageToken}
}

func (a *API) searchRegisteredModels(r *http.Request) (any, error) {
	reg, err := a.modelRegistry()
	if err != nil {
		return nil, err
	}
	var req regSearchRequest
	if err := decodeRegistry(r, &req); err != nil {
		return nil, err
	}
	ms, next, err := reg.SearchRegisteredModels(r.Context(), req.options())
	if err != nil {
		return nil, err
	}
	out := make([]regModelJSON, len(ms))
	for i, m := range ms {
		out[i] = regModel(m)
	}
	return struct {
		RegisteredModels []regModelJSON `json:"registered_models"`
		NextPageToken    string         `json:"next_page_token,omitempty"`
	}{out, next}, nil
}

func (a *API) getLatestVersions(r *http.Request) (any, error) {
	reg, err := a.modelRegistry()
	if err != nil {
		return nil, err
	}
	var req struct {
		Name   string   `json:"name"`
		Stages []string `json:"stages"`
	}
	if err := decodeRegistry(r, &req); err != nil {
		return nil, err
	}
	vs, err := reg.GetLatestVersions(r.Context(), req.Name, req.Stages)
	if err != nil {
		return nil, err
	}
	return struct {
		ModelVersions []regVersionJSON `json:"model_versions"`
	}{regVersions(vs)}, nil
}

func (a *API) setRegisteredModelTag(r *http.Request) (any, error) {
	reg, err := a.modelRegistry()
	if err != nil {
		return nil, err
	}
	var req struct {
		Name  string `json:"name"`
		Key   string `json:"key"`
		Value string `json:"value"`
	}
	if err := decodeRegistry(r, &req); err != nil {
		return nil, err
	}
	return struct{}{}, reg.SetRegisteredModelTag(r.Context(), req.Name, registry.Tag{Key: req.Key, Value: req.Value})
}

func (a *API) deleteRegisteredModelTag(r *http.Request) (any, error) {
	reg, err := a.modelRegistry()
	if err != nil {
		return nil, err
	}
	var req struct {
		Name string `json:"name"`
		Key  string `json:"key"`
	}
	if err := decodeRegistry(r, &req); err != nil {
		return nil, err
	}
	return struct{}{}, reg.DeleteRegisteredModelTag(r.Context(), req.Name, req.Key)
}

type regAliasRequest struct {
	Name    string     `json:"name"`
	Alias   string     `json:"alias"`
	Version regVersion `json:"version"`
}

func (a *API) setRegisteredModelAlias(r *http.Request) (any, error) {
	reg, err := a.modelRegistry()
	if err != nil {
		return nil, err
	}
	var req regAliasRequest
	if err := decodeRegistry(r, &req); err != nil {
		return nil, err
	}
	v, err := req.Version.parse()
	if err != nil {
		return nil, err
	}
	return struct{}{}, reg.SetRegisteredModelAlias(r.Context(), req.Name, req.Alias, v)
}

func (a *API) deleteRegisteredModelAlias(r *http.Request) (any, error) {
	reg, err := a.modelRegistry()
	if err != nil {
		return nil, err
	}
	var req regAliasRequest
	if err := decodeRegistry(r, &req); err != nil {
		return nil, err
	}
	return struct{}{}, reg.DeleteRegisteredModelAlias(r.Context(), req.Name, req.Alias)
}

func (a *API) getModelVersionByAlias(r *http.Request) (any, error) {
	reg, err := a.modelRegistry()
	if err != nil {
		return nil, err
	}
	var req regAliasRequest
	if err := decodeRegistry(r, &req); err != nil {
		return nil, err
	}
	v, err := reg.GetModelVersionByAlias(r.Context(), req.Name, req.Alias)
	if err != nil {
		return nil, err
	}
	return regVersionResponse{regModelVersion(v)}, nil
}

// --- model versions ----------------------------------------------------------

// regVersionRequest names one version.
type regVersionRequest struct {
	Name    string     `json:"name"`
	Version regVersion `json:"version"`
}

func (a *API) createModelVersion(r *http.Request) (any, error) {
	reg, err := a.modelRegistry()
	if err != nil {
		return nil, err
	}
	var req struct {
		Name        string       `json:"name"`
		Source      string       `json:"source"`
		RunID       string       `json:"run_id"`
		Tags        []regTagJSON `json:"tags"`
		RunLink     string       `json:"run_link"`
		Description string       `json:"description"`
		ModelID     string       `json:"model_id"`
	}
	if err := decodeRegistry(r, &req); err != nil {
		return nil, err
	}
	v, err := reg.CreateModelVersion(r.Context(), registry.NewVersion{
		Name: req.Name, Source: req.Source, RunID: req.RunID, ModelID: req.ModelID,
		RunLink: req.RunLink, Description: req.Description, Tags: regTagsIn(req.Tags),
	})
	if err != nil {
		return nil, err
	}
	return regVersionResponse{regModelVersion(v)}, nil
}

func (a *API) getModelVersion(r *http.Request) (any, error) {
	reg, err := a.modelRegistry()
	if err != nil {
		return nil, err
	}
	var req regVersionRequest
	if err := decodeRegistry(r, &req); err != nil {
		return nil, err
	}
	n, err := req.Version.parse()
	if err != nil {
		return nil, err
	}
	v, err := reg.GetModelVersion(r.Context(), req.Name, n)
	if err != nil {
		return nil, err
	}
	return regVersionResponse{regModelVersion(v)}, nil
}

func (a *API) updateModelVersion(r *http.Request) (any, error) {
	reg, err := a.modelRegistry()
	if err != nil {
		return nil, err
	}
	var req struct {
		Name        string     `json:"name"`
		Version     regVersion `json:"version"`
		Description string     `json:"description"`
	}
	if err := decodeRegistry(r, &req); err != nil {
		return nil, err
	}
	n, err := req.Version.parse()
	if err != nil {
		return nil, err
	}
	v, err := reg.UpdateModelVersion(r.Context(), req.Name, n, req.Description)
	if err != nil {
		return nil, err
	}
	return regVersionResponse{regModelVersion(v)}, nil
}

func (a *API) deleteModelVersion(r *http.Request) (any, error) {
	reg, err := a.modelRegistry()
	if err != nil {
		return nil, err
	}
	var req regVersionRequest
	if err := decodeRegistry(r, &req); err != nil {
		return nil, err
	}
	n, err := req.Version.parse()
	if err != nil {
		return nil, err
	}
	return struct{}{}, reg.DeleteModelVersion(r.Context(), req.Name, n)
}

func (a *API) searchModelVersions(r *http.Request) (any, error) {
	reg, err := a.modelRegistry()
	if err != nil {
		return nil, err
	}
	var req regSearchRequest
	if err := decodeRegistry(r, &req); err != nil {
		return nil, err
	}
	vs, next, err := reg.SearchModelVersions(r.Context(), req.options())
	if err != nil {
		return nil, err
	}
	return struct {
		ModelVersions []regVersionJSON `json:"model_versions"`
		NextPageToken string           `json:"next_page_token,omitempty"`
	}{regVersions(vs), next}, nil
}

func (a *API) transitionModelVersionStage(r *http.Request) (any, error) {
	reg, err := a.modelRegistry()
	if err != nil {
		return nil, err
	}
	var req struct {
		Name                    string     `json:"name"`
		Version                 regVersion `json:"version"`
		Stage                   string     `json:"stage"`
		ArchiveExistingVersions bool       `json:"archive_existing_versions"`
	}
	if err := decodeRegistry(r, &req); err != nil {
		return nil, err
	}
	n, err := req.Version.parse()
	if err != nil {
		return nil, err
	}
	v, err := reg.TransitionModelVersionStage(r.Context(), req.Name, n, req.Stage, req.ArchiveExistingVersions)
	if err != nil {
		return nil, err
	}
	return regVersionResponse{regModelVersion(v)}, nil
}

func (a *API) getModelVersionDownloadURI(r *http.Request) (any, error) {
	reg, err := a.modelRegistry()
	if err != nil {
		return nil, err
	}
	var req regVersionRequest
	if err := decodeRegistry(r, &req); err != nil {
		return nil, err
	}
	n, err := req.Version.parse()
	if err != nil {
		return nil, err
	}
	uri, err := reg.GetModelVersionDownloadURI(r.Context(), req.Name, n)
	if err != nil {
		return nil, err
	}
	return struct {
		ArtifactURI string `json:"artifact_uri"`
	}{uri}, nil
}

func (a *API) setModelVersionTag(r *http.Request) (any, error) {
	reg, err := a.modelRegistry()
	if err != nil {
		return nil, err
	}
	var req struct {
		Name    string     `json:"name"`
		Version regVersion `json:"version"`
		Key     string     `json:"key"`
		Value   string     `json:"value"`
	}
	if err := decodeRegistry(r, &req); err != nil {
		return nil, err
	}
	n, err := req.Version.parse()
	if err != nil {
		return nil, err
	}
	return struct{}{}, reg.SetModelVersionTag(r.Context(), req.Name, n, registry.Tag{Key: req.Key, Value: req.Value})
}

func (a *API) deleteModelVersionTag(r *http.Request) (any, error) {
	reg, err := a.modelRegistry()
	if err != nil {
		return nil, err
	}
	var req struct {
		Name    string     `json:"name"`
		Version regVersion `json:"version"`
		Key     string     `json:"key"`
	}
	if err := decodeRegistry(r, &req); err != nil {
		return nil, err
	}
	n, err := req.Version.parse()
	if err != nil {
		return nil, err
	}
	return struct{}{}, reg.DeleteModelVersionTag(r.Context(), req.Name, n, req.Key)
}
