package client_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/mlcycle/mlcycle/client"
	"github.com/mlcycle/mlcycle/internal/actor"
	"github.com/mlcycle/mlcycle/internal/app"
	"github.com/mlcycle/mlcycle/internal/app/apptest"
	"github.com/mlcycle/mlcycle/internal/dataset"
)

// openLocalDatasets opens a dataset service on a fresh local catalog.
func openLocalDatasets(t *testing.T) (context.Context, *dataset.Service) {
	t.Helper()
	ctx := actor.With(context.Background(), actor.Actor{Name: "tester", Role: "admin"})
	l, err := app.OpenLocal(ctx, app.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	svc, closeSvc, err := l.OpenDatasets(ctx, dataset.Options{StatePath: filepath.Join(t.TempDir(), "state.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeSvc() })
	return ctx, svc
}

func TestIntegrationDatasetPushPull(t *testing.T) {
	c := startServer(t)
	ctx, local := openLocalDatasets(t)

	src := t.TempDir()
	big := make([]byte, 5<<20) // several content-defined chunks
	rand.Read(big)
	os.WriteFile(filepath.Join(src, "big.bin"), big, 0o644)
	os.WriteFile(filepath.Join(src, "small.txt"), []byte("small\n"), 0o644)
	os.WriteFile(filepath.Join(src, "copy.txt"), []byte("small\n"), 0o644) // deduplicated
	added, err := local.Add(ctx, dataset.AddInput{Name: "blobs", Paths: []string{src}, Message: "v1"})
	if err != nil {
		t.Fatal(err)
	}
	m, err := local.Show(ctx, "blobs@1")
	if err != nil {
		t.Fatal(err)
	}
	uniq := map[string]bool{}
	for _, ch := range m.Manifest.Chunks() {
		uniq[ch.Hash] = true
	}
	chunks := int64(len(uniq))
	if chunks < 3 {
		t.Fatalf("only %d chunks: the big file should be split", chunks)
	}

	res, err := c.Push(ctx, local, "blobs@1", client.TransferOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Chunks != chunks || res.ChunksPresent != 0 || res.Version.Ref != "blobs@1" {
		t.Fatalf("push: %+v, want %d chunks", res, chunks)
	}
	// The server (a local folder store) said it takes chunks of any size
	// in batches, so the big file's chunks travelled in one.
	if got := c.BatchChunkLimit(); got != dataset.ChunkMax+1 {
		t.Fatalf("client's batch chunk limit after a push: %d, want %d", got, dataset.ChunkMax+1)
	}
	res, err = c.Push(ctx, local, "blobs@1", client.TransferOptions{})
	if err != nil || res.Chunks != 0 || res.ChunksPresent != chunks || res.Version.Version != 1 {
		t.Fatalf("second push: %+v %v", res, err)
	}

	det, err := c.ShowDataset(ctx, "blobs")
	if err != nil || det.Digest != added.Version.Digest || det.Message != "v1" || len(det.Manifest.Files) != 3 {
		t.Fatalf("show: %+v %v", det.DatasetVersion, err)
	}
	missing, err := c.MissingChunks(ctx, []string{m.Manifest.Chunks()[0].Hash})
	if err != nil || len(missing) != 0 {
		t.Fatalf("missing: %v %v", missing, err)
	}

	// Pull into another catalog and materialise from it.
	ctx2, other := openLocalDatasets(t)
	pr, err := c.Pull(ctx2, other, "blobs@latest", client.TransferOptions{Workers: 3})
	if err != nil || pr.Chunks != chunks {
		t.Fatalf("pull: %+v %v", pr, err)
	}
	if pr, err = c.Pull(ctx2, other, "blobs@1", client.TransferOptions{}); err != nil || pr.Chunks != 0 {
		t.Fatalf("second pull: %+v %v", pr, err)
	}
	out := t.TempDir()
	if _, err := other.Get(ctx2, "blobs@1", out, dataset.GetOptions{}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(out, "big.bin")); !bytes.Equal(b, big) {
		t.Fatal("pulled big.bin differs")
	}
	// And straight from the server, all of it and one file.
	out2 := t.TempDir()
	got, err := c.GetDataset(ctx, "blobs@latest", out2, client.GetDatasetOptions{})
	if err != nil || got.Version.Version != 1 || got.Files != 3 || got.Bytes != det.TotalBytes {
		t.Fatalf("get: %+v %v", got, err)
	}
	if b, _ := os.ReadFile(filepath.Join(out2, "big.bin")); !bytes.Equal(b, big) {
		t.Fatal("big.bin from the server differs")
	}
	if b, _ := os.ReadFile(filepath.Join(out2, "copy.txt")); string(b) != "small\n" {
		t.Fatalf("copy.txt = %q", b)
	}
	out3 := t.TempDir()
	if got, err := c.GetDataset(ctx, "blobs@1", out3, client.GetDatasetOptions{Paths: []string{"copy.txt"}}); err != nil || got.Files != 1 {
		t.Fatalf("get one path: %+v %v", got, err)
	}
	if _, err := os.Stat(filepath.Join(out3, "big.bin")); !os.IsNotExist(err) {
		t.Fatalf("get of copy.txt wrote big.bin too: %v", err)
	}
	if _, err := c.GetDataset(ctx, "blobs@9", t.TempDir(), client.GetDatasetOptions{}); !client.IsNotFound(err) {
		t.Fatalf("get of a missing version: %v", err)
	}

	// Tags, lineage, diff, removal, GC.
	if v, err := c.SetDatasetTag(ctx, "blobs@1", "prod"); err != nil || v.Version != 1 {
		t.Fatalf("tag: %+v %v", v, err)
	}
	exp, err := c.CreateExperiment(ctx, "ds-lineage")
	if err != nil {
		t.Fatal(err)
	}
	run, err := c.CreateRun(ctx, client.RunCreate{ExperimentID: exp})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.LogInputs(ctx, run.Info.RunID, client.DatasetInputFor(det.DatasetVersion, "training")); err != nil {
		t.Fatal(err)
	}
	runs, err := c.DatasetRuns(ctx, "blobs@prod")
	if err != nil || len(runs) != 1 || runs[0].RunID != run.Info.RunID || runs[0].Context != "training" {
		t.Fatalf("runs: %+v %v", runs, err)
	}
	list, err := c.ListDatasets(ctx)
	if err != nil || len(list) != 1 || list[0].Name != "blobs" {
		t.Fatalf("list: %+v %v", list, err)
	}
	diff, err := c.DiffDatasets(ctx, "blobs@1", "blobs@prod")
	if err != nil || diff.Unchanged != 3 {
		t.Fatalf("diff: %+v %v", diff, err)
	}
	if err := c.DeleteDatasetTag(ctx, "blobs", "prod"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ShowDataset(ctx, "blobs@prod"); !client.IsNotFound(err) {
		t.Fatalf("show removed tag: %v", err)
	}
	// A run used blobs@1: the server keeps it unless forced.
	_, err = c.RemoveDatasetVersion(ctx, "blobs@1", client.RemoveOptions{})
	var apiErr *client.Error
	if !errors.As(err, &apiErr) || apiErr.Status != 409 || apiErr.Code != "INVALID_STATE" || !strings.Contains(apiErr.Message, "used by 1 run") {
		t.Fatalf("remove a version a run used: %v", err)
	}
	if v, err := c.RemoveDatasetVersion(ctx, "blobs@1", client.RemoveOptions{Force: true}); err != nil || !v.Deleted {
		t.Fatalf("forced remove: %+v, %v", v, err)
	}
	if rep, err := c.DatasetGC(ctx, true, 0); err != nil || !rep.DryRun {
		t.Fatalf("gc: %+v %v", rep, err)
	}
}

func TestIntegrationDatasetPushRefusesCorruptChunk(t *testing.T) {
	c := startServer(t)
	ctx := context.Background()
	h := "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262" // BLAKE3 of nothing
	err := c.PutChunk(ctx, h, bytes.NewReader([]byte("not empty")))
	var e *client.Error
	if !errors.As(err, &e) || e.Status != 400 {
		t.Fatalf("put of wrong bytes: %v", err)
	}
	m := dataset.Manifest{Format: dataset.ManifestFormat, Files: []dataset.FileEntry{{Path: "a", Size: 9, Hash: h}}}
	if _, err := c.RecordDatasetVersion(ctx, "x", "", m); !errors.As(err, &e) || e.Status != 400 {
		t.Fatalf("record with a missing chunk: %v", err)
	}
}

// A server without the batch endpoint (an older one) gets a batch chunk by
// chunk; one that does not say which chunks it batches gets only small
// ones in batches.
func TestPutChunksFallsBackToSingleUploads(t *testing.T) {
	var mu sync.Mutex
	var got []string
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/chunks/missing", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"missing":[]}`))
	})
	mux.HandleFunc("POST /api/v1/chunks/batch", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"error_code":"ENDPOINT_NOT_FOUND","message":"no such endpoint"}`))
	})
	mux.HandleFunc("PUT /api/v1/chunks/{hash}", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, r.PathValue("hash")+"="+string(b))
		mu.Unlock()
		_, _ = w.Write([]byte(`{}`))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	c, err := client.New(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.MissingChunks(context.Background(), []string{strings.Repeat("c", 64)}); err != nil {
		t.Fatal(err)
	}
	if got := c.BatchChunkLimit(); got != dataset.BatchChunkMax {
		t.Fatalf("batch chunk limit with an older server: %d, want %d", got, dataset.BatchChunkMax)
	}
	a, b := strings.Repeat("a", 64), strings.Repeat("b", 64)
	err = c.PutChunks(context.Background(), []dataset.ChunkData{{Hash: a, Data: []byte("one")}, {Hash: b, Data: []byte("two")}})
	if err != nil || !slices.Equal(got, []string{a + "=one", b + "=two"}) {
		t.Fatalf("fallback uploads %v, %v", got, err)
	}
}

// countingTransport counts requests by method and route prefix.
type countingTransport struct {
	mu    sync.Mutex
	count map[string]int
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	key := r.Method + " " + r.URL.Path
	if strings.HasPrefix(r.URL.Path, "/api/v1/chunks/") && r.Method == http.MethodGet {
		key = "GET /api/v1/chunks/{hash}"
	}
	c.mu.Lock()
	c.count[key]++
	c.mu.Unlock()
	return http.DefaultTransport.RoundTrip(r)
}

func (c *countingTransport) get(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.count[key]
}

// A pull of many small chunks downloads them in batches: a few requests,
// not one per chunk.
func TestIntegrationDatasetPullFetchesBatches(t *testing.T) {
	serverDir := t.TempDir()
	srv := apptest.Start(t, app.Config{DataDir: serverDir})
	c := srv.Client(t)
	ctx, local := openLocalDatasets(t)
	src := t.TempDir()
	for i := range 300 {
		os.WriteFile(filepath.Join(src, fmt.Sprintf("f%03d.txt", i)), []byte(strings.Repeat(fmt.Sprint(i), 100)), 0o644)
	}
	if _, err := local.Add(ctx, dataset.AddInput{Name: "many", Paths: []string{src}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Push(ctx, local, "many@1", client.TransferOptions{}); err != nil {
		t.Fatal(err)
	}

	counter := &countingTransport{count: map[string]int{}}
	cc := srv.Client(t, client.WithHTTPClient(&http.Client{Transport: counter}))
	ctx2, other := openLocalDatasets(t)
	res, err := cc.Pull(ctx2, other, "many@1", client.TransferOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Chunks != 300 {
		t.Fatalf("pull: %+v", res)
	}
	if n := counter.get("GET /api/v1/chunks/{hash}"); n != 0 {
		t.Errorf("%d chunks downloaded one by one", n)
	}
	if n := counter.get("POST /api/v1/chunks/fetch"); n < 1 || n > 8 {
		t.Errorf("%d batch downloads for 300 small chunks", n)
	}
	out := t.TempDir()
	if _, err := other.Get(ctx2, "many@1", out, dataset.GetOptions{}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(out, "f123.txt")); string(b) != strings.Repeat("123", 100) {
		t.Fatalf("pulled f123.txt: %q", b)
	}

	// get --server writes runs of small files from batches too
	fetchesBefore := counter.get("POST /api/v1/chunks/fetch")
	direct := t.TempDir()
	got, err := cc.GetDataset(ctx, "many@1", direct, client.GetDatasetOptions{})
	if err != nil || got.Files != 300 {
		t.Fatalf("get: %+v, %v", got, err)
	}
	if n := counter.get("GET /api/v1/chunks/{hash}"); n != 0 {
		t.Errorf("get downloaded %d chunks one by one", n)
	}
	if n := counter.get("POST /api/v1/chunks/fetch") - fetchesBefore; n < 1 || n > 8 {
		t.Errorf("%d batch downloads for the get of 300 small files", n)
	}
	if b, _ := os.ReadFile(filepath.Join(direct, "f299.txt")); string(b) != strings.Repeat("299", 100) {
		t.Fatalf("got f299.txt: %q", b)
	}

	// With the server's packs damaged the batches fail, and the files are
	// asked for one by one: the error names a file.
	packs, _ := filepath.Glob(filepath.Join(serverDir, "artifacts", "cas", "packs", "*"))
	if len(packs) == 0 {
		t.Fatal("no packs on the server")
	}
	for _, p := range packs {
		b, _ := os.ReadFile(p)
		for i := 0; i < len(b); i += 97 {
			b[i] ^= 1
		}
		os.WriteFile(p, b, 0o644)
	}
	_, err = cc.GetDataset(ctx, "many@1", t.TempDir(), client.GetDatasetOptions{})
	if err == nil || !strings.Contains(err.Error(), ".txt: chunk 1 of 1") {
		t.Fatalf("get from a damaged server: %v", err)
	}
}

// An older server without the batch download: the client falls back to
// one request per chunk, and asks once only.
func TestGetChunksWithAnOlderServer(t *testing.T) {
	var fetches int
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/chunks/{hash}", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("PUT /api/v1/chunks/{hash}", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fetches++
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusMethodNotAllowed)
		_, _ = w.Write([]byte(`{"error_code":"BAD_REQUEST","message":"method not allowed"}`))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	c, err := client.New(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := c.GetChunks(context.Background(), []string{strings.Repeat("a", 64)}); !errors.Is(err, dataset.ErrNoBatchSource) {
			t.Fatalf("GetChunks from an older server: %v", err)
		}
	}
	if fetches != 1 {
		t.Fatalf("%d batch requests, want 1", fetches)
	}
}

// A batch answer that lacks a chunk, or holds another one, is an error.
func TestGetChunksRefusesAWrongBatch(t *testing.T) {
	a, b := strings.Repeat("a", 64), strings.Repeat("b", 64)
	var answer []dataset.ChunkData
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = dataset.EncodeChunkBatch(w, answer)
	}))
	defer srv.Close()
	c, err := client.New(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	for _, ans := range [][]dataset.ChunkData{
		{{Hash: a, Data: []byte("x")}},                               // one of two
		{{Hash: b, Data: []byte("y")}, {Hash: a, Data: []byte("x")}}, // out of order
	} {
		answer = ans
		if _, err := c.GetChunks(context.Background(), []string{a, b}); !errors.Is(err, dataset.ErrCorrupt) {
			t.Errorf("answer %d chunks: %v, want ErrCorrupt", len(ans), err)
		}
	}
}
