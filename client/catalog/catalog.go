// Package catalog gives Go programs the local dataset catalog that
// `mlcycle data` works on: record versions of local files, read them back,
// and push them to (or pull them from) a server with a client.Client.
//
// A catalog is a data folder: its database and its chunk store, the same
// folder `mlcycle server --data-dir` and `mlcycle data --data-dir` use. By
// default it is the CLI's own local catalog (mlcycle/local under the user
// cache folder), so versions a program adds are seen by `mlcycle data push
// --server` and the other way round. Answers use the client package's
// types, the same a server gives.
//
// Several processes may have the same catalog open (the CLI, a program, a
// server on that data folder): their writes to the database take turns.
package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"time"

	"github.com/mlcycle/mlcycle/client"
	"github.com/mlcycle/mlcycle/internal/actor"
	"github.com/mlcycle/mlcycle/internal/app"
	"github.com/mlcycle/mlcycle/internal/dataset"
	"github.com/mlcycle/mlcycle/internal/dataset/validate"
	"github.com/mlcycle/mlcycle/internal/frame"
	"github.com/mlcycle/mlcycle/internal/httpapi"
)

// Options say which catalog to open.
type Options struct {
	// Dir is the data folder, created if missing. Empty means the CLI's
	// local catalog, mlcycle/local under os.UserCacheDir.
	Dir string
	// DB and Artifacts, when set, replace the database (sqlite:// or
	// postgres:// URL) and the chunk store (file:// or s3:// URL) of Dir,
	// as `mlcycle server --db` and `--artifacts` do.
	DB, Artifacts string
	// User is the name versions are recorded by; empty means
	// "local:<operating-system user>", as the CLI records.
	User string
	// StatePath is the state cache that lets an add skip files whose
	// size, mtime and inode are unchanged (a SQLite file). Empty means the
	// one the CLI uses, mlcycle/state.db under os.UserCacheDir.
	StatePath string
}

// Catalog is an open local dataset catalog. Its methods may be called from
// several goroutines. Close it when done.
type Catalog struct {
	local    *app.Local
	svc      *dataset.Service
	closeSvc func() error
	who      actor.Actor
}

// Open opens (creating and migrating, if new) the catalog opts name.
func Open(ctx context.Context, opts Options) (*Catalog, error) {
	dir := opts.Dir
	if dir == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			return nil, fmt.Errorf("finding the user cache folder for the local dataset catalog (or set Options.Dir): %w", err)
		}
		dir = filepath.Join(cache, "mlcycle", "local")
	}
	if opts.DB == "" || opts.Artifacts == "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("creating the catalog folder: %w", err)
		}
	}
	l, err := app.OpenLocal(ctx, app.Config{DataDir: dir, DB: opts.DB, Artifacts: opts.Artifacts})
	if err != nil {
		return nil, err
	}
	svc, closeSvc, err := l.OpenDatasets(ctx, dataset.Options{
		Profile:   dataset.TableProfiler(frame.Options{}),
		StatePath: opts.StatePath,
	})
	if err != nil {
		l.Close()
		return nil, err
	}
	name := opts.User
	if name == "" {
		name = "local"
		if u, err := user.Current(); err == nil {
			name = "local:" + u.Username
		}
	}
	host, _ := os.Hostname()
	return &Catalog{local: l, svc: svc, closeSvc: closeSvc,
		who: actor.Actor{Name: name, Role: "admin", ClientAddr: "catalog@" + host}}, nil
}

// Close releases the catalog.
func (c *Catalog) Close() error {
	return errors.Join(c.closeSvc(), c.local.Close())
}

// as is ctx acting as the catalog's user: the audit log and created_by
// name them.
func (c *Catalog) as(ctx context.Context) context.Context { return actor.With(ctx, c.who) }

// AddOptions tune Add.
type AddOptions struct {
	// Message describes the version.
	Message string
	// BaseDir is the folder dataset paths are relative to; every file must
	// be inside it. Empty means the folder itself when paths is one
	// folder, else the current directory, or, when a path lies outside
	// it, the deepest folder holding every path.
	BaseDir string
	// RulesFile, when set, is a validation rules file (YAML, see
	// docs/datasets-validation.md) that the table files must pass: when
	// one fails, Add returns a *ValidationError and records nothing.
	RulesFile string
	// NoProfile skips profiling CSV, TSV, JSON Lines and Parquet files.
	NoProfile bool
	// Progress, when set, is called about every 100 ms with the work done
	// and the total (table files count twice: hashing and profiling).
	// Calls never overlap.
	Progress func(done, total int64)
}

// AddStats tells what an add did.
type AddStats struct {
	Files         int64 // files in the version
	Bytes         int64 // their total size
	FilesHashed   int64 // files read and hashed; the others came from the state cache
	BytesHashed   int64
	CacheHits     int64 // files whose hash came from the state cache
	FilesProfiled int64 // table files profiled
	ChunksNew     int64 // chunks stored
	BytesNew      int64 // bytes stored
	ChunksReused  int64 // chunks found already stored
	Elapsed       time.Duration
}

// AddResult is the version an add recorded or, when the files had the
// same content as the newest version (Created false), that version.
type AddResult struct {
	Version client.DatasetVersion
	Created bool
	Stats   AddStats
}

// ValidationError is the error of an add whose tables failed the rules:
// Reports holds the text of each failing file's report, which names every
// failing expectation with its count and sample rows.
type ValidationError struct {
	Reports []string
}

func (e *ValidationError) Error() string { return (&validate.Failed{Reports: e.Reports}).Error() }

// Add records a new version of the dataset name (created if new) from
// files, folders and glob patterns. It is all or nothing: bad input (an
// illegal name, a path outside BaseDir, an unreadable file or malformed
// table, failed validation) or a cancelled ctx records no version.
func (c *Catalog) Add(ctx context.Context, name string, paths []string, opts AddOptions) (AddResult, error) {
	in := dataset.AddInput{Name: name, Message: opts.Message, Paths: paths, BaseDir: opts.BaseDir,
		Progress: opts.Progress, NoProfile: opts.NoProfile}
	if opts.RulesFile != "" {
		rs, err := validate.Load(opts.RulesFile)
		if err != nil {
			return AddResult{}, err
		}
		in.Validate = func(ctx context.Context, files []dataset.LocalFile) error {
			vf := make([]validate.File, len(files))
			for i, f := range files {
				vf[i] = validate.File{Path: f.Path, Abs: f.AbsPath}
			}
			_, err := rs.CheckFiles(ctx, vf)
			var failed *validate.Failed
			if errors.As(err, &failed) {
				return &ValidationError{Reports: failed.Reports}
			}
			return err
		}
	}
	res, err := c.svc.Add(c.as(ctx), in)
	if err != nil {
		return AddResult{}, err
	}
	v, err := versionOf(res.Version)
	if err != nil {
		return AddResult{}, err
	}
	return AddResult{Version: v, Created: res.Created, Stats: AddStats(res.Stats)}, nil
}

// StatusOptions tune Status.
type StatusOptions struct {
	// Against names the version to compare with (name@3, name@tag, or
	// another dataset's); empty means the newest version of the name.
	Against string
	// BaseDir is the folder dataset paths are relative to, as for Add.
	BaseDir string
	// Progress, when set, is called about every 100 ms with the bytes
	// hashed and the total. Calls never overlap.
	Progress func(done, total int64)
}

// StatusReport tells how local files differ from a version.
type StatusReport struct {
	// Against is the version compared with (name@3); empty when the
	// dataset has no version yet, and every file is then added.
	Against   string
	Added     []string
	Removed   []string
	Changed   []client.DatasetFileChange // Table is nil
	Unchanged int
	Stats     AddStats // files read and hashed, or taken from the state cache
}

// Clean reports whether the files have the content of Against.
func (r StatusReport) Clean() bool {
	return r.Against != "" && len(r.Added)+len(r.Removed)+len(r.Changed) == 0
}

// Status compares the files an Add of paths to name would record with a
// version, as `mlcycle data status` does: files are hashed like Add hashes
// them (those the state cache knows unchanged are not read), but nothing
// is stored or recorded.
func (c *Catalog) Status(ctx context.Context, name string, paths []string, opts StatusOptions) (StatusReport, error) {
	in := dataset.AddInput{Name: name, Paths: paths, BaseDir: opts.BaseDir, Progress: opts.Progress}
	r, err := c.svc.Status(c.as(ctx), in, opts.Against)
	if err != nil {
		return StatusReport{}, err
	}
	out := StatusReport{Against: r.Against, Added: r.Added, Removed: r.Removed, Unchanged: r.Unchanged, Stats: AddStats(r.Stats)}
	for _, ch := range r.Changed {
		out.Changed = append(out.Changed, client.DatasetFileChange{Path: ch.Path, SizeFrom: ch.SizeFrom, SizeTo: ch.SizeTo})
	}
	return out, nil
}

// Datasets lists the catalog's datasets.
func (c *Catalog) Datasets(ctx context.Context) ([]client.DatasetSummary, error) {
	ds, err := c.svc.List(c.as(ctx))
	if err != nil {
		return nil, err
	}
	out := make([]client.DatasetSummary, len(ds))
	for i, d := range ds {
		if err := convert(httpapi.DatasetJSONOf(d), &out[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Versions lists the live versions of the dataset name, newest first.
func (c *Catalog) Versions(ctx context.Context, name string) ([]client.DatasetVersion, error) {
	vs, err := c.svc.Versions(c.as(ctx), name)
	if err != nil {
		return nil, err
	}
	out := make([]client.DatasetVersion, len(vs))
	for i, v := range vs {
		if out[i], err = versionOf(v); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Show returns the version ref names (name@3, name@tag, name@latest or
// name) with its manifest and the runs that used it.
func (c *Catalog) Show(ctx context.Context, ref string) (client.DatasetVersionDetail, error) {
	d, err := c.svc.Show(c.as(ctx), ref)
	if err != nil {
		return client.DatasetVersionDetail{}, err
	}
	var out client.DatasetVersionDetail
	if err := convert(httpapi.VersionDetailJSONOf(d), &out); err != nil {
		return client.DatasetVersionDetail{}, err
	}
	return out, nil
}

// Tag sets (or moves) the tag on the version ref names, so name@tag
// resolves to it. Tags are names: "latest" and numbers are refused.
func (c *Catalog) Tag(ctx context.Context, ref, tag string) (client.DatasetVersion, error) {
	v, err := c.svc.SetTag(c.as(ctx), ref, tag)
	if err != nil {
		return client.DatasetVersion{}, err
	}
	return versionOf(v)
}

// Untag removes the tag from the dataset name.
func (c *Catalog) Untag(ctx context.Context, name, tag string) error {
	return c.svc.DeleteTag(c.as(ctx), name, tag)
}

// Remove removes the version ref names (name@3 or name@tag): it no longer
// resolves, its number is never reused, and its content goes at the next
// gc unless another version uses it. A version that runs used is refused
// unless opts.Force.
func (c *Catalog) Remove(ctx context.Context, ref string, opts client.RemoveOptions) (client.DatasetVersion, error) {
	v, err := c.svc.Remove(c.as(ctx), ref, dataset.RemoveOptions{Force: opts.Force})
	if err != nil {
		return client.DatasetVersion{}, err
	}
	return versionOf(v)
}

// Diff compares version b with version a: files added, removed and
// changed, and for changed tables the schema changes and per-column
// statistics with a drift score, as `mlcycle data diff` shows them.
func (c *Catalog) Diff(ctx context.Context, a, b string) (client.DatasetDiff, error) {
	ctx = c.as(ctx)
	from, err := c.svc.Show(ctx, a)
	if err != nil {
		return client.DatasetDiff{}, err
	}
	to, err := c.svc.Show(ctx, b)
	if err != nil {
		return client.DatasetDiff{}, err
	}
	var out client.DatasetDiff
	if err := convert(httpapi.DiffVersions(from, to), &out); err != nil {
		return client.DatasetDiff{}, err
	}
	return out, nil
}

// OpenFile streams the file at path (a dataset path such as
// "data/train.csv") of the version ref names, checking every chunk
// against its hash before returning any of its bytes: a damaged store
// gives an error, never wrong bytes.
func (c *Catalog) OpenFile(ctx context.Context, ref, path string) (*client.DatasetFile, error) {
	v, fr, err := c.svc.OpenFile(c.as(ctx), ref, path)
	if err != nil {
		return nil, err
	}
	f := fr.File()
	return &client.DatasetFile{ReadCloser: io.NopCloser(fr), Ref: v.Ref(), Hash: f.Hash, Size: f.Size}, nil
}

// GC deletes the stored content no live version needs, once it was last
// used longer ago than grace (zero: one hour), so adds in progress keep
// what they stored. With dryRun it reports and deletes nothing.
func (c *Catalog) GC(ctx context.Context, dryRun bool, grace time.Duration) (client.DatasetGCReport, error) {
	r, err := c.svc.GC(c.as(ctx), dataset.GCOptions{DryRun: dryRun, GracePeriod: grace})
	if err != nil {
		return client.DatasetGCReport{}, err
	}
	return client.DatasetGCReport{Chunks: r.Chunks, Bytes: r.Bytes, Orphans: r.Orphans, DryRun: r.DryRun,
		Young: r.Young, YoungBytes: r.YoungBytes, GraceSeconds: int64(r.Grace / time.Second),
		Packs: r.Packs, Repacked: r.Repacked, KeptInPacks: r.KeptInPacks}, nil
}

// Verify reads back every stored chunk of the versions refs names (all
// live versions when none) and checks each against its hash, writing
// nothing. Damage is in the report, not an error.
func (c *Catalog) Verify(ctx context.Context, refs ...string) (client.DatasetVerifyReport, error) {
	r, err := c.svc.Verify(c.as(ctx), refs, nil)
	if err != nil {
		return client.DatasetVerifyReport{}, err
	}
	out := client.DatasetVerifyReport{Versions: r.Versions, Chunks: r.Chunks, Bytes: r.Bytes, Damaged: []client.DamagedObject{}}
	for _, d := range r.Damaged {
		out.Damaged = append(out.Damaged, client.DamagedObject(d))
	}
	return out, nil
}

// Get writes the files of the version ref names into dir, created if
// missing, verifying every chunk against its hash; a damaged chunk fails
// the call and names the file. Files already there with the version's
// content are left as they are.
func (c *Catalog) Get(ctx context.Context, ref, dir string, opts client.GetDatasetOptions) (client.GetDatasetResult, error) {
	ctx = c.as(ctx)
	v, err := c.svc.Resolve(ctx, ref)
	if err != nil {
		return client.GetDatasetResult{}, err
	}
	st, err := c.svc.Get(ctx, v.Ref(), dir, dataset.GetOptions{Paths: opts.Paths, Progress: opts.Progress})
	if err != nil {
		return client.GetDatasetResult{}, err
	}
	cv, err := versionOf(v)
	if err != nil {
		return client.GetDatasetResult{}, err
	}
	return client.GetDatasetResult{Version: cv, Files: st.Files, Bytes: st.Bytes,
		Unchanged: st.Unchanged, UnchangedBytes: st.UnchangedBytes}, nil
}

// Push copies the version ref to the server remote talks to: only the
// chunks it lacks travel (several at once); re-running an interrupted push
// sends only what is still missing. The result's Version is the server's.
func (c *Catalog) Push(ctx context.Context, remote *client.Client, ref string, opts client.TransferOptions) (client.TransferResult, error) {
	return remote.Push(c.as(ctx), c.svc, ref, opts)
}

// Pull copies the version ref from the server remote talks to into the
// catalog, downloading only missing chunks and verifying each. The
// result's Version is the catalog's.
func (c *Catalog) Pull(ctx context.Context, remote *client.Client, ref string, opts client.TransferOptions) (client.TransferResult, error) {
	return remote.Pull(c.as(ctx), c.svc, ref, opts)
}

// versionOf converts a version to the type a server answers with.
func versionOf(v dataset.Version) (client.DatasetVersion, error) {
	var out client.DatasetVersion
	err := convert(httpapi.VersionJSONOf(v), &out)
	return out, err
}

// convert copies a value into its client twin through its JSON form, the
// form a server answers with.
func convert(in, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("encoding %T: %w", in, err)
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("decoding %T: %w", out, err)
	}
	return nil
}
