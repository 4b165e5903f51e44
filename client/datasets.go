package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/mlcycle/mlcycle/internal/dataset"
	"github.com/mlcycle/mlcycle/internal/dataset/profile"
)

// DatasetSummary is a named series of dataset versions (Dataset is an
// MLflow run input).
type DatasetSummary struct {
	Name      string `json:"name"`
	CreatedAt int64  `json:"created_at"` // Unix milliseconds
	CreatedBy string `json:"created_by"`
	Versions  int64  `json:"versions"` // live versions
	Latest    int64  `json:"latest"`
	UpdatedAt int64  `json:"updated_at"`
}

// DatasetTable summarises a table file of a version.
type DatasetTable struct {
	Path    string `json:"path"`
	Rows    int64  `json:"rows,omitempty"`
	Columns int    `json:"columns,omitempty"`
}

// DatasetVersion is one recorded version of a dataset.
type DatasetVersion struct {
	Dataset      string         `json:"dataset"`
	Version      int64          `json:"version"`
	Ref          string         `json:"ref"`    // name@3
	Source       string         `json:"source"` // mlcycle://name@3, for run inputs
	Digest       string         `json:"digest"`
	ManifestHash string         `json:"manifest_hash"`
	Message      string         `json:"message"`
	CreatedAt    int64          `json:"created_at"`
	CreatedBy    string         `json:"created_by"`
	FileCount    int64          `json:"file_count"`
	TotalBytes   int64          `json:"total_bytes"`
	Tables       []DatasetTable `json:"tables"`
	Tags         []string       `json:"tags"`
	Deleted      bool           `json:"deleted"`
}

// DatasetRunLink is one use of a dataset version by a run.
type DatasetRunLink struct {
	Dataset   string `json:"dataset"`
	Version   int64  `json:"version"`
	Ref       string `json:"ref"`
	Digest    string `json:"digest"`
	RunID     string `json:"run_id"`
	Context   string `json:"context"`
	CreatedAt int64  `json:"created_at"`
	Deleted   bool   `json:"deleted"`
}

// DatasetVersionDetail is a version with its manifest (files, chunks and
// table profiles) and the runs that used it.
type DatasetVersionDetail struct {
	DatasetVersion
	Manifest dataset.Manifest `json:"manifest"`
	Runs     []DatasetRunLink `json:"runs"`
}

// DatasetGCReport tells what a dataset GC removed (or would remove).
type DatasetGCReport struct {
	Chunks  int64 `json:"chunks"`
	Bytes   int64 `json:"bytes"`
	Orphans int64 `json:"orphans"`
	DryRun  bool  `json:"dry_run"`
	// Young and YoungBytes count unused chunks kept because they were used
	// within the grace period of GraceSeconds.
	Young        int64 `json:"young"`
	YoungBytes   int64 `json:"young_bytes"`
	GraceSeconds int64 `json:"grace_seconds"`
	// Packs counts pack files removed, Repacked pack files rewritten
	// because less than half of their bytes were still needed (packs hold
	// the small chunks of a local-folder store).
	Packs    int64 `json:"packs"`
	Repacked int64 `json:"repacked"`
	// KeptInPacks is the part of Bytes still on disk in packs that stay
	// (freed when a later gc removes or rewrites them).
	KeptInPacks int64 `json:"kept_in_packs"`
}

// DatasetDiff tells how version To differs from version From.
type DatasetDiff struct {
	From      string              `json:"from"`
	To        string              `json:"to"`
	Added     []string            `json:"added"`
	Removed   []string            `json:"removed"`
	Changed   []DatasetFileChange `json:"changed"`
	Unchanged int                 `json:"unchanged"`
}

// DatasetFileChange is a file whose content differs between two versions;
// Table compares the profiles when the file is a profiled table.
type DatasetFileChange struct {
	Path     string        `json:"path"`
	SizeFrom int64         `json:"size_from"`
	SizeTo   int64         `json:"size_to"`
	Table    *profile.Diff `json:"table,omitempty"`
}

// splitRef splits "name@sel" into the name and the selector ("latest" when
// absent), for the routes that take them as separate path segments.
func splitRef(ref string) (name, sel string) {
	name, sel, ok := strings.Cut(strings.TrimPrefix(ref, dataset.SourceScheme), "@")
	if !ok || sel == "" {
		sel = dataset.LatestTag
	}
	return name, sel
}

func datasetPath(parts ...string) string {
	p := "/api/v1/datasets"
	for _, s := range parts {
		p += "/" + url.PathEscape(s)
	}
	return p
}

// ListDatasets lists every dataset.
func (c *Client) ListDatasets(ctx context.Context) ([]DatasetSummary, error) {
	var out struct {
		Datasets []DatasetSummary `json:"datasets"`
	}
	err := c.do(ctx, http.MethodGet, "/api/v1/datasets", nil, nil, &out)
	return out.Datasets, err
}

// DatasetVersions lists the versions of a dataset, as the server orders them.
func (c *Client) DatasetVersions(ctx context.Context, name string) ([]DatasetVersion, error) {
	var out struct {
		Versions []DatasetVersion `json:"versions"`
	}
	err := c.do(ctx, http.MethodGet, datasetPath(name, "versions"), nil, nil, &out)
	return out.Versions, err
}

// ShowDataset returns the version ref names (name, name@3, name@tag).
func (c *Client) ShowDataset(ctx context.Context, ref string) (DatasetVersionDetail, error) {
	var out DatasetVersionDetail
	name, sel := splitRef(ref)
	err := c.do(ctx, http.MethodGet, datasetPath(name, "versions", sel), nil, nil, &out)
	return out, err
}

// DatasetRuns lists the runs that used the version ref names.
func (c *Client) DatasetRuns(ctx context.Context, ref string) ([]DatasetRunLink, error) {
	var out struct {
		Runs []DatasetRunLink `json:"runs"`
	}
	name, sel := splitRef(ref)
	err := c.do(ctx, http.MethodGet, datasetPath(name+"@"+sel, "runs"), nil, nil, &out)
	return out.Runs, err
}

// RecordDatasetVersion records a version of dataset name from a manifest
// whose chunks the server already holds (see Push).
func (c *Client) RecordDatasetVersion(ctx context.Context, name, message string, m dataset.Manifest) (DatasetVersion, error) {
	var out struct {
		Version DatasetVersion `json:"version"`
	}
	in := map[string]any{"message": message, "manifest": m}
	err := c.do(ctx, http.MethodPost, datasetPath(name, "versions"), nil, in, &out)
	return out.Version, err
}

// RemoveOptions tune RemoveDatasetVersion.
type RemoveOptions struct {
	// Force removes a version that runs used (the server refuses with a
	// conflict otherwise): their lineage keeps naming it, but gc may then
	// delete its data.
	Force bool
}

// RemoveDatasetVersion removes the version ref names.
func (c *Client) RemoveDatasetVersion(ctx context.Context, ref string, opts RemoveOptions) (DatasetVersion, error) {
	var out struct {
		Version DatasetVersion `json:"version"`
	}
	name, sel := splitRef(ref)
	var q url.Values
	if opts.Force {
		q = url.Values{"force": {"true"}}
	}
	err := c.do(ctx, http.MethodDelete, datasetPath(name, "versions", sel), q, nil, &out)
	return out.Version, err
}

// SetDatasetTag points tag at the version ref names.
func (c *Client) SetDatasetTag(ctx context.Context, ref, tag string) (DatasetVersion, error) {
	var out struct {
		Version DatasetVersion `json:"version"`
	}
	name, sel := splitRef(ref)
	err := c.do(ctx, http.MethodPut, datasetPath(name, "tags", tag), nil, map[string]string{"version": sel}, &out)
	return out.Version, err
}

// DeleteDatasetTag removes a tag of dataset name.
func (c *Client) DeleteDatasetTag(ctx context.Context, name, tag string) error {
	return c.do(ctx, http.MethodDelete, datasetPath(name, "tags", tag), nil, nil, nil)
}

// DiffDatasets compares version b against version a.
func (c *Client) DiffDatasets(ctx context.Context, a, b string) (DatasetDiff, error) {
	var out DatasetDiff
	err := c.do(ctx, http.MethodGet, "/api/v1/datasets/diff", url.Values{"a": {a}, "b": {b}}, nil, &out)
	return out, err
}

// DatasetGC removes stored chunks no live version needs (admins only).
// A zero grace keeps the server's default grace period.
func (c *Client) DatasetGC(ctx context.Context, dryRun bool, grace time.Duration) (DatasetGCReport, error) {
	in := map[string]any{"dry_run": dryRun}
	if grace > 0 {
		in["grace_period"] = grace.String()
	}
	var out DatasetGCReport
	err := c.do(ctx, http.MethodPost, "/api/v1/datasets/gc", nil, in, &out)
	return out, err
}

// DatasetVerifyReport is what VerifyDatasets found.
type DatasetVerifyReport struct {
	Versions int64 `json:"versions"` // versions checked
	Chunks   int64 `json:"chunks"`   // distinct chunks read
	Bytes    int64 `json:"bytes"`
	// Damaged lists each stored chunk or manifest that is missing or does
	// not match its hash; empty when everything read back sound.
	Damaged []DamagedObject `json:"damaged"`
}

// DamagedObject is a stored chunk or manifest that could not be read back
// whole, with the files that use it ("name@3:path", "name@3:manifest").
type DamagedObject struct {
	Hash    string   `json:"hash"`
	Problem string   `json:"problem"`
	UsedBy  []string `json:"used_by"`
}

// VerifyDatasets has the server read back every stored chunk of the
// versions refs names (all live versions when none) and check each against
// its hash (admins only). It takes as long as reading the data does; give
// ctx a deadline to bound it.
func (c *Client) VerifyDatasets(ctx context.Context, refs ...string) (DatasetVerifyReport, error) {
	in := map[string]any{}
	if len(refs) > 0 {
		in["refs"] = refs
	}
	var out DatasetVerifyReport
	err := c.do(ctx, http.MethodPost, "/api/v1/datasets/verify", nil, in, &out)
	return out, err
}

// The client is both ends of a transfer, like a dataset.Service.
var (
	_ dataset.ChunkStore       = (*Client)(nil)
	_ dataset.ChunkSource      = (*Client)(nil)
	_ dataset.ChunkBatcher     = (*Client)(nil)
	_ dataset.ChunkBatchSource = (*Client)(nil)
)

// MissingChunks returns the hashes the server does not hold, asking in
// batches. With GetChunk, PutChunk and PutChunks it makes the client a
// dataset.ChunkStore, ChunkSource and ChunkBatcher.
func (c *Client) MissingChunks(ctx context.Context, hashes []string) ([]string, error) {
	missing := []string{}
	const batch = 10_000
	for start := 0; start < len(hashes); start += batch {
		var out struct {
			Missing    []string `json:"missing"`
			BatchLimit int64    `json:"batch_chunk_limit"`
		}
		in := map[string]any{"hashes": hashes[start:min(start+batch, len(hashes))]}
		if err := c.do(ctx, http.MethodPost, "/api/v1/chunks/missing", nil, in, &out); err != nil {
			return nil, err
		}
		missing = append(missing, out.Missing...)
		c.batchLimit.Store(out.BatchLimit)
	}
	return missing, nil
}

// PutChunk uploads a chunk, streaming r; the server verifies its hash.
func (c *Client) PutChunk(ctx context.Context, hash string, r io.Reader) error {
	resp, err := c.raw(ctx, http.MethodPut, "/api/v1/chunks/"+url.PathEscape(hash), r)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return nil
}

// BatchChunkLimit is the size below which PutChunks may send a chunk: the
// server's batch_chunk_limit once MissingChunks has been called (a server
// with a local-folder store takes chunks of any size), otherwise, and for
// servers that do not say, dataset.BatchChunkMax.
func (c *Client) BatchChunkLimit() int64 {
	return max(c.batchLimit.Load(), dataset.BatchChunkMax)
}

// PutChunks uploads chunks (each under BatchChunkLimit bytes, at most
// dataset.MaxBatchBytes in all) in one request; the server verifies every
// hash and stores all of them or none. A server without the batch
// endpoint gets them one by one.
func (c *Client) PutChunks(ctx context.Context, chunks []dataset.ChunkData) error {
	var body bytes.Buffer
	if err := dataset.EncodeChunkBatch(&body, chunks); err != nil {
		return err
	}
	resp, err := c.raw(ctx, http.MethodPost, "/api/v1/chunks/batch", &body)
	var e *Error
	if errors.As(err, &e) && (e.Status == http.StatusNotFound || e.Status == http.StatusMethodNotAllowed) {
		for _, ch := range chunks {
			if err := c.PutChunk(ctx, ch.Hash, bytes.NewReader(ch.Data)); err != nil {
				return err
			}
		}
		return nil
	}
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return nil
}

// GetChunks downloads the chunks hashes (at most dataset.MaxBatchChunks,
// dataset.MaxBatchBytes in all) in one request, in that order. The server
// checks each against its hash before sending it; the caller must verify
// the bytes too (dataset.Service.PutChunks does). A server without the
// batch route answers
// dataset.ErrNoBatchSource, and the client remembers not to ask it again.
// With GetChunk it makes the client a dataset.ChunkBatchSource.
func (c *Client) GetChunks(ctx context.Context, hashes []string) ([]dataset.ChunkData, error) {
	if c.noFetch.Load() {
		return nil, dataset.ErrNoBatchSource
	}
	body, err := json.Marshal(map[string][]string{"hashes": hashes})
	if err != nil {
		return nil, err
	}
	resp, err := c.raw(ctx, http.MethodPost, "/api/v1/chunks/fetch", bytes.NewReader(body))
	var e *Error
	if errors.As(err, &e) && (e.Status == http.StatusMethodNotAllowed || e.Status == http.StatusNotFound && e.Code == "ENDPOINT_NOT_FOUND") {
		c.noFetch.Store(true)
		return nil, dataset.ErrNoBatchSource
	}
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	chunks, err := dataset.DecodeChunkBatch(resp.Body, dataset.ChunkMax+1)
	if err != nil {
		return nil, fmt.Errorf("reading a chunk batch: %w", err)
	}
	for i, ch := range chunks {
		if i >= len(hashes) || ch.Hash != hashes[i] {
			return nil, fmt.Errorf("reading a chunk batch: %w: chunk %d is %s, not the one asked for", dataset.ErrCorrupt, i+1, ch.Hash)
		}
	}
	if len(chunks) != len(hashes) {
		return nil, fmt.Errorf("reading a chunk batch: %w: %d chunks of %d", dataset.ErrCorrupt, len(chunks), len(hashes))
	}
	return chunks, nil
}

// GetChunk downloads a chunk. The caller must verify the bytes against the
// hash (dataset.Materialize and dataset.Service.PutChunk do) and close it.
func (c *Client) GetChunk(ctx context.Context, hash string) (io.ReadCloser, error) {
	resp, err := c.raw(ctx, http.MethodGet, "/api/v1/chunks/"+url.PathEscape(hash), nil)
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// DatasetFile is a file of a dataset version being read from the server.
// Close it when done.
type DatasetFile struct {
	io.ReadCloser
	Ref  string // the version the reference resolved to, name@3
	Hash string // the file's hash, as in the manifest
	Size int64
}

// OpenDatasetFile streams the file at path (a dataset path such as
// "data/train.csv") of the version ref names. The server checks every chunk
// against its hash before sending it; a chunk found damaged after the first
// cuts the stream, which then ends in an error, never in wrong bytes.
func (c *Client) OpenDatasetFile(ctx context.Context, ref, path string) (*DatasetFile, error) {
	r, err := dataset.ParseRef(strings.TrimPrefix(ref, dataset.SourceScheme))
	if err != nil {
		return nil, err
	}
	resp, err := c.raw(ctx, http.MethodGet, "/api/v1/datasets/"+r.String()+"/files/"+strings.TrimPrefix(path, "/"), nil)
	if err != nil {
		return nil, err
	}
	return &DatasetFile{ReadCloser: resp.Body, Ref: resp.Header.Get("X-Mlcycle-Dataset-Version"),
		Hash: strings.Trim(resp.Header.Get("ETag"), `"`), Size: resp.ContentLength}, nil
}

// raw sends a request with a streamed body and returns the response of a
// success, whose body the caller must close; a failure is an *Error.
func (c *Client) raw(ctx context.Context, method, path string, body io.Reader) (*http.Response, error) {
	u := *c.base
	u.Path = c.base.Path + path
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, fmt.Errorf("building request: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/octet-stream")
	}
	req.Header.Set("User-Agent", c.agent)
	c.authorize(req)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		return nil, decodeError(resp)
	}
	return resp, nil
}

// GetDatasetOptions tune GetDataset.
type GetDatasetOptions struct {
	// Paths limits the files written to these files and the files under
	// these folders (dataset paths). Empty means every file.
	Paths []string
	// Progress, when set, is called after each file with the bytes written
	// and the total. Calls never overlap.
	Progress func(done, total int64)
}

// GetDatasetResult tells what GetDataset wrote.
type GetDatasetResult struct {
	Version DatasetVersion // the version ref resolved to
	Files   int64          // files of the version (or of Paths) now in the folder
	Bytes   int64
	// Unchanged and UnchangedBytes count those files that were there
	// already with the version's content: not downloaded, not written.
	Unchanged      int64
	UnchangedBytes int64
}

// GetDataset writes the files of the version ref names (name@3, name@tag,
// name@latest) into dir, created if missing, downloading its chunks from
// the server and verifying every one. A file already there with the
// version's content (checked chunk by chunk) is left as it is. Each file is replaced only once all
// of it has verified; a corrupted chunk on the server fails the call and
// names the file and chunk.
func (c *Client) GetDataset(ctx context.Context, ref, dir string, opts GetDatasetOptions) (GetDatasetResult, error) {
	d, err := c.ShowDataset(ctx, ref)
	if err != nil {
		return GetDatasetResult{}, err
	}
	st, err := dataset.Materialize(ctx, d.Manifest, c, dir, dataset.GetOptions{Paths: opts.Paths, Progress: opts.Progress})
	if err != nil {
		return GetDatasetResult{}, err
	}
	return GetDatasetResult{Version: d.DatasetVersion, Files: st.Files, Bytes: st.Bytes,
		Unchanged: st.Unchanged, UnchangedBytes: st.UnchangedBytes}, nil
}

// TransferOptions tune Push and Pull.
type TransferOptions struct {
	// Name is the dataset name on the receiving side; empty keeps the name.
	Name string
	// Workers is the number of chunks moved at once; zero means 8.
	Workers int
	// Progress, when set, is called after each chunk moved with the bytes
	// moved and the bytes to move. Calls never overlap.
	Progress func(done, total int64)
}

// TransferResult tells what Push or Pull did.
type TransferResult struct {
	// Version is the version on the receiving side: the one recorded, or
	// the newest one when it already had the same content.
	Version       DatasetVersion
	Chunks        int64 // chunks moved
	Bytes         int64 // bytes moved
	ChunksPresent int64 // chunks the receiving side already held
}

// Push copies the version ref of the local dataset service to the server:
// it asks which chunks the server lacks, uploads those (several at once,
// each verified by the server), then records the manifest. Re-running an
// interrupted push uploads only what is still missing; pushing content the
// server already has as its newest version records nothing.
//
// local is the dataset service of this module's local catalog; programs
// outside the module use catalog.Catalog.Push (package client/catalog).
func (c *Client) Push(ctx context.Context, local *dataset.Service, ref string, opts TransferOptions) (TransferResult, error) {
	d, err := local.Show(ctx, ref)
	if err != nil {
		return TransferResult{}, err
	}
	st, err := dataset.CopyChunks(ctx, c, local, d.Manifest.Chunks(), dataset.CopyOptions{Workers: opts.Workers, Progress: opts.Progress})
	if err != nil {
		return TransferResult{}, fmt.Errorf("pushing %s: %w", d.Ref(), err)
	}
	name := opts.Name
	if name == "" {
		name = d.Dataset
	}
	v, err := c.RecordDatasetVersion(ctx, name, d.Message, d.Manifest)
	if err != nil {
		return TransferResult{}, fmt.Errorf("recording %s on the server: %w", name, err)
	}
	return TransferResult{Version: v, Chunks: st.Chunks, Bytes: st.Bytes, ChunksPresent: st.Present}, nil
}

// Pull copies the version ref from the server into the local dataset
// service: missing chunks are downloaded several at once and verified
// against their hashes as they are stored, then the manifest is recorded
// locally. Re-running an interrupted pull downloads only what is missing.
//
// Programs outside this module use catalog.Catalog.Pull.
func (c *Client) Pull(ctx context.Context, local *dataset.Service, ref string, opts TransferOptions) (TransferResult, error) {
	d, err := c.ShowDataset(ctx, ref)
	if err != nil {
		return TransferResult{}, err
	}
	st, err := dataset.CopyChunks(ctx, local, c, d.Manifest.Chunks(), dataset.CopyOptions{Workers: opts.Workers, Progress: opts.Progress})
	if err != nil {
		return TransferResult{}, fmt.Errorf("pulling %s: %w", d.Ref, err)
	}
	name := opts.Name
	if name == "" {
		name = d.Dataset
	}
	v, err := local.RecordVersion(ctx, dataset.RecordInput{Name: name, Message: d.Message, Manifest: d.Manifest})
	if err != nil {
		return TransferResult{}, fmt.Errorf("recording %s locally: %w", name, err)
	}
	return TransferResult{Version: versionOf(v), Chunks: st.Chunks, Bytes: st.Bytes, ChunksPresent: st.Present}, nil
}

// versionOf converts a version of a local catalog to the type the server
// answers with.
func versionOf(v dataset.Version) DatasetVersion {
	tables := make([]DatasetTable, len(v.Tables))
	for i, t := range v.Tables {
		tables[i] = DatasetTable(t)
	}
	return DatasetVersion{Dataset: v.Dataset, Version: v.Version, Ref: v.Ref(), Source: v.Source(),
		Digest: v.Digest, ManifestHash: v.ManifestHash, Message: v.Message, CreatedAt: v.CreatedAt,
		CreatedBy: v.CreatedBy, FileCount: v.FileCount, TotalBytes: v.TotalBytes, Tables: tables,
		Tags: v.Tags, Deleted: v.Deleted}
}

// DatasetInputFor is the run input that names a dataset version: logged
// with LogInputs, it links the run to the version (source mlcycle://name@3,
// the version's digest), and the version's page lists the run. context
// says how the run used it, e.g. "training".
func DatasetInputFor(v DatasetVersion, context string) DatasetInput {
	src, _ := json.Marshal(map[string]string{"uri": v.Source})
	in := DatasetInput{Dataset: Dataset{Name: v.Dataset, Digest: v.Digest, SourceType: "mlcycle", Source: string(src)}}
	if context != "" {
		in.Tags = []Tag{{Key: TagDatasetContext, Value: context}}
	}
	return in
}
