package web

import (
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mlcycle/mlcycle/internal/dataset"
	"github.com/mlcycle/mlcycle/internal/dataset/profile"
	"github.com/mlcycle/mlcycle/internal/errs"
)

// Datasets is what the dataset pages read. *dataset.Service implements it.
type Datasets interface {
	List(ctx context.Context) ([]dataset.Dataset, error)
	Versions(ctx context.Context, name string) ([]dataset.Version, error)
	Resolve(ctx context.Context, ref string) (dataset.Version, error)
	Show(ctx context.Context, ref string) (dataset.VersionDetail, error)
}

// datasetRoutes registers the dataset pages (GETs: viewers may). The diff
// page owns /datasets/diff, so a dataset named "diff" has no versions list
// page; its version pages, /datasets/diff/3, still work.
func (u *UI) datasetRoutes(mux *http.ServeMux) {
	mux.Handle("GET /datasets", u.requireUser(http.HandlerFunc(u.datasetsPage)))
	mux.Handle("GET /datasets/diff", u.requireUser(http.HandlerFunc(u.datasetDiffPage)))
	mux.Handle("GET /datasets/{name}", u.requireUser(http.HandlerFunc(u.datasetPage)))
	mux.Handle("GET /datasets/{name}/{version}", u.requireUser(http.HandlerFunc(u.datasetVersionPage)))
}

func datasetURL(name string) string { return "/datasets/" + url.PathEscape(name) }

func datasetVersionURL(name string, v int64) string {
	return datasetURL(name) + "/" + strconv.FormatInt(v, 10)
}

type dsListRow struct {
	Name, URL         string
	Versions          int64
	Latest, LatestURL string
	Size              string
	Updated           string
}

type datasetsView struct{ Rows []dsListRow }

// datasetsPage lists every dataset by name.
func (u *UI) datasetsPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	list, err := u.datasets.List(ctx)
	if err != nil {
		u.renderError(w, r, "/datasets", err)
		return
	}
	var v datasetsView
	for _, d := range list {
		row := dsListRow{Name: d.Name, URL: datasetURL(d.Name), Versions: d.Versions, Updated: fmtTime(d.UpdatedAt), Size: "—"}
		if d.Latest > 0 {
			row.Latest, row.LatestURL = "v"+strconv.FormatInt(d.Latest, 10), datasetVersionURL(d.Name, d.Latest)
			// The list carries no sizes; the latest version's row has it
			// (Resolve reads the row only, not the manifest).
			if lv, err := u.datasets.Resolve(ctx, dataset.Ref{Name: d.Name, Version: d.Latest}.String()); err == nil {
				row.Size = fmtBytes(lv.TotalBytes)
			}
		}
		v.Rows = append(v.Rows, row)
	}
	u.render(w, r, http.StatusOK, "datasets.html", u.newPage(w, r, "Datasets", "/datasets", v))
}

type dsVersionRow struct {
	Version, URL string
	Tags         []string
	Message      string
	Files        int64
	Size         string
	Tables       int
	CreatedBy    string
	Created      string
	Digest       string
}

type datasetView struct {
	Name     string
	Versions []dsVersionRow
	DiffURL  string // the two newest versions, when there are two
}

// datasetPage shows a dataset's versions, newest first.
func (u *UI) datasetPage(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	versions, err := u.datasets.Versions(r.Context(), name)
	if err != nil {
		u.renderError(w, r, "/datasets", err)
		return
	}
	versions = slices.DeleteFunc(slices.Clone(versions), func(v dataset.Version) bool { return v.Deleted })
	slices.SortFunc(versions, func(a, b dataset.Version) int { return int(b.Version - a.Version) })
	v := datasetView{Name: name}
	for _, dv := range versions {
		v.Versions = append(v.Versions, dsVersionRow{
			Version: "v" + strconv.FormatInt(dv.Version, 10), URL: datasetVersionURL(name, dv.Version),
			Tags: dv.Tags, Message: clipRunes(firstLine(dv.Message), 120), Files: dv.FileCount,
			Size: fmtBytes(dv.TotalBytes), Tables: len(dv.Tables), CreatedBy: dv.CreatedBy,
			Created: fmtTime(dv.CreatedAt), Digest: clipRunes(dv.Digest, 13),
		})
	}
	if len(v.Versions) >= 2 {
		a, b := versions[1], versions[0]
		v.DiffURL = diffURL(a.Ref(), b.Ref())
	}
	u.render(w, r, http.StatusOK, "dataset.html", u.newPage(w, r, name, "/datasets", v))
}

func diffURL(a, b string) string {
	return "/datasets/diff?" + url.Values{"a": {a}, "b": {b}}.Encode()
}

type fileRow struct {
	Path, Size, Hash, FullHash string
	Download                   string // the API route that serves the file
	Table                      bool
}

// fileURL is the API route that serves one file of a version.
func fileURL(ref, filePath string) string {
	u := "/api/v1/datasets/" + url.PathEscape(ref) + "/files"
	for _, seg := range strings.Split(filePath, "/") {
		u += "/" + url.PathEscape(seg)
	}
	return u
}

type tableView struct {
	Path    string
	Anchor  string
	Rows    int64
	Format  string
	Columns []columnView
	Error   string // the stored profile could not be read
}

type columnView struct {
	Name, Type        string
	Nullable          bool
	Missing           string // "3 (1.5%)"
	Distinct          string
	Min, Max          string
	Mean, Std         string
	Quantiles         []kvRow // p01 … p99
	Chart             template.HTML
	ChartKind         string // "histogram" or "categories"
	OtherCategories   int64
	CategoriesPartial bool
}

type runLinkRow struct {
	RunID, URL, Context, Linked string
}

type datasetVersionView struct {
	Name, NameURL string
	Version       string
	Ref, Source   string
	Digest        string
	Tags          []string
	Message       string
	Created       string
	CreatedBy     string
	Size          string
	Files         []fileRow
	ArchiveURL    string // the API route that zips every file
	Tables        []tableView
	Runs          []runLinkRow
	PrevDiffURL   string
}

// datasetVersionPage shows one version: files, and per table its schema and
// profile with histograms, and the runs that used it.
func (u *UI) datasetVersionPage(w http.ResponseWriter, r *http.Request) {
	name, ver := r.PathValue("name"), r.PathValue("version")
	d, err := u.datasets.Show(r.Context(), name+"@"+ver)
	if err != nil {
		u.renderError(w, r, "/datasets", err)
		return
	}
	v := datasetVersionView{
		Name: d.Dataset, NameURL: datasetURL(d.Dataset), Version: "v" + strconv.FormatInt(d.Version.Version, 10),
		Ref: d.Ref(), Source: d.Source(), Digest: d.Digest, Tags: d.Tags, Message: d.Message,
		Created: fmtTime(d.CreatedAt), CreatedBy: d.CreatedBy, Size: fmtBytes(d.TotalBytes),
		ArchiveURL: "/api/v1/datasets/" + url.PathEscape(d.Ref()) + "/archive",
	}
	if d.Version.Version > 1 {
		v.PrevDiffURL = diffURL(dataset.Ref{Name: d.Dataset, Version: d.Version.Version - 1}.String(), d.Ref())
	}
	for i, f := range d.Manifest.Files {
		isTable := len(f.Profile) > 0 && string(f.Profile) != "null"
		v.Files = append(v.Files, fileRow{Path: f.Path, Size: fmtBytes(f.Size), Hash: clipRunes(f.Hash, 13), FullHash: f.Hash,
			Download: fileURL(d.Ref(), f.Path), Table: isTable})
		if isTable {
			v.Tables = append(v.Tables, tableOf(f.Path, "table-"+strconv.Itoa(i), f.Profile))
		}
	}
	for _, l := range d.Runs {
		v.Runs = append(v.Runs, runLinkRow{RunID: l.RunID, URL: runURL(l.RunID), Context: l.Context, Linked: fmtTime(l.CreatedAt)})
	}
	u.render(w, r, http.StatusOK, "dataset_version.html", u.newPage(w, r, v.Ref, "/datasets", v))
}

func tableOf(path, anchor string, raw json.RawMessage) tableView {
	t := tableView{Path: path, Anchor: anchor}
	var p profile.Profile
	if err := json.Unmarshal(raw, &p); err != nil {
		t.Error = "The stored profile could not be read: " + err.Error()
		return t
	}
	t.Rows, t.Format = p.Rows, p.Format
	for _, c := range p.Columns {
		t.Columns = append(t.Columns, columnOf(p.Rows, c))
	}
	return t
}

// quantileKeys orders the profile's quantiles for display.
var quantileKeys = [...]string{"p01", "p05", "p25", "p50", "p75", "p95", "p99"}

func columnOf(rows int64, c profile.ColumnProfile) columnView {
	cv := columnView{Name: c.Name, Type: c.Type, Nullable: c.Nullable,
		Missing: strconv.FormatInt(c.Missing, 10), Distinct: "≈" + strconv.FormatUint(c.Distinct, 10),
		Min: optValue(c.Min), Max: optValue(c.Max), Mean: optValue(c.Mean), Std: optValue(c.Std),
		OtherCategories: c.OtherCount, CategoriesPartial: len(c.TopCategories) > 0 && !c.CategoriesExact}
	if rows > 0 && c.Missing > 0 {
		cv.Missing += fmt.Sprintf(" (%.1f%%)", 100*float64(c.Missing)/float64(rows))
	}
	if c.MinTime != nil {
		cv.Min = c.MinTime.UTC().Format("2006-01-02 15:04:05")
	}
	if c.MaxTime != nil {
		cv.Max = c.MaxTime.UTC().Format("2006-01-02 15:04:05")
	}
	for _, k := range quantileKeys {
		if q, ok := c.Quantiles[k]; ok {
			cv.Quantiles = append(cv.Quantiles, kvRow{k, fmtValue(q)})
		}
	}
	switch {
	case c.Histogram != nil && len(c.Histogram.Counts) > 0:
		vals := make([]float64, len(c.Histogram.Counts))
		for i, n := range c.Histogram.Counts {
			vals[i] = float64(n)
		}
		cv.ChartKind = "histogram"
		cv.Chart = Bars{Title: "Histogram of " + c.Name, Edges: c.Histogram.Edges, Values: vals}.SVG()
	case len(c.TopCategories) > 0:
		const shown = 8
		cats := c.TopCategories[:min(shown, len(c.TopCategories))]
		b := Bars{Title: "Top categories of " + c.Name, Height: 30 + 18*len(cats)}
		for _, cc := range cats {
			b.Labels = append(b.Labels, cc.Value)
			b.Values = append(b.Values, float64(cc.Count))
		}
		cv.ChartKind = "categories"
		cv.Chart = b.SVG()
	}
	return cv
}

func optValue(f *float64) string {
	if f == nil {
		return "—"
	}
	return fmtValue(*f)
}

// valueRange renders a column's range, "min … max", from numbers or from
// times (timestamp columns), or "—" when there is none. The spaces do not
// break, so a narrow cell wraps at the arrow between two ranges.
func valueRange(lo, hi *float64, tlo, thi *time.Time) string {
	const sep = "\u00a0…\u00a0"
	switch {
	case lo != nil && hi != nil:
		return fmtValue(*lo) + sep + fmtValue(*hi)
	case tlo != nil && thi != nil:
		return shortTime(*tlo) + sep + shortTime(*thi)
	}
	return "—"
}

// shortTime renders a time in UTC as a date when it is midnight, else as
// date and time of day.
func shortTime(t time.Time) string {
	t = t.UTC()
	if t.Equal(t.Truncate(24 * time.Hour)) {
		return t.Format(time.DateOnly)
	}
	return t.Format("2006-01-02\u00a015:04:05")
}

type fileChange struct {
	Path, Change, Class string
	SizeFrom, SizeTo    string
}

type columnDiffRow struct {
	Name, Type               string
	MissingFrom, MissingTo   string
	DistinctFrom, DistinctTo string
	MeanFrom, MeanTo         string
	StdFrom, StdTo           string
	RangeFrom, RangeTo       string // "min … max", numbers or times
	Score, ScoreKind         string
	Drift                    bool
}

type tableDiffView struct {
	Path             string
	RowsFrom, RowsTo int64
	RowsDelta        string
	SchemaChanges    []profile.SchemaChange
	Columns          []columnDiffRow
	Drifted          []string
	Error            string
}

type datasetDiffView struct {
	A, B         string
	AURL, BURL   string
	Changes      []fileChange
	Unchanged    int
	Tables       []tableDiffView
	PSIThreshold string
	JSThreshold  string
}

// datasetDiffPage compares two versions: files, then per table present in
// both, schema changes and per-column drift.
func (u *UI) datasetDiffPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	q := r.URL.Query()
	aRef, bRef := strings.TrimSpace(q.Get("a")), strings.TrimSpace(q.Get("b"))
	if aRef == "" || bRef == "" {
		u.renderError(w, r, "/datasets", errs.E(errs.Invalid, "a diff needs two versions: ?a=name@1&b=name@2"))
		return
	}
	a, err := u.datasets.Show(ctx, aRef)
	if err != nil {
		u.renderError(w, r, "/datasets", err)
		return
	}
	b, err := u.datasets.Show(ctx, bRef)
	if err != nil {
		u.renderError(w, r, "/datasets", err)
		return
	}
	v := datasetDiffView{A: a.Ref(), B: b.Ref(), AURL: datasetVersionURL(a.Dataset, a.Version.Version),
		BURL:         datasetVersionURL(b.Dataset, b.Version.Version),
		PSIThreshold: fmtValue(profile.PSIThreshold), JSThreshold: fmtValue(profile.JSThreshold)}
	from := map[string]dataset.FileEntry{}
	for _, f := range a.Manifest.Files {
		from[f.Path] = f
	}
	to := map[string]bool{}
	for _, f := range b.Manifest.Files {
		to[f.Path] = true
		old, ok := from[f.Path]
		switch {
		case !ok:
			v.Changes = append(v.Changes, fileChange{Path: f.Path, Change: "added", Class: "ok", SizeTo: fmtBytes(f.Size)})
		case old.Hash != f.Hash:
			v.Changes = append(v.Changes, fileChange{Path: f.Path, Change: "changed", Class: "warn", SizeFrom: fmtBytes(old.Size), SizeTo: fmtBytes(f.Size)})
		default:
			v.Unchanged++
		}
		if ok && old.Hash != f.Hash && hasProfile(old.Profile) && hasProfile(f.Profile) {
			v.Tables = append(v.Tables, tableDiffOf(f.Path, old.Profile, f.Profile))
		}
	}
	for _, f := range a.Manifest.Files {
		if !to[f.Path] {
			v.Changes = append(v.Changes, fileChange{Path: f.Path, Change: "removed", Class: "bad", SizeFrom: fmtBytes(f.Size)})
		}
	}
	slices.SortStableFunc(v.Changes, func(x, y fileChange) int { return strings.Compare(x.Path, y.Path) })
	u.render(w, r, http.StatusOK, "dataset_diff.html", u.newPage(w, r, v.A+" → "+v.B, "/datasets", v))
}

func hasProfile(raw json.RawMessage) bool { return len(raw) > 0 && string(raw) != "null" }

func tableDiffOf(path string, rawA, rawB json.RawMessage) tableDiffView {
	t := tableDiffView{Path: path}
	var pa, pb profile.Profile
	if err := json.Unmarshal(rawA, &pa); err != nil {
		t.Error = "The stored profile could not be read: " + err.Error()
		return t
	}
	if err := json.Unmarshal(rawB, &pb); err != nil {
		t.Error = "The stored profile could not be read: " + err.Error()
		return t
	}
	d := profile.Compare(pa, pb)
	t.RowsFrom, t.RowsTo, t.SchemaChanges, t.Drifted = d.RowsFrom, d.RowsTo, d.SchemaChanges, d.Drifted
	t.RowsDelta = fmt.Sprintf("%+d", d.RowsTo-d.RowsFrom)
	for _, c := range d.Columns {
		row := columnDiffRow{Name: c.Name, Type: c.TypeTo,
			MissingFrom: pct(c.MissingRateFrom), MissingTo: pct(c.MissingRateTo),
			DistinctFrom: strconv.FormatUint(c.DistinctFrom, 10), DistinctTo: strconv.FormatUint(c.DistinctTo, 10),
			MeanFrom: optValue(c.MeanFrom), MeanTo: optValue(c.MeanTo), StdFrom: optValue(c.StdFrom), StdTo: optValue(c.StdTo),
			RangeFrom: valueRange(c.MinFrom, c.MaxFrom, c.MinTimeFrom, c.MaxTimeFrom),
			RangeTo:   valueRange(c.MinTo, c.MaxTo, c.MinTimeTo, c.MaxTimeTo),
			Drift:     c.Drift, Score: "—"}
		switch {
		case c.PSI != nil:
			row.ScoreKind, row.Score = "PSI", fmtValue(*c.PSI)
		case c.JS != nil:
			row.ScoreKind, row.Score = "JS", fmtValue(*c.JS)
		}
		t.Columns = append(t.Columns, row)
	}
	return t
}

func pct(f float64) string { return strconv.FormatFloat(100*f, 'f', 1, 64) + "%" }
