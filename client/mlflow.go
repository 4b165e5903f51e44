package client

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"time"
)

// The MLflow-compatible API. mlcycle serves MLflow's REST wire format, so
// these methods work against an mlflow server too. Requests and answers are
// encoded exactly as MLflow's protobuf JSON: int64 timestamps are Unix
// milliseconds, doubles may be "NaN" or "Infinity", enums are their names.

const (
	mlflowAPI    = "/api/2.0/mlflow"
	artifactsAPI = "/api/2.0/mlflow-artifacts/artifacts"
)

// Timestamp is a point in time that travels as MLflow's Unix milliseconds.
// The zero Timestamp means "not set" and is left out of requests.
type Timestamp struct{ time.Time }

// At returns t as a Timestamp (at millisecond precision on the wire).
func At(t time.Time) Timestamp { return Timestamp{t} }

// Millis returns t as Unix milliseconds, or 0 for the zero Timestamp.
func (t Timestamp) Millis() int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func (t Timestamp) MarshalJSON() ([]byte, error) {
	return strconv.AppendInt(nil, t.Millis(), 10), nil
}

// UnmarshalJSON reads a number or, as protobuf's JSON writes int64, a
// string of digits. 0 and null leave t zero.
func (t *Timestamp) UnmarshalJSON(b []byte) error {
	b = bytes.Trim(b, `"`)
	if string(b) == "null" || len(b) == 0 {
		*t = Timestamp{}
		return nil
	}
	ms, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return fmt.Errorf("timestamp %s is not a whole number of milliseconds", b)
	}
	if ms == 0 {
		*t = Timestamp{}
		return nil
	}
	*t = Timestamp{time.UnixMilli(ms)}
	return nil
}

// double is a float64 as protobuf JSON writes it: a number, or the strings
// "NaN", "Infinity" and "-Infinity" (encoding/json refuses those values).
type double float64

func (d double) MarshalJSON() ([]byte, error) {
	f := float64(d)
	switch {
	case math.IsNaN(f):
		return []byte(`"NaN"`), nil
	case math.IsInf(f, 1):
		return []byte(`"Infinity"`), nil
	case math.IsInf(f, -1):
		return []byte(`"-Infinity"`), nil
	}
	return strconv.AppendFloat(nil, f, 'g', -1, 64), nil
}

func (d *double) UnmarshalJSON(b []byte) error {
	s := string(bytes.Trim(b, `"`))
	switch s {
	case "null":
		return nil
	case "NaN":
		*d = double(math.NaN())
	case "Infinity":
		*d = double(math.Inf(1))
	case "-Infinity":
		*d = double(math.Inf(-1))
	default:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return fmt.Errorf("%q is not a number", s)
		}
		*d = double(f)
	}
	return nil
}

// Tag is a key and value, as experiments, runs, dataset inputs, registered
// models and model versions carry them.
type Tag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// TagValue returns the value of key in tags.
func TagValue(tags []Tag, key string) (string, bool) {
	for _, t := range tags {
		if t.Key == key {
			return t.Value, true
		}
	}
	return "", false
}

// ViewType selects active, deleted or all experiments or runs in a search.
type ViewType string

const (
	ActiveOnly  ViewType = "ACTIVE_ONLY"
	DeletedOnly ViewType = "DELETED_ONLY"
	AllViews    ViewType = "ALL"
)

// int64JSON is an int64 read from a JSON number or, as protobuf's JSON
// writes int64, a string of digits.
type int64JSON int64

func (n *int64JSON) UnmarshalJSON(b []byte) error {
	s := string(bytes.Trim(b, `"`))
	if s == "null" {
		return nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("%s is not a whole number", b)
	}
	*n = int64JSON(v)
	return nil
}
