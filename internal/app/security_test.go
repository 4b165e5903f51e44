package app_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlcycle/mlcycle/internal/app"
)

// attackShapes are the path and URI shapes of MLflow's published
// path-traversal CVEs (plus their encoded variants).
var attackShapes = []string{
	"../../../etc/passwd", "..%2f..%2fetc%2fpasswd", "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
	"%252e%252e%252fetc%252fpasswd", `..\..\etc\passwd`, "/etc/passwd",
	"//proc/self/root/etc/passwd", "a/..;/..;/etc/passwd", "a#/../../etc/passwd",
	"file:///etc/passwd", "dbfs:/databricks/x", `C:\Windows\win.ini`, "s3://other-bucket/x",
	"mlflow-artifacts:/../../etc", "mlflow-artifacts:/%2e%2e/x", "a\x00b",
}

// TestURIAttacksOnMetadataEndpoints sends every shape as an experiment's
// artifact_location and as a model version's source through the real server
// on both databases: each must be a 400 and leave nothing behind.
func TestURIAttacksOnMetadataEndpoints(t *testing.T) {
	eachDB(t, func(t *testing.T, dbURL string) {
		dir := t.TempDir()
		s := startServer(t, app.Config{DB: dbURL, DataDir: filepath.Join(dir, "data")})
		post := func(path string, body any) (int, string) {
			b, _ := json.Marshal(body)
			resp, err := http.Post(s.URL()+"/api/2.0/mlflow"+path, "application/json", strings.NewReader(string(b)))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			out, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(out)
		}
		if code, body := post("/registered-models/create", map[string]string{"name": "victim"}); code != 200 {
			t.Fatalf("create model: %d %s", code, body)
		}
		for i, shape := range attackShapes {
			for _, prefixed := range []string{shape, "runs:/" + strings.Repeat("a", 32) + "/" + shape, "models:/" + shape} {
				code, body := post("/model-versions/create", map[string]string{"name": "victim", "source": prefixed})
				if code != 400 || !strings.Contains(body, "INVALID_PARAMETER_VALUE") {
					t.Errorf("model version source %q: %d %s", prefixed, code, body)
				}
			}
			code, body := post("/experiments/create", map[string]string{"name": fmt.Sprintf("e%d", i), "artifact_location": shape})
			if code != 400 || !strings.Contains(body, "INVALID_PARAMETER_VALUE") {
				t.Errorf("artifact_location %q: %d %s", shape, code, body)
			}
		}
		// Nothing was created by the refused requests.
		resp, err := http.Get(s.URL() + "/api/2.0/mlflow/model-versions/search?filter=" + url.QueryEscape("name = 'victim'"))
		if err != nil {
			t.Fatal(err)
		}
		found, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || strings.Contains(string(found), `"version"`) {
			t.Errorf("refused versions exist: %d %s", resp.StatusCode, found)
		}
		entries, _ := os.ReadDir(dir)
		if len(entries) != 1 {
			t.Errorf("files appeared beside the data folder: %v", entries)
		}
	})
}
