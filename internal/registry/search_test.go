package registry

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/mlcycle/mlcycle/internal/errs"
)

func modelNames(ms []RegisteredModel) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Name
	}
	return out
}

func versionKeys(vs []ModelVersion) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = fmt.Sprintf("%s/%d", v.Name, v.Version)
	}
	return out
}

func TestSearchRegisteredModels(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		ctx := e.ctx
		for _, m := range []struct {
			name string
			tags []Tag
		}{
			{"fraud-a", []Tag{{"team", "risk"}, {"tier", "gold"}}},
			{"fraud-b", []Tag{{"team", "risk"}}},
			{"Fraud-C", []Tag{{"team", "growth"}}},
			{"churn", nil},
			{"x_y", nil},
			{"xzy", nil},
			{"a%b", nil},
			{"my prompt", []Tag{{PromptTag, "true"}}},
		} {
			if _, err := e.svc.CreateRegisteredModel(ctx, m.name, "", m.tags); err != nil {
				t.Fatal(err)
			}
		}
		e.version(t, "churn", "runs:/r1/model") // churn is now the most recently updated

		tests := []struct {
			filter  string
			orderBy []string
			want    []string
		}{
			{"", nil, []string{"Fraud-C", "a%b", "churn", "fraud-a", "fraud-b", "x_y", "xzy"}},
			{"name = 'fraud-a'", nil, []string{"fraud-a"}},
			{"name != 'fraud-a' AND name LIKE 'fraud%'", nil, []string{"fraud-b"}},
			{"name LIKE 'fraud-%'", nil, []string{"fraud-a", "fraud-b"}}, // LIKE is case-sensitive
			{"name ILIKE 'fraud-%'", nil, []string{"Fraud-C", "fraud-a", "fraud-b"}},
			{"name LIKE 'x_y'", nil, []string{"x_y", "xzy"}}, // '_' is one character
			{"name LIKE 'a[%'", nil, []string{}},             // '[' is literal, not a GLOB class
			{"name LIKE '%\\%'", nil, []string{}},            // no escape character
			{"name IN ('churn', 'xzy', 'nope')", nil, []string{"churn", "xzy"}},
			{"name NOT IN ('churn', 'xzy')", nil, []string{"Fraud-C", "a%b", "fraud-a", "fraud-b", "x_y"}},
			{"tags.team = 'risk'", nil, []string{"fraud-a", "fraud-b"}},
			{"tags.`team` = 'risk' AND tag.tier = 'gold'", nil, []string{"fraud-a"}},
			{"tags.team != 'risk'", nil, []string{"Fraud-C"}}, // a missing tag matches nothing
			{"tags.team LIKE '%ro%'", nil, []string{"Fraud-C"}},
			{"tags.team ILIKE 'RISK'", nil, []string{"fraud-a", "fraud-b"}},
			{"name LIKE 'fraud%' AND tags.team = 'growth'", nil, []string{}},
			// The MLflow client appends this to every model search.
			{"name LIKE 'fraud%' AND tag.`mlflow.prompt.is_prompt` != 'true'", nil, []string{"fraud-a", "fraud-b"}},
			{"tags.`mlflow.prompt.is_prompt` = 'true'", nil, []string{"my prompt"}},
			{"", []string{"name DESC"}, []string{"xzy", "x_y", "fraud-b", "fraud-a", "churn", "a%b", "Fraud-C"}},
			{"name LIKE 'fraud%'", []string{"last_updated_timestamp DESC"}, []string{"fraud-b", "fraud-a"}},
			{"", []string{"timestamp DESC"}, []string{"churn", "a%b", "xzy", "x_y", "Fraud-C", "fraud-b", "fraud-a"}},
			{"", []string{"creation_timestamp ASC"}, []string{"fraud-a", "fraud-b", "Fraud-C", "churn", "x_y", "xzy", "a%b"}},
		}
		for _, tc := range tests {
			ms, next, err := e.svc.SearchRegisteredModels(ctx, SearchOptions{Filter: tc.filter, OrderBy: tc.orderBy})
			if err != nil {
				t.Errorf("%q %v: %v", tc.filter, tc.orderBy, err)
				continue
			}
			if got := modelNames(ms); !reflect.DeepEqual(got, tc.want) || next != "" {
				t.Errorf("%q %v: %q next %q, want %q", tc.filter, tc.orderBy, got, next, tc.want)
			}
		}

		ms, _, err := e.svc.SearchRegisteredModels(ctx, SearchOptions{Filter: "name = 'churn'"})
		if err != nil || len(ms) != 1 || len(ms[0].LatestVersions) != 1 || ms[0].LatestVersions[0].Version != 1 {
			t.Errorf("search result carries latest versions: %+v, %v", ms, err)
		}
		ms, _, _ = e.svc.SearchRegisteredModels(ctx, SearchOptions{Filter: "name = 'fraud-a'"})
		if len(ms) != 1 || !reflect.DeepEqual(ms[0].Tags, []Tag{{"team", "risk"}, {"tier", "gold"}}) {
			t.Errorf("search result carries tags: %+v", ms)
		}

		for _, bad := range []SearchOptions{
			{Filter: "name = "},
			{Filter: "name = 'a' OR name = 'b'"},
			{Filter: "run_id = 'x'"},
			{Filter: "metrics.acc > 1"},
			{Filter: "name > 'a'"},
			{Filter: "name = 3"},
			{Filter: "tags.team IN ('a')"},
			{Filter: "name IS NULL"},
			{Filter: "tags.`mlflow.prompt.is_prompt` LIKE 'x'"},
			{OrderBy: []string{"bogus"}},
			{OrderBy: []string{"name", "name DESC"}},
			{OrderBy: []string{"tags.team"}},
			{OrderBy: []string{"name SIDEWAYS"}},
			{MaxResults: 1001},
			{MaxResults: -1},
			{PageToken: "not a token"},
		} {
			if _, _, err := e.svc.SearchRegisteredModels(ctx, bad); errs.CodeOf(err) != errs.Invalid {
				t.Errorf("%+v: %v, want invalid", bad, err)
			}
		}
	})
}

func TestSearchPaging(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		for i := range 25 {
			e.model(t, fmt.Sprintf("m%02d", i))
		}
		var got []string
		token := ""
		pages := 0
		for {
			ms, next, err := e.svc.SearchRegisteredModels(e.ctx, SearchOptions{MaxResults: 10, PageToken: token})
			if err != nil {
				t.Fatal(err)
			}
			pages++
			got = append(got, modelNames(ms)...)
			if next == "" {
				break
			}
			token = next
		}
		if pages != 3 || len(got) != 25 || got[0] != "m00" || got[24] != "m24" {
			t.Errorf("%d pages: %v", pages, got)
		}
		// An exactly full last page has no next token.
		ms, next, err := e.svc.SearchRegisteredModels(e.ctx, SearchOptions{MaxResults: 25})
		if err != nil || len(ms) != 25 || next != "" {
			t.Errorf("%d models, next %q, %v", len(ms), next, err)
		}

		e.model(t, "v")
		for range 7 {
			e.version(t, "v", "runs:/r1/model")
		}
		var keys []string
		token = ""
		for {
			vs, next, err := e.svc.SearchModelVersions(e.ctx, SearchOptions{Filter: "name = 'v'", MaxResults: 3,
				OrderBy: []string{"version_number ASC"}, PageToken: token})
			if err != nil {
				t.Fatal(err)
			}
			keys = append(keys, versionKeys(vs)...)
			if next == "" {
				break
			}
			token = next
		}
		want := []string{"v/1", "v/2", "v/3", "v/4", "v/5", "v/6", "v/7"}
		if !reflect.DeepEqual(keys, want) {
			t.Errorf("paged versions %v", keys)
		}
	})
}

func TestSearchModelVersions(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		ctx := e.ctx
		e.model(t, "a")
		e.model(t, "b")
		e.version(t, "a", "runs:/r1/model")        // a/1
		e.version(t, "a", "runs:/r2/model")        // a/2
		e.version(t, "b", "runs:/r1/other")        // b/1
		e.version(t, "b", "mlflow-artifacts:/x/y") // b/2
		e.version(t, "a", "models:/m-def")         // a/3
		if err := e.svc.SetModelVersionTag(ctx, "a", 2, Tag{"validated", "yes"}); err != nil {
			t.Fatal(err)
		}
		if err := e.svc.SetModelVersionTag(ctx, "b", 1, Tag{"validated", "no"}); err != nil {
			t.Fatal(err)
		}
		if err := e.svc.SetRegisteredModelAlias(ctx, "a", "champ", 2); err != nil {
			t.Fatal(err)
		}
		if err := e.svc.DeleteModelVersion(ctx, "a", 3); err != nil {
			t.Fatal(err)
		}
		// A prompt's versions are left out unless asked for.
		if _, err := e.svc.CreateRegisteredModel(ctx, "p", "", []Tag{{PromptTag, "true"}}); err != nil {
			t.Fatal(err)
		}
		e.version(t, "p", "mlflow-artifacts:/prompts/p")

		tests := []struct {
			filter  string
			orderBy []string
			want    []string
		}{
			// Default order: last updated first (b/1 and a/2 were tagged, but
			// tags do not touch the version), then name, then version DESC.
			{"", nil, []string{"b/2", "b/1", "a/2", "a/1"}},
			{"name = 'a'", nil, []string{"a/2", "a/1"}},
			{"name IN ('a', 'b')", []string{"name ASC", "version_number ASC"}, []string{"a/1", "a/2", "b/1", "b/2"}},
			{"run_id = 'r1'", []string{"name"}, []string{"a/1", "b/1"}},
			{"run_id IN ('r2')", nil, []string{"a/2"}},
			{"run_id != 'r1'", []string{"name"}, []string{"a/2", "b/2"}},
			{"source_path LIKE 'runs:/r1/%'", []string{"name"}, []string{"a/1", "b/1"}},
			{"source_path = 'mlflow-artifacts:/x/y'", nil, []string{"b/2"}},
			{"version_number > 1", []string{"name"}, []string{"a/2", "b/2"}},
			{"version_number = 1 AND name = 'b'", nil, []string{"b/1"}},
			{"version_number <= '1'", []string{"name"}, []string{"a/1", "b/1"}},
			{"tags.validated = 'yes'", nil, []string{"a/2"}},
			{"tags.validated ILIKE '%'", []string{"name"}, []string{"a/2", "b/1"}},
			{"name = 'a' AND tags.validated = 'no'", nil, []string{}},
			{"name = 'p'", nil, []string{}},
			{"name = 'p' AND tags.`mlflow.prompt.is_prompt` = 'true'", nil, []string{"p/1"}},
			{"", []string{"creation_timestamp ASC"}, []string{"a/1", "a/2", "b/1", "b/2"}},
			{"", []string{"version_number DESC", "name DESC"}, []string{"b/2", "a/2", "b/1", "a/1"}},
		}
		for _, tc := range tests {
			vs, next, err := e.svc.SearchModelVersions(ctx, SearchOptions{Filter: tc.filter, OrderBy: tc.orderBy})
			if err != nil {
				t.Errorf("%q %v: %v", tc.filter, tc.orderBy, err)
				continue
			}
			if got := versionKeys(vs); !reflect.DeepEqual(got, tc.want) || next != "" {
				t.Errorf("%q %v: %v next %q, want %v", tc.filter, tc.orderBy, got, next, tc.want)
			}
		}
		vs, _, err := e.svc.SearchModelVersions(ctx, SearchOptions{Filter: "name = 'a' AND version_number = 2"})
		if err != nil || len(vs) != 1 || !reflect.DeepEqual(vs[0].Tags, []Tag{{"validated", "yes"}}) || !reflect.DeepEqual(vs[0].Aliases, []string{"champ"}) {
			t.Errorf("version carries tags and aliases: %+v, %v", vs, err)
		}

		for _, bad := range []SearchOptions{
			{Filter: "version_number = 1.5"},
			{Filter: "version_number = 'x'"},
			{Filter: "version_number LIKE '1'"},
			{Filter: "source_path IN ('a')"},
			{Filter: "stage = 'None'"},
			{Filter: "params.x = 'y'"},
			{Filter: "name = 'a' OR name = 'b'"},
			{OrderBy: []string{"run_id"}},
			{MaxResults: MaxVersionsPerPage + 1},
		} {
			if _, _, err := e.svc.SearchModelVersions(ctx, bad); errs.CodeOf(err) != errs.Invalid {
				t.Errorf("%+v: %v, want invalid", bad, err)
			}
		}
	})
}
