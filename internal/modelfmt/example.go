package modelfmt

import (
	"math"
	"strconv"
	"time"

	"github.com/mlcycle/mlcycle/internal/frame"
)

// ExampleRows is how many rows of the example table a package keeps.
const ExampleRows = 5

// encodeExample renders the first rows of t, restricted to the input
// columns, in pandas' "split" orient: {"columns": [...], "data": [[...]]}.
// Missing and non-finite values are null (JSON has no NaN); timestamps are
// ISO 8601 without a zone, as pandas writes naive UTC times.
func encodeExample(t *frame.Table, inputs []Column) ([]byte, error) {
	cols := make([]*frame.TableColumn, len(inputs))
	for i, in := range inputs {
		c, err := t.Column(in.Name)
		if err != nil {
			return nil, invalid("input example: %s", text(err))
		}
		cols[i] = c
	}
	n := min(t.Rows(), ExampleRows)
	b := []byte(`{"columns": [`)
	for i, in := range inputs {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = appendPyString(b, in.Name)
	}
	b = append(b, `], "data": [`...)
	for r := range n {
		if r > 0 {
			b = append(b, ", "...)
		}
		b = append(b, '[')
		for i, c := range cols {
			if i > 0 {
				b = append(b, ", "...)
			}
			b = appendCell(b, c, r)
		}
		b = append(b, ']')
	}
	return append(b, "]}"...), nil
}

func appendCell(b []byte, c *frame.TableColumn, r int) []byte {
	if c.IsNull(r) {
		return append(b, "null"...)
	}
	switch c.Field.Type {
	case frame.TypeFloat:
		return appendFloat(b, c.Floats[r])
	case frame.TypeInt:
		return strconv.AppendInt(b, c.Ints[r], 10)
	case frame.TypeBool:
		return strconv.AppendBool(b, c.Bools[r])
	case frame.TypeTimestamp:
		t := time.UnixMicro(c.Ints[r]).UTC()
		return appendPyString(b, t.Format("2006-01-02T15:04:05.999999"))
	case frame.TypeString:
		return appendPyString(b, c.Strings[r])
	}
	return append(b, "null"...)
}

// appendFloat writes f as a JSON number that still reads as a float
// ("1.0", not "1"), or null when it is not finite.
func appendFloat(b []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(b, "null"...)
	}
	start := len(b)
	b = strconv.AppendFloat(b, f, 'g', -1, 64)
	for _, ch := range b[start:] {
		if ch == '.' || ch == 'e' || ch == 'n' || ch == 'I' {
			return b
		}
	}
	return append(b, ".0"...)
}

// servingExample wraps a split-orient example as the request body MLflow's
// scoring server accepts.
func servingExample(split []byte) []byte {
	b := append([]byte(`{"dataframe_split": `), split...)
	return append(b, '}')
}
