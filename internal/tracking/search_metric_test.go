package tracking

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/mlcycle/mlcycle/internal/store"
	"github.com/mlcycle/mlcycle/internal/store/storetest"
)

// The sort-by-metric fast path (metricPage) must answer exactly what the
// full query answers, page by page, or step aside. The data has many equal
// values, NaNs, runs without the metric, deleted runs, a second experiment
// and a second metric; small windows reach every fallback.
func TestSearchRunsByMetricFastPath(t *testing.T) {
	storetest.Each(t, testMigrations(), func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		expA := must[string](t)(e.svc.CreateExperiment(e.ctx, "a", "", nil))
		expB := must[string](t)(e.svc.CreateExperiment(e.ctx, "b", "", nil))
		seedMetricRuns(t, db, map[string]int{expA: 120, expB: 20})

		search := func(svc *Service, q RunQuery) []string {
			t.Helper()
			var ids []string
			for {
				runs, tok, err := svc.SearchRuns(ctx, q)
				ok(t, err)
				for _, r := range runs {
					ids = append(ids, r.Info.RunID)
				}
				if tok == "" {
					return ids
				}
				q.PageToken = tok
			}
		}
		full := New(db, e.log, Options{})
		full.metricWindow = -1
		for _, exps := range [][]string{{expA}, {expA, expB}} {
			for _, order := range []string{"metrics.acc DESC", "metrics.`acc` ASC"} {
				for _, view := range []ViewType{ActiveOnly, All} {
					for _, size := range []int{7, 30, 1000} {
						q := RunQuery{ExperimentIDs: exps, OrderBy: []string{order}, ViewType: view, MaxResults: size}
						want := search(full, q)
						for _, per := range []int{0, 1, 3} {
							fast := New(db, e.log, Options{})
							fast.metricWindow = per
							if got := search(fast, q); !slices.Equal(got, want) {
								t.Fatalf("%v %q view %d size %d window %d/row:\n got %v\nwant %v", exps, order, view, size, per, got, want)
							}
						}
					}
				}
			}
		}

		// And it does answer, not only step aside: the best 20 of a, whose
		// runs hold most of the metric.
		rs, err := compileRunSearch(db.Dialect(), RunQuery{ExperimentIDs: []string{expA}, OrderBy: []string{"metrics.acc DESC"}, MaxResults: 20})
		ok(t, err)
		if rs.byMetric == nil {
			t.Fatal("no fast path for an unfiltered sort by one metric")
		}
		runs, answered, err := e.svc.metricPage(ctx, rs.byMetric, 21)
		ok(t, err)
		want := search(full, RunQuery{ExperimentIDs: []string{expA}, OrderBy: []string{"metrics.acc DESC"}, MaxResults: 21})[:21]
		var got []string
		for _, r := range runs {
			got = append(got, r.Info.RunID)
		}
		if !answered || !slices.Equal(got, want) {
			t.Fatalf("fast path answered %v with %v, want %v", answered, got, want)
		}
		for _, q := range []RunQuery{
			{ExperimentIDs: []string{expA}, OrderBy: []string{"metrics.acc DESC"}, Filter: "metrics.acc > 0"},
			{ExperimentIDs: []string{expA}, OrderBy: []string{"metrics.acc DESC", "params.p"}},
			{ExperimentIDs: []string{expA}, OrderBy: []string{"attributes.start_time DESC"}},
		} {
			if rs, err := compileRunSearch(db.Dialect(), q); err != nil || rs.byMetric != nil {
				t.Errorf("%+v: fast path %v (%v); it is only for an unfiltered sort by one metric", q, rs.byMetric, err)
			}
		}
	})
}

// seedMetricRuns inserts runs per experiment: start times in threes (ties),
// metric acc from five values (ties) for 70%, NaN for 10%, missing for the
// rest; metric other for all; every ninth run deleted.
func seedMetricRuns(t *testing.T, db *store.DB, runs map[string]int) {
	t.Helper()
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(7, 8))
	n := 0
	exps := make([]string, 0, len(runs))
	for exp := range runs {
		exps = append(exps, exp)
	}
	slices.Sort(exps)
	err := db.InTx(ctx, func(tx *store.Tx) error {
		for _, exp := range exps {
			for range runs[exp] {
				id := fmt.Sprintf("%032x", n+1)
				stage := "active"
				if n%9 == 4 {
					stage = "deleted"
				}
				if _, err := tx.Exec(ctx, `INSERT INTO runs (run_uuid, experiment_id, name, user_id, status, start_time, lifecycle_stage, artifact_uri)
					VALUES (?, ?, ?, 'u', 'FINISHED', ?, ?, '')`, id, exp, fmt.Sprintf("r%d", n), int64(1_700_000_000_000+n/3), stage); err != nil {
					return err
				}
				if _, err := tx.Exec(ctx, `INSERT INTO run_latest_metrics (run_uuid, key, value, ts, step, is_nan) VALUES (?, 'other', ?, 1, 0, 0)`, id, rng.Float64()); err != nil {
					return err
				}
				switch p := rng.IntN(10); {
				case p < 7:
					v := []float64{-1, 0.25, 0.5, 0.75, 1e300}[rng.IntN(5)]
					if _, err := tx.Exec(ctx, `INSERT INTO run_latest_metrics (run_uuid, key, value, ts, step, is_nan) VALUES (?, 'acc', ?, 1, 0, 0)`, id, v); err != nil {
						return err
					}
				case p < 8:
					if _, err := tx.Exec(ctx, `INSERT INTO run_latest_metrics (run_uuid, key, value, ts, step, is_nan) VALUES (?, 'acc', 0, 1, 0, 1)`, id); err != nil {
						return err
					}
				}
				n++
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
