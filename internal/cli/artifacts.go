package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mlcycle/mlcycle/client"
)

func newArtifactsCmd(d *deps) *cobra.Command {
	r := &remote{}
	cmd := &cobra.Command{
		Use:     "artifacts",
		Aliases: []string{"artifact"},
		Short:   "List, download and upload the files of a run",
		Long: `Artifacts are the files a run produced: models, plots, reports. Paths are
relative to the run's artifact root, with / between folders (e.g.
model/MLmodel). Transfers stream, so files of any size work; on a terminal,
progress is shown on stderr.

These commands talk to a running server over its REST API (MLflow's artifact
proxy), so they work against "mlflow server --serve-artifacts" too.`,
	}
	addServerFlags(cmd, r)
	cmd.AddCommand(newArtifactsListCmd(d, r), newArtifactsGetCmd(d, r), newArtifactsPutCmd(d, r))
	return cmd
}

func newArtifactsListCmd(d *deps, r *remote) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:     "ls RUN_ID [PATH]",
		Aliases: []string{"list"},
		Short:   "List a folder of a run's artifacts (the root by default)",
		Example: `  mlcycle artifacts ls 3f2a9c0e1b7d4e5f8a6b2c1d0e9f8a7b
  mlcycle artifacts ls 3f2a9c0e1b7d4e5f8a6b2c1d0e9f8a7b model --output json`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			dir := ""
			if len(args) == 2 {
				dir = cleanRunPath(args[1])
			}
			c, err := r.client(d)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			root, err := c.RunArtifactRoot(ctx, args[0])
			if err != nil {
				return err
			}
			files, err := c.ListArtifacts(ctx, path.Join(root, dir))
			if err != nil {
				return err
			}
			// Paths relative to the run's root, as MLflow's own listing has them.
			for i := range files {
				files[i].Path = path.Join(dir, files[i].Path)
			}
			if output == "json" {
				if files == nil {
					files = []client.FileInfo{}
				}
				return writeJSON(d.stdout, files)
			}
			rows := make([][]string, len(files))
			for i, f := range files {
				if f.IsDir {
					rows[i] = []string{f.Path + "/", "-"}
				} else {
					rows[i] = []string{f.Path, fmtBytes(f.Size)}
				}
			}
			sortRows(rows)
			return writeTable(d.stdout, []string{"PATH", "SIZE"}, rows)
		},
	}
	addOutputFlag(cmd, &output)
	return cmd
}

func newArtifactsGetCmd(d *deps, r *remote) *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "get RUN_ID PATH",
		Short: "Download a file or a whole folder of a run's artifacts",
		Long: `Download the artifact at PATH. A file is written to --out (default: its name,
in the current folder; "-" for stdout); a folder is copied, with everything in
it, into the folder --out (default: its name). Files are written under a
temporary name and renamed when complete, so a failed download leaves no
partial file behind.`,
		Example: `  mlcycle artifacts get 3f2a9c0e1b7d4e5f8a6b2c1d0e9f8a7b model/MLmodel
  mlcycle artifacts get 3f2a9c0e1b7d4e5f8a6b2c1d0e9f8a7b model -o ./fraud-model
  mlcycle artifacts get 3f2a9c0e1b7d4e5f8a6b2c1d0e9f8a7b metrics.csv -o - | head`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			rel := cleanRunPath(args[1])
			if rel == "" {
				return errors.New("give the PATH of a file or folder (use 'artifacts ls' to see them)")
			}
			c, err := r.client(d)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			root, err := c.RunArtifactRoot(ctx, args[0])
			if err != nil {
				return err
			}
			src := path.Join(root, rel)
			if out == "" {
				out = path.Base(rel)
			}
			tr := newTransfer(d, "downloading")
			tr.trim = root + "/"
			tctx := tr.context(ctx)
			// A folder lists its entries; a file lists nothing.
			if entries, err := c.ListArtifacts(ctx, src); err == nil && len(entries) > 0 {
				if out == "-" {
					return fmt.Errorf("%s is a folder: give -o a folder to copy it into", rel)
				}
				err = downloadTree(tctx, c, src, out, entries)
				tr.done()
				if err != nil {
					return err
				}
				fmt.Fprintf(d.stderr, "downloaded %s into %s\n", tr.summary(), out)
				return nil
			}
			if out == "-" {
				_, err := c.DownloadArtifact(tctx, src, d.stdout)
				tr.done()
				return err
			}
			err = downloadFile(tctx, c, src, out)
			tr.done()
			if err != nil {
				return err
			}
			fmt.Fprintf(d.stderr, "downloaded %s (%s) to %s\n", rel, tr.size(), out)
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "out", "o", "", `where to write: a file (or folder, for a folder); "-" is stdout`)
	return cmd
}

// downloadTree copies the artifact folder src, whose entries are given,
// into the local folder dst.
func downloadTree(ctx context.Context, c *client.Client, src, dst string, entries []client.FileInfo) error {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	for _, e := range entries {
		name := path.Base(e.Path)
		if name == "." || name == ".." || name == "/" {
			return fmt.Errorf("the server listed a bad name %q in %s", e.Path, src)
		}
		local := filepath.Join(dst, filepath.FromSlash(name))
		if !e.IsDir {
			if err := downloadFile(ctx, c, path.Join(src, name), local); err != nil {
				return err
			}
			continue
		}
		sub, err := c.ListArtifacts(ctx, path.Join(src, name))
		if err != nil {
			return err
		}
		if err := downloadTree(ctx, c, path.Join(src, name), local, sub); err != nil {
			return err
		}
	}
	return nil
}

// downloadFile writes the artifact src to dst through a temporary file in
// the same folder, renamed into place once complete.
func downloadFile(ctx context.Context, c *client.Client, src, dst string) error {
	dir, base := filepath.Split(dst)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".*.part")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // a no-op after the rename
	if _, err := c.DownloadArtifact(ctx, src, tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	// CreateTemp makes the file private; a download is an ordinary file.
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dst)
}

func newArtifactsPutCmd(d *deps, r *remote) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "put RUN_ID LOCAL_PATH [ARTIFACT_PATH]",
		Short: "Upload a file or a folder into a run's artifacts",
		Long: `Upload LOCAL_PATH into the run's artifacts, as mlflow.log_artifact(s) does: a
file lands at ARTIFACT_PATH/<its name>, a folder's contents under ARTIFACT_PATH
(the run's root when ARTIFACT_PATH is left out). An existing file of the same
path is replaced.`,
		Example: `  mlcycle artifacts put 3f2a9c0e1b7d4e5f8a6b2c1d0e9f8a7b report.html
  mlcycle artifacts put 3f2a9c0e1b7d4e5f8a6b2c1d0e9f8a7b ./model model`,
		Args: cobra.RangeArgs(2, 3),
		RunE: func(cmd *cobra.Command, args []string) error {
			dest := ""
			if len(args) == 3 {
				dest = cleanRunPath(args[2])
			}
			c, err := r.client(d)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			tr := newTransfer(d, "uploading")
			// Only to show run-relative paths; LogArtifact resolves it too.
			if root, err := c.RunArtifactRoot(ctx, args[0]); err == nil {
				tr.trim = root + "/"
			}
			err = c.LogArtifact(tr.context(ctx), args[0], args[1], dest)
			tr.done()
			if err != nil {
				return err
			}
			where := dest
			if where == "" {
				where = "the artifact root"
			}
			fmt.Fprintf(d.stderr, "uploaded %s to %s of run %s\n", tr.summary(), where, args[0])
			return nil
		},
	}
	return cmd
}

// cleanRunPath turns what a user typed ("./model/", "/model") into a path
// relative to the run's root; the client refuses what still escapes it.
func cleanRunPath(p string) string {
	p = path.Clean("/" + strings.ReplaceAll(p, `\`, "/"))
	return strings.TrimPrefix(p, "/")
}
