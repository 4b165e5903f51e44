package httpapi

import (
	"context"
	"strings"
	"testing"

	"github.com/mlcycle/mlcycle/internal/audit"
	"github.com/mlcycle/mlcycle/internal/blob"
	"github.com/mlcycle/mlcycle/internal/store"
	"github.com/mlcycle/mlcycle/internal/store/storetest"
	"github.com/mlcycle/mlcycle/internal/tracking"
)

// TestLoggedModelArtifactRoutes drives the logged model artifact routes
// over a real tracking service (SQLite and PostgreSQL) and a file store:
// models are created and their files uploaded through the API, as MLflow's
// client does, then listed and downloaded by model id.
func TestLoggedModelArtifactRoutes(t *testing.T) {
	migs := append(audit.Migrations(), tracking.Migrations()...)
	storetest.Each(t, migs, func(t *testing.T, db *store.DB) {
		svc := tracking.New(db, audit.New(db, audit.Options{}), tracking.Options{})
		st, err := blob.Open(context.Background(), "file://"+t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		env := newEnv(t, func(d *Deps) {
			d.Tracking = svc
			d.Artifacts = st
			d.LoggedModelArtifacts = svc
		})

		const api = "/api/2.0/mlflow"
		expID := call(t, env, "POST", api+"/experiments/create", `{"name":"lm-art"}`, 200, trkEditor)["experiment_id"].(string)
		// newModel creates a logged model and uploads files (relative path
		// -> content) through the artifact proxy, under its artifact_uri.
		newModel := func(files map[string]string) (id, uri string) {
			t.Helper()
			m := call(t, env, "POST", api+"/logged-models", `{"experiment_id":"`+expID+`","name":"clf"}`, 200, trkEditor)
			id = dig(t, m, "model", "info", "model_id").(string)
			uri = dig(t, m, "model", "info", "artifact_uri").(string)
			root := strings.TrimPrefix(uri, "mlflow-artifacts:/")
			for p, body := range files {
				if res := env.do(t, "PUT", "/api/2.0/mlflow-artifacts/artifacts/"+root+"/"+p, body, trkEditor); res.status != 200 {
					t.Fatalf("upload %s: %d %s", p, res.status, res.body)
				}
			}
			return id, uri
		}
		id, uri := newModel(map[string]string{
			"MLmodel":         "flavors: {}\n",
			"data/model.pkl":  "\x80\x04pickle",
			"data/extra/a.py": "print(1)",
		})
		otherID, _ := newModel(map[string]string{"other.txt": "not model 1's"})
		emptyID, emptyURI := newModel(nil)
		goneID, _ := newModel(map[string]string{"MLmodel": "gone"})
		call(t, env, "DELETE", api+"/logged-models/"+goneID, "", 200, trkEditor)

		dirs := func(prefix, id, query string) string {
			return prefix + "/logged-models/" + id + "/artifacts/directories" + query
		}
		files := func(prefix, id, query string) string {
			return prefix + "/logged-models/" + id + "/artifacts/files" + query
		}
		const ajax = "/ajax-api/2.0/mlflow"
		tests := []struct {
			name, path string
			status     int
			want       string // exact body, or "" to skip
			contains   string
			ctype      string // Content-Type of a download, or "" to skip
		}{
			{"list root", dirs(api, id, ""), 200,
				`{"root_uri":"` + uri + `","files":[{"path":"MLmodel","is_dir":false,"file_size":12},{"path":"data","is_dir":true}]}` + "\n", "", ""},
			{"list folder, ajax", dirs(ajax, id, "?artifact_directory_path=data"), 200,
				`{"root_uri":"` + uri + `","files":[{"path":"data/extra","is_dir":true},{"path":"data/model.pkl","is_dir":false,"file_size":8}]}` + "\n", "", ""},
			{"list with noise and a page token", dirs(api, id, "?artifact_directory_path=./data//extra/&page_token=x"), 200,
				`{"root_uri":"` + uri + `","files":[{"path":"data/extra/a.py","is_dir":false,"file_size":8}]}` + "\n", "", ""},
			{"list a model without files", dirs(api, emptyID, ""), 200,
				`{"root_uri":"` + emptyURI + `","files":[]}` + "\n", "", ""},
			{"list a missing folder", dirs(api, id, "?artifact_directory_path=nope"), 200,
				`{"root_uri":"` + uri + `","files":[]}` + "\n", "", ""},
			{"list unknown model", dirs(api, "m-nope", ""), 404, "", "RESOURCE_DOES_NOT_EXIST", ""},
			{"list deleted model", dirs(api, goneID, ""), 404, "", "RESOURCE_DOES_NOT_EXIST", ""},
			{"list out of the root", dirs(api, id, "?artifact_directory_path=../"+otherID), 400, "", "'artifact_directory_path'", ""},
			{"list with a semicolon", dirs(api, id, "?artifact_directory_path=data;x"), 400, "", "semicolon", ""},

			{"get MLmodel", files(api, id, "?artifact_file_path=MLmodel"), 200, "flavors: {}\n", "", "text/plain; charset=utf-8"},
			{"get nested file, ajax", files(ajax, id, "?artifact_file_path=data/model.pkl"), 200, "\x80\x04pickle", "", "application/octet-stream"},
			{"get without a path", files(api, id, ""), 400, "", "missing value for required parameter 'artifact_file_path'", ""},
			{"get a folder", files(api, id, "?artifact_file_path=data"), 400, "", "is a folder", ""},
			{"get a missing file", files(api, id, "?artifact_file_path=other.txt"), 404, "", "RESOURCE_DOES_NOT_EXIST", ""},
			{"get another model's file", files(api, id, "?artifact_file_path=../../"+otherID+"/artifacts/other.txt"), 400, "", "'artifact_file_path'", ""},
			{"get from unknown model", files(api, "m-nope", "?artifact_file_path=MLmodel"), 404, "", "RESOURCE_DOES_NOT_EXIST", ""},
			{"get from deleted model", files(ajax, goneID, "?artifact_file_path=MLmodel"), 404, "", "RESOURCE_DOES_NOT_EXIST", ""},
			{"get with a semicolon", files(api, id, "?artifact_file_path=MLmodel;x"), 400, "", "semicolon", ""},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				res := env.do(t, "GET", tc.path, "", trkViewer)
				if res.status != tc.status {
					t.Fatalf("%d %s, want %d", res.status, res.body, tc.status)
				}
				if tc.want != "" && res.body != tc.want {
					t.Errorf("body %q, want %q", res.body, tc.want)
				}
				if !strings.Contains(res.body, tc.contains) {
					t.Errorf("body %q does not contain %q", res.body, tc.contains)
				}
				if tc.ctype != "" {
					if got := res.header.Get("Content-Type"); got != tc.ctype {
						t.Errorf("Content-Type %q, want %q", got, tc.ctype)
					}
					if got := res.header.Get("X-Content-Type-Options"); got != "nosniff" {
						t.Errorf("X-Content-Type-Options %q", got)
					}
				}
			})
		}

		if res := env.do(t, "GET", dirs(api, id, ""), ""); res.status != 401 {
			t.Errorf("listing without credentials: %d %s", res.status, res.body)
		}
	})
}
