package tracking

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/mlcycle/mlcycle/internal/errs"
	"github.com/mlcycle/mlcycle/internal/store"
	"github.com/mlcycle/mlcycle/internal/store/storetest"
)

// searchFixture creates runs r0..r6 (start_time 1000+i) in a fresh
// experiment and returns it with the run ids by name.
//
//	run  acc   loss  opt     lr   team     status    user   dataset (context)
//	r0   0.1   NaN   adam    0.1  alpha    FINISHED  alice  iris (training)
//	r1   0.5   -     sgd     -    beta     RUNNING   bob    wine (eval)
//	r2   0.9   -     Adam    -    alpha_x  FAILED    alice  -
//	r3   0.9   -     -       -    -        RUNNING   alice  -
//	r4   0.7   -     adamw   -    -        RUNNING   alice  -     (deleted)
//	r5   +Inf  0.3   adam    -    gamma    RUNNING   alice  -
//	r6   -     -     rmsprop -    -        RUNNING   alice  -
func searchFixture(t *testing.T, e *env) (string, map[string]string) {
	t.Helper()
	ctx := e.ctx
	exp := must[string](t)(e.svc.CreateExperiment(ctx, "search", "", nil))
	ids := map[string]string{}
	nan := math.NaN()
	type spec struct {
		acc, loss   *float64
		opt, lr     string
		team        string
		status      string
		user        string
		dataset     string
		ctxTag      string
		deleted     bool
		endTimeZero bool
	}
	f := func(v float64) *float64 { return &v }
	specs := []spec{
		{acc: f(0.1), loss: &nan, opt: "adam", lr: "0.1", team: "alpha", status: StatusFinished, user: "alice", dataset: "iris", ctxTag: "training"},
		{acc: f(0.5), opt: "sgd", team: "beta", user: "bob", dataset: "wine", ctxTag: "eval"},
		{acc: f(0.9), opt: "Adam", team: "alpha_x", status: StatusFailed, user: "alice"},
		{acc: f(0.9), user: "alice"},
		{acc: f(0.7), opt: "adamw", user: "alice", deleted: true},
		{acc: f(math.Inf(1)), loss: f(0.3), opt: "adam", team: "gamma", user: "alice"},
		{opt: "rmsprop", user: "alice"},
	}
	for i, s := range specs {
		name := fmt.Sprintf("r%d", i)
		r := must[Run](t)(e.svc.CreateRun(ctx, CreateRunInput{ExperimentID: exp, RunName: name, UserID: s.user, StartTime: int64(1000 + i)}))
		id := r.Info.RunID
		ids[name] = id
		var ms []Metric
		if s.acc != nil {
			ms = append(ms, Metric{Key: "acc", Value: *s.acc, Timestamp: 1})
		}
		if s.loss != nil {
			ms = append(ms, Metric{Key: "loss", Value: *s.loss, Timestamp: 1})
		}
		var ps []Param
		if s.opt != "" {
			ps = append(ps, Param{"opt", s.opt})
		}
		if s.lr != "" {
			ps = append(ps, Param{"lr", s.lr})
		}
		var tags []Tag
		if s.team != "" {
			tags = append(tags, Tag{"team", s.team})
		}
		ok(t, e.svc.LogBatch(ctx, id, ms, ps, tags))
		if s.dataset != "" {
			ok(t, e.svc.LogInputs(ctx, id, []DatasetInput{{
				Dataset: Dataset{Name: s.dataset, Digest: "d-" + s.dataset, SourceType: "local", Source: "{}"},
				Tags:    []Tag{{TagDataContext, s.ctxTag}},
			}}, nil))
		}
		if s.status != "" {
			end := int64(2000 + i)
			ok(t, nilErr(e.svc.UpdateRun(ctx, id, RunUpdate{Status: s.status, EndTime: &end})))
		}
		if s.deleted {
			ok(t, e.svc.DeleteRun(ctx, id))
		}
	}
	return exp, ids
}

func runNames(runs []Run) string {
	var out []string
	for _, r := range runs {
		out = append(out, r.Info.RunName)
	}
	return strings.Join(out, ",")
}

func TestSearchRuns(t *testing.T) {
	storetest.Each(t, testMigrations(), func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		exp, ids := searchFixture(t, e)
		search := func(q RunQuery) ([]Run, error) {
			q.ExperimentIDs = []string{exp}
			runs, _, err := e.svc.SearchRuns(e.ctx, q)
			return runs, err
		}
		filters := []struct {
			filter string
			want   string
		}{
			{"", "r6,r5,r3,r2,r1,r0"},
			{"metrics.acc > 0.4", "r5,r3,r2,r1"},
			{"metrics.acc >= 0.9", "r5,r3,r2"},
			{"metrics.acc = 0.9", "r3,r2"},
			{"metrics.acc != 0.9", "r5,r1,r0"},
			{"metrics.acc < 0.5", "r0"},
			{"metrics.acc <= 0.5", "r1,r0"},
			{"metrics.loss < 1", "r5"},    // NaN satisfies no comparison ...
			{"metrics.loss != 0.3", "r0"}, // ... but "!="
			{"metrics.acc > 1e308", "r5"}, // +Inf
			{"metrics.missing > 0", ""},   // no such metric
			{"metrics.`acc` > 0.4 AND params.opt = 'adam'", "r5"},
			{"params.opt = 'adam'", "r5,r0"},
			{"params.opt != 'adam'", "r6,r2,r1"},
			{"params.opt LIKE 'adam%'", "r5,r0"}, // case-sensitive; r4 is deleted
			{"params.opt ILIKE 'adam%'", "r5,r2,r0"},
			{"params.opt LIKE '_dam'", "r5,r2,r0"},
			{"params.opt LIKE 'Ad%'", "r2"},
			{"params.opt LIKE '%a%'", "r5,r2,r0"},
			{"params.opt IS NULL", "r3"},
			{"params.lr IS NOT NULL", "r0"},
			{"parameters.lr = '0.1'", "r0"},
			{"tags.team = 'alpha'", "r0"},
			{"tags.team LIKE 'alpha%'", "r2,r0"},
			{"tags.team LIKE 'alpha_%'", "r2"},
			{"tags.team ILIKE 'ALPHA'", "r0"},
			{"tags.team IS NULL", "r6,r3"},
			{"tags.`mlflow.runName` = 'r3'", "r3"},
			{"attributes.status = 'FAILED'", "r2"},
			{"attributes.status != 'RUNNING'", "r2,r0"},
			{"attributes.status IN ('FAILED', 'FINISHED')", "r2,r0"},
			{"attributes.status NOT IN ('RUNNING')", "r2,r0"},
			{"attributes.user_id = 'bob'", "r1"},
			{"attributes.run_name = 'r3'", "r3"},
			{"run_name ILIKE 'R1'", "r1"},
			{"attributes.`run name` = 'r2'", "r2"},
			{"attributes.run_id IN ('" + ids["r1"] + "', '" + ids["r2"] + "')", "r2,r1"},
			{"attributes.run_id = '" + ids["r4"] + "'", ""}, // deleted
			{"attributes.start_time >= 1003", "r6,r5,r3"},
			{"created < 1002", "r1,r0"},
			{"attributes.end_time > 0", "r2,r0"},
			{"attributes.end_time <= 2000", "r0"},
			{"attributes.artifact_uri LIKE '%" + ids["r5"] + "%'", "r5"},
			{"datasets.name = 'iris'", "r0"},
			{"datasets.digest IN ('d-iris', 'd-wine')", "r1,r0"},
			{"datasets.context = 'eval'", "r1"},
			{"datasets.context != 'eval'", "r0"},
			{"metrics.acc > 0 AND attributes.status = 'RUNNING' AND tags.team IS NOT NULL", "r5,r1"},
		}
		for _, f := range filters {
			runs, err := search(RunQuery{Filter: f.filter})
			if err != nil {
				t.Fatalf("%q: %v", f.filter, err)
			}
			if got := runNames(runs); got != f.want {
				t.Errorf("%q = %s, want %s", f.filter, got, f.want)
			}
		}

		bad := []struct{ filter, want string }{
			{"metrics.acc = 'x'", "Expected numeric value"},
			{"metrics.acc LIKE 'x%'", "Invalid comparator"},
			{"metrics.acc IS NULL", "only supported for tags and params"},
			{"params.opt > 1", "Expected a quoted string value"},
			{"params.opt > 'a'", "Invalid comparator"},
			{"attributes.nope = 'x'", "Invalid attribute key 'nope'"},
			{"attributes.start_time = 'x'", "Expected numeric value"},
			{"attributes.start_time > 1.5", "Invalid value for numeric attribute"},
			{"datasets.size = 'x'", "Invalid dataset key 'size'"},
			{"metrics.acc > 1 OR metrics.acc < 0", "OR"},
			{"metrics.acc >", "value"},
		}
		for _, b := range bad {
			_, err := search(RunQuery{Filter: b.filter})
			mustCode(t, err, errs.Invalid, b.want)
		}

		// View types.
		for _, v := range []struct {
			vt   ViewType
			want string
		}{{DeletedOnly, "r4"}, {All, "r6,r5,r4,r3,r2,r1,r0"}, {ActiveOnly, "r6,r5,r3,r2,r1,r0"}} {
			runs, err := search(RunQuery{ViewType: v.vt})
			ok(t, err)
			if got := runNames(runs); got != v.want {
				t.Errorf("view %d = %s, want %s", v.vt, got, v.want)
			}
		}

		orders := []struct {
			order []string
			want  string
		}{
			{[]string{"metrics.acc DESC"}, "r5,r3,r2,r1,r0,r6"},
			{[]string{"metrics.acc ASC"}, "r0,r1,r3,r2,r5,r6"},
			{[]string{"metrics.acc"}, "r0,r1,r3,r2,r5,r6"},
			{[]string{"metrics.loss ASC"}, "r5,r0,r6,r3,r2,r1"}, // NaN after numbers, missing last
			{[]string{"metrics.loss DESC"}, "r5,r0,r6,r3,r2,r1"},
			{[]string{"params.opt DESC"}, "r1,r6,r5,r0,r2,r3"},
			{[]string{"params.opt ASC", "metrics.acc DESC"}, "r2,r5,r0,r6,r1,r3"},
			{[]string{"tags.team ASC"}, "r0,r2,r1,r5,r6,r3"},
			{[]string{"attributes.start_time ASC"}, "r0,r1,r2,r3,r5,r6"},
			{[]string{"start_time DESC"}, "r6,r5,r3,r2,r1,r0"},
			{[]string{"attributes.end_time DESC"}, "r2,r0,r6,r5,r3,r1"},
			{[]string{"attributes.run_name DESC"}, "r6,r5,r3,r2,r1,r0"},
			{[]string{"attributes.status ASC", "created ASC"}, "r2,r0,r1,r3,r5,r6"},
		}
		for _, o := range orders {
			runs, err := search(RunQuery{OrderBy: o.order})
			if err != nil {
				t.Fatalf("%q: %v", o.order, err)
			}
			if got := runNames(runs); got != o.want {
				t.Errorf("order %q = %s, want %s", o.order, got, o.want)
			}
		}
		// Ordering on a filtered metric reuses the filter's join.
		runs, err := search(RunQuery{Filter: "metrics.acc > 0.2", OrderBy: []string{"metrics.acc ASC"}})
		ok(t, err)
		if got := runNames(runs); got != "r1,r3,r2,r5" {
			t.Errorf("filtered and ordered = %s", got)
		}
		_, err = search(RunQuery{OrderBy: []string{"metrics.acc", "metrics.acc DESC"}})
		mustCode(t, err, errs.Invalid, "duplicate fields")
		_, err = search(RunQuery{OrderBy: []string{"attributes.nope"}})
		mustCode(t, err, errs.Invalid, "Invalid attribute key")
		_, err = search(RunQuery{OrderBy: []string{"metrics.acc SIDEWAYS"}})
		mustCode(t, err, errs.Invalid, "ASC, DESC")

		// Runs come back with their data.
		runs, err = search(RunQuery{Filter: "attributes.run_name = 'r0'"})
		ok(t, err)
		r := runs[0]
		if len(r.Metrics) != 2 || len(r.Params) != 2 || len(r.DatasetInputs) != 1 || tagValue(r.Tags, "team") != "alpha" {
			t.Fatalf("run data: %+v", r)
		}

		// Other experiments, and none.
		runs, _, err = e.svc.SearchRuns(e.ctx, RunQuery{ExperimentIDs: []string{"0"}})
		if err != nil || len(runs) != 0 {
			t.Fatalf("default experiment: %v %v", runs, err)
		}
		runs, _, err = e.svc.SearchRuns(e.ctx, RunQuery{})
		if err != nil || len(runs) != 0 {
			t.Fatalf("no experiments: %v %v", runs, err)
		}
		_, _, err = e.svc.SearchRuns(e.ctx, RunQuery{ExperimentIDs: []string{"x"}})
		mustCode(t, err, errs.Invalid, "Experiment ID must be a valid integer")
		_, _, err = e.svc.SearchRuns(e.ctx, RunQuery{ExperimentIDs: []string{exp}, MaxResults: 50001})
		mustCode(t, err, errs.Invalid, "It must be at most 50000")
	})
}

func TestSearchRunsTieBreakAndPaging(t *testing.T) {
	storetest.Each(t, testMigrations(), func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		exp := must[string](t)(e.svc.CreateExperiment(e.ctx, "many", "", nil))
		// 1205 runs, three to each start time, so ties break on run id.
		ids := seedRuns(t, db, exp, 1205, 3)
		want := slices.Clone(ids)
		slices.SortFunc(want, func(a, b string) int {
			sa, sb := startTimeOf(ids, a, 3), startTimeOf(ids, b, 3)
			if sa != sb {
				return int(sb - sa)
			}
			return strings.Compare(a, b)
		})

		page1, tok, err := e.svc.SearchRuns(ctx, RunQuery{ExperimentIDs: []string{exp}})
		ok(t, err)
		if len(page1) != 1000 || tok == "" {
			t.Fatalf("first page: %d runs, token %q", len(page1), tok)
		}
		page2, tok2, err := e.svc.SearchRuns(ctx, RunQuery{ExperimentIDs: []string{exp}, PageToken: tok})
		ok(t, err)
		if len(page2) != 205 || tok2 != "" {
			t.Fatalf("second page: %d runs, token %q", len(page2), tok2)
		}
		var got []string
		for _, r := range append(page1, page2...) {
			got = append(got, r.Info.RunID)
		}
		if !slices.Equal(got, want) {
			t.Fatal("pages do not follow start_time DESC, run_id ASC")
		}

		// Small pages walk the same order.
		var walked []string
		tok = ""
		for {
			page, next, err := e.svc.SearchRuns(ctx, RunQuery{ExperimentIDs: []string{exp}, MaxResults: 400, PageToken: tok})
			ok(t, err)
			for _, r := range page {
				walked = append(walked, r.Info.RunID)
			}
			if next == "" {
				break
			}
			tok = next
		}
		if !slices.Equal(walked, want) {
			t.Fatal("400-run pages differ from the full order")
		}
		_, _, err = e.svc.SearchRuns(ctx, RunQuery{ExperimentIDs: []string{exp}, PageToken: "garbage!"})
		mustCode(t, err, errs.Invalid, "page")
	})
}

// startTimeOf is the start time seedRuns gave the run with this id.
func startTimeOf(ids []string, id string, perTime int) int64 {
	return int64(1_000_000 + slices.Index(ids, id)/perTime)
}

// seedRuns bulk-inserts n runs (no params or metrics) into exp, perTime to
// each start time, and returns their ids in insertion order.
func seedRuns(t testing.TB, db *store.DB, exp string, n, perTime int) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range ids {
		ids[i] = newHexID()
	}
	ctx := context.Background()
	err := db.InTx(ctx, func(tx *store.Tx) error {
		for _, part := range store.Batches(ids, 500) {
			var sb strings.Builder
			var args []any
			for i, id := range part {
				if i > 0 {
					sb.WriteString(", ")
				}
				sb.WriteString("(?, ?, ?, '', 'RUNNING', ?, 'active', '')")
				args = append(args, id, exp, id[:8], startTimeOf(ids, id, perTime))
			}
			if _, err := tx.Exec(ctx, `INSERT INTO runs (run_uuid, experiment_id, name, user_id, status, start_time, lifecycle_stage, artifact_uri) VALUES `+sb.String(), args...); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

func TestSearchExperiments(t *testing.T) {
	storetest.Each(t, testMigrations(), func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		ctx := e.ctx
		for i, name := range []string{"alpha", "beta", "Alpha-2", "gamma"} {
			e.clock.Add(time.Second)
			var tags []Tag
			if i%2 == 0 {
				tags = []Tag{{"team", fmt.Sprintf("t%d", i)}}
			}
			must[string](t)(e.svc.CreateExperiment(ctx, name, "", tags))
		}
		ok(t, e.svc.DeleteExperiment(ctx, "4")) // gamma
		names := func(q ExperimentQuery) string {
			t.Helper()
			xs, _, err := e.svc.SearchExperiments(ctx, q)
			ok(t, err)
			var out []string
			for _, x := range xs {
				out = append(out, x.Name)
			}
			return strings.Join(out, ",")
		}
		cases := []struct {
			q    ExperimentQuery
			want string
		}{
			{ExperimentQuery{}, "Alpha-2,beta,alpha,Default"},
			{ExperimentQuery{ViewType: DeletedOnly}, "gamma"},
			{ExperimentQuery{ViewType: All}, "gamma,Alpha-2,beta,alpha,Default"},
			{ExperimentQuery{Filter: "name LIKE 'alpha%'"}, "alpha"},
			{ExperimentQuery{Filter: "attribute.name ILIKE 'alpha%'"}, "Alpha-2,alpha"},
			{ExperimentQuery{Filter: "name != 'beta'"}, "Alpha-2,alpha,Default"},
			{ExperimentQuery{Filter: "tags.team = 't2'"}, "Alpha-2"},
			{ExperimentQuery{Filter: "tags.team IS NOT NULL"}, "Alpha-2,alpha"},
			{ExperimentQuery{Filter: "tags.team IS NULL"}, "beta,Default"},
			{ExperimentQuery{Filter: "experiment_id IN ('0', '2')"}, "beta,Default"},
			{ExperimentQuery{Filter: "experiment_id = '1'"}, "alpha"},
			{ExperimentQuery{Filter: fmt.Sprintf("creation_time > %d", e.clock.Now().UnixMilli()-2500)}, "Alpha-2,beta"},
			{ExperimentQuery{OrderBy: []string{"name ASC"}}, "Alpha-2,Default,alpha,beta"},
			{ExperimentQuery{OrderBy: []string{"experiment_id DESC"}}, "Alpha-2,beta,alpha,Default"},
			{ExperimentQuery{OrderBy: []string{"last_update_time DESC"}, ViewType: All}, "gamma,Alpha-2,beta,alpha,Default"},
			{ExperimentQuery{MaxResults: 2}, "Alpha-2,beta"},
		}
		for _, c := range cases {
			if got := names(c.q); got != c.want {
				t.Errorf("%+v = %s, want %s", c.q, got, c.want)
			}
		}
		// Paging.
		var all []string
		tok := ""
		for {
			xs, next, err := e.svc.SearchExperiments(ctx, ExperimentQuery{MaxResults: 1, PageToken: tok})
			ok(t, err)
			for _, x := range xs {
				all = append(all, x.Name)
			}
			if next == "" {
				break
			}
			tok = next
		}
		if strings.Join(all, ",") != "Alpha-2,beta,alpha,Default" {
			t.Fatalf("paged: %v", all)
		}
		xs, _, err := e.svc.SearchExperiments(ctx, ExperimentQuery{Filter: "name = 'alpha'"})
		ok(t, err)
		if len(xs[0].Tags) != 1 || xs[0].Tags[0].Value != "t0" {
			t.Fatalf("tags in search: %+v", xs[0])
		}
		for _, bad := range []struct{ f, want string }{
			{"metrics.x > 1", "Invalid entity type"},
			{"name > 'a'", "Invalid comparator"},
			{"creation_time = 'x'", "Expected numeric value"},
			{"experiment_id > '1'", "Invalid comparator for experiment_id"},
			{"foo = 'x'", "Invalid attribute key 'foo'"},
		} {
			_, _, err := e.svc.SearchExperiments(ctx, ExperimentQuery{Filter: bad.f})
			mustCode(t, err, errs.Invalid, bad.want)
		}
		_, _, err = e.svc.SearchExperiments(ctx, ExperimentQuery{ViewType: 7})
		mustCode(t, err, errs.Invalid, "view type")
		_, _, err = e.svc.SearchExperiments(ctx, ExperimentQuery{MaxResults: -1})
		mustCode(t, err, errs.Invalid, "positive integer")
	})
}

// TestSearchRunsEqualityAtIndexPrefix checks param and tag equality for
// values around the indexed prefix length (in characters, not bytes), where
// the filter switches from the prefix comparison alone to prefix and full
// value.
func TestSearchRunsEqualityAtIndexPrefix(t *testing.T) {
	storetest.Each(t, testMigrations(), func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		exp := must[string](t)(e.svc.CreateExperiment(e.ctx, "prefix", "", nil))
		var values []string
		for _, ch := range []string{"a", "é"} {
			for _, n := range []int{1, indexPrefix - 1, indexPrefix, indexPrefix + 1, indexPrefix + 100} {
				values = append(values, strings.Repeat(ch, n))
			}
		}
		byValue := map[string]string{}
		for i, v := range values {
			r := must[Run](t)(e.svc.CreateRun(e.ctx, CreateRunInput{ExperimentID: exp, RunName: fmt.Sprintf("r%d", i)}))
			ok(t, e.svc.LogBatch(e.ctx, r.Info.RunID, nil, []Param{{"p", v}}, []Tag{{"t", v}}))
			byValue[v] = r.Info.RunName
		}
		queries := append(slices.Clone(values), "", strings.Repeat("a", indexPrefix+50), strings.Repeat("é", indexPrefix-2)+"e")
		for _, entity := range []string{"params.p", "tags.t"} {
			for _, v := range queries {
				f := entity + " = '" + v + "'"
				runs, _, err := e.svc.SearchRuns(e.ctx, RunQuery{ExperimentIDs: []string{exp}, Filter: f})
				ok(t, err)
				if got, want := runNames(runs), byValue[v]; got != want {
					t.Errorf("%s = %d × %q: got %q, want %q", entity, utf8.RuneCountInString(v), v[:min(len(v), 2)], got, want)
				}
			}
		}
	})
}

// TestSearchRunsEqualityStatedOnce guards the shape behind the PostgreSQL
// plan of BenchmarkSearchRuns100k: a short param value is compared once,
// through the indexed prefix, so the planner does not count it twice.
func TestSearchRunsEqualityStatedOnce(t *testing.T) {
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		rs, err := compileRunSearch(d, RunQuery{ExperimentIDs: []string{"1"}, Filter: "params.optimizer = 'adam'"})
		ok(t, err)
		if !strings.Contains(rs.sql, "substr(k1.value, 1, 200) = ?") || strings.Contains(rs.sql, "k1.value = ?") {
			t.Errorf("%s: %s", d, rs.sql)
		}
	}
}
