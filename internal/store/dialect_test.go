package store

import "testing"

func TestLike(t *testing.T) {
	tests := []struct {
		d       Dialect
		pattern string
		fold    bool
		sql     string
		arg     string
	}{
		{SQLite, "a%b_c", false, "x GLOB ?", "a*b?c"},
		{SQLite, "a*b?[c]", false, "x GLOB ?", "a[*]b[?][[]c]"},
		{SQLite, "A%", true, "x LIKE ?", "A%"},
		{Postgres, `a\%`, false, "x LIKE ? ESCAPE ''", `a\%`},
		{Postgres, "a%", true, "x ILIKE ? ESCAPE ''", "a%"},
	}
	for _, tc := range tests {
		sql, arg := tc.d.Like("x", tc.pattern, tc.fold)
		if sql != tc.sql || arg != tc.arg {
			t.Errorf("Like(%s, %q, %v) = %q %q, want %q %q", tc.d, tc.pattern, tc.fold, sql, arg, tc.sql, tc.arg)
		}
	}
}
