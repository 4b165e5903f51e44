package dataset

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/mlcycle/mlcycle/internal/actor"
	"github.com/mlcycle/mlcycle/internal/errs"
	"github.com/mlcycle/mlcycle/internal/store"
)

// RecordInput is a version to record from a manifest whose chunks are
// already stored (push: MissingChunks, PutChunk, then RecordVersion).
type RecordInput struct {
	Name     string
	Message  string
	Manifest Manifest
}

// RecordVersion records a version of the dataset Name (created if new) from
// a manifest. The manifest is normalised and validated, and every chunk it
// needs must already be stored: otherwise nothing is recorded and the error
// (errs.Invalid) counts the missing chunks and names the first. When the
// manifest's digest equals that of the dataset's newest live version, that
// version is returned and nothing new is recorded, so a repeated push is
// harmless.
func (s *Service) RecordVersion(ctx context.Context, in RecordInput) (Version, error) {
	if err := ValidateName(in.Name); err != nil {
		return Version{}, err
	}
	if err := checkMessage(in.Message); err != nil {
		return Version{}, err
	}
	m := in.Manifest.Normalize()
	if err := m.Validate(); err != nil {
		return Version{}, err
	}
	v, _, err := s.recordVersion(ctx, in.Name, m, in.Message)
	return v, err
}

// recordVersion stores the manifest object and records the version in one
// transaction, with its chunk references and audit event. It reports
// whether a new version was created (false: the newest one was the same).
func (s *Service) recordVersion(ctx context.Context, name string, m Manifest, message string) (Version, bool, error) {
	digest := m.Digest()
	if v, ok, err := s.latestIfDigest(ctx, name, digest); err != nil || ok {
		return v, false, err
	}
	body, mhash, err := m.encode()
	if err != nil {
		return Version{}, false, err
	}
	if err := s.storeObject(ctx, mhash, body); err != nil {
		return Version{}, false, err
	}
	needed := m.Chunks()
	hashes := make([]string, 0, len(needed)+1)
	for _, c := range needed {
		hashes = append(hashes, c.Hash)
	}
	hashes = append(hashes, mhash) // the manifest is kept like a chunk

	tablesJSON, tables := summarizeTables(m)
	v := Version{
		Dataset:      name,
		Digest:       digest,
		ManifestHash: mhash,
		Message:      message,
		CreatedBy:    actor.From(ctx).Name,
		FileCount:    int64(len(m.Files)),
		TotalBytes:   m.TotalBytes(),
		Tables:       tables,
		Tags:         []string{},
	}
	created := false
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		created = false
		st, err := readCASState(ctx, tx, true)
		if err != nil {
			return err
		}
		if st.leased(s.nowMS()) {
			return errGCRunning
		}
		ids, err := knownChunks(ctx, tx, hashes)
		if err != nil {
			return err
		}
		if len(ids) != len(hashes) {
			var first string
			for _, h := range hashes {
				if _, ok := ids[h]; !ok {
					first = h
					break
				}
			}
			return errs.E(errs.Invalid, "%d of the %d chunks of this version are not stored (first: %s); upload them first",
				len(hashes)-len(ids), len(hashes), first)
		}
		if err := lockDataset(ctx, tx, name); err != nil {
			return err
		}
		now := s.nowMS()
		dsID, isNew, err := ensureDataset(ctx, tx, name, v.CreatedBy, now)
		if err != nil {
			return err
		}
		if !isNew {
			latest, err := latestVersion(ctx, tx, dsID, name)
			if err == nil && latest.Digest == digest {
				v = latest
				return nil
			}
			if err != nil && !errs.Is(err, errs.NotFound) {
				return err
			}
		}
		if err := tx.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) + 1 FROM dataset_versions WHERE dataset_id = ?`,
			dsID).Scan(&v.Version); err != nil {
			return fmt.Errorf("numbering a version of %s: %w", name, err)
		}
		v.CreatedAt = now
		var vid int64
		if err := tx.QueryRow(ctx, `INSERT INTO dataset_versions (dataset_id, version, digest, manifest_hash, message,
			created_at, created_by, file_count, total_bytes, tables, deleted, deleted_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 0) RETURNING id`,
			dsID, v.Version, v.Digest, v.ManifestHash, v.Message, v.CreatedAt, v.CreatedBy, v.FileCount, v.TotalBytes,
			tablesJSON).Scan(&vid); err != nil {
			return fmt.Errorf("recording %s: %w", v.Ref(), err)
		}
		chunkIDs := make([]int64, 0, len(ids))
		for _, id := range ids {
			chunkIDs = append(chunkIDs, id)
		}
		slices.Sort(chunkIDs) // a stable lock order on PostgreSQL
		for start := 0; start < len(chunkIDs); start += batchSize {
			part := chunkIDs[start:min(start+batchSize, len(chunkIDs))]
			args := make([]any, 0, 2*len(part))
			for _, id := range part {
				args = append(args, vid, id)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO dataset_version_chunks (version_id, chunk_id) VALUES `+rowsOf(len(part), 2), args...); err != nil {
				return fmt.Errorf("recording the chunks of %s: %w", v.Ref(), err)
			}
		}
		if isNew {
			if err := s.event(ctx, tx, "dataset.create", resDataset, name, nil); err != nil {
				return err
			}
		}
		created = true
		return s.event(ctx, tx, "dataset_version.create", resVersion, v.Ref(), map[string]any{
			"digest": v.Digest, "files": v.FileCount, "bytes": v.TotalBytes, "manifest": v.ManifestHash,
		})
	})
	if err != nil {
		return Version{}, false, err
	}
	if !created { // the newest version already had this content
		_, v, err = resolve(ctx, s.db, Ref{Name: name, Version: v.Version})
	}
	return v, created, err
}

// storeObject writes a small object (a manifest) to the CAS and registers it.
func (s *Service) storeObject(ctx context.Context, hash string, body []byte) error {
	known, err := s.chunkKnown(ctx, hash)
	if err != nil {
		return err
	}
	epoch, err := s.gcEpoch(ctx)
	if err != nil {
		return err
	}
	if known {
		return s.registerChunks(ctx, nil, []string{hash}, epoch)
	}
	if _, err := s.putChunk(ctx, hash, body); err != nil {
		return fmt.Errorf("storing manifest: %w", err)
	}
	return s.registerStored(ctx, looseChunks([]Chunk{{Hash: hash, Size: int64(len(body))}}), nil, epoch)
}

// latestIfDigest returns the dataset's newest live version if its digest is
// digest.
func (s *Service) latestIfDigest(ctx context.Context, name, digest string) (Version, bool, error) {
	var dsID int64
	err := s.db.QueryRow(ctx, `SELECT id FROM datasets WHERE name = ?`, name).Scan(&dsID)
	if isNoRows(err) {
		return Version{}, false, nil
	}
	if err != nil {
		return Version{}, false, fmt.Errorf("reading dataset %s: %w", name, err)
	}
	v, err := latestVersion(ctx, s.db, dsID, name)
	if errs.Is(err, errs.NotFound) {
		return Version{}, false, nil
	}
	if err != nil || v.Digest != digest {
		return Version{}, false, err
	}
	_, v, err = resolve(ctx, s.db, Ref{Name: name, Version: v.Version}) // with its tags
	return v, err == nil, err
}

// lockDataset serialises changes to one dataset's versions and tags.
func lockDataset(ctx context.Context, tx *store.Tx, name string) error {
	return tx.Lock(ctx, "dataset:"+name)
}

// ensureDataset returns the dataset's id, creating it if needed.
func ensureDataset(ctx context.Context, tx *store.Tx, name, by string, now int64) (int64, bool, error) {
	var id int64
	err := tx.QueryRow(ctx, `SELECT id FROM datasets WHERE name = ?`, name).Scan(&id)
	if err == nil {
		return id, false, nil
	}
	if !isNoRows(err) {
		return 0, false, fmt.Errorf("reading dataset %s: %w", name, err)
	}
	if err := tx.QueryRow(ctx, `INSERT INTO datasets (name, created_at, created_by) VALUES (?, ?, ?) RETURNING id`,
		name, now, by).Scan(&id); err != nil {
		return 0, false, fmt.Errorf("creating dataset %s: %w", name, err)
	}
	return id, true, nil
}

const versionCols = `v.id, d.name, v.version, v.digest, v.manifest_hash, v.message, v.created_at, v.created_by,
	v.file_count, v.total_bytes, v.tables, v.deleted`

type scanner interface{ Scan(dest ...any) error }

func scanVersion(r scanner) (int64, Version, error) {
	var (
		id      int64
		v       Version
		tables  string
		deleted int
	)
	if err := r.Scan(&id, &v.Dataset, &v.Version, &v.Digest, &v.ManifestHash, &v.Message, &v.CreatedAt, &v.CreatedBy,
		&v.FileCount, &v.TotalBytes, &tables, &deleted); err != nil {
		return 0, Version{}, err
	}
	if tables != "" && tables != "null" {
		if err := json.Unmarshal([]byte(tables), &v.Tables); err != nil {
			return 0, Version{}, fmt.Errorf("decoding table summary of %s: %w", v.Ref(), err)
		}
	}
	v.Deleted = deleted == 1
	v.Tags = []string{}
	return id, v, nil
}

func latestVersion(ctx context.Context, q store.Querier, dsID int64, name string) (Version, error) {
	_, v, err := queryVersion(ctx, q, `SELECT `+versionCols+` FROM dataset_versions v JOIN datasets d ON d.id = v.dataset_id
		WHERE v.dataset_id = ? AND v.deleted = 0 ORDER BY v.version DESC LIMIT 1`, dsID)
	if isNoRows(err) {
		return Version{}, errs.E(errs.NotFound, "dataset %s has no versions", name)
	}
	return v, err
}

func queryVersion(ctx context.Context, q store.Querier, query string, args ...any) (int64, Version, error) {
	id, v, err := scanVersion(q.QueryRow(ctx, query, args...))
	if err != nil && !isNoRows(err) {
		return 0, Version{}, fmt.Errorf("reading dataset version: %w", err)
	}
	return id, v, err
}

// resolve finds the live version r names, with its row id and tags.
func resolve(ctx context.Context, q store.Querier, r Ref) (int64, Version, error) {
	var dsID int64
	err := q.QueryRow(ctx, `SELECT id FROM datasets WHERE name = ?`, r.Name).Scan(&dsID)
	if isNoRows(err) {
		return 0, Version{}, errs.E(errs.NotFound, "dataset %s not found", r.Name)
	}
	if err != nil {
		return 0, Version{}, fmt.Errorf("reading dataset %s: %w", r.Name, err)
	}
	var (
		id int64
		v  Version
	)
	switch {
	case r.Version > 0:
		id, v, err = queryVersion(ctx, q, `SELECT `+versionCols+` FROM dataset_versions v JOIN datasets d ON d.id = v.dataset_id
			WHERE v.dataset_id = ? AND v.version = ?`, dsID, r.Version)
		if isNoRows(err) {
			return 0, Version{}, errs.E(errs.NotFound, "dataset version %s not found", r)
		}
		if err == nil && v.Deleted {
			return 0, Version{}, errs.E(errs.NotFound, "dataset version %s was removed", r)
		}
	case r.Tag != "":
		id, v, err = queryVersion(ctx, q, `SELECT `+versionCols+` FROM dataset_tags t
			JOIN dataset_versions v ON v.id = t.version_id JOIN datasets d ON d.id = v.dataset_id
			WHERE t.dataset_id = ? AND t.tag = ?`, dsID, r.Tag)
		if isNoRows(err) {
			return 0, Version{}, errs.E(errs.NotFound, "dataset %s has no tag %q", r.Name, r.Tag)
		}
	default:
		id, v, err = queryVersion(ctx, q, `SELECT `+versionCols+` FROM dataset_versions v JOIN datasets d ON d.id = v.dataset_id
			WHERE v.dataset_id = ? AND v.deleted = 0 ORDER BY v.version DESC LIMIT 1`, dsID)
		if isNoRows(err) {
			return 0, Version{}, errs.E(errs.NotFound, "dataset %s has no versions", r.Name)
		}
	}
	if err != nil {
		return 0, Version{}, err
	}
	tags, err := tagsOf(ctx, q, []int64{id})
	if err != nil {
		return 0, Version{}, err
	}
	if t := tags[id]; t != nil {
		v.Tags = t
	}
	return id, v, nil
}

// tagsOf returns the tags of the given versions, sorted.
func tagsOf(ctx context.Context, q store.Querier, ids []int64) (map[int64][]string, error) {
	out := map[int64][]string{}
	for start := 0; start < len(ids); start += batchSize {
		part := ids[start:min(start+batchSize, len(ids))]
		args := make([]any, len(part))
		for i, id := range part {
			args[i] = id
		}
		rows, err := q.Query(ctx, `SELECT version_id, tag FROM dataset_tags WHERE version_id IN (`+placeholders(len(part))+`) ORDER BY tag`, args...)
		if err != nil {
			return nil, fmt.Errorf("reading dataset tags: %w", err)
		}
		for rows.Next() {
			var id int64
			var tag string
			if err := rows.Scan(&id, &tag); err != nil {
				rows.Close()
				return nil, fmt.Errorf("reading dataset tags: %w", err)
			}
			out[id] = append(out[id], tag)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("reading dataset tags: %w", err)
		}
	}
	return out, nil
}

// Resolve returns the live version ref names: "name", "name@latest",
// "name@3" or "name@tag" (optionally prefixed by mlcycle://).
func (s *Service) Resolve(ctx context.Context, ref string) (Version, error) {
	r, err := ParseRef(ref)
	if err != nil {
		return Version{}, err
	}
	_, v, err := resolve(ctx, s.db, r)
	return v, err
}

// Show returns the version ref names with its manifest (profiles included)
// and the runs linked to it.
func (s *Service) Show(ctx context.Context, ref string) (VersionDetail, error) {
	v, err := s.Resolve(ctx, ref)
	if err != nil {
		return VersionDetail{}, err
	}
	m, err := s.manifest(ctx, v)
	if err != nil {
		return VersionDetail{}, err
	}
	runs, err := s.runsOfVersion(ctx, v)
	if err != nil {
		return VersionDetail{}, err
	}
	return VersionDetail{Version: v, Manifest: m, Runs: runs}, nil
}

// manifest reads a version's manifest from the CAS, verifying its hash.
func (s *Service) manifest(ctx context.Context, v Version) (Manifest, error) {
	b, err := s.readObject(ctx, v.ManifestHash)
	if err != nil {
		return Manifest{}, fmt.Errorf("reading the manifest of %s: %w", v.Ref(), err)
	}
	m, err := decodeManifest(b)
	if err != nil {
		return Manifest{}, fmt.Errorf("reading the manifest of %s: %w", v.Ref(), err)
	}
	return m, nil
}

// List returns every dataset, by name.
func (s *Service) List(ctx context.Context) ([]Dataset, error) {
	rows, err := s.db.Query(ctx, `SELECT d.name, d.created_at, d.created_by,
		(SELECT COUNT(*) FROM dataset_versions v WHERE v.dataset_id = d.id AND v.deleted = 0),
		COALESCE((SELECT MAX(v.version) FROM dataset_versions v WHERE v.dataset_id = d.id AND v.deleted = 0), 0),
		COALESCE((SELECT MAX(v.created_at) FROM dataset_versions v WHERE v.dataset_id = d.id AND v.deleted = 0), 0)
		FROM datasets d ORDER BY d.name`)
	if err != nil {
		return nil, fmt.Errorf("listing datasets: %w", err)
	}
	defer rows.Close()
	out := []Dataset{}
	for rows.Next() {
		var d Dataset
		if err := rows.Scan(&d.Name, &d.CreatedAt, &d.CreatedBy, &d.Versions, &d.Latest, &d.UpdatedAt); err != nil {
			return nil, fmt.Errorf("listing datasets: %w", err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing datasets: %w", err)
	}
	return out, nil
}

// Versions returns the live versions of a dataset, newest first.
func (s *Service) Versions(ctx context.Context, name string) ([]Version, error) {
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	var dsID int64
	err := s.db.QueryRow(ctx, `SELECT id FROM datasets WHERE name = ?`, name).Scan(&dsID)
	if isNoRows(err) {
		return nil, errs.E(errs.NotFound, "dataset %s not found", name)
	}
	if err != nil {
		return nil, fmt.Errorf("reading dataset %s: %w", name, err)
	}
	rows, err := s.db.Query(ctx, `SELECT `+versionCols+` FROM dataset_versions v JOIN datasets d ON d.id = v.dataset_id
		WHERE v.dataset_id = ? AND v.deleted = 0 ORDER BY v.version DESC`, dsID)
	if err != nil {
		return nil, fmt.Errorf("listing versions of %s: %w", name, err)
	}
	defer rows.Close()
	out := []Version{}
	var ids []int64
	for rows.Next() {
		id, v, err := scanVersion(rows)
		if err != nil {
			return nil, fmt.Errorf("listing versions of %s: %w", name, err)
		}
		out = append(out, v)
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing versions of %s: %w", name, err)
	}
	rows.Close()
	tags, err := tagsOf(ctx, s.db, ids)
	if err != nil {
		return nil, err
	}
	for i, id := range ids {
		if t := tags[id]; t != nil {
			out[i].Tags = t
		}
	}
	return out, nil
}

// SetTag points tag at the version ref names (moving it if it exists).
func (s *Service) SetTag(ctx context.Context, ref, tag string) (Version, error) {
	r, err := ParseRef(ref)
	if err != nil {
		return Version{}, err
	}
	if err := ValidateTag(tag); err != nil {
		return Version{}, err
	}
	var v Version
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		if err := lockDataset(ctx, tx, r.Name); err != nil {
			return err
		}
		id, got, err := resolve(ctx, tx, r)
		if err != nil {
			return err
		}
		var dsID int64
		var prev sql.NullInt64
		if err := tx.QueryRow(ctx, `SELECT dataset_id FROM dataset_versions WHERE id = ?`, id).Scan(&dsID); err != nil {
			return fmt.Errorf("tagging %s: %w", got.Ref(), err)
		}
		err = tx.QueryRow(ctx, `SELECT v.version FROM dataset_tags t JOIN dataset_versions v ON v.id = t.version_id
			WHERE t.dataset_id = ? AND t.tag = ?`, dsID, tag).Scan(&prev)
		if err != nil && !isNoRows(err) {
			return fmt.Errorf("tagging %s: %w", got.Ref(), err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO dataset_tags (dataset_id, tag, version_id, created_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (dataset_id, tag) DO UPDATE SET version_id = excluded.version_id, created_at = excluded.created_at`,
			dsID, tag, id, s.nowMS()); err != nil {
			return fmt.Errorf("tagging %s: %w", got.Ref(), err)
		}
		detail := map[string]any{"tag": tag, "version": got.Version}
		if prev.Valid {
			detail["previous_version"] = prev.Int64
		}
		v = got
		if i, found := slices.BinarySearch(v.Tags, tag); !found {
			v.Tags = slices.Insert(v.Tags, i, tag)
		}
		return s.event(ctx, tx, "dataset_tag.set", resTag, r.Name+"@"+tag, detail)
	})
	if err != nil {
		return Version{}, err
	}
	return v, nil
}

// DeleteTag removes a tag of a dataset.
func (s *Service) DeleteTag(ctx context.Context, name, tag string) error {
	if err := ValidateName(name); err != nil {
		return err
	}
	if err := ValidateTag(tag); err != nil {
		return err
	}
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		if err := lockDataset(ctx, tx, name); err != nil {
			return err
		}
		var version int64
		err := tx.QueryRow(ctx, `SELECT v.version FROM dataset_tags t JOIN datasets d ON d.id = t.dataset_id
			JOIN dataset_versions v ON v.id = t.version_id WHERE d.name = ? AND t.tag = ?`, name, tag).Scan(&version)
		if isNoRows(err) {
			return errs.E(errs.NotFound, "dataset %s has no tag %q", name, tag)
		}
		if err != nil {
			return fmt.Errorf("deleting tag %s@%s: %w", name, tag, err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM dataset_tags WHERE tag = ? AND dataset_id = (SELECT id FROM datasets WHERE name = ?)`,
			tag, name); err != nil {
			return fmt.Errorf("deleting tag %s@%s: %w", name, tag, err)
		}
		return s.event(ctx, tx, "dataset_tag.delete", resTag, name+"@"+tag, map[string]any{"tag": tag, "version": version})
	})
}

// RemoveOptions tune Remove.
type RemoveOptions struct {
	// Force removes a version even though runs used it. Their lineage keeps
	// naming it, marked removed, but once gc has run its data is gone.
	Force bool
}

// Remove marks a version as removed: it no longer resolves and its tags go,
// but its number is never reused and its chunks stay until GC finds no live
// version needs them. ref must name a version explicitly (name@3, name@tag
// or name@latest), never a bare name. A version that runs used is kept
// (errs.State, naming a few of them) unless opts.Force is set: removing it
// would let gc delete the data those runs were trained on.
func (s *Service) Remove(ctx context.Context, ref string, opts RemoveOptions) (Version, error) {
	if !strings.Contains(strings.TrimPrefix(ref, SourceScheme), "@") {
		return Version{}, errs.E(errs.Invalid, "name the version to remove (%s@<version>); a bare name is refused", clip(ref))
	}
	r, err := ParseRef(ref)
	if err != nil {
		return Version{}, err
	}
	var v Version
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		if err := lockDataset(ctx, tx, r.Name); err != nil {
			return err
		}
		id, got, err := resolve(ctx, tx, r)
		if err != nil {
			return err
		}
		var used int
		if err := tx.QueryRow(ctx, `SELECT COUNT(DISTINCT run_id) FROM dataset_run_links WHERE version_id = ?`, id).Scan(&used); err != nil {
			return fmt.Errorf("checking the runs that used %s: %w", got.Ref(), err)
		}
		if used > 0 && !opts.Force {
			return usedByRuns(ctx, tx, id, got.Ref(), used)
		}
		now := s.nowMS()
		if _, err := tx.Exec(ctx, `UPDATE dataset_versions SET deleted = 1, deleted_at = ? WHERE id = ?`, now, id); err != nil {
			return fmt.Errorf("removing %s: %w", got.Ref(), err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM dataset_tags WHERE version_id = ?`, id); err != nil {
			return fmt.Errorf("removing the tags of %s: %w", got.Ref(), err)
		}
		got.Deleted = true
		v = got
		return s.event(ctx, tx, "dataset_version.delete", resVersion, got.Ref(), map[string]any{
			"digest": got.Digest, "tags": got.Tags, "runs": used,
		})
	})
	if err != nil {
		return Version{}, err
	}
	return v, nil
}

// usedByRuns is the errs.State error of removing a version that n runs used;
// it names up to three of them.
func usedByRuns(ctx context.Context, tx *store.Tx, versionID int64, ref string, n int) error {
	rows, err := tx.Query(ctx, `SELECT DISTINCT run_id FROM dataset_run_links WHERE version_id = ? ORDER BY run_id LIMIT 3`, versionID)
	if err != nil {
		return fmt.Errorf("listing the runs that used %s: %w", ref, err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return fmt.Errorf("listing the runs that used %s: %w", ref, err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("listing the runs that used %s: %w", ref, err)
	}
	list := strings.Join(ids, ", ")
	if n > len(ids) {
		list += fmt.Sprintf(" and %d more", n-len(ids))
	}
	runs, they := "runs", "they were"
	if n == 1 {
		runs, they = "run", "it was"
	}
	return errs.E(errs.State, "%s was used by %d %s (%s); removing it would let gc delete the data %s trained on. Remove it anyway with --force (API: force=true)", ref, n, runs, list, they)
}

// summarizeTables builds the version row's table summary from the profiles.
func summarizeTables(m Manifest) (string, []TableSummary) {
	var out []TableSummary
	for _, f := range m.Files {
		if len(f.Profile) == 0 || string(f.Profile) == "null" {
			continue
		}
		t := TableSummary{Path: f.Path}
		var top map[string]json.RawMessage
		if json.Unmarshal(f.Profile, &top) == nil {
			for _, k := range []string{"rows", "row_count"} {
				var n int64
				if raw, ok := top[k]; ok && json.Unmarshal(raw, &n) == nil {
					t.Rows = n
					break
				}
			}
			if raw, ok := top["columns"]; ok {
				var list []json.RawMessage
				var obj map[string]json.RawMessage
				if json.Unmarshal(raw, &list) == nil {
					t.Columns = len(list)
				} else if json.Unmarshal(raw, &obj) == nil {
					t.Columns = len(obj)
				}
			}
		}
		out = append(out, t)
	}
	if out == nil {
		return "[]", nil
	}
	b, _ := json.Marshal(out)
	return string(b), out
}

func isNoRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }
