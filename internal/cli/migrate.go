package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/mlcycle/mlcycle/internal/app"
)

func newMigrateCmd(d *deps) *cobra.Command {
	var cfg app.Config
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Bring the database schema up to date with this binary",
		Long: `Apply the schema migrations this binary has and the database lacks.

The server also migrates on start; run this by hand to upgrade a shared
PostgreSQL database before rolling out new replicas, or with --dry-run to
see what would change. A database migrated by a newer mlcycle is refused.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			db, err := app.OpenDB(ctx, cfg)
			if err != nil {
				return err
			}
			defer db.Close()
			if dryRun {
				pending, err := db.Pending(ctx, app.Migrations())
				if err != nil {
					return err
				}
				if len(pending) == 0 {
					fmt.Fprintf(d.stdout, "%s is up to date\n", db)
				}
				for _, id := range pending {
					fmt.Fprintln(d.stdout, "pending:", id)
				}
				return nil
			}
			applied, err := db.Migrate(ctx, app.Migrations())
			if err != nil {
				return err
			}
			for _, id := range applied {
				fmt.Fprintln(d.stdout, "applied:", id)
			}
			fmt.Fprintf(d.stdout, "%s is up to date (%d migration(s) applied)\n", db, len(applied))
			return nil
		},
	}
	addStoreFlags(cmd, &cfg)
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "list pending migrations without applying them")
	return cmd
}
