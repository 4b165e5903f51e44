package filter

import (
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/mlcycle/mlcycle/internal/errs"
)

var (
	strict = Options{}
	attr   = Options{DefaultEntity: "attribute"}
)

func TestParse(t *testing.T) {
	tests := []struct {
		in   string
		opts Options
		want []Clause
	}{
		{"", strict, nil},
		{"  \t\n ", strict, nil},
		{"metrics.acc > 0.9", strict, []Clause{{Entity: "metric", Key: "acc", Op: ">", Num: 0.9, IsNum: true}}},
		{"metric.acc>=1", strict, []Clause{{Entity: "metric", Key: "acc", Op: ">=", Num: 1, IsNum: true}}},
		{"metrics.loss<-1.5e-3", strict, []Clause{{Entity: "metric", Key: "loss", Op: "<", Num: -1.5e-3, IsNum: true}}},
		{"metrics.loss <= +2E+2", strict, []Clause{{Entity: "metric", Key: "loss", Op: "<=", Num: 200, IsNum: true}}},
		{"metrics.x = .5", strict, []Clause{{Entity: "metric", Key: "x", Op: "=", Num: 0.5, IsNum: true}}},
		{"metrics.x != 3.", strict, []Clause{{Entity: "metric", Key: "x", Op: "!=", Num: 3, IsNum: true}}},
		{"metrics.x = -0", strict, []Clause{{Entity: "metric", Key: "x", Op: "=", Num: math.Copysign(0, -1), IsNum: true}}},
		{"params.optimizer = 'adam'", strict, []Clause{{Entity: "param", Key: "optimizer", Op: "=", Str: "adam"}}},
		{`param.a = "double"`, strict, []Clause{{Entity: "param", Key: "a", Op: "=", Str: "double"}}},
		{"parameter.a = ''", strict, []Clause{{Entity: "param", Key: "a", Op: "=", Str: ""}}},
		{"parameters.a = '1'", strict, []Clause{{Entity: "param", Key: "a", Op: "=", Str: "1"}}},
		{"tags.`my key` LIKE 'x%'", strict, []Clause{{Entity: "tag", Key: "my key", Op: "LIKE", Str: "x%"}}},
		{`tag."mlflow.runName" ilike '%Run_'`, strict, []Clause{{Entity: "tag", Key: "mlflow.runName", Op: "ILIKE", Str: "%Run_"}}},
		{"tags.mlflow.user = 'me'", strict, []Clause{{Entity: "tag", Key: "mlflow.user", Op: "=", Str: "me"}}},
		{"tags.a-b/c:d = 'v'", strict, []Clause{{Entity: "tag", Key: "a-b/c:d", Op: "=", Str: "v"}}},
		{"tags.größe = 'v'", strict, []Clause{{Entity: "tag", Key: "größe", Op: "=", Str: "v"}}},
		{"`tags`.`a``b` = 'v'", strict, []Clause{{Entity: "tag", Key: "a`b", Op: "=", Str: "v"}}},
		{"tags.`a\\`b` = 'v'", strict, []Clause{{Entity: "tag", Key: "a`b", Op: "=", Str: "v"}}},
		{`"tags".x = 'v'`, strict, []Clause{{Entity: "tag", Key: "x", Op: "=", Str: "v"}}},
		{"TAGS.x = 'v'", strict, []Clause{{Entity: "tag", Key: "x", Op: "=", Str: "v"}}},
		{`tags.x = 'it\'s'`, strict, []Clause{{Entity: "tag", Key: "x", Op: "=", Str: "it's"}}},
		{`tags.x = 'it''s'`, strict, []Clause{{Entity: "tag", Key: "x", Op: "=", Str: "it's"}}},
		{`tags.x = "say \"hi\""`, strict, []Clause{{Entity: "tag", Key: "x", Op: "=", Str: `say "hi"`}}},
		{`tags.x = 'C:\data\%'`, strict, []Clause{{Entity: "tag", Key: "x", Op: "=", Str: `C:\data\%`}}},
		{`tags.x = 'ends\\'`, strict, []Clause{{Entity: "tag", Key: "x", Op: "=", Str: `ends\`}}},
		{`tags.x = 'a AND b = 1'`, strict, []Clause{{Entity: "tag", Key: "x", Op: "=", Str: "a AND b = 1"}}},
		{"tags.x IS NULL", strict, []Clause{{Entity: "tag", Key: "x", Op: "IS NULL"}}},
		{"tags.x is not null", strict, []Clause{{Entity: "tag", Key: "x", Op: "IS NOT NULL"}}},
		{"attributes.run_id IN ('a', \"b\",'c')", strict, []Clause{{Entity: "attribute", Key: "run_id", Op: "IN", List: []string{"a", "b", "c"}}}},
		{"attr.run_id not in ('a')", strict, []Clause{{Entity: "attribute", Key: "run_id", Op: "NOT IN", List: []string{"a"}}}},
		{"run.experiment_id in (1, -2.50,'3')", strict, []Clause{{Entity: "attribute", Key: "experiment_id", Op: "IN", List: []string{"1", "-2.50", "3"}}}},
		{"attribute.run_id IN ( )", strict, []Clause{{Entity: "attribute", Key: "run_id", Op: "IN", List: []string{}}}},
		{"attributes.run_id IN('a')", strict, []Clause{{Entity: "attribute", Key: "run_id", Op: "IN", List: []string{"a"}}}},
		{"datasets.digest = 'abc'", strict, []Clause{{Entity: "dataset", Key: "digest", Op: "=", Str: "abc"}}},
		{"dataset.name IN ('d1')", strict, []Clause{{Entity: "dataset", Key: "name", Op: "IN", List: []string{"d1"}}}},
		{"name LIKE 'x%'", attr, []Clause{{Entity: "attribute", Key: "name", Op: "LIKE", Str: "x%"}}},
		{"`run name` = 'r'", attr, []Clause{{Entity: "attribute", Key: "run name", Op: "=", Str: "r"}}},
		{"attributes.name = 'x' and tags.`k` = 'v'", attr, []Clause{
			{Entity: "attribute", Key: "name", Op: "=", Str: "x"},
			{Entity: "tag", Key: "k", Op: "=", Str: "v", Pos: 26},
		}},
		{"  metrics.a > 1 AND params.b='x'AND tags.c != \"y\"  ", strict, []Clause{
			{Entity: "metric", Key: "a", Op: ">", Num: 1, IsNum: true, Pos: 2},
			{Entity: "param", Key: "b", Op: "=", Str: "x", Pos: 20},
			{Entity: "tag", Key: "c", Op: "!=", Str: "y", Pos: 36},
		}},
		{"metrics.a>1\nAND\tmetrics.a<2", strict, []Clause{
			{Entity: "metric", Key: "a", Op: ">", Num: 1, IsNum: true},
			{Entity: "metric", Key: "a", Op: "<", Num: 2, IsNum: true, Pos: 16},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := Parse(tt.in, tt.opts)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Parse(%q)\n got %#v\nwant %#v", tt.in, got, tt.want)
			}
			checkRoundTrip(t, tt.in, tt.opts, got)
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		in   string
		opts Options
		msg  string // a fragment of the message, including the position
	}{
		{"metrics.acc >> 1", strict, `unknown operator ">>" at position 12; expected one of =`},
		{"metrics.acc == 1", strict, `unknown operator "==" at position 12`},
		{"metrics.acc <> 1", strict, `unknown operator "<>" at position 12`},
		{"metrics.acc ~ 1", strict, `unexpected "~" at position 12; expected one of`},
		{"metrics.acc BETWEEN 1", strict, `unknown operator "BETWEEN" at position 12`},
		{"metrics.acc", strict, `unexpected end of filter at position 11; expected one of =`},
		{"metrics.acc >", strict, `unexpected end of filter at position 13; expected a value`},
		{"metrics.acc > ", strict, `unexpected end of filter at position 14; expected a value`},
		{"metrics.acc > AND", strict, `unexpected "AND" at position 14; expected a value`},
		{"params.a = adam", strict, `unexpected "adam" at position 11; expected a value`},
		{"params.a = 'adam", strict, `unterminated single-quoted string at position 11; expected a closing '`},
		{`params.a = "adam`, strict, `unterminated double-quoted string at position 11`},
		{`params.a = 'ends\'`, strict, `unterminated single-quoted string at position 11`},
		{"tags.`a = 'x'", strict, "unterminated backtick-quoted key at position 5"},
		{"`tags.a = 'x'", strict, "unterminated backtick-quoted key at position 0"},
		{"metrics.a > 1 AND", strict, `unexpected end of filter at position 17; expected a condition after AND`},
		{"metrics.a > 1 AND  ", strict, `unexpected end of filter at position 19; expected a condition after AND`},
		{"AND metrics.a > 1", strict, `unexpected AND at position 0; expected a condition`},
		{"metrics.a > 1 AND AND metrics.b > 1", strict, `unexpected AND at position 18; expected a condition`},
		{"metrics.a > 1 and or metrics.b > 1", strict, `unexpected OR at position 18`},
		{"metrics.a > 1 OR metrics.b > 1", strict, `unexpected OR at position 14; expected AND (OR is not supported`},
		{"metrics.a > 1 or metrics.b > 1", strict, `unexpected OR at position 14`},
		{"metrics.a > 1 metrics.b > 1", strict, `unexpected "metrics.b" at position 14; expected AND or the end of the filter`},
		{"metrics.a > 1;", strict, `unexpected ";" at position 13; expected AND`},
		{"(metrics.a > 1)", strict, `unexpected "(" at position 0; expected a key`},
		{"metrics. > 1", strict, `empty key at position 8`},
		{"metrics.", strict, `empty key at position 8`},
		{"metrics.`` > 1", strict, `empty key at position 8`},
		{"`` = 'x'", attr, `empty key at position 0`},
		{".acc > 1", strict, `unknown entity "" at position 0`},
		{"foo.bar = 'x'", attr, "unknown entity \"foo\" at position 0; expected metrics, params, tags, attributes or datasets (quote a key that contains dots: `foo.bar`)"},
		{"`foo`.bar = 'x'", strict, `unknown entity "foo" at position 0`},
		{"acc > 1", strict, `missing entity prefix before "acc" at position 0; expected an entity prefix such as metrics.acc`},
		{"`my acc` > 1", strict, "missing entity prefix before \"my acc\" at position 0"},
		{"'acc' > 1", attr, `unexpected "'acc'" at position 0; expected a key`},
		{"= 1", attr, `unexpected "=" at position 0; expected a key`},
		{"tags.x = 'a' extra", strict, `unexpected "extra" at position 13; expected AND or the end of the filter`},
		{"tags.`x`y = 'a'", strict, `unknown operator "y" at position 8`},
		{"tags.x NOT LIKE 'a'", strict, `unexpected "LIKE" at position 11; expected IN after NOT`},
		{"tags.x NOT", strict, `unexpected end of filter at position 10; expected IN after NOT`},
		{"tags.x IS 'a'", strict, `unexpected "'a'" at position 10; expected NULL or NOT NULL after IS`},
		{"tags.x IS NOT 'a'", strict, `unexpected "'a'" at position 14; expected NULL after IS NOT`},
		{"tags.x LIKE 5", strict, `unexpected "5" at position 12; expected a quoted pattern`},
		{"tags.x = ('a')", strict, `a list is only allowed after IN or NOT IN, got "(" at position 9`},
		{"attributes.run_id IN 'a'", strict, `unexpected "'a'" at position 21; expected a parenthesised list`},
		{"attributes.run_id IN ('a'", strict, `unexpected end of filter at position 25; expected "," or ")"`},
		{"attributes.run_id IN ('a',)", strict, `unexpected ")" at position 26; expected a value`},
		{"attributes.run_id IN ('a' 'b')", strict, `unexpected "'b'" at position 26; expected "," or ")"`},
		{"attributes.run_id IN (a)", strict, `unexpected "a" at position 22; expected a value`},
		{"attributes.run_id IN ('a'))", strict, `unexpected ")" at position 26; expected AND`},
		{"metrics.a > 1.2.3", strict, `invalid number "1.2.3" at position 12`},
		{"metrics.a > 1e", strict, `invalid number "1e" at position 12`},
		{"metrics.a > 1e+", strict, `invalid number "1e+" at position 12`},
		{"metrics.a > -", strict, `invalid number "-" at position 12`},
		{"metrics.a > - 1", strict, `invalid number "-" at position 12`},
		{"metrics.a > 12abc", strict, `invalid number "12abc" at position 12`},
		{"metrics.a > .", strict, `invalid number "." at position 12`},
		{"metrics.a > 1e999", strict, `number "1e999" out of range at position 12`},
		{"metrics.a > NaN", strict, `unexpected "NaN" at position 12; expected a value`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := Parse(tt.in, tt.opts)
			if err == nil {
				t.Fatalf("Parse(%q) = %#v, want an error", tt.in, got)
			}
			if !errs.Is(err, errs.Invalid) {
				t.Fatalf("Parse(%q) error kind %q, want invalid: %v", tt.in, errs.CodeOf(err), err)
			}
			msg := errs.MessageOf(err)
			if !strings.HasPrefix(msg, "invalid filter ") || !strings.Contains(msg, tt.msg) {
				t.Fatalf("Parse(%q) message\n %s\nwant it to contain\n %s", tt.in, msg, tt.msg)
			}
		})
	}
}

func TestErrorMessageShape(t *testing.T) {
	_, err := Parse("metrics.acc >> 1", strict)
	want := `invalid filter "metrics.acc >> 1": unknown operator ">>" at position 12; expected one of =, !=, >, >=, <, <=, LIKE, ILIKE, IN, NOT IN, IS NULL, IS NOT NULL`
	if got := errs.MessageOf(err); got != want {
		t.Fatalf("message\n got %s\nwant %s", got, want)
	}
	// Long inputs are clipped in the message.
	long := "tags.x = '" + strings.Repeat("a", 1000)
	_, err = Parse(long, strict)
	if msg := errs.MessageOf(err); len(msg) > 400 || !strings.Contains(msg, "at position 9") {
		t.Fatalf("long input message (%d bytes): %s", len(msg), msg)
	}
}

func TestParseOrderBy(t *testing.T) {
	tests := []struct {
		in   string
		opts Options
		want Order
	}{
		{"metrics.`acc` DESC", strict, Order{Entity: "metric", Key: "acc", Desc: true}},
		{"attributes.start_time", strict, Order{Entity: "attribute", Key: "start_time"}},
		{"name ASC", attr, Order{Entity: "attribute", Key: "name"}},
		{"  name   desc  ", attr, Order{Entity: "attribute", Key: "name", Desc: true, Pos: 2}},
		{"params.`a b` asc", strict, Order{Entity: "param", Key: "a b"}},
		{`tags."mlflow.runName"`, strict, Order{Entity: "tag", Key: "mlflow.runName"}},
		{"tags.mlflow.runName DESC", strict, Order{Entity: "tag", Key: "mlflow.runName", Desc: true}},
		{"timestamp", attr, Order{Entity: "attribute", Key: "timestamp"}},
		{"`Run name` DESC", attr, Order{Entity: "attribute", Key: "Run name", Desc: true}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseOrderBy(tt.in, tt.opts)
			if err != nil {
				t.Fatalf("ParseOrderBy(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Fatalf("ParseOrderBy(%q) = %#v, want %#v", tt.in, got, tt.want)
			}
			again, err := ParseOrderBy(got.String(), tt.opts)
			if err != nil || again.Entity != got.Entity || again.Key != got.Key || again.Desc != got.Desc {
				t.Fatalf("re-parsing %q gave %#v, %v", got.String(), again, err)
			}
		})
	}
}

func TestParseOrderByErrors(t *testing.T) {
	tests := []struct {
		in   string
		opts Options
		msg  string
	}{
		{"", attr, `unexpected end of order_by at position 0; expected a key`},
		{"   ", attr, `unexpected end of order_by at position 3; expected a key`},
		{"name UP", attr, `unexpected "UP" at position 5; expected ASC, DESC or the end of the order_by`},
		{"name ASC DESC", attr, `unexpected "DESC" at position 9; expected the end of the order_by`},
		{"name, start_time", attr, `unexpected "," at position 4; expected ASC, DESC`},
		{"acc DESC", strict, `missing entity prefix before "acc" at position 0`},
		{"metrics.`acc DESC", strict, `unterminated backtick-quoted key at position 8`},
		{"bogus.acc", strict, `unknown entity "bogus" at position 0`},
		{"metrics. DESC", strict, `empty key at position 8`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			_, err := ParseOrderBy(tt.in, tt.opts)
			if !errs.Is(err, errs.Invalid) {
				t.Fatalf("ParseOrderBy(%q) error %v, want invalid", tt.in, err)
			}
			msg := errs.MessageOf(err)
			if !strings.HasPrefix(msg, "invalid order_by ") || !strings.Contains(msg, tt.msg) {
				t.Fatalf("ParseOrderBy(%q) message\n %s\nwant it to contain\n %s", tt.in, msg, tt.msg)
			}
		})
	}
}

func TestUnknownDefaultEntity(t *testing.T) {
	if _, err := Parse("a = 1", Options{DefaultEntity: "bogus"}); err == nil || errs.Is(err, errs.Invalid) {
		t.Fatalf("want an internal error for a bad DefaultEntity, got %v", err)
	}
	if got, err := Parse("a = 'x'", Options{DefaultEntity: "tags"}); err != nil || got[0].Entity != "tag" {
		t.Fatalf("alias as DefaultEntity: %#v, %v", got, err)
	}
}

func TestClauseString(t *testing.T) {
	tests := []struct {
		c    Clause
		want string
	}{
		{Clause{Entity: "metric", Key: "acc", Op: ">", Num: 0.5, IsNum: true}, "metric.acc > 0.5"},
		{Clause{Entity: "metric", Key: "a", Op: "=", Num: 1e21, IsNum: true}, "metric.a = 1e+21"},
		{Clause{Entity: "tag", Key: "my key", Op: "=", Str: `it's \ ok`}, "tag.`my key` = 'it\\'s \\\\ ok'"},
		{Clause{Entity: "tag", Key: "a`b", Op: "IS NULL"}, "tag.`a\\`b` IS NULL"},
		{Clause{Entity: "attribute", Key: "run_id", Op: "NOT IN", List: []string{"a", "b"}}, "attribute.run_id NOT IN ('a', 'b')"},
		{Clause{Entity: "attribute", Key: "run_id", Op: "IN", List: []string{}}, "attribute.run_id IN ()"},
	}
	for _, tt := range tests {
		if got := tt.c.String(); got != tt.want {
			t.Errorf("String() = %s, want %s", got, tt.want)
		}
	}
}

func TestPageToken(t *testing.T) {
	for _, off := range []int64{0, 1, 100, 1 << 40} {
		tok := EncodePageToken(off)
		got, err := DecodePageToken(tok)
		if err != nil || got != off {
			t.Fatalf("DecodePageToken(EncodePageToken(%d)) = %d, %v", off, got, err)
		}
		if strings.ContainsAny(tok, "+/") {
			t.Fatalf("token %q is not URL-safe", tok)
		}
	}
	if got, err := DecodePageToken(""); got != 0 || err != nil {
		t.Fatalf(`DecodePageToken("") = %d, %v`, got, err)
	}
	// MLflow's own tokens: standard base64 of {"offset": 10}.
	if got, err := DecodePageToken("eyJvZmZzZXQiOiAxMH0="); got != 10 || err != nil {
		t.Fatalf("MLflow token = %d, %v", got, err)
	}
	for _, bad := range []string{
		"!!!", "bm90IGpzb24", // "not json"
		"e30",                 // {}
		"eyJvZmZzZXQiOi0xfQ",  // {"offset":-1}
		"eyJvZmZzZXQiOiJ4In0", // {"offset":"x"}
		"eyJvZmZzZXQiOjEuNX0", // {"offset":1.5}
		strings.Repeat("A", 1000),
	} {
		_, err := DecodePageToken(bad)
		if !errs.Is(err, errs.Invalid) || errs.MessageOf(err) != "invalid page_token" {
			t.Errorf("DecodePageToken(%q) = %v, want invalid page_token", bad, err)
		}
	}
}

// checkRoundTrip asserts that the canonical rendering of clauses parses back
// to the same clauses, positions aside.
func checkRoundTrip(t *testing.T, in string, o Options, clauses []Clause) {
	t.Helper()
	if len(clauses) == 0 {
		return
	}
	parts := make([]string, len(clauses))
	for i, c := range clauses {
		parts[i] = c.String()
	}
	rendered := strings.Join(parts, " AND ")
	again, err := Parse(rendered, o)
	if err != nil {
		t.Fatalf("Parse(%q) ok, but its rendering %q fails: %v", in, rendered, err)
	}
	if len(again) != len(clauses) {
		t.Fatalf("rendering %q of %q gave %d clauses, want %d", rendered, in, len(again), len(clauses))
	}
	for i := range again {
		a, b := again[i], clauses[i]
		a.Pos, b.Pos = 0, 0
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("Parse(%q)[%d] = %#v\nbut its rendering %q parses to %#v", in, i, b, rendered, a)
		}
	}
}
