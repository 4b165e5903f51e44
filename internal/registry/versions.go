package registry

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/mlcycle/mlcycle/internal/actor"
	"github.com/mlcycle/mlcycle/internal/errs"
	"github.com/mlcycle/mlcycle/internal/store"
)

const versionCols = `name, version, creation_time, last_updated_time, description, user_id, current_stage,
	source, run_id, run_link, status, status_message, storage_location, model_id`

func scanVersion(s scanner) (ModelVersion, error) {
	var v ModelVersion
	err := s.Scan(&v.Name, &v.Version, &v.CreationTime, &v.LastUpdatedTime, &v.Description, &v.UserID, &v.Stage,
		&v.Source, &v.RunID, &v.RunLink, &v.Status, &v.StatusMessage, &v.StorageLocation, &v.ModelID)
	v.Tags, v.Aliases = []Tag{}, []string{}
	return v, err
}

func queryVersions(ctx context.Context, q store.Querier, query string, args ...any) ([]ModelVersion, error) {
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []ModelVersion{}
	for rows.Next() {
		v, err := scanVersion(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// getVersion returns a live version with its tags and aliases.
func getVersion(ctx context.Context, q store.Querier, name string, version int64) (ModelVersion, error) {
	v, err := scanVersion(q.QueryRow(ctx, `SELECT `+versionCols+` FROM model_versions
		WHERE name = ? AND version = ? AND deleted = 0`, name, version))
	if errors.Is(err, sql.ErrNoRows) {
		return ModelVersion{}, versionNotFound(name, version)
	}
	if err != nil {
		return ModelVersion{}, fmt.Errorf("reading model version %s: %w", versionID(name, version), err)
	}
	vs := []ModelVersion{v}
	if err := fillVersions(ctx, q, vs); err != nil {
		return ModelVersion{}, err
	}
	return vs[0], nil
}

// versionExists returns a NotFound error unless the live version exists, and
// its stage.
func versionStage(ctx context.Context, q store.Querier, name string, version int64) (string, error) {
	var stage string
	err := q.QueryRow(ctx, `SELECT current_stage FROM model_versions WHERE name = ? AND version = ? AND deleted = 0`,
		name, version).Scan(&stage)
	if errors.Is(err, sql.ErrNoRows) {
		return "", versionNotFound(name, version)
	}
	if err != nil {
		return "", fmt.Errorf("reading model version %s: %w", versionID(name, version), err)
	}
	return stage, nil
}

// fillVersions loads the tags and aliases of vs.
func fillVersions(ctx context.Context, q store.Querier, vs []ModelVersion) error {
	if len(vs) == 0 {
		return nil
	}
	type key struct {
		name    string
		version int64
	}
	at := make(map[key]int, len(vs))
	for i, v := range vs {
		at[key{v.Name, v.Version}] = i
	}
	for _, part := range store.Batches(vs, 400) {
		pairs := strings.TrimSuffix(strings.Repeat("(?, ?), ", len(part)), ", ")
		args := make([]any, 0, 2*len(part))
		for _, v := range part {
			args = append(args, v.Name, v.Version)
		}
		rows, err := q.Query(ctx, `SELECT name, version, key, value FROM model_version_tags
			WHERE (name, version) IN (`+pairs+`) ORDER BY name, version, key`, args...)
		if err != nil {
			return fmt.Errorf("reading model version tags: %w", err)
		}
		for rows.Next() {
			var k key
			var t Tag
			if err := rows.Scan(&k.name, &k.version, &t.Key, &t.Value); err != nil {
				rows.Close()
				return fmt.Errorf("reading model version tags: %w", err)
			}
			if i, ok := at[k]; ok {
				vs[i].Tags = append(vs[i].Tags, t)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("reading model version tags: %w", err)
		}

		rows, err = q.Query(ctx, `SELECT name, version, alias FROM registered_model_aliases
			WHERE (name, version) IN (`+pairs+`) ORDER BY name, version, alias`, args...)
		if err != nil {
			return fmt.Errorf("reading model version aliases: %w", err)
		}
		for rows.Next() {
			var k key
			var alias string
			if err := rows.Scan(&k.name, &k.version, &alias); err != nil {
				rows.Close()
				return fmt.Errorf("reading model version aliases: %w", err)
			}
			if i, ok := at[k]; ok {
				vs[i].Aliases = append(vs[i].Aliases, alias)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("reading model version aliases: %w", err)
		}
	}
	return nil
}

// NewVersion is what registering a model version takes.
type NewVersion struct {
	Name        string
	Source      string // runs:/<run>/<path>, models:/<id>, models:/<name>/<version>, mlflow-artifacts:/<path>
	RunID       string // optional; taken from the source when it names a run or logged model
	ModelID     string // optional; the MLflow 3 logged model
	RunLink     string
	Description string
	Tags        []Tag
}

// CreateModelVersion registers the next version of a model. Its source is
// checked and resolved to a storage location in this server's artifact
// store first; the version is READY at once.
func (s *Service) CreateModelVersion(ctx context.Context, nv NewVersion) (ModelVersion, error) {
	if err := validateModelName("name", nv.Name); err != nil {
		return ModelVersion{}, err
	}
	if err := validateDescription(nv.Description); err != nil {
		return ModelVersion{}, err
	}
	if err := validateRunLink(nv.RunLink); err != nil {
		return ModelVersion{}, err
	}
	if err := validateRunID(nv.RunID); err != nil {
		return ModelVersion{}, err
	}
	if err := validateModelID(nv.ModelID); err != nil {
		return ModelVersion{}, err
	}
	tags, err := validateTags(nv.Tags)
	if err != nil {
		return ModelVersion{}, err
	}
	// The model must exist before its source is worth resolving.
	if err := modelExists(ctx, s.db, nv.Name); err != nil {
		return ModelVersion{}, err
	}
	var src resolvedSource
	if isPrompt(tags) {
		src, err = promptSource(nv)
	} else {
		src, err = s.resolveSource(ctx, nv.Source, nv.RunID, nv.ModelID)
	}
	if err != nil {
		return ModelVersion{}, err
	}
	v := ModelVersion{
		Name:            nv.Name,
		Description:     nv.Description,
		UserID:          actor.From(ctx).Name,
		Stage:           StageNone,
		Source:          src.source,
		RunID:           src.runID,
		RunLink:         nv.RunLink,
		Status:          StatusReady,
		StorageLocation: src.storage,
		ModelID:         src.modelID,
		Tags:            tags,
		Aliases:         []string{},
	}
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		if err := lockModel(ctx, tx, v.Name); err != nil {
			return err
		}
		if err := modelExists(ctx, tx, v.Name); err != nil {
			return err
		}
		// Deleted versions keep their rows, so their numbers are never reused.
		if err := tx.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) + 1 FROM model_versions WHERE name = ?`,
			v.Name).Scan(&v.Version); err != nil {
			return fmt.Errorf("numbering a version of %q: %w", v.Name, err)
		}
		now := s.nowMS()
		v.CreationTime, v.LastUpdatedTime = now, now
		if _, err := tx.Exec(ctx, `INSERT INTO model_versions (`+versionCols+`, deleted)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)`,
			v.Name, v.Version, v.CreationTime, v.LastUpdatedTime, v.Description, v.UserID, v.Stage,
			v.Source, v.RunID, v.RunLink, v.Status, v.StatusMessage, v.StorageLocation, v.ModelID); err != nil {
			return fmt.Errorf("creating model version %s: %w", versionID(v.Name, v.Version), err)
		}
		for _, t := range tags {
			if _, err := tx.Exec(ctx, `INSERT INTO model_version_tags (name, version, key, value) VALUES (?, ?, ?, ?)`,
				v.Name, v.Version, t.Key, t.Value); err != nil {
				return fmt.Errorf("tagging model version %s: %w", versionID(v.Name, v.Version), err)
			}
		}
		if err := touchModel(ctx, tx, v.Name, now); err != nil {
			return err
		}
		return s.record(ctx, tx, "model_version.create", resVersion, versionID(v.Name, v.Version), map[string]any{
			"source": v.Source, "run_id": v.RunID, "model_id": v.ModelID, "storage_location": v.StorageLocation,
		})
	})
	if err != nil {
		return ModelVersion{}, err
	}
	return v, nil
}

// GetModelVersion returns one version with its tags and aliases.
func (s *Service) GetModelVersion(ctx context.Context, name string, version int64) (ModelVersion, error) {
	if err := validateModelName("name", name); err != nil {
		return ModelVersion{}, err
	}
	return getVersion(ctx, s.db, name, version)
}

// UpdateModelVersion sets a version's description.
func (s *Service) UpdateModelVersion(ctx context.Context, name string, version int64, description string) (ModelVersion, error) {
	if err := validateModelName("name", name); err != nil {
		return ModelVersion{}, err
	}
	if err := validateDescription(description); err != nil {
		return ModelVersion{}, err
	}
	var v ModelVersion
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		res, err := tx.Exec(ctx, `UPDATE model_versions SET description = ?, last_updated_time = ?
			WHERE name = ? AND version = ? AND deleted = 0`, description, s.nowMS(), name, version)
		if err != nil {
			return fmt.Errorf("updating model version %s: %w", versionID(name, version), err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("updating model version %s: %w", versionID(name, version), err)
		} else if n == 0 {
			return versionNotFound(name, version)
		}
		if err := s.record(ctx, tx, "model_version.update", resVersion, versionID(name, version),
			map[string]any{"field": "description"}); err != nil {
			return err
		}
		v, err = getVersion(ctx, tx, name, version)
		return err
	})
	return v, err
}

// DeleteModelVersion deletes a version; the aliases that pointed at it go
// with it. Its number is not reused.
func (s *Service) DeleteModelVersion(ctx context.Context, name string, version int64) error {
	if err := validateModelName("name", name); err != nil {
		return err
	}
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		if err := lockModel(ctx, tx, name); err != nil {
			return err
		}
		stage, err := versionStage(ctx, tx, name, version)
		if err != nil {
			return err
		}
		aliases, err := queryStrings(ctx, tx, `SELECT alias FROM registered_model_aliases WHERE name = ? AND version = ? ORDER BY alias`, name, version)
		if err != nil {
			return fmt.Errorf("reading aliases of %s: %w", versionID(name, version), err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM registered_model_aliases WHERE name = ? AND version = ?`, name, version); err != nil {
			return fmt.Errorf("deleting aliases of %s: %w", versionID(name, version), err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM model_version_tags WHERE name = ? AND version = ?`, name, version); err != nil {
			return fmt.Errorf("deleting tags of %s: %w", versionID(name, version), err)
		}
		now := s.nowMS()
		if _, err := tx.Exec(ctx, `UPDATE model_versions SET deleted = 1, description = '', last_updated_time = ?
			WHERE name = ? AND version = ?`, now, name, version); err != nil {
			return fmt.Errorf("deleting model version %s: %w", versionID(name, version), err)
		}
		if err := touchModel(ctx, tx, name, now); err != nil {
			return err
		}
		return s.record(ctx, tx, "model_version.delete", resVersion, versionID(name, version),
			map[string]any{"stage": stage, "aliases_removed": aliases})
	})
}

func queryStrings(ctx context.Context, q store.Querier, query string, args ...any) ([]string, error) {
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// TransitionModelVersionStage moves a version to a stage (any letter case
// in, canonical out). With archiveExisting, the other versions in that stage
// move to Archived in the same transaction, so at most one version is in it.
func (s *Service) TransitionModelVersionStage(ctx context.Context, name string, version int64, stage string, archiveExisting bool) (ModelVersion, error) {
	if err := validateModelName("name", name); err != nil {
		return ModelVersion{}, err
	}
	if stage == "" {
		return ModelVersion{}, missing("stage")
	}
	to, err := CanonicalStage(stage)
	if err != nil {
		return ModelVersion{}, err
	}
	if archiveExisting && to != StageStaging && to != StageProduction {
		return ModelVersion{}, errs.E(errs.Invalid, "Model version transition cannot archive existing model versions because %s is not an active stage. Valid stages are %s and %s.",
			quote(to), StageStaging, StageProduction)
	}
	var v ModelVersion
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		if err := lockModel(ctx, tx, name); err != nil {
			return err
		}
		from, err := versionStage(ctx, tx, name, version)
		if err != nil {
			return err
		}
		now := s.nowMS()
		var archived []string
		if archiveExisting {
			others, err := queryStrings(ctx, tx, `SELECT CAST(version AS TEXT) FROM model_versions
				WHERE name = ? AND version <> ? AND current_stage = ? AND deleted = 0 ORDER BY version`, name, version, to)
			if err != nil {
				return fmt.Errorf("reading versions of %q in %s: %w", name, to, err)
			}
			if _, err := tx.Exec(ctx, `UPDATE model_versions SET current_stage = ?, last_updated_time = ?
				WHERE name = ? AND version <> ? AND current_stage = ? AND deleted = 0`, StageArchived, now, name, version, to); err != nil {
				return fmt.Errorf("archiving versions of %q in %s: %w", name, to, err)
			}
			archived = others
		}
		if _, err := tx.Exec(ctx, `UPDATE model_versions SET current_stage = ?, last_updated_time = ?
			WHERE name = ? AND version = ?`, to, now, name, version); err != nil {
			return fmt.Errorf("moving %s to %s: %w", versionID(name, version), to, err)
		}
		if err := touchModel(ctx, tx, name, now); err != nil {
			return err
		}
		// Audit last (see record).
		for _, o := range archived {
			if err := s.record(ctx, tx, "model_version.stage", resVersion, name+"/"+o, map[string]any{
				"from": to, "to": StageArchived, "reason": "archive_existing_versions", "by_version": version,
			}); err != nil {
				return err
			}
		}
		if err := s.record(ctx, tx, "model_version.stage", resVersion, versionID(name, version), map[string]any{
			"from": from, "to": to, "archive_existing_versions": archiveExisting,
		}); err != nil {
			return err
		}
		v, err = getVersion(ctx, tx, name, version)
		return err
	})
	return v, err
}

// GetModelVersionDownloadURI returns where a version's files are: an
// mlflow-artifacts:/ URI the MLflow client downloads through this server.
func (s *Service) GetModelVersionDownloadURI(ctx context.Context, name string, version int64) (string, error) {
	if err := validateModelName("name", name); err != nil {
		return "", err
	}
	var loc, source string
	err := s.db.QueryRow(ctx, `SELECT storage_location, source FROM model_versions WHERE name = ? AND version = ? AND deleted = 0`,
		name, version).Scan(&loc, &source)
	if errors.Is(err, sql.ErrNoRows) {
		return "", versionNotFound(name, version)
	}
	if err != nil {
		return "", fmt.Errorf("reading model version %s: %w", versionID(name, version), err)
	}
	if loc == "" {
		return source, nil
	}
	return loc, nil
}

// ModelVersionArtifactURI is GetModelVersionDownloadURI with the version as
// MLflow sends it, for the artifact routes.
func (s *Service) ModelVersionArtifactURI(ctx context.Context, name, version string) (string, error) {
	n, err := ParseVersion(version)
	if err != nil {
		return "", err
	}
	return s.GetModelVersionDownloadURI(ctx, name, n)
}

// SetModelVersionTag sets (adds or replaces) a tag on a version.
func (s *Service) SetModelVersionTag(ctx context.Context, name string, version int64, t Tag) error {
	if err := validateModelName("name", name); err != nil {
		return err
	}
	if err := validateTag(t); err != nil {
		return err
	}
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := versionStage(ctx, tx, name, version); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO model_version_tags (name, version, key, value) VALUES (?, ?, ?, ?)
			ON CONFLICT (name, version, key) DO UPDATE SET value = excluded.value`, name, version, t.Key, t.Value); err != nil {
			return fmt.Errorf("tagging model version %s: %w", versionID(name, version), err)
		}
		return s.record(ctx, tx, "model_version.tag.set", resVersion, versionID(name, version), map[string]any{"key": t.Key})
	})
}

// DeleteModelVersionTag removes a tag from a version; a tag that is not there
// is not an error, but the version must exist.
func (s *Service) DeleteModelVersionTag(ctx context.Context, name string, version int64, key string) error {
	if err := validateModelName("name", name); err != nil {
		return err
	}
	if err := validateTagKey(key); err != nil {
		return err
	}
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := versionStage(ctx, tx, name, version); err != nil {
			return err
		}
		res, err := tx.Exec(ctx, `DELETE FROM model_version_tags WHERE name = ? AND version = ? AND key = ?`, name, version, key)
		if err != nil {
			return fmt.Errorf("deleting tag of model version %s: %w", versionID(name, version), err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("deleting tag of model version %s: %w", versionID(name, version), err)
		} else if n == 0 {
			return nil
		}
		return s.record(ctx, tx, "model_version.tag.delete", resVersion, versionID(name, version), map[string]any{"key": key})
	})
}

// SetRegisteredModelAlias points an alias at a version, moving it if it
// pointed elsewhere. "latest" and "v<N>" are reserved.
func (s *Service) SetRegisteredModelAlias(ctx context.Context, name, alias string, version int64) error {
	if err := validateModelName("name", name); err != nil {
		return err
	}
	if err := validateAlias(alias); err != nil {
		return err
	}
	if err := reservedAlias(alias); err != nil {
		return err
	}
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		if err := lockModel(ctx, tx, name); err != nil {
			return err
		}
		if err := modelExists(ctx, tx, name); err != nil {
			return err
		}
		if _, err := versionStage(ctx, tx, name, version); err != nil {
			return err
		}
		var previous int64
		err := tx.QueryRow(ctx, `SELECT version FROM registered_model_aliases WHERE name = ? AND alias = ?`, name, alias).Scan(&previous)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("reading alias %q of %q: %w", alias, name, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO registered_model_aliases (name, alias, version) VALUES (?, ?, ?)
			ON CONFLICT (name, alias) DO UPDATE SET version = excluded.version`, name, alias, version); err != nil {
			return fmt.Errorf("setting alias %q of %q: %w", alias, name, err)
		}
		detail := map[string]any{"alias": alias, "version": version}
		if previous != 0 {
			detail["previous_version"] = previous
		}
		return s.record(ctx, tx, "model.alias.set", resModel, name, detail)
	})
}

// DeleteRegisteredModelAlias removes an alias; an alias that is not there is
// not an error, but the model must exist.
func (s *Service) DeleteRegisteredModelAlias(ctx context.Context, name, alias string) error {
	if err := validateModelName("name", name); err != nil {
		return err
	}
	if err := validateAlias(alias); err != nil {
		return err
	}
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		if err := lockModel(ctx, tx, name); err != nil {
			return err
		}
		if err := modelExists(ctx, tx, name); err != nil {
			return err
		}
		var version int64
		err := tx.QueryRow(ctx, `SELECT version FROM registered_model_aliases WHERE name = ? AND alias = ?`, name, alias).Scan(&version)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading alias %q of %q: %w", alias, name, err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM registered_model_aliases WHERE name = ? AND alias = ?`, name, alias); err != nil {
			return fmt.Errorf("deleting alias %q of %q: %w", alias, name, err)
		}
		return s.record(ctx, tx, "model.alias.delete", resModel, name, map[string]any{"alias": alias, "version": version})
	})
}

// GetModelVersionByAlias returns the version an alias points at. The alias
// "latest" means the newest version.
func (s *Service) GetModelVersionByAlias(ctx context.Context, name, alias string) (ModelVersion, error) {
	if err := validateModelName("name", name); err != nil {
		return ModelVersion{}, err
	}
	if err := validateAlias(alias); err != nil {
		return ModelVersion{}, err
	}
	return s.resolveRef(ctx, s.db, modelRef{Name: name, Alias: alias})
}
