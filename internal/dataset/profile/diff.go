package profile

import (
	"encoding/base64"
	"math"
	"strconv"
	"time"

	"github.com/mlcycle/mlcycle/internal/frame"
	"github.com/mlcycle/mlcycle/internal/sketch"
)

// Drift thresholds: a column drifts when its PSI exceeds PSIThreshold
// (numeric) or its Jensen-Shannon distance exceeds JSThreshold
// (categorical). 0.2 is the customary "significant shift" level for PSI; 0.1
// for the JS distance is the level commonly used by monitoring tools.
const (
	PSIThreshold = 0.2
	JSThreshold  = 0.1
	// PSIEpsilon replaces empty-bin proportions in PSI so the logarithm stays
	// finite.
	PSIEpsilon = 1e-4
)

// Schema change kinds.
const (
	ChangeAdded       = "added"
	ChangeRemoved     = "removed"
	ChangeType        = "type_changed"
	ChangeNullability = "nullability_changed"
)

// Diff compares two profiles: From is the reference (older), To the new one.
type Diff struct {
	RowsFrom      int64          `json:"rows_from"`
	RowsTo        int64          `json:"rows_to"`
	SchemaChanges []SchemaChange `json:"schema_changes"`
	Columns       []ColumnDiff   `json:"columns"` // columns present in both, in To's order
	Drifted       []string       `json:"drifted"` // names of columns with Drift set
}

// SchemaChange is one column added, removed, retyped or changing
// nullability. From and To hold the type (or "true"/"false" for
// nullability); empty for the side where the column is absent.
type SchemaChange struct {
	Column string `json:"column"`
	Kind   string `json:"kind"`
	From   string `json:"from,omitempty"`
	To     string `json:"to,omitempty"`
}

// ColumnDiff holds per-column statistic deltas between two profiles.
type ColumnDiff struct {
	Name            string   `json:"name"`
	TypeFrom        string   `json:"type_from"`
	TypeTo          string   `json:"type_to"`
	MissingRateFrom float64  `json:"missing_rate_from"`
	MissingRateTo   float64  `json:"missing_rate_to"`
	DistinctFrom    uint64   `json:"distinct_from"`
	DistinctTo      uint64   `json:"distinct_to"`
	MeanFrom        *float64 `json:"mean_from,omitempty"`
	MeanTo          *float64 `json:"mean_to,omitempty"`
	StdFrom         *float64 `json:"std_from,omitempty"`
	StdTo           *float64 `json:"std_to,omitempty"`
	MinFrom         *float64 `json:"min_from,omitempty"`
	MinTo           *float64 `json:"min_to,omitempty"`
	MaxFrom         *float64 `json:"max_from,omitempty"`
	MaxTo           *float64 `json:"max_to,omitempty"`
	// The range of timestamp columns.
	MinTimeFrom *time.Time `json:"min_time_from,omitempty"`
	MinTimeTo   *time.Time `json:"min_time_to,omitempty"`
	MaxTimeFrom *time.Time `json:"max_time_from,omitempty"`
	MaxTimeTo   *time.Time `json:"max_time_to,omitempty"`
	// PSI is the population stability index of To against From over From's
	// histogram bins (numeric columns on both sides).
	PSI *float64 `json:"psi,omitempty"`
	// JS is the Jensen-Shannon distance (square root of the base-2
	// divergence, in [0,1]) between the category distributions (string and
	// bool columns on both sides).
	JS    *float64 `json:"js,omitempty"`
	Drift bool     `json:"drift"`
}

// Compare reports how b differs from the reference a.
//
// PSI uses a's histogram bins, with the outer bins open-ended so values of
// b outside a's range still count; b's counts over those bins come from b's
// quantile sketch (exact while b is small). For a constant reference column
// the bins are "below", "equal" and "above" the constant. JS compares the
// category distributions over the union of both TopCategories lists plus an
// "other" bucket, so categories beyond the lists are lumped together.
func Compare(a, b Profile) Diff {
	d := Diff{RowsFrom: a.Rows, RowsTo: b.Rows, SchemaChanges: []SchemaChange{}, Columns: []ColumnDiff{}, Drifted: []string{}}
	for _, ca := range a.Columns {
		if b.Column(ca.Name) == nil {
			d.SchemaChanges = append(d.SchemaChanges, SchemaChange{Column: ca.Name, Kind: ChangeRemoved, From: ca.Type})
		}
	}
	for i := range b.Columns {
		cb := &b.Columns[i]
		ca := a.Column(cb.Name)
		if ca == nil {
			d.SchemaChanges = append(d.SchemaChanges, SchemaChange{Column: cb.Name, Kind: ChangeAdded, To: cb.Type})
			continue
		}
		if ca.Type != cb.Type {
			d.SchemaChanges = append(d.SchemaChanges, SchemaChange{Column: cb.Name, Kind: ChangeType, From: ca.Type, To: cb.Type})
		}
		if ca.Nullable != cb.Nullable {
			d.SchemaChanges = append(d.SchemaChanges, SchemaChange{Column: cb.Name, Kind: ChangeNullability,
				From: strconv.FormatBool(ca.Nullable), To: strconv.FormatBool(cb.Nullable)})
		}
		cd := ColumnDiff{
			Name: cb.Name, TypeFrom: ca.Type, TypeTo: cb.Type,
			MissingRateFrom: ca.MissingRate(), MissingRateTo: cb.MissingRate(),
			DistinctFrom: ca.Distinct, DistinctTo: cb.Distinct,
			MeanFrom: ca.Mean, MeanTo: cb.Mean, StdFrom: ca.Std, StdTo: cb.Std,
			MinFrom: ca.Min, MinTo: cb.Min, MaxFrom: ca.Max, MaxTo: cb.Max,
			MinTimeFrom: ca.MinTime, MinTimeTo: cb.MinTime, MaxTimeFrom: ca.MaxTime, MaxTimeTo: cb.MaxTime,
		}
		if isNumeric(ca.Type) && isNumeric(cb.Type) {
			if e, act, ok := numericBins(ca, cb); ok {
				cd.PSI = ptr(PSI(e, act))
				cd.Drift = *cd.PSI > PSIThreshold
			}
		}
		if isCategorical(ca.Type) && isCategorical(cb.Type) {
			if p, q, ok := categoryBins(ca, cb); ok {
				cd.JS = ptr(JensenShannon(p, q))
				cd.Drift = *cd.JS > JSThreshold
			}
		}
		if cd.Drift {
			d.Drifted = append(d.Drifted, cd.Name)
		}
		d.Columns = append(d.Columns, cd)
	}
	return d
}

func isNumeric(t string) bool { return t == string(frame.TypeInt) || t == string(frame.TypeFloat) }
func isCategorical(t string) bool {
	return t == string(frame.TypeString) || t == string(frame.TypeBool)
}

// numericBins returns the reference and new counts over the reference bins.
func numericBins(a, b *ColumnProfile) (expected, actual []float64, ok bool) {
	if a.Histogram == nil || len(a.Histogram.Counts) == 0 || a.Min == nil || a.Max == nil {
		return nil, nil, false
	}
	qb, err := decodeQuantiles(b.QuantileSketch)
	if err != nil || qb == nil || qb.Count() == 0 {
		return nil, nil, false
	}
	nb := float64(qb.Count())
	if *a.Min == *a.Max {
		v := *a.Min
		below := float64(qb.Rank(math.Nextafter(v, math.Inf(-1))))
		upto := float64(qb.Rank(v))
		var total float64
		for _, c := range a.Histogram.Counts {
			total += float64(c)
		}
		return []float64{0, total, 0}, []float64{below, upto - below, nb - upto}, true
	}
	edges := a.Histogram.Edges
	for _, c := range a.Histogram.Counts {
		expected = append(expected, float64(c))
	}
	prev := 0.0
	for i := 1; i < len(edges); i++ {
		r := nb
		if i < len(edges)-1 {
			r = float64(qb.Rank(edges[i]))
		}
		actual = append(actual, r-prev)
		prev = r
	}
	return expected, actual, true
}

// categoryBins aligns two category lists (plus "other") into count vectors.
func categoryBins(a, b *ColumnProfile) (p, q []float64, ok bool) {
	if a.Count == 0 || b.Count == 0 {
		return nil, nil, false
	}
	index := map[string]int{}
	var names []string
	for _, list := range [][]CategoryCount{a.TopCategories, b.TopCategories} {
		for _, c := range list {
			if _, seen := index[c.Value]; !seen {
				index[c.Value] = len(names)
				names = append(names, c.Value)
			}
		}
	}
	vec := func(c *ColumnProfile) []float64 {
		v := make([]float64, len(names)+1)
		var listed int64
		for _, cc := range c.TopCategories {
			v[index[cc.Value]] = float64(cc.Count)
			listed += cc.Count
		}
		v[len(names)] = float64(max(c.Count-c.NonFinite-listed, 0))
		return v
	}
	return vec(a), vec(b), true
}

func decodeQuantiles(s string) (*sketch.Quantiles, error) {
	if s == "" {
		return nil, nil
	}
	data, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, err
	}
	q := &sketch.Quantiles{}
	if err := q.UnmarshalBinary(data); err != nil {
		return nil, err
	}
	return q, nil
}
