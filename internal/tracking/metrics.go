package tracking

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/mlcycle/mlcycle/internal/errs"
	"github.com/mlcycle/mlcycle/internal/filter"
	"github.com/mlcycle/mlcycle/internal/store"
)

// validRunID reports whether id has the shape MLflow accepts in log-batch:
// an ASCII letter or digit, then up to 255 word characters or dashes.
func validRunID(id string) bool {
	if id == "" || len(id) > 256 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || c != '_' && c != '-') {
			return false
		}
	}
	return true
}

// LogMetric records one metric point on an active run. A point identical
// to one already logged (key, value, timestamp, step) is ignored.
func (s *Service) LogMetric(ctx context.Context, runID string, m Metric) error {
	if err := validateMetric("", m); err != nil {
		return err
	}
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := activeRun(ctx, tx, runID); err != nil {
			return err
		}
		return logMetrics(ctx, tx, runID, []Metric{m})
	})
}

// LogBatch records metrics, params and tags on an active run in one
// transaction: a batch that breaks any rule (limits, keys, a changed param)
// changes nothing. Limits: 1000 metrics, 100 params, 100 tags, 1000 in all.
// Over-long param and tag values are truncated, as MLflow's server does.
//
// Once Start has run, concurrent batches share transactions (see
// groupcommit.go); each still succeeds or fails on its own, and only after
// its transaction has committed. A caller whose ctx ends while its batch is
// still queued gets ctx's error and the batch is not applied; once the
// batch is being committed, the caller gets its real outcome.
func (s *Service) LogBatch(ctx context.Context, runID string, metrics []Metric, params []Param, tags []Tag) error {
	w, err := newBatchWrite(runID, metrics, params, tags)
	if err != nil {
		return err
	}
	if w.groupable() {
		if queued, err := s.group.submit(ctx, w); queued {
			return err
		}
	}
	return s.applyBatch(ctx, w)
}

// newBatchWrite validates a LogBatch call and normalizes its params and
// tags. Field prefixes such as "metrics[3]." are formatted only for an
// error message.
func newBatchWrite(runID string, metrics []Metric, params []Param, tags []Tag) (*batchWrite, error) {
	if runID == "" {
		return nil, errs.E(errs.Invalid, "Missing value for required parameter 'run_id'.")
	}
	if !validRunID(runID) {
		return nil, invalidValue("run_id", runID, "")
	}
	for _, l := range [...]struct {
		what  string
		limit int
		n     int
	}{
		{"metrics", MaxMetricsPerBatch, len(metrics)},
		{"params", MaxParamsTagsPerBatch, len(params)},
		{"tags", MaxParamsTagsPerBatch, len(tags)},
		{"metrics, params, and tags", MaxEntitiesPerBatch, len(metrics) + len(params) + len(tags)},
	} {
		if l.n > l.limit {
			return nil, errs.E(errs.Invalid, "A batch logging request can contain at most %d %s. Got %d %s. Please split up %s across multiple requests and try again.",
				l.limit, l.what, l.n, l.what, l.what)
		}
	}
	for i, m := range metrics {
		if validateMetric("", m) != nil {
			return nil, validateMetric(fmt.Sprintf("metrics[%d].", i), m)
		}
	}
	ps := make([]Param, len(params))
	seen := make(map[string]bool, len(params))
	var dupes []string
	for i, p := range params {
		p, err := normalizeParam("", p)
		if err != nil {
			_, err = normalizeParam(fmt.Sprintf("params[%d].", i), params[i])
			return nil, err
		}
		if seen[p.Key] {
			dupes = append(dupes, "'"+p.Key+"'")
		}
		seen[p.Key] = true
		ps[i] = p
	}
	if len(dupes) > 0 {
		return nil, errs.E(errs.Invalid, "Duplicate parameter keys have been submitted: [%s]. Please ensure the request contains only one param value per param key.", strings.Join(dupes, ", "))
	}
	ts := make([]Tag, len(tags))
	for i, t := range tags {
		t, err := normalizeTag("", t)
		if err != nil {
			_, err = normalizeTag(fmt.Sprintf("tags[%d].", i), tags[i])
			return nil, err
		}
		ts[i] = t
	}
	return &batchWrite{runID: runID, metrics: metrics, params: ps, tags: ts}, nil
}

// applyBatch commits one validated batch in its own transaction.
func (s *Service) applyBatch(ctx context.Context, w *batchWrite) error {
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		ri, err := activeRun(ctx, tx, w.runID)
		if err != nil {
			return err
		}
		if err := insertParams(ctx, tx, w.runID, w.params, false); err != nil {
			return err
		}
		if err := logMetrics(ctx, tx, w.runID, w.metrics); err != nil {
			return err
		}
		if len(w.tags) > 0 {
			return s.setTags(ctx, tx, ri, w.tags)
		}
		return nil
	})
}

// logMetrics inserts validated points of one run, ignores points already
// stored, keeps run_latest_metrics current and records points that name a
// logged model against that model too.
func logMetrics(ctx context.Context, tx *store.Tx, runID string, ms []Metric) error {
	if len(ms) == 0 {
		return nil
	}
	rows := make([]pointRow, len(ms))
	for i, m := range ms {
		rows[i] = pointRow{runID, m}
	}
	if err := logPointRows(ctx, tx, rows); err != nil {
		return err
	}
	return logModelMetrics(ctx, tx, runID, ms)
}

// pointRow is a metric point of a run.
type pointRow struct {
	run string
	Metric
}

// logPointRows inserts validated points of any runs, ignores points
// already stored and keeps run_latest_metrics current, with one statement
// per table however many points (see insertPoints).
func logPointRows(ctx context.Context, tx *store.Tx, ps []pointRow) error {
	if len(ps) == 0 {
		return nil
	}
	if err := insertPoints(ctx, tx, ps, `INSERT INTO run_metrics (run_uuid, key, ts, step, value, is_nan)`, ` ON CONFLICT DO NOTHING`); err != nil {
		return fmt.Errorf("inserting metrics: %w", err)
	}

	// The latest point per run and key among ps, then one upsert that
	// keeps whichever of it and the stored one is later by (step,
	// timestamp, value).
	latest := make(map[runKey]int, 16)
	keys := make([]pointRow, 0, 16)
	for _, p := range ps {
		k := runKey{p.run, p.Key}
		j, ok := latest[k]
		switch {
		case !ok:
			latest[k] = len(keys)
			keys = append(keys, p)
		case laterThan(p.Metric, keys[j].Metric):
			keys[j] = p
		}
	}
	// One lock order for every writer: concurrent batches to a run then
	// queue on its rows instead of deadlocking on PostgreSQL.
	slices.SortFunc(keys, func(a, b pointRow) int { return compareRunKey(runKey{a.run, a.Key}, runKey{b.run, b.Key}) })
	if err := insertPoints(ctx, tx, keys, `INSERT INTO run_latest_metrics (run_uuid, key, ts, step, value, is_nan)`,
		` ON CONFLICT (run_uuid, key) DO UPDATE SET value = excluded.value, ts = excluded.ts, step = excluded.step, is_nan = excluded.is_nan
		WHERE (excluded.step, excluded.ts, excluded.value) > (run_latest_metrics.step, run_latest_metrics.ts, run_latest_metrics.value)`); err != nil {
		return fmt.Errorf("updating latest metrics: %w", err)
	}
	return nil
}

// sqlitePointsPerStatement bounds one INSERT on SQLite: six bound values a
// point, well under its limit of 32,766 per statement.
const sqlitePointsPerStatement = 1000

// insertPoints runs insert (naming the columns run_uuid, key, ts, step,
// value, is_nan) with one row per point, then the conflict clause.
// PostgreSQL takes the points as typed arrays in one statement, which
// spares it parsing and planning a long VALUES list; SQLite parses such a
// list faster than any way of unpacking one argument (JSON was measured
// slower), so it gets VALUES lists of sqlitePointsPerStatement rows.
func insertPoints(ctx context.Context, tx *store.Tx, ps []pointRow, insert, conflict string) error {
	if tx.Dialect() == store.Postgres {
		runs := make([]string, len(ps))
		keys := make([]string, len(ps))
		ts := make([]int64, len(ps))
		steps := make([]int64, len(ps))
		vals := make([]float64, len(ps))
		nans := make([]int16, len(ps))
		for i, p := range ps {
			v, isNaN := sanitizeValue(p.Value)
			runs[i], keys[i], ts[i], steps[i], vals[i], nans[i] = p.run, p.Key, p.Timestamp, p.Step, v, int16(isNaN)
		}
		_, err := tx.Exec(ctx, insert+` SELECT r, k, t, s, v, n FROM unnest(?::text[], ?::text[], ?::bigint[], ?::bigint[], ?::float8[], ?::smallint[]) AS u(r, k, t, s, v, n)`+conflict,
			runs, keys, ts, steps, vals, nans)
		return err
	}
	var sb strings.Builder
	for _, part := range store.Batches(ps, sqlitePointsPerStatement) {
		sb.Reset()
		sb.Grow(len(insert) + len(conflict) + 8 + 20*len(part))
		sb.WriteString(insert)
		sb.WriteString(" VALUES ")
		args := make([]any, 0, 6*len(part))
		for i, p := range part {
			if i > 0 {
				sb.WriteString(", ")
			}
			sb.WriteString("(?, ?, ?, ?, ?, ?)")
			v, isNaN := sanitizeValue(p.Value)
			args = append(args, p.run, p.Key, p.Timestamp, p.Step, v, isNaN)
		}
		sb.WriteString(conflict)
		if _, err := tx.Exec(ctx, sb.String(), args...); err != nil {
			return err
		}
	}
	return nil
}

// laterThan orders points as MLflow's "latest" does: step, then
// timestamp, then value (NaN counting as 0, as stored).
func laterThan(a, b Metric) bool {
	if a.Step != b.Step {
		return a.Step > b.Step
	}
	if a.Timestamp != b.Timestamp {
		return a.Timestamp > b.Timestamp
	}
	av, _ := sanitizeValue(a.Value)
	bv, _ := sanitizeValue(b.Value)
	return av > bv
}

// logModelMetrics records points that carry a model id against that
// logged model, which must exist.
func logModelMetrics(ctx context.Context, tx *store.Tx, runID string, ms []Metric) error {
	var linked []Metric
	models := map[string]bool{}
	for _, m := range ms {
		if m.ModelID != "" {
			linked = append(linked, m)
			models[m.ModelID] = true
		}
	}
	if len(linked) == 0 {
		return nil
	}
	ids := make([]any, 0, len(models))
	for id := range models {
		ids = append(ids, id)
	}
	var found int
	if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM logged_models WHERE model_id IN (`+store.Placeholders(len(ids))+`)`, ids...).Scan(&found); err != nil {
		return fmt.Errorf("checking logged models: %w", err)
	}
	if found != len(ids) {
		for id := range models {
			var one int
			err := tx.QueryRow(ctx, `SELECT 1 FROM logged_models WHERE model_id = ?`, id).Scan(&one)
			if errNoRows(err) {
				return errs.E(errs.NotFound, "Logged model with ID '%s' not found.", clip(id))
			}
			if err != nil {
				return fmt.Errorf("checking logged model: %w", err)
			}
		}
	}
	var sb strings.Builder
	for _, part := range store.Batches(linked, 1000) {
		sb.Reset()
		sb.WriteString("INSERT INTO logged_model_metrics (model_id, key, value, ts, step, is_nan, run_uuid, dataset_name, dataset_digest) VALUES ")
		args := make([]any, 0, 9*len(part))
		for i, m := range part {
			if i > 0 {
				sb.WriteString(", ")
			}
			sb.WriteString("(?, ?, ?, ?, ?, ?, ?, ?, ?)")
			v, isNaN := sanitizeValue(m.Value)
			args = append(args, m.ModelID, m.Key, v, m.Timestamp, m.Step, isNaN, runID, m.DatasetName, m.DatasetDigest)
		}
		sb.WriteString(" ON CONFLICT DO NOTHING")
		if _, err := tx.Exec(ctx, sb.String(), args...); err != nil {
			return fmt.Errorf("inserting logged model metrics: %w", err)
		}
	}
	return nil
}

// GetMetricHistory returns every point of a run's metric in (timestamp,
// step, value) order, a page at a time when maxResults > 0 (0 returns all).
func (s *Service) GetMetricHistory(ctx context.Context, runID, key string, maxResults int, pageToken string) ([]Metric, string, error) {
	if key == "" {
		return nil, "", errs.E(errs.Invalid, "Missing value for required parameter 'metric_key'.")
	}
	if err := checkText("metric_key", key); err != nil {
		return nil, "", err
	}
	if maxResults < 0 {
		return nil, "", errs.E(errs.Invalid, "Invalid value %d for parameter 'max_results' supplied. It must be a positive integer.", maxResults)
	}
	offset, err := decodeToken(pageToken)
	if err != nil {
		return nil, "", err
	}
	if _, err := getRunInfo(ctx, s.db, runID); err != nil {
		return nil, "", err
	}
	query := `SELECT value, ts, step, is_nan FROM run_metrics WHERE run_uuid = ? AND key = ? ORDER BY ts, step, value, is_nan`
	args := []any{runID, key}
	if maxResults > 0 {
		query += ` LIMIT ? OFFSET ?`
		args = append(args, maxResults+1, offset)
	} else if offset > 0 {
		query += ` LIMIT -1 OFFSET ?`
		if s.db.Dialect() == store.Postgres {
			query = strings.Replace(query, "LIMIT -1 ", "", 1)
		}
		args = append(args, offset)
	}
	rows, err := s.db.Query(ctx, query, args...)
	if err != nil {
		return nil, "", fmt.Errorf("reading metric history: %w", err)
	}
	defer rows.Close()
	var out []Metric
	for rows.Next() {
		m := Metric{Key: key}
		var isNaN int
		if err := rows.Scan(&m.Value, &m.Timestamp, &m.Step, &isNaN); err != nil {
			return nil, "", fmt.Errorf("reading metric history: %w", err)
		}
		m.Value = restoreValue(m.Value, isNaN)
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("reading metric history: %w", err)
	}
	next := ""
	if maxResults > 0 && len(out) > maxResults {
		out = out[:maxResults]
		next = filter.EncodePageToken(offset + int64(maxResults))
	}
	return out, next, nil
}

// IntervalQuery asks GetMetricHistoryBulkInterval for a metric of several
// runs, sampled.
type IntervalQuery struct {
	RunIDs     []string // 1 to 100
	MetricKey  string
	StartStep  *int64 // both or neither
	EndStep    *int64
	MaxResults int // per run, 1 to 2500; 0 means 2500
}

// GetMetricHistoryBulkInterval returns, for each run in order, at most
// MaxResults points of the metric evenly spread over its history in
// (step, timestamp, value) order, always keeping the last point. Runs
// without the metric contribute nothing. Each point carries its RunID.
func (s *Service) GetMetricHistoryBulkInterval(ctx context.Context, q IntervalQuery) ([]Metric, error) {
	switch {
	case len(q.RunIDs) == 0:
		return nil, errs.E(errs.Invalid, "Missing value for required parameter 'run_ids'.")
	case len(q.RunIDs) > MaxRunsBulkInterval:
		return nil, errs.E(errs.Invalid, "GetMetricHistoryBulkInterval request must specify at most %d run_ids. Received %d run_ids.", MaxRunsBulkInterval, len(q.RunIDs))
	case q.MetricKey == "":
		return nil, errs.E(errs.Invalid, "Missing value for required parameter 'metric_key'.")
	case q.MaxResults < 0 || q.MaxResults > MaxResultsPerRunInterval:
		return nil, errs.E(errs.Invalid, "max_results must be between 1 and %d.", MaxResultsPerRunInterval)
	case (q.StartStep == nil) != (q.EndStep == nil):
		return nil, errs.E(errs.Invalid, "If either start step or end step are specified, both must be specified.")
	case q.StartStep != nil && *q.StartStep > *q.EndStep:
		return nil, errs.E(errs.Invalid, "end_step must be greater than start_step. Found start_step=%d and end_step=%d.", *q.StartStep, *q.EndStep)
	}
	for _, s := range append([]string{q.MetricKey}, q.RunIDs...) {
		if err := checkText("run_ids", s); err != nil {
			return nil, err
		}
	}
	n := q.MaxResults
	if n == 0 {
		n = MaxResultsPerRunInterval
	}
	where := `run_uuid = ? AND key = ?`
	if q.StartStep != nil {
		where += ` AND step >= ? AND step <= ?`
	}
	// NTILE puts the ordered points in n buckets; the first of each is kept.
	sample := `SELECT value, ts, step, is_nan FROM (
		SELECT value, ts, step, is_nan, ROW_NUMBER() OVER (PARTITION BY bucket ORDER BY step, ts, value, is_nan) AS rn FROM (
			SELECT value, ts, step, is_nan, NTILE(?) OVER (ORDER BY step, ts, value, is_nan) AS bucket
			FROM run_metrics WHERE ` + where + `) b) r
		WHERE rn = 1 ORDER BY step, ts, value, is_nan`
	last := `SELECT value, ts, step, is_nan FROM run_metrics WHERE ` + where + ` ORDER BY step DESC, ts DESC, value DESC, is_nan DESC LIMIT 1`
	var out []Metric
	for _, runID := range q.RunIDs {
		args := []any{runID, q.MetricKey}
		if q.StartStep != nil {
			args = append(args, *q.StartStep, *q.EndStep)
		}
		points, err := s.queryPoints(ctx, sample, append([]any{n}, args...)...)
		if err != nil {
			return nil, err
		}
		lastPoint, err := s.queryPoints(ctx, last, args...)
		if err != nil {
			return nil, err
		}
		if len(lastPoint) == 1 && (len(points) == 0 || !samePoint(points[len(points)-1], lastPoint[0])) {
			if len(points) >= n {
				points[len(points)-1] = lastPoint[0]
			} else {
				points = append(points, lastPoint[0])
			}
		}
		for _, p := range points {
			p.Key, p.RunID = q.MetricKey, runID
			out = append(out, p.Metric)
		}
	}
	return out, nil
}

type point struct {
	Metric
	isNaN int
}

func samePoint(a, b point) bool {
	return a.Step == b.Step && a.Timestamp == b.Timestamp && a.isNaN == b.isNaN && (a.isNaN == 1 || a.Value == b.Value)
}

func (s *Service) queryPoints(ctx context.Context, query string, args ...any) ([]point, error) {
	rows, err := s.db.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("sampling metric history: %w", err)
	}
	defer rows.Close()
	var out []point
	for rows.Next() {
		var p point
		if err := rows.Scan(&p.Value, &p.Timestamp, &p.Step, &p.isNaN); err != nil {
			return nil, fmt.Errorf("sampling metric history: %w", err)
		}
		p.Value = restoreValue(p.Value, p.isNaN)
		out = append(out, p)
	}
	return out, rows.Err()
}
