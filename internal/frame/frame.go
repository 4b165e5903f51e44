// Package frame reads tables (CSV, TSV, JSON Lines, Parquet) as a stream of
// columnar batches with bounded memory, inferring a schema for the text
// formats.
//
// Reading model: a Reader yields Batches of at most Options.BatchRows rows.
// Each Batch holds one typed Column per schema field. A Batch (and every slice
// obtained from it) is valid only until the next call to Next or Close, and
// is read-only; copy what you keep. A Reader is not safe for concurrent use;
// CSV and JSON Lines readers parse ahead on background goroutines
// (Options.Workers) and deliver batches in file order.
//
// Bad input is reported as a *ParseError naming the file and the line
// (text formats) or row group (Parquet) and, when known, the column.
//
// Type inference (CSV/TSV, and JSON strings): the leading rows (at least
// Options.SampleRows, in whole parse chunks) decide each column's type. A
// later value that does not fit widens the column along int -> float -> string (bool, timestamp -> string; null ->
// anything). Widening is monotonic within a stream: once a batch carries a
// column as float, no later batch carries it as int. Schema() always reports
// the widest type seen so far, and after io.EOF the final schema.
//
// Missing values: in CSV/TSV a cell is missing when its text (after
// unquoting) is one of Options.NullValues, by default DefaultNullValues()
// ("", "NA", "N/A", "n/a", "null", "NULL", "Null", "None", "<NA>"). "NaN",
// "nan", "inf", "-Infinity" and the like are NOT missing: they are float
// values (profiles count them as non-finite). In JSON Lines a value is
// missing when it is null or its key is absent; "" is an empty string. In
// Parquet, nulls are missing.
package frame

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
)

// Type is a column type.
type Type string

// Column types. TypeNull is used only while inferring, for a column whose
// values have all been missing so far.
const (
	TypeNull      Type = "null"
	TypeBool      Type = "bool"
	TypeInt       Type = "int"
	TypeFloat     Type = "float"
	TypeTimestamp Type = "timestamp"
	TypeString    Type = "string"
)

// Numeric reports whether t is int or float.
func (t Type) Numeric() bool { return t == TypeInt || t == TypeFloat }

// Join returns the narrowest type that can hold values of both a and b:
// null joins to the other type, int and float join to float, and any other
// mix joins to string.
func Join(a, b Type) Type {
	switch {
	case a == b:
		return a
	case a == TypeNull || a == "":
		return b
	case b == TypeNull || b == "":
		return a
	case a.Numeric() && b.Numeric():
		return TypeFloat
	}
	return TypeString
}

// Field is one column of a schema.
type Field struct {
	Name     string `json:"name"`
	Type     Type   `json:"type"`
	Nullable bool   `json:"nullable"` // a missing value was seen (text formats) or the column is optional (Parquet)
}

// Schema is the ordered list of a table's columns.
type Schema struct {
	Fields []Field `json:"fields"`
}

// Index returns the position of the column called name, or -1.
func (s Schema) Index(name string) int {
	for i, f := range s.Fields {
		if f.Name == name {
			return i
		}
	}
	return -1
}

// Value is one cell as a small tagged value, for code that works cell by
// cell (validation expressions, sample rows). Kind says which field is
// meaningful; Null marks a missing cell (Kind is then the column type).
// Timestamps are UTC.
type Value struct {
	Kind  Type
	Null  bool
	Int   int64
	Float float64
	Bool  bool
	Str   string
	Time  time.Time
}

// String formats v as text: "" for a missing value, RFC 3339 for a
// timestamp, the shortest exact representation for a float.
func (v Value) String() string {
	if v.Null {
		return ""
	}
	switch v.Kind {
	case TypeBool:
		return strconv.FormatBool(v.Bool)
	case TypeInt:
		return strconv.FormatInt(v.Int, 10)
	case TypeFloat:
		return formatFloat(v.Float)
	case TypeTimestamp:
		return v.Time.Format(time.RFC3339Nano)
	}
	return v.Str
}

func formatFloat(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// Format is a table file format.
type Format string

// Supported formats. TSV is CSV with a tab delimiter.
const (
	FormatCSV     Format = "csv"
	FormatTSV     Format = "tsv"
	FormatJSONL   Format = "jsonl"
	FormatParquet Format = "parquet"
)

// DefaultNullValues returns the CSV/TSV cell texts read as missing.
func DefaultNullValues() []string {
	return []string{"", "NA", "N/A", "n/a", "null", "NULL", "Null", "None", "<NA>"}
}

// Defaults for Options.
const (
	DefaultBatchRows      = 8192
	DefaultSampleRows     = 10000
	DefaultMaxRecordBytes = 64 << 20

	defaultChunkSize = 4 << 20
	// maxBatchCells bounds rows*columns of one batch: wide tables get
	// fewer than BatchRows rows per batch.
	maxBatchCells = 1 << 20
)

// Options tune a Reader. The zero value is ready to use.
type Options struct {
	// Format overrides detection by file extension.
	Format Format
	// BatchRows is the most rows in one Batch (default 8192); tables wider
	// than 128 columns get fewer, so a batch holds at most about 1M cells.
	BatchRows int
	// SampleRows is how many leading rows decide column types in CSV/TSV/JSONL
	// (default 10000).
	SampleRows int
	// Delimiter separates CSV fields (default ',' for CSV, '\t' for TSV).
	Delimiter byte
	// NoHeader says the first CSV row is data; columns are then named
	// column_1, column_2, ...
	NoHeader bool
	// NullValues are the CSV cell texts read as missing besides the empty
	// cell, which always is; nil means DefaultNullValues().
	NullValues []string
	// Workers is the number of goroutines parsing CSV/JSONL in parallel
	// (default GOMAXPROCS, at most 8). 1 parses on one background goroutine.
	Workers int
	// MaxRecordBytes bounds one CSV record or JSON line (default 64 MiB); a
	// longer one is an error rather than unbounded memory.
	MaxRecordBytes int
	// Progress, when set, is called by Open's reader with the bytes of the
	// file read so far (of the compressed file for .gz; for Parquet, the
	// bytes its column chunks and footer took), each time it reads more.
	// Calls never overlap.
	Progress func(read int64)

	chunkSize int // bytes per parse chunk; tests shrink it
}

func (o Options) withDefaults() Options {
	if o.BatchRows <= 0 {
		o.BatchRows = DefaultBatchRows
	}
	if o.SampleRows <= 0 {
		o.SampleRows = DefaultSampleRows
	}
	if o.NullValues == nil {
		o.NullValues = DefaultNullValues()
	}
	if o.MaxRecordBytes <= 0 {
		o.MaxRecordBytes = DefaultMaxRecordBytes
	}
	if o.Workers <= 0 {
		o.Workers = defaultWorkers()
	}
	if o.chunkSize <= 0 {
		o.chunkSize = defaultChunkSize
	}
	return o
}

// Reader streams the rows of one table in batches.
type Reader interface {
	// Schema is the schema inferred so far (see the package doc); after Next
	// has returned io.EOF it is final, with any widening applied and
	// Nullable set if any value was missing.
	Schema() Schema
	// Next returns the next batch, or io.EOF after the last one. Any other
	// error is final; bad input is a *ParseError.
	Next() (Batch, error)
	// Close releases the file and background goroutines. It is safe to call
	// more than once and before the end of the stream.
	Close() error
}

// Batch is a group of consecutive rows, stored column by column. It is valid
// until the next call to Next or Close on its Reader.
type Batch interface {
	// Len is the number of rows.
	Len() int
	// NumColumns is the number of columns. For JSON Lines it can grow in
	// later batches when a key first appears after the sample; earlier rows
	// then count as missing for that column.
	NumColumns() int
	// Column returns column i (0 <= i < NumColumns) of the batch.
	Column(i int) *Column
	// Line returns the 1-based line in the source file where row i starts
	// (CSV/TSV/JSONL), or 0 when the format has no lines (Parquet).
	Line(i int) int64
}

// ParseError reports bad input. Its message names the file and where in it:
// "data.csv: line 1042: row has 7 fields, header has 8",
// "data.csv: line 7: column \"price\": invalid UTF-8",
// "data.parquet: row group 2: column \"x\": ...".
type ParseError struct {
	File     string // file name as given to Open / OpenReader
	Line     int64  // 1-based line (text formats); 0 if unknown or not applicable
	RowGroup int    // 0-based Parquet row group; -1 if not applicable
	Column   string // column name, or "" when the error is about a whole row or the file
	Msg      string // what is wrong
	Err      error  // underlying error, if any
}

func (e *ParseError) Error() string {
	s := e.File
	if e.Line > 0 {
		s += ": line " + strconv.FormatInt(e.Line, 10)
	}
	if e.RowGroup >= 0 {
		s += ": row group " + strconv.Itoa(e.RowGroup)
	}
	if e.Column != "" {
		s += ": column " + strconv.Quote(e.Column)
	}
	if e.Msg != "" {
		s += ": " + e.Msg
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *ParseError) Unwrap() error { return e.Err }

// ErrUnknownFormat is returned by Detect for a file that is not a table.
var ErrUnknownFormat = errors.New("unknown table format")

var errClosed = errors.New("frame: reader closed")

// lineErr builds a ParseError at a line of a text file.
func lineErr(file string, line int64, column, format string, args ...any) *ParseError {
	return &ParseError{File: file, Line: line, RowGroup: -1, Column: column, Msg: fmt.Sprintf(format, args...)}
}
