package cli

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"
)

func newTokensCmd(d *deps) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tokens",
		Short: "Manage API tokens (for the MLflow client, scripts and CI)",
		Long: `Manage API tokens. A token acts with its user's role. It is shown once,
when created; mlcycle keeps only a hash of it.

Use a token with the MLflow client:

  export MLFLOW_TRACKING_TOKEN=mlc_...

or with curl:  curl -H "Authorization: Bearer mlc_..." http://127.0.0.1:5000/api/v1/whoami`,
	}
	cmd.AddCommand(newTokensCreateCmd(d), newTokensListCmd(d), newTokensRevokeCmd(d))
	return cmd
}

func newTokensCreateCmd(d *deps) *cobra.Command {
	var t target
	var userName, name string
	var ttl time.Duration
	cmd := &cobra.Command{
		Use:     "create",
		Short:   "Create an API token and print it (once)",
		Example: `  mlcycle tokens create --user alice --name laptop --ttl 720h`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if name == "" {
				return fmt.Errorf("--name is required: say what the token is for, e.g. --name ci")
			}
			if t.server == "" && userName == "" {
				return fmt.Errorf("--user is required when working on the database directly")
			}
			return t.run(cmd, func(ctx context.Context, a admin) error {
				nt, err := a.CreateToken(ctx, userName, name, ttl)
				if err != nil {
					return err
				}
				fmt.Fprintln(d.stdout, nt.Secret)
				fmt.Fprintf(d.stderr, "token %d (%s) for %s created; copy it now, it is not shown again\n", nt.Token.ID, nt.Token.Name, nt.Token.UserName)
				return nil
			})
		},
	}
	addTargetFlags(cmd, &t)
	cmd.Flags().StringVar(&userName, "user", "", "user the token acts as (default with --server: yourself)")
	cmd.Flags().StringVar(&name, "name", "", "what the token is for, e.g. ci or laptop")
	cmd.Flags().DurationVar(&ttl, "ttl", 0, "lifetime, e.g. 720h; 0 means it never expires")
	return cmd
}

func newTokensListCmd(d *deps) *cobra.Command {
	var t target
	var userName, output string
	cmd := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List API tokens (never their secrets)",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			return t.run(cmd, func(ctx context.Context, a admin) error {
				tokens, err := a.ListTokens(ctx, userName)
				if err != nil {
					return err
				}
				if output == "json" {
					return writeJSON(d.stdout, tokens)
				}
				rows := make([][]string, len(tokens))
				for i, tk := range tokens {
					rows[i] = []string{itoa(tk.ID), tk.UserName, tk.Name, "mlc_" + tk.Prefix + "…", fmtTime(tk.CreatedAt), fmtTimePtr(tk.ExpiresAt), fmtTimePtr(tk.LastUsedAt)}
				}
				return writeTable(d.stdout, []string{"ID", "USER", "NAME", "PREFIX", "CREATED", "EXPIRES", "LAST USED"}, rows)
			})
		},
	}
	addTargetFlags(cmd, &t)
	addOutputFlag(cmd, &output)
	cmd.Flags().StringVar(&userName, "user", "", "only this user's tokens (default: all when local, yours with --server)")
	return cmd
}

func newTokensRevokeCmd(d *deps) *cobra.Command {
	var t target
	var userName string
	cmd := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke an API token; it stops working at once",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil {
				return fmt.Errorf("token ID %q is not a number (see mlcycle tokens ls)", args[0])
			}
			return t.run(cmd, func(ctx context.Context, a admin) error {
				if err := a.RevokeToken(ctx, userName, id); err != nil {
					return err
				}
				fmt.Fprintf(d.stdout, "revoked token %d\n", id)
				return nil
			})
		},
	}
	addTargetFlags(cmd, &t)
	cmd.Flags().StringVar(&userName, "user", "", "owner of the token (optional)")
	return cmd
}
