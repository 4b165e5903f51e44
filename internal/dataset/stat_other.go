//go:build !unix

package dataset

import "io/fs"

// statOf reads what the state cache keys a file by. Without inodes, size
// and modification time alone decide.
func statOf(fi fs.FileInfo) fileStat {
	return fileStat{size: fi.Size(), mtime: fi.ModTime().UnixNano()}
}
