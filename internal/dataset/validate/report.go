package validate

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// MaxSamples is the number of failing rows a Failure shows.
const MaxSamples = 5

// Report is the outcome of validating one table file.
type Report struct {
	File     string    `json:"file"`
	Rows     int64     `json:"rows"`
	OK       bool      `json:"ok"` // no expectation failed
	Failures []Failure `json:"failures"`
}

// Failure is one expectation that did not hold.
type Failure struct {
	// Expectation names the rule: "rows.min", "columns.age.max",
	// "columns.email.unique", "expressions.adult_has_email", ...
	Expectation string   `json:"expectation"`
	Column      string   `json:"column,omitempty"` // the column for columns.* expectations
	Count       int64    `json:"count"`            // failing rows; 0 when the failure is not about rows
	Message     string   `json:"message"`          // what went wrong, with the count: "3 rows above 130"
	Samples     []Sample `json:"samples,omitempty"`
}

// Sample is a failing row.
type Sample struct {
	// Line is the 1-based data row number plus the lines before the first
	// row (1 for a CSV header), so for CSV it is the line in the file.
	Line int64 `json:"line"`
	// Values holds the values of the columns involved, as shown in reports:
	// null, numbers and timestamps bare, strings quoted.
	Values map[string]string `json:"values"`
}

// Text renders the report for people: a summary line, then one line per
// failing expectation with its count and sample rows, e.g.
//
//	FAIL columns.age.max: 3 rows above 130 (rows 17, 204, 9981: age=131, 200, 999)
func (rep Report) Text() string {
	var b strings.Builder
	if rep.OK {
		fmt.Fprintf(&b, "%s: %s: OK\n", rep.File, count(rep.Rows, "row"))
		return b.String()
	}
	fmt.Fprintf(&b, "%s: %s: %s failed\n", rep.File, count(rep.Rows, "row"), count(int64(len(rep.Failures)), "expectation"))
	for _, f := range rep.Failures {
		fmt.Fprintf(&b, "FAIL %s: %s%s\n", f.Expectation, f.Message, samplesText(f))
	}
	return b.String()
}

// samplesText renders samples of one column as "(rows 17, 204: age=131,
// 200)" and of several as "(row 5: age=12 email=null; row 9: ...)".
func samplesText(f Failure) string {
	if len(f.Samples) == 0 {
		return ""
	}
	if f.Column != "" {
		lines := make([]string, len(f.Samples))
		vals := make([]string, len(f.Samples))
		for i, s := range f.Samples {
			lines[i] = strconv.FormatInt(s.Line, 10)
			vals[i] = s.Values[f.Column]
		}
		word := "rows"
		if len(lines) == 1 {
			word = "row"
		}
		return fmt.Sprintf(" (%s %s: %s=%s)", word, strings.Join(lines, ", "), f.Column, strings.Join(vals, ", "))
	}
	parts := make([]string, len(f.Samples))
	for i, s := range f.Samples {
		kv := make([]string, 0, len(s.Values))
		for _, k := range slices.Sorted(maps.Keys(s.Values)) {
			kv = append(kv, k+"="+s.Values[k])
		}
		parts[i] = fmt.Sprintf("row %d", s.Line)
		if len(kv) > 0 {
			parts[i] += ": " + strings.Join(kv, " ")
		}
	}
	return " (" + strings.Join(parts, "; ") + ")"
}

// count renders "1 row", "3 rows".
func count(n int64, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.FormatInt(n, 10) + " " + noun + "s"
}
