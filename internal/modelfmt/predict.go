package modelfmt

import (
	"context"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/mlcycle/mlcycle/internal/frame"
	"github.com/mlcycle/mlcycle/internal/learn"
)

// Prediction is the model's output for one row.
type Prediction struct {
	// Classification: the predicted class (the most probable; the first in
	// Classes order on a tie), its index in Classes, and the probability of
	// every class in Classes order. Probs is reused by the next prediction
	// into the same Prediction. Class is -1 for regression.
	Label string
	Class int
	Probs []float64
	// Value is the prediction of a regression model (0 otherwise).
	Value float64
}

// Predictions is the output for many rows, column by column.
type Predictions struct {
	Task    learn.Task
	Classes []string
	Rows    int
	// Classification: Class[i] is the index in Classes of row i's label and
	// Probs[i*len(Classes):(i+1)*len(Classes)] its class probabilities.
	Class []int
	Probs []float64
	// Regression: Values[i] is row i's prediction.
	Values []float64
}

// Label is the predicted class of row i ("" for regression).
func (p *Predictions) Label(i int) string {
	if p.Class == nil {
		return ""
	}
	return p.Classes[p.Class[i]]
}

// Row copies row i into out (reusing out.Probs).
func (p *Predictions) Row(i int, out *Prediction) {
	if p.Task == learn.Regression {
		*out = Prediction{Value: p.Values[i], Class: -1, Probs: out.Probs[:0]}
		return
	}
	k := len(p.Classes)
	out.Class = p.Class[i]
	out.Label = p.Classes[out.Class]
	out.Probs = append(out.Probs[:0], p.Probs[i*k:(i+1)*k]...)
	out.Value = 0
}

// Scorer scores rows one at a time with its own buffers, so that steady
// use allocates nothing. It is not safe for concurrent use; the Model it
// comes from is, and hands out as many Scorers as needed.
type Scorer struct {
	m   *Model
	err error // the model's Check error: every prediction returns it
	x   []float64
	raw []float64
}

// NewScorer returns a Scorer for m.
func (m *Model) NewScorer() *Scorer {
	if err := m.Check(); err != nil {
		return &Scorer{m: m, err: err}
	}
	return &Scorer{m: m, x: make([]float64, m.Prep.Width()), raw: make([]float64, m.nout)}
}

// PredictRow scores one row: get returns the value of an input column and
// whether the row has it (an absent column is a missing value). See
// prep.Prep.TransformRow for the values accepted.
func (s *Scorer) PredictRow(get func(name string) (any, bool), out *Prediction) error {
	if s.err != nil {
		return s.err
	}
	x, err := s.m.Prep.TransformRow(get, s.x)
	if err != nil {
		return err
	}
	s.x = x
	s.predictFeatures(x, out)
	return nil
}

// PredictValues scores one row given as values in the order of
// m.Prep.Inputs() (nil = missing).
func (s *Scorer) PredictValues(vals []any, out *Prediction) error {
	if s.err != nil {
		return s.err
	}
	x, err := s.m.Prep.TransformValues(vals, s.x)
	if err != nil {
		return err
	}
	s.x = x
	s.predictFeatures(x, out)
	return nil
}

// predictFeatures scores one transformed row into out.
func (s *Scorer) predictFeatures(x []float64, out *Prediction) {
	m := s.m
	raw := s.raw[:m.nout]
	m.Predictor.PredictRaw(x, raw)
	switch m.Task {
	case learn.Regression:
		*out = Prediction{Value: raw[0], Class: -1, Probs: out.Probs[:0]}
		return
	case learn.Binary:
		// The positive class from p >= 0.5, the threshold the evaluation
		// metrics use, so a report and a prediction never disagree at 0.5.
		p := learn.Sigmoid(raw[0])
		out.Probs = append(out.Probs[:0], 1-p, p)
		out.Class = 0
		if p >= 0.5 {
			out.Class = 1
		}
	default:
		learn.Softmax(raw)
		out.Probs = append(out.Probs[:0], raw...)
		out.Class = argmax(out.Probs)
	}
	out.Label = m.Classes[out.Class]
	out.Value = 0
}

// argmax is the index of the largest value, the first on a tie.
func argmax(v []float64) int {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return best
}

// PredictRow scores one row (see Scorer.PredictRow) with pooled buffers; it
// is safe for concurrent use and allocates nothing in steady state when out
// is reused.
func (m *Model) PredictRow(get func(name string) (any, bool), out *Prediction) error {
	s, _ := m.scorers.Get().(*Scorer)
	if s == nil {
		if err := m.Check(); err != nil {
			return err
		}
		s = m.NewScorer()
	}
	err := s.PredictRow(get, out)
	m.scorers.Put(s)
	return err
}

// chunkRows is how many rows one unit of parallel work scores.
const chunkRows = 1024

// newPredictions allocates the output for n rows.
func (m *Model) newPredictions(n int) *Predictions {
	p := &Predictions{Task: m.Task, Classes: m.Classes, Rows: n}
	if m.Task == learn.Regression {
		p.Values = make([]float64, n)
	} else {
		p.Class = make([]int, n)
		p.Probs = make([]float64, n*len(m.Classes))
	}
	return p
}

// store writes one prediction as row i of p.
func (p *Predictions) store(i int, pr *Prediction) {
	if p.Task == learn.Regression {
		p.Values[i] = pr.Value
		return
	}
	k := len(p.Classes)
	p.Class[i] = pr.Class
	copy(p.Probs[i*k:(i+1)*k], pr.Probs)
}

// parallel runs score(s, lo, hi) over [0, n) in chunks of chunkRows on all
// cores, each worker with its own Scorer. The error of the lowest failing
// chunk is returned, so the result does not depend on scheduling; ctx is
// checked between chunks.
func (m *Model) parallel(ctx context.Context, n int, score func(s *Scorer, lo, hi int) error) error {
	chunks := (n + chunkRows - 1) / chunkRows
	workers := min(runtime.GOMAXPROCS(0), chunks)
	errs := make([]error, chunks)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			s := m.NewScorer()
			for {
				i := int(next.Add(1) - 1)
				if i >= chunks {
					return
				}
				if err := ctx.Err(); err != nil {
					errs[i] = err
					continue
				}
				lo := i * chunkRows
				errs[i] = score(s, lo, min(lo+chunkRows, n))
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// PredictMatrix scores every row of a matrix laid out by m.Prep.
func (m *Model) PredictMatrix(ctx context.Context, x *learn.Matrix) (*Predictions, error) {
	if err := m.Check(); err != nil {
		return nil, err
	}
	if x.Cols != m.Prep.Width() || x.Rows < 0 || len(x.Data) != x.Rows*x.Cols {
		return nil, invalid("matrix has %d columns (%d values for %d rows), the model takes %d", x.Cols, len(x.Data), x.Rows, m.Prep.Width())
	}
	out := m.newPredictions(x.Rows)
	err := m.parallel(ctx, x.Rows, func(s *Scorer, lo, hi int) error {
		var pr Prediction
		for i := lo; i < hi; i++ {
			s.x = x.Row(i, s.x)
			s.predictFeatures(s.x, &pr)
			out.store(i, &pr)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// PredictTable scores every row of t; t must have the model's input
// columns (others are ignored).
func (m *Model) PredictTable(ctx context.Context, t *frame.Table) (*Predictions, error) {
	if err := m.Check(); err != nil {
		return nil, err
	}
	x, err := m.Prep.Matrix(t)
	if err != nil {
		return nil, err
	}
	return m.PredictMatrix(ctx, x)
}

// PredictRows scores rows sent in the MLflow scoring protocol (see
// DecodeRequest). Every input column of the signature must be among the
// columns; extra columns are ignored; a nil value is missing.
func (m *Model) PredictRows(ctx context.Context, rows *Rows) (*Predictions, error) {
	if err := m.Check(); err != nil {
		return nil, err
	}
	idx := make(map[string]int, len(rows.Columns))
	for j, c := range rows.Columns {
		idx[c] = j
	}
	inputs := m.Prep.Inputs()
	src := make([]int, len(inputs)) // input i is column src[i] of a row
	for i, f := range inputs {
		j, ok := idx[f.Name]
		if !ok {
			return nil, invalid("input column %q is missing", f.Name)
		}
		src[i] = j
	}
	for i, r := range rows.Data {
		if len(r) != len(rows.Columns) {
			return nil, invalid("row %d has %d values for %d columns", i, len(r), len(rows.Columns))
		}
	}
	out := m.newPredictions(len(rows.Data))
	err := m.parallel(ctx, len(rows.Data), func(s *Scorer, lo, hi int) error {
		var pr Prediction
		vals := make([]any, len(src))
		for i := lo; i < hi; i++ {
			for k, j := range src {
				vals[k] = rows.Data[i][j]
			}
			if err := s.PredictValues(vals, &pr); err != nil {
				return invalid("row %d: %s", i, text(err))
			}
			out.store(i, &pr)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// PredictRecords scores records (column name -> value), as in MLflow's
// dataframe_records: every input column must appear in some record; a
// record without it has a missing value there.
func (m *Model) PredictRecords(ctx context.Context, records []map[string]any) (*Predictions, error) {
	if err := m.Check(); err != nil {
		return nil, err
	}
	inputs := m.Prep.Inputs()
	for _, f := range inputs {
		if !slices.ContainsFunc(records, func(r map[string]any) bool { _, ok := r[f.Name]; return ok }) {
			return nil, invalid("input column %q is missing", f.Name)
		}
	}
	out := m.newPredictions(len(records))
	err := m.parallel(ctx, len(records), func(s *Scorer, lo, hi int) error {
		var pr Prediction
		vals := make([]any, len(inputs))
		for i := lo; i < hi; i++ {
			for k, f := range inputs {
				vals[k] = records[i][f.Name] // nil when absent: missing
			}
			if err := s.PredictValues(vals, &pr); err != nil {
				return invalid("record %d: %s", i, text(err))
			}
			out.store(i, &pr)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
