package registry

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/mlcycle/mlcycle/internal/errs"
	"github.com/mlcycle/mlcycle/internal/store"
)

func TestModelLifecycle(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		ctx := e.ctx
		m, err := e.svc.CreateRegisteredModel(ctx, "fraud", "detects fraud",
			[]Tag{{"team", "risk"}, {"owner", "ann"}, {"team", "fraud"}})
		if err != nil {
			t.Fatal(err)
		}
		if m.Name != "fraud" || m.Description != "detects fraud" || m.CreationTime == 0 || m.CreationTime != m.LastUpdatedTime {
			t.Errorf("created %+v", m)
		}
		// Repeated keys collapse, the last value winning.
		if want := []Tag{{"owner", "ann"}, {"team", "fraud"}}; !reflect.DeepEqual(m.Tags, want) {
			t.Errorf("tags %v, want %v", m.Tags, want)
		}
		_, err = e.svc.CreateRegisteredModel(ctx, "fraud", "", nil)
		wantCode(t, err, errs.Conflict)
		if got := errs.MessageOf(err); got != "Registered Model (name=fraud) already exists." {
			t.Errorf("duplicate message %q", got)
		}

		v1 := e.version(t, "fraud", "runs:/r1/model")
		v2, err := e.svc.CreateModelVersion(ctx, NewVersion{Name: "fraud", Source: "models:/m-abc",
			ModelID: "m-abc", Description: "second", RunLink: "https://ci.example.com/run/7", Tags: []Tag{{"validated", "yes"}}})
		if err != nil {
			t.Fatal(err)
		}
		if v1.Version != 1 || v2.Version != 2 {
			t.Fatalf("versions %d, %d", v1.Version, v2.Version)
		}
		if v1.Status != StatusReady || v1.Stage != StageNone || v1.UserID != "ed" {
			t.Errorf("v1 %+v", v1)
		}
		if v1.StorageLocation != "mlflow-artifacts:/1/r1/artifacts/model" || v1.RunID != "r1" {
			t.Errorf("v1 storage %q run %q", v1.StorageLocation, v1.RunID)
		}
		if v2.ModelID != "m-abc" || v2.RunID != "r1" || v2.StorageLocation != "mlflow-artifacts:/1/models/m-abc/artifacts" {
			t.Errorf("v2 %+v", v2)
		}

		got, err := e.svc.GetModelVersion(ctx, "fraud", 2)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, v2) {
			t.Errorf("get version\n got %+v\nwant %+v", got, v2)
		}
		_, err = e.svc.GetModelVersion(ctx, "fraud", 3)
		wantCode(t, err, errs.NotFound)
		if got := errs.MessageOf(err); got != "Model Version (name=fraud, version=3) not found" {
			t.Errorf("not found message %q", got)
		}
		uri, err := e.svc.GetModelVersionDownloadURI(ctx, "fraud", 1)
		if err != nil || uri != "mlflow-artifacts:/1/r1/artifacts/model" {
			t.Errorf("download uri %q, %v", uri, err)
		}
		if uri, err := e.svc.ModelVersionArtifactURI(ctx, "fraud", "2"); err != nil || uri != v2.StorageLocation {
			t.Errorf("artifact uri %q, %v", uri, err)
		}

		upd, err := e.svc.UpdateModelVersion(ctx, "fraud", 1, "first")
		if err != nil || upd.Description != "first" || upd.LastUpdatedTime <= v1.LastUpdatedTime {
			t.Errorf("update version %+v, %v", upd, err)
		}
		rm, err := e.svc.UpdateRegisteredModel(ctx, "fraud", "new text")
		if err != nil || rm.Description != "new text" {
			t.Errorf("update model %+v, %v", rm, err)
		}
		if err := e.svc.SetRegisteredModelTag(ctx, "fraud", Tag{"team", "ml"}); err != nil {
			t.Fatal(err)
		}
		if err := e.svc.DeleteRegisteredModelTag(ctx, "fraud", "owner"); err != nil {
			t.Fatal(err)
		}
		if err := e.svc.DeleteRegisteredModelTag(ctx, "fraud", "absent"); err != nil {
			t.Errorf("deleting an absent tag: %v", err)
		}
		if err := e.svc.SetModelVersionTag(ctx, "fraud", 1, Tag{"k", "v"}); err != nil {
			t.Fatal(err)
		}
		if err := e.svc.SetModelVersionTag(ctx, "fraud", 1, Tag{"k", "w"}); err != nil {
			t.Fatal(err)
		}
		if err := e.svc.DeleteModelVersionTag(ctx, "fraud", 2, "validated"); err != nil {
			t.Fatal(err)
		}
		wantCode(t, e.svc.SetModelVersionTag(ctx, "fraud", 9, Tag{"k", "v"}), errs.NotFound)
		wantCode(t, e.svc.SetRegisteredModelTag(ctx, "nope", Tag{"k", "v"}), errs.NotFound)

		rm, err = e.svc.GetRegisteredModel(ctx, "fraud")
		if err != nil {
			t.Fatal(err)
		}
		if want := []Tag{{"team", "ml"}}; !reflect.DeepEqual(rm.Tags, want) {
			t.Errorf("model tags %v", rm.Tags)
		}
		// Both versions are in stage None: the latest there is 2.
		if len(rm.LatestVersions) != 1 || rm.LatestVersions[0].Version != 2 || len(rm.LatestVersions[0].Tags) != 0 {
			t.Errorf("latest %+v", rm.LatestVersions)
		}
		if v, _ := e.svc.GetModelVersion(ctx, "fraud", 1); !reflect.DeepEqual(v.Tags, []Tag{{"k", "w"}}) {
			t.Errorf("version tags %v", v.Tags)
		}

		// Deleting a version frees nothing: the next number is still 3.
		if err := e.svc.DeleteModelVersion(ctx, "fraud", 2); err != nil {
			t.Fatal(err)
		}
		wantCode(t, e.svc.DeleteModelVersion(ctx, "fraud", 2), errs.NotFound)
		_, err = e.svc.GetModelVersion(ctx, "fraud", 2)
		wantCode(t, err, errs.NotFound)
		if v3 := e.version(t, "fraud", "runs:/r2"); v3.Version != 3 {
			t.Errorf("after a delete the next version is %d, want 3", v3.Version)
		}

		if err := e.svc.DeleteRegisteredModel(ctx, "fraud"); err != nil {
			t.Fatal(err)
		}
		_, err = e.svc.GetRegisteredModel(ctx, "fraud")
		wantCode(t, err, errs.NotFound)
		if got := errs.MessageOf(err); got != "Registered Model with name=fraud not found" {
			t.Errorf("message %q", got)
		}
		wantCode(t, e.svc.DeleteRegisteredModel(ctx, "fraud"), errs.NotFound)
		// A new model of the same name starts again from version 1, with
		// nothing left over from the old one.
		e.model(t, "fraud")
		if v := e.version(t, "fraud", "runs:/r1/m"); v.Version != 1 || len(v.Tags) != 0 {
			t.Errorf("recreated model's first version %+v", v)
		}
	})
}

func TestValidation(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		ctx := e.ctx
		for _, name := range []string{"", "  ", "a/b", "a:b", ".", "..", "..x", "a\x00b", "a\nb", strings.Repeat("x", 257), "\xff"} {
			_, err := e.svc.CreateRegisteredModel(ctx, name, "", nil)
			wantCode(t, err, errs.Invalid)
		}
		for _, name := range []string{"a", "My Model v1.2", "модель", "a@b", "a.b_c-d", "x..y", strings.Repeat("x", 256)} {
			if _, err := e.svc.CreateRegisteredModel(ctx, name, "", nil); err != nil {
				t.Errorf("name %q: %v", name, err)
			}
		}
		for _, key := range []string{"", "a/../b", "/abs", "..", "./a", "a//b", "bad\tkey", "semi;colon", strings.Repeat("k", 251)} {
			wantCode(t, e.svc.SetRegisteredModelTag(ctx, "a", Tag{key, "v"}), errs.Invalid)
		}
		for _, key := range []string{"a", "a/b", "mlflow.note.content", "with space", "c:d", "ключ"} {
			if err := e.svc.SetRegisteredModelTag(ctx, "a", Tag{key, "v"}); err != nil {
				t.Errorf("key %q: %v", key, err)
			}
		}
		wantCode(t, e.svc.SetRegisteredModelTag(ctx, "a", Tag{"k", "nul\x00"}), errs.Invalid)
		_, err := e.svc.UpdateRegisteredModel(ctx, "a", strings.Repeat("d", MaxDescriptionLen+1))
		wantCode(t, err, errs.Invalid)
		_, err = e.svc.CreateModelVersion(ctx, NewVersion{Name: "a", Source: "runs:/r1/m", RunLink: "javascript:alert(1)"})
		wantCode(t, err, errs.Invalid)
		_, err = e.svc.CreateModelVersion(ctx, NewVersion{Name: "missing", Source: "runs:/r1/m"})
		wantCode(t, err, errs.NotFound)
		for _, s := range []string{"", "x", "1.5", "v1"} {
			if _, err := ParseVersion(s); errs.CodeOf(err) != errs.Invalid {
				t.Errorf("ParseVersion(%q) = %v", s, err)
			}
		}
		if n, err := ParseVersion(" 12 "); n != 12 || err != nil {
			t.Errorf("ParseVersion: %d %v", n, err)
		}
		if len(e.events(t)) != 13 { // the 7 models and 6 tags that were valid
			t.Errorf("%d audit events, want 13", len(e.events(t)))
		}
	})
}

func TestRenameMovesEverything(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		ctx := e.ctx
		if _, err := e.svc.CreateRegisteredModel(ctx, "old", "d", []Tag{{"team", "risk"}}); err != nil {
			t.Fatal(err)
		}
		e.version(t, "old", "runs:/r1/model")
		e.version(t, "old", "runs:/r2/model")
		if err := e.svc.SetModelVersionTag(ctx, "old", 2, Tag{"validated", "yes"}); err != nil {
			t.Fatal(err)
		}
		if err := e.svc.SetRegisteredModelAlias(ctx, "old", "champion", 2); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.TransitionModelVersionStage(ctx, "old", 1, "Production", false); err != nil {
			t.Fatal(err)
		}
		e.model(t, "taken")

		_, err := e.svc.RenameRegisteredModel(ctx, "old", "taken")
		wantCode(t, err, errs.Conflict)
		_, err = e.svc.RenameRegisteredModel(ctx, "old", "bad/name")
		wantCode(t, err, errs.Invalid)
		_, err = e.svc.RenameRegisteredModel(ctx, "nope", "other")
		wantCode(t, err, errs.NotFound)

		m, err := e.svc.RenameRegisteredModel(ctx, "old", "new")
		if err != nil {
			t.Fatal(err)
		}
		if m.Name != "new" || m.Description != "d" || !reflect.DeepEqual(m.Tags, []Tag{{"team", "risk"}}) {
			t.Errorf("renamed %+v", m)
		}
		if !reflect.DeepEqual(m.Aliases, []Alias{{"champion", 2}}) {
			t.Errorf("aliases %v", m.Aliases)
		}
		if len(m.LatestVersions) != 2 || m.LatestVersions[0].Name != "new" {
			t.Errorf("latest %+v", m.LatestVersions)
		}
		_, err = e.svc.GetRegisteredModel(ctx, "old")
		wantCode(t, err, errs.NotFound)
		v, err := e.svc.GetModelVersionByAlias(ctx, "new", "champion")
		if err != nil || v.Version != 2 || v.Name != "new" || !reflect.DeepEqual(v.Tags, []Tag{{"validated", "yes"}}) {
			t.Errorf("by alias after rename %+v, %v", v, err)
		}
		if v, err := e.svc.GetModelVersion(ctx, "new", 1); err != nil || v.Stage != StageProduction {
			t.Errorf("version 1 after rename %+v, %v", v, err)
		}
		// Numbering goes on under the new name.
		if v := e.version(t, "new", "runs:/r1/model"); v.Version != 3 {
			t.Errorf("next version %d", v.Version)
		}
		vs, _, err := e.svc.SearchModelVersions(ctx, SearchOptions{Filter: "name = 'old'"})
		if err != nil || len(vs) != 0 {
			t.Errorf("versions under the old name: %v, %v", vs, err)
		}
	})
}

// TestConcurrentVersions: 16 writers register versions of one model at once;
// the numbers must be exactly 1..16.
func TestConcurrentVersions(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		e.model(t, "busy")
		const n = 16
		got := make([]int64, n)
		errc := make(chan error, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				v, err := e.svc.CreateModelVersion(e.ctx, NewVersion{Name: "busy", Source: fmt.Sprintf("runs:/r1/m%d", i)})
				if err != nil {
					errc <- err
					return
				}
				got[i] = v.Version
			}()
		}
		close(start)
		wg.Wait()
		close(errc)
		for err := range errc {
			t.Fatal(err)
		}
		slices.Sort(got)
		for i, v := range got {
			if v != int64(i+1) {
				t.Fatalf("versions %v, want 1..%d", got, n)
			}
		}
		vs, _, err := e.svc.SearchModelVersions(e.ctx, SearchOptions{Filter: "name = 'busy'"})
		if err != nil || len(vs) != n {
			t.Fatalf("%d versions stored, %v", len(vs), err)
		}
	})
}

func TestStageTransitions(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		ctx := e.ctx
		e.model(t, "m")
		for range 4 {
			e.version(t, "m", "runs:/r1/model")
		}
		stage := func(v int64) string {
			t.Helper()
			mv, err := e.svc.GetModelVersion(ctx, "m", v)
			if err != nil {
				t.Fatal(err)
			}
			return mv.Stage
		}
		mv, err := e.svc.TransitionModelVersionStage(ctx, "m", 1, "production", false)
		if err != nil || mv.Stage != StageProduction {
			t.Fatalf("%+v, %v", mv, err)
		}
		if _, err := e.svc.TransitionModelVersionStage(ctx, "m", 2, "PRODUCTION", false); err != nil {
			t.Fatal(err)
		}
		if stage(1) != StageProduction || stage(2) != StageProduction {
			t.Errorf("without archiving both stay in Production: %s, %s", stage(1), stage(2))
		}
		if _, err := e.svc.TransitionModelVersionStage(ctx, "m", 4, "staging", false); err != nil {
			t.Fatal(err)
		}
		mv, err = e.svc.TransitionModelVersionStage(ctx, "m", 3, "Production", true)
		if err != nil || mv.Stage != StageProduction {
			t.Fatalf("%+v, %v", mv, err)
		}
		want := map[int64]string{1: StageArchived, 2: StageArchived, 3: StageProduction, 4: StageStaging}
		for v, st := range want {
			if got := stage(v); got != st {
				t.Errorf("version %d in %s, want %s", v, got, st)
			}
		}
		latest, err := e.svc.GetLatestVersions(ctx, "m", []string{"production", "Staging"})
		if err != nil {
			t.Fatal(err)
		}
		if got := versionsOf(latest); !reflect.DeepEqual(got, []int64{3, 4}) {
			t.Errorf("latest production+staging %v", got)
		}
		latest, err = e.svc.GetLatestVersions(ctx, "m", nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := versionsOf(latest); !reflect.DeepEqual(got, []int64{2, 3, 4}) {
			t.Errorf("latest of every stage %v", got)
		}

		_, err = e.svc.TransitionModelVersionStage(ctx, "m", 1, "Limbo", false)
		wantCode(t, err, errs.Invalid)
		_, err = e.svc.TransitionModelVersionStage(ctx, "m", 1, "None", true)
		wantCode(t, err, errs.Invalid)
		_, err = e.svc.TransitionModelVersionStage(ctx, "m", 1, "archived", true)
		wantCode(t, err, errs.Invalid)
		_, err = e.svc.TransitionModelVersionStage(ctx, "m", 9, "Staging", false)
		wantCode(t, err, errs.NotFound)
		_, err = e.svc.GetLatestVersions(ctx, "m", []string{"bogus"})
		wantCode(t, err, errs.Invalid)
		_, err = e.svc.GetLatestVersions(ctx, "nope", nil)
		wantCode(t, err, errs.NotFound)

		// The archiving move is audited per version, with from/to.
		var stages []string
		for _, ev := range e.events(t) {
			if ev.Action == "model_version.stage" {
				stages = append(stages, fmt.Sprintf("%s:%v->%v", ev.ResourceID, ev.Detail["from"], ev.Detail["to"]))
			}
		}
		wantStages := []string{"m/1:None->Production", "m/2:None->Production", "m/4:None->Staging",
			"m/1:Production->Archived", "m/2:Production->Archived", "m/3:None->Production"}
		if !reflect.DeepEqual(stages, wantStages) {
			t.Errorf("stage events\n got %v\nwant %v", stages, wantStages)
		}
	})
}

func versionsOf(vs []ModelVersion) []int64 {
	out := make([]int64, len(vs))
	for i, v := range vs {
		out[i] = v.Version
	}
	return out
}

func TestAliases(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		ctx := e.ctx
		e.model(t, "m")
		e.version(t, "m", "runs:/r1/model")
		e.version(t, "m", "runs:/r2/model")
		for _, alias := range []string{"latest", "LATEST", "Latest", "v1", "V12", "v007"} {
			wantCode(t, e.svc.SetRegisteredModelAlias(ctx, "m", alias, 1), errs.Invalid)
		}
		for _, alias := range []string{"", "a b", "a.b", "a/b", "a@b", strings.Repeat("a", 256)} {
			wantCode(t, e.svc.SetRegisteredModelAlias(ctx, "m", alias, 1), errs.Invalid)
		}
		wantCode(t, e.svc.SetRegisteredModelAlias(ctx, "m", "champion", 7), errs.NotFound)
		wantCode(t, e.svc.SetRegisteredModelAlias(ctx, "nope", "champion", 1), errs.NotFound)
		for _, alias := range []string{"champion", "v1beta", "vv1", "latest-good", "Ünïcode_ok-1"} {
			if err := e.svc.SetRegisteredModelAlias(ctx, "m", alias, 1); err != nil {
				t.Errorf("alias %q: %v", alias, err)
			}
		}
		if err := e.svc.SetRegisteredModelAlias(ctx, "m", "champion", 2); err != nil { // moves
			t.Fatal(err)
		}
		v, err := e.svc.GetModelVersionByAlias(ctx, "m", "champion")
		if err != nil || v.Version != 2 || !slices.Equal(v.Aliases, []string{"champion"}) {
			t.Errorf("by alias %+v, %v", v, err)
		}
		v, err = e.svc.GetModelVersionByAlias(ctx, "m", "latest")
		if err != nil || v.Version != 2 {
			t.Errorf("latest %+v, %v", v, err)
		}
		_, err = e.svc.GetModelVersionByAlias(ctx, "m", "missing")
		wantCode(t, err, errs.NotFound)
		_, err = e.svc.GetModelVersionByAlias(ctx, "nope", "champion")
		wantCode(t, err, errs.NotFound)

		// Deleting version 1 removes the aliases that pointed at it.
		if err := e.svc.DeleteModelVersion(ctx, "m", 1); err != nil {
			t.Fatal(err)
		}
		m, err := e.svc.GetRegisteredModel(ctx, "m")
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(m.Aliases, []Alias{{"champion", 2}}) {
			t.Errorf("aliases after deleting version 1: %v", m.Aliases)
		}
		if err := e.svc.DeleteRegisteredModelAlias(ctx, "m", "champion"); err != nil {
			t.Fatal(err)
		}
		if err := e.svc.DeleteRegisteredModelAlias(ctx, "m", "champion"); err != nil {
			t.Errorf("deleting an absent alias: %v", err)
		}
		wantCode(t, e.svc.DeleteRegisteredModelAlias(ctx, "nope", "champion"), errs.NotFound)
		_, err = e.svc.GetModelVersionByAlias(ctx, "m", "champion")
		wantCode(t, err, errs.NotFound)

		var actions []string
		for _, ev := range e.events(t) {
			if strings.HasPrefix(ev.Action, "model.alias.") || ev.Action == "model_version.delete" {
				actions = append(actions, fmt.Sprintf("%s %v %v", ev.Action, ev.Detail["alias"], ev.Detail["version"]))
			}
		}
		want := []string{
			"model.alias.set champion 1", "model.alias.set v1beta 1", "model.alias.set vv1 1",
			"model.alias.set latest-good 1", "model.alias.set Ünïcode_ok-1 1", "model.alias.set champion 2",
			"model_version.delete <nil> <nil>", "model.alias.delete champion 2",
		}
		if !reflect.DeepEqual(actions, want) {
			t.Errorf("alias events\n got %q\nwant %q", actions, want)
		}
	})
}

func TestAuditEvents(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		ctx := e.ctx
		e.model(t, "a")
		e.version(t, "a", "runs:/r1/model")
		steps := []func() error{
			func() error { _, err := e.svc.UpdateRegisteredModel(ctx, "a", "x"); return err },
			func() error { return e.svc.SetRegisteredModelTag(ctx, "a", Tag{"k", "v"}) },
			func() error { return e.svc.DeleteRegisteredModelTag(ctx, "a", "k") },
			func() error { _, err := e.svc.UpdateModelVersion(ctx, "a", 1, "y"); return err },
			func() error { return e.svc.SetModelVersionTag(ctx, "a", 1, Tag{"k", "v"}) },
			func() error { return e.svc.DeleteModelVersionTag(ctx, "a", 1, "k") },
			func() error { _, err := e.svc.TransitionModelVersionStage(ctx, "a", 1, "Staging", false); return err },
			func() error { return e.svc.SetRegisteredModelAlias(ctx, "a", "x", 1) },
			func() error { return e.svc.DeleteRegisteredModelAlias(ctx, "a", "x") },
			func() error { _, err := e.svc.RenameRegisteredModel(ctx, "a", "b"); return err },
			func() error { return e.svc.DeleteModelVersion(ctx, "b", 1) },
			func() error { return e.svc.DeleteRegisteredModel(ctx, "b") },
			// Failures and no-ops record nothing.
			func() error { _, err := e.svc.CreateRegisteredModel(ctx, "b/c", "", nil); return ignore(err) },
			func() error { return ignore(e.svc.DeleteRegisteredModel(ctx, "b")) },
			func() error { return e.svc.DeleteRegisteredModelTag(ctx, "a2", "k") },
		}
		e.model(t, "a2")
		for i, step := range steps {
			if err := step(); err != nil {
				t.Fatalf("step %d: %v", i, err)
			}
		}
		var got []string
		for _, ev := range e.events(t) {
			got = append(got, ev.Action+" "+ev.ResourceType+" "+ev.ResourceID)
			if ev.Actor != "ed" || ev.RequestID != "req-1" || ev.Outcome != "success" {
				t.Errorf("event %+v", ev)
			}
		}
		want := []string{
			"model.create registered_model a",
			"model_version.create model_version a/1",
			"model.create registered_model a2",
			"model.update registered_model a",
			"model.tag.set registered_model a",
			"model.tag.delete registered_model a",
			"model_version.update model_version a/1",
			"model_version.tag.set model_version a/1",
			"model_version.tag.delete model_version a/1",
			"model_version.stage model_version a/1",
			"model.alias.set registered_model a",
			"model.alias.delete registered_model a",
			"model.rename registered_model b",
			"model_version.delete model_version b/1",
			"model.delete registered_model b",
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("events\n got %q\nwant %q", got, want)
		}
	})
}

func ignore(err error) error {
	if errs.CodeOf(err) == errs.Internal {
		return err
	}
	return nil
}

// TestAuditRollsBack: when the audit event cannot be written, the change
// it describes does not happen either.
func TestAuditRollsBack(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		e.model(t, "keep")
		e.version(t, "keep", "runs:/r1/model")
		refuse := map[store.Dialect]string{
			store.SQLite: `CREATE TRIGGER refuse_registry_events BEFORE INSERT ON audit_events
				WHEN NEW.action IN ('model.delete', 'model_version.create', 'model.rename', 'model_version.stage')
				BEGIN SELECT RAISE(ABORT, 'audit refused by test'); END`,
			store.Postgres: `CREATE FUNCTION refuse_registry_events() RETURNS trigger LANGUAGE plpgsql AS $$
				BEGIN
					IF NEW.action IN ('model.delete', 'model_version.create', 'model.rename', 'model_version.stage') THEN
						RAISE EXCEPTION 'audit refused by test';
					END IF;
					RETURN NEW;
				END $$;
				CREATE TRIGGER refuse_registry_events BEFORE INSERT ON audit_events
				FOR EACH ROW EXECUTE FUNCTION refuse_registry_events()`,
		}[e.db.Dialect()]
		if _, err := e.db.Exec(ctx, refuse); err != nil {
			t.Fatal(err)
		}
		before := len(e.events(t))
		if err := e.svc.DeleteRegisteredModel(e.ctx, "keep"); err == nil {
			t.Fatal("delete succeeded without its audit event")
		}
		if _, err := e.svc.CreateModelVersion(e.ctx, NewVersion{Name: "keep", Source: "runs:/r1/model"}); err == nil {
			t.Fatal("version created without its audit event")
		}
		if _, err := e.svc.RenameRegisteredModel(e.ctx, "keep", "gone"); err == nil {
			t.Fatal("rename succeeded without its audit event")
		}
		if _, err := e.svc.TransitionModelVersionStage(e.ctx, "keep", 1, "Production", false); err == nil {
			t.Fatal("transition succeeded without its audit event")
		}
		m, err := e.svc.GetRegisteredModel(e.ctx, "keep")
		if err != nil {
			t.Fatalf("the model is gone: %v", err)
		}
		if len(m.LatestVersions) != 1 || m.LatestVersions[0].Version != 1 || m.LatestVersions[0].Stage != StageNone {
			t.Errorf("versions changed: %+v", m.LatestVersions)
		}
		if after := len(e.events(t)); after != before {
			t.Errorf("%d events, want %d", after, before)
		}
		// The next version number is unaffected by the rolled-back attempt.
		if _, err := e.db.Exec(ctx, `DROP TRIGGER refuse_registry_events`+map[store.Dialect]string{store.Postgres: " ON audit_events"}[e.db.Dialect()]); err != nil {
			t.Fatal(err)
		}
		if v := e.version(t, "keep", "runs:/r1/model"); v.Version != 2 {
			t.Errorf("next version %d, want 2", v.Version)
		}
	})
}
