// Package registry is the model registry: registered models, their numbered
// versions, stages, aliases and tags. Its behaviour follows MLflow's model
// registry, so that the official MLflow client works against it unchanged;
// the HTTP layer only translates JSON.
//
// Every change runs in one transaction that also writes its audit event, and
// every write to a model's versions first takes a lock named after the model,
// so version numbers stay gap-free and unique and "at most one version in
// Production" holds under concurrent writers on both databases.
//
// A version's source is where its files came from; its storage location is
// always an mlflow-artifacts:/ URI into this server's artifact store, found
// at registration. Sources that name files on the server itself (local
// paths, file://) or in other stores are refused: MLflow's model registry
// CVEs came from version sources that pointed at local files.
package registry

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/mlcycle/mlcycle/internal/audit"
	"github.com/mlcycle/mlcycle/internal/errs"
	"github.com/mlcycle/mlcycle/internal/store"
)

// Stages of a model version, as MLflow spells them on the wire.
const (
	StageNone       = "None"
	StageStaging    = "Staging"
	StageProduction = "Production"
	StageArchived   = "Archived"
)

// allStages is the canonical stage order.
var allStages = [...]string{StageNone, StageStaging, StageProduction, StageArchived}

// Statuses of a model version. Versions are READY as soon as they exist: the
// files are already in the artifact store. (A PENDING status would make the
// MLflow client poll for up to five minutes.)
const (
	StatusPending = "PENDING_REGISTRATION"
	StatusFailed  = "FAILED_REGISTRATION"
	StatusReady   = "READY"
)

// Search limits, as in MLflow.
const (
	DefaultModelsPerPage   = 100
	MaxModelsPerPage       = 1000
	DefaultVersionsPerPage = 10_000
	MaxVersionsPerPage     = 200_000
)

// Sources finds the artifact locations of the runs and logged models that
// versions are registered from. The tracking service implements it. Every
// URI it returns is an mlflow-artifacts:/<path> URI; a missing run or model
// is an errs.NotFound error.
type Sources interface {
	RunArtifactURI(ctx context.Context, runID string) (string, error)
	LoggedModelArtifactURI(ctx context.Context, modelID string) (string, error)
	// LoggedModelRunID returns the run that logged the model, or "".
	LoggedModelRunID(ctx context.Context, modelID string) (string, error)
}

// Tag is a key-value pair on a registered model or a version.
type Tag struct {
	Key   string
	Value string
}

// Alias names one version of a registered model.
type Alias struct {
	Alias   string
	Version int64
}

// RegisteredModel is a named model with its versions' summary.
type RegisteredModel struct {
	Name            string
	Description     string
	CreationTime    int64 // Unix milliseconds
	LastUpdatedTime int64
	Tags            []Tag
	Aliases         []Alias
	// LatestVersions holds the newest version in each stage that has one.
	LatestVersions []ModelVersion
}

// ModelVersion is one registered version of a model.
type ModelVersion struct {
	Name            string
	Version         int64
	CreationTime    int64 // Unix milliseconds
	LastUpdatedTime int64
	Description     string
	UserID          string // who registered it
	Stage           string // StageNone, StageStaging, ...
	Source          string // as registered, e.g. models:/m-..., runs:/<id>/model
	RunID           string
	RunLink         string
	Status          string
	StatusMessage   string
	// StorageLocation is where the files are: an mlflow-artifacts:/ URI.
	StorageLocation string
	ModelID         string // the MLflow 3 logged model, when there is one
	Tags            []Tag
	Aliases         []string
}

// Options tune a Service. The zero value is right for a server.
type Options struct {
	Now func() time.Time // defaults to time.Now
}

// Service is the model registry over the database.
type Service struct {
	db      *store.DB
	log     *audit.Log
	sources Sources
	now     func() time.Time
}

// New returns a Service over db, which must have audit.Migrations and
// Migrations applied. sources may be nil, in which case versions can only be
// registered from mlflow-artifacts:/ and models:/<name>/... sources.
func New(db *store.DB, log *audit.Log, sources Sources, opts Options) *Service {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Service{db: db, log: log, sources: sources, now: opts.Now}
}

func (s *Service) nowMS() int64 { return s.now().UnixMilli() }

// Resource types of audit events.
const (
	resModel   = "registered_model"
	resVersion = "model_version"
)

// record writes an audit event in tx. Call it after the transaction's last
// write: the audit lock is held until the end of the transaction, and taking
// row locks after it could deadlock with a writer that holds such a row and
// waits for the audit lock.
func (s *Service) record(ctx context.Context, tx *store.Tx, action, typ, id string, detail map[string]any) error {
	return s.log.Record(ctx, tx, audit.Event{Action: action, ResourceType: typ, ResourceID: id, Detail: detail})
}

// versionID is the audit resource id of a version.
func versionID(name string, version int64) string { return fmt.Sprintf("%s/%d", name, version) }

// lockModel serialises writers of one model's versions, stages and aliases
// until tx ends. Take it before reading what the change depends on.
func lockModel(ctx context.Context, tx *store.Tx, name string) error {
	return tx.Lock(ctx, "registry.model:"+name)
}

func modelNotFound(name string) error {
	return errs.E(errs.NotFound, "Registered Model with name=%s not found", name)
}

func versionNotFound(name string, version int64) error {
	return errs.E(errs.NotFound, "Model Version (name=%s, version=%d) not found", name, version)
}

// modelExists returns a NotFound error when the model does not exist.
func modelExists(ctx context.Context, q store.Querier, name string) error {
	var one int
	err := q.QueryRow(ctx, `SELECT 1 FROM registered_models WHERE name = ?`, name).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return modelNotFound(name)
	}
	if err != nil {
		return fmt.Errorf("reading registered model %q: %w", name, err)
	}
	return nil
}

// touchModel sets the model's last update time.
func touchModel(ctx context.Context, tx *store.Tx, name string, now int64) error {
	if _, err := tx.Exec(ctx, `UPDATE registered_models SET last_updated_time = ? WHERE name = ?`, now, name); err != nil {
		return fmt.Errorf("updating registered model %q: %w", name, err)
	}
	return nil
}
