package frame

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"

	"github.com/mlcycle/mlcycle/internal/errs"
)

// Splits return row indices, one slice per part, each sorted ascending (a
// part is a set of rows; learners that care about order shuffle themselves).
// Fractions must each be in [0, 1] and sum to 1 (within 1e-6); a part of
// fraction 0 is empty. Part sizes are the fractions of the row count rounded
// by largest remainder (ties to the earlier part), so they sum to the count.
// The random splits are a function of (rows, fractions, seed) only: they
// draw from math/rand/v2's PCG seeded with seed.

// ClassError reports a class with too few rows to appear in every part of a
// stratified split or fold; callers that know the class names can say which.
type ClassError struct {
	Class int // the label
	Rows  int // how many rows it has
	Need  int // how many it would need
}

func (e *ClassError) Error() string {
	return fmt.Sprintf("class %d has %d row(s); a stratified split needs at least %d (one per part)", e.Class, e.Rows, e.Need)
}

func newRand(seed uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
}

func checkFracs(fracs []float64) error {
	if len(fracs) == 0 {
		return errs.E(errs.Invalid, "split: no fractions")
	}
	var sum float64
	for i, f := range fracs {
		if !(f >= 0 && f <= 1) {
			return errs.E(errs.Invalid, "split: fraction %d is %v; want a value in [0, 1]", i+1, f)
		}
		sum += f
	}
	if math.Abs(sum-1) > 1e-6 {
		return errs.E(errs.Invalid, "split: fractions sum to %v; want 1", sum)
	}
	return nil
}

// apportion splits n into parts proportional to fracs by largest remainder.
func apportion(n int, fracs []float64) []int {
	counts := make([]int, len(fracs))
	rem := make([]float64, len(fracs))
	left := n
	for i, f := range fracs {
		x := f * float64(n)
		counts[i] = int(math.Floor(x))
		rem[i] = x - float64(counts[i])
		left -= counts[i]
	}
	order := make([]int, len(fracs))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return rem[order[a]] > rem[order[b]] })
	for k := 0; left > 0; k = (k + 1) % len(order) {
		if fracs[order[k]] > 0 {
			counts[order[k]]++
			left--
		}
	}
	for left < 0 { // floating error pushed a floor too high: take back from the largest
		i := argmax(counts)
		counts[i]--
		left++
	}
	return counts
}

func argmax(s []int) int {
	best := 0
	for i, v := range s {
		if v > s[best] {
			best = i
		}
	}
	return best
}

// cut slices perm into parts of the given sizes, each sorted.
func cut(perm []int, counts []int) [][]int {
	parts := make([][]int, len(counts))
	off := 0
	for i, c := range counts {
		parts[i] = append([]int{}, perm[off:off+c]...)
		slices.Sort(parts[i])
		off += c
	}
	return parts
}

// SplitRandom splits rows 0..n-1 at random into parts of the given
// fractions, e.g. {0.7, 0.15, 0.15} for train, validation and test.
func SplitRandom(n int, fracs []float64, seed uint64) ([][]int, error) {
	if err := checkFracs(fracs); err != nil {
		return nil, err
	}
	if n < 0 {
		return nil, errs.E(errs.Invalid, "split: %d rows", n)
	}
	perm := newRand(seed).Perm(n)
	return cut(perm, apportion(n, fracs)), nil
}

// SplitStratified splits rows at random so that every part keeps the class
// proportions of labels (one label per row; any int). Each class is split on
// its own: every part of non-zero fraction gets at least one row of every
// class, and a class with fewer rows than such parts is a *ClassError.
func SplitStratified(labels []int, fracs []float64, seed uint64) ([][]int, error) {
	if err := checkFracs(fracs); err != nil {
		return nil, err
	}
	need := 0
	for _, f := range fracs {
		if f > 0 {
			need++
		}
	}
	classes := byClass(labels)
	for _, c := range classes {
		if len(c.rows) < need {
			return nil, errs.Wrap(errs.Invalid, &ClassError{Class: c.label, Rows: len(c.rows), Need: need}, "split")
		}
	}
	rng := newRand(seed)
	parts := make([][]int, len(fracs))
	for _, c := range classes {
		rng.Shuffle(len(c.rows), func(i, j int) { c.rows[i], c.rows[j] = c.rows[j], c.rows[i] })
		counts := apportionAtLeastOne(len(c.rows), fracs)
		off := 0
		for i, k := range counts {
			parts[i] = append(parts[i], c.rows[off:off+k]...)
			off += k
		}
	}
	for i := range parts {
		if parts[i] == nil {
			parts[i] = []int{}
		}
		slices.Sort(parts[i])
	}
	return parts, nil
}

// apportionAtLeastOne is apportion with at least one row in every part of
// non-zero fraction (n is at least the number of such parts).
func apportionAtLeastOne(n int, fracs []float64) []int {
	counts := apportion(n, fracs)
	for i, f := range fracs {
		for f > 0 && counts[i] == 0 {
			counts[argmax(counts)]--
			counts[i]++
		}
	}
	return counts
}

type class struct {
	label int
	rows  []int
}

// byClass groups row indices by label, classes in ascending label order.
func byClass(labels []int) []class {
	idx := map[int]int{}
	var cs []class
	for i, l := range labels {
		k, ok := idx[l]
		if !ok {
			k = len(cs)
			idx[l] = k
			cs = append(cs, class{label: l})
		}
		cs[k].rows = append(cs[k].rows, i)
	}
	slices.SortFunc(cs, func(a, b class) int { return a.label - b.label })
	return cs
}

// SplitByTime splits rows in time order: the oldest rows go to the first
// part, the newest to the last; equal times keep row order.
func SplitByTime(times []int64, fracs []float64) ([][]int, error) {
	if err := checkFracs(fracs); err != nil {
		return nil, err
	}
	order := make([]int, len(times))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return times[order[a]] < times[order[b]] })
	return cut(order, apportion(len(times), fracs)), nil
}

// KFold splits rows 0..n-1 into k folds and returns, per fold, the training
// rows (all other folds) and the test rows (the fold), both sorted. With
// labels (len n) the folds are stratified: each class is dealt round-robin
// over the folds, so every fold holds its share of every class, and a class
// with fewer than k rows is a *ClassError.
func KFold(n, k int, seed uint64, labels []int) ([][2][]int, error) {
	if k < 2 {
		return nil, errs.E(errs.Invalid, "k-fold: k is %d; want at least 2", k)
	}
	if k > n {
		return nil, errs.E(errs.Invalid, "k-fold: k is %d but there are only %d rows", k, n)
	}
	if labels != nil && len(labels) != n {
		return nil, errs.E(errs.Invalid, "k-fold: %d labels for %d rows", len(labels), n)
	}
	rng := newRand(seed)
	fold := make([]int, n)
	if labels == nil {
		for pos, i := range rng.Perm(n) {
			fold[i] = pos % k
		}
	} else {
		classes := byClass(labels)
		for _, c := range classes {
			if len(c.rows) < k {
				return nil, errs.Wrap(errs.Invalid, &ClassError{Class: c.label, Rows: len(c.rows), Need: k}, "k-fold")
			}
		}
		// Continue the deal across classes so fold sizes differ by at most one.
		pos := 0
		for _, c := range classes {
			rng.Shuffle(len(c.rows), func(i, j int) { c.rows[i], c.rows[j] = c.rows[j], c.rows[i] })
			for _, i := range c.rows {
				fold[i] = pos % k
				pos++
			}
		}
	}
	out := make([][2][]int, k)
	for f := range out {
		out[f] = [2][]int{{}, {}}
	}
	for i, f := range fold {
		for g := range out {
			if g == f {
				out[g][1] = append(out[g][1], i)
			} else {
				out[g][0] = append(out[g][0], i)
			}
		}
	}
	return out, nil
}
