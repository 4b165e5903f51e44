//go:build !amd64 || purego

package gbdt

func hist2Seg(h0, h1 *[256]hbin, col0, col1 []uint8, seg []int32, og []gpair) {
	hist2SegGo(h0, h1, col0, col1, seg, og)
}

func hist2All(h0, h1 *[256]hbin, col0, col1 []uint8, og []gpair) {
	hist2AllGo(h0, h1, col0, col1, og)
}

// useRows: no row-major kernel here; every leaf reads the columns.
const useRows = false

func histRows(h [][256]hbin, rows []uint8, stride, j0 int, seg []int32, gh []gpair) {
	panic("gbdt: no row-major histogram kernel")
}
