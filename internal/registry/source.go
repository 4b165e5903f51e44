package registry

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/mlcycle/mlcycle/internal/blob"
	"github.com/mlcycle/mlcycle/internal/errs"
	"github.com/mlcycle/mlcycle/internal/store"
)

// URI schemes a version source may use.
const (
	schemeRuns      = "runs:"
	schemeModels    = "models:"
	schemeArtifacts = "mlflow-artifacts:"
)

// promptPlaceholders are the sources MLflow's client sends for prompt
// versions, whose text lives in their tags rather than in files.
var promptPlaceholders = map[string]bool{"dummy-source": true, "prompt-template": true}

// isPrompt reports whether tags mark a version as an MLflow prompt.
func isPrompt(tags []Tag) bool {
	for _, t := range tags {
		if t.Key == PromptTag && strings.EqualFold(t.Value, "true") {
			return true
		}
	}
	return false
}

// promptSource accepts only the placeholder source of a prompt version: it
// has no files, so no storage location.
func promptSource(nv NewVersion) (resolvedSource, error) {
	if !promptPlaceholders[nv.Source] {
		return resolvedSource{}, invalidSource(nv.Source, "A prompt version's source must be MLflow's placeholder (\"prompt-template\").")
	}
	if nv.ModelID != "" {
		return resolvedSource{}, errs.E(errs.Invalid, "A prompt version cannot have a model_id.")
	}
	return resolvedSource{source: nv.Source, runID: nv.RunID}, nil
}

// resolvedSource is a checked version source and where its files are.
type resolvedSource struct {
	source  string // canonical form of the source
	runID   string
	modelID string
	storage string // mlflow-artifacts:/<path>
}

func invalidSource(source, why string) error {
	return errs.E(errs.Invalid, "Invalid model version source: %s. %s", quote(source), why)
}

// resolveSource checks a version source and finds its storage location.
// Only four forms are accepted; everything else, in particular a path on
// the server (/abs, ./rel, file://, C:\...), another store's URI (s3://,
// dbfs:/, http://) or any ".." or percent-encoding, is refused:
//
//	runs:/<run_id>[/<path>]     a run's artifacts; the run must exist
//	models:/<model_id>          an MLflow 3 logged model; it must exist
//	models:/<name>/<version>    another registered version (also @alias,
//	                            /<stage> and /latest), canonicalised to
//	                            models:/<name>/<version>
//	mlflow-artifacts:/<path>    a path in this server's artifact store; with
//	                            a run_id or model_id it must lie under that
//	                            run's or model's artifacts
//
// runID and modelID are the request's optional parameters; when the source
// names a run or a logged model they must agree with it, and when they are
// empty they are taken from it.
func (s *Service) resolveSource(ctx context.Context, source, runID, modelID string) (resolvedSource, error) {
	if source == "" {
		return resolvedSource{}, missing("source")
	}
	if len(source) > MaxSourceLen {
		return resolvedSource{}, errs.E(errs.Invalid, "'source' exceeds the maximum length of %d bytes", MaxSourceLen)
	}
	if err := noControl("source", source); err != nil {
		return resolvedSource{}, err
	}
	scheme, rest, ok := strings.Cut(source, ":")
	if !ok {
		return resolvedSource{}, invalidSource(source, "Use runs:/<run_id>/<path>, models:/<model_id>, models:/<name>/<version> or mlflow-artifacts:/<path>; local paths are not accepted.")
	}
	// A host part ("runs://x", "mlflow-artifacts://host/...") would name
	// another server; a relative form ("runs:x") is not a URI we make.
	if !strings.HasPrefix(rest, "/") || strings.HasPrefix(rest, "//") {
		return resolvedSource{}, invalidSource(source, "The URI must have the form "+strings.ToLower(scheme)+":/<path>, with no host part.")
	}
	rest = rest[1:]
	switch strings.ToLower(scheme) + ":" {
	case schemeRuns:
		return s.runSource(ctx, source, rest, runID, modelID)
	case schemeModels:
		return s.modelsSource(ctx, source, rest, runID, modelID)
	case schemeArtifacts:
		return s.artifactSource(ctx, source, rest, runID, modelID)
	}
	return resolvedSource{}, invalidSource(source, "Only runs:/, models:/ and mlflow-artifacts:/ sources are accepted: this server registers only models whose files are in its own artifact store.")
}

func (s *Service) runSource(ctx context.Context, source, rest, runID, modelID string) (resolvedSource, error) {
	if modelID != "" {
		return resolvedSource{}, invalidSource(source, "A runs:/ source cannot be registered with a model_id; use models:/<model_id>.")
	}
	uriRun, p, _ := strings.Cut(rest, "/")
	if uriRun == "" {
		return resolvedSource{}, invalidSource(source, "It names no run: use runs:/<run_id>/<path>.")
	}
	if err := validateRunID(uriRun); err != nil {
		return resolvedSource{}, invalidSource(source, errs.MessageOf(err))
	}
	if runID != "" && runID != uriRun {
		return resolvedSource{}, invalidSource(source, fmt.Sprintf("The run_id parameter %s does not match the run in the source.", quote(runID)))
	}
	clean, err := blob.CleanPath(p, true)
	if err != nil {
		return resolvedSource{}, invalidSource(source, err.Error())
	}
	root, err := s.runRoot(ctx, source, uriRun)
	if err != nil {
		return resolvedSource{}, err
	}
	canonical := schemeRuns + "/" + uriRun
	if clean != "" {
		canonical += "/" + clean
	}
	return resolvedSource{source: canonical, runID: uriRun, storage: joinURI(root, clean)}, nil
}

func (s *Service) modelsSource(ctx context.Context, source, rest, runID, modelID string) (resolvedSource, error) {
	ref, err := parseModelRef(rest)
	if err != nil {
		return resolvedSource{}, invalidSource(source, errs.MessageOf(err))
	}
	if ref.ModelID != "" {
		if modelID != "" && modelID != ref.ModelID {
			return resolvedSource{}, invalidSource(source, fmt.Sprintf("The model_id parameter %s does not match the logged model in the source.", quote(modelID)))
		}
		root, err := s.modelRoot(ctx, source, ref.ModelID)
		if err != nil {
			return resolvedSource{}, err
		}
		if runID == "" {
			if runID, err = s.sources.LoggedModelRunID(ctx, ref.ModelID); err != nil {
				return resolvedSource{}, fmt.Errorf("finding the run of logged model %s: %w", ref.ModelID, err)
			}
		} else if _, err := s.runRoot(ctx, source, runID); err != nil {
			return resolvedSource{}, err
		}
		return resolvedSource{source: schemeModels + "/" + ref.ModelID, runID: runID, modelID: ref.ModelID, storage: root}, nil
	}
	v, err := s.resolveRef(ctx, s.db, ref)
	if errs.Is(err, errs.NotFound) {
		return resolvedSource{}, invalidSource(source, errs.MessageOf(err))
	}
	if err != nil {
		return resolvedSource{}, err
	}
	if v.StorageLocation == "" {
		return resolvedSource{}, invalidSource(source, "It names a prompt version, which has no model files.")
	}
	if runID != "" && runID != v.RunID || modelID != "" && modelID != v.ModelID {
		return resolvedSource{}, invalidSource(source, "The run_id and model_id parameters must match the referenced model version.")
	}
	return resolvedSource{
		source:  fmt.Sprintf("%s/%s/%d", schemeModels, v.Name, v.Version),
		runID:   v.RunID,
		modelID: v.ModelID,
		storage: v.StorageLocation,
	}, nil
}

func (s *Service) artifactSource(ctx context.Context, source, rest, runID, modelID string) (resolvedSource, error) {
	clean, err := blob.CleanPath(rest, false)
	if err != nil {
		return resolvedSource{}, invalidSource(source, err.Error())
	}
	loc := schemeArtifacts + "/" + clean
	if modelID != "" {
		root, err := s.modelRoot(ctx, source, modelID)
		if err != nil {
			return resolvedSource{}, err
		}
		if !within(loc, root) {
			return resolvedSource{}, invalidSource(source, "It is not inside the artifacts of the logged model named by model_id.")
		}
		if runID == "" {
			if runID, err = s.sources.LoggedModelRunID(ctx, modelID); err != nil {
				return resolvedSource{}, fmt.Errorf("finding the run of logged model %s: %w", modelID, err)
			}
		}
	} else if runID != "" {
		root, err := s.runRoot(ctx, source, runID)
		if err != nil {
			return resolvedSource{}, err
		}
		if !within(loc, root) {
			return resolvedSource{}, invalidSource(source, "It is not inside the artifacts of the run named by run_id.")
		}
	}
	return resolvedSource{source: loc, runID: runID, modelID: modelID, storage: loc}, nil
}

// runRoot returns a run's artifact root, checked to be in this server's
// store.
func (s *Service) runRoot(ctx context.Context, source, runID string) (string, error) {
	if err := validateRunID(runID); err != nil {
		return "", err
	}
	if s.sources == nil {
		return "", invalidSource(source, "This server has no tracking store to find runs in.")
	}
	root, err := s.sources.RunArtifactURI(ctx, runID)
	if errs.Is(err, errs.NotFound) {
		return "", invalidSource(source, fmt.Sprintf("Run %s does not exist.", quote(runID)))
	}
	if err != nil {
		return "", fmt.Errorf("finding the artifacts of run %s: %w", runID, err)
	}
	return checkRoot(source, "run "+runID, root)
}

// modelRoot returns a logged model's artifact location, checked to be in
// this server's store.
func (s *Service) modelRoot(ctx context.Context, source, modelID string) (string, error) {
	if err := validateModelID(modelID); err != nil {
		return "", err
	}
	if s.sources == nil {
		return "", invalidSource(source, "This server has no tracking store to find logged models in.")
	}
	root, err := s.sources.LoggedModelArtifactURI(ctx, modelID)
	if errs.Is(err, errs.NotFound) {
		return "", invalidSource(source, fmt.Sprintf("Logged model %s does not exist.", quote(modelID)))
	}
	if err != nil {
		return "", fmt.Errorf("finding the artifacts of logged model %s: %w", modelID, err)
	}
	return checkRoot(source, "logged model "+modelID, root)
}

// checkRoot makes sure an artifact root from tracking is a clean
// mlflow-artifacts:/ URI, the only kind this server reads.
func checkRoot(source, what, root string) (string, error) {
	clean, err := cleanArtifactURI(root)
	if err != nil {
		return "", invalidSource(source, fmt.Sprintf("The artifacts of %s are at %s, outside this server's artifact store.", what, quote(root)))
	}
	return clean, nil
}

// cleanArtifactURI returns uri in canonical mlflow-artifacts:/<path> form,
// or an error when it is not one.
func cleanArtifactURI(uri string) (string, error) {
	rest, ok := strings.CutPrefix(uri, schemeArtifacts)
	if !ok || !strings.HasPrefix(rest, "/") || strings.HasPrefix(rest, "//") {
		return "", errs.E(errs.Invalid, "%s is not an %s/<path> URI", quote(uri), schemeArtifacts)
	}
	p, err := blob.CleanPath(rest[1:], false)
	if err != nil {
		return "", errs.Wrap(errs.Invalid, err, "%s: %v", quote(uri), err)
	}
	return schemeArtifacts + "/" + p, nil
}

func joinURI(root, p string) string {
	if p == "" {
		return root
	}
	return root + "/" + p
}

// within reports whether loc is root or under it; both are clean
// mlflow-artifacts:/ URIs.
func within(loc, root string) bool {
	return loc == root || strings.HasPrefix(loc, root+"/")
}

// modelRef is a parsed models:/ URI: a logged model id, or a registered
// model with exactly one of a version, a stage, "latest" or an alias.
type modelRef struct {
	ModelID string
	Name    string
	// Versioned says Version is set (versions start at 1, but models:/x/0
	// must still mean version 0, which does not exist, not "latest").
	Versioned bool
	Version   int64
	Stage     string // canonical
	Latest    bool
	Alias     string
}

// parseModelRef parses the part of a models:/ URI after "models:/":
//
//	<model_id>          a logged model (MLflow 3)
//	<name>/<version>    a version number
//	<name>/latest       the newest version
//	<name>/<stage>      the newest version in a stage (any letter case)
//	<name>@<alias>      the version an alias points at
func parseModelRef(p string) (modelRef, error) {
	if p == "" || strings.HasPrefix(p, "/") {
		return modelRef{}, errs.E(errs.Invalid, "A models:/ URI must be models:/<model_id>, models:/<name>/<version|stage|latest> or models:/<name>@<alias>.")
	}
	parts := strings.Split(p, "/")
	switch len(parts) {
	case 1:
		if name, alias, ok := cutLast(p, "@"); ok {
			if strings.TrimSpace(name) == "" || alias == "" {
				return modelRef{}, errs.E(errs.Invalid, "A models:/<name>@<alias> URI needs both a name and an alias.")
			}
			if err := validateModelName("name", name); err != nil {
				return modelRef{}, err
			}
			if err := validateAlias(alias); err != nil {
				return modelRef{}, err
			}
			return modelRef{Name: name, Alias: alias}, nil
		}
		if err := validateModelID(p); err != nil {
			return modelRef{}, err
		}
		return modelRef{ModelID: p}, nil
	case 2:
		name, suffix := parts[0], parts[1]
		if err := validateModelName("name", name); err != nil {
			return modelRef{}, err
		}
		switch {
		case suffix == "":
			return modelRef{}, errs.E(errs.Invalid, "A models:/<name>/ URI needs a version, a stage or \"latest\" after the name.")
		case isDigits(suffix):
			n, err := strconv.ParseInt(suffix, 10, 64)
			if err != nil {
				return modelRef{}, errs.E(errs.Invalid, "Version %s is out of range.", quote(suffix))
			}
			return modelRef{Name: name, Versioned: true, Version: n}, nil
		case strings.EqualFold(suffix, "latest"):
			return modelRef{Name: name, Latest: true}, nil
		}
		stage, err := CanonicalStage(suffix)
		if err != nil {
			return modelRef{}, err
		}
		return modelRef{Name: name, Stage: stage}, nil
	}
	return modelRef{}, errs.E(errs.Invalid, "A models:/ URI names one model version; it cannot have a path after the version.")
}

func cutLast(s, sep string) (before, after string, found bool) {
	if i := strings.LastIndex(s, sep); i >= 0 {
		return s[:i], s[i+len(sep):], true
	}
	return s, "", false
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// resolveRef finds the live version a registered-model reference names.
func (s *Service) resolveRef(ctx context.Context, q store.Querier, ref modelRef) (ModelVersion, error) {
	switch {
	case ref.Versioned:
		return getVersion(ctx, q, ref.Name, ref.Version)
	case ref.Alias != "" && !strings.EqualFold(ref.Alias, "latest"):
		if err := modelExists(ctx, q, ref.Name); err != nil {
			return ModelVersion{}, err
		}
		var version int64
		err := q.QueryRow(ctx, `SELECT version FROM registered_model_aliases WHERE name = ? AND alias = ?`, ref.Name, ref.Alias).Scan(&version)
		if errors.Is(err, sql.ErrNoRows) {
			return ModelVersion{}, errs.E(errs.NotFound, "Registered model alias %s not found.", ref.Alias)
		}
		if err != nil {
			return ModelVersion{}, fmt.Errorf("reading alias %q of %q: %w", ref.Alias, ref.Name, err)
		}
		return getVersion(ctx, q, ref.Name, version)
	}
	// The newest version, overall or in a stage.
	if err := modelExists(ctx, q, ref.Name); err != nil {
		return ModelVersion{}, err
	}
	query := `SELECT MAX(version) FROM model_versions WHERE name = ? AND deleted = 0`
	args := []any{ref.Name}
	if ref.Stage != "" {
		query += ` AND current_stage = ?`
		args = append(args, ref.Stage)
	}
	var version sql.NullInt64
	if err := q.QueryRow(ctx, query, args...).Scan(&version); err != nil {
		return ModelVersion{}, fmt.Errorf("reading the latest version of %q: %w", ref.Name, err)
	}
	if !version.Valid {
		if ref.Stage != "" {
			return ModelVersion{}, errs.E(errs.NotFound, "No versions of model with name '%s' and stage '%s' found", ref.Name, ref.Stage)
		}
		return ModelVersion{}, errs.E(errs.NotFound, "No versions of model with name '%s' found", ref.Name)
	}
	return getVersion(ctx, q, ref.Name, version.Int64)
}

// Resolved is what a models:/ URI names.
type Resolved struct {
	Name    string // empty for a logged model
	Version int64  // 0 for a logged model
	ModelID string // the MLflow 3 logged model, when there is one
	// StorageLocation is where the files are: an mlflow-artifacts:/ URI.
	StorageLocation string
}

// Resolve finds the model files a models:/ URI names, for serving:
// models:/<name>@<alias>, models:/<name>/<version>, models:/<name>/<stage>
// (the newest version in it), models:/<name>/latest and models:/<model_id>.
func (s *Service) Resolve(ctx context.Context, uri string) (Resolved, error) {
	rest, ok := strings.CutPrefix(uri, schemeModels)
	if !ok || !strings.HasPrefix(rest, "/") || strings.HasPrefix(rest, "//") {
		return Resolved{}, errs.E(errs.Invalid, "Invalid model URI %s: use models:/<name>@<alias>, models:/<name>/<version|stage|latest> or models:/<model_id>", quote(uri))
	}
	if err := noControl("model_uri", uri); err != nil {
		return Resolved{}, err
	}
	ref, err := parseModelRef(rest[1:])
	if err != nil {
		return Resolved{}, errs.E(errs.Invalid, "Invalid model URI %s: %s", quote(uri), errs.MessageOf(err))
	}
	if ref.ModelID != "" {
		if s.sources == nil {
			return Resolved{}, errs.E(errs.NotFound, "Logged model %s not found: this server has no tracking store", ref.ModelID)
		}
		root, err := s.sources.LoggedModelArtifactURI(ctx, ref.ModelID)
		if err != nil {
			return Resolved{}, err
		}
		clean, err := cleanArtifactURI(root)
		if err != nil {
			// Tracking stores only mlflow-artifacts:/ locations: this is a
			// fault on our side, not the caller's.
			return Resolved{}, fmt.Errorf("logged model %s has artifact location %q outside the artifact store", ref.ModelID, root)
		}
		root = clean
		return Resolved{ModelID: ref.ModelID, StorageLocation: root}, nil
	}
	v, err := s.resolveRef(ctx, s.db, ref)
	if err != nil {
		return Resolved{}, err
	}
	if v.StorageLocation == "" {
		return Resolved{}, errs.E(errs.Invalid, "%s names version %d of %s, a prompt: it has no model files", quote(uri), v.Version, v.Name)
	}
	return Resolved{Name: v.Name, Version: v.Version, ModelID: v.ModelID, StorageLocation: v.StorageLocation}, nil
}
