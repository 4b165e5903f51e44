// Package tracking records experiments and runs: their params, metrics,
// tags, dataset inputs and model outputs, and MLflow 3 logged models. Its
// behaviour follows MLflow's tracking server, so that the MLflow client
// works against it unchanged; the HTTP layer only translates JSON.
//
// Every write runs in one transaction. Creating, ending, renaming, deleting
// and restoring experiments, runs and logged models is recorded in the audit
// log in that transaction; the data a run logs about itself (params,
// metrics, tags, inputs) is not.
package tracking

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"strconv"
	"time"

	"github.com/mlcycle/mlcycle/internal/audit"
	"github.com/mlcycle/mlcycle/internal/errs"
	"github.com/mlcycle/mlcycle/internal/store"
)

// Lifecycle stages of experiments, runs and logged models.
const (
	StageActive  = "active"
	StageDeleted = "deleted"
)

// Run statuses.
const (
	StatusRunning   = "RUNNING"
	StatusScheduled = "SCHEDULED"
	StatusFinished  = "FINISHED"
	StatusFailed    = "FAILED"
	StatusKilled    = "KILLED"
)

// Logged model statuses, named as on MLflow's wire.
const (
	ModelPending      = "LOGGED_MODEL_PENDING"
	ModelReady        = "LOGGED_MODEL_READY"
	ModelUploadFailed = "LOGGED_MODEL_UPLOAD_FAILED"
)

// DefaultExperimentID is the experiment that exists from the start and
// receives runs created without an experiment.
const DefaultExperimentID = "0"

// Well-known tags.
const (
	TagRunName      = "mlflow.runName"
	TagParentRunID  = "mlflow.parentRunId"
	TagUser         = "mlflow.user"
	TagLoggedModels = "mlflow.log-model.history"
	TagDataContext  = "mlflow.data.context"
)

// ViewType selects experiments or runs by lifecycle stage.
type ViewType int

const (
	ActiveOnly  ViewType = 1
	DeletedOnly ViewType = 2
	All         ViewType = 3
)

func (v ViewType) stages() ([]string, error) {
	switch v {
	case 0, ActiveOnly:
		return []string{StageActive}, nil
	case DeletedOnly:
		return []string{StageDeleted}, nil
	case All:
		return []string{StageActive, StageDeleted}, nil
	}
	return nil, errs.E(errs.Invalid, "Invalid view type %d: must be ACTIVE_ONLY (1), DELETED_ONLY (2) or ALL (3)", int(v))
}

// Tag is a key and value attached to an experiment, a run, a dataset input
// or a logged model.
type Tag struct {
	Key   string
	Value string
}

// Param is a run's or logged model's parameter; once logged it never changes.
type Param struct {
	Key   string
	Value string
}

// Metric is one recorded point. ModelID, DatasetName and DatasetDigest link
// it to a logged model and the dataset it was measured on (MLflow 3); RunID
// is set where a listing spans runs.
type Metric struct {
	Key           string
	Value         float64
	Timestamp     int64 // Unix ms
	Step          int64
	ModelID       string
	DatasetName   string
	DatasetDigest string
	RunID         string
}

// Experiment groups runs.
type Experiment struct {
	ID               string
	Name             string
	ArtifactLocation string
	LifecycleStage   string
	CreationTime     int64
	LastUpdateTime   int64
	Tags             []Tag
}

// RunInfo is a run's metadata.
type RunInfo struct {
	RunID          string
	RunName        string
	ExperimentID   string
	UserID         string
	Status         string
	StartTime      int64
	EndTime        int64 // 0 while the run has not ended
	ArtifactURI    string
	LifecycleStage string
}

// Dataset is a dataset a run used, recorded once per experiment by name
// and digest.
type Dataset struct {
	Name       string
	Digest     string
	SourceType string
	Source     string
	Schema     string
	Profile    string
}

// DatasetInput is a dataset used by a run, with tags of that use (such as
// mlflow.data.context = "training").
type DatasetInput struct {
	Dataset Dataset
	Tags    []Tag
}

// ModelOutput is a logged model a run produced, at a step.
type ModelOutput struct {
	ModelID string
	Step    int64
}

// Run is a run with everything it recorded: the latest value of each
// metric, params, tags, inputs and outputs.
type Run struct {
	Info          RunInfo
	Metrics       []Metric
	Params        []Param
	Tags          []Tag
	DatasetInputs []DatasetInput
	ModelInputs   []string // logged model ids
	ModelOutputs  []ModelOutput
}

// Options tune a Service. The zero value is right for a server.
type Options struct {
	Now func() time.Time // defaults to time.Now
	// DatasetLinker, when set, is told of every dataset input a run logs,
	// after it is recorded, so that inputs naming a stored dataset version
	// link the run to it (lineage).
	DatasetLinker DatasetLinker
}

// DatasetLinker links a run to the dataset version an input refers to.
// source and digest are as the client logged them; context is the input's
// mlflow.data.context tag. An input that names no version is not an error.
type DatasetLinker interface {
	LinkDatasetInput(ctx context.Context, runID, source, digest, context string) error
}

// Service is the tracking API over the database.
type Service struct {
	db  *store.DB
	log *audit.Log
	now func() time.Time
	// linker, when set, links logged dataset inputs to dataset versions.
	linker DatasetLinker
	// group commits concurrent LogBatch calls together once started.
	group groupCommit
	// metricWindow is how many rows per row of a page the sort-by-metric
	// fast path reads from the metric index (see metricPage); 0 means
	// metricWindowPerRow, a negative value turns the fast path off. Tests
	// shrink it to reach the fallbacks.
	metricWindow int
}

// New returns a Service over db, which must have audit.Migrations and
// Migrations applied.
func New(db *store.DB, log *audit.Log, opts Options) *Service {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Service{db: db, log: log, now: opts.Now, linker: opts.DatasetLinker}
}

func (s *Service) nowMS() int64 { return s.now().UnixMilli() }

// record writes an audit event for a change to a tracking resource.
func (s *Service) record(ctx context.Context, tx *store.Tx, action, typ, id string, detail map[string]any) error {
	return s.log.Record(ctx, tx, audit.Event{Action: action, ResourceType: typ, ResourceID: id, Detail: detail})
}

// newHexID returns 32 random hex digits, the shape of an MLflow run id.
func newHexID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails: crypto/rand crashes the program instead
	return hex.EncodeToString(b[:])
}

// parseExperimentID turns a wire experiment id into the stored integer.
func parseExperimentID(id string) (int64, error) {
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil || n < 0 {
		return 0, errs.E(errs.Invalid, "Invalid experiment ID '%s'. Experiment ID must be a valid integer.", clip(id))
	}
	return n, nil
}

func formatID(n int64) string { return strconv.FormatInt(n, 10) }

// notFound maps sql.ErrNoRows to a NotFound error with msg.
func notFound(err error, msg string, args ...any) error {
	if errors.Is(err, sql.ErrNoRows) {
		return errs.E(errs.NotFound, msg, args...)
	}
	return err
}
