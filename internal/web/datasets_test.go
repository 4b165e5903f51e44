package web

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mlcycle/mlcycle/internal/actor"
	"github.com/mlcycle/mlcycle/internal/audit"
	"github.com/mlcycle/mlcycle/internal/blob"
	"github.com/mlcycle/mlcycle/internal/dataset"
	"github.com/mlcycle/mlcycle/internal/frame"
	"github.com/mlcycle/mlcycle/internal/store"
	"github.com/mlcycle/mlcycle/internal/store/storetest"
)

// writeTable writes a CSV of n rows: a numeric column centred on shift and
// a categorical one drawn from cats.
func writeTable(t *testing.T, path string, n int, shift float64, cats []string) {
	t.Helper()
	var b strings.Builder
	b.WriteString("id,amount,city\n")
	for i := range n {
		amount := ""
		if i%10 != 3 { // every tenth is missing
			amount = fmt.Sprintf("%.2f", shift+float64(i%50))
		}
		fmt.Fprintf(&b, "%d,%s,%s\n", i, amount, cats[i%len(cats)])
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

type datasetEnv struct {
	*webEnv
	ds  *dataset.Service
	ctx context.Context
}

func newDatasetEnv(t *testing.T, db *store.DB) *datasetEnv {
	t.Helper()
	ctx := actor.With(context.Background(), actor.Actor{UserID: 1, Name: "alice", Role: "admin"})
	blobs, err := blob.Open(ctx, "file://"+t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { blobs.Close() })
	ds := dataset.New(db, audit.New(db, audit.Options{}), blobs, dataset.Options{
		StatePath: filepath.Join(t.TempDir(), "state.db"), Profile: dataset.TableProfiler(frame.Options{})})
	t.Cleanup(func() { ds.Close() })
	ui, err := New(Deps{Datasets: ds})
	if err != nil {
		t.Fatal(err)
	}
	env := &datasetEnv{webEnv: &webEnv{srv: httptest.NewServer(front(nil, ui.Handler()))}, ds: ds, ctx: ctx}
	t.Cleanup(env.srv.Close)
	env.client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return env
}

func (e *datasetEnv) mustGet(t *testing.T, path string, status int) webPage {
	t.Helper()
	p := e.get(t, path)
	if p.status != status {
		t.Fatalf("GET %s: %d, want %d\n%s", path, p.status, status, p.body)
	}
	return p
}

func TestDatasetPages(t *testing.T) {
	migs := append(audit.Migrations(), dataset.Migrations()...)
	storetest.Each(t, migs, func(t *testing.T, db *store.DB) {
		env := newDatasetEnv(t, db)
		dir := t.TempDir()
		writeTable(t, filepath.Join(dir, "train.csv"), 500, 0, []string{"paris", "lyon", "nice"})
		if err := os.WriteFile(filepath.Join(dir, "README.txt"), []byte("notes <b>"), 0o644); err != nil {
			t.Fatal(err)
		}
		add := func(msg string) dataset.Version {
			t.Helper()
			res, err := env.ds.Add(env.ctx, dataset.AddInput{Name: "sales", Message: msg, Paths: []string{dir}, BaseDir: dir})
			if err != nil {
				t.Fatal(err)
			}
			return res.Version
		}
		v1 := add("first <cut>")
		if _, err := env.ds.SetTag(env.ctx, v1.Ref(), "golden"); err != nil {
			t.Fatal(err)
		}
		if _, err := env.ds.LinkRun(env.ctx, dataset.LinkInput{Ref: v1.Ref(), RunID: "0123456789abcdef0123456789abcdef", Context: "training"}); err != nil {
			t.Fatal(err)
		}
		// v2: the amounts shift far, a city is replaced, a file is added and one removed.
		writeTable(t, filepath.Join(dir, "train.csv"), 600, 400, []string{"paris", "oslo", "oslo", "oslo"})
		os.Remove(filepath.Join(dir, "README.txt"))
		if err := os.WriteFile(filepath.Join(dir, "labels.txt"), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		v2 := add("second")

		p := env.mustGet(t, "/datasets", 200)
		wantContains(t, p, `class="active" aria-current="page">Datasets`, `<a href="/datasets/sales">sales</a>`,
			`<a href="/datasets/sales/2">v2</a>`, "<td>2</td>")
		wantLacks(t, p, "will arrive")

		p = env.mustGet(t, "/datasets/sales", 200)
		wantContains(t, p, "<h1>sales</h1>", `<tr id="v2">`, `<tr id="v1">`, "first &lt;cut&gt;", `<span class="badge alias">golden</span>`,
			`href="/datasets/diff?a=sales%401&amp;b=sales%402"`)
		if indexOf(p, `<tr id="v2">`) > indexOf(p, `<tr id="v1">`) {
			t.Error("versions not newest first")
		}

		p = env.mustGet(t, "/datasets/sales/1", 200)
		wantContains(t, p, "<h1>sales v1</h1>", "mlcycle://sales@1", "README.txt", "train.csv", v1.Digest, `href="/api/v1/datasets/sales@1/files/train.csv" download`, `href="/api/v1/datasets/sales@1/archive" download`,
			"500 rows · 3 columns", ">amount</td>", ">city</td>", "50 (10.0%)", // missing amounts
			`class="chart-svg histogram"`, `class="chart-svg categories"`, `<rect class="bar"`, "Histogram of amount",
			"p50", `href="/runs/0123456789abcdef0123456789abcdef"`, "training", `<span class="badge alias">golden</span>`)
		wantLacks(t, p, "Compare with the previous version")
		// A tag and latest name the same pages.
		wantContains(t, env.mustGet(t, "/datasets/sales/golden", 200), "<h1>sales v1</h1>")
		wantContains(t, env.mustGet(t, "/datasets/sales/latest", 200), "<h1>sales v2</h1>", "No run has logged this version",
			"Compare with the previous version")

		p = env.mustGet(t, "/datasets/diff?"+url.Values{"a": {"sales@1"}, "b": {v2.Ref()}}.Encode(), 200)
		wantContains(t, p, "Compare", "labels.txt", `<span class="badge ok">added</span>`, "README.txt",
			`<span class="badge bad">removed</span>`, `<span class="badge warn">changed</span>`, "Rows 500 → 600 (&#43;100)",
			`<tr class="drift">`, `<span class="badge bad">drift</span>`, "PSI ", "JS ", "Drift in 3 column(s)",
			"<td>0\u00a0…\u00a049 → 400\u00a0…\u00a0449</td>", "<td>0\u00a0…\u00a0499 → 0\u00a0…\u00a0599</td>")
		wantLacks(t, p, "could not be read")

		env.mustGet(t, "/datasets/nope", 404)
		env.mustGet(t, "/datasets/sales/9", 404)
		env.mustGet(t, "/datasets/Bad%20Name/1", 400)
		env.mustGet(t, "/datasets/diff?a=sales@1", 400)
		env.mustGet(t, "/datasets/diff?a=sales@1&b=sales@7", 404)
	})
}

func TestDatasetsEmptyAndOff(t *testing.T) {
	storetest.Each(t, append(audit.Migrations(), dataset.Migrations()...), func(t *testing.T, db *store.DB) {
		env := newDatasetEnv(t, db)
		wantContains(t, env.mustGet(t, "/datasets", 200), "No datasets yet.")
	})
	// Without a dataset service the section is announced, not served.
	e := newWebEnv(t, false)
	p := e.get(t, "/datasets")
	if p.status != 404 || !strings.Contains(p.body, "will arrive") {
		t.Errorf("datasets off: %d %q", p.status, p.body)
	}
}

func TestBarsSVG(t *testing.T) {
	h := string(Bars{Title: "h", Edges: []float64{0, 1, 2}, Values: []float64{3, 1}}.SVG())
	if strings.Count(h, `<rect class="bar"`) != 2 || !strings.Contains(h, "[0, 1): 3") {
		t.Errorf("histogram: %s", h)
	}
	c := string(Bars{Title: "c", Labels: []string{"<a>", "b"}, Values: []float64{2, 0}}.SVG())
	if strings.Count(c, `<rect class="bar"`) != 1 || !strings.Contains(c, "&lt;a&gt;") || strings.Contains(c, "<a>") {
		t.Errorf("categories: %s", c)
	}
	if e := string(Bars{}.SVG()); !strings.Contains(e, "No data") {
		t.Errorf("empty: %s", e)
	}
	one := Bars{Edges: []float64{0, 1}, Values: []float64{5}}
	if one.SVG() != one.SVG() {
		t.Error("not deterministic")
	}
}

func TestValueRange(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	tm := func(s string) *time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return &v
	}
	for _, c := range []struct {
		lo, hi   *float64
		tlo, thi *time.Time
		want     string
	}{
		{f(-2.5), f(1e6), nil, nil, "-2.5\u00a0…\u00a01000000"},
		{nil, nil, tm("2024-01-01T00:00:00Z"), tm("2024-02-28T00:00:00Z"), "2024-01-01\u00a0…\u00a02024-02-28"},
		{nil, nil, tm("2024-01-01T00:00:00+02:00"), tm("2024-01-05T10:30:00Z"), "2023-12-31\u00a022:00:00\u00a0…\u00a02024-01-05\u00a010:30:00"},
		{nil, nil, nil, nil, "—"},
		{f(1), nil, nil, nil, "—"},
	} {
		if got := valueRange(c.lo, c.hi, c.tlo, c.thi); got != c.want {
			t.Errorf("valueRange = %q, want %q", got, c.want)
		}
	}
}
