package validate

import (
	"context"
	"errors"
	"io"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

// memTable is an in-memory Table that hands out rows in batches of size
// batch (all at once when 0).
type memTable struct {
	cols, typs []string
	rows       [][]any
	batch      int
	offset     int64 // LineOffset, when hasOffset
	pos        int
	err        error // returned once the rows run out, instead of io.EOF
}

func (m *memTable) Columns() []string { return m.cols }
func (m *memTable) Types() []string   { return m.typs }
func (m *memTable) Next() ([][]any, error) {
	if m.pos >= len(m.rows) {
		if m.err != nil {
			return nil, m.err
		}
		return nil, io.EOF
	}
	n := len(m.rows) - m.pos
	if m.batch > 0 {
		n = min(n, m.batch)
	}
	// Hand out copies: the engine may rewrite values in place.
	out := make([][]any, n)
	for i := range out {
		out[i] = append([]any(nil), m.rows[m.pos+i]...)
	}
	m.pos += n
	return out, nil
}

// csvTable has a header line before its rows.
type csvTable struct{ memTable }

func (c *csvTable) LineOffset() int64 { return 1 }

func table(cols string, typs string, rows ...[]any) *memTable {
	return &memTable{cols: strings.Split(cols, ","), typs: strings.Split(typs, ","), rows: rows}
}

func row(v ...any) []any { return v }

func mustParse(t *testing.T, y string) *Rules {
	t.Helper()
	r, err := Parse([]byte(y), "rules.yaml")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return r
}

func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// one builds the Failure of a single-column expectation with samples given
// as line, value pairs.
func one(exp, col string, n int64, msg string, samples ...any) Failure {
	f := Failure{Expectation: "columns." + col + "." + exp, Column: col, Count: n, Message: msg}
	for i := 0; i+1 < len(samples); i += 2 {
		f.Samples = append(f.Samples, Sample{Line: int64(samples[i].(int)), Values: map[string]string{col: samples[i+1].(string)}})
	}
	return f
}

// expr builds the Failure of an expression with samples given as line,
// values pairs.
func expr(name string, n int64, msg string, samples ...any) Failure {
	f := Failure{Expectation: "expressions." + name, Count: n, Message: msg}
	for i := 0; i+1 < len(samples); i += 2 {
		f.Samples = append(f.Samples, Sample{Line: int64(samples[i].(int)), Values: samples[i+1].(map[string]string)})
	}
	return f
}

type kv = map[string]string

func TestExpectations(t *testing.T) {
	ages := func() *memTable {
		return table("age", "int", row(int64(5)), row(int64(131)), row(nil), row(int64(-1)), row(int64(40)))
	}
	tests := []struct {
		name  string
		rules string
		tab   *memTable
		rows  int64
		want  []Failure
	}{
		// rows.
		{"rows pass", "rows: {min: 5, max: 5}", ages(), 5, nil},
		{"rows min", "rows: {min: 6}", ages(), 5, []Failure{{Expectation: "rows.min", Message: "5 rows, fewer than 6"}}},
		{"rows max", "rows: {max: 4}", ages(), 5, []Failure{{Expectation: "rows.max", Message: "5 rows, more than 4"}}},
		{"rows empty", "rows: {min: 1}", table("age", "int"), 0, []Failure{{Expectation: "rows.min", Message: "0 rows, fewer than 1"}}},
		{"rows one", "rows: {min: 2}", table("age", "int", row(int64(1))), 1, []Failure{{Expectation: "rows.min", Message: "1 row, fewer than 2"}}},

		// Presence.
		{"columns present", "columns: {age: }\nrequired_columns: [age]", ages(), 5, nil},
		{"column missing", "columns:\n  email: {not_null: true}\n  age: {optional: true}\n  x: {optional: true, not_null: true}\nrequired_columns: [zip]", ages(), 5, []Failure{
			{Expectation: "columns.email.required", Column: "email", Message: "column is missing"},
			{Expectation: "columns.zip.required", Column: "zip", Message: "column is missing"},
		}},

		// not_null.
		{"not_null pass", "columns: {age: {not_null: true}}", table("age", "int", row(int64(1))), 1, nil},
		{"not_null", "columns: {age: {not_null: true}}", ages(), 5, []Failure{one("not_null", "age", 1, "1 row null", 3, "null")}},

		// min and max.
		{"range pass", "columns: {age: {min: -1, max: 131}}", ages(), 5, nil},
		{"range", "columns: {age: {type: int, min: 0, max: 130}}", ages(), 5, []Failure{
			one("min", "age", 1, "1 row below 0", 4, "-1"),
			one("max", "age", 1, "1 row above 130", 2, "131"),
		}},
		{"float bounds on ints", "columns: {age: {min: 4.5, max: 40.5}}", ages(), 5, []Failure{
			one("min", "age", 1, "1 row below 4.5", 4, "-1"),
			one("max", "age", 1, "1 row above 40.5", 2, "131"),
		}},
		{"float range and NaN", "columns: {score: {type: float, min: 0, max: 1}}",
			table("score", "float", row(0.0), row(1.0), row(1.5), row(math.NaN()), row(-0.25), row(math.Inf(1))), 6, []Failure{
				one("min", "score", 2, "2 rows below 0", 4, "NaN", 5, "-0.25"),
				one("max", "score", 3, "3 rows above 1", 3, "1.5", 4, "NaN", 6, "+Inf"),
			}},
		{"timestamp range", "columns: {t: {min: 2020-01-01, max: '2020-12-31T23:59:59Z'}}",
			table("t", "timestamp", row(ts("2020-01-01T00:00:00Z")), row(ts("2019-12-31T23:59:59Z")), row(ts("2021-01-01T00:00:00Z")), row(nil)), 4, []Failure{
				one("min", "t", 1, "1 row below 2020-01-01", 2, "2019-12-31T23:59:59Z"),
				one("max", "t", 1, "1 row above 2020-12-31T23:59:59Z", 3, "2021-01-01T00:00:00Z"),
			}},
		{"number bound on text", "columns: {age: {min: 0}}", table("age", "string", row("1")), 1, []Failure{
			one("min", "age", 0, "cannot check: the column is string and min is a number (declare type: int or float to read text as numbers)"),
		}},
		{"time bound on int", "columns: {age: {max: 2020-01-01}}", ages(), 5, []Failure{
			one("max", "age", 0, "cannot check: the column is int and max is a timestamp (declare type: timestamp to read text as timestamps)"),
		}},

		// allowed.
		{"allowed pass", "columns: {c: {allowed: [DE, FR]}}", table("c", "string", row("DE"), row(nil), row("FR")), 3, nil},
		{"allowed", "columns: {c: {allowed: [DE, FR, NL]}}", table("c", "string", row("DE"), row("de"), row(nil), row("XX"), row("")), 5, []Failure{
			one("allowed", "c", 3, "3 rows not in [DE, FR, NL]", 2, `"de"`, 4, `"XX"`, 5, `""`),
		}},
		{"allowed numbers", "columns: {n: {allowed: [1, 2.5]}}", table("n", "float", row(1.0), row(2.5), row(2.0), row(math.Copysign(0, -1))), 4, []Failure{
			one("allowed", "n", 2, "2 rows not in [1, 2.5]", 3, "2", 4, "-0"),
		}},
		{"allowed ints in text", "columns: {n: {type: int, allowed: [1, 2]}}", table("n", "string", row("1"), row(" 2"), row("3")), 3, []Failure{
			one("allowed", "n", 1, "1 row not in [1, 2]", 3, "3"),
		}},
		{"allowed bools", "columns: {b: {allowed: [true]}}", table("b", "bool", row(true), row(false)), 2, []Failure{
			one("allowed", "b", 1, "1 row not in [true]", 2, "false"),
		}},
		{"allowed timestamps", "columns: {t: {type: timestamp, allowed: [2020-01-01]}}", table("t", "string", row("2020-01-01T00:00:00Z"), row("2020-01-01T01:00:00+01:00"), row("2020-01-02")), 3, []Failure{
			one("allowed", "t", 1, "1 row not in [2020-01-01]", 3, "2020-01-02T00:00:00Z"),
		}},

		// regex.
		{"regex pass", "columns: {e: {regex: '^[^@]+@[^@]+$'}}", table("e", "string", row("a@b"), row(nil)), 2, nil},
		{"regex", "columns: {e: {regex: '^[^@]+@[^@]+$'}}", table("e", "string", row("a@b"), row("ab"), row("a@b@c"), row("")), 4, []Failure{
			one("regex", "e", 3, "3 rows not matching ^[^@]+@[^@]+$", 2, `"ab"`, 3, `"a@b@c"`, 4, `""`),
		}},
		{"regex unanchored on ints", "columns: {n: {regex: '7'}}", table("n", "int", row(int64(17)), row(int64(18))), 2, []Failure{
			one("regex", "n", 1, "1 row not matching 7", 2, "18"),
		}},

		// unique.
		{"unique pass", "columns: {id: {unique: true}}", table("id", "int", row(int64(1)), row(nil), row(nil), row(int64(2))), 4, nil},
		{"unique ints", "columns: {id: {unique: true}}", table("id", "int", row(int64(1)), row(int64(2)), row(int64(1)), row(int64(1)), row(int64(3)), row(int64(2))), 6, []Failure{
			one("unique", "id", 3, "3 rows repeating an earlier value", 3, "1", 4, "1", 6, "2"),
		}},
		{"unique strings", "columns: {e: {unique: true}}", table("e", "string", row("a"), row("A"), row("a"), row("")), 4, []Failure{
			one("unique", "e", 1, "1 row repeating an earlier value", 3, `"a"`),
		}},
		{"unique floats", "columns: {f: {unique: true}}", table("f", "float", row(0.0), row(math.Copysign(0, -1)), row(0.5), row(0.25)), 4, []Failure{
			one("unique", "f", 1, "1 row repeating an earlier value", 2, "-0"),
		}},
		{"unique timestamps", "columns: {t: {unique: true}}", table("t", "timestamp", row(ts("2020-01-01T00:00:00Z")), row(ts("2020-01-01T01:00:00+01:00")), row(ts("2020-01-01T00:00:01Z"))), 3, []Failure{
			one("unique", "t", 1, "1 row repeating an earlier value", 2, "2020-01-01T00:00:00Z"),
		}},
		{"unique bools", "columns: {b: {unique: true}}", table("b", "bool", row(true), row(false), row(true)), 3, []Failure{
			one("unique", "b", 1, "1 row repeating an earlier value", 3, "true"),
		}},

		// type.
		{"type matches", "columns: {age: {type: int}}", ages(), 5, nil},
		{"int is float", "columns: {age: {type: float, max: 130.5}}", ages(), 5, []Failure{one("max", "age", 1, "1 row above 130.5", 2, "131")}},
		{"text as int", "columns: {age: {type: int, not_null: true, max: 130}}", table("age", "string", row("5"), row("abc"), row(nil), row("1.5"), row(" 200 ")), 5, []Failure{
			one("type", "age", 2, "2 rows not int", 2, `"abc"`, 4, `"1.5"`),
			one("not_null", "age", 1, "1 row null", 3, "null"),
			one("max", "age", 1, "1 row above 130", 5, "200"),
		}},
		{"floats as int", "columns: {n: {type: int}}", table("n", "float", row(1.0), row(1.5), row(-3.0), row(1e300)), 4, []Failure{
			one("type", "n", 2, "2 rows not int", 2, "1.5", 4, "1e+300"),
		}},
		{"text as float", "columns: {n: {type: float}}", table("n", "string", row("1.5"), row("1e3"), row("NaN"), row("x")), 4, []Failure{
			one("type", "n", 1, "1 row not float", 4, `"x"`),
		}},
		{"text as bool", "columns: {b: {type: bool}}", table("b", "string", row("true"), row("F"), row("1"), row("yes")), 4, []Failure{
			one("type", "b", 1, "1 row not bool", 4, `"yes"`),
		}},
		{"text as timestamp", "columns: {t: {type: timestamp}}", table("t", "string", row("2020-01-01"), row("2020-01-01 10:00:00"), row("2020-01-01T10:00:00.5+02:00"), row("01/02/2020")), 4, []Failure{
			one("type", "t", 1, "1 row not timestamp", 4, `"01/02/2020"`),
		}},
		{"anything as string", "columns: {s: {type: string, regex: '^[0-9]+$'}}", table("s", "int", row(int64(12)), row(int64(-1))), 2, []Failure{
			one("regex", "s", 1, "1 row not matching ^[0-9]+$", 2, `"-1"`),
		}},
		{"bool as int", "columns: {n: {type: int}}", table("n", "bool", row(true)), 1, []Failure{
			one("type", "n", 1, "1 row not int", 1, "true"),
		}},

		// Expressions.
		{"expression pass", "expressions: [{name: e, expr: 'age == null || age > -5'}]", ages(), 5, nil},
		{"expression false", "expressions: [{name: adult, expr: 'age == null || age >= 18'}]", ages(), 5, []Failure{
			expr("adult", 2, "2 rows false", 1, kv{"age": "5"}, 4, kv{"age": "-1"}),
		}},
		{"expression errors", "expressions: [{name: div, expr: '100 / age > 1'}]", table("age", "int", row(int64(5)), row(int64(0)), row(nil), row(int64(500))), 4, []Failure{
			expr("div", 3, "3 rows failed: 1 false; 2 failed to evaluate (row 2: division by zero)", 2, kv{"age": "0"}, 3, kv{"age": "null"}, 4, kv{"age": "500"}),
		}},
		{"expression only errors", "expressions: [{name: e, expr: 'age < 18'}]", table("age", "int", row(nil)), 1, []Failure{
			expr("e", 1, "1 row failed to evaluate (row 1: no such overload: _<_)", 1, kv{"age": "null"}),
		}},
		{"expression several columns", "expressions: [{name: adult_has_email, expr: 'age < 18 || email != null'}]",
			table("age,email,other", "int,string,float", row(int64(20), "a@b", 1.0), row(int64(20), nil, 2.0), row(int64(3), nil, 3.0)), 3, []Failure{
				expr("adult_has_email", 1, "1 row false", 2, kv{"age": "20", "email": "null"}),
			}},
		{"expression unknown column", "expressions: [{name: e, expr: 'zip > 0'}]", ages(), 5, []Failure{
			expr("e", 0, "cannot check: 1:1: undeclared reference to 'zip'"),
		}},
		{"expression type clash", "expressions: [{name: e, expr: 'age.startsWith(\"x\")'}]", ages(), 5, []Failure{
			expr("e", 0, "cannot check: 1:15: found no matching overload for 'startsWith' applied to 'wrapper(int).(string)'"),
		}},
		{"expression sees declared type", "columns: {age: {type: int}}\nexpressions: [{name: e, expr: 'age + 1 > 3'}]", table("age", "string", row("5"), row("x"), row("1")), 3, []Failure{
			one("type", "age", 1, "1 row not int", 2, `"x"`),
			expr("e", 2, "2 rows failed: 1 false; 1 failed to evaluate (row 2: no such overload: _+_)", 2, kv{"age": "null"}, 3, kv{"age": "1"}),
		}},
		{"expression timestamps", "expressions: [{name: recent, expr: 't > timestamp(\"2020-01-01T00:00:00Z\") && t - duration(\"24h\") < timestamp(\"2021-01-01T00:00:00Z\")'}]",
			table("t", "timestamp", row(ts("2020-06-01T00:00:00Z")), row(ts("2019-06-01T00:00:00Z")), row(ts("2021-01-01T12:00:00Z"))), 3, []Failure{
				expr("recent", 1, "1 row false", 2, kv{"t": "2019-06-01T00:00:00Z"}),
			}},
		{"expression strings ext", "expressions: [{name: e, expr: 's.lowerAscii().trim() == \"ok\" && math.abs(n) < 2'}]",
			table("s,n", "string,int", row(" OK ", int64(-1)), row("no", int64(1)), row("ok", int64(-3))), 3, []Failure{
				expr("e", 2, "2 rows false", 2, kv{"n": "1", "s": `"no"`}, 3, kv{"n": "-3", "s": `"ok"`}),
			}},
		{"column names that are not identifiers", "columns: {'first name': {not_null: true}}\nexpressions: [{name: e, expr: 'in_ == 1'}]",
			table("first name,in_", "string,int", row(nil, int64(1)), row("x", int64(2))), 2, []Failure{
				one("not_null", "first name", 1, "1 row null", 1, "null"),
				expr("e", 1, "1 row false", 2, kv{"in_": "2"}),
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mustParse(t, tt.rules)
			rep, err := r.ValidateTable(context.Background(), tt.tab, "t.csv")
			if err != nil {
				t.Fatal(err)
			}
			if rep.File != "t.csv" || rep.Rows != tt.rows || rep.OK != (len(tt.want) == 0) {
				t.Errorf("report file %q rows %d ok %v, want rows %d", rep.File, rep.Rows, rep.OK, tt.rows)
			}
			checkFailures(t, rep.Failures, tt.want)
		})
	}
}

func checkFailures(t *testing.T, got, want []Failure) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%d failures, want %d:\n%s", len(got), len(want), Report{Failures: got}.Text())
	}
	for i := range min(len(got), len(want)) {
		g, w := got[i], want[i]
		if len(g.Samples) == 0 {
			g.Samples = nil
		}
		if !reflect.DeepEqual(g, w) {
			t.Errorf("failure %d\n got %+v\nwant %+v", i, g, w)
		}
	}
}

func TestSamplesAndLines(t *testing.T) {
	// Seven bad rows over three batches, behind a header line: five samples,
	// the line numbers of a CSV file.
	tab := &csvTable{memTable{cols: []string{"n"}, typs: []string{"int"}, batch: 3}}
	for i := range 10 {
		tab.rows = append(tab.rows, row(int64(i*10)))
	}
	r := mustParse(t, "columns: {n: {min: 30}}\nexpressions: [{name: small, expr: 'n < 60'}]")
	rep, err := r.ValidateTable(context.Background(), tab, "t.csv")
	if err != nil {
		t.Fatal(err)
	}
	checkFailures(t, rep.Failures, []Failure{
		one("min", "n", 3, "3 rows below 30", 2, "0", 3, "10", 4, "20"),
		expr("small", 4, "4 rows false", 8, kv{"n": "60"}, 9, kv{"n": "70"}, 10, kv{"n": "80"}, 11, kv{"n": "90"}),
	})

	tab = &csvTable{memTable{cols: []string{"n"}, typs: []string{"int"}, batch: 4}}
	for range 9 {
		tab.rows = append(tab.rows, row(int64(7)))
	}
	rep, err = mustParse(t, "columns: {n: {unique: true}}").ValidateTable(context.Background(), tab, "t.csv")
	if err != nil {
		t.Fatal(err)
	}
	checkFailures(t, rep.Failures, []Failure{
		one("unique", "n", 8, "8 rows repeating an earlier value", 3, "7", 4, "7", 5, "7", 6, "7", 7, "7"),
	})
}

func TestNulls(t *testing.T) {
	tab := func() *memTable {
		return table("i,f,b,s,t", "int,float,bool,string,timestamp",
			row(int64(1), 1.5, true, "x", ts("2020-01-01T00:00:00Z")),
			row(nil, nil, nil, nil, nil))
	}
	tests := []struct {
		expr  string
		msg   string  // "" when every row passes
		lines []int64 // failing rows
	}{
		{"i != null && f != null && b != null && s != null && t != null", "1 row false", []int64{2}},
		{"i == null || f == null || b == null || s == null || t == null", "1 row false", []int64{1}},
		{"i == null || i > 0", "", nil},
		{"i > 0", "1 row failed to evaluate (row 2: no such overload: _>_)", []int64{2}},
		{"f <= 2", "1 row failed to evaluate (row 2: no such overload: _<=_)", []int64{2}},
		{"s.size() > 0", "1 row failed to evaluate (row 2: no such overload: size)", []int64{2}},
		{"s + 'y' != ''", "1 row failed to evaluate (row 2: no such overload: _+_)", []int64{2}},
		{"t < timestamp('2030-01-01T00:00:00Z')", "1 row failed to evaluate (row 2: no such overload: _<_)", []int64{2}},
		{"b", "1 row failed to evaluate (row 2: evaluated to null)", []int64{2}},
		{"b == true", "1 row false", []int64{2}},
		{"!b", "2 rows failed: 1 false; 1 failed to evaluate (row 2: no such overload)", []int64{1, 2}},
		// CEL's logical operators absorb an error when the other side decides.
		{"i > 0 || true", "", nil},
		{"i > 0 && false", "2 rows false", []int64{1, 2}},
		{"(i == null ? 0 : i) < 2", "", nil},
		{"[i, f].exists(x, x == null)", "1 row false", []int64{1}},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			r := mustParse(t, "expressions: [{name: e, expr: '"+strings.ReplaceAll(tt.expr, "'", "''")+"'}]")
			rep, err := r.ValidateTable(context.Background(), tab(), "t.csv")
			if err != nil {
				t.Fatal(err)
			}
			if tt.msg == "" {
				if !rep.OK {
					t.Errorf("want pass, got:\n%s", rep.Text())
				}
				return
			}
			if len(rep.Failures) != 1 {
				t.Fatalf("want one failure, got:\n%s", rep.Text())
			}
			f := rep.Failures[0]
			var lines []int64
			for _, s := range f.Samples {
				lines = append(lines, s.Line)
			}
			if f.Message != tt.msg || !reflect.DeepEqual(lines, tt.lines) {
				t.Errorf("got %q on rows %v, want %q on rows %v", f.Message, lines, tt.msg, tt.lines)
			}
		})
	}

	// A non-nullable-looking literal comparison still type-checks for every
	// column type, since every column variable is nullable.
	for _, typ := range typeNames {
		if _, err := Parse([]byte("columns: {c: {type: "+typ+"}}\nexpressions: [{name: e, expr: 'c != null'}]"), "r.yaml"); err != nil {
			t.Errorf("%s: %v", typ, err)
		}
	}
}

func TestCostLimit(t *testing.T) {
	// 10^6 multiplications per row: far over the limit. The expression is
	// stopped after MaxCostFailures rows, so 1000 rows finish quickly.
	const ten = "[0,1,2,3,4,5,6,7,8,9]"
	huge := ten + ".map(a, " + ten + ".map(b, " + ten + ".map(c, " + ten + ".map(d, " + ten + ".map(e, " + ten + ".map(f, a*b*c*d*e*f)))))).size() > 0"
	r := mustParse(t, "expressions:\n  - name: huge\n    expr: '"+huge+"'\n  - name: fine\n    expr: 'n >= 0'\n")
	tab := table("n", "int")
	for i := range 1000 {
		tab.rows = append(tab.rows, row(int64(i)))
	}
	start := time.Now()
	rep, err := r.ValidateTable(context.Background(), tab, "t.csv")
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
	if len(rep.Failures) != 1 {
		t.Fatalf("failures:\n%s", rep.Text())
	}
	f := rep.Failures[0]
	if f.Expectation != "expressions.huge" || f.Count != MaxCostFailures || f.Message != "10 rows over the cost limit of 100000; later rows not checked" || len(f.Samples) != MaxSamples || f.Samples[0].Line != 1 {
		t.Errorf("got %+v", f)
	}

	// A legitimate but data-dependent cost: a regex over a long cell fails
	// that row only.
	r = mustParse(t, "expressions: [{name: re, expr: 's.matches(\"^[a-z]+$\")'}]")
	long := strings.Repeat("a", 2_000_000)
	rep, err = r.ValidateTable(context.Background(), table("s", "string", row("abc"), row(long), row("ABC"), row("x")), "t.csv")
	if err != nil {
		t.Fatal(err)
	}
	checkFailures(t, rep.Failures, []Failure{
		expr("re", 2, "2 rows failed: 1 false; 1 over the cost limit of 100000 (first at row 2)", 2, kv{"s": `"` + strings.Repeat("a", maxShown) + `"...`}, 3, kv{"s": `"ABC"`}),
	})
}

func TestReportText(t *testing.T) {
	r := mustParse(t, `
rows: {min: 10}
columns:
  age: {type: int, max: 130}
  email: {not_null: true}
  zip: {}
expressions:
  - {name: adult_has_email, expr: 'age < 18 || email != null'}
`)
	tab := &csvTable{memTable{cols: []string{"age", "email"}, typs: []string{"int", "string"}}}
	tab.rows = [][]any{
		{int64(131), "a@b"}, {int64(200), "c@d"}, {int64(30), nil}, {int64(999), "e@f"},
	}
	rep, err := r.ValidateTable(context.Background(), tab, "data/people.csv")
	if err != nil {
		t.Fatal(err)
	}
	want := `data/people.csv: 4 rows: 5 expectations failed
FAIL rows.min: 4 rows, fewer than 10
FAIL columns.zip.required: column is missing
FAIL columns.age.max: 3 rows above 130 (rows 2, 3, 5: age=131, 200, 999)
FAIL columns.email.not_null: 1 row null (row 4: email=null)
FAIL expressions.adult_has_email: 1 row false (row 4: age=30 email=null)
`
	if got := rep.Text(); got != want {
		t.Errorf("Text:\n%s\nwant:\n%s", got, want)
	}
	ok := Report{File: "x.csv", Rows: 1, OK: true}
	if got := ok.Text(); got != "x.csv: 1 row: OK\n" {
		t.Errorf("OK text %q", got)
	}
}

type failingTable struct{ memTable }

func TestValidateTableErrors(t *testing.T) {
	r := mustParse(t, "columns: {a: {not_null: true}}")
	ctx := context.Background()
	tests := []struct {
		name string
		tab  Table
		want string
	}{
		{"names and types", &memTable{cols: []string{"a", "b"}, typs: []string{"int"}}, "validating t.csv: 2 column names for 1 types"},
		{"unknown type", table("a", "decimal"), `validating t.csv: column "a" has unknown type "decimal"`},
		{"short row", table("a,b", "int,int", row(int64(1), int64(2)), row(int64(1))), "t.csv: row 2 has 1 values for 2 columns"},
		{"wrong Go type", table("a", "int", row(int64(1)), row("x")), `t.csv: row 2: column "a": string value in a int column`},
		{"read error", &memTable{cols: []string{"a"}, typs: []string{"int"}, rows: [][]any{{int64(1)}}, err: errors.New("disk on fire")}, "t.csv: disk on fire"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := r.ValidateTable(ctx, tt.tab, "t.csv")
			if err == nil || err.Error() != tt.want {
				t.Errorf("err = %v, want %s", err, tt.want)
			}
		})
	}

	// Go ints are accepted for int columns.
	rep, err := r.ValidateTable(ctx, table("a", "int", row(1), row(nil)), "t.csv")
	if err != nil || rep.Failures[0].Message != "1 row null" {
		t.Errorf("Go int: %v %+v", err, rep)
	}

	// A cancelled context stops the run.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := r.ValidateTable(cctx, table("a", "int", row(int64(1))), "t.csv"); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

func TestRulesReusable(t *testing.T) {
	// Rules hold no per-run state: two runs, even concurrent, agree.
	r := mustParse(t, "columns: {id: {unique: true}}\nexpressions: [{name: e, expr: 'id < 5'}]")
	mk := func() *memTable {
		tab := table("id", "int")
		for i := range 10 {
			tab.rows = append(tab.rows, row(int64(i%7)))
		}
		return tab
	}
	done := make(chan Report, 4)
	for range 4 {
		go func() {
			rep, _ := r.ValidateTable(context.Background(), mk(), "t")
			done <- rep
		}()
	}
	first := <-done
	for range 3 {
		if rep := <-done; !reflect.DeepEqual(rep, first) {
			t.Errorf("runs differ:\n%s\n%s", rep.Text(), first.Text())
		}
	}
	if first.Failures[0].Count != 3 || first.Failures[1].Count != 2 {
		t.Errorf("counts: %s", first.Text())
	}
}

// batchesSource yields batches whose column types change from batch to
// batch, as a frame reader's do when it widens a column.
type batchesSource struct {
	typ     string
	batches [][]any
	i       int
}

func (s *batchesSource) schema() ([]string, []string) { return []string{"n"}, []string{s.typ} }

func (s *batchesSource) next(b *batch) error {
	if s.i >= len(s.batches) {
		return io.EOF
	}
	vals := s.batches[s.i]
	s.i++
	typ := typeNull
	for _, v := range vals {
		switch v.(type) {
		case int64:
			typ = TypeInt
		case string:
			typ = TypeString
		}
	}
	b.ensure(1)
	b.n = len(vals)
	b.lines = nil
	b.cols[0].reset(typ, b.n)
	for i, v := range vals {
		b.cols[0].set(i, v)
	}
	return nil
}

func TestBatchTypeChanges(t *testing.T) {
	r := mustParse(t, "columns: {n: {type: int, not_null: true, max: 10}}\nexpressions: [{name: e, expr: 'n == null || n > 0'}]")
	src := &batchesSource{typ: TypeString, batches: [][]any{
		{"1", "x", nil}, // rows 1-3: converted, one bad
		{int64(2), int64(11), nil, int64(0), int64(3)}, // rows 4-8: longer, not converted
		{nil, nil},  // rows 9-10: only nulls
		{"12", "y"}, // rows 11-12
	}}
	rep, err := r.run(context.Background(), src, "t")
	if err != nil {
		t.Fatal(err)
	}
	if rep.Rows != 12 {
		t.Errorf("rows %d", rep.Rows)
	}
	checkFailures(t, rep.Failures, []Failure{
		one("type", "n", 2, "2 rows not int", 2, `"x"`, 12, `"y"`),
		one("not_null", "n", 4, "4 rows null", 3, "null", 6, "null", 9, "null", 10, "null"),
		one("max", "n", 2, "2 rows above 10", 5, "11", 11, "12"),
		expr("e", 1, "1 row false", 7, kv{"n": "0"}),
	})
}
