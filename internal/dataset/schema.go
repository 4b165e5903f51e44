package dataset

import "github.com/mlcycle/mlcycle/internal/store"

// Migrations returns the dataset tables. Run them after audit.Migrations.
//
// Layout notes:
//   - Bytes live in the blob store under cas/<hh>/<hash>; dataset_chunks is
//     the index of what is stored there. A row exists only after its object
//     was written and its hash verified, so "is this chunk stored?" is one
//     indexed query on either engine, however slow the blob store is.
//   - dataset_version_chunks says which chunks (including the version's
//     manifest object) each version needs. Garbage collection deletes the
//     chunks no live version needs; it never reads manifests. Rows hold
//     integer ids, not hashes, to keep this table (versions x chunks) small.
//   - A removed version keeps its row (deleted = 1) so its number is never
//     handed out again: the next version is MAX(version) + 1 over all rows.
//   - dataset_cas_state is one row: the garbage collector's lease and a
//     counter of collections, which adds compare to notice a collection that
//     ran while they were uploading (see cas.go).
//   - Small chunks written by an add on a local-folder store are kept in
//     pack files (cas/packs/<name>, see pack.go) instead of one file each:
//     their rows say which pack (pack) and where in it (pack_offset). A row
//     with an empty pack is an object of its own under cas/<hh>/<hash>.
//   - Booleans are SMALLINT 0/1 so the SQL is the same on both engines.
func Migrations() []store.Migration {
	return []store.Migration{
		{ID: "dataset/0001_datasets", SQL: `
CREATE TABLE datasets (
	id         {{id}},
	name       TEXT NOT NULL UNIQUE,
	created_at BIGINT NOT NULL,
	created_by TEXT NOT NULL
);
CREATE TABLE dataset_versions (
	id            {{id}},
	dataset_id    BIGINT NOT NULL REFERENCES datasets (id),
	version       BIGINT NOT NULL,
	digest        TEXT NOT NULL,
	manifest_hash TEXT NOT NULL,
	message       TEXT NOT NULL,
	created_at    BIGINT NOT NULL,
	created_by    TEXT NOT NULL,
	file_count    BIGINT NOT NULL,
	total_bytes   BIGINT NOT NULL,
	tables        TEXT NOT NULL,
	deleted       SMALLINT NOT NULL,
	deleted_at    BIGINT NOT NULL,
	UNIQUE (dataset_id, version),
	CHECK (deleted IN (0, 1))
);
CREATE INDEX dataset_versions_digest ON dataset_versions (digest);
CREATE TABLE dataset_tags (
	dataset_id BIGINT NOT NULL REFERENCES datasets (id),
	tag        TEXT NOT NULL,
	version_id BIGINT NOT NULL REFERENCES dataset_versions (id),
	created_at BIGINT NOT NULL,
	PRIMARY KEY (dataset_id, tag)
);
CREATE INDEX dataset_tags_version ON dataset_tags (version_id);
CREATE TABLE dataset_chunks (
	id         {{id}},
	hash       TEXT NOT NULL UNIQUE,
	size       BIGINT NOT NULL,
	created_at BIGINT NOT NULL,
	touched_at BIGINT NOT NULL
);
CREATE INDEX dataset_chunks_touched ON dataset_chunks (touched_at);
CREATE TABLE dataset_version_chunks (
	version_id BIGINT NOT NULL REFERENCES dataset_versions (id),
	chunk_id   BIGINT NOT NULL REFERENCES dataset_chunks (id),
	PRIMARY KEY (version_id, chunk_id)
);
CREATE INDEX dataset_version_chunks_chunk ON dataset_version_chunks (chunk_id);
CREATE TABLE dataset_run_links (
	version_id BIGINT NOT NULL REFERENCES dataset_versions (id),
	run_id     TEXT NOT NULL,
	context    TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	PRIMARY KEY (version_id, run_id, context)
);
CREATE INDEX dataset_run_links_run ON dataset_run_links (run_id);
CREATE TABLE dataset_cas_state (
	id           INTEGER PRIMARY KEY,
	gc_epoch     BIGINT NOT NULL,
	lease_holder TEXT NOT NULL,
	lease_until  BIGINT NOT NULL,
	CHECK (id = 1)
);
INSERT INTO dataset_cas_state (id, gc_epoch, lease_holder, lease_until) VALUES (1, 0, '', 0);
`},
		{ID: "dataset/0002_packs", SQL: `
ALTER TABLE dataset_chunks ADD COLUMN pack TEXT NOT NULL DEFAULT '';
ALTER TABLE dataset_chunks ADD COLUMN pack_offset BIGINT NOT NULL DEFAULT 0;
`},
	}
}
