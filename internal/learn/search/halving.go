package search

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"
)

// Trial is one evaluation of a candidate at a budget.
type Trial struct {
	ID        int     // 0, 1, ... in rung order, then candidate order
	Candidate int     // index into the candidates
	Rung      int     // 0 for the smallest budget
	Budget    float64 // e.g. boosting rounds or a fraction of the rows; the caller rounds
	Params    Params
}

// TrialResult is a finished trial.
type TrialResult struct {
	Trial
	Score    float64
	Err      error // non-nil: the trial failed and Score is meaningless
	Duration time.Duration
}

// Failed reports whether the trial failed.
func (r TrialResult) Failed() bool { return r.Err != nil }

// Options configure Halving.
type Options struct {
	MinBudget, MaxBudget float64 // 0 < MinBudget <= MaxBudget
	Eta                  float64 // > 1; 0 means 3
	Maximize             bool    // higher score is better
	Parallel             int     // trials run at once; 0 means 1
	// OnTrial, if set, sees every finished trial, one call at a time, in
	// trial ID order.
	OnTrial func(TrialResult)
}

// Rung is one round of successive halving.
type Rung struct {
	Budget     float64
	Candidates []int // evaluated in this rung, in candidate order
}

// Result is the outcome of Halving.
type Result struct {
	Best          Params  // the winning candidate
	BestCandidate int     // its index
	BestScore     float64 // its score at BestBudget
	BestBudget    float64 // the budget of the last rung it ran in
	Trials        []TrialResult
	Rungs         []Rung
}

// Budgets returns the rung budgets for opts: MinBudget·Eta^r for
// r = 0..R-1 and MaxBudget for the last rung r = R, where
// R = floor(log_Eta(MaxBudget/MinBudget)).
func Budgets(opts Options) ([]float64, error) {
	if err := opts.check(); err != nil {
		return nil, err
	}
	eta := opts.eta()
	r := int(math.Floor(math.Log(opts.MaxBudget/opts.MinBudget)/math.Log(eta) + 1e-9))
	b := make([]float64, r+1)
	for i := range r {
		b[i] = opts.MinBudget * math.Pow(eta, float64(i))
	}
	b[r] = opts.MaxBudget
	return b, nil
}

func (o Options) eta() float64 {
	if o.Eta == 0 {
		return 3
	}
	return o.Eta
}

func (o Options) check() error {
	switch {
	case !(o.MinBudget > 0) || math.IsInf(o.MinBudget, 0):
		return fmt.Errorf("search: min budget %v, want > 0", o.MinBudget)
	case !(o.MaxBudget >= o.MinBudget) || math.IsInf(o.MaxBudget, 0):
		return fmt.Errorf("search: max budget %v, want >= min budget %v", o.MaxBudget, o.MinBudget)
	case o.Eta != 0 && !(o.Eta > 1) || math.IsInf(o.Eta, 0):
		return fmt.Errorf("search: eta %v, want > 1", o.Eta)
	case o.Parallel < 0:
		return fmt.Errorf("search: parallel %d, want >= 0", o.Parallel)
	}
	return nil
}

// Halving runs successive halving: every candidate is evaluated at the
// first rung's budget, the best ceil(n/Eta) of the n evaluated go on to the
// next rung, and so on up to MaxBudget (see Budgets). When a single
// candidate is left it goes straight to the last rung. Ties are broken by
// candidate order, so the result depends only on the scores.
//
// A trial whose eval returns an error or a non-finite score is recorded as
// failed and drops out; the search fails only when every trial of a rung
// fails. Cancelling ctx stops the search (trials already running get the
// cancelled ctx) and returns ctx's error with the trials finished so far.
func Halving(ctx context.Context, candidates []Params, opts Options, eval func(ctx context.Context, trial Trial) (float64, error)) (Result, error) {
	budgets, err := Budgets(opts)
	if err != nil {
		return Result{}, err
	}
	if len(candidates) == 0 {
		return Result{}, fmt.Errorf("search: no candidates")
	}
	eta := opts.eta()
	alive := make([]int, len(candidates))
	for i := range alive {
		alive[i] = i
	}
	var res Result
	for r := 0; r < len(budgets); r++ {
		if err := ctx.Err(); err != nil {
			return res, fmt.Errorf("search: %w", err)
		}
		if len(alive) == 1 {
			r = len(budgets) - 1 // nothing left to compare: go to the full budget
		}
		trials := make([]Trial, len(alive))
		for i, c := range alive {
			trials[i] = Trial{ID: len(res.Trials) + i, Candidate: c, Rung: r, Budget: budgets[r], Params: candidates[c]}
		}
		res.Rungs = append(res.Rungs, Rung{Budget: budgets[r], Candidates: slices.Clone(alive)})
		results := runRung(ctx, trials, opts, eval)
		res.Trials = append(res.Trials, results...)
		if err := ctx.Err(); err != nil {
			return res, fmt.Errorf("search: %w", err)
		}
		ok := make([]TrialResult, 0, len(results))
		for _, t := range results {
			if !t.Failed() {
				ok = append(ok, t)
			}
		}
		if len(ok) == 0 {
			return res, fmt.Errorf("search: every trial of rung %d (budget %v) failed, first: %w", r, budgets[r], results[0].Err)
		}
		slices.SortStableFunc(ok, func(a, b TrialResult) int {
			if opts.Maximize {
				return cmp.Compare(b.Score, a.Score)
			}
			return cmp.Compare(a.Score, b.Score)
		})
		best := ok[0]
		res.Best, res.BestCandidate, res.BestScore, res.BestBudget = candidates[best.Candidate], best.Candidate, best.Score, best.Budget
		keep := min(len(ok), int(math.Ceil(float64(len(results))/eta-1e-9)))
		alive = alive[:0]
		for _, t := range ok[:max(keep, 1)] {
			alive = append(alive, t.Candidate)
		}
		slices.Sort(alive)
	}
	return res, nil
}

// runRung evaluates trials with up to opts.Parallel at once and returns
// their results in trial order; OnTrial sees them in that order too.
func runRung(ctx context.Context, trials []Trial, opts Options, eval func(context.Context, Trial) (float64, error)) []TrialResult {
	results := make([]TrialResult, len(trials))
	done := make([]bool, len(trials))
	reported := 0
	var mu sync.Mutex
	finish := func(i int, tr TrialResult) {
		mu.Lock()
		defer mu.Unlock()
		results[i], done[i] = tr, true
		for reported < len(trials) && done[reported] {
			if opts.OnTrial != nil {
				opts.OnTrial(results[reported])
			}
			reported++
		}
	}
	sem := make(chan struct{}, max(opts.Parallel, 1))
	var wg sync.WaitGroup
	for i, t := range trials {
		sem <- struct{}{}
		if ctx.Err() != nil {
			<-sem
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			start := time.Now()
			score, err := safeEval(ctx, eval, t)
			if err == nil && (math.IsNaN(score) || math.IsInf(score, 0)) {
				err = fmt.Errorf("trial %d: score %v is not finite", t.ID, score)
			}
			finish(i, TrialResult{Trial: t, Score: score, Err: err, Duration: time.Since(start)})
		})
	}
	wg.Wait()
	// Trials never started because ctx was cancelled (a suffix) are not
	// results.
	n := 0
	for n < len(done) && done[n] {
		n++
	}
	return results[:n]
}

// safeEval turns a panic in eval into a failed trial, so one bad candidate
// cannot take down the whole search.
func safeEval(ctx context.Context, eval func(context.Context, Trial) (float64, error), t Trial) (score float64, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("trial %d panicked: %v", t.ID, p)
		}
	}()
	score, err = eval(ctx, t)
	if err != nil {
		err = fmt.Errorf("trial %d: %w", t.ID, err)
	}
	return score, err
}
