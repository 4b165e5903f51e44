package search

import (
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	s, err := Parse("max_leaves=15,31,63", "learning_rate=0.01:0.3:log", "l2=0:10", "max_depth=3:8:int", "seed= 7 ")
	if err != nil {
		t.Fatal(err)
	}
	want := []Param{
		{Name: "l2", Kind: Uniform, Lo: 0, Hi: 10},
		{Name: "learning_rate", Kind: LogRange, Lo: 0.01, Hi: 0.3},
		{Name: "max_depth", Kind: IntRange, Lo: 3, Hi: 8},
		{Name: "max_leaves", Kind: List, Values: []string{"15", "31", "63"}},
		{Name: "seed", Kind: List, Values: []string{"7"}},
	}
	if !reflect.DeepEqual(s.Params, want) {
		t.Errorf("got %+v\nwant %+v", s.Params, want)
	}

	bad := []struct{ spec, param, msg string }{
		{"learning_rate", "", "name=values"},
		{"=1,2", "", "name=values"},
		{"l2=", "l2", "no values"},
		{"l2=1,,2", "l2", "empty value"},
		{"l2=a:2", "l2", "lower bound"},
		{"l2=0:inf", "l2", "upper bound"},
		{"l2=2:1", "l2", "above upper"},
		{"l2=0:1:cubic", "l2", "unknown scale"},
		{"l2=0:1:log:x", "l2", "lo:hi"},
		{"learning_rate=0:0.3:log", "learning_rate", "> 0"},
		{"max_depth=3:8.5:int", "max_depth", "integer bounds"},
	}
	for _, b := range bad {
		_, err := Parse(b.spec)
		if err == nil {
			t.Errorf("%q: no error", b.spec)
			continue
		}
		if !strings.Contains(err.Error(), b.msg) || b.param != "" && !strings.Contains(err.Error(), strconv.Quote(b.param)) {
			t.Errorf("%q: error %q should name %q and say %q", b.spec, err, b.param, b.msg)
		}
	}
	if _, err := Parse("a=1", "a=2"); err == nil || !strings.Contains(err.Error(), `"a"`) {
		t.Errorf("duplicate: %v", err)
	}
}

func TestMerge(t *testing.T) {
	base := MustParse("learning_rate=0.01:0.3:log", "max_leaves=15,31,63")
	got := Merge(base, MustParse("max_leaves=7", "l2=1,2"))
	if names := got.Names(); !reflect.DeepEqual(names, []string{"l2", "learning_rate", "max_leaves"}) {
		t.Errorf("names %v", names)
	}
	if v := got.Params[2].Values; !reflect.DeepEqual(v, []string{"7"}) {
		t.Errorf("max_leaves not overridden: %v", v)
	}
}

func TestGrid(t *testing.T) {
	g, err := Grid(MustParse("b=1,2,3", "a=x,y"))
	if err != nil {
		t.Fatal(err)
	}
	want := []Params{
		{"a": "x", "b": "1"}, {"a": "x", "b": "2"}, {"a": "x", "b": "3"},
		{"a": "y", "b": "1"}, {"a": "y", "b": "2"}, {"a": "y", "b": "3"},
	}
	if !reflect.DeepEqual(g, want) {
		t.Errorf("got %v, want %v", g, want)
	}
	if g, err := Grid(Space{}); err != nil || len(g) != 1 || len(g[0]) != 0 {
		t.Errorf("empty space: %v %v", g, err)
	}
	if _, err := Grid(MustParse("a=1,2", "l2=0:1")); err == nil || !strings.Contains(err.Error(), `"l2"`) {
		t.Errorf("range in grid: %v", err)
	}
	var specs []string
	for _, n := range []string{"a", "b", "c", "d", "e", "f"} {
		specs = append(specs, n+"=1,2,3,4,5,6")
	}
	if _, err := Grid(MustParse(specs...)); err == nil {
		t.Error("grid of 6^6 candidates: no error")
	}
}

func TestRandom(t *testing.T) {
	s := MustParse("learning_rate=0.001:1:log", "l2=0:10", "max_depth=3:8:int", "max_leaves=15,31,63")
	a, b := Random(s, 2000, 9), Random(s, 2000, 9)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("same seed, different candidates")
	}
	if reflect.DeepEqual(a[:10], Random(s, 10, 10)) {
		t.Error("different seeds, same candidates")
	}
	depths := map[string]int{}
	leaves := map[string]int{}
	var lowLR, lowL2 int
	for _, c := range a {
		if len(c) != 4 {
			t.Fatalf("candidate %v lacks params", c)
		}
		lr, _ := strconv.ParseFloat(c["learning_rate"], 64)
		l2, _ := strconv.ParseFloat(c["l2"], 64)
		if lr < 0.001 || lr > 1 || l2 < 0 || l2 > 10 {
			t.Fatalf("out of range: %v", c)
		}
		if lr < math.Sqrt(0.001) { // the log-scale median
			lowLR++
		}
		if l2 < 5 {
			lowL2++
		}
		depths[c["max_depth"]]++
		leaves[c["max_leaves"]]++
	}
	if len(depths) != 6 || depths["3"] == 0 || depths["8"] == 0 || depths["9"] != 0 {
		t.Errorf("int range 3..8 not covered: %v", depths)
	}
	if len(leaves) != 3 {
		t.Errorf("list not covered: %v", leaves)
	}
	for name, low := range map[string]int{"log": lowLR, "uniform": lowL2} {
		if low < 900 || low > 1100 {
			t.Errorf("%s: %d of 2000 below the median", name, low)
		}
	}
	// A finite space no larger than n is returned whole, without repeats.
	if g := Random(MustParse("a=1,2", "b=x,y"), 10, 1); len(g) != 4 {
		t.Errorf("finite space: %v", g)
	}
	if g := Random(s, 0, 1); g != nil {
		t.Errorf("n = 0: %v", g)
	}
}

func TestCheck(t *testing.T) {
	parse := func(p Params) error {
		for k, v := range p {
			switch k {
			case "learning_rate":
				if f, err := strconv.ParseFloat(v, 64); err != nil || f <= 0 || f > 1 {
					return fmt.Errorf("learning_rate %s out of range (0, 1]", v)
				}
			case "max_depth":
				if n, err := strconv.Atoi(v); err != nil || n < 1 {
					return fmt.Errorf("max_depth %s out of range", v)
				}
			default:
				return fmt.Errorf("unknown parameter %q", k)
			}
		}
		return nil
	}
	if err := Check(MustParse("learning_rate=0.01:1:log", "max_depth=1,3"), parse); err != nil {
		t.Errorf("valid space: %v", err)
	}
	cases := []struct{ spec, param, value string }{
		{"learning_rate=0.01:2", "learning_rate", "2"},
		{"max_depth=3,0,4", "max_depth", "0"},
		{"max_depth=0:3:int", "max_depth", "0"},
		{"leaves=1,2", "leaves", "1"},
	}
	for _, c := range cases {
		err := Check(MustParse(c.spec), parse)
		if err == nil || !strings.Contains(err.Error(), strconv.Quote(c.param)) || !strings.Contains(err.Error(), strconv.Quote(c.value)) {
			t.Errorf("%s: error %v should name %q and %q", c.spec, err, c.param, c.value)
		}
	}
}
