package profile

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/mlcycle/mlcycle/internal/frame"
)

// benchCSV returns a generated CSV of about 50 MB, or MLCYCLE_BENCH_CSV_MB
// megabytes (an id, six floats, two ints, and unless numericOnly a 5-value
// category and a bool), reused across runs.
func benchCSV(b *testing.B, numericOnly bool) (string, int64) {
	mb := 50
	if v, err := strconv.Atoi(os.Getenv("MLCYCLE_BENCH_CSV_MB")); err == nil && v > 0 {
		mb = v
	}
	name := fmt.Sprintf("mlcycle-profile-bench-mixed-%dmb.csv", mb)
	if numericOnly {
		name = fmt.Sprintf("mlcycle-profile-bench-numeric-%dmb.csv", mb)
	}
	path := filepath.Join(os.TempDir(), name)
	if st, err := os.Stat(path); err == nil {
		return path, st.Size()
	}
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	rng := rand.New(rand.NewPCG(1, 2))
	cats := []string{"alpha", "beta", "gamma", "delta", "epsilon"}
	if numericOnly {
		fmt.Fprintln(w, "id,f1,f2,f3,f4,f5,f6,i1,i2")
	} else {
		fmt.Fprintln(w, "id,f1,f2,f3,f4,f5,f6,i1,i2,cat,flag")
	}
	var n int64
	for id := 0; n < int64(mb)<<20; id++ {
		line := fmt.Sprintf("%d,%.4f,%.3f,%.5f,%.2f,%.6f,%.1f,%d,%d", id,
			rng.NormFloat64()*100, rng.Float64(), rng.ExpFloat64(), rng.NormFloat64()*1e4, rng.Float64()*1e-3,
			rng.NormFloat64(), rng.IntN(1000), rng.IntN(1<<30))
		if !numericOnly {
			line += fmt.Sprintf(",%s,%v", cats[rng.IntN(len(cats))], rng.IntN(2) == 1)
		}
		line += "\n"
		w.WriteString(line)
		n += int64(len(line))
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	return path, st.Size()
}

// BenchmarkProfileCSV compares, on the same 50 MB file and reader, parsing
// alone ("parse") with parsing plus profiling ("profile"); the goal
// is profile <= 2x parse.
func BenchmarkProfileCSV(b *testing.B) {
	for _, numeric := range []bool{true, false} {
		path, size := benchCSV(b, numeric)
		kind := "mixed"
		if numeric {
			kind = "numeric"
		}
		b.Run(kind+"/parse", func(b *testing.B) {
			b.SetBytes(size)
			for b.Loop() {
				r, err := frame.Open(path, frame.Options{})
				if err != nil {
					b.Fatal(err)
				}
				for {
					_, err := r.Next()
					if errors.Is(err, io.EOF) {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
				}
				r.Close()
			}
		})
		b.Run(kind+"/profile", func(b *testing.B) {
			b.SetBytes(size)
			for b.Loop() {
				if _, err := ComputeFile(path, frame.Options{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
