package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
)

// RegisteredModel is a named model in the registry.
type RegisteredModel struct {
	Name                 string         `json:"name"`
	CreationTimestamp    Timestamp      `json:"creation_timestamp,omitzero"`
	LastUpdatedTimestamp Timestamp      `json:"last_updated_timestamp,omitzero"`
	UserID               string         `json:"user_id,omitempty"`
	Description          string         `json:"description,omitempty"`
	LatestVersions       []ModelVersion `json:"latest_versions,omitempty"` // the latest version in each stage
	Tags                 []Tag          `json:"tags,omitempty"`
	Aliases              []ModelAlias   `json:"aliases,omitempty"`
}

// ModelAlias names one version of a registered model, e.g. champion -> 3.
type ModelAlias struct {
	Alias   string `json:"alias"`
	Version string `json:"version"`
}

// Model version stages (MLflow's older alternative to aliases).
const (
	StageNone       = "None"
	StageStaging    = "Staging"
	StageProduction = "Production"
	StageArchived   = "Archived"
)

// ModelVersion is one version of a registered model.
type ModelVersion struct {
	Name                 string    `json:"name"`
	Version              string    `json:"version"`
	CreationTimestamp    Timestamp `json:"creation_timestamp,omitzero"`
	LastUpdatedTimestamp Timestamp `json:"last_updated_timestamp,omitzero"`
	UserID               string    `json:"user_id,omitempty"`
	CurrentStage         string    `json:"current_stage,omitempty"`
	Description          string    `json:"description,omitempty"`
	Source               string    `json:"source,omitempty"` // where its files are, e.g. runs:/<run id>/model
	RunID                string    `json:"run_id,omitempty"`
	Status               string    `json:"status,omitempty"` // READY, PENDING_REGISTRATION, FAILED_REGISTRATION
	StatusMessage        string    `json:"status_message,omitempty"`
	Tags                 []Tag     `json:"tags,omitempty"`
	RunLink              string    `json:"run_link,omitempty"`
	Aliases              []string  `json:"aliases,omitempty"`
}

// RegistrySearch selects registered models or model versions. Zero fields
// take the server's defaults.
type RegistrySearch struct {
	Filter     string   // e.g. "name LIKE 'fraud%'" or "name = 'fraud' AND run_id = '...'"
	OrderBy    []string // e.g. "name ASC", "last_updated_timestamp DESC"
	MaxResults int
	PageToken  string
}

func (q RegistrySearch) values() url.Values {
	v := url.Values{}
	if q.Filter != "" {
		v.Set("filter", q.Filter)
	}
	if q.MaxResults > 0 {
		v.Set("max_results", strconv.Itoa(q.MaxResults))
	}
	for _, o := range q.OrderBy {
		v.Add("order_by", o)
	}
	if q.PageToken != "" {
		v.Set("page_token", q.PageToken)
	}
	return v
}

type modelAnswer struct {
	RegisteredModel RegisteredModel `json:"registered_model"`
}

type versionAnswer struct {
	ModelVersion ModelVersion `json:"model_version"`
}

// CreateRegisteredModel creates a registered model without versions.
func (c *Client) CreateRegisteredModel(ctx context.Context, name, description string, tags ...Tag) (RegisteredModel, error) {
	in := struct {
		Name        string `json:"name"`
		Tags        []Tag  `json:"tags,omitempty"`
		Description string `json:"description,omitempty"`
	}{name, tags, description}
	var out modelAnswer
	err := c.mlflowPost(ctx, "/registered-models/create", in, &out)
	return out.RegisteredModel, err
}

// GetRegisteredModel returns a registered model with its latest versions
// and aliases.
func (c *Client) GetRegisteredModel(ctx context.Context, name string) (RegisteredModel, error) {
	var out modelAnswer
	err := c.mlflowGet(ctx, "/registered-models/get", url.Values{"name": {name}}, &out)
	return out.RegisteredModel, err
}

// SearchRegisteredModels returns one page of registered models and the
// token of the next page ("" on the last).
func (c *Client) SearchRegisteredModels(ctx context.Context, q RegistrySearch) ([]RegisteredModel, string, error) {
	var out struct {
		RegisteredModels []RegisteredModel `json:"registered_models"`
		NextPageToken    string            `json:"next_page_token"`
	}
	err := c.mlflowGet(ctx, "/registered-models/search", q.values(), &out)
	return out.RegisteredModels, out.NextPageToken, err
}

// RenameRegisteredModel renames a registered model; its versions follow.
func (c *Client) RenameRegisteredModel(ctx context.Context, name, newName string) (RegisteredModel, error) {
	var out modelAnswer
	err := c.mlflowPost(ctx, "/registered-models/rename", map[string]string{"name": name, "new_name": newName}, &out)
	return out.RegisteredModel, err
}

// DeleteRegisteredModel deletes a registered model and all its versions.
func (c *Client) DeleteRegisteredModel(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, mlflowAPI+"/registered-models/delete", nil, map[string]string{"name": name}, nil)
}

// CreateModelVersion registers the model files at source (e.g.
// "runs:/<run id>/model" or the run's artifact URI plus "/model") as the
// next version of a registered model.
func (c *Client) CreateModelVersion(ctx context.Context, name, source, runID string, tags ...Tag) (ModelVersion, error) {
	in := struct {
		Name   string `json:"name"`
		Source string `json:"source"`
		RunID  string `json:"run_id,omitempty"`
		Tags   []Tag  `json:"tags,omitempty"`
	}{name, source, runID, tags}
	var out versionAnswer
	err := c.mlflowPost(ctx, "/model-versions/create", in, &out)
	return out.ModelVersion, err
}

// GetModelVersion returns one version of a registered model.
func (c *Client) GetModelVersion(ctx context.Context, name, version string) (ModelVersion, error) {
	var out versionAnswer
	err := c.mlflowGet(ctx, "/model-versions/get", url.Values{"name": {name}, "version": {version}}, &out)
	return out.ModelVersion, err
}

// ModelVersionDownloadURI returns where the files of a model version are
// (MLflow's get-download-uri): its storage location, such as the artifact
// location of the logged model an MLflow 3 version comes from, else its
// source.
func (c *Client) ModelVersionDownloadURI(ctx context.Context, name, version string) (string, error) {
	var out struct {
		ArtifactURI string `json:"artifact_uri"`
	}
	err := c.mlflowGet(ctx, "/model-versions/get-download-uri", url.Values{"name": {name}, "version": {version}}, &out)
	return out.ArtifactURI, err
}

// SearchModelVersions returns one page of model versions and the token of
// the next page ("" on the last).
func (c *Client) SearchModelVersions(ctx context.Context, q RegistrySearch) ([]ModelVersion, string, error) {
	var out struct {
		ModelVersions []ModelVersion `json:"model_versions"`
		NextPageToken string         `json:"next_page_token"`
	}
	err := c.mlflowGet(ctx, "/model-versions/search", q.values(), &out)
	return out.ModelVersions, out.NextPageToken, err
}

// TransitionModelVersionStage moves a version to a stage (StageStaging,
// StageProduction, ...). With archiveExisting, the versions already in that
// stage move to StageArchived.
func (c *Client) TransitionModelVersionStage(ctx context.Context, name, version, stage string, archiveExisting bool) (ModelVersion, error) {
	in := struct {
		Name            string `json:"name"`
		Version         string `json:"version"`
		Stage           string `json:"stage"`
		ArchiveExisting bool   `json:"archive_existing_versions"`
	}{name, version, stage, archiveExisting}
	var out versionAnswer
	err := c.mlflowPost(ctx, "/model-versions/transition-stage", in, &out)
	return out.ModelVersion, err
}

// SetRegisteredModelAlias points alias at a version, moving it if it
// already names another.
func (c *Client) SetRegisteredModelAlias(ctx context.Context, name, alias, version string) error {
	return c.mlflowPost(ctx, "/registered-models/alias", map[string]string{"name": name, "alias": alias, "version": version}, nil)
}

// GetModelVersionByAlias returns the version an alias names.
func (c *Client) GetModelVersionByAlias(ctx context.Context, name, alias string) (ModelVersion, error) {
	var out versionAnswer
	err := c.mlflowGet(ctx, "/registered-models/alias", url.Values{"name": {name}, "alias": {alias}}, &out)
	return out.ModelVersion, err
}

// DeleteRegisteredModelAlias removes an alias.
func (c *Client) DeleteRegisteredModelAlias(ctx context.Context, name, alias string) error {
	return c.do(ctx, http.MethodDelete, mlflowAPI+"/registered-models/alias", nil, map[string]string{"name": name, "alias": alias}, nil)
}
