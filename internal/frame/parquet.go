package frame

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"strings"
	"unicode/utf8"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/deprecated"
	"github.com/parquet-go/parquet-go/format"
)

// Parquet: one column per leaf of the file schema, named by its dotted path
// ("a.b" for field b of group a). The schema comes from the file, so there
// is no inference or widening. Type mapping: BOOLEAN -> bool; INT32/INT64
// (and their INT/UINT annotations, TIME) -> int, except UINT64 -> float;
// DATE, TIMESTAMP (any unit; nanoseconds truncate to microseconds) and
// legacy INT96 -> timestamp; FLOAT/DOUBLE, DECIMAL and FLOAT16 -> float;
// BYTE_ARRAY / FIXED_LEN_BYTE_ARRAY -> string (UUIDs formatted; other
// binary that is not valid UTF-8 base64-encoded). A repeated leaf (inside a
// LIST or MAP) becomes a string column holding, per row, a JSON array of
// that leaf's values, named by the path without the LIST/MAP wrapper levels
// ("tags", "attrs.key", "attrs.value"). Nullable is true for optional leaves.

type parquetReader struct {
	name   string
	file   *parquet.File
	closer io.Closer
	opts   Options
	fields []Field
	cols   []*pqColumn
	rg     int   // current row group
	left   int64 // rows left in the current row group
	total  int64 // rows in the current row group
	out    batch
	err    error
}

// pqColumn reads one leaf column of the current row group.
type pqColumn struct {
	name     string
	leaf     parquet.LeafColumn
	typ      Type
	conv     pqConv
	scale    int32 // decimal scale
	repeated bool
	rd       parquet.ColumnChunkValueReader
	vals     []parquet.Value
	pos      int
	col      Column
	arena    []byte
	elems    []string // scratch for repeated rows
}

type pqConv int

const (
	convBool pqConv = iota
	convInt32
	convUint32
	convInt64
	convUint64 // to float
	convFloat32
	convFloat64
	convDate
	convTimeMillis
	convTimeMicros
	convTimeNanos
	convInt96
	convDecimal
	convFloat16
	convString
	convUUID
	convBinary
)

// OpenParquet reads a Parquet file from ra (size bytes); name is used in
// error messages. The caller keeps ownership of ra.
func OpenParquet(ra io.ReaderAt, size int64, name string, opts Options) (Reader, error) {
	r, err := openParquet(ra, size, name, opts)
	if err != nil {
		return nil, err
	}
	return r, nil
}

func openParquet(ra io.ReaderAt, size int64, name string, opts Options) (pr *parquetReader, err error) {
	opts = opts.withDefaults()
	defer func() {
		if v := recover(); v != nil {
			pr, err = nil, &ParseError{File: name, RowGroup: -1, Msg: "not a valid Parquet file", Err: fmt.Errorf("%v", v)}
		}
	}()
	f, err := parquet.OpenFile(ra, size, parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true))
	if err != nil {
		return nil, &ParseError{File: name, RowGroup: -1, Msg: "not a valid Parquet file", Err: err}
	}
	pr = &parquetReader{name: name, file: f, opts: opts, rg: -1}
	schema := f.Schema()
	for _, path := range schema.Columns() {
		leaf, ok := schema.Lookup(path...)
		if !ok {
			continue
		}
		c := &pqColumn{name: columnName(path), leaf: leaf, repeated: leaf.MaxRepetitionLevel > 0}
		if err := c.classify(); err != nil {
			return nil, &ParseError{File: name, RowGroup: -1, Column: c.name, Err: err}
		}
		pr.cols = append(pr.cols, c)
		pr.fields = append(pr.fields, Field{Name: c.name, Type: c.typ, Nullable: leaf.MaxDefinitionLevel > 0})
	}
	var total int64
	for _, rg := range f.RowGroups() {
		total += rg.NumRows()
	}
	if total != f.NumRows() {
		return nil, &ParseError{File: name, RowGroup: -1, Msg: fmt.Sprintf("corrupt metadata: row groups hold %d rows, footer says %d", total, f.NumRows())}
	}
	return pr, nil
}

// columnName joins a leaf path with dots, dropping the wrapper levels of
// the standard LIST ("x.list.element" -> "x") and MAP
// ("m.key_value.key" -> "m.key") layouts.
func columnName(path []string) string {
	var parts []string
	for i := 0; i < len(path); i++ {
		p := path[i]
		if i+1 < len(path) && p == "list" && (path[i+1] == "element" || path[i+1] == "item") && i+2 == len(path) {
			break
		}
		if p == "key_value" && i > 0 && i+1 < len(path) {
			continue
		}
		parts = append(parts, p)
	}
	if len(parts) == 0 {
		return strings.Join(path, ".")
	}
	return strings.Join(parts, ".")
}

// classify picks the column type and converter from the leaf's physical
// and logical types.
func (c *pqColumn) classify() error {
	t := c.leaf.Node.Type()
	lt := t.LogicalType()
	var ct deprecated.ConvertedType = -1
	if p := t.ConvertedType(); p != nil {
		ct = *p
	}
	var lv any
	if lt != nil {
		lv = lt.Value
	}
	switch t.Kind() {
	case parquet.Boolean:
		c.typ, c.conv = TypeBool, convBool
	case parquet.Int32:
		c.typ, c.conv = TypeInt, convInt32
		switch v := lv.(type) {
		case *format.DateType:
			c.typ, c.conv = TypeTimestamp, convDate
		case *format.DecimalType:
			c.typ, c.conv, c.scale = TypeFloat, convDecimal, v.Scale
		case *format.IntType:
			if !v.IsSigned {
				c.conv = convUint32
			}
		default:
			switch ct {
			case deprecated.Date:
				c.typ, c.conv = TypeTimestamp, convDate
			case deprecated.Uint8, deprecated.Uint16, deprecated.Uint32:
				c.conv = convUint32
			}
		}
	case parquet.Int64:
		c.typ, c.conv = TypeInt, convInt64
		switch v := lv.(type) {
		case *format.TimestampType:
			c.typ = TypeTimestamp
			switch v.Unit.Value.(type) {
			case *format.MilliSeconds:
				c.conv = convTimeMillis
			case *format.NanoSeconds:
				c.conv = convTimeNanos
			default:
				c.conv = convTimeMicros
			}
		case *format.DecimalType:
			c.typ, c.conv, c.scale = TypeFloat, convDecimal, v.Scale
		case *format.IntType:
			if !v.IsSigned {
				c.typ, c.conv = TypeFloat, convUint64
			}
		default:
			switch ct {
			case deprecated.TimestampMillis:
				c.typ, c.conv = TypeTimestamp, convTimeMillis
			case deprecated.TimestampMicros:
				c.typ, c.conv = TypeTimestamp, convTimeMicros
			case deprecated.Uint64:
				c.typ, c.conv = TypeFloat, convUint64
			}
		}
	case parquet.Int96:
		c.typ, c.conv = TypeTimestamp, convInt96
	case parquet.Float:
		c.typ, c.conv = TypeFloat, convFloat32
	case parquet.Double:
		c.typ, c.conv = TypeFloat, convFloat64
	case parquet.ByteArray, parquet.FixedLenByteArray:
		c.typ, c.conv = TypeString, convBinary
		switch v := lv.(type) {
		case *format.StringType, *format.EnumType, *format.JsonType:
			c.conv = convString
		case *format.DecimalType:
			c.typ, c.conv, c.scale = TypeFloat, convDecimal, v.Scale
		case *format.UUIDType:
			c.conv = convUUID
		case *format.Float16Type:
			c.typ, c.conv = TypeFloat, convFloat16
		default:
			switch ct {
			case deprecated.UTF8, deprecated.Enum, deprecated.Json:
				c.conv = convString
			}
		}
	default:
		return fmt.Errorf("unsupported physical type %s", t.Kind())
	}
	if c.repeated {
		c.typ = TypeString
	}
	return nil
}

func (pr *parquetReader) Format() Format { return FormatParquet }

func (pr *parquetReader) Schema() Schema {
	return Schema{Fields: append([]Field(nil), pr.fields...)}
}

func (pr *parquetReader) Next() (b Batch, err error) {
	if pr.err != nil {
		return nil, pr.err
	}
	defer func() {
		if v := recover(); v != nil {
			b, err = nil, &ParseError{File: pr.name, RowGroup: pr.rg, Msg: "corrupt data", Err: fmt.Errorf("%v", v)}
		}
		if err != nil {
			pr.err = err
		}
	}()
	for pr.left == 0 {
		if err := pr.nextRowGroup(); err != nil {
			return nil, err
		}
	}
	n := int(min(pr.left, int64(pr.opts.BatchRows)))
	pr.out.n = n
	pr.out.cols = pr.out.cols[:0]
	done := pr.total - pr.left // rows of this row group already read
	for _, c := range pr.cols {
		if err := c.read(n, done); err != nil {
			return nil, &ParseError{File: pr.name, RowGroup: pr.rg, Column: c.name, Err: err}
		}
		pr.out.cols = append(pr.out.cols, &c.col)
	}
	pr.left -= int64(n)
	return &pr.out, nil
}

func (pr *parquetReader) nextRowGroup() error {
	for _, c := range pr.cols {
		if c.rd != nil {
			c.rd.Close()
			c.rd = nil
		}
	}
	groups := pr.file.RowGroups()
	pr.rg++
	if pr.rg >= len(groups) {
		return io.EOF
	}
	g := groups[pr.rg]
	chunks := g.ColumnChunks()
	for _, c := range pr.cols {
		if c.leaf.ColumnIndex >= len(chunks) {
			return &ParseError{File: pr.name, RowGroup: pr.rg, Column: c.name, Msg: "column chunk missing"}
		}
		c.rd = parquet.NewColumnChunkValueReader(chunks[c.leaf.ColumnIndex])
		c.vals = c.vals[:0]
		c.pos = 0
	}
	pr.left = g.NumRows()
	pr.total = pr.left
	return nil
}

// fill makes sure at least one value is buffered.
func (c *pqColumn) fill() error {
	if c.pos < len(c.vals) {
		return nil
	}
	if cap(c.vals) == 0 {
		c.vals = make([]parquet.Value, 4096)
	}
	c.vals = c.vals[:cap(c.vals)]
	for {
		n, err := c.rd.ReadValues(c.vals)
		if n > 0 {
			c.vals = c.vals[:n]
			c.pos = 0
			return nil
		}
		if errors.Is(err, io.EOF) {
			c.vals = c.vals[:0]
			return io.ErrUnexpectedEOF // fewer values than the row group's rows
		}
		if err != nil {
			c.vals = c.vals[:0]
			return err
		}
	}
}

// read converts the next n rows into c.col; done rows of the row group
// were read before.
func (c *pqColumn) read(n int, done int64) error {
	col := &c.col
	col.reset(c.typ, n)
	c.arena = c.arena[:0]
	for i := range n {
		if err := c.fill(); err != nil {
			return fmt.Errorf("reading row %d of the row group: %w", done+int64(i), err)
		}
		v := c.vals[c.pos]
		c.pos++
		if c.repeated {
			if err := c.readRepeated(col, i, v); err != nil {
				return err
			}
			continue
		}
		if v.IsNull() {
			col.setNull(i)
			continue
		}
		if err := c.convert(col, i, v); err != nil {
			return err
		}
	}
	if c.typ == TypeString {
		col.buf = c.arena
	}
	return nil
}

// readRepeated gathers the values of one row (the first has repetition
// level 0, the rest > 0) into a JSON array.
func (c *pqColumn) readRepeated(col *Column, i int, first parquet.Value) error {
	c.elems = c.elems[:0]
	allNull := true
	add := func(v parquet.Value) error {
		if v.IsNull() {
			c.elems = append(c.elems, "null")
			return nil
		}
		allNull = false
		s, err := c.jsonValue(v)
		c.elems = append(c.elems, s)
		return err
	}
	if err := add(first); err != nil {
		return err
	}
	for {
		if c.pos >= len(c.vals) {
			if err := c.fill(); err != nil {
				if errors.Is(err, io.ErrUnexpectedEOF) {
					break // end of the column chunk
				}
				return err
			}
		}
		v := c.vals[c.pos]
		if v.RepetitionLevel() == 0 {
			break
		}
		c.pos++
		if err := add(v); err != nil {
			return err
		}
	}
	if allNull {
		if first.DefinitionLevel() == 0 {
			col.setNull(i) // the list itself is null
			return nil
		}
		c.elems = c.elems[:0] // an empty list
	}
	start := len(c.arena)
	c.arena = append(c.arena, '[')
	for k, e := range c.elems {
		if k > 0 {
			c.arena = append(c.arena, ',')
		}
		c.arena = append(c.arena, e...)
	}
	c.arena = append(c.arena, ']')
	col.spans[i] = span{uint32(start), uint32(len(c.arena))}
	return nil
}

// jsonValue renders one element of a repeated column as JSON.
func (c *pqColumn) jsonValue(v parquet.Value) (string, error) {
	var tmp Column
	t := c.scalarType()
	tmp.reset(t, 1)
	saved := c.arena
	c.arena = nil
	err := c.convert(&tmp, 0, v)
	arena := c.arena
	c.arena = saved
	if err != nil {
		return "", err
	}
	if t == TypeString {
		tmp.buf = arena
	}
	switch t {
	case TypeFloat:
		f := tmp.floats[0]
		if math.IsNaN(f) || math.IsInf(f, 0) {
			b, _ := json.Marshal(formatFloat(f))
			return string(b), nil
		}
		return formatFloat(f), nil
	case TypeString, TypeTimestamp:
		b, err := json.Marshal(tmp.Str(0))
		return string(b), err
	}
	return tmp.Str(0), nil
}

// scalarType is the type of one value (before a repeated column turns
// rows into JSON text).
func (c *pqColumn) scalarType() Type {
	switch c.conv {
	case convBool:
		return TypeBool
	case convInt32, convUint32, convInt64:
		return TypeInt
	case convUint64, convFloat32, convFloat64, convDecimal, convFloat16:
		return TypeFloat
	case convDate, convTimeMillis, convTimeMicros, convTimeNanos, convInt96:
		return TypeTimestamp
	}
	return TypeString
}

func (c *pqColumn) convert(col *Column, i int, v parquet.Value) error {
	switch c.conv {
	case convBool:
		col.bools[i] = v.Boolean()
	case convInt32:
		col.ints[i] = int64(v.Int32())
	case convUint32:
		col.ints[i] = int64(uint32(v.Int32()))
	case convInt64:
		col.ints[i] = v.Int64()
	case convUint64:
		col.floats[i] = float64(uint64(v.Int64()))
	case convFloat32:
		col.floats[i] = float64(v.Float())
	case convFloat64:
		col.floats[i] = v.Double()
	case convDate:
		col.ints[i] = int64(v.Int32()) * 86400 * 1e6
	case convTimeMillis:
		col.ints[i] = v.Int64() * 1000
	case convTimeMicros:
		col.ints[i] = v.Int64()
	case convTimeNanos:
		col.ints[i] = floorDiv(v.Int64(), 1000)
	case convInt96:
		x := v.Int96()
		nanos := int64(uint64(x[1])<<32 | uint64(x[0]))
		days := int64(x[2]) - 2440588 // Julian day of 1970-01-01
		col.ints[i] = days*86400*1e6 + floorDiv(nanos, 1000)
	case convDecimal:
		col.floats[i] = c.decimal(v)
	case convFloat16:
		b := v.ByteArray()
		if len(b) != 2 {
			return fmt.Errorf("FLOAT16 value of %d bytes", len(b))
		}
		col.floats[i] = float16(binary.LittleEndian.Uint16(b))
	default:
		b := v.ByteArray()
		start := len(c.arena)
		switch {
		case c.conv == convUUID && len(b) == 16:
			var s [36]byte
			hex.Encode(s[0:8], b[0:4])
			s[8] = '-'
			hex.Encode(s[9:13], b[4:6])
			s[13] = '-'
			hex.Encode(s[14:18], b[6:8])
			s[18] = '-'
			hex.Encode(s[19:23], b[8:10])
			s[23] = '-'
			hex.Encode(s[24:], b[10:])
			c.arena = append(c.arena, s[:]...)
		case c.conv == convString || utf8.Valid(b):
			if !utf8.Valid(b) {
				return fmt.Errorf("invalid UTF-8 in a string value")
			}
			c.arena = append(c.arena, b...)
		default:
			c.arena = base64.StdEncoding.AppendEncode(c.arena, b)
		}
		if len(c.arena) > math.MaxUint32 {
			return fmt.Errorf("batch strings exceed 4 GiB")
		}
		col.spans[i] = span{uint32(start), uint32(len(c.arena))}
	}
	return nil
}

func (c *pqColumn) decimal(v parquet.Value) float64 {
	var unscaled float64
	switch v.Kind() {
	case parquet.Int32:
		unscaled = float64(v.Int32())
	case parquet.Int64:
		unscaled = float64(v.Int64())
	default:
		b := v.ByteArray()
		n := new(big.Int).SetBytes(b)
		if len(b) > 0 && b[0]&0x80 != 0 { // two's complement negative
			n.Sub(n, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
		}
		unscaled, _ = new(big.Float).SetInt(n).Float64()
	}
	return unscaled / math.Pow(10, float64(c.scale))
}

func float16(h uint16) float64 {
	sign := 1.0
	if h&0x8000 != 0 {
		sign = -1
	}
	exp := int(h>>10) & 0x1f
	frac := float64(h & 0x3ff)
	switch exp {
	case 0:
		return sign * frac * math.Pow(2, -24)
	case 31:
		if frac == 0 {
			return math.Inf(int(sign))
		}
		return math.NaN()
	}
	return sign * (1 + frac/1024) * math.Pow(2, float64(exp-15))
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && (a < 0) != (b < 0) {
		q--
	}
	return q
}

func (pr *parquetReader) Close() error {
	for _, c := range pr.cols {
		if c.rd != nil {
			c.rd.Close()
			c.rd = nil
		}
	}
	if pr.err == nil {
		pr.err = errClosed
	}
	if pr.closer != nil {
		err := pr.closer.Close()
		pr.closer = nil
		return err
	}
	return nil
}
