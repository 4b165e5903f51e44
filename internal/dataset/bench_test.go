package dataset

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"testing"
	"time"

	chunkers "github.com/PlakarKorp/go-cdc-chunkers"
)

// Benchmarks of Add on SQLite and a file:// blob store, as the CLI runs it.
// Each iteration adds into a fresh database and store with the state cache
// off, so every byte is read, hashed, chunked and written. The data sits in
// the page cache (written just before), as in a re-run of `mlcycle data add`.
//
//	go test ./internal/dataset -run '^$' -bench Add -benchtime 3x
//
// The figures for the lead are in MB/s (b.SetBytes).

func BenchmarkAdd100MB(b *testing.B) {
	dir := b.TempDir()
	data := csvBytes(0, 100<<20)
	writeFile(b, dir, "big.csv", data)
	benchAdd(b, dir, int64(len(data)))
}

func BenchmarkAdd1000Files(b *testing.B) {
	dir := b.TempDir()
	const n = 1000
	var total int64
	for i := range n {
		data := csvBytes(i*1000, 100<<10)
		writeFile(b, dir, fmt.Sprintf("part/%02d/%04d.csv", i%50, i), data)
		total += int64(len(data))
	}
	benchAdd(b, dir, total)
}

func benchAdd(b *testing.B, dir string, size int64) {
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		e := newEnv(b, storetestSQLite(b), Options{NoStateCache: true})
		b.StartTimer()
		if _, err := e.svc.Add(e.ctx, AddInput{Name: "bench", Paths: []string{dir}}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReAddUnchanged10000Files times the no-op re-add: 10,000 files
// whose size, mtime and inode the state cache knows. It reads no file.
func BenchmarkReAddUnchanged10000Files(b *testing.B) {
	dir := b.TempDir()
	for i := range 10_000 {
		writeFile(b, dir, fmt.Sprintf("part/%02d/%05d.txt", i%100, i), []byte(fmt.Sprintf("row %d\n", i)))
	}
	e := newEnv(b, storetestSQLite(b), Options{})
	e.add(b, "bench", dir)
	var worst time.Duration
	for b.Loop() {
		start := time.Now()
		r := e.add(b, "bench", dir)
		if r.Created || r.Stats.FilesHashed != 0 {
			b.Fatalf("not a no-op: %+v", r.Stats)
		}
		worst = max(worst, time.Since(start))
	}
	b.ReportMetric(float64(worst.Microseconds())/1000, "worst-ms")
}

// BenchmarkCut times finding the chunk boundaries of 512 MiB of CSV (in the
// page cache), by one cutter and by parallelCuts with 64 MiB segments on
// GOMAXPROCS cutters: the ceiling of a large file's add before hashing and
// writing.
//
//	go test ./internal/dataset -run '^$' -bench Cut -benchtime 5x
func BenchmarkCut(b *testing.B) {
	data := csvBytes(0, 512<<20)
	path := writeFile(b, b.TempDir(), "big.csv", data)
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	size := int64(len(data))
	b.Run("sequential", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			c, err := newChunker(io.NewSectionReader(f, 0, size))
			if err != nil {
				b.Fatal(err)
			}
			if err := cutWith(context.Background(), c, 0, func(off, n int64) bool { return true }); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.SetBytes(size)
		n := int32(runtime.GOMAXPROCS(0))
		p := &hashPipeline{maxCutters: n, cutters: make(chan *chunkers.Chunker, n)}
		for b.Loop() {
			if err := p.parallelCuts(context.Background(), f, size, cutSegment, func(off, n int64) error { return nil }); err != nil {
				b.Fatal(err)
			}
		}
	})
}
