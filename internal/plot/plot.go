// Package plot holds what the SVG charts of the web UI and of the
// evaluation report share: axes with round tick values and their labels.
package plot

import (
	"math"
	"strconv"
)

// Axis is a chart axis: its bounds, snapped outward to whole steps, and the
// labelled values between them.
type Axis struct {
	Lo, Hi, Step float64
	Values       []float64
}

// NiceAxis chooses about five ticks 1, 2 or 5 times a power of ten apart
// that cover [lo, hi]. A zero-width range is widened around its value.
func NiceAxis(lo, hi float64) Axis {
	if hi-lo <= 0 || !finite(hi-lo) {
		pad := math.Abs(lo) * 0.1
		if pad == 0 || !finite(pad) {
			pad = 1
		}
		lo, hi = lo-pad, hi+pad
	}
	step := niceStep((hi - lo) / 5)
	// The slack keeps rounding noise (0.0013/0.00002 = 65.00000000000001)
	// from adding a step.
	first, last := math.Floor(lo/step+1e-9), math.Ceil(hi/step-1e-9)
	const exact = 1 << 52 // beyond this, counting in whole steps loses steps
	if !finite(step) || step <= 0 || last-first > 50 || last-first < 1 || math.Abs(first) > exact || math.Abs(last) > exact {
		// Out of float precision (a huge offset and a tiny range): no ticks.
		return Axis{Lo: lo, Hi: hi, Step: hi - lo}
	}
	t := Axis{Lo: first * step, Hi: last * step, Step: step}
	for k := range int(last-first) + 1 {
		t.Values = append(t.Values, (first+float64(k))*step)
	}
	return t
}

// niceStep rounds raw up to 1, 2 or 5 times a power of ten.
func niceStep(raw float64) float64 {
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	const slack = 1 + 1e-9 // 0.0001/5 is 2.0000000000000003e-05
	switch f := raw / p; {
	case f <= slack:
		return p
	case f <= 2*slack:
		return 2 * p
	case f <= 5*slack:
		return 5 * p
	}
	return 10 * p
}

// FormatTick writes a tick value with as many decimals as its step needs.
func FormatTick(v, step float64) string {
	if math.Abs(v) < step/1e6 {
		v = 0 // not "-0" or 1e-17 from rounding
	}
	if math.Abs(v) >= 1e6 || step < 1e-4 {
		return strconv.FormatFloat(v, 'g', 4, 64)
	}
	decimals := max(0, int(-math.Floor(math.Log10(step)+1e-9)))
	return strconv.FormatFloat(v, 'f', decimals, 64)
}

// Num writes a coordinate with one decimal: enough for a screen, and stable.
func Num(f float64) string {
	s := strconv.FormatFloat(f, 'f', 1, 64)
	if s == "-0.0" {
		return "0.0"
	}
	return s
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }
