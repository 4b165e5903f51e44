package dataset

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/mlcycle/mlcycle/internal/errs"
)

// AddInput describes an add.
type AddInput struct {
	Name    string
	Message string
	// Paths are files, folders and glob patterns, relative to the current
	// directory. A folder adds every file under it.
	Paths []string
	// BaseDir is the folder dataset paths are relative to; every file must
	// be inside it. Empty means the folder itself when Paths is one folder,
	// else the current directory, or, when a path lies outside it, the
	// deepest folder holding every path.
	BaseDir string
	// Validate, when set, checks the files before anything is recorded (it
	// runs while they are hashed); an error fails the add and is returned
	// as is.
	Validate func(ctx context.Context, files []LocalFile) error
	// Progress, when set, is called about every 100 ms and once at the end
	// with the bytes done and the total. Each file counts its size once for
	// hashing and, when the Service has a profiler, once more for profiling
	// (the two run side by side, and profiling a table is the slower; a
	// file that is not a table is profiled at once). Files from the state
	// cache count as done at once. Calls never overlap.
	Progress func(done, total int64)
	// NoProfile skips table profiling even when the Service has a profiler.
	NoProfile bool
}

// AddStats tells what an add did.
type AddStats struct {
	Files         int64 // files in the version
	Bytes         int64 // their total size
	FilesHashed   int64 // files read and hashed; the others came from the state cache
	BytesHashed   int64
	CacheHits     int64 // files whose hash came from the state cache
	FilesProfiled int64 // table files profiled (files the profiler found not to be tables are not counted)
	ChunksNew     int64 // chunks written to the blob store
	BytesNew      int64 // bytes written to the blob store (the manifest aside)
	ChunksReused  int64 // chunks found already stored
	Elapsed       time.Duration
}

// AddResult is the version an add recorded, or the newest version when the
// files were unchanged (Created false: nothing new was recorded).
type AddResult struct {
	Version Version
	Created bool
	Stats   AddStats
}

// Add records a new version of the dataset in.Name (created if new) from
// local files: it hashes and chunks them on all cores, stores the chunks not
// stored yet, optionally profiles and validates, and records the version
// with its audit event. Files whose size, mtime and inode match the state
// cache are not read at all. If the content equals the newest version's,
// nothing is recorded and that version is returned.
//
// Add is all or nothing: bad input (an illegal name, a path outside the
// base, an unreadable file, a file that changes while read, a table the
// profiler cannot read, failed validation) or a cancelled ctx records no
// version. Chunks stored before the failure stay registered, for the next
// add to reuse (GC removes them after the grace period if none does).
func (s *Service) Add(ctx context.Context, in AddInput) (AddResult, error) {
	started := time.Now()
	if err := checkMessage(in.Message); err != nil {
		return AddResult{}, err
	}
	a, err := s.newAdder(ctx, in)
	if err != nil {
		return AddResult{}, err
	}
	res, err := a.run(ctx)
	res.Stats.Elapsed = time.Since(started)
	return res, err
}

// newAdder checks the name, lists the files of in and matches them with
// the state cache.
func (s *Service) newAdder(ctx context.Context, in AddInput) (*adder, error) {
	if err := ValidateName(in.Name); err != nil {
		return nil, err
	}
	base, shown, err := resolveBase(in.Paths, in.BaseDir)
	if err != nil {
		return nil, err
	}
	// Read the state cache while the files are listed and stat'ed: both
	// take milliseconds to tens of milliseconds for 10,000 files.
	type loaded struct {
		entries  *stateEntries
		snapshot bool
		err      error
	}
	lc := make(chan loaded, 1)
	go func() {
		var l loaded
		l.entries, l.snapshot, l.err = s.loadState(ctx, base, true)
		lc <- l
	}()
	files, err := collectFiles(base, shown, in.Paths)
	state := <-lc
	if err != nil {
		return nil, err
	}
	if state.err != nil {
		return nil, state.err
	}
	if len(files) > MaxFiles {
		return nil, errs.E(errs.Invalid, "%d files: at most %d are allowed in one version", len(files), MaxFiles)
	}
	cached := state.entries.match(files)
	if state.snapshot && !allHit(cached) {
		// New or changed files: the database may know them from another
		// add (under another base, or of other files here).
		if state.entries, state.snapshot, err = s.loadState(ctx, base, false); err != nil {
			return nil, err
		}
		cached = state.entries.match(files)
	}
	a := &adder{s: s, in: in, base: base, files: files, profile: s.opts.Profile, cached: cached, fromSnapshot: state.snapshot}
	if in.NoProfile {
		a.profile = nil
	}
	return a, nil
}

// adder is the state of one Add.
type adder struct {
	s       *Service
	in      AddInput
	base    string // real absolute base folder
	files   []localFile
	profile ProfileFunc
	// cached are the state cache's entries of the files, by index (nil:
	// none with the file's current stat), from its snapshot when
	// fromSnapshot.
	cached       []*stateEntry
	fromSnapshot bool

	entries []FileEntry
	states  []*stateEntry // new or updated cache entries, by file index
	// saved marks the entries of states the stateSaver wrote already
	// (read once it has stopped).
	saved []bool
	saver *stateSaver // nil without a state cache
	used  []string    // cache hits whose used_at needs refreshing
	// refreshBefore is the used_at (Unix ms) below which a hit is in used.
	refreshBefore int64
	stats         AddStats
	hitSize       int64 // bytes of files not read, counted as done at once
	profileSize   int64 // bytes of the files to profile
	profiledBytes atomic.Int64
	// rehashedHits are cache hits read again because a chunk was missing.
	rehashedHits int
	hits         int // cache hits of hashOnly
	p            *hashPipeline

	profiled, hashedFiles, hashedBytes atomic.Int64
}

type addTask struct {
	i       int
	hash    bool // read and hash the file
	profile bool // run the profiler on it
}

func (a *adder) run(ctx context.Context) (AddResult, error) {
	s := a.s
	a.entries = make([]FileEntry, len(a.files))
	a.states = make([]*stateEntry, len(a.files))
	for _, f := range a.files {
		a.stats.Files++
		a.stats.Bytes += f.st.size
	}

	var tasks []addTask
	var hits []int
	a.refreshBefore = s.now().Add(-stateRefresh).UnixMilli()
	for i, f := range a.files {
		e := a.cached[i]
		if e == nil {
			tasks = append(tasks, addTask{i: i, hash: true, profile: a.profile != nil})
			continue
		}
		a.entries[i] = FileEntry{Path: f.rel, Size: e.st.size, Hash: e.hash, Chunks: e.chunks}
		hits = append(hits, i)
		if a.profile != nil {
			if e.profiled {
				a.entries[i].Profile = e.profile
			} else {
				tasks = append(tasks, addTask{i: i, profile: true})
			}
		}
		if e.usedAt < a.refreshBefore {
			a.used = append(a.used, f.open)
		}
	}

	// Unchanged tree: compare with the newest version without touching a
	// file or a chunk.
	if len(tasks) == 0 {
		m := Manifest{Format: ManifestFormat, Files: a.entries}
		if v, same, err := s.latestIfDigest(ctx, a.in.Name, m.Digest()); err != nil {
			return AddResult{}, err
		} else if same {
			if err := a.validate(ctx); err != nil {
				return AddResult{}, err
			}
			a.stats.CacheHits = int64(len(hits))
			a.stats.ChunksReused = int64(len(m.Chunks()))
			if a.in.Progress != nil {
				a.in.Progress(a.stats.Bytes, a.stats.Bytes)
			}
			a.saveState(ctx)
			return AddResult{Version: v, Stats: a.stats}, nil
		}
	}

	if s.opts.SpareProc {
		s.spareProc.Do(SpareProc)
	}
	epoch, err := s.gcEpoch(ctx)
	if err != nil {
		return AddResult{}, err
	}
	reg := &registrar{s: s, epoch: epoch}
	a.p = newHashPipeline(s, reg, s.opts.Workers)

	// A cache hit saves reading the file only if its chunks are still
	// stored (the cache is per machine; the store may be new or collected).
	tasks, err = a.checkHits(ctx, hits, tasks)
	if err != nil {
		return AddResult{}, err
	}
	for _, i := range hits {
		if a.entries[i].Hash != "" {
			a.hitSize += a.entries[i].Size
		}
	}

	for _, t := range tasks {
		if t.profile {
			a.profileSize += a.files[t.i].st.size
		}
	}
	a.saver = a.startStateSaver(ctx, len(tasks))
	err = a.process(ctx, tasks)
	a.stopStateSaver()
	if err != nil {
		// Keep what is stored reusable: register it and remember hashes.
		cleanup, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_ = reg.flush(cleanup)
		a.saveState(cleanup)
		return AddResult{Stats: a.finishStats(len(hits))}, err
	}
	// The state cache is saved while the chunks are registered and the
	// version recorded: it is only a cache (a hit whose chunks did not get
	// registered is read again next time), and it takes about as long.
	saved := make(chan struct{})
	go func() {
		defer close(saved)
		a.saveState(ctx)
	}()
	defer func() { <-saved }()
	if err := a.p.finishPacks(ctx); err != nil {
		return AddResult{}, err
	}
	if err := reg.flush(ctx); err != nil {
		return AddResult{}, err
	}
	m := Manifest{Format: ManifestFormat, Files: a.entries}.Normalize()
	if err := m.Validate(); err != nil {
		return AddResult{}, fmt.Errorf("building the manifest: %w", err)
	}
	v, created, err := s.recordVersion(ctx, a.in.Name, m, a.in.Message)
	if err != nil {
		return AddResult{}, err
	}
	return AddResult{Version: v, Created: created, Stats: a.finishStats(len(hits))}, nil
}

func (a *adder) finishStats(hits int) AddStats {
	st := a.stats
	st.FilesHashed = a.hashedFiles.Load()
	st.BytesHashed = a.hashedBytes.Load()
	st.CacheHits = int64(hits - a.rehashedHits)
	st.FilesProfiled = a.profiled.Load()
	if a.p != nil {
		st.ChunksNew = a.p.newChunks.Load()
		st.BytesNew = a.p.newBytes.Load()
		st.ChunksReused = a.p.reused.Load()
	}
	return st
}

// checkHits looks up the chunks of the cache hits in one batched query. Hits
// with a chunk no longer stored are read again; the others' chunks are
// touched, so GC keeps them while this add runs.
func (a *adder) checkHits(ctx context.Context, hits []int, tasks []addTask) ([]addTask, error) {
	if len(hits) == 0 {
		return tasks, nil
	}
	var hashes []string
	seen := map[string]bool{}
	for _, i := range hits {
		for _, c := range a.entries[i].ChunkList() {
			if !seen[c.Hash] {
				seen[c.Hash] = true
				hashes = append(hashes, c.Hash)
			}
		}
	}
	known, err := knownChunks(ctx, a.s.db, hashes)
	if err != nil {
		return nil, err
	}
	for _, i := range hits {
		for _, c := range a.entries[i].ChunkList() {
			if _, ok := known[c.Hash]; !ok {
				tasks = append(tasks, addTask{i: i, hash: true, profile: a.profile != nil && a.entries[i].Profile == nil})
				a.entries[i] = FileEntry{}
				a.rehashedHits++
				break
			}
		}
	}
	// A rehashed hit may be queued twice (profile, then hash): keep one task.
	byFile := map[int]int{}
	var out []addTask
	for _, t := range tasks {
		if j, ok := byFile[t.i]; ok {
			out[j].hash = out[j].hash || t.hash
			out[j].profile = out[j].profile || t.profile
			continue
		}
		byFile[t.i] = len(out)
		out = append(out, t)
	}
	for h := range known {
		a.p.seen.Store(h, true)
		a.p.reused.Add(1)
		if err := a.p.reg.touch(ctx, h); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// process runs the tasks on the file workers, the validation hook beside
// them, and the progress reporter.
func (a *adder) process(ctx context.Context, tasks []addTask) error {
	g, gctx := errgroup.WithContext(ctx)
	stopChunks := a.p.startChunkWorkers(gctx, a.s.opts.Workers)
	stopProgress := a.reportProgress()
	g.Go(func() error { return a.validate(gctx) })
	queue := make(chan addTask)
	g.Go(func() error {
		defer close(queue)
		for _, t := range tasks {
			select {
			case queue <- t:
			case <-gctx.Done():
				return nil
			}
		}
		return nil
	})
	// Twice as many file readers as cores: small files spend much of their
	// time in open, stat and the blob store's rename.
	for range 2 * a.s.opts.Workers {
		g.Go(func() error {
			for t := range queue {
				if err := a.do(gctx, t); err != nil {
					return err
				}
			}
			return gctx.Err()
		})
	}
	err := g.Wait()
	stopChunks()
	if err == nil {
		err = ctx.Err()
	}
	stopProgress(err == nil)
	return err
}

func (a *adder) validate(ctx context.Context) error {
	if a.in.Validate == nil {
		return nil
	}
	files := make([]LocalFile, len(a.files))
	for i, f := range a.files {
		files[i] = LocalFile{Path: f.rel, AbsPath: f.open, Size: f.st.size}
	}
	return a.in.Validate(ctx, files)
}

type profileResult struct {
	raw json.RawMessage
	err error
}

// do hashes and/or profiles one file.
func (a *adder) do(ctx context.Context, t addTask) error {
	f := a.files[t.i]
	var prof chan profileResult
	if t.profile {
		prof = make(chan profileResult, 1)
		go func() {
			// read is what this file added to profiledBytes. The reader
			// may still report after the profiler returned (an early
			// error), hence the atomics: counted once, never past size.
			var read atomic.Int64
			raw, err := a.profile(ctx, f.open, func(n int64) {
				n = min(n, f.st.size)
				for old := read.Load(); n > old; old = read.Load() {
					if read.CompareAndSwap(old, n) {
						a.profiledBytes.Add(n - old)
						return
					}
				}
			})
			// The rest of a file read partly, or not a table at all.
			a.profiledBytes.Add(f.st.size - read.Swap(f.st.size))
			prof <- profileResult{raw, err}
		}()
	}
	readStart := time.Now()
	var st *stateEntry
	if t.hash {
		h, err := a.p.hashFile(ctx, f, !t.profile || !looksLikeTable(f.open))
		if err != nil {
			return err
		}
		a.hashedFiles.Add(1)
		a.hashedBytes.Add(h.size)
		a.entries[t.i] = FileEntry{Path: f.rel, Size: h.size, Hash: h.hash, Chunks: h.chunks}
		// A file modified just before it was read may change again within
		// its mtime's granularity: do not cache it (see racyWindow).
		if h.st.mtime <= readStart.Add(-racyWindow).UnixNano() {
			st = &stateEntry{st: h.st, hash: h.hash, chunks: h.chunks}
		}
	} else {
		e := a.entries[t.i]
		st = &stateEntry{st: f.st, hash: e.Hash, chunks: e.Chunks}
	}
	if prof != nil {
		var r profileResult
		select {
		case r = <-prof:
		case <-ctx.Done():
			return ctx.Err()
		}
		if r.err != nil {
			code := errs.CodeOf(r.err)
			if code == errs.Internal {
				code = errs.Invalid
			}
			// Readers name the file by the path they opened; the message
			// names it once, by its dataset path.
			return errs.E(code, "profiling %s: %s", f.rel, strings.TrimPrefix(errMessage(r.err), f.open+": "))
		}
		if len(r.raw) > 0 && !json.Valid(r.raw) {
			return fmt.Errorf("profiling %s: the profiler returned invalid JSON", f.rel)
		}
		if len(r.raw) > 0 && string(r.raw) != "null" { // a table
			a.profiled.Add(1)
		}
		a.entries[t.i].Profile = r.raw
		if st != nil {
			st.profiled, st.profile = true, r.raw
		}
	}
	a.states[t.i] = st
	if a.saver != nil && st != nil {
		a.saver.q <- t.i
	}
	return nil
}

// stateSaveBatch is how many new cache entries the stateSaver writes in
// one transaction.
const stateSaveBatch = 1000

// stateSaver writes new state cache entries while the add goes on, a
// batch at a time, so that saveState has little left once the version is
// being recorded: upserting 10,000 entries at the end took about 90 ms of
// CPU, most of the time between a tree's last pack write and the add's
// return, and the add has CPU to spare while it waits for the disk.
// Entries it has not written when stopped are saveState's.
type stateSaver struct {
	q    chan int // indices of files with a new entry; never blocks
	stop atomic.Bool
	done chan struct{}
}

// startStateSaver starts the saver for up to n entries; nil without a
// state cache.
func (a *adder) startStateSaver(ctx context.Context, n int) *stateSaver {
	if path, err := a.s.statePath(); err != nil || path == "" || n < 2*stateSaveBatch {
		return nil
	}
	c, err := a.s.stateCache(ctx)
	if err != nil {
		return nil
	}
	sv := &stateSaver{q: make(chan int, n), done: make(chan struct{})}
	a.saved = make([]bool, len(a.files))
	go func() {
		defer close(sv.done)
		batch := make(map[string]stateEntry, stateSaveBatch)
		var idx []int
		for i := range sv.q {
			if sv.stop.Load() {
				return
			}
			batch[a.files[i].open] = *a.states[i]
			idx = append(idx, i)
			if len(idx) < stateSaveBatch {
				continue
			}
			if c.saveEntries(ctx, batch, a.s.now()) == nil {
				for _, j := range idx {
					a.saved[j] = true
				}
			}
			clear(batch)
			idx = idx[:0]
		}
	}()
	return sv
}

// stopStateSaver stops the saver: a batch being written is finished, the
// rest is left to saveState.
func (a *adder) stopStateSaver() {
	if a.saver == nil {
		return
	}
	a.saver.stop.Store(true)
	close(a.saver.q)
	<-a.saver.done
	a.saver = nil
}

// errMessage is the message of err for a user: the client-safe message of
// a kinded error, the full text otherwise.
func errMessage(err error) string {
	if errs.CodeOf(err) == errs.Internal {
		return err.Error()
	}
	return errs.MessageOf(err)
}

// reportProgress calls the Progress hook every 100 ms until stopped; the
// final call (on success) reports everything done.
func (a *adder) reportProgress() func(done bool) {
	if a.in.Progress == nil {
		return func(bool) {}
	}
	var mu sync.Mutex
	report := func() {
		mu.Lock()
		defer mu.Unlock()
		total := a.stats.Bytes + a.profileSize
		a.in.Progress(min(a.hitSize+a.p.progress.Load()+a.profiledBytes.Load(), total), total)
	}
	stop := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				report()
			case <-stop:
				return
			}
		}
	}()
	return func(done bool) {
		close(stop)
		<-stopped
		if done {
			mu.Lock()
			defer mu.Unlock()
			total := a.stats.Bytes + a.profileSize
			a.in.Progress(total, total)
		}
	}
}

// saveState writes the new and updated cache entries, and the snapshot of
// the base folder unless it is current. The cache is an optimisation:
// failing to write it fails nothing.
func (a *adder) saveState(ctx context.Context) {
	path, err := a.s.statePath()
	if err != nil || path == "" {
		return
	}
	entries := map[string]stateEntry{}
	for i, st := range a.states {
		if st != nil && (a.saved == nil || !a.saved[i]) {
			entries[a.files[i].open] = *st
		}
	}
	now := a.s.now()
	if len(entries) > 0 || len(a.used) > 0 {
		c, err := a.s.stateCache(ctx)
		if err != nil {
			return
		}
		_ = c.save(ctx, entries, a.used, now)
	} else if a.fromSnapshot {
		return
	}
	// The snapshot holds what this add knows of each of its files.
	nowMS := now.UnixMilli()
	snap := &stateEntries{paths: make([]string, 0, len(a.files)), ents: make([]stateEntry, 0, len(a.files))}
	for i, f := range a.files {
		if st := a.states[i]; st != nil {
			e := *st
			e.usedAt = nowMS
			snap.add(f.open, e)
		} else if c := a.cached[i]; c != nil && a.entries[i].Hash != "" {
			e := *c
			if e.usedAt < a.refreshBefore {
				e.usedAt = nowMS
			}
			snap.add(f.open, e)
		}
	}
	_ = writeSnapshot(path, a.base, snap)
}
