//go:build unix

package dataset

import (
	"io/fs"
	"syscall"
)

// statOf reads what the state cache keys a file by.
func statOf(fi fs.FileInfo) fileStat {
	st := fileStat{size: fi.Size(), mtime: fi.ModTime().UnixNano()}
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		st.inode = uint64(sys.Ino)
		st.dev = uint64(sys.Dev) //nolint:unconvert // int32 on some platforms
	}
	return st
}
