// Command tracking drives MLflow-compatible tracking servers with the same
// load and prints how they compare: log-batch throughput (16 clients, each
// logging 100 metric points per request into its own run) and runs/search
// latency over a large experiment. It speaks only the MLflow REST wire format
// (/api/2.0/mlflow/...), so the real `mlflow server` and mlcycle get
// identical requests. Run it with bench/tracking.sh, which starts the
// servers.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"
)

// config holds the load parameters; every target gets the same ones, except
// the number of seeded runs, which is smaller for mlflow (see -mlflow-runs).
type config struct {
	clients       int
	batches       int
	runs          int
	mlflowRuns    int
	seedClients   int
	searches      int
	logTimeout    time.Duration
	seedTimeout   time.Duration
	searchTimeout time.Duration
}

// target is one server under test.
type target struct {
	name  string // "mlflow" or "mlcycle"
	store string // "sqlite" or "postgres"
	url   string
	runs  int // runs to seed for the search phase
}

func main() {
	var cfg config
	mlflowURL := flag.String("mlflow", "", "base URL of a running `mlflow server` (SQLite store)")
	mlcycleURL := flag.String("mlcycle", "", "base URL of a running mlcycle server (SQLite store)")
	mlcyclePG := flag.String("mlcycle-pg", "", "base URL of a running mlcycle server on PostgreSQL")
	flag.IntVar(&cfg.clients, "clients", 16, "concurrent log-batch clients, each with its own run")
	flag.IntVar(&cfg.batches, "batches", 200, "log-batch requests per client (100 metric points each)")
	flag.IntVar(&cfg.runs, "runs", 100000, "runs seeded into mlcycle for the search phase")
	flag.IntVar(&cfg.mlflowRuns, "mlflow-runs", 5000, "runs seeded into mlflow for the search phase (it seeds ~50 runs/s; mlcycle is also timed at this count)")
	flag.IntVar(&cfg.seedClients, "seed-clients", 16, "concurrent clients while seeding runs")
	flag.IntVar(&cfg.searches, "searches", 50, "timed runs/search requests at each checkpoint")
	flag.DurationVar(&cfg.logTimeout, "log-timeout", 150*time.Second, "time cap of the log-batch phase")
	flag.DurationVar(&cfg.seedTimeout, "seed-timeout", 300*time.Second, "time cap of seeding runs, per target")
	flag.DurationVar(&cfg.searchTimeout, "search-timeout", 60*time.Second, "time cap of the timed searches at each checkpoint")
	jsonOut := flag.String("json", "", "also write the results to this JSON file")
	flag.Parse()

	var targets []target
	if *mlflowURL != "" {
		targets = append(targets, target{name: "mlflow", store: "sqlite", url: *mlflowURL, runs: cfg.mlflowRuns})
	}
	if *mlcycleURL != "" {
		targets = append(targets, target{name: "mlcycle", store: "sqlite", url: *mlcycleURL, runs: cfg.runs})
	}
	if *mlcyclePG != "" {
		targets = append(targets, target{name: "mlcycle", store: "postgres", url: *mlcyclePG, runs: cfg.runs})
	}
	if len(targets) == 0 {
		fmt.Fprintln(os.Stderr, "tracking: give at least one of -mlflow, -mlcycle, -mlcycle-pg")
		os.Exit(2)
	}
	if cfg.clients < 1 || cfg.batches < 1 || cfg.seedClients < 1 || cfg.searches < 1 {
		fmt.Fprintln(os.Stderr, "tracking: -clients, -batches, -seed-clients and -searches must be >= 1")
		os.Exit(2)
	}

	rep := run(context.Background(), cfg, targets)
	rep.print(os.Stdout)
	if *jsonOut != "" {
		if err := writeJSON(*jsonOut, rep); err != nil {
			fmt.Fprintln(os.Stderr, "tracking:", err)
			os.Exit(1)
		}
	}
	if rep.failed() {
		os.Exit(1)
	}
}

// run measures every target in turn (never at the same time: they share
// the machine's cores).
func run(ctx context.Context, cfg config, targets []target) *report {
	client := &http.Client{
		Timeout: 60 * time.Second,
		Transport: &http.Transport{
			Proxy:               nil, // loopback only: never through a proxy
			MaxIdleConns:        64,
			MaxIdleConnsPerHost: 32,
			// Below uvicorn's 5s keep-alive: a POST on a connection the
			// server has just closed fails with EOF and is not retried.
			IdleConnTimeout: 4 * time.Second,
		},
	}
	rep := &report{Config: cfgJSON(cfg)}
	for _, t := range targets {
		res := &targetResult{Server: t.name, Store: t.store, URL: t.url}
		rep.Targets = append(rep.Targets, res)
		c := &api{base: strings.TrimRight(t.url, "/"), http: client, errs: newErrLog()}
		fmt.Fprintf(os.Stderr, "== %s (%s) at %s\n", t.name, t.store, t.url)
		if err := measure(ctx, cfg, t, c, res); err != nil {
			res.Fatal = err.Error()
			fmt.Fprintf(os.Stderr, "   stopped: %v\n", err)
		}
		res.Errors = c.errs.summary()
		client.CloseIdleConnections()
	}
	return rep
}

func measure(ctx context.Context, cfg config, t target, c *api, res *targetResult) error {
	stamp := time.Now().Format("20060102-150405.000")

	fmt.Fprintf(os.Stderr, "   log-batch: %d clients x %d batches x 100 points\n", cfg.clients, cfg.batches)
	lb, err := logBatchPhase(ctx, cfg, c, "bench-logbatch-"+stamp)
	if err != nil {
		return fmt.Errorf("log-batch phase: %w", err)
	}
	res.Phases = append(res.Phases, lb)
	res.Checks = append(res.Checks, lb.checks...)

	checkpoints := searchCheckpoints(t.runs, cfg.mlflowRuns)
	fmt.Fprintf(os.Stderr, "   search: seeding %d runs (%d clients), timing %d searches at %v runs\n",
		t.runs, cfg.seedClients, cfg.searches, checkpoints)
	phases, checks, err := searchPhase(ctx, cfg, c, "bench-search-"+stamp, checkpoints)
	res.Phases = append(res.Phases, phases...)
	res.Checks = append(res.Checks, checks...)
	if err != nil {
		return fmt.Errorf("search phase: %w", err)
	}
	return nil
}

// searchCheckpoints returns the run counts at which searches are timed: the
// target's full count, and also mlflow's (smaller) count when it is below,
// so one row compares both servers over the same number of runs.
func searchCheckpoints(runs, mlflowRuns int) []int {
	if mlflowRuns > 0 && mlflowRuns < runs {
		return []int{mlflowRuns, runs}
	}
	return []int{runs}
}

func writeJSON(path string, rep *report) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding results: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("writing results: %w", err)
	}
	return nil
}
