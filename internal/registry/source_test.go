package registry

import (
	"testing"

	"github.com/mlcycle/mlcycle/internal/errs"
)

// TestVersionSources: only sources inside this server's artifact store are
// registered; local paths, other stores and every traversal trick are
// refused with 400.
func TestVersionSources(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		e.model(t, "m")
		e.model(t, "target")
		v1 := e.version(t, "m", "runs:/r1/model")
		e.version(t, "m", "runs:/r2/model")
		if _, err := e.svc.TransitionModelVersionStage(e.ctx, "m", 1, "Production", false); err != nil {
			t.Fatal(err)
		}
		if err := e.svc.SetRegisteredModelAlias(e.ctx, "m", "champ", 2); err != nil {
			t.Fatal(err)
		}

		good := []struct {
			source, runID, modelID         string
			wantSource, wantRun, wantModel string
			wantStorage                    string
		}{
			{"runs:/r1/model", "", "", "runs:/r1/model", "r1", "", "mlflow-artifacts:/1/r1/artifacts/model"},
			{"runs:/r1/model", "r1", "", "runs:/r1/model", "r1", "", "mlflow-artifacts:/1/r1/artifacts/model"},
			{"runs:/r1", "", "", "runs:/r1", "r1", "", "mlflow-artifacts:/1/r1/artifacts"},
			{"runs:/r1/./a//b/", "", "", "runs:/r1/a/b", "r1", "", "mlflow-artifacts:/1/r1/artifacts/a/b"},
			{"models:/m-abc", "", "", "models:/m-abc", "r1", "m-abc", "mlflow-artifacts:/1/models/m-abc/artifacts"},
			{"models:/m-abc", "", "m-abc", "models:/m-abc", "r1", "m-abc", "mlflow-artifacts:/1/models/m-abc/artifacts"},
			{"models:/m-def", "r2", "m-def", "models:/m-def", "r2", "m-def", "mlflow-artifacts:/1/models/m-def/artifacts"},
			{"mlflow-artifacts:/1/r1/artifacts/model", "r1", "", "mlflow-artifacts:/1/r1/artifacts/model", "r1", "", "mlflow-artifacts:/1/r1/artifacts/model"},
			{"mlflow-artifacts:/1/r1/artifacts", "r1", "", "mlflow-artifacts:/1/r1/artifacts", "r1", "", "mlflow-artifacts:/1/r1/artifacts"},
			{"mlflow-artifacts:/1/models/m-abc/artifacts/sub", "", "m-abc", "mlflow-artifacts:/1/models/m-abc/artifacts/sub", "r1", "m-abc", "mlflow-artifacts:/1/models/m-abc/artifacts/sub"},
			{"mlflow-artifacts:/x/./y", "", "", "mlflow-artifacts:/x/y", "", "", "mlflow-artifacts:/x/y"},
			{"models:/m/1", "", "", "models:/m/1", "r1", "", v1.StorageLocation},
			{"models:/m/1", "r1", "", "models:/m/1", "r1", "", v1.StorageLocation},
			{"models:/m@champ", "", "", "models:/m/2", "r2", "", "mlflow-artifacts:/1/r2/artifacts/model"},
			{"models:/m/production", "", "", "models:/m/1", "r1", "", v1.StorageLocation},
			{"models:/m/latest", "", "", "models:/m/2", "r2", "", "mlflow-artifacts:/1/r2/artifacts/model"},
		}
		for _, tc := range good {
			v, err := e.svc.CreateModelVersion(e.ctx, NewVersion{Name: "target", Source: tc.source, RunID: tc.runID, ModelID: tc.modelID})
			if err != nil {
				t.Errorf("%q run=%q model=%q: %v", tc.source, tc.runID, tc.modelID, err)
				continue
			}
			if v.Source != tc.wantSource || v.RunID != tc.wantRun || v.ModelID != tc.wantModel || v.StorageLocation != tc.wantStorage {
				t.Errorf("%q run=%q model=%q:\n got source %q run %q model %q storage %q\nwant source %q run %q model %q storage %q",
					tc.source, tc.runID, tc.modelID, v.Source, v.RunID, v.ModelID, v.StorageLocation,
					tc.wantSource, tc.wantRun, tc.wantModel, tc.wantStorage)
			}
		}

		bad := []struct{ source, runID, modelID string }{
			{"", "", ""},
			{"/etc/passwd", "", ""},
			{"/etc/passwd", "r1", ""},
			{"file:///etc", "", ""},
			{"file:/etc/passwd", "r1", ""},
			{"file://localhost/etc/passwd", "", ""},
			{"../x", "", ""},
			{"./rel", "", ""},
			{"rel/path", "", ""},
			{"dbfs:/x", "", ""},
			{"s3://b/k", "", ""},
			{"gs://b/k", "", ""},
			{"hdfs:/x", "", ""},
			{"http://127.0.0.1:5000/api/2.0/mlflow-artifacts/artifacts/x", "", ""},
			{"mlflow-artifacts:/../../x", "", ""},
			{"mlflow-artifacts:/a/../../x", "", ""},
			{"mlflow-artifacts:/a/../b", "", ""},
			{"mlflow-artifacts:/%2e%2e%2fx", "", ""},
			{"mlflow-artifacts:/a%2f..%2f..%2fx", "", ""},
			{"mlflow-artifacts://host:5000/x", "", ""},
			{"mlflow-artifacts:///etc/passwd", "", ""},
			{"mlflow-artifacts:x", "", ""},
			{"mlflow-artifacts:/", "", ""},
			{"mlflow-artifacts:", "", ""},
			{"mlflow-artifacts:/C:/x", "", ""},
			{"mlflow-artifacts:/a\\..\\..\\x", "", ""},
			{"mlflow-artifacts:/a?b=c", "", ""},
			{"mlflow-artifacts:/a#b", "", ""},
			{"mlflow-artifacts:/a/..;/b", "", ""},
			{"mlflow-artifacts:/a\x00b", "", ""},
			{"mlflow-artifacts:/x", "r1", ""},                      // outside the run's artifacts
			{"mlflow-artifacts:/1/r1/artifactsX/m", "r1", ""},      // a prefix, not a parent
			{"mlflow-artifacts:/1/r2/artifacts/model", "r1", ""},   // another run's
			{"mlflow-artifacts:/x", "", "m-abc"},                   // outside the model's artifacts
			{"mlflow-artifacts:/1/r1/artifacts/model", "nope", ""}, // no such run
			{"%2e%2e%2f", "", ""},
			{"%2e%2e%2fetc%2fpasswd", "", ""},
			{"C:\\x", "", ""},
			{"C:/x", "", ""},
			{"//proc/self/root", "", ""},
			{"\\\\server\\share", "", ""},
			{"runs:/", "", ""},
			{"runs://r1/model", "", ""},
			{"runs:r1/model", "", ""},
			{"runs:/r1/../r2/model", "", ""},
			{"runs:/r1/%2e%2e/x", "", ""},
			{"runs:/r1//../x", "", ""},
			{"runs:/nope/model", "", ""},
			{"runs:/r1/model", "r2", ""},
			{"runs:/r1/model", "", "m-abc"},
			{"runs:/../x", "", ""},
			{"models:/", "", ""},
			{"models://m/1", "", ""},
			{"models:/m-zzz", "", ""},
			{"models:/m-abc", "", "m-def"},
			{"models:/m-bad", "", ""}, // its location is not in our store
			{"models:/m-abc", "nope", ""},
			{"models:/m/9", "", ""},
			{"models:/m/0", "", ""},
			{"models:/nope/1", "", ""},
			{"models:/m/1/extra", "", ""},
			{"models:/m/Limbo", "", ""},
			{"models:/m/staging", "", ""}, // no version in Staging
			{"models:/m@nope", "", ""},
			{"models:/m/1", "r2", ""},
			{"models:/m/1", "", "m-abc"},
			{"models:/..%2f..%2fx", "", ""},
		}
		for _, tc := range bad {
			_, err := e.svc.CreateModelVersion(e.ctx, NewVersion{Name: "target", Source: tc.source, RunID: tc.runID, ModelID: tc.modelID})
			if errs.CodeOf(err) != errs.Invalid {
				t.Errorf("%q run=%q model=%q: %v (kind %q), want invalid", tc.source, tc.runID, tc.modelID, err, errs.CodeOf(err))
			}
		}
		// Nothing bad was registered.
		vs, _, err := e.svc.SearchModelVersions(e.ctx, SearchOptions{Filter: "name = 'target'"})
		if err != nil || len(vs) != len(good) {
			t.Errorf("%d versions of target, want %d (%v)", len(vs), len(good), err)
		}
	})
}

// TestSourcesWithoutTracking: a registry without a tracking store still
// takes artifact and registry sources, and refuses run and model ones
// cleanly.
func TestSourcesWithoutTracking(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		svc := New(e.db, e.log, nil, Options{})
		if _, err := svc.CreateRegisteredModel(e.ctx, "m", "", nil); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.CreateModelVersion(e.ctx, NewVersion{Name: "m", Source: "mlflow-artifacts:/a/b"}); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.CreateModelVersion(e.ctx, NewVersion{Name: "m", Source: "models:/m/1"}); err != nil {
			t.Fatal(err)
		}
		for _, src := range []string{"runs:/r1/model", "models:/m-abc"} {
			_, err := svc.CreateModelVersion(e.ctx, NewVersion{Name: "m", Source: src})
			wantCode(t, err, errs.Invalid)
		}
		_, err := svc.Resolve(e.ctx, "models:/m-abc")
		wantCode(t, err, errs.NotFound)
	})
}

func TestResolve(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		e.model(t, "m")
		e.version(t, "m", "runs:/r1/model")                                                        // 1
		v2, err := e.svc.CreateModelVersion(e.ctx, NewVersion{Name: "m", Source: "models:/m-abc"}) // 2
		if err != nil {
			t.Fatal(err)
		}
		e.version(t, "m", "runs:/r2/model") // 3
		if _, err := e.svc.TransitionModelVersionStage(e.ctx, "m", 1, "Production", false); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.TransitionModelVersionStage(e.ctx, "m", 2, "Production", false); err != nil {
			t.Fatal(err)
		}
		if err := e.svc.SetRegisteredModelAlias(e.ctx, "m", "champion", 1); err != nil {
			t.Fatal(err)
		}
		r1 := Resolved{Name: "m", Version: 1, StorageLocation: "mlflow-artifacts:/1/r1/artifacts/model"}
		r2 := Resolved{Name: "m", Version: 2, ModelID: "m-abc", StorageLocation: v2.StorageLocation}
		r3 := Resolved{Name: "m", Version: 3, StorageLocation: "mlflow-artifacts:/1/r2/artifacts/model"}
		tests := []struct {
			uri  string
			want Resolved
			code errs.Code
		}{
			{"models:/m@champion", r1, ""},
			{"models:/m/1", r1, ""},
			{"models:/m/2", r2, ""},
			{"models:/m/Production", r2, ""}, // the newest in the stage
			{"models:/m/production", r2, ""},
			{"models:/m/None", r3, ""},
			{"models:/m/latest", r3, ""},
			{"models:/m/LATEST", r3, ""},
			{"models:/m@latest", r3, ""},
			{"models:/m-abc", Resolved{ModelID: "m-abc", StorageLocation: "mlflow-artifacts:/1/models/m-abc/artifacts"}, ""},
			{"models:/m/9", Resolved{}, errs.NotFound},
			{"models:/m/0", Resolved{}, errs.NotFound},
			{"models:/m@nope", Resolved{}, errs.NotFound},
			{"models:/m/Staging", Resolved{}, errs.NotFound},
			{"models:/nope/latest", Resolved{}, errs.NotFound},
			{"models:/nope@champion", Resolved{}, errs.NotFound},
			{"models:/m-zzz", Resolved{}, errs.NotFound},
			{"models:/m/Limbo", Resolved{}, errs.Invalid},
			{"models:/m/1/MLmodel", Resolved{}, errs.Invalid},
			{"models://m/1", Resolved{}, errs.Invalid},
			{"models:/", Resolved{}, errs.Invalid},
			{"models:/@x", Resolved{}, errs.Invalid},
			{"models:/m@", Resolved{}, errs.Invalid},
			{"models:/m-bad", Resolved{}, errs.Internal}, // a corrupt location is a server fault
			{"runs:/r1/model", Resolved{}, errs.Invalid},
			{"/etc/passwd", Resolved{}, errs.Invalid},
		}
		for _, tc := range tests {
			got, err := e.svc.Resolve(e.ctx, tc.uri)
			if tc.code != "" {
				if errs.CodeOf(err) != tc.code {
					t.Errorf("Resolve(%q) = %+v, %v; want kind %q", tc.uri, got, err, tc.code)
				}
				continue
			}
			if err != nil || got != tc.want {
				t.Errorf("Resolve(%q) = %+v, %v; want %+v", tc.uri, got, err, tc.want)
			}
		}
	})
}

func TestParseModelRef(t *testing.T) {
	tests := []struct {
		in   string
		want modelRef
		ok   bool
	}{
		{"m-123abc", modelRef{ModelID: "m-123abc"}, true},
		{"name/3", modelRef{Name: "name", Versioned: true, Version: 3}, true},
		{"name/latest", modelRef{Name: "name", Latest: true}, true},
		{"name/sTaGiNg", modelRef{Name: "name", Stage: StageStaging}, true},
		{"a@b@champ", modelRef{Name: "a@b", Alias: "champ"}, true},
		{"my model@v2", modelRef{Name: "my model", Alias: "v2"}, true},
		{"", modelRef{}, false},
		{"/x", modelRef{}, false},
		{"name/", modelRef{}, false},
		{"name/1/2", modelRef{}, false},
		{"name/99999999999999999999", modelRef{}, false},
		{"@alias", modelRef{}, false},
		{"name@", modelRef{}, false},
		{"name@bad alias", modelRef{}, false},
		{"..", modelRef{}, false},
		{"../1", modelRef{}, false},
		{"with space", modelRef{}, false}, // one segment is a model id
	}
	for _, tc := range tests {
		got, err := parseModelRef(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseModelRef(%q) = %+v, %v; want %+v ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

// TestPromptVersions: MLflow prompts are registered models whose versions
// carry their text in tags and a placeholder source instead of files.
func TestPromptVersions(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		if _, err := e.svc.CreateRegisteredModel(e.ctx, "greeting", "", []Tag{{PromptTag, "true"}}); err != nil {
			t.Fatal(err)
		}
		prompt := []Tag{{PromptTag, "true"}, {"mlflow.prompt.text", "Hello {{name}}"}}
		v, err := e.svc.CreateModelVersion(e.ctx, NewVersion{Name: "greeting", Source: "prompt-template", Tags: prompt})
		if err != nil {
			t.Fatal(err)
		}
		if v.Source != "prompt-template" || v.StorageLocation != "" || v.Status != StatusReady {
			t.Errorf("prompt version %+v", v)
		}
		for _, src := range []string{"runs:/r1/model", "/etc/passwd", "mlflow-artifacts:/x"} {
			_, err := e.svc.CreateModelVersion(e.ctx, NewVersion{Name: "greeting", Source: src, Tags: prompt})
			wantCode(t, err, errs.Invalid)
		}
		// Without the tag the placeholder is just an invalid source.
		_, err = e.svc.CreateModelVersion(e.ctx, NewVersion{Name: "greeting", Source: "prompt-template"})
		wantCode(t, err, errs.Invalid)
		e.model(t, "m")
		_, err = e.svc.CreateModelVersion(e.ctx, NewVersion{Name: "m", Source: "models:/greeting/1"})
		wantCode(t, err, errs.Invalid)
		_, err = e.svc.Resolve(e.ctx, "models:/greeting/1")
		wantCode(t, err, errs.Invalid)
	})
}
