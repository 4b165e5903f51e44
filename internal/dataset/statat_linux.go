package dataset

import (
	"os"

	"golang.org/x/sys/unix"
)

// statIn stats the entry name of the open folder d without following a
// symlink, relative to the folder (no lookup of the whole path full).
func statIn(d *os.File, name, _ string) (fileStat, fileKind) {
	var st unix.Stat_t
	err := unix.Fstatat(int(d.Fd()), name, &st, unix.AT_SYMLINK_NOFOLLOW)
	for err == unix.EINTR {
		err = unix.Fstatat(int(d.Fd()), name, &st, unix.AT_SYMLINK_NOFOLLOW)
	}
	if err != nil {
		return fileStat{}, kindOther
	}
	kind := kindOther
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		kind = kindRegular
	case unix.S_IFDIR:
		kind = kindDir
	}
	return fileStat{
		size:  int64(st.Size),                               //nolint:unconvert // not int64 everywhere
		mtime: int64(st.Mtim.Sec)*1e9 + int64(st.Mtim.Nsec), //nolint:unconvert // int32 on 32-bit
		inode: uint64(st.Ino),                               //nolint:unconvert
		dev:   uint64(st.Dev),                               //nolint:unconvert // uint32 on mips
	}, kind
}
