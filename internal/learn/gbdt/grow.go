package gbdt

import (
	"slices"
	"sync"
	"sync/atomic"

	"github.com/mlcycle/mlcycle/internal/learn"
)

// gpair is a row's gradient and hessian, side by side so gathering a row
// costs one cache miss rather than two.
type gpair struct{ g, h float64 }

// hbin is one histogram bin: gradient and hessian sums and the row count.
type hbin struct {
	g, h float64
	n    int64
}

// hist is a leaf's histograms, one 256-bin array per feature (the fixed size
// lets the compiler drop bounds checks on uint8 bin indices).
type hist [][256]hbin

// split is the best split found for a leaf.
type split struct {
	gain        float64
	feature     int
	bin         int       // numeric: value bins <= bin go left
	cat         bool      // categorical: bins in set go left
	set         [4]uint64 // categorical bins going left (the missing bin included when missing goes left)
	defaultLeft bool
	lg, lh      float64
	ln          int64
}

func (s *split) valid() bool { return s.feature >= 0 }

// goesLeft reports the direction of a row in bin b.
func (s *split) goesLeft(b uint8, missing int) bool {
	if s.cat {
		return s.set[b>>6]>>(b&63)&1 == 1
	}
	if int(b) == missing {
		return s.defaultLeft
	}
	return int(b) <= s.bin
}

type leaf struct {
	node       int
	start, end int // rows idx[start:end]
	g, h       float64
	n          int64
	depth      int
	hist       hist
	best       split
}

// binNode is a tree node over bins, for scoring rows that were not in the bag.
type binNode struct {
	split
	left, right int32
	leaf        bool
	value       float64
}

type grower struct {
	t       *trainer
	p       Params
	n, f    int
	idx     []int32 // row permutation: every leaf owns a segment
	tmp     []int32
	tmp2    []int32
	ogh     []gpair // gradients gathered in idx order
	pool    []hist
	feats   []bool
	nodes   []learn.Node
	bnodes  []binNode
	gains   []float64
	leaves  []*leaf
	results []split // per feature, reused
	active  []int
}

func newGrower(t *trainer) *grower {
	return &grower{
		t: t, p: t.p, n: t.n, f: t.x.Cols,
		idx: make([]int32, t.n), tmp: make([]int32, t.n), tmp2: make([]int32, t.n),
		ogh:     make([]gpair, t.n),
		results: make([]split, t.x.Cols),
	}
}

func (g *grower) getHist() hist {
	if k := len(g.pool); k > 0 {
		h := g.pool[k-1]
		g.pool = g.pool[:k-1]
		return h
	}
	return make(hist, g.f)
}

func (g *grower) putHist(h hist) {
	if h != nil {
		g.pool = append(g.pool, h)
	}
}

// grow builds one tree on the rows of bag (nil = all) and returns it with
// the gain of every node's split (0 for leaves).
func (g *grower) grow(gh []gpair, bag []int32, feats []bool) (learn.Tree, []float64) {
	g.feats = feats
	g.nodes = g.nodes[:0]
	g.bnodes = g.bnodes[:0]
	g.gains = g.gains[:0]
	g.leaves = g.leaves[:0]
	var nrows int
	all := bag == nil
	if all {
		nrows = g.n
		for i := range g.idx {
			g.idx[i] = int32(i)
		}
	} else {
		nrows = copy(g.idx, bag)
	}
	root := &leaf{start: 0, end: nrows}
	root.hist = g.getHist()
	g.buildHist(root, gh, all)
	// totals: row sums in fixed blocks, combined in order
	nc := (nrows + chunk - 1) / chunk
	sums := make([]gpair, nc)
	parallelFor(g.t.threads, nc, func(c int) {
		var s gpair
		for _, i := range g.idx[c*chunk : min((c+1)*chunk, nrows)] {
			s.g += gh[i].g
			s.h += gh[i].h
		}
		sums[c] = s
	})
	for _, s := range sums {
		root.g += s.g
		root.h += s.h
	}
	root.n = int64(nrows)
	g.addLeaf(root)
	g.findBest(root)

	for len(g.leaves) < g.p.MaxLeaves {
		var best *leaf
		for _, l := range g.leaves {
			if l.best.valid() && (best == nil || l.best.gain > best.best.gain) {
				best = l
			}
		}
		if best == nil {
			break
		}
		g.splitLeaf(best, gh)
	}
	for _, l := range g.leaves {
		g.putHist(l.hist)
		l.hist = nil
	}
	tree := learn.Tree{Nodes: slices.Clone(g.nodes)}
	return tree, slices.Clone(g.gains)
}

// addLeaf appends a leaf node for l.
func (g *grower) addLeaf(l *leaf) {
	l.node = len(g.nodes)
	v := g.leafValue(l.g, l.h)
	g.nodes = append(g.nodes, learn.Node{Feature: -1, Value: v, Cover: l.h})
	g.bnodes = append(g.bnodes, binNode{leaf: true, value: v})
	g.gains = append(g.gains, 0)
	g.leaves = append(g.leaves, l)
}

func (g *grower) leafValue(sg, sh float64) float64 {
	return -threshold(sg, g.p.L1) / (sh + g.p.L2) * g.p.LearningRate
}

// threshold is the L1 soft threshold of a gradient sum.
func threshold(s, l1 float64) float64 {
	if l1 == 0 {
		return s
	}
	if s > l1 {
		return s - l1
	}
	if s < -l1 {
		return s + l1
	}
	return 0
}

func (g *grower) splittable(l *leaf) bool {
	return l.n >= 2*int64(g.p.MinDataInLeaf) && l.h >= 2*g.p.MinChildWeight &&
		(g.p.MaxDepth == 0 || l.depth < g.p.MaxDepth)
}

func (g *grower) splitLeaf(l *leaf, gh []gpair) {
	s := l.best
	f := s.feature
	mp := &g.t.mappers[f]
	col := g.t.bins[f*g.n : (f+1)*g.n]
	missing := mp.missingBin()

	nl := g.partition(g.idx[l.start:l.end], g.tmp[l.start:l.end], g.tmp2[l.start:l.end], &s, col, missing)

	left := &leaf{start: l.start, end: l.start + nl, g: s.lg, h: s.lh, n: s.ln, depth: l.depth + 1}
	right := &leaf{start: l.start + nl, end: l.end, g: l.g - s.lg, h: l.h - s.lh, n: l.n - s.ln, depth: l.depth + 1}

	// turn l's node into the split
	nd := &g.nodes[l.node]
	nd.Feature = f
	nd.DefaultLeft = s.defaultLeft
	if s.cat {
		nd.Cats = catCodes(&s, mp)
		nd.DefaultLeft = s.set[missing>>6]>>(missing&63)&1 == 1
	} else {
		nd.Threshold = mp.upper[s.bin]
	}
	g.gains[l.node] = s.gain
	bn := &g.bnodes[l.node]
	bn.split, bn.leaf = s, false

	// remove l from the open leaves, add the children
	i := slices.Index(g.leaves, l)
	g.leaves = slices.Delete(g.leaves, i, i+1)
	parentHist := l.hist
	l.hist = nil
	nodeIdx := l.node
	g.addLeaf(left)
	g.addLeaf(right)
	g.nodes[nodeIdx].Left = int32(left.node)
	g.nodes[nodeIdx].Right = int32(right.node)
	g.bnodes[nodeIdx].left = int32(left.node)
	g.bnodes[nodeIdx].right = int32(right.node)
	nd = &g.nodes[nodeIdx]
	nd.Value = g.leafValue(l.g, l.h)

	small, large := left, right
	if right.n < left.n {
		small, large = right, left
	}
	needSmall, needLarge := g.splittable(small), g.splittable(large)
	switch {
	case needLarge:
		// build the smaller child, the larger is the parent minus it
		small.hist = g.getHist()
		g.buildHist(small, gh, false)
		large.hist = parentHist
		g.subtract(large.hist, small.hist)
		if !needSmall {
			g.putHist(small.hist)
			small.hist = nil
		}
	case needSmall:
		small.hist = parentHist
		g.clearHist(small.hist)
		g.buildHist(small, gh, false)
	default:
		g.putHist(parentHist)
	}
	if small.hist != nil {
		g.findBest(small)
	} else {
		small.best.feature = -1
	}
	if large.hist != nil {
		g.findBest(large)
	} else {
		large.best.feature = -1
	}
}

// partition reorders seg stably, rows going left first, and returns how
// many go left. Large segments are split into fixed blocks partitioned in
// parallel (left rows into a, right rows into b) and then gathered in block
// order, so the result is the same as a sequential pass.
func (g *grower) partition(seg, a, b []int32, s *split, col []uint8, missing int) int {
	var lut [256]uint8 // 1 where the bin goes left
	for bin := range 256 {
		if s.goesLeft(uint8(bin), missing) {
			lut[bin] = 1
		}
	}
	nb := (len(seg) + chunk - 1) / chunk
	if nb == 1 || g.t.threads == 1 {
		nl := partBlock(seg, seg, a, &lut, col) // seg[nl] is read before it is written
		copy(seg[nl:], a[:len(seg)-nl])
		return nl
	}
	nls := make([]int, nb)
	parallelFor(g.t.threads, nb, func(c int) {
		lo, hi := c*chunk, min((c+1)*chunk, len(seg))
		nls[c] = partBlock(seg[lo:hi], a[lo:hi], b[lo:hi], &lut, col)
	})
	offL := make([]int, nb)
	offR := make([]int, nb)
	total := 0
	for c := range nb {
		offL[c] = total
		total += nls[c]
	}
	right := total
	for c := range nb {
		offR[c] = right
		right += min((c+1)*chunk, len(seg)) - c*chunk - nls[c]
	}
	parallelFor(g.t.threads, nb, func(c int) {
		lo, hi := c*chunk, min((c+1)*chunk, len(seg))
		copy(seg[offL[c]:], a[lo:lo+nls[c]])
		copy(seg[offR[c]:], b[lo:lo+(hi-lo-nls[c])])
	})
	return total
}

// partBlock writes the rows of seg going left to left and the others to
// right, in order, and returns the left count. Branch-free: both outputs
// get every row and only the matching cursor advances.
func partBlock(seg, left, right []int32, lut *[256]uint8, col []uint8) int {
	left = left[:len(seg)]
	right = right[:len(seg)]
	nl, nr := 0, 0
	for _, r := range seg {
		l := int(lut[col[r]])
		left[nl] = r
		right[nr] = r
		nl += l
		nr += 1 - l
	}
	return nl
}

// catCodes turns a split's bin set into the category code bitset of
// learn.Node (the missing and rare bins are not codes).
func catCodes(s *split, mp *binMapper) []uint64 {
	var codes []int32
	for b := 0; b < mp.nBins; b++ {
		if b != mp.otherBin && s.set[b>>6]>>(b&63)&1 == 1 {
			codes = append(codes, mp.codeOf[b])
		}
	}
	maxc := int32(0)
	for _, c := range codes {
		maxc = max(maxc, c)
	}
	// never empty: omitempty would turn an empty set into a numeric split
	words := make([]uint64, maxc/64+1)
	for _, c := range codes {
		words[c/64] |= 1 << (c % 64)
	}
	return words
}

func (g *grower) clearHist(h hist) {
	for j := range h {
		if g.feats[j] {
			h[j] = [256]hbin{}
		}
	}
}

func (g *grower) subtract(dst, src hist) {
	// a few thousand bins: cheaper on this goroutine than a fork-join
	for j := range g.f {
		if !g.feats[j] {
			continue
		}
		nb := g.t.mappers[j].nBins + 1
		d, s := &dst[j], &src[j]
		for b := range nb {
			d[b].g -= s[b].g
			d[b].h -= s[b].h
			d[b].n -= s[b].n
		}
	}
}

// minParallelRows is the leaf size below which histograms are built on one
// goroutine (the hand-off would cost more than it saves).
const minParallelRows = 4096

// buildHist fills l.hist (zeroed) from l's rows; all means the rows are
// 0..n-1 in order, so gradients need no gathering.
func (g *grower) buildHist(l *leaf, gh []gpair, all bool) {
	seg := g.idx[l.start:l.end]
	threads := g.t.threads
	if len(seg) < minParallelRows {
		threads = 1
	}
	h := l.hist
	act := g.active[:0]
	for j, use := range g.feats {
		if use {
			act = append(act, j)
		}
	}
	g.active = act
	if !all && useRows && len(seg)*rowsDensity <= g.n && 2*len(act) >= g.f {
		// A small leaf's rows are scattered: reading them from the columns
		// costs a cache miss per row and feature, from the row-major copy
		// about one per row. Every feature of each contiguous group is
		// built (an unsampled one is never read), by one goroutine each;
		// the kernel reads the gradients by row itself.
		groups := min(threads, g.f)
		parallelFor(threads, groups, func(q int) {
			j0, j1 := q*g.f/groups, (q+1)*g.f/groups
			for j := j0; j < j1; j++ {
				h[j] = [256]hbin{}
			}
			histRows(h[j0:j1], g.t.rows, g.f, j0, seg, gh)
		})
		return
	}
	og := gh
	if !all {
		og = g.ogh[l.start:l.end]
		gather := func(lo, hi int) {
			for k := lo; k < hi; k++ {
				og[k] = gh[seg[k]]
			}
		}
		if len(seg) < minParallelRows {
			gather(0, len(seg))
		} else {
			parallelChunks(g.t.threads, len(seg), gather)
		}
	}
	// Larger leaves read the columns, which use every cache line they
	// fetch. Features go in pairs so each row's index and gradients are
	// loaded once for two histograms. Each histogram is summed by one
	// goroutine in row order, so the sums do not depend on the schedule.
	npairs := (len(act) + 1) / 2
	pair := func(p int) (h0, h1 *[256]hbin, col0, col1 []uint8) {
		j0 := act[2*p]
		h0, col0 = &h[j0], g.t.bins[j0*g.n:(j0+1)*g.n]
		if 2*p+1 < len(act) {
			j1 := act[2*p+1]
			h1, col1 = &h[j1], g.t.bins[j1*g.n:(j1+1)*g.n]
		}
		return
	}
	if !all {
		parallelFor(threads, npairs, func(p int) {
			h0, h1, col0, col1 := pair(p)
			*h0 = [256]hbin{}
			if h1 == nil {
				histOneSeg(h0, col0, seg, og)
				return
			}
			*h1 = [256]hbin{}
			hist2Seg(h0, h1, col0, col1, seg, og)
		})
		return
	}
	// All rows: the gradients stream from memory once per goroutine's group
	// of pairs rather than once per pair, read in row blocks that stay in
	// cache while the group's columns are added (1.6x faster measured).
	groups := min(npairs, 2*threads)
	parallelFor(threads, groups, func(q int) {
		plo, phi := q*npairs/groups, (q+1)*npairs/groups
		for p := plo; p < phi; p++ {
			h0, h1, _, _ := pair(p)
			*h0 = [256]hbin{}
			if h1 != nil {
				*h1 = [256]hbin{}
			}
		}
		for lo := 0; lo < len(og); lo += histBlock {
			hi := min(lo+histBlock, len(og))
			for p := plo; p < phi; p++ {
				h0, h1, col0, col1 := pair(p)
				if h1 == nil {
					histOneAll(h0, col0[lo:hi], og[lo:hi])
					continue
				}
				hist2All(h0, h1, col0[lo:hi], col1[lo:hi], og[lo:hi])
			}
		}
	})
}

// rowsDensity: leaves with at most 1/rowsDensity of the rows build their
// histograms from the row-major bins (measured faster below about 1/10).
const rowsDensity = 16

// histBlock is the row block of a whole-column histogram pass: its
// gradients (256 KB) stay in the core's cache across the columns.
const histBlock = 1 << 14

// findBest sets l.best to the best split over the sampled features.
func (g *grower) findBest(l *leaf) {
	l.best = split{feature: -1}
	if !g.splittable(l) {
		return
	}
	// Scanning 256 bins per feature takes microseconds: a fork-join would
	// cost more than it saves, and waits on a busy machine.
	for j := range g.f {
		g.results[j] = split{feature: -1}
		if g.feats[j] {
			g.results[j] = g.bestSplit(l, j)
		}
	}
	for j := range g.results {
		r := &g.results[j]
		if r.valid() && r.gain > g.p.MinSplitGain && (!l.best.valid() || r.gain > l.best.gain) {
			l.best = *r
		}
	}
}

func (g *grower) score(sg, sh, l2 float64) float64 {
	t := threshold(sg, g.p.L1)
	return t * t / (sh + l2)
}

// bestSplit scans feature j's histogram of leaf l.
func (g *grower) bestSplit(l *leaf, j int) split {
	mp := &g.t.mappers[j]
	hj := &l.hist[j]
	best := split{feature: -1}
	minN := int64(g.p.MinDataInLeaf)
	minH := g.p.MinChildWeight
	if mp.categorical {
		return g.bestCatSplit(l, j, mp, hj)
	}
	l2 := g.p.L2
	parent := g.score(l.g, l.h, l2)
	miss := hj[mp.nBins]
	nb := mp.nBins
	// Pass 0 sends missing right, pass 1 left; with no missing rows one pass
	// suffices and missing goes with the larger child at prediction time.
	passes := 2
	if miss.n == 0 {
		passes = 1
	}
	for pass := range passes {
		var lg, lh float64
		var ln int64
		if pass == 1 {
			lg, lh, ln = miss.g, miss.h, miss.n
		}
		for b := 0; b < nb-1; b++ {
			e := &hj[b]
			lg += e.g
			lh += e.h
			ln += e.n
			if ln < minN || lh < minH {
				continue
			}
			rn, rh := l.n-ln, l.h-lh
			if rn < minN || rh < minH {
				break
			}
			gain := g.score(lg, lh, l2) + g.score(l.g-lg, rh, l2) - parent
			if gain > best.gain || !best.valid() {
				best = split{gain: gain, feature: j, bin: b, lg: lg, lh: lh, ln: ln, defaultLeft: pass == 1}
			}
		}
	}
	if best.valid() && miss.n == 0 {
		best.defaultLeft = best.ln >= l.n-best.ln
	}
	return best
}

// bestCatSplit orders the categories present in the leaf (missing counts as
// one) by gradient over smoothed hessian and takes the best prefix from
// either end, or tries each category alone when there are few.
func (g *grower) bestCatSplit(l *leaf, j int, mp *binMapper, hj *[256]hbin) split {
	best := split{feature: -1, cat: true}
	minN := int64(g.p.MinDataInLeaf)
	minH := g.p.MinChildWeight
	l2 := g.p.L2 + g.p.CatL2
	parent := g.score(l.g, l.h, l2)
	var used []int
	for b := 0; b <= mp.nBins; b++ {
		if b != mp.otherBin && hj[b].n > 0 {
			used = append(used, b)
		}
	}
	if len(used) < 2 && !(len(used) == 1 && hj[used[0]].n < l.n) {
		return best
	}
	try := func(set []int) {
		var lg, lh float64
		var ln int64
		for _, b := range set {
			lg += hj[b].g
			lh += hj[b].h
			ln += hj[b].n
		}
		rn, rh := l.n-ln, l.h-lh
		if ln < minN || lh < minH || rn < minN || rh < minH {
			return
		}
		gain := g.score(lg, lh, l2) + g.score(l.g-lg, rh, l2) - parent
		if gain > best.gain || !best.valid() {
			best = split{gain: gain, feature: j, cat: true, lg: lg, lh: lh, ln: ln}
			for _, b := range set {
				best.set[b>>6] |= 1 << (b & 63)
			}
		}
	}
	if len(used) <= g.p.MaxCatToOnehot {
		for i := range used {
			try(used[i : i+1])
		}
		return best
	}
	// As LightGBM does: order only the categories with at least cat_smooth
	// rows (rarer ones stay right), put at most max_cat_threshold (and at
	// most half of them) on the small side, and keep min_data_per_group
	// rows on each side.
	smooth := g.p.CatSmooth
	eligible := used[:0]
	for _, b := range used {
		if float64(hj[b].n) >= smooth {
			eligible = append(eligible, b)
		}
	}
	slices.SortStableFunc(eligible, func(a, b int) int {
		ra := hj[a].g / (hj[a].h + smooth)
		rb := hj[b].g / (hj[b].h + smooth)
		switch {
		case ra < rb:
			return -1
		case ra > rb:
			return 1
		}
		return a - b
	})
	limit := min(g.p.MaxCatThreshold, (len(eligible)+1)/2)
	minGroup := int64(g.p.MinDataPerGroup)
	for dir := range 2 {
		var lg, lh float64
		var ln int64
		for k := range limit {
			b := eligible[k]
			if dir == 1 {
				b = eligible[len(eligible)-1-k]
			}
			lg += hj[b].g
			lh += hj[b].h
			ln += hj[b].n
			if ln < minN || lh < minH || ln < minGroup {
				continue
			}
			rn, rh := l.n-ln, l.h-lh
			if rn < minN || rh < minH || rn < minGroup {
				break
			}
			gain := g.score(lg, lh, l2) + g.score(l.g-lg, rh, l2) - parent
			if gain > best.gain || !best.valid() {
				best = split{gain: gain, feature: j, cat: true, lg: lg, lh: lh, ln: ln}
				for q := 0; q <= k; q++ {
					c := eligible[q]
					if dir == 1 {
						c = eligible[len(eligible)-1-q]
					}
					best.set[c>>6] |= 1 << (c & 63)
				}
			}
		}
	}
	return best
}

// updateScores adds the tree's values to raw: rows in the bag by their
// leaf segments, the others by walking the binned tree.
func (g *grower) updateScores(tree learn.Tree, raw []float64, bag []int32) {
	leaves := g.leaves
	parallelFor(g.t.threads, len(leaves), func(i int) {
		l := leaves[i]
		v := tree.Nodes[l.node].Value
		for _, r := range g.idx[l.start:l.end] {
			raw[r] += v
		}
	})
	if bag == nil {
		return
	}
	in := make([]bool, g.n)
	for _, r := range bag {
		in[r] = true
	}
	bins, n := g.t.bins, g.n
	nodes := g.bnodes
	parallelChunks(g.t.threads, n, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			if in[r] {
				continue
			}
			i := int32(0)
			for !nodes[i].leaf {
				nd := &nodes[i]
				f := nd.feature
				if nd.goesLeft(bins[f*n+r], g.t.mappers[f].nBins) {
					i = nd.left
				} else {
					i = nd.right
				}
			}
			raw[r] += nodes[i].value
		}
	})
}

// parallelFor runs fn(0..n-1) on up to threads goroutines. Callers write
// results by index, so the outcome does not depend on scheduling.
func parallelFor(threads, n int, fn func(i int)) {
	if threads <= 1 || n <= 1 {
		for i := range n {
			fn(i)
		}
		return
	}
	var next atomic.Int64
	work := func() {
		for {
			i := int(next.Add(1) - 1)
			if i >= n {
				return
			}
			fn(i)
		}
	}
	var wg sync.WaitGroup
	for range min(threads, n) - 1 {
		wg.Go(work)
	}
	work() // the caller takes a share too
	wg.Wait()
}

// parallelChunks runs fn over [0, n) in fixed-size row blocks.
func parallelChunks(threads, n int, fn func(lo, hi int)) {
	nc := (n + chunk - 1) / chunk
	parallelFor(threads, nc, func(c int) {
		fn(c*chunk, min((c+1)*chunk, n))
	})
}
