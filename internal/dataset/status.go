package dataset

import (
	"context"
	"fmt"
	"time"

	"github.com/mlcycle/mlcycle/internal/errs"
)

// StatusReport compares local files with a version: what adding them
// would change.
type StatusReport struct {
	// Against is the version compared with (name@3); empty when the
	// dataset has no version yet, and every file is then added.
	Against   string
	Added     []string     // paths not in Against
	Removed   []string     // paths of Against not among the files
	Changed   []FileChange // paths in both whose content differs
	Unchanged int
	Stats     AddStats // files read and hashed, or taken from the state cache
}

// FileChange is a path whose content differs between two sides.
type FileChange struct {
	Path     string
	SizeFrom int64
	SizeTo   int64
}

// Clean reports whether the files have the content of Against.
func (r StatusReport) Clean() bool {
	return r.Against != "" && len(r.Added)+len(r.Removed)+len(r.Changed) == 0
}

// Status compares the files an Add of in would record with the version
// against names (empty: the newest version of in.Name, if it has one),
// reading and hashing them as Add does but storing and recording nothing
// (see StatusOf).
func (s *Service) Status(ctx context.Context, in AddInput, against string) (StatusReport, error) {
	if against == "" {
		against = in.Name
	}
	v, err := s.Resolve(ctx, against)
	if err != nil {
		if errs.Is(err, errs.NotFound) && against == in.Name {
			return s.StatusOf(ctx, in, "", Manifest{}) // no version yet
		}
		return StatusReport{}, err
	}
	old, err := s.manifest(ctx, v)
	if err != nil {
		return StatusReport{}, err
	}
	return s.StatusOf(ctx, in, v.Ref(), old)
}

// StatusOf compares the files an Add of in would record with the manifest
// old of the version ref (from this service or a server; empty ref: no
// version). Files matching the state cache are not read; the others are
// hashed, their chunks neither stored nor registered, and their hashes
// kept in the state cache. Profiling and validation do not run.
func (s *Service) StatusOf(ctx context.Context, in AddInput, ref string, old Manifest) (StatusReport, error) {
	started := time.Now()
	in.NoProfile, in.Validate = true, nil
	a, err := s.newAdder(ctx, in)
	if err != nil {
		return StatusReport{}, err
	}
	m, err := a.hashOnly(ctx)
	if err != nil {
		return StatusReport{}, err
	}
	rep := StatusReport{Against: ref, Stats: a.finishStats(a.hits)}
	rep.Stats.Elapsed = time.Since(started)

	before := make(map[string]FileEntry, len(old.Files))
	for _, f := range old.Files {
		before[f.Path] = f
	}
	for _, f := range m.Files {
		o, ok := before[f.Path]
		switch {
		case !ok:
			rep.Added = append(rep.Added, f.Path)
		case o.Hash != f.Hash || o.Size != f.Size:
			rep.Changed = append(rep.Changed, FileChange{Path: f.Path, SizeFrom: o.Size, SizeTo: f.Size})
		default:
			rep.Unchanged++
		}
		delete(before, f.Path)
	}
	for _, f := range old.Files { // in path order
		if _, gone := before[f.Path]; gone {
			rep.Removed = append(rep.Removed, f.Path)
		}
	}
	return rep, nil
}

// hashOnly hashes the files that the state cache does not know, storing
// no chunk, and returns the manifest an add would record (without
// profiles). New hashes go to the state cache: a later add of the same
// files reads them again only if their chunks are not stored.
func (a *adder) hashOnly(ctx context.Context) (Manifest, error) {
	a.entries = make([]FileEntry, len(a.files))
	a.states = make([]*stateEntry, len(a.files))
	var tasks []addTask
	for i, f := range a.files {
		a.stats.Files++
		a.stats.Bytes += f.st.size
		if e := a.cached[i]; e != nil {
			a.entries[i] = FileEntry{Path: f.rel, Size: e.st.size, Hash: e.hash, Chunks: e.chunks}
			a.hits++
			a.hitSize += e.st.size
			continue
		}
		tasks = append(tasks, addTask{i: i, hash: true})
	}
	a.p = newHashPipeline(a.s, nil, a.s.opts.Workers)
	a.p.hashOnly = true
	a.saver = a.startStateSaver(ctx, len(tasks))
	err := a.process(ctx, tasks)
	a.stopStateSaver()
	a.saveState(context.WithoutCancel(ctx))
	if err != nil {
		return Manifest{}, err
	}
	m := Manifest{Format: ManifestFormat, Files: a.entries}.Normalize()
	if err := m.Validate(); err != nil {
		return Manifest{}, fmt.Errorf("building the manifest: %w", err)
	}
	return m, nil
}
