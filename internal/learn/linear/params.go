package linear

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/mlcycle/mlcycle/internal/errs"
)

// Params configures Train. The objective minimised is, for coefficients w
// (one vector per raw score) and intercepts b (never penalised):
//
//	regression:  (1/(2n))·Σ_i (y_i − b − x_i·w)²        + alpha·P(w)
//	binary:      (1/n)·Σ_i logloss(y_i, σ(b + x_i·w))    + alpha·P(w)
//	multiclass:  (1/n)·Σ_i −log softmax(b + x_i·W)[y_i]  + alpha·P(W)
//
//	P(w) = l1_ratio·‖w‖₁ + (1 − l1_ratio)/2·‖w‖₂²   (summed over all classes)
//
// This is scikit-learn's ElasticNet objective for regression (Ridge(a) is
// alpha = a/n with l1_ratio = 0, Lasso(a) is alpha = a with l1_ratio = 1) and
// LogisticRegression(C=c) is alpha = 1/(c·n) for binary and multinomial.
type Params struct {
	Alpha        float64 // alpha: total penalty strength, >= 0
	L1Ratio      float64 // l1_ratio: share of L1 in the penalty, in [0, 1]
	FitIntercept bool    // fit_intercept: learn an unpenalised intercept
	MaxIter      int     // max_iter: passes (coordinate descent) or iterations (proximal gradient)
	Tol          float64 // tol: stopping tolerance, see Train
	Seed         uint64  // seed: accepted for uniformity; the solvers draw no random numbers
	Threads      int     // threads: worker goroutines, 0 = GOMAXPROCS
}

// DefaultParams returns the defaults: a light pure-L2 penalty, which keeps
// logistic regression finite on separable data.
func DefaultParams() Params {
	return Params{
		Alpha:        1e-4,
		L1Ratio:      0,
		FitIntercept: true,
		MaxIter:      1000,
		Tol:          1e-6,
		Seed:         0,
		Threads:      0,
	}
}

// maxIterLimit bounds max_iter so a typo cannot pin the CPU for days.
const maxIterLimit = 10_000_000

// ParamNames returns the parameter names ParseParams accepts, sorted.
func ParamNames() []string {
	return []string{"alpha", "fit_intercept", "l1_ratio", "max_iter", "seed", "threads", "tol"}
}

// Validate reports the first out-of-range parameter, by name.
func (p Params) Validate() error {
	switch {
	case math.IsNaN(p.Alpha) || math.IsInf(p.Alpha, 0) || p.Alpha < 0:
		return invalidf("parameter alpha must be a finite number >= 0, got %v", p.Alpha)
	case math.IsNaN(p.L1Ratio) || p.L1Ratio < 0 || p.L1Ratio > 1:
		return invalidf("parameter l1_ratio must be in [0, 1], got %v", p.L1Ratio)
	case p.MaxIter < 1 || p.MaxIter > maxIterLimit:
		return invalidf("parameter max_iter must be in [1, %d], got %d", maxIterLimit, p.MaxIter)
	case math.IsNaN(p.Tol) || math.IsInf(p.Tol, 0) || p.Tol <= 0:
		return invalidf("parameter tol must be a finite number > 0, got %v", p.Tol)
	case p.Threads < 0:
		return invalidf("parameter threads must be >= 0 (0 = all cores), got %d", p.Threads)
	}
	return nil
}

// ParseParams reads parameters given as name=value strings over the
// defaults. Unknown names and out-of-range values are refused, naming the
// parameter.
func ParseParams(kv map[string]string) (Params, error) {
	p := DefaultParams()
	keys := make([]string, 0, len(kv))
	for k := range kv {
		keys = append(keys, k)
	}
	slices.Sort(keys) // the first error reported does not depend on map order
	for _, k := range keys {
		v := strings.TrimSpace(kv[k])
		var err error
		switch k {
		case "alpha":
			p.Alpha, err = strconv.ParseFloat(v, 64)
		case "l1_ratio":
			p.L1Ratio, err = strconv.ParseFloat(v, 64)
		case "fit_intercept":
			p.FitIntercept, err = strconv.ParseBool(v)
		case "max_iter":
			p.MaxIter, err = strconv.Atoi(v)
		case "tol":
			p.Tol, err = strconv.ParseFloat(v, 64)
		case "seed":
			p.Seed, err = strconv.ParseUint(v, 10, 64)
		case "threads":
			p.Threads, err = strconv.Atoi(v)
		default:
			return Params{}, invalidf("unknown parameter %q for linear (known: %s)", k, strings.Join(ParamNames(), ", "))
		}
		if err != nil {
			return Params{}, invalidf("parameter %s: cannot parse %q", k, kv[k])
		}
	}
	if err := p.Validate(); err != nil {
		return Params{}, err
	}
	return p, nil
}

// Map returns the parameters as name=value strings (what tracking logs);
// ParseParams(p.Map()) == p.
func (p Params) Map() map[string]string {
	return map[string]string{
		"alpha":         strconv.FormatFloat(p.Alpha, 'g', -1, 64),
		"l1_ratio":      strconv.FormatFloat(p.L1Ratio, 'g', -1, 64),
		"fit_intercept": strconv.FormatBool(p.FitIntercept),
		"max_iter":      strconv.Itoa(p.MaxIter),
		"tol":           strconv.FormatFloat(p.Tol, 'g', -1, 64),
		"seed":          strconv.FormatUint(p.Seed, 10),
		"threads":       strconv.Itoa(p.Threads),
	}
}

func invalidf(format string, args ...any) error {
	return errs.E(errs.Invalid, "%s", fmt.Sprintf(format, args...))
}
