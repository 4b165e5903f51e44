package dataset

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/mlcycle/mlcycle/internal/errs"
)

// FuzzManifest feeds arbitrary JSON to what a server does with a pushed
// manifest: decode, normalise, validate. Nothing may panic, and a manifest
// that validates must survive its own encoding unchanged: same digest,
// still valid, and every multi-chunk file's hash that of its chunk list.
func FuzzManifest(f *testing.F) {
	chunks := []Chunk{{hashOf("1"), 600 << 10}, {hashOf("2"), 10}}
	multi, err := ChunkListHash(chunks)
	if err != nil {
		f.Fatal(err)
	}
	for _, m := range []Manifest{
		{Format: ManifestFormat, Files: []FileEntry{{Path: "a.csv", Size: 3, Hash: hashOf("abc"), Profile: json.RawMessage(`{"rows":1}`)}}},
		{Format: ManifestFormat, Files: []FileEntry{{Path: "dir/big.bin", Size: 600<<10 + 10, Hash: multi, Chunks: chunks}, {Path: "e", Hash: emptyHash}}},
	} {
		b, err := json.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"format":2,"files":[{"path":"../x","size":1,"hash":"` + hashOf("x") + `"}]}`))
	f.Add([]byte(`{"format":2,"files":[{"path":"a","size":2,"hash":"` + hashOf("x") + `","chunks":[{"hash":"zz","size":1},{"hash":"` + hashOf("y") + `","size":1}]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := decodeManifest(data)
		if err != nil {
			return
		}
		n := m.Normalize()
		if n.Validate() != nil {
			return
		}
		for _, fe := range n.Files {
			if len(fe.Chunks) > 1 {
				if h, err := ChunkListHash(fe.Chunks); err != nil || h != fe.Hash {
					t.Fatalf("%s validated with hash %s, chunk list hashes to %s (%v)", fe.Path, fe.Hash, h, err)
				}
			}
		}
		b, _, err := n.encode()
		if err != nil {
			t.Fatalf("a valid manifest does not encode: %v", err)
		}
		back, err := decodeManifest(b)
		if err != nil {
			t.Fatalf("its encoding does not decode: %v", err)
		}
		back = back.Normalize()
		if err := back.Validate(); err != nil {
			t.Fatalf("its encoding no longer validates: %v", err)
		}
		if back.Digest() != n.Digest() {
			t.Fatalf("digest changed through encoding: %s -> %s", n.Digest(), back.Digest())
		}
	})
}

// FuzzChunkBatch feeds arbitrary bytes to what a server does with a batch
// upload before storing it: decode (with a chunk limit small enough for
// fuzzed inputs to cross it). Nothing may panic; a batch that decodes is
// within the limits and encodes back to the same bytes.
func FuzzChunkBatch(f *testing.F) {
	var good bytes.Buffer
	if err := EncodeChunkBatch(&good, []ChunkData{{Hash: hashOf("a"), Data: []byte("a")}, {Hash: hashOf("bc"), Data: []byte("bc")}}); err != nil {
		f.Fatal(err)
	}
	f.Add(good.Bytes())
	f.Add(good.Bytes()[:40])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		const limit = 300
		chunks, err := DecodeChunkBatch(bytes.NewReader(data), limit)
		if err != nil {
			if errs.CodeOf(err) != errs.Invalid {
				t.Fatalf("decode error of kind %v: %v", errs.CodeOf(err), err)
			}
			return
		}
		if len(chunks) > MaxBatchChunks {
			t.Fatalf("decoded %d chunks", len(chunks))
		}
		var total int
		for _, c := range chunks {
			if len(c.Data) == 0 || len(c.Data) >= limit || checkHash("", c.Hash) != nil {
				t.Fatalf("decoded a chunk outside the limits: %d bytes, hash %q", len(c.Data), c.Hash)
			}
			total += len(c.Data)
		}
		if total > MaxBatchBytes {
			t.Fatalf("decoded %d bytes", total)
		}
		var again bytes.Buffer
		if err := EncodeChunkBatch(&again, chunks); err != nil || !bytes.Equal(again.Bytes(), data) {
			t.Fatalf("re-encoding differs (%v)", err)
		}
	})
}
