package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/mlcycle/mlcycle/internal/app"
	"github.com/mlcycle/mlcycle/internal/buildinfo"
	"github.com/mlcycle/mlcycle/internal/cli"
)

// TestUIRunReport trains a model with `mlcycle train` against a server,
// then opens the run page in headless Chromium: the evaluation report is
// embedded (sandboxed) with its headline metrics, and its plots render.
// Screenshots of the run page and of the report are saved.
func TestUIRunReport(t *testing.T) {
	s := startServer(t, app.Config{})
	ctx, cancel := browser(t)
	defer cancel()

	dir := t.TempDir()
	r := rand.New(rand.NewPCG(7, 8))
	var b strings.Builder
	b.WriteString("tenure,monthly_fee,plan,region,churned\n")
	for range 1200 {
		tenure, fee := r.Float64()*60, 20+r.Float64()*80
		plan := []string{"basic", "plus", "pro"}[r.IntN(3)]
		z := -0.06*tenure + 0.03*fee + r.NormFloat64()*0.8 - 0.5
		if plan == "basic" {
			z += 0.7
		}
		churned := "no"
		if z > 0 {
			churned = "yes"
		}
		fmt.Fprintf(&b, "%.1f,%.2f,%s,%s,%s\n", tenure, fee, plan, []string{"north", "south"}[r.IntN(2)], churned)
	}
	data := filepath.Join(dir, "churn.csv")
	if err := os.WriteFile(data, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	code := cli.Main(context.Background(), buildinfo.Info{Version: "test"}, []string{"train", "--server", s.URL(),
		"--data", data, "--target", "churned", "--sensitive", "region", "--experiment", "churn", "--run-name", "churn-gbdt",
		"-q", "-o", "json"}, strings.NewReader(""), &out, &errOut)
	if code != 0 {
		t.Fatalf("train: exit %d: %s", code, errOut.String())
	}
	var res struct {
		RunID string `json:"run_id"`
	}
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatal(err)
	}

	step := stepper(t)
	save := screenshotter(t, ctx)

	step("opening the run page", chromedp.Do(ctx,
		chromedp.Navigate(s.URL()+"/runs/"+res.RunID),
		chromedp.WaitVisible("iframe.report-frame"),
	))
	text, err := chromedp.Run(ctx, chromedp.Text("#report + section"))
	step("reading the report section", err)
	text = strings.ToLower(text) // CSS sets the case of the names
	for _, want := range []string{"roc_auc", "log_loss", "binary", "gbdt", "report.json"} {
		if !strings.Contains(text, want) {
			t.Errorf("report section lacks %q: %q", want, text)
		}
	}
	sandbox, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("iframe.report-frame").getAttribute("sandbox")`))
	step("reading the frame's sandbox", err)
	if sandbox != "" {
		t.Errorf("report frame sandbox=%q, want every restriction", sandbox)
	}
	// The frame has loaded when it has a size and the document answered.
	step("scrolling to the report", chromedp.Do(ctx, chromedp.ScrollIntoView("iframe.report-frame")))
	step("waiting for the report", chromedp.Do(ctx, chromedp.Sleep(500e6)))
	save("run-report.png")

	// The report itself: SVG plots drawn without script.
	step("opening the report", chromedp.Do(ctx,
		chromedp.Navigate(s.URL()+"/runs/"+res.RunID+"/report"),
		chromedp.WaitVisible("svg"),
	))
	plots, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("svg").length`))
	step("counting plots", err)
	if plots < 4 {
		t.Errorf("the report draws %d SVG plots, want at least 4 (ROC, PR, calibration, importance, SHAP)", plots)
	}
	body, err := chromedp.Run(ctx, chromedp.Text("body"))
	step("reading the report", err)
	for _, want := range []string{"region", "tenure"} {
		if !strings.Contains(body, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	save("evaluation-report.png")
}
