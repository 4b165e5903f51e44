package main

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// The timed query: a metric bound, a param equality and a metric sort, the
// shape of the most common "best runs of this model" search.
const (
	searchFilter  = "metrics.acc > 0.9 and params.model = 'gbdt'"
	searchOrderBy = "metrics.acc DESC"
	searchMax     = 100
)

var (
	models = [...]string{"gbdt", "rf", "linear", "mlp", "svm"}
	rates  = [...]string{"0.001", "0.003", "0.01", "0.03", "0.1"}
	teams  = [...]string{"vision", "ranking", "forecast"}
)

// seeded is what run i of the search experiment holds. The same i gives the
// same run on every server, so both hold identical data up to their counts.
type seeded struct {
	model, lr, team string
	acc, loss       float64
}

func seedRun(i int) seeded {
	r := rand.New(rand.NewPCG(0x6d6c6379, uint64(i)))
	acc := 0.5 + 0.5*r.Float64()
	return seeded{
		model: models[r.IntN(len(models))],
		lr:    rates[r.IntN(len(rates))],
		team:  teams[r.IntN(len(teams))],
		acc:   acc,
		loss:  -0.9*math.Log(acc) + 0.05*r.Float64(),
	}
}

// searchPhase seeds runs into a fresh experiment with cfg.seedClients
// clients, pausing at each checkpoint to time cfg.searches searches.
// Seeding stops at cfg.seedTimeout; the searches then run over what was
// seeded, and the row says how many runs that was.
func searchPhase(ctx context.Context, cfg config, c *api, experiment string, checkpoints []int) ([]phaseResult, []string, error) {
	expID, err := c.createExperiment(ctx, experiment)
	if err != nil {
		return nil, nil, err
	}
	total := checkpoints[len(checkpoints)-1]
	ok := make([]bool, total) // run i was created and logged
	var (
		out      []phaseResult
		checks   []string
		seedLat  []time.Duration
		seedReqs int
		seedErrs int
		seedTime time.Duration
		next     int
	)
	start := time.Now()
	deadline := start.Add(cfg.seedTimeout)
	capped := false
	t0 := time.Now().UnixMilli()
	for _, cp := range checkpoints {
		s := time.Now()
		lat, reqs, errs := seedRange(ctx, c, expID, t0, next, cp, cfg.seedClients, deadline, ok)
		seedTime += time.Since(s)
		seedLat = append(seedLat, lat...)
		seedReqs += reqs
		seedErrs += errs
		next = cp
		n := 0
		for _, v := range ok[:cp] {
			if v {
				n++
			}
		}
		if n < cp {
			capped = true
		}
		fmt.Fprintf(os.Stderr, "   seeded %d runs in %.1fs; timing searches\n", n, seedTime.Seconds())
		sr, bad := timeSearches(ctx, cfg, c, expID, ok[:cp])
		sr.Runs = n
		sr.Capped = sr.Capped || n < cp
		out = append(out, sr)
		checks = append(checks, bad...)
		if capped {
			break
		}
	}
	seeded := 0
	for _, v := range ok {
		if v {
			seeded++
		}
	}
	seed := phaseResult{
		Phase:        "seed",
		Runs:         seeded,
		Requests:     seedReqs,
		Errors:       seedErrs,
		Points:       int64(seeded) * 2,
		Seconds:      seedTime.Seconds(),
		PointsPerSec: float64(seeded*2) / seedTime.Seconds(),
		RunsPerSec:   float64(seeded) / seedTime.Seconds(),
		Capped:       capped,
	}
	seed.setLatency(seedLat)
	return append([]phaseResult{seed}, out...), checks, nil
}

// seedRange creates and logs runs [from, to) with n clients until done or
// the deadline. It returns the latencies of the successful requests and the
// counts of successful and failed requests.
func seedRange(ctx context.Context, c *api, expID string, t0 int64, from, to, n int, deadline time.Time, ok []bool) ([]time.Duration, int, int) {
	var (
		wg         sync.WaitGroup
		mu         sync.Mutex
		lat        []time.Duration
		reqs, errs atomic.Int64
		next       atomic.Int64
	)
	next.Store(int64(from))
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for {
				i := int(next.Add(1) - 1)
				if i >= to || time.Now().After(deadline) {
					break
				}
				s := seedRun(i)
				id, took, err := c.createRun(ctx, createRunReq{
					ExperimentID: expID,
					RunName:      fmt.Sprintf("seed-%06d", i),
					StartTime:    t0 + int64(i),
					Tags:         []keyValue{{Key: "team", Value: s.team}, {Key: "source", Value: "bench"}},
				})
				if err != nil {
					errs.Add(1)
					continue
				}
				reqs.Add(1)
				mine = append(mine, took)
				took, err = c.post(ctx, "runs/log-batch", logBatchReq{
					RunID: id,
					Params: []keyValue{
						{Key: "model", Value: s.model},
						{Key: "lr", Value: s.lr},
						{Key: "seed", Value: strconv.Itoa(i)},
					},
					Metrics: []metric{
						{Key: "acc", Value: s.acc, Timestamp: t0 + int64(i), Step: 0},
						{Key: "loss", Value: s.loss, Timestamp: t0 + int64(i), Step: 0},
					},
				}, nil)
				if err != nil {
					errs.Add(1)
					continue
				}
				reqs.Add(1)
				mine = append(mine, took)
				ok[i] = true // each i is written by one goroutine, read after Wait
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return lat, int(reqs.Load()), int(errs.Load())
}

// timeSearches sends one untimed search and checks its answer against the
// seeded data, then times cfg.searches identical searches, one at a time.
func timeSearches(ctx context.Context, cfg config, c *api, expID string, ok []bool) (phaseResult, []string) {
	res := phaseResult{Phase: "search"}
	req := searchRunsReq{
		ExperimentIDs: []string{expID},
		Filter:        searchFilter,
		RunViewType:   "ACTIVE_ONLY",
		MaxResults:    searchMax,
		OrderBy:       []string{searchOrderBy},
	}
	want := expectedAcc(ok)
	var first searchRunsResp
	if _, err := c.post(ctx, "runs/search", req, &first); err != nil {
		res.Errors++
		return res, []string{fmt.Sprintf("runs/search over %d seeded runs failed (see errors)", len(ok))}
	}
	bad := checkSearch(first, want)

	var lat []time.Duration
	start := time.Now()
	deadline := start.Add(cfg.searchTimeout)
	for range cfg.searches {
		if time.Now().After(deadline) {
			res.Capped = true
			break
		}
		var resp searchRunsResp
		took, err := c.post(ctx, "runs/search", req, &resp)
		if err != nil {
			res.Errors++
			continue
		}
		if len(resp.Runs) != len(want) && len(bad) == 0 {
			bad = append(bad, fmt.Sprintf("runs/search: %d runs in a repeated answer, want %d", len(resp.Runs), len(want)))
		}
		lat = append(lat, took)
	}
	res.Requests = len(lat)
	res.Seconds = time.Since(start).Seconds()
	res.setLatency(lat)
	return res, bad
}

// expectedAcc returns the acc values the timed search must return, in order.
func expectedAcc(ok []bool) []float64 {
	var accs []float64
	for i, v := range ok {
		if !v {
			continue
		}
		if s := seedRun(i); s.model == "gbdt" && s.acc > 0.9 {
			accs = append(accs, s.acc)
		}
	}
	slices.Sort(accs)
	slices.Reverse(accs)
	if len(accs) > searchMax {
		accs = accs[:searchMax]
	}
	return accs
}

// checkSearch compares an answer with the expected acc values and checks
// that every returned run matches the filter.
func checkSearch(resp searchRunsResp, want []float64) []string {
	if len(resp.Runs) != len(want) {
		return []string{fmt.Sprintf("runs/search %q order_by %q: %d runs, want %d",
			searchFilter, searchOrderBy, len(resp.Runs), len(want))}
	}
	for j, r := range resp.Runs {
		acc, hasAcc := 0.0, false
		for _, m := range r.Data.Metrics {
			if m.Key == "acc" {
				acc, hasAcc = m.Value, true
			}
		}
		model := ""
		for _, p := range r.Data.Params {
			if p.Key == "model" {
				model = p.Value
			}
		}
		switch {
		case !hasAcc:
			return []string{fmt.Sprintf("runs/search: run %d (%s) has no acc metric in run.data.metrics", j, r.Info.RunID)}
		case model != "gbdt":
			return []string{fmt.Sprintf("runs/search: run %d (%s) has params.model %q, want 'gbdt'", j, r.Info.RunID, model)}
		case !near(acc, want[j]):
			return []string{fmt.Sprintf("runs/search: run %d (%s) has acc %v, want %v (wrong filter or order)", j, r.Info.RunID, acc, want[j])}
		}
	}
	return nil
}
