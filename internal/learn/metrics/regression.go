package metrics

import "math"

// RegressionReport holds the metrics of a regressor.
type RegressionReport struct {
	N    int   `json:"n"`
	RMSE Float `json:"rmse"`
	MAE  Float `json:"mae"`
	// R2 is the coefficient of determination; with constant labels it is 1
	// for a perfect prediction and 0 otherwise (scikit-learn's
	// force_finite).
	R2 Float `json:"r2"`
	// MAPE is the mean of |y - pred| / max(|y|, MAPEEps), a fraction (not a
	// percentage), as scikit-learn's mean_absolute_percentage_error: a zero
	// label makes it huge rather than infinite.
	MAPE     Float `json:"mape"`
	MaxError Float `json:"max_error"`
}

// MAPEEps bounds the denominator of MAPE away from zero: the float64
// machine epsilon, as scikit-learn uses.
const MAPEEps = 0x1p-52

// Regression evaluates predictions pred of targets y. Empty input, a length
// mismatch or a non-finite value is an error.
func Regression(y, pred []float64) (*RegressionReport, error) {
	const what = "regression metrics"
	if err := checkLen(what, len(y), len(pred)); err != nil {
		return nil, err
	}
	if err := checkFinite(what, "label", y); err != nil {
		return nil, err
	}
	if err := checkFinite(what, "prediction", pred); err != nil {
		return nil, err
	}
	n := float64(len(y))
	var mean float64
	for _, v := range y {
		mean += v
	}
	mean /= n
	var sse, sae, sape, sst, maxErr float64
	for i, v := range y {
		d := v - pred[i]
		sse += d * d
		sae += math.Abs(d)
		sape += math.Abs(d) / max(math.Abs(v), MAPEEps)
		sst += (v - mean) * (v - mean)
		maxErr = max(maxErr, math.Abs(d))
	}
	r2 := 0.0
	switch {
	case sst != 0:
		r2 = 1 - sse/sst
	case sse == 0:
		r2 = 1
	}
	return &RegressionReport{
		N:        len(y),
		RMSE:     Float(math.Sqrt(sse / n)),
		MAE:      Float(sae / n),
		R2:       Float(r2),
		MAPE:     Float(sape / n),
		MaxError: Float(maxErr),
	}, nil
}

// Scalar returns rmse, mae, r2, mape and max_error.
func (r *RegressionReport) Scalar() map[string]float64 {
	s := scalars{}
	s.add("rmse", r.RMSE)
	s.add("mae", r.MAE)
	s.add("r2", r.R2)
	s.add("mape", r.MAPE)
	s.add("max_error", r.MaxError)
	return s
}
