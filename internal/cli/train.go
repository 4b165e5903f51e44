package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/mlcycle/mlcycle/client"
	"github.com/mlcycle/mlcycle/internal/app"
	"github.com/mlcycle/mlcycle/internal/dataset"
	"github.com/mlcycle/mlcycle/internal/frame"
)

// trainOptions are the flags of mlcycle train.
type trainOptions struct {
	data, file    string
	target, task  string
	algo          string
	params        []string
	search        int
	space         []string
	sensitive     string
	register      string
	alias         string
	experiment    string
	runName       string
	split         string
	stratify      bool
	timeColumn    string
	cv            int
	seed          uint64
	quiet         bool
	output        string
	sampleExplain int
	numeric       []string
	categorical   []string
}

func newTrainCmd(d *deps) *cobra.Command {
	var o trainOptions
	var t target
	cmd := &cobra.Command{
		Use:   "train --data <dataset>@<version> --target <column>",
		Short: "Train a model on a dataset version, evaluate and explain it, and log it as a run",
		Long: `Train a native model (gradient-boosted trees or a linear model) on a table and
record everything as a tracking run: params, a metric per boosting round or
iteration, the test metrics, the evaluation report (report.html, report.json),
the model package under model/, and the dataset version as the run's input.
--register adds the model to the registry, --alias points an alias at it.

--data is a dataset version (name@3, name@latest, name@<tag>) or a CSV,
Parquet or JSON Lines file. Everything is checked before training starts:
a missing or constant target, unknown or out-of-range params, a sensitive
column with one group or a class too small to stratify stop the command with
an error naming the column or parameter, and nothing is logged.

Without --server the command works on the database and artifacts of
--data-dir (or --db and --artifacts), like the data commands; with --server
it talks to a running server. See docs/training.md.`,
		Example: `  mlcycle train --data churn@3 --target churned
  mlcycle train --data churn@latest --target churned --algo linear --param alpha=0.01 --param l1_ratio=0.5
  mlcycle train --data churn@3 --target churned --search 20 --register churn --alias challenger
  mlcycle train --data sales.csv --target revenue --task regression --param num_rounds=300`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runTrain(cmd.Context(), d, &t, o)
		},
	}
	addTargetFlags(cmd, &t)
	f := cmd.Flags()
	f.StringVar(&o.data, "data", "", "dataset version (name@3) or a CSV/Parquet/JSON Lines file (required)")
	f.StringVar(&o.file, "file", "", "the table file of the dataset version to use, when it has several (default: all, concatenated)")
	f.StringVar(&o.target, "target", "", "the column to predict (required)")
	f.StringVar(&o.task, "task", "auto", "auto, binary, multiclass or regression")
	f.StringVar(&o.algo, "algo", "gbdt", "gbdt, linear or auto (auto searches both with --search)")
	f.StringArrayVar(&o.params, "param", nil, "learner parameter KEY=VALUE (repeatable; see docs/training.md)")
	f.IntVar(&o.search, "search", 0, "search the params with this many trials (successive halving; 0 = no search)")
	f.StringArrayVar(&o.space, "space", nil, "search space entry KEY=SPEC, e.g. learning_rate=0.01:0.3:log or max_leaves=15,31,63 (repeatable; default: the algo's space)")
	f.StringVar(&o.sensitive, "sensitive", "", "column for the fairness metrics (excluded from the features)")
	f.StringVar(&o.register, "register", "", "register the model under this name")
	f.StringVar(&o.alias, "alias", "", "with --register: point this alias (e.g. challenger) at the new version")
	f.StringVar(&o.experiment, "experiment", "", "experiment name (created if missing; default: the Default experiment)")
	f.StringVar(&o.runName, "run-name", "", "run name (default: <algo>-<data>)")
	f.StringVar(&o.split, "split", "0.7,0.15,0.15", "train,validation,test fractions")
	f.BoolVar(&o.stratify, "stratify", false, "keep the class proportions in every split (classification)")
	f.StringVar(&o.timeColumn, "time-column", "", "split by time on this column: oldest rows train, newest test")
	f.IntVar(&o.cv, "cv", 0, "also cross-validate on train+validation with this many folds and log the means and spreads")
	f.Uint64Var(&o.seed, "seed", 1, "random seed: the same data, params and seed give the same model file")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "no progress on stderr")
	f.StringSliceVar(&o.numeric, "numeric", nil, "columns to read as numbers even if they hold text (a value that is not a number is an error)")
	f.StringSliceVar(&o.categorical, "categorical", nil, "columns to treat as categories even if they hold numbers")
	f.IntVar(&o.sampleExplain, "explain-rows", 1000, "rows of the test split the SHAP summary and permutation importance use")
	addOutputFlag(cmd, &o.output)
	return cmd
}

// checkFlags validates what can be checked without the data.
func (o *trainOptions) checkFlags() error {
	if err := checkOutput(o.output); err != nil {
		return err
	}
	if o.data == "" {
		return errors.New("--data is required: a dataset version (name@3) or a table file")
	}
	if o.target == "" {
		return errors.New("--target is required: the column to predict")
	}
	switch o.task {
	case "auto", "binary", "multiclass", "regression":
	default:
		return fmt.Errorf("--task must be auto, binary, multiclass or regression, not %q", o.task)
	}
	switch o.algo {
	case "gbdt", "linear":
	case "auto":
		if o.search == 0 {
			return errors.New("--algo auto chooses between gbdt and linear by search: give --search <trials> too")
		}
	default:
		return fmt.Errorf("--algo must be gbdt, linear or auto, not %q", o.algo)
	}
	if o.search < 0 {
		return fmt.Errorf("--search must be a number of trials >= 0, not %d", o.search)
	}
	if len(o.space) > 0 && o.search == 0 {
		return errors.New("--space needs --search <trials>")
	}
	if o.cv == 1 || o.cv < 0 || o.cv > 100 {
		return fmt.Errorf("--cv must be 0 (off) or a number of folds from 2 to 100, not %d", o.cv)
	}
	if o.alias != "" && o.register == "" {
		return errors.New("--alias needs --register <model name>")
	}
	if o.sensitive != "" && o.sensitive == o.target {
		return fmt.Errorf("--sensitive %q is the target column", o.sensitive)
	}
	if o.timeColumn != "" && o.stratify {
		return errors.New("--time-column and --stratify exclude each other: a time split keeps the order of time")
	}
	if o.sampleExplain < 1 {
		return fmt.Errorf("--explain-rows must be at least 1, not %d", o.sampleExplain)
	}
	if _, err := parseSplit(o.split); err != nil {
		return err
	}
	if _, err := parseKV("--param", o.params); err != nil {
		return err
	}
	if _, err := parseKV("--space", o.space); err != nil {
		return err
	}
	return nil
}

// parseSplit reads "train,valid,test" fractions. Validation may be 0 (no
// early stopping, no search); train and test may not.
func parseSplit(s string) ([3]float64, error) {
	var out [3]float64
	parts := strings.Split(s, ",")
	if len(parts) != 3 {
		return out, fmt.Errorf("--split %q must be three fractions train,validation,test such as 0.7,0.15,0.15", s)
	}
	sum := 0.0
	for i, p := range parts {
		v, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || v < 0 || v > 1 {
			return out, fmt.Errorf("--split %q: %q is not a fraction between 0 and 1", s, p)
		}
		out[i] = v
		sum += v
	}
	if out[0] == 0 || out[2] == 0 {
		return out, fmt.Errorf("--split %q: the train and test fractions must be above 0", s)
	}
	if sum < 0.999999 || sum > 1.000001 {
		return out, fmt.Errorf("--split %q: the fractions add up to %g, not 1", s, sum)
	}
	return out, nil
}

// parseKV reads repeated KEY=VALUE flags into a map; a key given twice is
// an error.
func parseKV(flag string, kvs []string) (map[string]string, error) {
	out := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("%s %q must look like KEY=VALUE", flag, kv)
		}
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("%s %s is given twice", flag, k)
		}
		out[k] = strings.TrimSpace(v)
	}
	return out, nil
}

// --- the server -------------------------------------------------------------

// conn is a client to the server the flags name, or to an embedded one on
// 127.0.0.1 over the local database and artifact store, so that the local
// and the remote command take the same path through the REST API.
type conn struct {
	c      *client.Client
	where  string // the server URL, or the local data folder
	local  bool
	userID string // the run's user when working locally
	close  func() error
}

func (t *target) connect(ctx context.Context, d *deps) (*conn, error) {
	opts := []client.Option{client.WithUserAgent("mlcycle-cli/" + d.build.Version), client.WithHTTPClient(newLongHTTPClient())}
	if t.server != "" {
		switch {
		case t.token != "":
			opts = append(opts, client.WithToken(t.token))
		case t.username != "":
			opts = append(opts, client.WithBasicAuth(t.username, t.password))
		}
		c, err := client.New(t.server, opts...)
		if err != nil {
			return nil, err
		}
		return &conn{c: c, where: t.server, close: func() error { return nil }}, nil
	}
	return startLocal(ctx, t.cfg, opts)
}

// startLocal starts an embedded server on 127.0.0.1 over the store of cfg,
// for one command, and connects a client to it: the commands that speak
// only the REST API then work on a local data folder too. Its close stops
// the server.
func startLocal(ctx context.Context, cfg app.Config, opts []client.Option) (*conn, error) {
	cfg.Host, cfg.Port, cfg.Auth = "127.0.0.1", 0, false
	cfg.LogLevel = "error"
	if cfg.DB == "" {
		if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
			return nil, fmt.Errorf("creating data folder: %w", err)
		}
	}
	a, err := app.New(ctx, cfg, io.Discard)
	if err != nil {
		return nil, err
	}
	// The server outlives a cancelled command long enough for the run to
	// be marked failed; close stops it.
	sctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan error, 1)
	go func() { done <- a.Run(sctx) }()
	c, err := client.New(a.URL(), opts...)
	if err != nil {
		stop()
		<-done
		return nil, err
	}
	name := "local"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	where := cfg.DataDir
	if cfg.DB != "" {
		where = a.DB.String() // the URL without its password
	}
	return &conn{c: c, where: where, local: true, userID: name, close: func() error {
		stop()
		return <-done
	}}, nil
}

// --- the data ---------------------------------------------------------------

// trainData is the table files of --data, fetched, and how the run names
// them as its input.
type trainData struct {
	files   []string // local table files, in order
	label   string   // iris@3, or the file name
	name    string   // the dataset name, or the file name
	version string   // the dataset version number; "" for a file
	file    string   // --file, if given
	input   client.DatasetInput
}

// fetchData resolves --data: a table file on disk, or a dataset version
// whose table files are written into dir.
func fetchData(ctx context.Context, c *client.Client, spec, file, dir string) (trainData, error) {
	if fi, err := os.Stat(spec); err == nil {
		if fi.IsDir() {
			return trainData{}, fmt.Errorf("--data %s is a folder: give a table file, or record it as a dataset (mlcycle data add) and give name@version", spec)
		}
		if file != "" {
			return trainData{}, errors.New("--file selects a file of a dataset version; --data is already a file")
		}
		if _, err := frame.Detect(spec); err != nil {
			return trainData{}, fmt.Errorf("--data %s: %w", spec, err)
		}
		return fileData(spec)
	}
	// A name with a dot or slash and no @ is a mistyped file, not a dataset.
	if _, err := dataset.ParseRef(spec); err != nil || (!strings.Contains(spec, "@") && strings.ContainsAny(spec, `./\`)) {
		return trainData{}, fmt.Errorf("--data %s: no such file, and not a dataset version (name@3)", spec)
	}
	det, err := c.ShowDataset(ctx, spec)
	if err != nil {
		return trainData{}, fmt.Errorf("--data %s: %w", spec, err)
	}
	var tables []string
	for _, f := range det.Manifest.Files {
		if _, err := frame.Detect(f.Path); err == nil {
			tables = append(tables, f.Path)
		}
	}
	slices.Sort(tables)
	switch {
	case file != "":
		if !slices.Contains(tables, file) {
			return trainData{}, fmt.Errorf("--file %s is not a table file of %s (it has: %s)", file, det.Ref, listOrNone(tables))
		}
		tables = []string{file}
	case len(tables) == 0:
		return trainData{}, fmt.Errorf("--data %s has no table file (CSV, Parquet, JSON Lines)", det.Ref)
	}
	if _, err := dataset.Materialize(ctx, det.Manifest, c, dir, dataset.GetOptions{Paths: tables}); err != nil {
		return trainData{}, fmt.Errorf("fetching %s: %w", det.Ref, err)
	}
	out := trainData{label: det.Ref, name: det.Dataset, version: strconv.FormatInt(det.Version, 10), file: file,
		input: client.DatasetInputFor(det.DatasetVersion, "training")}
	for _, p := range tables {
		out.files = append(out.files, filepath.Join(dir, filepath.FromSlash(p)))
	}
	return out, nil
}

func listOrNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

// fileData describes a local file as a run input: its absolute path as the
// source and a digest of its bytes.
func fileData(path string) (trainData, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return trainData{}, err
	}
	f, err := os.Open(abs)
	if err != nil {
		return trainData{}, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return trainData{}, fmt.Errorf("reading %s: %w", path, err)
	}
	src, _ := json.Marshal(map[string]string{"uri": "file://" + filepath.ToSlash(abs)})
	name := strings.TrimSuffix(filepath.Base(abs), filepath.Ext(abs))
	return trainData{
		files: []string{abs},
		label: filepath.Base(abs),
		name:  filepath.Base(abs),
		input: client.DatasetInput{
			Dataset: client.Dataset{Name: name, Digest: hex.EncodeToString(h.Sum(nil))[:16], SourceType: "local", Source: string(src)},
			Tags:    []client.Tag{{Key: client.TagDatasetContext, Value: "training"}},
		},
	}, nil
}

// --- tracking ---------------------------------------------------------------

// experimentID finds the experiment named name, creating it if missing;
// "" is the Default experiment.
func experimentID(ctx context.Context, c *client.Client, name string) (string, error) {
	if name == "" {
		return "0", nil
	}
	e, err := c.GetExperimentByName(ctx, name)
	if err == nil {
		return e.ID, nil
	}
	if !client.IsNotFound(err) {
		return "", err
	}
	id, err := c.CreateExperiment(ctx, name)
	if err != nil {
		// Another trainer may have created it meanwhile.
		if e, gerr := c.GetExperimentByName(ctx, name); gerr == nil {
			return e.ID, nil
		}
		return "", fmt.Errorf("creating experiment %s: %w", name, err)
	}
	return id, nil
}

// metricLog sends metric points to a run in batches from its own
// goroutine, so training does not wait on the network.
type metricLog struct {
	c     *client.Client
	runID string
	ch    chan client.Metric
	done  chan struct{}
	mu    sync.Mutex
	err   error
}

const metricFlushEvery = time.Second

func newMetricLog(ctx context.Context, c *client.Client, runID string) *metricLog {
	m := &metricLog{c: c, runID: runID, ch: make(chan client.Metric, 4096), done: make(chan struct{})}
	go m.loop(ctx)
	return m
}

func (m *metricLog) loop(ctx context.Context) {
	defer close(m.done)
	var buf []client.Metric
	tick := time.NewTicker(metricFlushEvery)
	defer tick.Stop()
	flush := func() {
		if len(buf) == 0 {
			return
		}
		if err := m.c.LogBatchAll(ctx, m.runID, client.Batch{Metrics: buf}); err != nil {
			m.mu.Lock()
			if m.err == nil {
				m.err = fmt.Errorf("logging metrics: %w", err)
			}
			m.mu.Unlock()
		}
		buf = buf[:0]
	}
	for {
		select {
		case p, ok := <-m.ch:
			if !ok {
				flush()
				return
			}
			buf = append(buf, p)
			if len(buf) >= client.MaxBatchMetrics {
				flush()
			}
		case <-tick.C:
			flush()
		}
	}
}

// add queues points; it never blocks for long (the buffer is large and
// drained continuously).
func (m *metricLog) add(ps ...client.Metric) {
	for _, p := range ps {
		if p.Timestamp.IsZero() {
			p.Timestamp = client.At(time.Now())
		}
		m.ch <- p
	}
}

// close sends what is left and returns the first error.
func (m *metricLog) close() error {
	close(m.ch)
	<-m.done
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.err
}

// finishRun sets the run's final status. It uses its own context so that
// a cancelled command still marks its run.
func finishRun(c *client.Client, runID, status string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := c.UpdateRun(ctx, runID, client.RunUpdate{Status: status, EndTime: time.Now()})
	return err
}

// registerModel creates a version of the registered model name (and the
// model, if new) from the run's model and points alias at it.
func registerModel(ctx context.Context, c *client.Client, name, alias, runID string) (client.ModelVersion, error) {
	if _, err := c.GetRegisteredModel(ctx, name); err != nil {
		if !client.IsNotFound(err) {
			return client.ModelVersion{}, err
		}
		if _, err := c.CreateRegisteredModel(ctx, name, ""); err != nil {
			// Created meanwhile by someone else is fine.
			if _, gerr := c.GetRegisteredModel(ctx, name); gerr != nil {
				return client.ModelVersion{}, fmt.Errorf("creating registered model %s: %w", name, err)
			}
		}
	}
	mv, err := c.CreateModelVersion(ctx, name, "runs:/"+runID+"/model", runID)
	if err != nil {
		return mv, fmt.Errorf("registering %s: %w", name, err)
	}
	if alias != "" {
		if err := c.SetRegisteredModelAlias(ctx, name, alias, mv.Version); err != nil {
			return mv, fmt.Errorf("setting alias %s of %s to version %s: %w", alias, name, mv.Version, err)
		}
		mv.Aliases = append(mv.Aliases, alias)
	}
	return mv, nil
}

// --- the command ------------------------------------------------------------

// trainResult is what train prints at the end (and with -o json).
type trainResult struct {
	RunID        string             `json:"run_id"`
	ExperimentID string             `json:"experiment_id"`
	Data         string             `json:"data"`
	Task         string             `json:"task"`
	Algo         string             `json:"algo"`
	Params       map[string]string  `json:"params"`
	Metrics      map[string]float64 `json:"test_metrics"`
	ModelURI     string             `json:"model_uri"`
	Registered   string             `json:"registered_model_uri,omitempty"`
	AliasURI     string             `json:"alias_uri,omitempty"`
	Where        string             `json:"server"`
}

func runTrain(ctx context.Context, d *deps, t *target, o trainOptions) error {
	if err := o.checkFlags(); err != nil {
		return err
	}
	cn, err := t.connect(ctx, d)
	if err != nil {
		return err
	}
	defer cn.close()
	tmp, err := os.MkdirTemp("", "mlcycle-train-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	say := func(format string, args ...any) {
		if !o.quiet {
			fmt.Fprintf(d.stderr, format+"\n", args...)
		}
	}
	data, err := fetchData(ctx, cn.c, o.data, o.file, filepath.Join(tmp, "data"))
	if err != nil {
		return err
	}
	say("reading %s", data.label)
	job, err := prepareTraining(ctx, o, data)
	if err != nil {
		return err
	}
	expID, err := experimentID(ctx, cn.c, o.experiment)
	if err != nil {
		return err
	}
	res, err := job.run(ctx, d, cn, expID, data, tmp, say)
	if err != nil {
		return err
	}
	res.Where = cn.where
	if o.register != "" {
		mv, err := registerModel(ctx, cn.c, o.register, o.alias, res.RunID)
		if err != nil {
			return err
		}
		res.Registered = fmt.Sprintf("models:/%s/%s", mv.Name, mv.Version)
		if o.alias != "" {
			res.AliasURI = fmt.Sprintf("models:/%s@%s", mv.Name, o.alias)
		}
	}
	if o.output == "json" {
		return writeJSON(d.stdout, res)
	}
	printTrainResult(d.stdout, res)
	return nil
}

func printTrainResult(w io.Writer, r trainResult) {
	fmt.Fprintf(w, "run        %s (experiment %s, on %s)\n", r.RunID, r.ExperimentID, r.Where)
	fmt.Fprintf(w, "trained    %s %s on %s\n", r.Algo, r.Task, r.Data)
	keys := make([]string, 0, len(r.Metrics))
	for k := range r.Metrics {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %.4g", k, r.Metrics[k])
	}
	fmt.Fprintf(w, "test       %s\n", strings.Join(parts, "  "))
	fmt.Fprintf(w, "model      %s\n", r.ModelURI)
	if r.Registered != "" {
		fmt.Fprintf(w, "registered %s\n", r.Registered)
	}
	if r.AliasURI != "" {
		fmt.Fprintf(w, "alias      %s\n", r.AliasURI)
	}
}
