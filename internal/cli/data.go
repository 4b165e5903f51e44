package cli

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/user"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/mlcycle/mlcycle/client"
	"github.com/mlcycle/mlcycle/internal/actor"
	"github.com/mlcycle/mlcycle/internal/app"
	"github.com/mlcycle/mlcycle/internal/dataset"
	"github.com/mlcycle/mlcycle/internal/dataset/profile"
	"github.com/mlcycle/mlcycle/internal/dataset/validate"
	"github.com/mlcycle/mlcycle/internal/frame"
	"github.com/mlcycle/mlcycle/internal/httpapi"
)

func newDataCmd(d *deps) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "data",
		Short: "Version, inspect, validate and move datasets",
		Long: `Datasets are versioned, content-addressed sets of files. A version is named
name@3, name@latest (or just name) or name@<tag>.

Without --server the commands work directly on the database and artifact
store of --data-dir (or --db and --artifacts), like the server itself. With
--server they talk to a running server; add, push and pull then keep their
local copy in --data-dir when it is given, else in a local catalog under the
user cache folder ($XDG_CACHE_HOME/mlcycle/local).`,
	}
	cmd.AddCommand(
		newDataAddCmd(d), newDataStatusCmd(d), newDataLsCmd(d), newDataShowCmd(d), newDataGetCmd(d), newDataCatCmd(d),
		newDataRmCmd(d), newDataTagCmd(d), newDataUntagCmd(d), newDataDiffCmd(d),
		newDataValidateCmd(d), newDataPushCmd(d), newDataPullCmd(d), newDataGCCmd(d),
		newDataVerifyCmd(d),
	)
	return cmd
}

// dataTarget chooses between a server and the local catalog.
type dataTarget struct {
	target
	cmd *cobra.Command
}

func addDataFlags(cmd *cobra.Command) *dataTarget {
	t := &dataTarget{cmd: cmd}
	addTargetFlags(cmd, &t.target)
	return t
}

func (t *dataTarget) remote() bool { return t.server != "" }

func (t *dataTarget) client(d *deps) (*client.Client, error) {
	// Chunk and manifest transfers can be slow; cancellation is by ctx.
	return t.clientWith(d, newLongHTTPClient())
}

// waitingClient is a client that waits for an answer as long as the server
// works on it (gc, verify: minutes on a large store); Ctrl-C cancels.
func (t *dataTarget) waitingClient(d *deps) (*client.Client, error) {
	hc := newLongHTTPClient()
	hc.Transport.(*http.Transport).ResponseHeaderTimeout = 0
	return t.clientWith(d, hc)
}

func (t *dataTarget) clientWith(d *deps, hc *http.Client) (*client.Client, error) {
	opts := []client.Option{client.WithUserAgent("mlcycle-cli/" + d.build.Version), client.WithHTTPClient(hc)}
	switch {
	case t.token != "":
		opts = append(opts, client.WithToken(t.token))
	case t.username != "":
		opts = append(opts, client.WithBasicAuth(t.username, t.password))
	}
	return client.New(t.server, opts...)
}

// local opens the dataset service on the local catalog. forServer selects
// the cache catalog when --data-dir, --db and --artifacts are all unset.
// Local commands act as an admin named after the operating-system user.
func (t *dataTarget) local(ctx context.Context, forServer bool) (context.Context, *dataset.Service, func(), error) {
	cfg := t.cfg
	f := t.cmd.Flags()
	if forServer && !f.Changed("data-dir") && !f.Changed("db") && !f.Changed("artifacts") {
		dir, err := os.UserCacheDir()
		if err != nil {
			return ctx, nil, nil, fmt.Errorf("finding the user cache folder for the local dataset catalog (or give --data-dir): %w", err)
		}
		cfg.DataDir = filepath.Join(dir, "mlcycle", "local")
	}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil && cfg.DB == "" {
		return ctx, nil, nil, fmt.Errorf("creating data folder: %w", err)
	}
	l, err := app.OpenLocal(ctx, cfg)
	if err != nil {
		return ctx, nil, nil, err
	}
	// One command per process: an add may take a spare P (see
	// dataset.SpareProc).
	svc, closeSvc, err := l.OpenDatasets(ctx, dataset.Options{Profile: dataset.TableProfiler(frame.Options{}), SpareProc: true})
	if err != nil {
		l.Close()
		return ctx, nil, nil, err
	}
	name := "local"
	if u, err := user.Current(); err == nil {
		name = "local:" + u.Username
	}
	host, _ := os.Hostname()
	ctx = actor.With(ctx, actor.Actor{Name: name, Role: "admin", ClientAddr: "cli@" + host})
	return ctx, svc, func() { closeSvc(); l.Close() }, nil
}

// localFiles opens the local catalog for a command that reads local files
// as add does (add, status): the cache catalog with --server, and the
// garbage collector held back for the first moments (see lazyGC).
func (t *dataTarget) localFiles(cmd *cobra.Command) (context.Context, *dataset.Service, func(), error) {
	lazyGC()
	return t.local(cmd.Context(), t.remote())
}

// count is n and the noun, plural unless n is 1: "1 chunk", "3 chunks".
func count(n int64, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.FormatInt(n, 10) + " " + noun + "s"
}

func isTable(path string) bool {
	_, err := frame.Detect(path)
	return err == nil
}

// progress shows the bytes (or the percentage) done on stderr about once a
// second, when stderr is a terminal.
type progress struct {
	d       *deps
	verb    string
	percent bool // show done/total as a percentage, not bytes
	tty     bool
	last    time.Time
	shown   bool
}

func newProgress(d *deps, verb string) *progress {
	f, ok := d.stderr.(*os.File)
	return &progress{d: d, verb: verb, tty: ok && term.IsTerminal(int(f.Fd())), last: time.Now()}
}

// newPercent is newProgress showing a percentage.
func newPercent(d *deps, verb string) *progress {
	p := newProgress(d, verb)
	p.percent = true
	return p
}

func (p *progress) report(done, total int64) {
	if !p.tty || time.Since(p.last) < time.Second {
		return
	}
	p.last = time.Now()
	if p.percent {
		fmt.Fprintf(p.d.stderr, "\r\033[K%s: %d%%", p.verb, done*100/max(total, 1))
	} else {
		fmt.Fprintf(p.d.stderr, "\r\033[K%s: %s of %s", p.verb, fmtBytes(done), fmtBytes(total))
	}
	p.shown = true
}

func (p *progress) end() {
	if p.shown {
		fmt.Fprint(p.d.stderr, "\r\033[K")
		p.shown = false
	}
}

// convert copies a server-side value into its client twin through JSON, so
// that local and remote results print the same way.
func convert(in, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, out)
}

func newDataAddCmd(d *deps) *cobra.Command {
	var name, message, rules, base string
	var noProfile bool
	cmd := &cobra.Command{
		Use:   "add <file|folder|glob>... --name NAME",
		Short: "Record a new version of a dataset from local files",
		Long: `Record a new version of a dataset from files, folders and glob patterns.
Content is stored once, in content-defined chunks; unchanged files (same size,
mtime and inode) are not read again. CSV, TSV, JSON Lines and Parquet files are
profiled. With --validate, the tables are checked against a rules file first
and nothing is recorded if an expectation fails. With --server, the version is
recorded locally, then pushed.`,
		Example: `  mlcycle data add data/ --name iris -m "first cut"
  mlcycle data add 'raw/*.csv' --name sales --validate rules.yaml`,
		Args: cobra.MinimumNArgs(1),
	}
	t := addDataFlags(cmd)
	f := cmd.Flags()
	f.StringVar(&name, "name", "", "dataset name (required)")
	f.StringVarP(&message, "message", "m", "", "version message")
	f.StringVar(&rules, "validate", "", "rules file (YAML) the tables must pass")
	f.BoolVar(&noProfile, "no-profile", false, "do not profile table files")
	f.StringVar(&base, "base", "", "folder the dataset paths are relative to (default: a single folder argument itself, the current folder, or the common folder of paths outside it)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if name == "" {
			return errors.New("--name is required: the dataset to add a version to")
		}
		if err := dataset.ValidateName(name); err != nil {
			return err
		}
		var rs *validate.Rules
		if rules != "" {
			var err error
			if rs, err = validate.Load(rules); err != nil {
				return err
			}
		}
		ctx, svc, done, err := t.localFiles(cmd)
		if err != nil {
			return err
		}
		defer done()
		// Done and total count hashing and profiling together (a table's
		// bytes twice), so a percentage says more than bytes would.
		p := newPercent(d, "adding")
		in := dataset.AddInput{Name: name, Message: message, Paths: args, BaseDir: base, Progress: p.report, NoProfile: noProfile}
		if rs != nil {
			in.Validate = func(ctx context.Context, files []dataset.LocalFile) error {
				return validateFiles(ctx, d, rs, files)
			}
		}
		res, err := svc.Add(ctx, in)
		p.end()
		if err != nil {
			return err
		}
		st := res.Stats
		if res.Created {
			fmt.Fprintf(d.stdout, "recorded %s: %s, %s (%s hashed, %s new in %s) in %s\n",
				res.Version.Ref(), count(st.Files, "file"), fmtBytes(st.Bytes), count(st.FilesHashed, "file"), fmtBytes(st.BytesNew), count(st.ChunksNew, "chunk"), st.Elapsed.Round(time.Millisecond))
		} else {
			fmt.Fprintf(d.stdout, "unchanged: %s has the same content (%s, %s)\n", res.Version.Ref(), count(st.Files, "file"), fmtBytes(st.Bytes))
		}
		if !t.remote() {
			return nil
		}
		return push(ctx, d, t, svc, res.Version.Ref())
	}
	return cmd
}

// lazyGC turns the garbage collector off for the first moments of the
// process, bounded by a memory limit, unless GOGC or GOMEMLIMIT say
// otherwise. A re-add of an unchanged tree is over in tens of milliseconds,
// and the collections the small initial heap goal would start during it
// cost a fifth of that; a longer add gets the usual collector back.
func lazyGC() {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	old := debug.SetGCPercent(-1)
	limit := debug.SetMemoryLimit(256 << 20)
	time.AfterFunc(300*time.Millisecond, func() {
		debug.SetGCPercent(old)
		debug.SetMemoryLimit(limit)
	})
}

// validateFiles validates the table files the rules cover and fails with
// every failing report.
func validateFiles(ctx context.Context, d *deps, rs *validate.Rules, files []dataset.LocalFile) error {
	n, err := rs.CheckFiles(ctx, validateInput(files))
	var failed *validate.Failed
	if errors.As(err, &failed) {
		return &exitError{code: 1, msg: failed.Error()}
	}
	if err != nil {
		return err
	}
	if n > 0 {
		fmt.Fprintf(d.stderr, "validation passed (%d table files)\n", n)
	}
	return nil
}

// validateInput names the files of an add for package validate.
func validateInput(files []dataset.LocalFile) []validate.File {
	out := make([]validate.File, len(files))
	for i, f := range files {
		out[i] = validate.File{Path: f.Path, Abs: f.AbsPath}
	}
	return out
}

func push(ctx context.Context, d *deps, t *dataTarget, svc *dataset.Service, ref string) error {
	c, err := t.client(d)
	if err != nil {
		return err
	}
	p := newProgress(d, "uploading")
	res, err := c.Push(ctx, svc, ref, client.TransferOptions{Workers: 8, Progress: p.report})
	p.end()
	if err != nil {
		return err
	}
	fmt.Fprintf(d.stdout, "pushed %s to %s as %s: %s uploaded (%s), %d already there\n",
		ref, t.server, res.Version.Ref, count(res.Chunks, "chunk"), fmtBytes(res.Bytes), res.ChunksPresent)
	return nil
}

func newDataPushCmd(d *deps) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "push <name@version> --server URL",
		Short: "Copy a local dataset version to a server (only missing chunks travel)",
		Args:  cobra.ExactArgs(1),
	}
	t := addDataFlags(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if !t.remote() {
			return errors.New("push needs --server (or MLCYCLE_SERVER)")
		}
		ctx, svc, done, err := t.local(cmd.Context(), true)
		if err != nil {
			return err
		}
		defer done()
		return push(ctx, d, t, svc, args[0])
	}
	return cmd
}

func newDataPullCmd(d *deps) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "pull <name@version> --server URL",
		Short: "Copy a dataset version from a server to the local catalog (only missing chunks travel)",
		Args:  cobra.ExactArgs(1),
	}
	t := addDataFlags(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if !t.remote() {
			return errors.New("pull needs --server (or MLCYCLE_SERVER)")
		}
		c, err := t.client(d)
		if err != nil {
			return err
		}
		ctx, svc, done, err := t.local(cmd.Context(), true)
		if err != nil {
			return err
		}
		defer done()
		p := newProgress(d, "downloading")
		res, err := c.Pull(ctx, svc, args[0], client.TransferOptions{Workers: 8, Progress: p.report})
		p.end()
		if err != nil {
			return err
		}
		fmt.Fprintf(d.stdout, "pulled %s from %s as %s: %s downloaded (%s), %d already here\n",
			args[0], t.server, res.Version.Ref, count(res.Chunks, "chunk"), fmtBytes(res.Bytes), res.ChunksPresent)
		return nil
	}
	return cmd
}

func newDataLsCmd(d *deps) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "ls [name]",
		Short: "List datasets, or the versions of one",
		Args:  cobra.MaximumNArgs(1),
	}
	t := addDataFlags(cmd)
	addOutputFlag(cmd, &output)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := checkOutput(output); err != nil {
			return err
		}
		if len(args) == 1 {
			vs, err := dataVersions(cmd.Context(), d, t, args[0])
			if err != nil {
				return err
			}
			if output == "json" {
				return writeJSON(d.stdout, vs)
			}
			rows := make([][]string, len(vs))
			for i, v := range vs {
				rows[i] = []string{v.Ref, strings.Join(v.Tags, ","), itoa(v.FileCount), fmtBytes(v.TotalBytes), fmtMS(v.CreatedAt), v.CreatedBy, v.Message}
			}
			return writeTable(d.stdout, []string{"VERSION", "TAGS", "FILES", "SIZE", "CREATED", "BY", "MESSAGE"}, rows)
		}
		list, err := dataList(cmd.Context(), d, t)
		if err != nil {
			return err
		}
		if output == "json" {
			return writeJSON(d.stdout, list)
		}
		rows := make([][]string, len(list))
		for i, x := range list {
			rows[i] = []string{x.Name, itoa(x.Versions), itoa(x.Latest), fmtMS(x.UpdatedAt)}
		}
		return writeTable(d.stdout, []string{"NAME", "VERSIONS", "LATEST", "UPDATED"}, rows)
	}
	return cmd
}

func fmtMS(ms int64) string {
	if ms == 0 {
		return "-"
	}
	return fmtTime(time.UnixMilli(ms))
}

func dataList(ctx context.Context, d *deps, t *dataTarget) ([]client.DatasetSummary, error) {
	if t.remote() {
		c, err := t.client(d)
		if err != nil {
			return nil, err
		}
		return c.ListDatasets(ctx)
	}
	ctx, svc, done, err := t.local(ctx, false)
	if err != nil {
		return nil, err
	}
	defer done()
	list, err := svc.List(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]client.DatasetSummary, 0, len(list))
	for _, x := range list {
		var c client.DatasetSummary
		if err := convert(httpapi.DatasetJSONOf(x), &c); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

func dataVersions(ctx context.Context, d *deps, t *dataTarget, name string) ([]client.DatasetVersion, error) {
	if t.remote() {
		c, err := t.client(d)
		if err != nil {
			return nil, err
		}
		return c.DatasetVersions(ctx, name)
	}
	ctx, svc, done, err := t.local(ctx, false)
	if err != nil {
		return nil, err
	}
	defer done()
	vs, err := svc.Versions(ctx, name)
	if err != nil {
		return nil, err
	}
	out := make([]client.DatasetVersion, 0, len(vs))
	for _, v := range vs {
		var c client.DatasetVersion
		if err := convert(httpapi.VersionJSONOf(v), &c); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// dataShow returns a version's detail from the server or the local catalog.
func dataShow(ctx context.Context, d *deps, t *dataTarget, ref string) (client.DatasetVersionDetail, error) {
	var out client.DatasetVersionDetail
	if t.remote() {
		c, err := t.client(d)
		if err != nil {
			return out, err
		}
		return c.ShowDataset(ctx, ref)
	}
	ctx, svc, done, err := t.local(ctx, false)
	if err != nil {
		return out, err
	}
	defer done()
	det, err := svc.Show(ctx, ref)
	if err != nil {
		return out, err
	}
	err = convert(httpapi.VersionDetailJSONOf(det), &out)
	return out, err
}

func newDataShowCmd(d *deps) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "show <name@version>",
		Short: "Show a dataset version: files, table schemas and profiles, runs that used it",
		Args:  cobra.ExactArgs(1),
	}
	t := addDataFlags(cmd)
	addOutputFlag(cmd, &output)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := checkOutput(output); err != nil {
			return err
		}
		det, err := dataShow(cmd.Context(), d, t, args[0])
		if err != nil {
			return err
		}
		if output == "json" {
			return writeJSON(d.stdout, det)
		}
		return printDetail(d, det)
	}
	return cmd
}

func printDetail(d *deps, det client.DatasetVersionDetail) error {
	w := d.stdout
	fmt.Fprintf(w, "%s  (%s)\n", det.Ref, det.Source)
	fmt.Fprintf(w, "created  %s by %s\n", fmtMS(det.CreatedAt), det.CreatedBy)
	if det.Message != "" {
		fmt.Fprintf(w, "message  %s\n", det.Message)
	}
	if len(det.Tags) > 0 {
		fmt.Fprintf(w, "tags     %s\n", strings.Join(det.Tags, ", "))
	}
	fmt.Fprintf(w, "digest   %s\n", det.Digest)
	fmt.Fprintf(w, "files    %d, %s\n\n", det.FileCount, fmtBytes(det.TotalBytes))
	rows := make([][]string, 0, len(det.Manifest.Files))
	var tables []dataset.FileEntry
	for _, f := range det.Manifest.Files {
		rowsCols := "-"
		if p, ok := decodeProfile(f.Profile); ok {
			rowsCols = fmt.Sprintf("%d x %d", p.Rows, len(p.Columns))
			tables = append(tables, f)
		}
		rows = append(rows, []string{f.Path, fmtBytes(f.Size), rowsCols, f.Hash[:12]})
	}
	if err := writeTable(w, []string{"PATH", "SIZE", "ROWS x COLS", "HASH"}, rows); err != nil {
		return err
	}
	for _, f := range tables {
		p, _ := decodeProfile(f.Profile)
		fmt.Fprintf(w, "\n%s: %d rows\n", f.Path, p.Rows)
		crows := make([][]string, 0, len(p.Columns))
		for _, c := range p.Columns {
			crows = append(crows, columnRow(c))
		}
		if err := writeTable(w, []string{"COLUMN", "TYPE", "NULLABLE", "MISSING", "DISTINCT", "MIN", "MEAN", "MAX", "TOP"}, crows); err != nil {
			return err
		}
	}
	fmt.Fprintln(w)
	if len(det.Runs) == 0 {
		fmt.Fprintln(w, "runs     none have logged this version as an input")
		return nil
	}
	rrows := make([][]string, len(det.Runs))
	for i, r := range det.Runs {
		rrows[i] = []string{r.RunID, r.Context, fmtMS(r.CreatedAt)}
	}
	return writeTable(w, []string{"RUN", "CONTEXT", "LINKED"}, rrows)
}

func decodeProfile(raw json.RawMessage) (profile.Profile, bool) {
	s := strings.TrimSpace(string(raw))
	if s == "" || s == "null" {
		return profile.Profile{}, false
	}
	var p profile.Profile
	return p, json.Unmarshal(raw, &p) == nil
}

// columnRow summarises a column profile for the show table.
func columnRow(c profile.ColumnProfile) []string {
	num := func(v *float64) string {
		if v == nil {
			return "-"
		}
		return strconv.FormatFloat(*v, 'g', 6, 64)
	}
	missing := strconv.FormatInt(c.Missing, 10)
	if c.Missing > 0 {
		missing += fmt.Sprintf(" (%.1f%%)", 100*c.MissingRate())
	}
	minV, maxV := num(c.Min), num(c.Max)
	if c.MinTime != nil && c.MaxTime != nil {
		minV, maxV = c.MinTime.Format(time.RFC3339), c.MaxTime.Format(time.RFC3339)
	}
	var top []string
	for _, cat := range c.TopCategories[:min(3, len(c.TopCategories))] {
		top = append(top, fmt.Sprintf("%v(%d)", cat.Value, cat.Count))
	}
	return []string{c.Name, c.Type, yesNo(c.Nullable), missing, strconv.FormatUint(c.Distinct, 10),
		minV, num(c.Mean), maxV, orDash(strings.Join(top, " "))}
}

// newLongHTTPClient is an HTTP client without an overall deadline, for
// transfers whose length depends on the data; a stalled server still times
// out waiting for response headers.
func newLongHTTPClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.ResponseHeaderTimeout = 2 * time.Minute
	return &http.Client{Transport: tr}
}

func newDataGetCmd(d *deps) *cobra.Command {
	var out string
	var paths []string
	cmd := &cobra.Command{
		Use:   "get <name@version> -o DIR",
		Short: "Write the files of a dataset version into a folder, verifying every byte",
		Long: `Write the files of a dataset version into a folder, created if missing. Every
chunk is checked against its hash; each file is written to a temporary file
and renamed into place once all of it has verified, so a damaged store never
leaves wrong bytes behind. A file already there with the version's content
(checked chunk by chunk) is left as it is, so getting another version into
the same folder writes (and with --server downloads) only what differs.
Other files in the folder are left alone.`,
		Example: `  mlcycle data get iris@3 -o data/
  mlcycle data get sales@prod -o data/ --path 2026/ --server https://mlcycle.example.com`,
		Args: cobra.ExactArgs(1),
	}
	t := addDataFlags(cmd)
	cmd.Flags().StringVarP(&out, "out", "o", "", "folder to write into (required; created if missing)")
	cmd.Flags().StringSliceVar(&paths, "path", nil, "only these files or folders of the dataset (repeatable)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if out == "" {
			return errors.New("-o/--out is required: the folder to write the files into")
		}
		p := newProgress(d, "writing")
		opts := dataset.GetOptions{Paths: paths, Progress: p.report}
		var st dataset.GetStats
		var err error
		if t.remote() {
			c, cerr := t.client(d)
			if cerr != nil {
				return cerr
			}
			var res client.GetDatasetResult
			res, err = c.GetDataset(cmd.Context(), args[0], out, client.GetDatasetOptions{Paths: paths, Progress: p.report})
			st = dataset.GetStats{Files: res.Files, Bytes: res.Bytes, Unchanged: res.Unchanged, UnchangedBytes: res.UnchangedBytes}
		} else {
			ctx, svc, done, lerr := t.local(cmd.Context(), false)
			if lerr != nil {
				return lerr
			}
			defer done()
			st, err = svc.Get(ctx, args[0], out, opts)
		}
		p.end()
		if err != nil {
			return err
		}
		fmt.Fprintf(d.stdout, "wrote %s (%s) to %s", count(st.Files-st.Unchanged, "file"), fmtBytes(st.Bytes-st.UnchangedBytes), out)
		if st.Unchanged > 0 {
			fmt.Fprintf(d.stdout, "; %s (%s) already there were left as they are", count(st.Unchanged, "file"), fmtBytes(st.UnchangedBytes))
		}
		fmt.Fprintln(d.stdout)
		return nil
	}
	return cmd
}

func newDataStatusCmd(d *deps) *cobra.Command {
	var name, against, base string
	var exitCode bool
	cmd := &cobra.Command{
		Use:   "status <file|folder|glob>... --name NAME",
		Short: "Show how local files differ from a dataset version (what add would record)",
		Long: `Compare local files with a dataset version: the files an add of the same
arguments would record that are new, changed or gone. Files are hashed as add
hashes them (those unchanged since the state cache saw them are not read);
nothing is stored or recorded. The version is the newest of --name unless
--against names another (name@3, name@tag, or another dataset's).

With --server the version is the server's; the files are still hashed here.`,
		Example: `  mlcycle data status data/ --name iris
  mlcycle data status data/ --name iris --against iris@prod --exit-code`,
		Args: cobra.MinimumNArgs(1),
	}
	t := addDataFlags(cmd)
	f := cmd.Flags()
	f.StringVar(&name, "name", "", "dataset name (required)")
	f.StringVar(&against, "against", "", "version to compare with (default: the newest of --name)")
	f.StringVar(&base, "base", "", "folder the dataset paths are relative to (as for add)")
	f.BoolVar(&exitCode, "exit-code", false, "exit with status 1 when the files differ from the version")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if name == "" {
			return errors.New("--name is required: the dataset whose version the files are compared with")
		}
		ctx, svc, done, err := t.localFiles(cmd)
		if err != nil {
			return err
		}
		defer done()
		p := newPercent(d, "hashing")
		in := dataset.AddInput{Name: name, Paths: args, BaseDir: base, Progress: p.report}
		var rep dataset.StatusReport
		if t.remote() {
			c, err := t.client(d)
			if err != nil {
				return err
			}
			ref := cmp.Or(against, name)
			det, err := c.ShowDataset(ctx, ref)
			switch {
			case err == nil:
				rep, err = svc.StatusOf(ctx, in, det.Ref, det.Manifest)
			case against == "" && client.IsNotFound(err):
				rep, err = svc.StatusOf(ctx, in, "", dataset.Manifest{})
			}
			if err != nil {
				p.end()
				return err
			}
		} else if rep, err = svc.Status(ctx, in, against); err != nil {
			p.end()
			return err
		}
		p.end()
		printStatus(d, rep)
		if exitCode && !rep.Clean() {
			return &exitError{code: 1}
		}
		return nil
	}
	return cmd
}

func printStatus(d *deps, rep dataset.StatusReport) {
	w, st := d.stdout, rep.Stats
	read := fmt.Sprintf("%s read, %d from the state cache", count(st.FilesHashed, "file"), st.CacheHits)
	switch {
	case rep.Against == "":
		fmt.Fprintf(w, "no version yet: %s to add (%s)\n", count(int64(len(rep.Added)), "file"), read)
	case rep.Clean():
		fmt.Fprintf(w, "unchanged: the files have the content of %s (%s; %s)\n", rep.Against, count(int64(rep.Unchanged), "file"), read)
		return
	default:
		fmt.Fprintf(w, "%s -> local files: %d added, %d removed, %d changed, %d unchanged (%s)\n",
			rep.Against, len(rep.Added), len(rep.Removed), len(rep.Changed), rep.Unchanged, read)
	}
	printAddedRemoved(w, rep.Added, rep.Removed)
	for _, c := range rep.Changed {
		printChanged(w, c.Path, c.SizeFrom, c.SizeTo)
	}
}

// printAddedRemoved lists paths added ("+ path") and removed ("- path"),
// as diff and status show them.
func printAddedRemoved(w io.Writer, added, removed []string) {
	for _, p := range added {
		fmt.Fprintf(w, "+ %s\n", p)
	}
	for _, p := range removed {
		fmt.Fprintf(w, "- %s\n", p)
	}
}

// printChanged shows a changed path with its sizes: "~ path (1 KiB -> 2 KiB)".
func printChanged(w io.Writer, path string, from, to int64) {
	fmt.Fprintf(w, "~ %s (%s -> %s)\n", path, fmtBytes(from), fmtBytes(to))
}

func newDataCatCmd(d *deps) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cat <name@version> <path>",
		Short: "Write one file of a dataset version to standard output, verifying every byte",
		Long: `Write one file of a dataset version to standard output. Each chunk is checked
against its hash before any of its bytes are written; a damaged chunk stops
the output with an error (exit status 1).`,
		Example: `  mlcycle data cat iris@3 train.csv | head
  mlcycle data cat sales@prod data/2026-11.csv --server https://mlcycle.example.com > nov.csv`,
		Args: cobra.ExactArgs(2),
	}
	t := addDataFlags(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		var r io.ReadCloser
		if t.remote() {
			c, err := t.client(d)
			if err != nil {
				return err
			}
			f, err := c.OpenDatasetFile(cmd.Context(), args[0], args[1])
			if err != nil {
				return err
			}
			r = f
		} else {
			ctx, svc, done, err := t.local(cmd.Context(), false)
			if err != nil {
				return err
			}
			defer done()
			_, fr, err := svc.OpenFile(ctx, args[0], args[1])
			if err != nil {
				return err
			}
			r = io.NopCloser(fr)
		}
		defer r.Close()
		if _, err := io.Copy(d.stdout, r); err != nil {
			return fmt.Errorf("reading %s of %s: %w", args[1], args[0], err)
		}
		return nil
	}
	return cmd
}

func newDataRmCmd(d *deps) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rm <name@version>",
		Short: "Remove a dataset version (its content is collected by gc once unused)",
		Long: `Remove a dataset version. It no longer resolves and its tags go; its
number is never reused. Its content stays until "mlcycle data gc" finds that
no remaining version needs it.

A version that runs used (their inputs name it) is kept: removing it would
let gc delete the data those runs were trained on. The error names them;
--force removes it anyway, and their lineage then shows it as removed.`,
		Example: `  mlcycle data rm iris@2
  mlcycle data rm iris@old-split --force`,
		Args: cobra.ExactArgs(1),
	}
	t := addDataFlags(cmd)
	force := cmd.Flags().Bool("force", false, "remove the version even if runs used it")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		ref := args[0]
		if r, err := dataset.ParseRef(ref); err != nil {
			return err
		} else if r.IsLatest() {
			return fmt.Errorf("name the version to remove, e.g. %s@3: %q could remove the wrong one", r.Name, ref)
		}
		var removed string
		if t.remote() {
			c, err := t.client(d)
			if err != nil {
				return err
			}
			v, err := c.RemoveDatasetVersion(cmd.Context(), ref, client.RemoveOptions{Force: *force})
			if err != nil {
				return err
			}
			removed = v.Ref
		} else {
			ctx, svc, done, err := t.local(cmd.Context(), false)
			if err != nil {
				return err
			}
			defer done()
			v, err := svc.Remove(ctx, ref, dataset.RemoveOptions{Force: *force})
			if err != nil {
				return err
			}
			removed = v.Ref()
		}
		fmt.Fprintf(d.stdout, "removed %s\n", removed)
		return nil
	}
	return cmd
}

func newDataTagCmd(d *deps) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tag <name@version> TAG",
		Short: "Point a tag at a dataset version (moving it if it exists)",
		Args:  cobra.ExactArgs(2),
	}
	t := addDataFlags(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		var ref string
		if t.remote() {
			c, err := t.client(d)
			if err != nil {
				return err
			}
			v, err := c.SetDatasetTag(cmd.Context(), args[0], args[1])
			if err != nil {
				return err
			}
			ref = v.Ref
		} else {
			ctx, svc, done, err := t.local(cmd.Context(), false)
			if err != nil {
				return err
			}
			defer done()
			v, err := svc.SetTag(ctx, args[0], args[1])
			if err != nil {
				return err
			}
			ref = v.Ref()
		}
		fmt.Fprintf(d.stdout, "tagged %s as %s\n", ref, args[1])
		return nil
	}
	return cmd
}

func newDataUntagCmd(d *deps) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "untag <name> TAG | <name@tag>",
		Short: "Remove a dataset tag",
		Args:  cobra.RangeArgs(1, 2),
	}
	t := addDataFlags(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		name, tag := args[0], ""
		if len(args) == 2 {
			tag = args[1]
		} else {
			var ok bool
			if name, tag, ok = strings.Cut(args[0], "@"); !ok {
				return fmt.Errorf("name the tag: mlcycle data untag %s TAG", args[0])
			}
		}
		if t.remote() {
			c, err := t.client(d)
			if err != nil {
				return err
			}
			if err := c.DeleteDatasetTag(cmd.Context(), name, tag); err != nil {
				return err
			}
		} else {
			ctx, svc, done, err := t.local(cmd.Context(), false)
			if err != nil {
				return err
			}
			defer done()
			if err := svc.DeleteTag(ctx, name, tag); err != nil {
				return err
			}
		}
		fmt.Fprintf(d.stdout, "removed tag %s of %s\n", tag, name)
		return nil
	}
	return cmd
}

func newDataDiffCmd(d *deps) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "diff <name@a> <name@b>",
		Short: "Compare two dataset versions: files, table schemas, row counts and drift",
		Args:  cobra.ExactArgs(2),
	}
	t := addDataFlags(cmd)
	addOutputFlag(cmd, &output)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := checkOutput(output); err != nil {
			return err
		}
		var diff client.DatasetDiff
		if t.remote() {
			c, err := t.client(d)
			if err != nil {
				return err
			}
			if diff, err = c.DiffDatasets(cmd.Context(), args[0], args[1]); err != nil {
				return err
			}
		} else {
			ctx, svc, done, err := t.local(cmd.Context(), false)
			if err != nil {
				return err
			}
			defer done()
			a, err := svc.Show(ctx, args[0])
			if err != nil {
				return err
			}
			b, err := svc.Show(ctx, args[1])
			if err != nil {
				return err
			}
			if err := convert(httpapi.DiffVersions(a, b), &diff); err != nil {
				return err
			}
		}
		if output == "json" {
			return writeJSON(d.stdout, diff)
		}
		printDiff(d, diff)
		return nil
	}
	return cmd
}

func printDiff(d *deps, diff client.DatasetDiff) {
	w := d.stdout
	fmt.Fprintf(w, "%s -> %s: %d added, %d removed, %d changed, %d unchanged\n",
		diff.From, diff.To, len(diff.Added), len(diff.Removed), len(diff.Changed), diff.Unchanged)
	printAddedRemoved(w, diff.Added, diff.Removed)
	for _, c := range diff.Changed {
		printChanged(w, c.Path, c.SizeFrom, c.SizeTo)
		if c.Table == nil {
			continue
		}
		tb := c.Table
		fmt.Fprintf(w, "    rows %d -> %d (%+d)\n", tb.RowsFrom, tb.RowsTo, tb.RowsTo-tb.RowsFrom)
		for _, s := range tb.SchemaChanges {
			fmt.Fprintf(w, "    schema %s %s: %s -> %s\n", s.Column, s.Kind, orDash(s.From), orDash(s.To))
		}
		for _, col := range tb.Columns {
			score := ""
			switch {
			case col.PSI != nil:
				score = fmt.Sprintf(", psi %.3f", *col.PSI)
			case col.JS != nil:
				score = fmt.Sprintf(", js %.3f", *col.JS)
			}
			drift := ""
			if col.Drift {
				drift = "  DRIFT"
			}
			fmt.Fprintf(w, "    %s: missing %.1f%% -> %.1f%%, distinct %d -> %d%s%s\n", col.Name,
				100*col.MissingRateFrom, 100*col.MissingRateTo, col.DistinctFrom, col.DistinctTo, score, drift)
			if stats := diffStats(col); stats != "" {
				fmt.Fprintf(w, "      %s\n", stats)
			}
		}
	}
}

// diffStats renders the summary statistics of a column on both sides,
// "mean 0.02 -> 0.51, std 1 -> 0.98, min -3.4 -> -3.1, max 3.9 -> 4.2",
// leaving out those neither side has.
func diffStats(c profile.ColumnDiff) string {
	num := func(v *float64) string {
		if v == nil {
			return "-"
		}
		return strconv.FormatFloat(*v, 'g', 6, 64)
	}
	tm := func(v *time.Time) string {
		if v == nil {
			return "-"
		}
		return v.Format(time.RFC3339)
	}
	var parts []string
	add := func(name, from, to string) {
		if from != "-" || to != "-" {
			parts = append(parts, name+" "+from+" -> "+to)
		}
	}
	add("mean", num(c.MeanFrom), num(c.MeanTo))
	add("std", num(c.StdFrom), num(c.StdTo))
	add("min", num(c.MinFrom), num(c.MinTo))
	add("max", num(c.MaxFrom), num(c.MaxTo))
	add("min", tm(c.MinTimeFrom), tm(c.MinTimeTo))
	add("max", tm(c.MaxTimeFrom), tm(c.MaxTimeTo))
	return strings.Join(parts, ", ")
}

func newDataValidateCmd(d *deps) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "validate <rules.yaml> <file|folder|name@version>...",
		Short: "Check table files or a dataset version against a rules file",
		Long: `Check CSV, TSV, JSON Lines and Parquet files against the expectations of a
rules file (see docs/datasets-validation.md). A dataset version is fetched
into a temporary folder first. When the rules set a files glob, it selects
the tables of a folder (relative to the rules file's folder) and of a
dataset version (relative to the version's root); a file named on the
command line is always checked. Exits 1 with the report when any
expectation fails.`,
		Args: cobra.MinimumNArgs(2),
	}
	t := addDataFlags(cmd)
	addOutputFlag(cmd, &output)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := checkOutput(output); err != nil {
			return err
		}
		rs, err := validate.Load(args[0])
		if err != nil {
			if _, serr := os.Stat(args[0]); serr != nil && strings.Contains(args[0], "@") {
				return fmt.Errorf("%w (the rules file comes first: mlcycle data validate <rules.yaml> %s)", err, args[0])
			}
			return err
		}
		ctx := cmd.Context()
		var reports []validate.Report
		for _, arg := range args[1:] {
			files, cleanup, err := validationTargets(ctx, d, t, arg)
			if err != nil {
				return err
			}
			for _, f := range files {
				if !f.coveredBy(rs) {
					continue
				}
				rep, err := rs.Validate(ctx, f.abs)
				if err != nil {
					cleanup()
					return err
				}
				rep.File = f.name
				reports = append(reports, rep)
			}
			cleanup()
		}
		if len(reports) == 0 {
			return errors.New("no table files (CSV, TSV, JSON Lines, Parquet) that the rules cover to validate")
		}
		failed := 0
		for _, r := range reports {
			if !r.OK {
				failed++
			}
		}
		if output == "json" {
			if err := writeJSON(d.stdout, reports); err != nil {
				return err
			}
		} else {
			for _, r := range reports {
				fmt.Fprint(d.stdout, r.Text())
			}
		}
		if failed > 0 {
			return &exitError{code: 1, msg: fmt.Sprintf("validation failed: %d of %d files", failed, len(reports))}
		}
		return nil
	}
	return cmd
}

// tableFile is a table to validate: its display name and its path on disk.
// A file named on the command line is always checked; one found under a
// folder is checked when the rules' files glob (relative to the rules
// file's folder) covers it; one from a dataset version when the glob
// matches its path inside the version (inVersion).
type tableFile struct {
	name, abs string
	explicit  bool
	inVersion string
}

func (f tableFile) coveredBy(rs *validate.Rules) bool {
	switch {
	case f.explicit:
		return true
	case f.inVersion != "":
		return rs.Matches(f.inVersion)
	}
	return rs.Applies(f.abs)
}

// validationTargets lists the table files arg names: a file, the files
// under a folder, or the files of a dataset version (fetched into a
// temporary folder that cleanup removes).
func validationTargets(ctx context.Context, d *deps, t *dataTarget, arg string) ([]tableFile, func(), error) {
	noop := func() {}
	if fi, err := os.Stat(arg); err == nil {
		if !fi.IsDir() {
			return []tableFile{{name: arg, abs: arg, explicit: true}}, noop, nil
		}
		files, err := tablesUnder(arg, arg, false)
		return files, noop, err
	}
	if _, err := dataset.ParseRef(arg); err != nil || !strings.Contains(arg, "@") {
		return nil, noop, fmt.Errorf("%s: not a file, a folder or a dataset version (name@3)", arg)
	}
	tmp, err := os.MkdirTemp("", "mlcycle-validate-")
	if err != nil {
		return nil, noop, err
	}
	cleanup := func() { os.RemoveAll(tmp) }
	if t.remote() {
		c, err := t.client(d)
		if err != nil {
			cleanup()
			return nil, noop, err
		}
		det, err := c.ShowDataset(ctx, arg)
		if err == nil {
			_, err = dataset.Materialize(ctx, det.Manifest, c, tmp, dataset.GetOptions{})
		}
		if err != nil {
			cleanup()
			return nil, noop, err
		}
	} else {
		lctx, svc, done, err := t.local(ctx, false)
		if err != nil {
			cleanup()
			return nil, noop, err
		}
		_, err = svc.Get(lctx, arg, tmp, dataset.GetOptions{})
		done()
		if err != nil {
			cleanup()
			return nil, noop, err
		}
	}
	files, err := tablesUnder(tmp, arg, true)
	if err != nil {
		cleanup()
		return nil, noop, err
	}
	return files, cleanup, nil
}

// tablesUnder lists the table files under root, named label/<path>;
// version says root holds a fetched dataset version.
func tablesUnder(root, label string, version bool) ([]tableFile, error) {
	var out []tableFile
	err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.Type().IsRegular() && isTable(p) {
			rel, _ := filepath.Rel(root, p)
			rel = filepath.ToSlash(rel)
			f := tableFile{name: label + "/" + rel, abs: p}
			if version {
				f.inVersion = rel
			}
			out = append(out, f)
		}
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, err
}

func newDataGCCmd(d *deps) *cobra.Command {
	var dryRun bool
	var grace time.Duration
	cmd := &cobra.Command{
		Use:   "gc [--dry-run]",
		Short: "Delete stored dataset content no live version needs",
		Long: `Delete the chunks that no live dataset version needs, once they were last
used longer ago than the grace period (so adds and pushes in progress keep
what they stored), and the files holding them. On a local-folder store
chunks live in pack files: a pack none of whose chunks is needed is
deleted, and one less than half in use is rewritten with just the needed
ones. Against a server (--server) this needs the admin role.

Run with --dry-run first to see what would go.`,
		Args: cobra.NoArgs,
	}
	t := addDataFlags(cmd)
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "report what would be deleted, delete nothing")
	cmd.Flags().DurationVar(&grace, "grace", 0, "keep unreferenced content younger than this (default: the server's, 1h)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		var rep client.DatasetGCReport
		if t.remote() {
			c, err := t.waitingClient(d)
			if err != nil {
				return err
			}
			if rep, err = c.DatasetGC(cmd.Context(), dryRun, grace); err != nil {
				return err
			}
		} else {
			ctx, svc, done, err := t.local(cmd.Context(), false)
			if err != nil {
				return err
			}
			defer done()
			r, err := svc.GC(ctx, dataset.GCOptions{DryRun: dryRun, GracePeriod: grace})
			if err != nil {
				return err
			}
			rep = client.DatasetGCReport{Chunks: r.Chunks, Bytes: r.Bytes, Orphans: r.Orphans, DryRun: r.DryRun,
				Young: r.Young, YoungBytes: r.YoungBytes, GraceSeconds: int64(r.Grace / time.Second),
				Packs: r.Packs, Repacked: r.Repacked, KeptInPacks: r.KeptInPacks}
		}
		verb := "deleted"
		if rep.DryRun {
			verb = "would delete"
		}
		fmt.Fprintf(d.stdout, "%s %s (%s)\n", verb, count(rep.Chunks, "object"), fmtBytes(rep.Bytes))
		if rep.KeptInPacks > 0 {
			fmt.Fprintf(d.stdout, "%s of that stays on disk in pack files still in use, until a later gc rewrites them\n", fmtBytes(rep.KeptInPacks))
		}
		if rep.Packs > 0 || rep.Repacked > 0 {
			rewrite := "rewrote"
			if rep.DryRun {
				verb, rewrite = "would remove", "would rewrite"
			} else {
				verb = "removed"
			}
			fmt.Fprintf(d.stdout, "%s %s, %s %s that were less than half in use\n",
				verb, count(rep.Packs, "pack file"), rewrite, count(rep.Repacked, "pack file"))
		}
		if rep.Young > 0 {
			fmt.Fprintf(d.stdout, "kept %s (%s) that no version needs but that were used within the grace period (%s); --grace sets it\n",
				count(rep.Young, "chunk"), fmtBytes(rep.YoungBytes), time.Duration(rep.GraceSeconds)*time.Second)
		}
		return nil
	}
	return cmd
}

func newDataVerifyCmd(d *deps) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "verify [name@version]...",
		Short: "Read back stored dataset content and check every chunk against its hash",
		Long: `Read back every chunk of the given versions (default: every live version of
every dataset) and check it against its hash, as get would, writing
nothing. A damaged pack or chunk file is otherwise only noticed when its
data is next read. Each damaged or missing chunk (or manifest) is listed
with the files that use it, and the command exits non-zero.

Without --server it reads the local catalog of --data-dir (or --db and
--artifacts). With --server the server reads its own store (admins only)
and the command waits for its answer, which takes as long as reading the
data does (about 1 s per 2 GB from a local disk).`,
		Example: `  mlcycle data verify --data-dir /srv/mlcycle-data
  mlcycle data verify iris@3 iris@prod --server https://mlcycle.example.com`,
	}
	t := addDataFlags(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		var rep client.DatasetVerifyReport
		if t.remote() {
			c, err := t.waitingClient(d)
			if err != nil {
				return err
			}
			fmt.Fprintf(d.stderr, "verifying on %s...\n", t.server)
			if rep, err = c.VerifyDatasets(cmd.Context(), args...); err != nil {
				return err
			}
		} else {
			ctx, svc, done, err := t.local(cmd.Context(), false)
			if err != nil {
				return err
			}
			defer done()
			p := newProgress(d, "verifying")
			local, err := svc.Verify(ctx, args, p.report)
			p.end()
			if err != nil {
				return err
			}
			rep = client.DatasetVerifyReport{Versions: local.Versions, Chunks: local.Chunks, Bytes: local.Bytes}
			for _, o := range local.Damaged {
				rep.Damaged = append(rep.Damaged, client.DamagedObject(o))
			}
		}
		for _, o := range rep.Damaged {
			fmt.Fprintf(d.stdout, "%s: %s; used by %s\n", o.Hash, o.Problem, strings.Join(o.UsedBy, ", "))
		}
		fmt.Fprintf(d.stdout, "checked %s: %s, %s\n", count(rep.Versions, "version"), count(rep.Chunks, "chunk"), fmtBytes(rep.Bytes))
		if n := len(rep.Damaged); n > 0 {
			return fmt.Errorf("%s damaged or missing: get fails on the files that use them", count(int64(n), "stored object"))
		}
		return nil
	}
	return cmd
}
