package httpapi

import (
	"cmp"
	"context"
	"errors"
	"io"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/mlcycle/mlcycle/internal/blob"
	"github.com/mlcycle/mlcycle/internal/errs"
)

// MLflow's artifact routes, checked against its server (handlers.py) and
// client (http_artifact_repo.py, mlflow_artifacts_repo.py):
//
//   - the proxy, under /api/2.0/mlflow-artifacts and /ajax-api/2.0/mlflow-artifacts:
//     PUT, GET and DELETE artifacts/<path>, GET artifacts?path=<dir>, and the
//     multipart and presigned routes, which answer 501 NOT_IMPLEMENTED with
//     the message MLflow's client looks for before it falls back to one PUT;
//   - run artifacts by run id: GET artifacts/list under both MLflow prefixes,
//     and GET /get-artifact; a model version's: GET /model-versions/get-artifact;
//   - an MLflow 3 logged model's, by model id, under both MLflow prefixes:
//     GET logged-models/<id>/artifacts/directories (the ListLoggedModelArtifacts
//     RPC) and GET logged-models/<id>/artifacts/files, the download its UI
//     uses (MLflow serves that one under /ajax-api only; both do no harm).
//
// Every client-supplied artifact path goes through blob.CleanPath or
// blob.Join before it reaches the store, and run and model roots come only
// from mlflow-artifacts:/<path> URIs. Bodies stream both ways: an upload goes
// straight into blob.Store.Put, which stores it atomically.

// RunArtifactResolver finds where a run's artifacts live. The tracking
// service implements it.
type RunArtifactResolver interface {
	// RunArtifactURI returns the run's artifact_uri, such as
	// "mlflow-artifacts:/1/<run id>/artifacts", or an errs.NotFound error.
	RunArtifactURI(ctx context.Context, runID string) (string, error)
}

// ModelVersionArtifactResolver finds where a model version's files live.
// The registry service implements it.
type ModelVersionArtifactResolver interface {
	// ModelVersionArtifactURI returns the version's storage location, an
	// mlflow-artifacts:/<path> URI, or an errs.NotFound error.
	ModelVersionArtifactURI(ctx context.Context, name, version string) (string, error)
}

// LoggedModelArtifactResolver finds where a logged model's artifacts live.
// The tracking service implements it.
type LoggedModelArtifactResolver interface {
	// LoggedModelArtifactURI returns the model's artifact_location, such as
	// "mlflow-artifacts:/1/models/<id>/artifacts", or an errs.NotFound error.
	LoggedModelArtifactURI(ctx context.Context, id string) (string, error)
}

// artifactDeps is what the artifact routes need from Deps.
type artifactDeps struct {
	store        *blob.Store
	runs         RunArtifactResolver
	models       ModelVersionArtifactResolver
	loggedModels LoggedModelArtifactResolver
	// maxBytes bounds one upload; zero means no limit.
	maxBytes int64
}

func artifactDepsOf(d Deps) artifactDeps {
	return artifactDeps{store: d.Artifacts, runs: d.RunArtifacts, models: d.ModelArtifacts,
		loggedModels: d.LoggedModelArtifacts, maxBytes: d.MaxArtifactBytes}
}

// artifactProxyPrefixes are the roots of MLflow's artifact proxy routes.
var artifactProxyPrefixes = [...]string{"/api/2.0/mlflow-artifacts", "/ajax-api/2.0/mlflow-artifacts"}

// artifactScheme is the only artifact URI scheme this server serves.
const artifactScheme = "mlflow-artifacts:"

// The messages of MLflow's _UnsupportedMultipart*Exception. Its client
// matches the upload one by prefix to fall back to a single PUT.
const (
	multipartUploadUnsupported   = "Multipart upload is not supported for the current artifact repository"
	multipartDownloadUnsupported = "Multipart download is not supported for the current artifact repository"
)

// registerMLflowArtifacts registers the MLflow artifacts routes.
func (a *API) registerMLflowArtifacts() {
	uploadLimit := withBodyLimit(-1) // Put streams; nothing is buffered
	if a.art.maxBytes > 0 {
		uploadLimit = withBodyLimit(a.art.maxBytes)
	}
	for _, p := range artifactProxyPrefixes {
		a.handle("PUT", p+"/artifacts/{path...}", RoleEditor, a.uploadArtifact, uploadLimit)
		a.handleRaw("GET", p+"/artifacts/{path...}", RoleViewer, a.downloadArtifact)
		a.handle("DELETE", p+"/artifacts/{path...}", RoleEditor, a.deleteArtifact)
		a.handle("GET", p+"/artifacts", RoleViewer, a.listArtifacts)
		for _, op := range []string{"create", "complete", "abort"} {
			a.handleRaw("POST", p+"/mpu/"+op+"/{path...}", RoleEditor, a.multipartUnsupported(multipartUploadUnsupported))
		}
		a.handleRaw("GET", p+"/presigned/{path...}", RoleViewer, a.multipartUnsupported(multipartDownloadUnsupported))
	}
	a.mlflow("GET", "/artifacts/list", RoleViewer, a.listRunArtifacts)
	a.mlflow("GET", "/logged-models/{model_id}/artifacts/directories", RoleViewer, a.listLoggedModelArtifacts)
	a.mlflowRaw("GET", "/logged-models/{model_id}/artifacts/files", RoleViewer, a.getLoggedModelArtifact)
	// MLflow serves these two outside its API prefixes; its UI calls them.
	a.handleRaw("GET", "/get-artifact", RoleViewer, a.getRunArtifact)
	a.handleRaw("GET", "/model-versions/get-artifact", RoleViewer, a.getModelVersionArtifact)
}

// artifactFile is MLflow's FileInfo.
type artifactFile struct {
	Path     string `json:"path"`
	IsDir    bool   `json:"is_dir"`
	FileSize *int64 `json:"file_size,omitempty"` // unset for folders
}

func fileOf(info blob.Info, name string) artifactFile {
	f := artifactFile{Path: name, IsDir: info.IsDir}
	if !info.IsDir {
		size := info.Size
		f.FileSize = &size
	}
	return f
}

// artifactStore returns the store, or the error for a server without one.
func (a *API) artifactStore() (*blob.Store, error) {
	if a.art.store == nil {
		return nil, errs.E(errs.Unavailable, "this server has no artifact store")
	}
	return a.art.store, nil
}

// urlArtifactPath is the {path...} wildcard, which the mux has unescaped
// exactly once, confined by CleanPath. Anything still encoded keeps its '%'
// and is refused.
func urlArtifactPath(r *http.Request) (string, error) {
	key, err := blob.CleanPath(r.PathValue("path"), false)
	if err != nil {
		return "", errs.Wrap(errs.Invalid, err, "artifact path in the URL: %v", err)
	}
	return key, nil
}

// queryArtifactPath cleans p, the value of the query parameter named param;
// "" is the root when allowEmpty is set.
func queryArtifactPath(param, p string, allowEmpty bool) (string, error) {
	if p == "" && !allowEmpty {
		return "", errs.E(errs.Invalid, "missing value for required parameter '%s'", param)
	}
	clean, err := blob.CleanPath(p, allowEmpty)
	if err != nil {
		return "", errs.Wrap(errs.Invalid, err, "parameter '%s': %v", param, err)
	}
	return clean, nil
}

// uploadArtifact streams the body into the store. Put is atomic: a failed or
// interrupted upload leaves the previous object, or none.
func (a *API) uploadArtifact(r *http.Request) (any, error) {
	st, err := a.artifactStore()
	if err != nil {
		return nil, err
	}
	key, err := urlArtifactPath(r)
	if err != nil {
		return nil, err
	}
	if _, err := st.Put(r.Context(), key, r.Body); err != nil {
		return nil, artifactError(err, key)
	}
	return struct{}{}, nil
}

func (a *API) downloadArtifact(w http.ResponseWriter, r *http.Request) {
	st, err := a.artifactStore()
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	key, err := urlArtifactPath(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	a.serveArtifact(w, r, st, key, key)
}

// deleteArtifact removes a file or a whole folder, as MLflow does. Deleting
// what is not there succeeds, so a retried delete does not fail.
func (a *API) deleteArtifact(r *http.Request) (any, error) {
	st, err := a.artifactStore()
	if err != nil {
		return nil, err
	}
	key, err := urlArtifactPath(r)
	if err != nil {
		return nil, err
	}
	// Both: on object stores "a" and "a/..." can coexist.
	if err := st.DeletePrefix(r.Context(), key); err != nil {
		return nil, artifactError(err, key)
	}
	if err := st.Delete(r.Context(), key); err != nil && !errors.Is(err, blob.ErrNotFound) {
		return nil, artifactError(err, key)
	}
	return struct{}{}, nil
}

type listArtifactsResponse struct {
	Files []artifactFile `json:"files"`
}

// listArtifacts lists a folder of the store; paths are relative to it.
func (a *API) listArtifacts(r *http.Request) (any, error) {
	st, err := a.artifactStore()
	if err != nil {
		return nil, err
	}
	q, err := strictQuery(r)
	if err != nil {
		return nil, err
	}
	dir, err := queryArtifactPath("path", q.Get("path"), true)
	if err != nil {
		return nil, err
	}
	infos, err := st.List(r.Context(), dir)
	if err != nil {
		return nil, artifactError(err, dir)
	}
	files := make([]artifactFile, 0, len(infos))
	for _, info := range infos {
		files = append(files, fileOf(info, path.Base(info.Key)))
	}
	return listArtifactsResponse{Files: files}, nil
}

// rootedListResponse answers MLflow's ListArtifacts (by run) and
// ListLoggedModelArtifacts: paths relative to root_uri. next_page_token is
// never set: a folder is one page.
type rootedListResponse struct {
	RootURI string         `json:"root_uri"`
	Files   []artifactFile `json:"files"`
}

// listRunArtifacts lists a folder of a run's artifacts; paths are relative
// to the run's artifact root, as MLflow's are. Query parameters: run_id (or
// the older run_uuid), path, and page_token, which is ignored: the whole
// folder is one page.
func (a *API) listRunArtifacts(r *http.Request) (any, error) {
	q, err := strictQuery(r)
	if err != nil {
		return nil, err
	}
	st, err := a.artifactStore()
	if err != nil {
		return nil, err
	}
	rel, err := queryArtifactPath("path", q.Get("path"), true)
	if err != nil {
		return nil, err
	}
	uri, root, err := a.runArtifactRoot(r.Context(), cmp.Or(q.Get("run_id"), q.Get("run_uuid")))
	if err != nil {
		return nil, err
	}
	files, err := listUnder(r.Context(), st, root, "path", rel)
	if err != nil {
		return nil, err
	}
	return rootedListResponse{RootURI: uri, Files: files}, nil
}

// listUnder lists the folder rel (clean, "" for the root) under the store
// key root; paths come back relative to root, as MLflow's do. param names
// the query parameter rel came from, for messages.
func listUnder(ctx context.Context, st *blob.Store, root, param, rel string) ([]artifactFile, error) {
	dir, err := blob.Join(root, rel)
	if err != nil {
		return nil, errs.Wrap(errs.Invalid, err, "parameter '%s': %v", param, err)
	}
	infos, err := st.List(ctx, dir)
	if err != nil {
		return nil, artifactError(err, rel)
	}
	files := make([]artifactFile, 0, len(infos))
	for _, info := range infos {
		name := path.Base(info.Key)
		if rel != "" {
			name = rel + "/" + name
		}
		files = append(files, fileOf(info, name))
	}
	return files, nil
}

// getRunArtifact streams one file of a run's artifacts.
func (a *API) getRunArtifact(w http.ResponseWriter, r *http.Request) {
	q, err := strictQuery(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	st, key, rel, err := a.resolveArtifact("path", q.Get("path"), func() (string, error) {
		_, root, err := a.runArtifactRoot(r.Context(), cmp.Or(q.Get("run_id"), q.Get("run_uuid")))
		return root, err
	})
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	a.serveArtifact(w, r, st, key, rel)
}

// getModelVersionArtifact streams one file of a model version.
func (a *API) getModelVersionArtifact(w http.ResponseWriter, r *http.Request) {
	q, err := strictQuery(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	st, key, rel, err := a.resolveArtifact("path", q.Get("path"), func() (string, error) {
		return a.modelVersionArtifactRoot(r.Context(), q.Get("name"), q.Get("version"))
	})
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	a.serveArtifact(w, r, st, key, rel)
}

// resolveArtifact checks the client's path p, from the query parameter
// param, before asking root for the artifact root, so a hostile path fails
// the same way whatever it names, and returns the object's key and the
// cleaned relative path.
func (a *API) resolveArtifact(param, p string, root func() (string, error)) (st *blob.Store, key, rel string, err error) {
	if st, err = a.artifactStore(); err != nil {
		return nil, "", "", err
	}
	if rel, err = queryArtifactPath(param, p, false); err != nil {
		return nil, "", "", err
	}
	base, err := root()
	if err != nil {
		return nil, "", "", err
	}
	if key, err = blob.Join(base, rel); err != nil {
		return nil, "", "", errs.Wrap(errs.Invalid, err, "parameter '%s': %v", param, err)
	}
	return st, key, rel, nil
}

// listLoggedModelArtifacts lists a folder of a logged model's artifacts,
// paths relative to the model's artifact root. Query parameters:
// artifact_directory_path (the root when unset) and page_token, which is
// ignored: the whole folder is one page.
func (a *API) listLoggedModelArtifacts(r *http.Request) (any, error) {
	q, err := strictQuery(r)
	if err != nil {
		return nil, err
	}
	st, err := a.artifactStore()
	if err != nil {
		return nil, err
	}
	const param = "artifact_directory_path"
	rel, err := queryArtifactPath(param, q.Get(param), true)
	if err != nil {
		return nil, err
	}
	uri, root, err := a.loggedModelArtifactRoot(r.Context(), r.PathValue("model_id"))
	if err != nil {
		return nil, err
	}
	files, err := listUnder(r.Context(), st, root, param, rel)
	if err != nil {
		return nil, err
	}
	return rootedListResponse{RootURI: uri, Files: files}, nil
}

// getLoggedModelArtifact streams one file of a logged model, named by the
// artifact_file_path query parameter.
func (a *API) getLoggedModelArtifact(w http.ResponseWriter, r *http.Request) {
	q, err := strictQuery(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	st, key, rel, err := a.resolveArtifact("artifact_file_path", q.Get("artifact_file_path"), func() (string, error) {
		_, root, err := a.loggedModelArtifactRoot(r.Context(), r.PathValue("model_id"))
		return root, err
	})
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	a.serveArtifact(w, r, st, key, rel)
}

// loggedModelArtifactRoot returns a logged model's artifact URI and the
// store key it maps to. The id only selects a row; the key comes from the
// stored URI, through artifactRootKey.
func (a *API) loggedModelArtifactRoot(ctx context.Context, id string) (uri, key string, err error) {
	if id == "" {
		return "", "", errs.E(errs.Invalid, "missing value for required parameter 'model_id'")
	}
	if a.art.loggedModels == nil {
		return "", "", errs.E(errs.NotFound, "logged model %s not found", clipPath(id))
	}
	if uri, err = a.art.loggedModels.LoggedModelArtifactURI(ctx, id); err != nil {
		return "", "", err
	}
	if key, err = artifactRootKey(uri); err != nil {
		return "", "", err
	}
	return uri, key, nil
}

// runArtifactRoot returns a run's artifact URI and the store key it maps to.
func (a *API) runArtifactRoot(ctx context.Context, runID string) (uri, key string, err error) {
	if runID == "" {
		return "", "", errs.E(errs.Invalid, "missing value for required parameter 'run_id'")
	}
	if a.art.runs == nil {
		return "", "", errs.E(errs.NotFound, "run %s not found", runID)
	}
	if uri, err = a.art.runs.RunArtifactURI(ctx, runID); err != nil {
		return "", "", err
	}
	if key, err = artifactRootKey(uri); err != nil {
		return "", "", err
	}
	return uri, key, nil
}

// modelVersionArtifactRoot returns the store key of a model version's files.
func (a *API) modelVersionArtifactRoot(ctx context.Context, name, version string) (string, error) {
	switch {
	case name == "":
		return "", errs.E(errs.Invalid, "missing value for required parameter 'name'")
	case version == "":
		return "", errs.E(errs.Invalid, "missing value for required parameter 'version'")
	case a.art.models == nil:
		return "", errs.E(errs.NotFound, "model version (name=%s, version=%s) not found", name, version)
	}
	uri, err := a.art.models.ModelVersionArtifactURI(ctx, name, version)
	if err != nil {
		return "", err
	}
	return artifactRootKey(uri)
}

// artifactRootKey maps "mlflow-artifacts:/x/y" to the store key "x/y". Other
// URIs (other schemes, a host part, an empty or unclean path) are refused:
// this server reads and writes only its own store.
func artifactRootKey(uri string) (string, error) {
	rest, ok := strings.CutPrefix(uri, artifactScheme)
	if !ok || !strings.HasPrefix(rest, "/") || strings.HasPrefix(rest, "//") {
		return "", errs.E(errs.Invalid, "artifact location %q is not served by this server; it serves only %s/<path> locations", clipPath(uri), artifactScheme)
	}
	key, err := blob.CleanPath(rest[1:], false)
	if err != nil {
		return "", errs.Wrap(errs.Invalid, err, "artifact location %q: %v", clipPath(uri), err)
	}
	return key, nil
}

// serveArtifact streams the object key; name is the path the client asked
// for, used in messages and as the file name. Range and conditional requests
// work because the store's reader can seek.
func (a *API) serveArtifact(w http.ResponseWriter, r *http.Request, st *blob.Store, key, name string) {
	rc, size, err := st.Get(r.Context(), key)
	if err != nil {
		if errors.Is(err, blob.ErrNotFound) {
			if info, serr := st.Stat(r.Context(), key); serr == nil && info.IsDir {
				err = errs.E(errs.Invalid, "artifact path %q is a folder, not a file", clipPath(name))
			}
		}
		a.writeError(w, r, artifactError(err, name))
		return
	}
	defer rc.Close()

	h := w.Header()
	ctype, inline := artifactContentType(key)
	h.Set("Content-Type", ctype)
	h.Set("X-Content-Type-Options", "nosniff")
	// Should a browser open an artifact as a page, it runs no script and
	// loads nothing: artifacts are user content on the server's origin.
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	h.Set("Cache-Control", "private, no-cache")
	h.Set("Content-Disposition", contentDisposition(inline, path.Base(key)))

	if rs, ok := rc.(io.ReadSeeker); ok {
		var mod time.Time
		if m, ok := rc.(interface{ ModTime() time.Time }); ok {
			mod = m.ModTime()
		}
		http.ServeContent(w, r, "", mod, rs)
		return
	}
	h.Set("Content-Length", strconv.FormatInt(size, 10))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	if _, err := io.Copy(w, rc); err != nil {
		a.log.InfoContext(r.Context(), "artifact download cut short", "key", key, "err", err,
			"request_id", stateOf(r).id)
	}
}

// multipartUnsupported answers MLflow's multipart and presigned routes the way
// MLflow does when its artifact repository lacks them, after checking the
// path as MLflow also does first.
func (a *API) multipartUnsupported(msg string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if _, err := urlArtifactPath(r); err != nil {
			a.writeError(w, r, err)
			return
		}
		writeErrorBody(w, http.StatusNotImplemented, "NOT_IMPLEMENTED", msg)
	}
}

// artifactError gives store errors a kind; name is the path the client used.
func artifactError(err error, name string) error {
	var (
		mbe *http.MaxBytesError
		e   *errs.Error
	)
	switch {
	case errors.As(err, &e):
		return err
	case errors.Is(err, blob.ErrInvalidPath):
		return errs.Wrap(errs.Invalid, err, "%v", err)
	case errors.Is(err, blob.ErrNotFound):
		return errs.Wrap(errs.NotFound, err, "artifact %q not found", clipPath(name))
	case errors.As(err, &mbe):
		return errs.Wrap(errs.TooLarge, err, "artifact is larger than the limit of %d bytes", mbe.Limit)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errs.Wrap(errs.Invalid, err, "the upload of %q ended before its declared length", clipPath(name))
	case errors.Is(err, syscall.ENOTDIR), errors.Is(err, syscall.EISDIR), errors.Is(err, syscall.EEXIST):
		// The file store cannot hold a file and a folder of one name.
		return errs.Wrap(errs.Conflict, err, "artifact path %q conflicts with an existing file or folder", clipPath(name))
	}
	return err
}

// textArtifactExts are the names MLflow serves as text/plain: extensions,
// and whole names for files without one (MLmodel, MLproject). Lower case.
var textArtifactExts = map[string]bool{
	"txt": true, "log": true, "err": true, "cfg": true, "conf": true, "cnf": true, "cf": true,
	"ini": true, "properties": true, "prop": true, "hocon": true, "toml": true, "yaml": true,
	"yml": true, "xml": true, "json": true, "js": true, "py": true, "py3": true, "csv": true,
	"tsv": true, "md": true, "rst": true, "ipynb": true, "mlmodel": true, "mlproject": true,
}

// artifactTypes maps other extensions to a type and whether a browser may
// show the file inline. Types that can carry script (HTML, SVG) and
// documents (PDF) are always downloaded.
var artifactTypes = map[string]struct {
	ctype  string
	inline bool
}{
	"png":  {"image/png", true},
	"jpg":  {"image/jpeg", true},
	"jpeg": {"image/jpeg", true},
	"gif":  {"image/gif", true},
	"webp": {"image/webp", true},
	"bmp":  {"image/bmp", true},
	"ico":  {"image/x-icon", true},
	"tif":  {"image/tiff", true},
	"tiff": {"image/tiff", true},
	"svg":  {"image/svg+xml", false},
	"html": {"text/html; charset=utf-8", false},
	"htm":  {"text/html; charset=utf-8", false},
	"pdf":  {"application/pdf", false},
}

// artifactContentType chooses a download's type by the file name alone
// (never by sniffing the bytes), and whether it may be shown inline.
func artifactContentType(key string) (ctype string, inline bool) {
	base := path.Base(key)
	ext := strings.ToLower(strings.TrimPrefix(path.Ext(base), "."))
	if ext == "" {
		ext = strings.ToLower(base)
	}
	if textArtifactExts[ext] {
		return "text/plain; charset=utf-8", true
	}
	if t, ok := artifactTypes[ext]; ok {
		return t.ctype, t.inline
	}
	return "application/octet-stream", false
}

// contentDisposition names the file; non-ASCII names travel RFC 2231 encoded.
func contentDisposition(inline bool, filename string) string {
	disp := "attachment"
	if inline {
		disp = "inline"
	}
	if v := mime.FormatMediaType(disp, map[string]string{"filename": filename}); v != "" {
		return v
	}
	return disp
}

// clipPath bounds a client value quoted in a message.
func clipPath(s string) string {
	const show = 200
	if len(s) <= show {
		return s
	}
	return s[:show] + "..."
}

// refuseArtifactDotSegments answers 400 for an artifact URL with ".", ".."
// or empty segments. The mux would redirect it to the cleaned path with a
// 307, which keeps method and body: "a/../../b" would quietly become another
// artifact, and "artifacts//etc/passwd" a relative one. A client sending
// such a path is confused or hostile, and is told so instead. It runs before
// the mux; the handlers check each path again with CleanPath.
func (a *API) refuseArtifactDotSegments(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.EscapedPath()
		if r.Method != http.MethodConnect && underArtifactURLRoot(p) && !canonicalURLPath(p) {
			a.writeError(w, r, errs.E(errs.Invalid,
				"artifact URL path %q has empty, \".\" or \"..\" segments; send a clean relative artifact path", clipPath(p)))
			return
		}
		next.ServeHTTP(w, r)
	})
}

func underArtifactURLRoot(p string) bool {
	for _, root := range artifactProxyPrefixes {
		if strings.HasPrefix(p, root+"/") {
			return true
		}
	}
	return false
}

// canonicalURLPath reports whether p (absolute) has no ".", ".." or empty
// segment but for a trailing slash: whether the mux would serve it as is.
func canonicalURLPath(p string) bool {
	segs := strings.Split(strings.TrimPrefix(p, "/"), "/")
	for i, s := range segs {
		if s == "." || s == ".." || s == "" && i < len(segs)-1 {
			return false
		}
	}
	return true
}
