package report

import (
	"cmp"
	"fmt"
	"html/template"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/mlcycle/mlcycle/internal/learn/metrics"
)

// Bounds on what the page draws, to keep it readable and small; the JSON
// keeps everything.
const (
	maxBars         = 25 // features in an importance chart
	maxSHAPFeatures = 20
	maxCoefficients = 40
)

// WriteHTML writes the report as one self-contained HTML page.
func (r *Report) WriteHTML(w io.Writer) error {
	if err := page.Execute(w, r.view()); err != nil {
		return fmt.Errorf("writing the report html: %w", err)
	}
	return nil
}

type kv struct{ Key, Value string }

type metricRow struct{ Name, Valid, Test string }

type cvRow struct{ Name, Mean, Std, Min, Max, N string }

type figure struct {
	ID  string
	SVG template.HTML
}

type confusion struct {
	Labels []string
	Rows   []confRow
}

type confRow struct {
	Label string
	Cells []confCell
}

type confCell struct {
	N     int
	Shade int // 0..9, share of the row
	Diag  bool
}

type coefRow struct{ Feature, Output, Value string }

type fairRow struct {
	metrics.GroupMetrics
	Rate, Impact, TPR, FPR, Accuracy string
}

type fairness struct {
	Column, Reference       string
	DPDiff, DPRatio, EODiff string
	TPRDiff, FPRDiff        string
	Fail                    bool
	Rows                    []fairRow
}

type view struct {
	Title      string
	Overview   []kv
	Params     []kv
	HasValid   bool
	HasTest    bool
	Metrics    []metricRow
	CV         []cvRow
	Folds      int
	Plots      []figure
	Confusion  *confusion
	ConfSplit  string
	Fairness   *fairness
	Coefs      []coefRow
	CoefsTotal int
}

// order lists the well-known metric names first, in this order.
var order = []string{"accuracy", "precision", "recall", "f1", "roc_auc", "pr_auc", "log_loss", "brier",
	"precision_weighted", "recall_weighted", "f1_weighted", "rmse", "mae", "r2", "mape", "max_error"}

func metricNames(ms ...map[string]float64) []string {
	seen := map[string]bool{}
	for _, m := range ms {
		for k := range m {
			seen[k] = true
		}
	}
	names := make([]string, 0, len(seen))
	for k := range seen {
		names = append(names, k)
	}
	rank := func(n string) int {
		if i := slices.Index(order, n); i >= 0 {
			return i
		}
		return len(order)
	}
	slices.SortFunc(names, func(a, b string) int {
		return cmp.Or(cmp.Compare(rank(a), rank(b)), cmp.Compare(a, b))
	})
	return names
}

func fmtMetric(m map[string]float64, name string) string {
	v, ok := m[name]
	if !ok {
		return "–"
	}
	return fmtNum(v)
}

func fmtF(f metrics.Float) string { return fmtNum(float64(f)) }

func (r *Report) view() view {
	v := view{Title: r.Title, HasValid: r.Valid != nil, HasTest: r.Test != nil}
	if v.Title == "" {
		v.Title = "Evaluation report"
	}
	add := func(k, val string) {
		if val != "" {
			v.Overview = append(v.Overview, kv{k, val})
		}
	}
	add("Task", string(r.Task))
	add("Algorithm", r.Algo)
	add("Target", r.Target)
	ds := r.Dataset.Name
	if r.Dataset.Version != "" {
		ds += "@" + r.Dataset.Version
	}
	add("Dataset", ds)
	add("Dataset digest", r.Dataset.Digest)
	if r.Dataset.Rows > 0 {
		add("Rows × columns", strconv.Itoa(r.Dataset.Rows)+" × "+strconv.Itoa(r.Dataset.Columns))
	}
	if len(r.Classes) > 0 {
		add("Classes", strings.Join(r.Classes, ", "))
	}
	split := fmt.Sprintf("train %d, validation %d, test %d", r.Split.Train, r.Split.Valid, r.Split.Test)
	if r.Split.Method != "" {
		split += " (" + r.Split.Method + ")"
	}
	add("Split", split)
	keys := make([]string, 0, len(r.Params))
	for k := range r.Params {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v.Params = append(v.Params, kv{k, r.Params[k]})
	}

	var valid, test map[string]float64
	if r.Valid != nil {
		valid = r.Valid.Scalar()
	}
	if r.Test != nil {
		test = r.Test.Scalar()
	}
	for _, n := range metricNames(valid, test) {
		v.Metrics = append(v.Metrics, metricRow{n, fmtMetric(valid, n), fmtMetric(test, n)})
	}
	cvm := map[string]float64{}
	for k := range r.CV {
		cvm[k] = 0
	}
	for _, n := range metricNames(cvm) {
		s := r.CV[n]
		v.CV = append(v.CV, cvRow{n, fmtF(s.Mean), fmtF(s.Std), fmtF(s.Min), fmtF(s.Max), strconv.Itoa(s.N)})
	}
	v.Folds = r.Split.Folds

	v.Plots = r.plots()
	v.Confusion, v.ConfSplit = r.confusion()
	v.Fairness = fairView(r.Fairness)

	coefs := slices.Clone(r.Coefficients)
	slices.SortStableFunc(coefs, func(a, b Coefficient) int {
		ai, bi := a.Feature == Intercept, b.Feature == Intercept
		if ai != bi {
			if ai {
				return -1
			}
			return 1
		}
		return cmp.Compare(math.Abs(b.Value), math.Abs(a.Value))
	})
	v.CoefsTotal = len(coefs)
	for _, c := range coefs[:min(len(coefs), maxCoefficients)] {
		v.Coefs = append(v.Coefs, coefRow{c.Feature, c.Output, fmtNum(c.Value)})
	}
	return v
}

// splits returns the evaluations present, labelled, test first.
func (r *Report) splits() (names []string, evals []*metrics.Report) {
	if r.Test != nil {
		names, evals = append(names, "test"), append(evals, r.Test)
	}
	if r.Valid != nil {
		names, evals = append(names, "validation"), append(evals, r.Valid)
	}
	return names, evals
}

func (r *Report) plots() []figure {
	var out []figure
	names, evals := r.splits()
	var roc, pr, cal []series
	for i, e := range evals {
		b := e.Binary
		if b == nil {
			continue
		}
		if len(b.ROC) > 0 {
			s := series{name: names[i] + " (AUC " + fmtF(b.ROCAUC) + ")", dashed: i > 0}
			for _, p := range b.ROC {
				s.pts = append(s.pts, pt{p.FPR, p.TPR})
			}
			roc = append(roc, s)
		}
		if len(b.PR) > 0 {
			s := series{name: names[i] + " (AP " + fmtF(b.PRAUC) + ")", dashed: i > 0}
			for _, p := range b.PR {
				s.pts = append(s.pts, pt{p.Recall, p.Precision})
			}
			pr = append(pr, s)
		}
		if len(b.Calibration) > 0 {
			s := series{name: names[i], markers: true, dashed: i > 0}
			for _, c := range b.Calibration {
				s.pts = append(s.pts, pt{c.MeanPredicted, c.FractionPositive})
			}
			cal = append(cal, s)
		}
	}
	if len(roc) > 0 {
		out = append(out, figure{"roc", lineChart{title: "ROC curve", xLabel: "False positive rate", yLabel: "True positive rate",
			series: roc, unit: true, diagonal: true}.svg()})
	}
	if len(pr) > 0 {
		out = append(out, figure{"pr", lineChart{title: "Precision-recall curve", xLabel: "Recall", yLabel: "Precision",
			series: pr, unit: true}.svg()})
	}
	if len(cal) > 0 {
		out = append(out, figure{"calibration", lineChart{title: "Calibration", xLabel: "Mean predicted probability",
			yLabel: "Fraction of positives", series: cal, unit: true, diagonal: true}.svg()})
	}
	if len(r.Rounds) > 0 {
		tr, va := series{name: "train"}, series{name: "validation", dashed: true}
		for _, rd := range r.Rounds {
			tr.pts = append(tr.pts, pt{float64(rd.Round), float64(rd.Train)})
			va.pts = append(va.pts, pt{float64(rd.Round), float64(rd.Valid)})
		}
		var ss []series
		for _, s := range []series{tr, va} {
			if slices.ContainsFunc(s.pts, func(p pt) bool { return finite(p.y) }) {
				ss = append(ss, s)
			}
		}
		loss := r.Loss
		if loss == "" {
			loss = "loss"
		}
		out = append(out, figure{"loss", lineChart{title: "Loss per round", xLabel: "Round", yLabel: loss, series: ss}.svg()})
	}
	for _, kind := range []struct {
		id, title string
		get       func(Importance) (float64, float64)
	}{
		{"importance-gain", "Importance: split gain", func(i Importance) (float64, float64) { return float64(i.Gain), 0 }},
		{"importance-permutation", "Importance: permutation (score drop)", func(i Importance) (float64, float64) {
			e := float64(i.PermutationStd)
			if !finite(e) {
				e = 0
			}
			return float64(i.Permutation), e
		}},
	} {
		var bars []bar
		for _, imp := range r.Importance {
			if val, e := kind.get(imp); finite(val) {
				bars = append(bars, bar{imp.Feature, val, e})
			}
		}
		if len(bars) == 0 {
			continue
		}
		slices.SortStableFunc(bars, func(a, b bar) int { return cmp.Compare(b.value, a.value) })
		out = append(out, figure{kind.id, barChart(kind.title, bars[:min(len(bars), maxBars)])})
	}
	if r.SHAP != nil && len(r.SHAP.Features) > 0 {
		out = append(out, figure{"shap", shapChart(r.SHAP, maxSHAPFeatures)})
	}
	return out
}

func (r *Report) confusion() (*confusion, string) {
	names, evals := r.splits()
	for i, e := range evals {
		var m [][]int
		switch {
		case e.Binary != nil:
			m = e.Binary.Confusion
		case e.Multiclass != nil:
			m = e.Multiclass.Confusion
		}
		if len(m) == 0 {
			continue
		}
		c := &confusion{}
		for k := range m {
			label := strconv.Itoa(k)
			if len(r.Classes) == len(m) {
				label = r.Classes[k]
			}
			c.Labels = append(c.Labels, label)
		}
		for k, row := range m {
			total := 0
			for _, n := range row {
				total += n
			}
			cr := confRow{Label: c.Labels[k]}
			for j, n := range row {
				shade := 0
				if total > 0 {
					shade = min(9, n*10/total)
				}
				cr.Cells = append(cr.Cells, confCell{N: n, Shade: shade, Diag: j == k})
			}
			c.Rows = append(c.Rows, cr)
		}
		return c, names[i]
	}
	return nil, ""
}

func fairView(f *metrics.FairnessReport) *fairness {
	if f == nil {
		return nil
	}
	v := &fairness{
		Column: f.Column, Reference: f.Reference,
		DPDiff: fmtF(f.DemographicParityDifference), DPRatio: fmtF(f.DemographicParityRatio),
		EODiff: fmtF(f.EqualizedOddsDifference), TPRDiff: fmtF(f.TPRDifference), FPRDiff: fmtF(f.FPRDifference),
		Fail: f.FourFifthsFail,
	}
	for _, g := range f.Groups {
		v.Rows = append(v.Rows, fairRow{GroupMetrics: g, Rate: fmtF(g.SelectionRate), Impact: fmtF(g.ImpactRatio),
			TPR: fmtF(g.TPR), FPR: fmtF(g.FPR), Accuracy: fmtF(g.Accuracy)})
	}
	return v
}

var page = template.Must(template.New("report").Parse(pageHTML))

const pageHTML = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2430;background:#f6f7f9;margin:0;padding:24px;font-size:14px}
main{max-width:1100px;margin:0 auto}
h1{font-size:22px;margin:0 0 16px}
h2{font-size:16px;margin:28px 0 10px;border-bottom:1px solid #e4e7ec;padding-bottom:4px}
section{background:#fff;border:1px solid #e4e7ec;border-radius:8px;padding:12px 16px;margin-bottom:16px}
table{border-collapse:collapse;font-variant-numeric:tabular-nums}
th,td{padding:4px 10px;border-bottom:1px solid #eef0f4;text-align:right}
th:first-child,td:first-child{text-align:left}
th{font-weight:600;color:#475467;background:#f9fafb}
dl{display:grid;grid-template-columns:max-content auto;gap:4px 16px;margin:0}
dt{color:#667085}dd{margin:0}
.plots{display:flex;flex-wrap:wrap;gap:12px}
.figure{border:1px solid #e4e7ec;border-radius:6px}
figure{margin:0}
.confusion td{text-align:center;min-width:48px}
.s0{background:#ffffff}.s1{background:#eef2ff}.s2{background:#e0e7ff}.s3{background:#c7d2fe}.s4{background:#a5b4fc}
.s5{background:#818cf8;color:#fff}.s6{background:#6366f1;color:#fff}.s7{background:#4f46e5;color:#fff}.s8{background:#4338ca;color:#fff}.s9{background:#3730a3;color:#fff}
.diag{font-weight:700}
tr.flag td{background:#fef3f2;color:#b42318;font-weight:600}
.fail{color:#b42318;font-weight:700}.pass{color:#067647;font-weight:700}
.muted{color:#667085}
</style>
</head>
<body>
<main>
<h1>{{.Title}}</h1>
<section id="overview">
<dl>{{range .Overview}}<dt>{{.Key}}</dt><dd>{{.Value}}</dd>{{end}}</dl>
</section>
{{if .Metrics}}<h2>Metrics</h2>
<section id="metrics">
<table>
<tr><th>metric</th>{{if .HasValid}}<th>validation</th>{{end}}{{if .HasTest}}<th>test</th>{{end}}</tr>
{{range .Metrics}}<tr><td>{{.Name}}</td>{{if $.HasValid}}<td>{{.Valid}}</td>{{end}}{{if $.HasTest}}<td>{{.Test}}</td>{{end}}</tr>
{{end}}</table>
</section>{{end}}
{{if .CV}}<h2>Cross-validation{{if .Folds}} ({{.Folds}} folds){{end}}</h2>
<section id="cv">
<p class="muted">Standard deviation is the sample one (n − 1).</p>
<table>
<tr><th>metric</th><th>mean</th><th>std</th><th>min</th><th>max</th><th>folds</th></tr>
{{range .CV}}<tr><td>{{.Name}}</td><td>{{.Mean}}</td><td>{{.Std}}</td><td>{{.Min}}</td><td>{{.Max}}</td><td>{{.N}}</td></tr>
{{end}}</table>
</section>{{end}}
{{if .Plots}}<h2>Plots</h2>
<section class="plots" id="plots">
{{range .Plots}}<figure id="plot-{{.ID}}">{{.SVG}}</figure>
{{end}}</section>{{end}}
{{with .Confusion}}<h2>Confusion matrix ({{$.ConfSplit}})</h2>
<section id="confusion">
<p class="muted">Rows: actual class; columns: predicted class. Shading: share of the row.</p>
<table class="confusion">
<tr><th>actual \ predicted</th>{{range .Labels}}<th>{{.}}</th>{{end}}</tr>
{{range .Rows}}<tr><th>{{.Label}}</th>{{range .Cells}}<td class="s{{.Shade}}{{if .Diag}} diag{{end}}">{{.N}}</td>{{end}}</tr>
{{end}}</table>
</section>{{end}}
{{with .Fairness}}<h2>Fairness by {{.Column}}</h2>
<section id="fairness">
<dl>
<dt>Four-fifths rule</dt><dd>{{if .Fail}}<span class="fail">FAIL</span> (a group is selected at less than 80% of the rate of {{.Reference}}){{else}}<span class="pass">pass</span>{{end}}</dd>
<dt>Demographic parity difference</dt><dd>{{.DPDiff}}</dd>
<dt>Demographic parity ratio</dt><dd>{{.DPRatio}}</dd>
<dt>Equalized odds difference</dt><dd>{{.EODiff}} (TPR difference {{.TPRDiff}}, FPR difference {{.FPRDiff}})</dd>
<dt>Reference group</dt><dd>{{.Reference}} (highest selection rate)</dd>
</dl>
<table>
<tr><th>group</th><th>rows</th><th>positives</th><th>selected</th><th>selection rate</th><th>impact ratio</th><th>TPR</th><th>FPR</th><th>accuracy</th></tr>
{{range .Rows}}<tr{{if .BelowFourFifths}} class="flag"{{end}}><td>{{.Group}}</td><td>{{.Count}}</td><td>{{.Positives}}</td><td>{{.Selected}}</td><td>{{.Rate}}</td><td>{{.Impact}}</td><td>{{.TPR}}</td><td>{{.FPR}}</td><td>{{.Accuracy}}</td></tr>
{{end}}</table>
<p class="muted">A TPR is undefined (–) for a group without positives, an FPR for one without negatives; such groups are left out of the differences.</p>
</section>{{end}}
{{if .Coefs}}<h2>Coefficients</h2>
<section id="coefficients">
{{if gt .CoefsTotal (len .Coefs)}}<p class="muted">The {{len .Coefs}} largest of {{.CoefsTotal}} by magnitude.</p>{{end}}
<table>
<tr><th>feature</th><th>output</th><th>coefficient</th></tr>
{{range .Coefs}}<tr><td>{{.Feature}}</td><td>{{.Output}}</td><td>{{.Value}}</td></tr>
{{end}}</table>
</section>{{end}}
{{if .Params}}<h2>Parameters</h2>
<section id="params">
<table>{{range .Params}}<tr><td>{{.Key}}</td><td>{{.Value}}</td></tr>
{{end}}</table>
</section>{{end}}
</main>
</body>
</html>
`
