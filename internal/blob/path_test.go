package blob

import (
	"errors"
	"strings"
	"testing"
)

func TestCleanPath(t *testing.T) {
	good := []struct {
		in, want   string
		allowEmpty bool
	}{
		{in: "a.txt", want: "a.txt"},
		{in: "dir/sub/file.bin", want: "dir/sub/file.bin"},
		{in: "a//b", want: "a/b"},
		{in: "./a", want: "a"},
		{in: "a/./b/", want: "a/b"},
		{in: "a/", want: "a"},
		{in: "model/MLmodel", want: "model/MLmodel"},
		{in: ".hidden/.env", want: ".hidden/.env"},
		{in: "a..b/c...txt", want: "a..b/c...txt"},
		{in: "..a/b..", want: "..a/b.."},
		{in: "données/模型/файл.bin", want: "données/模型/файл.bin"},
		{in: "with space/x y.csv", want: "with space/x y.csv"},
		{in: "a/b:c", want: "a/b:c"}, // a colon after the first segment is a plain character
		{in: "metrics/loss@step=1,2+3&4", want: "metrics/loss@step=1,2+3&4"},
		{in: strings.Repeat("a", MaxPathLen), want: strings.Repeat("a", MaxPathLen)},
		{in: "", want: "", allowEmpty: true},
		{in: ".", want: "", allowEmpty: true},
		{in: "./", want: "", allowEmpty: true},
		{in: "a/.", want: "a", allowEmpty: true},
	}
	for _, tc := range good {
		got, err := CleanPath(tc.in, tc.allowEmpty)
		if err != nil || got != tc.want {
			t.Errorf("CleanPath(%q, %v) = %q, %v; want %q", tc.in, tc.allowEmpty, got, err, tc.want)
		}
	}

	bad := []string{
		"", ".", "./", "//",
		"..", "../x", "a/../../x", "a/..", "a/b/../c", "./../x", "x/../../../etc/passwd",
		"...", "a/.../b", ".. /x", "a/. ./b", " ", "a/ . /b",
		"%2e%2e/x", "%2e%2e%2fx", "%2E%2E%2Fx", "..%2f", "..%2fx", "%252e%252e%252f", "%%32%65",
		"%c0%ae%c0%ae/x", "%u002e%u002e/x", "a%20b", "100%",
		"..\\x", "a\\b", "\\\\server\\share", "c:\\x",
		"/etc/passwd", "//proc/self/root/etc/passwd", "/", "/a",
		"C:/x", "c:x", "C:", "file:///etc/passwd", "file:/etc/passwd", "dbfs:/x", "s3://b/k",
		"http://example.com/x", "mlflow-artifacts:/x", "./file:x",
		"a#b", "a?b", "a/..;/b", "a;b", "..;/x",
		"x\x00y", "x\ny", "x\ry", "x\ty", "x\x7fy", "x\u0085y", "\x1b[31m",
		"\xff\xfe", "a/\xc0\xae\xc0\xae/b",
		strings.Repeat("a", MaxPathLen+1),
		strings.Repeat("./", 1000) + "a",
		strings.Repeat("abcdefghij", 200),
	}
	for _, in := range bad {
		got, err := CleanPath(in, false)
		if !errors.Is(err, ErrInvalidPath) {
			t.Errorf("CleanPath(%q) = %q, %v; want ErrInvalidPath", in, got, err)
		}
	}
	// The empty path is the only input allowEmpty changes.
	for _, in := range bad[4:] {
		if got, err := CleanPath(in, true); err == nil {
			t.Errorf("CleanPath(%q, true) = %q; want ErrInvalidPath", in, got)
		}
	}
}

func TestCleanPathErrorSaysWhy(t *testing.T) {
	for in, want := range map[string]string{
		"../x":      `".."`,
		"/etc":      "absolute",
		"a%2fb":     `"%"`,
		"s3://b/k":  "scheme",
		"a\\b":      "backslash",
		"a/..;/b":   `';'`,
		"":          "empty",
		"x\x00y":    "control",
		"a/... /..": "dots",
	} {
		_, err := CleanPath(in, false)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("CleanPath(%q) error %v; want it to mention %s", in, err, want)
		}
	}
}

func TestJoin(t *testing.T) {
	tests := []struct {
		base, rel, want string
		wantErr         bool
	}{
		{base: "runs/1/artifacts", rel: "model/MLmodel", want: "runs/1/artifacts/model/MLmodel"},
		{base: "runs/1/artifacts/", rel: "./a//b", want: "runs/1/artifacts/a/b"},
		{base: "", rel: "a", want: "a"},
		{base: "runs/1", rel: "", want: "runs/1"},
		{base: "", rel: "", want: ""},
		{base: "runs/1", rel: "../2/x", wantErr: true},
		{base: "runs/1", rel: "/etc/passwd", wantErr: true},
		{base: "runs/1", rel: "file:///etc/passwd", wantErr: true},
		{base: "runs/1", rel: "a/..;/b", wantErr: true},
		{base: "../runs", rel: "x", wantErr: true},
		{base: strings.Repeat("b", 600), rel: strings.Repeat("r", 600), wantErr: true},
	}
	for _, tc := range tests {
		got, err := Join(tc.base, tc.rel)
		if tc.wantErr {
			if !errors.Is(err, ErrInvalidPath) {
				t.Errorf("Join(%q, %q) = %q, %v; want ErrInvalidPath", tc.base, tc.rel, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("Join(%q, %q) = %q, %v; want %q", tc.base, tc.rel, got, err, tc.want)
		}
	}
}

func FuzzCleanPath(f *testing.F) {
	// More seeds live in testdata/fuzz/FuzzCleanPath.
	for _, s := range []string{"a.txt", "a/../b", "%2e%2e/x", "C:\\x", "s3://b/k", "a/..;/b", "./a//b/"} {
		f.Add("runs/1", s)
	}
	f.Fuzz(func(t *testing.T, base, p string) {
		out, err := CleanPath(p, true)
		if err != nil {
			if !errors.Is(err, ErrInvalidPath) {
				t.Fatalf("CleanPath(%q) error %v does not wrap ErrInvalidPath", p, err)
			}
			return
		}
		checkClean(t, out)
		if again, err := CleanPath(out, true); err != nil || again != out {
			t.Fatalf("CleanPath not idempotent: %q -> %q -> %q, %v", p, out, again, err)
		}

		cleanBase, err := CleanPath(base, true)
		if err != nil {
			return
		}
		joined, err := Join(base, p)
		if err != nil {
			if !errors.Is(err, ErrInvalidPath) || len(cleanBase)+1+len(out) <= MaxPathLen {
				t.Fatalf("Join(%q, %q) unexpected error %v", base, p, err)
			}
			return
		}
		checkClean(t, joined)
		if cleanBase != "" && joined != cleanBase && !strings.HasPrefix(joined, cleanBase+"/") {
			t.Fatalf("Join(%q, %q) = %q escapes %q", base, p, joined, cleanBase)
		}
	})
}

// checkClean asserts the properties every key CleanPath returns must have.
func checkClean(t *testing.T, out string) {
	t.Helper()
	if len(out) > MaxPathLen {
		t.Fatalf("%q: longer than %d bytes", out, MaxPathLen)
	}
	if strings.HasPrefix(out, "/") || strings.HasSuffix(out, "/") {
		t.Fatalf("%q: leading or trailing slash", out)
	}
	if strings.ContainsAny(out, "\\\x00%#?;") {
		t.Fatalf("%q: forbidden character", out)
	}
	first, _, _ := strings.Cut(out, "/")
	if strings.Contains(first, ":") {
		t.Fatalf("%q: colon before the first slash", out)
	}
	if out == "" {
		return
	}
	for _, seg := range strings.Split(out, "/") {
		if seg == "" || seg == "." || seg == ".." || strings.Trim(seg, ". ") == "" {
			t.Fatalf("%q: bad segment %q", out, seg)
		}
	}
}
