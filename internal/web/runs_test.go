package web

import (
	"fmt"
	"math"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mlcycle/mlcycle/internal/tracking"
)

// loggedRun creates a run that logged a bit of everything.
func loggedRun(t *testing.T, env *dataEnv, expID string) (parent, child string) {
	t.Helper()
	base := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC).UnixMilli()
	parent = env.run(t, expID, "sweep", base, nil, nil)
	r, err := env.tr.CreateRun(env.ctx, tracking.CreateRunInput{ExperimentID: expID, RunName: "trial-1", StartTime: base,
		Tags: []tracking.Tag{{Key: tracking.TagParentRunID, Value: parent}, {Key: "team", Value: "vision"}}})
	if err != nil {
		t.Fatal(err)
	}
	child = r.Info.RunID
	var ms []tracking.Metric
	for i := range 50 {
		ms = append(ms, tracking.Metric{Key: "loss", Value: 1 / float64(i+1), Timestamp: base + int64(i)*100, Step: int64(i)})
	}
	ms = append(ms,
		tracking.Metric{Key: "acc", Value: 0.5, Timestamp: base, Step: 0},
		tracking.Metric{Key: "acc", Value: math.NaN(), Timestamp: base, Step: 1},
		tracking.Metric{Key: "acc", Value: math.Inf(1), Timestamp: base, Step: 2},
		tracking.Metric{Key: "acc", Value: 0.9, Timestamp: base, Step: 3},
	)
	for i := range 11 { // 13 metrics in all: one more than the page charts
		ms = append(ms, tracking.Metric{Key: fmt.Sprintf("m%02d", i), Value: float64(i), Timestamp: base, Step: 0})
	}
	params := []tracking.Param{{Key: "lr", Value: "0.1"}, {Key: "layers", Value: "<b>3</b>"}}
	if err := env.tr.LogBatch(env.ctx, child, ms, params, nil); err != nil {
		t.Fatal(err)
	}
	err = env.tr.LogInputs(env.ctx, child, []tracking.DatasetInput{{
		Dataset: tracking.Dataset{Name: "iris", Digest: "d1g3st", SourceType: "mlcycle", Source: `{"uri": "mlcycle://iris/3"}`},
		Tags:    []tracking.Tag{{Key: tracking.TagDataContext, Value: "training"}},
	}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	m, err := env.tr.CreateLoggedModel(env.ctx, tracking.CreateLoggedModelInput{ExperimentID: expID, Name: "clf", SourceRunID: child})
	if err != nil {
		t.Fatal(err)
	}
	if err := env.tr.LogOutputs(env.ctx, child, []tracking.ModelOutput{{ModelID: m.ModelID, Step: 49}}); err != nil {
		t.Fatal(err)
	}
	return parent, child
}

var chartFigure = regexp.MustCompile(`(?s)<figure class="chart">\s*<a [^>]*><svg [^>]*>.*?</svg></a>`)

func TestRunPage(t *testing.T) {
	eachData(t, func(t *testing.T, env *dataEnv) {
		exp := env.experiment(t, "vision")
		parent, child := loggedRun(t, env, exp)

		p := env.mustGet(t, "/runs/"+child, 200)
		wantContains(t, p, "trial-1", child, `href="/experiments/`+exp+`">vision</a>`,
			`href="/runs/`+parent+`">`+parent+`</a>`, // the parent run
			">lr</td>", ">0.1</td>", "&lt;b&gt;3&lt;/b&gt;",
			`href="/runs/`+child+`/metric?key=loss"`, ">0.02<", // latest loss, at step 49
			">team</td>", ">vision</td>",
			`<details class="system-tags">`, "mlflow.parentRunId",
			`<a href="/datasets/iris/3">iris</a>`, "d1g3st", ">training<", "mlcycle://iris/3",
			m0(t, env, child), ">49<",
			"1 more metric", `id="artifacts"`, "No artifacts here.")
		wantLacks(t, p, "<b>3</b>")
		// mlflow.* tags only inside the toggle.
		if i, j := strings.Index(p.body, "mlflow.parentRunId"), strings.Index(p.body, `<details class="system-tags">`); i < j {
			t.Error("a system tag shown outside the toggle")
		}

		charts := chartFigure.FindAllString(p.body, -1)
		if len(charts) != maxRunCharts {
			t.Fatalf("%d charts, want %d", len(charts), maxRunCharts)
		}
		var loss string
		for _, c := range charts {
			if strings.Contains(c, `aria-label="loss"`) {
				loss = c
			}
		}
		if !strings.Contains(loss, "<polyline") || !strings.Contains(loss, ">step</text>") {
			t.Errorf("loss chart:\n%s", loss)
		}
		if n := strings.Count(strings.SplitN(loss, `points="`, 2)[1], ","); n < 49 {
			t.Errorf("loss chart has %d points", n)
		}

		env.mustGet(t, "/runs/0123456789abcdef0123456789abcdef", 404)
	})
}

// m0 is the id of the run's logged model output.
func m0(t *testing.T, env *dataEnv, runID string) string {
	t.Helper()
	r, err := env.tr.GetRun(env.ctx, runID)
	if err != nil || len(r.ModelOutputs) != 1 {
		t.Fatalf("run outputs: %v %v", r.ModelOutputs, err)
	}
	return r.ModelOutputs[0].ModelID
}

func TestMetricPage(t *testing.T) {
	eachData(t, func(t *testing.T, env *dataEnv) {
		exp := env.experiment(t, "vision")
		_, child := loggedRun(t, env, exp)
		p := env.mustGet(t, "/runs/"+child+"/metric?key=loss", 200)
		wantContains(t, p, `<figure class="chart large"><svg`, "<polyline", ">50</p>", ">0.02</p>", "step 49", ">1</p>")

		// NaN and Inf are skipped when drawing; the finite points remain.
		p = env.mustGet(t, "/runs/"+child+"/metric?key=acc", 200)
		wantContains(t, p, "<polyline", ">0.5</p>", ">0.9</p>")

		// Values logged without steps are drawn over time.
		base := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC).UnixMilli()
		var ms []tracking.Metric
		for i := range 5 {
			ms = append(ms, tracking.Metric{Key: "gpu", Value: float64(i * i), Timestamp: base + int64(i)*30_000})
		}
		if err := env.tr.LogBatch(env.ctx, child, ms, nil, nil); err != nil {
			t.Fatal(err)
		}
		wantContains(t, env.mustGet(t, "/runs/"+child+"/metric?key=gpu", 200), ">time (s)</text>")

		wantContains(t, env.mustGet(t, "/runs/"+child+"/metric?key=nope", 200), "No data")
		env.mustGet(t, "/runs/"+child+"/metric", 400)
	})
}

func TestComparePage(t *testing.T) {
	eachData(t, func(t *testing.T, env *dataEnv) {
		exp := env.experiment(t, "cmp")
		base := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC).UnixMilli()
		a := env.run(t, exp, "run-a", base, map[string]string{"lr": "0.1", "seed": "1"}, nil)
		b := env.run(t, exp, "run-<b>", base+1, map[string]string{"lr": "0.2", "seed": "1"}, nil)
		for i, id := range []string{a, b} {
			var ms []tracking.Metric
			for s := range 20 {
				ms = append(ms, tracking.Metric{Key: "loss", Value: float64(i+1) / float64(s+1), Timestamp: base, Step: int64(s)})
			}
			ms = append(ms, tracking.Metric{Key: "acc", Value: 0.5 + float64(i)/10, Timestamp: base})
			if err := env.tr.LogBatch(env.ctx, id, ms, nil, nil); err != nil {
				t.Fatal(err)
			}
		}
		q := "/compare?runs=" + a + "&runs=" + b + "&metric=loss"
		p := env.mustGet(t, q, 200)
		wantContains(t, p, "Compare 2 runs", `<tr class="diff"><td class="key">lr</td>`, `<tr><td class="key">seed</td>`,
			`<span class="swatch c0"`, `<span class="swatch c1"`, "run-&lt;b&gt;", `<option selected>loss</option>`, "<option>acc</option>")
		wantLacks(t, p, "run-<b>")
		chart := p.body[strings.Index(p.body, `<figure class="chart large">`):]
		chart = chart[:strings.Index(chart, "</figure>")]
		if n := strings.Count(chart, "<polyline"); n != 2 {
			t.Errorf("%d lines on the compare chart, want 2", n)
		}
		for _, want := range []string{`fill="#4f46e5"`, `fill="#f97316"`, ">run-a</text>", ">run-&lt;b&gt;</text>"} {
			if !strings.Contains(chart, want) {
				t.Errorf("compare chart lacks %s", want)
			}
		}

		// Only the differences.
		p = env.mustGet(t, q+"&diff=1", 200)
		wantContains(t, p, `<td class="key">lr</td>`)
		wantLacks(t, p, `<td class="key">seed</td>`)

		// The first metric is the default.
		wantContains(t, env.mustGet(t, "/compare?runs="+a, 200), `<option selected>acc</option>`, "Compare 1 run")

		env.mustGet(t, "/compare", 400)
		env.mustGet(t, "/compare?runs="+a+"&runs=0123456789abcdef0123456789abcdef", 404)
		many := url.Values{}
		for i := range maxCompareRuns + 1 {
			many.Add("runs", fmt.Sprintf("r%d", i))
		}
		env.mustGet(t, "/compare?"+many.Encode(), 400)
	})
}
