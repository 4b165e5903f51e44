package tracking

import "github.com/mlcycle/mlcycle/internal/store"

// Migrations returns the tracking tables. Run them after audit.Migrations.
//
// Layout notes:
//   - Experiment ids are integers (MLflow sends them as decimal strings);
//     the Default experiment has id 0 and is created here.
//   - A NaN metric is stored as value 0 with is_nan = 1: SQLite turns NaN
//     into NULL, and one representation on both engines keeps the metric
//     key and every comparison the same. ±Inf are stored as they are.
//   - run_latest_metrics holds, per run and key, the point with the greatest
//     (step, ts, value); every metric write keeps it current, and search and
//     sort read it instead of the history.
//   - Param and tag values can be thousands of characters, more than a
//     PostgreSQL B-tree entry may hold, so their search indexes cover a
//     prefix of the value (queries repeat the same expression).
//   - Booleans are SMALLINT 0/1 so the SQL is the same on both engines.
func Migrations() []store.Migration {
	return []store.Migration{
		{ID: "tracking/0001_experiments_runs", SQL: `
CREATE TABLE experiments (
	experiment_id     {{id}},
	name              TEXT NOT NULL UNIQUE,
	artifact_location TEXT NOT NULL,
	lifecycle_stage   TEXT NOT NULL,
	creation_time     BIGINT NOT NULL,
	last_update_time  BIGINT NOT NULL
);
CREATE INDEX experiments_creation ON experiments (creation_time);
CREATE TABLE experiment_tags (
	experiment_id BIGINT NOT NULL REFERENCES experiments (experiment_id) ON DELETE CASCADE,
	key           TEXT NOT NULL,
	value         TEXT NOT NULL,
	PRIMARY KEY (experiment_id, key)
);
CREATE TABLE runs (
	run_uuid        TEXT PRIMARY KEY,
	experiment_id   BIGINT NOT NULL REFERENCES experiments (experiment_id),
	name            TEXT NOT NULL,
	user_id         TEXT NOT NULL,
	status          TEXT NOT NULL,
	start_time      BIGINT NOT NULL,
	end_time        BIGINT,
	deleted_time    BIGINT,
	lifecycle_stage TEXT NOT NULL,
	artifact_uri    TEXT NOT NULL
);
CREATE INDEX runs_experiment_start ON runs (experiment_id, start_time, run_uuid);
CREATE TABLE run_params (
	run_uuid TEXT NOT NULL REFERENCES runs (run_uuid) ON DELETE CASCADE,
	key      TEXT NOT NULL,
	value    TEXT NOT NULL,
	PRIMARY KEY (run_uuid, key)
);
CREATE INDEX run_params_key_value ON run_params (key, substr(value, 1, 200));
CREATE TABLE run_tags (
	run_uuid TEXT NOT NULL REFERENCES runs (run_uuid) ON DELETE CASCADE,
	key      TEXT NOT NULL,
	value    TEXT NOT NULL,
	PRIMARY KEY (run_uuid, key)
);
CREATE INDEX run_tags_key_value ON run_tags (key, substr(value, 1, 200));
CREATE TABLE run_latest_metrics (
	run_uuid TEXT NOT NULL REFERENCES runs (run_uuid) ON DELETE CASCADE,
	key      TEXT NOT NULL,
	value    DOUBLE PRECISION NOT NULL,
	ts       BIGINT NOT NULL,
	step     BIGINT NOT NULL,
	is_nan   SMALLINT NOT NULL,
	PRIMARY KEY (run_uuid, key)
);
CREATE INDEX run_latest_metrics_key_value ON run_latest_metrics (key, value);
CREATE TABLE input_datasets (
	dataset_uuid    TEXT PRIMARY KEY,
	experiment_id   BIGINT NOT NULL REFERENCES experiments (experiment_id),
	name            TEXT NOT NULL,
	digest          TEXT NOT NULL,
	source_type     TEXT NOT NULL,
	source          TEXT NOT NULL,
	dataset_schema  TEXT,
	dataset_profile TEXT,
	UNIQUE (experiment_id, name, digest)
);
CREATE TABLE run_inputs (
	input_uuid   TEXT PRIMARY KEY,
	dataset_uuid TEXT NOT NULL REFERENCES input_datasets (dataset_uuid),
	run_uuid     TEXT NOT NULL REFERENCES runs (run_uuid) ON DELETE CASCADE,
	UNIQUE (run_uuid, dataset_uuid)
);
CREATE INDEX run_inputs_dataset ON run_inputs (dataset_uuid);
CREATE TABLE run_input_tags (
	input_uuid TEXT NOT NULL REFERENCES run_inputs (input_uuid) ON DELETE CASCADE,
	name       TEXT NOT NULL,
	value      TEXT NOT NULL,
	PRIMARY KEY (input_uuid, name)
);
CREATE TABLE logged_models (
	model_id                  TEXT PRIMARY KEY,
	experiment_id             BIGINT NOT NULL REFERENCES experiments (experiment_id),
	name                      TEXT NOT NULL,
	artifact_location         TEXT NOT NULL,
	creation_timestamp_ms     BIGINT NOT NULL,
	last_updated_timestamp_ms BIGINT NOT NULL,
	status                    INTEGER NOT NULL,
	status_message            TEXT NOT NULL,
	model_type                TEXT NOT NULL,
	source_run_id             TEXT NOT NULL,
	lifecycle_stage           TEXT NOT NULL
);
CREATE INDEX logged_models_experiment ON logged_models (experiment_id, creation_timestamp_ms);
CREATE TABLE logged_model_params (
	model_id TEXT NOT NULL REFERENCES logged_models (model_id) ON DELETE CASCADE,
	key      TEXT NOT NULL,
	value    TEXT NOT NULL,
	PRIMARY KEY (model_id, key)
);
CREATE TABLE logged_model_tags (
	model_id TEXT NOT NULL REFERENCES logged_models (model_id) ON DELETE CASCADE,
	key      TEXT NOT NULL,
	value    TEXT NOT NULL,
	PRIMARY KEY (model_id, key)
);
CREATE TABLE logged_model_metrics (
	model_id       TEXT NOT NULL REFERENCES logged_models (model_id) ON DELETE CASCADE,
	key            TEXT NOT NULL,
	value          DOUBLE PRECISION NOT NULL,
	ts             BIGINT NOT NULL,
	step           BIGINT NOT NULL,
	is_nan         SMALLINT NOT NULL,
	run_uuid       TEXT NOT NULL,
	dataset_name   TEXT NOT NULL,
	dataset_digest TEXT NOT NULL,
	PRIMARY KEY (model_id, key, ts, step, run_uuid)
);
CREATE INDEX logged_model_metrics_key ON logged_model_metrics (key, value);
CREATE TABLE run_model_inputs (
	run_uuid TEXT NOT NULL REFERENCES runs (run_uuid) ON DELETE CASCADE,
	model_id TEXT NOT NULL,
	PRIMARY KEY (run_uuid, model_id)
);
CREATE TABLE run_model_outputs (
	run_uuid TEXT NOT NULL REFERENCES runs (run_uuid) ON DELETE CASCADE,
	model_id TEXT NOT NULL,
	step     BIGINT NOT NULL,
	PRIMARY KEY (run_uuid, model_id, step)
);
`},
		// The metric history is the one table that grows by thousands of rows a
		// second. On SQLite, WITHOUT ROWID stores it as a single B-tree keyed by
		// the primary key, which is also the history's read order.
		{ID: "tracking/0002_metrics_sqlite", Only: store.SQLite, SQL: `
CREATE TABLE run_metrics (
	run_uuid TEXT NOT NULL REFERENCES runs (run_uuid) ON DELETE CASCADE,
	key      TEXT NOT NULL,
	ts       BIGINT NOT NULL,
	step     BIGINT NOT NULL,
	value    DOUBLE PRECISION NOT NULL,
	is_nan   SMALLINT NOT NULL,
	PRIMARY KEY (run_uuid, key, ts, step, value, is_nan)
) WITHOUT ROWID;
INSERT INTO experiments (experiment_id, name, artifact_location, lifecycle_stage, creation_time, last_update_time)
VALUES (0, 'Default', 'mlflow-artifacts:/0', 'active',
	CAST(strftime('%s', 'now') AS INTEGER) * 1000, CAST(strftime('%s', 'now') AS INTEGER) * 1000);
`},
		{ID: "tracking/0002_metrics_postgres", Only: store.Postgres, SQL: `
CREATE TABLE run_metrics (
	run_uuid TEXT NOT NULL REFERENCES runs (run_uuid) ON DELETE CASCADE,
	key      TEXT NOT NULL,
	ts       BIGINT NOT NULL,
	step     BIGINT NOT NULL,
	value    DOUBLE PRECISION NOT NULL,
	is_nan   SMALLINT NOT NULL,
	PRIMARY KEY (run_uuid, key, ts, step, value, is_nan)
);
INSERT INTO experiments (experiment_id, name, artifact_location, lifecycle_stage, creation_time, last_update_time)
VALUES (0, 'Default', 'mlflow-artifacts:/0', 'active',
	(EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT, (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT);
`},
	}
}
