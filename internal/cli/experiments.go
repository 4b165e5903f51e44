package cli

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mlcycle/mlcycle/client"
)

func newExperimentsCmd(d *deps) *cobra.Command {
	r := &remote{}
	cmd := &cobra.Command{
		Use:     "experiments",
		Aliases: []string{"experiment", "exp"},
		Short:   "List, create, rename, delete and restore experiments",
		Long: `An experiment groups the runs of one modelling task (e.g. "fraud-detector").
These commands talk to a running server over its REST API, which is MLflow's,
so they work against an MLflow tracking server too.

Commands that take an EXPERIMENT accept its id or its name.`,
	}
	addServerFlags(cmd, r)
	cmd.AddCommand(
		newExperimentsListCmd(d, r),
		newExperimentsCreateCmd(d, r),
		newExperimentsRenameCmd(d, r),
		newExperimentsDeleteCmd(d, r),
		newExperimentsRestoreCmd(d, r),
	)
	return cmd
}

func newExperimentsListCmd(d *deps, r *remote) *cobra.Command {
	var output, filter, view string
	var orderBy []string
	var max int
	cmd := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List experiments",
		Example: `  mlcycle experiments ls
  mlcycle experiments ls --filter "name LIKE 'fraud%'" --order-by "last_update_time DESC"
  mlcycle experiments ls --filter "tags.team = 'risk'" --view all --output json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output); err != nil {
				return err
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
			q := client.ExperimentSearch{Filter: filter, OrderBy: orderBy, ViewType: vt, MaxResults: pageSize(max)}
			exps := []client.Experiment{}
			for {
				page, next, err := c.SearchExperiments(ctx, q)
				if err != nil {
					return err
				}
				exps = append(exps, page...)
				if next == "" || next == q.PageToken || (max > 0 && len(exps) >= max) {
					break
				}
				q.PageToken = next
			}
			if max > 0 && len(exps) > max {
				exps = exps[:max]
			}
			if output == "json" {
				return writeJSON(d.stdout, exps)
			}
			rows := make([][]string, len(exps))
			for i, e := range exps {
				rows[i] = []string{e.ID, e.Name, e.LifecycleStage, fmtTS(e.CreationTime), fmtTS(e.LastUpdateTime)}
			}
			return writeTable(d.stdout, []string{"ID", "NAME", "STAGE", "CREATED", "UPDATED"}, rows)
		},
	}
	addOutputFlag(cmd, &output)
	f := cmd.Flags()
	f.StringVar(&filter, "filter", "", "MLflow search filter over name, creation_time, last_update_time and tags.<key>, joined by AND")
	f.StringArrayVar(&orderBy, "order-by", nil, `sort key, e.g. "name" or "creation_time DESC" (repeatable)`)
	f.IntVar(&max, "max", 100, "list at most this many (0 = all)")
	f.StringVar(&view, "view", "active", "which experiments: active, deleted or all")
	return cmd
}

func newExperimentsCreateCmd(d *deps, r *remote) *cobra.Command {
	var tagFlags []string
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create an experiment and print its id",
		Example: `  mlcycle experiments create fraud-detector
  mlcycle experiments create churn --tag team=growth --tag owner=ana`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			tags, err := parseTags(tagFlags)
			if err != nil {
				return err
			}
			c, err := r.client(d)
			if err != nil {
				return err
			}
			id, err := c.CreateExperiment(cmd.Context(), args[0], tags...)
			if err != nil {
				return err
			}
			fmt.Fprintf(d.stdout, "created experiment %q with id %s\n", args[0], id)
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&tagFlags, "tag", nil, "tag KEY=VALUE (repeatable)")
	return cmd
}

func newExperimentsRenameCmd(d *deps, r *remote) *cobra.Command {
	return &cobra.Command{
		Use:     "rename EXPERIMENT NEW_NAME",
		Short:   "Rename an experiment",
		Example: `  mlcycle experiments rename fraud-detector fraud-detector-v1`,
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := r.client(d)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			e, err := findExperiment(ctx, c, args[0])
			if err != nil {
				return err
			}
			if err := c.UpdateExperiment(ctx, e.ID, args[1]); err != nil {
				return err
			}
			fmt.Fprintf(d.stdout, "renamed experiment %s from %q to %q\n", e.ID, e.Name, args[1])
			return nil
		},
	}
}

func newExperimentsDeleteCmd(d *deps, r *remote) *cobra.Command {
	return &cobra.Command{
		Use:     "rm EXPERIMENT...",
		Aliases: []string{"delete"},
		Short:   "Delete experiments (and their runs); 'restore' brings them back",
		Example: `  mlcycle experiments rm fraud-detector
  mlcycle experiments rm 3 4 5`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return eachExperiment(cmd, d, r, args, "deleted", func(ctx context.Context, c *client.Client, id string) error {
				return c.DeleteExperiment(ctx, id)
			})
		},
	}
}

func newExperimentsRestoreCmd(d *deps, r *remote) *cobra.Command {
	return &cobra.Command{
		Use:     "restore EXPERIMENT...",
		Short:   "Restore deleted experiments (and their runs)",
		Example: `  mlcycle experiments restore fraud-detector`,
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return eachExperiment(cmd, d, r, args, "restored", func(ctx context.Context, c *client.Client, id string) error {
				return c.RestoreExperiment(ctx, id)
			})
		},
	}
}

// eachExperiment resolves each argument and applies fn, stopping at the
// first failure.
func eachExperiment(cmd *cobra.Command, d *deps, r *remote, refs []string, done string, fn func(context.Context, *client.Client, string) error) error {
	c, err := r.client(d)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	for _, ref := range refs {
		e, err := findExperiment(ctx, c, ref)
		if err != nil {
			return err
		}
		if err := fn(ctx, c, e.ID); err != nil {
			return fmt.Errorf("experiment %q: %w", ref, err)
		}
		fmt.Fprintf(d.stdout, "%s experiment %q (id %s)\n", done, e.Name, e.ID)
	}
	return nil
}

// findExperiment looks an experiment up by id or by name. An all-digit
// reference is tried as an id first (MLflow's ids are numbers), anything
// else as a name first.
func findExperiment(ctx context.Context, c *client.Client, ref string) (client.Experiment, error) {
	byID := func() (client.Experiment, error) { return c.GetExperiment(ctx, ref) }
	byName := func() (client.Experiment, error) { return c.GetExperimentByName(ctx, ref) }
	first, second := byName, byID
	if ref != "" && strings.Trim(ref, "0123456789") == "" {
		first, second = byID, byName
	}
	e, err := first()
	if !client.IsNotFound(err) {
		return e, err
	}
	e, err = second()
	var ce *client.Error
	if errors.As(err, &ce) && (ce.Status == http.StatusNotFound || ce.Status == http.StatusBadRequest) {
		// A name is often not a valid id: that is "not found" too.
		return e, fmt.Errorf("no experiment has the id or name %q", ref)
	}
	return e, err
}

// pageSize is the page to ask for when listing at most max items.
func pageSize(max int) int {
	if max > 0 && max < 1000 {
		return max
	}
	return 0 // the server's default
}
