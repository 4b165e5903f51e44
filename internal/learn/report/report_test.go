package report

import (
	"bytes"
	"math"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/mlcycle/mlcycle/internal/learn"
	"github.com/mlcycle/mlcycle/internal/learn/metrics"
)

const evil = `<script>alert("x")</script>`

// binaryReport builds a full binary report from deterministic data.
func binaryReport(t *testing.T) *Report {
	t.Helper()
	n := 400
	y, p := make([]float64, n), make([]float64, n)
	for i := range n {
		p[i] = float64((i*37)%n) / float64(n)
		if (i*7919)%n < int(p[i]*float64(n)) {
			y[i] = 1
		}
	}
	test, err := metrics.Evaluate(learn.Binary, y, p, 2)
	if err != nil {
		t.Fatal(err)
	}
	valid, err := metrics.Evaluate(learn.Binary, y[:200], p[:200], 2)
	if err != nil {
		t.Fatal(err)
	}
	groups := make([]string, n)
	pred := make([]float64, n)
	for i := range n {
		groups[i] = []string{"women", "men", "x" + evil}[i%3]
		if p[i] >= 0.5 {
			pred[i] = 1
		}
		if i%3 == 0 && i%2 == 0 {
			pred[i] = 0 // select fewer women: fails the four-fifths rule
		}
	}
	fair, err := metrics.Fairness("sex", y, pred, groups)
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"age", "income", evil}
	rows := 50
	values := make([]float64, rows*3)
	contrib := make([]float64, rows*4)
	for r := range rows {
		for j := range 3 {
			values[r*3+j] = float64((r*(j+3))%17) - 4
			contrib[r*4+j] = values[r*3+j] * float64(j+1) / 10
		}
		values[r*3+2] = math.NaN()
		contrib[r*4+3] = -1.5 // bias
	}
	shap, err := NewSHAPSummary(names, values, contrib, 1)
	if err != nil {
		t.Fatal(err)
	}
	var rounds []Round
	for i := range 30 {
		rounds = append(rounds, Round{Round: i + 1, Train: metrics.Float(0.7 / float64(i+1)), Valid: metrics.Float(0.75/float64(i+1) + 0.01)})
	}
	folds := []map[string]float64{test.Scalar(), valid.Scalar(), {"roc_auc": 0.7}}
	r := &Report{
		Title:   "churn " + evil,
		Task:    learn.Binary,
		Algo:    "gbdt",
		Target:  "churned",
		Classes: []string{"stay", "leave"},
		Dataset: Dataset{Name: "churn", Version: "3", Rows: n, Columns: 4},
		Params:  map[string]string{"learning_rate": "0.1", "rounds": "30", evil: "1"},
		Split:   Split{Method: "stratified", Train: 1000, Valid: 200, Test: 400, Folds: 3},
		Valid:   valid,
		Test:    test,
		CV:      metrics.Summarize(folds),
		Loss:    "log_loss",
		Rounds:  rounds,
		Importance: []Importance{
			{Feature: "age", Gain: 12.5, Permutation: 0.031, PermutationStd: 0.004},
			{Feature: "income", Gain: 30.25, Permutation: 0.12, PermutationStd: 0.01},
			{Feature: evil, Gain: 1, Permutation: metrics.NaN(), PermutationStd: metrics.NaN()},
		},
		SHAP:     shap,
		Fairness: fair,
	}
	r.Metrics = r.Headline()
	return r
}

func parse(t *testing.T, b []byte) *html.Node {
	t.Helper()
	doc, err := html.Parse(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("html does not parse: %v", err)
	}
	return doc
}

// walk calls f on every element.
func walk(n *html.Node, f func(*html.Node)) {
	if n.Type == html.ElementNode {
		f(n)
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		walk(c, f)
	}
}

func text(n *html.Node) string {
	var b strings.Builder
	var rec func(*html.Node)
	rec = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			rec(c)
		}
	}
	rec(n)
	return b.String()
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func TestHTML(t *testing.T) {
	r := binaryReport(t)
	var buf bytes.Buffer
	if err := r.WriteHTML(&buf); err != nil {
		t.Fatal(err)
	}
	doc := parse(t, buf.Bytes())

	// One <svg> per plot, each inside its figure.
	want := []string{"roc", "pr", "calibration", "loss", "importance-gain", "importance-permutation", "shap"}
	figures := map[string]int{}
	svgs := 0
	walk(doc, func(n *html.Node) {
		switch n.Data {
		case "svg":
			svgs++
		case "figure":
			walk(n, func(c *html.Node) {
				if c.Data == "svg" {
					figures[strings.TrimPrefix(attr(n, "id"), "plot-")]++
				}
			})
		case "script", "img", "link", "iframe", "object":
			t.Errorf("the page has a <%s> element", n.Data)
		}
		for _, a := range n.Attr {
			if a.Key == "src" || a.Key == "href" || strings.HasPrefix(a.Key, "on") {
				t.Errorf("<%s> has attribute %s=%q: the page must load nothing and run nothing", n.Data, a.Key, a.Val)
			}
		}
	})
	for _, id := range want {
		if figures[id] != 1 {
			t.Errorf("plot %q has %d <svg>, want 1 (figures: %v)", id, figures[id], figures)
		}
	}
	if svgs != len(want) {
		t.Errorf("%d <svg> elements, want %d", svgs, len(want))
	}

	// The values appear, escaped text round-trips as text.
	body := text(doc)
	for _, s := range []string{
		fmtF(r.Test.Binary.ROCAUC), fmtF(r.Test.Binary.PRAUC), fmtF(r.Valid.Binary.ROCAUC),
		fmtF(r.Fairness.DemographicParityRatio), fmtF(r.CV["roc_auc"].Mean),
		"women", "men", "stay", "leave", "income", "learning_rate", "churn@3", "FAIL",
		"x" + evil, "churn " + evil, // escaped, shown as text
	} {
		if !strings.Contains(body, s) {
			t.Errorf("page text lacks %q", s)
		}
	}
	if strings.Contains(buf.String(), evil) {
		t.Error("the raw markup of a name reached the page unescaped")
	}

	// The four-fifths flag highlights the groups under the line.
	flagged := 0
	walk(doc, func(n *html.Node) {
		if n.Data == "tr" && attr(n, "class") == "flag" {
			flagged++
			if !strings.Contains(text(n), "women") {
				t.Errorf("flagged row %q, want the women's", text(n))
			}
		}
	})
	if flagged != 1 || !r.Fairness.FourFifthsFail {
		t.Errorf("%d flagged rows (fail %v), want 1", flagged, r.Fairness.FourFifthsFail)
	}

	// Confusion matrix: the test counts in a 2x2 table.
	cm := r.Test.Binary.Confusion
	var cells []string
	walk(doc, func(n *html.Node) {
		if n.Data == "table" && attr(n, "class") == "confusion" {
			walk(n, func(c *html.Node) {
				if c.Data == "td" {
					cells = append(cells, text(c))
				}
			})
		}
	})
	wantCells := []string{itoa(cm[0][0]), itoa(cm[0][1]), itoa(cm[1][0]), itoa(cm[1][1])}
	if strings.Join(cells, ",") != strings.Join(wantCells, ",") {
		t.Errorf("confusion cells %v, want %v", cells, wantCells)
	}

	// Same report, same bytes.
	var again bytes.Buffer
	if err := r.WriteHTML(&again); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), again.Bytes()) {
		t.Error("two renderings of one report differ")
	}
}

func TestHTMLOtherTasks(t *testing.T) {
	y := []float64{0, 1, 2, 2, 1, 0}
	probs := []float64{.7, .2, .1, .2, .5, .3, .1, .1, .8, .3, .3, .4, .2, .6, .2, .5, .25, .25}
	mc, err := metrics.Evaluate(learn.Multiclass, y, probs, 3)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := metrics.Evaluate(learn.Regression, []float64{1, 2, 3}, []float64{1.5, 2, 2}, 0)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name      string
		r         *Report
		svgs      int
		wantTexts []string
	}{
		{"multiclass", &Report{Task: learn.Multiclass, Classes: []string{"cat", "dog", "eel"}, Test: mc,
			Coefficients: []Coefficient{{Output: "dog", Feature: "weight", Value: -2.5}, {Output: "dog", Feature: Intercept, Value: 0.25}}},
			0, []string{"cat", "eel", "weight", "-2.5", Intercept, fmtF(mc.Multiclass.F1Macro)}},
		{"regression", &Report{Task: learn.Regression, Valid: reg, Rounds: []Round{{1, 2, metrics.NaN()}, {2, 1, metrics.NaN()}}},
			1, []string{"rmse", fmtF(reg.Regression.RMSE)}},
		{"empty", &Report{Task: learn.Binary}, 0, []string{"Evaluation report"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := c.r.WriteHTML(&buf); err != nil {
				t.Fatal(err)
			}
			doc := parse(t, buf.Bytes())
			svgs := 0
			walk(doc, func(n *html.Node) {
				if n.Data == "svg" {
					svgs++
				}
			})
			if svgs != c.svgs {
				t.Errorf("%d <svg>, want %d", svgs, c.svgs)
			}
			body := text(doc)
			for _, s := range c.wantTexts {
				if !strings.Contains(body, s) {
					t.Errorf("page text lacks %q", s)
				}
			}
		})
	}
}

func TestJSONRoundTrip(t *testing.T) {
	r := binaryReport(t)
	r.Metrics["nan"] = math.NaN() // dropped, not an encoding error
	var a bytes.Buffer
	if err := r.WriteJSON(&a); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(a.String(), "NaN") {
		t.Error("JSON holds NaN")
	}
	back, err := ReadJSON(bytes.NewReader(a.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := back.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Errorf("round trip changed the JSON:\n%s\n---\n%s", a.Bytes(), b.Bytes())
	}
	if back.Test.Binary.ROCAUC != r.Test.Binary.ROCAUC || back.Fairness.Groups[0].Group != r.Fairness.Groups[0].Group ||
		len(back.SHAP.Features[0].Points) != len(r.SHAP.Features[0].Points) || back.Importance[2].Permutation.Defined() {
		t.Error("round trip lost values")
	}
	if _, ok := back.Metrics["roc_auc"]; !ok || back.Task != learn.Binary || back.Algo != "gbdt" {
		t.Errorf("headline: task %q algo %q metrics %v", back.Task, back.Algo, back.Metrics)
	}
	// The HTML of the decoded report is the same page.
	var h1, h2 bytes.Buffer
	delete(r.Metrics, "nan")
	if err := errorsJoin(r.WriteHTML(&h1), back.WriteHTML(&h2)); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(h1.Bytes(), h2.Bytes()) {
		t.Error("the decoded report renders differently")
	}
	// Without Metrics, the headline is the validation metrics when there is
	// no test split.
	reg, err := metrics.Evaluate(learn.Regression, []float64{1, 2, 3}, []float64{1.5, 2, 2}, 0)
	if err != nil {
		t.Fatal(err)
	}
	var rb bytes.Buffer
	if err := (&Report{Task: learn.Regression, Valid: reg}).WriteJSON(&rb); err != nil {
		t.Fatal(err)
	}
	rr, err := ReadJSON(&rb)
	if err != nil || rr.Metrics["rmse"] != float64(reg.Regression.RMSE) {
		t.Errorf("headline %v (%v), want rmse %v", rr.Metrics, err, reg.Regression.RMSE)
	}
	if _, err := ReadJSON(strings.NewReader(`{"task": 3}`)); err == nil {
		t.Error("a malformed report decoded")
	}
}

func errorsJoin(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

func TestNewSHAPSummary(t *testing.T) {
	// Two rows, features a and b, one output: contributions a: 1, -3 and
	// b: 0.5, 0.5 (mean |.| 2 and 0.5); values a: 10, 5 (ranks 1, 0),
	// b: NaN, 7 (rank null, 0.5 as the only value).
	names := []string{"b", "a"}
	values := []float64{math.NaN(), 10, 7, 5}
	contrib := []float64{0.5, 1, 9, 0.5, -3, 9}
	s, err := NewSHAPSummary(names, values, contrib, 1)
	if err != nil {
		t.Fatal(err)
	}
	if s.Rows != 2 || s.Features[0].Name != "a" || s.Features[0].MeanAbs != 2 || s.Features[1].MeanAbs != 0.5 {
		t.Fatalf("summary %+v", s)
	}
	a, b := s.Features[0].Points, s.Features[1].Points
	if a[0].ValueRank != 1 || a[1].ValueRank != 0 || a[1].Contribution != -3 || b[0].ValueRank.Defined() || b[1].ValueRank != 0.5 {
		t.Errorf("points a %+v b %+v", a, b)
	}

	// Two outputs: mean |.| adds up over outputs and no points are kept.
	m, err := NewSHAPSummary([]string{"a"}, nil, []float64{1, 0, -2, 0, 3, 0, 0, 0}, 2)
	if err != nil || m.Features[0].MeanAbs != 3 || m.Features[0].Points != nil {
		t.Errorf("multi-output: %+v, %v", m, err)
	}

	for _, c := range []struct {
		name            string
		names           []string
		values, contrib []float64
		outputs         int
	}{
		{"no features", nil, nil, []float64{1}, 1},
		{"ragged", []string{"a"}, nil, []float64{1, 2, 3}, 1},
		{"values", []string{"a"}, []float64{1}, []float64{1, 2, 3, 4}, 1},
		{"outputs", []string{"a"}, nil, []float64{1, 2}, 0},
	} {
		if _, err := NewSHAPSummary(c.names, c.values, c.contrib, c.outputs); err == nil {
			t.Errorf("%s: no error", c.name)
		}
	}
}
