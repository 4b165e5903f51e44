package validate

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlcycle/mlcycle/internal/errs"
)

func TestParseErrors(t *testing.T) {
	celSyntax := "Syntax error: mismatched input '<EOF>' expecting {'[', '{', '(', '.', '-', '!', 'true', 'false', 'null', NUM_FLOAT, NUM_INT, NUM_UINT, STRING, BYTES, IDENTIFIER}"
	tests := []struct {
		name, yaml, want string
	}{
		// Structure.
		{"empty", "", `rules.yaml: rules file is empty`},
		{"only a comment", "# nothing\n", `rules.yaml: rules file is empty`},
		{"null document", "~\n", `rules.yaml: rules file is empty`},
		{"two documents", "rows: {min: 1}\n---\nrows: {min: 2}", `rules.yaml: more than one YAML document`},
		{"top-level list", "- a\n- b", `rules.yaml:1: want a mapping, got a list`},
		{"yaml syntax", "rows: {min: 1\n", `rules.yaml:1: did not find expected ',' or '}'`},
		{"unknown top key", "rows: {min: 1}\ncolums: {}", `rules.yaml:2: unknown key "colums" (known keys: rows, columns, required_columns, expressions, files)`},
		{"duplicate top key", "rows: {min: 1}\nrows: {min: 2}", `rules.yaml:2: duplicate key "rows"`},
		{"alias", "columns: {a: &x {type: int}, b: *x}", `rules.yaml:1: columns.b: YAML aliases are not supported`},
		{"merge key", "columns:\n  a:\n    type: int\n    <<: {max: 3}", `rules.yaml:4: columns.a: unknown key "<<" (known keys: type, not_null, min, max, allowed, regex, unique, optional)`},
		// rows.
		{"rows not a mapping", "rows: 5", `rules.yaml:1: rows: want a mapping, got 5`},
		{"rows unknown key", "rows: {least: 5}", `rules.yaml:1: rows: unknown key "least" (known keys: min, max)`},
		{"rows min text", "rows: {min: abc}", `rules.yaml:1: rows.min: want an integer, got "abc"`},
		{"rows min float", "rows: {min: 1.5}", `rules.yaml:1: rows.min: want an integer, got 1.5`},
		{"rows negative", "rows: {max: -1}", `rules.yaml:1: rows.max: must not be negative, got -1`},
		{"rows min over max", "rows: {min: 10, max: 5}", `rules.yaml:1: rows: min 10 is greater than max 5`},
		// columns.
		{"columns a list", "columns: [a, b]", `rules.yaml:1: columns: want a mapping, got a list`},
		{"column unknown key", "columns:\n  age: {type: int, maxx: 3}", `rules.yaml:2: columns.age: unknown key "maxx" (known keys: type, not_null, min, max, allowed, regex, unique, optional)`},
		{"column duplicate", "columns:\n  a: {}\n  a: {}", `rules.yaml:3: columns: duplicate key "a"`},
		{"column list key", "columns:\n  ? [x]\n  : {}", `rules.yaml:2: columns: keys must be plain names, got a list`},
		{"column empty name", "columns:\n  '': {}", `rules.yaml:2: columns: empty column name`},
		{"column not a mapping", "columns:\n  a: [1]", `rules.yaml:2: columns.a: want a mapping, got a list`},
		{"unknown type", "columns:\n  age: {type: integer}", `rules.yaml:2: columns.age.type: unknown type "integer" (known types: int, float, bool, string, timestamp)`},
		{"type not text", "columns:\n  age: {type: [int]}", `rules.yaml:2: columns.age.type: want a string, got a list`},
		{"not_null yes", "columns:\n  age: {not_null: yes}", `rules.yaml:2: columns.age.not_null: want true or false, got "yes"`},
		{"unique 1", "columns:\n  a: {unique: 1}", `rules.yaml:2: columns.a.unique: want true or false, got 1`},
		{"optional null", "columns:\n  a: {optional: }", `rules.yaml:2: columns.a.optional: want true or false, got null`},
		{"bad regex", "columns:\n  email: {regex: '^[a-'}", "rules.yaml:2: columns.email.regex: invalid regex \"^[a-\": missing closing ]: `[a-`"},
		{"regex null", "columns:\n  email: {regex: ~}", `rules.yaml:2: columns.email.regex: want a string, got null`},
		{"min over max", "columns:\n  a: {min: 5, max: 1}", `rules.yaml:2: columns.a: min 5 is greater than max 1`},
		{"time min over max", "columns:\n  a: {min: 2021-01-01, max: 2020-01-01}", `rules.yaml:2: columns.a: min 2021-01-01 is greater than max 2020-01-01`},
		{"min on string", "columns:\n  a: {type: string, min: 1}", `rules.yaml:2: columns.a.min: not supported for string columns`},
		{"max on bool", "columns:\n  a: {type: bool, max: 1}", `rules.yaml:2: columns.a.max: not supported for bool columns`},
		{"date min on int", "columns:\n  a: {type: int, min: 2020-01-01}", `rules.yaml:2: columns.a.min: want a number, got 2020-01-01`},
		{"number min on timestamp", "columns:\n  a: {type: timestamp, min: 3}", `rules.yaml:2: columns.a.min: want a timestamp (RFC 3339 or YYYY-MM-DD), got 3`},
		{"text min", "columns:\n  a: {min: abc}", `rules.yaml:2: columns.a.min: want a number or a timestamp, got "abc"`},
		{"list min", "columns:\n  a: {min: [1]}", `rules.yaml:2: columns.a.min: want a number or a timestamp, got a list`},
		{"nan min", "columns:\n  a: {min: .nan}", `rules.yaml:2: columns.a.min: want a number or a timestamp, got .nan`},
		{"mixed bounds", "columns:\n  a: {min: 3, max: 2020-01-01}", `rules.yaml:2: columns.a: min and max must both be numbers or both be timestamps`},
		{"allowed not a list", "columns:\n  a: {allowed: x}", `rules.yaml:2: columns.a.allowed: want a list, got "x"`},
		{"allowed empty", "columns:\n  a: {allowed: []}", `rules.yaml:2: columns.a.allowed: empty list: no value could pass`},
		{"allowed null", "columns:\n  a: {allowed: [x, null]}", `rules.yaml:2: columns.a.allowed: want plain values, got null (nulls are governed by not_null)`},
		{"allowed nested", "columns:\n  a: {allowed: [[x]]}", `rules.yaml:2: columns.a.allowed: want plain values, got a list (nulls are governed by not_null)`},
		{"allowed wrong type", "columns:\n  a: {type: int, allowed: [1, x]}", `rules.yaml:2: columns.a.allowed: "x" is not of type int`},
		// required_columns.
		{"required not a list", "required_columns: a", `rules.yaml:1: required_columns: want a list of column names, got "a"`},
		{"required null", "required_columns: [a, ~]", `rules.yaml:1: required_columns: want a string, got null`},
		{"required optional", "columns:\n  a: {optional: true}\nrequired_columns: [a]", `rules.yaml:3: required_columns: column "a" is also marked optional: true`},
		// expressions.
		{"expressions a mapping", "expressions: {x: 'true'}", `rules.yaml:1: expressions: want a list of {name, expr}, got a mapping`},
		{"expression unknown key", "expressions:\n  - {name: x, expr: 'true', when: 'true'}", `rules.yaml:2: expressions[0]: unknown key "when" (known keys: name, expr)`},
		{"expression no name", "expressions:\n  - {expr: 'true'}", `rules.yaml:2: expressions[0]: missing name`},
		{"expression bad name", "expressions:\n  - {name: 'a b', expr: 'true'}", `rules.yaml:2: expressions[0]: name "a b" may only hold letters, digits, '_', '.' and '-'`},
		{"expression duplicate", "expressions:\n  - {name: x, expr: 'true'}\n  - {name: x, expr: 'true'}", `rules.yaml:3: expressions[1]: duplicate expression name "x"`},
		{"expression no expr", "expressions:\n  - {name: x}", `rules.yaml:2: expressions.x: missing expr`},
		{"expression blank", "expressions:\n  - {name: x, expr: '  '}", `rules.yaml:2: expressions.x: missing expr`},
		{"cel syntax", "expressions:\n  - name: x\n    expr: 'age <'", `rules.yaml:3: expressions.x: 1:6: ` + celSyntax},
		{"cel syntax line 2", "expressions:\n  - name: x\n    expr: |\n      a > 1 &&\n      b <", `rules.yaml:3: expressions.x: 2:4: ` + celSyntax},
		{"cel type", "columns:\n  age: {type: int}\nexpressions:\n  - name: x\n    expr: 'age + \"x\" > 1'", `rules.yaml:5: expressions.x: 1:5: found no matching overload for '_+_' applied to '(wrapper(int), string)'`},
		{"cel unknown function", "expressions:\n  - name: x\n    expr: 'foo(1)'", `rules.yaml:3: expressions.x: 1:4: undeclared reference to 'foo'`},
		{"cel not bool", "columns:\n  age: {type: int}\nexpressions:\n  - name: x\n    expr: 'age + 1'", `rules.yaml:5: expressions.x: must evaluate to a bool, not int`},
		{"cel bad regex", "expressions:\n  - name: x\n    expr: 'a.matches(\"(\")'", "rules.yaml:3: expressions.x: error parsing regexp: missing closing ): `(`"},
		{"cel too long", "expressions:\n  - name: x\n    expr: '" + strings.Repeat("a", MaxExprLength+1) + "'", `rules.yaml:3: expressions.x: expression is longer than 4096 bytes`},
		// files.
		{"files absolute", "files: /abs/*.csv", `rules.yaml:1: files: pattern "/abs/*.csv" must stay inside the rules file's folder`},
		{"files parent", "files: ../x/*.csv", `rules.yaml:1: files: pattern "../x/*.csv" must stay inside the rules file's folder`},
		{"files bad pattern", "files: '[a'", `rules.yaml:1: files: bad pattern "[a"`},
		{"files list", "files: [a]", `rules.yaml:1: files: want a string, got a list`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml), "rules.yaml")
			if err == nil {
				t.Fatalf("Parse succeeded, want %q", tt.want)
			}
			if !errs.Is(err, errs.Invalid) {
				t.Errorf("error kind %q, want invalid", errs.CodeOf(err))
			}
			if err.Error() != tt.want {
				t.Errorf("error\n got %s\nwant %s", err, tt.want)
			}
		})
	}
}

func TestParseLimits(t *testing.T) {
	big := "# " + strings.Repeat("x", MaxRulesSize) + "\nrows: {min: 1}\n"
	if _, err := Parse([]byte(big), "r.yaml"); err == nil || err.Error() != "r.yaml: rules file is larger than 1048576 bytes" {
		t.Errorf("oversized file: %v", err)
	}
	var b strings.Builder
	b.WriteString("expressions:\n")
	for i := range MaxExpressions + 1 {
		fmt.Fprintf(&b, "  - {name: e%d, expr: 'true'}\n", i)
	}
	if _, err := Parse([]byte(b.String()), "r.yaml"); err == nil || err.Error() != "r.yaml:2: expressions: more than 200 expressions" {
		t.Errorf("too many expressions: %v", err)
	}
}

func TestParseAccepts(t *testing.T) {
	// Every key, in an order where expressions and required_columns come
	// before the columns they name, and YAML spellings of the values.
	r, err := Parse([]byte(`
expressions:
  - name: adult_has_email
    expr: 'age < 18 || email != null'
  - name: score_consistent
    expr: 'score <= 1.0 && score <= 1'
  - name: "2"
    expr: true
  - name: signup.recent
    expr: 'signup == null || signup > timestamp("2000-01-01T00:00:00Z")'
  - name: untyped
    expr: 'other == null || other.size() > 0'
required_columns: [age, email, extra, extra]
rows: {min: 0x10, max: 1_000}
columns:
  age:    {type: int, not_null: true, min: 0, max: 130}
  email:  {type: string, regex: '^[^@]+@[^@]+$', unique: true}
  country: {allowed: [DE, FR, NL, 1, 2.5, true, 2020-01-01]}
  score:  {type: float, min: 0, max: 1e0, not_null: true}
  id:     {unique: true}
  signup: {type: timestamp, min: 2020-01-01, max: "2030-01-01T00:00:00+01:00"}
  plain:
  2019: {optional: true}
files: 'data/*.csv'
`), "dir/rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !r.hasMin || r.rowsMin != 16 || !r.hasMax || r.rowsMax != 1000 {
		t.Errorf("rows = %d..%d", r.rowsMin, r.rowsMax)
	}
	var names []string
	for _, c := range r.columns {
		names = append(names, c.name)
	}
	if got := strings.Join(names, ","); got != "age,email,country,score,id,signup,plain,2019" {
		t.Errorf("columns = %s", got)
	}
	if got := strings.Join(r.required, ","); got != "extra" {
		t.Errorf("required = %s", got)
	}
	if len(r.exprs) != 5 || r.exprs[2].name != "2" || r.exprs[2].src != "true" {
		t.Errorf("expressions = %+v", r.exprs)
	}
	if got := strings.Join(r.exprs[0].idents, ","); got != "age,email" {
		t.Errorf("idents = %s", got)
	}
	if s := r.column("signup"); s.min.t.Format("2006-01-02T15:04:05Z07:00") != "2020-01-01T00:00:00Z" || s.max.t.Format("2006-01-02T15:04:05Z07:00") != "2029-12-31T23:00:00Z" {
		t.Errorf("signup bounds = %v, %v", s.min.t, s.max.t)
	}
	if c := r.column("country"); len(c.allowed) != 7 || strings.Join(c.allowedT, ",") != "DE,FR,NL,1,2.5,true,2020-01-01" {
		t.Errorf("allowed = %v", c.allowed)
	}
	if r.Source() != "dir/rules.yaml" {
		t.Errorf("Source = %q", r.Source())
	}
}

func TestApplies(t *testing.T) {
	dir := t.TempDir()
	r, err := Parse([]byte("files: 'data/*.csv'\n"), filepath.Join(dir, "rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]bool{
		filepath.Join(dir, "data", "a.csv"):            true,
		filepath.Join(dir, "data", "a.parquet"):        false,
		filepath.Join(dir, "data", "sub", "a.csv"):     false,
		filepath.Join(dir, "a.csv"):                    false,
		filepath.Join(dir, "..", "data", "a.csv"):      false,
		filepath.Join(dir, "x", "..", "data", "b.csv"): true,
	} {
		if got := r.Applies(p); got != want {
			t.Errorf("Applies(%s) = %v, want %v", p, got, want)
		}
	}
	all, err := Parse([]byte("rows: {min: 1}\n"), filepath.Join(dir, "rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !all.Applies("/anything/at/all.jsonl") {
		t.Error("rules without files must apply to every file")
	}

	// Relative to the working directory, like the CLI's arguments.
	t.Chdir(dir)
	rel, err := Parse([]byte("files: '*.csv'\n"), "rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !rel.Applies("x.csv") || rel.Applies("sub/x.csv") || !rel.Applies(filepath.Join(dir, "y.csv")) {
		t.Error("relative paths")
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(path, []byte("columns:\n  a: {type: int, max: 3}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if r.Source() != path || r.column("a").max.i != 3 {
		t.Errorf("loaded %+v", r)
	}

	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("columns:\n  a: {typ: int}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(bad); err == nil || err.Error() != bad+`:2: columns.a: unknown key "typ" (known keys: type, not_null, min, max, allowed, regex, unique, optional)` {
		t.Errorf("Load(bad) = %v", err)
	}

	_, err = Load(filepath.Join(dir, "missing.yaml"))
	if !errs.Is(err, errs.Invalid) || !strings.HasPrefix(err.Error(), "reading rules file "+filepath.Join(dir, "missing.yaml")+": open ") {
		t.Errorf("Load(missing) = %v", err)
	}

	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(big, []byte("# "+strings.Repeat("x", MaxRulesSize)), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(big); err == nil || err.Error() != big+": rules file is larger than 1048576 bytes" {
		t.Errorf("Load(big) = %v", err)
	}
}
