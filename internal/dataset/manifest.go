package dataset

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/zeebo/blake3"

	"github.com/mlcycle/mlcycle/internal/blob"
	"github.com/mlcycle/mlcycle/internal/errs"
)

// ManifestFormat is the version of the manifest encoding (and of the digest
// computed over it). It is part of the hashed bytes. Format 2: FastCDC
// chunks, and a multi-chunk file's hash is that of its chunk list
// (ChunkListHash). Format 1 (Rabin chunks, whole-file hashes) was never
// released.
const ManifestFormat = 2

// MaxFiles bounds the files of one version.
const MaxFiles = 1_000_000

// DigestLen is the length of a version digest in hex characters: the first
// 128 bits of the BLAKE3 hash of the manifest's content fields. It fits the
// 36 characters MLflow allows for a dataset digest, so runs can log it.
const DigestLen = 32

// HashLen is the length of a chunk or file hash: BLAKE3-256 in lowercase hex.
const HashLen = 64

// emptyHash is the BLAKE3-256 of no bytes: the hash of an empty file.
var emptyHash = func() string { s := blake3.Sum256(nil); return hex.EncodeToString(s[:]) }()

// Manifest lists the files of a version. Its JSON form is what the blob store
// keeps (content-addressed like the chunks) and what push sends.
type Manifest struct {
	Format int         `json:"format"`
	Files  []FileEntry `json:"files"`
}

// FileEntry is one file of a version.
type FileEntry struct {
	// Path is relative, "/"-separated and clean (blob.CleanPath).
	Path string `json:"path"`
	Size int64  `json:"size"`
	// Hash is the BLAKE3-256 of the file's bytes when the file is one chunk
	// (always when it is under ChunkMin bytes), else ChunkListHash(Chunks).
	Hash string `json:"hash"`
	// Chunks are the file's pieces in order. They are omitted when the file
	// is a single chunk (then that chunk is Hash, Size) or empty.
	Chunks []Chunk `json:"chunks,omitempty"`
	// Profile is the table profile of a CSV, Parquet or JSON Lines file, as
	// the profiler wrote it. It is not part of the digest.
	Profile json.RawMessage `json:"profile,omitempty"`
}

// Chunk is a content-defined piece of a file, stored once under its hash.
type Chunk struct {
	Hash string `json:"hash"`
	Size int64  `json:"size"`
}

// ChunkList returns the file's chunks, including the implicit single chunk.
func (f FileEntry) ChunkList() []Chunk {
	switch {
	case len(f.Chunks) > 0:
		return f.Chunks
	case f.Size > 0:
		return []Chunk{{Hash: f.Hash, Size: f.Size}}
	}
	return nil
}

// TotalBytes is the sum of the file sizes.
func (m Manifest) TotalBytes() int64 {
	var n int64
	for _, f := range m.Files {
		n += f.Size
	}
	return n
}

// Chunks returns every distinct chunk the files need, in first-use order.
func (m Manifest) Chunks() []Chunk {
	seen := make(map[string]bool, len(m.Files))
	var out []Chunk
	for _, f := range m.Files {
		for _, c := range f.ChunkList() {
			if !seen[c.Hash] {
				seen[c.Hash] = true
				out = append(out, c)
			}
		}
	}
	return out
}

// File returns the entry at path.
func (m Manifest) File(p string) (FileEntry, bool) {
	i, ok := slices.BinarySearchFunc(m.Files, p, func(f FileEntry, p string) int { return strings.Compare(f.Path, p) })
	if !ok {
		return FileEntry{}, false
	}
	return m.Files[i], true
}

// Digest identifies the version's content: the first DigestLen hex digits of
// the BLAKE3-256 of the canonical JSON of the format and, for every file in
// path order, its path, size, hash and explicit chunk list. Profiles are
// left out, so the same bytes give the same digest whichever profiler ran.
// The manifest must be normalised (Normalize) for the digest to be canonical.
func (m Manifest) Digest() string {
	h := blake3.New()
	buf := make([]byte, 0, 64<<10)
	buf = append(buf, `{"format":`...)
	buf = strconv.AppendInt(buf, ManifestFormat, 10)
	buf = append(buf, `,"files":[`...)
	for i, f := range m.Files {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, `{"path":`...)
		buf = appendJSONString(buf, f.Path)
		buf = append(buf, `,"size":`...)
		buf = strconv.AppendInt(buf, f.Size, 10)
		buf = append(buf, `,"hash":`...)
		buf = appendJSONString(buf, f.Hash)
		if len(f.Chunks) > 0 {
			buf = append(buf, `,"chunks":[`...)
			for j, c := range f.Chunks {
				if j > 0 {
					buf = append(buf, ',')
				}
				buf = append(buf, `{"hash":`...)
				buf = appendJSONString(buf, c.Hash)
				buf = append(buf, `,"size":`...)
				buf = strconv.AppendInt(buf, c.Size, 10)
				buf = append(buf, '}')
			}
			buf = append(buf, ']')
		}
		buf = append(buf, '}')
		if len(buf) > 32<<10 {
			_, _ = h.Write(buf)
			buf = buf[:0]
		}
	}
	buf = append(buf, "]}"...)
	_, _ = h.Write(buf)
	var sum [32]byte
	h.Sum(sum[:0])
	return hex.EncodeToString(sum[:])[:DigestLen]
}

// appendJSONString appends s as encoding/json would write it: strings of
// plain printable ASCII as they are, anything else through encoding/json
// (which escapes quotes, backslashes, control characters, <, > and &).
func appendJSONString(buf []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			b, _ := json.Marshal(s)
			return append(buf, b...)
		}
	}
	buf = append(buf, '"')
	buf = append(buf, s...)
	return append(buf, '"')
}

// encode returns the stored form of the manifest and its BLAKE3-256 hash.
func (m Manifest) encode() ([]byte, string, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return nil, "", fmt.Errorf("encoding manifest: %w", err)
	}
	sum := blake3.Sum256(b)
	return b, hex.EncodeToString(sum[:]), nil
}

func decodeManifest(b []byte) (Manifest, error) {
	var m Manifest
	d := json.NewDecoder(bytes.NewReader(b))
	if err := d.Decode(&m); err != nil {
		return Manifest{}, fmt.Errorf("decoding manifest: %w", err)
	}
	return m, nil
}

// Normalize returns m in canonical form: files sorted by path, a single
// chunk equal to the whole file folded into the file entry, the format set.
// It does not check anything; Validate does.
func (m Manifest) Normalize() Manifest {
	out := Manifest{Format: m.Format, Files: slices.Clone(m.Files)}
	if out.Format == 0 {
		out.Format = ManifestFormat
	}
	slices.SortFunc(out.Files, func(a, b FileEntry) int { return strings.Compare(a.Path, b.Path) })
	for i := range out.Files {
		f := &out.Files[i]
		if len(f.Chunks) == 1 && f.Chunks[0].Hash == f.Hash && f.Chunks[0].Size == f.Size {
			f.Chunks = nil
		}
	}
	return out
}

// Validate checks a normalised manifest, as a server must before trusting
// one sent by a client: supported format, 1 to MaxFiles files with clean,
// unique paths where no file is also a folder, well-formed hashes, chunk
// sizes that add up to the file size, none over ChunkMax, and profiles that
// are JSON, and a multi-chunk file's hash equal to that of its chunk list.
// Whether the chunks hold the bytes their hashes name is checked where they
// are read (upload, Get).
func (m Manifest) Validate() error {
	if m.Format != ManifestFormat {
		return errs.E(errs.Invalid, "manifest format %d is not supported (this server reads format %d)", m.Format, ManifestFormat)
	}
	if len(m.Files) == 0 {
		return errs.E(errs.Invalid, "manifest has no files")
	}
	if len(m.Files) > MaxFiles {
		return errs.E(errs.Invalid, "manifest has %d files; at most %d are allowed in one version", len(m.Files), MaxFiles)
	}
	dirs := map[string]bool{}
	for i, f := range m.Files {
		field := fmt.Sprintf("files[%d]", i)
		clean, err := blob.CleanPath(f.Path, false)
		if err != nil {
			return errs.E(errs.Invalid, "%s.path: %v", field, err)
		}
		if clean != f.Path {
			return errs.E(errs.Invalid, "%s.path %q is not clean (expected %q)", field, clip(f.Path), clip(clean))
		}
		if i > 0 && m.Files[i-1].Path >= f.Path {
			return errs.E(errs.Invalid, "%s.path %q is listed twice or out of order", field, clip(f.Path))
		}
		for d := path.Dir(f.Path); d != "."; d = path.Dir(d) {
			dirs[d] = true
		}
		if f.Size < 0 {
			return errs.E(errs.Invalid, "%s.size %d is negative", field, f.Size)
		}
		if err := checkHash(field+".hash", f.Hash); err != nil {
			return err
		}
		if f.Size == 0 {
			if len(f.Chunks) > 0 || f.Hash != emptyHash {
				return errs.E(errs.Invalid, "%s %q is empty but has chunks or a hash other than that of no bytes", field, clip(f.Path))
			}
		} else if len(f.Chunks) == 0 && f.Size > ChunkMax {
			return errs.E(errs.Invalid, "%s %q is a single chunk of %d bytes; chunks are at most %d bytes", field, clip(f.Path), f.Size, ChunkMax)
		}
		var sum int64
		for j, c := range f.Chunks {
			cf := fmt.Sprintf("%s.chunks[%d]", field, j)
			if err := checkHash(cf+".hash", c.Hash); err != nil {
				return err
			}
			if c.Size <= 0 || c.Size > ChunkMax {
				return errs.E(errs.Invalid, "%s.size %d is outside 1..%d", cf, c.Size, ChunkMax)
			}
			sum += c.Size
		}
		if len(f.Chunks) > 0 && sum != f.Size {
			return errs.E(errs.Invalid, "%s %q: chunk sizes add up to %d, not the file size %d", field, clip(f.Path), sum, f.Size)
		}
		if len(f.Chunks) == 1 {
			return errs.E(errs.Invalid, "%s %q: a single chunk must be the whole file, with the file's hash", field, clip(f.Path))
		}
		if len(f.Chunks) > 1 {
			if want, _ := ChunkListHash(f.Chunks); f.Hash != want { // chunk hashes were checked above
				return errs.E(errs.Invalid, "%s.hash of %q does not match its chunk list (expected %s)", field, clip(f.Path), want)
			}
		}
		if len(f.Profile) > 0 && !json.Valid(f.Profile) {
			return errs.E(errs.Invalid, "%s.profile of %q is not valid JSON", field, clip(f.Path))
		}
	}
	for _, f := range m.Files {
		if dirs[f.Path] {
			return errs.E(errs.Invalid, "manifest path %q is both a file and a folder", clip(f.Path))
		}
	}
	return nil
}

// chunkListContext is the BLAKE3 key-derivation context of ChunkListHash.
// That mode hashes under its own domain flags, so no byte string has a
// plain BLAKE3 hash equal to the hash of some chunk list.
const chunkListContext = "mlcycle 2026-11-26 file hash from its chunk list"

// ChunkListHash is the hash of a file of two or more chunks: BLAKE3 in
// key-derivation mode under chunkListContext, over each chunk's 32-byte hash
// followed by its size as 8 little-endian bytes, in file order. Deriving it
// from the chunks saves hashing every byte twice on add and lets a server
// check a pushed manifest's file hashes without reading the chunks.
func ChunkListHash(chunks []Chunk) (string, error) {
	h := blake3.NewDeriveKey(chunkListContext)
	var rec [40]byte
	for i, c := range chunks {
		if len(c.Hash) != HashLen {
			return "", fmt.Errorf("chunk %d: hash %q is not %d hex digits", i+1, clip(c.Hash), HashLen)
		}
		if _, err := hex.Decode(rec[:32], []byte(c.Hash)); err != nil {
			return "", fmt.Errorf("chunk %d: hash %q: %w", i+1, clip(c.Hash), err)
		}
		binary.LittleEndian.PutUint64(rec[32:], uint64(c.Size))
		_, _ = h.Write(rec[:])
	}
	var sum [32]byte
	h.Sum(sum[:0])
	return hex.EncodeToString(sum[:]), nil
}

// checkHash checks a BLAKE3-256 hash in lowercase hex.
func checkHash(field, h string) error {
	if len(h) != HashLen {
		return errs.E(errs.Invalid, "%s %q is not a 64-character BLAKE3 hash", field, clip(h))
	}
	for i := 0; i < len(h); i++ {
		if c := h[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return errs.E(errs.Invalid, "%s %q is not lowercase hex", field, clip(h))
		}
	}
	return nil
}
