package validate

import (
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// timeLayouts are the timestamp forms accepted in rules files and in text
// columns declared as timestamps. Forms without a zone are UTC.
var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02",
}

func parseTime(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// coerce converts a value (int64, float64, bool, string or time.Time) to the
// Go type of a column type, reporting false when it has no such form: text
// that does not parse, a float with a fraction for int, a bool for a number.
// Every value has a string form.
func coerce(v any, typ string) (any, bool) {
	switch typ {
	case TypeInt:
		switch x := v.(type) {
		case int64:
			return x, true
		case float64:
			if x == math.Trunc(x) && x >= -(1<<63) && x < 1<<63 {
				return int64(x), true
			}
		case string:
			if i, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64); err == nil {
				return i, true
			}
		}
	case TypeFloat:
		switch x := v.(type) {
		case int64:
			return float64(x), true
		case float64:
			return x, true
		case string:
			if f, err := strconv.ParseFloat(strings.TrimSpace(x), 64); err == nil {
				return f, true
			}
		}
	case TypeBool:
		switch x := v.(type) {
		case bool:
			return x, true
		case string:
			if b, err := strconv.ParseBool(strings.TrimSpace(x)); err == nil {
				return b, true
			}
		}
	case TypeString:
		if s, ok := v.(string); ok {
			return s, true
		}
		return plain(v), true
	case TypeTimestamp:
		switch x := v.(type) {
		case time.Time:
			return x, true
		case string:
			if t, ok := parseTime(x); ok {
				return t, true
			}
		}
	}
	return nil, false
}

// plain is the text form of a value, used for strings made from other types
// and for regex matching.
func plain(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	}
	return ""
}

// maxShown bounds the characters of one value in a report.
const maxShown = 64

// show renders a value for a report: null, numbers and timestamps bare,
// strings quoted (so "null" and null differ) and cut at maxShown characters.
func show(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		if utf8.RuneCountInString(x) > maxShown {
			r := []rune(x)
			return strconv.Quote(string(r[:maxShown])) + "..."
		}
		return strconv.Quote(x)
	}
	return plain(v)
}
