package dataset

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// alignedBytes returns n pseudo-random bytes starting at a directAlign
// boundary, plus one, as a buffer that does not.
func alignedBytes(seed uint64, n int) (aligned, misaligned []byte) {
	raw := make([]byte, n+2*directAlign)
	off := directAlign - int(uintptr(unsafe.Pointer(&raw[0]))%directAlign)
	aligned = raw[off : off+n]
	copy(aligned, randBytes(seed, n))
	misaligned = raw[off+1 : off+1+n]
	return aligned, misaligned
}

// Chunk files written with O_DIRECT (large, aligned), with a buffered tail,
// or buffered altogether hold exactly the chunk's bytes; so does every
// write once the file system is known to refuse O_DIRECT.
func TestCreateWriteDirect(t *testing.T) {
	for _, noDirect := range []bool{false, true} {
		c := &casFiles{root: t.TempDir()}
		c.noDirect.Store(noDirect)
		for _, n := range []int{directMin - 1, directMin, directMin + 1, directMin + directAlign - 1, 3*directMin + 12345, ChunkMax} {
			aligned, misaligned := alignedBytes(uint64(n), n)
			for name, data := range map[string][]byte{"aligned": aligned, "misaligned": misaligned} {
				want := bytes.Clone(data)
				path := filepath.Join(c.root, name+"-"+strconv.Itoa(n))
				if err := c.createWrite(path, data); err != nil {
					t.Fatalf("noDirect=%v %s %d: %v", noDirect, name, n, err)
				}
				got, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("noDirect=%v %s %d: file holds %d bytes, not the chunk's %d", noDirect, name, n, len(got), len(want))
				}
				if err := c.createWrite(path, data); !os.IsExist(err) {
					t.Fatalf("writing over an existing file: %v", err)
				}
			}
		}
		if !noDirect && supportsDirect(t, c.root) && c.noDirect.Load() {
			t.Fatal("the folder takes O_DIRECT, yet the writer gave it up")
		}
	}
}

// supportsDirect reports whether files in dir can be opened with O_DIRECT
// (tmpfs before Linux 6.6 cannot, for one).
func supportsDirect(t *testing.T, dir string) bool {
	fd, err := unix.Open(filepath.Join(dir, "probe"), unix.O_WRONLY|unix.O_CREAT|unix.O_DIRECT, 0o600)
	if err != nil {
		t.Logf("%s does not take O_DIRECT (%v): only the buffered path is tested", dir, err)
		return false
	}
	unix.Close(fd)
	return true
}
