package validate

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"math"
	"slices"
	"strings"
	"time"

	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
)

// Table is a stream of rows with a fixed set of typed columns; frame readers
// are adapted to it, and tests and callers with rows in memory can supply
// their own.
//
// Types are the frame type names: "int", "float", "bool", "string",
// "timestamp". Next returns the next rows, each with one value per column: nil
// (null), int64, float64, bool, string or time.Time as the column's type says.
// It returns io.EOF after the last row. If the table also has a method
// LineOffset() int64, it is added to 1-based row numbers in samples (1 for a
// CSV header line).
type Table interface {
	Columns() []string
	Types() []string
	Next() (rows [][]any, err error)
}

// column is one column of a batch, held in a slice of its Go type. Its type
// is one of the type names, or "null" for a column with only nulls.
type column struct {
	typ   string
	null  []bool
	ints  []int64
	flts  []float64
	bools []bool
	strs  []string
	times []time.Time
}

const typeNull = "null"

// reset empties the column and sizes it for n rows of type typ.
func (c *column) reset(typ string, n int) {
	c.typ = typ
	c.null = resize(c.null, n)
	clear(c.null)
	switch typ {
	case TypeInt:
		c.ints = resize(c.ints, n)
	case TypeFloat:
		c.flts = resize(c.flts, n)
	case TypeBool:
		c.bools = resize(c.bools, n)
	case TypeString:
		c.strs = resize(c.strs, n)
	case TypeTimestamp:
		c.times = resize(c.times, n)
	case typeNull:
		for i := range c.null {
			c.null[i] = true
		}
	}
}

func resize[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// set stores v, which must have the column's Go type, or nil for null.
func (c *column) set(i int, v any) bool {
	if v == nil {
		c.null[i] = true
		return true
	}
	ok := false
	switch c.typ {
	case TypeInt:
		c.ints[i], ok = v.(int64)
	case TypeFloat:
		c.flts[i], ok = v.(float64)
	case TypeBool:
		c.bools[i], ok = v.(bool)
	case TypeString:
		c.strs[i], ok = v.(string)
	case TypeTimestamp:
		c.times[i], ok = v.(time.Time)
	}
	return ok
}

// value returns row i as nil, int64, float64, bool, string or time.Time.
func (c *column) value(i int) any {
	if c.null[i] {
		return nil
	}
	switch c.typ {
	case TypeInt:
		return c.ints[i]
	case TypeFloat:
		return c.flts[i]
	case TypeBool:
		return c.bools[i]
	case TypeString:
		return c.strs[i]
	case TypeTimestamp:
		return c.times[i]
	}
	return nil
}

func (c *column) celValue(i int) ref.Val {
	if c.null[i] {
		return types.NullValue
	}
	switch c.typ {
	case TypeInt:
		return types.Int(c.ints[i])
	case TypeFloat:
		return types.Double(c.flts[i])
	case TypeBool:
		return types.Bool(c.bools[i])
	case TypeString:
		return types.String(c.strs[i])
	case TypeTimestamp:
		return types.Timestamp{Time: c.times[i]}
	}
	return types.NullValue
}

// batch is a run of rows of a table, one column per table column.
type batch struct {
	n     int
	cols  []*column
	lines []int64 // source line of each row; nil or 0 when unknown
	want  []bool  // columns the engine reads; sources may skip the others
}

// ensure gives b at least n columns.
func (b *batch) ensure(n int) {
	for len(b.cols) < n {
		b.cols = append(b.cols, &column{})
	}
}

// source is what the engine reads: a Table, or a frame reader.
type source interface {
	// next fills b with the next rows; io.EOF at the end.
	next(b *batch) error
	// schema is the table's columns, known once next has been called.
	schema() (names, typs []string)
}

// tableSource reads a Table.
type tableSource struct {
	t      Table
	name   string
	names  []string
	typs   []string
	row    int64
	offset int64
}

func (s *tableSource) schema() ([]string, []string) { return s.names, s.typs }

func (s *tableSource) next(b *batch) error {
	for {
		rows, err := s.t.Next()
		if len(rows) == 0 {
			if err == nil {
				continue
			}
			if errors.Is(err, io.EOF) {
				return err
			}
			return fmt.Errorf("%s: %w", s.name, err)
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		b.n = len(rows)
		b.ensure(len(s.names))
		for j, c := range b.cols[:len(s.names)] {
			c.reset(s.typs[j], b.n)
		}
		b.lines = resize(b.lines, b.n)
		for i, row := range rows {
			s.row++
			b.lines[i] = s.row + s.offset
			if len(row) != len(s.names) {
				return fmt.Errorf("%s: row %d has %d values for %d columns", s.name, s.row, len(row), len(s.names))
			}
			for j, v := range row {
				if x, ok := v.(int); ok {
					v = int64(x)
				}
				if !b.cols[j].set(i, v) {
					return fmt.Errorf("%s: row %d: column %q: %T value in a %s column", s.name, s.row, s.names[j], v, s.typs[j])
				}
			}
		}
		return nil
	}
}

// ValidateTable checks the rules against every row of t; name is the file
// name the report carries. Data that breaks the rules makes failures in the
// report; an error means the table could not be read or ctx ended.
func (r *Rules) ValidateTable(ctx context.Context, t Table, name string) (Report, error) {
	names, typs := t.Columns(), t.Types()
	if len(names) != len(typs) {
		return Report{}, fmt.Errorf("validating %s: %d column names for %d types", name, len(names), len(typs))
	}
	for j, typ := range typs {
		if !slices.Contains(typeNames, typ) {
			return Report{}, fmt.Errorf("validating %s: column %q has unknown type %q", name, names[j], typ)
		}
	}
	src := &tableSource{t: t, name: name, names: names, typs: typs}
	if lo, ok := t.(interface{ LineOffset() int64 }); ok {
		src.offset = lo.LineOffset()
	}
	return r.run(ctx, src, name)
}

// tally counts the failing rows of one expectation and keeps the first few.
type tally struct {
	expectation string
	column      string
	count       int64
	samples     []Sample
	problem     string // set when the expectation cannot be checked on this file
}

func (t *tally) add(line int64, values map[string]string) {
	t.count++
	if len(t.samples) < MaxSamples {
		t.samples = append(t.samples, Sample{Line: line, Values: values})
	}
}

// wants reports whether another sample would be kept, so callers build
// sample values only when needed.
func (t *tally) wants() bool { return len(t.samples) < MaxSamples }

func (t *tally) addValue(line int64, col string, v any) {
	t.count++
	if t.wants() {
		t.samples = append(t.samples, Sample{Line: line, Values: map[string]string{col: show(v)}})
	}
}

func (t *tally) failure(msg string) Failure {
	return Failure{Expectation: t.expectation, Column: t.column, Count: t.count, Message: msg, Samples: t.samples}
}

// colCheck is the state of one column over a file: the column has rules, or
// an expression uses it.
type colCheck struct {
	name     string
	idx      int         // column in the file
	rule     *columnRule // nil when only expressions use the column
	typ      string      // effective type: the declared one, else the file's; "" for any
	inferred bool        // typ comes from the file, not the rules
	conv     column      // the column converted to typ, when a batch has another type
	bad      []bool      // rows of conv whose value is not of type typ

	typeT, nullT, minT, maxT, allowedT, regexT, uniqueT tally

	allowed      map[any]bool
	seen         map[[16]byte]struct{}
	seed1, seed2 maphash.Seed
}

func newColCheck(c *columnRule, name string, idx int, fileType string) *colCheck {
	k := &colCheck{name: name, idx: idx, rule: c, typ: fileType, inferred: true}
	if c != nil && c.typ != "" {
		k.typ, k.inferred = c.typ, false
	}
	if k.typ == typeNull {
		k.typ = "" // no value seen yet: take values as they come
	}
	pre := "columns." + name + "."
	for t, what := range map[*tally]string{&k.typeT: "type", &k.nullT: "not_null", &k.minT: "min", &k.maxT: "max",
		&k.allowedT: "allowed", &k.regexT: "regex", &k.uniqueT: "unique"} {
		t.expectation, t.column = pre+what, name
	}
	if c == nil {
		return k
	}
	if c.min != nil {
		k.minT.problem = boundProblem(c.min, k.typ, "min")
	}
	if c.max != nil {
		k.maxT.problem = boundProblem(c.max, k.typ, "max")
	}
	if len(c.allowed) > 0 {
		k.allowed = make(map[any]bool, len(c.allowed))
		for _, v := range c.allowed {
			if k.typ == "" {
				k.allowed[allowedKey(v)] = true
			} else if cv, ok := coerce(v, k.typ); ok {
				k.allowed[allowedKey(cv)] = true
			}
		}
	}
	if c.unique {
		k.seen = make(map[[16]byte]struct{})
		k.seed1, k.seed2 = maphash.MakeSeed(), maphash.MakeSeed()
	}
	return k
}

// boundProblem says why a bound cannot apply to a column of type typ.
func boundProblem(b *bound, typ, which string) string {
	switch {
	case typ == "":
	case b.isTime && typ != TypeTimestamp:
		return fmt.Sprintf("cannot check: the column is %s and %s is a timestamp (declare type: timestamp to read text as timestamps)", typ, which)
	case !b.isTime && typ != TypeInt && typ != TypeFloat:
		return fmt.Sprintf("cannot check: the column is %s and %s is a number (declare type: int or float to read text as numbers)", typ, which)
	}
	return ""
}

// allowedKey makes values comparable as map keys: times by instant.
func allowedKey(v any) any {
	if t, ok := v.(time.Time); ok {
		return [2]int64{t.Unix(), int64(t.Nanosecond())}
	}
	if f, ok := v.(float64); ok && f == 0 {
		return 0.0 // -0 == 0
	}
	return v
}

// convert returns src as a column of the effective type, recording the rows
// whose value has no such form as type failures; those read as null to every
// other check and to expressions. bad marks them, nil when nothing was
// converted.
func (k *colCheck) convert(src *column, n int, line func(int) int64) (c *column, bad []bool) {
	if k.typ == "" || src.typ == k.typ || src.typ == typeNull {
		return src, nil
	}
	k.conv.reset(k.typ, n)
	k.bad = resize(k.bad, n)
	clear(k.bad)
	for i := range n {
		raw := src.value(i)
		if raw == nil {
			k.conv.null[i] = true
			continue
		}
		v, ok := coerce(raw, k.typ)
		if !ok {
			k.typeT.addValue(line(i), k.name, raw)
			k.bad[i] = true
			k.conv.null[i] = true
			continue
		}
		k.conv.set(i, v)
	}
	return &k.conv, k.bad
}

// check runs the column's rules on the rows of c, the converted column.
func (k *colCheck) check(c *column, bad []bool, n int, line func(int) int64) {
	r := k.rule
	if r == nil {
		return
	}
	name := k.name
	for i := range n {
		if c.null[i] {
			if r.notNull && (bad == nil || !bad[i]) {
				k.nullT.addValue(line(i), name, nil)
			}
			continue
		}
		if r.min != nil && k.minT.problem == "" && below(c, i, r.min) {
			k.minT.addValue(line(i), name, c.value(i))
		}
		if r.max != nil && k.maxT.problem == "" && above(c, i, r.max) {
			k.maxT.addValue(line(i), name, c.value(i))
		}
		if k.allowed != nil && !k.allowed[allowedKey(c.value(i))] {
			k.allowedT.addValue(line(i), name, c.value(i))
		}
		if r.regex != nil {
			var s string
			if c.typ == TypeString {
				s = c.strs[i]
			} else {
				s = plain(c.value(i))
			}
			if !r.regex.MatchString(s) {
				k.regexT.addValue(line(i), name, c.value(i))
			}
		}
		if k.seen != nil {
			h := k.hash(c, i)
			if _, dup := k.seen[h]; dup {
				k.uniqueT.addValue(line(i), name, c.value(i))
			} else {
				k.seen[h] = struct{}{}
			}
		}
	}
}

// below reports whether row i is under the bound; NaN is outside any range.
func below(c *column, i int, b *bound) bool {
	switch c.typ {
	case TypeInt:
		if b.isInt {
			return c.ints[i] < b.i
		}
		return float64(c.ints[i]) < b.f
	case TypeFloat:
		return !(c.flts[i] >= b.f)
	case TypeTimestamp:
		return c.times[i].Before(b.t)
	}
	return false
}

func above(c *column, i int, b *bound) bool {
	switch c.typ {
	case TypeInt:
		if b.isInt {
			return c.ints[i] > b.i
		}
		return float64(c.ints[i]) > b.f
	case TypeFloat:
		return !(c.flts[i] <= b.f)
	case TypeTimestamp:
		return c.times[i].After(b.t)
	}
	return false
}

// hash is the 128-bit identity of a value for the unique check: two
// independently seeded 64-bit hashes, so a false duplicate needs both to
// collide.
func (k *colCheck) hash(c *column, i int) [16]byte {
	var a, b uint64
	switch c.typ {
	case TypeInt:
		a, b = maphash.Comparable(k.seed1, c.ints[i]), maphash.Comparable(k.seed2, c.ints[i])
	case TypeFloat:
		f := c.flts[i]
		if f == 0 {
			f = 0 // -0 and 0 are the same value
		}
		bits := math.Float64bits(f)
		a, b = maphash.Comparable(k.seed1, bits), maphash.Comparable(k.seed2, bits)
	case TypeBool:
		a, b = maphash.Comparable(k.seed1, c.bools[i]), maphash.Comparable(k.seed2, c.bools[i])
	case TypeString:
		a, b = maphash.String(k.seed1, c.strs[i]), maphash.String(k.seed2, c.strs[i])
	case TypeTimestamp:
		t := [2]int64{c.times[i].Unix(), int64(c.times[i].Nanosecond())}
		a, b = maphash.Comparable(k.seed1, t), maphash.Comparable(k.seed2, t)
	}
	var h [16]byte
	binary.LittleEndian.PutUint64(h[:8], a)
	binary.LittleEndian.PutUint64(h[8:], b)
	return h
}

func (k *colCheck) failures(out []Failure) []Failure {
	if t := &k.typeT; t.count > 0 {
		msg := fmt.Sprintf("%s not %s", count(t.count, "row"), k.typ)
		if k.inferred {
			msg += " (the type read from the first rows; declare the column's type to convert text)"
		}
		out = append(out, t.failure(msg))
	}
	r := k.rule
	if r == nil {
		return out
	}
	if t := &k.nullT; t.count > 0 {
		out = append(out, t.failure(count(t.count, "row")+" null"))
	}
	for _, x := range []struct {
		t    *tally
		b    *bound
		word string
	}{{&k.minT, r.min, "below"}, {&k.maxT, r.max, "above"}} {
		switch {
		case x.b == nil:
		case x.t.problem != "":
			out = append(out, x.t.failure(x.t.problem))
		case x.t.count > 0:
			out = append(out, x.t.failure(fmt.Sprintf("%s %s %s", count(x.t.count, "row"), x.word, x.b.text)))
		}
	}
	if t := &k.allowedT; t.count > 0 {
		out = append(out, t.failure(fmt.Sprintf("%s not in [%s]", count(t.count, "row"), listText(r.allowedT))))
	}
	if t := &k.regexT; t.count > 0 {
		out = append(out, t.failure(fmt.Sprintf("%s not matching %s", count(t.count, "row"), r.regex)))
	}
	if t := &k.uniqueT; t.count > 0 {
		out = append(out, t.failure(count(t.count, "row")+" repeating an earlier value"))
	}
	return out
}

// listText shows up to 10 allowed values.
func listText(vals []string) string {
	if len(vals) > 10 {
		return strings.Join(vals[:10], ", ") + fmt.Sprintf(", ... (%d values)", len(vals))
	}
	return strings.Join(vals, ", ")
}

// exprCheck is the state of one expression over a file.
type exprCheck struct {
	p        *program
	t        tally
	falseN   int64
	errN     int64  // rows that failed to evaluate, over the cost limit aside
	firstErr string // "row 17: no such overload: _<_"
	costN    int64  // rows over the cost limit
	costLine int64  // the first of them
	stopped  bool   // MaxCostFailures reached: later rows not evaluated
}

func (e *exprCheck) failure() (Failure, bool) {
	switch {
	case e.p.err != "":
		return e.t.failure("cannot check: " + e.p.err), true
	case e.t.count == 0:
		return Failure{}, false
	case e.t.count == e.falseN:
		return e.t.failure(count(e.falseN, "row") + " false"), true
	case e.t.count == e.errN:
		return e.t.failure(fmt.Sprintf("%s failed to evaluate (%s)", count(e.errN, "row"), e.firstErr)), true
	case e.t.count == e.costN:
		msg := fmt.Sprintf("%s over the cost limit of %d", count(e.costN, "row"), ExprCostLimit)
		if e.stopped {
			msg += "; later rows not checked"
		}
		return e.t.failure(msg), true
	}
	var parts []string
	if e.falseN > 0 {
		parts = append(parts, fmt.Sprintf("%d false", e.falseN))
	}
	if e.errN > 0 {
		parts = append(parts, fmt.Sprintf("%d failed to evaluate (%s)", e.errN, e.firstErr))
	}
	if e.costN > 0 {
		parts = append(parts, fmt.Sprintf("%d over the cost limit of %d (first at row %d)", e.costN, ExprCostLimit, e.costLine))
	}
	if e.stopped {
		parts = append(parts, "later rows not checked")
	}
	return e.t.failure(fmt.Sprintf("%s failed: %s", count(e.t.count, "row"), strings.Join(parts, "; "))), true
}

// run is the engine: one pass over the source, checking each batch.
func (r *Rules) run(ctx context.Context, src source, name string) (Report, error) {
	b := &batch{}
	err := src.next(b)
	if err != nil && !errors.Is(err, io.EOF) {
		return Report{}, err
	}
	eof := err != nil
	names, typs := src.schema()
	index := make(map[string]int, len(names))
	for i, n := range names {
		if _, dup := index[n]; !dup {
			index[n] = i
		}
	}

	// One check per column that has rules or that an expression reads.
	var missing []Failure
	var checks []*colCheck
	byCol := make([]*colCheck, len(names))
	for _, c := range r.columns {
		i, ok := index[c.name]
		if !ok {
			if !c.optional {
				missing = append(missing, missingColumn(c.name))
			}
			continue
		}
		byCol[i] = newColCheck(c, c.name, i, typs[i])
		checks = append(checks, byCol[i])
	}
	for _, n := range r.required {
		if _, ok := index[n]; !ok {
			missing = append(missing, missingColumn(n))
		}
	}
	for _, e := range r.exprs {
		for _, id := range e.idents {
			if i, ok := index[id]; ok && byCol[i] == nil {
				byCol[i] = newColCheck(nil, id, i, typs[i])
				checks = append(checks, byCol[i])
			}
		}
	}
	effTypes := slices.Clone(typs)
	b.want = make([]bool, len(names))
	for _, k := range checks {
		effTypes[k.idx] = k.typ
		b.want[k.idx] = true
	}

	progs, err := compilePrograms(r.exprs, names, effTypes)
	if err != nil {
		return Report{}, fmt.Errorf("validating %s: %w", name, err)
	}
	exprs := make([]*exprCheck, len(progs))
	for i, p := range progs {
		exprs[i] = &exprCheck{p: p, t: tally{expectation: "expressions." + p.rule.name}}
	}
	act := newActivation(names)
	eff := make([]*column, len(names))
	var rows int64 // rows before this batch
	for !eof {
		if err := ctx.Err(); err != nil {
			return Report{}, err
		}
		base := rows
		line := func(i int) int64 {
			if i < len(b.lines) && b.lines[i] > 0 {
				return b.lines[i]
			}
			return base + int64(i) + 1
		}
		for _, k := range checks {
			c, bad := k.convert(b.cols[k.idx], b.n, line)
			k.check(c, bad, b.n, line)
			eff[k.idx] = c
		}
		if err := evalBatch(ctx, exprs, act, eff, names, b.n, line); err != nil {
			return Report{}, err
		}
		rows += int64(b.n)
		if err := src.next(b); errors.Is(err, io.EOF) {
			eof = true
		} else if err != nil {
			return Report{}, err
		}
	}

	rep := Report{File: name, Rows: rows}
	if r.hasMin && rows < r.rowsMin {
		rep.Failures = append(rep.Failures, Failure{Expectation: "rows.min",
			Message: fmt.Sprintf("%s, fewer than %d", count(rows, "row"), r.rowsMin)})
	}
	if r.hasMax && rows > r.rowsMax {
		rep.Failures = append(rep.Failures, Failure{Expectation: "rows.max",
			Message: fmt.Sprintf("%s, more than %d", count(rows, "row"), r.rowsMax)})
	}
	rep.Failures = append(rep.Failures, missing...)
	for _, k := range checks {
		rep.Failures = k.failures(rep.Failures)
	}
	for _, e := range exprs {
		if f, ok := e.failure(); ok {
			rep.Failures = append(rep.Failures, f)
		}
	}
	rep.OK = len(rep.Failures) == 0
	return rep, nil
}

func missingColumn(name string) Failure {
	return Failure{Expectation: "columns." + name + ".required", Column: name, Message: "column is missing"}
}

// evalBatch runs every expression on every row of a batch.
func evalBatch(ctx context.Context, exprs []*exprCheck, act *activation, cols []*column, names []string, n int, line func(int) int64) error {
	if len(exprs) == 0 {
		return nil
	}
	act.cols = cols
	for i := range n {
		if i%1024 == 1023 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		act.row = i
		for _, e := range exprs {
			if e.p.prg == nil || e.stopped {
				continue
			}
			msg, stop := e.p.eval(act)
			if msg == "" {
				continue
			}
			var vals map[string]string
			if e.t.wants() {
				vals = make(map[string]string, len(e.p.cols))
				for _, j := range e.p.cols {
					vals[names[j]] = show(cols[j].value(i))
				}
			}
			e.t.add(line(i), vals)
			if msg == "false" {
				e.falseN++
				continue
			}
			if stop {
				if e.costN == 0 {
					e.costLine = line(i)
				}
				e.costN++
				e.stopped = e.costN >= MaxCostFailures
				continue
			}
			e.errN++
			if e.firstErr == "" {
				e.firstErr = fmt.Sprintf("row %d: %s", line(i), msg)
			}
		}
	}
	return nil
}
