package frame

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// Table is a whole table in memory, column by column. Unlike a Batch it owns
// its storage: it stays valid after the Reader it came from is closed.
// Schema.Fields[i] describes Cols[i].
type Table struct {
	Schema Schema
	Cols   []*TableColumn
}

// TableColumn is one column of a Table. Exactly one value slice is used,
// chosen by Field.Type: int -> Ints; timestamp -> Ints holding Unix
// microseconds (UTC); float -> Floats; bool -> Bools; string -> Strings. A
// null-typed column (every value missing) has only Nulls. Nulls marks missing
// cells (true = missing) and is nil when none is missing; the value at a
// missing position is zero and must be ignored.
type TableColumn struct {
	Field   Field
	Nulls   []bool
	Floats  []float64
	Ints    []int64
	Bools   []bool
	Strings []string
}

// NewTable builds a table from columns of equal length; the schema is taken
// from the columns' fields.
func NewTable(cols ...*TableColumn) (*Table, error) {
	t := &Table{Cols: cols}
	seen := make(map[string]bool, len(cols))
	for i, c := range cols {
		if seen[c.Field.Name] {
			return nil, fmt.Errorf("table: duplicate column %q", c.Field.Name)
		}
		seen[c.Field.Name] = true
		if err := c.check(); err != nil {
			return nil, err
		}
		if i > 0 && c.Len() != cols[0].Len() {
			return nil, fmt.Errorf("table: column %q has %d rows, column %q has %d", c.Field.Name, c.Len(), cols[0].Field.Name, cols[0].Len())
		}
		t.Schema.Fields = append(t.Schema.Fields, c.Field)
	}
	return t, nil
}

// FloatColumn, IntColumn, BoolColumn, StringColumn and TimestampColumn build a
// column for NewTable; nulls may be nil. Field.Nullable is set when any value
// is missing. The slices are used, not copied.
func FloatColumn(name string, v []float64, nulls []bool) *TableColumn {
	return newColumn(name, TypeFloat, nulls, &TableColumn{Floats: v})
}

// IntColumn: see FloatColumn.
func IntColumn(name string, v []int64, nulls []bool) *TableColumn {
	return newColumn(name, TypeInt, nulls, &TableColumn{Ints: v})
}

// BoolColumn: see FloatColumn.
func BoolColumn(name string, v []bool, nulls []bool) *TableColumn {
	return newColumn(name, TypeBool, nulls, &TableColumn{Bools: v})
}

// StringColumn: see FloatColumn.
func StringColumn(name string, v []string, nulls []bool) *TableColumn {
	return newColumn(name, TypeString, nulls, &TableColumn{Strings: v})
}

// TimestampColumn: see FloatColumn; v holds Unix microseconds.
func TimestampColumn(name string, v []int64, nulls []bool) *TableColumn {
	return newColumn(name, TypeTimestamp, nulls, &TableColumn{Ints: v})
}

func newColumn(name string, typ Type, nulls []bool, c *TableColumn) *TableColumn {
	c.Field = Field{Name: name, Type: typ}
	for _, n := range nulls {
		if n {
			c.Nulls = nulls
			c.Field.Nullable = true
			break
		}
	}
	return c
}

// check verifies that the column's storage matches its type.
func (c *TableColumn) check() error {
	n := c.Len()
	if c.Nulls != nil && len(c.Nulls) != n {
		return fmt.Errorf("table: column %q has %d values and %d null flags", c.Field.Name, n, len(c.Nulls))
	}
	switch c.Field.Type {
	case TypeNull, TypeInt, TypeTimestamp, TypeFloat, TypeBool, TypeString:
		return nil
	}
	return fmt.Errorf("table: column %q has unknown type %q", c.Field.Name, c.Field.Type)
}

// Len is the number of rows of the column.
func (c *TableColumn) Len() int {
	switch c.Field.Type {
	case TypeInt, TypeTimestamp:
		return len(c.Ints)
	case TypeFloat:
		return len(c.Floats)
	case TypeBool:
		return len(c.Bools)
	case TypeString:
		return len(c.Strings)
	}
	return len(c.Nulls)
}

// IsNull reports whether cell i is missing.
func (c *TableColumn) IsNull(i int) bool {
	return c.Field.Type == TypeNull || (c.Nulls != nil && c.Nulls[i])
}

// NullCount is the number of missing cells.
func (c *TableColumn) NullCount() int {
	if c.Field.Type == TypeNull {
		return c.Len()
	}
	k := 0
	for _, n := range c.Nulls {
		if n {
			k++
		}
	}
	return k
}

// Float is the numeric view of cell i: the value of an int or float column,
// 0/1 for a bool, Unix seconds (with fraction) for a timestamp. ok is false
// when the cell is missing or the column is a string or null column; the
// value is then NaN. A float column's own NaN is returned with ok true.
func (c *TableColumn) Float(i int) (v float64, ok bool) {
	if c.IsNull(i) {
		return math.NaN(), false
	}
	switch c.Field.Type {
	case TypeFloat:
		return c.Floats[i], true
	case TypeInt:
		return float64(c.Ints[i]), true
	case TypeTimestamp:
		return float64(c.Ints[i]) / 1e6, true
	case TypeBool:
		if c.Bools[i] {
			return 1, true
		}
		return 0, true
	}
	return math.NaN(), false
}

// Value returns cell i as a tagged Value.
func (c *TableColumn) Value(i int) Value {
	v := Value{Kind: c.Field.Type}
	if c.IsNull(i) {
		v.Null = true
		return v
	}
	switch c.Field.Type {
	case TypeInt:
		v.Int = c.Ints[i]
	case TypeFloat:
		v.Float = c.Floats[i]
	case TypeBool:
		v.Bool = c.Bools[i]
	case TypeTimestamp:
		v.Int = c.Ints[i]
		v.Time = time.UnixMicro(c.Ints[i]).UTC()
	case TypeString:
		v.Str = c.Strings[i]
	}
	return v
}

// Str returns cell i as text ("" when missing): the string itself, decimal
// for numbers, "true"/"false", RFC 3339 for a timestamp.
func (c *TableColumn) Str(i int) string {
	if c.IsNull(i) {
		return ""
	}
	switch c.Field.Type {
	case TypeString:
		return c.Strings[i]
	case TypeInt:
		return strconv.FormatInt(c.Ints[i], 10)
	}
	return c.Value(i).String()
}

// Rows is the number of rows (0 for a table without columns).
func (t *Table) Rows() int {
	if len(t.Cols) == 0 {
		return 0
	}
	return t.Cols[0].Len()
}

// Column returns the column called name; the error names it and lists some of
// the available columns.
func (t *Table) Column(name string) (*TableColumn, error) {
	for _, c := range t.Cols {
		if c.Field.Name == name {
			return c, nil
		}
	}
	return nil, fmt.Errorf("column %q not found (available: %s)", name, t.Available(8))
}

// Available lists up to max column names, comma-separated, with a count of
// the rest, for error messages.
func (t *Table) Available(max int) string {
	var b strings.Builder
	for i, c := range t.Cols {
		if i == max {
			fmt.Fprintf(&b, " and %d more", len(t.Cols)-max)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.Quote(c.Field.Name))
	}
	if len(t.Cols) == 0 {
		return "none"
	}
	return b.String()
}

// Take returns a new table holding rows idx, in that order (indices may
// repeat). It panics on an index out of range, like a slice.
func (t *Table) Take(idx []int) *Table {
	out := &Table{Schema: Schema{Fields: append([]Field(nil), t.Schema.Fields...)}, Cols: make([]*TableColumn, len(t.Cols))}
	for j, c := range t.Cols {
		o := &TableColumn{Field: c.Field}
		if c.Nulls != nil {
			o.Nulls = gather(c.Nulls, idx)
		}
		switch c.Field.Type {
		case TypeInt, TypeTimestamp:
			o.Ints = gather(c.Ints, idx)
		case TypeFloat:
			o.Floats = gather(c.Floats, idx)
		case TypeBool:
			o.Bools = gather(c.Bools, idx)
		case TypeString:
			o.Strings = gather(c.Strings, idx)
		}
		if o.Nulls != nil && c.Field.Type != TypeNull && !anyTrue(o.Nulls) {
			o.Nulls = nil
		}
		out.Cols[j] = o
	}
	return out
}

func gather[T any](s []T, idx []int) []T {
	out := make([]T, len(idx))
	for k, i := range idx {
		out[k] = s[i]
	}
	return out
}

func anyTrue(s []bool) bool {
	for _, b := range s {
		if b {
			return true
		}
	}
	return false
}

// ReadTableFile opens the table file at path (see Open) and reads it whole.
func ReadTableFile(ctx context.Context, path string, opts Options) (*Table, error) {
	r, err := Open(path, opts)
	if err != nil {
		return nil, err
	}
	t, err := ReadTable(ctx, r, 0)
	if cerr := r.Close(); err == nil && cerr != nil {
		return nil, cerr
	}
	return t, err
}

// ReadTable reads every remaining row of r into memory; the caller still
// closes r. maxRows > 0 bounds the rows: a longer table is an error rather
// than unbounded memory. Columns widened by a later batch (int -> float ->
// string) are converted in the rows already read; earlier numbers turned into
// text take their canonical form ("1.5", not "1.50" as written). ctx is
// checked between batches.
func ReadTable(ctx context.Context, r Reader, maxRows int) (*Table, error) {
	var (
		bs   []*colBuilder
		rows int
	)
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		b, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		n := b.Len()
		if maxRows > 0 && rows+n > maxRows {
			return nil, fmt.Errorf("table has more than %d rows (the limit)", maxRows)
		}
		fields := r.Schema().Fields
		for len(bs) < b.NumColumns() {
			// A column first seen now (JSON Lines): missing in earlier rows.
			name := ""
			if len(bs) < len(fields) {
				name = fields[len(bs)].Name
			}
			cb := &colBuilder{col: &TableColumn{Field: Field{Name: name, Type: TypeNull}}}
			cb.appendNulls(rows)
			bs = append(bs, cb)
		}
		for i, cb := range bs {
			if i < b.NumColumns() {
				cb.appendColumn(b.Column(i), n)
			} else {
				cb.appendNulls(n)
			}
		}
		rows += n
	}
	fields := r.Schema().Fields
	t := &Table{}
	for i, cb := range bs {
		c := cb.col
		if i < len(fields) {
			f := fields[i]
			if typ := Join(c.Field.Type, f.Type); typ != c.Field.Type {
				c.widen(typ)
			}
			f.Type = c.Field.Type
			c.Field = f
		}
		c.finish()
		t.Cols = append(t.Cols, c)
		t.Schema.Fields = append(t.Schema.Fields, c.Field)
	}
	// Columns in the schema that no batch carried (an empty input).
	for i := len(bs); i < len(fields); i++ {
		c := &TableColumn{Field: fields[i]}
		c.widen(c.Field.Type)
		t.Cols = append(t.Cols, c)
		t.Schema.Fields = append(t.Schema.Fields, c.Field)
	}
	return t, nil
}

// maxIntern bounds the distinct strings a column builder shares: beyond it
// the column is not categorical-like and each cell gets its own string.
const maxIntern = 1 << 14

// colBuilder accumulates one column across batches. Nulls are always kept
// while building and dropped at the end when none is missing.
type colBuilder struct {
	col    *TableColumn
	intern map[string]string
}

func (cb *colBuilder) appendNulls(n int) {
	c := cb.col
	for range n {
		c.Nulls = append(c.Nulls, true)
	}
	switch c.Field.Type {
	case TypeInt, TypeTimestamp:
		c.Ints = append(c.Ints, make([]int64, n)...)
	case TypeFloat:
		c.Floats = append(c.Floats, make([]float64, n)...)
	case TypeBool:
		c.Bools = append(c.Bools, make([]bool, n)...)
	case TypeString:
		c.Strings = append(c.Strings, make([]string, n)...)
	}
}

func (cb *colBuilder) appendColumn(src *Column, n int) {
	c := cb.col
	if typ := Join(c.Field.Type, src.Type()); typ != c.Field.Type {
		c.widen(typ)
	}
	if nulls := src.Nulls(); nulls != nil {
		c.Nulls = append(c.Nulls, nulls...)
	} else if src.Type() == TypeNull {
		cb.appendNulls(n)
		return
	} else {
		c.Nulls = append(c.Nulls, make([]bool, n)...)
	}
	if src.Type() == c.Field.Type {
		switch c.Field.Type {
		case TypeInt, TypeTimestamp:
			c.Ints = append(c.Ints, src.Ints()...)
		case TypeFloat:
			c.Floats = append(c.Floats, src.Floats()...)
		case TypeBool:
			c.Bools = append(c.Bools, src.Bools()...)
		case TypeString:
			for i := range n {
				if src.IsNull(i) {
					c.Strings = append(c.Strings, "")
					continue
				}
				c.Strings = append(c.Strings, cb.str(src.Bytes(i)))
			}
		}
		return
	}
	// A narrower batch type than the column's (a column widened earlier).
	for i := range n {
		c.appendValue(src.Value(i))
	}
}

// str returns b as a string, sharing one copy per distinct value while the
// column has few of them.
func (cb *colBuilder) str(b []byte) string {
	if s, ok := cb.intern[string(b)]; ok {
		return s
	}
	s := string(b)
	if cb.intern == nil {
		cb.intern = make(map[string]string)
	}
	if len(cb.intern) < maxIntern {
		cb.intern[s] = s
	}
	return s
}

// appendValue appends v converted to the column's type, which is v's type or
// wider.
func (c *TableColumn) appendValue(v Value) {
	switch c.Field.Type {
	case TypeInt, TypeTimestamp:
		c.Ints = append(c.Ints, v.Int)
	case TypeFloat:
		switch {
		case v.Null:
			c.Floats = append(c.Floats, 0)
		case v.Kind == TypeInt:
			c.Floats = append(c.Floats, float64(v.Int))
		default:
			c.Floats = append(c.Floats, v.Float)
		}
	case TypeBool:
		c.Bools = append(c.Bools, v.Bool)
	case TypeString:
		c.Strings = append(c.Strings, v.String())
	}
}

// widen converts the column's values to typ, which must be Join(old, typ).
func (c *TableColumn) widen(typ Type) {
	old := *c
	n := old.Len()
	c.Field.Type = typ
	c.Floats, c.Ints, c.Bools, c.Strings = nil, nil, nil, nil
	if old.Field.Type == TypeNull {
		if old.Nulls == nil {
			old.Nulls = make([]bool, n)
		}
		for i := range old.Nulls {
			old.Nulls[i] = true
		}
		c.Nulls = old.Nulls
	}
	switch typ {
	case TypeInt, TypeTimestamp:
		c.Ints = make([]int64, 0, n)
	case TypeFloat:
		c.Floats = make([]float64, 0, n)
	case TypeBool:
		c.Bools = make([]bool, 0, n)
	case TypeString:
		c.Strings = make([]string, 0, n)
	}
	for i := range n {
		c.appendValue(old.Value(i))
	}
}

// finish drops an all-false null mask.
func (c *TableColumn) finish() {
	if c.Field.Type != TypeNull && c.Nulls != nil && !anyTrue(c.Nulls) {
		c.Nulls = nil
	}
	if c.Field.Type == TypeNull || c.Nulls != nil {
		c.Field.Nullable = true
	}
}

// Concat stacks tables with the same columns (matched by name, in the first
// table's order) into one, widening a column's type when the tables disagree
// (int + float -> float, any other mix -> string). A table lacking a column,
// or having an extra one, is an error naming it.
func Concat(tables ...*Table) (*Table, error) {
	if len(tables) == 0 {
		return nil, errors.New("concat: no tables")
	}
	first := tables[0]
	out := &Table{}
	for j, f := range first.Schema.Fields {
		typ := first.Cols[j].Field.Type
		nullable := f.Nullable
		srcs := make([]*TableColumn, len(tables))
		for k, t := range tables {
			c, err := t.Column(f.Name)
			if err != nil {
				return nil, fmt.Errorf("concat: table %d has no column %q", k+1, f.Name)
			}
			srcs[k] = c
			typ = Join(typ, c.Field.Type)
			nullable = nullable || c.Field.Nullable
		}
		dst := &colBuilder{col: &TableColumn{Field: Field{Name: f.Name, Type: typ, Nullable: nullable}}}
		for _, s := range srcs {
			if s.Field.Type != typ {
				s = s.clone()
				s.widen(typ)
			}
			dst.appendTable(s)
		}
		dst.col.finish()
		out.Cols = append(out.Cols, dst.col)
		out.Schema.Fields = append(out.Schema.Fields, dst.col.Field)
	}
	for k, t := range tables[1:] {
		for _, f := range t.Schema.Fields {
			if first.Schema.Index(f.Name) < 0 {
				return nil, fmt.Errorf("concat: table %d has column %q, which table 1 lacks", k+2, f.Name)
			}
		}
	}
	return out, nil
}

// appendTable appends a column of the same type as the builder's.
func (cb *colBuilder) appendTable(s *TableColumn) {
	c := cb.col
	n := s.Len()
	if s.Nulls != nil {
		c.Nulls = append(c.Nulls, s.Nulls...)
	} else {
		c.Nulls = append(c.Nulls, make([]bool, n)...)
	}
	c.Ints = append(c.Ints, s.Ints...)
	c.Floats = append(c.Floats, s.Floats...)
	c.Bools = append(c.Bools, s.Bools...)
	c.Strings = append(c.Strings, s.Strings...)
}

func (c *TableColumn) clone() *TableColumn {
	o := *c
	if c.Nulls != nil {
		o.Nulls = append([]bool(nil), c.Nulls...)
	}
	return &o
}

// ParseFloat parses number text as the readers do: surrounding spaces
// allowed, decimal with optional fraction and exponent, and inf, infinity,
// nan in any case with an optional sign.
func ParseFloat(s string) (float64, bool) { return parseFloat([]byte(s)) }

// ParseTimestamp parses a timestamp as the readers do (2006-01-02, with an
// optional time, fraction and zone; UTC without a zone) into Unix
// microseconds.
func ParseTimestamp(s string) (int64, bool) { return parseTimestamp([]byte(s)) }
