package tracking

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mlcycle/mlcycle/internal/audit"
	"github.com/mlcycle/mlcycle/internal/store"
	"github.com/mlcycle/mlcycle/internal/store/storetest"
)

// Run with: go test -run '^$' -bench . -benchtime 200x ./internal/tracking/
// (eval "$(scripts/pg-env)" first for the postgres sub-benchmarks).

// benchEngines runs fn as a sub-benchmark per engine. Each engine's database
// is opened and set up once, on the first run, and kept for the runs the
// testing package repeats with growing b.N.
func benchEngines(b *testing.B, setup func(b *testing.B, db *store.DB), fn func(b *testing.B, db *store.DB)) {
	for _, engine := range []string{"sqlite", "postgres"} {
		var db *store.DB
		b.Run(engine, func(sb *testing.B) {
			if db == nil {
				if engine == "postgres" {
					if os.Getenv("TEST_DATABASE_URL") == "" {
						sb.Skip("PostgreSQL not available: set TEST_DATABASE_URL (eval \"$(scripts/pg-env)\")")
					}
					db = storetest.Postgres(b, testMigrations())
				} else {
					db = storetest.SQLite(b, testMigrations())
				}
				if setup != nil {
					setup(sb, db)
				}
			}
			fn(sb, db)
		})
	}
}

// BenchmarkLogBatch logs batches of 1000 metric points (10 keys × 100 steps)
// to one run, the shape of a training loop flushing its buffer.
func BenchmarkLogBatch(b *testing.B) {
	benchEngines(b, nil, func(b *testing.B, db *store.DB) {
		ctx := context.Background()
		svc := New(db, audit.New(db, audit.Options{}), Options{})
		run, err := svc.CreateRun(ctx, CreateRunInput{})
		if err != nil {
			b.Fatal(err)
		}
		batch := make([]Metric, 1000)
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			for j := range batch {
				step := int64(i*100 + j/10)
				batch[j] = Metric{Key: fmt.Sprintf("metric_%d", j%10), Value: rand.Float64(), Timestamp: 1_700_000_000_000 + step, Step: step}
			}
			if err := svc.LogBatch(ctx, run.Info.RunID, batch, nil, nil); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		b.ReportMetric(float64(b.N*len(batch))/b.Elapsed().Seconds(), "points/s")
	})
}

// BenchmarkSearchRuns100k searches an experiment of 100,000 runs (each with
// two params and two metrics) with a metric filter, a param filter and a
// metric ordering, 100 results a page, as the MLflow UI and client do.
func BenchmarkSearchRuns100k(b *testing.B) {
	var exp string
	seed := func(b *testing.B, db *store.DB) {
		svc := New(db, audit.New(db, audit.Options{}), Options{})
		var err error
		if exp, err = svc.CreateExperiment(context.Background(), "bench", "", nil); err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		seedSearchRuns(b, db, exp, 100_000)
		b.Logf("seeded 100k runs in %s", time.Since(start).Round(time.Millisecond))
	}
	queries := []struct {
		name string
		q    RunQuery
	}{
		{"filtered", RunQuery{Filter: "metrics.acc > 0.5 AND params.optimizer = 'adam'", OrderBy: []string{"metrics.acc DESC"}}},
		// What the UI asks when a metric column is sorted: no filter.
		{"order-by-metric", RunQuery{OrderBy: []string{"metrics.acc DESC"}}},
		{"default-order", RunQuery{}},
	}
	benchEngines(b, seed, func(b *testing.B, db *store.DB) {
		ctx := context.Background()
		svc := New(db, audit.New(db, audit.Options{}), Options{})
		for _, qc := range queries {
			b.Run(qc.name, func(b *testing.B) {
				q := qc.q
				q.ExperimentIDs, q.MaxResults = []string{exp}, 100
				runs, _, err := svc.SearchRuns(ctx, q)
				if err != nil || len(runs) != 100 {
					b.Fatalf("%d runs, %v", len(runs), err)
				}
				lat := make([]time.Duration, 0, b.N)
				b.ResetTimer()
				for range b.N {
					t0 := time.Now()
					if _, _, err := svc.SearchRuns(ctx, q); err != nil {
						b.Fatal(err)
					}
					lat = append(lat, time.Since(t0))
				}
				b.StopTimer()
				slices.Sort(lat)
				b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
				b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
			})
		}
	})
}

// seedSearchRuns bulk-inserts n runs with params optimizer and lr and
// latest metrics acc and loss straight into the tables, in one
// transaction of multi-row INSERTs.
func seedSearchRuns(b *testing.B, db *store.DB, exp string, n int) {
	b.Helper()
	ctx := context.Background()
	opts := []string{"adam", "sgd", "rmsprop", "adagrad"}
	rng := rand.New(rand.NewPCG(1, 2))
	err := db.InTx(ctx, func(tx *store.Tx) error {
		const chunk = 500
		for lo := 0; lo < n; lo += chunk {
			hi := min(lo+chunk, n)
			var runs, params, metrics strings.Builder
			var runArgs, paramArgs, metricArgs []any
			for i := lo; i < hi; i++ {
				id := fmt.Sprintf("%032x", i+1)
				if i > lo {
					runs.WriteString(", ")
					params.WriteString(", ")
					metrics.WriteString(", ")
				}
				runs.WriteString("(?, ?, ?, 'bench', 'FINISHED', ?, 'active', '')")
				runArgs = append(runArgs, id, exp, fmt.Sprintf("run-%d", i), int64(1_700_000_000_000+i))
				params.WriteString("(?, 'optimizer', ?), (?, 'lr', ?)")
				paramArgs = append(paramArgs, id, opts[i%len(opts)], id, fmt.Sprint(float64(i%10)/100))
				metrics.WriteString("(?, 'acc', ?, 1, 10, 0), (?, 'loss', ?, 1, 10, 0)")
				metricArgs = append(metricArgs, id, rng.Float64(), id, rng.Float64())
			}
			for _, ins := range []struct {
				sql  string
				args []any
			}{
				{`INSERT INTO runs (run_uuid, experiment_id, name, user_id, status, start_time, lifecycle_stage, artifact_uri) VALUES ` + runs.String(), runArgs},
				{`INSERT INTO run_params (run_uuid, key, value) VALUES ` + params.String(), paramArgs},
				{`INSERT INTO run_latest_metrics (run_uuid, key, value, ts, step, is_nan) VALUES ` + metrics.String(), metricArgs},
			} {
				if _, err := tx.Exec(ctx, ins.sql, ins.args...); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	// PostgreSQL's autovacuum analyzes tables this size within a minute of
	// such a load; without statistics its planner assumes one row per
	// filter. SQLite plans this query well without statistics. Only the
	// seeded tables: a bare ANALYZE would visit every schema in the test
	// cluster.
	if db.Dialect() == store.Postgres {
		if _, err := db.Exec(ctx, `ANALYZE runs, run_params, run_latest_metrics`); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLogBatchConcurrent has 16 clients, each with its own run, log
// batches of 100 points (10 keys × 10 steps) at once: the load of
// bench/tracking.sh without HTTP. "grouped" runs the group committer
// (Start), "alone" commits each batch in its own transaction.
func BenchmarkLogBatchConcurrent(b *testing.B) {
	const clients = 16
	for _, mode := range []string{"grouped", "alone"} {
		b.Run(mode, func(b *testing.B) {
			benchEngines(b, nil, func(b *testing.B, db *store.DB) {
				ctx := context.Background()
				svc := New(db, audit.New(db, audit.Options{}), Options{})
				if mode == "grouped" {
					svc.Start()
					defer svc.Stop(ctx)
				}
				runs := make([]string, clients)
				for i := range runs {
					r, err := svc.CreateRun(ctx, CreateRunInput{})
					if err != nil {
						b.Fatal(err)
					}
					runs[i] = r.Info.RunID
				}
				var next atomic.Int64
				errc := make(chan error, clients)
				b.ReportAllocs()
				cpu0 := cpuTime()
				b.ResetTimer()
				for ci := range clients {
					go func() {
						batch := make([]Metric, 100)
						for {
							n := next.Add(1) - 1
							if n >= int64(b.N) {
								errc <- nil
								return
							}
							for j := range batch {
								step := n/clients*10 + int64(j/10)
								batch[j] = Metric{Key: fmt.Sprintf("m%d", j%10), Value: rand.Float64(), Timestamp: 1_700_000_000_000 + step, Step: step}
							}
							if err := svc.LogBatch(ctx, runs[ci], batch, nil, nil); err != nil {
								errc <- err
								return
							}
						}
					}()
				}
				for range clients {
					if err := <-errc; err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "points/s")
				b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
			})
		})
	}
}

// cpuTime is the user and system CPU time of this process so far: on a
// busy machine it compares versions better than the wall clock.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
