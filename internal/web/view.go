package web

import (
	"fmt"
	"html/template"
	"maps"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mlcycle/mlcycle/internal/errs"
)

// Helpers shared by the tracking and registry pages: formatting, error
// pages and paging links.

// viewFuncs are the template functions of the data pages. Pages get their
// data pre-formatted, so these stay few.
func viewFuncs() template.FuncMap {
	return template.FuncMap{
		"pathEscape": url.PathEscape,
	}
}

// renderError answers a failed read with a page: the domain's message for
// bad input (400) and missing things (404), a generic one otherwise.
func (u *UI) renderError(w http.ResponseWriter, r *http.Request, section string, err error) {
	switch errs.CodeOf(err) {
	case errs.Invalid:
		u.renderMessage(w, r, http.StatusBadRequest, section, message{Heading: "Invalid request", Text: errs.MessageOf(err)})
	case errs.NotFound:
		u.renderMessage(w, r, http.StatusNotFound, section, message{Heading: "Not found", Text: errs.MessageOf(err)})
	case errs.Forbidden, errs.Unauthorized:
		u.renderMessage(w, r, http.StatusForbidden, section, message{Heading: "Not allowed", Text: errs.MessageOf(err)})
	default:
		u.log.ErrorContext(r.Context(), "reading page data", "path", r.URL.Path, "err", err)
		u.renderMessage(w, r, http.StatusInternalServerError, section, message{
			Heading: "Something went wrong",
			Text:    "The server could not load this page. Try again; if it keeps failing, the server log says why.",
		})
	}
}

// fmtTime shows Unix milliseconds as a UTC date and time; 0 is "—".
func fmtTime(ms int64) string {
	if ms <= 0 {
		return "—"
	}
	return time.UnixMilli(ms).UTC().Format("2006-01-02 15:04:05")
}

// fmtDuration shows a run's length: 850ms, 12.3s, 4m 5s, 2h 3m, 3d 4h.
func fmtDuration(d time.Duration) string {
	switch {
	case d < 0:
		return "—"
	case d < time.Second:
		return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
	case d < time.Minute:
		return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + "s"
	}
	return formatUptime(d)
}

// runDuration is how long a run took, or has been running; "—" when unknown.
func runDuration(start, end int64, running bool) string {
	switch {
	case start <= 0:
		return "—"
	case end > 0:
		return fmtDuration(time.Duration(end-start) * time.Millisecond)
	case running:
		return fmtDuration(time.Since(time.UnixMilli(start)).Round(time.Second))
	}
	return "—"
}

// fmtValue shows a metric value compactly (six significant digits); the
// exact value goes in a title attribute.
func fmtValue(v float64) string {
	switch {
	case math.IsNaN(v):
		return "NaN"
	case math.IsInf(v, 1):
		return "Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case v == 0:
		return "0"
	}
	if a := math.Abs(v); a >= 1e-4 && a < 1e9 {
		s := strconv.FormatFloat(v, 'g', 6, 64)
		if !strings.ContainsAny(s, "e") {
			return s
		}
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}

// fullValue is a metric value with every digit.
func fullValue(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// fmtBytes shows a size in B, KiB, MiB or GiB.
func fmtBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	f, i := float64(n)/unit, 0
	for f >= unit && i < 3 {
		f /= unit
		i++
	}
	return fmt.Sprintf("%.1f %ciB", f, "KMGT"[i])
}

// filterString quotes a value for an MLflow filter: single quotes, with
// backslash escapes for the quote and the backslash.
func filterString(v string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
}

// nameFilter is a case-insensitive "contains" filter on name, or "".
func nameFilter(q string) string {
	if q = strings.TrimSpace(q); q == "" {
		return ""
	}
	return "name ILIKE " + filterString("%"+q+"%")
}

// statusClass is the badge colour of a run status.
func statusClass(status string) string {
	switch status {
	case "FINISHED", "READY":
		return "ok"
	case "FAILED", "KILLED", "FAILED_REGISTRATION":
		return "bad"
	case "RUNNING", "SCHEDULED", "PENDING_REGISTRATION":
		return "run"
	}
	return ""
}

// maxBackTokens bounds the paging history a URL carries.
const maxBackTokens = 1000

// pager is server-side paging carried in links: the token of the current
// page and of every page before it, so that Previous needs no server state.
// The first page's token is "".
type pager struct {
	Token string
	Back  []string
}

func pagerFrom(q url.Values) pager {
	p := pager{Token: q.Get("token"), Back: q["back"]}
	if len(p.Back) > maxBackTokens {
		p.Back = p.Back[len(p.Back)-maxBackTokens:]
	}
	return p
}

// set writes the pager into q.
func (p pager) set(q url.Values) {
	q.Del("token")
	q.Del("back")
	if p.Token == "" && len(p.Back) == 0 {
		return
	}
	q.Set("token", p.Token)
	if len(p.Back) > 0 {
		q["back"] = append([]string(nil), p.Back...)
	}
}

// number is the current page's number, from 1.
func (p pager) number() int { return len(p.Back) + 1 }

// links returns the Previous and Next URLs ("" when there is none) for a
// page at path whose other parameters are q.
func (p pager) links(path string, q url.Values, nextToken string) (prev, next string) {
	if len(p.Back) > 0 || p.Token != "" {
		pp := pager{}
		if n := len(p.Back); n > 0 {
			pp = pager{Token: p.Back[n-1], Back: p.Back[:n-1]}
		}
		prev = withQuery(path, q, pp.set)
	}
	if nextToken != "" {
		np := pager{Token: nextToken, Back: append(append([]string(nil), p.Back...), p.Token)}
		next = withQuery(path, q, np.set)
	}
	return prev, next
}

// withQuery is path with a copy of q, changed by edit.
func withQuery(path string, q url.Values, edit func(url.Values)) string {
	c := url.Values{}
	for k, v := range q {
		c[k] = append([]string(nil), v...)
	}
	if edit != nil {
		edit(c)
	}
	if len(c) == 0 {
		return path
	}
	return path + "?" + c.Encode()
}

// hiddenField is a form field that carries page state through a GET form.
type hiddenField struct{ Name, Value string }

func hiddenFields(q url.Values, skip ...string) []hiddenField {
	var out []hiddenField
	for _, k := range sortedKeys(q) {
		if slices.Contains(skip, k) {
			continue
		}
		for _, v := range q[k] {
			out = append(out, hiddenField{k, v})
		}
	}
	return out
}

func sortedKeys(q url.Values) []string {
	return slices.Sorted(maps.Keys(q))
}

// runURL, experimentURL and modelURL are the pages of those things.
func runURL(id string) string        { return "/runs/" + url.PathEscape(id) }
func experimentURL(id string) string { return "/experiments/" + url.PathEscape(id) }
func modelURL(name string) string    { return "/models/" + url.PathEscape(name) }
