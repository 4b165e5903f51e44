package web

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestRunReport(t *testing.T) {
	eachData(t, func(t *testing.T, env *dataEnv) {
		exp := env.experiment(t, "reports")
		withReport := env.run(t, exp, "trained", time.Now().UnixMilli(), nil, nil)
		plain := env.run(t, exp, "plain", time.Now().UnixMilli(), nil, nil)
		uri, err := env.tr.RunArtifactURI(env.ctx, withReport)
		if err != nil {
			t.Fatal(err)
		}
		root := strings.TrimPrefix(uri, "mlflow-artifacts:/")
		files := map[string]string{
			"report.html": `<!doctype html><html><body><h1>Report</h1><script>alert(1)</script></body></html>`,
			"report.json": `{"task":"binary","algo":"gbdt","metrics":{"roc_auc":0.912345678,"log_loss":0.25,` +
				`"confusion_matrix":[[1,2],[3,4]],"note":"<b>x</b>"}}`,
		}
		for name, b := range files {
			if _, err := env.blobs.Put(env.ctx, root+"/"+name, bytes.NewReader([]byte(b))); err != nil {
				t.Fatal(err)
			}
		}

		// The run page embeds the report in a sandboxed frame and shows
		// the scalar metrics of report.json.
		p := env.mustGet(t, "/runs/"+withReport, 200)
		wantContains(t, p, `id="report"`, `<iframe class="report-frame" src="/runs/`+withReport+`/report" sandbox=""`,
			`<dt>roc_auc</dt><dd class="num">0.912346</dd>`, `<dt>log_loss</dt><dd class="num">0.25</dd>`,
			`<span class="badge">binary</span>`, `<span class="badge">gbdt</span>`, `path=report.json`)
		wantLacks(t, p, "confusion_matrix", "<script>alert", "<b>x</b>")

		// The frame's document may not run script or load anything.
		r := env.mustGet(t, "/runs/"+withReport+"/report", 200)
		csp := r.resp.Header.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'none'", "sandbox", "frame-ancestors 'self'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("report CSP %q lacks %q", csp, want)
			}
		}
		if ct := r.resp.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
			t.Errorf("report Content-Type %q", ct)
		}
		if !strings.Contains(r.body, "<h1>Report</h1>") {
			t.Errorf("report body %q", r.body)
		}

		// A run without a report has no section, and no report route.
		wantLacks(t, env.mustGet(t, "/runs/"+plain, 200), `id="report"`, "report-frame")
		env.mustGet(t, "/runs/"+plain+"/report", 404)
		env.mustGet(t, "/runs/nope/report", 404)
	})
}
