package web

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/mlcycle/mlcycle/internal/errs"
	"github.com/mlcycle/mlcycle/internal/tracking"
)

// trackingRoutes registers the experiment, run and compare pages. Every one
// is a GET: the viewer role suffices.
func (u *UI) trackingRoutes(mux *http.ServeMux) {
	page := func(pattern string, h http.HandlerFunc) { mux.Handle(pattern, u.requireUser(h)) }
	page("GET /experiments", u.experimentsPage)
	page("GET /experiments/{id}", u.runsPage)
	page("GET /runs/{id}", u.runPage)
	page("GET /runs/{id}/metric", u.metricPage)
	page("GET /compare", u.comparePage)
	if u.blobs != nil {
		page("GET /runs/{id}/artifacts", u.artifactsPage)
		page("GET /runs/{id}/artifact", u.artifactFile)
		page("GET /runs/{id}/report", u.reportFile)
	}
}

const experimentsPerPage = 100

type experimentsView struct {
	Query      string
	Deleted    bool
	Rows       []experimentRow
	Page       int
	Prev, Next string
	Error      string
}

type experimentRow struct {
	ID, Name, URL    string
	Created, Updated string
	Deleted          bool
	ArtifactLocation string
}

// experimentsPage lists experiments, newest activity first, with a name
// search and a toggle for deleted ones.
func (u *UI) experimentsPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	v := experimentsView{Query: strings.TrimSpace(q.Get("q")), Deleted: q.Get("deleted") == "1"}
	pg := pagerFrom(q)
	view := tracking.ActiveOnly
	if v.Deleted {
		view = tracking.All
	}
	exps, next, err := u.tracking.SearchExperiments(r.Context(), tracking.ExperimentQuery{
		ViewType:   view,
		MaxResults: experimentsPerPage,
		Filter:     nameFilter(v.Query),
		OrderBy:    []string{"last_update_time DESC"},
		PageToken:  pg.Token,
	})
	status := http.StatusOK
	if err != nil {
		if errs.CodeOf(err) != errs.Invalid {
			u.renderError(w, r, "/experiments", err)
			return
		}
		status, v.Error = http.StatusBadRequest, errs.MessageOf(err)
	}
	for _, e := range exps {
		v.Rows = append(v.Rows, experimentRow{
			ID: e.ID, Name: e.Name, URL: experimentURL(e.ID),
			Created: fmtTime(e.CreationTime), Updated: fmtTime(e.LastUpdateTime),
			Deleted: e.LifecycleStage == tracking.StageDeleted, ArtifactLocation: e.ArtifactLocation,
		})
	}
	state := url.Values{}
	if v.Query != "" {
		state.Set("q", v.Query)
	}
	if v.Deleted {
		state.Set("deleted", "1")
	}
	v.Page = pg.number()
	v.Prev, v.Next = pg.links("/experiments", state, next)
	u.render(w, r, status, "experiments.html", u.newPage(w, r, "Experiments", "/experiments", v))
}

// The runs table.

const (
	defaultRunsPerPage = 50
	maxDefaultColumns  = 12 // param and metric columns each, when none are chosen
	maxChosenColumns   = 100
)

// runPageSizes are the page sizes offered.
func runPageSizes() []int { return []int{50, 100, 200} }

// runsState is everything the runs table's URL carries.
type runsState struct {
	Filter string
	Order  string // one order_by clause, e.g. "metrics.`acc` DESC"; "" is newest first
	Cols   []string
	Size   int
	Pager  pager
}

func runsStateFrom(q url.Values) runsState {
	s := runsState{Filter: strings.TrimSpace(q.Get("filter")), Order: strings.TrimSpace(q.Get("order")), Pager: pagerFrom(q)}
	s.Size, _ = strconv.Atoi(q.Get("size"))
	if !slices.Contains(runPageSizes(), s.Size) {
		s.Size = defaultRunsPerPage
	}
	for _, c := range q["cols"] {
		for _, c := range strings.Split(c, ",") {
			if c = strings.TrimSpace(c); c != "" && !slices.Contains(s.Cols, c) && len(s.Cols) < maxChosenColumns {
				s.Cols = append(s.Cols, c)
			}
		}
	}
	return s
}

// values is the state without the pager: what every link of the page keeps.
func (s runsState) values() url.Values {
	q := url.Values{}
	if s.Filter != "" {
		q.Set("filter", s.Filter)
	}
	if s.Order != "" {
		q.Set("order", s.Order)
	}
	if len(s.Cols) > 0 {
		q["cols"] = append([]string(nil), s.Cols...)
	}
	if s.Size != defaultRunsPerPage {
		q.Set("size", strconv.Itoa(s.Size))
	}
	return q
}

// orderColumn splits the order into its column and direction.
func (s runsState) orderColumn() (col string, desc bool) {
	o := s.Order
	upper := strings.ToUpper(o)
	switch {
	case strings.HasSuffix(upper, " DESC"):
		return strings.TrimSpace(o[:len(o)-5]), true
	case strings.HasSuffix(upper, " ASC"):
		return strings.TrimSpace(o[:len(o)-4]), false
	}
	return o, false
}

type runsView struct {
	Experiment experimentRow
	Filter     string
	Size       int
	Sizes      []int
	Error      string
	Headers    []runHeader
	Span       int // columns of a full-width cell
	Rows       []runRow
	Choices    []columnChoice
	// Hidden fields of the filter and column forms, which keep the rest of
	// the state.
	FilterHidden, ColumnsHidden []hiddenField
	ResetColumns                string
	Page                        int
	Prev, Next                  string
}

type runHeader struct {
	Label, Kind string // Kind: "", "param" or "metric"
	Sort        string // link that sorts by this column; "" when it cannot
	Arrow       string // ▲ or ▼ on the column the table is sorted by
	Num         bool
}

type runRow struct {
	ID, Name, URL       string
	Status, StatusClass string
	Start, Duration     string
	User                string
	Cells               []cell
}

// cell is a table cell with its full value as a tooltip.
type cell struct {
	Text, Title string
	Num         bool
}

type columnChoice struct {
	Value, Label, Kind string
	Checked            bool
}

// runsPage is an experiment's runs: one SearchRuns call per page, whatever
// the experiment's size, with MLflow's filter, sorting on any column and
// token paging.
func (u *UI) runsPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	exp, err := u.tracking.GetExperiment(ctx, r.PathValue("id"))
	if err != nil {
		u.renderError(w, r, "/experiments", err)
		return
	}
	s := runsStateFrom(r.URL.Query())
	v := runsView{
		Experiment: experimentRow{ID: exp.ID, Name: exp.Name, URL: experimentURL(exp.ID),
			Created: fmtTime(exp.CreationTime), Updated: fmtTime(exp.LastUpdateTime),
			Deleted: exp.LifecycleStage == tracking.StageDeleted, ArtifactLocation: exp.ArtifactLocation},
		Filter: s.Filter, Size: s.Size, Sizes: runPageSizes(),
	}
	var order []string
	if s.Order != "" {
		order = []string{s.Order}
	}
	runs, next, err := u.tracking.SearchRuns(ctx, tracking.RunQuery{
		ExperimentIDs: []string{exp.ID},
		Filter:        s.Filter,
		ViewType:      tracking.ActiveOnly,
		MaxResults:    s.Size,
		OrderBy:       order,
		PageToken:     s.Pager.Token,
	})
	status := http.StatusOK
	if err != nil {
		if errs.CodeOf(err) != errs.Invalid {
			u.renderError(w, r, "/experiments", err)
			return
		}
		// A filter the user typed: show why next to it.
		status, v.Error = http.StatusBadRequest, errs.MessageOf(err)
	}

	paramKeys, metricKeys := pageKeys(runs)
	shownParams, shownMetrics := chosenColumns(s.Cols, paramKeys, metricKeys)
	base := experimentURL(exp.ID)
	state := s.values()

	sortCol, desc := s.orderColumn()
	header := func(label, kind, col string, num bool) runHeader {
		h := runHeader{Label: label, Kind: kind, Num: num}
		if col == "" {
			return h
		}
		dir := "ASC"
		if col == "attributes.start_time" {
			dir = "DESC"
		}
		if col == sortCol {
			h.Arrow, dir = "▲", "DESC"
			if desc {
				h.Arrow, dir = "▼", "ASC"
			}
		}
		h.Sort = withQuery(base, state, func(q url.Values) { q.Set("order", col+" "+dir) })
		return h
	}
	v.Headers = []runHeader{
		header("Run", "", "attributes.run_name", false),
		header("Status", "", "attributes.status", false),
		header("Started (UTC)", "", "attributes.start_time", false),
		header("Duration", "", "", false),
		header("User", "", "attributes.user_id", false),
	}
	if sortCol == "" { // the default order is newest first
		v.Headers[2].Arrow = "▼"
		v.Headers[2].Sort = withQuery(base, state, func(q url.Values) { q.Set("order", "attributes.start_time ASC") })
	}
	for _, k := range shownParams {
		v.Headers = append(v.Headers, header(k, "param", "params."+quoteKey(k), false))
	}
	for _, k := range shownMetrics {
		v.Headers = append(v.Headers, header(k, "metric", "metrics."+quoteKey(k), true))
	}

	v.Span = len(v.Headers) + 1 // and the selection column
	for _, run := range runs {
		v.Rows = append(v.Rows, runRowOf(run, shownParams, shownMetrics))
	}

	for _, k := range union(paramKeys, shownParams) {
		v.Choices = append(v.Choices, columnChoice{Value: "params." + k, Label: k, Kind: "param", Checked: slices.Contains(shownParams, k)})
	}
	for _, k := range union(metricKeys, shownMetrics) {
		v.Choices = append(v.Choices, columnChoice{Value: "metrics." + k, Label: k, Kind: "metric", Checked: slices.Contains(shownMetrics, k)})
	}
	v.FilterHidden = hiddenFields(state, "filter", "size")
	v.ColumnsHidden = hiddenFields(state, "cols")
	if len(s.Cols) > 0 {
		v.ResetColumns = withQuery(base, state, func(q url.Values) { q.Del("cols") })
	}
	v.Page = s.Pager.number()
	v.Prev, v.Next = s.Pager.links(base, state, next)
	u.render(w, r, status, "experiment.html", u.newPage(w, r, exp.Name, "/experiments", v))
}

// quoteKey backtick-quotes a key for order_by. Keys cannot contain
// backticks (the tracking service refuses them), so no escaping is needed.
func quoteKey(k string) string { return "`" + k + "`" }

// pageKeys are the param and metric keys of a page of runs, sorted.
func pageKeys(runs []tracking.Run) (params, metrics []string) {
	ps, ms := map[string]bool{}, map[string]bool{}
	for _, r := range runs {
		for _, p := range r.Params {
			ps[p.Key] = true
		}
		for _, m := range r.Metrics {
			ms[m.Key] = true
		}
	}
	return sortedSet(ps), sortedSet(ms)
}

func sortedSet(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// chosenColumns are the columns the user picked with cols=params.k and
// cols=metrics.k, in their order, or else the first keys of the page.
func chosenColumns(cols, paramKeys, metricKeys []string) (params, metrics []string) {
	for _, c := range cols {
		if k, ok := strings.CutPrefix(c, "params."); ok && k != "" {
			params = append(params, k)
		} else if k, ok := strings.CutPrefix(c, "metrics."); ok && k != "" {
			metrics = append(metrics, k)
		}
	}
	if params == nil && metrics == nil {
		params = paramKeys[:min(len(paramKeys), maxDefaultColumns)]
		metrics = metricKeys[:min(len(metricKeys), maxDefaultColumns)]
	}
	return params, metrics
}

// union is a's keys and then b's that a lacks, sorted.
func union(a, b []string) []string {
	set := map[string]bool{}
	for _, k := range a {
		set[k] = true
	}
	for _, k := range b {
		set[k] = true
	}
	return sortedSet(set)
}

func runRowOf(run tracking.Run, params, metrics []string) runRow {
	in := run.Info
	row := runRow{
		ID: in.RunID, Name: in.RunName, URL: runURL(in.RunID),
		Status: in.Status, StatusClass: statusClass(in.Status),
		Start: fmtTime(in.StartTime), Duration: runDuration(in.StartTime, in.EndTime, in.Status == tracking.StatusRunning),
		User: runUser(run),
	}
	if row.Name == "" {
		row.Name = in.RunID
	}
	pv := map[string]string{}
	for _, p := range run.Params {
		pv[p.Key] = p.Value
	}
	for _, k := range params {
		val, ok := pv[k]
		if !ok {
			row.Cells = append(row.Cells, cell{Text: "—"})
			continue
		}
		row.Cells = append(row.Cells, cell{Text: clipRunes(val, 60), Title: val})
	}
	mv := map[string]tracking.Metric{}
	for _, m := range run.Metrics {
		mv[m.Key] = m
	}
	for _, k := range metrics {
		m, ok := mv[k]
		if !ok {
			row.Cells = append(row.Cells, cell{Text: "—", Num: true})
			continue
		}
		row.Cells = append(row.Cells, cell{Text: fmtValue(m.Value), Title: fullValue(m.Value) + " at step " + strconv.FormatInt(m.Step, 10), Num: true})
	}
	return row
}

// runUser is who ran a run: its user id, or else the mlflow.user tag the
// MLflow client sets.
func runUser(run tracking.Run) string {
	if run.Info.UserID != "" {
		return run.Info.UserID
	}
	for _, t := range run.Tags {
		if t.Key == tracking.TagUser {
			return t.Value
		}
	}
	return ""
}
