package dataset

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/mlcycle/mlcycle/internal/blob"
	"github.com/mlcycle/mlcycle/internal/errs"
)

// fileStat is what identifies an unchanged file: size, modification time in
// nanoseconds, inode and device.
type fileStat struct {
	size  int64
	mtime int64
	inode uint64
	dev   uint64
}

// localFile is a file chosen for an add.
type localFile struct {
	rel  string // path in the manifest
	open string // absolute real path of the bytes (a symlink's target)
	st   fileStat
}

// LocalFile is a file of an add, as the validation hook sees it.
type LocalFile struct {
	Path    string // path in the dataset ("/"-separated, relative)
	AbsPath string // where to read it
	Size    int64
}

// resolveBase returns the real absolute base folder of an add, and the
// base as the user named it: baseDir when set; otherwise the folder itself
// when paths is a single folder, else the current directory.
func resolveBase(paths []string, baseDir string) (string, string, error) {
	if len(paths) == 0 {
		return "", "", errs.E(errs.Invalid, "no paths to add: name files, folders or glob patterns")
	}
	base := baseDir
	if base == "" {
		base = "."
		if len(paths) == 1 {
			if fi, err := os.Stat(paths[0]); err == nil && fi.IsDir() {
				base = paths[0]
			}
		}
	}
	absBase, err := filepath.Abs(base)
	if err != nil {
		return "", "", errs.E(errs.Invalid, "base folder %s: %v", base, err)
	}
	realBase, err := filepath.EvalSymlinks(absBase)
	if err != nil {
		return "", "", errs.E(errs.Invalid, "base folder %s: %v", base, pathErr(err))
	}
	if fi, err := os.Stat(realBase); err != nil || !fi.IsDir() {
		return "", "", errs.E(errs.Invalid, "base folder %s is not a folder", base)
	}
	return realBase, base, nil
}

// collectFiles expands the paths of an add (files, folders, glob patterns,
// relative to the current directory) into regular files, each with its path
// relative to the base folder (see resolveBase).
//
// Every file must be inside the base, after resolving symlinks: a path that
// leaves it (through "..", an absolute path or a symlink) is refused, naming
// it. Symlinks to files inside the base are followed (the file is recorded
// under the link's name); symlinks to folders are refused, since following
// them can loop. Anything but regular files (devices, sockets, pipes) is
// refused. The result is sorted by path, without repeats.
func collectFiles(realBase, shownBase string, paths []string) ([]localFile, error) {
	c := collector{base: realBase, shown: shownBase}
	for _, p := range paths {
		if err := c.addArg(p); err != nil {
			return nil, err
		}
	}
	files, err := c.examineAll()
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, errs.E(errs.Invalid, "no files to add in %s", strings.Join(paths, ", "))
	}
	return files, nil
}

type collector struct {
	base    string // real absolute base folder
	shown   string // the base as the user named it, for messages
	pending []pendingFile
}

// pendingFile is a file found by expanding the paths, not yet examined.
type pendingFile struct {
	shown string // as the user would name it, for messages
	real  string // absolute, its folder resolved (the file itself not)
}

func (c *collector) addArg(p string) error {
	if _, err := os.Lstat(p); err != nil {
		if errors.Is(err, fs.ErrNotExist) && strings.ContainsAny(p, "*?[") {
			matches, gerr := filepath.Glob(p)
			if gerr != nil {
				return errs.E(errs.Invalid, "bad glob pattern %q: %v", p, gerr)
			}
			if len(matches) == 0 {
				return errs.E(errs.Invalid, "no files match %q", p)
			}
			for _, m := range matches {
				if err := c.addPath(m); err != nil {
					return err
				}
			}
			return nil
		}
		return errs.E(errs.Invalid, "cannot read %s: %v", p, pathErr(err))
	}
	return c.addPath(p)
}

// addPath adds a file, or every file under a folder.
func (c *collector) addPath(p string) error {
	abs, err := filepath.Abs(p)
	if err != nil {
		return errs.E(errs.Invalid, "%s: %v", p, err)
	}
	// Resolve the parent, not the path itself, so that a symlink keeps its
	// own name in the dataset.
	realDir, err := filepath.EvalSymlinks(filepath.Dir(abs))
	if err != nil {
		return errs.E(errs.Invalid, "cannot read %s: %v", p, pathErr(err))
	}
	real := filepath.Join(realDir, filepath.Base(abs))
	if filepath.Base(abs) == string(filepath.Separator) { // the root itself
		real = realDir
	}
	fi, err := os.Lstat(real)
	if err != nil {
		return errs.E(errs.Invalid, "cannot read %s: %v", p, pathErr(err))
	}
	if !within(c.base, real) {
		return errs.E(errs.Invalid, "%s is outside the base folder %s", p, c.shown)
	}
	if !fi.IsDir() {
		c.pending = append(c.pending, pendingFile{shown: p, real: real})
		return nil
	}
	// WalkDir does not follow symlinked folders; they appear as entries
	// that examine refuses.
	return filepath.WalkDir(real, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			shown := filepath.Join(p, strings.TrimPrefix(path, real))
			return errs.E(errs.Invalid, "cannot read %s: %v", shown, pathErr(err))
		}
		if !d.IsDir() {
			c.pending = append(c.pending, pendingFile{shown: filepath.Join(p, strings.TrimPrefix(path, real)), real: path})
		}
		return nil
	})
}

// examineAll stats the pending files in parallel (stat dominates the time
// of a re-add of many small files) and returns them sorted by dataset
// path, without repeats, or the first error in listing order.
func (c *collector) examineAll() ([]localFile, error) {
	files := make([]localFile, len(c.pending))
	errsOf := make([]error, len(c.pending))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(len(c.pending), 4*runtime.GOMAXPROCS(0)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(c.pending) {
					return
				}
				files[i], errsOf[i] = c.examine(c.pending[i])
			}
		}()
	}
	wg.Wait()
	for _, err := range errsOf {
		if err != nil {
			return nil, err
		}
	}
	slices.SortFunc(files, func(a, b localFile) int { return strings.Compare(a.rel, b.rel) })
	return slices.CompactFunc(files, func(a, b localFile) bool { return a.rel == b.rel }), nil
}

// examine checks one file: a regular file, or a symlink to one inside the
// base, with a path the blob store accepts.
func (c *collector) examine(pf pendingFile) (localFile, error) {
	p, real := pf.shown, pf.real
	fi, err := os.Lstat(real)
	if err != nil {
		return localFile{}, errs.E(errs.Invalid, "cannot read %s: %v", p, pathErr(err))
	}
	open := real
	if fi.Mode()&fs.ModeSymlink != 0 {
		target, err := filepath.EvalSymlinks(real)
		if err != nil {
			return localFile{}, errs.E(errs.Invalid, "%s is a broken symlink: %v", p, pathErr(err))
		}
		if !within(c.base, target) {
			return localFile{}, errs.E(errs.Invalid, "%s is a symlink to %s, outside the base folder %s", p, target, c.shown)
		}
		if fi, err = os.Stat(target); err != nil {
			return localFile{}, errs.E(errs.Invalid, "cannot read %s: %v", p, pathErr(err))
		}
		if fi.IsDir() {
			return localFile{}, errs.E(errs.Invalid, "%s is a symlink to a folder; symlinked folders are not followed (add %s itself)", p, target)
		}
		open = target
	}
	if !fi.Mode().IsRegular() {
		return localFile{}, errs.E(errs.Invalid, "%s is not a regular file", p)
	}
	relOS, ok := strings.CutPrefix(real, c.base+string(filepath.Separator))
	if !ok || c.base == string(filepath.Separator) {
		if relOS, err = filepath.Rel(c.base, real); err != nil {
			return localFile{}, errs.E(errs.Invalid, "%s is outside the base folder %s", p, c.shown)
		}
	}
	rel, err := blob.CleanPath(filepath.ToSlash(relOS), false)
	if err != nil {
		return localFile{}, errs.E(errs.Invalid, "%s cannot be stored: %v", p, err)
	}
	return localFile{rel: rel, open: open, st: statOf(fi)}, nil
}

// within reports whether p is root or below it; both are absolute and clean.
func within(root, p string) bool {
	rel, err := filepath.Rel(root, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}
