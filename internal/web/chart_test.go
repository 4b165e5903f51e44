package web

import (
	"flag"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

// goldenChart covers what the charts do: several series, NaN and Inf
// skipped, a single point, negative values, and text that needs escaping.
func goldenChart() Chart {
	var train, val []Point
	for i := range 21 {
		x := float64(i)
		y := 1 / (x + 1)
		switch i {
		case 5:
			y = math.NaN()
		case 7:
			y = math.Inf(1)
		}
		train = append(train, Point{x, y})
		if i%4 == 0 {
			val = append(val, Point{x, 1.2/(x+1) - 0.1})
		}
	}
	return Chart{
		Title:  `loss <train> & "val"`,
		XLabel: "step",
		YLabel: "value",
		Series: []Series{
			{Name: "train", Points: train},
			{Name: "val <b>", Points: val},
			{Name: "a run with a rather long name that gets clipped", Points: []Point{{10, 0.5}}},
		},
	}
}

func TestChartGolden(t *testing.T) {
	got := string(goldenChart().SVG())
	if again := string(goldenChart().SVG()); again != got {
		t.Fatal("the same chart drew differently twice")
	}
	path := filepath.Join("testdata", "chart.golden.svg")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run TestChartGolden -update to create it)", err)
	}
	if got+"\n" != string(want) {
		t.Errorf("chart differs from %s (if the change is intended, rerun with -update):\n%s", path, got)
	}
}

func TestChartContent(t *testing.T) {
	svg := string(goldenChart().SVG())
	for _, want := range []string{
		`aria-label="loss &lt;train&gt; &amp; &#34;val&#34;"`,
		`>loss &lt;train&gt; &amp; &#34;val&#34;</text>`,
		`<title>val &lt;b&gt;</title>`,
		`<circle class="series"`, // the single point
		`>a run with a rather lon…</text>`,
		`>step</text>`, `>value</text>`,
	} {
		if !strings.Contains(svg, want) {
			t.Errorf("chart lacks %s:\n%s", want, svg)
		}
	}
	for _, bad := range []string{"NaN", "Inf", "<b>", "style="} {
		if strings.Contains(svg, bad) {
			t.Errorf("chart contains %q", bad)
		}
	}
	if n := strings.Count(svg, "<polyline"); n != 2 {
		t.Errorf("%d polylines, want 2", n)
	}
	// 21 points, less the NaN and the Inf.
	train := svg[strings.LastIndex(svg, `<polyline`):]
	train = train[strings.Index(train, `points="`)+8:]
	train = train[:strings.Index(train, `"`)]
	if n := len(strings.Fields(train)); n != 19 {
		t.Errorf("train line has %d points, want 19", n)
	}

	empty := string(Chart{Title: "nothing", Series: []Series{{Name: "x", Points: []Point{{0, math.NaN()}, {math.Inf(1), 1}}}}}.SVG())
	if !strings.Contains(empty, ">No data</text>") || strings.Contains(empty, "<polyline") {
		t.Errorf("chart without finite points:\n%s", empty)
	}
	flat := string(Chart{Series: []Series{{Points: []Point{{0, 3}, {1, 3}, {2, 3}}}}}.SVG())
	if !strings.Contains(flat, "<polyline") || strings.Contains(flat, "NaN") {
		t.Errorf("flat series:\n%s", flat)
	}
}

func TestDownsample(t *testing.T) {
	var pts []Point
	for i := range 10_000 {
		pts = append(pts, Point{float64(i), math.Sin(float64(i) / 100)})
	}
	pts[4321].Y = 50  // a spike
	pts[7777].Y = -50 // and a dip
	got := downsample(pts, maxChartPoints)
	if len(got) > maxChartPoints {
		t.Fatalf("%d points, want at most %d", len(got), maxChartPoints)
	}
	if got[0] != pts[0] || got[len(got)-1] != pts[len(pts)-1] {
		t.Error("first or last point dropped")
	}
	var spike, dip bool
	for i, p := range got {
		spike = spike || p == pts[4321]
		dip = dip || p == pts[7777]
		if i > 0 && p.X <= got[i-1].X {
			t.Fatalf("points out of order at %d", i)
		}
	}
	if !spike || !dip {
		t.Error("an extreme point was dropped")
	}
	short := pts[:10]
	if got := downsample(short, maxChartPoints); !reflect.DeepEqual(got, short) {
		t.Error("a short series was changed")
	}
}
