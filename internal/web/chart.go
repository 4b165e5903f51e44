package web

import (
	"html"
	"html/template"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/mlcycle/mlcycle/internal/plot"
)

// Chart is a line chart drawn on the server as inline SVG: no script, no
// external style, so it renders under the UI's strict CSP and without JS.
// The same input always gives the same bytes.
type Chart struct {
	Title  string
	XLabel string
	YLabel string
	// Width and Height are the size of the plot with its axes, in pixels; a
	// legend adds rows below. Zero means 480 by 260.
	Width, Height int
	Series        []Series
	// Legend forces a legend for a single series; several always get one.
	Legend bool
}

// Series is one line. Points are drawn in the order given; NaN and
// infinite values are skipped.
type Series struct {
	Name   string
	Points []Point
}

// Point is one value of a series.
type Point struct{ X, Y float64 }

// maxChartPoints bounds the points drawn per series: more cannot be told
// apart on a chart this size, and they would only bloat the page.
const maxChartPoints = 1000

// chartPalette colours series in order; it repeats after ten.
var chartPalette = [...]string{
	"#4f46e5", "#f97316", "#10b981", "#ef4444", "#0ea5e9",
	"#a855f7", "#ca8a04", "#ec4899", "#14b8a6", "#64748b",
}

// seriesColor is the colour of the i-th series, as the legend shows it.
func seriesColor(i int) string { return chartPalette[i%len(chartPalette)] }

const (
	chartFont       = "system-ui, -apple-system, Segoe UI, Roboto, sans-serif"
	legendItemWidth = 170
	legendRow       = 18
	legendNameRunes = 24
)

// SVG draws the chart.
func (c Chart) SVG() template.HTML {
	w, h := c.Width, c.Height
	if w <= 0 {
		w = 480
	}
	if h <= 0 {
		h = 260
	}
	left, right, top, bottom := 58, 16, 12, 38
	if c.Title != "" {
		top = 30
	}
	if c.YLabel != "" {
		left += 16
	}
	x0, x1 := float64(left), float64(w-right)
	y0, y1 := float64(top), float64(h-bottom)

	// Finite points only, thinned to what can be seen.
	series := make([][]Point, len(c.Series))
	lo, hi := Point{math.Inf(1), math.Inf(1)}, Point{math.Inf(-1), math.Inf(-1)}
	for i, s := range c.Series {
		pts := make([]Point, 0, len(s.Points))
		for _, p := range s.Points {
			if finite(p.X) && finite(p.Y) {
				pts = append(pts, p)
				lo.X, hi.X = math.Min(lo.X, p.X), math.Max(hi.X, p.X)
				lo.Y, hi.Y = math.Min(lo.Y, p.Y), math.Max(hi.Y, p.Y)
			}
		}
		series[i] = downsample(pts, maxChartPoints)
	}

	legend := len(c.Series) > 1 || (c.Legend && len(c.Series) == 1)
	perRow := max(1, int(x1-x0)/legendItemWidth)
	legendH := 0
	if legend {
		legendH = (len(c.Series)+perRow-1)/perRow*legendRow + 6
	}

	var b strings.Builder
	b.WriteString(`<svg xmlns="http://www.w3.org/2000/svg" class="chart-svg" width="` + itoa(w) + `" height="` + itoa(h+legendH) +
		`" viewBox="0 0 ` + itoa(w) + ` ` + itoa(h+legendH) + `" role="img" aria-label="` + esc(c.Title) +
		`" font-family="` + chartFont + `" font-size="11">`)
	b.WriteString(`<rect x="0" y="0" width="` + itoa(w) + `" height="` + itoa(h+legendH) + `" fill="#ffffff"/>`)
	if c.Title != "" {
		b.WriteString(`<text x="` + itoa(left) + `" y="18" font-size="13" font-weight="600" fill="#1f2430">` + esc(c.Title) + `</text>`)
	}

	if math.IsInf(lo.X, 1) { // nothing finite to draw
		b.WriteString(`<rect x="` + num(x0) + `" y="` + num(y0) + `" width="` + num(x1-x0) + `" height="` + num(y1-y0) +
			`" fill="none" stroke="#e4e7ec"/>`)
		b.WriteString(`<text x="` + num((x0+x1)/2) + `" y="` + num((y0+y1)/2) + `" text-anchor="middle" fill="#667085">No data</text>`)
		writeLegend(&b, c.Series, legend, perRow, left, h)
		b.WriteString(`</svg>`)
		return template.HTML(b.String())
	}

	xt, yt := plot.NiceAxis(lo.X, hi.X), plot.NiceAxis(lo.Y, hi.Y)
	sx := func(v float64) float64 { return x0 + (v-xt.Lo)/(xt.Hi-xt.Lo)*(x1-x0) }
	sy := func(v float64) float64 { return y1 - (v-yt.Lo)/(yt.Hi-yt.Lo)*(y1-y0) }

	// Grid, ticks and labels.
	b.WriteString(`<g stroke="#eef0f4" stroke-width="1">`)
	for _, v := range yt.Values {
		y := num(sy(v))
		b.WriteString(`<line x1="` + num(x0) + `" y1="` + y + `" x2="` + num(x1) + `" y2="` + y + `"/>`)
	}
	for _, v := range xt.Values {
		x := num(sx(v))
		b.WriteString(`<line x1="` + x + `" y1="` + num(y0) + `" x2="` + x + `" y2="` + num(y1) + `"/>`)
	}
	b.WriteString(`</g>`)
	b.WriteString(`<g fill="#667085">`)
	for _, v := range yt.Values {
		b.WriteString(`<text x="` + num(x0-6) + `" y="` + num(sy(v)+4) + `" text-anchor="end">` + esc(plot.FormatTick(v, yt.Step)) + `</text>`)
	}
	for _, v := range xt.Values {
		b.WriteString(`<text x="` + num(sx(v)) + `" y="` + num(y1+16) + `" text-anchor="middle">` + esc(plot.FormatTick(v, xt.Step)) + `</text>`)
	}
	if c.XLabel != "" {
		b.WriteString(`<text x="` + num((x0+x1)/2) + `" y="` + itoa(h-4) + `" text-anchor="middle">` + esc(c.XLabel) + `</text>`)
	}
	if c.YLabel != "" {
		cy := num((y0 + y1) / 2)
		b.WriteString(`<text x="12" y="` + cy + `" text-anchor="middle" transform="rotate(-90 12 ` + cy + `)">` + esc(c.YLabel) + `</text>`)
	}
	b.WriteString(`</g>`)
	b.WriteString(`<path d="M` + num(x0) + ` ` + num(y0) + `V` + num(y1) + `H` + num(x1) + `" fill="none" stroke="#98a2b3" stroke-width="1"/>`)

	// The series, the first on top of the legend order's last.
	for i := len(series) - 1; i >= 0; i-- {
		pts := series[i]
		color := seriesColor(i)
		name := esc(c.Series[i].Name)
		switch len(pts) {
		case 0:
			continue
		case 1:
			b.WriteString(`<circle class="series" cx="` + num(sx(pts[0].X)) + `" cy="` + num(sy(pts[0].Y)) + `" r="3.5" fill="` + color + `">`)
			b.WriteString(`<title>` + name + `</title></circle>`)
			continue
		}
		b.WriteString(`<polyline class="series" fill="none" stroke="` + color + `" stroke-width="1.75" stroke-linejoin="round" stroke-linecap="round" points="`)
		for j, p := range pts {
			if j > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(num(sx(p.X)) + "," + num(sy(p.Y)))
		}
		b.WriteString(`"><title>` + name + `</title></polyline>`)
	}
	writeLegend(&b, c.Series, legend, perRow, left, h)
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// writeLegend draws one swatch and name per series in rows under the plot.
func writeLegend(b *strings.Builder, series []Series, show bool, perRow, left, top int) {
	if !show {
		return
	}
	b.WriteString(`<g fill="#1f2430">`)
	for i, s := range series {
		x := left + i%perRow*legendItemWidth
		y := top + i/perRow*legendRow + 4
		b.WriteString(`<rect x="` + itoa(x) + `" y="` + itoa(y) + `" width="10" height="10" rx="2" fill="` + seriesColor(i) + `"/>`)
		b.WriteString(`<text x="` + itoa(x+15) + `" y="` + itoa(y+9) + `"><title>` + esc(s.Name) + `</title>` + esc(clipRunes(s.Name, legendNameRunes)) + `</text>`)
	}
	b.WriteString(`</g>`)
}

// downsample keeps at most n points (n >= 4): the first, the last, and the
// lowest and highest of each of equal buckets between, in their order, so
// spikes survive.
func downsample(pts []Point, n int) []Point {
	if len(pts) <= n {
		return pts
	}
	buckets := (n - 2) / 2
	inner := pts[1 : len(pts)-1]
	out := make([]Point, 0, n)
	out = append(out, pts[0])
	for k := range buckets {
		from, to := k*len(inner)/buckets, (k+1)*len(inner)/buckets
		if from == to {
			continue
		}
		lo, hi := from, from
		for i := from + 1; i < to; i++ {
			if inner[i].Y < inner[lo].Y {
				lo = i
			}
			if inner[i].Y > inner[hi].Y {
				hi = i
			}
		}
		out = append(out, inner[min(lo, hi)])
		if lo != hi {
			out = append(out, inner[max(lo, hi)])
		}
	}
	return append(out, pts[len(pts)-1])
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

func num(f float64) string { return plot.Num(f) }

func itoa(i int) string { return strconv.Itoa(i) }

// esc escapes text for SVG inside HTML.
func esc(s string) string { return html.EscapeString(s) }

// clipRunes shortens s to n runes, marking the cut.
func clipRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}
