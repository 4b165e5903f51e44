package dataset

import (
	"context"
	"fmt"
	"strings"

	"github.com/mlcycle/mlcycle/internal/errs"
	"github.com/mlcycle/mlcycle/internal/store"
)

// Lineage: which runs used which dataset versions. Links are facts a run
// records about itself (like its inputs), so they are not audited.

// Limits of lineage fields.
const (
	MaxRunIDLen   = 256
	MaxContextLen = 256
	// maxDigestLinks bounds the versions one digest links (the same content
	// recorded in many datasets).
	maxDigestLinks = 100
)

// RunLink is one use of a dataset version by a run.
type RunLink struct {
	Dataset   string
	Version   int64
	Digest    string
	RunID     string
	Context   string // what the run used it for, e.g. "training", "eval"
	CreatedAt int64  // Unix milliseconds
	Deleted   bool   // the version has been removed since
}

// LinkInput links a run to a version named by Ref, or to every live
// version whose digest is Digest.
type LinkInput struct {
	Ref     string
	Digest  string
	RunID   string
	Context string
}

// LinkRun records that a run used a version. Linking the same version, run
// and context again changes nothing. It returns the links made.
func (s *Service) LinkRun(ctx context.Context, in LinkInput) ([]RunLink, error) {
	if in.RunID == "" {
		return nil, errs.E(errs.Invalid, "run_id is empty")
	}
	if len(in.RunID) > MaxRunIDLen {
		return nil, errs.E(errs.Invalid, "run_id is longer than %d characters", MaxRunIDLen)
	}
	if len(in.Context) > MaxContextLen {
		return nil, errs.E(errs.Invalid, "context is longer than %d characters", MaxContextLen)
	}
	if err := checkText("run_id", in.RunID); err != nil {
		return nil, err
	}
	if err := checkText("context", in.Context); err != nil {
		return nil, err
	}
	if (in.Ref == "") == (in.Digest == "") {
		return nil, errs.E(errs.Invalid, "name either a dataset version (ref) or a digest")
	}
	var (
		ref    Ref
		digest string
		err    error
	)
	if in.Ref != "" {
		if ref, err = ParseRef(in.Ref); err != nil {
			return nil, err
		}
	} else if digest = normDigest(in.Digest); digest == "" {
		return nil, errs.E(errs.Invalid, "digest %q is not a dataset version digest (%d hex characters)", clip(in.Digest), DigestLen)
	}
	var out []RunLink
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		out = nil
		type target struct {
			id int64
			v  Version
		}
		var targets []target
		if in.Ref != "" {
			id, v, err := resolve(ctx, tx, ref)
			if err != nil {
				return err
			}
			targets = append(targets, target{id, v})
		} else {
			rows, err := tx.Query(ctx, `SELECT `+versionCols+` FROM dataset_versions v JOIN datasets d ON d.id = v.dataset_id
				WHERE v.digest = ? AND v.deleted = 0 ORDER BY d.name, v.version LIMIT ?`, digest, maxDigestLinks)
			if err != nil {
				return fmt.Errorf("finding versions by digest: %w", err)
			}
			for rows.Next() {
				id, v, err := scanVersion(rows)
				if err != nil {
					rows.Close()
					return fmt.Errorf("finding versions by digest: %w", err)
				}
				targets = append(targets, target{id, v})
			}
			err = rows.Err()
			rows.Close()
			if err != nil {
				return fmt.Errorf("finding versions by digest: %w", err)
			}
			if len(targets) == 0 {
				return errs.E(errs.NotFound, "no dataset version has digest %s", digest)
			}
		}
		now := s.nowMS()
		for _, t := range targets {
			if _, err := tx.Exec(ctx, `INSERT INTO dataset_run_links (version_id, run_id, context, created_at) VALUES (?, ?, ?, ?)
				ON CONFLICT (version_id, run_id, context) DO NOTHING`, t.id, in.RunID, in.Context, now); err != nil {
				return fmt.Errorf("linking run %s to %s: %w", in.RunID, t.v.Ref(), err)
			}
			out = append(out, RunLink{Dataset: t.v.Dataset, Version: t.v.Version, Digest: t.v.Digest,
				RunID: in.RunID, Context: in.Context, CreatedAt: now})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// LinkDatasetInput links a run to the dataset version an input it logged
// refers to: by source mlcycle://<name>@<version|tag|latest>, else by a
// digest equal to a version's digest. An input that refers to no version
// (another source, an unknown dataset, a foreign digest) is ignored: it is
// not an error. The tracking service calls this for every logged input.
func (s *Service) LinkDatasetInput(ctx context.Context, runID, source, digest, context string) error {
	if strings.HasPrefix(source, SourceScheme) {
		_, err := s.LinkRun(ctx, LinkInput{Ref: source, RunID: runID, Context: context})
		if err == nil {
			return nil
		}
		if !errs.Is(err, errs.NotFound) && !errs.Is(err, errs.Invalid) {
			return err
		}
	}
	if d := normDigest(digest); d != "" {
		_, err := s.LinkRun(ctx, LinkInput{Digest: d, RunID: runID, Context: context})
		if err != nil && !errs.Is(err, errs.NotFound) && !errs.Is(err, errs.Invalid) {
			return err
		}
	}
	return nil
}

// normDigest returns the version digest d denotes (its DigestLen hex digits,
// or the full manifest-content hash they start), or "" if it cannot be one.
func normDigest(d string) string {
	d = strings.ToLower(d)
	if len(d) != DigestLen && len(d) != HashLen {
		return ""
	}
	for i := 0; i < len(d); i++ {
		if c := d[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return ""
		}
	}
	return d[:DigestLen]
}

// RunsOf returns the runs that used the version ref names, oldest link first.
func (s *Service) RunsOf(ctx context.Context, ref string) ([]RunLink, error) {
	v, err := s.Resolve(ctx, ref)
	if err != nil {
		return nil, err
	}
	return s.runsOfVersion(ctx, v)
}

func (s *Service) runsOfVersion(ctx context.Context, v Version) ([]RunLink, error) {
	return s.queryLinks(ctx, `SELECT d.name, v.version, v.digest, l.run_id, l.context, l.created_at, v.deleted
		FROM dataset_run_links l JOIN dataset_versions v ON v.id = l.version_id JOIN datasets d ON d.id = v.dataset_id
		WHERE d.name = ? AND v.version = ? ORDER BY l.created_at, l.run_id, l.context`, v.Dataset, v.Version)
}

// VersionsOfRun returns the dataset versions a run used, removed ones
// included (marked Deleted), by dataset name and version.
func (s *Service) VersionsOfRun(ctx context.Context, runID string) ([]RunLink, error) {
	return s.queryLinks(ctx, `SELECT d.name, v.version, v.digest, l.run_id, l.context, l.created_at, v.deleted
		FROM dataset_run_links l JOIN dataset_versions v ON v.id = l.version_id JOIN datasets d ON d.id = v.dataset_id
		WHERE l.run_id = ? ORDER BY d.name, v.version, l.context`, runID)
}

func (s *Service) queryLinks(ctx context.Context, q string, args ...any) ([]RunLink, error) {
	rows, err := s.db.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("reading run links: %w", err)
	}
	defer rows.Close()
	out := []RunLink{}
	for rows.Next() {
		var l RunLink
		var deleted int
		if err := rows.Scan(&l.Dataset, &l.Version, &l.Digest, &l.RunID, &l.Context, &l.CreatedAt, &deleted); err != nil {
			return nil, fmt.Errorf("reading run links: %w", err)
		}
		l.Deleted = deleted == 1
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading run links: %w", err)
	}
	return out, nil
}
