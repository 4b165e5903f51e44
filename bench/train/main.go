// Command train is the Go side of bench/train.sh: it generates the
// benchmark data, and trains mlcycle's gradient-boosted trees on it, timing
// only the training and reporting test AUC and single-row prediction time.
//
//	train gen -dir DIR [-rows N] [-cat-rows N]
//	train fit -train F -test F [-target y] [-rounds 100] [-threads 0] [-predict-bench]
//
// fit prints one JSON line: {"tool":"mlcycle","auc":...,"train_seconds":...}.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"sort"
	"syscall"
	"time"

	"github.com/mlcycle/mlcycle/internal/frame"
	"github.com/mlcycle/mlcycle/internal/learn"
	"github.com/mlcycle/mlcycle/internal/learn/gbdt"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: train gen|fit [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "gen":
		fs := flag.NewFlagSet("gen", flag.ExitOnError)
		dir := fs.String("dir", "bench/out/train-data", "output folder")
		rows := fs.Int("rows", 1_000_000, "rows of the HIGGS-like training set (test: a fifth)")
		catRows := fs.Int("cat-rows", 200_000, "rows of the categorical training set (test: a quarter)")
		fs.Parse(os.Args[2:])
		err = generate(*dir, *rows, *catRows)
	case "fit":
		err = fit(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "train:", err)
		os.Exit(1)
	}
}

func fit(args []string) error {
	fs := flag.NewFlagSet("fit", flag.ExitOnError)
	trainPath := fs.String("train", "", "training CSV")
	testPath := fs.String("test", "", "test CSV")
	target := fs.String("target", "y", "target column (0/1)")
	rounds := fs.Int("rounds", 100, "boosting rounds")
	threads := fs.Int("threads", 0, "threads (0 = all cores)")
	predict := fs.Bool("predict-bench", false, "also time single-row prediction of 100 trees of depth 6")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of training here")
	fs.Parse(args)
	ctx := context.Background()

	train, err := frame.ReadTableFile(ctx, *trainPath, frame.Options{})
	if err != nil {
		return err
	}
	test, err := frame.ReadTableFile(ctx, *testPath, frame.Options{})
	if err != nil {
		return err
	}
	x, y, codes, err := toMatrix(train, *target, nil)
	if err != nil {
		return err
	}
	xt, yt, _, err := toMatrix(test, *target, codes)
	if err != nil {
		return err
	}

	p := gbdt.DefaultParams()
	p.NumRounds = *rounds
	p.Threads = *threads
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		pprof.StartCPUProfile(f)
	}
	cpu0 := cpuTime()
	start := time.Now()
	m, err := gbdt.Train(ctx, learn.Binary, x, y, p, gbdt.Options{})
	secs := time.Since(start).Seconds()
	cpuSecs := (cpuTime() - cpu0).Seconds()
	if *cpuprofile != "" {
		pprof.StopCPUProfile()
	}
	if err != nil {
		return err
	}
	out := map[string]any{
		"tool": "mlcycle", "train_seconds": secs, "cpu_seconds": cpuSecs,
		"auc": auc(learn.PredictMatrix(m, xt), yt), "threads": threadsUsed(*threads),
	}
	if *predict {
		out["predict_row_us"], out["predict_row_cpu_us"] = predictRow(ctx, x, y, xt)
	}
	return json.NewEncoder(os.Stdout).Encode(out)
}

func threadsUsed(t int) int {
	if t > 0 {
		return t
	}
	return runtime.GOMAXPROCS(0)
}

// predictRow trains 100 trees of depth 6 and returns the mean wall and CPU
// time of one PredictRaw call over the test rows, in microseconds. The CPU
// time is the steadier figure on a busy machine.
func predictRow(ctx context.Context, x *learn.Matrix, y []float64, xt *learn.Matrix) (wall, cpu float64) {
	p := gbdt.DefaultParams()
	p.MaxDepth = 6
	p.MaxLeaves = 64
	p.MinDataInLeaf = 1
	idx := make([]int, min(x.Rows, 200_000))
	for i := range idx {
		idx[i] = i
	}
	ys := make([]float64, len(idx))
	for i, r := range idx {
		ys[i] = y[r]
	}
	m, err := gbdt.Train(ctx, learn.Binary, x.Take(idx), ys, p, gbdt.Options{})
	if err != nil {
		return math.NaN(), math.NaN()
	}
	rows := make([][]float64, min(xt.Rows, 10_000))
	for i := range rows {
		rows[i] = xt.Row(i, nil)
	}
	out := make([]float64, 1)
	var sink float64
	const reps = 20
	runtime.GC()
	cpu0 := cpuTime()
	start := time.Now()
	for range reps {
		for _, r := range rows {
			m.PredictRaw(r, out)
			sink += out[0]
		}
	}
	el := time.Since(start)
	cpuEl := cpuTime() - cpu0
	if sink == 42 {
		fmt.Fprintln(os.Stderr)
	}
	calls := float64(reps * len(rows))
	return el.Seconds() * 1e6 / calls, cpuEl.Seconds() * 1e6 / calls
}

// toMatrix turns a table into features and a 0/1 target. String columns
// become categorical codes in sorted order of the training values (codes is
// nil for the training table and its result for the test table, whose
// unseen values become missing).
func toMatrix(t *frame.Table, target string, codes map[string]map[string]int) (*learn.Matrix, []float64, map[string]map[string]int, error) {
	if codes == nil {
		codes = map[string]map[string]int{}
	}
	rows := t.Rows()
	var names []string
	var cols []*frame.TableColumn
	var y []float64
	for _, c := range t.Cols {
		if c.Field.Name == target {
			y = make([]float64, rows)
			for i := range y {
				v, ok := c.Float(i)
				if !ok {
					return nil, nil, nil, fmt.Errorf("target row %d is missing", i)
				}
				y[i] = v
			}
			continue
		}
		names = append(names, c.Field.Name)
		cols = append(cols, c)
	}
	if y == nil {
		return nil, nil, nil, fmt.Errorf("no column %q", target)
	}
	m := learn.NewMatrix(rows, names)
	for j, c := range cols {
		dst := m.Col(j)
		if c.Field.Type == frame.TypeString {
			code, ok := codes[c.Field.Name]
			if !ok {
				seen := map[string]bool{}
				for i := range rows {
					if !c.IsNull(i) {
						seen[c.Strings[i]] = true
					}
				}
				vals := make([]string, 0, len(seen))
				for v := range seen {
					vals = append(vals, v)
				}
				sort.Strings(vals)
				code = make(map[string]int, len(vals))
				for i, v := range vals {
					code[v] = i
				}
				codes[c.Field.Name] = code
			}
			m.Categories[j] = len(code)
			for i := range rows {
				dst[i] = math.NaN()
				if k, ok := code[c.Strings[i]]; ok && !c.IsNull(i) {
					dst[i] = float64(k)
				}
			}
			continue
		}
		for i := range rows {
			v, ok := c.Float(i)
			if !ok {
				v = math.NaN()
			}
			dst[i] = v
		}
	}
	return m, y, codes, nil
}

// auc is the area under the ROC curve (ties get half credit).
func auc(score, y []float64) float64 {
	idx := make([]int, len(y))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int {
		switch {
		case score[a] < score[b]:
			return -1
		case score[a] > score[b]:
			return 1
		}
		return 0
	})
	var pos, neg, rankSum float64
	for i := 0; i < len(idx); {
		j := i
		for j < len(idx) && score[idx[j]] == score[idx[i]] {
			j++
		}
		mid := float64(i+j+1) / 2 // mean 1-based rank of the tie group
		for k := i; k < j; k++ {
			if y[idx[k]] == 1 {
				pos++
				rankSum += mid
			}
		}
		i = j
	}
	neg = float64(len(y)) - pos
	return (rankSum - pos*(pos+1)/2) / (pos * neg)
}

// cpuTime is the process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
