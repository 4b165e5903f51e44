package frame

import (
	"bytes"
	"fmt"
	"io"
	"unicode/utf16"
	"unicode/utf8"
)

// JSON Lines: one JSON object per line (blank lines skipped). Each key is a
// column, in the order keys are first seen. Values map to types by their
// JSON kind: integers that fit int64 -> int, other numbers -> float,
// true/false -> bool, strings -> string (or timestamp when they parse as
// one), null or an absent key -> missing, objects and arrays -> string
// holding the compact JSON text. A key first seen after the sample appends
// a column. A duplicate key within a line is an error.

// JSON kinds of a cell.
const (
	kMissing uint8 = iota // key absent
	kNull
	kBool
	kInt
	kFloat
	kString
	kTimestamp
	kNested
)

func kindType(k uint8) Type {
	switch k {
	case kBool:
		return TypeBool
	case kInt:
		return TypeInt
	case kFloat:
		return TypeFloat
	case kTimestamp:
		return TypeTimestamp
	case kString, kNested:
		return TypeString
	}
	return TypeNull
}

// maxJSONDepth bounds nesting so hostile input cannot exhaust the stack.
const maxJSONDepth = 512

type jsonlParser struct {
	name      string
	batchRows int
	maxRec    int
	rec       *recycler
}

func newJSONLReader(r io.Reader, name string, opts Options, closer io.Closer) (Reader, error) {
	opts = opts.withDefaults()
	p := &jsonlParser{name: name, batchRows: opts.BatchRows, maxRec: opts.MaxRecordBytes, rec: newRecycler(opts.chunkSize)}
	cut := func(data []byte) int {
		if i := bytes.LastIndexByte(data, '\n'); i >= 0 {
			return i + 1
		}
		return -1
	}
	tr, err := startText(r, name, FormatJSONL, opts, p, p.rec, cut, nil, closer)
	if err != nil {
		return nil, err
	}
	return tr, nil
}

// jsonBatch builds one raw batch, adding local columns as keys appear.
// Column arrays grow with the cells actually present (a key missing from
// the end of a batch is padded at finish), so memory follows the data, not
// rows times keys.
type jsonBatch struct {
	rb    *rawBatch
	index map[string]int
	rows  int
	cells int
}

func (p *jsonlParser) newBatch(data []byte, buf *chunkBuf) *jsonBatch {
	return &jsonBatch{
		rb:    &rawBatch{data: data, buf: buf, kinds: [][]uint8{}},
		index: map[string]int{},
	}
}

func (jb *jsonBatch) column(key []byte) int {
	if j, ok := jb.index[string(key)]; ok {
		return j
	}
	j := len(jb.rb.names)
	name := string(key)
	jb.index[name] = j
	jb.rb.names = append(jb.rb.names, name)
	jb.rb.cells = append(jb.rb.cells, nil)
	jb.rb.kinds = append(jb.rb.kinds, nil)
	jb.rb.cols = append(jb.rb.cols, &Column{})
	return j
}

// set stores the cell of column j in the current row; it reports false if
// the row already has one (a duplicate key).
func (jb *jsonBatch) set(j int, kind uint8, s span) bool {
	row := jb.rows
	kinds := jb.rb.kinds[j]
	if len(kinds) > row {
		return false
	}
	cells := jb.rb.cells[j]
	for len(kinds) < row {
		kinds = append(kinds, kMissing)
		cells = append(cells, span{})
	}
	jb.rb.kinds[j] = append(kinds, kind)
	jb.rb.cells[j] = append(cells, s)
	jb.cells++
	return true
}

func (jb *jsonBatch) finish() *rawBatch {
	rb := jb.rb
	rb.n = jb.rows
	for j := range rb.cells {
		for len(rb.kinds[j]) < rb.n {
			rb.kinds[j] = append(rb.kinds[j], kMissing)
			rb.cells[j] = append(rb.cells[j], span{})
		}
	}
	return rb
}

func (p *jsonlParser) split(c *chunk) ([]*rawBatch, error) {
	data := c.data
	checkUTF8 := !utf8.Valid(data)
	var out []*rawBatch
	jb := p.newBatch(data, c.buf)
	line := c.line
	for pos := 0; pos < len(data); line++ {
		eol := bytes.IndexByte(data[pos:], '\n')
		end := len(data)
		next := len(data)
		if eol >= 0 {
			end = pos + eol
			next = end + 1
		} else if c.truncated {
			return nil, lineErr(p.name, line, "", "line longer than the limit of %d bytes", p.maxRec)
		}
		l := data[pos:end]
		if checkUTF8 && !utf8.Valid(l) {
			return nil, lineErr(p.name, line, "", "invalid UTF-8")
		}
		i := skipWS(l, 0)
		if i == len(l) {
			pos = next
			continue
		}
		if jb.rows == p.batchRows || jb.cells >= maxBatchCells {
			out = append(out, jb.finish())
			jb = p.newBatch(data, c.buf)
		}
		if err := p.object(l, i, pos, jb, line); err != nil {
			return nil, err
		}
		jb.rb.lines = append(jb.rb.lines, line)
		jb.rows++
		pos = next
	}
	if jb.rows > 0 {
		out = append(out, jb.finish())
	}
	c.buf.hold(len(out))
	return out, nil
}

// object parses the JSON object starting at l[i] into row jb.rows. base is
// the offset of l in the chunk, for the cell spans.
func (p *jsonlParser) object(l []byte, i, base int, jb *jsonBatch, line int64) error {
	fail := func(col, format string, args ...any) error {
		return lineErr(p.name, line, col, format, args...)
	}
	if l[i] != '{' {
		return fail("", "expected a JSON object, found %s", describe(l, i))
	}
	i = skipWS(l, i+1)
	if i < len(l) && l[i] == '}' {
		return p.trailer(l, i+1, line)
	}
	for {
		if i >= len(l) || l[i] != '"' {
			return fail("", "expected a key string, found %s", describe(l, i))
		}
		ks, ke, ni, err := unquoteInPlace(l, i)
		if err != nil {
			return fail("", "invalid key: %v", err)
		}
		key := l[ks:ke]
		i = skipWS(l, ni)
		if i >= len(l) || l[i] != ':' {
			return fail(string(key), "expected ':' after the key, found %s", describe(l, i))
		}
		i = skipWS(l, i+1)
		j := jb.column(key)
		kind, vs, ve, ni, err := p.value(l, i)
		if err != nil {
			return fail(jb.rb.names[j], "%v", err)
		}
		if !jb.set(j, kind, span{uint32(base + vs), uint32(base + ve)}) {
			return fail(jb.rb.names[j], "duplicate key")
		}
		i = skipWS(l, ni)
		if i < len(l) && l[i] == ',' {
			i = skipWS(l, i+1)
			continue
		}
		if i < len(l) && l[i] == '}' {
			return p.trailer(l, i+1, line)
		}
		return fail("", "expected ',' or '}' after the value of %q, found %s", jb.rb.names[j], describe(l, i))
	}
}

func (p *jsonlParser) trailer(l []byte, i int, line int64) error {
	if i = skipWS(l, i); i < len(l) {
		return lineErr(p.name, line, "", "unexpected %s after the object (one object per line)", describe(l, i))
	}
	return nil
}

// value parses one value at l[i]: its kind, the span of its text (the
// unescaped content for strings, the compact text for nested values) and
// the index after it.
func (p *jsonlParser) value(l []byte, i int) (kind uint8, start, end, next int, err error) {
	if i >= len(l) {
		return 0, 0, 0, 0, fmt.Errorf("missing value")
	}
	switch c := l[i]; {
	case c == '"':
		s, e, n, err := unquoteInPlace(l, i)
		if err != nil {
			return 0, 0, 0, 0, err
		}
		k := kString
		if e-s >= 10 && l[s+4] == '-' {
			if _, ok := parseTimestamp(l[s:e]); ok {
				k = kTimestamp
			}
		}
		return k, s, e, n, nil
	case c == '-' || c >= '0' && c <= '9':
		n, isInt, err := scanNumber(l, i)
		if err != nil {
			return 0, 0, 0, 0, err
		}
		k := kFloat
		if isInt {
			if _, ok := parseInt(l[i:n]); ok {
				k = kInt
			}
		}
		return k, i, n, n, nil
	case c == '{' || c == '[':
		n, w, err := compactInPlace(l, i, i, 0)
		if err != nil {
			return 0, 0, 0, 0, err
		}
		return kNested, i, w, n, nil
	case bytes.HasPrefix(l[i:], []byte("true")):
		return kBool, i, i + 4, i + 4, nil
	case bytes.HasPrefix(l[i:], []byte("false")):
		return kBool, i, i + 5, i + 5, nil
	case bytes.HasPrefix(l[i:], []byte("null")):
		return kNull, i, i, i + 4, nil
	}
	return 0, 0, 0, 0, fmt.Errorf("invalid value starting with %s", describe(l, i))
}

func skipWS(l []byte, i int) int {
	for i < len(l) && (l[i] == ' ' || l[i] == '\t' || l[i] == '\r' || l[i] == '\n') {
		i++
	}
	return i
}

// describe names the byte at l[i] for an error message.
func describe(l []byte, i int) string {
	if i >= len(l) {
		return "end of line"
	}
	r, _ := utf8.DecodeRune(l[i:])
	return fmt.Sprintf("%q", r)
}

// scanNumber validates a JSON number at l[i] and returns the index after
// it and whether it is an integer literal.
func scanNumber(l []byte, i int) (int, bool, error) {
	start := i
	isInt := true
	if i < len(l) && l[i] == '-' {
		i++
	}
	switch {
	case i < len(l) && l[i] == '0':
		i++
	case i < len(l) && l[i] >= '1' && l[i] <= '9':
		for i < len(l) && l[i] >= '0' && l[i] <= '9' {
			i++
		}
	default:
		return 0, false, fmt.Errorf("invalid number %q", l[start:min(i+1, len(l))])
	}
	if i < len(l) && l[i] == '.' {
		isInt = false
		i++
		d := i
		for i < len(l) && l[i] >= '0' && l[i] <= '9' {
			i++
		}
		if i == d {
			return 0, false, fmt.Errorf("invalid number %q", l[start:min(i+1, len(l))])
		}
	}
	if i < len(l) && (l[i] == 'e' || l[i] == 'E') {
		isInt = false
		i++
		if i < len(l) && (l[i] == '+' || l[i] == '-') {
			i++
		}
		d := i
		for i < len(l) && l[i] >= '0' && l[i] <= '9' {
			i++
		}
		if i == d {
			return 0, false, fmt.Errorf("invalid number %q", l[start:min(i+1, len(l))])
		}
	}
	return i, isInt, nil
}

// unquoteInPlace decodes the JSON string starting at l[i] (a quote) into
// the same bytes, which the decoded form never outgrows. It returns the
// decoded content's span and the index after the closing quote.
func unquoteInPlace(l []byte, i int) (start, end, next int, err error) {
	i++
	start = i
	// fast path: no escapes
	for i < len(l) {
		c := l[i]
		if c == '"' {
			return start, i, i + 1, nil
		}
		if c == '\\' {
			break
		}
		if c < 0x20 {
			return 0, 0, 0, fmt.Errorf("control character %q in string", c)
		}
		i++
	}
	w := i
	for i < len(l) {
		c := l[i]
		switch {
		case c == '"':
			return start, w, i + 1, nil
		case c < 0x20:
			return 0, 0, 0, fmt.Errorf("control character %q in string", c)
		case c != '\\':
			l[w] = c
			w++
			i++
			continue
		}
		if i+1 >= len(l) {
			break
		}
		e := l[i+1]
		i += 2
		switch e {
		case '"', '\\', '/':
			l[w] = e
		case 'b':
			l[w] = '\b'
		case 'f':
			l[w] = '\f'
		case 'n':
			l[w] = '\n'
		case 'r':
			l[w] = '\r'
		case 't':
			l[w] = '\t'
		case 'u':
			r, ok := hex4(l, i)
			if !ok {
				return 0, 0, 0, fmt.Errorf("invalid \\u escape")
			}
			i += 4
			if utf16.IsSurrogate(r) {
				r2, ok := rune(0), false
				if i+6 <= len(l) && l[i] == '\\' && l[i+1] == 'u' {
					r2, ok = hex4(l, i+2)
				}
				if dec := utf16.DecodeRune(r, r2); ok && dec != utf8.RuneError {
					r = dec
					i += 6
				} else {
					r = utf8.RuneError
				}
			}
			w += utf8.EncodeRune(l[w:], r)
			continue
		default:
			return 0, 0, 0, fmt.Errorf("invalid escape \\%c", e)
		}
		w++
	}
	return 0, 0, 0, fmt.Errorf("string is not closed")
}

func hex4(l []byte, i int) (rune, bool) {
	if i+4 > len(l) {
		return 0, false
	}
	var r rune
	for _, c := range l[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// compactInPlace validates the JSON value at l[i] and copies it to l[w:]
// without insignificant whitespace (strings verbatim). It returns the read
// and write indexes after the value.
func compactInPlace(l []byte, i, w, depth int) (int, int, error) {
	if depth > maxJSONDepth {
		return 0, 0, fmt.Errorf("nested deeper than %d levels", maxJSONDepth)
	}
	i = skipWS(l, i)
	if i >= len(l) {
		return 0, 0, fmt.Errorf("missing value")
	}
	put := func(from, to int) {
		w += copy(l[w:], l[from:to])
	}
	switch c := l[i]; {
	case c == '{' || c == '[':
		closer := byte('}')
		if c == '[' {
			closer = ']'
		}
		put(i, i+1)
		i = skipWS(l, i+1)
		if i < len(l) && l[i] == closer {
			put(i, i+1)
			return i + 1, w, nil
		}
		for {
			if c == '{' {
				if i >= len(l) || l[i] != '"' {
					return 0, 0, fmt.Errorf("expected a key string, found %s", describe(l, i))
				}
				n, err := skipString(l, i)
				if err != nil {
					return 0, 0, err
				}
				put(i, n)
				i = skipWS(l, n)
				if i >= len(l) || l[i] != ':' {
					return 0, 0, fmt.Errorf("expected ':', found %s", describe(l, i))
				}
				put(i, i+1)
				i++
			}
			var err error
			i, w, err = compactInPlace(l, i, w, depth+1)
			if err != nil {
				return 0, 0, err
			}
			i = skipWS(l, i)
			if i < len(l) && l[i] == ',' {
				put(i, i+1)
				i = skipWS(l, i+1)
				continue
			}
			if i < len(l) && l[i] == closer {
				put(i, i+1)
				return i + 1, w, nil
			}
			return 0, 0, fmt.Errorf("expected ',' or %q, found %s", closer, describe(l, i))
		}
	case c == '"':
		n, err := skipString(l, i)
		if err != nil {
			return 0, 0, err
		}
		put(i, n)
		return n, w, nil
	case c == '-' || c >= '0' && c <= '9':
		n, _, err := scanNumber(l, i)
		if err != nil {
			return 0, 0, err
		}
		put(i, n)
		return n, w, nil
	case bytes.HasPrefix(l[i:], []byte("true")):
		put(i, i+4)
		return i + 4, w, nil
	case bytes.HasPrefix(l[i:], []byte("false")):
		put(i, i+5)
		return i + 5, w, nil
	case bytes.HasPrefix(l[i:], []byte("null")):
		put(i, i+4)
		return i + 4, w, nil
	}
	return 0, 0, fmt.Errorf("invalid value starting with %s", describe(l, i))
}

// skipString validates the JSON string at l[i] and returns the index after it.
func skipString(l []byte, i int) (int, error) {
	for i++; i < len(l); i++ {
		switch c := l[i]; {
		case c == '"':
			return i + 1, nil
		case c < 0x20:
			return 0, fmt.Errorf("control character %q in string", c)
		case c == '\\':
			if i+1 >= len(l) {
				return 0, fmt.Errorf("string is not closed")
			}
			switch l[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i++
			case 'u':
				if _, ok := hex4(l, i+2); !ok {
					return 0, fmt.Errorf("invalid \\u escape")
				}
				i += 5
			default:
				return 0, fmt.Errorf("invalid escape \\%c", l[i+1])
			}
		}
	}
	return 0, fmt.Errorf("string is not closed")
}

// convert implements textParser for JSON cells: the kind says what each
// cell holds, so the target type only decides the representation.
func (p *jsonlParser) convert(rb *rawBatch, j int, t Type) Type {
	kinds, cells, data, col := rb.kinds[j], rb.cells[j], rb.data, rb.cols[j]
retry:
	if t == TypeString {
		col.typ, col.n, col.nullCount = TypeString, rb.n, 0
		col.buf, col.spans = data, cells
		col.nulls = grow(col.nulls, rb.n)
		for i, k := range kinds {
			isNull := k <= kNull
			col.nulls[i] = isNull
			if isNull {
				col.nullCount++
			}
		}
		return t
	}
	col.reset(t, rb.n)
	for i, k := range kinds {
		if k <= kNull {
			col.setNull(i)
			continue
		}
		if w := Join(t, kindType(k)); w != t {
			t = w
			goto retry
		}
		b := data[cells[i].off:cells[i].end]
		switch t {
		case TypeInt:
			col.ints[i], _ = parseInt(b)
		case TypeFloat:
			col.floats[i], _ = parseFloat(b)
		case TypeBool:
			col.bools[i] = b[0] == 't'
		case TypeTimestamp:
			col.ints[i], _ = parseTimestamp(b)
		}
	}
	return t
}
