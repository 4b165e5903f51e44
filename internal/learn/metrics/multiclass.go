package metrics

import (
	"fmt"
	"math"
)

// MulticlassReport holds the metrics of a K-class classifier. The predicted
// class of a row is its most probable one (the first on a tie).
type MulticlassReport struct {
	N       int `json:"n"`
	Classes int `json:"classes"`
	// Macro averages are unweighted means over the classes that occur in
	// the labels or the predictions (scikit-learn's default label set);
	// weighted averages weigh each class by its support.
	Accuracy          Float `json:"accuracy"`
	PrecisionMacro    Float `json:"precision_macro"`
	RecallMacro       Float `json:"recall_macro"`
	F1Macro           Float `json:"f1_macro"`
	PrecisionWeighted Float `json:"precision_weighted"`
	RecallWeighted    Float `json:"recall_weighted"`
	F1Weighted        Float `json:"f1_weighted"`
	LogLoss           Float `json:"log_loss"`
	// Brier is the mean over rows of the summed squared difference between
	// the probabilities and the one-hot label (range 0..2), as
	// scikit-learn's brier_score_loss for three or more classes; with two
	// columns it is halved, as scikit-learn does.
	Brier Float `json:"brier"`
	// ROCAUC is the unweighted mean of the one-vs-rest AUCs of the classes
	// whose AUC is defined (both present and absent in the labels); null if
	// none. scikit-learn refuses when a class is missing from the labels.
	ROCAUC    Float          `json:"roc_auc"`
	PerClass  []ClassMetrics `json:"per_class"`
	Confusion [][]int        `json:"confusion"` // [actual][predicted]
}

// ClassMetrics holds the one-vs-rest metrics of one class.
type ClassMetrics struct {
	Class     int   `json:"class"`
	Support   int   `json:"support"` // rows labelled with the class
	Predicted int   `json:"predicted"`
	Precision Float `json:"precision"`
	Recall    Float `json:"recall"`
	F1        Float `json:"f1"`
	ROCAUC    Float `json:"roc_auc"`
}

// Multiclass evaluates k-class predictions: y holds class indexes 0..k-1 and
// probs the k class probabilities of each row, row-major (len(y)*k values,
// each in [0, 1], each row summing to 1 within 1e-6). Precision, recall and
// F1 are 0 when their denominator is 0. Log loss clips as LogLoss does.
func Multiclass(y, probs []float64, k int) (*MulticlassReport, error) {
	const what = "multiclass metrics"
	if k < 2 {
		return nil, fmt.Errorf("%s: %d classes, want at least 2", what, k)
	}
	n := len(y)
	if n == 0 {
		return nil, fmt.Errorf("%s: %w", what, ErrEmpty)
	}
	if len(probs) != n*k {
		return nil, fmt.Errorf("%s: %w: %d labels and %d classes need %d probabilities, got %d", what, ErrLength, n, k, n*k, len(probs))
	}
	for i, v := range y {
		if v != math.Trunc(v) || v < 0 || v >= float64(k) {
			return nil, fmt.Errorf("%s: label at row %d is %v, want a class index in 0..%d", what, i, v, k-1)
		}
	}
	for i := range n {
		row := probs[i*k : (i+1)*k]
		var s float64
		for _, q := range row {
			if !(q >= 0 && q <= 1) {
				return nil, fmt.Errorf("%s: probability at row %d is %v, want a number in [0, 1]", what, i, q)
			}
			s += q
		}
		if math.Abs(s-1) > 1e-6 {
			return nil, fmt.Errorf("%s: probabilities at row %d sum to %v, want 1", what, i, s)
		}
	}

	conf := make([][]int, k)
	for c := range conf {
		conf[c] = make([]int, k)
	}
	var correct int
	var logLoss, brier float64
	for i, v := range y {
		row := probs[i*k : (i+1)*k]
		t := int(v)
		pred := 0
		for c, q := range row {
			if q > row[pred] {
				pred = c
			}
			d := q
			if c == t {
				d = q - 1
			}
			brier += d * d
		}
		conf[t][pred]++
		if pred == t {
			correct++
		}
		logLoss -= math.Log(min(max(row[t], LogLossEps), 1-LogLossEps))
	}
	brier /= float64(n)
	if k < 3 {
		brier /= 2
	}

	r := &MulticlassReport{
		N:         n,
		Classes:   k,
		Accuracy:  Float(float64(correct) / float64(n)),
		LogLoss:   Float(logLoss / float64(n)),
		Brier:     Float(brier),
		Confusion: conf,
		PerClass:  make([]ClassMetrics, k),
	}
	var pm, rm, fm, pw, rw, fw, aucSum float64
	var labels, aucs int
	yk := make([]float64, n)
	pk := make([]float64, n)
	for c := range k {
		var tp, support, predicted int
		for a := range k {
			support += conf[c][a]
			predicted += conf[a][c]
		}
		tp = conf[c][c]
		cm := ClassMetrics{
			Class:     c,
			Support:   support,
			Predicted: predicted,
			Precision: Float(ratio(float64(tp), float64(predicted))),
			Recall:    Float(ratio(float64(tp), float64(support))),
			F1:        Float(ratio(2*float64(tp), float64(support+predicted))),
			ROCAUC:    NaN(),
		}
		if support > 0 || predicted > 0 {
			labels++
			pm += float64(cm.Precision)
			rm += float64(cm.Recall)
			fm += float64(cm.F1)
		}
		w := float64(support) / float64(n)
		pw += w * float64(cm.Precision)
		rw += w * float64(cm.Recall)
		fw += w * float64(cm.F1)
		if support > 0 && support < n {
			for i, v := range y {
				yk[i] = 0
				if int(v) == c {
					yk[i] = 1
				}
				pk[i] = probs[i*k+c]
			}
			cm.ROCAUC = Float(binaryCurve(yk, pk).rocAUC())
			aucSum += float64(cm.ROCAUC)
			aucs++
		}
		r.PerClass[c] = cm
	}
	r.PrecisionMacro = Float(pm / float64(labels))
	r.RecallMacro = Float(rm / float64(labels))
	r.F1Macro = Float(fm / float64(labels))
	r.PrecisionWeighted, r.RecallWeighted, r.F1Weighted = Float(pw), Float(rw), Float(fw)
	r.ROCAUC = NaN()
	if aucs > 0 {
		r.ROCAUC = Float(aucSum / float64(aucs))
	}
	return r, nil
}

// Scalar returns accuracy, precision, recall and f1 (macro averages),
// precision_weighted, recall_weighted, f1_weighted, roc_auc (one-vs-rest
// macro), log_loss and brier (undefined ones left out).
func (r *MulticlassReport) Scalar() map[string]float64 {
	s := scalars{}
	s.add("accuracy", r.Accuracy)
	s.add("precision", r.PrecisionMacro)
	s.add("recall", r.RecallMacro)
	s.add("f1", r.F1Macro)
	s.add("precision_weighted", r.PrecisionWeighted)
	s.add("recall_weighted", r.RecallWeighted)
	s.add("f1_weighted", r.F1Weighted)
	s.add("roc_auc", r.ROCAUC)
	s.add("log_loss", r.LogLoss)
	s.add("brier", r.Brier)
	return s
}
