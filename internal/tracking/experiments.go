package tracking

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/mlcycle/mlcycle/internal/errs"
	"github.com/mlcycle/mlcycle/internal/filter"
	"github.com/mlcycle/mlcycle/internal/store"
)

const experimentCols = `experiment_id, name, artifact_location, lifecycle_stage, creation_time, last_update_time`

type scanner interface{ Scan(dest ...any) error }

func scanExperiment(sc scanner) (Experiment, error) {
	var e Experiment
	var id int64
	if err := sc.Scan(&id, &e.Name, &e.ArtifactLocation, &e.LifecycleStage, &e.CreationTime, &e.LastUpdateTime); err != nil {
		return Experiment{}, err
	}
	e.ID = formatID(id)
	return e, nil
}

// CreateExperiment creates an active experiment and returns its id. An
// empty artifactLocation means mlflow-artifacts:/<id>; a given one must be
// an mlflow-artifacts:/ URI (see CleanArtifactLocation).
func (s *Service) CreateExperiment(ctx context.Context, name, artifactLocation string, tags []Tag) (string, error) {
	if err := validateExperimentName(name); err != nil {
		return "", err
	}
	if artifactLocation != "" {
		loc, err := CleanArtifactLocation(artifactLocation)
		if err != nil {
			return "", err
		}
		artifactLocation = loc
	}
	for _, t := range tags {
		if err := validateExperimentTag(t.Key, t.Value); err != nil {
			return "", err
		}
	}
	var id int64
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		now := s.nowMS()
		err := tx.QueryRow(ctx, `INSERT INTO experiments (name, artifact_location, lifecycle_stage, creation_time, last_update_time)
			VALUES (?, ?, ?, ?, ?) RETURNING experiment_id`, name, artifactLocation, StageActive, now, now).Scan(&id)
		if store.IsUniqueViolation(err) {
			return errs.E(errs.Conflict, "Experiment(name=%s) already exists.", name)
		}
		if err != nil {
			return fmt.Errorf("inserting experiment: %w", err)
		}
		loc := artifactLocation
		if loc == "" {
			loc = ArtifactScheme + "/" + formatID(id)
			if _, err := tx.Exec(ctx, `UPDATE experiments SET artifact_location = ? WHERE experiment_id = ?`, loc, id); err != nil {
				return fmt.Errorf("setting artifact location: %w", err)
			}
		}
		if err := upsertExperimentTags(ctx, tx, id, tags); err != nil {
			return err
		}
		return s.record(ctx, tx, "experiment.create", "experiment", formatID(id), map[string]any{"name": name, "artifact_location": loc})
	})
	if err != nil {
		return "", err
	}
	return formatID(id), nil
}

func upsertExperimentTags(ctx context.Context, tx *store.Tx, id int64, tags []Tag) error {
	for _, t := range dedupeTags(tags) {
		if _, err := tx.Exec(ctx, `INSERT INTO experiment_tags (experiment_id, key, value) VALUES (?, ?, ?)
			ON CONFLICT (experiment_id, key) DO UPDATE SET value = excluded.value`, id, t.Key, t.Value); err != nil {
			return fmt.Errorf("setting experiment tag %q: %w", t.Key, err)
		}
	}
	return nil
}

// dedupeTags keeps the last value of each key, in first-seen key order.
func dedupeTags(tags []Tag) []Tag {
	idx := make(map[string]int, len(tags))
	out := make([]Tag, 0, len(tags))
	for _, t := range tags {
		if i, ok := idx[t.Key]; ok {
			out[i].Value = t.Value
			continue
		}
		idx[t.Key] = len(out)
		out = append(out, t)
	}
	return out
}

// GetExperiment returns an experiment, active or deleted.
func (s *Service) GetExperiment(ctx context.Context, id string) (Experiment, error) {
	n, err := parseExperimentID(id)
	if err != nil {
		return Experiment{}, err
	}
	e, err := getExperiment(ctx, s.db, n)
	if err != nil {
		return Experiment{}, err
	}
	return e, s.loadExperimentTags(ctx, []*Experiment{&e})
}

func getExperiment(ctx context.Context, q store.Querier, id int64) (Experiment, error) {
	e, err := scanExperiment(q.QueryRow(ctx, `SELECT `+experimentCols+` FROM experiments WHERE experiment_id = ?`, id))
	if err != nil {
		return Experiment{}, notFound(err, "No Experiment with id=%d exists", id)
	}
	return e, nil
}

// GetExperimentByName returns the experiment with that name.
func (s *Service) GetExperimentByName(ctx context.Context, name string) (Experiment, error) {
	if name == "" {
		return Experiment{}, errs.E(errs.Invalid, "Missing value for required parameter 'experiment_name'.")
	}
	if err := checkText("experiment_name", name); err != nil {
		return Experiment{}, err
	}
	e, err := scanExperiment(s.db.QueryRow(ctx, `SELECT `+experimentCols+` FROM experiments WHERE name = ?`, name))
	if err != nil {
		return Experiment{}, notFound(err, "Could not find experiment with name '%s'", name)
	}
	return e, s.loadExperimentTags(ctx, []*Experiment{&e})
}

func (s *Service) loadExperimentTags(ctx context.Context, exps []*Experiment) error {
	byID := make(map[string]*Experiment, len(exps))
	ids := make([]any, 0, len(exps))
	for _, e := range exps {
		byID[e.ID] = e
		n, _ := parseExperimentID(e.ID)
		ids = append(ids, n)
	}
	for _, part := range store.Batches(ids, 500) {
		rows, err := s.db.Query(ctx, `SELECT experiment_id, key, value FROM experiment_tags
			WHERE experiment_id IN (`+store.Placeholders(len(part))+`) ORDER BY experiment_id, key`, part...)
		if err != nil {
			return fmt.Errorf("reading experiment tags: %w", err)
		}
		for rows.Next() {
			var id int64
			var t Tag
			if err := rows.Scan(&id, &t.Key, &t.Value); err != nil {
				rows.Close()
				return fmt.Errorf("reading experiment tags: %w", err)
			}
			if e := byID[formatID(id)]; e != nil {
				e.Tags = append(e.Tags, t)
			}
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return fmt.Errorf("reading experiment tags: %w", err)
		}
	}
	return nil
}

// ExperimentQuery selects experiments for SearchExperiments.
type ExperimentQuery struct {
	ViewType   ViewType
	MaxResults int // 0 means 1000; at most 50000
	Filter     string
	OrderBy    []string
	PageToken  string
}

// SearchExperiments lists experiments matching q, a page at a time. The
// filter may use the attributes name, experiment_id, creation_time and
// last_update_time, and tags; the default order is creation_time DESC,
// experiment_id ASC.
func (s *Service) SearchExperiments(ctx context.Context, q ExperimentQuery) ([]Experiment, string, error) {
	limit, err := checkMaxResults(q.MaxResults, MaxResultsDefault)
	if err != nil {
		return nil, "", err
	}
	stages, err := q.ViewType.stages()
	if err != nil {
		return nil, "", err
	}
	offset, err := decodeToken(q.PageToken)
	if err != nil {
		return nil, "", err
	}
	b := &sqlBuilder{dialect: s.db.Dialect()}
	b.where("e.lifecycle_stage IN ("+store.Placeholders(len(stages))+")", store.Args(stages)...)
	if err := experimentFilters(b, q.Filter); err != nil {
		return nil, "", err
	}
	order, err := experimentOrder(q.OrderBy)
	if err != nil {
		return nil, "", err
	}
	query := `SELECT ` + prefixCols("e", experimentCols) + ` FROM experiments e` + b.whereSQL() +
		` ORDER BY ` + order + pageSQL(limit+1, offset)
	rows, err := s.db.Query(ctx, query, b.args()...)
	if err != nil {
		return nil, "", fmt.Errorf("searching experiments: %w", err)
	}
	defer rows.Close()
	var out []Experiment
	for rows.Next() {
		e, err := scanExperiment(rows)
		if err != nil {
			return nil, "", fmt.Errorf("searching experiments: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("searching experiments: %w", err)
	}
	rows.Close()
	next := ""
	if len(out) > limit {
		out = out[:limit]
		next = filter.EncodePageToken(offset + int64(limit))
	}
	ptrs := make([]*Experiment, len(out))
	for i := range out {
		ptrs[i] = &out[i]
	}
	return out, next, s.loadExperimentTags(ctx, ptrs)
}

func decodeToken(tok string) (int64, error) {
	if tok == "" {
		return 0, nil
	}
	off, err := filter.DecodePageToken(tok)
	if err != nil {
		return 0, errs.Wrap(errs.Invalid, err, "Invalid page token")
	}
	if off < 0 {
		return 0, errs.E(errs.Invalid, "Invalid page token")
	}
	return off, nil
}

func prefixCols(alias, cols string) string {
	parts := strings.Split(cols, ",")
	for i, p := range parts {
		parts[i] = alias + "." + strings.TrimSpace(p)
	}
	return strings.Join(parts, ", ")
}

func experimentFilters(b *sqlBuilder, f string) error {
	clauses, err := filter.Parse(f, filter.Options{DefaultEntity: "attribute"})
	if err != nil {
		return err
	}
	for _, c := range clauses {
		if err := checkClause(c); err != nil {
			return err
		}
		switch c.Entity {
		case "attribute":
			switch c.Key {
			case "name":
				if err := b.stringCond("e.name", c, false); err != nil {
					return err
				}
			case "experiment_id":
				if err := experimentIDCond(b, c); err != nil {
					return err
				}
			case "creation_time", "last_update_time":
				if err := b.numberCond("e."+c.Key, c, true); err != nil {
					return err
				}
			default:
				return errs.E(errs.Invalid, "Invalid attribute key '%s' specified. Valid keys are 'name', 'experiment_id', 'creation_time', 'last_update_time'", clip(c.Key))
			}
		case "tag":
			if _, err := b.keyValueCond("experiment_tags", "experiment_id", "e.experiment_id", c, false); err != nil {
				return err
			}
		default:
			return errs.E(errs.Invalid, "Invalid entity type '%s'. Valid entity types are ('attribute', 'tag', 'tags')", c.Entity)
		}
	}
	return nil
}

func experimentIDCond(b *sqlBuilder, c filter.Clause) error {
	parse := func(s string) (int64, error) { return parseExperimentID(s) }
	switch c.Op {
	case "=", "!=":
		v := c.Str
		if c.IsNum {
			v = formatNumber(c.Num)
		}
		n, err := parse(v)
		if err != nil {
			return err
		}
		op := c.Op
		if op == "!=" {
			op = "<>"
		}
		b.where("e.experiment_id "+op+" ?", n)
	case "IN", "NOT IN":
		ids := make([]any, len(c.List))
		for i, s := range c.List {
			n, err := parse(s)
			if err != nil {
				return err
			}
			ids[i] = n
		}
		if len(ids) == 0 {
			return errs.E(errs.Invalid, "Invalid filter: %s needs at least one value", c.Op)
		}
		b.where("e.experiment_id "+c.Op+" ("+store.Placeholders(len(ids))+")", ids...)
	default:
		return errs.E(errs.Invalid, "Invalid comparator for experiment_id: %s", c.Op)
	}
	return nil
}

func experimentOrder(orderBy []string) (string, error) {
	if len(orderBy) == 0 {
		return "e.creation_time DESC, e.experiment_id ASC", nil
	}
	var parts []string
	hasID := false
	for _, ob := range orderBy {
		o, err := filter.ParseOrderBy(ob, filter.Options{DefaultEntity: "attribute"})
		if err != nil {
			return "", err
		}
		if o.Entity != "attribute" {
			return "", errs.E(errs.Invalid, "Invalid order_by entity: %s", o.Entity)
		}
		switch o.Key {
		case "name", "experiment_id", "creation_time", "last_update_time":
		default:
			return "", errs.E(errs.Invalid, "Invalid attribute key '%s' specified. Valid keys are 'name', 'experiment_id', 'creation_time', 'last_update_time'", clip(o.Key))
		}
		if o.Key == "experiment_id" {
			hasID = true
		}
		dir := " ASC"
		if o.Desc {
			dir = " DESC"
		}
		parts = append(parts, "e."+o.Key+dir)
	}
	if !hasID {
		// MLflow breaks ties by descending id when the caller set an order.
		parts = append(parts, "e.experiment_id DESC")
	}
	return strings.Join(parts, ", "), nil
}

// activeExperiment returns the experiment, which must be active for the
// change the caller is about to make. share holds the row (on PostgreSQL)
// until the transaction ends, so that a concurrent delete cannot slip in
// between the check and the caller's insert of a run or model.
func activeExperiment(ctx context.Context, q store.Querier, id int64, share bool) (Experiment, error) {
	query := `SELECT ` + experimentCols + ` FROM experiments WHERE experiment_id = ?`
	if share && q.Dialect() == store.Postgres {
		query += ` FOR SHARE`
	}
	e, err := scanExperiment(q.QueryRow(ctx, query, id))
	if err != nil {
		return e, notFound(err, "No Experiment with id=%d exists", id)
	}
	if e.LifecycleStage != StageActive {
		return e, errs.E(errs.Invalid, "The experiment %s must be in the 'active' state. Current state is %s.", e.ID, e.LifecycleStage)
	}
	return e, nil
}

// UpdateExperiment renames an active experiment; the new name must be unused.
func (s *Service) UpdateExperiment(ctx context.Context, id, newName string) error {
	n, err := parseExperimentID(id)
	if err != nil {
		return err
	}
	if err := validateExperimentName(newName); err != nil {
		return err
	}
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		e, err := getExperiment(ctx, tx, n)
		if err != nil {
			return err
		}
		if e.LifecycleStage != StageActive {
			return errs.E(errs.Invalid, "Cannot rename a non-active experiment.")
		}
		if e.Name == newName {
			return nil
		}
		_, err = tx.Exec(ctx, `UPDATE experiments SET name = ?, last_update_time = ? WHERE experiment_id = ?`, newName, s.nowMS(), n)
		if store.IsUniqueViolation(err) {
			return errs.E(errs.Conflict, "Experiment(name=%s) already exists.", newName)
		}
		if err != nil {
			return fmt.Errorf("renaming experiment: %w", err)
		}
		return s.record(ctx, tx, "experiment.rename", "experiment", e.ID, map[string]any{"from": e.Name, "to": newName})
	})
}

// DeleteExperiment marks an active experiment and its runs deleted.
func (s *Service) DeleteExperiment(ctx context.Context, id string) error {
	n, err := parseExperimentID(id)
	if err != nil {
		return err
	}
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		e, err := getExperiment(ctx, tx, n)
		if err != nil {
			return err
		}
		if e.LifecycleStage != StageActive {
			return errs.E(errs.NotFound, "No Experiment with id=%d exists", n)
		}
		now := s.nowMS()
		if _, err := tx.Exec(ctx, `UPDATE experiments SET lifecycle_stage = ?, last_update_time = ? WHERE experiment_id = ?`, StageDeleted, now, n); err != nil {
			return fmt.Errorf("deleting experiment: %w", err)
		}
		res, err := tx.Exec(ctx, `UPDATE runs SET lifecycle_stage = ?, deleted_time = ? WHERE experiment_id = ? AND lifecycle_stage = ?`, StageDeleted, now, n, StageActive)
		if err != nil {
			return fmt.Errorf("deleting the experiment's runs: %w", err)
		}
		runs, _ := res.RowsAffected()
		return s.record(ctx, tx, "experiment.delete", "experiment", e.ID, map[string]any{"name": e.Name, "runs_deleted": runs})
	})
}

// RestoreExperiment brings a deleted experiment back, with all its runs
// (as MLflow does, runs deleted on their own come back too).
func (s *Service) RestoreExperiment(ctx context.Context, id string) error {
	n, err := parseExperimentID(id)
	if err != nil {
		return err
	}
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		e, err := getExperiment(ctx, tx, n)
		if err != nil {
			return err
		}
		if e.LifecycleStage != StageDeleted {
			return errs.E(errs.NotFound, "No Experiment with id=%d exists", n)
		}
		if _, err := tx.Exec(ctx, `UPDATE experiments SET lifecycle_stage = ?, last_update_time = ? WHERE experiment_id = ?`, StageActive, s.nowMS(), n); err != nil {
			return fmt.Errorf("restoring experiment: %w", err)
		}
		res, err := tx.Exec(ctx, `UPDATE runs SET lifecycle_stage = ?, deleted_time = NULL WHERE experiment_id = ? AND lifecycle_stage = ?`, StageActive, n, StageDeleted)
		if err != nil {
			return fmt.Errorf("restoring the experiment's runs: %w", err)
		}
		runs, _ := res.RowsAffected()
		return s.record(ctx, tx, "experiment.restore", "experiment", e.ID, map[string]any{"name": e.Name, "runs_restored": runs})
	})
}

// SetExperimentTag sets (or overwrites) a tag on an active experiment.
func (s *Service) SetExperimentTag(ctx context.Context, id, key, value string) error {
	n, err := parseExperimentID(id)
	if err != nil {
		return err
	}
	if err := validateExperimentTag(key, value); err != nil {
		return err
	}
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := activeExperiment(ctx, tx, n, false); err != nil {
			return err
		}
		return upsertExperimentTags(ctx, tx, n, []Tag{{key, value}})
	})
}

// DeleteExperimentTag removes a tag from an active experiment.
func (s *Service) DeleteExperimentTag(ctx context.Context, id, key string) error {
	n, err := parseExperimentID(id)
	if err != nil {
		return err
	}
	if err := checkText("key", key); err != nil {
		return err
	}
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := activeExperiment(ctx, tx, n, false); err != nil {
			return err
		}
		res, err := tx.Exec(ctx, `DELETE FROM experiment_tags WHERE experiment_id = ? AND key = ?`, n, key)
		if err != nil {
			return fmt.Errorf("deleting experiment tag: %w", err)
		}
		if k, _ := res.RowsAffected(); k == 0 {
			return errs.E(errs.NotFound, "No tag with name: %s in experiment with id %s", clip(key), id)
		}
		return nil
	})
}

// errNoRows reports whether err is sql.ErrNoRows.
func errNoRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }
