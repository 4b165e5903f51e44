package blob

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"

	"gocloud.dev/blob/fileblob"
)

// dirMode is used for folders the file backend creates. Artifacts can hold
// models and data, so other users get no access.
const dirMode = 0o750

// fileblobTemp matches the temp files fileblob writes next to the target
// ("<name>.<UnixNano in hex>.tmp", 16 hex digits for any date after 2006).
var fileblobTemp = regexp.MustCompile(`\.[0-9a-f]{16}\.tmp$`)

// openFile opens a folder on the local filesystem, creating it if missing and
// checking up front that it is writable, so a misconfiguration fails at
// start-up rather than at the first upload.
func openFile(u *url.URL) (*Store, error) {
	if u.Host != "" && u.Host != "localhost" {
		return nil, fmt.Errorf("file URL %q has host %q: use file:///absolute/path", u.Redacted(), u.Host)
	}
	if u.RawQuery != "" {
		return nil, fmt.Errorf("file URL %q: query parameters are not supported", u.Redacted())
	}
	dir := filepath.FromSlash(u.Path)
	if !filepath.IsAbs(dir) {
		return nil, fmt.Errorf("file URL %q: path must be absolute, e.g. file:///var/lib/mlcycle/artifacts", u.Redacted())
	}
	dir = filepath.Clean(dir)
	if err := os.MkdirAll(dir, dirMode); err != nil {
		return nil, fmt.Errorf("creating artifact folder %s: %w (choose a folder the server can create and write to)", dir, err)
	}
	if err := probeWritable(dir); err != nil {
		return nil, fmt.Errorf("artifact folder %s is not writable: %w (give the server's user write access, or choose another folder)", dir, err)
	}
	// Resolve symlinks once so that confine compares like with like.
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return nil, fmt.Errorf("resolving artifact folder %s: %w", dir, err)
	}
	b, err := fileblob.OpenBucket(real, &fileblob.Options{
		DirFileMode: dirMode,
		// Temp files next to the target: os.TempDir is often another mount,
		// where the final rename would fail. List and Walk hide them.
		NoTempDir: true,
		// No ".attrs" sidecar files: we keep no per-object metadata.
		Metadata: fileblob.MetadataDontWrite,
	})
	if err != nil {
		return nil, fmt.Errorf("opening artifact folder %s: %w", dir, err)
	}
	return &Store{bucket: b, dir: real}, nil
}

// probeWritable creates and removes a file in dir.
func probeWritable(dir string) error {
	f, err := os.CreateTemp(dir, ".mlcycle-probe-*")
	if err != nil {
		return err
	}
	name := f.Name()
	if err := f.Close(); err != nil {
		_ = os.Remove(name)
		return err
	}
	return os.Remove(name)
}

// confine refuses a key whose existing path crosses a symlink that resolves
// outside the root. fileblob follows symlinks, so without this check a link
// planted in the folder would let clients read or write anywhere the server
// can. (A link swapped in between this check and the operation is outside our
// threat model: clients cannot create links through the Store.)
func (s *Store) confine(key string) error {
	if key == "" {
		return nil
	}
	p := s.dir
	for _, seg := range strings.Split(key, "/") {
		p = filepath.Join(p, seg)
		fi, err := os.Lstat(p)
		if err != nil {
			// Missing (the rest will be created as plain folders), or an
			// error the operation itself will report.
			return nil
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			continue
		}
		target, err := filepath.EvalSymlinks(p)
		if err != nil || !within(s.dir, target) {
			return invalidPath(key, "leads through a symlink outside the artifact folder")
		}
	}
	return nil
}

// within reports whether p is root or below it; both are absolute and clean.
func within(root, p string) bool {
	rel, err := filepath.Rel(root, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// reservedFileName reports keys the file backend uses for itself: temp files
// of writes in progress (or of a crash) and metadata sidecars.
func reservedFileName(key string) bool {
	name := path.Base(key)
	return fileblobTemp.MatchString(name) || strings.HasSuffix(name, ".attrs")
}

// removeDir deletes the folder prefix with everything in it, including temp
// files of interrupted writes. os.RemoveAll does not follow symlinks, and
// confine has vetted the path. A prefix naming a file is left alone, as on
// object stores, where only keys under "prefix/" would match.
func (s *Store) removeDir(prefix string) error {
	p := filepath.Join(s.dir, filepath.FromSlash(prefix))
	fi, err := os.Lstat(p)
	switch {
	case errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR):
		return nil
	case err != nil:
		return fmt.Errorf("deleting %q: %w", prefix, err)
	case !fi.IsDir():
		return nil
	}
	if err := os.RemoveAll(p); err != nil {
		return fmt.Errorf("deleting %q: %w", prefix, err)
	}
	return nil
}
