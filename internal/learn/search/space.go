// Package search chooses learner parameters: a declared search space, grid
// and random candidates, and successive halving over them.
//
// Parameters travel as strings (Params), exactly as a learner's ParseParams
// takes them, so the search never needs to know a learner's parameter types.
package search

import (
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
)

// Params is one candidate: parameter name -> value, as a learner's
// ParseParams reads them.
type Params map[string]string

// String renders p as "k=v k=v" with sorted names.
func (p Params) String() string {
	var b strings.Builder
	for i, k := range slices.Sorted(maps.Keys(p)) {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(k + "=" + p[k])
	}
	return b.String()
}

// Kind is how a parameter's values are drawn.
type Kind int

// Kinds.
const (
	List     Kind = iota // one of Values
	IntRange             // integer uniform in [Lo, Hi]
	Uniform              // float uniform in [Lo, Hi]
	LogRange             // float log-uniform in [Lo, Hi], 0 < Lo
)

// Param is one dimension of a Space.
type Param struct {
	Name   string
	Kind   Kind
	Values []string // List
	Lo, Hi float64  // ranges
}

// Space is a set of parameters, sorted by name so that the candidates do
// not depend on the order they were declared in.
type Space struct {
	Params []Param
}

// MaxGrid caps the number of candidates Grid enumerates.
const MaxGrid = 10000

// Parse reads a space from specs of the form name=spec, where spec is
//
//	v1,v2,v3    a list of values (one value fixes the parameter)
//	lo:hi       a float drawn uniformly in [lo, hi]
//	lo:hi:log   a float drawn log-uniformly in [lo, hi], 0 < lo
//	lo:hi:int   an integer drawn uniformly in [lo, hi], both integers
//
// e.g. learning_rate=0.01:0.3:log max_leaves=15,31,63 l2=0:10
// max_depth=3:8:int. A value containing ':' is read as a range. Errors name
// the parameter; a name given twice is an error.
func Parse(specs ...string) (Space, error) {
	var s Space
	seen := map[string]bool{}
	for _, spec := range specs {
		name, val, ok := strings.Cut(spec, "=")
		name = strings.TrimSpace(name)
		if !ok || name == "" {
			return Space{}, fmt.Errorf("search: %q: want name=values or name=lo:hi[:log|:int]", spec)
		}
		if seen[name] {
			return Space{}, fmt.Errorf("search: param %q given twice", name)
		}
		seen[name] = true
		p, err := parseParam(name, strings.TrimSpace(val))
		if err != nil {
			return Space{}, err
		}
		s.Params = append(s.Params, p)
	}
	s.sort()
	return s, nil
}

// MustParse is Parse for literal default spaces; it panics on an error.
func MustParse(specs ...string) Space {
	s, err := Parse(specs...)
	if err != nil {
		panic(err)
	}
	return s
}

func parseParam(name, val string) (Param, error) {
	bad := func(format string, a ...any) (Param, error) {
		return Param{}, fmt.Errorf("search: param %q: %s", name, fmt.Sprintf(format, a...))
	}
	if val == "" {
		return bad("no values")
	}
	if !strings.Contains(val, ":") {
		vals := strings.Split(val, ",")
		for i, v := range vals {
			vals[i] = strings.TrimSpace(v)
			if vals[i] == "" {
				return bad("empty value in list %q", val)
			}
		}
		return Param{Name: name, Kind: List, Values: vals}, nil
	}
	parts := strings.Split(val, ":")
	if len(parts) > 3 {
		return bad("range %q: want lo:hi[:log|:int]", val)
	}
	p := Param{Name: name, Kind: Uniform}
	if len(parts) == 3 {
		switch strings.TrimSpace(parts[2]) {
		case "log":
			p.Kind = LogRange
		case "int":
			p.Kind = IntRange
		case "float", "":
		default:
			return bad("range %q: unknown scale %q (want log or int)", val, parts[2])
		}
	}
	var err error
	if p.Lo, err = strconv.ParseFloat(strings.TrimSpace(parts[0]), 64); err != nil || math.IsInf(p.Lo, 0) || math.IsNaN(p.Lo) {
		return bad("range %q: lower bound is not a finite number", val)
	}
	if p.Hi, err = strconv.ParseFloat(strings.TrimSpace(parts[1]), 64); err != nil || math.IsInf(p.Hi, 0) || math.IsNaN(p.Hi) {
		return bad("range %q: upper bound is not a finite number", val)
	}
	if p.Lo > p.Hi {
		return bad("range %q: lower bound above upper bound", val)
	}
	switch p.Kind {
	case LogRange:
		if p.Lo <= 0 {
			return bad("range %q: log scale needs a lower bound > 0", val)
		}
	case IntRange:
		if p.Lo != math.Trunc(p.Lo) || p.Hi != math.Trunc(p.Hi) || math.Abs(p.Lo) > 1<<53 || math.Abs(p.Hi) > 1<<53 {
			return bad("range %q: int scale needs integer bounds", val)
		}
	}
	return p, nil
}

// Merge returns base with the parameters of over added, replacing those of
// base with the same name (the CLI's --param specs over an algorithm's
// default space).
func Merge(base, over Space) Space {
	var s Space
	names := map[string]bool{}
	for _, p := range over.Params {
		names[p.Name] = true
	}
	for _, p := range base.Params {
		if !names[p.Name] {
			s.Params = append(s.Params, p)
		}
	}
	s.Params = append(s.Params, over.Params...)
	s.sort()
	return s
}

func (s *Space) sort() {
	slices.SortStableFunc(s.Params, func(a, b Param) int { return strings.Compare(a.Name, b.Name) })
}

// Names returns the parameter names, sorted.
func (s Space) Names() []string {
	names := make([]string, len(s.Params))
	for i, p := range s.Params {
		names[i] = p.Name
	}
	return names
}

// Check calls parse (typically a learner's ParseParams) on candidates
// that try every list value and both ends of every range, the other
// parameters held at their first value or lower bound, so that unknown
// names and out-of-range values are refused before any training starts.
// The error names the parameter and value.
func Check(s Space, parse func(Params) error) error {
	values := make([][]string, len(s.Params))
	for i, p := range s.Params {
		switch p.Kind {
		case List:
			values[i] = p.Values
		case IntRange:
			values[i] = []string{strconv.FormatInt(int64(p.Lo), 10), strconv.FormatInt(int64(p.Hi), 10)}
		default:
			values[i] = []string{strconv.FormatFloat(p.Lo, 'g', -1, 64), strconv.FormatFloat(p.Hi, 'g', -1, 64)}
		}
	}
	base := make(Params, len(s.Params))
	for i, p := range s.Params {
		base[p.Name] = values[i][0]
	}
	if len(s.Params) == 0 {
		if err := parse(base); err != nil {
			return fmt.Errorf("search: %w", err)
		}
	}
	for i, p := range s.Params {
		for _, v := range values[i] {
			c := maps.Clone(base)
			c[p.Name] = v
			if err := parse(c); err != nil {
				return fmt.Errorf("search: param %q value %q: %w", p.Name, v, err)
			}
		}
	}
	return nil
}

// Grid enumerates every combination of a space of lists, the last
// parameter (by name) varying fastest. It refuses ranges and grids of more
// than MaxGrid candidates. An empty space has one, empty, candidate.
func Grid(s Space) ([]Params, error) {
	n := 1
	for _, p := range s.Params {
		if p.Kind != List {
			return nil, fmt.Errorf("search: param %q is a range; grid search needs lists of values (or use random search)", p.Name)
		}
		n *= len(p.Values)
		if n > MaxGrid {
			return nil, fmt.Errorf("search: grid has more than %d candidates", MaxGrid)
		}
	}
	out := make([]Params, n)
	for i := range out {
		c := make(Params, len(s.Params))
		rest := i
		for j := len(s.Params) - 1; j >= 0; j-- {
			p := s.Params[j]
			c[p.Name] = p.Values[rest%len(p.Values)]
			rest /= len(p.Values)
		}
		out[i] = c
	}
	return out, nil
}

// Random draws n candidates from s with a PCG stream seeded by seed; the
// same space, n and seed give the same candidates. Duplicates are redrawn
// a few times, and a space of lists with at most n combinations returns
// its whole grid instead.
func Random(s Space, n int, seed uint64) []Params {
	if n <= 0 {
		return nil
	}
	if g, err := Grid(s); err == nil && len(g) <= n {
		return g
	}
	rng := rand.New(rand.NewPCG(seed, 0x5eac4))
	out := make([]Params, 0, n)
	seen := map[string]bool{}
	for len(out) < n {
		var c Params
		for range 10 {
			c = draw(s, rng)
			if !seen[c.String()] {
				break
			}
		}
		seen[c.String()] = true
		out = append(out, c)
	}
	return out
}

func draw(s Space, rng *rand.Rand) Params {
	c := make(Params, len(s.Params))
	for _, p := range s.Params {
		switch p.Kind {
		case List:
			c[p.Name] = p.Values[rng.IntN(len(p.Values))]
		case IntRange:
			lo, hi := int64(p.Lo), int64(p.Hi)
			c[p.Name] = strconv.FormatInt(lo+rng.Int64N(hi-lo+1), 10)
		case Uniform:
			c[p.Name] = formatFloat(p.Lo+rng.Float64()*(p.Hi-p.Lo), p.Lo, p.Hi)
		case LogRange:
			l, h := math.Log(p.Lo), math.Log(p.Hi)
			c[p.Name] = formatFloat(math.Exp(l+rng.Float64()*(h-l)), p.Lo, p.Hi)
		}
	}
	return c
}

// formatFloat keeps 6 significant digits (readable in tracking) and stays
// within [lo, hi] after rounding.
func formatFloat(v, lo, hi float64) string {
	r, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'g', 6, 64), 64)
	r = min(max(r, lo), hi)
	return strconv.FormatFloat(r, 'g', -1, 64)
}
