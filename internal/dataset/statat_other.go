//go:build !linux

package dataset

import "os"

// statIn stats the entry at full (named name in the open folder d) without
// following a symlink.
func statIn(_ *os.File, _, full string) (fileStat, fileKind) {
	fi, err := os.Lstat(full)
	switch {
	case err != nil:
		return fileStat{}, kindOther
	case fi.Mode().IsRegular():
		return statOf(fi), kindRegular
	case fi.IsDir():
		return fileStat{}, kindDir
	}
	return fileStat{}, kindOther
}
