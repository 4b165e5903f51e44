package gbdt

import (
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/mlcycle/mlcycle/internal/errs"
)

// Params are the training settings. The names in comments are the ones users
// type in `mlcycle train --param name=value`.
type Params struct {
	NumRounds           int     // num_rounds: boosting rounds (per class for multiclass)
	LearningRate        float64 // learning_rate: shrinkage applied to every leaf value
	MaxLeaves           int     // max_leaves: leaves per tree (leaf-wise growth)
	MaxDepth            int     // max_depth: 0 = unlimited
	MinChildWeight      float64 // min_child_weight: minimum hessian sum in a child
	MinDataInLeaf       int     // min_data_in_leaf: minimum rows in a child
	L1                  float64 // l1: L1 regularisation of leaf values
	L2                  float64 // l2: L2 regularisation of leaf values (lambda)
	MinSplitGain        float64 // min_split_gain: minimum loss reduction to split
	Subsample           float64 // subsample: fraction of rows drawn per round
	Colsample           float64 // colsample: fraction of features drawn per tree
	MaxBins             int     // max_bins: histogram bins per feature (missing has its own)
	EarlyStoppingRounds int     // early_stopping_rounds: 0 = off; needs a validation set
	MaxCatThreshold     int     // max_cat_threshold: most categories on one side of a set split
	MaxCatToOnehot      int     // max_cat_to_onehot: up to this many categories, try one-vs-rest splits
	CatSmooth           float64 // cat_smooth: added to the hessian when ordering categories
	CatL2               float64 // cat_l2: extra L2 for categorical splits
	MinDataPerGroup     int     // min_data_per_group: minimum rows on each side of a set split
	Seed                uint64  // seed: row and feature sampling
	NumClass            int     // num_class: classes for multiclass (the caller infers it)
	Threads             int     // threads: 0 = all cores
}

// DefaultParams returns the defaults, close to LightGBM's.
func DefaultParams() Params {
	return Params{
		NumRounds:       100,
		LearningRate:    0.1,
		MaxLeaves:       31,
		MinChildWeight:  1e-3,
		MinDataInLeaf:   20,
		Subsample:       1,
		Colsample:       1,
		MaxBins:         255,
		MaxCatThreshold: 32,
		MaxCatToOnehot:  4,
		CatSmooth:       10,
		CatL2:           10,
		MinDataPerGroup: 100,
	}
}

type paramSpec struct {
	name string
	set  func(p *Params, v string) error
}

func intParam(name string, dst func(*Params) *int) paramSpec {
	return paramSpec{name, func(p *Params, v string) error {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return errs.E(errs.Invalid, "parameter %s: %q is not an integer", name, v)
		}
		*dst(p) = n
		return nil
	}}
}

func floatParam(name string, dst func(*Params) *float64) paramSpec {
	return paramSpec{name, func(p *Params, v string) error {
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return errs.E(errs.Invalid, "parameter %s: %q is not a finite number", name, v)
		}
		*dst(p) = f
		return nil
	}}
}

// paramSpecs lists every parameter ParseParams accepts.
func paramSpecs() []paramSpec {
	return []paramSpec{
		intParam("num_rounds", func(p *Params) *int { return &p.NumRounds }),
		floatParam("learning_rate", func(p *Params) *float64 { return &p.LearningRate }),
		intParam("max_leaves", func(p *Params) *int { return &p.MaxLeaves }),
		intParam("max_depth", func(p *Params) *int { return &p.MaxDepth }),
		floatParam("min_child_weight", func(p *Params) *float64 { return &p.MinChildWeight }),
		intParam("min_data_in_leaf", func(p *Params) *int { return &p.MinDataInLeaf }),
		floatParam("l1", func(p *Params) *float64 { return &p.L1 }),
		floatParam("l2", func(p *Params) *float64 { return &p.L2 }),
		floatParam("min_split_gain", func(p *Params) *float64 { return &p.MinSplitGain }),
		floatParam("subsample", func(p *Params) *float64 { return &p.Subsample }),
		floatParam("colsample", func(p *Params) *float64 { return &p.Colsample }),
		intParam("max_bins", func(p *Params) *int { return &p.MaxBins }),
		intParam("early_stopping_rounds", func(p *Params) *int { return &p.EarlyStoppingRounds }),
		intParam("max_cat_threshold", func(p *Params) *int { return &p.MaxCatThreshold }),
		intParam("max_cat_to_onehot", func(p *Params) *int { return &p.MaxCatToOnehot }),
		floatParam("cat_smooth", func(p *Params) *float64 { return &p.CatSmooth }),
		floatParam("cat_l2", func(p *Params) *float64 { return &p.CatL2 }),
		intParam("min_data_per_group", func(p *Params) *int { return &p.MinDataPerGroup }),
		{"seed", func(p *Params, v string) error {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return errs.E(errs.Invalid, "parameter seed: %q is not a non-negative integer", v)
			}
			p.Seed = n
			return nil
		}},
		intParam("num_class", func(p *Params) *int { return &p.NumClass }),
		intParam("threads", func(p *Params) *int { return &p.Threads }),
	}
}

// Map writes p under the names ParseParams reads (every parameter), so
// ParseParams(p.Map()) == p; tracking logs it as the run's params.
func (p Params) Map() map[string]string {
	fl := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	it := strconv.Itoa
	return map[string]string{
		"num_rounds": it(p.NumRounds), "learning_rate": fl(p.LearningRate), "max_leaves": it(p.MaxLeaves),
		"max_depth": it(p.MaxDepth), "min_child_weight": fl(p.MinChildWeight), "min_data_in_leaf": it(p.MinDataInLeaf),
		"l1": fl(p.L1), "l2": fl(p.L2), "min_split_gain": fl(p.MinSplitGain), "subsample": fl(p.Subsample),
		"colsample": fl(p.Colsample), "max_bins": it(p.MaxBins), "early_stopping_rounds": it(p.EarlyStoppingRounds),
		"max_cat_threshold": it(p.MaxCatThreshold), "max_cat_to_onehot": it(p.MaxCatToOnehot),
		"cat_smooth": fl(p.CatSmooth), "cat_l2": fl(p.CatL2), "min_data_per_group": it(p.MinDataPerGroup),
		"seed": strconv.FormatUint(p.Seed, 10), "num_class": it(p.NumClass), "threads": it(p.Threads),
	}
}

// ParamNames lists the parameter names ParseParams accepts, sorted.
func ParamNames() []string {
	specs := paramSpecs()
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.name
	}
	sort.Strings(names)
	return names
}

// ParseParams reads user-typed parameters over the defaults. Unknown names
// and out-of-range values are errs.Invalid naming the parameter.
func ParseParams(kv map[string]string) (Params, error) {
	p := DefaultParams()
	keys := make([]string, 0, len(kv))
	for k := range kv {
		keys = append(keys, k)
	}
	sort.Strings(keys) // report the same error whatever the map order
	specs := paramSpecs()
	for _, k := range keys {
		var spec *paramSpec
		for i := range specs {
			if specs[i].name == k {
				spec = &specs[i]
				break
			}
		}
		if spec == nil {
			return p, errs.E(errs.Invalid, "unknown gbdt parameter %q (known: %s)", k, strings.Join(ParamNames(), ", "))
		}
		if err := spec.set(&p, kv[k]); err != nil {
			return p, err
		}
	}
	return p, p.Validate()
}

// Validate checks every range and names the first bad parameter.
func (p Params) Validate() error {
	bad := func(name string, v any, want string) error {
		return errs.E(errs.Invalid, "parameter %s: %v is out of range (want %s)", name, v, want)
	}
	finite := func(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }
	switch {
	case p.NumRounds < 1 || p.NumRounds > 1_000_000:
		return bad("num_rounds", p.NumRounds, "1..1000000")
	case !(p.LearningRate > 0 && p.LearningRate <= 10):
		return bad("learning_rate", p.LearningRate, "0 < learning_rate <= 10")
	case p.MaxLeaves < 2 || p.MaxLeaves > 1<<17:
		return bad("max_leaves", p.MaxLeaves, "2..131072")
	case p.MaxDepth < 0 || p.MaxDepth > 64:
		return bad("max_depth", p.MaxDepth, "0 (unlimited) or 1..64")
	case !(p.MinChildWeight >= 0) || !finite(p.MinChildWeight):
		return bad("min_child_weight", p.MinChildWeight, ">= 0")
	case p.MinDataInLeaf < 1:
		return bad("min_data_in_leaf", p.MinDataInLeaf, ">= 1")
	case !(p.L1 >= 0) || !finite(p.L1):
		return bad("l1", p.L1, ">= 0")
	case !(p.L2 >= 0) || !finite(p.L2):
		return bad("l2", p.L2, ">= 0")
	case !(p.MinSplitGain >= 0) || !finite(p.MinSplitGain):
		return bad("min_split_gain", p.MinSplitGain, ">= 0")
	case !(p.Subsample > 0 && p.Subsample <= 1):
		return bad("subsample", p.Subsample, "0 < subsample <= 1")
	case !(p.Colsample > 0 && p.Colsample <= 1):
		return bad("colsample", p.Colsample, "0 < colsample <= 1")
	case p.MaxBins < 2 || p.MaxBins > 255:
		return bad("max_bins", p.MaxBins, "2..255")
	case p.EarlyStoppingRounds < 0:
		return bad("early_stopping_rounds", p.EarlyStoppingRounds, ">= 0")
	case p.MaxCatThreshold < 1:
		return bad("max_cat_threshold", p.MaxCatThreshold, ">= 1")
	case p.MaxCatToOnehot < 1:
		return bad("max_cat_to_onehot", p.MaxCatToOnehot, ">= 1")
	case !(p.CatSmooth >= 0) || !finite(p.CatSmooth):
		return bad("cat_smooth", p.CatSmooth, ">= 0")
	case !(p.CatL2 >= 0) || !finite(p.CatL2):
		return bad("cat_l2", p.CatL2, ">= 0")
	case p.MinDataPerGroup < 1:
		return bad("min_data_per_group", p.MinDataPerGroup, ">= 1")
	case p.NumClass < 0 || p.NumClass == 1 || p.NumClass > 10000:
		return bad("num_class", p.NumClass, "0 (not multiclass) or 2..10000")
	case p.Threads < 0:
		return bad("threads", p.Threads, ">= 0 (0 = all cores)")
	}
	return nil
}
