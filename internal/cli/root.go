// Package cli holds the mlcycle command tree. Each command is built by a
// constructor over a small deps struct; the commands themselves stay thin and
// call internal/app (server side) or client (over the REST API).
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/mlcycle/mlcycle/internal/buildinfo"
)

// deps is what every command may use. Tests build it with buffers.
type deps struct {
	build  buildinfo.Info
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	// cleanup runs when the command is done, last added first (it stops an
	// embedded server a command started).
	cleanup []func()
}

// Main runs the CLI with args and returns the process exit code.
func Main(ctx context.Context, build buildinfo.Info, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	d := &deps{build: build, stdin: stdin, stdout: stdout, stderr: stderr}
	defer func() {
		for i := len(d.cleanup) - 1; i >= 0; i-- {
			d.cleanup[i]()
		}
	}()
	root := newRootCmd(d)
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	if err := root.ExecuteContext(ctx); err != nil {
		var ee *exitError
		if errors.As(err, &ee) {
			if ee.msg != "" {
				fmt.Fprintln(stderr, "mlcycle:", ee.msg)
			}
			return ee.code
		}
		fmt.Fprintln(stderr, "mlcycle:", err)
		return 1
	}
	return 0
}

// exitError ends the process with a specific code (e.g. audit verify
// finding tampering exits 2, distinct from a usage or I/O failure).
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

func newRootCmd(d *deps) *cobra.Command {
	root := &cobra.Command{
		Use:   "mlcycle",
		Short: "mlcycle runs the whole life of a machine-learning model in one binary",
		Long: `mlcycle is an MLOps platform in one binary: datasets, experiment tracking
(wire-compatible with the MLflow client), training, a model registry, serving,
monitoring and continuous training, with users, roles and an audit log.

Start a server on this machine (SQLite and a local folder, nothing else needed):

  mlcycle server

then open http://127.0.0.1:5000, or point the MLflow client at it:

  export MLFLOW_TRACKING_URI=http://127.0.0.1:5000

Every flag can also be set with an environment variable MLCYCLE_<FLAG>
(e.g. --data-dir is MLCYCLE_DATA_DIR) or in a YAML file given by --config.
Flags win over the environment, which wins over the file. One exception:
--data-dir, --db and --artifacts of experiments, runs, models and artifacts
(which then work on a local store instead of a server) come only from the
command line.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		// Reading env and config before any command runs keeps every
		// command's flags settable the same three ways.
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return applyEnvAndConfig(cmd)
		},
	}
	root.PersistentFlags().String("config", "", "YAML file with flag values (keys are flag names, e.g. port: 5000)")
	root.AddCommand(
		newVersionCmd(d),
		newServerCmd(d),
		newMigrateCmd(d),
		newUsersCmd(d),
		newTokensCmd(d),
		newAuditCmd(d),
		newExperimentsCmd(d),
		newRunsCmd(d),
		newModelsCmd(d),
		newArtifactsCmd(d),
		newDataCmd(d),
		newTrainCmd(d),
		newPredictCmd(d),
	)
	return root
}

func newVersionCmd(d *deps) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version of this mlcycle binary",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output == "json" {
				return writeJSON(d.stdout, d.build)
			}
			fmt.Fprintf(d.stdout, "mlcycle %s\n", d.build.Version)
			if d.build.Commit != "" {
				fmt.Fprintf(d.stdout, "commit  %s %s\n", d.build.Commit, d.build.Date)
			}
			fmt.Fprintf(d.stdout, "go      %s\n", d.build.GoVersion)
			return nil
		},
	}
	addOutputFlag(cmd, &output)
	return cmd
}
