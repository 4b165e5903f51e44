package cli

// The training behind mlcycle train: checking the data and params, the
// split, fitting (with the search and cross-validation), evaluation,
// explanations, the report and the model package, all recorded on a run.

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mlcycle/mlcycle/client"
	"github.com/mlcycle/mlcycle/internal/frame"
	"github.com/mlcycle/mlcycle/internal/learn"
	"github.com/mlcycle/mlcycle/internal/learn/explain"
	"github.com/mlcycle/mlcycle/internal/learn/gbdt"
	"github.com/mlcycle/mlcycle/internal/learn/linear"
	"github.com/mlcycle/mlcycle/internal/learn/metrics"
	"github.com/mlcycle/mlcycle/internal/learn/prep"
	"github.com/mlcycle/mlcycle/internal/learn/report"
	"github.com/mlcycle/mlcycle/internal/learn/search"
	"github.com/mlcycle/mlcycle/internal/modelfmt"
)

// --- the training -----------------------------------------------------------

// trainJob is a training checked end to end before any run exists: the
// table, the task and its classes, the split, the params of every model it
// will fit and the cross-validation folds.
type trainJob struct {
	o       trainOptions
	table   *frame.Table
	target  string
	exclude []string // never features: the sensitive and time columns
	task    learn.Task
	classes []string
	y       []float64 // target of every row: class index or value
	parts   [3][]int  // train, validation and test rows
	method  string    // random, stratified or time
	algo    string    // gbdt or linear; auto until a search picks
	params  map[string]string
	cands   []candidate
	folds   [][2][]int
	groups  []string // the sensitive column's value per row (fairness)

	prepCache map[prep.Mode]*prepared
}

// candidate is one point of a search: an algorithm and its params.
type candidate struct {
	algo   string
	params map[string]string
}

func (c candidate) String() string {
	return c.algo + " " + search.Params(c.params).String()
}

// defaultSpaces are the search spaces when --space does not replace them.
func defaultSpace(algo string) search.Space {
	if algo == "linear" {
		return search.MustParse("alpha=0.00001:1:log", "l1_ratio=0,0.15,0.5,0.85,1")
	}
	return search.MustParse("learning_rate=0.02:0.3:log", "max_leaves=15,31,63,127", "min_data_in_leaf=5,20,50",
		"l2=0,0.1,1,10", "subsample=0.7,0.85,1", "colsample=0.6,0.8,1")
}

// selection is the validation metric the search minimises.
func selection(task learn.Task) string {
	if task == learn.Regression {
		return "rmse"
	}
	return "log_loss"
}

func prepareTraining(ctx context.Context, o trainOptions, data trainData) (*trainJob, error) {
	tables := make([]*frame.Table, 0, len(data.files))
	for _, f := range data.files {
		t, err := frame.ReadTableFile(ctx, f, frame.Options{})
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", filepath.Base(f), err)
		}
		tables = append(tables, t)
	}
	table := tables[0]
	if len(tables) > 1 {
		var err error
		if table, err = frame.Concat(tables...); err != nil {
			return nil, fmt.Errorf("joining the table files of %s (choose one with --file): %w", data.label, err)
		}
	}
	if table.Rows() == 0 {
		return nil, fmt.Errorf("%s has no rows", data.label)
	}
	j := &trainJob{o: o, table: table, target: o.target, algo: o.algo}
	tcol, err := table.Column(o.target)
	if err != nil {
		return nil, fmt.Errorf("--target: %w", err)
	}
	if vals := distinctValues(tcol, 2); len(vals) < 2 {
		if len(vals) == 0 {
			return nil, fmt.Errorf("--target %s is missing in every row", o.target)
		}
		return nil, fmt.Errorf("--target %s is constant (every row is %q): there is nothing to learn", o.target, vals[0])
	}
	if o.sensitive != "" {
		col, err := table.Column(o.sensitive)
		if err != nil {
			return nil, fmt.Errorf("--sensitive: %w", err)
		}
		if vals := distinctValues(col, 2); len(vals) < 2 {
			return nil, fmt.Errorf("--sensitive %s has %s: fairness compares at least two groups", o.sensitive, oneGroup(vals))
		}
		j.exclude = append(j.exclude, o.sensitive)
		j.groups = make([]string, table.Rows())
		for i := range j.groups {
			if col.IsNull(i) {
				j.groups[i] = "(missing)"
			} else {
				j.groups[i] = col.Str(i)
			}
		}
	}
	var times []int64
	if o.timeColumn != "" {
		if times, err = timeValues(table, o.timeColumn); err != nil {
			return nil, err
		}
		if o.timeColumn != o.sensitive {
			j.exclude = append(j.exclude, o.timeColumn)
		}
	}
	if o.timeColumn == o.target {
		return nil, fmt.Errorf("--time-column %s is the target column", o.timeColumn)
	}

	// A preprocessing fit on the whole table checks every feature and infers
	// the task and the classes; the model's own is fit on the train split.
	var task learn.Task
	if o.task != "auto" {
		task = learn.Task(o.task)
	}
	full, err := prep.Fit(table, j.spec(prepMode(o.algo), task))
	if err != nil {
		return nil, err
	}
	j.task, j.classes = full.Task(), full.Classes()
	if j.y, err = full.Target(table); err != nil {
		return nil, err
	}
	if o.stratify && j.task == learn.Regression {
		return nil, fmt.Errorf("--stratify keeps class proportions, but %s is a regression target", o.target)
	}
	if o.sensitive != "" && j.task != learn.Binary {
		return nil, fmt.Errorf("--sensitive: the fairness metrics need a binary task, and %s is %s", o.target, j.task)
	}
	if err := j.checkParams(); err != nil {
		return nil, err
	}
	if err := j.splitRows(times); err != nil {
		return nil, err
	}
	if o.sensitive != "" {
		if vals := distinctStrings(gatherStrings(j.groups, j.parts[2]), 2); len(vals) < 2 {
			return nil, fmt.Errorf("--sensitive %s has %s in the test split: fairness compares at least two groups", o.sensitive, oneGroup(vals))
		}
	}
	if o.cv > 0 {
		rows := append(slices.Clone(j.parts[0]), j.parts[1]...)
		slices.Sort(rows)
		var labels []int
		if j.task != learn.Regression {
			labels = make([]int, len(rows))
			for i, r := range rows {
				labels[i] = int(j.y[r])
			}
		}
		folds, err := frame.KFold(len(rows), o.cv, o.seed, labels)
		if err != nil {
			return nil, j.classErr("--cv", err)
		}
		for _, f := range folds {
			j.folds = append(j.folds, [2][]int{gatherInts(rows, f[0]), gatherInts(rows, f[1])})
		}
	}
	return j, nil
}

// spec is what the preprocessing is fit with.
func (j *trainJob) spec(mode prep.Mode, task learn.Task) prep.Spec {
	return prep.Spec{Target: j.target, Exclude: j.exclude, Mode: mode, Task: task,
		Numeric: j.o.numeric, Categorical: j.o.categorical}
}

func prepMode(algo string) prep.Mode {
	if algo == "linear" {
		return prep.Linear
	}
	return prep.Trees
}

// distinctValues returns up to max distinct non-missing values of c, as text.
func distinctValues(c *frame.TableColumn, max int) []string {
	var out []string
	for i := range c.Len() {
		if c.IsNull(i) {
			continue
		}
		if v := c.Str(i); !slices.Contains(out, v) {
			out = append(out, v)
			if len(out) == max {
				break
			}
		}
	}
	return out
}

func distinctStrings(s []string, max int) []string {
	var out []string
	for _, v := range s {
		if !slices.Contains(out, v) {
			out = append(out, v)
			if len(out) == max {
				break
			}
		}
	}
	return out
}

func oneGroup(vals []string) string {
	if len(vals) == 0 {
		return "no value"
	}
	return fmt.Sprintf("one group (%q)", vals[0])
}

// timeValues reads the --time-column as sortable integers.
func timeValues(t *frame.Table, name string) ([]int64, error) {
	col, err := t.Column(name)
	if err != nil {
		return nil, fmt.Errorf("--time-column: %w", err)
	}
	if n := col.NullCount(); n > 0 {
		return nil, fmt.Errorf("--time-column %s is missing in %d rows: a time split needs a time in every row", name, n)
	}
	switch col.Field.Type {
	case frame.TypeTimestamp, frame.TypeInt:
		return col.Ints, nil
	}
	return nil, fmt.Errorf("--time-column %s is a %s column: it must hold timestamps or integers", name, col.Field.Type)
}

// checkParams parses --param for the algorithm, and builds and checks the
// search candidates, so that a bad value fails before training.
func (j *trainJob) checkParams() error {
	kv, err := parseKV("--param", j.o.params)
	if err != nil {
		return err
	}
	if j.algo == "auto" && len(kv) > 0 {
		return errors.New("--param names one algorithm's parameters: choose --algo gbdt or linear to set them")
	}
	j.params = j.withDefaults("gbdt", kv)
	if j.algo != "auto" {
		j.params = j.withDefaults(j.algo, kv)
		if err := j.parse(j.algo, j.params); err != nil {
			return err
		}
	}
	if j.o.search == 0 {
		return nil
	}
	over, err := search.Parse(j.o.space...)
	if err != nil {
		return fmt.Errorf("--space: %w", err)
	}
	algos := []string{j.algo}
	if j.algo == "auto" {
		algos = []string{"gbdt", "linear"}
	}
	for i, algo := range algos {
		space := defaultSpace(algo)
		// A fixed --param is not searched.
		space.Params = slices.DeleteFunc(space.Params, func(p search.Param) bool { _, fixed := kv[p.Name]; return fixed })
		space = search.Merge(space, j.spaceFor(algo, over))
		n := j.o.search / len(algos)
		if i == 0 {
			n += j.o.search % len(algos)
		}
		for _, c := range search.Random(space, n, j.o.seed+uint64(i)) {
			params := j.withDefaults(algo, kv)
			maps.Copy(params, c)
			if err := j.parse(algo, params); err != nil {
				return fmt.Errorf("--space: %w", err)
			}
			j.cands = append(j.cands, candidate{algo: algo, params: params})
		}
	}
	if len(j.cands) == 0 {
		return errors.New("--search: the space gives no candidate")
	}
	return nil
}

// spaceFor keeps the --space entries the algorithm knows (with --algo auto
// a space may name both algorithms' params).
func (j *trainJob) spaceFor(algo string, s search.Space) search.Space {
	if j.algo != "auto" {
		return s
	}
	known := gbdt.ParamNames()
	if algo == "linear" {
		known = linear.ParamNames()
	}
	out := search.Space{}
	for _, p := range s.Params {
		if slices.Contains(known, p.Name) {
			out.Params = append(out.Params, p)
		}
	}
	return out
}

// defaultEarlyStopping is the early_stopping_rounds train sets for gbdt
// when the user does not: with a validation split at hand, boosting past
// the best round only overfits.
const defaultEarlyStopping = "20"

// withDefaults adds what train decides to the user's params: the seed,
// early stopping for gbdt and, for gbdt multiclass, the number of classes.
func (j *trainJob) withDefaults(algo string, kv map[string]string) map[string]string {
	out := maps.Clone(kv)
	if _, ok := out["seed"]; !ok {
		out["seed"] = strconv.FormatUint(j.o.seed, 10)
	}
	if algo == "gbdt" {
		if _, ok := out["early_stopping_rounds"]; !ok {
			out["early_stopping_rounds"] = defaultEarlyStopping
		}
	}
	if algo == "gbdt" && j.task == learn.Multiclass {
		if _, ok := out["num_class"]; !ok {
			out["num_class"] = strconv.Itoa(len(j.classes))
		}
	}
	return out
}

func (j *trainJob) parse(algo string, kv map[string]string) error {
	var err error
	if algo == "linear" {
		_, err = linear.ParseParams(kv)
	} else {
		var p gbdt.Params
		p, err = gbdt.ParseParams(kv)
		if err == nil && j.task == learn.Multiclass && p.NumClass != len(j.classes) {
			err = fmt.Errorf("parameter num_class: %s has %d classes, not %d", j.target, len(j.classes), p.NumClass)
		}
	}
	if err != nil {
		return fmt.Errorf("--param: %w", err)
	}
	return nil
}

// splitRows draws the train, validation and test rows and checks that every
// class is in the train split.
func (j *trainJob) splitRows(times []int64) error {
	fracs, _ := parseSplit(j.o.split)
	if j.o.search > 0 && fracs[1] == 0 {
		return errors.New("--search chooses on the validation split: give it a fraction in --split, e.g. 0.7,0.15,0.15")
	}
	var parts [][]int
	var err error
	switch {
	case times != nil:
		j.method = "time"
		parts, err = frame.SplitByTime(times, fracs[:])
	case j.o.stratify:
		j.method = "stratified"
		labels := make([]int, len(j.y))
		for i, v := range j.y {
			labels[i] = int(v)
		}
		parts, err = frame.SplitStratified(labels, fracs[:], j.o.seed)
	default:
		j.method = "random"
		parts, err = frame.SplitRandom(len(j.y), fracs[:], j.o.seed)
	}
	if err != nil {
		return j.classErr("--stratify", err)
	}
	if len(parts) != 3 {
		return fmt.Errorf("splitting: got %d parts, want 3", len(parts))
	}
	copy(j.parts[:], parts)
	names := [3]string{"train", "validation", "test"}
	for i, p := range j.parts {
		if len(p) == 0 && fracs[i] > 0 {
			return fmt.Errorf("--split %s leaves the %s split empty with %d rows: give more data or other fractions", j.o.split, names[i], len(j.y))
		}
	}
	if j.task != learn.Regression {
		seen := make([]bool, len(j.classes))
		for _, r := range j.parts[0] {
			seen[int(j.y[r])] = true
		}
		for k, ok := range seen {
			if !ok {
				return fmt.Errorf("class %q of %s has no row in the train split: add --stratify, or more rows of that class", j.classes[k], j.target)
			}
		}
	}
	return nil
}

// classErr names the class of a *frame.ClassError.
func (j *trainJob) classErr(flag string, err error) error {
	var ce *frame.ClassError
	if errors.As(err, &ce) && ce.Class >= 0 && ce.Class < len(j.classes) {
		return fmt.Errorf("%s: class %q of %s has %d row(s), too few to appear in every part (needs %d)", flag, j.classes[ce.Class], j.target, ce.Rows, ce.Need)
	}
	return fmt.Errorf("%s: %w", flag, err)
}

func gatherInts(s []int, idx []int) []int {
	out := make([]int, len(idx))
	for i, k := range idx {
		out[i] = s[k]
	}
	return out
}

func gatherFloats(s []float64, idx []int) []float64 {
	out := make([]float64, len(idx))
	for i, k := range idx {
		out[i] = s[k]
	}
	return out
}

func gatherStrings(s []string, idx []int) []string {
	out := make([]string, len(idx))
	for i, k := range idx {
		out[i] = s[k]
	}
	return out
}

// fitInput is one model to fit.
type fitInput struct {
	algo   string
	params map[string]string
	budget float64 // share of the rounds or iterations to run, in (0, 1]
	train  []int
	valid  []int
	// onStep sees the loss after every boosting round or solver iteration.
	onStep func(step int, train, valid map[string]float64)
}

// fitted is a trained model with the preprocessing it was trained through.
type fitted struct {
	algo   string
	prep   *prep.Prep
	pred   learn.Predictor
	gb     *gbdt.Model
	lin    *linear.Model
	x      *learn.Matrix // the training matrix
	params map[string]string
}

// prepared is a preprocessing fit on train rows, with the matrices of the
// train and validation rows.
type prepared struct {
	p     *prep.Prep
	x, vx *learn.Matrix
	y, vy []float64
}

// prepare fits the preprocessing of a fit. The train/validation split is
// prepared once per mode and shared by the search trials and the final
// training (learners do not modify their matrices).
func (j *trainJob) prepare(in fitInput) (*prepared, error) {
	mode := prepMode(in.algo)
	shared := sameRows(in.train, j.parts[0]) && sameRows(in.valid, j.parts[1])
	if pr, ok := j.prepCache[mode]; ok && shared {
		return pr, nil
	}
	trainT := j.table.Take(in.train)
	p, err := prep.Fit(trainT, j.spec(mode, j.task))
	if err != nil {
		return nil, err
	}
	if !slices.Equal(p.Classes(), j.classes) {
		return nil, fmt.Errorf("the train rows have classes %v, the table %v", p.Classes(), j.classes)
	}
	pr := &prepared{p: p, y: gatherFloats(j.y, in.train)}
	if pr.x, err = p.Matrix(trainT); err != nil {
		return nil, err
	}
	if len(in.valid) > 0 {
		if pr.vx, err = p.Matrix(j.table.Take(in.valid)); err != nil {
			return nil, err
		}
		pr.vy = gatherFloats(j.y, in.valid)
	}
	if shared {
		if j.prepCache == nil {
			j.prepCache = map[prep.Mode]*prepared{}
		}
		j.prepCache[mode] = pr
	}
	return pr, nil
}

// sameRows reports whether a and b are the same slice.
func sameRows(a, b []int) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

func (j *trainJob) fit(ctx context.Context, in fitInput) (*fitted, error) {
	pr, err := j.prepare(in)
	if err != nil {
		return nil, err
	}
	p, x, y, vx, vy := pr.p, pr.x, pr.y, pr.vx, pr.vy
	f := &fitted{algo: in.algo, prep: p, x: x, params: in.params}
	budget := in.budget
	if budget <= 0 || budget > 1 {
		budget = 1
	}
	switch in.algo {
	case "linear":
		lp, err := linear.ParseParams(in.params)
		if err != nil {
			return nil, err
		}
		lp.MaxIter = max(1, int(float64(lp.MaxIter)*budget+0.5))
		opt := linear.Options{ValidX: vx, ValidY: vy}
		if in.onStep != nil {
			opt.OnIteration = func(it linear.Iteration) {
				tr := map[string]float64{"loss": it.TrainLoss, "objective": it.Objective}
				var va map[string]float64
				if vx != nil {
					va = map[string]float64{"loss": it.ValidLoss}
				}
				in.onStep(it.Iter, tr, va)
			}
		}
		m, err := linear.Train(ctx, j.task, len(j.classes), x, y, lp, opt)
		if err != nil {
			return nil, err
		}
		f.lin, f.pred = m, m
	default:
		gp, err := gbdt.ParseParams(in.params)
		if err != nil {
			return nil, err
		}
		gp.NumRounds = max(1, int(float64(gp.NumRounds)*budget+0.5))
		if vx == nil {
			gp.EarlyStoppingRounds = 0
		}
		opt := gbdt.Options{Valid: vx, ValidY: vy}
		if in.onStep != nil {
			opt.OnRound = func(round int, train, valid map[string]float64) { in.onStep(round+1, train, valid) }
		}
		m, err := gbdt.Train(ctx, j.task, x, y, gp, opt)
		if err != nil {
			return nil, err
		}
		f.gb, f.pred = m, m
	}
	return f, nil
}

// predict returns f's user-facing outputs for rows.
func (j *trainJob) predict(f *fitted, rows []int) (*learn.Matrix, []float64, error) {
	x, err := f.prep.Matrix(j.table.Take(rows))
	if err != nil {
		return nil, nil, err
	}
	return x, learn.PredictMatrix(f.pred, x), nil
}

// evaluate scores f on rows.
func (j *trainJob) evaluate(f *fitted, rows []int) (*metrics.Report, error) {
	_, out, err := j.predict(f, rows)
	if err != nil {
		return nil, err
	}
	return metrics.Evaluate(j.task, gatherFloats(j.y, rows), out, len(j.classes))
}

// --- the run ----------------------------------------------------------------

// run records the training as a run: it creates the run, trains (after a
// search, if asked), evaluates, explains, logs everything and marks the run
// FINISHED, or FAILED (KILLED when cancelled) on an error.
func (j *trainJob) run(ctx context.Context, d *deps, cn *conn, expID string, data trainData, tmp string, say func(string, ...any)) (trainResult, error) {
	c := cn.c
	name := j.o.runName
	if name == "" {
		name = j.algo + "-" + data.label
	}
	tags := []client.Tag{{Key: "mlflow.source.name", Value: "mlcycle train"}, {Key: "mlflow.source.type", Value: "LOCAL"}}
	if cn.local {
		tags = append(tags, client.Tag{Key: "mlflow.user", Value: cn.userID})
	}
	run, err := c.CreateRun(ctx, client.RunCreate{ExperimentID: expID, RunName: name, Tags: tags, UserID: cn.userID})
	if err != nil {
		return trainResult{}, fmt.Errorf("creating the run: %w", err)
	}
	runID := run.Info.RunID
	say("run %s: %s %s on %s (%d rows: %d train, %d validation, %d test)", runID, j.algo, j.task, data.label,
		len(j.y), len(j.parts[0]), len(j.parts[1]), len(j.parts[2]))
	res, err := j.execute(ctx, d, c, expID, runID, name, data, tmp, say)
	status := client.RunFinished
	if err != nil {
		status = client.RunFailed
		if ctx.Err() != nil {
			status = client.RunKilled
		}
	}
	if ferr := finishRun(c, runID, status); ferr != nil && err == nil {
		err = fmt.Errorf("marking the run finished: %w", ferr)
	}
	if err != nil {
		return res, fmt.Errorf("run %s %s: %w", runID, strings.ToLower(status), err)
	}
	res.RunID, res.ExperimentID = runID, expID
	return res, nil
}

func (j *trainJob) execute(ctx context.Context, d *deps, c *client.Client, expID, runID, name string, data trainData, tmp string, say func(string, ...any)) (trainResult, error) {
	o := j.o
	base := map[string]string{
		"data": data.label, "target": j.target, "task": string(j.task), "split": o.split, "split_method": j.method,
		"seed": strconv.FormatUint(o.seed, 10), "rows_train": strconv.Itoa(len(j.parts[0])),
		"rows_valid": strconv.Itoa(len(j.parts[1])), "rows_test": strconv.Itoa(len(j.parts[2])),
	}
	if o.sensitive != "" {
		base["sensitive"] = o.sensitive
	}
	if o.timeColumn != "" {
		base["time_column"] = o.timeColumn
	}
	if o.cv > 0 {
		base["cv_folds"] = strconv.Itoa(o.cv)
	}
	if o.search > 0 {
		base["search_trials"] = strconv.Itoa(o.search)
	}
	if data.file != "" {
		base["data_file"] = data.file
	}
	if err := c.LogInputs(ctx, runID, data.input); err != nil {
		return trainResult{}, fmt.Errorf("logging the dataset input: %w", err)
	}

	best := candidate{algo: j.algo, params: j.params}
	if len(j.cands) > 0 {
		var err error
		if best, err = j.search(ctx, c, expID, runID, name, say); err != nil {
			return trainResult{}, err
		}
		if o.runName == "" && j.algo == "auto" {
			// The default name said "auto"; now the algorithm is known.
			if _, err := c.UpdateRun(ctx, runID, client.RunUpdate{RunName: best.algo + "-" + data.label}); err != nil {
				return trainResult{}, fmt.Errorf("renaming the run: %w", err)
			}
		}
	}
	base["algo"] = best.algo
	f, rounds, err := j.trainFinal(ctx, c, runID, best, say)
	if err != nil {
		return trainResult{}, err
	}
	all := maps.Clone(base)
	maps.Copy(all, learnerParams(f))
	if err := c.LogBatchAll(ctx, runID, client.Batch{Params: kvParams(all)}); err != nil {
		return trainResult{}, fmt.Errorf("logging params: %w", err)
	}

	say("evaluating on %d test rows", len(j.parts[2]))
	rep := &report.Report{
		Title: fmt.Sprintf("%s · %s %s", data.label, best.algo, j.task), Task: j.task, Algo: best.algo, Target: j.target,
		Classes: j.classes, Dataset: report.Dataset{Name: data.name, Version: data.version, Digest: data.input.Dataset.Digest,
			Rows: len(j.y), Columns: len(j.table.Cols)},
		Params: learnerParams(f), Split: report.Split{Method: j.method, Train: len(j.parts[0]), Valid: len(j.parts[1]), Test: len(j.parts[2]), Folds: o.cv},
		Loss: rounds.loss, Rounds: rounds.rounds,
	}
	if rep.Test, err = j.evaluate(f, j.parts[2]); err != nil {
		return trainResult{}, fmt.Errorf("evaluating on the test split: %w", err)
	}
	if len(j.parts[1]) > 0 {
		if rep.Valid, err = j.evaluate(f, j.parts[1]); err != nil {
			return trainResult{}, fmt.Errorf("evaluating on the validation split: %w", err)
		}
	}
	final := map[string]float64{}
	for k, v := range rep.Test.Scalar() {
		final["test_"+k] = v
	}
	if rep.Valid != nil {
		for k, v := range rep.Valid.Scalar() {
			final["valid_"+k] = v
		}
	}
	if f.gb != nil {
		final["best_iteration"] = float64(f.gb.BestIteration())
	}
	if o.cv > 0 {
		if rep.CV, err = j.crossValidate(ctx, f, say); err != nil {
			return trainResult{}, err
		}
		for k, s := range rep.CV {
			if s.Mean.Defined() {
				final["cv_"+k+"_mean"] = float64(s.Mean)
			}
			if s.Std.Defined() {
				final["cv_"+k+"_std"] = float64(s.Std)
			}
		}
	}
	if o.sensitive != "" {
		if rep.Fairness, err = j.fairness(f); err != nil {
			return trainResult{}, err
		}
		for k, v := range rep.Fairness.Scalar() {
			final["test_"+k] = v
		}
	}
	say("explaining on up to %d test rows", o.sampleExplain)
	if err := j.explain(ctx, f, rep); err != nil {
		return trainResult{}, fmt.Errorf("explaining the model: %w", err)
	}
	rep.Metrics = rep.Headline()

	out := filepath.Join(tmp, "out")
	if err := os.MkdirAll(out, 0o755); err != nil {
		return trainResult{}, err
	}
	if err := writeReport(rep, out); err != nil {
		return trainResult{}, err
	}
	model, err := modelfmt.New(f.prep, f.pred)
	if err != nil {
		return trainResult{}, fmt.Errorf("packaging the model: %w", err)
	}
	example := j.table.Take(j.parts[0][:min(len(j.parts[0]), modelfmt.ExampleRows)])
	info := modelfmt.Info{RunID: runID, ArtifactPath: "model", MlcycleVersion: d.build.Version}
	if err := modelfmt.Save(filepath.Join(out, "model"), model, info, example); err != nil {
		return trainResult{}, err
	}
	say("uploading the model and the report")
	for _, name := range []string{"model", "report.json", "report.html"} {
		dest := ""
		if name == "model" {
			dest = "model"
		}
		if err := c.LogArtifact(ctx, runID, filepath.Join(out, name), dest); err != nil {
			return trainResult{}, fmt.Errorf("uploading %s: %w", name, err)
		}
	}
	ms := make([]client.Metric, 0, len(final))
	now := client.At(time.Now())
	for k, v := range final {
		ms = append(ms, client.Metric{Key: k, Value: v, Timestamp: now})
	}
	slices.SortFunc(ms, func(a, b client.Metric) int { return strings.Compare(a.Key, b.Key) })
	if err := c.LogBatchAll(ctx, runID, client.Batch{Metrics: ms}); err != nil {
		return trainResult{}, fmt.Errorf("logging the test metrics: %w", err)
	}
	return trainResult{Data: data.label, Task: string(j.task), Algo: best.algo, Params: all,
		Metrics: rep.Test.Scalar(), ModelURI: "runs:/" + runID + "/model"}, nil
}

// learnerParams are the learner's params as logged: every one, defaults
// included, so a run says exactly what it trained with.
func learnerParams(f *fitted) map[string]string {
	if f.lin != nil {
		return f.lin.Params.Map()
	}
	if p, err := gbdt.ParseParams(f.params); err == nil {
		return p.Map()
	}
	return maps.Clone(f.params)
}

func kvParams(m map[string]string) []client.Param {
	keys := slices.Sorted(maps.Keys(m))
	out := make([]client.Param, len(keys))
	for i, k := range keys {
		out[i] = client.Param{Key: k, Value: m[k]}
	}
	return out
}

// roundLog is the loss curve of the final training, for the report.
type roundLog struct {
	loss   string
	rounds []report.Round
}

// trainFinal trains the model the run keeps, logging the loss of every
// round or iteration as a metric step and showing progress.
func (j *trainJob) trainFinal(ctx context.Context, c *client.Client, runID string, best candidate, say func(string, ...any)) (*fitted, roundLog, error) {
	var rl roundLog
	total := 0
	if best.algo == "linear" {
		if p, err := linear.ParseParams(best.params); err == nil {
			total = p.MaxIter
		}
	} else if p, err := gbdt.ParseParams(best.params); err == nil {
		total = p.NumRounds
	}
	every := max(1, total/20)
	unit := "round"
	if best.algo == "linear" {
		unit = "iteration"
	}
	mlog := newMetricLog(ctx, c, runID)
	onStep := func(step int, train, valid map[string]float64) {
		now := client.At(time.Now())
		var ms []client.Metric
		for _, k := range slices.Sorted(maps.Keys(train)) {
			ms = append(ms, client.Metric{Key: "train_" + k, Value: train[k], Step: int64(step), Timestamp: now})
		}
		for _, k := range slices.Sorted(maps.Keys(valid)) {
			ms = append(ms, client.Metric{Key: "valid_" + k, Value: valid[k], Step: int64(step), Timestamp: now})
		}
		mlog.add(ms...)
		if rl.loss == "" {
			rl.loss = lossKey(train)
		}
		r := report.Round{Round: step, Train: metrics.Float(train[rl.loss]), Valid: metrics.NaN()}
		if v, ok := valid[rl.loss]; ok {
			r.Valid = metrics.Float(v)
		}
		rl.rounds = append(rl.rounds, r)
		if step == 1 || step%every == 0 || step == total {
			line := fmt.Sprintf("%s %d/%d  train %s %.5g", unit, step, total, rl.loss, train[rl.loss])
			if v, ok := valid[rl.loss]; ok {
				line += fmt.Sprintf("  valid %s %.5g", rl.loss, v)
			}
			say("%s", line)
		}
	}
	say("training %s on %d rows", best.algo, len(j.parts[0]))
	f, err := j.fit(ctx, fitInput{algo: best.algo, params: best.params, budget: 1, train: j.parts[0], valid: j.parts[1], onStep: onStep})
	if lerr := mlog.close(); err == nil && lerr != nil {
		err = lerr
	}
	if err != nil {
		return nil, rl, fmt.Errorf("training: %w", err)
	}
	if f.gb != nil && f.gb.BestIteration() < total {
		say("early stopping kept %d of %d rounds", f.gb.BestIteration(), len(rl.rounds))
	}
	return f, rl, nil
}

// lossKey is the name of the loss in a step's metrics: the only one, or
// "loss" (linear models also report their objective).
func lossKey(m map[string]float64) string {
	if _, ok := m["loss"]; ok {
		return "loss"
	}
	keys := slices.Sorted(maps.Keys(m))
	if len(keys) == 0 {
		return "loss"
	}
	return keys[0]
}

// search runs successive halving over the candidates, each trial a child
// run of the training run, and returns the best candidate. The budget of a
// trial is its share of the boosting rounds or solver iterations.
func (j *trainJob) search(ctx context.Context, c *client.Client, expID, parentID, name string, say func(string, ...any)) (candidate, error) {
	sel := selection(j.task)
	say("searching %d candidates by successive halving on validation %s", len(j.cands), sel)
	cands := make([]search.Params, len(j.cands))
	for i, cd := range j.cands {
		cands[i] = search.Params(cd.params)
	}
	eval := func(ctx context.Context, t search.Trial) (float64, error) {
		cd := j.cands[t.Candidate]
		child, err := c.CreateRun(ctx, client.RunCreate{ExperimentID: expID, RunName: fmt.Sprintf("%s-trial-%d", name, t.ID),
			Tags: []client.Tag{{Key: "mlflow.parentRunId", Value: parentID}, {Key: "mlcycle.trial", Value: strconv.Itoa(t.ID)}}})
		if err != nil {
			return 0, fmt.Errorf("creating the trial's run: %w", err)
		}
		score, err := j.trial(ctx, c, child.Info.RunID, cd, t)
		status := client.RunFinished
		if err != nil {
			status = client.RunFailed
		}
		if ferr := finishRun(c, child.Info.RunID, status); ferr != nil && err == nil {
			err = ferr
		}
		if err != nil {
			say("trial %d (%s): failed: %v", t.ID, cd, err)
			return 0, err
		}
		say("trial %d rung %d budget %.0f%%: %s  valid %s %.5g", t.ID, t.Rung, 100*t.Budget, cd, sel, score)
		return score, nil
	}
	res, err := search.Halving(ctx, cands, search.Options{MinBudget: 1.0 / 9, MaxBudget: 1, Eta: 3, Maximize: false}, eval)
	if err != nil {
		return candidate{}, fmt.Errorf("search: %w", err)
	}
	best := j.cands[res.BestCandidate]
	say("best: %s (valid %s %.5g)", best, sel, res.BestScore)
	m := []client.Metric{{Key: "search_best_valid_" + sel, Value: res.BestScore, Timestamp: client.At(time.Now())}}
	tags := []client.Tag{{Key: "mlcycle.search.best_trial", Value: strconv.Itoa(bestTrial(res))}}
	if err := c.LogBatchAll(ctx, parentID, client.Batch{Metrics: m, Tags: tags}); err != nil {
		return candidate{}, fmt.Errorf("logging the search result: %w", err)
	}
	return best, nil
}

// bestTrial is the ID of the best candidate's last trial.
func bestTrial(r search.Result) int {
	id := -1
	for _, t := range r.Trials {
		if t.Candidate == r.BestCandidate && !t.Failed() {
			id = t.ID
		}
	}
	return id
}

// trial trains one search candidate at a budget and logs it to its run.
func (j *trainJob) trial(ctx context.Context, c *client.Client, runID string, cd candidate, t search.Trial) (float64, error) {
	params := maps.Clone(cd.params)
	params["algo"] = cd.algo
	params["budget"] = strconv.FormatFloat(t.Budget, 'g', 4, 64)
	params["rung"] = strconv.Itoa(t.Rung)
	if err := c.LogBatchAll(ctx, runID, client.Batch{Params: kvParams(params)}); err != nil {
		return 0, err
	}
	f, err := j.fit(ctx, fitInput{algo: cd.algo, params: cd.params, budget: t.Budget, train: j.parts[0], valid: j.parts[1]})
	if err != nil {
		return 0, err
	}
	rep, err := j.evaluate(f, j.parts[1])
	if err != nil {
		return 0, err
	}
	scalar := rep.Scalar()
	score, ok := scalar[selection(j.task)]
	if !ok {
		return 0, fmt.Errorf("validation %s is undefined", selection(j.task))
	}
	now := client.At(time.Now())
	ms := make([]client.Metric, 0, len(scalar))
	for _, k := range slices.Sorted(maps.Keys(scalar)) {
		ms = append(ms, client.Metric{Key: "valid_" + k, Value: scalar[k], Timestamp: now})
	}
	return score, c.LogBatchAll(ctx, runID, client.Batch{Metrics: ms})
}

// crossValidate fits the final candidate on each fold of train+validation
// and summarises the fold metrics. Early stopping has no validation set
// inside a fold, so the folds run the rounds the final model kept.
func (j *trainJob) crossValidate(ctx context.Context, final *fitted, say func(string, ...any)) (map[string]metrics.Summary, error) {
	params := maps.Clone(final.params)
	if final.gb != nil {
		params["num_rounds"] = strconv.Itoa(max(1, final.gb.BestIteration()))
		params["early_stopping_rounds"] = "0"
	}
	var folds []map[string]float64
	for i, fold := range j.folds {
		f, err := j.fit(ctx, fitInput{algo: final.algo, params: params, budget: 1, train: fold[0]})
		if err != nil {
			return nil, fmt.Errorf("cross-validation fold %d: %w", i+1, err)
		}
		rep, err := j.evaluate(f, fold[1])
		if err != nil {
			return nil, fmt.Errorf("cross-validation fold %d: %w", i+1, err)
		}
		s := rep.Scalar()
		folds = append(folds, s)
		say("cv fold %d/%d: %s %.5g", i+1, len(j.folds), selection(j.task), s[selection(j.task)])
	}
	return metrics.Summarize(folds), nil
}

// fairness compares the test decisions (probability >= 0.5) across the
// groups of the sensitive column.
func (j *trainJob) fairness(f *fitted) (*metrics.FairnessReport, error) {
	rows := j.parts[2]
	_, out, err := j.predict(f, rows)
	if err != nil {
		return nil, err
	}
	pred := make([]float64, len(out))
	for i, p := range out {
		if p >= metrics.DefaultThreshold {
			pred[i] = 1
		}
	}
	return metrics.Fairness(j.o.sensitive, gatherFloats(j.y, rows), pred, gatherStrings(j.groups, rows))
}

// explain adds importance, the SHAP (or linear contribution) summary and,
// for linear models, the coefficients to the report, on a sample of the
// test rows.
func (j *trainJob) explain(ctx context.Context, f *fitted, rep *report.Report) error {
	rows := evenSample(j.parts[2], j.o.sampleExplain)
	x, err := f.prep.Matrix(j.table.Take(rows))
	if err != nil {
		return err
	}
	y := gatherFloats(j.y, rows)
	inputs := f.prep.Inputs()
	names := make([]string, len(inputs))
	for i, in := range inputs {
		names[i] = in.Name
	}
	width := f.prep.Width()
	outputs := j.task.Outputs(len(j.classes))
	identity := width == len(inputs)
	groups := make([][]int, len(inputs))
	for c := range width {
		s := f.prep.Source(c)
		groups[s] = append(groups[s], c)
		identity = identity && s == c
	}

	var contrib []float64
	if f.gb != nil {
		contrib, err = explain.TreeSHAPMatrix(ctx, f.gb, x, nil)
	} else {
		contrib, err = explain.LinearContribMatrix(ctx, f.lin, explain.ColumnMeans(f.x), x, nil)
	}
	if err != nil {
		return err
	}
	var values []float64
	if identity {
		values = make([]float64, 0, x.Rows*x.Cols)
		row := make([]float64, x.Cols)
		for i := range x.Rows {
			values = append(values, x.Row(i, row)...)
		}
	} else if contrib, err = explain.AggregateBlocks(contrib, width, f.prep.Source, len(inputs)); err != nil {
		return err
	}
	if rep.SHAP, err = report.NewSHAPSummary(names, values, contrib, outputs); err != nil {
		return err
	}

	perm, err := explain.Permutation(ctx, f.pred, x, y, lossScore(j.task, len(j.classes)), 5, j.o.seed, groups)
	if err != nil {
		return err
	}
	var gain []float64
	if f.gb != nil {
		g, _ := f.gb.FeatureImportance()
		gain = make([]float64, len(inputs))
		for c, v := range g {
			gain[f.prep.Source(c)] += v
		}
	}
	for i, name := range names {
		imp := report.Importance{Feature: name, Gain: metrics.NaN(), Permutation: metrics.NaN(), PermutationStd: metrics.NaN()}
		if gain != nil {
			imp.Gain = metrics.Float(gain[i])
		}
		if i < len(perm.Features) {
			imp.Permutation, imp.PermutationStd = metrics.Float(perm.Features[i].Mean), metrics.Float(perm.Features[i].Std)
		}
		rep.Importance = append(rep.Importance, imp)
	}
	slices.SortStableFunc(rep.Importance, func(a, b report.Importance) int { return cmpNaNLast(b.Permutation, a.Permutation) })

	if f.lin != nil {
		mnames := f.prep.Names()
		for k := range outputs {
			label := ""
			if j.task == learn.Multiclass {
				label = j.classes[k]
			}
			rep.Coefficients = append(rep.Coefficients, report.Coefficient{Output: label, Feature: report.Intercept, Value: f.lin.Intercept(k)})
			for c, w := range f.lin.Coef(k) {
				rep.Coefficients = append(rep.Coefficients, report.Coefficient{Output: label, Feature: mnames[c], Value: w})
			}
		}
	}
	return nil
}

// cmpNaNLast orders a before b when a is smaller, undefined values first
// (so that a descending sort puts them last).
func cmpNaNLast(a, b metrics.Float) int {
	switch {
	case !a.Defined() && !b.Defined():
		return 0
	case !a.Defined():
		return -1
	case !b.Defined():
		return 1
	}
	return cmp.Compare(float64(a), float64(b))
}

// evenSample picks at most n of rows, evenly spread, in order.
func evenSample(rows []int, n int) []int {
	if len(rows) <= n {
		return rows
	}
	out := make([]int, n)
	for i := range out {
		out[i] = rows[i*len(rows)/n]
	}
	return out
}

// lossScore is the permutation-importance score: minus the log loss (or the
// RMSE), so that a useful feature's shuffle lowers it.
func lossScore(task learn.Task, numClass int) func(y, pred []float64) float64 {
	const eps = 1e-15
	return func(y, pred []float64) float64 {
		if len(y) == 0 {
			return math.NaN()
		}
		var s float64
		switch task {
		case learn.Binary:
			for i, v := range y {
				p := min(max(pred[i], eps), 1-eps)
				if v == 1 {
					s -= math.Log(p)
				} else {
					s -= math.Log(1 - p)
				}
			}
			return -s / float64(len(y))
		case learn.Multiclass:
			for i, v := range y {
				s -= math.Log(max(pred[i*numClass+int(v)], eps))
			}
			return -s / float64(len(y))
		}
		for i, v := range y {
			s += (pred[i] - v) * (pred[i] - v)
		}
		return -math.Sqrt(s / float64(len(y)))
	}
}

// writeReport writes report.json and report.html into dir.
func writeReport(r *report.Report, dir string) error {
	write := func(name string, fn func(io.Writer) error) error {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		if err := fn(f); err != nil {
			f.Close()
			return fmt.Errorf("writing %s: %w", name, err)
		}
		return f.Close()
	}
	if err := write("report.json", r.WriteJSON); err != nil {
		return err
	}
	return write("report.html", r.WriteHTML)
}
