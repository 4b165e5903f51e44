package registry

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/mlcycle/mlcycle/internal/errs"
	"github.com/mlcycle/mlcycle/internal/filter"
	"github.com/mlcycle/mlcycle/internal/store"
)

// SearchOptions asks for one page of a search.
type SearchOptions struct {
	// Filter is an MLflow filter: clauses joined by AND, such as
	// "name LIKE 'fraud-%' AND tags.team = 'risk'".
	Filter     string
	MaxResults int64 // 0 means the default
	OrderBy    []string
	PageToken  string // from the previous page; "" for the first
}

// SearchRegisteredModels finds models by name and tags. Filters: name with
// =, !=, LIKE, ILIKE, IN and NOT IN; tags.<key> with =, !=, LIKE and ILIKE.
// Order keys: name (the default and last tie-break), last_updated_timestamp
// (or timestamp) and creation_timestamp. It returns the page and the token of
// the next one ("" when this is the last).
func (s *Service) SearchRegisteredModels(ctx context.Context, o SearchOptions) ([]RegisteredModel, string, error) {
	limit, err := pageSize(o.MaxResults, DefaultModelsPerPage, MaxModelsPerPage)
	if err != nil {
		return nil, "", err
	}
	offset, err := pageOffset(o.PageToken)
	if err != nil {
		return nil, "", err
	}
	d := s.db.Dialect()
	where, args, err := modelFilter(d, o.Filter)
	if err != nil {
		return nil, "", err
	}
	name := textOrder(d, "m.name")
	order, err := orderBy(o.OrderBy, map[string]string{
		"name":                   name,
		"timestamp":              "m.last_updated_time",
		"last_updated_timestamp": "m.last_updated_time",
		"creation_timestamp":     "m.creation_time",
	}, []tieBreak{{name, false}})
	if err != nil {
		return nil, "", err
	}
	rows, err := s.db.Query(ctx, `SELECT m.name, m.description, m.creation_time, m.last_updated_time
		FROM registered_models m WHERE `+where+` ORDER BY `+order+` LIMIT ? OFFSET ?`,
		append(args, limit+1, offset)...)
	if err != nil {
		return nil, "", fmt.Errorf("searching registered models: %w", err)
	}
	defer rows.Close()
	ms := []RegisteredModel{}
	for rows.Next() {
		m, err := scanModel(rows)
		if err != nil {
			return nil, "", fmt.Errorf("searching registered models: %w", err)
		}
		ms = append(ms, m)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("searching registered models: %w", err)
	}
	rows.Close()
	next := ""
	if int64(len(ms)) > limit {
		ms = ms[:limit]
		next = filter.EncodePageToken(offset + limit)
	}
	if err := fillModels(ctx, s.db, ms); err != nil {
		return nil, "", err
	}
	return ms, next, nil
}

// SearchModelVersions finds versions. Filters: name and run_id with =, !=,
// LIKE, ILIKE, IN and NOT IN; source_path with =, !=, LIKE and ILIKE;
// version_number with =, !=, <, <=, >, >=; tags.<key> with =, !=, LIKE and
// ILIKE. Order keys: name, version_number, creation_timestamp and
// last_updated_timestamp; the default is last_updated_timestamp DESC, then
// name ASC, then version_number DESC, as in MLflow.
func (s *Service) SearchModelVersions(ctx context.Context, o SearchOptions) ([]ModelVersion, string, error) {
	limit, err := pageSize(o.MaxResults, DefaultVersionsPerPage, MaxVersionsPerPage)
	if err != nil {
		return nil, "", err
	}
	offset, err := pageOffset(o.PageToken)
	if err != nil {
		return nil, "", err
	}
	d := s.db.Dialect()
	where, args, err := versionFilter(d, o.Filter)
	if err != nil {
		return nil, "", err
	}
	orderKeys := o.OrderBy
	if len(orderKeys) == 0 {
		orderKeys = []string{"last_updated_timestamp DESC"}
	}
	name := textOrder(d, "v.name")
	order, err := orderBy(orderKeys, map[string]string{
		"name":                   name,
		"version_number":         "v.version",
		"creation_timestamp":     "v.creation_time",
		"last_updated_timestamp": "v.last_updated_time",
	}, []tieBreak{{name, false}, {"v.version", true}})
	if err != nil {
		return nil, "", err
	}
	vs, err := queryVersions(ctx, s.db, `SELECT `+prefixed("v.", versionCols)+` FROM model_versions v
		WHERE v.deleted = 0 AND `+where+` ORDER BY `+order+` LIMIT ? OFFSET ?`, append(args, limit+1, offset)...)
	if err != nil {
		return nil, "", fmt.Errorf("searching model versions: %w", err)
	}
	next := ""
	if int64(len(vs)) > limit {
		vs = vs[:limit]
		next = filter.EncodePageToken(offset + limit)
	}
	if err := fillVersions(ctx, s.db, vs); err != nil {
		return nil, "", err
	}
	return vs, next, nil
}

// prefixed qualifies each column of a comma-separated list.
func prefixed(p, cols string) string {
	parts := strings.Split(cols, ",")
	for i, c := range parts {
		parts[i] = p + strings.TrimSpace(c)
	}
	return strings.Join(parts, ", ")
}

func pageSize(n, def, limit int64) (int64, error) {
	switch {
	case n == 0:
		return def, nil
	case n < 0:
		return 0, errs.E(errs.Invalid, "Invalid value %d for parameter 'max_results': it must be a positive integer", n)
	case n > limit:
		return 0, errs.E(errs.Invalid, "Invalid value %d for parameter 'max_results': it must be at most %d", n, limit)
	}
	return n, nil
}

func pageOffset(token string) (int64, error) {
	if token == "" {
		return 0, nil
	}
	n, err := filter.DecodePageToken(token)
	if err != nil {
		return 0, asInvalid(err, "Invalid page token")
	}
	if n < 0 {
		return 0, errs.E(errs.Invalid, "Invalid page token")
	}
	return n, nil
}

// asInvalid keeps a kinded error and makes any other one a client error:
// everything the filter package rejects is the caller's input.
func asInvalid(err error, msg string) error {
	if errs.CodeOf(err) != errs.Internal {
		return err
	}
	return errs.Wrap(errs.Invalid, err, "%s: %v", msg, err)
}

// Clause entities, as the filter package may name them.
func entityOf(c filter.Clause) (string, error) {
	switch strings.ToLower(c.Entity) {
	case "", "attribute", "attributes", "attr":
		return "attribute", nil
	case "tag", "tags":
		return "tag", nil
	}
	return "", errs.E(errs.Invalid, "Invalid entity type %s in the filter: use an attribute or tags.<key>", quote(c.Entity))
}

func opOf(c filter.Clause) string { return strings.Join(strings.Fields(strings.ToUpper(c.Op)), " ") }

// promptFilter handles the tag that marks prompts: a clause on it chooses
// between prompts and models, and without one only models match.
type promptFilter struct{ wantPrompts bool }

func (p *promptFilter) clause(c filter.Clause) error {
	if c.IsNum {
		return errs.E(errs.Invalid, "Expected a quoted string value for tag %s", quote(c.Key))
	}
	v := strings.ToLower(c.Str)
	switch opOf(c) {
	case "=":
		p.wantPrompts = v == "true"
	case "!=":
		p.wantPrompts = v == "false"
	default:
		return errs.E(errs.Invalid, "Invalid comparator %s for tag %s: use = or !=", quote(c.Op), quote(PromptTag))
	}
	return nil
}

// sql returns the condition on a model whose name is in nameCol.
func (p promptFilter) sql(nameCol string) string {
	exists := `EXISTS (SELECT 1 FROM registered_model_tags pt WHERE pt.name = ` + nameCol +
		` AND pt.key = '` + PromptTag + `' AND pt.value = 'true')`
	if p.wantPrompts {
		return exists
	}
	return "NOT " + exists
}

func modelFilter(d store.Dialect, f string) (string, []any, error) {
	clauses, err := filter.Parse(f, filter.Options{DefaultEntity: "attribute"})
	if err != nil {
		return "", nil, asInvalid(err, "Invalid filter")
	}
	var conds []string
	var args []any
	var prompts promptFilter
	for _, c := range clauses {
		entity, err := entityOf(c)
		if err != nil {
			return "", nil, err
		}
		switch {
		case entity == "tag" && c.Key == PromptTag:
			if err := prompts.clause(c); err != nil {
				return "", nil, err
			}
		case entity == "tag":
			cond, a, err := stringCond(d, "t.value", c, false)
			if err != nil {
				return "", nil, err
			}
			conds = append(conds, `EXISTS (SELECT 1 FROM registered_model_tags t WHERE t.name = m.name AND t.key = ? AND `+cond+`)`)
			args = append(append(args, c.Key), a...)
		case c.Key == "name":
			cond, a, err := stringCond(d, "m.name", c, true)
			if err != nil {
				return "", nil, err
			}
			conds = append(conds, cond)
			args = append(args, a...)
		default:
			return "", nil, errs.E(errs.Invalid, "Invalid attribute key %s in the filter: registered models can be searched by name and tags.<key>", quote(c.Key))
		}
	}
	conds = append(conds, prompts.sql("m.name"))
	return strings.Join(conds, " AND "), args, nil
}

func versionFilter(d store.Dialect, f string) (string, []any, error) {
	clauses, err := filter.Parse(f, filter.Options{DefaultEntity: "attribute"})
	if err != nil {
		return "", nil, asInvalid(err, "Invalid filter")
	}
	var conds []string
	var args []any
	var prompts promptFilter
	add := func(cond string, a []any, err error) error {
		if err != nil {
			return err
		}
		conds = append(conds, cond)
		args = append(args, a...)
		return nil
	}
	for _, c := range clauses {
		entity, err := entityOf(c)
		if err != nil {
			return "", nil, err
		}
		switch {
		case entity == "tag" && c.Key == PromptTag:
			err = prompts.clause(c)
		case entity == "tag":
			cond, a, err2 := stringCond(d, "t.value", c, false)
			err = add(`EXISTS (SELECT 1 FROM model_version_tags t WHERE t.name = v.name AND t.version = v.version AND t.key = ? AND `+cond+`)`,
				append([]any{c.Key}, a...), err2)
		case c.Key == "name":
			err = add(stringCond(d, "v.name", c, true))
		case c.Key == "run_id":
			err = add(stringCond(d, "v.run_id", c, true))
		case c.Key == "source_path":
			err = add(stringCond(d, "v.source", c, false))
		case c.Key == "version_number":
			err = add(numberCond("v.version", c))
		case c.Key == "creation_timestamp":
			err = add(numberCond("v.creation_time", c))
		case c.Key == "last_updated_timestamp":
			err = add(numberCond("v.last_updated_time", c))
		default:
			err = errs.E(errs.Invalid, "Invalid attribute key %s in the filter: model versions can be searched by name, version_number, run_id, source_path and tags.<key>", quote(c.Key))
		}
		if err != nil {
			return "", nil, err
		}
	}
	conds = append(conds, prompts.sql("v.name"))
	return strings.Join(conds, " AND "), args, nil
}

// stringCond compares a text column with a clause's value. Comparisons are
// case-sensitive on both engines except ILIKE; lists (IN, NOT IN) only where
// lists is set.
func stringCond(d store.Dialect, col string, c filter.Clause, lists bool) (string, []any, error) {
	op := opOf(c)
	if op == "IN" || op == "NOT IN" {
		if !lists {
			return "", nil, errs.E(errs.Invalid, "Invalid comparator %s for %s: use =, !=, LIKE or ILIKE", quote(c.Op), quote(c.Key))
		}
		if len(c.List) == 0 {
			return "", nil, errs.E(errs.Invalid, "The %s list for %s is empty", op, quote(c.Key))
		}
		return col + " " + op + " (" + store.Placeholders(len(c.List)) + ")", store.Args(c.List), nil
	}
	if c.IsNum {
		return "", nil, errs.E(errs.Invalid, "Expected a quoted string value for %s, got %v", quote(c.Key), c.Num)
	}
	switch op {
	case "=":
		return col + " = ?", []any{c.Str}, nil
	case "!=":
		return col + " <> ?", []any{c.Str}, nil
	case "LIKE":
		cond, arg := d.Like(col, c.Str, false)
		return cond, []any{arg}, nil
	case "ILIKE":
		cond, arg := d.Like(col, c.Str, true)
		return cond, []any{arg}, nil
	}
	return "", nil, errs.E(errs.Invalid, "Invalid comparator %s for %s", quote(c.Op), quote(c.Key))
}

// numberCond compares an integer column with a clause's value, which may be
// a number or a quoted integer.
func numberCond(col string, c filter.Clause) (string, []any, error) {
	var n int64
	switch {
	case c.IsNum:
		if c.Num != math.Trunc(c.Num) || math.Abs(c.Num) > 1<<53 {
			return "", nil, errs.E(errs.Invalid, "Invalid value %v for %s: it must be an integer", c.Num, quote(c.Key))
		}
		n = int64(c.Num)
	default:
		var err error
		if n, err = strconv.ParseInt(strings.TrimSpace(c.Str), 10, 64); err != nil {
			return "", nil, errs.E(errs.Invalid, "Invalid value %s for %s: it must be an integer", quote(c.Str), quote(c.Key))
		}
	}
	switch op := opOf(c); op {
	case "=", "<", "<=", ">", ">=":
		return col + " " + op + " ?", []any{n}, nil
	case "!=":
		return col + " <> ?", []any{n}, nil
	}
	return "", nil, errs.E(errs.Invalid, "Invalid comparator %s for %s: use =, !=, <, <=, > or >=", quote(c.Op), quote(c.Key))
}

// textOrder orders a text column by its bytes on both engines: SQLite does
// already, while PostgreSQL would follow the database's locale.
func textOrder(d store.Dialect, col string) string {
	if d == store.Postgres {
		return col + ` COLLATE "C"`
	}
	return col
}

// tieBreak is an ordering added after the caller's, unless the caller
// ordered by that column already.
type tieBreak struct {
	col  string
	desc bool
}

// orderBy turns order_by entries into SQL. cols maps each allowed key to its
// column.
func orderBy(entries []string, cols map[string]string, tail []tieBreak) (string, error) {
	var parts []string
	seen := map[string]bool{}
	for _, e := range entries {
		o, err := filter.ParseOrderBy(e, filter.Options{DefaultEntity: "attribute"})
		if err != nil {
			return "", asInvalid(err, "Invalid order_by clause")
		}
		if ent := strings.ToLower(o.Entity); ent != "" && ent != "attribute" && ent != "attributes" {
			return "", errs.E(errs.Invalid, "Invalid order_by key %s: only attributes can be ordered by", quote(e))
		}
		col, ok := cols[o.Key]
		if !ok {
			return "", errs.E(errs.Invalid, "Invalid order_by key %s: valid keys are %s", quote(o.Key), keyList(cols))
		}
		if seen[col] {
			return "", errs.E(errs.Invalid, "order_by names %s twice", quote(o.Key))
		}
		seen[col] = true
		dir := " ASC"
		if o.Desc {
			dir = " DESC"
		}
		parts = append(parts, col+dir)
	}
	for _, t := range tail {
		if seen[t.col] {
			continue
		}
		if t.desc {
			parts = append(parts, t.col+" DESC")
		} else {
			parts = append(parts, t.col+" ASC")
		}
	}
	return strings.Join(parts, ", "), nil
}

func keyList(cols map[string]string) string {
	keys := make([]string, 0, len(cols))
	for k := range cols {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return strings.Join(keys, ", ")
}
