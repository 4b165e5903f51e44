package validate

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"cel.dev/cel-go/cel"
	celast "cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/ext"
	"cel.dev/cel-go/interpreter"
)

// ExprCostLimit is the CEL cost budget of one expression on one row. A row
// check costs tens of units, a regex over a 1 KB string 100 to 1000 by
// pattern; the limit stops runaway expressions, such as nested
// comprehensions. After MaxCostFailures rows over the limit an expression is
// not evaluated on the rest of the file, so a rules file cannot pin a CPU.
const (
	ExprCostLimit   = 100_000
	MaxCostFailures = 10
)

// newEnv builds the CEL environment shared by load-time checking and
// validation: the standard library plus the strings and math extensions, with
// int and double comparable by <, <=, > and >=.
func newEnv(vars []cel.EnvOption) (*cel.Env, error) {
	opts := []cel.EnvOption{
		cel.CrossTypeNumericComparisons(true),
		cel.ParserExpressionSizeLimit(MaxExprLength),
		ext.Strings(),
		ext.Math(),
	}
	return cel.NewEnv(append(opts, vars...)...)
}

// celType is the CEL type of a column variable. Every column is nullable:
// `x != null` always type-checks, and a null used as a number, string, bool
// or timestamp is a runtime error, which fails the row.
func celType(typ string) *cel.Type {
	switch typ {
	case TypeInt:
		return cel.NullableType(cel.IntType)
	case TypeFloat:
		return cel.NullableType(cel.DoubleType)
	case TypeBool:
		return cel.NullableType(cel.BoolType)
	case TypeString:
		return cel.NullableType(cel.StringType)
	case TypeTimestamp:
		return cel.NullableType(cel.TimestampType)
	}
	return cel.DynType
}

var celIdent = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// celReserved are words CEL keeps for itself; columns so named cannot be
// variables.
var celReserved = map[string]bool{
	"true": true, "false": true, "null": true, "in": true, "as": true, "break": true,
	"const": true, "continue": true, "else": true, "for": true, "function": true,
	"if": true, "import": true, "let": true, "loop": true, "package": true,
	"namespace": true, "return": true, "var": true, "void": true, "while": true,
}

// celNamespaces are the prefixes of namespaced functions in the environment;
// they look like identifiers to the parser but are not columns.
var celNamespaces = map[string]bool{"math": true, "strings": true}

// isVariable reports whether a column name can be a CEL variable.
func isVariable(name string) bool {
	return celIdent.MatchString(name) && !celReserved[name] && !celNamespaces[name]
}

// compileForRules parses src and type-checks it against the columns the rules
// declare (with their types; any other identifier is dyn), so that syntax and
// type errors surface when the rules are loaded. The file's own schema is
// applied again at validation time. It returns a message on failure.
func compileForRules(env *cel.Env, r *Rules, name, src string) (*exprRule, string) {
	parsed, iss := env.Parse(src)
	if iss.Err() != nil {
		return nil, issuesMessage(iss)
	}
	idents := identifiers(parsed)
	var vars []cel.EnvOption
	for _, id := range idents {
		typ := ""
		if c := r.column(id); c != nil {
			typ = c.typ
		}
		vars = append(vars, cel.Variable(id, celType(typ)))
	}
	checkEnv, err := env.Extend(vars...)
	if err != nil {
		return nil, err.Error()
	}
	checked, iss := checkEnv.Check(parsed)
	if iss.Err() != nil {
		return nil, issuesMessage(iss)
	}
	if !boolish(checked.OutputType()) {
		return nil, fmt.Sprintf("must evaluate to a bool, not %s", checked.OutputType())
	}
	// Planning with OptOptimize compiles constant regexes, so a bad pattern
	// in matches() is caught now rather than on every file.
	if _, err := checkEnv.Program(checked, cel.EvalOptions(cel.OptOptimize)); err != nil {
		return nil, err.Error()
	}
	return &exprRule{name: name, src: src, idents: idents}, ""
}

// identifiers lists, once each and in order of appearance, the identifiers
// an expression uses that could be columns.
func identifiers(a *cel.Ast) []string {
	var out []string
	seen := map[string]bool{}
	celast.PreOrderVisit(a.NativeRep().Expr(), celast.NewExprVisitor(func(e celast.Expr) {
		if e.Kind() != celast.IdentKind {
			return
		}
		id := e.AsIdent()
		if seen[id] || !isVariable(id) {
			return
		}
		seen[id] = true
		out = append(out, id)
	}))
	return out
}

func boolish(t *cel.Type) bool {
	k := t.Kind()
	return k == types.BoolKind || k == types.DynKind || k == types.AnyKind
}

// issuesMessage renders CEL issues on one line, each as "line:column:
// message", e.g. "1:4: undeclared reference to 'foo'".
func issuesMessage(iss *cel.Issues) string {
	var parts []string
	for _, e := range iss.Errors() {
		parts = append(parts, fmt.Sprintf("%d:%d: %s", e.Location.Line(), e.Location.Column()+1, e.Message))
	}
	if len(parts) == 0 {
		return iss.String()
	}
	return strings.Join(parts, "; ")
}

// program is an expression compiled against one file's columns.
type program struct {
	rule *exprRule
	prg  cel.Program
	cols []int // file columns the expression uses, for samples
	err  string
}

// compilePrograms compiles every expression against the file's columns
// (names and effective types) and plans it once for the whole file. An expression
// that does not fit the file (an unknown column, a type clash) is kept with
// err set and reported as a failure, not as an error of the run.
func compilePrograms(rules []*exprRule, names, typs []string) ([]*program, error) {
	if len(rules) == 0 {
		return nil, nil
	}
	var vars []cel.EnvOption
	declared := map[string]bool{}
	for i, n := range names {
		if !isVariable(n) || declared[n] {
			continue
		}
		declared[n] = true
		vars = append(vars, cel.Variable(n, celType(typs[i])))
	}
	env, err := newEnv(vars)
	if err != nil {
		return nil, fmt.Errorf("building the CEL environment: %w", err)
	}
	out := make([]*program, 0, len(rules))
	for _, r := range rules {
		p := &program{rule: r}
		out = append(out, p)
		for _, id := range r.idents {
			for i, n := range names {
				if n == id {
					p.cols = append(p.cols, i)
					break
				}
			}
		}
		// Parse again: Check rewrites the AST it is given, so one parsed
		// AST cannot serve concurrent runs.
		checked, iss := env.Compile(r.src)
		if iss.Err() != nil {
			p.err = issuesMessage(iss)
			continue
		}
		if !boolish(checked.OutputType()) {
			p.err = fmt.Sprintf("must evaluate to a bool, not %s", checked.OutputType())
			continue
		}
		p.prg, err = env.Program(checked,
			cel.EvalOptions(cel.OptOptimize),
			cel.CostLimit(ExprCostLimit))
		if err != nil {
			// OptOptimize folds constants, so e.g. a bad regex literal in
			// matches() surfaces here.
			p.err = err.Error()
		}
	}
	return out, nil
}

// activation resolves column variables to the values of the current row. One
// is reused for every row, so evaluation allocates nothing per row beyond
// the CEL values themselves.
type activation struct {
	index map[string]int // variable name -> column
	cols  []*column
	row   int
}

func newActivation(names []string) *activation {
	a := &activation{index: make(map[string]int, len(names))}
	for i, n := range names {
		if _, dup := a.index[n]; !dup && isVariable(n) {
			a.index[n] = i
		}
	}
	return a
}

func (a *activation) ResolveName(name string) (any, bool) {
	i, ok := a.index[name]
	if !ok || a.cols[i] == nil {
		return nil, false
	}
	return a.cols[i].celValue(a.row), true
}

func (a *activation) Parent() interpreter.Activation { return nil }

// eval runs one program on the activation's current row and returns "" when
// the row passes, otherwise why it fails; stop is true when the cost limit
// was hit.
func (p *program) eval(a *activation) (msg string, stop bool) {
	out, _, err := p.prg.Eval(a)
	if err != nil {
		var ce interpreter.EvalCancelledError
		if errors.As(err, &ce) && ce.Cause == interpreter.CostLimitExceeded {
			return "cost limit exceeded", true
		}
		return err.Error(), false
	}
	switch v := out.(type) {
	case types.Bool:
		if v {
			return "", false
		}
		return "false", false
	case types.Null:
		return "evaluated to null", false
	}
	return "not a bool: " + typeName(out), false
}

func typeName(v ref.Val) string {
	if t, ok := v.Type().(ref.Type); ok {
		return t.TypeName()
	}
	return fmt.Sprintf("%T", v)
}
