package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/mlcycle/mlcycle/client"
)

func newRunsCmd(d *deps) *cobra.Command {
	r := &remote{}
	cmd := &cobra.Command{
		Use:     "runs",
		Aliases: []string{"run"},
		Short:   "Search, inspect, delete and restore runs; log params and metrics",
		Long: `A run is one execution of training code inside an experiment: the params it
used, the metrics it logged, its tags, datasets and artifacts. These commands
talk to a running server over its REST API (MLflow's), so they work against an
MLflow tracking server too.`,
	}
	addServerFlags(cmd, r)
	cmd.AddCommand(
		newRunsListCmd(d, r),
		newRunsShowCmd(d, r),
		newRunsDeleteCmd(d, r),
		newRunsRestoreCmd(d, r),
		newRunsLogParamCmd(d, r),
		newRunsLogMetricCmd(d, r),
		newRunsLogInputCmd(d, r),
	)
	return cmd
}

func newRunsListCmd(d *deps, r *remote) *cobra.Command {
	var output, filter, view string
	var experiments, orderBy []string
	var max int
	cmd := &cobra.Command{
		Use:     "ls --experiment EXPERIMENT",
		Aliases: []string{"list", "search"},
		Short:   "List the runs of experiments, with MLflow's search filter",
		Long: `List the runs of one or more experiments, newest first unless --order-by says
otherwise. --filter takes MLflow's search syntax: conditions on metrics.<key>,
params.<key>, tags.<key>, attributes (status, run_name, start_time, end_time,
run_id, user_id) and datasets (name, digest, context), joined by AND. Quote
string values; put keys with spaces or dots in backticks.`,
		Example: `  mlcycle runs ls --experiment fraud-detector
  mlcycle runs ls --experiment 1 --filter "metrics.auc > 0.9 AND params.model = 'xgb'" --order-by "metrics.auc DESC" --max 10
  mlcycle runs ls --experiment churn --filter "attributes.status = 'FAILED'" --output json` + "\n" +
			"  mlcycle runs ls -e churn --filter \"tags.`my tag` LIKE 'x%'\"",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			if len(experiments) == 0 {
				return errors.New("give --experiment (an id or a name; repeatable)")
			}
			vt, err := viewType(view)
			if err != nil {
				return err
			}
			c, err := r.client(d)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			ids := make([]string, len(experiments))
			for i, ref := range experiments {
				e, err := findExperiment(ctx, c, ref)
				if err != nil {
					return err
				}
				ids[i] = e.ID
			}
			q := client.RunSearch{ExperimentIDs: ids, Filter: filter, OrderBy: orderBy, ViewType: vt, MaxResults: pageSize(max)}
			runs := []client.Run{}
			for run, err := range c.SearchRunsAll(ctx, q) {
				if err != nil {
					return err
				}
				runs = append(runs, run)
				if max > 0 && len(runs) >= max {
					break
				}
			}
			if output == "json" {
				return writeJSON(d.stdout, runs)
			}
			rows := make([][]string, len(runs))
			for i, run := range runs {
				in := run.Info
				rows[i] = []string{in.RunID, orDash(in.RunName), in.ExperimentID, in.Status, fmtTS(in.StartTime), fmtDuration(in.StartTime, in.EndTime), orDash(in.UserID)}
			}
			return writeTable(d.stdout, []string{"RUN ID", "NAME", "EXPERIMENT", "STATUS", "STARTED", "DURATION", "USER"}, rows)
		},
	}
	addOutputFlag(cmd, &output)
	f := cmd.Flags()
	f.StringArrayVarP(&experiments, "experiment", "e", nil, "experiment id or name (repeatable)")
	f.StringVar(&filter, "filter", "", "MLflow search filter, e.g. \"metrics.acc > 0.9 AND params.lr = '0.1'\"")
	f.StringArrayVar(&orderBy, "order-by", nil, `sort key, e.g. "metrics.acc DESC" or "attributes.start_time" (repeatable)`)
	f.IntVar(&max, "max", 100, "list at most this many runs (0 = all)")
	f.StringVar(&view, "view", "active", "which runs: active, deleted or all")
	return cmd
}

func newRunsShowCmd(d *deps, r *remote) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "show RUN_ID",
		Short: "Show a run: its info, params, latest metrics, tags and datasets",
		Example: `  mlcycle runs show 3f2a9c0e1b7d4e5f8a6b2c1d0e9f8a7b
  mlcycle runs show 3f2a9c0e1b7d4e5f8a6b2c1d0e9f8a7b --output json | jq .data.metrics`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			c, err := r.client(d)
			if err != nil {
				return err
			}
			run, err := c.GetRun(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if output == "json" {
				return writeJSON(d.stdout, run)
			}
			return printRun(d.stdout, run)
		},
	}
	addOutputFlag(cmd, &output)
	return cmd
}

func printRun(w io.Writer, run client.Run) error {
	in := run.Info
	info := [][]string{
		{"run id", in.RunID},
		{"name", orDash(in.RunName)},
		{"experiment", in.ExperimentID},
		{"status", in.Status},
		{"lifecycle", in.LifecycleStage},
		{"user", orDash(in.UserID)},
		{"started", fmtTS(in.StartTime)},
		{"ended", fmtTS(in.EndTime)},
		{"duration", fmtDuration(in.StartTime, in.EndTime)},
		{"artifacts", orDash(in.ArtifactURI)},
	}
	if err := writeTable(w, []string{"RUN", ""}, info); err != nil {
		return err
	}
	data := run.Data
	if len(data.Params) > 0 {
		rows := make([][]string, len(data.Params))
		for i, p := range data.Params {
			rows[i] = []string{p.Key, p.Value}
		}
		sortRows(rows)
		fmt.Fprintln(w)
		if err := writeTable(w, []string{"PARAM", "VALUE"}, rows); err != nil {
			return err
		}
	}
	if len(data.Metrics) > 0 {
		rows := make([][]string, len(data.Metrics))
		for i, m := range data.Metrics {
			rows[i] = []string{m.Key, strconv.FormatFloat(m.Value, 'g', -1, 64), strconv.FormatInt(m.Step, 10), fmtTS(m.Timestamp)}
		}
		sortRows(rows)
		fmt.Fprintln(w)
		if err := writeTable(w, []string{"METRIC", "LATEST", "STEP", "LOGGED"}, rows); err != nil {
			return err
		}
	}
	if len(data.Tags) > 0 {
		rows := make([][]string, len(data.Tags))
		for i, t := range data.Tags {
			rows[i] = []string{t.Key, t.Value}
		}
		sortRows(rows)
		fmt.Fprintln(w)
		if err := writeTable(w, []string{"TAG", "VALUE"}, rows); err != nil {
			return err
		}
	}
	if ds := run.Inputs.DatasetInputs; len(ds) > 0 {
		rows := make([][]string, len(ds))
		for i, di := range ds {
			ctx, _ := client.TagValue(di.Tags, client.TagDatasetContext)
			rows[i] = []string{di.Dataset.Name, di.Dataset.Digest, orDash(ctx), di.Dataset.SourceType}
		}
		fmt.Fprintln(w)
		if err := writeTable(w, []string{"DATASET", "DIGEST", "CONTEXT", "SOURCE TYPE"}, rows); err != nil {
			return err
		}
	}
	return nil
}

func sortRows(rows [][]string) {
	sort.Slice(rows, func(i, j int) bool { return rows[i][0] < rows[j][0] })
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func newRunsDeleteCmd(d *deps, r *remote) *cobra.Command {
	return &cobra.Command{
		Use:     "rm RUN_ID...",
		Aliases: []string{"delete"},
		Short:   "Delete runs; 'restore' brings them back",
		Example: `  mlcycle runs rm 3f2a9c0e1b7d4e5f8a6b2c1d0e9f8a7b`,
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return eachRun(cmd, d, r, args, "deleted", (*client.Client).DeleteRun)
		},
	}
}

func newRunsRestoreCmd(d *deps, r *remote) *cobra.Command {
	return &cobra.Command{
		Use:     "restore RUN_ID...",
		Short:   "Restore deleted runs",
		Example: `  mlcycle runs restore 3f2a9c0e1b7d4e5f8a6b2c1d0e9f8a7b`,
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return eachRun(cmd, d, r, args, "restored", (*client.Client).RestoreRun)
		},
	}
}

func eachRun(cmd *cobra.Command, d *deps, r *remote, ids []string, done string, fn func(*client.Client, context.Context, string) error) error {
	c, err := r.client(d)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if err := fn(c, cmd.Context(), id); err != nil {
			return fmt.Errorf("run %s: %w", id, err)
		}
		fmt.Fprintf(d.stdout, "%s run %s\n", done, id)
	}
	return nil
}

func newRunsLogParamCmd(d *deps, r *remote) *cobra.Command {
	return &cobra.Command{
		Use:     "log-param RUN_ID KEY VALUE",
		Short:   "Record a param of a run (a param's value cannot change once logged)",
		Example: `  mlcycle runs log-param 3f2a9c0e1b7d4e5f8a6b2c1d0e9f8a7b learning_rate 0.01`,
		Args:    cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := r.client(d)
			if err != nil {
				return err
			}
			return c.LogParam(cmd.Context(), args[0], args[1], args[2])
		},
	}
}

func newRunsLogMetricCmd(d *deps, r *remote) *cobra.Command {
	var step int64
	var at string
	cmd := &cobra.Command{
		Use:   "log-metric RUN_ID KEY VALUE",
		Short: "Record one value of a run's metric",
		Example: `  mlcycle runs log-metric 3f2a9c0e1b7d4e5f8a6b2c1d0e9f8a7b accuracy 0.93
  mlcycle runs log-metric 3f2a9c0e1b7d4e5f8a6b2c1d0e9f8a7b loss 0.12 --step 40 --time 2026-01-02T15:04:05Z`,
		Args: cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := strconv.ParseFloat(args[2], 64)
			if err != nil {
				return fmt.Errorf("metric value %q is not a number", args[2])
			}
			m := client.Metric{Key: args[1], Value: v, Step: step}
			if at != "" {
				t, err := time.Parse(time.RFC3339Nano, at)
				if err != nil {
					return fmt.Errorf("--time %q is not an RFC 3339 time (2026-01-02T15:04:05Z)", at)
				}
				m.Timestamp = client.At(t)
			}
			c, err := r.client(d)
			if err != nil {
				return err
			}
			return c.LogMetric(cmd.Context(), args[0], m)
		},
	}
	cmd.Flags().Int64Var(&step, "step", 0, "training step (epoch, iteration) of the value")
	cmd.Flags().StringVar(&at, "time", "", "when the value was measured, RFC 3339 (default now)")
	return cmd
}

func newRunsLogInputCmd(d *deps, r *remote) *cobra.Command {
	var usage string
	cmd := &cobra.Command{
		Use:   "log-input RUN_ID NAME@VERSION",
		Short: "Record that a run used a dataset version (links the run to it)",
		Long: `Record a dataset version as an input of a run, with source
mlcycle://name@version and the version's digest, as the MLflow client's
log_input does. The server links the run to the version: "mlcycle data show"
lists the run and the run page shows the version.`,
		Example: `  mlcycle runs log-input 3f2a9c0e1b7d4e5f8a6b2c1d0e9f8a7b iris@3
  mlcycle runs log-input 3f2a9c0e1b7d4e5f8a6b2c1d0e9f8a7b iris@prod --context eval`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := r.client(d)
			if err != nil {
				return err
			}
			det, err := c.ShowDataset(cmd.Context(), args[1])
			if err != nil {
				return err
			}
			if err := c.LogInputs(cmd.Context(), args[0], client.DatasetInputFor(det.DatasetVersion, usage)); err != nil {
				return fmt.Errorf("run %s: %w", args[0], err)
			}
			fmt.Fprintf(d.stdout, "run %s used %s\n", args[0], det.Ref)
			return nil
		},
	}
	cmd.Flags().StringVar(&usage, "context", "training", "what the run used the data for (training, eval, ...)")
	return cmd
}
