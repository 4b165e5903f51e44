package main

import (
	"context"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"sync"
	"time"
)

// Each log-batch request carries pointsPerBatch metric points: metricKeys
// keys (m0..m9) at stepsPerBatch consecutive steps.
const (
	metricKeys     = 10
	stepsPerBatch  = 10
	pointsPerBatch = metricKeys * stepsPerBatch
)

// trainingParams are logged once per run, with the first batch.
var trainingParams = [...]string{"model", "optimizer", "learning_rate", "batch_size", "epochs",
	"dropout", "weight_decay", "hidden_size", "num_layers", "seed"}

// logBatchPhase has cfg.clients clients each create a run and then send
// cfg.batches log-batch requests to it, all at once, until done or the time
// cap; it reports metric points per second and per-request latency.
func logBatchPhase(ctx context.Context, cfg config, c *api, experiment string) (phaseResult, error) {
	res := phaseResult{Phase: "log-batch", Runs: cfg.clients}
	expID, err := c.createExperiment(ctx, experiment)
	if err != nil {
		return res, err
	}
	t0 := time.Now().UnixMilli()
	runIDs := make([]string, cfg.clients)
	for i := range runIDs {
		id, _, err := c.createRun(ctx, createRunReq{
			ExperimentID: expID,
			RunName:      fmt.Sprintf("train-%02d", i),
			StartTime:    t0,
			Tags:         []keyValue{{Key: "source", Value: "bench"}},
		})
		if err != nil {
			return res, fmt.Errorf("creating run %d: %w", i, err)
		}
		runIDs[i] = id
	}

	warmUp(ctx, c, runIDs)

	var (
		wg        sync.WaitGroup
		mu        sync.Mutex
		lat       []time.Duration
		completed = make([]int, cfg.clients) // successful batches per client
		failed    = make([]int, cfg.clients)
	)
	start := time.Now()
	deadline := start.Add(cfg.logTimeout)
	for ci := range cfg.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mine := make([]time.Duration, 0, cfg.batches)
			for b := range cfg.batches {
				if time.Now().After(deadline) {
					break
				}
				req := logBatchReq{RunID: runIDs[ci], Metrics: batchMetrics(ci, b, t0)}
				if b == 0 {
					req.Params = batchParams(ci)
				}
				took, err := c.post(ctx, "runs/log-batch", req, nil)
				if err != nil {
					failed[ci]++
					continue
				}
				completed[ci]++
				mine = append(mine, took)
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)

	total, errors := 0, 0
	for ci := range completed {
		total += completed[ci]
		errors += failed[ci]
	}
	res.Requests = total
	res.Errors = errors
	res.Points = int64(total) * pointsPerBatch
	res.Seconds = elapsed.Seconds()
	res.PointsPerSec = float64(res.Points) / elapsed.Seconds()
	res.Capped = total+errors < cfg.clients*cfg.batches
	res.setLatency(lat)
	res.checks = checkLogged(ctx, c, runIDs, completed, failed)
	return res, nil
}

// warmUp reads every run a few times from all clients at once, untimed, so
// connections are open and every server process (mlflow runs several) has
// served a request before the clock starts.
func warmUp(ctx context.Context, c *api, runIDs []string) {
	var wg sync.WaitGroup
	for _, id := range runIDs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 4 {
				_, _ = c.get(ctx, "runs/get", url.Values{"run_id": {id}}, nil) // failures are logged
			}
		}()
	}
	wg.Wait()
}

// batchMetrics returns batch b of client ci: keys m0..m9 at steps
// b*10..b*10+9, shaped like training curves (loss-like keys decay, score-like
// keys rise) with a little deterministic noise. Timestamps grow with the
// step, so the last step is unambiguously the latest value.
func batchMetrics(ci, b int, t0 int64) []metric {
	ms := make([]metric, 0, pointsPerBatch)
	for s := range stepsPerBatch {
		step := b*stepsPerBatch + s
		for k := range metricKeys {
			ms = append(ms, metric{
				Key:       "m" + strconv.Itoa(k),
				Value:     metricValue(ci, k, step),
				Timestamp: t0 + int64(step),
				Step:      int64(step),
			})
		}
	}
	return ms
}

func metricValue(ci, k, step int) float64 {
	decay := math.Exp(-float64(step) / 600)
	noise := 0.02 * (unit(uint64(ci)<<40|uint64(k)<<32|uint64(step)) - 0.5)
	if k%2 == 0 { // loss-like
		return (0.5+0.1*float64(k))*decay + 0.05 + noise
	}
	return 0.98 - 0.5*decay + noise // accuracy-like
}

func batchParams(ci int) []keyValue {
	values := [...]string{"mlp", "adam", "0.001", "64", "20", "0.1", "0.0001", "256", "4", strconv.Itoa(ci)}
	ps := make([]keyValue, len(trainingParams))
	for i, k := range trainingParams {
		ps[i] = keyValue{Key: k, Value: values[i]}
	}
	return ps
}

// unit maps x to [0, 1) by a splitmix64 hash: cheap, deterministic noise.
func unit(x uint64) float64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	x ^= x >> 31
	return float64(x>>11) / (1 << 53)
}

// checkLogged reads back what the clients logged: each error-free run must
// report the last step of every key as its latest value and all ten params,
// and the first run's m0 history must hold every point sent.
func checkLogged(ctx context.Context, c *api, runIDs []string, completed, failed []int) []string {
	var bad []string
	for ci, id := range runIDs {
		if failed[ci] > 0 || completed[ci] == 0 {
			continue
		}
		var resp runResp
		if _, err := c.get(ctx, "runs/get", url.Values{"run_id": {id}}, &resp); err != nil {
			bad = append(bad, fmt.Sprintf("runs/get %s failed", id))
			continue
		}
		last := completed[ci]*stepsPerBatch - 1
		latest := map[string]metric{}
		for _, m := range resp.Run.Data.Metrics {
			latest[m.Key] = m
		}
		for k := range metricKeys {
			key := "m" + strconv.Itoa(k)
			m, ok := latest[key]
			want := metricValue(ci, k, last)
			switch {
			case !ok:
				bad = append(bad, fmt.Sprintf("runs/get %s: metric %s missing", id, key))
			case m.Step != int64(last) || !near(m.Value, want):
				bad = append(bad, fmt.Sprintf("runs/get %s: latest %s = %v at step %d, want %v at step %d",
					id, key, m.Value, m.Step, want, last))
			}
		}
		if n := len(resp.Run.Data.Params); n != len(trainingParams) {
			bad = append(bad, fmt.Sprintf("runs/get %s: %d params, want %d", id, n, len(trainingParams)))
		}
		if len(bad) > 5 {
			return bad
		}
	}
	if failed[0] == 0 && completed[0] > 0 {
		bad = append(bad, checkHistory(ctx, c, runIDs[0], completed[0]*stepsPerBatch)...)
	}
	return bad
}

// checkHistory pages through metrics/get-history for m0 of run id and
// expects want points, one per step.
func checkHistory(ctx context.Context, c *api, id string, want int) []string {
	steps := map[int64]bool{}
	points := 0
	token := ""
	for range 1000 {
		q := url.Values{"run_id": {id}, "metric_key": {"m0"}}
		if token != "" {
			q.Set("page_token", token)
		}
		var resp metricHistoryResp
		if _, err := c.get(ctx, "metrics/get-history", q, &resp); err != nil {
			return []string{fmt.Sprintf("metrics/get-history %s m0 failed", id)}
		}
		for _, m := range resp.Metrics {
			steps[m.Step] = true
		}
		points += len(resp.Metrics)
		if token = resp.NextPageToken; token == "" {
			break
		}
	}
	if len(steps) != want || points != want {
		return []string{fmt.Sprintf("metrics/get-history %s m0: %d points over %d distinct steps, want %d points, one per step",
			id, points, len(steps), want)}
	}
	return nil
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }
