package tracking

import (
	"strings"
	"testing"
)

func TestValidateName(t *testing.T) {
	for _, c := range []struct {
		name string
		ok   bool
	}{
		{"loss", true}, {"val/loss", true}, {"a b:c-d_e.f", true}, {"größe", true}, {"数字1", true},
		{"", false}, {".", false}, {"..", false}, {"../x", false}, {"a/../b", false}, {"/abs", false},
		{"a//b", false}, {"a/", false}, {"./a", false}, {"a\tb", false}, {"a|b", false}, {"a\x00b", false},
		{"a%b", false}, {"a\\b", false},
	} {
		if err := validateName("key", c.name); (err == nil) != c.ok {
			t.Errorf("validateName(%q) = %v, want ok=%v", c.name, err, c.ok)
		}
	}
}

func TestValidRunID(t *testing.T) {
	for id, want := range map[string]bool{
		"0123456789abcdef0123456789abcdef": true, "a-b_c": true, "A": true,
		"": false, "-a": false, "_a": false, "a.b": false, "a b": false, strings.Repeat("a", 257): false,
	} {
		if got := validRunID(id); got != want {
			t.Errorf("validRunID(%q) = %v", id, got)
		}
	}
}

func TestTruncate(t *testing.T) {
	if got := truncate(strings.Repeat("ü", 10), 4); got != "üüüü" {
		t.Fatalf("truncate by characters: %q", got)
	}
	if got := truncate("abc", 4); got != "abc" {
		t.Fatalf("short value: %q", got)
	}
}

// FuzzCleanArtifactLocation checks that an accepted location is canonical
// (cleaning it again changes nothing) and stays under the artifact root.
func FuzzCleanArtifactLocation(f *testing.F) {
	for _, s := range []string{
		"mlflow-artifacts:/a/b", "mlflow-artifacts:/../x", "mlflow-artifacts://host/x", "mlflow-artifacts:/%2e%2e/x",
		"file:///etc", "s3://b/k", "mlflow-artifacts:/a/./b//c/", "mlflow-artifacts:/c:/x", "mlflow-artifacts:/ok?x",
		"mlflow-artifacts:/…/x", "mlflow-artifacts:/. /x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, loc string) {
		got, err := CleanArtifactLocation(loc)
		if err != nil {
			return
		}
		rest, ok := strings.CutPrefix(got, ArtifactScheme+"/")
		if !ok || rest == "" || strings.HasPrefix(rest, "/") {
			t.Fatalf("%q cleaned to %q", loc, got)
		}
		for _, seg := range strings.Split(rest, "/") {
			if seg == "" || seg == "." || seg == ".." || strings.ContainsAny(seg, "\\%?#") {
				t.Fatalf("%q cleaned to %q with segment %q", loc, got, seg)
			}
		}
		again, err := CleanArtifactLocation(got)
		if err != nil || again != got {
			t.Fatalf("cleaning %q again gave %q, %v", got, again, err)
		}
	})
}
