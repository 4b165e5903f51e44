package dataset

import (
	"os"

	"golang.org/x/sys/unix"
)

// createWrite creates the file path (which must not exist), writes data
// and starts its writeback, so the sync before registration mostly finds
// it on disk already. Plain system calls: os.File would also try to
// register the file with the poller and query its flags, several more
// calls per chunk.
func createWrite(path string, data []byte) error {
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, 0o640)
	if err != nil {
		return &os.PathError{Op: "open", Path: path, Err: err}
	}
	for b := data; len(b) > 0 && err == nil; {
		var n int
		n, err = unix.Write(fd, b)
		if err == unix.EINTR {
			err = nil
		}
		b = b[n:]
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
