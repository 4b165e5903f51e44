package main

import (
	"fmt"
	"io"
	"math"
	"sort"
	"text/tabwriter"
	"time"
)

type report struct {
	Config  configJSON      `json:"config"`
	Targets []*targetResult `json:"targets"`
}

type configJSON struct {
	Clients       int     `json:"clients"`
	Batches       int     `json:"batches"`
	PointsPerReq  int     `json:"points_per_request"`
	Runs          int     `json:"runs"`
	MLflowRuns    int     `json:"mlflow_runs"`
	SeedClients   int     `json:"seed_clients"`
	Searches      int     `json:"searches"`
	Filter        string  `json:"filter"`
	OrderBy       string  `json:"order_by"`
	LogTimeoutS   float64 `json:"log_timeout_s"`
	SeedTimeoutS  float64 `json:"seed_timeout_s"`
	SearchTimeout float64 `json:"search_timeout_s"`
}

func cfgJSON(c config) configJSON {
	return configJSON{
		Clients: c.clients, Batches: c.batches, PointsPerReq: pointsPerBatch,
		Runs: c.runs, MLflowRuns: c.mlflowRuns, SeedClients: c.seedClients, Searches: c.searches,
		Filter: searchFilter, OrderBy: searchOrderBy,
		LogTimeoutS: c.logTimeout.Seconds(), SeedTimeoutS: c.seedTimeout.Seconds(), SearchTimeout: c.searchTimeout.Seconds(),
	}
}

type targetResult struct {
	Server string        `json:"server"`
	Store  string        `json:"store"`
	URL    string        `json:"url"`
	Phases []phaseResult `json:"phases"`
	Errors []errKind     `json:"errors"`
	Checks []string      `json:"wrong_answers"`
	Fatal  string        `json:"fatal,omitempty"`
}

// phaseResult is one row of the table. Requests counts successful requests
// only; Errors the failed ones. Capped means the time cap ended the phase
// before its count was reached (rates are then over what completed).
type phaseResult struct {
	Phase        string  `json:"phase"`
	Runs         int     `json:"runs"`
	Requests     int     `json:"requests"`
	Errors       int     `json:"errors"`
	Points       int64   `json:"metric_points"`
	Seconds      float64 `json:"seconds"`
	PointsPerSec float64 `json:"points_per_s"`
	RunsPerSec   float64 `json:"runs_per_s,omitempty"`
	P50ms        float64 `json:"p50_ms"`
	P99ms        float64 `json:"p99_ms"`
	Capped       bool    `json:"capped"`

	checks []string
}

// setLatency sets p50 and p99 from the samples (nearest rank).
func (p *phaseResult) setLatency(lat []time.Duration) {
	if len(lat) == 0 {
		return // the table shows "-" for a row without successful requests
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	p.P50ms = ms(lat[rank(len(lat), 50)])
	p.P99ms = ms(lat[rank(len(lat), 99)])
}

func rank(n int, pct float64) int {
	i := int(math.Ceil(pct/100*float64(n))) - 1
	return max(0, min(i, n-1))
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func (r *report) failed() bool {
	for _, t := range r.Targets {
		if t.Fatal != "" || len(t.Errors) > 0 || len(t.Checks) > 0 {
			return true
		}
	}
	return false
}

func (r *report) print(w io.Writer) {
	c := r.Config
	fmt.Fprintf(w, "\nlog-batch: %d clients x %d requests x %d metric points (+10 params on the first);"+
		" search: %q order_by %q max_results %d, %d times\n\n",
		c.Clients, c.Batches, c.PointsPerReq, searchFilter, searchOrderBy, searchMax, c.Searches)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "server\tstore\tphase\truns\trequests\terrors\tpoints/s\tp50 ms\tp99 ms\t")
	for _, t := range r.Targets {
		for _, p := range t.Phases {
			pts := "-"
			if p.Phase != "search" && p.Requests > 0 {
				pts = fmt.Sprintf("%.0f", p.PointsPerSec)
			}
			phase := p.Phase
			if p.Capped {
				phase += " (capped)"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%s\t%s\t%s\t\n",
				t.Server, t.Store, phase, p.Runs, p.Requests, p.Errors, pts, latStr(p, p.P50ms), latStr(p, p.P99ms))
		}
		if t.Fatal != "" {
			fmt.Fprintf(tw, "%s\t%s\tstopped\t\t\t\t\t\t\t\n", t.Server, t.Store)
		}
	}
	tw.Flush()
	fmt.Fprintln(w)

	for _, t := range r.Targets {
		if s := t.phase("seed", 0); s != nil && s.Seconds > 0 {
			fmt.Fprintf(w, "seeding %s/%s: %d runs in %.1fs (%.0f runs/s, 2 requests per run)\n",
				t.Server, t.Store, s.Runs, s.Seconds, s.RunsPerSec)
		}
	}

	mlflow := r.target("mlflow", "sqlite")
	for _, mc := range r.Targets {
		if mc.Server != "mlcycle" {
			continue
		}
		label := "mlcycle"
		if mc.Store != "sqlite" {
			label += "(" + mc.Store + ")"
		}
		if mlflow != nil {
			a, b := mc.phase("log-batch", 0), mlflow.phase("log-batch", 0)
			if a != nil && b != nil && b.PointsPerSec > 0 {
				fmt.Fprintf(w, "log-batch throughput %s/mlflow = %.1fx (goal >= 20x)\n", label, a.PointsPerSec/b.PointsPerSec)
			}
			if b := mlflow.lastSearch(); b != nil {
				if a := mc.phase("search", b.Runs); a != nil && a.P50ms > 0 {
					fmt.Fprintf(w, "search_runs p50 over %d runs: mlflow %s ms, %s %s ms (mlflow/%s = %.1fx)\n",
						b.Runs, msStr(b.P50ms), label, msStr(a.P50ms), label, b.P50ms/a.P50ms)
				}
			}
		}
		if s := mc.lastSearch(); s != nil {
			fmt.Fprintf(w, "search_runs p50 %s = %s ms over %d runs (goal <= 50 ms)\n", label, msStr(s.P50ms), s.Runs)
		}
	}

	for _, t := range r.Targets {
		if t.Fatal != "" {
			fmt.Fprintf(w, "\n%s/%s stopped early: %s\n", t.Server, t.Store, t.Fatal)
		}
		if len(t.Errors) > 0 {
			fmt.Fprintf(w, "\n%s/%s failed requests (non-2xx or no answer):\n", t.Server, t.Store)
			for _, e := range t.Errors {
				fmt.Fprintf(w, "  %-28s %-28s x%d  first body: %s\n", e.Endpoint, e.Status, e.Count, e.FirstBody)
			}
		}
		if len(t.Checks) > 0 {
			fmt.Fprintf(w, "\n%s/%s wrong answers:\n", t.Server, t.Store)
			for _, c := range t.Checks {
				fmt.Fprintf(w, "  %s\n", c)
			}
		}
	}
}

func latStr(p phaseResult, v float64) string {
	if p.Requests == 0 {
		return "-"
	}
	return msStr(v)
}

func msStr(v float64) string {
	switch {
	case v < 10:
		return fmt.Sprintf("%.2f", v)
	default:
		return fmt.Sprintf("%.1f", v)
	}
}

func (r *report) target(server, store string) *targetResult {
	for _, t := range r.Targets {
		if t.Server == server && t.Store == store {
			return t
		}
	}
	return nil
}

// phase returns the named phase; for searches, the one over runs (0: any).
func (t *targetResult) phase(name string, runs int) *phaseResult {
	for i := range t.Phases {
		if p := &t.Phases[i]; p.Phase == name && (runs == 0 || p.Runs == runs) {
			return p
		}
	}
	return nil
}

// lastSearch returns the search over the most runs that measured anything.
func (t *targetResult) lastSearch() *phaseResult {
	var best *phaseResult
	for i := range t.Phases {
		if p := &t.Phases[i]; p.Phase == "search" && p.Requests > 0 && (best == nil || p.Runs > best.Runs) {
			best = p
		}
	}
	return best
}
