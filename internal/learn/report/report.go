// Package report builds the evaluation report that `mlcycle train` logs with
// a run: report.json (everything, machine-readable) and report.html (one
// self-contained page: inline CSS and SVG plots drawn here, no script, no
// external asset, so it renders under the UI's sandbox CSP).
//
// The report holds data, not models: the caller fills it from the metrics,
// explain and learner packages. The same Report always renders to the same
// bytes.
package report

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"

	"github.com/mlcycle/mlcycle/internal/learn"
	"github.com/mlcycle/mlcycle/internal/learn/metrics"
)

// Report is the evaluation of one trained model.
type Report struct {
	Title   string            `json:"title,omitempty"`
	Task    learn.Task        `json:"task"`
	Algo    string            `json:"algo,omitempty"` // gbdt, linear...
	Target  string            `json:"target,omitempty"`
	Classes []string          `json:"classes,omitempty"` // class labels by index (classification)
	Dataset Dataset           `json:"dataset"`
	Params  map[string]string `json:"params,omitempty"`
	Split   Split             `json:"split"`
	// Metrics are the headline scalar metrics, the numbers the run page
	// lists (undefined ones are absent). When nil, WriteJSON writes
	// Headline(): the test metrics, or the validation ones without a test
	// split.
	Metrics map[string]float64 `json:"metrics"`
	Valid   *metrics.Report    `json:"valid,omitempty"`
	Test    *metrics.Report    `json:"test,omitempty"`
	// CV summarises the scalar metrics of the cross-validation folds.
	CV map[string]metrics.Summary `json:"cv,omitempty"`
	// Loss names the loss of Rounds (e.g. log_loss, rmse).
	Loss         string                  `json:"loss,omitempty"`
	Rounds       []Round                 `json:"rounds,omitempty"`
	Importance   []Importance            `json:"importance,omitempty"`
	SHAP         *SHAPSummary            `json:"shap,omitempty"`
	Coefficients []Coefficient           `json:"coefficients,omitempty"`
	Fairness     *metrics.FairnessReport `json:"fairness,omitempty"`
}

// Dataset says what the model was trained on.
type Dataset struct {
	Name    string `json:"name,omitempty"`    // dataset name or file path
	Version string `json:"version,omitempty"` // dataset version, if any
	Digest  string `json:"digest,omitempty"`
	Rows    int    `json:"rows,omitempty"`
	Columns int    `json:"columns,omitempty"`
}

// Split gives the rows of each part and how they were drawn.
type Split struct {
	Method string `json:"method,omitempty"` // random, stratified, time
	Train  int    `json:"train"`
	Valid  int    `json:"valid"`
	Test   int    `json:"test"`
	Folds  int    `json:"folds,omitempty"` // cross-validation folds, if run
}

// Round is the loss after one boosting round or solver iteration.
type Round struct {
	Round int           `json:"round"`
	Train metrics.Float `json:"train"`
	Valid metrics.Float `json:"valid"`
}

// Importance is the importance of one input feature by the measures that
// were computed (undefined ones are null).
type Importance struct {
	Feature string `json:"feature"`
	// Gain is the total split gain of the feature in the trees.
	Gain metrics.Float `json:"gain"`
	// Permutation is the mean drop of the score when the feature is
	// shuffled, PermutationStd the spread over repeats.
	Permutation    metrics.Float `json:"permutation"`
	PermutationStd metrics.Float `json:"permutation_std"`
}

// Coefficient is one weight of a linear model, on the standardised
// columns the model sees. The intercept has Feature "(intercept)".
type Coefficient struct {
	Output  string  `json:"output,omitempty"` // class, for multiclass models
	Feature string  `json:"feature"`
	Value   float64 `json:"value"`
}

// Intercept is the Feature name of an intercept in Coefficients.
const Intercept = "(intercept)"

// SHAPSummary is the SHAP summary plot's data: per feature, the mean
// absolute contribution and a sample of (feature value rank, contribution)
// points.
type SHAPSummary struct {
	Rows     int           `json:"rows"` // rows explained
	Features []SHAPFeature `json:"features"`
}

// SHAPFeature is one feature of a SHAP summary.
type SHAPFeature struct {
	Name    string      `json:"name"`
	MeanAbs float64     `json:"mean_abs"`
	Points  []SHAPPoint `json:"points,omitempty"`
}

// SHAPPoint is one row of a SHAP summary: where the row's value of the
// feature ranks among the sampled rows (0 lowest, 1 highest; null when
// missing) and its contribution to the raw score.
type SHAPPoint struct {
	ValueRank    metrics.Float `json:"value_rank"`
	Contribution float64       `json:"contribution"`
}

// MaxSHAPPoints bounds the points kept per feature by NewSHAPSummary.
const MaxSHAPPoints = 300

// NewSHAPSummary builds the summary from the contributions of `rows` rows:
// contrib holds, row by row, `outputs` blocks of len(names)+1 values (the
// bias last), as explain.TreeSHAPMatrix returns them; values holds the same
// rows' feature values row-major (NaN = missing), or is nil. The mean
// absolute contribution adds up over outputs; points are kept for
// single-output models only (one point per row, at most MaxSHAPPoints
// rows chosen evenly). Features are sorted by mean absolute contribution,
// largest first.
func NewSHAPSummary(names []string, values, contrib []float64, outputs int) (*SHAPSummary, error) {
	f := len(names)
	if f == 0 || outputs < 1 {
		return nil, fmt.Errorf("shap summary: %d features and %d outputs", f, outputs)
	}
	block := outputs * (f + 1)
	if len(contrib) == 0 || len(contrib)%block != 0 {
		return nil, fmt.Errorf("shap summary: %d contributions are not rows of %d outputs × %d values", len(contrib), outputs, f+1)
	}
	rows := len(contrib) / block
	if values != nil && len(values) != rows*f {
		return nil, fmt.Errorf("shap summary: %d feature values for %d rows × %d features", len(values), rows, f)
	}
	s := &SHAPSummary{Rows: rows, Features: make([]SHAPFeature, f)}
	for j, name := range names {
		var sum float64
		for r := range rows {
			for k := range outputs {
				sum += math.Abs(contrib[r*block+k*(f+1)+j])
			}
		}
		s.Features[j] = SHAPFeature{Name: name, MeanAbs: sum / float64(rows)}
	}
	if outputs == 1 {
		sample := make([]int, min(rows, MaxSHAPPoints))
		for i := range sample {
			sample[i] = i * rows / len(sample)
		}
		for j := range f {
			col := make([]float64, len(sample))
			for i, r := range sample {
				col[i] = math.NaN()
				if values != nil {
					col[i] = values[r*f+j]
				}
			}
			rank := ranks(col)
			pts := make([]SHAPPoint, len(sample))
			for i, r := range sample {
				pts[i] = SHAPPoint{ValueRank: metrics.Float(rank[i]), Contribution: contrib[r*block+j]}
			}
			s.Features[j].Points = pts
		}
	}
	slices.SortStableFunc(s.Features, func(a, b SHAPFeature) int { return cmp.Compare(b.MeanAbs, a.MeanAbs) })
	return s, nil
}

// ranks maps each value to its rank among the non-missing ones, scaled to
// [0, 1], ties sharing their mean rank; NaN stays NaN.
func ranks(v []float64) []float64 {
	idx := make([]int, 0, len(v))
	for i, x := range v {
		if !math.IsNaN(x) {
			idx = append(idx, i)
		}
	}
	slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(v[a], v[b]) })
	out := make([]float64, len(v))
	for i := range out {
		out[i] = math.NaN()
	}
	n := len(idx)
	for lo := 0; lo < n; {
		hi := lo + 1
		for hi < n && v[idx[hi]] == v[idx[lo]] {
			hi++
		}
		r := 0.5
		if n > 1 {
			r = (float64(lo+hi-1) / 2) / float64(n-1)
		}
		for _, i := range idx[lo:hi] {
			out[i] = r
		}
		lo = hi
	}
	return out
}

// Headline returns the scalar metrics of the test evaluation, or of the
// validation one without a test split (nil without either). Fill
// Report.Metrics with it.
func (r *Report) Headline() map[string]float64 {
	if e := r.evaluation(); e != nil {
		return e.Scalar()
	}
	return nil
}

// evaluation is the split the plots show: test, else validation.
func (r *Report) evaluation() *metrics.Report {
	if r.Test != nil {
		return r.Test
	}
	return r.Valid
}

// WriteJSON writes the report as indented JSON (undefined values as null).
func (r *Report) WriteJSON(w io.Writer) error {
	out := *r
	src := r.Metrics
	if src == nil {
		src = r.Headline()
	}
	// JSON has no NaN: an undefined headline metric is left out.
	out.Metrics = make(map[string]float64, len(src))
	for k, v := range src {
		if finite(v) {
			out.Metrics[k] = v
		}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(&out); err != nil {
		return fmt.Errorf("writing the report json: %w", err)
	}
	return nil
}

// ReadJSON reads a report written by WriteJSON.
func ReadJSON(rd io.Reader) (*Report, error) {
	var r Report
	if err := json.NewDecoder(rd).Decode(&r); err != nil {
		return nil, fmt.Errorf("reading the report json: %w", err)
	}
	return &r, nil
}
