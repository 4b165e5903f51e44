package tracking

import (
	"encoding/json"
	"fmt"
	"math"
	"path"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/mlcycle/mlcycle/internal/blob"
	"github.com/mlcycle/mlcycle/internal/errs"
)

// Limits, as MLflow's server enforces them.
const (
	MaxEntityKeyLength       = 250
	MaxParamValueLength      = 6000
	MaxTagValueLength        = 8000
	MaxExperimentNameLength  = 500
	MaxExperimentTagKey      = 250
	MaxExperimentTagValue    = 20000
	MaxMetricsPerBatch       = 1000
	MaxParamsTagsPerBatch    = 100
	MaxEntitiesPerBatch      = 1000
	MaxResultsDefault        = 1000
	MaxResultsThreshold      = 50000
	MaxDatasetNameLength     = 500
	MaxDatasetDigestLength   = 36
	MaxDatasetSourceLength   = 65535
	MaxDatasetSchemaLength   = 1048575
	MaxDatasetProfileLength  = 16777215
	MaxInputTagKeyLength     = 255
	MaxInputTagValueLength   = 500
	MaxRunsBulkInterval      = 100
	MaxResultsPerRunInterval = 2500
	MaxModelTagKeyLength     = 250
)

// ArtifactScheme is the only artifact location scheme the server accepts:
// artifacts travel through the server, which confines them to its store.
const ArtifactScheme = "mlflow-artifacts:"

// clip bounds a client value quoted in an error message.
func clip(s string) string {
	const show = 100
	if utf8.RuneCountInString(s) <= show {
		return s
	}
	return string([]rune(s)[:show]) + "..."
}

// quote renders a value the way MLflow's messages do (JSON).
func quote(s string) string {
	b, _ := json.Marshal(clip(s))
	return string(b)
}

// invalidValue builds MLflow's "Invalid value ... for parameter ..." message.
func invalidValue(field, value, why string) error {
	if why == "" {
		return errs.E(errs.Invalid, "Invalid value %s for parameter '%s' supplied.", quote(value), field)
	}
	return errs.E(errs.Invalid, "Invalid value %s for parameter '%s' supplied: %s", quote(value), field, why)
}

func tooLong(field string, limit int) error {
	return errs.E(errs.Invalid, "'%s' exceeds the maximum length of %d characters", field, limit)
}

const badCharacters = "Names may only contain alphanumerics, underscores (_), dashes (-), periods (.), spaces ( ), colon(:) and slashes (/)."

// validateName checks a metric, param or tag key as MLflow does: word
// characters, "/", ".", "-", " " and ":" only, and it must read the same
// once normalised as a path (no "", ".", "..", leading "/", "a//b", ...),
// because keys may become file names.
func validateName(field, name string) error {
	for _, r := range name {
		if !(unicode.IsLetter(r) || unicode.IsNumber(r) || r == '_' || r == '/' || r == '.' || r == '-' || r == ' ' || r == ':') {
			return invalidValue(field, name, badCharacters)
		}
	}
	if norm := path.Clean(name); norm != name || norm == "." || strings.HasPrefix(norm, "..") || strings.HasPrefix(norm, "/") {
		return invalidValue(field, name, fmt.Sprintf("Names may be treated as files in certain cases, and must not resolve to other names when treated as such. This name would resolve to '%s'", path.Clean(name)))
	}
	return nil
}

// validateKey checks a metric, param or tag key: its characters, then its
// length.
func validateKey(field, key string) error {
	if err := validateName(field, key); err != nil {
		return err
	}
	if utf8.RuneCountInString(key) > MaxEntityKeyLength {
		return tooLong(field, MaxEntityKeyLength)
	}
	return nil
}

// checkText refuses text that PostgreSQL cannot store (NUL) so that a bad
// value is a 400, never a database error.
func checkText(field, s string) error {
	if strings.IndexByte(s, 0) >= 0 {
		return errs.E(errs.Invalid, "Invalid value for parameter '%s': it contains a NUL character", field)
	}
	if !utf8.ValidString(s) {
		return errs.E(errs.Invalid, "Invalid value for parameter '%s': it is not valid UTF-8", field)
	}
	return nil
}

// truncate cuts s to limit characters: MLflow's server truncates over-long
// param and tag values rather than refusing them.
func truncate(s string, limit int) string {
	if len(s) <= limit { // bytes >= runes, so this is the common fast path
		return s
	}
	if utf8.RuneCountInString(s) <= limit {
		return s
	}
	return string([]rune(s)[:limit])
}

// normalizeParam validates a param and truncates its value.
func normalizeParam(prefix string, p Param) (Param, error) {
	if err := validateKey(prefix+"key", p.Key); err != nil {
		return p, err
	}
	if err := checkText(prefix+"value", p.Value); err != nil {
		return p, err
	}
	p.Value = truncate(p.Value, MaxParamValueLength)
	return p, nil
}

// normalizeTag validates a run tag and truncates its value.
func normalizeTag(prefix string, t Tag) (Tag, error) {
	if err := validateKey(prefix+"key", t.Key); err != nil {
		return t, err
	}
	if err := checkText(prefix+"value", t.Value); err != nil {
		return t, err
	}
	t.Value = truncate(t.Value, MaxTagValueLength)
	return t, nil
}

// validateMetric checks a metric point. Values may be NaN or ±Inf.
func validateMetric(prefix string, m Metric) error {
	if err := validateName(prefix+"name", m.Key); err != nil {
		return err
	}
	if m.Timestamp < 0 {
		return invalidValue(prefix+"timestamp", fmt.Sprint(m.Timestamp),
			fmt.Sprintf("metric '%s' (value=%v). Timestamp must be a nonnegative long (64-bit integer) ", clip(m.Key), m.Value))
	}
	if utf8.RuneCountInString(m.Key) > MaxEntityKeyLength {
		return tooLong("Metric name", MaxEntityKeyLength)
	}
	for _, f := range [...][2]string{{"model_id", m.ModelID}, {"dataset_name", m.DatasetName}, {"dataset_digest", m.DatasetDigest}} {
		if err := checkText(prefix+f[0], f[1]); err != nil {
			return err
		}
	}
	return nil
}

// validateExperimentName checks a new or renamed experiment's name.
func validateExperimentName(name string) error {
	if name == "" {
		return errs.E(errs.Invalid, "Invalid experiment name: ''")
	}
	if utf8.RuneCountInString(name) > MaxExperimentNameLength {
		return tooLong("name", MaxExperimentNameLength)
	}
	return checkText("name", name)
}

// validateExperimentTag checks an experiment tag; unlike run tags, long
// values are refused, not truncated.
func validateExperimentTag(key, value string) error {
	if err := validateName("key", key); err != nil {
		return err
	}
	if utf8.RuneCountInString(key) > MaxExperimentTagKey {
		return tooLong("key", MaxExperimentTagKey)
	}
	if utf8.RuneCountInString(value) > MaxExperimentTagValue {
		return tooLong("value", MaxExperimentTagValue)
	}
	return checkText("value", value)
}

// CleanArtifactLocation validates a client-supplied experiment artifact
// location. Only mlflow-artifacts:/<path> is accepted, with the path
// confined by blob.CleanPath: any other scheme (file:, s3:, dbfs:, ...), a
// bare path, "..", an encoded dot-dot or a host part is refused, because the
// server would otherwise write artifacts wherever a client pointed it. It
// returns the location in canonical form.
func CleanArtifactLocation(loc string) (string, error) {
	rest, ok := strings.CutPrefix(loc, ArtifactScheme)
	if !ok {
		return "", errs.E(errs.Invalid, "Invalid value for parameter 'artifact_location': %s; it must be an %s/<path> URI, served and confined by this server", quote(loc), ArtifactScheme)
	}
	if !strings.HasPrefix(rest, "/") || strings.HasPrefix(rest, "//") {
		return "", errs.E(errs.Invalid, "Invalid value for parameter 'artifact_location': %s; use %s/<path> with no host part", quote(loc), ArtifactScheme)
	}
	p, err := blob.CleanPath(rest[1:], false)
	if err != nil {
		return "", errs.Wrap(errs.Invalid, err, "Invalid value for parameter 'artifact_location': %s", err.Error())
	}
	return ArtifactScheme + "/" + p, nil
}

// checkMaxResults applies MLflow's bounds and default for search pages.
func checkMaxResults(n, def int) (int, error) {
	switch {
	case n == 0:
		return def, nil
	case n < 0:
		return 0, errs.E(errs.Invalid, "Invalid value %d for parameter 'max_results' supplied. It must be a positive integer", n)
	case n > MaxResultsThreshold:
		return 0, errs.E(errs.Invalid, "Invalid value %d for parameter 'max_results' supplied. It must be at most %d", n, MaxResultsThreshold)
	}
	return n, nil
}

// isTerminal reports whether a run status means the run has ended.
func isTerminal(status string) bool {
	return status == StatusFinished || status == StatusFailed || status == StatusKilled
}

func validStatus(s string) bool {
	switch s {
	case StatusRunning, StatusScheduled, StatusFinished, StatusFailed, StatusKilled:
		return true
	}
	return false
}

// sanitizeValue splits a metric value into what is stored: NaN becomes
// (0, true) so that it has one representation on both engines.
func sanitizeValue(v float64) (float64, int) {
	if math.IsNaN(v) {
		return 0, 1
	}
	return v, 0
}

func restoreValue(v float64, isNaN int) float64 {
	if isNaN != 0 {
		return math.NaN()
	}
	return v
}
