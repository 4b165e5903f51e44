//go:build !purego

package gbdt

import "unsafe"

// The assembly relies on these layouts: a 24-byte bin {g, h, n} (so 6144
// bytes a histogram) and a 16-byte gradient pair; a change fails to compile.
var (
	_ = [1]int{}[unsafe.Sizeof(hbin{})-24]
	_ = [1]int{}[unsafe.Sizeof(gpair{})-16]
)

// On amd64 the two-feature kernels are in assembly (hist_amd64.s): adding a
// row's gradient and hessian to a bin with one SSE2 ADDPD instead of two
// scalar additions cuts the loads and stores per row, which bound this
// loop; ADDPD rounds each lane exactly as the scalar addition does, so the
// sums are bit-identical to hist2SegGo and hist2AllGo (hist_test.go checks).

//go:noescape
func histTwoSeg(h0, h1 *[256]hbin, col0, col1 *uint8, seg *int32, og *gpair, n int)

//go:noescape
func histTwoAll(h0, h1 *[256]hbin, col0, col1 *uint8, og *gpair, n int)

//go:noescape
func histRowsSeg(h *[256]hbin, rows *uint8, stride, nf int, seg *int32, gh *gpair, n int)

// hist2Seg needs every row of seg inside both columns; segments are
// ascending (stable partitions of sorted rows), so the ends bound them.
func hist2Seg(h0, h1 *[256]hbin, col0, col1 []uint8, seg []int32, og []gpair) {
	n := len(seg)
	if n == 0 {
		return
	}
	_ = og[n-1]
	if seg[0] < 0 || int(seg[n-1]) >= min(len(col0), len(col1)) {
		panic("gbdt: histogram rows out of range")
	}
	histTwoSeg(h0, h1, &col0[0], &col1[0], &seg[0], &og[0], n)
}

func hist2All(h0, h1 *[256]hbin, col0, col1 []uint8, og []gpair) {
	n := len(og)
	if n == 0 {
		return
	}
	_ = col0[n-1]
	_ = col1[n-1]
	histTwoAll(h0, h1, &col0[0], &col1[0], &og[0], n)
}

// useRows: the row-major kernel exists (train.go keeps a row-major copy of
// the bins for it).
const useRows = true

// histRows adds the rows seg to the histograms h of features j0.. (len(h)
// of them), reading bins from rows (row-major, stride bytes a row) and
// gradients from gh[row]. Segments are ascending, so the ends bound them.
func histRows(h [][256]hbin, rows []uint8, stride, j0 int, seg []int32, gh []gpair) {
	n := len(seg)
	if n == 0 || len(h) == 0 {
		return
	}
	last := int(seg[n-1])
	if j0 < 0 || j0+len(h) > stride || seg[0] < 0 || (last+1)*stride > len(rows) || last >= len(gh) {
		panic("gbdt: histogram rows out of range")
	}
	histRowsSeg(&h[0], &rows[j0], stride, len(h), &seg[0], &gh[0], n)
}
