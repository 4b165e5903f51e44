// Package learn holds what every native learner shares: the task kinds, the
// dense feature matrix learners train on, the tree structure that gradient
// boosting produces and explanations walk, and the Predictor interface that
// evaluation, explanations and serving call.
//
// Sub-packages: prep (preprocessing that travels with the model), gbdt
// (histogram gradient-boosted trees), linear (linear, logistic and softmax
// regression), metrics (evaluation and fairness), explain (TreeSHAP, linear
// contributions, permutation importance), search (grid/random search with
// successive halving).
package learn

import (
	"fmt"
	"math"
)

// Task is what a model predicts.
type Task string

// Tasks.
const (
	Binary     Task = "binary"     // two classes; one raw score, probability = sigmoid(raw)
	Multiclass Task = "multiclass" // K classes; K raw scores, probabilities = softmax(raw)
	Regression Task = "regression" // one raw score, the prediction itself
)

// ParseTask reads a task name; "" and "auto" are not tasks and are refused
// here (the caller infers them from the target column).
func ParseTask(s string) (Task, error) {
	switch t := Task(s); t {
	case Binary, Multiclass, Regression:
		return t, nil
	}
	return "", fmt.Errorf("unknown task %q (want binary, multiclass or regression)", s)
}

// Outputs is the number of raw scores a model of this task writes per row.
func (t Task) Outputs(numClass int) int {
	if t == Multiclass {
		return numClass
	}
	return 1
}

// Matrix is a dense feature matrix stored column by column: column j is
// Data[j*Rows : (j+1)*Rows]. NaN marks a missing value. A categorical column
// holds category codes 0..Categories[j]-1 as float64 (NaN when missing);
// Categories[j] is 0 for a numeric column.
type Matrix struct {
	Rows       int
	Cols       int
	Data       []float64
	Names      []string
	Categories []int
}

// NewMatrix allocates a Rows x Cols matrix of numeric columns named
// names (len(names) must equal cols).
func NewMatrix(rows int, names []string) *Matrix {
	return &Matrix{
		Rows:       rows,
		Cols:       len(names),
		Data:       make([]float64, rows*len(names)),
		Names:      names,
		Categories: make([]int, len(names)),
	}
}

// Col returns column j (shared storage).
func (m *Matrix) Col(j int) []float64 { return m.Data[j*m.Rows : (j+1)*m.Rows] }

// At returns the value at row i, column j.
func (m *Matrix) At(i, j int) float64 { return m.Data[j*m.Rows+i] }

// Row copies row i into dst (grown as needed) and returns it.
func (m *Matrix) Row(i int, dst []float64) []float64 {
	if cap(dst) < m.Cols {
		dst = make([]float64, m.Cols)
	}
	dst = dst[:m.Cols]
	for j := range dst {
		dst[j] = m.Data[j*m.Rows+i]
	}
	return dst
}

// Take returns a new matrix holding the rows idx, in that order.
func (m *Matrix) Take(idx []int) *Matrix {
	out := &Matrix{Rows: len(idx), Cols: m.Cols, Data: make([]float64, len(idx)*m.Cols), Names: m.Names, Categories: m.Categories}
	for j := 0; j < m.Cols; j++ {
		src, dst := m.Col(j), out.Col(j)
		for k, i := range idx {
			dst[k] = src[i]
		}
	}
	return out
}

// Predictor scores rows of a Matrix laid out like the one it was trained on.
type Predictor interface {
	// Task and NumClass describe the outputs (NumClass is 2 for binary and 0
	// for regression).
	Task() Task
	NumClass() int
	// PredictRaw writes the raw scores of one row (len(x) == number of
	// feature columns, NaN = missing) into out (len Task().Outputs(NumClass())).
	PredictRaw(x []float64, out []float64)
}

// Output turns raw scores into the prediction a user sees, in place:
// probability of the positive class for binary (sigmoid), class
// probabilities for multiclass (softmax), the value itself for regression.
func Output(t Task, raw []float64) {
	switch t {
	case Binary:
		raw[0] = Sigmoid(raw[0])
	case Multiclass:
		Softmax(raw)
	}
}

// Sigmoid is the logistic function, stable for large |x|.
func Sigmoid(x float64) float64 {
	if x >= 0 {
		return 1 / (1 + math.Exp(-x))
	}
	e := math.Exp(x)
	return e / (1 + e)
}

// Softmax replaces v by its softmax, in place, stable for large values.
func Softmax(v []float64) {
	mx := math.Inf(-1)
	for _, x := range v {
		mx = max(mx, x)
	}
	var s float64
	for i, x := range v {
		v[i] = math.Exp(x - mx)
		s += v[i]
	}
	for i := range v {
		v[i] /= s
	}
}

// PredictMatrix scores every row of m with p and returns the user-facing
// outputs row by row: out[i*k : (i+1)*k] for k = p.Task().Outputs(p.NumClass()).
func PredictMatrix(p Predictor, m *Matrix) []float64 {
	k := p.Task().Outputs(p.NumClass())
	out := make([]float64, m.Rows*k)
	row := make([]float64, m.Cols)
	for i := 0; i < m.Rows; i++ {
		row = m.Row(i, row)
		o := out[i*k : (i+1)*k]
		p.PredictRaw(row, o)
		Output(p.Task(), o)
	}
	return out
}

// TreeEnsemble is a Predictor that sums trees: raw score k of a row is
// Base()[k] plus the values of the leaves it reaches in Trees(k).
// Explanations (TreeSHAP) walk it.
type TreeEnsemble interface {
	Predictor
	Base() []float64
	Trees(k int) []Tree
}

// LinearModel is a Predictor whose raw score k is
// Intercept(k) + sum_j Coef(k)[j] * x[j] over the matrix columns.
type LinearModel interface {
	Predictor
	Intercept(k int) float64
	Coef(k int) []float64
}
