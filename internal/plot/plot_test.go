package plot

import (
	"math"
	"testing"
)

func TestNiceAxis(t *testing.T) {
	tests := []struct {
		lo, hi float64
		want   []float64
	}{
		{0, 1, []float64{0, 0.2, 0.4, 0.6000000000000001, 0.8, 1}},
		{0, 49, []float64{0, 10, 20, 30, 40, 50}},
		{-3, 7, []float64{-4, -2, 0, 2, 4, 6, 8}},
		{1, 1001, []float64{0, 200, 400, 600, 800, 1000, 1200}},
		{5, 5, []float64{4.4, 4.6, 4.8, 5, 5.2, 5.4, 5.6}},
		{0, 0, []float64{-1, -0.5, 0, 0.5, 1}},
		{0.0012, 0.0013, []float64{0.0012, 0.00122, 0.00124, 0.00126, 0.00128, 0.0013}},
	}
	for _, tc := range tests {
		got := NiceAxis(tc.lo, tc.hi)
		if len(got.Values) != len(tc.want) {
			t.Errorf("NiceAxis(%v, %v) = %v, want %v", tc.lo, tc.hi, got.Values, tc.want)
			continue
		}
		for i := range got.Values {
			if math.Abs(got.Values[i]-tc.want[i]) > 1e-12 {
				t.Errorf("NiceAxis(%v, %v) = %v, want %v", tc.lo, tc.hi, got.Values, tc.want)
				break
			}
		}
		if got.Lo > tc.lo+1e-12 || got.Hi < tc.hi-1e-12 {
			t.Errorf("NiceAxis(%v, %v) bounds [%v, %v] do not cover the range", tc.lo, tc.hi, got.Lo, got.Hi)
		}
	}
	// Out of float precision: no ticks, but no panic or endless loop.
	if got := NiceAxis(1e17, 1e17+16); len(got.Values) > 50 {
		t.Errorf("%d ticks", len(got.Values))
	}
}

func TestFormatTick(t *testing.T) {
	for _, tc := range []struct {
		v, step float64
		want    string
	}{
		{0.6000000000000001, 0.2, "0.6"},
		{-1e-17, 0.2, "0.0"},
		{0, 5, "0"},
		{150, 50, "150"},
		{0.00124, 0.00002, "0.00124"},
		{2e6, 1e6, "2e+06"},
		{-2.5, 0.5, "-2.5"},
	} {
		if got := FormatTick(tc.v, tc.step); got != tc.want {
			t.Errorf("FormatTick(%v, %v) = %q, want %q", tc.v, tc.step, got, tc.want)
		}
	}
}
