package cli

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/mlcycle/mlcycle/client"
	"github.com/mlcycle/mlcycle/internal/app"
)

// remote holds the flags of the commands that only talk to a server over
// its REST API (experiments, runs, models, artifacts). They work against an
// MLflow server too, so MLflow's environment variables are read as well.
// With --data-dir or --db on the command line they work on that store
// instead, through a server started on 127.0.0.1 for the command.
type remote struct {
	server   string
	token    string
	username string
	password string
	// local is the store to work on directly (--data-dir, --db,
	// --artifacts) instead of a server.
	local app.Config
}

const defaultServer = "http://127.0.0.1:5000"

// addServerFlags adds --server, --token, --username and --password to cmd
// and its subcommands. Besides the flags (and MLCYCLE_SERVER and the like,
// which every flag reads), MLflow's MLFLOW_TRACKING_URI, MLFLOW_TRACKING_TOKEN,
// MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD are honoured.
func addServerFlags(cmd *cobra.Command, r *remote) {
	f := cmd.PersistentFlags()
	f.StringVar(&r.server, "server", "", "server URL (env MLCYCLE_SERVER or MLFLOW_TRACKING_URI; default "+defaultServer+")")
	f.StringVar(&r.token, "token", "", "API token (env MLCYCLE_TOKEN or MLFLOW_TRACKING_TOKEN)")
	f.StringVar(&r.username, "username", "", "user name, with --password (env MLCYCLE_USERNAME or MLFLOW_TRACKING_USERNAME)")
	f.StringVar(&r.password, "password", "", "password; prefer the env MLCYCLE_PASSWORD or MLFLOW_TRACKING_PASSWORD")
	f.StringVar(&r.local.DataDir, "data-dir", "", "work on this local data folder (as mlcycle server --data-dir and mlcycle train use it) instead of a server")
	f.StringVar(&r.local.DB, "db", "", "work on this database URL directly instead of a server (sqlite:///path or postgres://...)")
	f.StringVar(&r.local.Artifacts, "artifacts", "", "with --data-dir or --db: the artifact store URL (default: --data-dir/artifacts)")
	// MLCYCLE_DATA_DIR, MLCYCLE_DB or a shared config file, set for the
	// server or for data commands, must not turn these commands away from
	// the server: only the command line does.
	for _, name := range []string{"data-dir", "db", "artifacts"} {
		_ = f.SetAnnotation(name, commandLineOnly, []string{"true"})
	}
}

// client returns a client for the server the flags and environment name,
// or, with --data-dir or --db, for a server started on 127.0.0.1 over that
// store for the rest of the command.
func (r *remote) client(d *deps) (*client.Client, error) {
	if r.local.DataDir != "" || r.local.DB != "" {
		if r.server != "" {
			return nil, fmt.Errorf("give --server or --data-dir/--db, not both (--server may come from MLCYCLE_SERVER or the config file)")
		}
		if r.local.DB == "" {
			// Reading a folder that is not there would make an empty store.
			if fi, err := os.Stat(r.local.DataDir); err != nil || !fi.IsDir() {
				return nil, fmt.Errorf("--data-dir %s: no such data folder (mlcycle server and mlcycle train create one)", r.local.DataDir)
			}
		} else if r.local.DataDir == "" {
			r.local.DataDir = "mlcycle-data" // for the artifacts' default only
		}
		c, err := startLocal(context.Background(), r.local, []client.Option{client.WithUserAgent("mlcycle-cli/" + d.build.Version)})
		if err != nil {
			return nil, err
		}
		d.cleanup = append(d.cleanup, func() { _ = c.close() })
		return c.c, nil
	}
	if r.local.Artifacts != "" {
		return nil, fmt.Errorf("--artifacts goes with --data-dir or --db")
	}
	server, from := firstSet(r.server, "--server", "MLCYCLE_SERVER", "MLFLOW_TRACKING_URI")
	if server == "" {
		server, from = defaultServer, "the default server"
	}
	token, _ := firstSet(r.token, "", "MLCYCLE_TOKEN", "MLFLOW_TRACKING_TOKEN")
	user, _ := firstSet(r.username, "", "MLCYCLE_USERNAME", "MLFLOW_TRACKING_USERNAME")
	password, _ := firstSet(r.password, "", "MLCYCLE_PASSWORD", "MLFLOW_TRACKING_PASSWORD")
	opts := []client.Option{client.WithUserAgent("mlcycle-cli/" + d.build.Version)}
	switch {
	case token != "":
		opts = append(opts, client.WithToken(token))
	case user != "":
		opts = append(opts, client.WithBasicAuth(user, password))
	}
	c, err := client.New(server, opts...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", from, err)
	}
	return c, nil
}

// firstSet returns the flag value if set, else the first environment
// variable that is, with where the value came from.
func firstSet(flag, flagName string, envs ...string) (string, string) {
	if flag != "" {
		return flag, flagName
	}
	for _, e := range envs {
		if v := os.Getenv(e); v != "" {
			return v, e
		}
	}
	return "", ""
}

// parseTags reads KEY=VALUE flags.
func parseTags(kvs []string) ([]client.Tag, error) {
	tags := make([]client.Tag, 0, len(kvs))
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--tag %q must look like KEY=VALUE", kv)
		}
		tags = append(tags, client.Tag{Key: k, Value: v})
	}
	return tags, nil
}

// viewType reads the --view flag.
func viewType(s string) (client.ViewType, error) {
	switch strings.ToLower(s) {
	case "", "active":
		return client.ActiveOnly, nil
	case "deleted":
		return client.DeletedOnly, nil
	case "all":
		return client.AllViews, nil
	}
	return "", fmt.Errorf("--view must be active, deleted or all, not %q", s)
}

func fmtTS(t client.Timestamp) string { return fmtTime(t.Time) }

// fmtDuration is how long a run ran (or has been running), to the second.
func fmtDuration(start, end client.Timestamp) string {
	if start.IsZero() {
		return "-"
	}
	stop := end.Time
	if end.IsZero() {
		stop = time.Now()
	}
	return stop.Sub(start.Time).Round(time.Second).String()
}

// fmtBytes prints a byte count for people: 512 B, 1.5 KiB, 3.2 GiB.
func fmtBytes(n int64) string {
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	v := float64(n)
	for _, unit := range []string{"KiB", "MiB", "GiB", "TiB"} {
		v /= 1024
		if v < 1024 || unit == "TiB" {
			return fmt.Sprintf("%.1f %s", v, unit)
		}
	}
	return ""
}

// transfer counts the files and bytes of uploads or downloads and, when
// stderr is a terminal, shows the bytes so far about once a second.
type transfer struct {
	d     *deps
	verb  string // "uploading" or "downloading"
	trim  string // prefix of the server paths not to show (the run's root)
	tty   bool
	last  time.Time
	shown bool
	files int
	bytes int64 // of finished files
	cur   client.Progress
}

func newTransfer(d *deps, verb string) *transfer {
	f, ok := d.stderr.(*os.File)
	return &transfer{d: d, verb: verb, tty: ok && term.IsTerminal(int(f.Fd())), last: time.Now()}
}

// context returns ctx with t as its progress reporter.
func (t *transfer) context(ctx context.Context) context.Context {
	return client.WithProgress(ctx, t.report)
}

func (t *transfer) report(p client.Progress) {
	if p.Path != t.cur.Path || p.Done < t.cur.Done {
		// A new file starts (each reports Done 0 first).
		t.bytes += t.cur.Done
		t.files++
	}
	t.cur = p
	if !t.tty || time.Since(t.last) < time.Second {
		return
	}
	t.last = time.Now()
	total := ""
	if p.Total >= 0 {
		total = " of " + fmtBytes(p.Total)
	}
	// \r and erase-line keep the report on one line.
	fmt.Fprintf(t.d.stderr, "\r\033[K%s %s: %s%s", t.verb, strings.TrimPrefix(p.Path, t.trim), fmtBytes(p.Done), total)
	t.shown = true
}

// done ends the progress line, if one was shown.
func (t *transfer) done() {
	if t.shown {
		fmt.Fprint(t.d.stderr, "\r\033[K")
		t.shown = false
	}
}

// size is the number of bytes moved.
func (t *transfer) size() string { return fmtBytes(t.bytes + t.cur.Done) }

// summary says how many files and bytes moved, e.g. "3 files (1.2 MiB)".
func (t *transfer) summary() string {
	if t.files == 1 {
		return "1 file (" + t.size() + ")"
	}
	return fmt.Sprintf("%d files (%s)", t.files, t.size())
}
