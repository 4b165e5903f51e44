package httpapi

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/mlcycle/mlcycle/internal/blob"
	"github.com/mlcycle/mlcycle/internal/errs"
)

// testResolver maps run ids, "name/version" and logged model ids to
// artifact URIs.
type testResolver struct {
	runs         map[string]string
	models       map[string]string
	loggedModels map[string]string
}

func (tr testResolver) RunArtifactURI(_ context.Context, runID string) (string, error) {
	if uri, ok := tr.runs[runID]; ok {
		return uri, nil
	}
	return "", errs.E(errs.NotFound, "run %s not found", runID)
}

func (tr testResolver) ModelVersionArtifactURI(_ context.Context, name, version string) (string, error) {
	if uri, ok := tr.models[name+"/"+version]; ok {
		return uri, nil
	}
	return "", errs.E(errs.NotFound, "model %s version %s not found", name, version)
}

func (tr testResolver) LoggedModelArtifactURI(_ context.Context, id string) (string, error) {
	if uri, ok := tr.loggedModels[id]; ok {
		return uri, nil
	}
	return "", errs.E(errs.NotFound, "logged model %s not found", id)
}

var testArtifactResolver = testResolver{
	runs: map[string]string{
		"r1":    "mlflow-artifacts:/1/r1/artifacts",
		"r2":    "mlflow-artifacts:/1/r2/artifacts",
		"s3run": "s3://elsewhere/1/s3run/artifacts",
		"host":  "mlflow-artifacts://evil.example/1/r1/artifacts",
	},
	models: map[string]string{
		"m/1": "mlflow-artifacts:/1/r1/artifacts/model",
	},
	loggedModels: map[string]string{
		"m-1": "mlflow-artifacts:/1/models/m-1/artifacts",
	},
}

// artifactEnv is a test server over a file store at <parent>/artifacts, so
// tests can check that nothing outside the store's folder changes.
type artifactEnv struct {
	*testEnv
	parent, root string
	store        *blob.Store
}

// newArtifactEnv starts the API with auth off, a file store and the test
// resolvers; edit adjusts the deps first.
func newArtifactEnv(t *testing.T, edit func(*Deps)) *artifactEnv {
	t.Helper()
	parent := t.TempDir()
	root := filepath.Join(parent, "artifacts")
	st, err := blob.Open(context.Background(), "file://"+root)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	env := newEnv(t, func(d *Deps) {
		d.Auth = nil
		d.Artifacts = st
		d.RunArtifacts = testArtifactResolver
		d.ModelArtifacts = testArtifactResolver
		d.LoggedModelArtifacts = testArtifactResolver
		if edit != nil {
			edit(d)
		}
	})
	return &artifactEnv{testEnv: env, parent: parent, root: root, store: st}
}

func (e *artifactEnv) put(t *testing.T, key, body string) {
	t.Helper()
	if _, err := e.store.Put(context.Background(), key, strings.NewReader(body)); err != nil {
		t.Fatal(err)
	}
}

func errorCode(t *testing.T, body string) string {
	t.Helper()
	var e errorBody
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		t.Fatalf("error body %q: %v", body, err)
	}
	return e.ErrorCode
}

// TestMLflowArtifactProxy walks the mlflow-artifacts routes through upload,
// list, download and delete, in order: each step sees the previous ones.
func TestMLflowArtifactProxy(t *testing.T) {
	env := newArtifactEnv(t, nil)
	const api = "/api/2.0/mlflow-artifacts/artifacts"
	const ajax = "/ajax-api/2.0/mlflow-artifacts/artifacts"
	steps := []struct {
		name, method, path, body string
		status                   int
		want                     string            // exact body, or "" to skip
		contains                 string            // substring of the body
		headers                  map[string]string // expected response headers
	}{
		{name: "upload json", method: "PUT", path: api + "/1/r1/artifacts/metrics.json", body: `{"acc": 0.9}`, status: 200, want: "{}\n"},
		{name: "upload MLmodel", method: "PUT", path: api + "/1/r1/artifacts/model/MLmodel", body: "flavors: {}\n", status: 200},
		{name: "upload binary", method: "PUT", path: ajax + "/1/r1/artifacts/model/model.pkl", body: "\x00\x01pickle", status: 200},
		{name: "upload image", method: "PUT", path: api + "/1/r1/artifacts/plot.png", body: "\x89PNG", status: 200},
		{name: "upload page", method: "PUT", path: api + "/1/r1/artifacts/report.html", body: "<script>alert(1)</script>", status: 200},
		{name: "upload non-ASCII name", method: "PUT", path: api + "/1/r1/artifacts/%C3%A9t%C3%A9.bin", body: "x", status: 200},

		{name: "list run root", method: "GET", path: api + "?path=1/r1/artifacts", status: 200,
			want: `{"files":[{"path":"metrics.json","is_dir":false,"file_size":12},{"path":"model","is_dir":true},{"path":"plot.png","is_dir":false,"file_size":4},{"path":"report.html","is_dir":false,"file_size":25},{"path":"été.bin","is_dir":false,"file_size":1}]}` + "\n"},
		{name: "list store root", method: "GET", path: api, status: 200, want: `{"files":[{"path":"1","is_dir":true}]}` + "\n"},
		{name: "list sub-folder, ajax", method: "GET", path: ajax + "?path=1/r1/artifacts/model/", status: 200,
			want: `{"files":[{"path":"MLmodel","is_dir":false,"file_size":12},{"path":"model.pkl","is_dir":false,"file_size":8}]}` + "\n"},
		{name: "list missing folder", method: "GET", path: api + "?path=nope", status: 200, want: `{"files":[]}` + "\n"},
		{name: "list a file", method: "GET", path: api + "?path=1/r1/artifacts/plot.png", status: 200, want: `{"files":[]}` + "\n"},

		{name: "download json", method: "GET", path: api + "/1/r1/artifacts/metrics.json", status: 200, want: `{"acc": 0.9}`,
			headers: map[string]string{"Content-Type": "text/plain; charset=utf-8", "Content-Length": "12",
				"X-Content-Type-Options": "nosniff", "Content-Disposition": "inline; filename=metrics.json"}},
		{name: "download MLmodel", method: "GET", path: ajax + "/1/r1/artifacts/model/MLmodel", status: 200, want: "flavors: {}\n",
			headers: map[string]string{"Content-Type": "text/plain; charset=utf-8"}},
		{name: "download binary", method: "GET", path: api + "/1/r1/artifacts/model/model.pkl", status: 200, want: "\x00\x01pickle",
			headers: map[string]string{"Content-Type": "application/octet-stream", "Content-Disposition": "attachment; filename=model.pkl"}},
		{name: "download image", method: "GET", path: api + "/1/r1/artifacts/plot.png", status: 200,
			headers: map[string]string{"Content-Type": "image/png", "Content-Disposition": "inline; filename=plot.png"}},
		{name: "download html is an attachment", method: "GET", path: api + "/1/r1/artifacts/report.html", status: 200,
			headers: map[string]string{"Content-Type": "text/html; charset=utf-8", "Content-Disposition": "attachment; filename=report.html",
				"Content-Security-Policy": "default-src 'none'; sandbox"}},
		{name: "download non-ASCII name", method: "GET", path: api + "/1/r1/artifacts/%C3%A9t%C3%A9.bin", status: 200, want: "x",
			headers: map[string]string{"Content-Disposition": "attachment; filename*=utf-8''%C3%A9t%C3%A9.bin"}},
		{name: "download folder", method: "GET", path: api + "/1/r1/artifacts/model", status: 400, contains: "is a folder"},
		{name: "download missing", method: "GET", path: api + "/1/r1/artifacts/nope.txt", status: 404, contains: "RESOURCE_DOES_NOT_EXIST"},
		{name: "download empty path", method: "GET", path: api + "/", status: 400, contains: "INVALID_PARAMETER_VALUE"},

		{name: "overwrite", method: "PUT", path: api + "/1/r1/artifacts/metrics.json", body: "v2", status: 200},
		{name: "read the new version", method: "GET", path: api + "/1/r1/artifacts/metrics.json", status: 200, want: "v2"},
		{name: "file where a folder is", method: "PUT", path: api + "/1/r1/artifacts/model", body: "x", status: 400, contains: "RESOURCE_ALREADY_EXISTS"},
		{name: "folder where a file is", method: "PUT", path: api + "/1/r1/artifacts/plot.png/x", body: "x", status: 400, contains: "RESOURCE_ALREADY_EXISTS"},

		{name: "multipart create", method: "POST", path: "/api/2.0/mlflow-artifacts/mpu/create/1/r1/artifacts", body: `{"path": "big.bin", "num_parts": 3}`,
			status: 501, want: `{"error_code":"NOT_IMPLEMENTED","message":"` + multipartUploadUnsupported + `"}` + "\n"},
		{name: "multipart complete", method: "POST", path: "/ajax-api/2.0/mlflow-artifacts/mpu/complete/1/r1/artifacts", body: `{}`, status: 501, contains: "NOT_IMPLEMENTED"},
		{name: "multipart abort", method: "POST", path: "/api/2.0/mlflow-artifacts/mpu/abort/1/r1/artifacts", body: `{}`, status: 501, contains: "NOT_IMPLEMENTED"},
		{name: "presigned download", method: "GET", path: "/api/2.0/mlflow-artifacts/presigned/1/r1/artifacts/plot.png", status: 501, contains: multipartDownloadUnsupported},

		{name: "delete file", method: "DELETE", path: api + "/1/r1/artifacts/plot.png", status: 200, want: "{}\n"},
		{name: "deleted file is gone", method: "GET", path: api + "/1/r1/artifacts/plot.png", status: 404},
		{name: "delete folder", method: "DELETE", path: ajax + "/1/r1/artifacts/model", status: 200},
		{name: "deleted folder is gone", method: "GET", path: api + "?path=1/r1/artifacts", status: 200,
			want: `{"files":[{"path":"metrics.json","is_dir":false,"file_size":2},{"path":"report.html","is_dir":false,"file_size":25},{"path":"été.bin","is_dir":false,"file_size":1}]}` + "\n"},
		{name: "delete missing", method: "DELETE", path: api + "/1/r1/artifacts/nope", status: 200},
		{name: "delete everything is refused", method: "DELETE", path: api + "/", status: 400},
	}
	for _, s := range steps {
		res := env.do(t, s.method, s.path, s.body)
		if res.status != s.status {
			t.Errorf("%s: %s %s: %d %s, want %d", s.name, s.method, s.path, res.status, res.body, s.status)
			continue
		}
		if s.want != "" && res.body != s.want {
			t.Errorf("%s: body %q, want %q", s.name, res.body, s.want)
		}
		if !strings.Contains(res.body, s.contains) {
			t.Errorf("%s: body %q does not contain %q", s.name, res.body, s.contains)
		}
		for k, v := range s.headers {
			if got := res.header.Get(k); got != v {
				t.Errorf("%s: %s = %q, want %q", s.name, k, got, v)
			}
		}
	}
}

func TestArtifactRangeAndHead(t *testing.T) {
	env := newArtifactEnv(t, nil)
	env.put(t, "a/data.bin", "0123456789")
	url := env.srv.URL + "/api/2.0/mlflow-artifacts/artifacts/a/data.bin"

	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Range", "bytes=2-5")
	resp, err := env.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 206 || string(b) != "2345" || resp.Header.Get("Content-Range") != "bytes 2-5/10" {
		t.Errorf("range: %d %q %q", resp.StatusCode, b, resp.Header.Get("Content-Range"))
	}

	resp, err = env.srv.Client().Head(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.ContentLength != 10 {
		t.Errorf("head: %d, length %d", resp.StatusCode, resp.ContentLength)
	}
}

// TestRunArtifactRoutes covers the routes that find artifacts by run id or
// model version.
func TestRunArtifactRoutes(t *testing.T) {
	env := newArtifactEnv(t, nil)
	env.put(t, "1/r1/artifacts/metrics.txt", "acc 0.9")
	env.put(t, "1/r1/artifacts/model/MLmodel", "flavors: {}")
	env.put(t, "1/r1/artifacts/model/sub/weights.bin", "wwww")
	env.put(t, "1/r2/artifacts/other.txt", "not r1's")

	tests := []struct {
		name, path string
		status     int
		want       string // exact body, or "" to skip
		contains   string
	}{
		{"list root", "/api/2.0/mlflow/artifacts/list?run_id=r1", 200,
			`{"root_uri":"mlflow-artifacts:/1/r1/artifacts","files":[{"path":"metrics.txt","is_dir":false,"file_size":7},{"path":"model","is_dir":true}]}` + "\n", ""},
		{"list folder by run_uuid, ajax", "/ajax-api/2.0/mlflow/artifacts/list?run_uuid=r1&path=model", 200,
			`{"root_uri":"mlflow-artifacts:/1/r1/artifacts","files":[{"path":"model/MLmodel","is_dir":false,"file_size":11},{"path":"model/sub","is_dir":true}]}` + "\n", ""},
		{"list nested folder with noise", "/api/2.0/mlflow/artifacts/list?run_id=r1&path=./model//sub/&page_token=x", 200,
			`{"root_uri":"mlflow-artifacts:/1/r1/artifacts","files":[{"path":"model/sub/weights.bin","is_dir":false,"file_size":4}]}` + "\n", ""},
		{"list empty run", "/api/2.0/mlflow/artifacts/list?run_id=r3", 404, "", "run r3 not found"},
		{"list without run", "/api/2.0/mlflow/artifacts/list", 400, "", "run_id"},
		{"list foreign location", "/api/2.0/mlflow/artifacts/list?run_id=s3run", 400, "", "not served by this server"},
		{"list location with host", "/api/2.0/mlflow/artifacts/list?run_id=host", 400, "", "not served by this server"},

		{"get artifact", "/get-artifact?run_uuid=r1&path=metrics.txt", 200, "acc 0.9", ""},
		{"get nested artifact by run_id", "/get-artifact?run_id=r1&path=model/sub/weights.bin", 200, "wwww", ""},
		{"get another run's file", "/get-artifact?run_id=r1&path=other.txt", 404, "", "RESOURCE_DOES_NOT_EXIST"},
		{"get folder", "/get-artifact?run_id=r1&path=model", 400, "", "is a folder"},
		{"get without path", "/get-artifact?run_id=r1", 400, "", "'path'"},
		{"get without run", "/get-artifact?path=metrics.txt", 400, "", "'run_id'"},
		{"get unknown run", "/get-artifact?run_id=nope&path=metrics.txt", 404, "", "run nope not found"},

		{"model version file", "/model-versions/get-artifact?name=m&version=1&path=MLmodel", 200, "flavors: {}", ""},
		{"model version nested file", "/model-versions/get-artifact?name=m&version=1&path=sub/weights.bin", 200, "wwww", ""},
		{"model version unknown", "/model-versions/get-artifact?name=m&version=2&path=MLmodel", 404, "", "not found"},
		{"model version without version", "/model-versions/get-artifact?name=m&path=MLmodel", 400, "", "'version'"},
		{"model version without name", "/model-versions/get-artifact?version=1&path=MLmodel", 400, "", "'name'"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := env.do(t, "GET", tc.path, "")
			if res.status != tc.status {
				t.Fatalf("%d %s, want %d", res.status, res.body, tc.status)
			}
			if tc.want != "" && res.body != tc.want {
				t.Errorf("body %q, want %q", res.body, tc.want)
			}
			if !strings.Contains(res.body, tc.contains) {
				t.Errorf("body %q does not contain %q", res.body, tc.contains)
			}
		})
	}
}

// TestArtifactsWithoutServices: without resolvers the by-id routes answer
// 404, and without a store every artifact route answers 503.
func TestArtifactsWithoutServices(t *testing.T) {
	env := newArtifactEnv(t, func(d *Deps) { d.RunArtifacts, d.ModelArtifacts, d.LoggedModelArtifacts = nil, nil, nil })
	for _, tc := range []struct{ path, want string }{
		{"/api/2.0/mlflow/artifacts/list?run_id=r1", "run r1 not found"},
		{"/get-artifact?run_id=r1&path=a.txt", "run r1 not found"},
		{"/model-versions/get-artifact?name=m&version=1&path=a.txt", "model version (name=m, version=1) not found"},
		{"/api/2.0/mlflow/logged-models/m-1/artifacts/directories", "logged model m-1 not found"},
		{"/ajax-api/2.0/mlflow/logged-models/m-1/artifacts/files?artifact_file_path=MLmodel", "logged model m-1 not found"},
	} {
		res := env.do(t, "GET", tc.path, "")
		if res.status != 404 || !strings.Contains(res.body, tc.want) || errorCode(t, res.body) != "RESOURCE_DOES_NOT_EXIST" {
			t.Errorf("%s: %d %s, want 404 %q", tc.path, res.status, res.body, tc.want)
		}
	}

	bare := newEnv(t, func(d *Deps) { d.Auth = nil })
	for _, tc := range []struct{ method, path string }{
		{"PUT", "/api/2.0/mlflow-artifacts/artifacts/a.txt"},
		{"GET", "/api/2.0/mlflow-artifacts/artifacts/a.txt"},
		{"GET", "/api/2.0/mlflow-artifacts/artifacts"},
		{"DELETE", "/api/2.0/mlflow-artifacts/artifacts/a.txt"},
		{"GET", "/get-artifact?run_id=r1&path=a.txt"},
		{"GET", "/api/2.0/mlflow/logged-models/m-1/artifacts/directories"},
		{"GET", "/api/2.0/mlflow/logged-models/m-1/artifacts/files?artifact_file_path=a.txt"},
	} {
		if res := bare.do(t, tc.method, tc.path, "x"); res.status != 503 {
			t.Errorf("%s %s without a store: %d %s, want 503", tc.method, tc.path, res.status, res.body)
		}
	}
}

// storedFiles lists the regular files under dir, relative to it.
func storedFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestArtifactUploadAtomic: an upload cut off or over the limit stores
// nothing, not even a partial file, and leaves an older version intact.
func TestArtifactUploadAtomic(t *testing.T) {
	env := newArtifactEnv(t, func(d *Deps) { d.MaxArtifactBytes = 100 })
	env.put(t, "keep.bin", "old")

	// The client promises 1000 bytes, sends 10 and hangs up.
	addr := strings.TrimPrefix(env.srv.URL, "http://")
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "PUT /api/2.0/mlflow-artifacts/artifacts/keep.bin HTTP/1.1\r\nHost: %s\r\nContent-Length: 100\r\n\r\n0123456789", addr)
	conn.Close()

	res := env.do(t, "PUT", "/api/2.0/mlflow-artifacts/artifacts/big.bin", strings.Repeat("x", 101))
	if res.status != 413 || errorCode(t, res.body) != "RESOURCE_LIMIT_EXCEEDED" {
		t.Errorf("over the limit: %d %s", res.status, res.body)
	}
	// Chunked, so the limit is found only while streaming.
	req, _ := http.NewRequest("PUT", env.srv.URL+"/api/2.0/mlflow-artifacts/artifacts/chunked.bin",
		io.MultiReader(strings.NewReader(strings.Repeat("y", 60)), strings.NewReader(strings.Repeat("y", 60))))
	resp, err := env.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 413 {
		t.Errorf("chunked over the limit: %d", resp.StatusCode)
	}
	if res := env.do(t, "PUT", "/api/2.0/mlflow-artifacts/artifacts/ok.bin", strings.Repeat("z", 100)); res.status != 200 {
		t.Errorf("at the limit: %d %s", res.status, res.body)
	}

	// The aborted upload finishes in the background; give it a moment.
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := storedFiles(t, env.root)
		if strings.Join(got, ",") == "keep.bin,ok.bin" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stored files %v, want [keep.bin ok.bin]", got)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if b, _ := os.ReadFile(filepath.Join(env.root, "keep.bin")); string(b) != "old" {
		t.Errorf("keep.bin = %q after an aborted overwrite", b)
	}
}

// rawRequest sends a request line exactly as given, bypassing the URL
// normalisation of Go's client, and returns the status and body.
func rawRequest(t *testing.T, srvURL, method, target, body string) (int, string) {
	t.Helper()
	addr := strings.TrimPrefix(srvURL, "http://")
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
		method, target, addr, len(body), body)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// snapshotTree records every entry under dir: type, and content or link
// target, so any change at all shows.
func snapshotTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		v := d.Type().String()
		switch {
		case d.Type().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			v += fmt.Sprintf(" %x", sha256.Sum256(b))
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			v += " -> " + target
		}
		out[rel] = v
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestArtifactPathAttacks sends the path shapes of MLflow's published path
// traversal CVEs to every artifact route, as raw request lines, with a
// sentinel file next to (outside) the artifact folder. Every answer must be
// 400 INVALID_PARAMETER_VALUE, and nothing on disk may change.
func TestArtifactPathAttacks(t *testing.T) {
	env := newArtifactEnv(t, nil)
	sentinel := filepath.Join(env.parent, "sentinel.txt")
	if err := os.WriteFile(sentinel, []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	env.put(t, "1/r1/artifacts/model/MLmodel", "flavors: {}")
	env.put(t, "1/r1/artifacts/a/b/c.txt", "c")
	env.put(t, "1/models/m-1/artifacts/MLmodel", "flavors: {}")
	// Symlinks planted in the store (clients cannot make them) that point
	// outside it, at each root a route resolves paths against.
	for _, dir := range []string{"", "1/r1/artifacts", "1/r1/artifacts/model", "1/models/m-1/artifacts"} {
		if err := os.Symlink(env.parent, filepath.Join(env.root, dir, "link")); err != nil {
			t.Fatal(err)
		}
	}

	type route struct {
		method, target string // target has {p} where the path goes
		depth          int    // ".." segments from the route's root to the parent folder
		touches        bool   // reads or writes the store with a valid path
	}
	var routes []route
	for _, p := range artifactProxyPrefixes {
		routes = append(routes,
			route{"PUT", p + "/artifacts/{p}", 1, true},
			route{"GET", p + "/artifacts/{p}", 1, true},
			route{"DELETE", p + "/artifacts/{p}", 1, true},
			route{"GET", p + "/artifacts?path={p}", 1, true},
			route{"POST", p + "/mpu/create/{p}", 1, false},
			route{"POST", p + "/mpu/complete/{p}", 1, false},
			route{"POST", p + "/mpu/abort/{p}", 1, false},
			route{"GET", p + "/presigned/{p}", 1, false},
		)
	}
	for _, p := range mlflowPrefixes {
		routes = append(routes,
			route{"GET", p + "/artifacts/list?run_id=r1&path={p}", 4, true},
			route{"GET", p + "/logged-models/m-1/artifacts/directories?artifact_directory_path={p}", 5, true},
			route{"GET", p + "/logged-models/m-1/artifacts/files?artifact_file_path={p}", 5, true},
		)
	}
	routes = append(routes,
		route{"GET", "/get-artifact?run_uuid=r1&path={p}", 4, true},
		route{"GET", "/model-versions/get-artifact?name=m&version=1&path={p}", 5, true},
	)

	attacks := []struct {
		name    string
		payload func(depth int) string
		store   bool // only meaningful on routes that touch the store
	}{
		{"dot-dot", func(n int) string { return strings.Repeat("../", n) + "sentinel.txt" }, false},
		{"dot-dot deep", func(n int) string { return "a/" + strings.Repeat("../", n+1) + "sentinel.txt" }, false},
		{"trailing dot-dot", func(int) string { return "a/.." }, false},
		{"encoded slash", func(n int) string { return strings.Repeat("..%2f", n) + "sentinel.txt" }, false},
		{"encoded upper", func(n int) string { return strings.Repeat("..%2F", n) + "sentinel.txt" }, false},
		{"encoded dots", func(n int) string { return strings.Repeat("%2e%2e%2f", n) + "sentinel.txt" }, false},
		{"encoded dots only", func(n int) string { return strings.Repeat("%2e%2e/", n) + "sentinel.txt" }, false},
		{"double encoded", func(n int) string { return strings.Repeat("%252e%252e%252f", n) + "sentinel.txt" }, false},
		{"backslash", func(n int) string { return strings.Repeat(`..\`, n) + "sentinel.txt" }, false},
		{"encoded backslash", func(n int) string { return strings.Repeat("..%5c", n) + "sentinel.txt" }, false},
		{"absolute", func(int) string { return env.parent + "/sentinel.txt" }, false},
		{"etc passwd", func(int) string { return "/etc/passwd" }, false},
		{"proc root", func(int) string { return "//proc/self/root" + env.parent + "/sentinel.txt" }, false},
		{"semicolon", func(n int) string { return "a/..;/" + strings.Repeat("..;/", n) + "sentinel.txt" }, false},
		{"semicolon alone", func(int) string { return "a;b" }, false},
		{"fragment", func(int) string { return "a#b" }, false},
		{"encoded fragment", func(int) string { return "a%23b" }, false},
		{"file uri", func(int) string { return "file://" + env.parent + "/sentinel.txt" }, false},
		{"dbfs uri", func(int) string { return "dbfs:/x" }, false},
		{"drive letter", func(int) string { return `C:\Windows` }, false},
		{"drive letter slash", func(int) string { return "C:/Windows/win.ini" }, false},
		{"nul", func(int) string { return "sentinel.txt%00.png" }, false},
		{"dots and spaces", func(n int) string { return strings.Repeat("..%20/", n) + "sentinel.txt" }, false},
		{"symlink out", func(int) string { return "link/sentinel.txt" }, true},
	}

	before := snapshotTree(t, env.parent)
	for _, rt := range routes {
		for _, at := range attacks {
			if at.store && !rt.touches {
				continue
			}
			target := strings.Replace(rt.target, "{p}", at.payload(rt.depth), 1)
			t.Run(rt.method+" "+rt.target+" "+at.name, func(t *testing.T) {
				body := ""
				if rt.method == "PUT" || rt.method == "POST" {
					body = `{"path": "x", "pwned": true}`
				}
				status, resBody := rawRequest(t, env.srv.URL, rt.method, target, body)
				if status != 400 || !strings.Contains(resBody, `"INVALID_PARAMETER_VALUE"`) {
					t.Errorf("%s %s: %d %s, want 400 INVALID_PARAMETER_VALUE", rt.method, target, status, resBody)
				}
				if after := snapshotTree(t, env.parent); !maps.Equal(before, after) {
					t.Fatalf("%s %s changed the disk:\nbefore %v\nafter  %v", rt.method, target, before, after)
				}
				if b, err := os.ReadFile(sentinel); err != nil || string(b) != "secret" {
					t.Fatalf("sentinel: %q %v", b, err)
				}
			})
		}
	}

	// The same routes with clean paths do reach the store, so the 400s
	// above are the path checks at work and not some other failure.
	for _, tc := range []struct{ method, target string }{
		{"GET", "/api/2.0/mlflow-artifacts/artifacts/1/r1/artifacts/a/b/c.txt"},
		{"GET", "/api/2.0/mlflow/artifacts/list?run_id=r1&path=a/b"},
		{"GET", "/get-artifact?run_uuid=r1&path=a/b/c.txt"},
		{"GET", "/model-versions/get-artifact?name=m&version=1&path=MLmodel"},
		{"GET", "/api/2.0/mlflow/logged-models/m-1/artifacts/directories"},
		{"GET", "/ajax-api/2.0/mlflow/logged-models/m-1/artifacts/files?artifact_file_path=MLmodel"},
	} {
		if status, body := rawRequest(t, env.srv.URL, tc.method, tc.target, ""); status != 200 {
			t.Errorf("%s %s: %d %s", tc.method, tc.target, status, body)
		}
	}

	// A logged model id only selects a row; a hostile one names no model
	// and reaches nothing on disk.
	for _, id := range []string{"..%2f..%2f..%2fsentinel.txt", "%2e%2e", "m-1%2f..%2f..", "m-1;x", "m-1%00"} {
		for _, route := range []string{"directories", "files?artifact_file_path=MLmodel"} {
			target := "/api/2.0/mlflow/logged-models/" + id + "/artifacts/" + route
			status, body := rawRequest(t, env.srv.URL, "GET", target, "")
			if status != 400 && status != 404 {
				t.Errorf("GET %s: %d %s, want 400 or 404", target, status, body)
			}
		}
	}
	if after := snapshotTree(t, env.parent); !maps.Equal(before, after) {
		t.Fatalf("hostile logged model ids changed the disk:\nbefore %v\nafter  %v", before, after)
	}
}

// genReader yields n pseudo-random bytes without holding them.
type genReader struct {
	rng *rand.ChaCha8
	n   int64
}

func (g *genReader) Read(p []byte) (int, error) {
	if g.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > g.n {
		p = p[:g.n]
	}
	n, _ := g.rng.Read(p)
	g.n -= int64(n)
	return n, nil
}

// heapPeak samples HeapInuse until stop is closed and returns the peak.
func heapPeak(stop <-chan struct{}) <-chan uint64 {
	out := make(chan uint64, 1)
	go func() {
		var peak uint64
		var ms runtime.MemStats
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
			select {
			case <-stop:
				out <- peak
				return
			case <-tick.C:
			}
		}
	}()
	return out
}

// TestArtifactStreamingMemory sends 512 MiB up and back down through a real
// server and checks that the heap never holds more than a sliver of it.
func TestArtifactStreamingMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 1 GiB through the loopback; skipped under -short")
	}
	const size = 512 << 20
	const budget = 64 << 20
	env := newArtifactEnv(t, nil)
	url := env.srv.URL + "/api/2.0/mlflow-artifacts/artifacts/big/blob.bin"

	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	stop := make(chan struct{})
	peak := heapPeak(stop)

	upHash := sha256.New()
	src := io.TeeReader(&genReader{rng: rand.NewChaCha8([32]byte{1, 2, 3}), n: size}, upHash)
	req, err := http.NewRequest("PUT", url, src)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = size
	start := time.Now()
	resp, err := env.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("upload: %d %s", resp.StatusCode, b)
	}
	upTook := time.Since(start)

	start = time.Now()
	resp, err = env.srv.Client().Get(url)
	if err != nil {
		t.Fatal(err)
	}
	downHash := sha256.New()
	n, err := io.Copy(downHash, resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	downTook := time.Since(start)
	close(stop)
	peakInuse := <-peak
	var end runtime.MemStats
	runtime.ReadMemStats(&end)

	if resp.StatusCode != 200 || n != size || resp.ContentLength != size {
		t.Fatalf("download: %d, %d bytes, Content-Length %d", resp.StatusCode, n, resp.ContentLength)
	}
	if !bytes.Equal(upHash.Sum(nil), downHash.Sum(nil)) {
		t.Fatal("downloaded bytes differ from the uploaded ones")
	}
	growth := int64(peakInuse) - int64(base.HeapInuse)
	allocated := end.TotalAlloc - base.TotalAlloc
	t.Logf("512 MiB up in %v, down in %v; peak heap growth %.1f MiB, allocated %.1f MiB in all",
		upTook.Round(time.Millisecond), downTook.Round(time.Millisecond),
		float64(growth)/(1<<20), float64(allocated)/(1<<20))
	if growth > budget {
		t.Errorf("heap grew by %d bytes during the transfer, want < %d", growth, budget)
	}
	if allocated > budget {
		t.Errorf("%d bytes allocated while moving %d, want < %d: something buffers", allocated, int64(size)*2, budget)
	}
}

func TestArtifactRootKey(t *testing.T) {
	tests := []struct {
		uri, want string
		ok        bool
	}{
		{"mlflow-artifacts:/1/abc/artifacts", "1/abc/artifacts", true},
		{"mlflow-artifacts:/0", "0", true},
		{"mlflow-artifacts:/1/abc/artifacts/", "1/abc/artifacts", true},
		{"mlflow-artifacts:/", "", false},
		{"mlflow-artifacts:", "", false},
		{"mlflow-artifacts:1/abc", "", false},
		{"mlflow-artifacts://host/1/abc", "", false},
		{"mlflow-artifacts:/1/../../etc", "", false},
		{"mlflow-artifacts:/1/%2e%2e/x", "", false},
		{"mlflow-artifacts:/1/a?x=1", "", false},
		{"s3://bucket/1/abc", "", false},
		{"file:///etc", "", false},
		{"/abs/path", "", false},
		{"1/abc/artifacts", "", false},
	}
	for _, tc := range tests {
		got, err := artifactRootKey(tc.uri)
		if tc.ok && (err != nil || got != tc.want) {
			t.Errorf("%q: %q, %v; want %q", tc.uri, got, err, tc.want)
		}
		if !tc.ok && (err == nil || !errs.Is(err, errs.Invalid)) {
			t.Errorf("%q: %q, %v; want an invalid error", tc.uri, got, err)
		}
	}
}

func TestArtifactContentType(t *testing.T) {
	tests := []struct {
		key, ctype string
		inline     bool
	}{
		{"a/notes.txt", "text/plain; charset=utf-8", true},
		{"a/conf.YAML", "text/plain; charset=utf-8", true},
		{"model/MLmodel", "text/plain; charset=utf-8", true},
		{"MLproject", "text/plain; charset=utf-8", true},
		{"app.js", "text/plain; charset=utf-8", true},
		{"plot.png", "image/png", true},
		{"photo.JPG", "image/jpeg", true},
		{"chart.svg", "image/svg+xml", false},
		{"page.html", "text/html; charset=utf-8", false},
		{"doc.pdf", "application/pdf", false},
		{"model.pkl", "application/octet-stream", false},
		{"archive.tar.gz", "application/octet-stream", false},
		{"README", "application/octet-stream", false},
	}
	for _, tc := range tests {
		ctype, inline := artifactContentType(tc.key)
		if ctype != tc.ctype || inline != tc.inline {
			t.Errorf("%s: %q inline=%v, want %q inline=%v", tc.key, ctype, inline, tc.ctype, tc.inline)
		}
	}
}
