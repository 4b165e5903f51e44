package app_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/mlcycle/mlcycle/internal/app"
)

// mlflowPost calls the MLflow REST API as the MLflow client does and decodes
// the answer into out (when not nil).
func mlflowPost(t *testing.T, base, path string, body, out any) {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(base+"/api/2.0/mlflow"+path, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		var e bytes.Buffer
		e.ReadFrom(resp.Body)
		t.Fatalf("POST %s: %d %s", path, resp.StatusCode, e.String())
	}
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatalf("POST %s: decoding: %v", path, err)
		}
	}
}

// logBrowserRuns logs an experiment of three runs over the MLflow API, each
// with params and two metrics over 50 steps, and a text artifact on the
// first. It returns the experiment id and the run ids.
func logBrowserRuns(t *testing.T, base string) (string, []string) {
	t.Helper()
	var exp struct {
		ID string `json:"experiment_id"`
	}
	mlflowPost(t, base, "/experiments/create", map[string]any{"name": "image-classifier"}, &exp)
	start := time.Now().Add(-time.Hour).UnixMilli()
	var ids []string
	for i, opt := range []string{"adam", "sgd", "adamw"} {
		var run struct {
			Run struct {
				Info struct {
					RunID       string `json:"run_id"`
					ArtifactURI string `json:"artifact_uri"`
				} `json:"info"`
			} `json:"run"`
		}
		t0 := start + int64(i)*600_000
		mlflowPost(t, base, "/runs/create", map[string]any{
			"experiment_id": exp.ID, "run_name": fmt.Sprintf("resnet-%s", opt), "start_time": t0,
			"tags": []map[string]string{{"key": "mlflow.user", "value": "ada"}},
		}, &run)
		id := run.Run.Info.RunID
		ids = append(ids, id)
		var metrics []map[string]any
		for step := range 50 {
			loss := 2.2/(1+0.15*float64(step)*float64(i+1)) + 0.04*math.Sin(float64(step)/2)
			metrics = append(metrics,
				map[string]any{"key": "loss", "value": loss, "timestamp": t0 + int64(step)*1000, "step": step},
				map[string]any{"key": "accuracy", "value": 1 - loss/2.5, "timestamp": t0 + int64(step)*1000, "step": step})
		}
		mlflowPost(t, base, "/runs/log-batch", map[string]any{
			"run_id":  id,
			"metrics": metrics,
			"params": []map[string]string{
				{"key": "optimizer", "value": opt},
				{"key": "learning_rate", "value": fmt.Sprint(0.001 * float64(i+1))},
				{"key": "epochs", "value": "50"},
			},
		}, nil)
		mlflowPost(t, base, "/runs/update", map[string]any{"run_id": id, "status": "FINISHED", "end_time": t0 + 50_000 + int64(i)*7_000}, nil)
		if i == 0 {
			root := strings.TrimPrefix(run.Run.Info.ArtifactURI, "mlflow-artifacts:/")
			req, _ := http.NewRequest("PUT", base+"/api/2.0/mlflow-artifacts/artifacts/"+root+"/notes.txt", strings.NewReader("trained on 50k images\n"))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("uploading an artifact: %d", resp.StatusCode)
			}
		}
	}
	return exp.ID, ids
}

// TestUITrackingPages logs runs over the MLflow API, then opens the run
// page and the experiment's runs table in headless Chromium: the metric
// charts are drawn, the table shows the param and metric columns, and
// comparing two runs from the table works. Screenshots are saved.
func TestUITrackingPages(t *testing.T) {
	s := startServer(t, app.Config{})
	expID, runs := logBrowserRuns(t, s.URL())
	ctx, cancel := browser(t)
	defer cancel()
	step := stepper(t)
	save := screenshotter(t, ctx)

	// The run page.
	step("opening the run page", chromedp.Do(ctx,
		chromedp.Navigate(s.URL()+"/runs/"+runs[0]),
		chromedp.WaitVisible("figure.chart svg polyline"),
	))
	lines, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("figure.chart svg polyline.series").length`))
	step("counting chart lines", err)
	if lines != 2 {
		t.Errorf("%d metric charts with a line, want 2 (loss and accuracy)", lines)
	}
	points, err := chromedp.Run(ctx, chromedp.Evaluate[int](
		`document.querySelector("figure.chart svg polyline.series").getAttribute("points").trim().split(/\s+/).length`))
	step("counting points", err)
	if points != 50 {
		t.Errorf("the chart draws %d points, want 50", points)
	}
	text, err := chromedp.Run(ctx, chromedp.Text("main"))
	step("reading the run page", err)
	for _, want := range []string{"resnet-adam", "FINISHED", "optimizer", "adam", "learning_rate", "loss", "accuracy", "notes.txt", "image-classifier"} {
		if !strings.Contains(text, want) {
			t.Errorf("run page lacks %q", want)
		}
	}
	save("run-detail.png")

	// MLflow clients print links into MLflow's own UI; the home page sends
	// them on to the same run or experiment here.
	for link, want := range map[string]string{
		"/#/experiments/" + expID + "/runs/" + runs[0]: "/runs/" + runs[0],
		"/#/experiments/" + expID:                      "/experiments/" + expID,
	} {
		step("following the MLflow link "+link, chromedp.Do(ctx,
			chromedp.Navigate(s.URL()+link),
			chromedp.WaitVisible("main h1"),
		))
		var path string
		for range 50 { // the script replaces the location once the page loads
			if path, err = chromedp.Run(ctx, chromedp.Evaluate[string](`location.pathname`)); err != nil || path == want {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		step("reading the location", err)
		if path != want {
			t.Errorf("the MLflow link %s led to %s, want %s", link, path, want)
		}
	}

	// The runs table.
	step("opening the runs table", chromedp.Do(ctx,
		chromedp.Navigate(s.URL()+"/experiments/"+expID),
		chromedp.WaitVisible("table.runs tbody tr"),
	))
	head, err := chromedp.Run(ctx, chromedp.Text("table.runs thead"))
	step("reading the table header", err)
	head = strings.ToLower(strings.Join(strings.Fields(head), " ")) // CSS sets case and line breaks
	for _, want := range []string{"run", "status", "param epochs", "param learning_rate", "param optimizer", "metric accuracy", "metric loss"} {
		if !strings.Contains(head, want) {
			t.Errorf("runs table header lacks %q: %q", want, head)
		}
	}
	rows, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("table.runs tbody tr").length`))
	step("counting rows", err)
	if rows != 3 {
		t.Errorf("%d rows, want 3", rows)
	}
	body, err := chromedp.Run(ctx, chromedp.Text("table.runs tbody"))
	step("reading the table", err)
	for _, want := range []string{"resnet-adam", "resnet-sgd", "resnet-adamw", "0.003", "ada"} {
		if !strings.Contains(body, want) {
			t.Errorf("runs table lacks %q", want)
		}
	}
	save("runs-table.png")

	// Sorting by a header, then comparing two selected runs.
	step("sorting by learning_rate", chromedp.Do(ctx,
		chromedp.Click(`th.param a[href*="learning_rate"]`),
		chromedp.WaitVisible(`th.param .arrow`),
	))
	first, err := chromedp.Run(ctx, chromedp.Text("table.runs tbody tr:first-child td:nth-child(2)"))
	step("reading the first row", err)
	if strings.TrimSpace(first) != "resnet-adam" {
		t.Errorf("sorted by learning_rate ascending, the first run is %q", first)
	}
	step("comparing two runs", chromedp.Do(ctx,
		chromedp.Click(`table.runs tbody tr:nth-child(1) input[name=runs]`),
		chromedp.Click(`table.runs tbody tr:nth-child(2) input[name=runs]`),
		chromedp.Click(`#compare-form button[type=submit]`),
		chromedp.WaitVisible("table.compare"),
		chromedp.WaitVisible("figure.chart svg polyline"),
	))
	compared, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("figure.chart svg polyline.series").length`))
	step("counting compare lines", err)
	if compared != 2 {
		t.Errorf("the compare chart has %d lines, want 2", compared)
	}
	save("compare.png")
}
