package frame

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// writeBenchCSV writes a CSV of about size bytes: an id, six float
// columns, two int columns, a category and a bool.
func writeBenchCSV(tb testing.TB, path string, size int64, numericOnly bool) {
	tb.Helper()
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	rng := rand.New(rand.NewPCG(1, 2))
	if numericOnly {
		fmt.Fprintln(w, "id,f1,f2,f3,f4,f5,f6,i1,i2")
	} else {
		fmt.Fprintln(w, "id,f1,f2,f3,f4,f5,f6,i1,i2,cat,flag")
	}
	cats := []string{"alpha", "beta", "gamma", "delta", "epsilon"}
	var n int64
	for id := 0; n < size; id++ {
		var line string
		if numericOnly {
			line = fmt.Sprintf("%d,%.4f,%.3f,%.5f,%.2f,%.6f,%.1f,%d,%d\n", id,
				rng.NormFloat64()*100, rng.Float64(), rng.ExpFloat64(), rng.NormFloat64()*1e4, rng.Float64()*1e-3,
				rng.NormFloat64(), rng.IntN(1000), rng.IntN(1<<30))
		} else {
			line = fmt.Sprintf("%d,%.4f,%.3f,%.5f,%.2f,%.6f,%.1f,%d,%d,%s,%v\n", id,
				rng.NormFloat64()*100, rng.Float64(), rng.ExpFloat64(), rng.NormFloat64()*1e4, rng.Float64()*1e-3,
				rng.NormFloat64(), rng.IntN(1000), rng.IntN(1<<30), cats[rng.IntN(len(cats))], rng.IntN(2) == 1)
		}
		w.WriteString(line)
		n += int64(len(line))
	}
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
}

// benchCSV returns a generated 50 MB CSV, reused across runs.
func benchCSV(b *testing.B, numericOnly bool) (string, int64) {
	name := "mlcycle-frame-bench-mixed.csv"
	if numericOnly {
		name = "mlcycle-frame-bench-numeric.csv"
	}
	path := filepath.Join(os.TempDir(), name)
	st, err := os.Stat(path)
	if err != nil {
		writeBenchCSV(b, path, 50<<20, numericOnly)
		if st, err = os.Stat(path); err != nil {
			b.Fatal(err)
		}
	}
	return path, st.Size()
}

func drain(tb testing.TB, r Reader) int64 {
	var rows int64
	for {
		bt, err := r.Next()
		if err == io.EOF {
			return rows
		}
		if err != nil {
			tb.Fatal(err)
		}
		rows += int64(bt.Len())
	}
}

// BenchmarkReadCSV measures parsing throughput (MB/s) of a 50 MB CSV into
// typed columns, single-threaded (workers=1: one parsing goroutine) and
// with the default number of workers.
func BenchmarkReadCSV(b *testing.B) {
	for _, kind := range []struct {
		name    string
		numeric bool
	}{{"numeric", true}, {"mixed", false}} {
		path, size := benchCSV(b, kind.numeric)
		for _, workers := range []int{1, 0} {
			b.Run(fmt.Sprintf("%s/workers=%d", kind.name, workers), func(b *testing.B) {
				b.SetBytes(size)
				for b.Loop() {
					r, err := Open(path, Options{Workers: workers})
					if err != nil {
						b.Fatal(err)
					}
					drain(b, r)
					r.Close()
				}
			})
		}
	}
}

// BenchmarkParseCSVSingle measures the CSV parser alone on one goroutine:
// split and convert an in-memory copy of the 50 MB file chunk by chunk.
func BenchmarkParseCSVSingle(b *testing.B) {
	for _, numeric := range []bool{true, false} {
		path, size := benchCSV(b, numeric)
		data, err := os.ReadFile(path)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("numeric=%v", numeric), func(b *testing.B) {
			opts := Options{Delimiter: ','}.withDefaults()
			p := &csvParser{name: "bench", delim: ',', quote: '"', batchRows: opts.BatchRows, nulls: newNullSet(opts.NullValues)}
			p.special[','], p.special['\n'], p.special['"'] = true, true, true
			p.rec = newRecycler(opts.chunkSize)
			first := &chunk{data: data, line: 1}
			if _, err := p.header(first); err != nil {
				b.Fatal(err)
			}
			body := first.data
			types := map[string]Type{}
			b.SetBytes(size)
			for b.Loop() {
				rest := body
				for len(rest) > 0 {
					k := min(len(rest), opts.chunkSize)
					if k < len(rest) {
						k = p.cut(rest[:k])
					}
					c := &chunk{data: rest[:k], line: 2, buf: &chunkBuf{}}
					rest = rest[k:]
					rbs, err := p.split(c)
					if err != nil {
						b.Fatal(err)
					}
					for _, rb := range rbs {
						for j, name := range rb.names {
							h := types[name]
							if h == "" {
								h = TypeNull
							}
							types[name] = p.convert(rb, j, h)
						}
						p.rec.release(rb)
					}
				}
			}
		})
	}
}
