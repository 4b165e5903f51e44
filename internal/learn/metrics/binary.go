package metrics

import (
	"cmp"
	"fmt"
	"math"
	"slices"
)

// BinaryReport holds the metrics of a binary classifier.
type BinaryReport struct {
	N         int     `json:"n"`
	Positives int     `json:"positives"`
	Threshold float64 `json:"threshold"` // p >= Threshold predicts class 1
	Accuracy  Float   `json:"accuracy"`
	Precision Float   `json:"precision"`
	Recall    Float   `json:"recall"`
	F1        Float   `json:"f1"`
	ROCAUC    Float   `json:"roc_auc"` // null when one class is present
	PRAUC     Float   `json:"pr_auc"`  // average precision; null without positives
	LogLoss   Float   `json:"log_loss"`
	Brier     Float   `json:"brier"`
	// Confusion is [actual][predicted]: [[TN, FP], [FN, TP]], as
	// scikit-learn's confusion_matrix lays it out.
	Confusion   [][]int          `json:"confusion"`
	ROC         []ROCPoint       `json:"roc,omitempty"`
	PR          []PRPoint        `json:"pr,omitempty"`
	Calibration []CalibrationBin `json:"calibration"`
}

// ROCPoint is one point of a ROC curve: the rates when rows scoring at or
// above Threshold are predicted positive (the first point has an infinite
// threshold, null in JSON).
type ROCPoint struct {
	FPR       float64 `json:"fpr"`
	TPR       float64 `json:"tpr"`
	Threshold Float   `json:"threshold"`
}

// PRPoint is one point of a precision-recall curve (the first point,
// recall 0 and precision 1, has no threshold).
type PRPoint struct {
	Recall    float64 `json:"recall"`
	Precision float64 `json:"precision"`
	Threshold Float   `json:"threshold"`
}

// CalibrationBin is one non-empty bin of a calibration curve.
type CalibrationBin struct {
	Lower            float64 `json:"lower"`
	Upper            float64 `json:"upper"`
	MeanPredicted    float64 `json:"mean_predicted"`
	FractionPositive float64 `json:"fraction_positive"`
	Count            int     `json:"count"`
}

// MaxCurvePoints bounds the points kept in a report's ROC and PR curves, for
// plotting; the areas are computed on every point before thinning.
const MaxCurvePoints = 200

// CalibrationBins is the number of uniform bins of a report's calibration
// curve.
const CalibrationBins = 10

// LogLossEps is the clipping of probabilities before the logarithm,
// [eps, 1-eps] with eps the float64 machine epsilon (2.22e-16), as
// scikit-learn's log_loss does since 1.5.
const LogLossEps = 0x1p-52

// Binary evaluates binary predictions: y holds 0/1 labels and p the
// probability of class 1. Rows with p >= threshold are predicted positive.
// Precision, recall and F1 are 0 when their denominator is 0 (scikit-learn's
// zero_division default). Empty input, a length mismatch, a label other than
// 0/1 or a probability outside [0, 1] is an error; one class present is not,
// and leaves ROC AUC (and PR AUC without positives) undefined.
func Binary(y, p []float64, threshold float64) (*BinaryReport, error) {
	if err := checkBinary("binary metrics", y, p); err != nil {
		return nil, err
	}
	if !(threshold >= 0 && threshold <= 1) {
		return nil, fmt.Errorf("binary metrics: threshold %v, want a number in [0, 1]", threshold)
	}
	var tn, fp, fn, tp int
	for i, v := range y {
		pred := p[i] >= threshold
		switch {
		case v == 1 && pred:
			tp++
		case v == 1:
			fn++
		case pred:
			fp++
		default:
			tn++
		}
	}
	n := len(y)
	prec := ratio(float64(tp), float64(tp+fp))
	rec := ratio(float64(tp), float64(tp+fn))
	r := &BinaryReport{
		N:         n,
		Positives: tp + fn,
		Threshold: threshold,
		Accuracy:  Float(float64(tp+tn) / float64(n)),
		Precision: Float(prec),
		Recall:    Float(rec),
		F1:        Float(ratio(2*float64(tp), float64(2*tp+fp+fn))),
		ROCAUC:    NaN(),
		PRAUC:     NaN(),
		LogLoss:   Float(binaryLogLoss(y, p)),
		Brier:     Float(binaryBrier(y, p)),
		Confusion: [][]int{{tn, fp}, {fn, tp}},
	}
	c := binaryCurve(y, p)
	if c.pos > 0 && c.neg > 0 {
		r.ROCAUC = Float(c.rocAUC())
	}
	if c.pos > 0 {
		r.PRAUC = Float(c.averagePrecision())
		r.PR = thin(c.prPoints(), MaxCurvePoints)
	}
	if c.pos > 0 && c.neg > 0 {
		r.ROC = thin(c.rocPoints(), MaxCurvePoints)
	}
	r.Calibration = calibration(y, p, CalibrationBins)
	return r, nil
}

// Scalar returns accuracy, precision, recall, f1, roc_auc, pr_auc,
// log_loss and brier (undefined ones left out).
func (r *BinaryReport) Scalar() map[string]float64 {
	s := scalars{}
	s.add("accuracy", r.Accuracy)
	s.add("precision", r.Precision)
	s.add("recall", r.Recall)
	s.add("f1", r.F1)
	s.add("roc_auc", r.ROCAUC)
	s.add("pr_auc", r.PRAUC)
	s.add("log_loss", r.LogLoss)
	s.add("brier", r.Brier)
	return s
}

// ROCAUC is the area under the ROC curve of scores p for 0/1 labels y, with
// tied scores forming one step (a diagonal segment), as scikit-learn's
// roc_auc_score. It is an error (ErrOneClass) unless both classes occur.
// Scores need not be probabilities.
func ROCAUC(y, p []float64) (float64, error) {
	if err := checkScores("roc auc", y, p); err != nil {
		return 0, err
	}
	c := binaryCurve(y, p)
	if c.pos == 0 || c.neg == 0 {
		return 0, fmt.Errorf("roc auc: %w", ErrOneClass)
	}
	return c.rocAUC(), nil
}

// AveragePrecision is the area under the precision-recall curve as
// scikit-learn's average_precision_score computes it: the sum over
// thresholds of precision times the recall gained, no interpolation. It is
// an error (ErrOneClass) without positives.
func AveragePrecision(y, p []float64) (float64, error) {
	if err := checkScores("average precision", y, p); err != nil {
		return 0, err
	}
	c := binaryCurve(y, p)
	if c.pos == 0 {
		return 0, fmt.Errorf("average precision: no positives: %w", ErrOneClass)
	}
	return c.averagePrecision(), nil
}

// LogLoss is the mean negative log-likelihood of 0/1 labels y under the
// probabilities p of class 1, clipped to [LogLossEps, 1-LogLossEps].
func LogLoss(y, p []float64) (float64, error) {
	if err := checkBinary("log loss", y, p); err != nil {
		return 0, err
	}
	return binaryLogLoss(y, p), nil
}

// Brier is the mean squared difference between p and the 0/1 labels y
// (scikit-learn's brier_score_loss for binary targets).
func Brier(y, p []float64) (float64, error) {
	if err := checkBinary("brier score", y, p); err != nil {
		return 0, err
	}
	return binaryBrier(y, p), nil
}

// Calibration is the reliability curve of p over n uniform bins of [0, 1],
// as scikit-learn's calibration_curve with strategy="uniform": a bin holds
// the probabilities in (lower, upper] (the first also holds 0); empty bins
// are left out.
func Calibration(y, p []float64, n int) ([]CalibrationBin, error) {
	if err := checkBinary("calibration curve", y, p); err != nil {
		return nil, err
	}
	if n < 1 {
		return nil, fmt.Errorf("calibration curve: %d bins, want at least 1", n)
	}
	return calibration(y, p, n), nil
}

func checkScores(what string, y, p []float64) error {
	if err := checkLen(what, len(y), len(p)); err != nil {
		return err
	}
	for i, v := range y {
		if v != 0 && v != 1 {
			return fmt.Errorf("%s: label at row %d is %v, want 0 or 1", what, i, v)
		}
	}
	return checkFinite(what, "score", p)
}

func binaryLogLoss(y, p []float64) float64 {
	var s float64
	for i, v := range y {
		q := p[i]
		if v == 0 {
			q = 1 - q
		}
		s -= math.Log(min(max(q, LogLossEps), 1-LogLossEps))
	}
	return s / float64(len(y))
}

func binaryBrier(y, p []float64) float64 {
	var s float64
	for i, v := range y {
		d := p[i] - v
		s += d * d
	}
	return s / float64(len(y))
}

// curve holds the cumulative counts at each distinct score, highest first:
// predicting positive every row scoring >= thr[i] gives tps[i] true and
// fps[i] false positives.
type curve struct {
	thr      []float64
	tps, fps []float64
	pos, neg int
}

func binaryCurve(y, p []float64) curve {
	idx := make([]int, len(p))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(p[b], p[a]) })
	var c curve
	var tp, fp float64
	for k, i := range idx {
		if y[i] == 1 {
			tp++
		} else {
			fp++
		}
		if k == len(idx)-1 || p[idx[k+1]] != p[i] {
			c.thr = append(c.thr, p[i])
			c.tps = append(c.tps, tp)
			c.fps = append(c.fps, fp)
		}
	}
	c.pos, c.neg = int(tp), int(fp)
	return c
}

// rocAUC integrates the ROC curve by trapezoids on the counts, which makes
// a run of tied scores one diagonal segment.
func (c curve) rocAUC() float64 {
	var area, ptp, pfp float64
	for i := range c.thr {
		area += (c.fps[i] - pfp) * (c.tps[i] + ptp)
		ptp, pfp = c.tps[i], c.fps[i]
	}
	return area / (2 * float64(c.pos) * float64(c.neg))
}

func (c curve) averagePrecision() float64 {
	var ap, ptp float64
	for i := range c.thr {
		ap += (c.tps[i] - ptp) / float64(c.pos) * c.tps[i] / (c.tps[i] + c.fps[i])
		ptp = c.tps[i]
	}
	return ap
}

// rocPoints is the ROC curve from (0, 0), without the points lying on a
// straight line between their neighbours (scikit-learn's drop_intermediate).
func (c curve) rocPoints() []ROCPoint {
	pts := []ROCPoint{{0, 0, Float(math.Inf(1))}}
	n := len(c.thr)
	for i := range n {
		if i > 0 && i < n-1 &&
			c.fps[i+1]-2*c.fps[i]+c.fps[i-1] == 0 && c.tps[i+1]-2*c.tps[i]+c.tps[i-1] == 0 {
			continue
		}
		pts = append(pts, ROCPoint{
			FPR:       c.fps[i] / float64(c.neg),
			TPR:       c.tps[i] / float64(c.pos),
			Threshold: Float(c.thr[i]),
		})
	}
	return pts
}

func (c curve) prPoints() []PRPoint {
	pts := []PRPoint{{Recall: 0, Precision: 1, Threshold: NaN()}}
	for i := range c.thr {
		pts = append(pts, PRPoint{
			Recall:    c.tps[i] / float64(c.pos),
			Precision: c.tps[i] / (c.tps[i] + c.fps[i]),
			Threshold: Float(c.thr[i]),
		})
	}
	return pts
}

// thin keeps at most n points evenly spread by index, always the first and
// the last.
func thin[T any](pts []T, n int) []T {
	if len(pts) <= n {
		return pts
	}
	out := make([]T, n)
	for k := range n {
		out[k] = pts[k*(len(pts)-1)/(n-1)]
	}
	return out
}

func calibration(y, p []float64, n int) []CalibrationBin {
	// Edges as numpy's linspace(0, 1, n+1) computes them: i * (1/n).
	step := 1 / float64(n)
	sum := make([]float64, n)
	pos := make([]float64, n)
	cnt := make([]int, n)
	for i, v := range p {
		// The bin is the number of inner edges strictly below v
		// (numpy.searchsorted, side left).
		b := calibrationBin(n, step, v)
		sum[b] += v
		pos[b] += y[i]
		cnt[b]++
	}
	var out []CalibrationBin
	for b := range n {
		if cnt[b] == 0 {
			continue
		}
		upper := float64(b+1) * step
		if b == n-1 {
			upper = 1
		}
		out = append(out, CalibrationBin{
			Lower:            float64(b) * step,
			Upper:            upper,
			MeanPredicted:    sum[b] / float64(cnt[b]),
			FractionPositive: pos[b] / float64(cnt[b]),
			Count:            cnt[b],
		})
	}
	return out
}

// calibrationBin is the number of inner edges k*step (k = 1..n-1) strictly
// below v, as numpy.searchsorted(edges[1:-1], v) with side left.
func calibrationBin(n int, step, v float64) int {
	b := min(max(int(v/step), 0), n-1)
	for b > 0 && float64(b)*step >= v {
		b--
	}
	for b < n-1 && float64(b+1)*step < v {
		b++
	}
	return b
}
