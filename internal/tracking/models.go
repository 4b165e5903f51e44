package tracking

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/mlcycle/mlcycle/internal/errs"
	"github.com/mlcycle/mlcycle/internal/filter"
	"github.com/mlcycle/mlcycle/internal/store"
)

// LoggedModel is an MLflow 3 logged model: a model's artifacts and
// metadata, produced by a run or logged on its own, before any
// registration.
type LoggedModel struct {
	ModelID              string
	ExperimentID         string
	Name                 string
	ArtifactLocation     string // <experiment location>/models/<id>/artifacts
	CreationTimestamp    int64
	LastUpdatedTimestamp int64
	Status               string // ModelPending, ModelReady or ModelUploadFailed
	StatusMessage        string
	ModelType            string
	SourceRunID          string
	LifecycleStage       string
	Tags                 []Tag
	Params               []Param
	Metrics              []Metric
}

// statusNumber maps a status's wire name to the stored number (MLflow's
// enum); 0 means unknown.
func statusNumber(name string) int {
	switch name {
	case ModelPending:
		return 1
	case ModelReady:
		return 2
	case ModelUploadFailed:
		return 3
	}
	return 0
}

func statusName(n int) string {
	switch n {
	case 1:
		return ModelPending
	case 2:
		return ModelReady
	case 3:
		return ModelUploadFailed
	}
	return "LOGGED_MODEL_STATUS_UNSPECIFIED"
}

// ParseModelStatus accepts a status by wire name, short name ("READY") or
// enum number.
func ParseModelStatus(s string) (string, error) {
	u := strings.ToUpper(strings.TrimSpace(s))
	switch u {
	case "1", "PENDING":
		return ModelPending, nil
	case "2", "READY":
		return ModelReady, nil
	case "3", "UPLOAD_FAILED", "FAILED":
		return ModelUploadFailed, nil
	}
	if statusNumber(u) != 0 {
		return u, nil
	}
	return "", errs.E(errs.Invalid, "Invalid value %s for parameter 'status' supplied: must be one of LOGGED_MODEL_PENDING, LOGGED_MODEL_READY, LOGGED_MODEL_UPLOAD_FAILED", quote(s))
}

// CreateLoggedModelInput describes a new logged model.
type CreateLoggedModelInput struct {
	ExperimentID string
	Name         string // "" means a made-up name
	ModelType    string
	SourceRunID  string
	Params       []Param
	Tags         []Tag
}

func validateModelName(name string) error {
	if strings.ContainsAny(name, `/:.%"'`) {
		return errs.E(errs.Invalid, "Invalid model name (%s) provided. Model name must be a non-empty string and cannot contain the following characters: ('/', ':', '.', '%%', '\"', \"'\")", quote(name))
	}
	return checkText("name", name)
}

func validateModelKV(field string, i int, key, value string) error {
	p := fmt.Sprintf("%s[%d].", field, i)
	if key == "" {
		return errs.E(errs.Invalid, "Missing value for required parameter '%skey'.", p)
	}
	if utf8.RuneCountInString(key) > MaxModelTagKeyLength {
		return tooLong(p+"key", MaxModelTagKeyLength)
	}
	if err := checkText(p+"key", key); err != nil {
		return err
	}
	return checkText(p+"value", value)
}

// dedupeParams keeps one param per key; logging a key twice with different
// values is refused, as params never change.
func dedupeParams(ps []Param) ([]Param, error) {
	seen := map[string]string{}
	var out []Param
	for _, p := range ps {
		if v, ok := seen[p.Key]; ok {
			if v != p.Value {
				return nil, errs.E(errs.Invalid, "Changing param values is not allowed. Param with key='%s' was given the values '%s' and '%s'.", p.Key, clip(v), clip(p.Value))
			}
			continue
		}
		seen[p.Key] = p.Value
		out = append(out, p)
	}
	return out, nil
}

// CreateLoggedModel creates a logged model (status PENDING) in an active
// experiment. Its artifacts live under
// <experiment artifact location>/models/<model id>/artifacts.
func (s *Service) CreateLoggedModel(ctx context.Context, in CreateLoggedModelInput) (LoggedModel, error) {
	expID, err := parseExperimentID(in.ExperimentID)
	if err != nil {
		return LoggedModel{}, err
	}
	if in.Name == "" {
		in.Name = randomName()
	}
	if err := validateModelName(in.Name); err != nil {
		return LoggedModel{}, err
	}
	if err := checkText("model_type", in.ModelType); err != nil {
		return LoggedModel{}, err
	}
	if err := checkText("source_run_id", in.SourceRunID); err != nil {
		return LoggedModel{}, err
	}
	for i, p := range in.Params {
		if err := validateModelKV("params", i, p.Key, p.Value); err != nil {
			return LoggedModel{}, err
		}
	}
	for i, t := range in.Tags {
		if err := validateModelKV("tags", i, t.Key, t.Value); err != nil {
			return LoggedModel{}, err
		}
	}
	params, err := dedupeParams(in.Params)
	if err != nil {
		return LoggedModel{}, err
	}
	tags := dedupeTags(in.Tags)
	id := "m-" + newHexID()
	var m LoggedModel
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		e, err := activeExperiment(ctx, tx, expID, true)
		if err != nil {
			return err
		}
		now := s.nowMS()
		m = LoggedModel{
			ModelID: id, ExperimentID: e.ID, Name: in.Name,
			ArtifactLocation:  e.ArtifactLocation + "/models/" + id + "/artifacts",
			CreationTimestamp: now, LastUpdatedTimestamp: now,
			Status: ModelPending, ModelType: in.ModelType, SourceRunID: in.SourceRunID,
			LifecycleStage: StageActive,
		}
		if _, err := tx.Exec(ctx, `INSERT INTO logged_models (model_id, experiment_id, name, artifact_location, creation_timestamp_ms,
			last_updated_timestamp_ms, status, status_message, model_type, source_run_id, lifecycle_stage)
			VALUES (?, ?, ?, ?, ?, ?, ?, '', ?, ?, ?)`,
			id, expID, m.Name, m.ArtifactLocation, now, now, statusNumber(ModelPending), m.ModelType, m.SourceRunID, StageActive); err != nil {
			return fmt.Errorf("inserting logged model: %w", err)
		}
		if err := upsertModelKV(ctx, tx, "logged_model_params", id, kvParams(params), false); err != nil {
			return err
		}
		if err := upsertModelKV(ctx, tx, "logged_model_tags", id, tags, true); err != nil {
			return err
		}
		return s.record(ctx, tx, "logged_model.create", "logged_model", id,
			map[string]any{"experiment_id": e.ID, "name": m.Name, "source_run_id": m.SourceRunID})
	})
	if err != nil {
		return LoggedModel{}, err
	}
	return s.GetLoggedModel(ctx, id, false)
}

func kvParams(ps []Param) []Tag {
	out := make([]Tag, len(ps))
	for i, p := range ps {
		out[i] = Tag(p)
	}
	return out
}

// upsertModelKV writes params or tags of a model. Tags overwrite; params
// that exist keep their value (the caller checked for changes).
func upsertModelKV(ctx context.Context, tx *store.Tx, table, modelID string, kvs []Tag, overwrite bool) error {
	for _, part := range store.Batches(kvs, 500) {
		args := make([]any, 0, 3*len(part))
		vals := make([]string, len(part))
		for i, kv := range part {
			vals[i] = "(?, ?, ?)"
			args = append(args, modelID, kv.Key, kv.Value)
		}
		conflict := " ON CONFLICT (model_id, key) DO NOTHING"
		if overwrite {
			conflict = " ON CONFLICT (model_id, key) DO UPDATE SET value = excluded.value"
		}
		if _, err := tx.Exec(ctx, `INSERT INTO `+table+` (model_id, key, value) VALUES `+strings.Join(vals, ", ")+conflict, args...); err != nil {
			return fmt.Errorf("writing %s: %w", table, err)
		}
	}
	return nil
}

const modelCols = `lm.model_id, lm.experiment_id, lm.name, lm.artifact_location, lm.creation_timestamp_ms, lm.last_updated_timestamp_ms,
	lm.status, lm.status_message, lm.model_type, lm.source_run_id, lm.lifecycle_stage`

func scanModel(sc scanner) (LoggedModel, error) {
	var m LoggedModel
	var exp int64
	var status int
	if err := sc.Scan(&m.ModelID, &exp, &m.Name, &m.ArtifactLocation, &m.CreationTimestamp, &m.LastUpdatedTimestamp,
		&status, &m.StatusMessage, &m.ModelType, &m.SourceRunID, &m.LifecycleStage); err != nil {
		return LoggedModel{}, err
	}
	m.ExperimentID = formatID(exp)
	m.Status = statusName(status)
	return m, nil
}

func getModel(ctx context.Context, q store.Querier, id string, allowDeleted bool) (LoggedModel, error) {
	if id == "" {
		return LoggedModel{}, errs.E(errs.Invalid, "Missing value for required parameter 'model_id'.")
	}
	if err := checkText("model_id", id); err != nil {
		return LoggedModel{}, err
	}
	m, err := scanModel(q.QueryRow(ctx, `SELECT `+modelCols+` FROM logged_models lm WHERE lm.model_id = ?`, id))
	if err == nil && !allowDeleted && m.LifecycleStage == StageDeleted {
		err = sql.ErrNoRows
	}
	if err != nil {
		return LoggedModel{}, notFound(err, "Logged model with ID '%s' not found.", clip(id))
	}
	return m, nil
}

// GetLoggedModel returns a logged model with its tags, params and metrics.
// Deleted models are found only when allowDeleted is set.
func (s *Service) GetLoggedModel(ctx context.Context, id string, allowDeleted bool) (LoggedModel, error) {
	m, err := getModel(ctx, s.db, id, allowDeleted)
	if err != nil {
		return LoggedModel{}, err
	}
	ms := []LoggedModel{m}
	if err := loadModelData(ctx, s.db, ms); err != nil {
		return LoggedModel{}, err
	}
	return ms[0], nil
}

// LoggedModelArtifactURI returns where a logged model's artifacts live.
func (s *Service) LoggedModelArtifactURI(ctx context.Context, id string) (string, error) {
	m, err := getModel(ctx, s.db, id, false)
	if err != nil {
		return "", err
	}
	return m.ArtifactLocation, nil
}

// LoggedModelRunID returns the run that produced a logged model, or "" for
// a model logged outside a run.
func (s *Service) LoggedModelRunID(ctx context.Context, id string) (string, error) {
	m, err := getModel(ctx, s.db, id, false)
	if err != nil {
		return "", err
	}
	return m.SourceRunID, nil
}

// FinalizeLoggedModel sets a model's status, typically READY once its
// artifacts are uploaded, or UPLOAD_FAILED.
func (s *Service) FinalizeLoggedModel(ctx context.Context, id, status string) (LoggedModel, error) {
	st, err := ParseModelStatus(status)
	if err != nil {
		return LoggedModel{}, err
	}
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		m, err := getModel(ctx, tx, id, true)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE logged_models SET status = ?, last_updated_timestamp_ms = ? WHERE model_id = ?`,
			statusNumber(st), s.nowMS(), id); err != nil {
			return fmt.Errorf("finalizing logged model: %w", err)
		}
		if m.Status == st {
			return nil
		}
		return s.record(ctx, tx, "logged_model.finalize", "logged_model", id, map[string]any{"status": st, "from": m.Status})
	})
	if err != nil {
		return LoggedModel{}, err
	}
	return s.GetLoggedModel(ctx, id, true)
}

// DeleteLoggedModel marks a logged model deleted.
func (s *Service) DeleteLoggedModel(ctx context.Context, id string) error {
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		m, err := getModel(ctx, tx, id, false)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE logged_models SET lifecycle_stage = ?, last_updated_timestamp_ms = ? WHERE model_id = ?`,
			StageDeleted, s.nowMS(), id); err != nil {
			return fmt.Errorf("deleting logged model: %w", err)
		}
		return s.record(ctx, tx, "logged_model.delete", "logged_model", id, map[string]any{"experiment_id": m.ExperimentID, "name": m.Name})
	})
}

// SetLoggedModelTags sets (or overwrites) tags on a logged model.
func (s *Service) SetLoggedModelTags(ctx context.Context, id string, tags []Tag) error {
	for i, t := range tags {
		if err := validateModelKV("tags", i, t.Key, t.Value); err != nil {
			return err
		}
	}
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := getModel(ctx, tx, id, false); err != nil {
			return err
		}
		return upsertModelKV(ctx, tx, "logged_model_tags", id, dedupeTags(tags), true)
	})
}

// DeleteLoggedModelTag removes a tag from a logged model.
func (s *Service) DeleteLoggedModelTag(ctx context.Context, id, key string) error {
	if err := checkText("tag_key", key); err != nil {
		return err
	}
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := getModel(ctx, tx, id, false); err != nil {
			return err
		}
		res, err := tx.Exec(ctx, `DELETE FROM logged_model_tags WHERE model_id = ? AND key = ?`, id, key)
		if err != nil {
			return fmt.Errorf("deleting logged model tag: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errs.E(errs.NotFound, "No tag with key '%s' found for model with ID '%s'.", clip(key), clip(id))
		}
		return nil
	})
}

// LogLoggedModelParams adds params to a logged model. As with runs, a
// param's value never changes.
func (s *Service) LogLoggedModelParams(ctx context.Context, id string, params []Param) error {
	for i, p := range params {
		if err := validateModelKV("params", i, p.Key, p.Value); err != nil {
			return err
		}
	}
	params, err := dedupeParams(params)
	if err != nil {
		return err
	}
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := getModel(ctx, tx, id, false); err != nil {
			return err
		}
		for _, p := range params {
			var old string
			err := tx.QueryRow(ctx, `SELECT value FROM logged_model_params WHERE model_id = ? AND key = ?`, id, p.Key).Scan(&old)
			if err == nil && old != p.Value {
				return errs.E(errs.Invalid, "Changing param values is not allowed. Param with key='%s' was already logged with value='%s' for model ID='%s'. Attempted logging new value '%s'.",
					p.Key, clip(old), id, clip(p.Value))
			}
			if err != nil && !errNoRows(err) {
				return fmt.Errorf("reading logged model param: %w", err)
			}
		}
		return upsertModelKV(ctx, tx, "logged_model_params", id, kvParams(params), false)
	})
}

// loadModelData fills in the tags, params and metrics of models.
func loadModelData(ctx context.Context, q store.Querier, models []LoggedModel) error {
	if len(models) == 0 {
		return nil
	}
	byID := make(map[string]*LoggedModel, len(models))
	ids := make([]any, 0, len(models))
	for i := range models {
		byID[models[i].ModelID] = &models[i]
		ids = append(ids, models[i].ModelID)
	}
	for _, part := range store.Batches(ids, 500) {
		in := "(" + store.Placeholders(len(part)) + ")"
		for _, table := range []string{"logged_model_tags", "logged_model_params"} {
			rows, err := q.Query(ctx, `SELECT model_id, key, value FROM `+table+` WHERE model_id IN `+in+` ORDER BY model_id, key`, part...)
			if err != nil {
				return fmt.Errorf("reading %s: %w", table, err)
			}
			for rows.Next() {
				var id, k, v string
				if err := rows.Scan(&id, &k, &v); err != nil {
					rows.Close()
					return fmt.Errorf("reading %s: %w", table, err)
				}
				m := byID[id]
				if table == "logged_model_tags" {
					m.Tags = append(m.Tags, Tag{k, v})
				} else {
					m.Params = append(m.Params, Param{k, v})
				}
			}
			err = rows.Err()
			rows.Close()
			if err != nil {
				return fmt.Errorf("reading %s: %w", table, err)
			}
		}
		rows, err := q.Query(ctx, `SELECT model_id, key, value, ts, step, is_nan, run_uuid, dataset_name, dataset_digest
			FROM logged_model_metrics WHERE model_id IN `+in+` ORDER BY model_id, key, ts, step, run_uuid`, part...)
		if err != nil {
			return fmt.Errorf("reading logged model metrics: %w", err)
		}
		for rows.Next() {
			var id string
			var mt Metric
			var isNaN int
			if err := rows.Scan(&id, &mt.Key, &mt.Value, &mt.Timestamp, &mt.Step, &isNaN, &mt.RunID, &mt.DatasetName, &mt.DatasetDigest); err != nil {
				rows.Close()
				return fmt.Errorf("reading logged model metrics: %w", err)
			}
			mt.Value = restoreValue(mt.Value, isNaN)
			mt.ModelID = id
			m := byID[id]
			m.Metrics = append(m.Metrics, mt)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return fmt.Errorf("reading logged model metrics: %w", err)
		}
	}
	return nil
}

// DatasetFilter restricts SearchLoggedModels' metric filters (and, alone,
// the models) to metrics measured on a dataset.
type DatasetFilter struct {
	Name   string
	Digest string // "" matches any digest
}

// ModelOrder is one SearchLoggedModels ordering: an attribute
// (creation_timestamp, last_updated_timestamp, name, model_id, ...) or
// "metrics.<key>", optionally on a dataset.
type ModelOrder struct {
	Field         string
	Ascending     bool
	DatasetName   string
	DatasetDigest string
}

// LoggedModelQuery selects logged models for SearchLoggedModels.
type LoggedModelQuery struct {
	ExperimentIDs []string
	Filter        string
	Datasets      []DatasetFilter
	MaxResults    int // 0 means 100; at most 50000
	OrderBy       []ModelOrder
	PageToken     string
}

// modelAttribute maps a logged model attribute (or alias) to its column.
func modelAttribute(key string) (col string, numeric, ok bool) {
	switch key {
	case "model_id", "name", "model_type", "source_run_id", "status":
		return "lm." + key, false, true
	case "creation_timestamp_ms", "creation_timestamp", "creation_time":
		return "lm.creation_timestamp_ms", true, true
	case "last_updated_timestamp_ms", "last_updated_timestamp":
		return "lm.last_updated_timestamp_ms", true, true
	}
	return "", false, false
}

// SearchLoggedModels lists the non-deleted logged models of experiments
// that match q. The filter may use attributes (name, model_id, model_type,
// source_run_id, status, creation_timestamp, last_updated_timestamp),
// metrics, params and tags; the default order is newest first.
func (s *Service) SearchLoggedModels(ctx context.Context, q LoggedModelQuery) ([]LoggedModel, string, error) {
	if len(q.ExperimentIDs) == 0 {
		return nil, "", errs.E(errs.Invalid, "Missing value for required parameter 'experiment_ids'.")
	}
	limit, err := checkMaxResults(q.MaxResults, 100)
	if err != nil {
		return nil, "", err
	}
	offset, err := decodeToken(q.PageToken)
	if err != nil {
		return nil, "", err
	}
	exps := make([]any, 0, len(q.ExperimentIDs))
	for _, id := range q.ExperimentIDs {
		n, err := parseExperimentID(id)
		if err != nil {
			return nil, "", err
		}
		exps = append(exps, n)
	}
	var dsConds []string
	var dsArgs []any
	for i, d := range q.Datasets {
		if d.Name == "" {
			return nil, "", errs.E(errs.Invalid, "`dataset_name` in the `datasets` clause must be specified.")
		}
		if err := checkText(fmt.Sprintf("datasets[%d]", i), d.Name+d.Digest); err != nil {
			return nil, "", err
		}
		if d.Digest != "" {
			dsConds = append(dsConds, "(x.dataset_name = ? AND x.dataset_digest = ?)")
			dsArgs = append(dsArgs, d.Name, d.Digest)
		} else {
			dsConds = append(dsConds, "x.dataset_name = ?")
			dsArgs = append(dsArgs, d.Name)
		}
	}
	dsCond := ""
	if len(dsConds) > 0 {
		dsCond = " AND (" + strings.Join(dsConds, " OR ") + ")"
	}

	b := &sqlBuilder{dialect: s.db.Dialect()}
	b.where("lm.experiment_id IN ("+store.Placeholders(len(exps))+")", exps...)
	b.where("lm.lifecycle_stage = ?", StageActive)
	clauses, err := filter.Parse(q.Filter, filter.Options{DefaultEntity: "attribute"})
	if err != nil {
		return nil, "", err
	}
	hasMetricFilter := false
	for _, c := range clauses {
		if err := checkClause(c); err != nil {
			return nil, "", err
		}
		switch c.Entity {
		case "attribute":
			col, numeric, ok := modelAttribute(c.Key)
			switch {
			case !ok:
				err = errs.E(errs.Invalid, "Invalid attribute key '%s' specified. Valid keys are 'name', 'model_id', 'model_type', 'source_run_id', 'status', 'creation_timestamp', 'last_updated_timestamp'", clip(c.Key))
			case numeric:
				err = b.numberCond(col, c, true)
			case c.Key == "status":
				err = modelStatusCond(b, c)
			default:
				err = b.stringCond(col, c, false)
			}
		case "metric":
			hasMetricFilter = true
			var sql string
			var args []any
			sql, args, err = numOp("x.value", c, false)
			if err == nil {
				if c.Op == "!=" {
					sql = "(" + sql + " OR x.is_nan = 1)"
				} else {
					sql += " AND x.is_nan = 0"
				}
				b.where("EXISTS (SELECT 1 FROM logged_model_metrics x WHERE x.model_id = lm.model_id AND x.key = ? AND "+sql+dsCond+")",
					append(append([]any{c.Key}, args...), dsArgs...)...)
			}
		case "param":
			_, err = b.keyValueCond("logged_model_params", "model_id", "lm.model_id", c, false)
		case "tag":
			_, err = b.keyValueCond("logged_model_tags", "model_id", "lm.model_id", c, false)
		default:
			err = errs.E(errs.Invalid, "Invalid entity type '%s'. Expected one of ['attributes', 'metrics', 'params', 'tags'].", c.Entity)
		}
		if err != nil {
			return nil, "", err
		}
	}
	if len(dsConds) > 0 && !hasMetricFilter {
		b.where("EXISTS (SELECT 1 FROM logged_model_metrics x WHERE x.model_id = lm.model_id"+dsCond+")", dsArgs...)
	}

	var order []string
	var orderArgs []any
	hasCreation, hasID := false, false
	for _, ob := range q.OrderBy {
		dir := " ASC"
		if !ob.Ascending {
			dir = " DESC"
		}
		for _, f := range [...]string{ob.Field, ob.DatasetName, ob.DatasetDigest} {
			if err := checkText("order_by", f); err != nil {
				return nil, "", err
			}
		}
		if key, ok := strings.CutPrefix(ob.Field, "metrics."); ok {
			sub := "(SELECT x.value FROM logged_model_metrics x WHERE x.model_id = lm.model_id AND x.key = ? AND x.is_nan = 0"
			orderArgs = append(orderArgs, strings.Trim(key, "`"))
			if ob.DatasetName != "" {
				sub += " AND x.dataset_name = ?"
				orderArgs = append(orderArgs, ob.DatasetName)
			}
			if ob.DatasetDigest != "" {
				sub += " AND x.dataset_digest = ?"
				orderArgs = append(orderArgs, ob.DatasetDigest)
			}
			sub += " ORDER BY x.ts DESC, x.step DESC, x.run_uuid ASC LIMIT 1)"
			order = append(order, sub+dir+" NULLS LAST")
			continue
		}
		col, _, ok := modelAttribute(ob.Field)
		if !ok || strings.Contains(ob.Field, ".") {
			return nil, "", errs.E(errs.Invalid, "Invalid order by field name: %s", clip(ob.Field))
		}
		hasCreation = hasCreation || col == "lm.creation_timestamp_ms"
		hasID = hasID || col == "lm.model_id"
		order = append(order, col+dir)
	}
	if !hasCreation {
		order = append(order, "lm.creation_timestamp_ms DESC")
	}
	if !hasID {
		order = append(order, "lm.model_id ASC")
	}
	query := `SELECT ` + modelCols + ` FROM logged_models lm` + b.whereSQL() + ` ORDER BY ` + strings.Join(order, ", ") + pageSQL(limit+1, offset)
	args := append(b.args(), orderArgs...)
	rows, err := s.db.Query(ctx, query, args...)
	if err != nil {
		return nil, "", fmt.Errorf("searching logged models: %w", err)
	}
	defer rows.Close()
	var out []LoggedModel
	for rows.Next() {
		m, err := scanModel(rows)
		if err != nil {
			return nil, "", fmt.Errorf("searching logged models: %w", err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("searching logged models: %w", err)
	}
	rows.Close()
	next := ""
	if len(out) > limit {
		out = out[:limit]
		next = filter.EncodePageToken(offset + int64(limit))
	}
	return out, next, loadModelData(ctx, s.db, out)
}

// modelStatusCond compares the stored status number with statuses given by
// name ("READY" or "LOGGED_MODEL_READY").
func modelStatusCond(b *sqlBuilder, c filter.Clause) error {
	vals := c.List
	if c.Op == "=" || c.Op == "!=" {
		vals = []string{c.Str}
	}
	nums := make([]any, len(vals))
	for i, v := range vals {
		st, err := ParseModelStatus(v)
		if err != nil {
			return err
		}
		nums[i] = statusNumber(st)
	}
	switch c.Op {
	case "=":
		b.where("lm.status = ?", nums...)
	case "!=":
		b.where("lm.status <> ?", nums...)
	case "IN", "NOT IN":
		if len(nums) == 0 {
			return errs.E(errs.Invalid, "Invalid filter: %s needs at least one value", c.Op)
		}
		b.where("lm.status "+c.Op+" ("+store.Placeholders(len(nums))+")", nums...)
	default:
		return errs.E(errs.Invalid, "Invalid comparison operator for status: '%s'. Expected one of ('=', '!=', 'IN', 'NOT IN').", c.Op)
	}
	return nil
}
