package filter

import (
	"testing"

	"github.com/mlcycle/mlcycle/internal/errs"
)

// FuzzParse checks that Parse never panics, fails only with errs.Invalid, and
// that what it accepts survives a canonical re-rendering. More seeds live in
// testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"metrics.acc > 0.9 AND params.opt = 'adam'",
		"tags.`a b` LIKE 'x%' and attributes.run_id IN ('a', \"b\", 3)",
		"name ILIKE '%x_' AND tags.k IS NOT NULL",
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, s string, withDefault bool) {
		o := strict
		if withDefault {
			o = attr
		}
		clauses, err := Parse(s, o)
		if err != nil {
			if !errs.Is(err, errs.Invalid) {
				t.Fatalf("Parse(%q) error kind %q: %v", s, errs.CodeOf(err), err)
			}
		} else {
			checkRoundTrip(t, s, o, clauses)
		}
		if ord, err := ParseOrderBy(s, o); err == nil {
			again, err := ParseOrderBy(ord.String(), o)
			if err != nil || again.Entity != ord.Entity || again.Key != ord.Key || again.Desc != ord.Desc {
				t.Fatalf("ParseOrderBy(%q) = %#v, but %q gives %#v, %v", s, ord, ord.String(), again, err)
			}
		} else if !errs.Is(err, errs.Invalid) {
			t.Fatalf("ParseOrderBy(%q) error kind %q: %v", s, errs.CodeOf(err), err)
		}
		if _, err := DecodePageToken(s); err != nil && !errs.Is(err, errs.Invalid) {
			t.Fatalf("DecodePageToken(%q): %v", s, err)
		}
	})
}
