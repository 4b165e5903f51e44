package cli

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mlcycle/mlcycle/client"
)

func newModelsCmd(d *deps) *cobra.Command {
	r := &remote{}
	cmd := &cobra.Command{
		Use:     "models",
		Aliases: []string{"model"},
		Short:   "Browse the model registry; move aliases and stages",
		Long: `The model registry holds named models (e.g. "fraud-detector"), each with
numbered versions registered from runs. An alias such as "champion" names one
version and can be moved; deployments that follow an alias pick up the move.
Stages (None, Staging, Production, Archived) are MLflow's older way to do this.

These commands talk to a running server over its REST API (MLflow's), so they
work against an MLflow server too.`,
	}
	addServerFlags(cmd, r)
	alias := &cobra.Command{
		Use:   "alias",
		Short: "Set, read and remove the aliases of a model's versions",
	}
	alias.AddCommand(newModelsAliasSetCmd(d, r), newModelsAliasGetCmd(d, r), newModelsAliasDeleteCmd(d, r))
	cmd.AddCommand(
		newModelsListCmd(d, r),
		newModelsShowCmd(d, r),
		newModelsVersionsCmd(d, r),
		alias,
		newModelsStageCmd(d, r),
	)
	return cmd
}

func newModelsListCmd(d *deps, r *remote) *cobra.Command {
	var output, filter string
	var orderBy []string
	var max int
	cmd := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List registered models",
		Example: `  mlcycle models ls
  mlcycle models ls --filter "name LIKE 'fraud%'" --order-by "last_updated_timestamp DESC"
  mlcycle models ls --filter "tags.team = 'risk'" --output json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			c, err := r.client(d)
			if err != nil {
				return err
			}
			q := client.RegistrySearch{Filter: filter, OrderBy: orderBy, MaxResults: pageSize(max)}
			models := []client.RegisteredModel{}
			for {
				page, next, err := c.SearchRegisteredModels(cmd.Context(), q)
				if err != nil {
					return err
				}
				models = append(models, page...)
				if next == "" || next == q.PageToken || (max > 0 && len(models) >= max) {
					break
				}
				q.PageToken = next
			}
			if max > 0 && len(models) > max {
				models = models[:max]
			}
			if output == "json" {
				return writeJSON(d.stdout, models)
			}
			rows := make([][]string, len(models))
			for i, m := range models {
				rows[i] = []string{m.Name, latestVersion(m.LatestVersions), aliasList(m.Aliases), fmtTS(m.LastUpdatedTimestamp), clip(m.Description, 60)}
			}
			return writeTable(d.stdout, []string{"NAME", "LATEST", "ALIASES", "UPDATED", "DESCRIPTION"}, rows)
		},
	}
	addOutputFlag(cmd, &output)
	f := cmd.Flags()
	f.StringVar(&filter, "filter", "", "MLflow search filter over name and tags.<key>, e.g. \"name LIKE 'fraud%'\"")
	f.StringArrayVar(&orderBy, "order-by", nil, `sort key: name, creation_timestamp or last_updated_timestamp, with ASC or DESC (repeatable)`)
	f.IntVar(&max, "max", 100, "list at most this many (0 = all)")
	return cmd
}

func newModelsShowCmd(d *deps, r *remote) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "show NAME",
		Short: "Show a registered model: description, tags, aliases and latest versions",
		Example: `  mlcycle models show fraud-detector
  mlcycle models show fraud-detector --output json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			c, err := r.client(d)
			if err != nil {
				return err
			}
			m, err := c.GetRegisteredModel(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if output == "json" {
				return writeJSON(d.stdout, m)
			}
			return printModel(d.stdout, m)
		},
	}
	addOutputFlag(cmd, &output)
	return cmd
}

func printModel(w io.Writer, m client.RegisteredModel) error {
	info := [][]string{
		{"name", m.Name},
		{"description", orDash(m.Description)},
		{"created", fmtTS(m.CreationTimestamp)},
		{"updated", fmtTS(m.LastUpdatedTimestamp)},
		{"aliases", aliasList(m.Aliases)},
	}
	if err := writeTable(w, []string{"MODEL", ""}, info); err != nil {
		return err
	}
	if len(m.Tags) > 0 {
		rows := make([][]string, len(m.Tags))
		for i, t := range m.Tags {
			rows[i] = []string{t.Key, t.Value}
		}
		sortRows(rows)
		fmt.Fprintln(w)
		if err := writeTable(w, []string{"TAG", "VALUE"}, rows); err != nil {
			return err
		}
	}
	if len(m.LatestVersions) > 0 {
		fmt.Fprintln(w)
		return writeVersions(w, m.LatestVersions)
	}
	return nil
}

func newModelsVersionsCmd(d *deps, r *remote) *cobra.Command {
	var output, filter string
	var orderBy []string
	var max int
	cmd := &cobra.Command{
		Use:   "versions NAME",
		Short: "List the versions of a registered model",
		Example: `  mlcycle models versions fraud-detector
  mlcycle models versions fraud-detector --filter "run_id = '3f2a9c0e1b7d4e5f8a6b2c1d0e9f8a7b'"
  mlcycle models versions fraud-detector --output json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			c, err := r.client(d)
			if err != nil {
				return err
			}
			f := "name = '" + quoteFilterString(args[0]) + "'"
			if filter != "" {
				f += " AND " + filter
			}
			q := client.RegistrySearch{Filter: f, OrderBy: orderBy, MaxResults: pageSize(max)}
			versions := []client.ModelVersion{}
			for {
				page, next, err := c.SearchModelVersions(cmd.Context(), q)
				if err != nil {
					return err
				}
				versions = append(versions, page...)
				if next == "" || next == q.PageToken || (max > 0 && len(versions) >= max) {
					break
				}
				q.PageToken = next
			}
			if max > 0 && len(versions) > max {
				versions = versions[:max]
			}
			if output == "json" {
				return writeJSON(d.stdout, versions)
			}
			return writeVersions(d.stdout, versions)
		},
	}
	addOutputFlag(cmd, &output)
	fl := cmd.Flags()
	fl.StringVar(&filter, "filter", "", "more conditions, ANDed with the name, e.g. \"tags.validated = 'yes'\"")
	fl.StringArrayVar(&orderBy, "order-by", nil, `sort key, e.g. "version_number DESC" (repeatable)`)
	fl.IntVar(&max, "max", 100, "list at most this many (0 = all)")
	return cmd
}

func writeVersions(w io.Writer, vs []client.ModelVersion) error {
	rows := make([][]string, len(vs))
	for i, v := range vs {
		rows[i] = []string{v.Version, v.CurrentStage, v.Status, orDash(strings.Join(v.Aliases, ",")), orDash(v.RunID), fmtTS(v.CreationTimestamp), v.Source}
	}
	return writeTable(w, []string{"VERSION", "STAGE", "STATUS", "ALIASES", "RUN ID", "CREATED", "SOURCE"}, rows)
}

func newModelsAliasSetCmd(d *deps, r *remote) *cobra.Command {
	return &cobra.Command{
		Use:     "set NAME ALIAS VERSION",
		Short:   "Point an alias at a version (moving it if it named another)",
		Example: `  mlcycle models alias set fraud-detector champion 3`,
		Args:    cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := r.client(d)
			if err != nil {
				return err
			}
			if err := c.SetRegisteredModelAlias(cmd.Context(), args[0], args[1], args[2]); err != nil {
				return err
			}
			fmt.Fprintf(d.stdout, "%s@%s now names version %s\n", args[0], args[1], args[2])
			return nil
		},
	}
}

func newModelsAliasGetCmd(d *deps, r *remote) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "get NAME ALIAS",
		Short: "Show the version an alias names",
		Example: `  mlcycle models alias get fraud-detector champion
  mlcycle models alias get fraud-detector champion --output json`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			c, err := r.client(d)
			if err != nil {
				return err
			}
			v, err := c.GetModelVersionByAlias(cmd.Context(), args[0], args[1])
			if err != nil {
				return err
			}
			if output == "json" {
				return writeJSON(d.stdout, v)
			}
			return writeVersions(d.stdout, []client.ModelVersion{v})
		},
	}
	addOutputFlag(cmd, &output)
	return cmd
}

func newModelsAliasDeleteCmd(d *deps, r *remote) *cobra.Command {
	return &cobra.Command{
		Use:     "rm NAME ALIAS",
		Aliases: []string{"delete"},
		Short:   "Remove an alias (the version itself stays)",
		Example: `  mlcycle models alias rm fraud-detector challenger`,
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := r.client(d)
			if err != nil {
				return err
			}
			if err := c.DeleteRegisteredModelAlias(cmd.Context(), args[0], args[1]); err != nil {
				return err
			}
			fmt.Fprintf(d.stdout, "removed alias %s@%s\n", args[0], args[1])
			return nil
		},
	}
}

func newModelsStageCmd(d *deps, r *remote) *cobra.Command {
	var archive bool
	cmd := &cobra.Command{
		Use:   "stage NAME VERSION STAGE",
		Short: "Move a version to a stage: None, Staging, Production or Archived",
		Example: `  mlcycle models stage fraud-detector 3 Staging
  mlcycle models stage fraud-detector 3 Production --archive-existing`,
		Args: cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := r.client(d)
			if err != nil {
				return err
			}
			v, err := c.TransitionModelVersionStage(cmd.Context(), args[0], args[1], args[2], archive)
			if err != nil {
				return err
			}
			fmt.Fprintf(d.stdout, "%s version %s is now in stage %s\n", v.Name, v.Version, v.CurrentStage)
			return nil
		},
	}
	cmd.Flags().BoolVar(&archive, "archive-existing", false, "move the versions already in STAGE to Archived")
	return cmd
}

// latestVersion is the highest version number among vs.
func latestVersion(vs []client.ModelVersion) string {
	best, bestN := "-", -1
	for _, v := range vs {
		n := 0
		if _, err := fmt.Sscan(v.Version, &n); err == nil && n > bestN {
			best, bestN = v.Version, n
		}
	}
	return best
}

func aliasList(as []client.ModelAlias) string {
	if len(as) == 0 {
		return "-"
	}
	parts := make([]string, len(as))
	for i, a := range as {
		parts[i] = a.Alias + "=" + a.Version
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

// quoteFilterString escapes s for a single-quoted filter string.
func quoteFilterString(s string) string {
	return strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s)
}

// clip shortens s to at most n runes for a table cell, on one line.
func clip(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return orDash(s)
}
