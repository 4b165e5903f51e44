package web

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/mlcycle/mlcycle/internal/blob"
	"github.com/mlcycle/mlcycle/internal/errs"
	"github.com/mlcycle/mlcycle/internal/tracking"
)

// The evaluation report that `mlcycle train` logs at the top of a run's
// artifacts (report.html and report.json). The HTML is run content like
// any artifact, so it is never inlined into the page: it is shown in an
// iframe whose document is served with a sandbox CSP (an opaque origin, no
// script, no forms, nothing loaded from anywhere) and the iframe's own
// sandbox attribute. The headline numbers come from report.json and are
// rendered by our templates, escaped.

const (
	reportHTML = "report.html"
	reportJSON = "report.json"
	// maxReportJSON bounds what the run page reads of report.json.
	maxReportJSON = 8 << 20
)

// reportView is the run page's report section.
type reportView struct {
	FrameURL string // the sandboxed report.html, or "" when there is none
	HTMLURL  string // open or download report.html
	JSONURL  string // report.json, or ""
	Task     string
	Model    string
	Metrics  []kvRow // headline test metrics from report.json
}

// reportSummary is the part of report.json the page shows. Unknown or
// malformed fields are ignored: the page shows what it can.
type reportSummary struct {
	Task    string                     `json:"task"`
	Algo    string                     `json:"algo"`
	Metrics map[string]json.RawMessage `json:"metrics"`
}

// runReport looks for the report artifacts of a run; nil when it has none.
func (u *UI) runReport(ctx context.Context, in tracking.RunInfo) (*reportView, error) {
	if u.blobs == nil {
		return nil, nil
	}
	has := func(name string) (bool, error) {
		key, _, err := artifactKey(in, name, false)
		if err != nil {
			return false, err
		}
		info, err := u.blobs.Stat(ctx, key)
		if errors.Is(err, blob.ErrNotFound) {
			return false, nil
		}
		if err != nil {
			return false, artifactErr(err, name)
		}
		return !info.IsDir, nil
	}
	hasHTML, err := has(reportHTML)
	if err != nil {
		return nil, err
	}
	hasJSON, err := has(reportJSON)
	if err != nil {
		return nil, err
	}
	if !hasHTML && !hasJSON {
		return nil, nil
	}
	v := &reportView{}
	if hasHTML {
		v.FrameURL = runURL(in.RunID) + "/report"
		v.HTMLURL = artifactRawURL(in.RunID, reportHTML, true)
	}
	if hasJSON {
		v.JSONURL = artifactRawURL(in.RunID, reportJSON, false)
		u.readReportSummary(ctx, in, v)
	}
	return v, nil
}

// readReportSummary fills the headline numbers from report.json. A report
// that cannot be read or parsed only loses its numbers: the rest of the run
// page stays useful.
func (u *UI) readReportSummary(ctx context.Context, in tracking.RunInfo, v *reportView) {
	key, _, err := artifactKey(in, reportJSON, false)
	if err != nil {
		return
	}
	rc, _, err := u.blobs.Get(ctx, key)
	if err != nil {
		return
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxReportJSON+1))
	if err != nil || len(b) > maxReportJSON {
		u.log.InfoContext(ctx, "report.json not shown", "run", in.RunID, "err", err, "bytes", len(b))
		return
	}
	var s reportSummary
	if err := json.Unmarshal(b, &s); err != nil {
		return
	}
	v.Task, v.Model = s.Task, s.Algo
	for k, raw := range s.Metrics {
		var f float64
		if json.Unmarshal(raw, &f) != nil || math.IsNaN(f) {
			continue // curves, matrices and the like are in the HTML
		}
		v.Metrics = append(v.Metrics, kvRow{Key: k, Value: strconv.FormatFloat(f, 'g', 6, 64)})
	}
	slices.SortFunc(v.Metrics, func(a, b kvRow) int { return cmp.Compare(a.Key, b.Key) })
}

// reportFile serves a run's report.html for the run page's iframe. The
// response may show inline styles and data: images, and nothing else: no
// script, no requests, and (sandbox) an origin of its own.
func (u *UI) reportFile(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox; frame-ancestors 'self'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	fail := func(err error) {
		switch errs.CodeOf(err) {
		case errs.NotFound:
			http.Error(w, errs.MessageOf(err), http.StatusNotFound)
		case errs.Invalid:
			http.Error(w, errs.MessageOf(err), http.StatusBadRequest)
		default:
			u.log.ErrorContext(ctx, "serving a run's report", "err", err)
			http.Error(w, "internal error", http.StatusInternalServerError)
		}
	}
	run, err := u.tracking.GetRun(ctx, r.PathValue("id"))
	if err != nil {
		fail(err)
		return
	}
	key, _, err := artifactKey(run.Info, reportHTML, false)
	if err != nil {
		fail(err)
		return
	}
	rc, size, err := u.blobs.Get(ctx, key)
	if err != nil {
		fail(artifactErr(err, reportHTML))
		return
	}
	defer rc.Close()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "private, no-cache")
	if rs, ok := rc.(io.ReadSeeker); ok {
		http.ServeContent(w, r, "", time.Time{}, rs)
		return
	}
	h.Set("Content-Length", strconv.FormatInt(size, 10))
	if r.Method == http.MethodHead {
		return
	}
	if _, err := io.Copy(w, rc); err != nil {
		u.log.InfoContext(ctx, "report download cut short", "run", run.Info.RunID, "err", err)
	}
}
