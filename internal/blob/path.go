package blob

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ErrInvalidPath marks a key or prefix that CleanPath refused. It is wrapped;
// test with errors.Is.
var ErrInvalidPath = errors.New("invalid path")

// MaxPathLen is the longest path accepted, in bytes. It is S3's key limit.
const MaxPathLen = 1024

// CleanPath is the one place where a client-supplied artifact path is made
// safe: every such path goes through it before it reaches a Store. It returns
// a clean relative key with "/" separators, or an error wrapping
// ErrInvalidPath that says what was wrong.
//
// Harmless noise is removed silently: "." segments, repeated slashes and a
// trailing slash ("./a//b/" becomes "a/b"). Anything that could change where
// the path points, or how another layer would read it, is refused:
//   - a ".." segment, or any segment made only of dots and spaces (Windows
//     trims trailing dots and spaces, so "... " can mean "..");
//   - an absolute path ("/etc", "//host/share");
//   - a colon in the first segment: a URI scheme ("file:", "s3://", "dbfs:/")
//     or a drive letter ("C:/");
//   - backslashes, control characters and invalid UTF-8;
//   - '#', '?' and ';', which URL layers read as fragment, query or path
//     parameter ("a/..;/b" tricks);
//   - any '%'. Paths are never percent-decoded, so rejecting '%' outright
//     closes every encoded or double-encoded ".." at once. The cost is that
//     artifact names containing a literal '%' are not supported;
//   - more than MaxPathLen bytes.
//
// An empty result ("", ".", "/") is an error unless allowEmpty is set, which
// callers use for prefixes where "" means the root.
func CleanPath(p string, allowEmpty bool) (string, error) {
	if len(p) > MaxPathLen {
		return "", invalidPath(p, fmt.Sprintf("longer than %d bytes", MaxPathLen))
	}
	if !utf8.ValidString(p) {
		return "", invalidPath(p, "not valid UTF-8")
	}
	for _, r := range p {
		switch {
		case unicode.IsControl(r):
			return "", invalidPath(p, "contains a control character")
		case r == '\\':
			return "", invalidPath(p, `contains a backslash; use "/" as the separator`)
		case r == '%':
			return "", invalidPath(p, `contains "%" (paths are not percent-decoded and literal "%" is not supported)`)
		case r == '#' || r == '?' || r == ';':
			return "", invalidPath(p, fmt.Sprintf("contains %q", r))
		}
	}
	if strings.HasPrefix(p, "/") {
		return "", invalidPath(p, "is absolute; artifact paths are relative")
	}
	segs := make([]string, 0, strings.Count(p, "/")+1)
	for _, seg := range strings.Split(p, "/") {
		switch {
		case seg == "" || seg == ".":
			continue
		case seg == "..":
			return "", invalidPath(p, `contains a ".." segment`)
		case strings.TrimRight(seg, ". ") == "":
			return "", invalidPath(p, fmt.Sprintf("segment %q is only dots and spaces", seg))
		}
		segs = append(segs, seg)
	}
	if len(segs) > 0 && strings.Contains(segs[0], ":") {
		return "", invalidPath(p, "starts with a URI scheme or drive letter")
	}
	if len(segs) == 0 && !allowEmpty {
		return "", invalidPath(p, "is empty")
	}
	return strings.Join(segs, "/"), nil
}

// Join confines rel under base. Both are cleaned with CleanPath; base may be
// "" (the root), and an empty rel means base itself, so that "list the root of
// this run's artifacts" needs no special case. The result never leaves base.
func Join(base, rel string) (string, error) {
	b, err := CleanPath(base, true)
	if err != nil {
		return "", err
	}
	r, err := CleanPath(rel, true)
	if err != nil {
		return "", err
	}
	switch {
	case r == "":
		return b, nil
	case b == "":
		return r, nil
	}
	joined := b + "/" + r
	if len(joined) > MaxPathLen {
		return "", invalidPath(r, fmt.Sprintf("longer than %d bytes once joined to %q", MaxPathLen, b))
	}
	return joined, nil
}

// invalidPath builds an ErrInvalidPath error quoting (a bounded amount of) the
// offending path, so logs stay readable whatever a client sends.
func invalidPath(p, why string) error {
	const show = 80
	if len(p) > show {
		p = p[:show] + "..."
	}
	return fmt.Errorf("%w %q: %s", ErrInvalidPath, p, why)
}
