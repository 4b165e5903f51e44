package registry

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/mlcycle/mlcycle/internal/errs"
	"github.com/mlcycle/mlcycle/internal/store"
)

type scanner interface{ Scan(dest ...any) error }

const modelCols = `name, description, creation_time, last_updated_time`

func scanModel(s scanner) (RegisteredModel, error) {
	var m RegisteredModel
	err := s.Scan(&m.Name, &m.Description, &m.CreationTime, &m.LastUpdatedTime)
	m.Tags, m.Aliases, m.LatestVersions = []Tag{}, []Alias{}, []ModelVersion{}
	return m, err
}

// CreateRegisteredModel adds a model with no versions.
func (s *Service) CreateRegisteredModel(ctx context.Context, name, description string, tags []Tag) (RegisteredModel, error) {
	if err := validateModelName("name", name); err != nil {
		return RegisteredModel{}, err
	}
	if err := validateDescription(description); err != nil {
		return RegisteredModel{}, err
	}
	tags, err := validateTags(tags)
	if err != nil {
		return RegisteredModel{}, err
	}
	now := s.nowMS()
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO registered_models (name, description, creation_time, last_updated_time)
			VALUES (?, ?, ?, ?)`, name, description, now, now)
		if store.IsUniqueViolation(err) {
			return errs.E(errs.Conflict, "Registered Model (name=%s) already exists.", name)
		}
		if err != nil {
			return fmt.Errorf("creating registered model %q: %w", name, err)
		}
		for _, t := range tags {
			if _, err := tx.Exec(ctx, `INSERT INTO registered_model_tags (name, key, value) VALUES (?, ?, ?)`,
				name, t.Key, t.Value); err != nil {
				return fmt.Errorf("tagging registered model %q: %w", name, err)
			}
		}
		return s.record(ctx, tx, "model.create", resModel, name, map[string]any{"tags": len(tags)})
	})
	if err != nil {
		return RegisteredModel{}, err
	}
	slices.SortFunc(tags, func(a, b Tag) int { return strings.Compare(a.Key, b.Key) })
	return RegisteredModel{Name: name, Description: description, CreationTime: now, LastUpdatedTime: now,
		Tags: tags, Aliases: []Alias{}, LatestVersions: []ModelVersion{}}, nil
}

// GetRegisteredModel returns a model with its tags, aliases and the latest
// version in each stage.
func (s *Service) GetRegisteredModel(ctx context.Context, name string) (RegisteredModel, error) {
	if err := validateModelName("name", name); err != nil {
		return RegisteredModel{}, err
	}
	return getModel(ctx, s.db, name)
}

func getModel(ctx context.Context, q store.Querier, name string) (RegisteredModel, error) {
	m, err := scanModel(q.QueryRow(ctx, `SELECT `+modelCols+` FROM registered_models WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return RegisteredModel{}, modelNotFound(name)
	}
	if err != nil {
		return RegisteredModel{}, fmt.Errorf("reading registered model %q: %w", name, err)
	}
	ms := []RegisteredModel{m}
	if err := fillModels(ctx, q, ms); err != nil {
		return RegisteredModel{}, err
	}
	return ms[0], nil
}

// RenameRegisteredModel gives a model a new name; its versions, tags and
// aliases follow.
func (s *Service) RenameRegisteredModel(ctx context.Context, name, newName string) (RegisteredModel, error) {
	if err := validateModelName("name", name); err != nil {
		return RegisteredModel{}, err
	}
	if err := validateModelName("new_name", newName); err != nil {
		return RegisteredModel{}, err
	}
	var m RegisteredModel
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		// Both names, in a fixed order: a concurrent rename the other way
		// round must not deadlock with this one.
		first, second := min(name, newName), max(name, newName)
		if err := lockModel(ctx, tx, first); err != nil {
			return err
		}
		if first != second {
			if err := lockModel(ctx, tx, second); err != nil {
				return err
			}
		}
		if err := modelExists(ctx, tx, name); err != nil {
			return err
		}
		if newName != name {
			now := s.nowMS()
			_, err := tx.Exec(ctx, `UPDATE registered_models SET name = ?, last_updated_time = ? WHERE name = ?`, newName, now, name)
			if store.IsUniqueViolation(err) {
				return errs.E(errs.Conflict, "Registered Model (name=%s) already exists.", newName)
			}
			if err != nil {
				return fmt.Errorf("renaming registered model %q: %w", name, err)
			}
			// The versions' rows carry the name too (ON UPDATE CASCADE moved it).
			if _, err := tx.Exec(ctx, `UPDATE model_versions SET last_updated_time = ? WHERE name = ?`, now, newName); err != nil {
				return fmt.Errorf("renaming versions of %q: %w", name, err)
			}
			if err := s.record(ctx, tx, "model.rename", resModel, newName, map[string]any{"from": name, "to": newName}); err != nil {
				return err
			}
		}
		var err error
		m, err = getModel(ctx, tx, newName)
		return err
	})
	return m, err
}

// UpdateRegisteredModel sets a model's description.
func (s *Service) UpdateRegisteredModel(ctx context.Context, name, description string) (RegisteredModel, error) {
	if err := validateModelName("name", name); err != nil {
		return RegisteredModel{}, err
	}
	if err := validateDescription(description); err != nil {
		return RegisteredModel{}, err
	}
	var m RegisteredModel
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		res, err := tx.Exec(ctx, `UPDATE registered_models SET description = ?, last_updated_time = ? WHERE name = ?`,
			description, s.nowMS(), name)
		if err != nil {
			return fmt.Errorf("updating registered model %q: %w", name, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("updating registered model %q: %w", name, err)
		} else if n == 0 {
			return modelNotFound(name)
		}
		if err := s.record(ctx, tx, "model.update", resModel, name, map[string]any{"field": "description"}); err != nil {
			return err
		}
		m, err = getModel(ctx, tx, name)
		return err
	})
	return m, err
}

// DeleteRegisteredModel deletes a model with all its versions, tags and
// aliases.
func (s *Service) DeleteRegisteredModel(ctx context.Context, name string) error {
	if err := validateModelName("name", name); err != nil {
		return err
	}
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		if err := lockModel(ctx, tx, name); err != nil {
			return err
		}
		var versions int64
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM model_versions WHERE name = ? AND deleted = 0`, name).Scan(&versions); err != nil {
			return fmt.Errorf("counting versions of %q: %w", name, err)
		}
		res, err := tx.Exec(ctx, `DELETE FROM registered_models WHERE name = ?`, name)
		if err != nil {
			return fmt.Errorf("deleting registered model %q: %w", name, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("deleting registered model %q: %w", name, err)
		} else if n == 0 {
			return modelNotFound(name)
		}
		return s.record(ctx, tx, "model.delete", resModel, name, map[string]any{"versions": versions})
	})
}

// SetRegisteredModelTag sets (adds or replaces) a tag on a model.
func (s *Service) SetRegisteredModelTag(ctx context.Context, name string, t Tag) error {
	if err := validateModelName("name", name); err != nil {
		return err
	}
	if err := validateTag(t); err != nil {
		return err
	}
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		if err := modelExists(ctx, tx, name); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO registered_model_tags (name, key, value) VALUES (?, ?, ?)
			ON CONFLICT (name, key) DO UPDATE SET value = excluded.value`, name, t.Key, t.Value); err != nil {
			return fmt.Errorf("tagging registered model %q: %w", name, err)
		}
		return s.record(ctx, tx, "model.tag.set", resModel, name, map[string]any{"key": t.Key})
	})
}

// DeleteRegisteredModelTag removes a tag from a model; a tag that is not
// there is not an error (as in MLflow), but the model must exist.
func (s *Service) DeleteRegisteredModelTag(ctx context.Context, name, key string) error {
	if err := validateModelName("name", name); err != nil {
		return err
	}
	if err := validateTagKey(key); err != nil {
		return err
	}
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		if err := modelExists(ctx, tx, name); err != nil {
			return err
		}
		res, err := tx.Exec(ctx, `DELETE FROM registered_model_tags WHERE name = ? AND key = ?`, name, key)
		if err != nil {
			return fmt.Errorf("deleting tag of registered model %q: %w", name, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("deleting tag of registered model %q: %w", name, err)
		} else if n == 0 {
			return nil // nothing changed, nothing to audit
		}
		return s.record(ctx, tx, "model.tag.delete", resModel, name, map[string]any{"key": key})
	})
}

// GetLatestVersions returns the newest version in each of stages (every
// stage when stages is empty), by version number.
func (s *Service) GetLatestVersions(ctx context.Context, name string, stages []string) ([]ModelVersion, error) {
	if err := validateModelName("name", name); err != nil {
		return nil, err
	}
	want := map[string]bool{}
	for _, st := range stages {
		c, err := CanonicalStage(st)
		if err != nil {
			return nil, err
		}
		want[c] = true
	}
	if err := modelExists(ctx, s.db, name); err != nil {
		return nil, err
	}
	latest, err := latestVersions(ctx, s.db, []string{name})
	if err != nil {
		return nil, err
	}
	out := []ModelVersion{}
	for _, v := range latest[name] {
		if len(want) == 0 || want[v.Stage] {
			out = append(out, v)
		}
	}
	return out, nil
}

// fillModels loads the tags, aliases and latest versions of ms.
func fillModels(ctx context.Context, q store.Querier, ms []RegisteredModel) error {
	if len(ms) == 0 {
		return nil
	}
	at := make(map[string]int, len(ms))
	names := make([]string, len(ms))
	for i, m := range ms {
		at[m.Name] = i
		names[i] = m.Name
	}
	for _, part := range store.Batches(names, 500) {
		in := store.Placeholders(len(part))
		rows, err := q.Query(ctx, `SELECT name, key, value FROM registered_model_tags WHERE name IN (`+in+`) ORDER BY name, key`, store.Args(part)...)
		if err != nil {
			return fmt.Errorf("reading registered model tags: %w", err)
		}
		for rows.Next() {
			var name string
			var t Tag
			if err := rows.Scan(&name, &t.Key, &t.Value); err != nil {
				rows.Close()
				return fmt.Errorf("reading registered model tags: %w", err)
			}
			ms[at[name]].Tags = append(ms[at[name]].Tags, t)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("reading registered model tags: %w", err)
		}

		rows, err = q.Query(ctx, `SELECT name, alias, version FROM registered_model_aliases WHERE name IN (`+in+`) ORDER BY name, alias`, store.Args(part)...)
		if err != nil {
			return fmt.Errorf("reading registered model aliases: %w", err)
		}
		for rows.Next() {
			var name string
			var a Alias
			if err := rows.Scan(&name, &a.Alias, &a.Version); err != nil {
				rows.Close()
				return fmt.Errorf("reading registered model aliases: %w", err)
			}
			ms[at[name]].Aliases = append(ms[at[name]].Aliases, a)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("reading registered model aliases: %w", err)
		}
	}
	latest, err := latestVersions(ctx, q, names)
	if err != nil {
		return err
	}
	for name, vs := range latest {
		ms[at[name]].LatestVersions = vs
	}
	return nil
}

// latestVersions returns, per model, the newest live version in each stage,
// by version number, with tags and aliases.
func latestVersions(ctx context.Context, q store.Querier, names []string) (map[string][]ModelVersion, error) {
	var all []ModelVersion
	for _, part := range store.Batches(names, 500) {
		vs, err := queryVersions(ctx, q, `SELECT `+versionCols+` FROM model_versions v
			WHERE v.deleted = 0 AND v.name IN (`+store.Placeholders(len(part))+`)
			AND v.version = (SELECT MAX(v2.version) FROM model_versions v2
				WHERE v2.name = v.name AND v2.current_stage = v.current_stage AND v2.deleted = 0)
			ORDER BY v.name, v.version`, store.Args(part)...)
		if err != nil {
			return nil, fmt.Errorf("reading latest versions: %w", err)
		}
		all = append(all, vs...)
	}
	if err := fillVersions(ctx, q, all); err != nil {
		return nil, err
	}
	out := map[string][]ModelVersion{}
	for _, v := range all {
		out[v.Name] = append(out[v.Name], v)
	}
	return out, nil
}
