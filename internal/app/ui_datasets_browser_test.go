package app_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/mlcycle/mlcycle/internal/actor"
	"github.com/mlcycle/mlcycle/internal/app"
	"github.com/mlcycle/mlcycle/internal/dataset"
	"github.com/mlcycle/mlcycle/internal/frame"
)

// writeCustomers writes a table of n customers: a roughly normal age, a
// skewed income and a categorical plan.
func writeCustomers(t *testing.T, path string, n int, seed uint64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 7))
	plans := []string{"free", "free", "free", "pro", "pro", "team", "enterprise"}
	var b strings.Builder
	b.WriteString("customer_id,age,income,plan\n")
	for i := range n {
		age := 40 + 12*rng.NormFloat64()
		income := 20000 * rng.ExpFloat64()
		fmt.Fprintf(&b, "%d,%.1f,%.0f,%s\n", i, age, income, plans[rng.IntN(len(plans))])
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestUIDatasetPages adds a profiled dataset to a running server's store,
// opens its version page in headless Chromium, checks the histograms and
// saves a screenshot; then opens the diff of two versions.
func TestUIDatasetPages(t *testing.T) {
	s := startServer(t, app.Config{})
	// Adding happens on the client; it writes the same database and store.
	ds := dataset.New(s.App.DB, s.App.Audit, s.App.Artifacts, dataset.Options{
		StatePath: filepath.Join(t.TempDir(), "state.db"),
		Profile:   dataset.TableProfiler(frame.Options{}),
	})
	defer ds.Close()
	ctx := actor.With(context.Background(), actor.Actor{Name: "ada", Role: "admin"})
	dir := t.TempDir()
	writeCustomers(t, filepath.Join(dir, "customers.csv"), 5000, 1)
	if err := os.WriteFile(filepath.Join(dir, "README.md"), []byte("Customer snapshot.\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	add := func(msg string) dataset.Version {
		t.Helper()
		res, err := ds.Add(ctx, dataset.AddInput{Name: "customers", Message: msg, Paths: []string{dir}, BaseDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		return res.Version
	}
	v1 := add("November snapshot")
	_, runs := logBrowserRuns(t, s.URL())
	if _, err := ds.LinkRun(ctx, dataset.LinkInput{Ref: v1.Ref(), RunID: runs[0], Context: "training"}); err != nil {
		t.Fatal(err)
	}

	bctx, cancel := browser(t)
	defer cancel()
	step := stepper(t)
	save := screenshotter(t, bctx)
	step("opening the version page", chromedp.Do(bctx,
		chromedp.Navigate(s.URL()+"/datasets/customers/1"),
		chromedp.WaitVisible("figure.chart.histogram svg rect.bar"),
	))
	hists, err := chromedp.Run(bctx, chromedp.Evaluate[int](`document.querySelectorAll("figure.chart.histogram svg").length`))
	step("counting histograms", err)
	cats, err := chromedp.Run(bctx, chromedp.Evaluate[int](`document.querySelectorAll("figure.chart.categories svg").length`))
	step("counting category charts", err)
	if hists != 3 || cats != 1 { // customer_id, age, income; plan
		t.Errorf("%d histograms and %d category charts, want 3 and 1", hists, cats)
	}
	text, err := chromedp.Run(bctx, chromedp.Text("main"))
	step("reading the page", err)
	for _, want := range []string{"customers v1", "customers.csv", "README.md", "5000 rows", "age", "income", "plan",
		"mlcycle://customers@1", runs[0], "training"} {
		if !strings.Contains(text, want) {
			t.Errorf("version page lacks %q", want)
		}
	}
	save("dataset-version.png")

	// A second version with older customers on a paid plan drifts.
	writeCustomers(t, filepath.Join(dir, "customers.csv"), 6000, 2)
	b, err := os.ReadFile(filepath.Join(dir, "customers.csv"))
	step("reading the table", err)
	b = []byte(strings.NewReplacer(",free\n", ",pro\n").Replace(string(b)))
	step("rewriting the table", os.WriteFile(filepath.Join(dir, "customers.csv"), b, 0o644))
	add("December snapshot")
	step("opening the diff", chromedp.Do(bctx,
		chromedp.Navigate(s.URL()+"/datasets/diff?a=customers@1&b=customers@2"),
		chromedp.WaitVisible("tr.drift"),
	))
	text, err = chromedp.Run(bctx, chromedp.Text("main"))
	step("reading the diff", err)
	for _, want := range []string{"customers.csv", "changed", "5000 → 6000", "plan", "JS", "drift"} {
		if !strings.Contains(text, want) {
			t.Errorf("diff page lacks %q", want)
		}
	}
	save("dataset-diff.png")
}
