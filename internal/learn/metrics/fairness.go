package metrics

import (
	"fmt"
	"math"
	"slices"
)

// FourFifths is the impact ratio below which the four-fifths rule flags a
// disparity: a group selected at less than 80% of the rate of the group
// selected most.
const FourFifths = 0.8

// FairnessReport compares a binary classifier's decisions across the groups
// of a sensitive column.
type FairnessReport struct {
	Column string         `json:"column"`
	Groups []GroupMetrics `json:"groups"` // sorted by group name
	// Reference is the group with the highest selection rate (the first by
	// name on a tie): the rate the four-fifths rule compares with.
	Reference string `json:"reference"`
	// DemographicParityDifference is the highest selection rate minus the
	// lowest; DemographicParityRatio the lowest over the highest (null when
	// no group is selected at all).
	DemographicParityDifference Float `json:"demographic_parity_difference"`
	DemographicParityRatio      Float `json:"demographic_parity_ratio"`
	// TPRDifference and FPRDifference are the highest minus the lowest rate
	// over the groups where the rate is defined (a group without positives
	// has no TPR, one without negatives no FPR, and is left out); null when
	// fewer than two groups have the rate.
	TPRDifference Float `json:"tpr_difference"`
	FPRDifference Float `json:"fpr_difference"`
	// EqualizedOddsDifference is the larger of TPRDifference and
	// FPRDifference (fairlearn's equalized_odds_difference), over the
	// defined ones; null when neither is.
	EqualizedOddsDifference Float `json:"equalized_odds_difference"`
	// FourFifthsFail is set when DemographicParityRatio < FourFifths; the
	// groups below the line have BelowFourFifths set.
	FourFifthsFail bool `json:"four_fifths_fail"`
}

// GroupMetrics holds the rates of one group.
type GroupMetrics struct {
	Group     string `json:"group"`
	Count     int    `json:"count"`
	Positives int    `json:"positives"` // rows labelled 1
	Selected  int    `json:"selected"`  // rows predicted 1
	// SelectionRate is Selected / Count.
	SelectionRate Float `json:"selection_rate"`
	// TPR is the share of positives predicted 1 (null without positives);
	// FPR the share of negatives predicted 1 (null without negatives).
	TPR      Float `json:"tpr"`
	FPR      Float `json:"fpr"`
	Accuracy Float `json:"accuracy"`
	// ImpactRatio is SelectionRate over the reference group's (null when
	// nobody is selected).
	ImpactRatio     Float `json:"impact_ratio"`
	BelowFourFifths bool  `json:"below_four_fifths"`
}

// Fairness computes the group metrics of decisions pred (0/1) against labels
// y (0/1) for the sensitive values groups of the column named column (used
// in errors and the report). levels, when given, are the groups the column
// declares (a categorical column's categories): a level without rows, or a
// value that is not a level, is an error naming it. Fewer than two groups is
// an error naming the column.
func Fairness(column string, y, pred []float64, groups []string, levels ...string) (*FairnessReport, error) {
	what := fmt.Sprintf("fairness on sensitive column %q", column)
	if err := checkLen(what, len(y), len(pred)); err != nil {
		return nil, err
	}
	if len(groups) != len(y) {
		return nil, fmt.Errorf("%s: %w: %d labels, %d group values", what, ErrLength, len(y), len(groups))
	}
	for i := range y {
		if y[i] != 0 && y[i] != 1 {
			return nil, fmt.Errorf("%s: label at row %d is %v, want 0 or 1", what, i, y[i])
		}
		if pred[i] != 0 && pred[i] != 1 {
			return nil, fmt.Errorf("%s: decision at row %d is %v, want 0 or 1", what, i, pred[i])
		}
	}
	type acc struct{ count, pos, sel, tp, fp, correct int }
	by := map[string]*acc{}
	if len(levels) > 0 {
		for _, l := range levels {
			by[l] = &acc{}
		}
	}
	for i, g := range groups {
		a := by[g]
		if a == nil {
			if len(levels) > 0 {
				return nil, fmt.Errorf("%s: value %q at row %d is not one of the column's groups", what, g, i)
			}
			a = &acc{}
			by[g] = a
		}
		a.count++
		yi, pi := y[i] == 1, pred[i] == 1
		if yi {
			a.pos++
		}
		if pi {
			a.sel++
		}
		if yi && pi {
			a.tp++
		}
		if !yi && pi {
			a.fp++
		}
		if yi == pi {
			a.correct++
		}
	}
	names := make([]string, 0, len(by))
	for g, a := range by {
		if a.count == 0 {
			return nil, fmt.Errorf("%s: group %q has no rows", what, g)
		}
		names = append(names, g)
	}
	slices.Sort(names)
	if len(names) < 2 {
		return nil, fmt.Errorf("fairness: sensitive column %q has one group (%q); it needs at least two", column, names[0])
	}

	r := &FairnessReport{Column: column, Groups: make([]GroupMetrics, len(names))}
	best := -1.0
	for k, g := range names {
		a := by[g]
		gm := GroupMetrics{
			Group:         g,
			Count:         a.count,
			Positives:     a.pos,
			Selected:      a.sel,
			SelectionRate: Float(float64(a.sel) / float64(a.count)),
			TPR:           NaN(),
			FPR:           NaN(),
			Accuracy:      Float(float64(a.correct) / float64(a.count)),
			ImpactRatio:   NaN(),
		}
		if a.pos > 0 {
			gm.TPR = Float(float64(a.tp) / float64(a.pos))
		}
		if neg := a.count - a.pos; neg > 0 {
			gm.FPR = Float(float64(a.fp) / float64(neg))
		}
		if float64(gm.SelectionRate) > best {
			best = float64(gm.SelectionRate)
			r.Reference = g
		}
		r.Groups[k] = gm
	}
	sel := spread(r.Groups, func(g GroupMetrics) Float { return g.SelectionRate })
	r.DemographicParityDifference = Float(sel.hi - sel.lo)
	r.DemographicParityRatio = NaN()
	if sel.hi > 0 {
		r.DemographicParityRatio = Float(sel.lo / sel.hi)
		r.FourFifthsFail = sel.lo/sel.hi < FourFifths
		for k := range r.Groups {
			g := &r.Groups[k]
			g.ImpactRatio = Float(float64(g.SelectionRate) / sel.hi)
			g.BelowFourFifths = float64(g.ImpactRatio) < FourFifths
		}
	}
	r.TPRDifference = spread(r.Groups, func(g GroupMetrics) Float { return g.TPR }).diff()
	r.FPRDifference = spread(r.Groups, func(g GroupMetrics) Float { return g.FPR }).diff()
	r.EqualizedOddsDifference = NaN()
	for _, d := range []Float{r.TPRDifference, r.FPRDifference} {
		if d.Defined() && (!r.EqualizedOddsDifference.Defined() || d > r.EqualizedOddsDifference) {
			r.EqualizedOddsDifference = d
		}
	}
	return r, nil
}

// Scalar returns the fairness summary under names prefixed "fairness_"
// (undefined ones left out; the four-fifths flag as 0 or 1).
func (r *FairnessReport) Scalar() map[string]float64 {
	s := scalars{}
	s.add("fairness_demographic_parity_difference", r.DemographicParityDifference)
	s.add("fairness_demographic_parity_ratio", r.DemographicParityRatio)
	s.add("fairness_equalized_odds_difference", r.EqualizedOddsDifference)
	s.add("fairness_tpr_difference", r.TPRDifference)
	s.add("fairness_fpr_difference", r.FPRDifference)
	s["fairness_four_fifths_fail"] = 0
	if r.FourFifthsFail {
		s["fairness_four_fifths_fail"] = 1
	}
	return s
}

type rng struct {
	lo, hi float64
	n      int
}

func (r rng) diff() Float {
	if r.n < 2 {
		return NaN()
	}
	return Float(r.hi - r.lo)
}

// spread is the range of a rate over the groups where it is defined.
func spread(gs []GroupMetrics, rate func(GroupMetrics) Float) rng {
	r := rng{lo: math.Inf(1), hi: math.Inf(-1)}
	for _, g := range gs {
		if v := rate(g); v.Defined() {
			r.lo, r.hi = min(r.lo, float64(v)), max(r.hi, float64(v))
			r.n++
		}
	}
	return r
}
