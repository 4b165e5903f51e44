// Package filter parses MLflow's search filter and order_by strings, as used
// by the tracking searches (runs, experiments, logged models) and the registry
// searches (registered models, model versions).
//
// A filter is one or more conditions joined by AND:
//
//	metrics.acc > 0.9 AND params.optimizer = 'adam' AND tags.`my key` LIKE 'x%'
//	attributes.run_id IN ('a', 'b') AND tags.team IS NOT NULL
//
// The parser only parses: which keys, operators and value types an entity
// accepts is for the caller to check. Every error is an errs.Invalid whose
// message names the offending token and its byte offset in the input.
package filter

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/mlcycle/mlcycle/internal/errs"
)

// Clause is one condition of a filter.
type Clause struct {
	Entity string   // "metric", "param", "tag", "attribute" or "dataset"
	Key    string   // unquoted key
	Op     string   // =, !=, >, >=, <, <=, LIKE, ILIKE, IN, NOT IN, IS NULL, IS NOT NULL
	Str    string   // string value; empty when IsNum or for IN and IS [NOT] NULL
	Num    float64  // numeric value, when IsNum
	IsNum  bool     // the value was a number
	List   []string // IN / NOT IN values (never nil for those operators); numbers kept as written
	Pos    int      // byte offset of the clause in the input
}

// Options says how a caller's search reads its filter.
type Options struct {
	// DefaultEntity is the entity of a key without an "entity." prefix; ""
	// means the prefix is required. Registry searches use "attribute" (name
	// LIKE 'x%'), with tags as tags.`k`.
	DefaultEntity string
}

// Order is one parsed order_by entry.
type Order struct {
	Entity string
	Key    string
	Desc   bool
	Pos    int
}

// entities maps every accepted prefix (lower case) to its normal name.
var entities = map[string]string{
	"metric": "metric", "metrics": "metric",
	"param": "param", "params": "param", "parameter": "param", "parameters": "param",
	"tag": "tag", "tags": "tag",
	"attribute": "attribute", "attributes": "attribute", "attr": "attribute", "run": "attribute",
	"dataset": "dataset", "datasets": "dataset",
}

const (
	entityList   = "metrics, params, tags, attributes or datasets"
	operatorList = "one of =, !=, >, >=, <, <=, LIKE, ILIKE, IN, NOT IN, IS NULL, IS NOT NULL"
	valueHint    = "a value (a quoted string like 'x' or a number)"
)

// Parse parses a filter string into its AND-ed clauses. An empty or blank
// filter gives no clauses.
func Parse(s string, o Options) ([]Clause, error) {
	p := &parser{src: s, what: "filter"}
	def, err := defaultEntity(o)
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.eof() {
		return nil, nil
	}
	var out []Clause
	for {
		c, err := p.clause(def)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
		p.skipSpace()
		if p.eof() {
			return out, nil
		}
		pos := p.pos
		switch w := p.run(); strings.ToUpper(w) {
		case "AND":
			p.skipSpace()
			if p.eof() {
				return nil, p.fail(p.pos, "a condition after AND", "unexpected end of filter")
			}
		case "OR":
			return nil, p.fail(pos, "AND (OR is not supported: run one search per alternative)", "unexpected OR")
		default:
			return nil, p.unexpected(pos, "AND or the end of the filter")
		}
	}
}

// ParseOrderBy parses one order_by entry: a key, optionally followed by ASC
// or DESC (ascending by default).
func ParseOrderBy(s string, o Options) (Order, error) {
	p := &parser{src: s, what: "order_by"}
	def, err := defaultEntity(o)
	if err != nil {
		return Order{}, err
	}
	p.skipSpace()
	start := p.pos
	entity, key, err := p.ident(def)
	if err != nil {
		return Order{}, err
	}
	ord := Order{Entity: entity, Key: key, Pos: start}
	p.skipSpace()
	if p.eof() {
		return ord, nil
	}
	pos := p.pos
	switch strings.ToUpper(p.run()) {
	case "ASC":
	case "DESC":
		ord.Desc = true
	default:
		return Order{}, p.unexpected(pos, "ASC, DESC or the end of the order_by")
	}
	p.skipSpace()
	if !p.eof() {
		return Order{}, p.unexpected(p.pos, "the end of the order_by")
	}
	return ord, nil
}

func defaultEntity(o Options) (string, error) {
	if o.DefaultEntity == "" {
		return "", nil
	}
	e, ok := entities[strings.ToLower(o.DefaultEntity)]
	if !ok {
		return "", fmt.Errorf("filter: unknown default entity %q", o.DefaultEntity)
	}
	return e, nil
}

type parser struct {
	src  string
	pos  int
	what string // "filter" or "order_by", for messages
}

func (p *parser) eof() bool { return p.pos >= len(p.src) }

func (p *parser) peek() byte {
	if p.eof() {
		return 0
	}
	return p.src[p.pos]
}

func (p *parser) skipSpace() {
	for !p.eof() {
		switch p.src[p.pos] {
		case ' ', '\t', '\n', '\r', '\f', '\v':
			p.pos++
		default:
			return
		}
	}
}

// isKeyRune reports whether r may appear in an unquoted key or keyword.
func isKeyRune(r rune) bool {
	return r == '_' || r == '.' || r == '-' || r == '/' || r == ':' ||
		(r != utf8.RuneError && (unicode.IsLetter(r) || unicode.IsDigit(r)))
}

// run consumes and returns the unquoted word at the cursor (maybe empty).
func (p *parser) run() string {
	start := p.pos
	for !p.eof() {
		r, n := utf8.DecodeRuneInString(p.src[p.pos:])
		if !isKeyRune(r) {
			break
		}
		p.pos += n
	}
	return p.src[start:p.pos]
}

func isOpByte(c byte) bool { return c == '<' || c == '>' || c == '=' || c == '!' }

func (p *parser) clause(def string) (Clause, error) {
	c := Clause{Pos: p.pos}
	var err error
	if c.Entity, c.Key, err = p.ident(def); err != nil {
		return Clause{}, err
	}
	p.skipSpace()
	if c.Op, err = p.operator(); err != nil {
		return Clause{}, err
	}
	switch c.Op {
	case "IS NULL", "IS NOT NULL":
		return c, nil
	case "IN", "NOT IN":
		c.List, err = p.list()
		return c, err
	}
	p.skipSpace()
	pos := p.pos
	switch ch := p.peek(); {
	case ch == '\'' || ch == '"':
		c.Str, err = p.quoted()
	case ch == '(':
		err = p.fail(pos, "a single value", "a list is only allowed after IN or NOT IN, got \"(\"")
	case c.Op == "LIKE" || c.Op == "ILIKE":
		err = p.unexpected(pos, "a quoted pattern like 'x%'")
	case ch == '+' || ch == '-' || ch == '.' || (ch >= '0' && ch <= '9'):
		var text string
		if text, err = p.number(); err == nil {
			c.Num, c.IsNum = mustFloat(text), true
		}
	default:
		err = p.unexpected(pos, valueHint)
	}
	return c, err
}

// ident parses a possibly prefixed key: entity.key, entity.`key`,
// entity."key", `entity`.key, or a bare key when def is set.
func (p *parser) ident(def string) (entity, key string, err error) {
	start := p.pos
	switch p.peek() {
	case '`', '"':
		q, err := p.quoted()
		if err != nil {
			return "", "", err
		}
		if p.peek() == '.' {
			e, ok := entities[strings.ToLower(q)]
			if !ok {
				return "", "", p.fail(start, entityList, "unknown entity %q", q)
			}
			p.pos++
			key, err := p.keyAfterDot()
			return e, key, err
		}
		if q == "" {
			return "", "", p.fail(start, "a key", "empty key")
		}
		if def == "" {
			return "", "", p.fail(start, "an entity prefix such as metrics.`"+q+"` or tags.`"+q+"`", "missing entity prefix before %q", q)
		}
		return def, q, nil
	}
	w := p.run()
	if w == "" {
		return "", "", p.unexpected(start, "a key")
	}
	dot := strings.IndexByte(w, '.')
	if dot < 0 {
		if u := strings.ToUpper(w); u == "AND" || u == "OR" {
			return "", "", p.fail(start, "a condition", "unexpected %s", u)
		}
		if def == "" {
			return "", "", p.fail(start, "an entity prefix such as metrics."+w+", params."+w+" or tags."+w, "missing entity prefix before %q", w)
		}
		return def, w, nil
	}
	e, ok := entities[strings.ToLower(w[:dot])]
	if !ok {
		return "", "", p.fail(start, entityList+" (quote a key that contains dots: `"+w+"`)", "unknown entity %q", w[:dot])
	}
	if dot == len(w)-1 {
		// "entity." followed by a quoted key, or nothing.
		p.pos = start + dot + 1
		key, err := p.keyAfterDot()
		return e, key, err
	}
	return e, w[dot+1:], nil
}

// keyAfterDot parses the key that follows "entity.".
func (p *parser) keyAfterDot() (string, error) {
	pos := p.pos
	var key string
	switch p.peek() {
	case '`', '"':
		var err error
		if key, err = p.quoted(); err != nil {
			return "", err
		}
	default:
		key = p.run()
	}
	if key == "" {
		return "", p.fail(pos, "a key after the entity prefix", "empty key")
	}
	return key, nil
}

func (p *parser) operator() (string, error) {
	pos := p.pos
	if p.eof() {
		return "", p.unexpected(pos, operatorList)
	}
	if isOpByte(p.src[pos]) {
		for !p.eof() && isOpByte(p.src[p.pos]) {
			p.pos++
		}
		switch op := p.src[pos:p.pos]; op {
		case "=", "!=", ">", ">=", "<", "<=":
			return op, nil
		default:
			return "", p.fail(pos, operatorList, "unknown operator %q", op)
		}
	}
	w := p.run()
	switch u := strings.ToUpper(w); u {
	case "LIKE", "ILIKE", "IN":
		return u, nil
	case "NOT":
		p.skipSpace()
		next := p.pos
		if strings.ToUpper(p.run()) == "IN" {
			return "NOT IN", nil
		}
		return "", p.unexpected(next, "IN after NOT")
	case "IS":
		p.skipSpace()
		next := p.pos
		switch strings.ToUpper(p.run()) {
		case "NULL":
			return "IS NULL", nil
		case "NOT":
			p.skipSpace()
			next = p.pos
			if strings.ToUpper(p.run()) == "NULL" {
				return "IS NOT NULL", nil
			}
			return "", p.unexpected(next, "NULL after IS NOT")
		}
		return "", p.unexpected(next, "NULL or NOT NULL after IS")
	case "":
		return "", p.unexpected(pos, operatorList)
	default:
		return "", p.fail(pos, operatorList, "unknown operator %q", w)
	}
}

// list parses the parenthesised values of IN / NOT IN: ('a', "b", 3).
func (p *parser) list() ([]string, error) {
	p.skipSpace()
	if p.peek() != '(' {
		return nil, p.unexpected(p.pos, "a parenthesised list like ('a', 'b')")
	}
	p.pos++
	out := []string{}
	p.skipSpace()
	if p.peek() == ')' {
		p.pos++
		return out, nil
	}
	for {
		p.skipSpace()
		pos := p.pos
		var v string
		var err error
		switch ch := p.peek(); {
		case ch == '\'' || ch == '"':
			v, err = p.quoted()
		case ch == '+' || ch == '-' || ch == '.' || (ch >= '0' && ch <= '9'):
			v, err = p.number()
		default:
			err = p.unexpected(pos, valueHint)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, v)
		p.skipSpace()
		switch p.peek() {
		case ',':
			p.pos++
		case ')':
			p.pos++
			return out, nil
		default:
			return nil, p.unexpected(p.pos, "\",\" or \")\"")
		}
	}
}

// quoted parses a string in ', " or ` quotes and returns its content. Inside,
// a backslash escapes the quote character or another backslash, and a
// doubled quote stands for one; any other backslash is kept as written, so
// LIKE patterns and Windows paths need no escaping.
func (p *parser) quoted() (string, error) {
	start := p.pos
	q := p.src[start]
	p.pos++
	var b strings.Builder
	for {
		if p.eof() {
			return "", p.fail(start, "a closing "+string(q), "unterminated %s", quoteName(q))
		}
		c := p.src[p.pos]
		switch {
		case c == '\\' && p.pos+1 < len(p.src) && (p.src[p.pos+1] == q || p.src[p.pos+1] == '\\'):
			b.WriteByte(p.src[p.pos+1])
			p.pos += 2
		case c == q && p.pos+1 < len(p.src) && p.src[p.pos+1] == q:
			b.WriteByte(q)
			p.pos += 2
		case c == q:
			p.pos++
			return b.String(), nil
		default:
			b.WriteByte(c)
			p.pos++
		}
	}
}

func quoteName(q byte) string {
	switch q {
	case '`':
		return "backtick-quoted key"
	case '"':
		return "double-quoted string"
	}
	return "single-quoted string"
}

// number scans a decimal number: an optional sign, digits with an optional
// fraction, and an optional exponent. It returns the text as written.
func (p *parser) number() (string, error) {
	start := p.pos
	i := start
	digits := func() int {
		n := 0
		for i < len(p.src) && p.src[i] >= '0' && p.src[i] <= '9' {
			i++
			n++
		}
		return n
	}
	if p.src[i] == '+' || p.src[i] == '-' {
		i++
	}
	n := digits()
	if i < len(p.src) && p.src[i] == '.' {
		i++
		n += digits()
	}
	ok := n > 0
	if ok && i < len(p.src) && (p.src[i] == 'e' || p.src[i] == 'E') {
		i++
		if i < len(p.src) && (p.src[i] == '+' || p.src[i] == '-') {
			i++
		}
		ok = digits() > 0
	}
	if ok && i < len(p.src) {
		r, _ := utf8.DecodeRuneInString(p.src[i:])
		ok = !isKeyRune(r) && r != '+'
	}
	if !ok {
		// Report the whole malformed word, e.g. "1.2.3" or "1e".
		p.pos = i
		for !p.eof() {
			r, n := utf8.DecodeRuneInString(p.src[p.pos:])
			if !isKeyRune(r) && r != '+' {
				break
			}
			p.pos += n
		}
		if p.pos == start {
			p.pos = start + 1
		}
		return "", p.fail(start, valueHint, "invalid number %q", p.src[start:p.pos])
	}
	text := p.src[start:i]
	if _, err := strconv.ParseFloat(text, 64); err != nil {
		return "", p.fail(start, "a number within the range of a float64", "number %q out of range", text)
	}
	p.pos = i
	return text, nil
}

// mustFloat converts text that number already validated.
func mustFloat(text string) float64 {
	f, _ := strconv.ParseFloat(text, 64)
	return f
}

// fail builds the error for a problem at byte offset pos.
func (p *parser) fail(pos int, expected, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...) + " at position " + strconv.Itoa(pos)
	if expected != "" {
		msg += "; expected " + expected
	}
	return errs.E(errs.Invalid, "invalid %s %s: %s", p.what, clipQuote(p.src, 200), msg)
}

// unexpected reports the token at pos.
func (p *parser) unexpected(pos int, expected string) error {
	if pos >= len(p.src) {
		return p.fail(pos, expected, "unexpected end of %s", p.what)
	}
	return p.fail(pos, expected, "unexpected %s", clipQuote(tokenAt(p.src, pos), 40))
}

// tokenAt returns the text of the token starting at pos, for messages.
func tokenAt(s string, pos int) string {
	r, n := utf8.DecodeRuneInString(s[pos:])
	end := pos + n
	switch {
	case isKeyRune(r):
		for end < len(s) {
			r, n := utf8.DecodeRuneInString(s[end:])
			if !isKeyRune(r) {
				break
			}
			end += n
		}
	case isOpByte(s[pos]):
		for end < len(s) && isOpByte(s[end]) {
			end++
		}
	case r == '\'' || r == '"' || r == '`':
		if i := strings.IndexRune(s[end:], r); i >= 0 {
			end += i + 1
		} else {
			end = len(s)
		}
	}
	return s[pos:end]
}

// clipQuote quotes s for a message, shortened to about max bytes.
func clipQuote(s string, max int) string {
	if len(s) <= max {
		return strconv.Quote(s)
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strconv.Quote(s[:cut]) + "..."
}

// String renders the clause in a canonical form that Parse reads back to an
// equal clause (apart from Pos).
func (c Clause) String() string {
	var b strings.Builder
	b.WriteString(renderKey(c.Entity, c.Key))
	b.WriteByte(' ')
	b.WriteString(c.Op)
	switch c.Op {
	case "IS NULL", "IS NOT NULL":
	case "IN", "NOT IN":
		b.WriteString(" (")
		for i, v := range c.List {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(quoteValue(v))
		}
		b.WriteByte(')')
	default:
		b.WriteByte(' ')
		if c.IsNum {
			b.WriteString(strconv.FormatFloat(c.Num, 'g', -1, 64))
		} else {
			b.WriteString(quoteValue(c.Str))
		}
	}
	return b.String()
}

// String renders the order entry in a canonical form ParseOrderBy reads back.
func (o Order) String() string {
	if o.Desc {
		return renderKey(o.Entity, o.Key) + " DESC"
	}
	return renderKey(o.Entity, o.Key) + " ASC"
}

func renderKey(entity, key string) string {
	plain := key != ""
	for _, r := range key {
		if !isKeyRune(r) {
			plain = false
			break
		}
	}
	if !plain {
		key = "`" + escape(key, '`') + "`"
	}
	if entity == "" {
		return key
	}
	return entity + "." + key
}

func quoteValue(v string) string { return "'" + escape(v, '\'') + "'" }

// escape backslash-escapes backslashes and the quote character q.
func escape(s string, q byte) string {
	if !strings.ContainsAny(s, `\`+string(q)) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' || s[i] == q {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
