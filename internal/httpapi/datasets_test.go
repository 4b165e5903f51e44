package httpapi

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zeebo/blake3"

	"github.com/mlcycle/mlcycle/internal/actor"
	"github.com/mlcycle/mlcycle/internal/audit"
	"github.com/mlcycle/mlcycle/internal/blob"
	"github.com/mlcycle/mlcycle/internal/dataset"
	"github.com/mlcycle/mlcycle/internal/store"
	"github.com/mlcycle/mlcycle/internal/store/storetest"
)

// eachDatasets runs fn against a real API server whose dataset service
// lives in a fresh SQLite database and a fresh PostgreSQL schema.
func eachDatasets(t *testing.T, fn func(t *testing.T, env *testEnv, svc *dataset.Service)) {
	eachDatasetStore(t, func(t *testing.T, env *testEnv, svc *dataset.Service, _ string) { fn(t, env, svc) })
}

// eachDatasetStore is eachDatasets that also gives the folder of the
// service's file store.
func eachDatasetStore(t *testing.T, fn func(t *testing.T, env *testEnv, svc *dataset.Service, root string)) {
	migs := append(audit.Migrations(), dataset.Migrations()...)
	storetest.Each(t, migs, func(t *testing.T, db *store.DB) {
		root := t.TempDir()
		bs, err := blob.Open(context.Background(), "file://"+root)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { bs.Close() })
		svc := dataset.New(db, audit.New(db, audit.Options{}), bs, dataset.Options{NoStateCache: true})
		t.Cleanup(func() { svc.Close() })
		env := newEnv(t, func(d *Deps) { d.Datasets = svc })
		fn(t, env, svc, root)
	})
}

func hashOf(b []byte) string {
	s := blake3.Sum256(b)
	return hex.EncodeToString(s[:])
}

func decodeInto(t *testing.T, res result, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(res.body), v); err != nil {
		t.Fatalf("response %d: %v\n%s", res.status, err, res.body)
	}
}

func TestDatasetRoutes(t *testing.T) {
	eachDatasets(t, func(t *testing.T, env *testEnv, svc *dataset.Service) {
		ed, vic, admin := bearer("editor-token"), bearer("viewer-token"), bearer("admin-token")
		// Version 1 is added on the server's side; version 2 is pushed.
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "a.txt"), []byte("alpha\n"), 0o644)
		os.WriteFile(filepath.Join(dir, "t.csv"), []byte("x,y\n1,a\n2,b\n"), 0o644)
		ctx := actor.With(context.Background(), actor.Actor{Name: "ed", Role: "editor"})
		if _, err := svc.Add(ctx, dataset.AddInput{Name: "iris", Paths: []string{dir}}); err != nil {
			t.Fatal(err)
		}

		res := env.do(t, "GET", "/api/v1/datasets", "", vic)
		if res.status != 200 || !strings.Contains(res.body, `"name":"iris"`) {
			t.Fatalf("list: %d %s", res.status, res.body)
		}
		for _, p := range []string{"/api/v1/datasets/iris@1", "/api/v1/datasets/iris%401", "/api/v1/datasets/iris/versions/1", "/api/v1/datasets/iris/versions/latest"} {
			res = env.do(t, "GET", p, "", vic)
			var d VersionDetailJSON
			decodeInto(t, res, &d)
			if res.status != 200 || d.Ref != "iris@1" || len(d.Manifest.Files) != 2 || d.Runs == nil {
				t.Fatalf("show %s: %d %s", p, res.status, res.body)
			}
		}

		// Push: a chunk the server lacks, then the manifest.
		body := []byte("gamma gamma\n")
		h := hashOf(body)
		m := dataset.Manifest{Format: dataset.ManifestFormat, Files: []dataset.FileEntry{{Path: "g.txt", Size: int64(len(body)), Hash: h}}}
		rec, _ := json.Marshal(RecordVersionRequest{Message: "pushed", Manifest: &m})
		res = env.do(t, "POST", "/api/v1/datasets/iris/versions", string(rec), ed)
		if res.status != 400 || !strings.Contains(res.body, h) {
			t.Fatalf("record with a missing chunk: %d %s", res.status, res.body)
		}
		res = env.do(t, "POST", "/api/v1/chunks/missing", `{"hashes":["`+h+`"]}`, vic)
		// The server takes chunks of any size (up to 8 MiB) in batches.
		if res.status != 200 || res.body != `{"batch_chunk_limit":8388609,"missing":["`+h+`"]}`+"\n" {
			t.Fatalf("missing: %d %s", res.status, res.body)
		}
		if res = env.do(t, "PUT", "/api/v1/chunks/"+h, "not the bytes", ed); res.status != 400 {
			t.Fatalf("put with a wrong hash: %d %s", res.status, res.body)
		}
		if res = env.do(t, "PUT", "/api/v1/chunks/"+h, string(body), vic); res.status != 403 {
			t.Fatalf("viewer put: %d", res.status)
		}
		if res = env.do(t, "PUT", "/api/v1/chunks/"+h, string(body), ed); res.status != 200 {
			t.Fatalf("put: %d %s", res.status, res.body)
		}
		if res = env.do(t, "GET", "/api/v1/chunks/"+h, "", vic); res.status != 200 || res.body != string(body) {
			t.Fatalf("get chunk: %d %q", res.status, res.body)
		}
		if res = env.do(t, "GET", "/api/v1/chunks/"+hashOf([]byte("nope")), "", vic); res.status != 404 {
			t.Fatalf("get unknown chunk: %d", res.status)
		}
		if res = env.do(t, "GET", "/api/v1/chunks/zz", "", vic); res.status != 400 {
			t.Fatalf("get bad hash: %d", res.status)
		}
		res = env.do(t, "POST", "/api/v1/chunks/missing", `{"hashes":["`+h+`"]}`, vic)
		if res.body != `{"batch_chunk_limit":8388609,"missing":[]}`+"\n" {
			t.Fatalf("missing after put: %s", res.body)
		}

		// A batch: all of it or none.
		one, two := []byte("batch one\n"), []byte("batch two\n")
		batch := func(cs ...dataset.ChunkData) string {
			var b strings.Builder
			if err := dataset.EncodeChunkBatch(&b, cs); err != nil {
				t.Fatal(err)
			}
			return b.String()
		}
		good := batch(dataset.ChunkData{Hash: hashOf(one), Data: one}, dataset.ChunkData{Hash: hashOf(two), Data: two}, dataset.ChunkData{Hash: h, Data: body})
		bad := batch(dataset.ChunkData{Hash: hashOf(one), Data: one}, dataset.ChunkData{Hash: hashOf(two), Data: one})
		both := `{"hashes":["` + hashOf(one) + `","` + hashOf(two) + `"]}`
		if res = env.do(t, "POST", "/api/v1/chunks/batch", bad, ed); res.status != 400 || !strings.Contains(res.body, hashOf(two)) {
			t.Fatalf("batch with a wrong chunk: %d %s", res.status, res.body)
		}
		for _, cut := range []string{good[:20], good[:50]} {
			if res = env.do(t, "POST", "/api/v1/chunks/batch", cut, ed); res.status != 400 || !strings.Contains(res.body, "cut short") {
				t.Fatalf("truncated batch: %d %s", res.status, res.body)
			}
		}
		huge := good[:32] + "\x01\x00\x00\x00" // a chunk of 16 MiB: larger than any chunk
		if res = env.do(t, "POST", "/api/v1/chunks/batch", huge, ed); res.status != 400 || !strings.Contains(res.body, "16777216 bytes") {
			t.Fatalf("batch with a large chunk: %d %s", res.status, res.body)
		}
		if res = env.do(t, "POST", "/api/v1/chunks/batch", good, vic); res.status != 403 {
			t.Fatalf("viewer batch: %d", res.status)
		}
		if res = env.do(t, "POST", "/api/v1/chunks/missing", both, vic); !strings.Contains(res.body, hashOf(one)) || !strings.Contains(res.body, hashOf(two)) {
			t.Fatalf("refused batches stored chunks: %s", res.body)
		}
		if res = env.do(t, "POST", "/api/v1/chunks/batch", good, ed); res.status != 200 || res.body != `{"chunks":3}`+"\n" {
			t.Fatalf("batch: %d %s", res.status, res.body)
		}
		if res = env.do(t, "POST", "/api/v1/chunks/missing", both, vic); res.body != `{"batch_chunk_limit":8388609,"missing":[]}`+"\n" {
			t.Fatalf("missing after batch: %s", res.body)
		}
		// A large chunk travels in a batch too, and reads back.
		large := bytes.Repeat([]byte("large chunk "), 100_000) // 1.2 MB
		if res = env.do(t, "POST", "/api/v1/chunks/batch", batch(dataset.ChunkData{Hash: hashOf(large), Data: large}), ed); res.status != 200 {
			t.Fatalf("batch of a large chunk: %d %s", res.status, res.body)
		}
		if res = env.do(t, "GET", "/api/v1/chunks/"+hashOf(large), "", vic); res.status != 200 || res.body != string(large) {
			t.Fatalf("large chunk read back: %d, %d bytes", res.status, len(res.body))
		}
		if res = env.do(t, "GET", "/api/v1/chunks/"+hashOf(two), "", vic); res.status != 200 || res.body != string(two) {
			t.Fatalf("get batched chunk: %d %q", res.status, res.body)
		}
		res = env.do(t, "POST", "/api/v1/datasets/iris/versions", string(rec), ed)
		var out struct{ Version VersionJSON }
		decodeInto(t, res, &out)
		if res.status != 200 || out.Version.Ref != "iris@2" || out.Version.Message != "pushed" {
			t.Fatalf("record: %d %s", res.status, res.body)
		}

		// Tags.
		if res = env.do(t, "PUT", "/api/v1/datasets/iris/tags/prod", `{"version":"1"}`, ed); res.status != 200 {
			t.Fatalf("tag: %d %s", res.status, res.body)
		}
		res = env.do(t, "GET", "/api/v1/datasets/iris@prod", "", vic)
		if !strings.Contains(res.body, `"ref":"iris@1"`) || !strings.Contains(res.body, `"prod"`) {
			t.Fatalf("show by tag: %s", res.body)
		}
		res = env.do(t, "GET", "/api/v1/datasets/iris/versions", "", vic)
		var vs struct{ Versions []VersionJSON }
		decodeInto(t, res, &vs)
		if len(vs.Versions) != 2 {
			t.Fatalf("versions: %s", res.body)
		}

		// Diff.
		res = env.do(t, "GET", "/api/v1/datasets/diff?a=iris@1&b=iris@2", "", vic)
		var d DatasetDiff
		decodeInto(t, res, &d)
		if res.status != 200 || strings.Join(d.Added, ",") != "g.txt" || strings.Join(d.Removed, ",") != "a.txt,t.csv" {
			t.Fatalf("diff: %d %s", res.status, res.body)
		}
		if res = env.do(t, "GET", "/api/v1/datasets/diff?a=iris@1", "", vic); res.status != 400 {
			t.Fatalf("diff without b: %d", res.status)
		}

		// Lineage.
		if err := svc.LinkDatasetInput(ctx, "run1", "mlcycle://iris@1", "", "training"); err != nil {
			t.Fatal(err)
		}
		res = env.do(t, "GET", "/api/v1/datasets/iris@prod/runs", "", vic)
		if res.status != 200 || !strings.Contains(res.body, `"run_id":"run1"`) || !strings.Contains(res.body, `"context":"training"`) {
			t.Fatalf("runs: %d %s", res.status, res.body)
		}

		if res = env.do(t, "DELETE", "/api/v1/datasets/iris/tags/prod", "", ed); res.status != 200 {
			t.Fatalf("untag: %d %s", res.status, res.body)
		}
		if res = env.do(t, "GET", "/api/v1/datasets/iris@prod", "", vic); res.status != 404 {
			t.Fatalf("show removed tag: %d", res.status)
		}
		if res = env.do(t, "DELETE", "/api/v1/datasets/iris/versions/2", "", ed); res.status != 200 {
			t.Fatalf("rm: %d %s", res.status, res.body)
		}
		if res = env.do(t, "POST", "/api/v1/datasets/gc", `{"dry_run":true}`, ed); res.status != 403 {
			t.Fatalf("editor gc: %d", res.status)
		}
		time.Sleep(5 * time.Millisecond)
		res = env.do(t, "POST", "/api/v1/datasets/gc", `{"grace_period":"1ns"}`, admin)
		var gc GCReportJSON
		decodeInto(t, res, &gc)
		if res.status != 200 || gc.Chunks == 0 {
			t.Fatalf("gc: %d %s", res.status, res.body)
		}
		if res = env.do(t, "GET", "/api/v1/chunks/"+h, "", vic); res.status != 404 {
			t.Fatalf("chunk after gc: %d", res.status)
		}
	})
}

func TestDatasetVerifyRoute(t *testing.T) {
	eachDatasetStore(t, func(t *testing.T, env *testEnv, svc *dataset.Service, root string) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "a.txt"), []byte("alpha\n"), 0o644)
		os.WriteFile(filepath.Join(dir, "b.txt"), []byte("beta\n"), 0o644)
		ctx := actor.With(context.Background(), actor.Actor{Name: "ed", Role: "editor"})
		for _, name := range []string{"one", "two"} {
			if _, err := svc.Add(ctx, dataset.AddInput{Name: name, Paths: []string{dir}}); err != nil {
				t.Fatal(err)
			}
		}
		admin := bearer("admin-token")
		if res := env.do(t, "POST", "/api/v1/datasets/verify", "", bearer("editor-token")); res.status != 403 {
			t.Fatalf("editor verify: %d %s", res.status, res.body)
		}
		var rep VerifyReportJSON
		res := env.do(t, "POST", "/api/v1/datasets/verify", "", admin)
		decodeInto(t, res, &rep)
		if res.status != 200 || rep.Versions != 2 || rep.Chunks != 2 || rep.Bytes != 11 || rep.Damaged == nil || len(rep.Damaged) != 0 {
			t.Fatalf("verify: %d %s", res.status, res.body)
		}

		// Damage the pack holding both files' chunks.
		packs, err := filepath.Glob(filepath.Join(root, "cas", "packs", "*"))
		if err != nil || len(packs) != 1 {
			t.Fatalf("packs: %v %v", packs, err)
		}
		b, err := os.ReadFile(packs[0])
		if err != nil {
			t.Fatal(err)
		}
		b[0] ^= 1
		if err := os.WriteFile(packs[0], b, 0o644); err != nil {
			t.Fatal(err)
		}
		res = env.do(t, "POST", "/api/v1/datasets/verify", `{"refs":["two@1"]}`, admin)
		decodeInto(t, res, &rep)
		if res.status != 200 || rep.Versions != 1 || len(rep.Damaged) != 1 || !strings.Contains(rep.Damaged[0].Problem, "does not match its hash") ||
			len(rep.Damaged[0].UsedBy) != 1 || !strings.HasPrefix(rep.Damaged[0].UsedBy[0], "two@1:") {
			t.Fatalf("verify a damaged pack: %d %s", res.status, res.body)
		}
		if res = env.do(t, "POST", "/api/v1/datasets/verify", `{"refs":["three@1"]}`, admin); res.status != 404 {
			t.Fatalf("verify an unknown version: %d %s", res.status, res.body)
		}
		if res = env.do(t, "POST", "/api/v1/datasets/verify", `{"refs":"two"}`, admin); res.status != 400 {
			t.Fatalf("verify with refs not a list: %d %s", res.status, res.body)
		}
	})
}

func TestDatasetFileRoute(t *testing.T) {
	eachDatasetStore(t, func(t *testing.T, env *testEnv, svc *dataset.Service, root string) {
		dir := t.TempDir()
		big := make([]byte, 3*dataset.ChunkMax) // several chunks
		rand.Read(big)
		os.MkdirAll(filepath.Join(dir, "data"), 0o755)
		os.WriteFile(filepath.Join(dir, "data", "big.bin"), big, 0o644)
		os.WriteFile(filepath.Join(dir, "t.csv"), []byte("x,y\n1,a\n"), 0o644)
		ctx := actor.With(context.Background(), actor.Actor{Name: "ed", Role: "editor"})
		if _, err := svc.Add(ctx, dataset.AddInput{Name: "files", Paths: []string{dir}}); err != nil {
			t.Fatal(err)
		}
		vic := bearer("viewer-token")
		header := func(k, v string) cred { return func(r *http.Request) { r.Header.Set(k, v) } }

		res := env.do(t, "GET", "/api/v1/datasets/files@1/files/data/big.bin", "", vic)
		if res.status != 200 || res.body != string(big) || res.header.Get("Content-Length") != strconv.Itoa(len(big)) ||
			res.header.Get("Content-Disposition") != `attachment; filename=big.bin` || res.header.Get("X-Mlcycle-Dataset-Version") != "files@1" {
			t.Fatalf("get: %d, %d bytes, %v", res.status, len(res.body), res.header)
		}
		etag := res.header.Get("ETag")
		res = env.do(t, "GET", "/api/v1/datasets/files%40latest/files/t.csv", "", vic)
		if res.status != 200 || res.body != "x,y\n1,a\n" || !strings.HasPrefix(res.header.Get("Content-Type"), "text/csv") {
			t.Fatalf("get csv: %d %q %v", res.status, res.body, res.header)
		}
		// a range across the first chunk boundary
		d, err := svc.Show(ctx, "files@1")
		if err != nil {
			t.Fatal(err)
		}
		f, _ := d.Manifest.File("data/big.bin")
		cut := f.ChunkList()[0].Size
		res = env.do(t, "GET", "/api/v1/datasets/files@1/files/data/big.bin", "", vic, header("Range", fmt.Sprintf("bytes=%d-%d", cut-5, cut+4)))
		if res.status != 206 || res.body != string(big[cut-5:cut+5]) {
			t.Fatalf("range: %d %q", res.status, res.body)
		}
		if res = env.do(t, "GET", "/api/v1/datasets/files@1/files/data/big.bin", "", vic, header("If-None-Match", etag)); res.status != 304 {
			t.Fatalf("if-none-match %s: %d", etag, res.status)
		}
		if res = env.do(t, "HEAD", "/api/v1/datasets/files@1/files/data/big.bin", "", vic); res.status != 200 || res.body != "" || res.header.Get("Content-Length") != strconv.Itoa(len(big)) {
			t.Fatalf("head: %d %v", res.status, res.header)
		}
		for _, p := range []string{"/api/v1/datasets/files@1/files/nope.csv", "/api/v1/datasets/files@1/files/data", "/api/v1/datasets/files@9/files/t.csv", "/api/v1/datasets/other@1/files/t.csv"} {
			if res = env.do(t, "GET", p, "", vic); res.status != 404 {
				t.Errorf("%s: %d %s", p, res.status, res.body)
			}
		}
		if res = env.do(t, "GET", "/api/v1/datasets/files@1/files/t.csv", ""); res.status != 401 {
			t.Fatalf("anonymous: %d", res.status)
		}
		// the UI's download links: a GET with the session cookie alone
		if res = env.do(t, "GET", "/api/v1/datasets/files@1/files/t.csv", "", session("sess-vic", "")); res.status != 200 || res.body != "x,y\n1,a\n" {
			t.Fatalf("with a UI session: %d %s", res.status, res.body)
		}

		// The whole version, or a folder of it, as one zip.
		for _, c := range []struct {
			query string
			want  map[string]string
		}{
			{"", map[string]string{"data/big.bin": string(big), "t.csv": "x,y\n1,a\n"}},
			{"?path=data", map[string]string{"data/big.bin": string(big)}},
			{"?path=t.csv&path=data/big.bin", map[string]string{"data/big.bin": string(big), "t.csv": "x,y\n1,a\n"}},
		} {
			res = env.do(t, "GET", "/api/v1/datasets/files@latest/archive"+c.query, "", vic)
			if res.status != 200 || res.header.Get("Content-Type") != "application/zip" ||
				res.header.Get("Content-Disposition") != `attachment; filename=files-1.zip` {
				t.Fatalf("archive%s: %d %v", c.query, res.status, res.header)
			}
			zr, err := zip.NewReader(strings.NewReader(res.body), int64(len(res.body)))
			if err != nil {
				t.Fatalf("archive%s: %v", c.query, err)
			}
			got := map[string]string{}
			for _, zf := range zr.File {
				rc, err := zf.Open()
				if err != nil {
					t.Fatal(err)
				}
				b, err := io.ReadAll(rc)
				rc.Close()
				if err != nil {
					t.Fatalf("archive%s: %s: %v", c.query, zf.Name, err)
				}
				got[zf.Name] = string(b)
			}
			if len(got) != len(c.want) || got["t.csv"] != c.want["t.csv"] || got["data/big.bin"] != c.want["data/big.bin"] {
				t.Fatalf("archive%s holds %d files, want %d", c.query, len(got), len(c.want))
			}
		}
		res = env.do(t, "GET", "/api/v1/datasets/files@1/archive?format=tar&path=data", "", vic)
		if res.status != 200 || res.header.Get("Content-Type") != "application/x-tar" ||
			res.header.Get("Content-Disposition") != `attachment; filename=files-1.tar` {
			t.Fatalf("tar archive: %d %v", res.status, res.header)
		}
		tr := tar.NewReader(strings.NewReader(res.body))
		hdr, err := tr.Next()
		if err != nil || hdr.Name != "data/big.bin" || hdr.Size != int64(len(big)) {
			t.Fatalf("tar: %+v, %v", hdr, err)
		}
		if b, err := io.ReadAll(tr); err != nil || !bytes.Equal(b, big) {
			t.Fatalf("tar content: %d bytes, %v", len(b), err)
		}
		if _, err := tr.Next(); err != io.EOF {
			t.Fatalf("tar holds more than data/: %v", err)
		}
		if res = env.do(t, "GET", "/api/v1/datasets/files@1/archive?format=rar", "", vic); res.status != 400 {
			t.Errorf("archive as rar: %d %s", res.status, res.body)
		}
		for _, p := range []string{"/api/v1/datasets/files@1/archive?path=nope", "/api/v1/datasets/files@9/archive"} {
			if res = env.do(t, "GET", p, "", vic); res.status != 404 {
				t.Errorf("%s: %d %s", p, res.status, res.body)
			}
		}
		if res = env.do(t, "GET", "/api/v1/datasets/files@1/archive?path=../x", "", vic); res.status != 400 {
			t.Errorf("archive of ../x: %d %s", res.status, res.body)
		}

		// Batch download of chunks, in the order asked.
		hs := []string{f.ChunkList()[1].Hash, f.ChunkList()[0].Hash}
		res = env.do(t, "POST", "/api/v1/chunks/fetch", `{"hashes":["`+hs[0]+`","`+hs[1]+`"]}`, vic)
		if res.status != 200 {
			t.Fatalf("fetch: %d %s", res.status, res.body)
		}
		fetched, err := dataset.DecodeChunkBatch(strings.NewReader(res.body), dataset.ChunkMax+1)
		c0, c1 := f.ChunkList()[0], f.ChunkList()[1]
		if err != nil || len(fetched) != 2 || fetched[0].Hash != hs[0] || string(fetched[0].Data) != string(big[c0.Size:c0.Size+c1.Size]) ||
			string(fetched[1].Data) != string(big[:c0.Size]) {
			t.Fatalf("fetched %d chunks: %v", len(fetched), err)
		}
		all := `{"hashes":["` + strings.Join(func() []string {
			var out []string
			for _, c := range f.ChunkList() {
				out = append(out, c.Hash)
			}
			return out
		}(), `","`) + `"]}`
		for _, c := range []struct {
			body   string
			status int
		}{
			{`{"hashes":["` + strings.Repeat("0", 64) + `"]}`, 404},
			{`{"hashes":["xyz"]}`, 400},
			{all, 400}, // 24 MiB: over the 16 MiB of a batch
			{`{"hashes":"x"}`, 400},
		} {
			if res = env.do(t, "POST", "/api/v1/chunks/fetch", c.body, vic); res.status != c.status {
				t.Errorf("fetch %.80s: %d, want %d: %s", c.body, res.status, c.status, res.body)
			}
		}
		if res = env.do(t, "POST", "/api/v1/chunks/fetch", `{"hashes":[]}`); res.status != 401 {
			t.Errorf("anonymous fetch: %d", res.status)
		}

		// Damage: in a later chunk, the stream is cut short after the
		// first chunk's bytes; in the first chunk, an error status.
		flip := func(data []byte) {
			t.Helper()
			packs, _ := filepath.Glob(filepath.Join(root, "cas", "packs", "*"))
			for _, p := range packs {
				b, _ := os.ReadFile(p)
				if i := bytes.Index(b, data[:64]); i >= 0 {
					b[i+10] ^= 1
					os.WriteFile(p, b, 0o644)
					return
				}
			}
			t.Fatal("chunk not found in a pack")
		}
		flip(big[cut:])
		req, _ := http.NewRequest("GET", env.srv.URL+"/api/v1/datasets/files@1/files/data/big.bin", nil)
		vic(req)
		resp, err := env.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || err == nil || int64(len(got)) != cut || !bytes.Equal(got, big[:cut]) {
			t.Fatalf("get with a damaged second chunk: %d, %d bytes, %v", resp.StatusCode, len(got), err)
		}
		// a batch download with the damaged chunk second is cut after the first
		req, _ = http.NewRequest("POST", env.srv.URL+"/api/v1/chunks/fetch",
			strings.NewReader(`{"hashes":["`+c0.Hash+`","`+c1.Hash+`"]}`))
		vic(req)
		if resp, err = env.srv.Client().Do(req); err != nil {
			t.Fatal(err)
		}
		got, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		if part, derr := dataset.DecodeChunkBatch(bytes.NewReader(got), dataset.ChunkMax+1); resp.StatusCode != 200 || err == nil ||
			derr != nil || len(part) != 1 || part[0].Hash != c0.Hash {
			t.Fatalf("fetch with a damaged chunk: %d, %d bytes (%v), %d chunks (%v)", resp.StatusCode, len(got), err, len(part), derr)
		}
		// the archive is cut short too: no zip reader takes it
		req, _ = http.NewRequest("GET", env.srv.URL+"/api/v1/datasets/files@1/archive", nil)
		vic(req)
		if resp, err = env.srv.Client().Do(req); err != nil {
			t.Fatal(err)
		}
		got, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		if _, zerr := zip.NewReader(bytes.NewReader(got), int64(len(got))); err == nil || zerr == nil {
			t.Fatalf("archive with a damaged chunk: read %d bytes (%v), and it unzips", len(got), err)
		}
		flip(big)
		res = env.do(t, "GET", "/api/v1/datasets/files@1/files/data/big.bin", "", vic)
		if res.status != 500 || !strings.Contains(res.body, "internal error") { // the detail goes to the log
			t.Fatalf("get with a damaged first chunk: %d %s", res.status, res.body)
		}
	})
}

func TestDatasetRoutesBadInput(t *testing.T) {
	eachDatasets(t, func(t *testing.T, env *testEnv, _ *dataset.Service) {
		ed, vic := bearer("editor-token"), bearer("viewer-token")
		for _, tc := range []struct {
			method, path, body string
			status             int
		}{
			{"GET", "/api/v1/datasets/no-such@1", "", 404},
			{"GET", "/api/v1/datasets/bad name@1", "", 400},
			{"GET", "/api/v1/datasets/iris@0", "", 400},
			{"POST", "/api/v1/datasets/iris/versions", `{"message":"x"}`, 400},
			{"POST", "/api/v1/datasets/iris/versions", `{"manifest":{"format":2,"files":[{"path":"../x","size":1,"hash":"` + strings.Repeat("a", 64) + `"}]}}`, 400},
			{"POST", "/api/v1/datasets/iris/versions", `{"bogus":1}`, 400},
			{"DELETE", "/api/v1/datasets/iris/versions/1?force=maybe", "", 400},
			{"POST", "/api/v1/chunks/missing", `{"hashes":["xyz"]}`, 400},
			{"PUT", "/api/v1/datasets/iris/tags/prod", `{}`, 400},
			{"POST", "/api/v1/datasets/gc", `{"grace_period":"soon"}`, 400},
			{"GET", "/api/v1/chunks/missing", "", 405},
		} {
			cred := vic
			if tc.method != "GET" {
				cred = ed
				if strings.HasSuffix(tc.path, "/gc") {
					cred = bearer("admin-token")
				}
			}
			if res := env.do(t, tc.method, strings.ReplaceAll(tc.path, " ", "%20"), tc.body, cred); res.status != tc.status {
				t.Errorf("%s %s %s: %d, want %d: %s", tc.method, tc.path, tc.body, res.status, tc.status, res.body)
			}
		}
	})
}

func TestDatasetRoutesDisabled(t *testing.T) {
	env := newEnv(t, nil)
	if res := env.do(t, "GET", "/api/v1/datasets", "", bearer("viewer-token")); res.status != 404 || !strings.Contains(res.body, "not enabled") {
		t.Fatalf("%d %s", res.status, res.body)
	}
}

// TestDatasetChunkCorrupt: a stored chunk whose bytes no longer match its
// hash is an error, never served as if it were good.
func TestDatasetChunkCorrupt(t *testing.T) {
	migs := append(audit.Migrations(), dataset.Migrations()...)
	storetest.Each(t, migs, func(t *testing.T, db *store.DB) {
		dir := t.TempDir()
		bs, err := blob.Open(context.Background(), "file://"+dir)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { bs.Close() })
		svc := dataset.New(db, audit.New(db, audit.Options{}), bs, dataset.Options{NoStateCache: true})
		env := newEnv(t, func(d *Deps) { d.Datasets = svc })
		for _, size := range []int{100, 200 << 10} { // within and beyond the first read
			body := []byte(strings.Repeat("k", size))
			h := hashOf(body)
			if res := env.do(t, "PUT", "/api/v1/chunks/"+h, string(body), bearer("editor-token")); res.status != 200 {
				t.Fatalf("put: %d %s", res.status, res.body)
			}
			key := filepath.Join(dir, filepath.FromSlash(dataset.ChunkKey(h)))
			body[len(body)/2] = 'X'
			if err := os.WriteFile(key, body, 0o644); err != nil {
				t.Fatal(err)
			}
			req, _ := http.NewRequest("GET", env.srv.URL+"/api/v1/chunks/"+h, nil)
			req.Header.Set("Authorization", "Bearer viewer-token")
			resp, err := env.srv.Client().Do(req)
			if err == nil {
				got, rerr := io.ReadAll(resp.Body)
				resp.Body.Close()
				if rerr == nil && resp.StatusCode == 200 {
					t.Fatalf("size %d: corrupt chunk served whole (%d bytes)", size, len(got))
				}
			}
		}
	})
}
