package search

import (
	"context"
	"errors"
	"math"
	"reflect"
	"strconv"
	"sync"
	"testing"
)

// objective is a synthetic score (higher is better) that rises with the
// budget towards a quality peaking at lr=0.1, leaves=31, l2=1; the ranking
// of candidates is the same at every budget, with noise that shrinks as the
// budget grows.
func objective(p Params, budget float64) float64 {
	lr, _ := strconv.ParseFloat(p["lr"], 64)
	leaves, _ := strconv.ParseFloat(p["leaves"], 64)
	l2, _ := strconv.ParseFloat(p["l2"], 64)
	q := -math.Pow(math.Log10(lr/0.1), 2) - math.Pow(math.Log2(leaves/31), 2) - 0.1*math.Pow(l2-1, 2)
	return q*(1+1/budget) - 1/budget
}

func testGrid(t *testing.T) []Params {
	t.Helper()
	g, err := Grid(MustParse("lr=0.01,0.1,0.3", "leaves=15,31,63", "l2=0,1,5"))
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestHalvingFindsOptimum(t *testing.T) {
	cands := testGrid(t)
	var seen []TrialResult
	var evals int
	var spent float64
	var mu sync.Mutex
	opts := Options{MinBudget: 1, MaxBudget: 27, Eta: 3, Maximize: true, Parallel: 4,
		OnTrial: func(r TrialResult) { seen = append(seen, r) }}
	res, err := Halving(context.Background(), cands, opts, func(ctx context.Context, tr Trial) (float64, error) {
		mu.Lock()
		evals++
		spent += tr.Budget
		mu.Unlock()
		return objective(tr.Params, tr.Budget), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := (Params{"lr": "0.1", "leaves": "31", "l2": "1"}); !reflect.DeepEqual(res.Best, want) {
		t.Errorf("best %v, want %v", res.Best, want)
	}
	if res.BestBudget != 27 || res.BestScore != objective(res.Best, 27) {
		t.Errorf("best budget %v score %v", res.BestBudget, res.BestScore)
	}
	// 27 + 9 + 3 + 1 trials costing 27 + 27 + 27 + 27 budget units,
	// against 27 trials × 27 for the full grid at the full budget.
	if evals != 40 || spent != 108 || float64(len(cands))*27 != 729 {
		t.Errorf("%d evaluations costing %v", evals, spent)
	}
	t.Logf("halving: %d evaluations, budget %v; full grid: %d evaluations, budget %v", evals, spent, len(cands), 27*len(cands))

	// Rung bookkeeping.
	wantRungs := []struct {
		budget float64
		n      int
	}{{1, 27}, {3, 9}, {9, 3}, {27, 1}}
	if len(res.Rungs) != len(wantRungs) {
		t.Fatalf("rungs %+v", res.Rungs)
	}
	for r, w := range wantRungs {
		if res.Rungs[r].Budget != w.budget || len(res.Rungs[r].Candidates) != w.n {
			t.Errorf("rung %d: budget %v with %d candidates, want %v with %d", r, res.Rungs[r].Budget, len(res.Rungs[r].Candidates), w.budget, w.n)
		}
	}
	if len(res.Trials) != 40 || !reflect.DeepEqual(seen, res.Trials) {
		t.Fatalf("OnTrial saw %d trials, result has %d (or in another order)", len(seen), len(res.Trials))
	}
	id := 0
	for r, rung := range res.Rungs {
		for _, c := range rung.Candidates {
			tr := res.Trials[id]
			if tr.ID != id || tr.Rung != r || tr.Budget != rung.Budget || tr.Candidate != c || !reflect.DeepEqual(tr.Params, cands[c]) || tr.Failed() {
				t.Errorf("trial %d: %+v, want rung %d candidate %d", id, tr.Trial, r, c)
			}
			id++
		}
	}
	// Survivors of each rung are the best third of the previous one.
	for r := 1; r < len(res.Rungs); r++ {
		for _, c := range res.Rungs[r].Candidates {
			better := 0
			for _, o := range res.Rungs[r-1].Candidates {
				if objective(cands[o], res.Rungs[r-1].Budget) > objective(cands[c], res.Rungs[r-1].Budget) {
					better++
				}
			}
			if better >= len(res.Rungs[r].Candidates) {
				t.Errorf("rung %d: candidate %d was not in the top of rung %d", r, c, r-1)
			}
		}
	}

	// Same result with one trial at a time, and when minimising the negation.
	opts.Parallel, opts.OnTrial = 1, nil
	again, err := Halving(context.Background(), cands, opts, func(ctx context.Context, tr Trial) (float64, error) {
		return objective(tr.Params, tr.Budget), nil
	})
	if err != nil || !sameTrials(again, res) {
		t.Errorf("parallel 1 and 4 differ (%v)", err)
	}
	opts.Maximize = false
	neg, err := Halving(context.Background(), cands, opts, func(ctx context.Context, tr Trial) (float64, error) {
		return -objective(tr.Params, tr.Budget), nil
	})
	if err != nil || neg.BestCandidate != res.BestCandidate {
		t.Errorf("minimising: best %d, want %d (%v)", neg.BestCandidate, res.BestCandidate, err)
	}
}

func sameTrials(a, b Result) bool {
	if len(a.Trials) != len(b.Trials) || a.BestCandidate != b.BestCandidate || !reflect.DeepEqual(a.Rungs, b.Rungs) {
		return false
	}
	for i := range a.Trials {
		if a.Trials[i].Trial.ID != b.Trials[i].Trial.ID || a.Trials[i].Candidate != b.Trials[i].Candidate || a.Trials[i].Score != b.Trials[i].Score {
			return false
		}
	}
	return true
}

func TestBudgets(t *testing.T) {
	cases := []struct {
		min, max, eta float64
		want          []float64
	}{
		{1, 27, 3, []float64{1, 3, 9, 27}},
		{10, 100, 3, []float64{10, 30, 100}},
		{0.1, 1, 2, []float64{0.1, 0.2, 0.4, 1}},
		{50, 50, 0, []float64{50}},
		{1, 2, 3, []float64{2}},
	}
	for _, c := range cases {
		got, err := Budgets(Options{MinBudget: c.min, MaxBudget: c.max, Eta: c.eta})
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("Budgets(%v, %v, %v) = %v (%v), want %v", c.min, c.max, c.eta, got, err, c.want)
		}
	}
	for _, o := range []Options{{MinBudget: 0, MaxBudget: 1}, {MinBudget: 2, MaxBudget: 1}, {MinBudget: 1, MaxBudget: 2, Eta: 1}, {MinBudget: 1, MaxBudget: math.Inf(1)}, {MinBudget: 1, MaxBudget: 1, Parallel: -1}} {
		if _, err := Halving(context.Background(), []Params{{}}, o, nil); err == nil {
			t.Errorf("options %+v: no error", o)
		}
	}
	if _, err := Halving(context.Background(), nil, Options{MinBudget: 1, MaxBudget: 1}, nil); err == nil {
		t.Error("no candidates: no error")
	}
}

func TestHalvingTiesAndShortcuts(t *testing.T) {
	cands := make([]Params, 10)
	for i := range cands {
		cands[i] = Params{"i": strconv.Itoa(i)}
	}
	flat := func(ctx context.Context, tr Trial) (float64, error) { return 1, nil }
	res, err := Halving(context.Background(), cands, Options{MinBudget: 1, MaxBudget: 9, Maximize: true}, flat)
	if err != nil {
		t.Fatal(err)
	}
	// 10 -> ceil(10/3) = 4 -> 2; ties keep the earliest candidates.
	want := []Rung{{1, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}}, {3, []int{0, 1, 2, 3}}, {9, []int{0, 1}}}
	if !reflect.DeepEqual(res.Rungs, want) || res.BestCandidate != 0 {
		t.Errorf("rungs %v best %d", res.Rungs, res.BestCandidate)
	}

	// A single candidate is only evaluated at the full budget.
	res, err = Halving(context.Background(), cands[:1], Options{MinBudget: 1, MaxBudget: 9}, flat)
	if err != nil || len(res.Trials) != 1 || res.Trials[0].Budget != 9 || res.Trials[0].Rung != 2 {
		t.Errorf("single candidate: %+v (%v)", res.Trials, err)
	}
	// Two candidates: one survives rung 0 and jumps to the full budget.
	res, err = Halving(context.Background(), cands[:2], Options{MinBudget: 1, MaxBudget: 27}, flat)
	if err != nil || len(res.Trials) != 3 || res.Trials[2].Budget != 27 || res.Trials[2].Rung != 3 {
		t.Errorf("two candidates: %+v (%v)", res.Trials, err)
	}
}

func TestHalvingFailures(t *testing.T) {
	cands := make([]Params, 9)
	for i := range cands {
		cands[i] = Params{"i": strconv.Itoa(i)}
	}
	boom := errors.New("boom")
	// Candidate 8 would win but fails at budget 3; 0 fails at once; 1
	// returns NaN; 2 panics.
	eval := func(ctx context.Context, tr Trial) (float64, error) {
		switch {
		case tr.Candidate == 0, tr.Candidate == 8 && tr.Budget == 3:
			return 0, boom
		case tr.Candidate == 1:
			return math.NaN(), nil
		case tr.Candidate == 2:
			panic("bad candidate")
		}
		return float64(tr.Candidate), nil
	}
	var failed int
	res, err := Halving(context.Background(), cands, Options{MinBudget: 1, MaxBudget: 9, Maximize: true, Parallel: 3,
		OnTrial: func(r TrialResult) {
			if r.Failed() {
				failed++
			}
		}}, eval)
	if err != nil {
		t.Fatal(err)
	}
	if failed != 4 {
		t.Errorf("%d failed trials reported, want 4", failed)
	}
	if !errors.Is(res.Trials[0].Err, boom) || res.Trials[1].Err == nil || res.Trials[2].Err == nil {
		t.Errorf("failures not recorded: %v, %v, %v", res.Trials[0].Err, res.Trials[1].Err, res.Trials[2].Err)
	}
	// Rung 0: 9 trials, 6 succeed, keep 3 (8, 7, 6); 8 fails in rung 1,
	// which keeps one of 7 and 6.
	if got := res.Rungs[1].Candidates; !reflect.DeepEqual(got, []int{6, 7, 8}) {
		t.Errorf("rung 1 candidates %v", got)
	}
	if res.BestCandidate != 7 || res.BestScore != 7 || res.BestBudget != 9 {
		t.Errorf("best %d score %v budget %v", res.BestCandidate, res.BestScore, res.BestBudget)
	}

	_, err = Halving(context.Background(), cands, Options{MinBudget: 1, MaxBudget: 9}, func(ctx context.Context, tr Trial) (float64, error) {
		return 0, boom
	})
	if !errors.Is(err, boom) {
		t.Errorf("all failed: %v", err)
	}
}

func TestHalvingCancel(t *testing.T) {
	cands := testGrid(t)
	for _, parallel := range []int{1, 3} {
		ctx, cancel := context.WithCancel(context.Background())
		var reported int
		res, err := Halving(ctx, cands, Options{MinBudget: 1, MaxBudget: 27, Maximize: true, Parallel: parallel,
			OnTrial: func(TrialResult) { reported++ }},
			func(ctx context.Context, tr Trial) (float64, error) {
				if tr.ID == 5 {
					cancel()
				}
				return objective(tr.Params, tr.Budget), ctx.Err()
			})
		cancel()
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("parallel %d: err %v, want context.Canceled", parallel, err)
		}
		// One at a time, nothing starts after trial 5; in parallel, trials
		// already started finish (and more may start before the cancel).
		n := len(res.Trials)
		if parallel == 1 && n != 6 || n < 6 || n == len(cands) || reported != n {
			t.Errorf("parallel %d: %d trials recorded, %d reported after cancelling at trial 5", parallel, n, reported)
		}
	}
}
