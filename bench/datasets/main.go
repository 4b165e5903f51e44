// Command datasets benchmarks dataset versioning: mlcycle's add against
// DVC's on the same generated data, the no-op re-add of an unchanged tree,
// and the cost of profiling a large CSV against parsing it alone.
//
// Run through bench/datasets.sh, which installs the pinned DVC and builds
// the mlcycle binary. The run mode generates the data, then times, each as
// a fresh process like a user's command, `mlcycle data add` (the real CLI,
// on its own data folder and state cache), `dvc add`, and this same binary
// in the parse mode: the reader `data add` profiles with (frame.Open, the
// same options), every batch read and nothing else.
package main

import (
	"bufio"
	"cmp"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/mlcycle/mlcycle/internal/dataset"
	"github.com/mlcycle/mlcycle/internal/frame"
)

func main() {
	mode := flag.String("mode", "run", "run (the benchmark) or parse (a child step)")
	// run
	quick := flag.Bool("quick", false, "small sizes: 1,000 files of 100 MB in all, a 100 MB CSV")
	files := flag.Int("files", 10000, "files in the tree")
	treeMB := flag.Int64("tree-mb", 1024, "total size of the tree, MB")
	csvMB := flag.Int64("csv-mb", 1024, "size of the CSV, MB")
	dvc := flag.String("dvc", "", "the dvc executable; empty skips DVC")
	mlcycle := flag.String("mlcycle", "", "the mlcycle executable (required)")
	tmpDir := flag.String("tmp", "", "parent of the work folder (default $TMPDIR)")
	keep := flag.Bool("keep", false, "keep the work folder")
	// parse
	path := flag.String("path", "", "parse: the table file")
	cpuProfile := flag.String("cpuprofile", "", "parse: write a CPU profile to this file")
	flag.Parse()
	if *cpuProfile != "" && *mode != "run" {
		f, err := os.Create(*cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "datasets:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}

	var err error
	switch *mode {
	case "run":
		if *quick {
			*files, *treeMB, *csvMB = 1000, 100, 100
		}
		err = run(config{files: *files, treeBytes: *treeMB << 20, csvBytes: *csvMB << 20, dvc: *dvc, mlcycle: *mlcycle, tmp: *tmpDir, keep: *keep})
	case "parse":
		err = parse(*path)
	default:
		err = fmt.Errorf("unknown -mode %q", *mode)
	}
	if err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintln(os.Stderr, "datasets:", err)
		os.Exit(1)
	}
}

// warm reads every file under path once, untimed, before a step that
// reads them: each tool then finds its input in the page cache, as the
// benchmark means it to. Just-written copies are not enough on this VM:
// parts of a tree written minutes before were found evicted with
// gigabytes of memory free, and mlcycle's copy, generated first, is the
// older one (a cold tree add takes twice as long).
func warm(path string) error {
	buf := make([]byte, 1<<20)
	return filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		for {
			if _, err := f.Read(buf); err == io.EOF {
				return nil
			} else if err != nil {
				return fmt.Errorf("warming %s: %w", p, err)
			}
		}
	})
}

// parse reads every batch of a table with the reader add uses, and nothing
// else: the floor under profiling.
func parse(path string) error {
	dataset.SpareProc() // as data add runs
	r, err := frame.Open(path, frame.Options{})
	if err != nil {
		return err
	}
	defer r.Close()
	var rows int64
	for {
		b, err := r.Next()
		if err == io.EOF {
			fmt.Printf("parsed %d rows\n", rows)
			return nil
		} else if err != nil {
			return err
		}
		rows += int64(b.Len())
	}
}

type config struct {
	files               int
	treeBytes, csvBytes int64
	dvc, mlcycle, tmp   string
	keep                bool
}

type result struct {
	step, tool string
	elapsed    time.Duration
}

func run(c config) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	if c.mlcycle == "" {
		return errors.New("-mlcycle is required: the mlcycle executable to time")
	}
	if c.mlcycle, err = filepath.Abs(c.mlcycle); err != nil {
		return err
	}
	work, err := os.MkdirTemp(c.tmp, "mlcycle-bench-datasets.")
	if err != nil {
		return err
	}
	if !c.keep {
		defer os.RemoveAll(work)
	}
	logf("work folder %s", work)

	// Each tool works on its own fresh copy, generated (deterministically,
	// so identical) just before, so both find their input in the page cache
	// alike. Generated rather than copied from a common source that is then
	// removed: right after many files are deleted, ext4 makes creating new
	// ones slow for a while (it skips recently freed inodes), which would
	// tax whichever tool runs first.
	ml, dv := filepath.Join(work, "mlcycle"), filepath.Join(work, "dvc")
	tools := []string{"mlcycle"}
	if c.dvc != "" {
		tools = append(tools, "dvc")
	}
	for _, dir := range []string{ml, dv}[:len(tools)] {
		logf("generating %d files, %s in all, and a %s CSV in %s", c.files, mb(c.treeBytes), mb(c.csvBytes), dir)
		if err := writeTree(filepath.Join(dir, "tree"), c.files, c.treeBytes); err != nil {
			return err
		}
		if err := writeCSV(filepath.Join(dir, "table.csv"), c.csvBytes); err != nil {
			return err
		}
	}
	if c.dvc != "" {
		if err := dvcInit(c.dvc, dv); err != nil {
			return err
		}
	}
	// Both tools trust a file's stat only once its mtime is a little in the
	// past (a write within the same clock tick would not change it); real
	// datasets are not seconds old, so let the copies settle. The settling
	// starts after the generated data is written back: the disk is still
	// busy for a moment after a large sync, and whichever tool ran first
	// would pay for it.
	syscall.Sync()
	time.Sleep(2500 * time.Millisecond)

	var (
		results    []result
		pairRatios []float64 // profiled add / parse, per adjacent pair
	)
	timed := func(step, tool, dir string, env []string, name string, args ...string) error {
		logf("%s: %s", tool, step)
		// Every step starts with nothing dirty in the page cache: neither
		// tool pays for writing back the data the step before produced.
		syscall.Sync()
		start := time.Now()
		cmd := exec.Command(name, args...)
		cmd.Dir = dir
		cmd.Env = append(append(os.Environ(), "DVC_NO_ANALYTICS=1"), env...)
		out, err := cmd.CombinedOutput()
		d := time.Since(start)
		if err != nil {
			return fmt.Errorf("%s %s: %w\n%s", tool, step, err, tail(out))
		}
		if tool == "mlcycle" {
			logf("  %s (%.3f s)", strings.TrimSpace(string(out)), d.Seconds())
		} else {
			logf("  %.3f s", d.Seconds())
		}
		results = append(results, result{step, tool, d})
		return nil
	}
	// `mlcycle data add` as a user runs it, on a data folder (SQLite catalog
	// and file:// store) and a state cache (XDG_CACHE_HOME) of its own.
	// median runs step n times and keeps only the median of the results it
	// appends.
	median := func(n int, step func() error) error {
		first := len(results)
		for range n {
			if err := step(); err != nil {
				return err
			}
		}
		runs := slices.Clone(results[first:])
		if len(runs) == 0 {
			return nil
		}
		slices.SortFunc(runs, func(a, b result) int { return cmp.Compare(a.elapsed, b.elapsed) })
		results = append(results[:first], runs[len(runs)/2])
		return nil
	}
	// home is the folder under ml of the data folder and state cache: a
	// new one means nothing cached and nothing stored yet.
	mlAdd := func(step, home, dsName, rel string, extra ...string) error {
		home = filepath.Join(ml, home)
		if err := os.MkdirAll(home, 0o755); err != nil {
			return err
		}
		if err := warm(filepath.Join(ml, rel)); err != nil {
			return err
		}
		args := append([]string{"data", "add", rel, "--name", dsName, "--data-dir", filepath.Join(home, "data")}, extra...)
		return timed(step, "mlcycle", ml, []string{"XDG_CACHE_HOME=" + filepath.Join(home, "cache")}, c.mlcycle, args...)
	}
	timeParse := func() error {
		if err := warm(filepath.Join(ml, "table.csv")); err != nil {
			return err
		}
		return timed("parse csv", "mlcycle", ml, nil, self, "-mode", "parse", "-path", filepath.Join(ml, "table.csv"))
	}
	dvcAdd := func(step, rel string) error {
		if c.dvc == "" {
			return nil
		}
		if err := warm(filepath.Join(dv, rel)); err != nil {
			return err
		}
		return timed(step, "dvc", dv, nil, c.dvc, "add", "--quiet", rel)
	}
	steps := []func() error{
		func() error { return mlAdd("add tree", ".mlcycle", "tree", "tree") },
		func() error { return dvcAdd("add tree", "tree") },
		func() error { return mlAdd("add csv", ".mlcycle", "table", "table.csv") },
		func() error { return dvcAdd("add csv", "table.csv") },
		// The no-op re-adds take milliseconds to a second, where one
		// scheduling hiccup of a busy machine shows: each is timed 5 times
		// and the median kept.
		func() error {
			return median(5, func() error { return mlAdd("re-add tree", ".mlcycle", "tree", "tree") })
		},
		func() error { return median(5, func() error { return dvcAdd("re-add tree", "tree") }) },
		func() error {
			return mlAdd("add csv, no profile", ".mlcycle-np", "table-np", "table.csv", "--no-profile")
		},
		// The profiled add against the parse: the speed of this VM's cores
		// drifts by tens of percent over minutes, so each add (into a
		// fresh data folder) is timed right after a parse, three times,
		// and the median of the pairs' ratios is the figure.
		func() error {
			var parses, adds []result
			for i := range pairRuns {
				if err := timeParse(); err != nil {
					return err
				}
				if err := mlAdd("add csv, paired", fmt.Sprintf(".mlcycle-pair%d", i+1), "table", "table.csv"); err != nil {
					return err
				}
				n := len(results)
				parses, adds = append(parses, results[n-2]), append(adds, results[n-1])
				results = results[:n-2]
			}
			results = append(results, medianOf(parses), medianOf(adds))
			for i := range parses {
				pairRatios = append(pairRatios, adds[i].elapsed.Seconds()/parses[i].elapsed.Seconds())
			}
			return nil
		},
	}
	for _, s := range steps {
		if err := s(); err != nil {
			return err
		}
	}
	report(os.Stdout, c, results, pairRatios)
	return nil
}

// pairRuns is how many (parse, profiled add) pairs are timed.
const pairRuns = 3

// medianOf returns the result with the median time.
func medianOf(rs []result) result {
	rs = slices.Clone(rs)
	slices.SortFunc(rs, func(a, b result) int { return cmp.Compare(a.elapsed, b.elapsed) })
	return rs[len(rs)/2]
}

func report(w io.Writer, c config, rs []result, pairRatios []float64) {
	get := func(step, tool string) time.Duration {
		for _, r := range rs {
			if r.step == step && r.tool == tool {
				return r.elapsed
			}
		}
		return 0
	}
	fmt.Fprintf(w, "\n%-22s %-8s %10s %10s\n", "step", "tool", "seconds", "MB/s")
	for _, r := range rs {
		size := c.treeBytes
		if strings.Contains(r.step, "csv") {
			size = c.csvBytes
		}
		fmt.Fprintf(w, "%-22s %-8s %10.3f %10.0f\n", r.step, r.tool, r.elapsed.Seconds(), float64(size)/(1<<20)/r.elapsed.Seconds())
	}
	fmt.Fprintln(w)
	ratio := func(what, step string, goal float64) {
		m, d := get(step, "mlcycle"), get(step, "dvc")
		if m == 0 || d == 0 {
			return
		}
		fmt.Fprintf(w, "%-34s dvc/mlcycle = %6.1fx (goal >= %gx)\n", what, d.Seconds()/m.Seconds(), goal)
	}
	ratio(fmt.Sprintf("add %d files, %s:", c.files, mb(c.treeBytes)), "add tree", 5)
	ratio(fmt.Sprintf("add one %s CSV:", mb(c.csvBytes)), "add csv", 5)
	ratio("no-op re-add of the tree:", "re-add tree", 20)
	if m, d := get("add csv, no profile", "mlcycle"), get("add csv", "dvc"); m > 0 && d > 0 {
		fmt.Fprintf(w, "%-34s dvc/mlcycle = %6.1fx (mlcycle without profiling)\n", "add one CSV, no profile:", d.Seconds()/m.Seconds())
	}
	if p := get("parse csv", "mlcycle"); p > 0 && len(pairRatios) > 0 {
		each := make([]string, len(pairRatios))
		for i, r := range pairRatios {
			each[i] = fmt.Sprintf("%.2f", r)
		}
		sorted := slices.Sorted(slices.Values(pairRatios))
		fmt.Fprintf(w, "%-34s add/parse     = %6.2fx (goal <= 2x; median of %d adjacent pairs: %s; add without profiling %.2fx)\n",
			"CSV add with profiling vs parse:", sorted[len(sorted)/2], len(sorted), strings.Join(each, ", "),
			get("add csv, no profile", "mlcycle").Seconds()/p.Seconds())
	}
}

func dvcInit(dvc, dir string) error {
	for _, args := range [][]string{
		{"git", "init", "--quiet"},
		{dvc, "init", "--quiet"},
		{dvc, "config", "core.autostage", "false"},
	} {
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "DVC_NO_ANALYTICS=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %w\n%s", strings.Join(args, " "), err, tail(out))
		}
	}
	return nil
}

// writeTree writes n files of about total/n bytes of pseudo-random (so
// incompressible, like images) content in 100 folders.
func writeTree(dir string, n int, total int64) error {
	size := total / int64(n)
	buf := make([]byte, size)
	for i := range n {
		rng := rand.NewChaCha8([32]byte{byte(i), byte(i >> 8), byte(i >> 16), 1})
		rng.Read(buf)
		sub := filepath.Join(dir, fmt.Sprintf("part-%02d", i%100))
		if err := os.MkdirAll(sub, 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(sub, fmt.Sprintf("sample-%05d.bin", i)), buf, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// writeCSV writes a table of about size bytes: an id, numeric columns of
// several distributions and two categorical columns.
func writeCSV(path string, size int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	rng := rand.New(rand.NewPCG(1, 2))
	cats := []string{"alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"}
	cities := []string{"paris", "lyon", "oslo", "lima", "kyoto", "cairo", "quito", "perth", "dakar", "hanoi"}
	w.WriteString("id,amount,score,latency_ms,count,ratio,category,city\n")
	var n int64
	for id := 0; n < size; id++ {
		line := fmt.Sprintf("%d,%.2f,%.4f,%.3f,%d,%.6f,%s,%s\n", id,
			100+30*rng.NormFloat64(), rng.Float64(), 20*rng.ExpFloat64(), rng.IntN(1000), rng.Float64()*1e-3,
			cats[rng.IntN(len(cats))], cities[min(rng.IntN(20), len(cities)-1)])
		w.WriteString(line)
		n += int64(len(line))
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func mb(n int64) string { return fmt.Sprintf("%d MB", n>>20) }

func tail(b []byte) string {
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "==> "+format+"\n", args...)
}
