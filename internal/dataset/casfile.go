package dataset

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zeebo/blake3"

	"github.com/mlcycle/mlcycle/internal/blob"
)

// Chunk files: the direct write path of a file:// store.
//
// Chunks are immutable and named by their hash, so they need none of what
// the blob store's generic Put does per object (a writer, tracing, a folder
// check per key, a sidecar). casFiles writes each chunk to a temp file in its
// final folder and renames it into place, so a torn write is never visible
// under a chunk's name; a chunk file already there with the right content
// is left alone. The chunks an add writes go into pack files instead
// (pack.go), written through the same path.
//
// Durability. Nothing is fsynced per chunk. Instead:
//
//  1. Right after a chunk is written, its writeback is started (Linux:
//     sync_file_range), so the disk works while the add goes on hashing.
//     On Linux, chunks of 1 MiB or more go to the disk directly (O_DIRECT,
//     all but the last partial block), skipping the copy into the page
//     cache; see createWrite.
//  2. Before chunks are registered in dataset_chunks (and so before any
//     version can refer to them), sync makes every chunk written so far
//     durable: one syncfs(2) of the store's filesystem on Linux, an fsync
//     of each file and its folder elsewhere.
//
// A crash therefore loses at most chunks no row refers to: after it, a
// chunk file may be missing, empty or short (its rename reached the disk
// before its data), and the next write of that chunk finds it, sees the
// content does not hash right, and replaces it. A version's manifest is
// written and synced the same way before the version is committed.
type casFiles struct {
	root string // the store's folder, symlinks resolved

	dirs sync.Map // "hh" (or "packs") -> true once the folder is made and checked

	mu      sync.Mutex
	pending []string // chunk files written since the last sync

	noDirect atomic.Bool // the file system refused an O_DIRECT write (Linux)
}

// newCASFiles returns the direct writer of a file:// store, nil for others.
func newCASFiles(blobs *blob.Store) *casFiles {
	if blobs == nil || blobs.LocalDir() == "" {
		return nil
	}
	return &casFiles{root: blobs.LocalDir()}
}

func (c *casFiles) path(hash string) string {
	return filepath.Join(c.root, casPrefix, hash[:2], hash)
}

// dir makes the folder of hashes starting with prefix, once, and checks
// that it stays inside the store (a symlink planted there must not lead
// writes elsewhere, as the blob store's own checks guarantee for Put). A
// failure is not remembered: once the store is mended (a full disk, a
// file in the folder's way), the next write tries again.
func (c *casFiles) dir(prefix string) error {
	if _, ok := c.dirs.Load(prefix); ok {
		return nil
	}
	if err := c.makeDir(prefix); err != nil {
		return err
	}
	c.dirs.Store(prefix, true)
	return nil
}

func (c *casFiles) makeDir(prefix string) error {
	d := filepath.Join(c.root, casPrefix, prefix)
	if err := os.MkdirAll(d, 0o750); err != nil {
		return fmt.Errorf("creating chunk folder: %w", err)
	}
	real, err := filepath.EvalSymlinks(d)
	if err != nil {
		return fmt.Errorf("resolving chunk folder: %w", err)
	}
	if real != d && !strings.HasPrefix(real, c.root+string(filepath.Separator)) {
		return fmt.Errorf("chunk folder %s leads through a symlink outside the store", d)
	}
	return nil
}

// put stores data, whose BLAKE3 hash is hash, unless the chunk file is
// already there with that content. It reports whether it wrote the file.
// The chunk is durable only after the next sync.
func (c *casFiles) put(hash string, data []byte) (bool, error) {
	wrote, err := c.store(hash, data)
	if err == nil {
		c.written(c.path(hash))
	}
	return wrote, err
}

// store is put without remembering the file for the next sync.
func (c *casFiles) store(hash string, data []byte) (bool, error) {
	if err := c.dir(hash[:2]); err != nil {
		return false, err
	}
	final := c.path(hash)
	if fi, err := os.Lstat(final); err == nil && fi.Mode().IsRegular() && fi.Size() == int64(len(data)) {
		if ok, err := fileHashes(final, hash); err == nil && ok {
			// Written by an earlier add that did not register it (it was
			// interrupted, or runs now): it may not be durable yet. Its
			// modification time is renewed, as a rewrite would, so gc's
			// grace period keeps it until this add registers it.
			now := time.Now()
			_ = os.Chtimes(final, now, now)
			return false, nil
		}
	}
	if err := c.writeFileAtomic(final, data); err != nil {
		return false, fmt.Errorf("storing chunk %s: %w", hash, err)
	}
	return true, nil
}

// has reports whether a file is stored under the chunk's name (its content
// unchecked).
func (c *casFiles) has(hash string) bool {
	_, err := os.Lstat(c.path(hash))
	return err == nil
}

// write stores data under hash, replacing any file there.
func (c *casFiles) write(hash string, data []byte) error {
	return c.writeIn(hash[:2], c.path(hash), "chunk "+hash, data)
}

// writeIn writes data atomically to path, in the store's folder dir (made
// if missing), to be made durable by the next sync; what names it in errors.
func (c *casFiles) writeIn(dir, path, what string, data []byte) error {
	if err := c.dir(dir); err != nil {
		return err
	}
	if err := c.writeFileAtomic(path, data); err != nil {
		return fmt.Errorf("storing %s: %w", what, err)
	}
	c.written(path)
	return nil
}

// putSynced is put followed by an fsync of the one chunk file and its
// folder, for a chunk stored on its own (a push).
func (c *casFiles) putSynced(hash string, data []byte) error {
	if _, err := c.store(hash, data); err != nil {
		return err
	}
	if err := fsyncPaths([]string{c.path(hash)}); err != nil {
		return fmt.Errorf("syncing chunk %s: %w", hash, err)
	}
	return nil
}

func (c *casFiles) written(path string) {
	c.mu.Lock()
	c.pending = append(c.pending, path)
	c.mu.Unlock()
}

// sync makes every chunk file written so far durable.
func (c *casFiles) sync() error {
	c.mu.Lock()
	paths := c.pending
	c.pending = nil
	c.mu.Unlock()
	if len(paths) == 0 {
		return nil
	}
	if err := syncChunkFiles(c.root, paths); err != nil {
		// Put them back: the next sync tries again.
		c.mu.Lock()
		c.pending = append(c.pending, paths...)
		c.mu.Unlock()
		return fmt.Errorf("syncing stored chunks: %w", err)
	}
	return nil
}

// writeFileAtomic writes data to a temp file beside path and renames it
// over path. The temp name follows the blob store's pattern for temp files
// (name.<16 hex digits>.tmp), so listings hide it.
func (c *casFiles) writeFileAtomic(path string, data []byte) error {
	var (
		tmp string
		err error
	)
	for range 100 {
		tmp = path + "." + strconv.FormatUint(rand.Uint64()|1<<63, 16) + ".tmp"
		if err = c.createWrite(tmp, data); !errors.Is(err, fs.ErrExist) {
			break
		}
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
	}
	return err
}

// fileHashes reports whether the file at path hashes to hash.
func fileHashes(path, hash string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	h := blake3.New()
	if _, err := io.Copy(h, f); err != nil {
		return false, err
	}
	var sum [32]byte
	h.Sum(sum[:0])
	return hex.EncodeToString(sum[:]) == hash, nil
}

// fsyncPaths fsyncs each file, then each folder holding one (so the
// renames are durable too).
func fsyncPaths(paths []string) error {
	dirs := map[string]bool{}
	for _, p := range paths {
		if err := fsyncPath(p); err != nil {
			return err
		}
		dirs[filepath.Dir(p)] = true
	}
	for d := range dirs {
		if err := fsyncPath(d); err != nil {
			return err
		}
	}
	return nil
}

func fsyncPath(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
