package linear

import (
	"encoding/json"
	"fmt"
	"math"

	"github.com/mlcycle/mlcycle/internal/learn"
)

// Model is a fitted linear model: raw score k of a row x is
// Intercept(k) + Σ_j Coef(k)[j]·x[j]. Binary models have one score (the
// log-odds of class 1), multiclass models one per class (softmax logits),
// regression models one (the prediction).
type Model struct {
	task      learn.Task
	numClass  int
	names     []string
	intercept []float64   // one per raw score
	coef      [][]float64 // one row of len(names) per raw score

	// Iterations is the number of solver iterations run (coordinate
	// descent passes or proximal gradient steps); Converged reports whether
	// the stopping rule was met before max_iter. A fit that did not converge
	// is still a usable model.
	Iterations int
	Converged  bool
	// Objective is the final value of the penalised objective (see Params).
	Objective float64
	// Params are the parameters the model was trained with; Threads is not
	// saved (it does not change the model) and reads back as 0.
	Params Params
}

var _ learn.LinearModel = (*Model)(nil)

// Task returns the task the model was trained for.
func (m *Model) Task() learn.Task { return m.task }

// NumClass is 2 for binary, K for multiclass and 0 for regression.
func (m *Model) NumClass() int { return m.numClass }

// Features returns the names of the feature columns, in order.
func (m *Model) Features() []string { return m.names }

// Intercept returns the intercept of raw score k.
func (m *Model) Intercept(k int) float64 { return m.intercept[k] }

// Coef returns the coefficients of raw score k (shared storage; do not modify).
func (m *Model) Coef(k int) []float64 { return m.coef[k] }

// PredictRaw writes the raw scores of row x into out. NaN features are
// treated as 0 (the mean, for standardised inputs) so a missing value never
// turns the whole score into NaN; serving imputes before it gets here.
func (m *Model) PredictRaw(x []float64, out []float64) {
	for k, w := range m.coef {
		s := m.intercept[k]
		for j, wj := range w {
			if v := x[j]; wj != 0 && v == v {
				s += wj * v
			}
		}
		out[k] = s
	}
}

// modelFormat tags the JSON so a loader can tell what it holds.
const modelFormat = "mlcycle-linear/1"

type modelJSON struct {
	Format     string      `json:"format"`
	Task       learn.Task  `json:"task"`
	NumClass   int         `json:"num_class"`
	Features   []string    `json:"features"`
	Intercept  []float64   `json:"intercept"`
	Coef       [][]float64 `json:"coef"`
	Iterations int         `json:"iterations"`
	Converged  bool        `json:"converged"`
	Objective  float64     `json:"objective"`
	Params     paramsJSON  `json:"params"`
}

type paramsJSON struct {
	Alpha        float64 `json:"alpha"`
	L1Ratio      float64 `json:"l1_ratio"`
	FitIntercept bool    `json:"fit_intercept"`
	MaxIter      int     `json:"max_iter"`
	Tol          float64 `json:"tol"`
	Seed         uint64  `json:"seed"`
}

// MarshalJSON encodes the model; the same model always gives the same bytes.
func (m *Model) MarshalJSON() ([]byte, error) {
	if err := validate(m); err != nil {
		return nil, fmt.Errorf("encode linear model: %w", err)
	}
	obj := m.Objective
	if math.IsNaN(obj) || math.IsInf(obj, 0) {
		obj = 0
	}
	p := m.Params
	return json.Marshal(modelJSON{
		Format:     modelFormat,
		Task:       m.task,
		NumClass:   m.numClass,
		Features:   m.names,
		Intercept:  m.intercept,
		Coef:       m.coef,
		Iterations: m.Iterations,
		Converged:  m.Converged,
		Objective:  obj,
		Params: paramsJSON{
			Alpha: p.Alpha, L1Ratio: p.L1Ratio, FitIntercept: p.FitIntercept,
			MaxIter: p.MaxIter, Tol: p.Tol, Seed: p.Seed,
		},
	})
}

// Unmarshal decodes and validates a model written by MarshalJSON. Any
// inconsistency (wrong lengths, non-finite numbers, unknown task) is an
// error; it never panics.
func Unmarshal(data []byte) (*Model, error) {
	var j modelJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return nil, fmt.Errorf("decode linear model: %w", err)
	}
	if j.Format != modelFormat {
		return nil, fmt.Errorf("decode linear model: format %q, want %q", j.Format, modelFormat)
	}
	p := Params{
		Alpha: j.Params.Alpha, L1Ratio: j.Params.L1Ratio, FitIntercept: j.Params.FitIntercept,
		MaxIter: j.Params.MaxIter, Tol: j.Params.Tol, Seed: j.Params.Seed,
	}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("decode linear model: %w", err)
	}
	if j.Iterations < 0 || math.IsNaN(j.Objective) || math.IsInf(j.Objective, 0) {
		return nil, fmt.Errorf("decode linear model: bad iterations or objective")
	}
	m := &Model{
		task: j.Task, numClass: j.NumClass, names: j.Features,
		intercept: j.Intercept, coef: j.Coef,
		Iterations: j.Iterations, Converged: j.Converged, Objective: j.Objective, Params: p,
	}
	if m.names == nil {
		m.names = []string{}
	}
	if err := validate(m); err != nil {
		return nil, fmt.Errorf("decode linear model: %w", err)
	}
	return m, nil
}

// maxClasses bounds the number of classes a model may declare.
const maxClasses = 1 << 16

// validate checks the model's shape and that every number is finite.
func validate(m *Model) error {
	switch m.task {
	case learn.Binary:
		if m.numClass != 2 {
			return fmt.Errorf("binary model with num_class %d, want 2", m.numClass)
		}
	case learn.Multiclass:
		if m.numClass < 2 || m.numClass > maxClasses {
			return fmt.Errorf("multiclass model with num_class %d, want 2..%d", m.numClass, maxClasses)
		}
	case learn.Regression:
		if m.numClass != 0 {
			return fmt.Errorf("regression model with num_class %d, want 0", m.numClass)
		}
	default:
		return fmt.Errorf("unknown task %q", m.task)
	}
	k := m.task.Outputs(m.numClass)
	if len(m.intercept) != k || len(m.coef) != k {
		return fmt.Errorf("%d intercepts and %d coefficient rows, want %d each", len(m.intercept), len(m.coef), k)
	}
	for c, b := range m.intercept {
		if math.IsNaN(b) || math.IsInf(b, 0) {
			return fmt.Errorf("intercept %d is not finite", c)
		}
	}
	for c, w := range m.coef {
		if len(w) != len(m.names) {
			return fmt.Errorf("coefficient row %d has %d values for %d features", c, len(w), len(m.names))
		}
		for j, v := range w {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("coefficient %d of row %d is not finite", j, c)
			}
		}
	}
	return nil
}
