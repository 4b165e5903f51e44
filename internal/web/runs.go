package web

import (
	"cmp"
	"context"
	"encoding/json"
	"html/template"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/mlcycle/mlcycle/internal/tracking"
)

// maxRunCharts is how many metrics the run page charts; the rest link to
// their own chart.
const maxRunCharts = 12

type runView struct {
	ID, Name            string
	Status, StatusClass string
	Start, End          string
	Duration            string
	User                string
	Deleted             bool
	ArtifactURI         string
	ExperimentID        string
	ExperimentName      string
	ExperimentURL       string
	ParentID, ParentURL string

	Params      []kvRow
	Metrics     []metricRow
	Tags        []kvRow
	SystemTags  []kvRow // mlflow.*, shown on request
	Datasets    []datasetRow
	ModelInputs []string
	Outputs     []outputRow
	Charts      []chartView
	Uncharted   int
	// Artifacts is the top folder of the run's artifacts; nil when the
	// server has no artifact store.
	Artifacts *artifactListing
	// Report is the evaluation report mlcycle train logged; nil if none.
	Report *reportView
}

type kvRow struct{ Key, Value string }

type metricRow struct {
	Key, URL     string
	Value, Title string
	Step, Time   string
}

type datasetRow struct {
	Name, Digest       string
	SourceType, Source string
	Context            string
	Link               string // the dataset's page, for mlcycle:// sources
}

type outputRow struct{ ModelID, Step string }

type chartView struct {
	Key, URL string
	SVG      template.HTML
}

// runPage shows everything a run recorded.
func (u *UI) runPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	run, err := u.tracking.GetRun(ctx, r.PathValue("id"))
	if err != nil {
		u.renderError(w, r, "/experiments", err)
		return
	}
	in := run.Info
	v := runView{
		ID: in.RunID, Name: cmp.Or(in.RunName, in.RunID),
		Status: in.Status, StatusClass: statusClass(in.Status),
		Start: fmtTime(in.StartTime), End: fmtTime(in.EndTime),
		Duration: runDuration(in.StartTime, in.EndTime, in.Status == tracking.StatusRunning),
		User:     runUser(run), Deleted: in.LifecycleStage == tracking.StageDeleted,
		ArtifactURI: in.ArtifactURI, ExperimentID: in.ExperimentID, ExperimentURL: experimentURL(in.ExperimentID),
	}
	v.ExperimentName = in.ExperimentID
	if exp, err := u.tracking.GetExperiment(ctx, in.ExperimentID); err == nil {
		v.ExperimentName = exp.Name
	}

	for _, p := range sortedBy(run.Params, func(p tracking.Param) string { return p.Key }) {
		v.Params = append(v.Params, kvRow{p.Key, p.Value})
	}
	for _, t := range sortedBy(run.Tags, func(t tracking.Tag) string { return t.Key }) {
		switch {
		case t.Key == tracking.TagParentRunID:
			v.ParentID, v.ParentURL = t.Value, runURL(t.Value)
			v.SystemTags = append(v.SystemTags, kvRow{t.Key, t.Value})
		case strings.HasPrefix(t.Key, "mlflow."):
			v.SystemTags = append(v.SystemTags, kvRow{t.Key, t.Value})
		default:
			v.Tags = append(v.Tags, kvRow{t.Key, t.Value})
		}
	}
	metrics := sortedBy(run.Metrics, func(m tracking.Metric) string { return m.Key })
	for _, m := range metrics {
		v.Metrics = append(v.Metrics, metricRow{
			Key: m.Key, URL: metricURL(in.RunID, m.Key),
			Value: fmtValue(m.Value), Title: fullValue(m.Value),
			Step: strconv.FormatInt(m.Step, 10), Time: fmtTime(m.Timestamp),
		})
	}
	for _, d := range run.DatasetInputs {
		v.Datasets = append(v.Datasets, datasetRowOf(d))
	}
	v.ModelInputs = run.ModelInputs
	for _, o := range run.ModelOutputs {
		v.Outputs = append(v.Outputs, outputRow{o.ModelID, strconv.FormatInt(o.Step, 10)})
	}

	// Metrics with a history (a training curve) are charted before the
	// single values a run logs at its end.
	charted := slices.Clone(metrics)
	slices.SortStableFunc(charted, func(a, b tracking.Metric) int {
		return cmp.Compare(min(a.Step, 1), min(b.Step, 1)) * -1
	})
	for i, m := range charted {
		if i == maxRunCharts {
			v.Uncharted = len(metrics) - i
			break
		}
		hist, _, err := u.tracking.GetMetricHistory(ctx, in.RunID, m.Key, 0, "")
		if err != nil {
			u.renderError(w, r, "/experiments", err)
			return
		}
		byTime, label, unit := timeAxis(hist)
		c := Chart{Title: m.Key, XLabel: label, Width: 340, Height: 220,
			Series: []Series{{Name: m.Key, Points: metricPoints(hist, byTime, unit)}}}
		v.Charts = append(v.Charts, chartView{Key: m.Key, URL: metricURL(in.RunID, m.Key), SVG: c.SVG()})
	}

	if u.blobs != nil {
		listing, err := u.listArtifacts(ctx, in, "")
		if err != nil {
			u.renderError(w, r, "/experiments", err)
			return
		}
		v.Artifacts = &listing
		if v.Report, err = u.runReport(ctx, in); err != nil {
			u.renderError(w, r, "/experiments", err)
			return
		}
	}
	u.render(w, r, http.StatusOK, "run.html", u.newPage(w, r, v.Name, "/experiments", v))
}

func metricURL(runID, key string) string {
	return runURL(runID) + "/metric?key=" + url.QueryEscape(key)
}

func sortedBy[T any](list []T, key func(T) string) []T {
	out := slices.Clone(list)
	slices.SortStableFunc(out, func(a, b T) int { return strings.Compare(key(a), key(b)) })
	return out
}

// datasetRowOf shows a dataset input. MLflow sources are JSON such as
// {"uri": "..."}; the location inside is shown when there is one.
func datasetRowOf(d tracking.DatasetInput) datasetRow {
	row := datasetRow{Name: d.Dataset.Name, Digest: d.Dataset.Digest, SourceType: d.Dataset.SourceType, Source: d.Dataset.Source}
	var src map[string]any
	if json.Unmarshal([]byte(row.Source), &src) == nil {
		for _, k := range []string{"uri", "url", "path", "source"} {
			if s, ok := src[k].(string); ok && s != "" {
				row.Source = s
				break
			}
		}
	}
	for _, t := range d.Tags {
		if t.Key == tracking.TagDataContext {
			row.Context = t.Value
		}
	}
	row.Link = datasetLink(row.Source)
	return row
}

// datasetLink is the dataset page of an mlcycle://<name>[/<version>] source,
// or "". (The dataset pages come with the dataset service; until then the
// link answers that they are on their way.)
func datasetLink(source string) string {
	rest, ok := strings.CutPrefix(source, "mlcycle://")
	if !ok {
		return ""
	}
	rest = strings.TrimPrefix(rest, "datasets/")
	var segs []string
	for _, s := range strings.Split(rest, "/") {
		if s != "" && s != "." && s != ".." {
			segs = append(segs, url.PathEscape(s))
		}
	}
	if len(segs) == 0 {
		return ""
	}
	return "/datasets/" + strings.Join(segs, "/")
}

// timeAxis says how to draw the x axis of metric histories: by step, or,
// when every point was logged at step 0, by the time since each run's first
// point, in seconds, minutes or hours (unit is seconds per unit).
func timeAxis(hists ...[]tracking.Metric) (byTime bool, label string, unit float64) {
	n := 0
	var span int64
	for _, h := range hists {
		n += len(h)
		if len(h) == 0 {
			continue
		}
		first, last := h[0].Timestamp, h[0].Timestamp
		for _, m := range h {
			if m.Step != 0 {
				return false, "step", 0
			}
			first, last = min(first, m.Timestamp), max(last, m.Timestamp)
		}
		span = max(span, last-first)
	}
	if n < 2 {
		return false, "step", 0
	}
	switch {
	case span > 2*3600*1000:
		return true, "time (h)", 3600
	case span > 2*60*1000:
		return true, "time (min)", 60
	}
	return true, "time (s)", 1
}

// metricPoints turns a history into chart points, ordered along x.
func metricPoints(hist []tracking.Metric, byTime bool, unit float64) []Point {
	pts := make([]Point, 0, len(hist))
	if !byTime {
		h := slices.Clone(hist)
		slices.SortStableFunc(h, func(a, b tracking.Metric) int { return cmp.Compare(a.Step, b.Step) })
		for _, m := range h {
			pts = append(pts, Point{float64(m.Step), m.Value})
		}
		return pts
	}
	if len(hist) == 0 {
		return pts
	}
	h := slices.Clone(hist)
	slices.SortStableFunc(h, func(a, b tracking.Metric) int { return cmp.Compare(a.Timestamp, b.Timestamp) })
	for _, m := range h {
		pts = append(pts, Point{float64(m.Timestamp-h[0].Timestamp) / 1000 / unit, m.Value})
	}
	return pts
}

type metricView struct {
	RunID, RunName, RunURL   string
	ExperimentName, ExpURL   string
	Key                      string
	Chart                    template.HTML
	Points                   int
	Last, Min, Max, LastStep string
}

// metricPage is one metric of a run, charted large.
func (u *UI) metricPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	key := r.URL.Query().Get("key")
	if key == "" {
		u.renderMessage(w, r, http.StatusBadRequest, "/experiments", message{Heading: "Invalid request", Text: "Name the metric: ?key=<metric key>."})
		return
	}
	run, err := u.tracking.GetRun(ctx, r.PathValue("id"))
	if err != nil {
		u.renderError(w, r, "/experiments", err)
		return
	}
	hist, _, err := u.tracking.GetMetricHistory(ctx, run.Info.RunID, key, 0, "")
	if err != nil {
		u.renderError(w, r, "/experiments", err)
		return
	}
	v := metricView{RunID: run.Info.RunID, RunName: cmp.Or(run.Info.RunName, run.Info.RunID), RunURL: runURL(run.Info.RunID),
		ExperimentName: run.Info.ExperimentID, ExpURL: experimentURL(run.Info.ExperimentID), Key: key, Points: len(hist)}
	if exp, err := u.tracking.GetExperiment(ctx, run.Info.ExperimentID); err == nil {
		v.ExperimentName = exp.Name
	}
	byTime, label, unit := timeAxis(hist)
	pts := metricPoints(hist, byTime, unit)
	v.Chart = Chart{Title: key, XLabel: label, Width: 960, Height: 420, Series: []Series{{Name: key, Points: pts}}}.SVG()
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, m := range hist {
		if finite(m.Value) {
			lo, hi = min(lo, m.Value), max(hi, m.Value)
		}
	}
	if len(hist) > 0 {
		last := hist[0]
		for _, m := range hist {
			if m.Step > last.Step || m.Step == last.Step && m.Timestamp >= last.Timestamp {
				last = m
			}
		}
		v.Last, v.LastStep = fmtValue(last.Value), strconv.FormatInt(last.Step, 10)
	}
	if !math.IsInf(lo, 1) {
		v.Min, v.Max = fmtValue(lo), fmtValue(hi)
	}
	u.render(w, r, http.StatusOK, "metric.html", u.newPage(w, r, key+" · "+v.RunName, "/experiments", v))
}

// maxCompareRuns bounds a comparison: more columns cannot be read.
const maxCompareRuns = 20

type compareView struct {
	Runs       []compareRun
	Span       int // the table's columns
	Params     []compareRow
	Metrics    []compareRow
	MetricKeys []string
	Metric     string
	OnlyDiff   bool
	Chart      template.HTML
	DiffURL    string
	AllURL     string
}

type compareRun struct {
	ID, Name, URL string
	Color         string // palette class, as the chart's legend
	Experiment    string
	ExperimentURL string
}

type compareRow struct {
	Key    string
	Values []cell
	Diff   bool
}

// comparePage puts runs side by side: params (differences marked), latest
// metrics, and one metric of every run on one chart.
func (u *UI) comparePage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	q := r.URL.Query()
	var ids []string
	for _, id := range q["runs"] {
		if id = strings.TrimSpace(id); id != "" && !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	switch {
	case len(ids) == 0:
		u.renderMessage(w, r, http.StatusBadRequest, "/experiments", message{Heading: "Nothing to compare",
			Text: "Select runs with the checkboxes of an experiment's runs table, then press Compare."})
		return
	case len(ids) > maxCompareRuns:
		u.renderMessage(w, r, http.StatusBadRequest, "/experiments", message{Heading: "Too many runs",
			Text: "Compare at most " + strconv.Itoa(maxCompareRuns) + " runs at a time."})
		return
	}
	runs := make([]tracking.Run, 0, len(ids))
	expNames := map[string]string{}
	for _, id := range ids {
		run, err := u.tracking.GetRun(ctx, id)
		if err != nil {
			u.renderError(w, r, "/experiments", err)
			return
		}
		runs = append(runs, run)
		if _, ok := expNames[run.Info.ExperimentID]; !ok {
			expNames[run.Info.ExperimentID] = run.Info.ExperimentID
			if exp, err := u.tracking.GetExperiment(ctx, run.Info.ExperimentID); err == nil {
				expNames[run.Info.ExperimentID] = exp.Name
			}
		}
	}

	v := compareView{OnlyDiff: q.Get("diff") == "1", Span: len(runs) + 1}
	for i, run := range runs {
		v.Runs = append(v.Runs, compareRun{ID: run.Info.RunID, Name: cmp.Or(run.Info.RunName, run.Info.RunID),
			URL: runURL(run.Info.RunID), Color: "c" + strconv.Itoa(i%len(chartPalette)),
			Experiment: expNames[run.Info.ExperimentID], ExperimentURL: experimentURL(run.Info.ExperimentID)})
	}
	paramKeys, metricKeys := pageKeys(runs)
	for _, k := range paramKeys {
		row := compareRow{Key: k}
		for _, run := range runs {
			c := cell{Text: "—"}
			for _, p := range run.Params {
				if p.Key == k {
					c = cell{Text: clipRunes(p.Value, 80), Title: p.Value}
				}
			}
			row.Values = append(row.Values, c)
		}
		row.Diff = differs(row.Values)
		if row.Diff || !v.OnlyDiff {
			v.Params = append(v.Params, row)
		}
	}
	for _, k := range metricKeys {
		row := compareRow{Key: k}
		for _, run := range runs {
			c := cell{Text: "—", Num: true}
			for _, m := range run.Metrics {
				if m.Key == k {
					c = cell{Text: fmtValue(m.Value), Title: fullValue(m.Value) + " at step " + strconv.FormatInt(m.Step, 10), Num: true}
				}
			}
			row.Values = append(row.Values, c)
		}
		row.Diff = differs(row.Values)
		if row.Diff || !v.OnlyDiff {
			v.Metrics = append(v.Metrics, row)
		}
	}

	v.MetricKeys = metricKeys
	v.Metric = q.Get("metric")
	if v.Metric == "" && len(metricKeys) > 0 {
		v.Metric = metricKeys[0]
	}
	if v.Metric != "" {
		chart, err := u.compareChart(ctx, runs, v.Metric)
		if err != nil {
			u.renderError(w, r, "/experiments", err)
			return
		}
		v.Chart = chart
	}
	state := url.Values{"runs": ids}
	if v.Metric != "" {
		state.Set("metric", v.Metric)
	}
	v.AllURL = withQuery("/compare", state, nil)
	v.DiffURL = withQuery("/compare", state, func(q url.Values) { q.Set("diff", "1") })
	u.render(w, r, http.StatusOK, "compare.html", u.newPage(w, r, "Compare runs", "/experiments", v))
}

// differs reports whether the cells of a row are not all the same.
func differs(cells []cell) bool {
	for _, c := range cells[1:] {
		if c.Title != cells[0].Title || c.Text != cells[0].Text {
			return true
		}
	}
	return false
}

// compareChart draws one metric of several runs, sampled by the tracking
// service to at most maxChartPoints each, one colour per run.
func (u *UI) compareChart(ctx context.Context, runs []tracking.Run, key string) (template.HTML, error) {
	ids := make([]string, len(runs))
	for i, r := range runs {
		ids[i] = r.Info.RunID
	}
	points, err := u.tracking.GetMetricHistoryBulkInterval(ctx, tracking.IntervalQuery{RunIDs: ids, MetricKey: key, MaxResults: maxChartPoints})
	if err != nil {
		return "", err
	}
	byRun := map[string][]tracking.Metric{}
	for _, p := range points {
		byRun[p.RunID] = append(byRun[p.RunID], p)
	}
	hists := make([][]tracking.Metric, len(runs))
	for i, id := range ids {
		hists[i] = byRun[id]
	}
	byTime, label, unit := timeAxis(hists...)
	c := Chart{Title: key, XLabel: label, Width: 960, Height: 380, Legend: true}
	for i, r := range runs {
		name := cmp.Or(r.Info.RunName, r.Info.RunID)
		if len(hists[i]) == 0 {
			name += " (no data)"
		}
		c.Series = append(c.Series, Series{Name: name, Points: metricPoints(hists[i], byTime, unit)})
	}
	return c.SVG(), nil
}
