// Package prep turns a table into the feature matrix a learner trains on,
// and keeps what it learned (imputation values, category codes, scales) so
// that serving applies exactly the same transformation. A Prep is fit once
// on the training table, saved inside the model (MarshalJSON / Unmarshal) and
// applied to any table (Matrix) or single row (TransformRow).
//
// Column kinds. Int, float, bool (0/1) and timestamp (Unix seconds) columns
// are numeric; string columns are categorical. Spec.Numeric declares string
// columns numeric (each value must parse as a number) and Spec.Categorical
// declares any column categorical (values compared as text: 3 and 3.0 are
// both "3").
//
// Missing values. A missing cell is one the reader marked missing, or a NaN
// (including "NaN" parsed from text). ±Inf in a feature is rejected naming
// the column and row, at fit and when transforming: never passed to a model.
//
// Mode "trees" (the default): numeric columns pass through with NaN for
// missing; a categorical column becomes one matrix column of ordinal codes
// (learn.Matrix.Categories set), missing stays NaN for the learner's native
// missing handling. The MaxCategories most frequent values (default 255;
// ties by value) get codes 0..k-1 in value order; code k ("other") stands for
// every rarer value and any value unseen at fit, so Categories is k+1.
//
// Mode "linear": a missing numeric value is imputed with the training mean
// (or median, Spec.Impute), then standardised as (x-mean)/std with the
// training mean and population standard deviation of the observed values; a
// column with std 0 is kept and always 0. A categorical column is one-hot
// encoded over its MaxCategories most frequent values (default 50), named
// "column=value"; a missing value is imputed with the most frequent value;
// rarer values and values unseen at fit are all zeros. One-hot columns are
// not standardised and every kept value gets a column (no reference level).
//
// Target. Task "" infers it: a string or bool target is binary with 2
// classes and multiclass with more; an int target (or a float one whose
// values are whole numbers) with exactly 2 distinct values is binary; any
// other numeric target is regression. Classification targets are label
// encoded: classes sorted (numerically when every class is a number, else
// by text; false < true), except that for two classes a recognised pair
// puts the positive class second whatever the case: 0/1, false/true, no/yes,
// n/y, f/t, negative/positive, neg/pos. The positive class of a binary task
// is Classes()[1]. A target missing in any row is an error naming the count
// and first row (drop or fill those rows first). Rows are numbered from 1 in
// errors, header excluded.
package prep

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mlcycle/mlcycle/internal/errs"
	"github.com/mlcycle/mlcycle/internal/frame"
	"github.com/mlcycle/mlcycle/internal/learn"
)

// Mode is how features are encoded for a family of learners.
type Mode string

// Modes.
const (
	Trees  Mode = "trees"
	Linear Mode = "linear"
)

// Impute is how linear mode fills missing numeric values.
type Impute string

// Imputation strategies.
const (
	Mean   Impute = "mean"
	Median Impute = "median"
)

// Defaults for Spec.MaxCategories.
const (
	DefaultMaxCategoriesTrees  = 255
	DefaultMaxCategoriesLinear = 50
	maxMaxCategories           = 1 << 16
)

// Spec says what to fit.
type Spec struct {
	Target      string
	Features    []string   // empty: every column but Target and Exclude
	Exclude     []string   // columns never used as features
	Mode        Mode       // "" = Trees
	Task        learn.Task // "" = infer from the target
	Numeric     []string   // string columns to read as numbers
	Categorical []string   // columns to treat as categorical whatever their type
	// MaxCategories is the most distinct values a categorical column keeps
	// (0 = 255 in trees mode, 50 in linear mode).
	MaxCategories int
	Impute        Impute // linear mode: "" or "mean", or "median"
}

type kind uint8

const (
	numeric kind = iota + 1
	categorical
)

// input is one input column and how it maps to matrix columns.
type input struct {
	field frame.Field // name, type at fit (float for a declared-numeric string column), nullable
	kind  kind
	// numeric, linear mode: missing -> fill; then (x-mean)*scale.
	fill, mean, std, scale float64
	// categorical: the kept values in code order, their codes, and (linear
	// mode) the code imputed for a missing value.
	cats    []string
	code    map[string]int
	fillCat int
	col     int // first matrix column
}

// Prep is a fitted preprocessing. It is immutable and safe for concurrent use.
type Prep struct {
	mode    Mode
	task    learn.Task
	target  frame.Field
	classes []string
	classIx map[string]int
	inputs  []input
	names   []string
	source  []int
	catsN   []int
}

func invalid(format string, args ...any) error { return errs.E(errs.Invalid, format, args...) }

// Mode is the encoding mode.
func (p *Prep) Mode() Mode { return p.mode }

// Task is the fitted or inferred task.
func (p *Prep) Task() learn.Task { return p.task }

// Classes are the class labels in index order (nil for regression); for a
// binary task Classes()[1] is the positive class.
func (p *Prep) Classes() []string { return slices.Clone(p.classes) }

// ClassIndex is the index of a class label, and whether it is one.
func (p *Prep) ClassIndex(label string) (int, bool) {
	k, ok := p.classIx[label]
	return k, ok
}

// NumClass is len(Classes()): 2 for binary, 0 for regression.
func (p *Prep) NumClass() int { return len(p.classes) }

// TargetField is the target column as seen at fit.
func (p *Prep) TargetField() frame.Field { return p.target }

// Inputs is the input signature: the columns a table or row must provide, in
// the order TransformValues takes them.
func (p *Prep) Inputs() []frame.Field {
	out := make([]frame.Field, len(p.inputs))
	for i := range p.inputs {
		out[i] = p.inputs[i].field
	}
	return out
}

// Width is the number of matrix columns.
func (p *Prep) Width() int { return len(p.names) }

// Names are the matrix column names: the input name, or "column=value" for a
// one-hot column.
func (p *Prep) Names() []string { return slices.Clone(p.names) }

// Categories is learn.Matrix.Categories for the matrices Matrix builds.
func (p *Prep) Categories() []int { return slices.Clone(p.catsN) }

// Source is the index in Inputs() of the input column matrix column j comes
// from (to add one-hot contributions back up).
func (p *Prep) Source(j int) int { return p.source[j] }

// Fit learns a preprocessing from the training table t. Every problem with
// the data the spec names is reported here, before any training.
func Fit(t *frame.Table, spec Spec) (*Prep, error) {
	p := &Prep{mode: spec.Mode}
	if p.mode == "" {
		p.mode = Trees
	}
	if p.mode != Trees && p.mode != Linear {
		return nil, invalid("unknown preprocessing mode %q (want trees or linear)", spec.Mode)
	}
	imp := spec.Impute
	if imp == "" {
		imp = Mean
	}
	if imp != Mean && imp != Median {
		return nil, invalid("unknown imputation %q (want mean or median)", spec.Impute)
	}
	maxCat := spec.MaxCategories
	switch {
	case maxCat < 0 || maxCat > maxMaxCategories:
		return nil, invalid("max categories is %d; want 1 to %d (0 for the default)", maxCat, maxMaxCategories)
	case maxCat == 0 && p.mode == Trees:
		maxCat = DefaultMaxCategoriesTrees
	case maxCat == 0:
		maxCat = DefaultMaxCategoriesLinear
	}
	if t.Rows() == 0 {
		return nil, invalid("the training table has no rows")
	}
	if spec.Target == "" {
		return nil, invalid("no target column given")
	}
	tc, err := t.Column(spec.Target)
	if err != nil {
		return nil, invalid("target column %q not found (available: %s)", spec.Target, t.Available(10))
	}
	features, err := selectFeatures(t, spec)
	if err != nil {
		return nil, err
	}
	if err := p.fitTarget(tc, spec.Task); err != nil {
		return nil, err
	}
	declared := map[string]kind{}
	for _, n := range spec.Numeric {
		declared[n] = numeric
	}
	for _, n := range spec.Categorical {
		if declared[n] == numeric {
			return nil, invalid("column %q is declared both numeric and categorical", n)
		}
		declared[n] = categorical
	}
	isFeature := map[string]bool{}
	for _, f := range features {
		isFeature[f] = true
	}
	for _, list := range [][]string{spec.Numeric, spec.Categorical} {
		for _, n := range list {
			if !isFeature[n] {
				if _, err := t.Column(n); err != nil {
					return nil, invalid("declared column %q not found (available: %s)", n, t.Available(10))
				}
				return nil, invalid("declared column %q is not a feature", n)
			}
		}
	}
	for _, name := range features {
		c, _ := t.Column(name)
		in, err := fitInput(c, declared[name], p.mode, imp, maxCat)
		if err != nil {
			return nil, err
		}
		p.inputs = append(p.inputs, in)
	}
	p.layout()
	return p, nil
}

// selectFeatures resolves the feature list of spec against t.
func selectFeatures(t *frame.Table, spec Spec) ([]string, error) {
	excluded := map[string]bool{}
	for _, n := range spec.Exclude {
		if _, err := t.Column(n); err != nil {
			return nil, invalid("excluded column %q not found (available: %s)", n, t.Available(10))
		}
		excluded[n] = true
	}
	var out []string
	if len(spec.Features) == 0 {
		for _, f := range t.Schema.Fields {
			if f.Name != spec.Target && !excluded[f.Name] {
				out = append(out, f.Name)
			}
		}
	} else {
		seen := map[string]bool{}
		for _, n := range spec.Features {
			if n == spec.Target {
				return nil, invalid("feature %q is the target column", n)
			}
			if seen[n] {
				return nil, invalid("feature %q is listed twice", n)
			}
			seen[n] = true
			if _, err := t.Column(n); err != nil {
				return nil, invalid("feature column %q not found (available: %s)", n, t.Available(10))
			}
			if !excluded[n] {
				out = append(out, n)
			}
		}
	}
	if len(out) == 0 {
		return nil, invalid("no feature columns left (target %q, %d excluded)", spec.Target, len(excluded))
	}
	return out, nil
}

// layout assigns matrix columns to inputs.
func (p *Prep) layout() {
	p.names, p.source, p.catsN = nil, nil, nil
	for i := range p.inputs {
		in := &p.inputs[i]
		in.col = len(p.names)
		switch {
		case in.kind == numeric:
			p.names = append(p.names, in.field.Name)
			p.catsN = append(p.catsN, 0)
			p.source = append(p.source, i)
		case p.mode == Trees:
			p.names = append(p.names, in.field.Name)
			p.catsN = append(p.catsN, len(in.cats)+1)
			p.source = append(p.source, i)
		default:
			for _, v := range in.cats {
				p.names = append(p.names, in.field.Name+"="+v)
				p.catsN = append(p.catsN, 0)
				p.source = append(p.source, i)
			}
		}
		if in.kind == numeric {
			in.scale = 0
			if in.std > 0 {
				in.scale = 1 / in.std
			}
		} else {
			in.code = make(map[string]int, len(in.cats))
			for k, v := range in.cats {
				in.code[v] = k
			}
		}
	}
	p.classIx = make(map[string]int, len(p.classes))
	for k, c := range p.classes {
		p.classIx[c] = k
	}
}

// fitInput learns how to encode column c.
func fitInput(c *frame.TableColumn, declared kind, mode Mode, imp Impute, maxCat int) (input, error) {
	in := input{field: c.Field, kind: declared}
	name := c.Field.Name
	if c.Field.Type == frame.TypeNull || c.NullCount() == c.Len() {
		return in, invalid("feature column %q has no values (every row is missing)", name)
	}
	if in.kind == 0 {
		in.kind = numeric
		if c.Field.Type == frame.TypeString {
			in.kind = categorical
		}
	}
	if in.kind == numeric {
		if c.Field.Type == frame.TypeString {
			in.field.Type = frame.TypeFloat
		}
		x, err := numericColumn(c, in.field.Type)
		if err != nil {
			return in, err
		}
		var obs []float64
		for _, v := range x {
			if !math.IsNaN(v) {
				obs = append(obs, v)
			}
		}
		if len(obs) == 0 {
			return in, invalid("feature column %q has no values (every row is missing or NaN)", name)
		}
		if mode == Linear {
			in.mean, in.std = meanStd(obs)
			if math.IsInf(in.mean, 0) || math.IsInf(in.std, 0) {
				return in, invalid("feature column %q: values too large to standardise", name)
			}
			in.fill = in.mean
			if imp == Median {
				in.fill = median(obs)
			}
		}
		return in, nil
	}
	// Categorical: count values; keep the most frequent, codes in value order.
	counts := map[string]int{}
	for i := range c.Len() {
		if !c.IsNull(i) {
			counts[catKey(c, i)]++
		}
	}
	type vc struct {
		v string
		n int
	}
	all := make([]vc, 0, len(counts))
	for v, n := range counts {
		all = append(all, vc{v, n})
	}
	slices.SortFunc(all, func(a, b vc) int {
		if a.n != b.n {
			return b.n - a.n
		}
		return strings.Compare(a.v, b.v)
	})
	mostFrequent := all[0].v
	all = all[:min(len(all), maxCat)]
	for _, e := range all {
		in.cats = append(in.cats, e.v)
	}
	slices.Sort(in.cats)
	in.fillCat, _ = slices.BinarySearch(in.cats, mostFrequent)
	return in, nil
}

// catKey is the text of cell i of a categorical column.
func catKey(c *frame.TableColumn, i int) string {
	switch c.Field.Type {
	case frame.TypeString:
		return c.Strings[i]
	case frame.TypeFloat:
		return strconv.FormatFloat(c.Floats[i], 'g', -1, 64)
	}
	return c.Str(i)
}

func meanStd(x []float64) (mean, std float64) {
	var s float64
	for _, v := range x {
		s += v
	}
	mean = s / float64(len(x))
	var ss float64
	for _, v := range x {
		d := v - mean
		ss += d * d
	}
	return mean, math.Sqrt(ss / float64(len(x)))
}

func median(x []float64) float64 {
	s := slices.Clone(x)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return s[n/2-1]/2 + s[n/2]/2
}

// numericColumn reads column c as numbers (NaN = missing) for an input fit
// as type fit. Text is parsed; text that is not a number, and ±Inf, are
// errors naming the column, row and value.
func numericColumn(c *frame.TableColumn, fit frame.Type) ([]float64, error) {
	n := c.Len()
	out := make([]float64, n)
	name := c.Field.Name
	for i := range n {
		if c.IsNull(i) {
			out[i] = math.NaN()
			continue
		}
		var v float64
		switch c.Field.Type {
		case frame.TypeFloat:
			v = c.Floats[i]
		case frame.TypeInt:
			v = float64(c.Ints[i])
		case frame.TypeTimestamp:
			v = float64(c.Ints[i]) / 1e6
		case frame.TypeBool:
			if c.Bools[i] {
				v = 1
			}
		case frame.TypeString:
			var ok bool
			if v, ok = parseNumber(c.Strings[i], fit); !ok {
				return nil, invalid("column %q, row %d: %q is not a number", name, i+1, c.Strings[i])
			}
		}
		if math.IsInf(v, 0) {
			return nil, invalid("column %q, row %d: infinite value %v (remove or replace it)", name, i+1, v)
		}
		out[i] = v
	}
	return out, nil
}

// parseNumber reads text for a numeric input: a number, or for a timestamp
// input also a date/time (to Unix seconds). Missing-value words are NaN.
func parseNumber(s string, fit frame.Type) (float64, bool) {
	if isNullText(s) {
		return math.NaN(), true
	}
	if v, ok := frame.ParseFloat(s); ok {
		return v, true
	}
	if fit == frame.TypeTimestamp {
		if us, ok := frame.ParseTimestamp(s); ok {
			return float64(us) / 1e6, true
		}
	}
	if b, err := strconv.ParseBool(strings.TrimSpace(s)); err == nil && fit == frame.TypeBool {
		if b {
			return 1, true
		}
		return 0, true
	}
	return 0, false
}

// isNullText reports whether s is one of the readers' default missing-value
// words.
func isNullText(s string) bool {
	switch s {
	case "", "NA", "N/A", "n/a", "null", "NULL", "Null", "None", "<NA>":
		return true
	}
	return false
}

// fitTarget infers or checks the task and learns the class labels.
func (p *Prep) fitTarget(c *frame.TableColumn, task learn.Task) error {
	p.target = c.Field
	name := c.Field.Name
	if c.Field.Type == frame.TypeNull || c.NullCount() == c.Len() {
		return invalid("target column %q has no values (every row is missing)", name)
	}
	missing, first := 0, -1
	for i := range c.Len() {
		if c.IsNull(i) || (c.Field.Type == frame.TypeFloat && math.IsNaN(c.Floats[i])) {
			if first < 0 {
				first = i
			}
			missing++
		}
	}
	if missing > 0 {
		return invalid("target column %q is missing in %d row(s) (first: row %d); drop or fill them before training", name, missing, first+1)
	}
	if task != "" {
		if _, err := learn.ParseTask(string(task)); err != nil {
			return invalid("%v", err)
		}
	}
	// Up to three distinct values decide constant, binary or more.
	var distinct []string
	for i := 0; i < c.Len() && len(distinct) < 3; i++ {
		if k := catKey(c, i); !slices.Contains(distinct, k) {
			distinct = append(distinct, k)
		}
	}
	if len(distinct) == 1 {
		return invalid("target column %q is constant (every row is %q); nothing to learn", name, distinct[0])
	}
	if task == "" {
		switch c.Field.Type {
		case frame.TypeString, frame.TypeBool:
			task = learn.Multiclass
			if len(distinct) == 2 {
				task = learn.Binary
			}
		case frame.TypeInt:
			task = learn.Regression
			if len(distinct) == 2 {
				task = learn.Binary
			}
		case frame.TypeFloat:
			task = learn.Regression
			if len(distinct) == 2 && wholeNumbers(c.Floats) {
				task = learn.Binary
			}
		default:
			return invalid("target column %q is a %s column; cannot infer a task (give one)", name, c.Field.Type)
		}
	}
	p.task = task
	if task == learn.Regression {
		switch c.Field.Type {
		case frame.TypeInt, frame.TypeFloat, frame.TypeString:
		default:
			return invalid("target column %q is a %s column; regression needs numbers", name, c.Field.Type)
		}
		y, err := numericColumn(c, frame.TypeFloat)
		if err != nil {
			return fmt.Errorf("target: %w", err)
		}
		for i, v := range y {
			if math.IsNaN(v) {
				return invalid("target column %q is missing in row %d", name, i+1)
			}
		}
		return nil
	}
	if task == learn.Binary && len(distinct) != 2 {
		return invalid("target column %q has more than 2 classes; a binary task needs exactly 2", name)
	}
	if c.Field.Type == frame.TypeTimestamp {
		return invalid("target column %q is a timestamp column; classification needs classes", name)
	}
	seen := map[string]bool{}
	for i := range c.Len() {
		if k := catKey(c, i); !seen[k] {
			seen[k] = true
			p.classes = append(p.classes, k)
		}
	}
	sortClasses(p.classes)
	return nil
}

func wholeNumbers(x []float64) bool {
	for _, v := range x {
		if v != math.Trunc(v) || math.IsInf(v, 0) {
			return false
		}
	}
	return true
}

// positivePairs are two-class label pairs (lower case) whose positive class
// is the second.
var positivePairs = [...][2]string{
	{"0", "1"}, {"false", "true"}, {"no", "yes"}, {"n", "y"}, {"f", "t"},
	{"negative", "positive"}, {"neg", "pos"},
}

// sortClasses orders class labels: numerically when all are numbers, else by
// text; a recognised negative/positive pair puts the positive second.
func sortClasses(cs []string) {
	if len(cs) == 2 {
		a, b := strings.ToLower(cs[0]), strings.ToLower(cs[1])
		for _, pp := range positivePairs {
			if a == pp[1] && b == pp[0] {
				cs[0], cs[1] = cs[1], cs[0]
				return
			}
			if a == pp[0] && b == pp[1] {
				return
			}
		}
	}
	nums := make(map[string]float64, len(cs))
	for _, c := range cs {
		v, err := strconv.ParseFloat(c, 64)
		if err != nil || math.IsNaN(v) {
			slices.Sort(cs)
			return
		}
		nums[c] = v
	}
	slices.SortFunc(cs, func(a, b string) int {
		if c := cmp.Compare(nums[a], nums[b]); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
}

// Matrix transforms table t, laid out as at fit. Every input column must be
// present (extra columns are ignored); types may differ from fit as long as
// the values convert (text to numbers for a numeric input; anything to text
// for a categorical one).
func (p *Prep) Matrix(t *frame.Table) (*learn.Matrix, error) {
	n := t.Rows()
	m := &learn.Matrix{Rows: n, Cols: len(p.names), Data: make([]float64, n*len(p.names)), Names: p.Names(), Categories: p.Categories()}
	for i := range p.inputs {
		in := &p.inputs[i]
		c, err := t.Column(in.field.Name)
		if err != nil {
			return nil, invalid("input column %q is missing (available: %s)", in.field.Name, t.Available(10))
		}
		if c.Len() != n {
			return nil, invalid("input column %q has %d rows, the table %d", in.field.Name, c.Len(), n)
		}
		if in.kind == numeric {
			x, err := numericColumn(c, in.field.Type)
			if err != nil {
				return nil, err
			}
			dst := m.Col(in.col)
			if p.mode == Trees {
				copy(dst, x)
				continue
			}
			for r, v := range x {
				if math.IsNaN(v) {
					v = in.fill
				}
				dst[r] = (v - in.mean) * in.scale
			}
			continue
		}
		if p.mode == Trees {
			dst := m.Col(in.col)
			for r := range n {
				if c.IsNull(r) {
					dst[r] = math.NaN()
					continue
				}
				k, ok := in.code[catKey(c, r)]
				if !ok {
					k = len(in.cats)
				}
				dst[r] = float64(k)
			}
			continue
		}
		for r := range n {
			k, ok := in.fillCat, true
			if !c.IsNull(r) {
				k, ok = in.code[catKey(c, r)]
			}
			if ok {
				m.Data[(in.col+k)*n+r] = 1
			}
		}
	}
	return m, nil
}

// Target returns the target of every row of t: the class index for
// classification, the value for regression. A missing target or a class
// unseen at fit is an error naming it.
func (p *Prep) Target(t *frame.Table) ([]float64, error) {
	c, err := t.Column(p.target.Name)
	if err != nil {
		return nil, invalid("target column %q is missing (available: %s)", p.target.Name, t.Available(10))
	}
	if p.task == learn.Regression {
		y, err := numericColumn(c, frame.TypeFloat)
		if err != nil {
			return nil, fmt.Errorf("target: %w", err)
		}
		for i, v := range y {
			if math.IsNaN(v) {
				return nil, invalid("target column %q is missing in row %d", p.target.Name, i+1)
			}
		}
		return y, nil
	}
	y := make([]float64, c.Len())
	for i := range y {
		if c.IsNull(i) {
			return nil, invalid("target column %q is missing in row %d", p.target.Name, i+1)
		}
		k, ok := p.classIx[catKey(c, i)]
		if !ok {
			return nil, invalid("target column %q, row %d: class %q was not seen in training (known: %s)", p.target.Name, i+1, catKey(c, i), strings.Join(p.classes, ", "))
		}
		y[i] = float64(k)
	}
	return y, nil
}

// TransformRow transforms one row given by get, which returns the value of
// an input column and whether it is present. Values may be nil (missing),
// float64, float32, int, int32, int64, bool, string (a number as text is
// accepted for a numeric input, and a date/time for a timestamp one) or
// anything with a String method for a categorical input. A number given for
// a timestamp input is Unix seconds. The result is written to dst (grown to
// Width()) and returned; nothing else is allocated on the way.
func (p *Prep) TransformRow(get func(name string) (any, bool), dst []float64) ([]float64, error) {
	dst = grow(dst, len(p.names))
	for i := range p.inputs {
		v, ok := get(p.inputs[i].field.Name)
		if !ok {
			v = nil
		}
		if err := p.set(i, v, dst); err != nil {
			return dst, err
		}
	}
	return dst, nil
}

// TransformValues is TransformRow with the values given in Inputs() order.
func (p *Prep) TransformValues(vals []any, dst []float64) ([]float64, error) {
	if len(vals) != len(p.inputs) {
		return dst, invalid("got %d values; the model takes %d inputs", len(vals), len(p.inputs))
	}
	dst = grow(dst, len(p.names))
	for i, v := range vals {
		if err := p.set(i, v, dst); err != nil {
			return dst, err
		}
	}
	return dst, nil
}

func grow(dst []float64, n int) []float64 {
	if cap(dst) < n {
		return make([]float64, n)
	}
	return dst[:n]
}

// set writes the matrix columns of input i for value v.
func (p *Prep) set(i int, v any, dst []float64) error {
	in := &p.inputs[i]
	if in.kind == numeric {
		x, err := toNumber(v, in.field)
		if err != nil {
			return err
		}
		if p.mode == Linear {
			if math.IsNaN(x) {
				x = in.fill
			}
			x = (x - in.mean) * in.scale
		}
		dst[in.col] = x
		return nil
	}
	key, missing, err := toKey(v, in.field.Name)
	if err != nil {
		return err
	}
	if p.mode == Trees {
		switch k, ok := in.code[key]; {
		case missing:
			dst[in.col] = math.NaN()
		case ok:
			dst[in.col] = float64(k)
		default:
			dst[in.col] = float64(len(in.cats))
		}
		return nil
	}
	cols := dst[in.col : in.col+len(in.cats)]
	clear(cols)
	k, ok := in.fillCat, true
	if !missing {
		k, ok = in.code[key]
	}
	if ok {
		cols[k] = 1
	}
	return nil
}

// toNumber converts a row value for a numeric input (NaN = missing).
func toNumber(v any, f frame.Field) (float64, error) {
	var x float64
	switch v := v.(type) {
	case nil:
		return math.NaN(), nil
	case float64:
		x = v
	case float32:
		x = float64(v)
	case int:
		x = float64(v)
	case int64:
		x = float64(v)
	case int32:
		x = float64(v)
	case bool:
		if v {
			x = 1
		}
	case string:
		var ok bool
		if x, ok = parseNumber(v, f.Type); !ok {
			return 0, invalid("input %q: %q is not a number", f.Name, v)
		}
	case time.Time:
		x = float64(v.UnixMicro()) / 1e6
	case fmt.Stringer: // json.Number
		var ok bool
		if x, ok = parseNumber(v.String(), f.Type); !ok {
			return 0, invalid("input %q: %q is not a number", f.Name, v.String())
		}
	default:
		return 0, invalid("input %q: want a number, got %T", f.Name, v)
	}
	if math.IsInf(x, 0) {
		return 0, invalid("input %q: infinite value", f.Name)
	}
	return x, nil
}

// toKey converts a row value for a categorical input to its text.
func toKey(v any, name string) (key string, missing bool, err error) {
	switch v := v.(type) {
	case nil:
		return "", true, nil
	case string:
		return v, false, nil
	case float64:
		if math.IsNaN(v) {
			return "", true, nil
		}
		return strconv.FormatFloat(v, 'g', -1, 64), false, nil
	case float32:
		return strconv.FormatFloat(float64(v), 'g', -1, 64), false, nil
	case int:
		return strconv.Itoa(v), false, nil
	case int64:
		return strconv.FormatInt(v, 10), false, nil
	case int32:
		return strconv.FormatInt(int64(v), 10), false, nil
	case bool:
		return strconv.FormatBool(v), false, nil
	case fmt.Stringer:
		return v.String(), false, nil
	}
	return "", false, invalid("input %q: want a string, got %T", name, v)
}
