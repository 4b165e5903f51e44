package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// Artifacts go through MLflow's artifact proxy, /api/2.0/mlflow-artifacts:
// paths there are relative to the server's artifact root, and a run's
// artifacts live under the path of its artifact_uri
// ("mlflow-artifacts:/<experiment>/<run>/artifacts" -> "<experiment>/<run>/artifacts").
//
// Uploads and downloads stream: nothing is held in memory whole, and they
// are bounded by their context, not by the client's whole-request timeout.

// FileInfo is a file or folder in an artifact listing.
type FileInfo struct {
	Path  string `json:"path"` // relative to the listed folder
	IsDir bool   `json:"is_dir"`
	Size  int64  `json:"file_size,omitempty"` // unset for folders
}

// Progress is how far a streaming upload or download has got.
type Progress struct {
	Path  string // the artifact path
	Done  int64  // bytes so far
	Total int64  // bytes in all, or -1 when unknown
}

type progressKey struct{}

// WithProgress returns a context under which UploadArtifact,
// DownloadArtifact and LogArtifact call fn as bytes move. fn runs on the
// calling goroutine, often: keep it cheap (throttle any printing).
func WithProgress(ctx context.Context, fn func(Progress)) context.Context {
	return context.WithValue(ctx, progressKey{}, fn)
}

type progressReader struct {
	r  io.Reader
	p  Progress
	fn func(Progress)
}

func (pr *progressReader) Read(b []byte) (int, error) {
	n, err := pr.r.Read(b)
	if n > 0 {
		pr.p.Done += int64(n)
		pr.fn(pr.p)
	}
	return n, err
}

// withProgress wraps r to report through the context's progress function.
func withProgress(ctx context.Context, r io.Reader, p Progress) io.Reader {
	fn, _ := ctx.Value(progressKey{}).(func(Progress))
	if fn == nil {
		return r
	}
	fn(p)
	return &progressReader{r: r, p: p, fn: fn}
}

// UploadArtifact stores the bytes of r at artifactPath (relative to the
// server's artifact root), replacing what is there. The length is sent when
// r is an *os.File on a regular file or has a Len method (bytes.Reader,
// strings.Reader, bytes.Buffer); other readers are sent chunked.
func (c *Client) UploadArtifact(ctx context.Context, artifactPath string, r io.Reader) error {
	return c.UploadArtifactSize(ctx, artifactPath, r, sizeOf(r))
}

// UploadArtifactSize is UploadArtifact for a reader of known size (-1 for
// unknown). Exactly size bytes are sent.
func (c *Client) UploadArtifactSize(ctx context.Context, artifactPath string, r io.Reader, size int64) error {
	if err := checkArtifactPath(artifactPath, false); err != nil {
		return err
	}
	var body io.Reader = r
	if size >= 0 {
		body = io.LimitReader(r, size)
	}
	body = withProgress(ctx, body, Progress{Path: artifactPath, Total: size})
	if size == 0 {
		body = http.NoBody // a zero length with a body would be sent chunked
	}
	req, err := c.newRequest(ctx, http.MethodPut, artifactsAPI+"/"+artifactPath, nil, body)
	if err != nil {
		return err
	}
	if size >= 0 {
		req.ContentLength = size
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := c.streamHTTP().Do(req)
	if err != nil {
		return fmt.Errorf("uploading %s: %w", artifactPath, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return decodeError(resp)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return nil
}

// DownloadArtifact writes the file at artifactPath to w and returns the
// number of bytes written.
func (c *Client) DownloadArtifact(ctx context.Context, artifactPath string, w io.Writer) (int64, error) {
	if err := checkArtifactPath(artifactPath, false); err != nil {
		return 0, err
	}
	req, err := c.newRequest(ctx, http.MethodGet, artifactsAPI+"/"+artifactPath, nil, nil)
	if err != nil {
		return 0, err
	}
	resp, err := c.streamHTTP().Do(req)
	if err != nil {
		return 0, fmt.Errorf("downloading %s: %w", artifactPath, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return 0, decodeError(resp)
	}
	n, err := io.Copy(w, withProgress(ctx, resp.Body, Progress{Path: artifactPath, Total: resp.ContentLength}))
	if err != nil {
		return n, fmt.Errorf("downloading %s: %w", artifactPath, err)
	}
	return n, nil
}

// ListArtifacts lists the folder at dir ("" for the artifact root).
func (c *Client) ListArtifacts(ctx context.Context, dir string) ([]FileInfo, error) {
	if err := checkArtifactPath(dir, true); err != nil {
		return nil, err
	}
	var out struct {
		Files []FileInfo `json:"files"`
	}
	q := url.Values{}
	if dir != "" {
		q.Set("path", dir)
	}
	err := c.do(ctx, http.MethodGet, artifactsAPI, q, nil, &out)
	return out.Files, err
}

// RunArtifactRoot returns the artifact-proxy path under which a run's
// artifacts live, such as "1/<run id>/artifacts".
func (c *Client) RunArtifactRoot(ctx context.Context, runID string) (string, error) {
	run, err := c.GetRun(ctx, runID)
	if err != nil {
		return "", err
	}
	return ArtifactProxyPath(run.Info.ArtifactURI)
}

// ArtifactProxyPath turns an mlflow-artifacts: URI into its path under
// the artifact proxy: "mlflow-artifacts:/1/abc/artifacts" -> "1/abc/artifacts".
// URIs of other schemes (file:, s3:, ...) are not served by the proxy.
func ArtifactProxyPath(uri string) (string, error) {
	u, err := url.Parse(uri)
	if err != nil || u.Scheme != "mlflow-artifacts" {
		return "", fmt.Errorf("artifact location %q is not an mlflow-artifacts: URI, so the server does not serve it", uri)
	}
	p := u.Path
	if u.Opaque != "" {
		p = u.Opaque
	}
	p = strings.Trim(p, "/")
	if err := checkArtifactPath(p, true); err != nil {
		return "", fmt.Errorf("artifact location %q: %w", uri, err)
	}
	return p, nil
}

// LogArtifact uploads a local file or folder into a run's artifacts, as
// mlflow.log_artifact and log_artifacts do: a file lands at
// artifactPath/<file name>, a folder's contents (not the folder itself) under
// artifactPath. artifactPath "" is the run's artifact root. Symbolic links
// to files are followed; links to folders and special files are skipped.
func (c *Client) LogArtifact(ctx context.Context, runID, localPath, artifactPath string) error {
	artifactPath = strings.Trim(filepath.ToSlash(artifactPath), "/")
	if err := checkArtifactPath(artifactPath, true); err != nil {
		return err
	}
	fi, err := os.Stat(localPath)
	if err != nil {
		return err
	}
	root, err := c.RunArtifactRoot(ctx, runID)
	if err != nil {
		return err
	}
	dest := path.Join(root, artifactPath)
	if !fi.IsDir() {
		return c.uploadFile(ctx, localPath, path.Join(dest, filepath.Base(localPath)))
	}
	return filepath.WalkDir(localPath, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		if d.Type()&fs.ModeSymlink != 0 {
			st, err := os.Stat(p)
			if err != nil || !st.Mode().IsRegular() {
				return nil
			}
		} else if !d.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(localPath, p)
		if err != nil {
			return err
		}
		return c.uploadFile(ctx, p, path.Join(dest, filepath.ToSlash(rel)))
	})
}

func (c *Client) uploadFile(ctx context.Context, local, artifactPath string) error {
	f, err := os.Open(local)
	if err != nil {
		return err
	}
	defer f.Close()
	return c.UploadArtifact(ctx, artifactPath, f)
}

// checkArtifactPath refuses what would leave the folder a caller meant:
// absolute paths, "..", and empty segments. The server confines paths to its
// artifact root anyway; this keeps a run's uploads inside the run.
func checkArtifactPath(p string, allowEmpty bool) error {
	if p == "" {
		if allowEmpty {
			return nil
		}
		return errors.New("artifact path is empty")
	}
	if strings.HasPrefix(p, "/") || strings.Contains(p, `\`) {
		return fmt.Errorf("artifact path %q must be relative, with / between folders", p)
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return fmt.Errorf("artifact path %q has an empty, . or .. segment", p)
		}
	}
	return nil
}

// sizeOf returns how many bytes r will yield, or -1 when it cannot tell.
func sizeOf(r io.Reader) int64 {
	switch v := r.(type) {
	case interface{ Len() int }:
		return int64(v.Len())
	case *os.File:
		fi, err := v.Stat()
		if err != nil || !fi.Mode().IsRegular() {
			return -1
		}
		off, err := v.Seek(0, io.SeekCurrent)
		if err != nil || off > fi.Size() {
			return -1
		}
		return fi.Size() - off
	}
	return -1
}

// newRequest builds a request to the server with the client's credentials.
func (c *Client) newRequest(ctx context.Context, method, p string, q url.Values, body io.Reader) (*http.Request, error) {
	u := *c.base
	u.Path = c.base.Path + p
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, fmt.Errorf("building request: %w", err)
	}
	req.Header.Set("User-Agent", c.agent)
	c.authorize(req)
	return req, nil
}

// streamHTTP is the client's HTTP client without its whole-request
// timeout, which a big upload or download would outlive; the request's
// context bounds it instead.
func (c *Client) streamHTTP() *http.Client {
	h := *c.http
	h.Timeout = 0
	return &h
}
