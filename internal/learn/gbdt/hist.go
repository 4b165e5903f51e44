package gbdt

// The histogram kernels: add each row's gradient pair to the bin of its
// value, for one or two features at a time (two share the loads of the row
// index and gradients). Seg variants read the rows seg of a column, with og
// holding their gradients in the same order; All variants read every row
// of the column slice, og aligned with it.

func histOneSeg(h0 *[256]hbin, col0 []uint8, seg []int32, og []gpair) {
	og = og[:len(seg)]
	for k, r := range seg {
		e := &h0[col0[r]]
		e.g += og[k].g
		e.h += og[k].h
		e.n++
	}
}

func histOneAll(h0 *[256]hbin, col0 []uint8, og []gpair) {
	col0 = col0[:len(og)]
	for i, b := range col0 {
		e := &h0[b]
		e.g += og[i].g
		e.h += og[i].h
		e.n++
	}
}

func hist2SegGo(h0, h1 *[256]hbin, col0, col1 []uint8, seg []int32, og []gpair) {
	og = og[:len(seg)]
	for k, r := range seg {
		p := og[k]
		e := &h0[col0[r]]
		e.g += p.g
		e.h += p.h
		e.n++
		e = &h1[col1[r]]
		e.g += p.g
		e.h += p.h
		e.n++
	}
}

func hist2AllGo(h0, h1 *[256]hbin, col0, col1 []uint8, og []gpair) {
	col0 = col0[:len(og)]
	col1 = col1[:len(og)]
	for i, b := range col0 {
		p := og[i]
		e := &h0[b]
		e.g += p.g
		e.h += p.h
		e.n++
		e = &h1[col1[i]]
		e.g += p.g
		e.h += p.h
		e.n++
	}
}
