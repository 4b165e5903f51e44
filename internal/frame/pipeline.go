package frame

import (
	"bytes"
	"errors"
	"io"
	"sync"
	"sync/atomic"
)

// The text formats (CSV/TSV, JSON Lines) share one pipeline:
//
//	chunker (1 goroutine): reads the input in chunks cut at record boundaries
//	workers (Options.Workers): split a chunk into cells and convert them to typed columns
//	consumer (the caller of Next): takes results in input order, makes column
//	types monotonic, maintains the schema
//
// Memory is bounded: at most 2*Workers chunks are in flight.

// chunk is a run of complete records.
type chunk struct {
	data      []byte
	buf       *chunkBuf // owner of data, for recycling
	line      int64     // 1-based line number of data[0]
	final     bool      // the input ends with data (the last record may lack a newline)
	truncated bool      // no record boundary within MaxRecordBytes: data ends mid-record
}

// rawBatch is a converted batch plus the cell texts it came from, kept so
// the consumer can re-convert a column to a wider type.
type rawBatch struct {
	n     int
	names []string  // local column names
	cols  []*Column // local columns
	cells [][]span  // per local column: the cell texts in data
	kinds [][]uint8 // JSON Lines: per local column, the JSON kind of each cell
	data  []byte
	buf   *chunkBuf
	lines []int64
}

// recycler reuses chunk buffers and raw batches: at steady state the
// pipeline allocates nothing per batch.
type recycler struct {
	size    int
	bufs    sync.Pool // *chunkBuf with a buffer of cap size
	batches sync.Pool // *rawBatch
}

// chunkBuf is a chunk's buffer, shared by the raw batches cut from it and
// recycled when the last of them is released.
type chunkBuf struct {
	b    []byte
	refs atomic.Int32
}

func newRecycler(size int) *recycler { return &recycler{size: size} }

// buf returns an empty buffer of capacity at least n.
func (rc *recycler) buf(n int) *chunkBuf {
	if n <= rc.size {
		if cb, _ := rc.bufs.Get().(*chunkBuf); cb != nil {
			cb.b = cb.b[:0]
			return cb
		}
		n = rc.size
	}
	return &chunkBuf{b: make([]byte, 0, n)}
}

// hold records that n raw batches use cb; with none, cb is free at once.
func (cb *chunkBuf) hold(n int) {
	if cb != nil {
		cb.refs.Store(int32(n))
	}
}

// release returns rb, and its chunk buffer when rb was the last user.
func (rc *recycler) release(rb *rawBatch) {
	if cb := rb.buf; cb != nil && cb.refs.Add(-1) == 0 && cap(cb.b) == rc.size {
		rc.bufs.Put(cb)
	}
	rb.buf, rb.data = nil, nil
	rc.batches.Put(rb)
}

// putAll returns batches that were never emitted (their chunk failed).
func (rc *recycler) putAll(rbs []*rawBatch) {
	for _, rb := range rbs {
		rb.buf, rb.data = nil, nil
		rc.batches.Put(rb)
	}
}

// textParser is the format-specific part.
type textParser interface {
	// split turns a chunk into raw batches of at most BatchRows rows with
	// cells filled and columns not yet converted. Safe for concurrent use.
	split(c *chunk) ([]*rawBatch, error)
	// convert fills rb.cols[j] from its cells as type t or, when some cell
	// does not fit, the narrowest wider type that fits all; it returns the
	// type used. Safe for concurrent use on different batches.
	convert(rb *rawBatch, j int, t Type) Type
}

// hints shares the widest known type per column with the workers, so that
// a widening found in one chunk spares later chunks the failed attempt.
type hints struct {
	mu sync.RWMutex
	m  map[string]Type
}

func (h *hints) get(name string) Type {
	h.mu.RLock()
	t := h.m[name]
	h.mu.RUnlock()
	if t == "" {
		return TypeNull
	}
	return t
}

func (h *hints) widen(name string, t Type) {
	h.mu.Lock()
	h.m[name] = Join(h.m[name], t)
	h.mu.Unlock()
}

// errNeedMore tells startText that the first chunk held no header yet.
var errNeedMore = errors.New("frame: need more input")

type chunkResult struct {
	batches []*rawBatch
	err     error
}

type textReader struct {
	name   string
	format Format
	opts   Options
	p      textParser
	rec    *recycler
	last   *rawBatch // emitted by the previous Next, released by the next
	hints  *hints
	closer io.Closer

	fields  []Field
	index   map[string]int
	rows    int64
	pending []*rawBatch
	out     batch
	zeros   zeros

	order     chan chan chunkResult
	done      chan struct{}
	closeOnce sync.Once
	err       error
}

// startText reads the sample synchronously, fixes the initial schema and
// starts the pipeline for the rest of the input. first, when set, is run on
// the first chunk (CSV header) before anything else.
func startText(r io.Reader, name string, f Format, opts Options, p textParser, rec *recycler, cut func([]byte) int,
	first func(c *chunk) ([]string, error), closer io.Closer) (*textReader, error) {
	tr := &textReader{
		name: name, format: f, opts: opts, p: p, rec: rec, closer: closer,
		hints: &hints{m: map[string]Type{}},
		index: map[string]int{},
		done:  make(chan struct{}),
	}
	ck := &chunker{r: r, name: name, rec: rec, maxRec: opts.MaxRecordBytes, cut: cut, line: 1}
	sampled := 0
	firstChunk := true
	for sampled < opts.SampleRows {
		c, err := ck.next()
		if err == io.EOF {
			c = &chunk{final: true, line: ck.line} // past any blank lines already read
		} else if err != nil {
			return nil, err
		}
		if firstChunk && first != nil {
			names, err := first(c)
			if errors.Is(err, errNeedMore) {
				c.buf.hold(0)
				continue
			}
			if err != nil {
				return nil, err
			}
			for _, n := range names {
				tr.column(n, 0)
			}
		}
		firstChunk = false
		if len(c.data) > 0 {
			rbs, err := p.split(c)
			if err != nil {
				return nil, err
			}
			for _, rb := range rbs {
				for j, name := range rb.names {
					t := p.convert(rb, j, tr.hints.get(name))
					tr.hints.widen(name, t)
				}
				sampled += rb.n
			}
			tr.pending = append(tr.pending, rbs...)
		}
		if c.final {
			ck.eof, ck.pending = true, nil
			break
		}
	}
	// the sample's join is the initial schema
	for _, rb := range tr.pending {
		for j, name := range rb.names {
			g := tr.column(name, 0)
			tr.fields[g].Type = Join(tr.fields[g].Type, rb.cols[j].typ)
			if rb.cols[j].nullCount > 0 {
				tr.fields[g].Nullable = true
			}
		}
	}
	if ck.eof && len(ck.pending) == 0 {
		tr.order = make(chan chan chunkResult)
		close(tr.order)
		return tr, nil
	}
	tr.order = make(chan chan chunkResult, 2*opts.Workers)
	jobs := make(chan job, opts.Workers)
	go tr.produce(ck, jobs)
	for range opts.Workers {
		go tr.work(jobs)
	}
	return tr, nil
}

type job struct {
	c   *chunk
	res chan chunkResult
}

func (tr *textReader) produce(ck *chunker, jobs chan<- job) {
	defer close(jobs)
	defer close(tr.order)
	for {
		c, err := ck.next()
		if err == io.EOF {
			return
		}
		res := make(chan chunkResult, 1)
		select {
		case tr.order <- res:
		case <-tr.done:
			return
		}
		if err != nil {
			res <- chunkResult{err: err}
			return
		}
		select {
		case jobs <- job{c, res}:
		case <-tr.done:
			res <- chunkResult{err: errClosed}
			return
		}
		if c.final {
			return
		}
	}
}

func (tr *textReader) work(jobs <-chan job) {
	for j := range jobs {
		rbs, err := tr.p.split(j.c)
		if err == nil {
			for _, rb := range rbs {
				for k, name := range rb.names {
					h := tr.hints.get(name)
					if t := tr.p.convert(rb, k, h); t != h {
						tr.hints.widen(name, t)
					}
				}
			}
		}
		j.res <- chunkResult{rbs, err}
	}
}

// column returns the global index of the column called name, adding it
// (missing in the rows read so far) if new.
func (tr *textReader) column(name string, rowsBefore int64) int {
	if g, ok := tr.index[name]; ok {
		return g
	}
	g := len(tr.fields)
	tr.index[name] = g
	tr.fields = append(tr.fields, Field{Name: name, Type: TypeNull, Nullable: rowsBefore > 0})
	return g
}

func (tr *textReader) Format() Format { return tr.format }

func (tr *textReader) Schema() Schema {
	return Schema{Fields: append([]Field(nil), tr.fields...)}
}

func (tr *textReader) Next() (Batch, error) {
	if tr.last != nil {
		tr.rec.release(tr.last)
		tr.last = nil
	}
	if tr.err != nil {
		return nil, tr.err
	}
	for len(tr.pending) == 0 {
		res, ok := <-tr.order
		if !ok {
			tr.err = io.EOF
			return nil, io.EOF
		}
		r := <-res
		if r.err != nil {
			tr.err = r.err
			tr.Close()
			return nil, r.err
		}
		tr.pending = r.batches
	}
	rb := tr.pending[0]
	tr.pending[0] = nil
	tr.pending = tr.pending[1:]
	tr.last = rb
	return tr.emit(rb), nil
}

// emit maps a raw batch's local columns onto the schema, widening columns
// that arrive narrower than the schema already is.
func (tr *textReader) emit(rb *rawBatch) Batch {
	for j, name := range rb.names {
		g := tr.column(name, tr.rows)
		col := rb.cols[j]
		want := Join(tr.fields[g].Type, col.typ)
		if want != col.typ {
			want = tr.p.convert(rb, j, want)
			tr.hints.widen(name, want)
		}
		tr.fields[g].Type = want
		if col.nullCount > 0 {
			tr.fields[g].Nullable = true
		}
	}
	tr.rows += int64(rb.n)
	out := &tr.out
	out.n = rb.n
	out.lines = rb.lines
	out.cols = out.cols[:0]
	if rb.kinds == nil && len(rb.names) == len(tr.fields) {
		out.cols = append(out.cols, rb.cols...) // CSV: same order
		return out
	}
	for range tr.fields {
		out.cols = append(out.cols, nil)
	}
	for j, name := range rb.names {
		out.cols[tr.index[name]] = rb.cols[j]
	}
	for g, c := range out.cols {
		if c == nil {
			out.cols[g] = tr.zeros.column(tr.fields[g].Type, rb.n)
			tr.fields[g].Nullable = true
		}
	}
	return out
}

func (tr *textReader) Close() error {
	var err error
	tr.closeOnce.Do(func() {
		close(tr.done)
		if tr.closer != nil {
			err = tr.closer.Close()
		}
		if tr.err == nil {
			tr.err = errClosed
		}
		// let the producer and workers finish the chunks in flight
		go func(order chan chan chunkResult) {
			for res := range order {
				<-res
			}
		}(tr.order)
	})
	return err
}

// chunker cuts the input into chunks of about size bytes ending at record
// boundaries. Each chunk owns its buffer, so workers may modify it.
type chunker struct {
	r       io.Reader
	name    string
	rec     *recycler
	maxRec  int
	cut     func([]byte) int // length of the longest prefix ending at a record boundary, or -1
	pending []byte           // bytes read past the last cut
	line    int64
	eof     bool
}

func (ck *chunker) next() (*chunk, error) {
	if ck.eof && len(ck.pending) == 0 {
		return nil, io.EOF
	}
	cb := ck.rec.buf(2 * len(ck.pending))
	buf := append(cb.b, ck.pending...)
	ck.pending = ck.pending[:0]
	for {
		for !ck.eof && len(buf) < cap(buf) {
			n, err := ck.r.Read(buf[len(buf):cap(buf)])
			buf = buf[:len(buf)+n]
			if errors.Is(err, io.EOF) {
				ck.eof = true
			} else if err != nil {
				return nil, &ParseError{File: ck.name, Line: ck.line, RowGroup: -1, Msg: "reading", Err: err}
			}
		}
		cb.b = buf
		if ck.eof {
			if len(buf) == 0 {
				return nil, io.EOF
			}
			return &chunk{data: buf, buf: cb, line: ck.line, final: true}, nil
		}
		if k := ck.cut(buf); k > 0 {
			ck.pending = append(ck.pending, buf[k:]...)
			c := &chunk{data: buf[:k], buf: cb, line: ck.line}
			ck.line += int64(bytes.Count(buf[:k], []byte{'\n'}))
			return c, nil
		}
		if len(buf) >= ck.maxRec {
			// no boundary within the limit: let the parser report where
			ck.eof = true
			return &chunk{data: buf, buf: cb, line: ck.line, final: true, truncated: true}, nil
		}
		nb := make([]byte, len(buf), max(min(2*cap(buf), ck.maxRec+1), len(buf)+1))
		copy(nb, buf)
		buf = nb
		cb = &chunkBuf{b: buf}
	}
}

// zeros backs the all-missing columns of keys absent from a JSON Lines
// batch with shared, read-only zero arrays, so a file with many sparse keys
// does not cost rows times keys of memory.
type zeros struct {
	ints   []int64
	floats []float64
	bools  []bool
	spans  []span
	nulls  []bool
}

func (z *zeros) column(t Type, n int) *Column {
	if len(z.nulls) < n {
		z.ints = make([]int64, n)
		z.floats = make([]float64, n)
		z.bools = make([]bool, n)
		z.spans = make([]span, n)
		z.nulls = make([]bool, n)
		for i := range z.nulls {
			z.nulls[i] = true
		}
	}
	return &Column{typ: t, n: n, nullCount: n, nulls: z.nulls[:n], ints: z.ints[:n], floats: z.floats[:n],
		bools: z.bools[:n], spans: z.spans[:n]}
}
