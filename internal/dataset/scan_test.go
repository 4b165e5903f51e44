package dataset

import (
	"path/filepath"
	"slices"
	"testing"
)

func TestOutsideBase(t *testing.T) {
	tmp, err := filepath.EvalSymlinks(t.TempDir()) // outside the package folder, the tests' current folder
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, tmp, "a/x.csv", []byte("x\n"))
	writeFile(t, tmp, "b/y.csv", []byte("y\n"))
	for _, c := range []struct {
		name  string
		paths []string
		want  string
	}{
		{"inside the current folder", []string{"scan.go", "."}, ""},
		{"one file outside", []string{filepath.Join(tmp, "a", "x.csv")}, filepath.Join(tmp, "a")},
		{"files in two folders outside", []string{filepath.Join(tmp, "a", "x.csv"), filepath.Join(tmp, "b", "y.csv")}, tmp},
		{"a folder outside", []string{filepath.Join(tmp, "a")}, filepath.Join(tmp, "a")},
		{"a glob outside", []string{filepath.Join(tmp, "b", "*.csv")}, filepath.Join(tmp, "b")},
		{"a folder and a glob", []string{filepath.Join(tmp, "a"), filepath.Join(tmp, "b", "*.csv")}, tmp},
	} {
		if got := outsideBase(c.paths); got != c.want {
			t.Errorf("%s: outsideBase(%q) = %q, want %q", c.name, c.paths, got, c.want)
		}
	}
}

// An add of files outside the current folder, without a base, names them
// relative to the deepest folder holding them all.
func TestAddOutsideCurrentFolderWithoutBase(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		tmp := t.TempDir()
		a := writeFile(t, tmp, "a/x.csv", []byte("x\n1\n"))
		b := writeFile(t, tmp, "b/y.txt", []byte("y\n"))
		res, err := e.svc.Add(e.ctx, AddInput{Name: "outside", Paths: []string{a, b}})
		if err != nil {
			t.Fatal(err)
		}
		d, err := e.svc.Show(e.ctx, res.Version.Ref())
		if err != nil {
			t.Fatal(err)
		}
		var paths []string
		for _, f := range d.Manifest.Files {
			paths = append(paths, f.Path)
		}
		if !slices.Equal(paths, []string{"a/x.csv", "b/y.txt"}) {
			t.Fatalf("paths %q", paths)
		}
	})
}
