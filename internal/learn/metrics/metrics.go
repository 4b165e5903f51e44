// Package metrics evaluates predictions: binary and multiclass
// classification, regression, cross-validation summaries and group fairness.
//
// Every metric follows scikit-learn's definition so numbers can be compared
// with Python; where scikit-learn has a choice (zero division, clipping, tie
// handling) the doc comment of the function says which one is taken. The
// tests check the values against numbers scikit-learn produced
// (testdata/sklearn_reference.py).
//
// Undefined values (AUC with one class present, a ratio over zero) are NaN
// in Go and null in JSON (see Float); Scalar maps leave them out.
package metrics

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/mlcycle/mlcycle/internal/learn"
)

// Float is a metric value that may be undefined. NaN and infinities encode
// as JSON null, and null decodes to NaN, so a report always serialises.
type Float float64

// NaN is the undefined value.
func NaN() Float { return Float(math.NaN()) }

// Defined reports whether f is a finite number.
func (f Float) Defined() bool { return !math.IsNaN(float64(f)) && !math.IsInf(float64(f), 0) }

// MarshalJSON implements json.Marshaler.
func (f Float) MarshalJSON() ([]byte, error) {
	if !f.Defined() {
		return []byte("null"), nil
	}
	return strconv.AppendFloat(nil, float64(f), 'g', -1, 64), nil
}

// UnmarshalJSON implements json.Unmarshaler.
func (f *Float) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*f = NaN()
		return nil
	}
	var v float64
	if err := json.Unmarshal(b, &v); err != nil {
		return fmt.Errorf("metric value: %w", err)
	}
	*f = Float(v)
	return nil
}

// Errors returned for bad input; wrapped with detail, test with errors.Is.
var (
	ErrEmpty    = errors.New("no rows to evaluate")
	ErrLength   = errors.New("length mismatch")
	ErrOneClass = errors.New("only one class present")
)

// Report holds the metrics of one task; exactly one of Binary, Multiclass
// and Regression is set, matching Task.
type Report struct {
	Task       learn.Task        `json:"task"`
	Binary     *BinaryReport     `json:"binary,omitempty"`
	Multiclass *MulticlassReport `json:"multiclass,omitempty"`
	Regression *RegressionReport `json:"regression,omitempty"`
}

// DefaultThreshold is the probability at or above which Evaluate predicts
// the positive class.
const DefaultThreshold = 0.5

// Evaluate computes the metrics of task from the user-facing outputs that
// learn.PredictMatrix returns: the probability of class 1 per row (binary),
// numClass probabilities per row, row-major (multiclass), or the predicted
// values (regression). y holds 0/1, class indexes or target values.
func Evaluate(task learn.Task, y, out []float64, numClass int) (*Report, error) {
	r := &Report{Task: task}
	var err error
	switch task {
	case learn.Binary:
		r.Binary, err = Binary(y, out, DefaultThreshold)
	case learn.Multiclass:
		r.Multiclass, err = Multiclass(y, out, numClass)
	case learn.Regression:
		r.Regression, err = Regression(y, out)
	default:
		return nil, fmt.Errorf("evaluate: unknown task %q", task)
	}
	if err != nil {
		return nil, err
	}
	return r, nil
}

// Scalar flattens the scalar metrics under stable names (see the Scalar
// method of each task's report); undefined values are left out.
func (r *Report) Scalar() map[string]float64 {
	switch {
	case r == nil:
		return map[string]float64{}
	case r.Binary != nil:
		return r.Binary.Scalar()
	case r.Multiclass != nil:
		return r.Multiclass.Scalar()
	case r.Regression != nil:
		return r.Regression.Scalar()
	}
	return map[string]float64{}
}

// GreaterIsBetter reports whether a larger value of the named scalar metric
// is better (accuracy, AUC, F1, R²...) rather than worse (losses and errors).
func GreaterIsBetter(name string) bool {
	switch name {
	case "log_loss", "brier", "rmse", "mae", "mape", "max_error":
		return false
	}
	return true
}

// scalars collects the defined values of pairs name, value.
type scalars map[string]float64

func (s scalars) add(name string, v Float) {
	if v.Defined() {
		s[name] = float64(v)
	}
}

// checkLen validates two parallel inputs.
func checkLen(what string, n, m int) error {
	if n == 0 {
		return fmt.Errorf("%s: %w", what, ErrEmpty)
	}
	if n != m {
		return fmt.Errorf("%s: %w: %d labels, %d predictions", what, ErrLength, n, m)
	}
	return nil
}

// checkBinary validates 0/1 labels and probabilities in [0, 1].
func checkBinary(what string, y, p []float64) error {
	if err := checkLen(what, len(y), len(p)); err != nil {
		return err
	}
	for i, v := range y {
		if v != 0 && v != 1 {
			return fmt.Errorf("%s: label at row %d is %v, want 0 or 1", what, i, v)
		}
	}
	for i, v := range p {
		if !(v >= 0 && v <= 1) {
			return fmt.Errorf("%s: probability at row %d is %v, want a number in [0, 1]", what, i, v)
		}
	}
	return nil
}

// checkFinite validates regression targets or predictions.
func checkFinite(what, name string, v []float64) error {
	for i, x := range v {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return fmt.Errorf("%s: %s at row %d is %v, want a finite number", what, name, i, x)
		}
	}
	return nil
}

// ratio is a/b, or 0 when b is 0 (scikit-learn's zero_division default).
func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}
