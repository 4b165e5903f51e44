package linear

import (
	"sync"
	"sync/atomic"
)

// blockRows is the fixed row block parallel work is split into. Sums over
// rows are taken per block and the block sums added in block order, so the
// result does not depend on how many goroutines did the work.
const blockRows = 4096

// forEach runs fn(u) for u in [0, units) on up to threads goroutines.
// Each unit must write only its own outputs.
func forEach(threads, units int, fn func(u int)) {
	if threads <= 1 || units <= 1 {
		for u := 0; u < units; u++ {
			fn(u)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(threads, units) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				u := int(next.Add(1)) - 1
				if u >= units {
					return
				}
				fn(u)
			}
		}()
	}
	wg.Wait()
}

// forBlocks runs fn over [0, n) in blocks of blockRows.
func forBlocks(threads, n int, fn func(lo, hi int)) {
	nb := (n + blockRows - 1) / blockRows
	forEach(threads, nb, func(b int) {
		lo := b * blockRows
		fn(lo, min(lo+blockRows, n))
	})
}

// sumBlocks returns Σ fn(lo, hi) over the blocks of [0, n), added in block
// order.
func sumBlocks(threads, n int, fn func(lo, hi int) float64) float64 {
	nb := (n + blockRows - 1) / blockRows
	parts := make([]float64, nb)
	forEach(threads, nb, func(b int) {
		lo := b * blockRows
		parts[b] = fn(lo, min(lo+blockRows, n))
	})
	var s float64
	for _, v := range parts {
		s += v
	}
	return s
}

// dot is Σ a[i]·b[i] with four accumulators in a fixed order.
func dot(a, b []float64) float64 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// sum is Σ a[i] with four accumulators in a fixed order.
func sum(a []float64) float64 {
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i]
		s1 += a[i+1]
		s2 += a[i+2]
		s3 += a[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// axpy does y += a·x.
func axpy(a float64, x, y []float64) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] += a * v
	}
}
