package modelfmt

import (
	"encoding/json"
	"strconv"

	"github.com/mlcycle/mlcycle/internal/frame"
)

// MLflow column types used in signatures.
const (
	TypeDouble   = "double"
	TypeLong     = "long"
	TypeBoolean  = "boolean"
	TypeString   = "string"
	TypeDatetime = "datetime"
	TypeArray    = "array"
)

// Column is one column of a model signature in MLflow's column-based schema.
type Column struct {
	Name     string
	Type     string // an MLflow data type (double, long, boolean, string, datetime) or "array"
	Items    string // element type when Type is "array"
	Required bool
}

// Signature is what a model takes and returns, in MLflow's terms.
type Signature struct {
	Inputs  []Column
	Outputs []Column
}

// MLflowType maps a frame column type to the MLflow data type a signature
// declares for it.
func MLflowType(t frame.Type) (string, error) {
	switch t {
	case frame.TypeFloat:
		return TypeDouble, nil
	case frame.TypeInt:
		return TypeLong, nil
	case frame.TypeBool:
		return TypeBoolean, nil
	case frame.TypeString:
		return TypeString, nil
	case frame.TypeTimestamp:
		return TypeDatetime, nil
	}
	return "", invalid("no MLflow type for column type %q", t)
}

// outputColumns is the output schema of a model: the predicted
// label and the class probabilities for classification, the value for
// regression.
func outputColumns(classification bool) []Column {
	if classification {
		return []Column{
			{Name: "label", Type: TypeString, Required: true},
			{Name: "probabilities", Type: TypeArray, Items: TypeDouble, Required: true},
		}
	}
	return []Column{{Name: "prediction", Type: TypeDouble, Required: true}}
}

// schemaJSON encodes columns the way MLflow embeds a schema in the MLmodel
// file: a JSON string as Python's json.dumps writes it (", " and ": "
// separators, keys type/items/name/required, non-ASCII escaped), so the
// file reads the same as one MLflow wrote.
func schemaJSON(cols []Column) string {
	b := []byte{'['}
	for i, c := range cols {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = append(b, `{"type": `...)
		b = appendPyString(b, c.Type)
		if c.Type == TypeArray {
			b = append(b, `, "items": {"type": `...)
			b = appendPyString(b, c.Items)
			b = append(b, '}')
		}
		b = append(b, `, "name": `...)
		b = appendPyString(b, c.Name)
		b = append(b, `, "required": `...)
		b = strconv.AppendBool(b, c.Required)
		b = append(b, '}')
	}
	return string(append(b, ']'))
}

// appendPyString appends s as a JSON string the way Python's json module
// writes it with ensure_ascii (its default): ASCII only, \uXXXX escapes
// (surrogate pairs above the BMP). Invalid UTF-8 becomes U+FFFD.
func appendPyString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	u4 := func(b []byte, r rune) []byte {
		return append(b, '\\', 'u', hex[r>>12&0xf], hex[r>>8&0xf], hex[r>>4&0xf], hex[r&0xf])
	}
	b = append(b, '"')
	for _, r := range s {
		switch {
		case r == '"':
			b = append(b, '\\', '"')
		case r == '\\':
			b = append(b, '\\', '\\')
		case r == '\n':
			b = append(b, '\\', 'n')
		case r == '\r':
			b = append(b, '\\', 'r')
		case r == '\t':
			b = append(b, '\\', 't')
		case r == '\b':
			b = append(b, '\\', 'b')
		case r == '\f':
			b = append(b, '\\', 'f')
		case r < 0x20 || r >= 0x7f && r < 0x10000:
			b = u4(b, r)
		case r >= 0x10000:
			r -= 0x10000
			b = u4(b, 0xd800+(r>>10))
			b = u4(b, 0xdc00+(r&0x3ff))
		default:
			b = append(b, byte(r))
		}
	}
	return append(b, '"')
}

// parseSchema reads a column-based schema string from an MLmodel file.
// Tensor-based schemas are not something an mlcycle model declares.
func parseSchema(s string) ([]Column, error) {
	var raw []struct {
		Type     string  `json:"type"`
		Name     *string `json:"name"`
		Required *bool   `json:"required"`
		Items    *struct {
			Type string `json:"type"`
		} `json:"items"`
	}
	if err := json.Unmarshal([]byte(s), &raw); err != nil {
		return nil, invalid("parsing schema: %s", text(err))
	}
	cols := make([]Column, len(raw))
	for i, r := range raw {
		if r.Type == "" {
			return nil, invalid("schema column %d has no type", i)
		}
		c := Column{Type: r.Type, Required: true}
		if r.Name != nil {
			c.Name = *r.Name
		}
		if r.Required != nil {
			c.Required = *r.Required
		}
		if r.Type == TypeArray {
			if r.Items == nil || r.Items.Type == "" {
				return nil, invalid("schema column %q: array without item type", c.Name)
			}
			c.Items = r.Items.Type
		}
		cols[i] = c
	}
	return cols, nil
}
