package metrics

import (
	"math"
	"slices"
)

// Summary is the spread of one metric over cross-validation folds.
type Summary struct {
	Mean Float `json:"mean"`
	// Std is the sample standard deviation (ddof = 1, numpy.std(x, ddof=1));
	// null with fewer than two folds.
	Std Float `json:"std"`
	Min Float `json:"min"`
	Max Float `json:"max"`
	N   int   `json:"n"` // folds where the metric was defined
}

// Summarize summarises the scalar metrics of each fold (as Scalar returns
// them) by name. A metric missing from a fold or NaN/infinite there is left
// out of that fold's count.
func Summarize(folds []map[string]float64) map[string]Summary {
	vals := map[string][]float64{}
	for _, f := range folds {
		for name, v := range f {
			if !math.IsNaN(v) && !math.IsInf(v, 0) {
				vals[name] = append(vals[name], v)
			} else if _, ok := vals[name]; !ok {
				vals[name] = nil
			}
		}
	}
	out := make(map[string]Summary, len(vals))
	for name, v := range vals {
		out[name] = summarize(v)
	}
	return out
}

func summarize(v []float64) Summary {
	s := Summary{Mean: NaN(), Std: NaN(), Min: NaN(), Max: NaN(), N: len(v)}
	if len(v) == 0 {
		return s
	}
	var sum float64
	for _, x := range v {
		sum += x
	}
	mean := sum / float64(len(v))
	s.Mean = Float(mean)
	s.Min, s.Max = Float(slices.Min(v)), Float(slices.Max(v))
	if len(v) > 1 {
		var ss float64
		for _, x := range v {
			ss += (x - mean) * (x - mean)
		}
		s.Std = Float(math.Sqrt(ss / float64(len(v)-1)))
	}
	return s
}
