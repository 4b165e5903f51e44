package main

import (
	"bufio"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
)

// higgsRow fills x (28 values) and returns the label of one row shaped like
// HIGGS: 21 "low-level" measurements and 7 "high-level" features derived
// from them, with a label that depends on interactions and thresholds of
// both, plus enough label noise that no model gets near AUC 1.
func higgsRow(rng *rand.Rand, x []float64) float64 {
	for j := 0; j < 21; j++ {
		switch j % 3 {
		case 0: // momentum-like: positive, skewed
			x[j] = math.Exp(0.5 * rng.NormFloat64())
		case 1: // angle-like: uniform
			x[j] = rng.Float64()*2*math.Pi - math.Pi
		default:
			x[j] = rng.NormFloat64()
		}
	}
	// high-level features: noisy nonlinear combinations
	x[21] = math.Sqrt(x[0]*x[3]*(1+math.Cos(x[1]-x[4]))) + 0.1*rng.NormFloat64()
	x[22] = math.Abs(x[2]-x[5]) + 0.2*rng.NormFloat64()
	x[23] = x[6] * x[9] / (1 + x[12])
	x[24] = math.Sin(x[7]) * x[8]
	x[25] = math.Hypot(x[11], x[14]) + 0.3*rng.NormFloat64()
	x[26] = x[15]*x[18] - x[16]
	x[27] = rng.NormFloat64() // pure noise, as some HIGGS columns nearly are
	s := 0.9*x[21] - 0.6*x[22] + 0.5*math.Tanh(x[23]) + 0.7*x[24] - 0.4*x[25] +
		0.3*x[26] + 0.5*x[2]*x[5] + 0.8*math.Sin(x[1]+x[4]) + 0.4*x[11]
	if x[17] > 0.5 {
		s += 0.6
	}
	if x[20] < -1 {
		s -= 0.8
	}
	s = 1.2*(s-0.3) + 0.8*rng.NormFloat64()
	if rng.Float64() < 1/(1+math.Exp(-s)) {
		return 1
	}
	return 0
}

// catRow fills a row of the smaller set: 10 numeric features (some missing)
// and 4 categorical ones whose effects are per-category offsets, so set
// splits matter.
func catRow(rng *rand.Rand, offsets [][]float64, num []float64, cats []int) float64 {
	for j := range num {
		num[j] = rng.NormFloat64()
	}
	s := 0.8*num[0] - 0.5*num[1]*num[2] + 0.6*math.Sin(2*num[3])
	if num[4] > 0.3 {
		s += 0.5
	}
	for j := range cats {
		// Zipf-like: a few common categories and a long tail
		c := int(float64(len(offsets[j])) * math.Pow(rng.Float64(), 2))
		cats[j] = c
		s += offsets[j][c]
	}
	s += 0.4 * offsets[0][cats[0]] * num[5]
	// missingness: num[6] missing more often for positives (informative)
	s = 1.1*s + 0.7*rng.NormFloat64()
	y := 0.0
	if rng.Float64() < 1/(1+math.Exp(-s)) {
		y = 1
	}
	for j := 6; j < 10; j++ {
		p := 0.1
		if j == 6 && y == 1 {
			p = 0.25
		}
		if rng.Float64() < p {
			num[j] = math.NaN()
		}
	}
	return y
}

// generate writes the four files into dir.
func generate(dir string, rows, catRows int) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(20261126, 1))
	test := rows / 5
	if err := writeCSV(filepath.Join(dir, "higgs_train.csv"), rows, higgsHeader(), func(w *bufio.Writer) error {
		return higgsLine(rng, w)
	}); err != nil {
		return err
	}
	if err := writeCSV(filepath.Join(dir, "higgs_test.csv"), test, higgsHeader(), func(w *bufio.Writer) error {
		return higgsLine(rng, w)
	}); err != nil {
		return err
	}
	sizes := []int{8, 30, 120, 250} // HGB allows at most max_bins categories
	offsets := make([][]float64, len(sizes))
	for j, k := range sizes {
		offsets[j] = make([]float64, k)
		for c := range offsets[j] {
			offsets[j][c] = rng.NormFloat64() * 0.8
		}
	}
	header := []string{"y"}
	for j := range 10 {
		header = append(header, fmt.Sprintf("n%d", j))
	}
	for j := range sizes {
		header = append(header, fmt.Sprintf("c%d", j))
	}
	line := func(w *bufio.Writer) error {
		num, cats := make([]float64, 10), make([]int, len(sizes))
		y := catRow(rng, offsets, num, cats)
		b := strconv.AppendFloat(nil, y, 'g', -1, 64)
		for _, v := range num {
			b = append(b, ',')
			if !math.IsNaN(v) {
				b = strconv.AppendFloat(b, v, 'g', 7, 64)
			}
		}
		for j, c := range cats {
			// string labels, so every tool sees categories, not numbers
			b = fmt.Appendf(b, ",%c%d", 'a'+j, c)
		}
		b = append(b, '\n')
		_, err := w.Write(b)
		return err
	}
	if err := writeCSV(filepath.Join(dir, "cat_train.csv"), catRows, header, line); err != nil {
		return err
	}
	return writeCSV(filepath.Join(dir, "cat_test.csv"), catRows/4, header, line)
}

func higgsHeader() []string {
	h := []string{"y"}
	for j := range 28 {
		h = append(h, fmt.Sprintf("f%d", j))
	}
	return h
}

func higgsLine(rng *rand.Rand, w *bufio.Writer) error {
	var x [28]float64
	y := higgsRow(rng, x[:])
	b := strconv.AppendFloat(nil, y, 'g', -1, 64)
	for _, v := range x {
		b = append(b, ',')
		b = strconv.AppendFloat(b, v, 'g', 7, 64)
	}
	b = append(b, '\n')
	_, err := w.Write(b)
	return err
}

func writeCSV(path string, rows int, header []string, line func(*bufio.Writer) error) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	for i, h := range header {
		if i > 0 {
			w.WriteByte(',')
		}
		w.WriteString(h)
	}
	w.WriteByte('\n')
	for range rows {
		if err := line(w); err != nil {
			return err
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
