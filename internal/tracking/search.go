package tracking

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/mlcycle/mlcycle/internal/errs"
	"github.com/mlcycle/mlcycle/internal/filter"
	"github.com/mlcycle/mlcycle/internal/store"
)

// sqlBuilder collects the joins and conditions of one search query. Join
// arguments come before condition arguments, as in the SQL text.
type sqlBuilder struct {
	dialect  store.Dialect
	joins    []string
	joinArgs []any
	conds    []string
	condArgs []any
	n        int
}

func (b *sqlBuilder) alias(prefix string) string {
	b.n++
	return prefix + strconv.Itoa(b.n)
}

func (b *sqlBuilder) join(sql string, args ...any) {
	b.joins = append(b.joins, sql)
	b.joinArgs = append(b.joinArgs, args...)
}

func (b *sqlBuilder) where(sql string, args ...any) {
	b.conds = append(b.conds, sql)
	b.condArgs = append(b.condArgs, args...)
}

func (b *sqlBuilder) joinSQL() string {
	if len(b.joins) == 0 {
		return ""
	}
	return " " + strings.Join(b.joins, " ")
}

func (b *sqlBuilder) whereSQL() string {
	if len(b.conds) == 0 {
		return b.joinSQL()
	}
	return b.joinSQL() + " WHERE " + strings.Join(b.conds, " AND ")
}

func (b *sqlBuilder) args() []any {
	return append(append([]any(nil), b.joinArgs...), b.condArgs...)
}

// indexPrefix is how many characters of a param or tag value the search
// indexes cover (see Migrations).
const indexPrefix = 200

// strOp renders a string comparison of col with the clause's value.
// indexed says col has a prefix index that an equality can use. LIKE is
// case-sensitive and ILIKE is not, on both engines, and neither has an
// escape character (SQLite's LIKE is case-insensitive, so LIKE becomes GLOB
// there).
func (b *sqlBuilder) strOp(col string, c filter.Clause, indexed bool) (string, []any, error) {
	if c.Op != "IN" && c.Op != "NOT IN" && c.IsNum {
		return "", nil, errs.E(errs.Invalid, "Expected a quoted string value for %s '%s' (e.g. 'my-value'). Got value %s", c.Entity, clip(c.Key), formatNumber(c.Num))
	}
	v := c.Str
	switch c.Op {
	case "=":
		if !indexed {
			return col + " = ?", []any{v}, nil
		}
		// A value shorter than the prefix equals col exactly when col's
		// prefix does (the prefix of a col of indexPrefix characters or
		// more is longer than the value), so the indexed comparison alone
		// is exact. With "col = ?" added, PostgreSQL counted the same
		// condition's selectivity twice, expected 16 times fewer matches
		// than a param filter had, and chose a parallel plan 3-15 times
		// slower on BenchmarkSearchRuns100k.
		n := strconv.Itoa(indexPrefix)
		if utf8.RuneCountInString(v) < indexPrefix {
			return "substr(" + col + ", 1, " + n + ") = ?", []any{v}, nil
		}
		return "substr(" + col + ", 1, " + n + ") = substr(?, 1, " + n + ") AND " + col + " = ?", []any{v, v}, nil
	case "!=":
		return col + " <> ?", []any{v}, nil
	case "LIKE", "ILIKE":
		cond, arg := b.dialect.Like(col, v, c.Op == "ILIKE")
		return cond, []any{arg}, nil
	case "IN", "NOT IN":
		if len(c.List) == 0 {
			if c.Op == "IN" {
				return "1 = 0", nil, nil
			}
			return "1 = 1", nil, nil
		}
		return col + " " + c.Op + " (" + store.Placeholders(len(c.List)) + ")", store.Args(c.List), nil
	}
	return "", nil, errs.E(errs.Invalid, "Invalid comparator '%s' for %s '%s': use one of =, !=, LIKE, ILIKE, IN, NOT IN", c.Op, c.Entity, clip(c.Key))
}

// numOp renders a numeric comparison of col. integer columns take the
// value as an integer, refusing fractions.
func numOp(col string, c filter.Clause, integer bool) (string, []any, error) {
	op := c.Op
	switch op {
	case "=", ">", ">=", "<", "<=":
	case "!=":
		op = "<>"
	default:
		return "", nil, errs.E(errs.Invalid, "Invalid comparator '%s' for %s '%s': use one of =, !=, >, >=, <, <=", c.Op, c.Entity, clip(c.Key))
	}
	if !c.IsNum {
		return "", nil, errs.E(errs.Invalid, "Expected numeric value type for %s '%s'. Found '%s'", c.Entity, clip(c.Key), clip(c.Str))
	}
	if integer {
		n := int64(c.Num)
		if float64(n) != c.Num {
			return "", nil, errs.E(errs.Invalid, "Invalid value for numeric attribute '%s': %s", clip(c.Key), formatNumber(c.Num))
		}
		return col + " " + op + " ?", []any{n}, nil
	}
	return col + " " + op + " ?", []any{c.Num}, nil
}

func (b *sqlBuilder) stringCond(col string, c filter.Clause, indexed bool) error {
	sql, args, err := b.strOp(col, c, indexed)
	if err != nil {
		return err
	}
	b.where(sql, args...)
	return nil
}

func (b *sqlBuilder) numberCond(col string, c filter.Clause, integer bool) error {
	sql, args, err := numOp(col, c, integer)
	if err != nil {
		return err
	}
	b.where(sql, args...)
	return nil
}

// keyValueCond filters on a key/value table (tags or params) whose rows are
// unique per (owner, key): an inner join when a row must exist, NOT EXISTS
// for IS NULL. It returns the join alias, or "" when there is none.
func (b *sqlBuilder) keyValueCond(table, ownerCol, parent string, c filter.Clause, indexed bool) (string, error) {
	switch c.Op {
	case "IS NULL":
		b.where("NOT EXISTS (SELECT 1 FROM "+table+" x WHERE x."+ownerCol+" = "+parent+" AND x.key = ?)", c.Key)
		return "", nil
	case "IS NOT NULL":
		a := b.alias("k")
		b.join("JOIN "+table+" "+a+" ON "+a+"."+ownerCol+" = "+parent+" AND "+a+".key = ?", c.Key)
		return a, nil
	}
	a := b.alias("k")
	sql, args, err := b.strOp(a+".value", c, indexed)
	if err != nil {
		return "", err
	}
	b.join("JOIN "+table+" "+a+" ON "+a+"."+ownerCol+" = "+parent+" AND "+a+".key = ? AND "+sql, append([]any{c.Key}, args...)...)
	return a, nil
}

// metricCond filters on a run's latest metric value. A NaN never satisfies
// a comparison except "!=". It returns the join alias.
func (b *sqlBuilder) metricCond(table, ownerCol, parent string, c filter.Clause) (string, error) {
	if c.Op == "IS NULL" || c.Op == "IS NOT NULL" {
		return "", errs.E(errs.Invalid, "IS NULL / IS NOT NULL is only supported for tags and params, not for metric '%s'", clip(c.Key))
	}
	a := b.alias("m")
	sql, args, err := numOp(a+".value", c, false)
	if err != nil {
		return "", err
	}
	if c.Op == "!=" {
		sql = "(" + sql + " OR " + a + ".is_nan = 1)"
	} else {
		sql += " AND " + a + ".is_nan = 0"
	}
	b.join("JOIN "+table+" "+a+" ON "+a+"."+ownerCol+" = "+parent+" AND "+a+".key = ? AND "+sql, append([]any{c.Key}, args...)...)
	return a, nil
}

// checkClause refuses keys and values that PostgreSQL could not take as
// text arguments (NUL, invalid UTF-8: possible in GET query strings).
func checkClause(c filter.Clause) error {
	if err := checkText("filter", c.Key); err != nil {
		return err
	}
	if err := checkText("filter", c.Str); err != nil {
		return err
	}
	for _, v := range c.List {
		if err := checkText("filter", v); err != nil {
			return err
		}
	}
	return nil
}

// pageSQL renders LIMIT and OFFSET with the numbers inline.
func pageSQL(limit int, offset int64) string {
	return " LIMIT " + strconv.Itoa(limit) + " OFFSET " + strconv.FormatInt(offset, 10)
}

func formatNumber(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// maxSearchExperiments keeps a search's bound arguments under SQLite's
// limit of 32766.
const maxSearchExperiments = 10000

// RunQuery selects runs for SearchRuns.
type RunQuery struct {
	ExperimentIDs []string
	Filter        string
	ViewType      ViewType
	MaxResults    int // 0 means 1000; at most 50000
	OrderBy       []string
	PageToken     string
}

// runAttribute maps a run attribute (or MLflow alias) to its column, and
// says whether it is numeric.
func runAttribute(key string) (col string, numeric, ok bool) {
	switch key {
	case "run_id":
		return "r.run_uuid", false, true
	case "run_name", "run name", "Run name", "Run Name":
		return "r.name", false, true
	case "status":
		return "r.status", false, true
	case "user_id":
		return "r.user_id", false, true
	case "artifact_uri":
		return "r.artifact_uri", false, true
	case "start_time", "created", "Created":
		return "r.start_time", true, true
	case "end_time":
		return "r.end_time", true, true
	}
	return "", false, false
}

const runAttributeKeys = "'artifact_uri', 'end_time', 'run_id', 'run_name', 'start_time', 'status', 'user_id'"

// runSearch is a compiled SearchRuns query.
type runSearch struct {
	b *sqlBuilder
	// guaranteed maps "metric:key", "param:key" and "tag:key" to the alias of
	// a filter join that guarantees a non-null, non-NaN value, so ordering
	// on the same key can reuse it.
	guaranteed map[string]string
	order      []string
}

func compileRunFilter(b *sqlBuilder, f string, guaranteed map[string]string) error {
	clauses, err := filter.Parse(f, filter.Options{DefaultEntity: "attribute"})
	if err != nil {
		return err
	}
	for _, c := range clauses {
		if err := checkClause(c); err != nil {
			return err
		}
		switch c.Entity {
		case "attribute":
			col, numeric, ok := runAttribute(c.Key)
			if !ok {
				return errs.E(errs.Invalid, "Invalid attribute key '%s' specified. Valid keys are %s", clip(c.Key), runAttributeKeys)
			}
			if numeric {
				err = b.numberCond(col, c, true)
			} else {
				err = b.stringCond(col, c, false)
			}
		case "metric":
			var a string
			a, err = b.metricCond("run_latest_metrics", "run_uuid", "r.run_uuid", c)
			if err == nil && c.Op != "!=" {
				setOnce(guaranteed, "metric:"+c.Key, a)
			}
		case "param", "tag":
			table := "run_params"
			if c.Entity == "tag" {
				table = "run_tags"
			}
			var a string
			a, err = b.keyValueCond(table, "run_uuid", "r.run_uuid", c, true)
			if err == nil && a != "" {
				setOnce(guaranteed, c.Entity+":"+c.Key, a)
			}
		case "dataset":
			err = datasetCond(b, c)
		default:
			err = errs.E(errs.Invalid, "Invalid entity type '%s'. Valid values are ['metric', 'parameter', 'tag', 'attribute', 'dataset']", c.Entity)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func setOnce(m map[string]string, k, v string) {
	if _, ok := m[k]; !ok {
		m[k] = v
	}
}

// datasetCond filters runs by the datasets they used: name, digest, or the
// mlflow.data.context tag of the input.
func datasetCond(b *sqlBuilder, c filter.Clause) error {
	var sql string
	var args []any
	var err error
	switch c.Key {
	case "name", "digest":
		sql, args, err = b.strOp("d."+c.Key, c, false)
		if err != nil {
			return err
		}
		b.where("EXISTS (SELECT 1 FROM run_inputs i JOIN input_datasets d ON d.dataset_uuid = i.dataset_uuid WHERE i.run_uuid = r.run_uuid AND "+sql+")", args...)
	case "context":
		sql, args, err = b.strOp("it.value", c, false)
		if err != nil {
			return err
		}
		b.where("EXISTS (SELECT 1 FROM run_inputs i JOIN run_input_tags it ON it.input_uuid = i.input_uuid WHERE i.run_uuid = r.run_uuid AND it.name = ? AND "+sql+")",
			append([]any{TagDataContext}, args...)...)
	default:
		return errs.E(errs.Invalid, "Invalid dataset key '%s' specified. Valid keys are 'name', 'digest', 'context'", clip(c.Key))
	}
	return nil
}

// compileRunOrder renders ORDER BY for SearchRuns: each requested key with
// missing values (and NaN metrics) last whatever the direction, then
// start_time DESC unless it was requested, then run_uuid.
func compileRunOrder(b *sqlBuilder, orderBy []string, guaranteed map[string]string) (string, error) {
	var parts []string
	seen := map[string]bool{}
	hasStart := false
	for _, ob := range orderBy {
		o, err := filter.ParseOrderBy(ob, filter.Options{DefaultEntity: "attribute"})
		if err != nil {
			return "", err
		}
		if err := checkText("order_by", o.Key); err != nil {
			return "", err
		}
		dir := " ASC"
		if o.Desc {
			dir = " DESC"
		}
		switch o.Entity {
		case "attribute":
			col, _, ok := runAttribute(o.Key)
			if !ok {
				return "", errs.E(errs.Invalid, "Invalid attribute key '%s' specified. Valid keys are %s", clip(o.Key), runAttributeKeys)
			}
			if seen[col] {
				return "", errs.E(errs.Invalid, "`order_by` contains duplicate fields: %s", clip(strings.Join(orderBy, ", ")))
			}
			seen[col] = true
			if col == "r.start_time" {
				hasStart = true
			}
			if col == "r.end_time" {
				parts = append(parts, "CASE WHEN r.end_time IS NULL THEN 1 ELSE 0 END")
			}
			parts = append(parts, col+dir)
		case "metric", "param", "tag":
			id := o.Entity + ":" + o.Key
			if seen[id] {
				return "", errs.E(errs.Invalid, "`order_by` contains duplicate fields: %s", clip(strings.Join(orderBy, ", ")))
			}
			seen[id] = true
			if a, ok := guaranteed[id]; ok {
				parts = append(parts, a+".value"+dir)
				continue
			}
			table := map[string]string{"metric": "run_latest_metrics", "param": "run_params", "tag": "run_tags"}[o.Entity]
			a := b.alias("o")
			b.join("LEFT JOIN "+table+" "+a+" ON "+a+".run_uuid = r.run_uuid AND "+a+".key = ?", o.Key)
			if o.Entity == "metric" {
				parts = append(parts, "CASE WHEN "+a+".run_uuid IS NULL THEN 2 WHEN "+a+".is_nan = 1 THEN 1 ELSE 0 END")
			} else {
				parts = append(parts, "CASE WHEN "+a+".run_uuid IS NULL THEN 1 ELSE 0 END")
			}
			parts = append(parts, a+".value"+dir)
		default:
			return "", errs.E(errs.Invalid, "Invalid order_by entity type '%s'", o.Entity)
		}
	}
	if !hasStart {
		parts = append(parts, "r.start_time DESC")
	}
	if !seen["r.run_uuid"] {
		parts = append(parts, "r.run_uuid ASC")
	}
	return strings.Join(parts, ", "), nil
}

const runCols = `r.run_uuid, r.experiment_id, r.name, r.user_id, r.status, r.start_time, r.end_time, r.artifact_uri, r.lifecycle_stage`

// scanRunInfo scans the runCols of a row, then into extra the columns
// after them.
func scanRunInfo(sc scanner, extra ...any) (RunInfo, error) {
	var ri RunInfo
	var exp int64
	var end int64Null
	dest := append([]any{&ri.RunID, &exp, &ri.RunName, &ri.UserID, &ri.Status, &ri.StartTime, &end, &ri.ArtifactURI, &ri.LifecycleStage}, extra...)
	if err := sc.Scan(dest...); err != nil {
		return RunInfo{}, err
	}
	ri.ExperimentID = formatID(exp)
	ri.EndTime = end.v
	return ri, nil
}

// int64Null scans a nullable BIGINT as 0 when NULL.
type int64Null struct{ v int64 }

func (n *int64Null) Scan(src any) error {
	switch x := src.(type) {
	case nil:
		n.v = 0
	case int64:
		n.v = x
	default:
		return fmt.Errorf("unexpected %T for a BIGINT column", src)
	}
	return nil
}

// compiledRunSearch is the SQL of one SearchRuns page. empty says the
// query cannot match (no experiments), so there is nothing to run.
type compiledRunSearch struct {
	sql    string
	args   []any
	limit  int
	offset int64
	empty  bool
	// byMetric is set when the page may come from the metric index
	// instead (see metricPage).
	byMetric *metricOrder
}

// metricOrder is a search with no filter ordered by one metric: the shape
// of a UI sorting a metric column. where and whereArgs restrict the runs
// (experiments, lifecycle stage).
type metricOrder struct {
	key       string
	desc      bool
	where     string
	whereArgs []any
}

// compileRunSearch validates q and renders its SQL for dialect d.
func compileRunSearch(d store.Dialect, q RunQuery) (compiledRunSearch, error) {
	limit, err := checkMaxResults(q.MaxResults, MaxResultsDefault)
	if err != nil {
		return compiledRunSearch{}, err
	}
	stages, err := q.ViewType.stages()
	if err != nil {
		return compiledRunSearch{}, err
	}
	offset, err := decodeToken(q.PageToken)
	if err != nil {
		return compiledRunSearch{}, err
	}
	if len(q.ExperimentIDs) > maxSearchExperiments {
		return compiledRunSearch{}, errs.E(errs.Invalid, "A search can span at most %d experiments. Got %d.", maxSearchExperiments, len(q.ExperimentIDs))
	}
	exps := make([]any, 0, len(q.ExperimentIDs))
	for _, id := range q.ExperimentIDs {
		n, err := parseExperimentID(id)
		if err != nil {
			return compiledRunSearch{}, err
		}
		exps = append(exps, n)
	}
	b := &sqlBuilder{dialect: d}
	guaranteed := map[string]string{}
	if err := compileRunFilter(b, q.Filter, guaranteed); err != nil {
		return compiledRunSearch{}, err
	}
	order, err := compileRunOrder(b, q.OrderBy, guaranteed)
	if err != nil {
		return compiledRunSearch{}, err
	}
	if len(exps) == 0 {
		return compiledRunSearch{empty: true}, nil
	}
	whereScope(b, exps, stages)
	// The page bounds are written into the SQL, not bound: PostgreSQL may
	// reuse a generic plan for a cached statement, and one that does not
	// know the LIMIT sorts every match instead of walking an index.
	query := `SELECT ` + runCols + ` FROM runs r` + b.whereSQL() + ` ORDER BY ` + order + pageSQL(limit+1, offset)
	rs := compiledRunSearch{sql: query, args: b.args(), limit: limit, offset: offset}
	if strings.TrimSpace(q.Filter) == "" && len(q.OrderBy) == 1 && offset+int64(limit)+1 <= metricPageMaxRows {
		if o, err := filter.ParseOrderBy(q.OrderBy[0], filter.Options{DefaultEntity: "attribute"}); err == nil && o.Entity == "metric" {
			w := &sqlBuilder{dialect: d}
			whereScope(w, exps, stages)
			rs.byMetric = &metricOrder{key: o.Key, desc: o.Desc, where: w.whereSQL(), whereArgs: w.args()}
		}
	}
	return rs, nil
}

// whereScope restricts b to the runs of exps in stages (all stages when
// there are several).
func whereScope(b *sqlBuilder, exps []any, stages []string) {
	if len(exps) == 1 {
		b.where("r.experiment_id = ?", exps[0])
	} else {
		b.where("r.experiment_id IN ("+store.Placeholders(len(exps))+")", exps...)
	}
	if len(stages) == 1 {
		b.where("r.lifecycle_stage = ?", stages[0])
	}
}

// The sort-by-metric fast path. Without a filter, ordering by a metric
// sorts every run of the experiment (139 ms over 100,000 runs on SQLite).
// Runs with a number for the metric come first in that order, so when the
// page lies among them it can be read from the (key, value) index: take
// the best rows of the metric over all experiments (a window), keep this
// search's runs, order them as the full query would. That is exact when
// the page's last row is strictly better than the window's last value
// (every row better than that value is in the window, ties included);
// otherwise, or when the window holds too few of this search's runs (a
// small share of the runs that have the metric), the full query runs.
const (
	metricPageMaxRows  = 1000 // offset + page size + 1 up to which the fast path is tried
	metricWindowFirst  = 2    // index rows per row needed, first try
	metricWindowPerRow = 32   // and second try
	metricWindowMin    = 2048
)

// metricPage returns the first need rows of the search in m's order, and
// false when the fast path cannot answer exactly. It tries a small window
// (enough when the search's runs hold most of the metric's rows), then a
// large one.
func (s *Service) metricPage(ctx context.Context, m *metricOrder, need int) ([]Run, bool, error) {
	windows := []int{need * metricWindowFirst, max(need*metricWindowPerRow, metricWindowMin)}
	switch {
	case s.metricWindow < 0:
		return nil, false, nil
	case s.metricWindow > 0:
		windows = []int{need * s.metricWindow}
	}
	for _, w := range windows {
		runs, ok, err := s.metricWindowPage(ctx, m, need, w)
		if err != nil || ok {
			return runs, ok, err
		}
	}
	return nil, false, nil
}

// metricWindowPage is metricPage with one window of the given size.
func (s *Service) metricWindowPage(ctx context.Context, m *metricOrder, need, window int) ([]Run, bool, error) {
	dir, edgeOf := " ASC", "MAX"
	if m.desc {
		dir, edgeOf = " DESC", "MIN"
	}
	// PostgreSQL would merge-join the window with every run (a scan of
	// the runs index, 30 ms over 100,000 runs); a lateral subquery behind
	// OFFSET 0 makes it look each window row's run up instead, as SQLite
	// does by itself.
	join := ` FROM w o JOIN runs r ON r.run_uuid = o.run_uuid`
	if s.db.Dialect() == store.Postgres {
		join = ` FROM w o CROSS JOIN LATERAL (SELECT * FROM runs r WHERE r.run_uuid = o.run_uuid OFFSET 0) r`
	}
	// One statement, so the window the edge is taken from is the one the
	// page is read from: w is the window; its size and last value come
	// with every row.
	q := `WITH w AS (SELECT run_uuid, value FROM run_latest_metrics WHERE key = ? AND is_nan = 0 ORDER BY value` + dir +
		` LIMIT ` + strconv.Itoa(window) + `) SELECT ` + runCols + `, o.value, (SELECT COUNT(*) FROM w), (SELECT ` + edgeOf + `(value) FROM w)` +
		join + m.where + ` ORDER BY o.value` + dir + `, r.start_time DESC, r.run_uuid ASC LIMIT ` + strconv.Itoa(need)
	rows, err := s.db.Query(ctx, q, append([]any{m.key}, m.whereArgs...)...)
	if err != nil {
		return nil, false, fmt.Errorf("searching runs: %w", err)
	}
	defer rows.Close()
	runs := make([]Run, 0, need)
	var last, edge float64
	var inWindow int64
	for rows.Next() {
		ri, err := scanRunInfo(rows, &last, &inWindow, &edge)
		if err != nil {
			return nil, false, fmt.Errorf("searching runs: %w", err)
		}
		runs = append(runs, Run{Info: ri})
	}
	if err := rows.Err(); err != nil {
		return nil, false, fmt.Errorf("searching runs: %w", err)
	}
	if len(runs) < need {
		return nil, false, nil // the page reaches runs without the metric, or runs outside the window
	}
	// A full window may have cut a group of equal values: the page is
	// exact only if its last value is strictly better than the window's.
	if inWindow == int64(window) && !(m.desc && last > edge || !m.desc && last < edge) {
		return nil, false, nil
	}
	return runs, true, nil
}

// SearchRuns returns the runs of the given experiments that match q, with
// their latest metrics, params, tags, inputs and outputs. The filter is
// MLflow's: metrics (latest value, numeric comparisons), params, tags,
// attributes (run_id, run_name, status, user_id, artifact_uri, start_time,
// end_time) and datasets (name, digest, context), joined by AND. It is one
// SQL query over indexed joins; nothing is filtered in Go.
func (s *Service) SearchRuns(ctx context.Context, q RunQuery) ([]Run, string, error) {
	rs, err := compileRunSearch(s.db.Dialect(), q)
	if err != nil || rs.empty {
		return nil, "", err
	}
	limit, offset := rs.limit, rs.offset
	if rs.byMetric != nil {
		runs, ok, err := s.metricPage(ctx, rs.byMetric, int(offset)+limit+1)
		if err != nil {
			return nil, "", err
		}
		if ok {
			return s.finishRunPage(ctx, runs[offset:], limit, offset)
		}
	}
	rows, err := s.db.Query(ctx, rs.sql, rs.args...)
	if err != nil {
		return nil, "", fmt.Errorf("searching runs: %w", err)
	}
	defer rows.Close()
	var runs []Run
	for rows.Next() {
		ri, err := scanRunInfo(rows)
		if err != nil {
			return nil, "", fmt.Errorf("searching runs: %w", err)
		}
		runs = append(runs, Run{Info: ri})
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("searching runs: %w", err)
	}
	rows.Close()
	return s.finishRunPage(ctx, runs, limit, offset)
}

// finishRunPage cuts runs (up to limit+1 from offset on) to the page, with
// the token of the next one, and loads the page's data.
func (s *Service) finishRunPage(ctx context.Context, runs []Run, limit int, offset int64) ([]Run, string, error) {
	next := ""
	if len(runs) > limit {
		runs = runs[:limit]
		next = filter.EncodePageToken(offset + int64(limit))
	}
	if err := loadRunData(ctx, s.db, runs); err != nil {
		return nil, "", err
	}
	return runs, next, nil
}
