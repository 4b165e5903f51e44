package frame

import (
	"strconv"
	"time"
)

// Column is one column of a Batch: a typed array plus a null mask. Use the
// slice accessors (Ints, Floats, Bools, Nulls) in hot loops; they return the
// batch's own storage, so nothing is allocated per cell. Values at null
// positions are zero and must be ignored.
//
// Storage by type: int -> Ints; timestamp -> Ints holding Unix
// microseconds (UTC); float -> Floats; bool -> Bools; string -> Bytes(i)
// (a view into the batch buffer). A null-typed column has every row null.
type Column struct {
	typ       Type
	n         int
	nullCount int
	nulls     []bool
	ints      []int64
	floats    []float64
	bools     []bool
	buf       []byte
	spans     []span
}

// span locates one string in Column.buf.
type span struct{ off, end uint32 }

// Type is the column's type in this batch.
func (c *Column) Type() Type { return c.typ }

// Len is the number of rows.
func (c *Column) Len() int { return c.n }

// NullCount is the number of missing cells.
func (c *Column) NullCount() int { return c.nullCount }

// Nulls returns the null mask (true = missing), or nil when no cell is
// missing.
func (c *Column) Nulls() []bool {
	if c.nullCount == 0 {
		return nil
	}
	return c.nulls[:c.n]
}

// IsNull reports whether cell i is missing.
func (c *Column) IsNull(i int) bool { return c.nullCount > 0 && c.nulls[i] }

// Ints returns the values of an int column, or the Unix microseconds of a
// timestamp column; nil for other types.
func (c *Column) Ints() []int64 {
	if c.typ != TypeInt && c.typ != TypeTimestamp {
		return nil
	}
	return c.ints[:c.n]
}

// Floats returns the values of a float column; nil for other types.
func (c *Column) Floats() []float64 {
	if c.typ != TypeFloat {
		return nil
	}
	return c.floats[:c.n]
}

// Bools returns the values of a bool column; nil for other types.
func (c *Column) Bools() []bool {
	if c.typ != TypeBool {
		return nil
	}
	return c.bools[:c.n]
}

// Int returns cell i of an int or timestamp column (Unix microseconds).
func (c *Column) Int(i int) int64 { return c.ints[i] }

// Float returns cell i of a float or int column as float64.
func (c *Column) Float(i int) float64 {
	if c.typ == TypeInt {
		return float64(c.ints[i])
	}
	return c.floats[i]
}

// Bool returns cell i of a bool column.
func (c *Column) Bool(i int) bool { return c.bools[i] }

// Time returns cell i of a timestamp column, in UTC.
func (c *Column) Time(i int) time.Time { return time.UnixMicro(c.ints[i]).UTC() }

// Bytes returns cell i of a string column without copying. The slice is
// valid as long as the batch.
func (c *Column) Bytes(i int) []byte {
	s := c.spans[i]
	return c.buf[s.off:s.end:s.end]
}

// Str returns cell i as text, whatever the type ("" when missing). It
// allocates for strings; prefer Bytes in hot loops.
func (c *Column) Str(i int) string {
	if c.IsNull(i) {
		return ""
	}
	switch c.typ {
	case TypeString:
		return string(c.Bytes(i))
	case TypeInt:
		return strconv.FormatInt(c.ints[i], 10)
	}
	return c.Value(i).String()
}

// Value returns cell i as a tagged Value.
func (c *Column) Value(i int) Value {
	v := Value{Kind: c.typ}
	if c.IsNull(i) || c.typ == TypeNull {
		v.Null = true
		return v
	}
	switch c.typ {
	case TypeInt:
		v.Int = c.ints[i]
	case TypeFloat:
		v.Float = c.floats[i]
	case TypeBool:
		v.Bool = c.bools[i]
	case TypeTimestamp:
		v.Time = c.Time(i)
	case TypeString:
		v.Str = string(c.Bytes(i))
	}
	return v
}

// reset prepares c to hold n cells of type t, reusing its storage.
func (c *Column) reset(t Type, n int) {
	c.typ = t
	c.n = n
	c.nullCount = 0
	c.nulls = grow(c.nulls, n)
	clear(c.nulls)
	switch t {
	case TypeInt, TypeTimestamp:
		c.ints = grow(c.ints, n)
	case TypeFloat:
		c.floats = grow(c.floats, n)
	case TypeBool:
		c.bools = grow(c.bools, n)
	case TypeString:
		c.spans = grow(c.spans, n)
	}
}

// setNull marks cell i missing and zeroes its value.
func (c *Column) setNull(i int) {
	c.nulls[i] = true
	c.nullCount++
	switch c.typ {
	case TypeInt, TypeTimestamp:
		c.ints[i] = 0
	case TypeFloat:
		c.floats[i] = 0
	case TypeBool:
		c.bools[i] = false
	case TypeString:
		c.spans[i] = span{}
	}
}

// grow returns s resized to n, reallocating only when capacity is short.
func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n, n+n/4)
	}
	return s[:n]
}

// batch is the Batch implementation shared by all readers.
type batch struct {
	n     int
	cols  []*Column
	lines []int64
}

func (b *batch) Len() int             { return b.n }
func (b *batch) NumColumns() int      { return len(b.cols) }
func (b *batch) Column(i int) *Column { return b.cols[i] }
func (b *batch) Line(i int) int64 {
	if b.lines == nil {
		return 0
	}
	return b.lines[i]
}
