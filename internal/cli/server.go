package cli

import (
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/mlcycle/mlcycle/internal/app"
)

func newServerCmd(d *deps) *cobra.Command {
	var cfg app.Config
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the mlcycle server: REST API, MLflow-compatible API and web UI",
		Long: `Run the mlcycle server.

With no flags it listens on http://127.0.0.1:5000 and keeps everything under
./mlcycle-data (a SQLite database and an artifacts/ folder): no other service
is needed. To scale out, point --db at PostgreSQL and --artifacts at object
storage; every replica and worker then shares them.

Authentication is off by default, which is allowed only while the server
listens on a loopback address. To serve a team, create an admin and turn it on:

  mlcycle users create alice --admin
  mlcycle server --host 0.0.0.0 --auth

or let the first start create the admin from the environment:

  MLCYCLE_ADMIN_PASSWORD=... mlcycle server --auth

The server stops gracefully on Ctrl-C or SIGTERM: requests in flight finish
and the database is closed cleanly.`,
		Example: `  mlcycle server
  mlcycle server --port 8080 --data-dir /srv/mlcycle
  mlcycle server --db postgres://mlcycle@db.internal/mlcycle --artifacts s3://bucket/mlcycle?region=eu-west-1 --auth --host 0.0.0.0`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg.AdminPassword = os.Getenv("MLCYCLE_ADMIN_PASSWORD")
			if u := os.Getenv("MLCYCLE_ADMIN_USER"); u != "" {
				cfg.AdminUser = u
			}
			a, err := app.New(cmd.Context(), cfg, d.stderr)
			if err != nil {
				return err
			}
			return a.Run(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Host, "host", "127.0.0.1", "address to listen on; a non-loopback address needs --auth or --insecure-no-auth")
	f.IntVarP(&cfg.Port, "port", "p", 5000, "port to listen on (0 picks a free one)")
	addStoreFlags(cmd, &cfg)
	f.StringVar(&cfg.LogFormat, "log-format", "text", "log format: text or json")
	f.StringVar(&cfg.LogLevel, "log-level", "info", "log level: debug, info, warn or error")
	f.BoolVar(&cfg.Auth, "auth", false, "require a user or API token on every request except /health")
	f.BoolVar(&cfg.InsecureNoAuth, "insecure-no-auth", false, "allow listening on a non-loopback address without auth (only behind an authenticating proxy)")
	f.StringSliceVar(&cfg.AllowedHosts, "allowed-hosts", nil, "extra Host header names accepted (DNS-rebinding defence); loopback names are always accepted on a loopback bind")
	f.Int64Var(&cfg.MaxBodyBytes, "max-body-bytes", 32<<20, "largest JSON request body accepted, in bytes")
	f.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", 20*time.Second, "how long requests in flight may take to finish on shutdown")
	return cmd
}

// addStoreFlags adds the flags that say where data lives; every command that
// opens the database directly shares them.
func addStoreFlags(cmd *cobra.Command, cfg *app.Config) {
	f := cmd.Flags()
	f.StringVar(&cfg.DataDir, "data-dir", "mlcycle-data", "folder for the embedded database and artifacts")
	f.StringVar(&cfg.DB, "db", "", "database URL: sqlite:///path/mlcycle.db or postgres://user:pass@host:5432/db (default: SQLite in --data-dir)")
	f.StringVar(&cfg.Artifacts, "artifacts", "", "artifact store URL: file:///path, s3://bucket/prefix?region=..., gs://, azblob:// (default: --data-dir/artifacts)")
}
