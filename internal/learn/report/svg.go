package report

import (
	"html"
	"html/template"
	"math"
	"strconv"
	"strings"

	"github.com/mlcycle/mlcycle/internal/learn/metrics"
	"github.com/mlcycle/mlcycle/internal/plot"
)

// The plots are inline SVG written here, in the style of the web UI's
// charts (internal/web/chart.go, which this leaf package may not import; the
// axes and tick labels of both come from internal/plot):
// white background, light grid, the same palette and font. Every text is
// escaped; numbers are written with fixed precision so the same input
// gives the same bytes.

var palette = [...]string{"#4f46e5", "#f97316", "#10b981", "#ef4444", "#0ea5e9", "#a855f7", "#ca8a04", "#ec4899"}

const font = "system-ui, -apple-system, Segoe UI, Roboto, sans-serif"

type pt struct{ x, y float64 }

type series struct {
	name    string
	pts     []pt
	markers bool // draw a dot at each point
	dashed  bool
}

// lineChart is an x/y chart of a few series.
type lineChart struct {
	title, xLabel, yLabel string
	series                []series
	// unit fixes both axes to [0, 1]; diagonal adds the y = x reference.
	unit, diagonal bool
}

const (
	chartW, chartH = 420, 300
	padL, padR     = 56, 16
	padT, padB     = 30, 42
)

func (c lineChart) svg() template.HTML {
	var b strings.Builder
	legendRows := 0
	if len(c.series) > 1 {
		legendRows = len(c.series)
	}
	h := chartH + legendRows*16
	open(&b, chartW, h, c.title)
	x0, x1 := float64(padL), float64(chartW-padR)
	y0, y1 := float64(padT), float64(chartH-padB)

	lo, hi := pt{math.Inf(1), math.Inf(1)}, pt{math.Inf(-1), math.Inf(-1)}
	for _, s := range c.series {
		for _, p := range s.pts {
			if finite(p.x) && finite(p.y) {
				lo.x, hi.x = min(lo.x, p.x), max(hi.x, p.x)
				lo.y, hi.y = min(lo.y, p.y), max(hi.y, p.y)
			}
		}
	}
	if c.unit {
		lo, hi = pt{0, 0}, pt{1, 1}
	}
	if math.IsInf(lo.x, 1) {
		b.WriteString(`<text x="` + num((x0+x1)/2) + `" y="` + num((y0+y1)/2) + `" text-anchor="middle" fill="#667085">No data</text></svg>`)
		return template.HTML(b.String())
	}
	xt, yt := plot.NiceAxis(lo.x, hi.x), plot.NiceAxis(lo.y, hi.y)
	sx := func(v float64) float64 { return x0 + (v-xt.Lo)/(xt.Hi-xt.Lo)*(x1-x0) }
	sy := func(v float64) float64 { return y1 - (v-yt.Lo)/(yt.Hi-yt.Lo)*(y1-y0) }
	axes(&b, xt, yt, sx, sy, x0, x1, y0, y1, c.xLabel, c.yLabel)
	if c.diagonal {
		b.WriteString(`<line x1="` + num(sx(0)) + `" y1="` + num(sy(0)) + `" x2="` + num(sx(1)) + `" y2="` + num(sy(1)) +
			`" stroke="#98a2b3" stroke-dasharray="4 4"/>`)
	}
	for i := len(c.series) - 1; i >= 0; i-- {
		s := c.series[i]
		color := palette[i%len(palette)]
		var line strings.Builder
		for _, p := range s.pts {
			if !finite(p.x) || !finite(p.y) {
				continue
			}
			if line.Len() > 0 {
				line.WriteByte(' ')
			}
			line.WriteString(num(sx(p.x)) + "," + num(sy(p.y)))
		}
		dash := ""
		if s.dashed {
			dash = ` stroke-dasharray="6 3"`
		}
		b.WriteString(`<polyline class="series" fill="none" stroke="` + color + `" stroke-width="1.75" stroke-linejoin="round"` + dash +
			` points="` + line.String() + `"><title>` + esc(s.name) + `</title></polyline>`)
		if s.markers {
			for _, p := range s.pts {
				if finite(p.x) && finite(p.y) {
					b.WriteString(`<circle cx="` + num(sx(p.x)) + `" cy="` + num(sy(p.y)) + `" r="3" fill="` + color + `"/>`)
				}
			}
		}
	}
	if legendRows > 0 {
		for i, s := range c.series {
			y := chartH + i*16
			b.WriteString(`<rect x="` + itoa(padL) + `" y="` + itoa(y) + `" width="10" height="10" rx="2" fill="` + palette[i%len(palette)] + `"/>`)
			b.WriteString(`<text x="` + itoa(padL+15) + `" y="` + itoa(y+9) + `" fill="#1f2430">` + esc(s.name) + `</text>`)
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// bar is one horizontal bar.
type bar struct {
	label string
	value float64
	err   float64 // half-width of an error whisker, 0 for none
}

// barChart draws horizontal bars from zero; negative values go left.
func barChart(title string, bars []bar) template.HTML {
	const labelW, rowH, right = 150.0, 18.0, 64.0
	h := padT + int(rowH)*len(bars) + 12
	var b strings.Builder
	open(&b, chartW+80, h, title)
	lo, hi := 0.0, 0.0
	for _, r := range bars {
		if finite(r.value) {
			lo, hi = min(lo, r.value-r.err), max(hi, r.value+r.err)
		}
	}
	if hi == lo {
		hi = lo + 1
	}
	x0, x1 := labelW+8, float64(chartW+80)-right
	sx := func(v float64) float64 { return x0 + (v-lo)/(hi-lo)*(x1-x0) }
	zero := sx(0)
	b.WriteString(`<line x1="` + num(zero) + `" y1="` + itoa(padT-4) + `" x2="` + num(zero) + `" y2="` + itoa(h-8) + `" stroke="#98a2b3"/>`)
	for i, r := range bars {
		y := float64(padT) + float64(i)*rowH
		b.WriteString(`<text x="` + num(labelW) + `" y="` + num(y+rowH*0.7) + `" text-anchor="end" fill="#1f2430"><title>` + esc(r.label) + `</title>` +
			esc(clip(r.label, 22)) + `</text>`)
		if finite(r.value) {
			xa, xb := min(zero, sx(r.value)), max(zero, sx(r.value))
			b.WriteString(`<rect class="bar" x="` + num(xa) + `" y="` + num(y+2) + `" width="` + num(max(xb-xa, 1)) + `" height="` + num(rowH-5) +
				`" fill="` + palette[0] + `"><title>` + esc(r.label+": "+fmtNum(r.value)) + `</title></rect>`)
			if r.err > 0 {
				cy := num(y + rowH/2 - 0.5)
				b.WriteString(`<line x1="` + num(sx(r.value-r.err)) + `" y1="` + cy + `" x2="` + num(sx(r.value+r.err)) + `" y2="` + cy + `" stroke="#1f2430"/>`)
			}
		}
		b.WriteString(`<text x="` + num(float64(chartW+80)-4) + `" y="` + num(y+rowH*0.7) + `" text-anchor="end" fill="#667085">` + esc(fmtNum(r.value)) + `</text>`)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// shapChart draws a SHAP summary: one row per feature, a dot per sampled
// row at its contribution, coloured from blue (low feature value) to red
// (high; grey when missing), spread vertically by a fixed jitter; features
// without points get a bar of their mean |SHAP| instead.
func shapChart(s *SHAPSummary, maxFeatures int) template.HTML {
	feats := s.Features[:min(len(s.Features), maxFeatures)]
	hasPoints := false
	for _, f := range feats {
		hasPoints = hasPoints || len(f.Points) > 0
	}
	if !hasPoints {
		bars := make([]bar, len(feats))
		for i, f := range feats {
			bars[i] = bar{label: f.Name, value: f.MeanAbs}
		}
		return barChart("Mean |SHAP value| per feature", bars)
	}
	const labelW, rowH = 150.0, 24.0
	w := chartW + 80
	h := padT + int(rowH)*len(feats) + padB
	var b strings.Builder
	open(&b, w, h, "SHAP summary (contribution to the raw score)")
	lo, hi := 0.0, 0.0
	for _, f := range feats {
		for _, p := range f.Points {
			lo, hi = min(lo, p.Contribution), max(hi, p.Contribution)
		}
	}
	xt := plot.NiceAxis(lo, hi)
	x0, x1 := labelW+8, float64(w-padR)
	y0, y1 := float64(padT), float64(padT)+rowH*float64(len(feats))
	sx := func(v float64) float64 { return x0 + (v-xt.Lo)/(xt.Hi-xt.Lo)*(x1-x0) }
	b.WriteString(`<g fill="#667085">`)
	for _, v := range xt.Values {
		x := num(sx(v))
		b.WriteString(`<line x1="` + x + `" y1="` + num(y0) + `" x2="` + x + `" y2="` + num(y1) + `" stroke="#eef0f4"/>`)
		b.WriteString(`<text x="` + x + `" y="` + num(y1+16) + `" text-anchor="middle">` + esc(plot.FormatTick(v, xt.Step)) + `</text>`)
	}
	b.WriteString(`<text x="` + num((x0+x1)/2) + `" y="` + itoa(h-6) + `" text-anchor="middle">SHAP value (blue: low feature value, red: high)</text></g>`)
	b.WriteString(`<line x1="` + num(sx(0)) + `" y1="` + num(y0) + `" x2="` + num(sx(0)) + `" y2="` + num(y1) + `" stroke="#98a2b3"/>`)
	for i, f := range feats {
		y := y0 + float64(i)*rowH
		b.WriteString(`<text x="` + num(labelW) + `" y="` + num(y+rowH*0.6) + `" text-anchor="end" fill="#1f2430"><title>` +
			esc(f.Name+": mean |SHAP| "+fmtNum(f.MeanAbs)) + `</title>` + esc(clip(f.Name, 22)) + `</text>`)
		for k, p := range f.Points {
			// A fixed, well-spread jitter: the golden-ratio sequence.
			j := math.Mod(float64(k)*0.6180339887498949, 1)
			b.WriteString(`<circle cx="` + num(sx(p.Contribution)) + `" cy="` + num(y+3+j*(rowH-6)) + `" r="2" fill="` + rankColor(p.ValueRank) + `" fill-opacity="0.75"/>`)
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// rankColor blends blue (rank 0) to red (rank 1); grey when missing.
func rankColor(r metrics.Float) string {
	if !r.Defined() {
		return "#98a2b3"
	}
	t := min(max(float64(r), 0), 1)
	c := func(a, b float64) string { return hex2(a + (b-a)*t) }
	return "#" + c(0x1e, 0xef) + c(0x88, 0x44) + c(0xe5, 0x44)
}

func hex2(v float64) string {
	s := strconv.FormatInt(int64(math.Round(v)), 16)
	if len(s) < 2 {
		s = "0" + s
	}
	return s
}

// open starts an SVG of w x h with a white background and a title.
func open(b *strings.Builder, w, h int, title string) {
	b.WriteString(`<svg xmlns="http://www.w3.org/2000/svg" class="plot" width="` + itoa(w) + `" height="` + itoa(h) +
		`" viewBox="0 0 ` + itoa(w) + ` ` + itoa(h) + `" role="img" aria-label="` + esc(title) + `" font-family="` + font + `" font-size="11">`)
	b.WriteString(`<rect x="0" y="0" width="` + itoa(w) + `" height="` + itoa(h) + `" fill="#ffffff"/>`)
	b.WriteString(`<text x="8" y="18" font-size="13" font-weight="600" fill="#1f2430">` + esc(title) + `</text>`)
}

func axes(b *strings.Builder, xt, yt plot.Axis, sx, sy func(float64) float64, x0, x1, y0, y1 float64, xLabel, yLabel string) {
	b.WriteString(`<g stroke="#eef0f4">`)
	for _, v := range yt.Values {
		y := num(sy(v))
		b.WriteString(`<line x1="` + num(x0) + `" y1="` + y + `" x2="` + num(x1) + `" y2="` + y + `"/>`)
	}
	for _, v := range xt.Values {
		x := num(sx(v))
		b.WriteString(`<line x1="` + x + `" y1="` + num(y0) + `" x2="` + x + `" y2="` + num(y1) + `"/>`)
	}
	b.WriteString(`</g><g fill="#667085">`)
	for _, v := range yt.Values {
		b.WriteString(`<text x="` + num(x0-6) + `" y="` + num(sy(v)+4) + `" text-anchor="end">` + esc(plot.FormatTick(v, yt.Step)) + `</text>`)
	}
	for _, v := range xt.Values {
		b.WriteString(`<text x="` + num(sx(v)) + `" y="` + num(y1+16) + `" text-anchor="middle">` + esc(plot.FormatTick(v, xt.Step)) + `</text>`)
	}
	b.WriteString(`<text x="` + num((x0+x1)/2) + `" y="` + num(y1+34) + `" text-anchor="middle">` + esc(xLabel) + `</text>`)
	cy := num((y0 + y1) / 2)
	b.WriteString(`<text x="14" y="` + cy + `" text-anchor="middle" transform="rotate(-90 14 ` + cy + `)">` + esc(yLabel) + `</text></g>`)
	b.WriteString(`<path d="M` + num(x0) + ` ` + num(y0) + `V` + num(y1) + `H` + num(x1) + `" fill="none" stroke="#98a2b3"/>`)
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

func num(f float64) string { return plot.Num(f) }

func itoa(i int) string { return strconv.Itoa(i) }

func esc(s string) string { return html.EscapeString(s) }

func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// fmtNum writes a metric value for people: five significant digits, "–"
// when undefined.
func fmtNum(v float64) string {
	if !finite(v) {
		return "–"
	}
	return strconv.FormatFloat(v, 'g', 5, 64)
}
