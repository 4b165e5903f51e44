package validate

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"cel.dev/cel-go/cel"
	"go.yaml.in/yaml/v3"

	"github.com/mlcycle/mlcycle/internal/errs"
)

// Limits on a rules file, so that a hostile one cannot exhaust the server.
const (
	MaxRulesSize   = 1 << 20 // bytes of YAML
	MaxExpressions = 200
	MaxExprLength  = 4096 // characters of one CEL expression
)

// Column types a rules file may name; the same names frame uses.
const (
	TypeInt       = "int"
	TypeFloat     = "float"
	TypeBool      = "bool"
	TypeString    = "string"
	TypeTimestamp = "timestamp"
)

var typeNames = []string{TypeInt, TypeFloat, TypeBool, TypeString, TypeTimestamp}

// Rules is a parsed and compiled rules file. It is immutable and safe for
// concurrent use.
type Rules struct {
	source   string // file name, for messages
	dir      string // directory the files glob is relative to
	rowsMin  int64
	rowsMax  int64
	hasMin   bool
	hasMax   bool
	columns  []*columnRule
	required []string // from required_columns, not also in columns
	exprs    []*exprRule
	files    string
}

type columnRule struct {
	name     string
	typ      string // "" when not declared
	notNull  bool
	unique   bool
	optional bool
	min, max *bound
	allowed  []any    // as decoded from YAML: int64, float64, bool, string, time.Time
	allowedT []string // as written, for messages
	regex    *regexp.Regexp
}

// bound is a min or max: a number, or a timestamp for timestamp columns.
type bound struct {
	text   string // as written, for messages
	isTime bool
	t      time.Time
	isInt  bool
	i      int64
	f      float64
}

type exprRule struct {
	name   string
	src    string
	parsed *cel.Ast // checked again against each file's columns
	idents []string // identifiers the expression refers to
}

// Load reads and compiles the rules file at path. Every problem is an
// errs.Invalid that names the file, the line and the key.
func Load(path string) (*Rules, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, errs.Wrap(errs.Invalid, err, "reading rules file %s", path)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxRulesSize+1))
	if err != nil {
		return nil, errs.Wrap(errs.Invalid, err, "reading rules file %s", path)
	}
	return Parse(b, path)
}

// Parse compiles a rules file held in memory; name is used in messages and
// its directory anchors the files glob.
func Parse(b []byte, name string) (*Rules, error) {
	if len(b) > MaxRulesSize {
		return nil, errs.E(errs.Invalid, "%s: rules file is larger than %d bytes", name, MaxRulesSize)
	}
	root, err := decodeYAML(b, name)
	if err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(filepath.Dir(name))
	if err != nil {
		return nil, fmt.Errorf("resolving rules directory: %w", err)
	}
	p := &parser{name: name}
	r := &Rules{source: name, dir: dir}
	if err := p.rules(root, r); err != nil {
		return nil, err
	}
	return r, nil
}

// decodeYAML returns the single document's root node.
func decodeYAML(b []byte, name string) (root *yaml.Node, err error) {
	defer func() {
		// The YAML parser has panicked on malformed input in the past; a
		// rules file must never take the server down.
		if v := recover(); v != nil {
			root, err = nil, errs.E(errs.Invalid, "%s: malformed YAML", name)
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errs.E(errs.Invalid, "%s: rules file is empty", name)
		}
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		if m := yamlLine.FindStringSubmatch(msg); m != nil {
			return nil, errs.E(errs.Invalid, "%s:%s: %s", name, m[1], m[2])
		}
		return nil, errs.E(errs.Invalid, "%s: %s", name, msg)
	}
	var next yaml.Node
	if err := dec.Decode(&next); !errors.Is(err, io.EOF) {
		return nil, errs.E(errs.Invalid, "%s: more than one YAML document", name)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return nil, errs.E(errs.Invalid, "%s: rules file is empty", name)
	}
	return doc.Content[0], nil
}

// yamlLine picks the line out of the YAML parser's "line 3: ..." messages.
var yamlLine = regexp.MustCompile(`^line (\d+): (.*)$`)

type parser struct{ name string }

// errf builds an errs.Invalid located at n: "rules.yaml:7: columns.age.max: ...".
func (p *parser) errf(n *yaml.Node, key, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if key != "" {
		msg = key + ": " + msg
	}
	return errs.E(errs.Invalid, "%s:%d: %s", p.name, n.Line, msg)
}

// node rejects aliases: following them could expand a small file into a
// huge tree, and rules files have no need for them.
func (p *parser) node(n *yaml.Node, key string) error {
	if n.Kind == yaml.AliasNode {
		return p.errf(n, key, "YAML aliases are not supported")
	}
	return nil
}

// mapping calls fn for each key of the mapping n, rejecting keys outside
// allowed (when allowed is not nil) and duplicate keys.
func (p *parser) mapping(n *yaml.Node, key string, allowed []string, fn func(k string, kn, v *yaml.Node) error) error {
	if err := p.node(n, key); err != nil {
		return err
	}
	if n.Kind != yaml.MappingNode {
		return p.errf(n, key, "want a mapping, got %s", describe(n))
	}
	seen := make(map[string]bool, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, v := n.Content[i], n.Content[i+1]
		if err := p.node(kn, key); err != nil {
			return err
		}
		if kn.Kind != yaml.ScalarNode || kn.ShortTag() == "!!null" {
			return p.errf(kn, key, "keys must be plain names, got %s", describe(kn))
		}
		k := kn.Value
		where := join(key, k)
		if allowed != nil && !slices.Contains(allowed, k) {
			return p.errf(kn, key, "unknown key %q (known keys: %s)", k, strings.Join(allowed, ", "))
		}
		if seen[k] {
			return p.errf(kn, key, "duplicate key %q", k)
		}
		seen[k] = true
		if err := p.node(v, where); err != nil {
			return err
		}
		if err := fn(k, kn, v); err != nil {
			return err
		}
	}
	return nil
}

func join(a, b string) string {
	if a == "" {
		return b
	}
	return a + "." + b
}

// describe names the kind of a node for messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return "null"
		case "!!str":
			return strconv.Quote(n.Value)
		default:
			return n.Value
		}
	}
	return "an unsupported YAML node"
}

// text returns a non-null scalar's text: names, expressions and patterns may
// be written without quotes whatever YAML would type them as.
func (p *parser) text(n *yaml.Node, key string) (string, error) {
	if n.Kind != yaml.ScalarNode || n.ShortTag() == "!!null" {
		return "", p.errf(n, key, "want a string, got %s", describe(n))
	}
	return n.Value, nil
}

func (p *parser) boolean(n *yaml.Node, key string) (bool, error) {
	var b bool
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" || n.Decode(&b) != nil {
		return false, p.errf(n, key, "want true or false, got %s", describe(n))
	}
	return b, nil
}

func (p *parser) integer(n *yaml.Node, key string) (int64, error) {
	var i int64
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&i) != nil {
		return 0, p.errf(n, key, "want an integer, got %s", describe(n))
	}
	return i, nil
}

func (p *parser) rules(root *yaml.Node, r *Rules) error {
	if root.Kind == yaml.ScalarNode && root.ShortTag() == "!!null" {
		return errs.E(errs.Invalid, "%s: rules file is empty", p.name)
	}
	var reqNode *yaml.Node
	var exprNode *yaml.Node
	err := p.mapping(root, "", []string{"rows", "columns", "required_columns", "expressions", "files"}, func(k string, kn, v *yaml.Node) error {
		switch k {
		case "rows":
			return p.rows(v, r)
		case "columns":
			return p.mapping(v, "columns", nil, func(name string, kn, v *yaml.Node) error {
				if name == "" {
					return p.errf(kn, "columns", "empty column name")
				}
				c, err := p.column(v, name)
				if err != nil {
					return err
				}
				r.columns = append(r.columns, c)
				return nil
			})
		case "required_columns":
			reqNode = v
			return nil
		case "expressions":
			exprNode = v
			return nil
		case "files":
			return p.files(v, r)
		}
		return nil
	})
	if err != nil {
		return err
	}
	// Both refer to columns, which may come later in the file.
	if reqNode != nil {
		if err := p.required(reqNode, r); err != nil {
			return err
		}
	}
	if exprNode != nil {
		if err := p.expressions(exprNode, r); err != nil {
			return err
		}
	}
	return nil
}

func (p *parser) rows(n *yaml.Node, r *Rules) error {
	err := p.mapping(n, "rows", []string{"min", "max"}, func(k string, _, v *yaml.Node) error {
		i, err := p.integer(v, "rows."+k)
		if err != nil {
			return err
		}
		if i < 0 {
			return p.errf(v, "rows."+k, "must not be negative, got %d", i)
		}
		if k == "min" {
			r.rowsMin, r.hasMin = i, true
		} else {
			r.rowsMax, r.hasMax = i, true
		}
		return nil
	})
	if err != nil {
		return err
	}
	if r.hasMin && r.hasMax && r.rowsMin > r.rowsMax {
		return p.errf(n, "rows", "min %d is greater than max %d", r.rowsMin, r.rowsMax)
	}
	return nil
}

var columnKeys = []string{"type", "not_null", "min", "max", "allowed", "regex", "unique", "optional"}

func (p *parser) column(n *yaml.Node, name string) (*columnRule, error) {
	key := "columns." + name
	c := &columnRule{name: name}
	var minN, maxN, allowedN *yaml.Node
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return c, nil // "age:" alone: the column must exist
	}
	err := p.mapping(n, key, columnKeys, func(k string, _, v *yaml.Node) error {
		where := key + "." + k
		var err error
		switch k {
		case "type":
			var t string
			if t, err = p.text(v, where); err != nil {
				return err
			}
			if !slices.Contains(typeNames, t) {
				return p.errf(v, where, "unknown type %q (known types: %s)", t, strings.Join(typeNames, ", "))
			}
			c.typ = t
		case "not_null":
			c.notNull, err = p.boolean(v, where)
		case "unique":
			c.unique, err = p.boolean(v, where)
		case "optional":
			c.optional, err = p.boolean(v, where)
		case "min":
			minN = v
		case "max":
			maxN = v
		case "allowed":
			allowedN = v
		case "regex":
			var src string
			if src, err = p.text(v, where); err != nil {
				return err
			}
			re, rerr := regexp.Compile(src)
			if rerr != nil {
				return p.errf(v, where, "invalid regex %q: %s", src, strings.TrimPrefix(rerr.Error(), "error parsing regexp: "))
			}
			c.regex = re
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	// Bounds and allowed values are read once the type is known, whatever
	// the order of the keys.
	if c.min, err = p.bound(minN, key+".min", c.typ); err != nil {
		return nil, err
	}
	if c.max, err = p.bound(maxN, key+".max", c.typ); err != nil {
		return nil, err
	}
	if c.min != nil && c.max != nil && c.min.isTime != c.max.isTime {
		return nil, p.errf(maxN, key, "min and max must both be numbers or both be timestamps")
	}
	if c.min != nil && c.max != nil && compareBounds(c.min, c.max) > 0 {
		return nil, p.errf(maxN, key, "min %s is greater than max %s", c.min.text, c.max.text)
	}
	if allowedN != nil {
		if err := p.allowed(allowedN, key+".allowed", c); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// bound reads a min or max: a number for int and float columns, a timestamp
// for timestamp columns, either when the type is not declared.
func (p *parser) bound(n *yaml.Node, key, typ string) (*bound, error) {
	if n == nil {
		return nil, nil
	}
	if typ == TypeString || typ == TypeBool {
		return nil, p.errf(n, key, "not supported for %s columns", typ)
	}
	if n.Kind != yaml.ScalarNode {
		return nil, p.errf(n, key, "want a number or a timestamp, got %s", describe(n))
	}
	b := &bound{text: n.Value}
	switch n.ShortTag() {
	case "!!int":
		if typ == TypeTimestamp {
			break
		}
		if n.Decode(&b.i) == nil {
			b.isInt, b.f = true, float64(b.i)
			return b, nil
		}
		// An integer beyond int64 is still a usable float bound.
		if n.Decode(&b.f) == nil {
			return b, nil
		}
	case "!!float":
		if typ == TypeTimestamp {
			break
		}
		if n.Decode(&b.f) == nil && !math.IsNaN(b.f) {
			return b, nil
		}
	case "!!str", "!!timestamp":
		if typ == TypeInt || typ == TypeFloat {
			break
		}
		if t, ok := parseTime(n.Value); ok {
			b.isTime, b.t = true, t
			return b, nil
		}
	}
	switch typ {
	case TypeTimestamp:
		return nil, p.errf(n, key, "want a timestamp (RFC 3339 or YYYY-MM-DD), got %s", describe(n))
	case TypeInt, TypeFloat:
		return nil, p.errf(n, key, "want a number, got %s", describe(n))
	}
	return nil, p.errf(n, key, "want a number or a timestamp, got %s", describe(n))
}

func compareBounds(a, b *bound) int {
	switch {
	case a.isTime:
		return a.t.Compare(b.t)
	case a.isInt && b.isInt:
		return cmpOrdered(a.i, b.i)
	default:
		return cmpOrdered(a.f, b.f)
	}
}

func cmpOrdered[T int64 | float64](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (p *parser) allowed(n *yaml.Node, key string, c *columnRule) error {
	if n.Kind != yaml.SequenceNode {
		return p.errf(n, key, "want a list, got %s", describe(n))
	}
	if len(n.Content) == 0 {
		return p.errf(n, key, "empty list: no value could pass")
	}
	for _, v := range n.Content {
		if err := p.node(v, key); err != nil {
			return err
		}
		if v.Kind != yaml.ScalarNode || v.ShortTag() == "!!null" {
			return p.errf(v, key, "want plain values, got %s (nulls are governed by not_null)", describe(v))
		}
		val, ok := scalarValue(v)
		if !ok {
			return p.errf(v, key, "unsupported value %s", describe(v))
		}
		if c.typ != "" {
			if _, ok := coerce(val, c.typ); !ok {
				return p.errf(v, key, "%s is not of type %s", describe(v), c.typ)
			}
		}
		c.allowed = append(c.allowed, val)
		c.allowedT = append(c.allowedT, v.Value)
	}
	return nil
}

// scalarValue decodes a YAML scalar into one of the value types of a table.
func scalarValue(n *yaml.Node) (any, bool) {
	var v any
	if n.Decode(&v) != nil {
		return nil, false
	}
	switch x := v.(type) {
	case int:
		return int64(x), true
	case int64:
		return x, true
	case uint64:
		return float64(x), true
	case float64:
		return x, true
	case bool, string:
		return x, true
	case time.Time:
		return x.UTC(), true
	}
	return nil, false
}

func (p *parser) required(n *yaml.Node, r *Rules) error {
	const key = "required_columns"
	if n.Kind != yaml.SequenceNode {
		return p.errf(n, key, "want a list of column names, got %s", describe(n))
	}
	seen := map[string]bool{}
	for _, v := range n.Content {
		if err := p.node(v, key); err != nil {
			return err
		}
		name, err := p.text(v, key)
		if err != nil {
			return err
		}
		if seen[name] {
			continue
		}
		seen[name] = true
		if c := r.column(name); c != nil {
			if c.optional {
				return p.errf(v, key, "column %q is also marked optional: true", name)
			}
			continue
		}
		r.required = append(r.required, name)
	}
	return nil
}

func (r *Rules) column(name string) *columnRule {
	for _, c := range r.columns {
		if c.name == name {
			return c
		}
	}
	return nil
}

var exprName = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*$`)

func (p *parser) expressions(n *yaml.Node, r *Rules) error {
	const key = "expressions"
	if n.Kind != yaml.SequenceNode {
		return p.errf(n, key, "want a list of {name, expr}, got %s", describe(n))
	}
	if len(n.Content) > MaxExpressions {
		return p.errf(n, key, "more than %d expressions", MaxExpressions)
	}
	env, err := newEnv(nil)
	if err != nil {
		return fmt.Errorf("building the CEL environment: %w", err)
	}
	seen := map[string]bool{}
	for i, v := range n.Content {
		where := fmt.Sprintf("%s[%d]", key, i)
		var name, src string
		var srcNode *yaml.Node
		err := p.mapping(v, where, []string{"name", "expr"}, func(k string, _, v *yaml.Node) error {
			var err error
			if k == "name" {
				name, err = p.text(v, where+".name")
			} else {
				src, err = p.text(v, where+".expr")
				srcNode = v
			}
			return err
		})
		if err != nil {
			return err
		}
		if name == "" {
			return p.errf(v, where, "missing name")
		}
		if !exprName.MatchString(name) {
			return p.errf(v, where, "name %q may only hold letters, digits, '_', '.' and '-'", name)
		}
		if seen[name] {
			return p.errf(v, where, "duplicate expression name %q", name)
		}
		seen[name] = true
		where = key + "." + name
		if srcNode == nil || strings.TrimSpace(src) == "" {
			return p.errf(v, where, "missing expr")
		}
		if len(src) > MaxExprLength {
			return p.errf(srcNode, where, "expression is longer than %d bytes", MaxExprLength)
		}
		e, msg := compileForRules(env, r, name, src)
		if msg != "" {
			return p.errf(srcNode, where, "%s", msg)
		}
		r.exprs = append(r.exprs, e)
	}
	return nil
}

func (p *parser) files(n *yaml.Node, r *Rules) error {
	pat, err := p.text(n, "files")
	if err != nil {
		return err
	}
	pat = filepath.ToSlash(pat)
	if strings.HasPrefix(pat, "/") || filepath.IsAbs(pat) || slices.Contains(strings.Split(pat, "/"), "..") {
		return p.errf(n, "files", "pattern %q must stay inside the rules file's folder", pat)
	}
	if _, err := path.Match(pat, ""); err != nil {
		return p.errf(n, "files", "bad pattern %q", pat)
	}
	r.files = path.Clean(pat)
	return nil
}

// Applies reports whether the rules cover the table file at p (absolute, or
// relative to the working directory): always when the rules set no files
// glob, otherwise when p's path relative to the rules file's folder matches
// the glob (path.Match: '*' does not cross '/').
func (r *Rules) Applies(p string) bool {
	if r.files == "" {
		return true
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return false
	}
	rel, err := filepath.Rel(r.dir, abs)
	if err != nil {
		return false
	}
	rel = filepath.ToSlash(rel)
	if rel == ".." || strings.HasPrefix(rel, "../") {
		return false
	}
	ok, _ := path.Match(r.files, rel)
	return ok
}

// Matches reports whether the rules cover a file at rel, a slash-separated
// path relative to the root of the tree being checked (a dataset version,
// or a folder given on the command line): always when the rules set no
// files glob.
func (r *Rules) Matches(rel string) bool {
	if r.files == "" {
		return true
	}
	ok, _ := path.Match(r.files, path.Clean(rel))
	return ok
}

// Source returns the name the rules were loaded from.
func (r *Rules) Source() string { return r.source }
