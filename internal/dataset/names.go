package dataset

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/mlcycle/mlcycle/internal/errs"
)

// MaxNameLen is the longest dataset name or tag, in bytes.
const MaxNameLen = 128

// SourceScheme starts the source URI of a dataset version, as runs log it:
// mlcycle://<name>@<version>.
const SourceScheme = "mlcycle://"

// LatestTag names the newest live version of a dataset. It cannot be set.
const LatestTag = "latest"

// ValidateName checks a dataset name: 1 to 128 characters of lowercase
// letters, digits, '.', '_' and '-', starting with a letter or digit.
//
// Names are lowercase only so that one dataset has one spelling in URLs, on
// case-insensitive file systems and in run sources; "Iris" is refused with
// a hint rather than silently becoming a second dataset next to "iris".
func ValidateName(name string) error {
	return checkIdent("dataset name", name)
}

// ValidateTag checks a tag: the same characters as a name, and neither
// "latest" nor a plain number (those already mean versions).
func ValidateTag(tag string) error {
	if err := checkIdent("tag", tag); err != nil {
		return err
	}
	if tag == LatestTag {
		return errs.E(errs.Invalid, "tag %q is reserved: it always names the newest version", tag)
	}
	if isDigits(tag) {
		return errs.E(errs.Invalid, "tag %q is reserved: plain numbers name versions", tag)
	}
	return nil
}

func checkIdent(what, s string) error {
	if s == "" {
		return errs.E(errs.Invalid, "%s is empty", what)
	}
	if len(s) > MaxNameLen {
		return errs.E(errs.Invalid, "%s %q is longer than %d characters", what, clip(s), MaxNameLen)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case (c == '.' || c == '_' || c == '-') && i > 0:
		case c >= 'A' && c <= 'Z':
			return errs.E(errs.Invalid, "%s %q has upper-case letters: names are lowercase (use %q)", what, clip(s), strings.ToLower(s))
		default:
			return errs.E(errs.Invalid, "%s %q is not allowed: use lowercase letters, digits, '.', '_' and '-', starting with a letter or digit", what, clip(s))
		}
	}
	return nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Ref names a dataset version: Name alone or Name@latest is the newest live
// version, Name@3 a number, Name@prod a tag.
type Ref struct {
	Name    string
	Version int64  // > 0 for a numbered version
	Tag     string // a user tag; "" with Version 0 means latest
}

// ParseRef reads "name", "name@3", "name@latest" or "name@tag", optionally
// prefixed by "mlcycle://".
func ParseRef(s string) (Ref, error) {
	raw := s
	s = strings.TrimPrefix(s, SourceScheme)
	name, sel, hasAt := strings.Cut(s, "@")
	if err := ValidateName(name); err != nil {
		return Ref{}, errs.E(errs.Invalid, "dataset reference %q: %s", clip(raw), errs.MessageOf(err))
	}
	r := Ref{Name: name}
	switch {
	case !hasAt || sel == LatestTag:
	case isDigits(sel):
		v, err := strconv.ParseInt(sel, 10, 64)
		if err != nil || v <= 0 {
			return Ref{}, errs.E(errs.Invalid, "dataset reference %q: version %q is not a positive number", clip(raw), clip(sel))
		}
		r.Version = v
	default:
		if err := checkIdent("tag", sel); err != nil {
			return Ref{}, errs.E(errs.Invalid, "dataset reference %q: %s", clip(raw), errs.MessageOf(err))
		}
		r.Tag = sel
	}
	return r, nil
}

// String is the canonical form: name@3, name@tag or name@latest.
func (r Ref) String() string {
	switch {
	case r.Version > 0:
		return fmt.Sprintf("%s@%d", r.Name, r.Version)
	case r.Tag != "":
		return r.Name + "@" + r.Tag
	}
	return r.Name + "@" + LatestTag
}

// IsLatest reports whether r names the newest version rather than a fixed one.
func (r Ref) IsLatest() bool { return r.Version == 0 && r.Tag == "" }

// SourceURI is the source a run logs for a version: mlcycle://name@3.
func SourceURI(name string, version int64) string {
	return fmt.Sprintf("%s%s@%d", SourceScheme, name, version)
}

// clip bounds user text quoted in messages.
func clip(s string) string {
	const n = 80
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
