package tracking

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/mlcycle/mlcycle/internal/audit"
	"github.com/mlcycle/mlcycle/internal/errs"
	"github.com/mlcycle/mlcycle/internal/store"
	"github.com/mlcycle/mlcycle/internal/store/storetest"
)

// holdWriter keeps the database's writers waiting until release is called:
// on SQLite by holding its one writer connection, on PostgreSQL by locking
// the runs table, which every group reads first.
func holdWriter(t *testing.T, db *store.DB) (release func()) {
	t.Helper()
	held, done := make(chan struct{}), make(chan struct{})
	errc := make(chan error, 1)
	go func() {
		errc <- db.InTx(context.Background(), func(tx *store.Tx) error {
			if tx.Dialect() == store.Postgres {
				if _, err := tx.Exec(context.Background(), `LOCK TABLE runs IN ACCESS EXCLUSIVE MODE`); err != nil {
					return err
				}
			}
			close(held)
			<-done
			return nil
		})
	}()
	select {
	case <-held:
	case err := <-errc:
		t.Fatalf("holding the writer: %v", err)
	}
	var once sync.Once
	release = func() {
		once.Do(func() {
			close(done)
			ok(t, <-errc)
		})
	}
	t.Cleanup(release)
	return release
}

// groupEnv is an env whose committer runs with the given bounds and
// reports the size of every group it takes.
type groupEnv struct {
	*env
	taken chan int
}

func newGroupEnv(t *testing.T, db *store.DB, maxBatches, maxRows int) *groupEnv {
	t.Helper()
	e := &groupEnv{env: newEnv(t, db), taken: make(chan int, 1000)}
	e.svc.group.taken = func(n int) { e.taken <- n }
	e.svc.startGroupCommit(1, maxBatches, maxRows)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		ok(t, e.svc.Stop(ctx))
	})
	return e
}

// nextGroup waits for the committer to take a group and returns its size.
func (e *groupEnv) nextGroup(t *testing.T) int {
	t.Helper()
	select {
	case n := <-e.taken:
		return n
	case <-time.After(10 * time.Second):
		t.Fatal("the committer took no group")
		return 0
	}
}

// waitQueued waits until the committer's queue holds n batches.
func (e *groupEnv) waitQueued(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(e.svc.group.queue) != n {
		if time.Now().After(deadline) {
			t.Fatalf("queue holds %d batches, want %d", len(e.svc.group.queue), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// blockCommitter holds the writer and has the committer take one batch
// (a point of key "first" on run id), which then waits on the writer: the
// batches logged next queue up and form one group on release. The first
// batch's result arrives on the returned channel.
func (e *groupEnv) blockCommitter(t *testing.T, id string) (release func(), first <-chan error) {
	t.Helper()
	release = holdWriter(t, e.db)
	c := make(chan error, 1)
	go func() { c <- e.svc.LogBatch(e.ctx, id, points("first", 0, 1), nil, nil) }()
	if n := e.nextGroup(t); n != 1 {
		t.Fatalf("first group of %d batches, want 1", n)
	}
	return release, c
}

// points returns n points of key k at steps from..from+n-1.
func points(k string, from, n int) []Metric {
	out := make([]Metric, n)
	for i := range out {
		out[i] = Metric{Key: k, Value: float64(from + i), Timestamp: int64(from + i), Step: int64(from + i)}
	}
	return out
}

// TestGroupCommitConcurrent logs from many writers to a few runs through a
// committer with small bounds, so that groups fill up and carry a batch
// over: every batch must be stored once, latest values and params right.
func TestGroupCommitConcurrent(t *testing.T) {
	storetest.Each(t, testMigrations(), func(t *testing.T, db *store.DB) {
		// A batch below is 23 rows: 4 fit in 100, the 5th is carried over.
		e := newGroupEnv(t, db, 5, 100)
		runs := []string{e.newRun(t, "0").Info.RunID, e.newRun(t, "0").Info.RunID, e.newRun(t, "0").Info.RunID}
		release, first := e.blockCommitter(t, runs[0])
		const writers, batches = 8, 12
		var wg sync.WaitGroup
		errc := make(chan error, writers*batches)
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				run := runs[w%len(runs)]
				for b := range batches {
					step := (b*writers + w) * 10
					ms := append(points(fmt.Sprintf("w%d", w), step, 10), points("shared", step, 10)...)
					ps := []Param{{"writer" + fmt.Sprint(w), fmt.Sprint(w)}, {"same", "value"}}
					errc <- e.svc.LogBatch(e.ctx, run, ms, ps, []Tag{{"last", fmt.Sprint(w)}})
				}
			}()
		}
		e.waitQueued(t, writers)
		release()
		ok(t, <-first)
		wg.Wait()
		close(errc)
		for err := range errc {
			ok(t, err)
		}
		if n := e.nextGroup(t); n != 4 {
			t.Fatalf("group after release: %d batches, want 4 (bounded by rows)", n)
		}
		if n := e.nextGroup(t); n != 4 {
			t.Fatalf("next group: %d batches, want 4 (the carried one and 3 more)", n)
		}

		total := 0
		for i, id := range runs {
			c := countRows(t, db, id)
			total += c[0]
			r := must[Run](t)(e.svc.GetRun(e.ctx, id))
			latest := map[string]Metric{}
			for _, m := range r.Metrics {
				latest[m.Key] = m
			}
			maxStep := 0
			for w := i; w < writers; w += len(runs) {
				want := ((batches-1)*writers+w)*10 + 9
				maxStep = max(maxStep, want)
				if m := latest[fmt.Sprintf("w%d", w)]; m.Step != int64(want) {
					t.Fatalf("run %d: latest w%d at step %d, want %d", i, w, m.Step, want)
				}
			}
			if latest["shared"].Step != int64(maxStep) {
				t.Fatalf("run %d: latest shared at step %d, want %d", i, latest["shared"].Step, maxStep)
			}
			if want := (writers-i+len(runs)-1)/len(runs) + 1; len(r.Params) != want {
				t.Fatalf("run %d: %d params, want %d: %v", i, len(r.Params), want, r.Params)
			}
		}
		if want := 1 + writers*batches*20; total != want {
			t.Fatalf("%d points stored, want %d", total, want)
		}
	})
}

// TestGroupCommitIsolatesFailures puts valid and failing batches in one
// group: each failing batch gets its own error and changes nothing; the
// others commit.
func TestGroupCommitIsolatesFailures(t *testing.T) {
	storetest.Each(t, testMigrations(), func(t *testing.T, db *store.DB) {
		e := newGroupEnv(t, db, 64, 50_000)
		good := e.newRun(t, "0").Info.RunID
		other := e.newRun(t, "0").Info.RunID
		deleted := e.newRun(t, "0").Info.RunID
		ok(t, e.svc.LogBatch(e.ctx, good, nil, []Param{{"lr", "0.1"}}, nil))
		e.nextGroup(t)
		ok(t, e.svc.DeleteRun(e.ctx, deleted))

		release, first := e.blockCommitter(t, other)
		cases := []struct {
			name string
			run  string
			ms   []Metric
			ps   []Param
			code errs.Code
			want string
		}{
			{"valid", good, points("a", 0, 5), []Param{{"lr", "0.1"}}, "", ""},
			{"changed param", good, points("b", 0, 5), []Param{{"lr", "0.2"}}, errs.Invalid, "Changing param values is not allowed"},
			{"missing run", "ffffffffffffffffffffffffffffffff", points("c", 0, 5), nil, errs.NotFound, "not found"},
			{"deleted run", deleted, points("d", 0, 5), nil, errs.Invalid, "must be in the 'active' state"},
			{"valid other run", other, points("e", 0, 5), []Param{{"seed", "1"}}, "", ""},
			{"conflicts with an earlier batch", other, points("f", 0, 5), []Param{{"seed", "2"}}, errs.Invalid, "'old_value': '1', 'new_value': '2'"},
		}
		results := make([]chan error, len(cases))
		for i, c := range cases {
			results[i] = make(chan error, 1)
			go func() { results[i] <- e.svc.LogBatch(e.ctx, c.run, c.ms, c.ps, nil) }()
			e.waitQueued(t, i+1) // queue order is case order
		}
		release()
		ok(t, <-first)
		for i, c := range cases {
			err := <-results[i]
			if c.code == "" {
				if err != nil {
					t.Fatalf("%s: %v", c.name, err)
				}
				continue
			}
			mustCode(t, err, c.code, c.want)
		}
		if n := e.nextGroup(t); n != len(cases) {
			t.Fatalf("one group of %d batches, want %d", n, len(cases))
		}
		// [points, params, tags]; each run has its mlflow.runName tag.
		if got := countRows(t, db, good); got != [3]int{5, 1, 1} {
			t.Fatalf("good run rows %v", got)
		}
		if got := countRows(t, db, other); got != [3]int{6, 1, 1} {
			t.Fatalf("other run rows %v", got)
		}
		if got := countRows(t, db, deleted); got != [3]int{0, 0, 1} {
			t.Fatalf("deleted run rows %v", got)
		}
	})
}

// TestGroupCommitParamRace sends two batches that log one param with
// different values at the same moment, many times, in one group and in
// separate ones: exactly one of each pair must fail.
func TestGroupCommitParamRace(t *testing.T) {
	storetest.Each(t, testMigrations(), func(t *testing.T, db *store.DB) {
		e := newGroupEnv(t, db, 64, 50_000)
		id := e.newRun(t, "0").Info.RunID
		for round := range 20 {
			key := fmt.Sprintf("p%d", round)
			var wg sync.WaitGroup
			var results [2]error
			for i := range 2 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					results[i] = e.svc.LogBatch(e.ctx, id, points(key, 0, 2), []Param{{key, fmt.Sprint(i)}}, nil)
				}()
			}
			wg.Wait()
			failed := 0
			for _, err := range results {
				if err != nil {
					mustCode(t, err, errs.Invalid, "Changing param values is not allowed")
					failed++
				}
			}
			if failed != 1 {
				t.Fatalf("round %d: %d of 2 batches failed: %v", round, failed, results)
			}
		}
		if got := countRows(t, db, id); got[1] != 20 {
			t.Fatalf("%d params stored, want 20", got[1])
		}
	})
}

// TestGroupCommitStopDrains stops the service while batches wait in the
// queue: Stop returns once they are committed, and later calls still work.
func TestGroupCommitStopDrains(t *testing.T) {
	storetest.Each(t, testMigrations(), func(t *testing.T, db *store.DB) {
		e := newGroupEnv(t, db, 4, 50_000)
		id := e.newRun(t, "0").Info.RunID
		release, first := e.blockCommitter(t, id)
		const n = 10
		results := make(chan error, n)
		for i := range n {
			go func() { results <- e.svc.LogBatch(e.ctx, id, points(fmt.Sprintf("k%d", i), 0, 3), nil, nil) }()
		}
		e.waitQueued(t, n)
		stopped := make(chan error, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			stopped <- e.svc.Stop(ctx)
		}()
		select {
		case err := <-stopped:
			t.Fatalf("Stop returned before the queue was committed: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
		release()
		ok(t, <-stopped)
		ok(t, <-first)
		for range n {
			ok(t, <-results)
		}
		if got := countRows(t, db, id)[0]; got != 1+3*n {
			t.Fatalf("%d points stored, want %d", got, 1+3*n)
		}
		// After Stop, batches commit on their own; stopping again is harmless.
		ok(t, e.svc.LogBatch(e.ctx, id, points("after", 0, 2), nil, nil))
		ok(t, e.svc.Stop(context.Background()))
		if got := countRows(t, db, id)[0]; got != 3+3*n {
			t.Fatalf("%d points stored after Stop, want %d", got, 3+3*n)
		}
	})
}

// TestGroupCommitCancel: a caller that gives up while its batch is queued
// gets ctx's error and the batch is never applied; one whose batch is
// already being committed gets the real outcome.
func TestGroupCommitCancel(t *testing.T) {
	storetest.Each(t, testMigrations(), func(t *testing.T, db *store.DB) {
		e := newGroupEnv(t, db, 64, 50_000)
		id := e.newRun(t, "0").Info.RunID
		release := holdWriter(t, db)

		takenCtx, cancelTaken := context.WithCancel(e.ctx)
		taken := make(chan error, 1)
		go func() { taken <- e.svc.LogBatch(takenCtx, id, points("taken", 0, 2), nil, nil) }()
		e.nextGroup(t)

		queuedCtx, cancelQueued := context.WithCancel(e.ctx)
		queued := make(chan error, 1)
		go func() { queued <- e.svc.LogBatch(queuedCtx, id, points("queued", 0, 2), nil, nil) }()
		e.waitQueued(t, 1)

		cancelQueued()
		if err := <-queued; !errors.Is(err, context.Canceled) {
			t.Fatalf("queued batch: %v, want context.Canceled", err)
		}
		cancelTaken()
		release()
		ok(t, <-taken) // it was committed, and the answer says so
		// The committer skips the abandoned batch and goes on.
		ok(t, e.svc.LogBatch(e.ctx, id, points("later", 0, 2), nil, nil))
		if n := e.nextGroup(t); n != 1 {
			t.Fatalf("group after the cancelled batch: %d batches, want 1", n)
		}
		r := must[Run](t)(e.svc.GetRun(e.ctx, id))
		keys := map[string]bool{}
		for _, m := range r.Metrics {
			keys[m.Key] = true
		}
		if !keys["taken"] || !keys["later"] || keys["queued"] {
			t.Fatalf("stored keys %v: want taken and later, not queued", keys)
		}
	})
}

// TestGroupCommitAloneBatches: batches that rename their run or link
// points to logged models bypass the group, with the caller's actor in the
// audit log, while the committer runs.
func TestGroupCommitAloneBatches(t *testing.T) {
	storetest.Each(t, testMigrations(), func(t *testing.T, db *store.DB) {
		e := newGroupEnv(t, db, 64, 50_000)
		id := e.newRun(t, "0").Info.RunID
		ok(t, e.svc.LogBatch(e.ctx, id, points("m", 0, 2), nil, []Tag{{TagRunName, "renamed"}}))
		if r := must[Run](t)(e.svc.GetRun(e.ctx, id)); r.Info.RunName != "renamed" {
			t.Fatalf("run name %q", r.Info.RunName)
		}
		events, err := e.log.List(context.Background(), audit.Filter{Limit: 1000})
		ok(t, err)
		last := events[len(events)-1]
		if last.Action != "run.rename" || last.Actor != "alice" {
			t.Fatalf("last audit event %+v, want run.rename by alice", last)
		}
		err = e.svc.LogBatch(e.ctx, id, []Metric{{Key: "m", Value: 1, ModelID: "m-missing"}}, nil, nil)
		mustCode(t, err, errs.NotFound, "Logged model with ID 'm-missing' not found")
		select {
		case n := <-e.taken:
			t.Fatalf("the committer took a group of %d", n)
		default:
		}
	})
}

// TestGroupCommitParamRaceFallback: on PostgreSQL another transaction can
// insert a param after a group read the params. The group then rolls back
// and each of its batches is applied alone, which gives each its own
// answer. (SQLite has one writer, so the race cannot happen there.)
func TestGroupCommitParamRaceFallback(t *testing.T) {
	storetest.Each(t, testMigrations(), func(t *testing.T, db *store.DB) {
		if db.Dialect() != store.Postgres {
			return
		}
		e := newGroupEnv(t, db, 64, 50_000)
		raced := e.newRun(t, "0").Info.RunID
		other := e.newRun(t, "0").Info.RunID
		blocker := e.newRun(t, "0").Info.RunID
		ctx := context.Background()

		// uncommitted inserts a param in a transaction that commits when
		// told: the groups cannot see it, but their INSERTs wait for it.
		uncommitted := func(run, key, value string) (commit func()) {
			inserted, release := make(chan struct{}), make(chan struct{})
			done := make(chan error, 1)
			go func() {
				done <- db.InTx(ctx, func(tx *store.Tx) error {
					if _, err := tx.Exec(ctx, `INSERT INTO run_params (run_uuid, key, value) VALUES (?, ?, ?)`, run, key, value); err != nil {
						return err
					}
					close(inserted)
					<-release
					return nil
				})
			}()
			<-inserted
			return func() { close(release); ok(t, <-done) }
		}
		waitLocked := func() {
			t.Helper()
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
				var waiting int
				ok(t, db.QueryRow(ctx, `SELECT COUNT(*) FROM pg_locks WHERE NOT granted`).Scan(&waiting))
				if waiting > 0 {
					return
				}
				if time.Now().After(deadline) {
					t.Fatal("no group waits on an uncommitted param")
				}
			}
		}
		commitBlocker := uncommitted(blocker, "x", "1")
		commitRival := uncommitted(raced, "lr", "0.2")

		// A first group waits on the blocker's param, so that the next two
		// batches queue up and form one group.
		first := make(chan error, 1)
		go func() { first <- e.svc.LogBatch(e.ctx, blocker, nil, []Param{{"x", "1"}}, nil) }()
		e.nextGroup(t)
		waitLocked()
		results := make([]chan error, 2)
		for i, b := range []struct {
			run string
			p   Param
		}{{raced, Param{"lr", "0.1"}}, {other, Param{"lr", "0.1"}}} {
			results[i] = make(chan error, 1)
			go func() { results[i] <- e.svc.LogBatch(e.ctx, b.run, points("m", 0, 2), []Param{b.p}, nil) }()
			e.waitQueued(t, i+1)
		}
		commitBlocker()
		ok(t, <-first) // its group raced too (same value): alone, it succeeds
		if n := e.nextGroup(t); n != 2 {
			t.Fatalf("second group of %d batches, want 2", n)
		}
		waitLocked()
		commitRival()
		mustCode(t, <-results[0], errs.Invalid, "'old_value': '0.2', 'new_value': '0.1'")
		ok(t, <-results[1])
		if got := countRows(t, db, raced); got[0] != 0 || got[1] != 1 {
			t.Fatalf("raced run rows %v: want no points and the rival's param", got)
		}
		if got := countRows(t, db, other); got[0] != 2 || got[1] != 1 {
			t.Fatalf("other run rows %v", got)
		}
	})
}

// TestGroupCommitStart runs the committers Start chooses for the engine
// (two on PostgreSQL) under concurrent writers to shared runs.
func TestGroupCommitStart(t *testing.T) {
	storetest.Each(t, testMigrations(), func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		e.svc.Start()
		defer func() { ok(t, e.svc.Stop(context.Background())) }()
		runs := []string{e.newRun(t, "0").Info.RunID, e.newRun(t, "0").Info.RunID}
		const writers, batches = 8, 20
		var wg sync.WaitGroup
		errc := make(chan error, writers*batches)
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for b := range batches {
					step := b*writers + w
					ps := []Param{{"shared", "same"}, {fmt.Sprintf("b%d", b), "v"}}
					tags := []Tag{{"writer", fmt.Sprint(w)}}
					errc <- e.svc.LogBatch(e.ctx, runs[w%2], append(points("m", step*5, 5), points(fmt.Sprintf("w%d", w), step, 1)...), ps, tags)
				}
			}()
		}
		wg.Wait()
		close(errc)
		for err := range errc {
			ok(t, err)
		}
		for _, id := range runs {
			if got := countRows(t, db, id); got != [3]int{writers / 2 * batches * 6, batches + 1, 2} {
				t.Fatalf("run rows %v", got)
			}
			for _, m := range must[Run](t)(e.svc.GetRun(e.ctx, id)).Metrics {
				if m.Key == "m" && m.Step < int64((batches-1)*writers*5) {
					t.Fatalf("latest m at step %d", m.Step)
				}
			}
		}
	})
}
