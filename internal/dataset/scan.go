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

// fileKind is what a folder walk tells apart.
type fileKind int

const (
	kindOther   fileKind = iota // symlinks, special files, failed stats: see examine
	kindRegular                 // a regular file
	kindDir                     // a folder (not a symlink to one)
)

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
		base = outsideBase(paths)
	}
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
	walked  [][]localFile // files found and examined by folder walks
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
	files, err := c.walkFolder(p, real)
	if err != nil {
		return err
	}
	c.walked = append(c.walked, files)
	return nil
}

// walkFolder lists and examines every file under the folder real (named p
// by the user). Listing and stat'ing is nearly all the time of a re-add of
// many small files, so folders are read in parallel, and regular files are
// stat'ed relative to their open folder (no path lookup from the root) with
// their path built once. Symlinked folders are not followed: they appear as
// entries that examine refuses.
func (c *collector) walkFolder(p, real string) ([]localFile, error) {
	w := &folderWalk{c: c, p: p, root: real, sem: make(chan struct{}, 2*runtime.GOMAXPROCS(0)-1)}
	w.wg.Add(1)
	w.dir(real)
	w.wg.Wait()
	if len(w.errs) > 0 {
		// The first failing path, as a sequential walk would report it.
		first := slices.MinFunc(w.errs, func(a, b walkErr) int { return strings.Compare(a.path, b.path) })
		return nil, first.err
	}
	// Folders in path order, each sorted: the files nearly are.
	w.out = slices.DeleteFunc(w.out, func(part []localFile) bool { return len(part) == 0 })
	slices.SortFunc(w.out, func(a, b []localFile) int { return strings.Compare(a[0].rel, b[0].rel) })
	n := 0
	for _, part := range w.out {
		n += len(part)
	}
	files := make([]localFile, 0, n)
	for _, part := range w.out {
		files = append(files, part...)
	}
	return files, nil
}

type folderWalk struct {
	c       *collector
	p, root string
	sem     chan struct{} // bounds the extra goroutines
	wg      sync.WaitGroup

	mu   sync.Mutex
	out  [][]localFile
	errs []walkErr
}

type walkErr struct {
	path string
	err  error
}

// shown names path (under the walk's root) as the user would.
func (w *folderWalk) shown(path string) string {
	return filepath.Join(w.p, strings.TrimPrefix(path, w.root))
}

func (w *folderWalk) fail(path string, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.errs = append(w.errs, walkErr{path, err})
}

// dir examines the files of one folder, then walks its subfolders, on new
// goroutines while the bound allows, else on this one.
func (w *folderWalk) dir(path string) {
	defer w.wg.Done()
	subdirs, err := w.files(path)
	if err != nil {
		w.fail(path, errs.E(errs.Invalid, "cannot read %s: %v", w.shown(path), pathErr(err)))
		return
	}
	for _, sub := range subdirs {
		w.wg.Add(1)
		select {
		case w.sem <- struct{}{}:
			go func() {
				defer func() { <-w.sem }()
				w.dir(sub)
			}()
		default:
			w.dir(sub)
		}
	}
}

// files lists the folder path, examines its files and returns its
// subfolders.
func (w *folderWalk) files(path string) ([]string, error) {
	d, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	// Names only: every entry is stat'ed anyway, and a DirEntry per file
	// would be one more allocation each.
	names, err := d.Readdirnames(-1)
	if err != nil {
		return nil, err
	}
	var subdirs []string
	out := make([]localFile, 0, len(names))
	for _, name := range names {
		full := path + string(filepath.Separator) + name
		st, kind := statIn(d, name, full)
		if kind == kindDir {
			subdirs = append(subdirs, full)
			continue
		}
		f, ok := w.c.fastExamine(st, kind, full)
		if !ok {
			// Symlinks, special files, races and unusual names: the
			// general examination and its messages.
			if f, err = w.c.examine(pendingFile{shown: w.shown(full), real: full}); err != nil {
				w.fail(full, err)
				continue
			}
		}
		out = append(out, f)
	}
	// Sorted here, in parallel, the final sort of all files has little left
	// to do.
	slices.SortFunc(out, cmpRel)
	w.mu.Lock()
	w.out = append(w.out, out)
	w.mu.Unlock()
	return subdirs, nil
}

func cmpRel(a, b localFile) int { return strings.Compare(a.rel, b.rel) }

// fastExamine examines a file whose stat (without following a symlink) is
// st and kind, at the absolute real path full: the common case of examine,
// a regular file, without its allocations and path lookups. ok false
// leaves the file to examine.
func (c *collector) fastExamine(st fileStat, kind fileKind, full string) (localFile, bool) {
	if kind != kindRegular {
		return localFile{}, false
	}
	relOS, ok := strings.CutPrefix(full, c.base+string(filepath.Separator))
	if !ok || c.base == string(filepath.Separator) {
		return localFile{}, false
	}
	rel := filepath.ToSlash(relOS)
	clean, err := blob.CleanPath(rel, false)
	if err != nil {
		return localFile{}, false
	}
	if clean == rel {
		clean = rel // keep the one string: rel is part of full
	}
	return localFile{rel: clean, open: full, st: st}, true
}

// examineAll stats the pending files (single files named by the user and
// glob matches) in parallel and returns them with the walked ones, sorted
// by dataset path, without repeats, or the first error in listing order.
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
	for _, part := range c.walked {
		files = append(files, part...)
	}
	slices.SortFunc(files, cmpRel)
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

// outsideBase returns the deepest folder holding every path when one of
// them lies outside the current folder, else "" (then a single folder is
// its own base, and the current folder is the base of anything else).
func outsideBase(args []string) string {
	cwd, err := os.Getwd()
	if err != nil {
		return ""
	}
	var common string
	outside := false
	for i, a := range args {
		dir := a
		if k := strings.IndexAny(a, "*?["); k >= 0 {
			dir = filepath.Dir(a[:k] + "x") // the fixed part of a glob
		} else if fi, err := os.Stat(a); err == nil && !fi.IsDir() {
			dir = filepath.Dir(a)
		}
		abs, err := filepath.Abs(dir)
		if err != nil {
			return ""
		}
		if rel, err := filepath.Rel(cwd, abs); err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			outside = true
		}
		if i == 0 {
			common = abs
			continue
		}
		for common != filepath.Dir(common) {
			if rel, err := filepath.Rel(common, abs); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
				break
			}
			common = filepath.Dir(common)
		}
	}
	if !outside {
		return ""
	}
	return common
}
