package validate

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// exampleRules is the rules file of the package documentation.
const exampleRules = `
rows: {min: 1000, max: 10000000}
columns:
  age:    {type: int, not_null: true, min: 0, max: 130}
  email:  {type: string, regex: '^[^@]+@[^@]+$', unique: true}
  country: {allowed: [DE, FR, NL]}
  score:  {type: float, min: 0, max: 1, not_null: true}
  id:     {unique: true}
  signup: {type: timestamp}
required_columns: [age, email]
expressions:
  - name: adult_has_email
    expr: 'age < 18 || email != null'
  - name: score_consistent
    expr: 'score <= 1.0'
files: 'data/*.csv'
`

// writeCSV writes a header and rows made by cells(i) for data rows 1..n,
// with overrides by data row and column.
func writeCSV(t *testing.T, path string, header []string, n int, cells func(i int) []string, over map[int]map[string]string) {
	t.Helper()
	var b strings.Builder
	b.WriteString(strings.Join(header, ",") + "\n")
	for i := 1; i <= n; i++ {
		c := cells(i)
		for j, h := range header {
			if v, ok := over[i][h]; ok {
				c[j] = v
			}
		}
		b.WriteString(strings.Join(c, ",") + "\n")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

func people(i int) []string {
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	return []string{
		fmt.Sprint(i),
		fmt.Sprint(18 + i%60),
		fmt.Sprintf("u%d@x.org", i),
		[]string{"DE", "FR", "NL"}[i%3],
		fmt.Sprint(float64(i%100) / 100),
		start.Add(time.Duration(i) * time.Minute).Format(time.RFC3339),
	}
}

var peopleHeader = []string{"id", "age", "email", "country", "score", "signup"}

func TestValidateCSV(t *testing.T) {
	dir := t.TempDir()
	rulesPath := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(rulesPath, []byte(exampleRules), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := Load(rulesPath)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	// A clean file passes.
	clean := filepath.Join(dir, "data", "clean.csv")
	writeCSV(t, clean, peopleHeader, 1200, people, nil)
	if !r.Applies(clean) {
		t.Error("rules should apply to data/clean.csv")
	}
	rep, err := r.Validate(ctx, clean)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK || rep.Rows != 1200 || rep.File != clean {
		t.Fatalf("clean file:\n%s", rep.Text())
	}

	// Every expectation broken at known data rows; data row i is line i+1.
	dirty := filepath.Join(dir, "data", "dirty.csv")
	writeCSV(t, dirty, peopleHeader, 1200, people, map[int]map[string]string{
		17:  {"age": "131"},
		204: {"age": "200"},
		981: {"age": "999"},
		50:  {"age": "-1"},
		60:  {"age": "NA"},
		70:  {"email": "bad"},
		80:  {"email": "u1@x.org"},
		90:  {"email": ""},
		100: {"country": "XX"},
		110: {"score": "1.5"},
		120: {"id": "119"},
		130: {"signup": "yesterday"},
	})
	rep, err = r.Validate(ctx, dirty)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Rows != 1200 || rep.OK {
		t.Errorf("rows %d ok %v", rep.Rows, rep.OK)
	}
	checkFailures(t, rep.Failures, []Failure{
		one("not_null", "age", 1, "1 row null", 61, "null"),
		one("min", "age", 1, "1 row below 0", 51, "-1"),
		one("max", "age", 3, "3 rows above 130", 18, "131", 205, "200", 982, "999"),
		one("regex", "email", 1, "1 row not matching ^[^@]+@[^@]+$", 71, `"bad"`),
		one("unique", "email", 1, "1 row repeating an earlier value", 81, `"u1@x.org"`),
		one("allowed", "country", 1, "1 row not in [DE, FR, NL]", 101, `"XX"`),
		one("max", "score", 1, "1 row above 1", 111, "1.5"),
		one("unique", "id", 1, "1 row repeating an earlier value", 121, "119"),
		one("type", "signup", 1, "1 row not timestamp", 131, `"yesterday"`),
		expr("adult_has_email", 1, "1 row false", 91, kv{"age": "48", "email": "null"}),
		expr("score_consistent", 1, "1 row false", 111, kv{"score": "1.5"}),
	})
	wantText := dirty + `: 1200 rows: 11 expectations failed
FAIL columns.age.not_null: 1 row null (row 61: age=null)
FAIL columns.age.min: 1 row below 0 (row 51: age=-1)
FAIL columns.age.max: 3 rows above 130 (rows 18, 205, 982: age=131, 200, 999)
FAIL columns.email.regex: 1 row not matching ^[^@]+@[^@]+$ (row 71: email="bad")
FAIL columns.email.unique: 1 row repeating an earlier value (row 81: email="u1@x.org")
FAIL columns.country.allowed: 1 row not in [DE, FR, NL] (row 101: country="XX")
FAIL columns.score.max: 1 row above 1 (row 111: score=1.5)
FAIL columns.id.unique: 1 row repeating an earlier value (row 121: id=119)
FAIL columns.signup.type: 1 row not timestamp (row 131: signup="yesterday")
FAIL expressions.adult_has_email: 1 row false (row 91: age=48 email=null)
FAIL expressions.score_consistent: 1 row false (row 111: score=1.5)
`
	if got := rep.Text(); got != wantText {
		t.Errorf("Text:\n%s\nwant:\n%s", got, wantText)
	}

	// Too few rows, and missing columns.
	small := filepath.Join(dir, "data", "small.csv")
	writeCSV(t, small, []string{"id", "age", "country"}, 3, func(i int) []string {
		return []string{fmt.Sprint(i), "30", "DE"}
	}, nil)
	rep, err = r.Validate(ctx, small)
	if err != nil {
		t.Fatal(err)
	}
	checkFailures(t, rep.Failures, []Failure{
		{Expectation: "rows.min", Message: "3 rows, fewer than 1000"},
		{Expectation: "columns.email.required", Column: "email", Message: "column is missing"},
		{Expectation: "columns.score.required", Column: "score", Message: "column is missing"},
		{Expectation: "columns.signup.required", Column: "signup", Message: "column is missing"},
		expr("adult_has_email", 0, "cannot check: 1:13: undeclared reference to 'email'"),
		expr("score_consistent", 0, "cannot check: 1:1: undeclared reference to 'score'"),
	})
}

func TestValidateCSVLines(t *testing.T) {
	// Lines come from the reader: a quoted field over two lines shifts the
	// rows after it.
	path := filepath.Join(t.TempDir(), "notes.csv")
	data := "n,note\n1,\"two\nlines\"\n-2,x\n3,\n"
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	r := mustParse(t, "columns: {n: {min: 0}, note: {not_null: true}}")
	rep, err := r.Validate(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	checkFailures(t, rep.Failures, []Failure{
		one("min", "n", 1, "1 row below 0", 4, "-2"),
		one("not_null", "note", 1, "1 row null", 5, "null"),
	})
}

func TestValidateCSVTypeChangeAfterSample(t *testing.T) {
	// The reader decides types on its first rows (at least 10000, read in
	// 4 MiB chunks); a later value that does not fit widens the column.
	// Validation keeps the type it started with (or the declared one) and
	// fails the odd rows. 600-byte rows put rows 18000 and 19000 well past
	// the sample.
	const n = 20000
	pad := strings.Repeat("x", 590)
	path := filepath.Join(t.TempDir(), "late.csv")
	writeCSV(t, path, []string{"a", "b", "pad"}, n, func(i int) []string {
		return []string{fmt.Sprint(i), fmt.Sprint(i), pad}
	}, map[int]map[string]string{18000: {"a": "abc", "b": "abc"}, 19000: {"a": "2.5", "b": "2.5"}})

	r := mustParse(t, "columns: {a: {max: 30000}, b: {type: float}}\nexpressions: [{name: e, expr: 'a >= 0'}]")
	rep, err := r.Validate(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	checkFailures(t, rep.Failures, []Failure{
		one("type", "a", 2, "2 rows not int (the type read from the first rows; declare the column's type to convert text)", 18001, `"abc"`, 19001, `"2.5"`),
		one("type", "b", 1, "1 row not float", 18001, `"abc"`),
		expr("e", 2, "2 rows failed to evaluate (row 18001: no such overload: _>=_)", 18001, kv{"a": "null"}, 19001, kv{"a": "null"}),
	})
}

func TestValidateFileErrors(t *testing.T) {
	dir := t.TempDir()
	r := mustParse(t, "rows: {min: 1}")
	ctx := context.Background()

	if _, err := r.Validate(ctx, filepath.Join(dir, "missing.csv")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}

	ragged := filepath.Join(dir, "ragged.csv")
	if err := os.WriteFile(ragged, []byte("a,b\n1,2\n3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := r.Validate(ctx, ragged)
	if err == nil || !strings.HasPrefix(err.Error(), ragged+": line 3: ") {
		t.Errorf("ragged file: %v", err)
	}

	other := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(other, []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Validate(ctx, other); err == nil || !strings.Contains(err.Error(), "unknown table format") {
		t.Errorf("not a table: %v", err)
	}
}

func BenchmarkValidateCSV(b *testing.B) {
	path := filepath.Join(b.TempDir(), "data.csv")
	var sb strings.Builder
	sb.WriteString(strings.Join(peopleHeader, ",") + "\n")
	const n = 100_000
	for i := 1; i <= n; i++ {
		sb.WriteString(strings.Join(people(i), ",") + "\n")
	}
	if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	r, err := Parse([]byte(exampleRules), "rules.yaml")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(sb.Len()))
	b.ReportAllocs()
	for b.Loop() {
		rep, err := r.Validate(context.Background(), path)
		if err != nil || !rep.OK {
			b.Fatal(err, rep.Text())
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/row")
}
