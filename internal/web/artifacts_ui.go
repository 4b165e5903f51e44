package web

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mlcycle/mlcycle/internal/blob"
	"github.com/mlcycle/mlcycle/internal/errs"
	"github.com/mlcycle/mlcycle/internal/tracking"
)

// The artifact browser. Every path from a request is a query parameter (so
// no URL layer cleans or decodes it on the way) and goes through
// blob.CleanPath and blob.Join under the run's artifact root before it
// reaches the store. Artifacts are user content on the server's origin: text
// is shown escaped, images only through <img> from a sandboxed route, and
// nothing else (SVG and HTML included) is ever rendered, only downloaded.

const (
	maxPreviewBytes = 1 << 20 // text shown on the page
	maxPreviewLines = 200     // of a CSV file
)

// previewTextExts are the files shown as text: extensions, or whole names of
// files without one. Lower case.
var previewTextExts = map[string]bool{
	"txt": true, "json": true, "yaml": true, "yml": true, "csv": true, "tsv": true, "md": true,
	"py": true, "log": true, "toml": true, "ini": true, "cfg": true, "mlmodel": true, "mlproject": true,
}

// imageTypes are the images shown inline, by extension. SVG is not one: it
// can carry script.
var imageTypes = map[string]string{
	"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "gif": "image/gif", "webp": "image/webp",
}

// artifactKind says how the browser shows a file: "text", "image" or
// "download", and the Content-Type it is served with.
func artifactKind(name string) (kind, ctype string) {
	base := path.Base(name)
	ext := strings.ToLower(strings.TrimPrefix(path.Ext(base), "."))
	if ext == "" {
		ext = strings.ToLower(base)
	}
	if previewTextExts[ext] {
		return "text", "text/plain; charset=utf-8"
	}
	if t, ok := imageTypes[ext]; ok {
		return "image", t
	}
	if ext == "svg" {
		return "download", "image/svg+xml"
	}
	return "download", "application/octet-stream"
}

type artifactListing struct {
	Entries []artifactEntry
}

type artifactEntry struct {
	Name, Path, URL string
	IsDir           bool
	Size            string
}

type artifactCrumb struct{ Name, URL string }

type artifactsView struct {
	RunID, RunName, RunURL string
	Path                   string
	Crumbs                 []artifactCrumb
	Listing                *artifactListing // a folder
	File                   *artifactFileView
}

type artifactFileView struct {
	Name, Size  string
	Kind        string // text, image or download
	Text        string
	Note        string // why the text is cut short, if it is
	RawURL      string
	DownloadURL string
}

// artifactRootKey maps a run's "mlflow-artifacts:/x/y" URI to the store key
// "x/y". Runs get such URIs from the tracking service; anything else is
// refused rather than followed.
func artifactRootKey(uri string) (string, error) {
	rest, ok := strings.CutPrefix(uri, tracking.ArtifactScheme)
	if !ok || !strings.HasPrefix(rest, "/") || strings.HasPrefix(rest, "//") {
		return "", errs.E(errs.Invalid, "the run's artifact location %q is not in this server's artifact store", uri)
	}
	key, err := blob.CleanPath(rest[1:], false)
	if err != nil {
		return "", errs.Wrap(errs.Invalid, err, "the run's artifact location %q: %v", uri, err)
	}
	return key, nil
}

// artifactKey confines a requested path to the run's artifacts and returns
// the store key and the clean relative path.
func artifactKey(in tracking.RunInfo, p string, allowEmpty bool) (key, rel string, err error) {
	root, err := artifactRootKey(in.ArtifactURI)
	if err != nil {
		return "", "", err
	}
	rel, err = blob.CleanPath(p, allowEmpty)
	if err != nil {
		return "", "", errs.Wrap(errs.Invalid, err, "invalid artifact path: %v", err)
	}
	key, err = blob.Join(root, rel)
	if err != nil {
		return "", "", errs.Wrap(errs.Invalid, err, "invalid artifact path: %v", err)
	}
	return key, rel, nil
}

func artifactsURL(runID, rel string) string {
	u := runURL(runID) + "/artifacts"
	if rel != "" {
		u += "?path=" + url.QueryEscape(rel)
	}
	return u
}

func artifactRawURL(runID, rel string, download bool) string {
	u := runURL(runID) + "/artifact?path=" + url.QueryEscape(rel)
	if download {
		u += "&download=1"
	}
	return u
}

// listArtifacts lists the folder rel of a run's artifacts, folders first.
func (u *UI) listArtifacts(ctx context.Context, in tracking.RunInfo, rel string) (artifactListing, error) {
	key, rel, err := artifactKey(in, rel, true)
	if err != nil {
		return artifactListing{}, err
	}
	infos, err := u.blobs.List(ctx, key)
	if err != nil {
		return artifactListing{}, artifactErr(err, rel)
	}
	var l artifactListing
	var files []artifactEntry
	for _, info := range infos {
		name := path.Base(info.Key)
		p := name
		if rel != "" {
			p = rel + "/" + name
		}
		e := artifactEntry{Name: name, Path: p, IsDir: info.IsDir}
		if info.IsDir {
			e.URL = artifactsURL(in.RunID, p)
			l.Entries = append(l.Entries, e)
			continue
		}
		e.URL, e.Size = artifactsURL(in.RunID, p), fmtBytes(info.Size)
		files = append(files, e)
	}
	l.Entries = append(l.Entries, files...)
	return l, nil
}

// artifactErr gives store errors a kind; rel is the path asked for.
func artifactErr(err error, rel string) error {
	switch {
	case errors.Is(err, blob.ErrInvalidPath):
		return errs.Wrap(errs.Invalid, err, "invalid artifact path: %v", err)
	case errors.Is(err, blob.ErrNotFound):
		return errs.Wrap(errs.NotFound, err, "no artifact %q in this run", rel)
	}
	return fmt.Errorf("reading artifact %q: %w", rel, err)
}

// artifactsPage browses a run's artifacts: a folder's entries, or a file's
// preview.
func (u *UI) artifactsPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	run, err := u.tracking.GetRun(ctx, r.PathValue("id"))
	if err != nil {
		u.renderError(w, r, "/experiments", err)
		return
	}
	in := run.Info
	key, rel, err := artifactKey(in, r.URL.Query().Get("path"), true)
	if err != nil {
		u.renderError(w, r, "/experiments", err)
		return
	}
	v := artifactsView{RunID: in.RunID, RunName: cmp.Or(in.RunName, in.RunID), RunURL: runURL(in.RunID), Path: rel}
	v.Crumbs = append(v.Crumbs, artifactCrumb{"artifacts", artifactsURL(in.RunID, "")})
	if rel != "" {
		segs := strings.Split(rel, "/")
		for i, s := range segs {
			v.Crumbs = append(v.Crumbs, artifactCrumb{s, artifactsURL(in.RunID, strings.Join(segs[:i+1], "/"))})
		}
	}

	isDir := rel == ""
	var info blob.Info
	if !isDir {
		if info, err = u.blobs.Stat(ctx, key); err != nil {
			u.renderError(w, r, "/experiments", artifactErr(err, rel))
			return
		}
		isDir = info.IsDir
	}
	if isDir {
		l, err := u.listArtifacts(ctx, in, rel)
		if err != nil {
			u.renderError(w, r, "/experiments", err)
			return
		}
		v.Listing = &l
	} else {
		f, err := u.previewArtifact(ctx, in.RunID, key, rel, info.Size)
		if err != nil {
			u.renderError(w, r, "/experiments", err)
			return
		}
		v.File = &f
	}
	title := "Artifacts · " + v.RunName
	u.render(w, r, http.StatusOK, "artifacts.html", u.newPage(w, r, title, "/experiments", v))
}

// previewArtifact reads what the page shows of a file: the start of a text
// file, or links for the rest.
func (u *UI) previewArtifact(ctx context.Context, runID, key, rel string, size int64) (artifactFileView, error) {
	kind, _ := artifactKind(rel)
	f := artifactFileView{Name: path.Base(rel), Size: fmtBytes(size), Kind: kind,
		RawURL: artifactRawURL(runID, rel, false), DownloadURL: artifactRawURL(runID, rel, true)}
	if kind != "text" {
		return f, nil
	}
	rc, _, err := u.blobs.Get(ctx, key)
	if err != nil {
		return f, artifactErr(err, rel)
	}
	defer rc.Close()
	text, note, err := readPreview(rc, strings.EqualFold(path.Ext(rel), ".csv"))
	if err != nil {
		return f, artifactErr(err, rel)
	}
	f.Text, f.Note = text, note
	return f, nil
}

// readPreview reads at most maxPreviewBytes, and for CSV at most
// maxPreviewLines lines, as valid UTF-8. note says what was left out.
func readPreview(r io.Reader, csv bool) (text, note string, err error) {
	br := bufio.NewReader(io.LimitReader(r, maxPreviewBytes+1))
	var b strings.Builder
	lines := 0
	for {
		line, err := br.ReadString('\n')
		b.WriteString(line)
		if line != "" {
			lines++
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", "", err
		}
		if csv && lines == maxPreviewLines {
			if _, err := br.Peek(1); err == nil {
				note = "Showing the first " + strconv.Itoa(maxPreviewLines) + " lines."
			}
			break
		}
	}
	text = b.String()
	if len(text) > maxPreviewBytes {
		text = text[:maxPreviewBytes]
		// Do not end on half a character.
		i := len(text) - 1
		for i > 0 && i > len(text)-utf8.UTFMax && !utf8.RuneStart(text[i]) {
			i--
		}
		if !utf8.FullRuneInString(text[i:]) {
			text = text[:i]
		}
		note = "Showing the first 1 MiB."
	}
	return strings.ToValidUTF8(text, "\uFFFD"), note, nil
}

// artifactFile streams one artifact: images and text inline (for <img> and
// the raw view), everything else as a download. The response may not run
// script or load anything, whatever the file holds.
func (u *UI) artifactFile(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	fail := func(status int, msg string) {
		w.Header().Set("Content-Security-Policy", "default-src 'none'; sandbox")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		http.Error(w, msg, status)
	}
	run, err := u.tracking.GetRun(ctx, r.PathValue("id"))
	if err != nil {
		if errs.CodeOf(err) == errs.NotFound || errs.CodeOf(err) == errs.Invalid {
			fail(http.StatusNotFound, errs.MessageOf(err))
			return
		}
		u.log.ErrorContext(ctx, "reading run for an artifact", "err", err)
		fail(http.StatusInternalServerError, "internal error")
		return
	}
	key, rel, err := artifactKey(run.Info, r.URL.Query().Get("path"), false)
	if err != nil {
		fail(http.StatusBadRequest, errs.MessageOf(err))
		return
	}
	rc, size, err := u.blobs.Get(ctx, key)
	if err != nil {
		err = artifactErr(err, rel)
		switch errs.CodeOf(err) {
		case errs.NotFound:
			fail(http.StatusNotFound, errs.MessageOf(err))
		case errs.Invalid:
			fail(http.StatusBadRequest, errs.MessageOf(err))
		default:
			u.log.ErrorContext(ctx, "reading artifact", "key", key, "err", err)
			fail(http.StatusInternalServerError, "internal error")
		}
		return
	}
	defer rc.Close()

	kind, ctype := artifactKind(rel)
	disp := "attachment"
	if kind != "download" && r.URL.Query().Get("download") == "" {
		disp = "inline"
	}
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("Content-Disposition", cmp.Or(mime.FormatMediaType(disp, map[string]string{"filename": path.Base(rel)}), disp))
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "private, no-cache")
	if rs, ok := rc.(io.ReadSeeker); ok {
		http.ServeContent(w, r, "", time.Time{}, rs) // ranges for large files
		return
	}
	h.Set("Content-Length", strconv.FormatInt(size, 10))
	if r.Method == http.MethodHead {
		return
	}
	if _, err := io.Copy(w, rc); err != nil {
		u.log.InfoContext(ctx, "artifact download cut short", "key", key, "err", err)
	}
}
