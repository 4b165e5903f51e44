package metrics

import (
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/mlcycle/mlcycle/internal/learn"
)

// tol allows for summation order: scikit-learn and this package add the
// same terms in different orders.
const tol = 1e-12

func near(t *testing.T, name string, got, want float64) {
	t.Helper()
	if math.IsInf(want, 1) && math.IsInf(got, 1) {
		return
	}
	if math.Abs(got-want) > tol*max(1, math.Abs(want)) {
		t.Errorf("%s = %.17g, want %.17g (scikit-learn)", name, got, want)
	}
}

func nearAll(t *testing.T, name string, got, want []float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s has %d values, want %d (scikit-learn): %v vs %v", name, len(got), len(want), got, want)
		return
	}
	for i := range got {
		near(t, name+"["+itoa(i)+"]", got[i], want[i])
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func flat(m [][]int) []float64 {
	var out []float64
	for _, r := range m {
		for _, v := range r {
			out = append(out, float64(v))
		}
	}
	return out
}

func TestBinaryMatchesSklearn(t *testing.T) {
	cases := []struct {
		name                                   string
		y, p                                   []float64
		acc, prec, rec, f1, auc, ap, ll, brier float64
		conf                                   []float64
		rocFPR, rocTPR, rocThr                 []float64
		prP, prR, prThr                        []float64
		calFrac, calMean                       []float64
	}{
		{"ties", tiesY, tiesP, tiesAccuracy, tiesPrecision, tiesRecall, tiesF1, tiesROCAUC, tiesAP, tiesLogLoss, tiesBrier,
			tiesConfusion, tiesROCFPR, tiesROCTPR, tiesROCThr, tiesPRPrecision, tiesPRRecall, tiesPRThr, tiesCalFrac, tiesCalMean},
		{"imbalanced", imbY, imbP, imbAccuracy, imbPrecision, imbRecall, imbF1, imbROCAUC, imbAP, imbLogLoss, imbBrier,
			imbConfusion, imbROCFPR, imbROCTPR, imbROCThr, imbPRPrecision, imbPRRecall, imbPRThr, imbCalFrac, imbCalMean},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, err := Binary(c.y, c.p, 0.5)
			if err != nil {
				t.Fatal(err)
			}
			near(t, "accuracy", float64(r.Accuracy), c.acc)
			near(t, "precision", float64(r.Precision), c.prec)
			near(t, "recall", float64(r.Recall), c.rec)
			near(t, "f1", float64(r.F1), c.f1)
			near(t, "roc_auc", float64(r.ROCAUC), c.auc)
			near(t, "pr_auc", float64(r.PRAUC), c.ap)
			near(t, "log_loss", float64(r.LogLoss), c.ll)
			near(t, "brier", float64(r.Brier), c.brier)
			nearAll(t, "confusion", flat(r.Confusion), c.conf)

			var fpr, tpr, thr []float64
			for _, pt := range r.ROC {
				fpr, tpr, thr = append(fpr, pt.FPR), append(tpr, pt.TPR), append(thr, float64(pt.Threshold))
			}
			nearAll(t, "roc fpr", fpr, c.rocFPR)
			nearAll(t, "roc tpr", tpr, c.rocTPR)
			nearAll(t, "roc threshold", thr, c.rocThr)

			var prec, rec, prThr []float64
			for i, pt := range r.PR {
				prec, rec = append(prec, pt.Precision), append(rec, pt.Recall)
				if i > 0 {
					prThr = append(prThr, float64(pt.Threshold))
				}
			}
			nearAll(t, "pr precision", prec, c.prP)
			nearAll(t, "pr recall", rec, c.prR)
			nearAll(t, "pr threshold", prThr, c.prThr)

			var frac, mean []float64
			n := 0
			for _, b := range r.Calibration {
				frac, mean = append(frac, b.FractionPositive), append(mean, b.MeanPredicted)
				n += b.Count
			}
			nearAll(t, "calibration fraction", frac, c.calFrac)
			nearAll(t, "calibration mean", mean, c.calMean)
			if n != len(c.y) {
				t.Errorf("calibration counts sum to %d, want %d", n, len(c.y))
			}

			// The standalone functions agree with the report.
			auc, err := ROCAUC(c.y, c.p)
			near(t, "ROCAUC()", auc, c.auc)
			ap, err2 := AveragePrecision(c.y, c.p)
			near(t, "AveragePrecision()", ap, c.ap)
			ll, err3 := LogLoss(c.y, c.p)
			near(t, "LogLoss()", ll, c.ll)
			br, err4 := Brier(c.y, c.p)
			near(t, "Brier()", br, c.brier)
			if err := errors.Join(err, err2, err3, err4); err != nil {
				t.Fatal(err)
			}

			s := r.Scalar()
			for _, k := range []string{"accuracy", "precision", "recall", "f1", "roc_auc", "pr_auc", "log_loss", "brier"} {
				if _, ok := s[k]; !ok {
					t.Errorf("Scalar() lacks %q: %v", k, s)
				}
			}
		})
	}
}

func TestMulticlassMatchesSklearn(t *testing.T) {
	cases := []struct {
		name                                        string
		y, p                                        []float64
		k                                           int
		acc, pm, rm, fm, pw, rw, fw, ll, brier, auc float64
		conf                                        []float64
	}{
		{"three classes", mc3Y, mc3P, 3, mc3Accuracy, mc3PrecisionMacro, mc3RecallMacro, mc3F1Macro,
			mc3PrecisionWeighted, mc3RecallWeighted, mc3F1Weighted, mc3LogLoss, mc3Brier, mc3ROCAUC, mc3Confusion},
		{"unused class", mc4Y, mc4P, 4, mc4Accuracy, mc4PrecisionMacro, mc4RecallMacro, mc4F1Macro,
			mc4PrecisionWeighted, mc4RecallWeighted, mc4F1Weighted, mc4LogLoss, mc4Brier, math.NaN(), mc4Confusion},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, err := Multiclass(c.y, c.p, c.k)
			if err != nil {
				t.Fatal(err)
			}
			near(t, "accuracy", float64(r.Accuracy), c.acc)
			near(t, "precision macro", float64(r.PrecisionMacro), c.pm)
			near(t, "recall macro", float64(r.RecallMacro), c.rm)
			near(t, "f1 macro", float64(r.F1Macro), c.fm)
			near(t, "precision weighted", float64(r.PrecisionWeighted), c.pw)
			near(t, "recall weighted", float64(r.RecallWeighted), c.rw)
			near(t, "f1 weighted", float64(r.F1Weighted), c.fw)
			near(t, "log_loss", float64(r.LogLoss), c.ll)
			near(t, "brier", float64(r.Brier), c.brier)
			nearAll(t, "confusion", flat(r.Confusion), c.conf)
			if !math.IsNaN(c.auc) {
				near(t, "roc_auc", float64(r.ROCAUC), c.auc)
			}
		})
	}
}

func TestRegressionMatchesSklearn(t *testing.T) {
	r, err := Regression(regY, regP)
	if err != nil {
		t.Fatal(err)
	}
	near(t, "rmse", float64(r.RMSE), regRMSE)
	near(t, "mae", float64(r.MAE), regMAE)
	near(t, "r2", float64(r.R2), regR2)
	near(t, "mape", float64(r.MAPE), regMAPE)
	near(t, "max_error", float64(r.MaxError), regMaxError)
	c, err := Regression([]float64{2, 2, 2}, []float64{2, 2.5, 1})
	if err != nil {
		t.Fatal(err)
	}
	near(t, "r2 of constant labels", float64(c.R2), regConstR2)
	if s := r.Scalar(); len(s) != 5 {
		t.Errorf("Scalar() = %v, want rmse, mae, r2, mape, max_error", s)
	}
}

func TestSummarize(t *testing.T) {
	var folds []map[string]float64
	for i, v := range cvFolds {
		f := map[string]float64{"roc_auc": v, "only_first": 1}
		if i > 0 {
			delete(f, "only_first")
			f["nan"] = math.NaN()
		}
		folds = append(folds, f)
	}
	s := Summarize(folds)
	auc := s["roc_auc"]
	near(t, "mean", float64(auc.Mean), cvMean)
	near(t, "std (ddof=1)", float64(auc.Std), cvStd)
	near(t, "min", float64(auc.Min), 0.79)
	near(t, "max", float64(auc.Max), 0.86)
	if auc.N != 5 {
		t.Errorf("N = %d, want 5", auc.N)
	}
	if one := s["only_first"]; one.N != 1 || one.Mean != 1 || one.Std.Defined() {
		t.Errorf("one fold: %+v, want N 1, mean 1, std undefined", one)
	}
	if nan := s["nan"]; nan.N != 0 || nan.Mean.Defined() {
		t.Errorf("all NaN: %+v, want N 0 and nothing defined", nan)
	}
	if _, err := json.Marshal(s); err != nil {
		t.Fatalf("summary does not serialise: %v", err)
	}
}

// TestFairness checks a hand-computed example. Ten rows, groups a and b:
//
//	group a (6 rows): y = 1 1 1 0 0 0, pred = 1 1 0 1 0 0
//	  selected 3/6 = 0.5; TPR 2/3; FPR 1/3; accuracy (2+2)/6 = 2/3
//	group b (4 rows): y = 1 1 0 0, pred = 1 0 0 0
//	  selected 1/4 = 0.25; TPR 1/2; FPR 0/2 = 0; accuracy 3/4
//
// demographic parity difference 0.5-0.25 = 0.25, ratio 0.25/0.5 = 0.5 < 0.8
// (fails the four-fifths rule; b's impact ratio 0.5, a is the reference);
// TPR difference 2/3-1/2 = 1/6, FPR difference 1/3-0 = 1/3, equalized odds
// difference max(1/6, 1/3) = 1/3.
func TestFairness(t *testing.T) {
	y := []float64{1, 1, 1, 0, 0, 0, 1, 1, 0, 0}
	pred := []float64{1, 1, 0, 1, 0, 0, 1, 0, 0, 0}
	g := []string{"a", "a", "a", "a", "a", "a", "b", "b", "b", "b"}
	r, err := Fairness("sex", y, pred, g)
	if err != nil {
		t.Fatal(err)
	}
	a, b := r.Groups[0], r.Groups[1]
	checks := []struct {
		name      string
		got, want float64
	}{
		{"a count", float64(a.Count), 6},
		{"a selection", float64(a.SelectionRate), 0.5},
		{"a tpr", float64(a.TPR), 2.0 / 3},
		{"a fpr", float64(a.FPR), 1.0 / 3},
		{"a accuracy", float64(a.Accuracy), 2.0 / 3},
		{"b count", float64(b.Count), 4},
		{"b selection", float64(b.SelectionRate), 0.25},
		{"b tpr", float64(b.TPR), 0.5},
		{"b fpr", float64(b.FPR), 0},
		{"b accuracy", float64(b.Accuracy), 0.75},
		{"b impact ratio", float64(b.ImpactRatio), 0.5},
		{"dp difference", float64(r.DemographicParityDifference), 0.25},
		{"dp ratio", float64(r.DemographicParityRatio), 0.5},
		{"tpr difference", float64(r.TPRDifference), 1.0 / 6},
		{"fpr difference", float64(r.FPRDifference), 1.0 / 3},
		{"eo difference", float64(r.EqualizedOddsDifference), 1.0 / 3},
	}
	for _, c := range checks {
		if math.Abs(c.got-c.want) > 1e-15 {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if !r.FourFifthsFail || !b.BelowFourFifths || a.BelowFourFifths || r.Reference != "a" {
		t.Errorf("four-fifths: fail %v, a below %v, b below %v, reference %q; want true, false, true, a",
			r.FourFifthsFail, a.BelowFourFifths, b.BelowFourFifths, r.Reference)
	}
	if s := r.Scalar(); s["fairness_four_fifths_fail"] != 1 || s["fairness_equalized_odds_difference"] != float64(r.EqualizedOddsDifference) {
		t.Errorf("Scalar() = %v", s)
	}

	// Group c has no positives: its TPR is undefined and left out of the
	// TPR difference, which stays 1/6 over a and b.
	y2 := append(append([]float64{}, y...), 0, 0)
	p2 := append(append([]float64{}, pred...), 1, 0)
	g2 := append(append([]string{}, g...), "c", "c")
	r2, err := Fairness("sex", y2, p2, g2)
	if err != nil {
		t.Fatal(err)
	}
	c := r2.Groups[2]
	if c.TPR.Defined() || float64(c.FPR) != 0.5 || math.Abs(float64(r2.TPRDifference)-1.0/6) > 1e-15 || float64(r2.FPRDifference) != 0.5 {
		t.Errorf("group without positives: c = %+v, tpr diff %v, fpr diff %v", c, r2.TPRDifference, r2.FPRDifference)
	}
	js, err := json.Marshal(r2)
	if err != nil || !strings.Contains(string(js), `"tpr":null`) {
		t.Errorf("JSON %s (%v): want tpr null for group c", js, err)
	}

	// Equal rates pass the four-fifths rule.
	r3, err := Fairness("sex", []float64{1, 0, 1, 0}, []float64{1, 0, 1, 0}, []string{"x", "x", "y", "y"})
	if err != nil || r3.FourFifthsFail || r3.DemographicParityRatio != 1 || r3.EqualizedOddsDifference != 0 {
		t.Errorf("equal groups: %+v, %v", r3, err)
	}
}

func TestFairnessErrors(t *testing.T) {
	y, p := []float64{1, 0, 1}, []float64{1, 0, 0}
	cases := []struct {
		name   string
		groups []string
		levels []string
		y, p   []float64
		want   string
	}{
		{"one group", []string{"x", "x", "x"}, nil, y, p, `column "race" has one group ("x")`},
		{"level without rows", []string{"x", "y", "x"}, []string{"x", "y", "z"}, y, p, `group "z" has no rows`},
		{"undeclared value", []string{"x", "w", "x"}, []string{"x", "y"}, y, p, `value "w" at row 1`},
		{"length", []string{"x", "y"}, nil, y, p, "length mismatch"},
		{"empty", nil, nil, nil, nil, "no rows"},
		{"bad decision", []string{"x", "y", "x"}, nil, y, []float64{1, 0.7, 0}, "decision at row 1"},
	}
	for _, c := range cases {
		_, err := Fairness("race", c.y, c.p, c.groups, c.levels...)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), `"race"`) {
			t.Errorf("%s: error %v, want one naming the column and containing %q", c.name, err, c.want)
		}
	}
}

func TestBadInput(t *testing.T) {
	cases := []struct {
		name string
		err  error
		want error
		msg  string
	}{
		{"binary empty", errOf(Binary(nil, nil, 0.5)), ErrEmpty, ""},
		{"binary length", errOf(Binary([]float64{0, 1}, []float64{0.5}, 0.5)), ErrLength, ""},
		{"binary label", errOf(Binary([]float64{0, 2}, []float64{0.5, 0.5}, 0.5)), nil, "label at row 1 is 2"},
		{"binary probability", errOf(Binary([]float64{0, 1}, []float64{0.5, math.NaN()}, 0.5)), nil, "probability at row 1"},
		{"binary threshold", errOf(Binary([]float64{0, 1}, []float64{0.5, 0.5}, 2)), nil, "threshold"},
		{"auc one class", errOf(ROCAUC([]float64{1, 1}, []float64{0.2, 0.3})), ErrOneClass, ""},
		{"ap no positives", errOf(AveragePrecision([]float64{0, 0}, []float64{0.2, 0.3})), ErrOneClass, ""},
		{"log loss length", errOf(LogLoss([]float64{0}, nil)), ErrLength, ""},
		{"calibration bins", errOf(Calibration([]float64{0}, []float64{0.2}, 0)), nil, "0 bins"},
		{"multiclass empty", errOf(Multiclass(nil, nil, 3)), ErrEmpty, ""},
		{"multiclass length", errOf(Multiclass([]float64{0, 1}, []float64{1, 0, 0}, 3)), ErrLength, ""},
		{"multiclass label", errOf(Multiclass([]float64{3}, []float64{1, 0, 0}, 3)), nil, "label at row 0 is 3"},
		{"multiclass sum", errOf(Multiclass([]float64{0}, []float64{0.5, 0.2, 0.2}, 3)), nil, "sum to"},
		{"multiclass k", errOf(Multiclass([]float64{0}, []float64{1}, 1)), nil, "1 classes"},
		{"regression empty", errOf(Regression(nil, nil)), ErrEmpty, ""},
		{"regression length", errOf(Regression([]float64{1}, []float64{1, 2})), ErrLength, ""},
		{"regression nan", errOf(Regression([]float64{1, math.Inf(1)}, []float64{1, 2})), nil, "label at row 1"},
		{"evaluate task", errOf(Evaluate("ranking", []float64{1}, []float64{1}, 0)), nil, "unknown task"},
	}
	for _, c := range cases {
		switch {
		case c.err == nil:
			t.Errorf("%s: no error", c.name)
		case c.want != nil && !errors.Is(c.err, c.want):
			t.Errorf("%s: %v, want %v", c.name, c.err, c.want)
		case c.msg != "" && !strings.Contains(c.err.Error(), c.msg):
			t.Errorf("%s: %v, want it to contain %q", c.name, c.err, c.msg)
		}
	}
}

func errOf[T any](_ T, err error) error { return err }

// One class present is not an error for the report: the AUCs are undefined,
// null in JSON and absent from Scalar.
func TestBinaryOneClass(t *testing.T) {
	r, err := Binary([]float64{0, 0, 0}, []float64{0.1, 0.7, 0.2}, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	if r.ROCAUC.Defined() || r.PRAUC.Defined() || r.ROC != nil || r.PR != nil {
		t.Errorf("one class: roc_auc %v, pr_auc %v, curves %v %v; want undefined and none", r.ROCAUC, r.PRAUC, r.ROC, r.PR)
	}
	s := r.Scalar()
	if _, ok := s["roc_auc"]; ok {
		t.Errorf("Scalar() has roc_auc: %v", s)
	}
	if s["precision"] != 0 || s["recall"] != 0 || s["accuracy"] != 2.0/3 {
		t.Errorf("Scalar() = %v, want precision 0 and recall 0 (zero division), accuracy 2/3", s)
	}
	js, err := json.Marshal(&Report{Task: learn.Binary, Binary: r})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(js), `"roc_auc":null`) || strings.Contains(string(js), "NaN") {
		t.Errorf("JSON %s: want roc_auc null and no NaN", js)
	}
	var back Report
	if err := json.Unmarshal(js, &back); err != nil {
		t.Fatal(err)
	}
	if back.Binary.ROCAUC.Defined() || back.Binary.Accuracy != r.Accuracy {
		t.Errorf("round trip: %+v", back.Binary)
	}
}

// The curves in a report are thinned for plotting; the areas use every
// point.
func TestCurvesThinned(t *testing.T) {
	n := 5000
	y, p := make([]float64, n), make([]float64, n)
	for i := range n {
		p[i] = float64(i) / float64(n)
		// A noisy but deterministic label that makes a curve with many
		// corners.
		if (i*7919)%n < i {
			y[i] = 1
		}
	}
	r, err := Binary(y, p, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.ROC) > MaxCurvePoints || len(r.PR) > MaxCurvePoints || len(r.ROC) < 100 {
		t.Errorf("curves have %d and %d points, want at most %d", len(r.ROC), len(r.PR), MaxCurvePoints)
	}
	if r.ROC[0].FPR != 0 || r.ROC[len(r.ROC)-1].FPR != 1 || r.PR[len(r.PR)-1].Recall != 1 {
		t.Errorf("thinning lost the ends: %v %v", r.ROC[0], r.ROC[len(r.ROC)-1])
	}
	auc, _ := ROCAUC(y, p)
	if float64(r.ROCAUC) != auc {
		t.Errorf("report AUC %v, ROCAUC %v", r.ROCAUC, auc)
	}
	// The AUC of n distinct scores equals the Mann-Whitney count.
	var pairs, wins float64
	for i := range n {
		for j := range n {
			if y[i] == 1 && y[j] == 0 {
				pairs++
				if p[i] > p[j] {
					wins++
				}
			}
		}
	}
	if math.Abs(auc-wins/pairs) > 1e-12 {
		t.Errorf("AUC %v, Mann-Whitney %v", auc, wins/pairs)
	}
}

func TestEvaluate(t *testing.T) {
	r, err := Evaluate(learn.Multiclass, mc3Y, mc3P, 3)
	if err != nil {
		t.Fatal(err)
	}
	s := r.Scalar()
	if s["accuracy"] != mc3Accuracy || s["f1"] != float64(r.Multiclass.F1Macro) {
		t.Errorf("Scalar() = %v", s)
	}
	rr, err := Evaluate(learn.Regression, regY, regP, 0)
	if err != nil || rr.Scalar()["rmse"] != float64(rr.Regression.RMSE) {
		t.Errorf("regression: %v %v", rr, err)
	}
	if GreaterIsBetter("log_loss") || !GreaterIsBetter("roc_auc") || GreaterIsBetter("rmse") || !GreaterIsBetter("r2") {
		t.Error("GreaterIsBetter directions wrong")
	}
}

func TestFloatJSON(t *testing.T) {
	for _, c := range []struct {
		v    Float
		want string
	}{{NaN(), "null"}, {Float(math.Inf(1)), "null"}, {0.25, "0.25"}, {1e-300, "1e-300"}} {
		b, err := json.Marshal(c.v)
		if err != nil || string(b) != c.want {
			t.Errorf("Marshal(%v) = %s, %v; want %s", c.v, b, err, c.want)
		}
	}
	var f Float
	if err := json.Unmarshal([]byte("null"), &f); err != nil || f.Defined() {
		t.Errorf("null -> %v, %v", f, err)
	}
	if err := json.Unmarshal([]byte(`"x"`), &f); err == nil {
		t.Error("a string decoded as a metric")
	}
}
