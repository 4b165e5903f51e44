//go:build !linux

package dataset

import "os"

// createWrite creates the file path (which must not exist) and writes data.
func (*casFiles) createWrite(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// syncChunkFiles fsyncs every chunk file and its folder.
func syncChunkFiles(_ string, paths []string) error { return fsyncPaths(paths) }
