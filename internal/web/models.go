package web

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/mlcycle/mlcycle/internal/errs"
	"github.com/mlcycle/mlcycle/internal/registry"
)

// registryRoutes registers the model registry pages (GETs: viewers may).
func (u *UI) registryRoutes(mux *http.ServeMux) {
	mux.Handle("GET /models", u.requireUser(http.HandlerFunc(u.modelsPage)))
	mux.Handle("GET /models/{name}", u.requireUser(http.HandlerFunc(u.modelPage)))
}

const (
	modelsPerPage   = 50
	versionsPerPage = 100
)

type modelsView struct {
	Query      string
	Rows       []modelRow
	Error      string
	Page       int
	Prev, Next string
}

type modelRow struct {
	Name, URL   string
	Latest      string
	Aliases     []string // "champion → v3"
	Updated     string
	Description string
}

// modelsPage lists registered models by name, with a name search.
func (u *UI) modelsPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	v := modelsView{Query: strings.TrimSpace(q.Get("q"))}
	pg := pagerFrom(q)
	models, next, err := u.registry.SearchRegisteredModels(r.Context(), registry.SearchOptions{
		Filter: nameFilter(v.Query), MaxResults: modelsPerPage, PageToken: pg.Token,
	})
	status := http.StatusOK
	if err != nil {
		if errs.CodeOf(err) != errs.Invalid {
			u.renderError(w, r, "/models", err)
			return
		}
		status, v.Error = http.StatusBadRequest, errs.MessageOf(err)
	}
	for _, m := range models {
		row := modelRow{Name: m.Name, URL: modelURL(m.Name), Updated: fmtTime(m.LastUpdatedTime),
			Description: clipRunes(firstLine(m.Description), 120)}
		var latest int64
		for _, mv := range m.LatestVersions {
			latest = max(latest, mv.Version)
		}
		if latest > 0 {
			row.Latest = "v" + strconv.FormatInt(latest, 10)
		}
		for _, a := range sortedBy(m.Aliases, func(a registry.Alias) string { return a.Alias }) {
			row.Aliases = append(row.Aliases, a.Alias+" → v"+strconv.FormatInt(a.Version, 10))
		}
		v.Rows = append(v.Rows, row)
	}
	state := url.Values{}
	if v.Query != "" {
		state.Set("q", v.Query)
	}
	v.Page = pg.number()
	v.Prev, v.Next = pg.links("/models", state, next)
	u.render(w, r, status, "models.html", u.newPage(w, r, "Models", "/models", v))
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

type modelView struct {
	Name, Description string
	Created, Updated  string
	Aliases           []string
	Tags              []kvRow
	Versions          []versionRow
	Page              int
	Prev, Next        string
}

type versionRow struct {
	Version, Stage, StageClass string
	Aliases                    []string
	Source                     string
	RunID, RunURL              string
	Status, StatusClass        string
	Created                    string
	User                       string
	Description                string
}

// modelPage shows one registered model and its versions, newest first.
func (u *UI) modelPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	m, err := u.registry.GetRegisteredModel(ctx, r.PathValue("name"))
	if err != nil {
		u.renderError(w, r, "/models", err)
		return
	}
	pg := pagerFrom(r.URL.Query())
	versions, next, err := u.registry.SearchModelVersions(ctx, registry.SearchOptions{
		Filter:     "name = " + filterString(m.Name),
		MaxResults: versionsPerPage,
		OrderBy:    []string{"version_number DESC"},
		PageToken:  pg.Token,
	})
	if err != nil {
		u.renderError(w, r, "/models", err)
		return
	}
	v := modelView{Name: m.Name, Description: m.Description, Created: fmtTime(m.CreationTime), Updated: fmtTime(m.LastUpdatedTime)}
	for _, a := range sortedBy(m.Aliases, func(a registry.Alias) string { return a.Alias }) {
		v.Aliases = append(v.Aliases, a.Alias+" → v"+strconv.FormatInt(a.Version, 10))
	}
	for _, t := range sortedBy(m.Tags, func(t registry.Tag) string { return t.Key }) {
		v.Tags = append(v.Tags, kvRow{t.Key, t.Value})
	}
	for _, mv := range versions {
		row := versionRow{
			Version: strconv.FormatInt(mv.Version, 10), Stage: mv.Stage, StageClass: stageClass(mv.Stage),
			Aliases: slices.Sorted(slices.Values(mv.Aliases)), Source: mv.Source,
			RunID: mv.RunID, Status: mv.Status, StatusClass: statusClass(mv.Status),
			Created: fmtTime(mv.CreationTime), User: mv.UserID, Description: clipRunes(firstLine(mv.Description), 80),
		}
		if mv.RunID != "" {
			row.RunURL = runURL(mv.RunID)
		}
		v.Versions = append(v.Versions, row)
	}
	v.Page = pg.number()
	v.Prev, v.Next = pg.links(modelURL(m.Name), url.Values{}, next)
	u.render(w, r, http.StatusOK, "model.html", u.newPage(w, r, m.Name, "/models", v))
}

func stageClass(stage string) string {
	switch stage {
	case registry.StageProduction:
		return "ok"
	case registry.StageStaging:
		return "run"
	case registry.StageArchived:
		return "muted"
	}
	return ""
}
