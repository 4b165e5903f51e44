// Package profile computes a table's profile in one streaming pass with
// bounded memory, and compares two profiles for drift.
//
// A Profile is stored as JSON with a dataset version and later serves as the
// drift reference for monitoring, so it keeps distributions, not only
// summaries: a histogram per numeric column, category counts per string and
// bool column, and the mergeable sketches (HyperLogLog and quantile sketch,
// base64) from which both can be recomputed for other bin edges.
//
// Definitions:
//   - Missing counts null cells (see package frame for what reads as null).
//   - Count is the number of non-missing cells; NonFinite counts NaN and
//     ±Inf floats among them. Min, Max, Mean, Std, Quantiles and Histogram
//     cover the finite values only.
//   - Std is the sample standard deviation (divisor n-1, as pandas
//     describe()); nil when fewer than two finite values.
//   - Quantiles are exact (linear interpolation between order statistics,
//     numpy's default) while a column has at most sketch.ExactLimit finite
//     values, and otherwise come from a KLL sketch whose rank error is
//     within sketch.RankError of the requested rank.
//   - Histogram: Bins (20) equal-width bins between min and max; the first
//     bin is closed [e0, e1], the others half-open (e_i, e_i+1] (pandas.cut
//     with include_lowest=True). For an int column spanning fewer than 20
//     distinct integers, one bin per integer, edges at half-integers.
//     Counts come from the quantile sketch at the end of the pass, so they
//     are exact in exact mode and otherwise each edge's cumulative count is
//     within the rank error; they always sum to the finite count.
//   - TopCategories (string and bool columns): the TopK (100) most frequent
//     values. Counts are exact while a column has at most
//     sketch.TopKCapacity (10,000) distinct values (CategoriesExact); beyond
//     that a space-saving sketch keeps the heavy hitters, each count within
//     n/10,000 of the truth. OtherCount is Count minus the listed counts.
//   - Timestamps: MinTime and MaxTime, Distinct, Missing; no numeric stats.
//   - A column widened to string after the sample (see frame) keeps the
//     string statistics of the values read after the widening; the values
//     read before it are counted in OtherCount and CategoriesExact is false.
package profile

import (
	"time"

	"github.com/mlcycle/mlcycle/internal/frame"
)

// Version of the profile JSON layout; stored in Profile.Version.
const Version = 1

// Profile describes one table.
type Profile struct {
	Version int             `json:"version"`
	Format  string          `json:"format,omitempty"` // "csv", "tsv", "jsonl", "parquet"
	Rows    int64           `json:"rows"`
	Columns []ColumnProfile `json:"columns"`
}

// Column returns the profile of the column called name, or nil.
func (p *Profile) Column(name string) *ColumnProfile {
	for i := range p.Columns {
		if p.Columns[i].Name == name {
			return &p.Columns[i]
		}
	}
	return nil
}

// ColumnProfile describes one column. Pointer fields are omitted when they
// do not apply to the column type or there were no finite values.
type ColumnProfile struct {
	Name      string `json:"name"`
	Type      string `json:"type"` // frame.Type
	Nullable  bool   `json:"nullable"`
	Missing   int64  `json:"missing"`
	Count     int64  `json:"count"`      // non-missing cells
	Distinct  uint64 `json:"distinct"`   // HyperLogLog estimate (exact below a few thousand)
	NonFinite int64  `json:"non_finite"` // NaN and ±Inf among Count (float columns)

	Min       *float64           `json:"min,omitempty"`
	Max       *float64           `json:"max,omitempty"`
	Mean      *float64           `json:"mean,omitempty"`
	Std       *float64           `json:"std,omitempty"`
	Quantiles map[string]float64 `json:"quantiles,omitempty"` // p01 p05 p25 p50 p75 p95 p99
	Histogram *Histogram         `json:"histogram,omitempty"`

	MinTime *time.Time `json:"min_time,omitempty"`
	MaxTime *time.Time `json:"max_time,omitempty"`

	TopCategories   []CategoryCount `json:"top_categories,omitempty"`
	OtherCount      int64           `json:"other_count,omitempty"`
	CategoriesExact bool            `json:"categories_exact,omitempty"`

	// Sketches, base64 of their MarshalBinary form (package sketch), for
	// merging and for drift statistics on other bin edges: HLL for every
	// column, QuantileSketch for numeric columns with finite values.
	HLL            string `json:"hll,omitempty"`
	QuantileSketch string `json:"quantile_sketch,omitempty"`
}

// MissingRate is Missing / (Missing + Count), 0 for an empty column.
func (c *ColumnProfile) MissingRate() float64 {
	if t := c.Missing + c.Count; t > 0 {
		return float64(c.Missing) / float64(t)
	}
	return 0
}

// Histogram is a numeric column's distribution: len(Edges) == len(Counts)+1.
type Histogram struct {
	Edges  []float64 `json:"edges"`
	Counts []int64   `json:"counts"`
}

// CategoryCount is one category and how many cells hold it.
type CategoryCount struct {
	Value string `json:"value"`
	Count int64  `json:"count"`
}

// Defaults of Options.
const (
	DefaultBins = 20
	DefaultTopK = 100
)

// Options tune Compute. The zero value uses the defaults.
type Options struct {
	Bins    int // histogram bins (default 20)
	TopK    int // categories listed per column (default 100)
	Workers int // goroutines profiling columns in parallel (default GOMAXPROCS)
}

// Compute profiles every row of r in one pass and leaves r at io.EOF; the
// caller still closes r. Memory is bounded by the number of columns, not
// rows.
func Compute(r frame.Reader) (Profile, error) {
	return ComputeWith(r, Options{})
}

// ComputeFile opens the table at path, profiles it and closes it.
func ComputeFile(path string, opts frame.Options) (Profile, error) {
	r, err := frame.Open(path, opts)
	if err != nil {
		return Profile{}, err
	}
	p, err := Compute(r)
	if cerr := r.Close(); err == nil && cerr != nil {
		return Profile{}, cerr
	}
	return p, err
}
