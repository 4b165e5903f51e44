package web

import (
	"html/template"
	"math"
	"strings"
)

// Bars is a bar chart drawn as inline SVG, like Chart: a histogram when
// Edges are given (len(Values)+1 bin edges, bars touching), or horizontal
// category bars when Labels are given.
type Bars struct {
	Title         string
	Width, Height int // zero means 320 by 160
	Edges         []float64
	Labels        []string
	Values        []float64
}

// SVG draws the chart.
func (c Bars) SVG() template.HTML {
	w, h := c.Width, c.Height
	if w <= 0 {
		w = 320
	}
	if h <= 0 {
		h = 160
	}
	var b strings.Builder
	kind := "histogram"
	if len(c.Labels) > 0 {
		kind = "categories"
	}
	b.WriteString(`<svg xmlns="http://www.w3.org/2000/svg" class="chart-svg ` + kind + `" width="` + itoa(w) + `" height="` + itoa(h) +
		`" viewBox="0 0 ` + itoa(w) + ` ` + itoa(h) + `" role="img" aria-label="` + esc(c.Title) +
		`" font-family="` + chartFont + `" font-size="11">`)
	b.WriteString(`<rect x="0" y="0" width="` + itoa(w) + `" height="` + itoa(h) + `" fill="#ffffff"/>`)
	top := 8
	if c.Title != "" {
		top = 24
		b.WriteString(`<text x="8" y="16" font-size="12" font-weight="600" fill="#1f2430">` + esc(c.Title) + `</text>`)
	}
	peak := 0.0
	for _, v := range c.Values {
		if finite(v) {
			peak = math.Max(peak, v)
		}
	}
	if peak <= 0 {
		b.WriteString(`<text x="` + itoa(w/2) + `" y="` + itoa((h+top)/2) + `" text-anchor="middle" fill="#667085">No data</text></svg>`)
		return template.HTML(b.String())
	}
	if len(c.Labels) > 0 {
		c.drawCategories(&b, w, h, top, peak)
	} else {
		c.drawHistogram(&b, w, h, top, peak)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

func (c Bars) drawHistogram(b *strings.Builder, w, h, top int, peak float64) {
	left, right, bottom := 8.0, 8.0, 20.0
	x0, x1, y0, y1 := left, float64(w)-right, float64(top), float64(h)-bottom
	n := len(c.Values)
	bw := (x1 - x0) / float64(n)
	for i, v := range c.Values {
		if !finite(v) || v <= 0 {
			continue
		}
		bh := (y1 - y0) * v / peak
		title := fmtValue(v)
		if len(c.Edges) == n+1 {
			title = "[" + fmtValue(c.Edges[i]) + ", " + fmtValue(c.Edges[i+1]) + "): " + fmtValue(v)
		}
		b.WriteString(`<rect class="bar" x="` + num(x0+float64(i)*bw+0.5) + `" y="` + num(y1-bh) + `" width="` + num(math.Max(bw-1, 1)) +
			`" height="` + num(bh) + `" fill="` + seriesColor(0) + `"><title>` + esc(title) + `</title></rect>`)
	}
	b.WriteString(`<line x1="` + num(x0) + `" y1="` + num(y1) + `" x2="` + num(x1) + `" y2="` + num(y1) + `" stroke="#98a2b3"/>`)
	if len(c.Edges) == n+1 && n > 0 {
		b.WriteString(`<text x="` + num(x0) + `" y="` + num(y1+14) + `" fill="#667085">` + esc(fmtValue(c.Edges[0])) + `</text>`)
		b.WriteString(`<text x="` + num(x1) + `" y="` + num(y1+14) + `" text-anchor="end" fill="#667085">` + esc(fmtValue(c.Edges[n])) + `</text>`)
	}
}

func (c Bars) drawCategories(b *strings.Builder, w, h, top int, peak float64) {
	labelW, right := 110.0, 48.0
	n := min(len(c.Labels), len(c.Values))
	row := math.Min(18, float64(h-top-4)/float64(n))
	x0, x1 := 8+labelW, float64(w)-right
	for i := range n {
		y := float64(top) + float64(i)*row
		v := c.Values[i]
		b.WriteString(`<text x="` + num(x0-6) + `" y="` + num(y+row*0.7) + `" text-anchor="end" fill="#1f2430">` + esc(clipRunes(c.Labels[i], 16)) + `</text>`)
		if finite(v) && v > 0 {
			b.WriteString(`<rect class="bar" x="` + num(x0) + `" y="` + num(y+1) + `" width="` + num(math.Max((x1-x0)*v/peak, 1)) +
				`" height="` + num(math.Max(row-3, 1)) + `" fill="` + seriesColor(1) + `"><title>` + esc(c.Labels[i]+": "+fmtValue(v)) + `</title></rect>`)
		}
		b.WriteString(`<text x="` + num(float64(w)-4) + `" y="` + num(y+row*0.7) + `" text-anchor="end" fill="#667085">` + esc(fmtValue(v)) + `</text>`)
	}
}
