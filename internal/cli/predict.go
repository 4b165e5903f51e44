package cli

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/mlcycle/mlcycle/client"
	"github.com/mlcycle/mlcycle/internal/frame"
	"github.com/mlcycle/mlcycle/internal/learn"
	"github.com/mlcycle/mlcycle/internal/modelfmt"
)

type predictOptions struct {
	model  string
	input  string
	out    string
	format string
	quiet  bool
}

func newPredictCmd(d *deps) *cobra.Command {
	var o predictOptions
	var t target
	cmd := &cobra.Command{
		Use:   "predict --model <uri> --input <file>",
		Short: "Score a table file with a model from the registry, a run or a folder",
		Long: `Load a model package (as mlcycle train logs it) and write its predictions for
every row of a CSV, Parquet or JSON Lines file, in the input's row order.
Classifiers write the predicted label and one probability column per class
(proba_<class>); regressors write the predicted value.

--model is one of:
  models:/<name>@<alias>    the version an alias points at
  models:/<name>/<version>  a version of a registered model
  runs:/<run id>/model      the model a run logged
  ./path/to/model           a model folder on disk (no server needed)

Without --server, registry and run URIs are read from the database and
artifacts of --data-dir (or --db and --artifacts).`,
		Example: `  mlcycle predict --model models:/churn@champion --input customers.csv -o scores.csv
  mlcycle predict --model runs:/3f2a9c0e1b7d4e5f8a6b2c1d0e9f8a7b/model --input new.parquet --format jsonl
  mlcycle predict --model ./model --input rows.jsonl`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runPredict(cmd.Context(), d, &t, o)
		},
	}
	addTargetFlags(cmd, &t)
	f := cmd.Flags()
	f.StringVar(&o.model, "model", "", "model URI: models:/name@alias, models:/name/3, runs:/<id>/model or a folder (required)")
	f.StringVar(&o.input, "input", "", "CSV, Parquet or JSON Lines file to score (required; --data works too)")
	// train names its table --data; accept that spelling here too.
	f.SetNormalizeFunc(func(_ *pflag.FlagSet, name string) pflag.NormalizedName {
		if name == "data" {
			name = "input"
		}
		return pflag.NormalizedName(name)
	})
	f.StringVarP(&o.out, "out", "o", "-", `where to write the predictions ("-" is stdout)`)
	f.StringVar(&o.format, "format", "", "csv or jsonl (default: from the --out extension, else csv)")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "no progress on stderr")
	return cmd
}

// predictFormat decides the output format from --format and --out.
func predictFormat(format, out string) (string, error) {
	switch strings.ToLower(format) {
	case "csv":
		return "csv", nil
	case "jsonl", "ndjson", "json":
		return "jsonl", nil
	case "":
	default:
		return "", fmt.Errorf("--format must be csv or jsonl, not %q", format)
	}
	switch strings.ToLower(filepath.Ext(out)) {
	case ".jsonl", ".ndjson", ".json":
		return "jsonl", nil
	}
	return "csv", nil
}

// modelURI is a parsed --model.
type modelURI struct {
	dir     string // a local folder
	name    string // registered model
	version string
	alias   string
	runID   string // runs:/<id>/<path>
	runPath string
}

func parseModelURI(s string) (modelURI, error) {
	switch {
	case strings.HasPrefix(s, "models:/"):
		rest := strings.Trim(strings.TrimPrefix(s, "models:/"), "/")
		if name, alias, ok := strings.Cut(rest, "@"); ok {
			if name == "" || alias == "" || strings.Contains(alias, "/") {
				return modelURI{}, fmt.Errorf("--model %q: want models:/<name>@<alias>", s)
			}
			return modelURI{name: name, alias: alias}, nil
		}
		i := strings.LastIndex(rest, "/")
		if i <= 0 || i == len(rest)-1 {
			return modelURI{}, fmt.Errorf("--model %q: want models:/<name>/<version> or models:/<name>@<alias>", s)
		}
		name, version := rest[:i], rest[i+1:]
		if strings.ContainsFunc(version, func(r rune) bool { return r < '0' || r > '9' }) {
			return modelURI{}, fmt.Errorf("--model %q: the version %q is not a number (an alias is written models:/%s@%s)", s, version, name, version)
		}
		return modelURI{name: name, version: version}, nil
	case strings.HasPrefix(s, "runs:/"):
		rest := strings.Trim(strings.TrimPrefix(s, "runs:/"), "/")
		id, p, _ := strings.Cut(rest, "/")
		if id == "" {
			return modelURI{}, fmt.Errorf("--model %q: want runs:/<run id>/<path>", s)
		}
		if p == "" {
			p = "model"
		}
		return modelURI{runID: id, runPath: p}, nil
	}
	if strings.Contains(s, ":/") && !filepath.IsAbs(s) {
		return modelURI{}, fmt.Errorf("--model %q: unknown URI scheme (want models:/, runs:/ or a folder)", s)
	}
	fi, err := os.Stat(s)
	if err != nil {
		return modelURI{}, fmt.Errorf("--model %s: %w", s, err)
	}
	if !fi.IsDir() {
		return modelURI{}, fmt.Errorf("--model %s is a file: give the model folder (the one holding MLmodel)", s)
	}
	return modelURI{dir: s}, nil
}

// remote reports whether the model must be fetched from a server.
func (m modelURI) remote() bool { return m.dir == "" }

// fetchModel downloads the model m names into dir and returns the folder
// holding its MLmodel file.
func fetchModel(ctx context.Context, c *client.Client, m modelURI, dir string) (string, error) {
	runID, rel := m.runID, m.runPath
	if m.name != "" {
		var mv client.ModelVersion
		var err error
		if m.alias != "" {
			mv, err = c.GetModelVersionByAlias(ctx, m.name, m.alias)
		} else {
			mv, err = c.GetModelVersion(ctx, m.name, m.version)
		}
		if err != nil {
			return "", err
		}
		src, err := versionArtifactPath(ctx, c, mv)
		if err != nil {
			return "", err
		}
		return downloadModel(ctx, c, src, dir)
	}
	root, err := c.RunArtifactRoot(ctx, runID)
	if err != nil {
		return "", err
	}
	rel = strings.Trim(path.Clean("/"+rel), "/")
	return downloadModel(ctx, c, path.Join(root, rel), dir)
}

// versionArtifactPath finds where a model version's files are on the
// artifact proxy, from its source: runs:/<id>/<path> or an
// mlflow-artifacts: URI; for any other source (models:/m-... of an MLflow 3
// logged model) the server's download URI.
func versionArtifactPath(ctx context.Context, c *client.Client, mv client.ModelVersion) (string, error) {
	src := mv.Source
	if !strings.HasPrefix(src, "runs:/") && !strings.HasPrefix(src, "mlflow-artifacts:") {
		uri, err := c.ModelVersionDownloadURI(ctx, mv.Name, mv.Version)
		if err != nil {
			return "", fmt.Errorf("model %s version %s: %w", mv.Name, mv.Version, err)
		}
		src = uri
	}
	if rest, ok := strings.CutPrefix(src, "runs:/"); ok {
		id, p, _ := strings.Cut(strings.Trim(rest, "/"), "/")
		root, err := c.RunArtifactRoot(ctx, id)
		if err != nil {
			return "", fmt.Errorf("model %s version %s comes from run %s: %w", mv.Name, mv.Version, id, err)
		}
		return path.Join(root, strings.Trim(path.Clean("/"+p), "/")), nil
	}
	if u, err := url.Parse(src); err == nil && u.Scheme == "mlflow-artifacts" {
		return client.ArtifactProxyPath(src)
	}
	return "", fmt.Errorf("model %s version %s has its files at %q, which predict cannot download (it reads runs:/ and mlflow-artifacts: locations)", mv.Name, mv.Version, src)
}

// downloadModel copies the artifact folder src into dir.
func downloadModel(ctx context.Context, c *client.Client, src, dir string) (string, error) {
	entries, err := c.ListArtifacts(ctx, src)
	if err != nil {
		return "", err
	}
	if len(entries) == 0 {
		return "", fmt.Errorf("no model at %s: the folder is empty or missing", src)
	}
	if err := downloadTree(ctx, c, src, dir, entries); err != nil {
		return "", err
	}
	if _, err := os.Stat(filepath.Join(dir, "MLmodel")); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("%s is not a model package: it has no MLmodel file", src)
		}
		return "", err
	}
	return dir, nil
}

func runPredict(ctx context.Context, d *deps, t *target, o predictOptions) error {
	if o.model == "" {
		return errors.New("--model is required: models:/<name>@<alias>, models:/<name>/<version>, runs:/<run id>/model or a folder")
	}
	if o.input == "" {
		return errors.New("--input is required: the CSV, Parquet or JSON Lines file to score")
	}
	format, err := predictFormat(o.format, o.out)
	if err != nil {
		return err
	}
	mu, err := parseModelURI(o.model)
	if err != nil {
		return err
	}
	if _, err := frame.Detect(o.input); err != nil {
		return fmt.Errorf("--input %s: %w", o.input, err)
	}
	dir := mu.dir
	if mu.remote() {
		tmp, err := os.MkdirTemp("", "mlcycle-predict-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		cn, err := t.connect(ctx, d)
		if err != nil {
			return err
		}
		dir, err = fetchModel(ctx, cn.c, mu, filepath.Join(tmp, "model"))
		cn.close()
		if err != nil {
			return fmt.Errorf("--model %s: %w", o.model, err)
		}
	}
	m, err := modelfmt.Load(dir)
	if err != nil {
		return fmt.Errorf("--model %s: %w", o.model, err)
	}
	table, err := frame.ReadTableFile(ctx, o.input, frame.Options{})
	if err != nil {
		return fmt.Errorf("--input: %w", err)
	}
	preds, err := m.PredictTable(ctx, table)
	if err != nil {
		return fmt.Errorf("--input %s: %w", o.input, err)
	}
	write := func(w io.Writer) error { return writePredictions(w, preds, format) }
	if o.out == "-" {
		return write(d.stdout)
	}
	if err := writeFileAtomic(o.out, write); err != nil {
		return err
	}
	if !o.quiet {
		fmt.Fprintf(d.stderr, "wrote %d predictions to %s\n", preds.Rows, o.out)
	}
	return nil
}

// predictionColumns are the output columns: the prediction, then the
// probability of each class (classification).
func predictionColumns(p *modelfmt.Predictions) []string {
	cols := []string{"prediction"}
	if p.Task != learn.Regression {
		for _, c := range p.Classes {
			cols = append(cols, "proba_"+c)
		}
	}
	return cols
}

// writePredictions writes one line per row, in row order. Numbers are
// written with the fewest digits that read back to the same float64.
func writePredictions(w io.Writer, p *modelfmt.Predictions, format string) error {
	bw := bufio.NewWriterSize(w, 1<<16)
	cols := predictionColumns(p)
	num := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	k := len(p.Classes)
	if format == "csv" {
		cw := csv.NewWriter(bw)
		if err := cw.Write(cols); err != nil {
			return err
		}
		rec := make([]string, len(cols))
		for i := range p.Rows {
			if p.Task == learn.Regression {
				rec[0] = num(p.Values[i])
			} else {
				rec[0] = p.Label(i)
				for c := range k {
					rec[1+c] = num(p.Probs[i*k+c])
				}
			}
			if err := cw.Write(rec); err != nil {
				return err
			}
		}
		cw.Flush()
		if err := cw.Error(); err != nil {
			return err
		}
		return bw.Flush()
	}
	keys := make([][]byte, len(cols))
	for i, c := range cols {
		keys[i], _ = json.Marshal(c)
	}
	for i := range p.Rows {
		bw.WriteByte('{')
		bw.Write(keys[0])
		bw.WriteByte(':')
		if p.Task == learn.Regression {
			bw.WriteString(jsonNum(p.Values[i]))
		} else {
			lb, _ := json.Marshal(p.Label(i))
			bw.Write(lb)
			for c := range k {
				bw.WriteByte(',')
				bw.Write(keys[1+c])
				bw.WriteByte(':')
				bw.WriteString(jsonNum(p.Probs[i*k+c]))
			}
		}
		bw.WriteString("}\n")
	}
	return bw.Flush()
}

// jsonNum writes a float as JSON; non-finite values (which a model should
// never produce) become null rather than invalid JSON.
func jsonNum(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "null"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// writeFileAtomic writes path through a temporary file renamed into place,
// so a failure leaves no partial file.
func writeFileAtomic(path string, write func(io.Writer) error) error {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".*.part")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // a no-op after the rename
	if err := write(tmp); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
