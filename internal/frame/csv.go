package frame

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math/bits"
	"strconv"
	"unicode/utf8"
)

// CSV dialect (RFC 4180 with the usual leniencies): fields are separated by
// Options.Delimiter; records end with \n or \r\n; a field that starts with a
// double quote runs to the matching quote, may contain delimiters and
// newlines, and writes a quote as two quotes; a quote inside an unquoted
// field, or anything but a delimiter or line end after a closing quote, is an
// error. Blank lines are skipped. A UTF-8 byte order mark at the start is
// ignored. Every record must have as many fields as the header.

type csvParser struct {
	name      string
	delim     byte
	quote     byte
	batchRows int
	nulls     *nullSet
	special   [256]bool // bytes that end an unquoted scan
	names     []string
	noHeader  bool
	maxRec    int
	rec       *recycler
	bomSeen   bool // the file's first bytes were checked for a byte order mark
}

func newCSVReader(r io.Reader, name string, opts Options, closer io.Closer) (Reader, error) {
	opts = opts.withDefaults()
	d := opts.Delimiter
	if d == '"' || d == '\n' || d == '\r' || d >= utf8.RuneSelf {
		return nil, fmt.Errorf("%s: invalid CSV delimiter %q", name, d)
	}
	p := &csvParser{
		name: name, delim: d, quote: '"', batchRows: opts.BatchRows,
		nulls: newNullSet(opts.NullValues), noHeader: opts.NoHeader, maxRec: opts.MaxRecordBytes,
	}
	p.special[d] = true
	p.special['\n'] = true
	p.special[p.quote] = true
	p.rec = newRecycler(opts.chunkSize)
	tr, err := startText(r, name, opts.Format, opts, p, p.rec, p.cut, p.header, closer)
	if err != nil {
		return nil, err
	}
	return tr, nil
}

// cut returns the length of the longest prefix of data that ends with a
// newline outside quotes, or -1. Quote parity before a position is the total
// quote count minus the quotes after it, so one fast count plus a short
// backward walk suffices; doubled quotes keep the parity right.
func (p *csvParser) cut(data []byte) int {
	total := bytes.Count(data, []byte{p.quote})
	after := 0
	for i := len(data) - 1; i >= 0; i-- {
		switch data[i] {
		case '\n':
			if (total-after)%2 == 0 {
				return i + 1
			}
		case p.quote:
			after++
		}
	}
	return -1
}

// header parses the first record of the first chunk as column names (or
// counts its fields when there is no header) and advances the chunk past it.
func (p *csvParser) header(c *chunk) ([]string, error) {
	data := c.data
	// Only the file's first bytes can be a byte order mark: header is
	// called again when the first chunk held only blank lines, and a BOM
	// after them is part of the first column's name, however the file was
	// cut into chunks.
	if !p.bomSeen && bytes.HasPrefix(data, []byte("\xef\xbb\xbf")) {
		data = data[3:]
	}
	p.bomSeen = true
	line := c.line
	// skip leading blank lines
	pos := 0
	for pos < len(data) && (data[pos] == '\n' || data[pos] == '\r' && pos+1 < len(data) && data[pos+1] == '\n') {
		if data[pos] == '\r' {
			pos++
		}
		pos++
		line++
	}
	if pos == len(data) {
		if !c.final {
			return nil, errNeedMore // only blank lines so far
		}
		if c.truncated {
			return nil, lineErr(p.name, line, "", "header row longer than the limit of %d bytes", p.maxRec)
		}
		return nil, lineErr(p.name, line, "", "no header row (empty file)")
	}
	startLine := line
	rec := data
	if p.noHeader {
		rec = bytes.Clone(data) // the first record is data too: do not unescape it in place
	}
	next, nextLine, fields, err := p.record(rec, pos, line, nil)
	if err != nil {
		return nil, err
	}
	if next == len(rec) && c.truncated && rec[len(rec)-1] != '\n' {
		return nil, lineErr(p.name, startLine, "", "header row longer than the limit of %d bytes", p.maxRec)
	}
	names := make([]string, len(fields))
	seen := make(map[string]bool, len(fields))
	for i, f := range fields {
		b := rec[f.off:f.end]
		if !utf8.Valid(b) {
			return nil, lineErr(p.name, startLine, "", "header field %d: invalid UTF-8", i+1)
		}
		name := string(b)
		if p.noHeader || name == "" {
			name = "column_" + strconv.Itoa(i+1)
		}
		if seen[name] {
			return nil, lineErr(p.name, startLine, "", "duplicate column name %q", name)
		}
		seen[name] = true
		names[i] = name
	}
	p.names = names
	// wide tables get fewer rows per batch, bounding a batch's memory
	p.batchRows = min(p.batchRows, max(1, maxBatchCells/len(names)))
	if !p.noHeader {
		c.data = data[next:]
		c.line = nextLine
	} else {
		c.data = data
	}
	return names, nil
}

func (p *csvParser) colName(j int) string {
	if j < len(p.names) {
		return p.names[j]
	}
	return "column_" + strconv.Itoa(j+1)
}

// record splits the record starting at data[pos] into field spans appended
// to out. Quoted fields are unescaped in place (the result is never longer).
// It returns the position and line after the record.
func (p *csvParser) record(data []byte, pos int, line int64, out []span) (int, int64, []span, error) {
	out = out[:0]
	n := len(data)
	delim, quote := p.delim, p.quote
	for {
		if pos < n && data[pos] == quote {
			startLine := line
			pos++
			start, w := pos, pos
			for {
				i := bytes.IndexByte(data[pos:], quote)
				if i < 0 {
					return 0, 0, out, lineErr(p.name, startLine, p.colName(len(out)), "quoted field is not closed")
				}
				seg := data[pos : pos+i]
				line += int64(bytes.Count(seg, []byte{'\n'}))
				if w != pos {
					copy(data[w:], seg)
				}
				w += i
				pos += i + 1
				if pos < n && data[pos] == quote {
					data[w] = quote
					w++
					pos++
					continue
				}
				break
			}
			out = append(out, span{uint32(start), uint32(w)})
			if pos == n {
				return pos, line, out, nil
			}
			switch c := data[pos]; {
			case c == delim:
				pos++
				continue
			case c == '\n':
				return pos + 1, line + 1, out, nil
			case c == '\r' && (pos+1 == n || data[pos+1] == '\n'):
				if pos+1 == n {
					return pos + 1, line, out, nil
				}
				return pos + 2, line + 1, out, nil
			default:
				return 0, 0, out, lineErr(p.name, line, p.colName(len(out)-1), "unexpected %q after closing quote", c)
			}
		}
		start := pos
		pos = p.scan(data, pos)
		if pos < n {
			switch data[pos] {
			case delim:
				out = append(out, span{uint32(start), uint32(pos)})
				pos++
				continue
			case quote:
				return 0, 0, out, lineErr(p.name, line, p.colName(len(out)), "bare %q in unquoted field", quote)
			}
			// newline
			end := pos
			if end > start && data[end-1] == '\r' {
				end--
			}
			out = append(out, span{uint32(start), uint32(end)})
			return pos + 1, line + 1, out, nil
		}
		end := pos
		if end > start && data[end-1] == '\r' {
			end--
		}
		out = append(out, span{uint32(start), uint32(end)})
		return pos, line, out, nil
	}
}

// scan returns the position of the first delimiter, newline or quote at or
// after pos, or len(data). It tests eight bytes at a time (SWAR): a byte of
// w equal to c becomes a zero byte of w^c, and the lowest zero byte is found
// exactly by the borrow trick.
func (p *csvParser) scan(data []byte, pos int) int {
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	d := lo * uint64(p.delim)
	q := lo * uint64(p.quote)
	nl := lo * uint64('\n')
	for pos+8 <= len(data) {
		w := binary.LittleEndian.Uint64(data[pos:])
		x, y, z := w^d, w^q, w^nl
		m := ((x - lo) &^ x) | ((y - lo) &^ y) | ((z - lo) &^ z)
		if m &= hi; m != 0 {
			return pos + bits.TrailingZeros64(m)>>3
		}
		pos += 8
	}
	for pos < len(data) && !p.special[data[pos]] {
		pos++
	}
	return pos
}

func (p *csvParser) newRaw(data []byte, buf *chunkBuf) *rawBatch {
	ncols := len(p.names)
	rb, _ := p.rec.batches.Get().(*rawBatch)
	if rb == nil || len(rb.cells) != ncols {
		rb = &rawBatch{cells: make([][]span, ncols), cols: make([]*Column, ncols)}
		for j := range rb.cells {
			rb.cells[j] = make([]span, p.batchRows)
			rb.cols[j] = &Column{}
		}
		rb.lines = make([]int64, p.batchRows)
	}
	rb.names, rb.data, rb.buf, rb.n = p.names, data, buf, 0
	for j := range rb.cells {
		rb.cells[j] = rb.cells[j][:p.batchRows]
	}
	rb.lines = rb.lines[:p.batchRows]
	return rb
}

func (p *csvParser) split(c *chunk) ([]*rawBatch, error) {
	data := c.data
	checkUTF8 := !utf8.Valid(data)
	ncols := len(p.names)
	var out []*rawBatch
	rb := p.newRaw(data, c.buf)
	fields := make([]span, 0, ncols+1)
	pos, line := 0, c.line
	row := 0
	for pos < len(data) {
		// blank line
		if data[pos] == '\n' {
			pos++
			line++
			continue
		}
		if data[pos] == '\r' && pos+1 < len(data) && data[pos+1] == '\n' {
			pos += 2
			line++
			continue
		}
		recLine := line
		var err error
		pos, line, fields, err = p.record(data, pos, line, fields)
		if err != nil {
			p.rec.putAll(append(out, rb))
			return nil, err
		}
		if c.truncated && pos == len(data) && data[pos-1] != '\n' {
			p.rec.putAll(append(out, rb))
			return nil, lineErr(p.name, recLine, "", "record longer than the limit of %d bytes", p.maxRec)
		}
		if len(fields) != ncols {
			p.rec.putAll(append(out, rb))
			noun := "fields"
			if len(fields) == 1 {
				noun = "field"
			}
			return nil, lineErr(p.name, recLine, "", "row has %d %s, header has %d", len(fields), noun, ncols)
		}
		if checkUTF8 {
			for j, f := range fields {
				if !utf8.Valid(data[f.off:f.end]) {
					p.rec.putAll(append(out, rb))
					return nil, lineErr(p.name, recLine, p.names[j], "invalid UTF-8")
				}
			}
		}
		if row == p.batchRows {
			out = append(out, p.finish(rb, row))
			rb = p.newRaw(data, c.buf)
			row = 0
		}
		for j, f := range fields {
			rb.cells[j][row] = f
		}
		rb.lines[row] = recLine
		row++
	}
	if row > 0 {
		out = append(out, p.finish(rb, row))
	} else {
		p.rec.batches.Put(rb)
	}
	c.buf.hold(len(out))
	return out, nil
}

func (p *csvParser) finish(rb *rawBatch, n int) *rawBatch {
	rb.n = n
	for j := range rb.cells {
		rb.cells[j] = rb.cells[j][:n]
	}
	rb.lines = rb.lines[:n]
	return rb
}

// convert implements textParser. It restarts with a wider type when a cell
// does not fit, at most a few times per column.
func (p *csvParser) convert(rb *rawBatch, j int, t Type) Type {
	cells := rb.cells[j]
	data := rb.data
	col := rb.cols[j]
	nulls := p.nulls
retry:
	if t == TypeString {
		col.typ, col.n, col.nullCount = TypeString, rb.n, 0
		col.buf, col.spans = data, cells
		col.nulls = grow(col.nulls, rb.n)
		for i, s := range cells {
			isNull := nulls.match(data[s.off:s.end])
			col.nulls[i] = isNull
			if isNull {
				col.nullCount++
			}
		}
		return t
	}
	col.reset(t, rb.n)
	switch t {
	case TypeNull:
		for i, s := range cells {
			b := data[s.off:s.end]
			if !nulls.match(b) {
				t = inferType(b)
				goto retry
			}
			col.nulls[i] = true
		}
		col.nullCount = rb.n
	case TypeInt:
		ints := col.ints
		for i, s := range cells {
			b := data[s.off:s.end]
			if nulls.parseable && nulls.match(b) {
				col.setNull(i)
				continue
			}
			v, ok := parseInt(b)
			if !ok {
				if nulls.match(b) {
					col.setNull(i)
					continue
				}
				t = Join(t, inferType(b))
				goto retry
			}
			ints[i] = v
		}
	case TypeFloat:
		fl := col.floats
		for i, s := range cells {
			b := data[s.off:s.end]
			if nulls.parseable && nulls.match(b) {
				col.setNull(i)
				continue
			}
			v, ok := parseFloat(b)
			if !ok {
				if nulls.match(b) {
					col.setNull(i)
					continue
				}
				t = Join(t, inferType(b))
				goto retry
			}
			fl[i] = v
		}
	case TypeBool:
		bs := col.bools
		for i, s := range cells {
			b := data[s.off:s.end]
			if nulls.parseable && nulls.match(b) {
				col.setNull(i)
				continue
			}
			v, ok := parseBool(b)
			if !ok {
				if nulls.match(b) {
					col.setNull(i)
					continue
				}
				t = Join(t, inferType(b))
				goto retry
			}
			bs[i] = v
		}
	case TypeTimestamp:
		ints := col.ints
		for i, s := range cells {
			b := data[s.off:s.end]
			if nulls.parseable && nulls.match(b) {
				col.setNull(i)
				continue
			}
			v, ok := parseTimestamp(b)
			if !ok {
				if nulls.match(b) {
					col.setNull(i)
					continue
				}
				t = Join(t, inferType(b))
				goto retry
			}
			ints[i] = v
		}
	}
	return t
}
