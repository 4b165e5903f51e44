package registry

import (
	"context"
	"strings"
	"testing"

	"github.com/mlcycle/mlcycle/internal/blob"
	"github.com/mlcycle/mlcycle/internal/errs"
	"github.com/mlcycle/mlcycle/internal/store/storetest"
)

// FuzzVersionSource: whatever a client sends as a version source, the answer
// is a client error or a storage location that is a clean path in this
// server's artifact store; never a server error, never a path outside it.
func FuzzVersionSource(f *testing.F) {
	for _, s := range []string{
		"runs:/r1/model", "models:/m-abc", "models:/m/1", "models:/m@champ", "models:/m/Production",
		"mlflow-artifacts:/1/r1/artifacts/model", "/etc/passwd", "file:///etc", "../x", "dbfs:/x", "s3://b/k",
		"mlflow-artifacts:/../../x", "%2e%2e%2f", `C:\x`, "//proc/self/root", "runs:/r1/..%2f..", "models:/m-bad",
		"mlflow-artifacts:/a/. ./b", "runs:/r1/a\\..\\b", "mlflow-artifacts:/\u2024\u2024/x",
	} {
		f.Add(s, "", "")
	}
	f.Add("mlflow-artifacts:/1/r1/artifacts/m", "r1", "")
	f.Add("mlflow-artifacts:/1/models/m-abc/artifacts", "", "m-abc")
	e := newEnv(f, storetest.SQLite(f, testMigrations()))
	e.model(f, "m")
	e.version(f, "m", "runs:/r1/model")
	if err := e.svc.SetRegisteredModelAlias(e.ctx, "m", "champ", 1); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, source, runID, modelID string) {
		got, err := e.svc.resolveSource(context.Background(), source, runID, modelID)
		if err != nil {
			if errs.CodeOf(err) != errs.Invalid {
				t.Fatalf("source %q run %q model %q: %v (kind %q), want a client error", source, runID, modelID, err, errs.CodeOf(err))
			}
			return
		}
		p, ok := strings.CutPrefix(got.storage, schemeArtifacts+"/")
		if !ok {
			t.Fatalf("source %q: storage %q is not in the artifact store", source, got.storage)
		}
		if clean, err := blob.CleanPath(p, false); err != nil || clean != p {
			t.Fatalf("source %q: storage path %q is not clean (%q, %v)", source, p, clean, err)
		}
		if !strings.HasPrefix(got.source, schemeRuns+"/") && !strings.HasPrefix(got.source, schemeModels+"/") &&
			!strings.HasPrefix(got.source, schemeArtifacts+"/") {
			t.Fatalf("source %q accepted as %q", source, got.source)
		}
	})
}

// FuzzParseModelRef: models:/ URIs parse to exactly one valid reference or
// a client error.
func FuzzParseModelRef(f *testing.F) {
	for _, s := range []string{"m-abc", "name/1", "name/latest", "name/Staging", "a@b", "a@b@c", "", "/", "a/", "a/b/c", "..", "@"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ref, err := parseModelRef(s)
		if err != nil {
			if errs.CodeOf(err) != errs.Invalid {
				t.Fatalf("%q: %v", s, err)
			}
			return
		}
		if ref.ModelID != "" {
			if ref.Name != "" || validateModelID(ref.ModelID) != nil {
				t.Fatalf("%q: %+v", s, ref)
			}
			return
		}
		if err := validateModelName("name", ref.Name); err != nil {
			t.Fatalf("%q: name %q accepted: %v", s, ref.Name, err)
		}
		kinds := 0
		for _, set := range []bool{ref.Versioned, ref.Stage != "", ref.Latest, ref.Alias != ""} {
			if set {
				kinds++
			}
		}
		if kinds != 1 {
			t.Fatalf("%q: %+v names %d things", s, ref, kinds)
		}
	})
}
