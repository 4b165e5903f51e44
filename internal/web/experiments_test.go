package web

import (
	"fmt"
	"html"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mlcycle/mlcycle/internal/store/storetest"
)

func TestExperimentsPage(t *testing.T) {
	eachData(t, func(t *testing.T, env *dataEnv) {
		alpha := env.experiment(t, "alpha")
		beta := env.experiment(t, "beta <b>test</b>")
		if err := env.tr.DeleteExperiment(env.ctx, beta); err != nil {
			t.Fatal(err)
		}

		p := env.mustGet(t, "/experiments", 200)
		wantContains(t, p, `class="active" aria-current="page">Experiments`, ">alpha</a>", `href="/experiments/`+alpha+`"`, ">Default</a>")
		wantLacks(t, p, "beta", "will arrive")

		p = env.mustGet(t, "/experiments?q=ALP", 200)
		wantContains(t, p, ">alpha</a>", `value="ALP"`)
		wantLacks(t, p, ">Default</a>")

		p = env.mustGet(t, "/experiments?deleted=1", 200)
		wantContains(t, p, "beta &lt;b&gt;test&lt;/b&gt;", `<span class="badge bad">deleted</span>`, ">alpha</a>", `name="deleted" value="1" checked`)
		wantLacks(t, p, "<b>test</b>")

		// A quote in the search is a value, not filter syntax.
		env.mustGet(t, "/experiments?q="+url.QueryEscape(`a' OR name LIKE '%`), 200)

		env.mustGet(t, "/experiments/"+alpha+"/nope", 404)
		if p := env.get(t, "/experiments/424242"); p.status != 404 {
			t.Errorf("unknown experiment: %d", p.status)
		}
		if p := env.get(t, "/experiments/abc"); p.status != 400 && p.status != 404 {
			t.Errorf("malformed experiment id: %d", p.status)
		}
	})
}

var (
	nextLink = regexp.MustCompile(`<a class="button" href="([^"]*)" rel="next">`)
	prevLink = regexp.MustCompile(`<a class="button" href="([^"]*)" rel="prev">`)
	runName  = regexp.MustCompile(`title="[0-9a-f]{32}">(r\d\d)</a>`)
)

// runNames are the run names of a runs table, in order.
func runNames(p webPage) []string {
	var out []string
	for _, m := range runName.FindAllStringSubmatch(p.body, -1) {
		out = append(out, m[1])
	}
	return out
}

var hrefAttr = regexp.MustCompile(`href="([^"]*)"`)

// wantHref checks that some link on the page contains each of subs.
func wantHref(t *testing.T, p webPage, subs ...string) {
	t.Helper()
	var hrefs []string
	for _, m := range hrefAttr.FindAllStringSubmatch(p.body, -1) {
		hrefs = append(hrefs, html.UnescapeString(m[1]))
	}
	for _, s := range subs {
		found := false
		for _, h := range hrefs {
			found = found || strings.Contains(h, s)
		}
		if !found {
			t.Errorf("no link contains %q; links:\n%s", s, strings.Join(hrefs, "\n"))
		}
	}
}

func link(t *testing.T, re *regexp.Regexp, p webPage) string {
	t.Helper()
	m := re.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no %s link on the page", re)
	}
	return html.UnescapeString(m[1])
}

func TestRunsTable(t *testing.T) {
	eachData(t, func(t *testing.T, env *dataEnv) {
		exp := env.experiment(t, "demo")
		base := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC).UnixMilli()
		for i := range 55 {
			opt := "adam"
			if i%2 == 1 {
				opt = "sgd"
			}
			env.run(t, exp, fmt.Sprintf("r%02d", i), base+int64(i)*1000,
				map[string]string{"lr": fmt.Sprintf("0.%03d", i), "optimizer": opt},
				map[string]float64{"acc": float64(i) / 100, "loss": 1 - float64(i)/100})
		}
		path := "/experiments/" + exp

		// Page 1: newest first, 50 rows, all param and metric columns.
		p := env.mustGet(t, path, 200)
		names := runNames(p)
		if len(names) != 50 || names[0] != "r54" || names[49] != "r05" {
			t.Fatalf("page 1 runs = %v", names)
		}
		wantHref(t, p, "order=params.%60lr%60+ASC", "order=params.%60optimizer%60+ASC",
			"order=metrics.%60acc%60+ASC", "order=metrics.%60loss%60+ASC", "order=attributes.start_time+ASC")
		wantContains(t, p, `<span class="kind param">param</span>`, `<span class="kind metric">metric</span>`,
			`action="/compare"`, `name="runs" value="`, "2025-03-01 12:00:54", "1m 5s", "FINISHED",
			">0.054<", ">0.54<", "Page 1")
		if strings.Contains(p.body, `rel="prev"`) {
			t.Error("a Previous link on the first page")
		}

		// Next and back again, through the token stack in the links.
		p2 := env.mustGet(t, link(t, nextLink, p), 200)
		if got := runNames(p2); strings.Join(got, ",") != "r04,r03,r02,r01,r00" {
			t.Errorf("page 2 runs = %v", got)
		}
		wantContains(t, p2, "Page 2")
		if strings.Contains(p2.body, `rel="next"`) {
			t.Error("a Next link on the last page")
		}
		p1 := env.mustGet(t, link(t, prevLink, p2), 200)
		if got := runNames(p1); len(got) != 50 || got[0] != "r54" {
			t.Errorf("back on page 1: %v", got)
		}

		// Page size.
		if got := runNames(env.mustGet(t, path+"?size=100", 200)); len(got) != 55 {
			t.Errorf("size=100: %d runs", len(got))
		}
		if got := runNames(env.mustGet(t, path+"?size=7", 200)); len(got) != 50 {
			t.Errorf("size=7 (not offered): %d runs", len(got))
		}

		// Sorting by a metric, and the header toggles the direction.
		p = env.mustGet(t, path+"?order="+url.QueryEscape("metrics.`acc` ASC"), 200)
		if got := runNames(p); got[0] != "r00" || got[1] != "r01" {
			t.Errorf("acc ASC: %v", got[:3])
		}
		wantHref(t, p, "order=metrics.%60acc%60+DESC")
		wantContains(t, p, `<span class="arrow">▲</span>`)
		p = env.mustGet(t, path+"?order="+url.QueryEscape("metrics.`acc` DESC"), 200)
		if got := runNames(p); got[0] != "r54" {
			t.Errorf("acc DESC: %v", got[:3])
		}
		wantHref(t, p, "order=metrics.%60acc%60+ASC")
		wantContains(t, p, `<span class="arrow">▼</span>`)
		p = env.mustGet(t, path+"?order="+url.QueryEscape("params.`lr` ASC"), 200)
		if got := runNames(p); got[0] != "r00" {
			t.Errorf("lr ASC: %v", got[:3])
		}
		// Paging keeps the order.
		p2 = env.mustGet(t, link(t, nextLink, p), 200)
		if got := runNames(p2); strings.Join(got, ",") != "r50,r51,r52,r53,r54" {
			t.Errorf("lr ASC page 2: %v", got)
		}

		// MLflow's filter.
		p = env.mustGet(t, path+"?filter="+url.QueryEscape("metrics.acc > 0.5 and params.optimizer = 'sgd'"), 200)
		if got := runNames(p); strings.Join(got, ",") != "r53,r51" {
			t.Errorf("filtered runs = %v", got)
		}
		wantContains(t, p, `value="metrics.acc &gt; 0.5 and params.optimizer = &#39;sgd&#39;"`)

		// Bad input is explained on the page, never a 500.
		for _, q := range []string{
			"filter=" + url.QueryEscape("metrics.acc >>> 1"),
			"filter=" + url.QueryEscape("bogus.x = 1"),
			"order=" + url.QueryEscape("nope.x ASC"),
			"token=not-a-token",
		} {
			p := env.mustGet(t, path+"?"+q, 400)
			wantContains(t, p, `role="alert"`, "Invalid filter or order:")
			if len(runNames(p)) != 0 {
				t.Errorf("%s: rows shown with an error", q)
			}
		}

		// Chosen columns.
		p = env.mustGet(t, path+"?cols=params.lr&cols=metrics.loss", 200)
		wantHref(t, p, "order=params.%60lr%60+ASC", "order=metrics.%60loss%60+ASC")
		wantContains(t, p, `value="params.lr" checked`, `value="metrics.loss" checked`, `value="params.optimizer">`, "Default columns")
		wantLacks(t, p, "order=params.%60optimizer%60", "order=metrics.%60acc%60")
		// Sorting links keep the chosen columns and the filter.
		p = env.mustGet(t, path+"?cols=params.lr&filter="+url.QueryEscape("params.lr != 'x'"), 200)
		wantHref(t, p, "?cols=params.lr&filter=params.lr+%21%3D+%27x%27&order=attributes.run_name+ASC")
	})
}

func TestRunsTableEmptyAndDeleted(t *testing.T) {
	eachData(t, func(t *testing.T, env *dataEnv) {
		exp := env.experiment(t, "empty")
		p := env.mustGet(t, "/experiments/"+exp, 200)
		wantContains(t, p, "No runs in this experiment yet.", "The runs on this page log no params or metrics.")
		if err := env.tr.DeleteExperiment(env.ctx, exp); err != nil {
			t.Fatal(err)
		}
		wantContains(t, env.mustGet(t, "/experiments/"+exp, 200), `<span class="badge bad">deleted</span>`)
	})
}

// TestDataPagesForViewers: a viewer reads every data page; a visitor
// without a session is sent to sign in first.
func TestDataPagesForViewers(t *testing.T) {
	db := storetest.SQLite(t, dataMigrations())
	env := newDataEnv(t, db, true)
	exp := env.experiment(t, "shared")
	run := env.run(t, exp, "r00", time.Now().UnixMilli(), map[string]string{"a": "1"}, map[string]float64{"m": 1})
	if _, err := env.reg.CreateRegisteredModel(env.ctx, "m1", "", nil); err != nil {
		t.Fatal(err)
	}
	pages := []string{"/experiments", "/experiments/" + exp, "/runs/" + run, "/runs/" + run + "/metric?key=m",
		"/runs/" + run + "/artifacts", "/compare?runs=" + run, "/models", "/models/m1"}
	for _, path := range pages {
		if p := env.get(t, path); p.status != 303 || !strings.HasPrefix(p.resp.Header.Get("Location"), "/login?next=") {
			t.Errorf("GET %s without a session: %d %s", path, p.status, p.resp.Header.Get("Location"))
		}
	}
	env.login(t, "vic", "pw", "/")
	for _, path := range pages {
		p := env.mustGet(t, path, 200)
		wantContains(t, p, "vic")
	}
}
