package tracking

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mlcycle/mlcycle/internal/errs"
	"github.com/mlcycle/mlcycle/internal/store"
)

// Group commit of LogBatch.
//
// Training loops call log-batch many times a second, from many clients at
// once. On SQLite every write transaction goes through one connection, so
// each batch paid for its own BEGIN, statement journals, WAL frames and
// COMMIT while the others queued behind it. With the committers running
// (Start), a LogBatch call that passed validation joins a queue, and a
// committer goroutine (one on SQLite, two on PostgreSQL) applies whatever
// is queued when it is free, up to a bound, in ONE transaction: one query
// for the runs, one for the params, one multi-row INSERT per table. Each
// caller returns only after that commit, so success still means committed.
// Nothing waits on a timer: an idle server commits a lone batch at once.
//
// A batch keeps its own outcome. Checks that need the database (the run
// exists and is active, params do not change) are made per batch inside the
// group transaction, and a batch that fails them is left out of the group
// with its own error. If the group transaction itself fails (a database
// error, or on PostgreSQL a param logged concurrently by another
// transaction), every batch of the group is retried on its own, so each
// caller gets the answer it would have had alone.

// Bounds of one group transaction.
const (
	groupMaxBatches = 64
	groupMaxRows    = 50_000 // metrics + params + tags
	groupQueueSize  = 256
	groupTimeout    = time.Minute // one group, with its fallback
)

// committers is how many groups commit at once. SQLite has one writer, so
// one committer. PostgreSQL runs transactions side by side: with one
// committer it idles during every round trip, and two measured faster
// than one or four (smaller groups cost more per point).
func committers(d store.Dialect) int {
	if d == store.Postgres {
		return 2
	}
	return 1
}

// States of a queued batch: a committer takes it, or its caller gives up
// first; whichever comes first wins.
const (
	batchQueued int32 = iota
	batchTaken
	batchCancelled
)

// batchWrite is one validated LogBatch call.
type batchWrite struct {
	runID   string
	metrics []Metric
	params  []Param
	tags    []Tag

	state atomic.Int32
	done  chan error // buffered: a committer never blocks on a caller
}

func (w *batchWrite) rows() int { return len(w.metrics) + len(w.params) + len(w.tags) }

// groupable reports whether w can share a transaction. A batch that
// renames its run (an audited change, recorded with the caller's actor) or
// links points to logged models (which must exist) is applied on its own.
func (w *batchWrite) groupable() bool {
	for _, m := range w.metrics {
		if m.ModelID != "" {
			return false
		}
	}
	for _, t := range w.tags {
		if t.Key == TagRunName {
			return false
		}
	}
	return true
}

// groupCommit is the queue and its committer goroutines.
type groupCommit struct {
	maxBatches, maxRows int

	mu      sync.RWMutex // held shared by senders, exclusively to close the queue
	running bool
	queue   chan *batchWrite
	exited  chan struct{}

	// taken, if set before Start (by tests), learns each group's size as
	// a committer takes it.
	taken func(n int)
}

// Start starts the committers that apply concurrent LogBatch calls in
// shared transactions (see groupcommit.go). Until Start, and after Stop,
// every LogBatch commits its own transaction, which is right for tests and
// command-line tools. Call Start once, after New.
func (s *Service) Start() {
	s.startGroupCommit(committers(s.db.Dialect()), groupMaxBatches, groupMaxRows)
}

func (s *Service) startGroupCommit(n, maxBatches, maxRows int) {
	g := &s.group
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.running || g.exited != nil {
		panic("tracking: Service.Start called twice")
	}
	g.maxBatches, g.maxRows = maxBatches, maxRows
	g.queue = make(chan *batchWrite, groupQueueSize)
	g.exited = make(chan struct{})
	g.running = true
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.commitLoop(g.queue)
		}()
	}
	go func() {
		wg.Wait()
		close(g.exited)
	}()
}

// Stop stops queueing LogBatch calls and waits until every batch already
// queued is committed (or has failed) and the committers have exited, or
// until ctx ends. Calls arriving meanwhile commit on their own. Stop the
// service before closing its database; stopping twice is harmless.
func (s *Service) Stop(ctx context.Context) error {
	g := &s.group
	g.mu.Lock()
	if g.running {
		g.running = false
		close(g.queue)
	}
	exited := g.exited
	g.mu.Unlock()
	if exited == nil { // never started
		return nil
	}
	select {
	case <-exited:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for queued metric writes: %w", ctx.Err())
	}
}

// submit queues w for the next group and waits for its outcome. queued is
// false when the committers are not running: the caller applies w itself.
//
// Cancellation: a caller whose ctx ends while w is still in the queue gets
// ctx's error and w is never applied. Once a committer has taken w, the
// caller waits for the commit and gets w's real outcome, so a batch is
// always applied entirely or not at all, and the answer says which.
func (g *groupCommit) submit(ctx context.Context, w *batchWrite) (queued bool, err error) {
	g.mu.RLock()
	if !g.running {
		g.mu.RUnlock()
		return false, nil
	}
	w.done = make(chan error, 1)
	select {
	case g.queue <- w:
		g.mu.RUnlock()
	case <-ctx.Done():
		g.mu.RUnlock()
		return true, ctx.Err()
	}
	select {
	case err := <-w.done:
		return true, err
	case <-ctx.Done():
		if w.state.CompareAndSwap(batchQueued, batchCancelled) {
			return true, ctx.Err()
		}
		return true, <-w.done
	}
}

// commitLoop commits groups until the queue is closed and drained.
func (s *Service) commitLoop(queue <-chan *batchWrite) {
	var carry *batchWrite // taken, but it would have overfilled the last group
	for {
		group := s.group.take(queue, &carry)
		if len(group) == 0 {
			return
		}
		if s.group.taken != nil {
			s.group.taken(len(group))
		}
		s.commitGroup(group)
	}
}

// take blocks for the first batch, then adds whatever else is queued
// without waiting, up to the bounds. A batch that would overflow the rows
// bound is kept in *carry for the next group. Batches whose callers gave
// up are skipped. It returns nothing once the queue is closed and empty.
func (g *groupCommit) take(queue <-chan *batchWrite, carry **batchWrite) []*batchWrite {
	var group []*batchWrite
	rows := 0
	add := func(w *batchWrite) bool {
		if len(group) > 0 && rows+w.rows() > g.maxRows {
			*carry = w
			return false
		}
		group = append(group, w)
		rows += w.rows()
		return len(group) < g.maxBatches && rows < g.maxRows
	}
	if w := *carry; w != nil {
		*carry = nil
		if !add(w) {
			return group
		}
	}
	for len(group) == 0 {
		w, ok := <-queue
		if !ok {
			return nil
		}
		if w.state.CompareAndSwap(batchQueued, batchTaken) && !add(w) {
			return group
		}
	}
	for {
		select {
		case w, ok := <-queue:
			if !ok {
				return group
			}
			if w.state.CompareAndSwap(batchQueued, batchTaken) && !add(w) {
				return group
			}
		default:
			return group
		}
	}
}

// commitGroup applies a group in one transaction and answers each caller.
// If the transaction fails, each batch is retried alone for its own answer.
func (s *Service) commitGroup(group []*batchWrite) {
	// The group outlives any one caller's request; the bound only keeps a
	// stuck database from holding the callers forever.
	ctx, cancel := context.WithTimeout(context.Background(), groupTimeout)
	defer cancel()
	var outcome []error
	err := recovered(func() error {
		return s.db.InTx(ctx, func(tx *store.Tx) error {
			var err error
			outcome, err = applyGroup(ctx, tx, group)
			return err
		})
	})
	for i, w := range group {
		if err != nil {
			w.done <- recovered(func() error { return s.applyBatch(ctx, w) })
			continue
		}
		w.done <- outcome[i]
	}
}

// recovered runs fn and turns a panic into an error: a bug in a committer
// must fail the writes at hand, not the whole server.
func recovered(fn func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("committing metric writes panicked: %v", p)
		}
	}()
	return fn()
}

// errParamRace rolls a group back when a param it inserts was logged by
// another transaction after the group read the params (PostgreSQL only:
// SQLite has one writer).
var errParamRace = errors.New("param logged concurrently")

// runKey names a run's param, tag or latest metric.
type runKey struct{ run, key string }

func compareRunKey(a, b runKey) int {
	if c := strings.Compare(a.run, b.run); c != 0 {
		return c
	}
	return strings.Compare(a.key, b.key)
}

// applyGroup writes the batches that pass the per-run checks and returns
// each batch's outcome. It may run more than once (store.InTx retries), so
// it keeps no state between attempts.
func applyGroup(ctx context.Context, tx *store.Tx, group []*batchWrite) ([]error, error) {
	outcome := make([]error, len(group))

	// The runs must exist and be active.
	runIDs := make([]string, 0, len(group))
	seen := make(map[string]bool, len(group))
	for _, w := range group {
		if !seen[w.runID] {
			seen[w.runID] = true
			runIDs = append(runIDs, w.runID)
		}
	}
	stages, err := runStages(ctx, tx, runIDs)
	if err != nil {
		return nil, err
	}
	for i, w := range group {
		stage, ok := stages[w.runID]
		switch {
		case !ok:
			outcome[i] = errs.E(errs.NotFound, "Run with id=%s not found", clip(w.runID))
		case stage != StageActive:
			outcome[i] = errs.E(errs.Invalid, "The run %s must be in the 'active' state. Current state is %s.", w.runID, stage)
		}
	}

	// Params never change. Each batch is checked against the stored
	// values and those of the batches before it in the group, as if the
	// batches had been applied one after another.
	params, err := storedParams(ctx, tx, group, outcome)
	if err != nil {
		return nil, err
	}
	var newParams []paramRow
	for i, w := range group {
		if outcome[i] != nil || len(w.params) == 0 {
			continue
		}
		if err := paramConflicts(w.runID, w.params, func(key string) (string, bool) {
			v, ok := params[runKey{w.runID, key}]
			return v, ok
		}, false); err != nil {
			outcome[i] = err
			continue
		}
		for _, p := range w.params {
			k := runKey{w.runID, p.Key}
			if _, ok := params[k]; !ok {
				params[k] = p.Value
				newParams = append(newParams, paramRow{w.runID, p})
			}
		}
	}
	if err := insertParamRows(ctx, tx, newParams); err != nil {
		return nil, err
	}

	var points []pointRow
	tags := map[runKey]string{}
	for i, w := range group {
		if outcome[i] != nil {
			continue
		}
		for _, m := range w.metrics {
			points = append(points, pointRow{w.runID, m})
		}
		for _, t := range w.tags {
			tags[runKey{w.runID, t.Key}] = t.Value // a later batch's value wins
		}
	}
	if err := logPointRows(ctx, tx, points); err != nil {
		return nil, err
	}
	if err := upsertTagRows(ctx, tx, tags); err != nil {
		return nil, err
	}
	return outcome, nil
}

// runStages returns the lifecycle stage of each of runIDs that exists.
func runStages(ctx context.Context, tx *store.Tx, runIDs []string) (map[string]string, error) {
	out := make(map[string]string, len(runIDs))
	for _, part := range store.Batches(runIDs, 500) {
		rows, err := tx.Query(ctx, `SELECT run_uuid, lifecycle_stage FROM runs WHERE run_uuid IN (`+store.Placeholders(len(part))+`)`, store.Args(part)...)
		if err != nil {
			return nil, fmt.Errorf("reading runs: %w", err)
		}
		for rows.Next() {
			var id, stage string
			if err := rows.Scan(&id, &stage); err != nil {
				rows.Close()
				return nil, fmt.Errorf("reading runs: %w", err)
			}
			out[id] = stage
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("reading runs: %w", err)
		}
	}
	return out, nil
}

// storedParams reads the stored values of the params that the group's
// batches (those not already failed) log.
func storedParams(ctx context.Context, tx *store.Tx, group []*batchWrite, outcome []error) (map[runKey]string, error) {
	out := map[runKey]string{}
	var runs []string
	keys := map[string]bool{}
	for i, w := range group {
		if outcome[i] != nil || len(w.params) == 0 {
			continue
		}
		if !slices.Contains(runs, w.runID) {
			runs = append(runs, w.runID)
		}
		for _, p := range w.params {
			keys[p.Key] = true
		}
	}
	if len(runs) == 0 {
		return out, nil
	}
	// Runs × keys is a superset of the pairs wanted; the extra rows are
	// harmless. The group bounds both lists (64 runs, 6,400 keys).
	args := store.Args(runs)
	for k := range keys {
		args = append(args, k)
	}
	rows, err := tx.Query(ctx, `SELECT run_uuid, key, value FROM run_params WHERE run_uuid IN (`+store.Placeholders(len(runs))+`) AND key IN (`+store.Placeholders(len(keys))+`)`, args...)
	if err != nil {
		return nil, fmt.Errorf("reading params: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k runKey
		var v string
		if err := rows.Scan(&k.run, &k.key, &v); err != nil {
			return nil, fmt.Errorf("reading params: %w", err)
		}
		out[k] = v
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading params: %w", err)
	}
	return out, nil
}

// paramConflicts returns the error for params (of runID) whose key already
// holds another value, as looked up by stored; single selects the
// one-param message of log-parameter.
func paramConflicts(runID string, params []Param, stored func(key string) (string, bool), single bool) error {
	var conflicts []string
	for _, p := range params {
		old, ok := stored(p.Key)
		if !ok || old == p.Value {
			continue
		}
		if single {
			return errs.E(errs.Invalid, "Changing param values is not allowed. Param with key='%s' was already logged with value='%s' for run ID='%s'. Attempted logging new value '%s'.",
				p.Key, clip(old), runID, clip(p.Value))
		}
		conflicts = append(conflicts, fmt.Sprintf("{'key': '%s', 'old_value': '%s', 'new_value': '%s'}", p.Key, clip(old), clip(p.Value)))
	}
	if len(conflicts) > 0 {
		return errs.E(errs.Invalid, "Changing param values is not allowed. Params were already logged='[%s]' for run ID='%s'.", strings.Join(conflicts, ", "), runID)
	}
	return nil
}

type paramRow struct {
	run string
	Param
}

// insertParamRows inserts params known to be new, unique by run and key.
// If another transaction inserted one of them meanwhile, it fails with
// errParamRace.
func insertParamRows(ctx context.Context, tx *store.Tx, ps []paramRow) error {
	for _, part := range store.Batches(ps, 1000) {
		args := make([]any, 0, 3*len(part))
		var sb strings.Builder
		sb.WriteString(`INSERT INTO run_params (run_uuid, key, value) VALUES `)
		for i, p := range part {
			if i > 0 {
				sb.WriteString(", ")
			}
			sb.WriteString("(?, ?, ?)")
			args = append(args, p.run, p.Key, p.Value)
		}
		sb.WriteString(` ON CONFLICT (run_uuid, key) DO NOTHING`)
		res, err := tx.Exec(ctx, sb.String(), args...)
		if err != nil {
			return fmt.Errorf("inserting params: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || int(n) < len(part) {
			return errParamRace
		}
	}
	return nil
}

// upsertTagRows sets run tags, in (run, key) order so that concurrent
// writers lock rows in the same order on PostgreSQL.
func upsertTagRows(ctx context.Context, tx *store.Tx, tags map[runKey]string) error {
	if len(tags) == 0 {
		return nil
	}
	keys := make([]runKey, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, compareRunKey)
	for _, part := range store.Batches(keys, 1000) {
		args := make([]any, 0, 3*len(part))
		var sb strings.Builder
		sb.WriteString(`INSERT INTO run_tags (run_uuid, key, value) VALUES `)
		for i, k := range part {
			if i > 0 {
				sb.WriteString(", ")
			}
			sb.WriteString("(?, ?, ?)")
			args = append(args, k.run, k.key, tags[k])
		}
		sb.WriteString(` ON CONFLICT (run_uuid, key) DO UPDATE SET value = excluded.value`)
		if _, err := tx.Exec(ctx, sb.String(), args...); err != nil {
			return fmt.Errorf("setting run tags: %w", err)
		}
	}
	return nil
}
