package dataset

import (
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Chunks of at least directMin bytes whose buffer starts at a directAlign
// boundary are written with O_DIRECT, all but their last partial block:
// the disk reads them from the buffer, where a buffered write would first
// copy every byte into the page cache (the largest CPU cost of adding a
// large file, and the add has to wait for the disk before registering
// the chunks anyway). Smaller chunks stay buffered: a direct write waits
// for the disk, which would serialise many small files on its latency.
const (
	directMin   = 1 << 20
	directAlign = 4096 // a multiple of any logical block size in use
)

// createWrite creates the file path (which must not exist), writes data
// and starts its writeback, so the sync before registration mostly finds
// it on disk already. Plain system calls: os.File would also try to
// register the file with the poller and query its flags, several more
// calls per chunk. If the file system refuses O_DIRECT, noDirect is set
// and the chunk is written buffered.
func (c *casFiles) createWrite(path string, data []byte) error {
	direct := len(data) >= directMin && !c.noDirect.Load() &&
		uintptr(unsafe.Pointer(unsafe.SliceData(data)))%directAlign == 0
	flags := unix.O_WRONLY | unix.O_CREAT | unix.O_EXCL | unix.O_CLOEXEC
	if direct {
		flags |= unix.O_DIRECT
	}
	fd, err := unix.Open(path, flags, 0o640)
	if err == unix.EINVAL && direct {
		c.noDirect.Store(true)
		return c.createWrite(path, data)
	}
	if err != nil {
		return &os.PathError{Op: "open", Path: path, Err: err}
	}
	rest := data
	if direct {
		n := len(data) &^ (directAlign - 1)
		err = writeAll(fd, data[:n])
		if err == unix.EINVAL {
			// The device wants a larger alignment: from now on, and for
			// this chunk, buffered writes.
			c.noDirect.Store(true)
			_ = unix.Close(fd)
			_ = unix.Unlink(path)
			return c.createWrite(path, data)
		}
		rest = data[n:]
		if err == nil && len(rest) > 0 {
			// The last partial block goes through the page cache.
			_, err = unix.FcntlInt(uintptr(fd), unix.F_SETFL, 0)
		}
	}
	if err == nil {
		err = writeAll(fd, rest)
	}
	if err == nil {
		_ = unix.SyncFileRange(fd, 0, 0, unix.SYNC_FILE_RANGE_WRITE)
	}
	if cerr := unix.Close(fd); err == nil {
		err = cerr
	}
	if err != nil {
		return &os.PathError{Op: "write", Path: path, Err: err}
	}
	return nil
}

// writeAll writes b to fd, retrying short writes and EINTR.
func writeAll(fd int, b []byte) error {
	for len(b) > 0 {
		n, err := unix.Write(fd, b)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

// syncChunkFiles makes the chunk files durable with one syncfs(2) of the
// store's filesystem: one journal commit for any number of files, where an
// fsync each would cost one per file.
func syncChunkFiles(root string, _ []string) error {
	f, err := os.Open(root)
	if err != nil {
		return err
	}
	defer f.Close()
	return unix.Syncfs(int(f.Fd()))
}
