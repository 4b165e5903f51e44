package registry

import "github.com/mlcycle/mlcycle/internal/store"

// Migrations returns the registry tables. Run them after audit.Migrations.
//
// Layout notes:
//   - Renaming a model changes registered_models.name; ON UPDATE CASCADE
//     carries the new name to versions, and from versions to their tags and
//     aliases, on both engines.
//   - A deleted version keeps its row (deleted = 1), as in MLflow, so that
//     its number is never handed out again: the next version is always
//     MAX(version) + 1 over all rows of the model.
//   - Aliases reference their version, so an alias can never point at a
//     version that does not exist.
//   - Booleans are SMALLINT 0/1 so the SQL is the same on both engines.
func Migrations() []store.Migration {
	return []store.Migration{
		{ID: "registry/0001_models_versions", SQL: `
CREATE TABLE registered_models (
	name              TEXT PRIMARY KEY,
	description       TEXT NOT NULL,
	creation_time     BIGINT NOT NULL,
	last_updated_time BIGINT NOT NULL
);
CREATE INDEX registered_models_updated ON registered_models (last_updated_time, name);
CREATE TABLE registered_model_tags (
	name  TEXT NOT NULL REFERENCES registered_models (name) ON UPDATE CASCADE ON DELETE CASCADE,
	key   TEXT NOT NULL,
	value TEXT NOT NULL,
	PRIMARY KEY (name, key)
);
CREATE INDEX registered_model_tags_key ON registered_model_tags (key, substr(value, 1, 200));
CREATE TABLE model_versions (
	name              TEXT NOT NULL REFERENCES registered_models (name) ON UPDATE CASCADE ON DELETE CASCADE,
	version           BIGINT NOT NULL,
	creation_time     BIGINT NOT NULL,
	last_updated_time BIGINT NOT NULL,
	description       TEXT NOT NULL,
	user_id           TEXT NOT NULL,
	current_stage     TEXT NOT NULL,
	source            TEXT NOT NULL,
	run_id            TEXT NOT NULL,
	run_link          TEXT NOT NULL,
	status            TEXT NOT NULL,
	status_message    TEXT NOT NULL,
	storage_location  TEXT NOT NULL,
	model_id          TEXT NOT NULL,
	deleted           SMALLINT NOT NULL,
	PRIMARY KEY (name, version),
	CHECK (current_stage IN ('None', 'Staging', 'Production', 'Archived')),
	CHECK (status IN ('PENDING_REGISTRATION', 'FAILED_REGISTRATION', 'READY')),
	CHECK (deleted IN (0, 1))
);
CREATE INDEX model_versions_stage ON model_versions (name, current_stage, version);
CREATE INDEX model_versions_run ON model_versions (run_id);
CREATE INDEX model_versions_model_id ON model_versions (model_id);
CREATE INDEX model_versions_updated ON model_versions (last_updated_time);
CREATE TABLE model_version_tags (
	name    TEXT NOT NULL,
	version BIGINT NOT NULL,
	key     TEXT NOT NULL,
	value   TEXT NOT NULL,
	PRIMARY KEY (name, version, key),
	FOREIGN KEY (name, version) REFERENCES model_versions (name, version) ON UPDATE CASCADE ON DELETE CASCADE
);
CREATE INDEX model_version_tags_key ON model_version_tags (key, substr(value, 1, 200));
CREATE TABLE registered_model_aliases (
	name    TEXT NOT NULL,
	alias   TEXT NOT NULL,
	version BIGINT NOT NULL,
	PRIMARY KEY (name, alias),
	FOREIGN KEY (name, version) REFERENCES model_versions (name, version) ON UPDATE CASCADE ON DELETE CASCADE
);
CREATE INDEX registered_model_aliases_version ON registered_model_aliases (name, version);
`},
	}
}
