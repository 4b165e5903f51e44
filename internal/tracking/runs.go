package tracking

import (
	"context"
	"database/sql"
	"fmt"
	"sort"

	"github.com/mlcycle/mlcycle/internal/actor"
	"github.com/mlcycle/mlcycle/internal/errs"
	"github.com/mlcycle/mlcycle/internal/store"
)

// CreateRunInput describes a new run.
type CreateRunInput struct {
	ExperimentID string // "" means the Default experiment
	UserID       string // "" means the authenticated user's name, if any
	RunName      string // "" means the mlflow.runName tag, or a made-up name
	StartTime    int64  // Unix ms; 0 means now
	Tags         []Tag  // mlflow.parentRunId makes it a nested run
}

// CreateRun starts a run (status RUNNING) in an active experiment. Its
// artifacts live under <experiment artifact location>/<run id>/artifacts.
func (s *Service) CreateRun(ctx context.Context, in CreateRunInput) (Run, error) {
	if in.ExperimentID == "" {
		in.ExperimentID = DefaultExperimentID
	}
	expID, err := parseExperimentID(in.ExperimentID)
	if err != nil {
		return Run{}, err
	}
	tags := make([]Tag, 0, len(in.Tags)+1)
	tagName := ""
	for i, t := range in.Tags {
		t, err := normalizeTag(fmt.Sprintf("tags[%d].", i), t)
		if err != nil {
			return Run{}, err
		}
		if t.Key == TagRunName {
			tagName = t.Value
		}
		tags = append(tags, t)
	}
	if in.RunName != "" && tagName != "" && in.RunName != tagName {
		return Run{}, errs.E(errs.Invalid, "Both 'run_name' argument and 'mlflow.runName' tag are specified, but with different values (run_name='%s', mlflow.runName='%s').", clip(in.RunName), clip(tagName))
	}
	name := in.RunName
	if name == "" {
		name = tagName
	}
	if name == "" {
		name = randomName()
	}
	name = truncate(name, MaxTagValueLength)
	if tagName == "" {
		tags = append(tags, Tag{TagRunName, name})
	}
	tags = dedupeTags(tags)
	if in.UserID == "" {
		if a := actor.From(ctx); a.UserID != 0 {
			in.UserID = a.Name
		}
	}
	if err := checkText("user_id", in.UserID); err != nil {
		return Run{}, err
	}
	if err := checkText("run_name", name); err != nil {
		return Run{}, err
	}
	if in.StartTime < 0 {
		return Run{}, errs.E(errs.Invalid, "Invalid value %d for parameter 'start_time' supplied: it must not be negative", in.StartTime)
	}
	if in.StartTime == 0 {
		in.StartTime = s.nowMS()
	}
	runID := newHexID()
	var info RunInfo
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		e, err := activeExperiment(ctx, tx, expID, true)
		if err != nil {
			return err
		}
		info = RunInfo{
			RunID:          runID,
			RunName:        name,
			ExperimentID:   e.ID,
			UserID:         in.UserID,
			Status:         StatusRunning,
			StartTime:      in.StartTime,
			ArtifactURI:    e.ArtifactLocation + "/" + runID + "/artifacts",
			LifecycleStage: StageActive,
		}
		if _, err := tx.Exec(ctx, `INSERT INTO runs (run_uuid, experiment_id, name, user_id, status, start_time, lifecycle_stage, artifact_uri)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, runID, expID, name, in.UserID, StatusRunning, in.StartTime, StageActive, info.ArtifactURI); err != nil {
			return fmt.Errorf("inserting run: %w", err)
		}
		if err := upsertRunTags(ctx, tx, runID, tags); err != nil {
			return err
		}
		detail := map[string]any{"experiment_id": e.ID, "run_name": name}
		for _, t := range tags {
			if t.Key == TagParentRunID {
				detail["parent_run_id"] = t.Value
			}
		}
		return s.record(ctx, tx, "run.create", "run", runID, detail)
	})
	if err != nil {
		return Run{}, err
	}
	sort.Slice(tags, func(i, j int) bool { return tags[i].Key < tags[j].Key })
	return Run{Info: info, Tags: tags}, nil
}

// upsertRunTags writes tags (already validated and deduplicated) in one
// statement.
func upsertRunTags(ctx context.Context, tx *store.Tx, runID string, tags []Tag) error {
	if len(tags) == 0 {
		return nil
	}
	args := make([]any, 0, 3*len(tags))
	vals := make([]byte, 0, 12*len(tags))
	for i, t := range tags {
		if i > 0 {
			vals = append(vals, ", "...)
		}
		vals = append(vals, "(?, ?, ?)"...)
		args = append(args, runID, t.Key, t.Value)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO run_tags (run_uuid, key, value) VALUES `+string(vals)+`
		ON CONFLICT (run_uuid, key) DO UPDATE SET value = excluded.value`, args...); err != nil {
		return fmt.Errorf("setting run tags: %w", err)
	}
	return nil
}

func getRunInfo(ctx context.Context, q store.Querier, runID string) (RunInfo, error) {
	if runID == "" {
		return RunInfo{}, errs.E(errs.Invalid, "Missing value for required parameter 'run_id'.")
	}
	if err := checkText("run_id", runID); err != nil {
		return RunInfo{}, err
	}
	ri, err := scanRunInfo(q.QueryRow(ctx, `SELECT `+runCols+` FROM runs r WHERE r.run_uuid = ?`, runID))
	if err != nil {
		return RunInfo{}, notFound(err, "Run with id=%s not found", clip(runID))
	}
	return ri, nil
}

// activeRun returns the run, which must be active for the caller to change
// or log to it.
func activeRun(ctx context.Context, q store.Querier, runID string) (RunInfo, error) {
	ri, err := getRunInfo(ctx, q, runID)
	if err != nil {
		return ri, err
	}
	if ri.LifecycleStage != StageActive {
		return ri, errs.E(errs.Invalid, "The run %s must be in the 'active' state. Current state is %s.", runID, ri.LifecycleStage)
	}
	return ri, nil
}

// GetRun returns a run with the latest value of each metric, its params,
// tags, dataset inputs and model outputs.
func (s *Service) GetRun(ctx context.Context, runID string) (Run, error) {
	ri, err := getRunInfo(ctx, s.db, runID)
	if err != nil {
		return Run{}, err
	}
	runs := []Run{{Info: ri}}
	if err := loadRunData(ctx, s.db, runs); err != nil {
		return Run{}, err
	}
	return runs[0], nil
}

// RunArtifactURI returns where a run's artifacts live, e.g.
// mlflow-artifacts:/1/<run id>/artifacts.
func (s *Service) RunArtifactURI(ctx context.Context, runID string) (string, error) {
	ri, err := getRunInfo(ctx, s.db, runID)
	if err != nil {
		return "", err
	}
	return ri.ArtifactURI, nil
}

// RunUpdate changes a run's status, end time or name; zero fields are left
// as they are.
type RunUpdate struct {
	Status  string
	EndTime *int64
	RunName string
}

// UpdateRun changes an active run. Ending it (a terminal status), resuming
// it and renaming it are audited.
func (s *Service) UpdateRun(ctx context.Context, runID string, u RunUpdate) (RunInfo, error) {
	if u.Status != "" && !validStatus(u.Status) {
		return RunInfo{}, errs.E(errs.Invalid, "Invalid value %s for parameter 'status' supplied: must be one of RUNNING, SCHEDULED, FINISHED, FAILED, KILLED", quote(u.Status))
	}
	if u.EndTime != nil && *u.EndTime < 0 {
		return RunInfo{}, errs.E(errs.Invalid, "Invalid value %d for parameter 'end_time' supplied: it must not be negative", *u.EndTime)
	}
	if u.RunName != "" {
		if err := checkText("run_name", u.RunName); err != nil {
			return RunInfo{}, err
		}
		u.RunName = truncate(u.RunName, MaxTagValueLength)
	}
	var ri RunInfo
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		old, err := activeRun(ctx, tx, runID)
		if err != nil {
			return err
		}
		ri = old
		if u.Status != "" {
			ri.Status = u.Status
		}
		if u.EndTime != nil {
			ri.EndTime = *u.EndTime
		}
		var end any
		if ri.EndTime != 0 {
			end = ri.EndTime
		}
		if u.RunName != "" {
			ri.RunName = u.RunName
		}
		if _, err := tx.Exec(ctx, `UPDATE runs SET status = ?, end_time = ?, name = ? WHERE run_uuid = ?`, ri.Status, end, ri.RunName, runID); err != nil {
			return fmt.Errorf("updating run: %w", err)
		}
		if ri.RunName != old.RunName {
			if err := s.renameRun(ctx, tx, old, ri.RunName); err != nil {
				return err
			}
		}
		switch {
		case ri.Status != old.Status && isTerminal(ri.Status):
			return s.record(ctx, tx, "run.end", "run", runID, map[string]any{"status": ri.Status, "end_time": ri.EndTime})
		case ri.Status != old.Status && isTerminal(old.Status):
			return s.record(ctx, tx, "run.resume", "run", runID, map[string]any{"status": ri.Status, "from": old.Status})
		}
		return nil
	})
	if err != nil {
		return RunInfo{}, err
	}
	return ri, nil
}

// renameRun keeps the mlflow.runName tag in step with the name column and
// audits the rename. The caller has updated the column.
func (s *Service) renameRun(ctx context.Context, tx *store.Tx, old RunInfo, name string) error {
	if err := upsertRunTags(ctx, tx, old.RunID, []Tag{{TagRunName, name}}); err != nil {
		return err
	}
	return s.record(ctx, tx, "run.rename", "run", old.RunID, map[string]any{"from": old.RunName, "to": name})
}

// DeleteRun marks a run deleted. Deleting a deleted run changes nothing.
func (s *Service) DeleteRun(ctx context.Context, runID string) error {
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		ri, err := getRunInfo(ctx, tx, runID)
		if err != nil {
			return err
		}
		if ri.LifecycleStage == StageDeleted {
			return nil
		}
		if _, err := tx.Exec(ctx, `UPDATE runs SET lifecycle_stage = ?, deleted_time = ? WHERE run_uuid = ?`, StageDeleted, s.nowMS(), runID); err != nil {
			return fmt.Errorf("deleting run: %w", err)
		}
		return s.record(ctx, tx, "run.delete", "run", runID, map[string]any{"experiment_id": ri.ExperimentID})
	})
}

// RestoreRun brings a deleted run back. Restoring an active run changes
// nothing.
func (s *Service) RestoreRun(ctx context.Context, runID string) error {
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		ri, err := getRunInfo(ctx, tx, runID)
		if err != nil {
			return err
		}
		if ri.LifecycleStage == StageActive {
			return nil
		}
		if _, err := tx.Exec(ctx, `UPDATE runs SET lifecycle_stage = ?, deleted_time = NULL WHERE run_uuid = ?`, StageActive, runID); err != nil {
			return fmt.Errorf("restoring run: %w", err)
		}
		return s.record(ctx, tx, "run.restore", "run", runID, map[string]any{"experiment_id": ri.ExperimentID})
	})
}

// SetTag sets (or overwrites) a tag on an active run. Setting
// mlflow.runName renames the run.
func (s *Service) SetTag(ctx context.Context, runID, key, value string) error {
	t, err := normalizeTag("", Tag{key, value})
	if err != nil {
		return err
	}
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		ri, err := activeRun(ctx, tx, runID)
		if err != nil {
			return err
		}
		return s.setTags(ctx, tx, ri, []Tag{t})
	})
}

// setTags writes validated tags to a run, renaming it when mlflow.runName
// changes.
func (s *Service) setTags(ctx context.Context, tx *store.Tx, ri RunInfo, tags []Tag) error {
	tags = dedupeTags(tags)
	if err := upsertRunTags(ctx, tx, ri.RunID, tags); err != nil {
		return err
	}
	for _, t := range tags {
		if t.Key == TagRunName && t.Value != ri.RunName {
			if _, err := tx.Exec(ctx, `UPDATE runs SET name = ? WHERE run_uuid = ?`, t.Value, ri.RunID); err != nil {
				return fmt.Errorf("renaming run: %w", err)
			}
			return s.record(ctx, tx, "run.rename", "run", ri.RunID, map[string]any{"from": ri.RunName, "to": t.Value})
		}
	}
	return nil
}

// DeleteTag removes a tag from an active run.
func (s *Service) DeleteTag(ctx context.Context, runID, key string) error {
	if err := checkText("key", key); err != nil {
		return err
	}
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := activeRun(ctx, tx, runID); err != nil {
			return err
		}
		res, err := tx.Exec(ctx, `DELETE FROM run_tags WHERE run_uuid = ? AND key = ?`, runID, key)
		if err != nil {
			return fmt.Errorf("deleting run tag: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errs.E(errs.NotFound, "No tag with name: %s in run with id %s", clip(key), runID)
		}
		return nil
	})
}

// LogParam records a param on an active run. A param never changes:
// logging the same value again is a no-op, a different value is refused.
func (s *Service) LogParam(ctx context.Context, runID, key, value string) error {
	p, err := normalizeParam("", Param{key, value})
	if err != nil {
		return err
	}
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := activeRun(ctx, tx, runID); err != nil {
			return err
		}
		return insertParams(ctx, tx, runID, []Param{p}, true)
	})
}

// insertParams inserts params that are validated and unique by key,
// refusing any that would change a logged value. single selects the
// one-param error message.
func insertParams(ctx context.Context, tx *store.Tx, runID string, params []Param, single bool) error {
	if len(params) == 0 {
		return nil
	}
	check := func() error {
		keys := make([]any, 0, len(params)+1)
		keys = append(keys, runID)
		for _, p := range params {
			keys = append(keys, p.Key)
		}
		rows, err := tx.Query(ctx, `SELECT key, value FROM run_params WHERE run_uuid = ? AND key IN (`+store.Placeholders(len(params))+`)`, keys...)
		if err != nil {
			return fmt.Errorf("reading params: %w", err)
		}
		defer rows.Close()
		existing := map[string]string{}
		for rows.Next() {
			var k, v string
			if err := rows.Scan(&k, &v); err != nil {
				return fmt.Errorf("reading params: %w", err)
			}
			existing[k] = v
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("reading params: %w", err)
		}
		return paramConflicts(runID, params, func(key string) (string, bool) {
			v, ok := existing[key]
			return v, ok
		}, single)
	}
	if err := check(); err != nil {
		return err
	}
	args := make([]any, 0, 3*len(params))
	vals := make([]byte, 0, 12*len(params))
	for i, p := range params {
		if i > 0 {
			vals = append(vals, ", "...)
		}
		vals = append(vals, "(?, ?, ?)"...)
		args = append(args, runID, p.Key, p.Value)
	}
	res, err := tx.Exec(ctx, `INSERT INTO run_params (run_uuid, key, value) VALUES `+string(vals)+` ON CONFLICT (run_uuid, key) DO NOTHING`, args...)
	if err != nil {
		return fmt.Errorf("inserting params: %w", err)
	}
	// A concurrent writer may have logged one of these keys since the check.
	if n, _ := res.RowsAffected(); int(n) < len(params) {
		return check()
	}
	return nil
}

// loadRunData fills in the metrics, params, tags, inputs and outputs of runs.
func loadRunData(ctx context.Context, q store.Querier, runs []Run) error {
	if len(runs) == 0 {
		return nil
	}
	byID := make(map[string]*Run, len(runs))
	ids := make([]any, 0, len(runs))
	for i := range runs {
		byID[runs[i].Info.RunID] = &runs[i]
		ids = append(ids, runs[i].Info.RunID)
	}
	each := func(what, query string, args []any, scan func(rows *sql.Rows) error) error {
		rows, err := q.Query(ctx, query, args...)
		if err != nil {
			return fmt.Errorf("reading run %s: %w", what, err)
		}
		defer rows.Close()
		for rows.Next() {
			if err := scan(rows); err != nil {
				return fmt.Errorf("reading run %s: %w", what, err)
			}
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("reading run %s: %w", what, err)
		}
		return nil
	}
	for _, part := range store.Batches(ids, 500) {
		in := "(" + store.Placeholders(len(part)) + ")"
		err := each("metrics", `SELECT run_uuid, key, value, ts, step, is_nan FROM run_latest_metrics WHERE run_uuid IN `+in+` ORDER BY run_uuid, key`, part,
			func(rows *sql.Rows) error {
				var id string
				var m Metric
				var isNaN int
				if err := rows.Scan(&id, &m.Key, &m.Value, &m.Timestamp, &m.Step, &isNaN); err != nil {
					return err
				}
				m.Value = restoreValue(m.Value, isNaN)
				r := byID[id]
				r.Metrics = append(r.Metrics, m)
				return nil
			})
		if err != nil {
			return err
		}
		err = each("params", `SELECT run_uuid, key, value FROM run_params WHERE run_uuid IN `+in+` ORDER BY run_uuid, key`, part,
			func(rows *sql.Rows) error {
				var id string
				var p Param
				if err := rows.Scan(&id, &p.Key, &p.Value); err != nil {
					return err
				}
				r := byID[id]
				r.Params = append(r.Params, p)
				return nil
			})
		if err != nil {
			return err
		}
		err = each("tags", `SELECT run_uuid, key, value FROM run_tags WHERE run_uuid IN `+in+` ORDER BY run_uuid, key`, part,
			func(rows *sql.Rows) error {
				var id string
				var t Tag
				if err := rows.Scan(&id, &t.Key, &t.Value); err != nil {
					return err
				}
				r := byID[id]
				r.Tags = append(r.Tags, t)
				return nil
			})
		if err != nil {
			return err
		}
		inputs := map[string]*DatasetInput{}
		var order []string
		owner := map[string]string{}
		err = each("inputs", `SELECT i.run_uuid, i.input_uuid, d.name, d.digest, d.source_type, d.source, d.dataset_schema, d.dataset_profile
			FROM run_inputs i JOIN input_datasets d ON d.dataset_uuid = i.dataset_uuid
			WHERE i.run_uuid IN `+in+` ORDER BY i.run_uuid, d.name, d.digest`, part,
			func(rows *sql.Rows) error {
				var runID, inputID string
				var d Dataset
				var schema, profile sql.NullString
				if err := rows.Scan(&runID, &inputID, &d.Name, &d.Digest, &d.SourceType, &d.Source, &schema, &profile); err != nil {
					return err
				}
				d.Schema, d.Profile = schema.String, profile.String
				inputs[inputID] = &DatasetInput{Dataset: d}
				owner[inputID] = runID
				order = append(order, inputID)
				return nil
			})
		if err != nil {
			return err
		}
		if len(inputs) > 0 {
			err = each("input tags", `SELECT t.input_uuid, t.name, t.value FROM run_input_tags t JOIN run_inputs i ON i.input_uuid = t.input_uuid
				WHERE i.run_uuid IN `+in+` ORDER BY t.input_uuid, t.name`, part,
				func(rows *sql.Rows) error {
					var inputID string
					var t Tag
					if err := rows.Scan(&inputID, &t.Key, &t.Value); err != nil {
						return err
					}
					if di := inputs[inputID]; di != nil {
						di.Tags = append(di.Tags, t)
					}
					return nil
				})
			if err != nil {
				return err
			}
			for _, id := range order {
				r := byID[owner[id]]
				r.DatasetInputs = append(r.DatasetInputs, *inputs[id])
			}
		}
		err = each("model inputs", `SELECT run_uuid, model_id FROM run_model_inputs WHERE run_uuid IN `+in+` ORDER BY run_uuid, model_id`, part,
			func(rows *sql.Rows) error {
				var id, model string
				if err := rows.Scan(&id, &model); err != nil {
					return err
				}
				r := byID[id]
				r.ModelInputs = append(r.ModelInputs, model)
				return nil
			})
		if err != nil {
			return err
		}
		err = each("outputs", `SELECT run_uuid, model_id, step FROM run_model_outputs WHERE run_uuid IN `+in+` ORDER BY run_uuid, step, model_id`, part,
			func(rows *sql.Rows) error {
				var id string
				var o ModelOutput
				if err := rows.Scan(&id, &o.ModelID, &o.Step); err != nil {
					return err
				}
				r := byID[id]
				r.ModelOutputs = append(r.ModelOutputs, o)
				return nil
			})
		if err != nil {
			return err
		}
	}
	return nil
}
