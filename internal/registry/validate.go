package registry

import (
	"path"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/mlcycle/mlcycle/internal/errs"
)

// Limits on what clients send. Names, keys and aliases follow MLflow's
// column sizes; descriptions and values are generous but bounded.
const (
	MaxNameLen        = 256     // characters
	MaxTagKeyLen      = 250     // characters
	MaxTagValueLen    = 100_000 // characters
	MaxAliasLen       = 255     // characters
	MaxDescriptionLen = 65_536  // bytes
	MaxSourceLen      = 4096    // bytes
	MaxRunLinkLen     = 4096    // bytes
	MaxTagsPerRequest = 1000
)

// PromptTag marks a registered model (and its versions) as an MLflow prompt.
// Searches leave prompts out unless the filter asks for them, as MLflow's
// do: the MLflow client lists models and prompts separately.
const PromptTag = "mlflow.prompt.is_prompt"

// quote clips and quotes a client value for an error message.
func quote(s string) string {
	if utf8.RuneCountInString(s) > 100 {
		s = string([]rune(s)[:100]) + "..."
	}
	return strconv.Quote(s)
}

func missing(field string) error {
	return errs.E(errs.Invalid, "Missing value for required parameter '%s'.", field)
}

// checkText refuses what PostgreSQL cannot store in TEXT (invalid UTF-8,
// NUL), so such input is a clear 400 on both engines rather than a 500 on one.
func checkText(field, s string) error {
	if !utf8.ValidString(s) {
		return errs.E(errs.Invalid, "Invalid value for parameter '%s': not valid UTF-8", field)
	}
	if strings.IndexByte(s, 0) >= 0 {
		return errs.E(errs.Invalid, "Invalid value for parameter '%s': contains a NUL character", field)
	}
	return nil
}

// noControl refuses control characters in identifiers (names, keys,
// aliases), which would only confuse logs, URIs and the UI.
func noControl(field, s string) error {
	if err := checkText(field, s); err != nil {
		return err
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return errs.E(errs.Invalid, "Invalid value %s for parameter '%s': contains a control character", quote(s), field)
		}
	}
	return nil
}

// validateModelName applies MLflow's rules for registered model names: not
// blank, no '/' or ':' (they would break models:/ URIs), and nothing that a
// file system would read as another name ("." or a leading ".."). field is
// the parameter the name came in ("name", "new_name").
func validateModelName(field, name string) error {
	if strings.TrimSpace(name) == "" {
		return missing(field)
	}
	if err := noControl(field, name); err != nil {
		return err
	}
	if utf8.RuneCountInString(name) > MaxNameLen {
		return errs.E(errs.Invalid, "Invalid value for parameter '%s': longer than %d characters", field, MaxNameLen)
	}
	if strings.ContainsAny(name, "/:") {
		return errs.E(errs.Invalid, "Invalid model name %s. Names cannot contain '/' or ':'.", quote(name))
	}
	if name == "." || strings.HasPrefix(name, "..") {
		return errs.E(errs.Invalid, "Invalid model name %s: names must not read as a relative path such as '.' or '..'", quote(name))
	}
	return nil
}

// validateTagKey applies MLflow's tag key rules: letters, digits, '_', '-',
// '.', ' ', ':' and '/', and a path-like key must be a clean relative path.
func validateTagKey(key string) error {
	if key == "" {
		return missing("key")
	}
	if err := noControl("key", key); err != nil {
		return err
	}
	for _, r := range key {
		if !(unicode.IsLetter(r) || unicode.IsNumber(r) || strings.ContainsRune("_-. :/", r)) {
			return errs.E(errs.Invalid, "Invalid value %s for parameter 'key': names may only contain alphanumerics, underscores (_), dashes (-), periods (.), spaces ( ), colons (:) and slashes (/)", quote(key))
		}
	}
	if c := path.Clean(key); c != key || c == "." || strings.HasPrefix(c, "..") || strings.HasPrefix(c, "/") {
		return errs.E(errs.Invalid, "Invalid value %s for parameter 'key': names may be treated as files, and this one would resolve to %s", quote(key), quote(path.Clean(key)))
	}
	if utf8.RuneCountInString(key) > MaxTagKeyLen {
		return errs.E(errs.Invalid, "'key' exceeds the maximum length of %d characters", MaxTagKeyLen)
	}
	return nil
}

func validateTag(t Tag) error {
	if err := validateTagKey(t.Key); err != nil {
		return err
	}
	if err := checkText("value", t.Value); err != nil {
		return err
	}
	if utf8.RuneCountInString(t.Value) > MaxTagValueLen {
		return errs.E(errs.Invalid, "'value' exceeds the maximum length of %d characters", MaxTagValueLen)
	}
	return nil
}

// validateTags checks a create request's tags and collapses repeated keys
// (the last value wins, as in MLflow).
func validateTags(tags []Tag) ([]Tag, error) {
	if len(tags) > MaxTagsPerRequest {
		return nil, errs.E(errs.Invalid, "too many tags: %d, at most %d per request", len(tags), MaxTagsPerRequest)
	}
	out := make([]Tag, 0, len(tags))
	at := map[string]int{}
	for _, t := range tags {
		if err := validateTag(t); err != nil {
			return nil, err
		}
		if i, ok := at[t.Key]; ok {
			out[i].Value = t.Value
			continue
		}
		at[t.Key] = len(out)
		out = append(out, t)
	}
	return out, nil
}

func validateDescription(d string) error {
	if err := checkText("description", d); err != nil {
		return err
	}
	if len(d) > MaxDescriptionLen {
		return errs.E(errs.Invalid, "'description' exceeds the maximum length of %d bytes", MaxDescriptionLen)
	}
	return nil
}

// validateAlias applies MLflow's alias rules: 1-255 letters, digits, '_'
// and '-'.
func validateAlias(alias string) error {
	if alias == "" {
		return errs.E(errs.Invalid, "Registered model alias name cannot be empty.")
	}
	if !utf8.ValidString(alias) {
		return errs.E(errs.Invalid, "Invalid value for parameter 'alias': not valid UTF-8")
	}
	for _, r := range alias {
		if !(unicode.IsLetter(r) || unicode.IsNumber(r) || r == '_' || r == '-') {
			return errs.E(errs.Invalid, "Invalid alias name: %s. Names may only contain alphanumerics, underscores (_), and dashes (-).", quote(alias))
		}
	}
	if utf8.RuneCountInString(alias) > MaxAliasLen {
		return errs.E(errs.Invalid, "'alias' exceeds the maximum length of %d characters", MaxAliasLen)
	}
	return nil
}

// reservedAlias refuses the alias names that models:/ URIs already give a
// meaning: "latest" and version references such as "v1" or "V12".
func reservedAlias(alias string) error {
	if strings.EqualFold(alias, "latest") {
		return errs.E(errs.Invalid, "'latest' alias name (case insensitive) is reserved.")
	}
	if isVersionAlias(alias) {
		return errs.E(errs.Invalid, "Version alias name %s is reserved.", quote(alias))
	}
	return nil
}

func isVersionAlias(alias string) bool {
	if len(alias) < 2 || (alias[0] != 'v' && alias[0] != 'V') {
		return false
	}
	for _, r := range alias[1:] {
		if !unicode.IsDigit(r) {
			return false
		}
	}
	return true
}

// ParseVersion reads a version number as MLflow sends it (a decimal string).
func ParseVersion(s string) (int64, error) {
	if s == "" {
		return 0, missing("version")
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return 0, errs.E(errs.Invalid, "Parameter 'version' must be an integer, got %s.", quote(s))
	}
	return n, nil
}

// CanonicalStage maps a stage name, in any letter case, to its canonical
// spelling ("production" -> "Production").
func CanonicalStage(s string) (string, error) {
	for _, st := range allStages {
		if strings.EqualFold(s, st) {
			return st, nil
		}
	}
	return "", errs.E(errs.Invalid, "Invalid Model Version stage: %s. Value must be one of %s.", quote(s), strings.Join(allStages[:], ", "))
}

// validateRunLink accepts an empty link or an http(s) URL: the UI renders
// it as a link, so a javascript: or data: URL must not get in.
func validateRunLink(link string) error {
	if link == "" {
		return nil
	}
	if err := noControl("run_link", link); err != nil {
		return err
	}
	if len(link) > MaxRunLinkLen {
		return errs.E(errs.Invalid, "'run_link' exceeds the maximum length of %d bytes", MaxRunLinkLen)
	}
	l := strings.ToLower(link)
	if !strings.HasPrefix(l, "http://") && !strings.HasPrefix(l, "https://") {
		return errs.E(errs.Invalid, "Invalid value %s for parameter 'run_link': it must be an http:// or https:// URL", quote(link))
	}
	return nil
}

// validateRunID checks the shape of a run id (hex-ish, as MLflow makes
// them); whether the run exists is the Sources' answer.
func validateRunID(id string) error {
	if len(id) > 64 {
		return errs.E(errs.Invalid, "Invalid value for parameter 'run_id': longer than 64 characters")
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return errs.E(errs.Invalid, "Invalid value %s for parameter 'run_id': run ids are letters, digits, '-' and '_'", quote(id))
		}
	}
	return nil
}

// validateModelID checks the shape of a logged model id ("m-" and hex in
// MLflow 3).
func validateModelID(id string) error {
	if len(id) > 64 {
		return errs.E(errs.Invalid, "Invalid value for parameter 'model_id': longer than 64 characters")
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return errs.E(errs.Invalid, "Invalid value %s for parameter 'model_id': model ids are letters, digits, '-' and '_'", quote(id))
		}
	}
	return nil
}
