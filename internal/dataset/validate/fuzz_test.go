package validate

import (
	"context"
	"testing"

	"github.com/mlcycle/mlcycle/internal/errs"
)

// FuzzParse checks that Parse never panics and fails only with errs.Invalid,
// and that rules it accepts validate a small table, nulls included, without
// an error. More seeds live in testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		exampleRules,
		"rows: {min: 1, max: 2}",
		"columns:\n  a: {type: int, min: 0, max: 3, allowed: [1, 2], unique: true}\n  b: {regex: '^x', not_null: true}",
		"columns:\n  t: {type: timestamp, min: 2020-01-01, max: '2030-01-01T00:00:00Z'}",
		"expressions:\n  - {name: e, expr: 'a == null || a < 3'}\n  - {name: f, expr: 'b.startsWith(\"x\")'}",
		"expressions:\n  - {name: e, expr: '[1,2,3].map(x, x * a).size() > 0'}",
		"required_columns: [a, z]\nfiles: '*.csv'",
		"columns: {a: &x {type: int}, b: *x}",
		"columns:\n  a: {maxx: 3}",
		"expressions: [{name: e, expr: 'a <'}]",
		"rows: {min: 1\n",
		"- a\n- b",
		"",
	} {
		f.Add([]byte(s))
	}
	tab := func() *memTable {
		return table("a,b,t", "int,string,timestamp",
			row(int64(1), "x", nil), row(nil, nil, nil), row(int64(-5), "yy", nil))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := Parse(b, "rules.yaml")
		if err != nil {
			if !errs.Is(err, errs.Invalid) {
				t.Fatalf("Parse(%q) error kind %q: %v", b, errs.CodeOf(err), err)
			}
			return
		}
		rep, err := r.ValidateTable(context.Background(), tab(), "t.csv")
		if err != nil {
			t.Fatalf("ValidateTable with rules %q: %v", b, err)
		}
		_ = rep.Text()
	})
}
