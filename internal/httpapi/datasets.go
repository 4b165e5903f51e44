package httpapi

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"path"
	"strconv"
	"time"

	"github.com/mlcycle/mlcycle/internal/dataset"
	"github.com/mlcycle/mlcycle/internal/dataset/profile"
	"github.com/mlcycle/mlcycle/internal/errs"
)

// chunkBodyLimit bounds one chunk upload: the largest chunk plus slack, so
// the service (which verifies size and hash) reports an oversized chunk.
const chunkBodyLimit = dataset.ChunkMax + 1<<20

// batchBodyLimit bounds one batch upload: the most chunk bytes a batch may
// hold and a 36-byte header for each of the most chunks it may hold.
const batchBodyLimit = dataset.MaxBatchBytes + 36*dataset.MaxBatchChunks

// registerDatasets registers the /api/v1 dataset and chunk routes.
func (a *API) registerDatasets() {
	a.handle("GET", "/api/v1/datasets", RoleViewer, a.listDatasets)
	a.handle("GET", "/api/v1/datasets/diff", RoleViewer, a.diffDatasets)
	a.handle("POST", "/api/v1/datasets/gc", RoleAdmin, a.gcDatasets)
	a.handle("POST", "/api/v1/datasets/verify", RoleAdmin, a.verifyDatasets)
	a.handle("GET", "/api/v1/datasets/{ref}", RoleViewer, a.showDataset)
	a.handle("GET", "/api/v1/datasets/{ref}/runs", RoleViewer, a.datasetRuns)
	a.handleRaw("GET", "/api/v1/datasets/{ref}/files/{path...}", RoleViewer, a.getDatasetFile)
	a.handleRaw("GET", "/api/v1/datasets/{ref}/archive", RoleViewer, a.getDatasetArchive)
	a.handle("GET", "/api/v1/datasets/{name}/versions", RoleViewer, a.listDatasetVersions)
	a.handle("POST", "/api/v1/datasets/{name}/versions", RoleEditor, a.recordDatasetVersion)
	a.handle("GET", "/api/v1/datasets/{name}/versions/{version}", RoleViewer, a.showDataset)
	a.handle("DELETE", "/api/v1/datasets/{name}/versions/{version}", RoleEditor, a.removeDatasetVersion)
	a.handle("PUT", "/api/v1/datasets/{name}/tags/{tag}", RoleEditor, a.setDatasetTag)
	a.handle("DELETE", "/api/v1/datasets/{name}/tags/{tag}", RoleEditor, a.deleteDatasetTag)

	a.handle("POST", "/api/v1/chunks/missing", RoleViewer, a.missingChunks)
	a.handle("PUT", "/api/v1/chunks/{hash}", RoleEditor, a.putChunk, withBodyLimit(chunkBodyLimit))
	a.handle("POST", "/api/v1/chunks/batch", RoleEditor, a.putChunks, withBodyLimit(batchBodyLimit))
	a.handleRaw("POST", "/api/v1/chunks/fetch", RoleViewer, a.getChunks)
	a.handleRaw("GET", "/api/v1/chunks/{hash}", RoleViewer, a.getChunk)
}

func (a *API) datasetsOrErr() (*dataset.Service, error) {
	if a.datasets == nil {
		return nil, errs.E(errs.NotFound, "datasets are not enabled on this server")
	}
	return a.datasets, nil
}

// DatasetJSON is a dataset in API answers.
type DatasetJSON struct {
	Name      string `json:"name"`
	CreatedAt int64  `json:"created_at"`
	CreatedBy string `json:"created_by"`
	Versions  int64  `json:"versions"`
	Latest    int64  `json:"latest"`
	UpdatedAt int64  `json:"updated_at"`
}

// VersionJSON is a dataset version in API answers.
type VersionJSON struct {
	Dataset      string                 `json:"dataset"`
	Version      int64                  `json:"version"`
	Ref          string                 `json:"ref"`
	Source       string                 `json:"source"`
	Digest       string                 `json:"digest"`
	ManifestHash string                 `json:"manifest_hash"`
	Message      string                 `json:"message"`
	CreatedAt    int64                  `json:"created_at"`
	CreatedBy    string                 `json:"created_by"`
	FileCount    int64                  `json:"file_count"`
	TotalBytes   int64                  `json:"total_bytes"`
	Tables       []dataset.TableSummary `json:"tables"`
	Tags         []string               `json:"tags"`
	Deleted      bool                   `json:"deleted"`
}

// RunLinkJSON is a use of a dataset version by a run.
type RunLinkJSON struct {
	Dataset   string `json:"dataset"`
	Version   int64  `json:"version"`
	Ref       string `json:"ref"`
	Digest    string `json:"digest"`
	RunID     string `json:"run_id"`
	Context   string `json:"context"`
	CreatedAt int64  `json:"created_at"`
	Deleted   bool   `json:"deleted"`
}

// VersionDetailJSON is a version with its manifest and runs.
type VersionDetailJSON struct {
	VersionJSON
	Manifest dataset.Manifest `json:"manifest"`
	Runs     []RunLinkJSON    `json:"runs"`
}

// DatasetJSONOf converts a dataset for API answers.
func DatasetJSONOf(d dataset.Dataset) DatasetJSON {
	return DatasetJSON{Name: d.Name, CreatedAt: d.CreatedAt, CreatedBy: d.CreatedBy,
		Versions: d.Versions, Latest: d.Latest, UpdatedAt: d.UpdatedAt}
}

// VersionJSONOf converts a version for API answers.
func VersionJSONOf(v dataset.Version) VersionJSON {
	tables, tags := v.Tables, v.Tags
	if tables == nil {
		tables = []dataset.TableSummary{}
	}
	if tags == nil {
		tags = []string{}
	}
	return VersionJSON{Dataset: v.Dataset, Version: v.Version, Ref: v.Ref(), Source: v.Source(),
		Digest: v.Digest, ManifestHash: v.ManifestHash, Message: v.Message,
		CreatedAt: v.CreatedAt, CreatedBy: v.CreatedBy, FileCount: v.FileCount,
		TotalBytes: v.TotalBytes, Tables: tables, Tags: tags, Deleted: v.Deleted}
}

// RunLinksJSONOf converts run links for API answers (never nil).
func RunLinksJSONOf(links []dataset.RunLink) []RunLinkJSON {
	out := make([]RunLinkJSON, 0, len(links))
	for _, l := range links {
		out = append(out, RunLinkJSON{Dataset: l.Dataset, Version: l.Version,
			Ref: dataset.Ref{Name: l.Dataset, Version: l.Version}.String(), Digest: l.Digest,
			RunID: l.RunID, Context: l.Context, CreatedAt: l.CreatedAt, Deleted: l.Deleted})
	}
	return out
}

// VersionDetailJSONOf converts a version detail for API answers.
func VersionDetailJSONOf(d dataset.VersionDetail) VersionDetailJSON {
	m := d.Manifest
	if m.Files == nil {
		m.Files = []dataset.FileEntry{}
	}
	return VersionDetailJSON{VersionJSON: VersionJSONOf(d.Version), Manifest: m, Runs: RunLinksJSONOf(d.Runs)}
}

// refOf reads the version reference of a request: {ref} (name@3), or
// {name} and {version} (a number, a tag or "latest").
func refOf(r *http.Request) string {
	if ref := r.PathValue("ref"); ref != "" {
		return ref
	}
	return r.PathValue("name") + "@" + r.PathValue("version")
}

func (a *API) listDatasets(r *http.Request) (any, error) {
	s, err := a.datasetsOrErr()
	if err != nil {
		return nil, err
	}
	list, err := s.List(r.Context())
	if err != nil {
		return nil, err
	}
	out := make([]DatasetJSON, 0, len(list))
	for _, d := range list {
		out = append(out, DatasetJSONOf(d))
	}
	return map[string]any{"datasets": out}, nil
}

func (a *API) listDatasetVersions(r *http.Request) (any, error) {
	s, err := a.datasetsOrErr()
	if err != nil {
		return nil, err
	}
	vs, err := s.Versions(r.Context(), r.PathValue("name"))
	if err != nil {
		return nil, err
	}
	out := make([]VersionJSON, 0, len(vs))
	for _, v := range vs {
		out = append(out, VersionJSONOf(v))
	}
	return map[string]any{"versions": out}, nil
}

func (a *API) showDataset(r *http.Request) (any, error) {
	s, err := a.datasetsOrErr()
	if err != nil {
		return nil, err
	}
	d, err := s.Show(r.Context(), refOf(r))
	if err != nil {
		return nil, err
	}
	return VersionDetailJSONOf(d), nil
}

func (a *API) datasetRuns(r *http.Request) (any, error) {
	s, err := a.datasetsOrErr()
	if err != nil {
		return nil, err
	}
	links, err := s.RunsOf(r.Context(), refOf(r))
	if err != nil {
		return nil, err
	}
	return map[string]any{"runs": RunLinksJSONOf(links)}, nil
}

// RecordVersionRequest is the body of POST /api/v1/datasets/{name}/versions.
type RecordVersionRequest struct {
	Message  string            `json:"message"`
	Manifest *dataset.Manifest `json:"manifest"`
}

func (a *API) recordDatasetVersion(r *http.Request) (any, error) {
	s, err := a.datasetsOrErr()
	if err != nil {
		return nil, err
	}
	var req RecordVersionRequest
	if err := decodeJSON(r, &req); err != nil {
		return nil, err
	}
	if req.Manifest == nil {
		return nil, errs.E(errs.Invalid, "manifest is required")
	}
	v, err := s.RecordVersion(r.Context(), dataset.RecordInput{Name: r.PathValue("name"), Message: req.Message, Manifest: *req.Manifest})
	if err != nil {
		return nil, err
	}
	return map[string]any{"version": VersionJSONOf(v)}, nil
}

func (a *API) removeDatasetVersion(r *http.Request) (any, error) {
	s, err := a.datasetsOrErr()
	if err != nil {
		return nil, err
	}
	q, err := strictQuery(r)
	if err != nil {
		return nil, err
	}
	var opts dataset.RemoveOptions
	if f := q.Get("force"); f != "" {
		if opts.Force, err = strconv.ParseBool(f); err != nil {
			return nil, errs.E(errs.Invalid, "force=%q is not true or false", f)
		}
	}
	v, err := s.Remove(r.Context(), refOf(r), opts)
	if err != nil {
		return nil, err
	}
	return map[string]any{"version": VersionJSONOf(v)}, nil
}

// SetTagRequest is the body of PUT /api/v1/datasets/{name}/tags/{tag}:
// the version (a number, another tag or "latest") the tag moves to.
type SetTagRequest struct {
	Version string `json:"version"`
}

func (a *API) setDatasetTag(r *http.Request) (any, error) {
	s, err := a.datasetsOrErr()
	if err != nil {
		return nil, err
	}
	var req SetTagRequest
	if err := decodeJSON(r, &req); err != nil {
		return nil, err
	}
	if req.Version == "" {
		return nil, errs.E(errs.Invalid, "version is required")
	}
	v, err := s.SetTag(r.Context(), r.PathValue("name")+"@"+req.Version, r.PathValue("tag"))
	if err != nil {
		return nil, err
	}
	return map[string]any{"version": VersionJSONOf(v)}, nil
}

func (a *API) deleteDatasetTag(r *http.Request) (any, error) {
	s, err := a.datasetsOrErr()
	if err != nil {
		return nil, err
	}
	if err := s.DeleteTag(r.Context(), r.PathValue("name"), r.PathValue("tag")); err != nil {
		return nil, err
	}
	return struct{}{}, nil
}

// GCRequest is the body of POST /api/v1/datasets/gc; it may be empty.
type GCRequest struct {
	DryRun bool `json:"dry_run"`
	// GracePeriod is a Go duration such as "24h"; empty means the default.
	GracePeriod string `json:"grace_period"`
}

// GCReportJSON is the answer of POST /api/v1/datasets/gc.
type GCReportJSON struct {
	Chunks       int64 `json:"chunks"`
	Bytes        int64 `json:"bytes"`
	Orphans      int64 `json:"orphans"`
	DryRun       bool  `json:"dry_run"`
	Young        int64 `json:"young"`
	YoungBytes   int64 `json:"young_bytes"`
	GraceSeconds int64 `json:"grace_seconds"`
	Packs        int64 `json:"packs"`
	Repacked     int64 `json:"repacked"`
	KeptInPacks  int64 `json:"kept_in_packs"`
}

func (a *API) gcDatasets(r *http.Request) (any, error) {
	s, err := a.datasetsOrErr()
	if err != nil {
		return nil, err
	}
	var req GCRequest
	if r.ContentLength != 0 {
		if err := decodeJSON(r, &req); err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
	}
	opts := dataset.GCOptions{DryRun: req.DryRun}
	if req.GracePeriod != "" {
		d, err := time.ParseDuration(req.GracePeriod)
		if err != nil || d < 0 {
			return nil, errs.E(errs.Invalid, "grace_period %q is not a duration such as 24h", req.GracePeriod)
		}
		opts.GracePeriod = d
	}
	rep, err := s.GC(r.Context(), opts)
	if err != nil {
		return nil, err
	}
	return GCReportJSON{Chunks: rep.Chunks, Bytes: rep.Bytes, Orphans: rep.Orphans, DryRun: rep.DryRun,
		Young: rep.Young, YoungBytes: rep.YoungBytes, GraceSeconds: int64(rep.Grace / time.Second),
		Packs: rep.Packs, Repacked: rep.Repacked, KeptInPacks: rep.KeptInPacks}, nil
}

// VerifyRequest is the body of POST /api/v1/datasets/verify; it may be
// empty.
type VerifyRequest struct {
	// Refs names the versions to check (name@3, name@tag); empty means
	// every live version.
	Refs []string `json:"refs"`
}

// VerifyReportJSON is the answer of POST /api/v1/datasets/verify.
type VerifyReportJSON struct {
	Versions int64         `json:"versions"`
	Chunks   int64         `json:"chunks"`
	Bytes    int64         `json:"bytes"`
	Damaged  []DamagedJSON `json:"damaged"` // empty when everything read back sound
}

// DamagedJSON is a stored chunk or manifest that is missing or does not
// match its hash, with the files that use it ("name@3:path").
type DamagedJSON struct {
	Hash    string   `json:"hash"`
	Problem string   `json:"problem"`
	UsedBy  []string `json:"used_by"`
}

// verifyDatasets reads back the stored content of versions. It runs for as
// long as reading takes (about 1 s per 2 GB on a local disk), like gc.
func (a *API) verifyDatasets(r *http.Request) (any, error) {
	s, err := a.datasetsOrErr()
	if err != nil {
		return nil, err
	}
	var req VerifyRequest
	if r.ContentLength != 0 {
		if err := decodeJSON(r, &req); err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
	}
	rep, err := s.Verify(r.Context(), req.Refs, nil)
	if err != nil {
		return nil, err
	}
	out := VerifyReportJSON{Versions: rep.Versions, Chunks: rep.Chunks, Bytes: rep.Bytes, Damaged: []DamagedJSON{}}
	for _, d := range rep.Damaged {
		out.Damaged = append(out.Damaged, DamagedJSON{Hash: d.Hash, Problem: d.Problem, UsedBy: d.UsedBy})
	}
	return out, nil
}

func (a *API) missingChunks(r *http.Request) (any, error) {
	s, err := a.datasetsOrErr()
	if err != nil {
		return nil, err
	}
	var req struct {
		Hashes []string `json:"hashes"`
	}
	if err := decodeJSON(r, &req); err != nil {
		return nil, err
	}
	missing, err := s.MissingChunks(r.Context(), req.Hashes)
	if err != nil {
		return nil, err
	}
	if missing == nil {
		missing = []string{}
	}
	// batch_chunk_limit tells a pushing client which of the missing
	// chunks it may send in batches (older clients ignore it).
	return map[string]any{"missing": missing, "batch_chunk_limit": s.BatchChunkLimit()}, nil
}

func (a *API) putChunk(r *http.Request) (any, error) {
	s, err := a.datasetsOrErr()
	if err != nil {
		return nil, err
	}
	if err := s.PutChunk(r.Context(), r.PathValue("hash"), r.Body); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, tooLarge(mbe.Limit)
		}
		return nil, err
	}
	return struct{}{}, nil
}

// putChunks stores a batch of chunks (dataset.EncodeChunkBatch), all or
// none.
func (a *API) putChunks(r *http.Request) (any, error) {
	s, err := a.datasetsOrErr()
	if err != nil {
		return nil, err
	}
	chunks, err := dataset.DecodeChunkBatch(r.Body, s.BatchChunkLimit())
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, tooLarge(mbe.Limit)
		}
		return nil, err
	}
	if err := s.PutChunks(r.Context(), chunks); err != nil {
		return nil, err
	}
	return struct {
		Chunks int `json:"chunks"`
	}{len(chunks)}, nil
}

func (a *API) getChunk(w http.ResponseWriter, r *http.Request) {
	s, err := a.datasetsOrErr()
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	rc, err := s.GetChunk(r.Context(), r.PathValue("hash"))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	defer rc.Close()
	// Read the first bytes before answering so that an unreadable chunk is
	// still an error status; a corruption found later cuts the stream short,
	// and the client's own hash check catches it.
	buf := make([]byte, 32<<10)
	n, rerr := io.ReadFull(rc, buf)
	if rerr != nil && !errors.Is(rerr, io.EOF) && !errors.Is(rerr, io.ErrUnexpectedEOF) {
		a.writeError(w, r, fmt.Errorf("reading chunk: %w", rerr))
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	if rerr != nil { // the whole chunk is in buf, verified
		h.Set("Content-Length", strconv.Itoa(n))
	}
	w.WriteHeader(http.StatusOK)
	if _, err := w.Write(buf[:n]); err != nil || rerr != nil {
		return
	}
	if _, err := io.Copy(w, rc); err != nil {
		a.cutStream(r, "streaming chunk failed", err, "hash", r.PathValue("hash"))
	}
}

// cutStream ends a response whose status is sent already: the failure is
// logged (unless the client went away) and the connection cut, so the
// client sees a failed transfer rather than a short one that looks whole.
func (a *API) cutStream(r *http.Request, msg string, err error, attrs ...any) {
	if r.Context().Err() == nil {
		a.log.WarnContext(r.Context(), msg, append(attrs, "err", err)...)
	}
	panic(http.ErrAbortHandler)
}

// setAttachment sets the headers of a download of user data: a file to
// save, never a page of this origin, naming the version it came from.
func setAttachment(h http.Header, filename, ctype, ref string) {
	h.Set("Content-Type", ctype)
	h.Set("Content-Disposition", cmp.Or(mime.FormatMediaType("attachment", map[string]string{"filename": filename}), "attachment"))
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "private, no-cache")
	h.Set("X-Mlcycle-Dataset-Version", ref)
}

// getDatasetFile streams one file of a version, verified chunk by chunk,
// with range requests and the file's hash as its ETag. It is always an
// attachment: the bytes are the user's, never a page of this origin.
func (a *API) getDatasetFile(w http.ResponseWriter, r *http.Request) {
	s, err := a.datasetsOrErr()
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	v, fr, err := s.OpenFile(r.Context(), r.PathValue("ref"), r.PathValue("path"))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	// Read the first chunk before answering, so that a damaged or missing
	// one is still an error status; damage found later cuts the stream.
	if _, err := fr.Read(make([]byte, 1)); err != nil && !errors.Is(err, io.EOF) {
		a.writeError(w, r, err)
		return
	}
	if _, err := fr.Seek(0, io.SeekStart); err != nil {
		a.writeError(w, r, err)
		return
	}
	f := fr.File()
	name := path.Base(f.Path)
	setAttachment(w.Header(), name, cmp.Or(mime.TypeByExtension(path.Ext(name)), "application/octet-stream"), v.Ref())
	w.Header().Set("ETag", `"`+f.Hash+`"`)
	http.ServeContent(w, r, "", time.UnixMilli(v.CreatedAt), fr)
	if _, err := fr.Read(nil); err != nil && !errors.Is(err, io.EOF) {
		a.cutStream(r, "serving a dataset file failed", err, "ref", v.Ref(), "path", f.Path)
	}
}

// getDatasetArchive streams the files of a version (or of ?path=, files
// or folders, repeatable) as one zip file, stored uncompressed, or with
// ?format=tar as a tar file (which a client can unpack as it arrives). The
// bytes are verified chunk by chunk as they go, and damage cuts the
// stream, so the client's reader fails rather than unpacking wrong bytes.
func (a *API) getDatasetArchive(w http.ResponseWriter, r *http.Request) {
	s, err := a.datasetsOrErr()
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	format := cmp.Or(r.URL.Query().Get("format"), "zip")
	if format != "zip" && format != "tar" {
		a.writeError(w, r, errs.E(errs.Invalid, "format %q: zip or tar", format))
		return
	}
	set, err := s.OpenFiles(r.Context(), r.PathValue("ref"), r.URL.Query()["path"])
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	v := set.Version
	name := v.Dataset + "-" + strconv.FormatInt(v.Version, 10) + "." + format
	setAttachment(w.Header(), name, map[string]string{"zip": "application/zip", "tar": "application/x-tar"}[format], v.Ref())
	if r.Method == http.MethodHead {
		return
	}
	fail := func(what string, err error) {
		a.cutStream(r, "streaming a dataset archive failed", err, "ref", v.Ref(), "file", what)
	}
	modified := time.UnixMilli(v.CreatedAt).UTC()
	var next func(f dataset.FileEntry) (io.Writer, error)
	var closer io.Closer
	if format == "zip" {
		zw := zip.NewWriter(w)
		next = func(f dataset.FileEntry) (io.Writer, error) {
			return zw.CreateHeader(&zip.FileHeader{Name: f.Path, Method: zip.Store, Modified: modified})
		}
		closer = zw
	} else {
		tw := tar.NewWriter(w)
		next = func(f dataset.FileEntry) (io.Writer, error) {
			return tw, tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: f.Path, Size: f.Size, Mode: 0o644,
				ModTime: modified})
		}
		closer = tw
	}
	for i, f := range set.Files {
		fr, err := set.Reader(i)
		if err != nil {
			fail(f.Path, err)
		}
		out, err := next(f)
		if err != nil {
			fail(f.Path, err)
		}
		if _, err := io.Copy(out, fr); err != nil {
			fail(f.Path, err)
		}
	}
	if err := closer.Close(); err != nil {
		fail("", err)
	}
}

// FetchRequest is the body of POST /api/v1/chunks/fetch.
type FetchRequest struct {
	Hashes []string `json:"hashes"`
}

// getChunks answers a batch download: the chunks, in the order asked, in
// the wire form of a batch upload. Each is checked against its hash before
// it is sent; a missing one is a 404 before anything is sent, a damaged
// one cuts the stream.
func (a *API) getChunks(w http.ResponseWriter, r *http.Request) {
	s, err := a.datasetsOrErr()
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	var req FetchRequest
	if err := decodeJSON(r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	started := false
	err = s.ReadChunks(r.Context(), req.Hashes, func(c dataset.ChunkData) error {
		if !started {
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Header().Set("Cache-Control", "no-store")
			started = true
		}
		return dataset.EncodeChunkBatch(w, []dataset.ChunkData{c})
	})
	if err == nil {
		return
	}
	if !started {
		a.writeError(w, r, err)
		return
	}
	a.cutStream(r, "streaming a chunk batch failed", err)
}

func (a *API) diffDatasets(r *http.Request) (any, error) {
	s, err := a.datasetsOrErr()
	if err != nil {
		return nil, err
	}
	q, err := strictQuery(r)
	if err != nil {
		return nil, err
	}
	ra, rb := q.Get("a"), q.Get("b")
	if ra == "" || rb == "" {
		return nil, errs.E(errs.Invalid, "query parameters a and b (dataset references such as iris@1) are required")
	}
	da, err := s.Show(r.Context(), ra)
	if err != nil {
		return nil, err
	}
	db, err := s.Show(r.Context(), rb)
	if err != nil {
		return nil, err
	}
	return DiffVersions(da, db), nil
}

// DatasetDiff tells how version To differs from version From.
type DatasetDiff struct {
	From    string       `json:"from"`
	To      string       `json:"to"`
	Added   []string     `json:"added"`
	Removed []string     `json:"removed"`
	Changed []FileChange `json:"changed"`
	// Unchanged counts the files with the same path and content.
	Unchanged int `json:"unchanged"`
}

// FileChange is one file present in both versions with different content.
type FileChange struct {
	Path     string `json:"path"`
	SizeFrom int64  `json:"size_from"`
	SizeTo   int64  `json:"size_to"`
	// Table compares the profiles when both sides are profiled tables.
	Table *profile.Diff `json:"table,omitempty"`
}

// DiffVersions compares two versions file by file, and the profiles of
// table files that changed. The CLI uses it for local datasets too.
func DiffVersions(from, to dataset.VersionDetail) DatasetDiff {
	d := DatasetDiff{From: from.Ref(), To: to.Ref(), Added: []string{}, Removed: []string{}, Changed: []FileChange{}}
	old := make(map[string]dataset.FileEntry, len(from.Manifest.Files))
	for _, f := range from.Manifest.Files {
		old[f.Path] = f
	}
	seen := make(map[string]bool, len(to.Manifest.Files))
	for _, f := range to.Manifest.Files {
		seen[f.Path] = true
		o, ok := old[f.Path]
		switch {
		case !ok:
			d.Added = append(d.Added, f.Path)
		case o.Hash == f.Hash:
			d.Unchanged++
		default:
			c := FileChange{Path: f.Path, SizeFrom: o.Size, SizeTo: f.Size}
			if pa, ok := decodeProfile(o.Profile); ok {
				if pb, ok := decodeProfile(f.Profile); ok {
					diff := profile.Compare(pa, pb)
					c.Table = &diff
				}
			}
			d.Changed = append(d.Changed, c)
		}
	}
	for _, f := range from.Manifest.Files {
		if !seen[f.Path] {
			d.Removed = append(d.Removed, f.Path)
		}
	}
	return d
}

func decodeProfile(raw json.RawMessage) (profile.Profile, bool) {
	if len(bytes.TrimSpace(raw)) == 0 || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return profile.Profile{}, false
	}
	var p profile.Profile
	if err := json.Unmarshal(raw, &p); err != nil {
		return profile.Profile{}, false
	}
	return p, true
}
