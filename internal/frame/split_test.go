package frame

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// checkPartition fails unless parts are sorted, disjoint and cover 0..n-1.
func checkPartition(t *testing.T, parts [][]int, n int) {
	t.Helper()
	seen := make([]bool, n)
	total := 0
	for p, part := range parts {
		if !slices.IsSorted(part) {
			t.Fatalf("part %d not sorted", p)
		}
		for _, i := range part {
			if seen[i] {
				t.Fatalf("row %d in two parts", i)
			}
			seen[i] = true
		}
		total += len(part)
	}
	if total != n {
		t.Fatalf("parts hold %d rows, want %d", total, n)
	}
}

func sizes(parts [][]int) []int {
	out := make([]int, len(parts))
	for i, p := range parts {
		out[i] = len(p)
	}
	return out
}

func TestSplitRandom(t *testing.T) {
	cases := []struct {
		n     int
		fracs []float64
		want  []int
	}{
		{100, []float64{0.7, 0.15, 0.15}, []int{70, 15, 15}},
		{10, []float64{0.7, 0.15, 0.15}, []int{7, 2, 1}},
		{7, []float64{0.5, 0.5}, []int{4, 3}},
		{5, []float64{1, 0}, []int{5, 0}},
		{0, []float64{0.8, 0.2}, []int{0, 0}},
		{3, []float64{0.1, 0.1, 0.8}, []int{0, 0, 3}},
	}
	for _, c := range cases {
		parts, err := SplitRandom(c.n, c.fracs, 42)
		if err != nil {
			t.Fatal(err)
		}
		checkPartition(t, parts, c.n)
		if got := sizes(parts); !reflect.DeepEqual(got, c.want) {
			t.Errorf("n=%d %v: sizes %v, want %v", c.n, c.fracs, got, c.want)
		}
		again, _ := SplitRandom(c.n, c.fracs, 42)
		if !reflect.DeepEqual(parts, again) {
			t.Errorf("n=%d: not deterministic", c.n)
		}
	}
	a, _ := SplitRandom(1000, []float64{0.5, 0.5}, 1)
	b, _ := SplitRandom(1000, []float64{0.5, 0.5}, 2)
	if reflect.DeepEqual(a, b) {
		t.Error("seeds 1 and 2 give the same split")
	}
	bad := []struct {
		fracs []float64
		want  string
	}{
		{nil, "split: no fractions"},
		{[]float64{0.5, 0.4}, "split: fractions sum to 0.9; want 1"},
		{[]float64{1.5, -0.5}, "split: fraction 1 is 1.5; want a value in [0, 1]"},
	}
	for _, c := range bad {
		if _, err := SplitRandom(10, c.fracs, 1); err == nil || err.Error() != c.want {
			t.Errorf("%v: error %v, want %q", c.fracs, err, c.want)
		}
	}
}

func TestSplitStratified(t *testing.T) {
	// 60 rows of class 0, 30 of class 1, 10 of class 2.
	var labels []int
	for i := range 100 {
		switch {
		case i%10 == 9:
			labels = append(labels, 2)
		case i%10 >= 6:
			labels = append(labels, 1)
		default:
			labels = append(labels, 0)
		}
	}
	fracs := []float64{0.7, 0.2, 0.1}
	parts, err := SplitStratified(labels, fracs, 7)
	if err != nil {
		t.Fatal(err)
	}
	checkPartition(t, parts, len(labels))
	want := [][3]int{{42, 21, 7}, {12, 6, 2}, {6, 3, 1}} // per part: rows of class 0, 1, 2
	for p, part := range parts {
		var got [3]int
		for _, i := range part {
			got[labels[i]]++
		}
		if got != want[p] {
			t.Errorf("part %d class counts %v, want %v", p, got, want[p])
		}
	}
	again, _ := SplitStratified(labels, fracs, 7)
	if !reflect.DeepEqual(parts, again) {
		t.Error("not deterministic")
	}
	// A small class still reaches every part.
	small := []int{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1}
	parts, err = SplitStratified(small, []float64{0.8, 0.1, 0.1}, 1)
	if err != nil {
		t.Fatal(err)
	}
	checkPartition(t, parts, len(small))
	for p, part := range parts {
		has := map[int]bool{}
		for _, i := range part {
			has[small[i]] = true
		}
		if !has[0] || !has[1] {
			t.Errorf("part %d lacks a class: %v", p, part)
		}
	}
	// Errors.
	_, err = SplitStratified([]int{0, 0, 0, 5, 0}, []float64{0.8, 0.2}, 1)
	var ce *ClassError
	if !errors.As(err, &ce) || ce.Class != 5 || ce.Rows != 1 || ce.Need != 2 {
		t.Fatalf("single-row class: %v", err)
	}
	if !strings.Contains(err.Error(), "class 5 has 1 row(s)") {
		t.Errorf("message %q", err)
	}
	if _, err := SplitStratified([]int{0, 0, 1, 1}, []float64{0.5, 0.25, 0.25}, 1); !errors.As(err, &ce) || ce.Need != 3 {
		t.Errorf("too few rows for three parts: %v", err)
	}
	if _, err := SplitStratified([]int{0, 0, 1}, []float64{1, 0}, 1); err != nil {
		t.Errorf("a zero part needs no rows: %v", err)
	}
}

func TestSplitByTime(t *testing.T) {
	times := []int64{50, 10, 30, 10, 40, 20, 60, 70, 80, 90}
	parts, err := SplitByTime(times, []float64{0.6, 0.2, 0.2})
	if err != nil {
		t.Fatal(err)
	}
	// Oldest first: 10 (row 1), 10 (row 3), 20 (5), 30 (2), 40 (4), 50 (0) | 60, 70 | 80, 90.
	want := [][]int{{0, 1, 2, 3, 4, 5}, {6, 7}, {8, 9}}
	if !reflect.DeepEqual(parts, want) {
		t.Errorf("parts %v, want %v", parts, want)
	}
	// Ties keep row order: with one row in the first part it is row 1.
	parts, _ = SplitByTime([]int64{5, 1, 1}, []float64{1.0 / 3, 2.0 / 3})
	if !reflect.DeepEqual(parts, [][]int{{1}, {0, 2}}) {
		t.Errorf("ties: %v", parts)
	}
}

func TestKFold(t *testing.T) {
	for _, strat := range []bool{false, true} {
		n, k := 23, 5
		var labels []int
		if strat {
			for i := range n {
				labels = append(labels, min(i%4, 2)) // classes 0, 1: 6 rows each; 2: 11 rows
			}
		}
		folds, err := KFold(n, k, 3, labels)
		if err != nil {
			t.Fatal(err)
		}
		if len(folds) != k {
			t.Fatalf("%d folds", len(folds))
		}
		inTest := make([]int, n)
		for f, fold := range folds {
			train, test := fold[0], fold[1]
			checkPartition(t, [][]int{train, test}, n)
			if len(test) < n/k || len(test) > n/k+1 {
				t.Errorf("fold %d has %d test rows", f, len(test))
			}
			for _, i := range test {
				inTest[i]++
			}
			if strat {
				counts := map[int]int{}
				for _, i := range test {
					counts[labels[i]]++
				}
				if counts[0] < 1 || counts[0] > 2 || counts[1] < 1 || counts[1] > 2 || counts[2] < 2 || counts[2] > 3 {
					t.Errorf("fold %d class counts %v", f, counts)
				}
			}
		}
		for i, c := range inTest {
			if c != 1 {
				t.Fatalf("row %d is in %d test folds", i, c)
			}
		}
		again, _ := KFold(n, k, 3, labels)
		if !reflect.DeepEqual(folds, again) {
			t.Error("not deterministic")
		}
	}
	bad := []struct {
		n, k   int
		labels []int
		want   string
	}{
		{10, 1, nil, "k-fold: k is 1; want at least 2"},
		{3, 4, nil, "k-fold: k is 4 but there are only 3 rows"},
		{4, 2, []int{0, 0, 0}, "k-fold: 3 labels for 4 rows"},
		{5, 2, []int{0, 0, 0, 0, 1}, "k-fold: class 1 has 1 row(s); a stratified split needs at least 2 (one per part)"},
	}
	for _, c := range bad {
		if _, err := KFold(c.n, c.k, 1, c.labels); err == nil || err.Error() != c.want {
			t.Errorf("KFold(%d, %d): %v, want %q", c.n, c.k, err, c.want)
		}
	}
}
