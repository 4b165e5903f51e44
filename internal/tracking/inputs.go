package tracking

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/mlcycle/mlcycle/internal/errs"
	"github.com/mlcycle/mlcycle/internal/store"
)

// MaxDatasetsPerBatch bounds the dataset inputs of one LogInputs call.
const MaxDatasetsPerBatch = 1000

func validateDatasetInput(i int, di DatasetInput) error {
	d := di.Dataset
	p := fmt.Sprintf("datasets[%d].dataset.", i)
	if d.Name == "" {
		return errs.E(errs.Invalid, "Missing value for required parameter '%sname'.", p)
	}
	for _, f := range [...]struct {
		name  string
		v     string
		limit int
	}{
		{"name", d.Name, MaxDatasetNameLength},
		{"digest", d.Digest, MaxDatasetDigestLength},
		{"source_type", d.SourceType, MaxDatasetSourceLength},
		{"source", d.Source, MaxDatasetSourceLength},
		{"schema", d.Schema, MaxDatasetSchemaLength},
		{"profile", d.Profile, MaxDatasetProfileLength},
	} {
		if len(f.v) > f.limit && utf8.RuneCountInString(f.v) > f.limit {
			return tooLong(f.name, f.limit)
		}
		if err := checkText(p+f.name, f.v); err != nil {
			return err
		}
	}
	for j, t := range di.Tags {
		tp := fmt.Sprintf("datasets[%d].tags[%d].", i, j)
		if t.Key == "" {
			return errs.E(errs.Invalid, "Missing value for required parameter '%skey'.", tp)
		}
		if utf8.RuneCountInString(t.Key) > MaxInputTagKeyLength {
			return tooLong("key", MaxInputTagKeyLength)
		}
		if utf8.RuneCountInString(t.Value) > MaxInputTagValueLength {
			return tooLong("value", MaxInputTagValueLength)
		}
		if err := checkText(tp+"key", t.Key); err != nil {
			return err
		}
		if err := checkText(tp+"value", t.Value); err != nil {
			return err
		}
	}
	return nil
}

// LogInputs records the datasets (and logged models) an active run used.
// A dataset is stored once per experiment by name and digest; logging the
// same dataset to the same run again changes nothing, not even its tags.
func (s *Service) LogInputs(ctx context.Context, runID string, datasets []DatasetInput, models []string) error {
	if len(datasets) > MaxDatasetsPerBatch {
		return errs.E(errs.Invalid, "A batch logging request can contain at most %d datasets. Got %d datasets.", MaxDatasetsPerBatch, len(datasets))
	}
	type nd struct{ name, digest string }
	seen := map[nd]bool{}
	var uniq []DatasetInput
	for i, di := range datasets {
		if err := validateDatasetInput(i, di); err != nil {
			return err
		}
		k := nd{di.Dataset.Name, di.Dataset.Digest}
		if !seen[k] {
			seen[k] = true
			uniq = append(uniq, di)
		}
	}
	for i, m := range models {
		if m == "" {
			return errs.E(errs.Invalid, "Missing value for required parameter 'models[%d].model_id'.", i)
		}
	}
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		ri, err := activeRun(ctx, tx, runID)
		if err != nil {
			return err
		}
		exp, _ := parseExperimentID(ri.ExperimentID)
		for _, di := range uniq {
			d := di.Dataset
			if _, err := tx.Exec(ctx, `INSERT INTO input_datasets (dataset_uuid, experiment_id, name, digest, source_type, source, dataset_schema, dataset_profile)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (experiment_id, name, digest) DO NOTHING`,
				newHexID(), exp, d.Name, d.Digest, d.SourceType, d.Source, d.Schema, d.Profile); err != nil {
				return fmt.Errorf("recording dataset: %w", err)
			}
			var datasetID string
			if err := tx.QueryRow(ctx, `SELECT dataset_uuid FROM input_datasets WHERE experiment_id = ? AND name = ? AND digest = ?`,
				exp, d.Name, d.Digest).Scan(&datasetID); err != nil {
				return fmt.Errorf("reading dataset: %w", err)
			}
			inputID := newHexID()
			res, err := tx.Exec(ctx, `INSERT INTO run_inputs (input_uuid, dataset_uuid, run_uuid) VALUES (?, ?, ?)
				ON CONFLICT (run_uuid, dataset_uuid) DO NOTHING`, inputID, datasetID, runID)
			if err != nil {
				return fmt.Errorf("recording run input: %w", err)
			}
			if n, _ := res.RowsAffected(); n == 0 {
				continue
			}
			for _, t := range dedupeTags(di.Tags) {
				if _, err := tx.Exec(ctx, `INSERT INTO run_input_tags (input_uuid, name, value) VALUES (?, ?, ?)`, inputID, t.Key, t.Value); err != nil {
					return fmt.Errorf("recording input tag: %w", err)
				}
			}
		}
		for _, m := range models {
			if err := modelExists(ctx, tx, m); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO run_model_inputs (run_uuid, model_id) VALUES (?, ?) ON CONFLICT DO NOTHING`, runID, m); err != nil {
				return fmt.Errorf("recording model input: %w", err)
			}
		}
		return nil
	})
	if err != nil || s.linker == nil {
		return err
	}
	// Linking after the commit is safe to repeat: a client retrying the
	// request re-links nothing new.
	for _, di := range uniq {
		var use string // how the run used it: training, eval, ...
		for _, t := range di.Tags {
			if t.Key == "mlflow.data.context" {
				use = t.Value
			}
		}
		if err := s.linker.LinkDatasetInput(ctx, runID, di.Dataset.Source, di.Dataset.Digest, use); err != nil {
			return fmt.Errorf("linking dataset input %q: %w", di.Dataset.Name, err)
		}
	}
	return nil
}

func modelExists(ctx context.Context, q store.Querier, id string) error {
	var one int
	err := q.QueryRow(ctx, `SELECT 1 FROM logged_models WHERE model_id = ?`, id).Scan(&one)
	if err != nil {
		return notFound(err, "Logged model with ID '%s' not found.", clip(id))
	}
	return nil
}

// LogOutputs records logged models an active run produced, each at a step.
func (s *Service) LogOutputs(ctx context.Context, runID string, outputs []ModelOutput) error {
	if len(outputs) == 0 {
		return errs.E(errs.Invalid, "Missing value for required parameter 'models'.")
	}
	for i, o := range outputs {
		if o.ModelID == "" {
			return errs.E(errs.Invalid, "Missing value for required parameter 'models[%d].model_id'.", i)
		}
	}
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := activeRun(ctx, tx, runID); err != nil {
			return err
		}
		for _, o := range outputs {
			if err := modelExists(ctx, tx, o.ModelID); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO run_model_outputs (run_uuid, model_id, step) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`,
				runID, o.ModelID, o.Step); err != nil {
				return fmt.Errorf("recording run output: %w", err)
			}
		}
		return nil
	})
}

// RecordLoggedModel appends an MLmodel description (JSON) to the run's
// mlflow.log-model.history tag, as MLflow's runs/log-model does. When the
// history outgrows a tag value, its oldest entries are dropped so that it
// stays valid JSON.
func (s *Service) RecordLoggedModel(ctx context.Context, runID, modelJSON string) error {
	var model map[string]any
	if err := json.Unmarshal([]byte(modelJSON), &model); err != nil || model == nil {
		return errs.E(errs.Invalid, "Malformed model info. \n %s \n is not a valid JSON.", clip(modelJSON))
	}
	var missing []string
	for _, f := range []string{"artifact_path", "flavors", "run_id", "utc_time_created"} {
		if _, ok := model[f]; !ok {
			missing = append(missing, "'"+f+"'")
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return errs.E(errs.Invalid, "Model json is missing mandatory fields: {%s}", strings.Join(missing, ", "))
	}
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		ri, err := activeRun(ctx, tx, runID)
		if err != nil {
			return err
		}
		var history []json.RawMessage
		var old string
		err = tx.QueryRow(ctx, `SELECT value FROM run_tags WHERE run_uuid = ? AND key = ?`, runID, TagLoggedModels).Scan(&old)
		switch {
		case errNoRows(err):
		case err != nil:
			return fmt.Errorf("reading model history: %w", err)
		default:
			_ = json.Unmarshal([]byte(old), &history) // a corrupt history is replaced
		}
		entry, _ := json.Marshal(model)
		history = append(history, entry)
		var value []byte
		for {
			value, _ = json.Marshal(history)
			if utf8.RuneCount(value) <= MaxTagValueLength || len(history) == 1 {
				break
			}
			history = history[1:]
		}
		if utf8.RuneCount(value) > MaxTagValueLength {
			return errs.E(errs.Invalid, "Model json is longer than the %d characters a tag can hold", MaxTagValueLength)
		}
		return s.setTags(ctx, tx, ri, []Tag{{TagLoggedModels, string(value)}})
	})
}
