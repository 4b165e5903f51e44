package dataset

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/zeebo/blake3"

	"github.com/mlcycle/mlcycle/internal/errs"
)

func hashOf(s string) string {
	sum := blake3.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// TestChunkBoundariesArePinned pins the storage format: the same bytes must
// be cut at the same places by every mlcycle, on every machine, forever.
// If this fails, chunking changed and deduplication across versions made by
// different mlcycle releases is broken.
func TestChunkBoundariesArePinned(t *testing.T) {
	for _, tc := range []struct {
		name string
		data []byte
		want []int64
	}{
		{"random", randBytes(42, 12<<20), []int64{599441, 1725088, 1797092, 1096257, 1249285, 1457587, 1191075, 1703062, 1557442, 206583}},
		// A run of zeros never matches the masks: cuts are forced at ChunkMax.
		{"zeros", make([]byte, 20<<20), []int64{ChunkMax, ChunkMax, 4 << 20}},
		{"one byte over the minimum", randBytes(7, ChunkMin+1), []int64{ChunkMin + 1}},
	} {
		if got := sequentialCuts(t, tc.data); !slices.Equal(got, tc.want) {
			t.Errorf("%s: chunk sizes %v\nwant %v", tc.name, got, tc.want)
		}
	}
}

// TestChunkListHash pins the file hash of multi-chunk files (part of the
// format) and checks what it depends on.
func TestChunkListHash(t *testing.T) {
	a, b := Chunk{hashOf("a"), 600 << 10}, Chunk{hashOf("b"), 10}
	hash := func(cs ...Chunk) string {
		t.Helper()
		h, err := ChunkListHash(cs)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	ab := hash(a, b)
	// The same value as Python's blake3 package (the reference Rust
	// implementation): blake3(bytes, derive_key_context=...).hexdigest().
	if want := "52bce27d0beb3640fbf27806ce3e7ec93cedecbfab2154212feaed9136ce39c0"; ab != want {
		t.Fatalf("ChunkListHash = %s, want %s", ab, want)
	}
	// Key-derivation mode: not the plain hash of the same 80 bytes.
	var raw []byte
	for _, c := range []Chunk{a, b} {
		d, _ := hex.DecodeString(c.Hash)
		raw = append(raw, d...)
		raw = binary.LittleEndian.AppendUint64(raw, uint64(c.Size))
	}
	if plain := blake3.Sum256(raw); hex.EncodeToString(plain[:]) == ab {
		t.Fatal("chunk-list hash equals the plain hash of its bytes")
	}
	for name, other := range map[string]string{
		"order": hash(b, a),
		"size":  hash(a, Chunk{b.Hash, 11}),
		"count": hash(a, b, b),
	} {
		if other == ab {
			t.Errorf("changing the %s of the chunks keeps the hash", name)
		}
	}
	for _, bad := range []string{"xyz", strings.Repeat("g", HashLen)} {
		if _, err := ChunkListHash([]Chunk{a, {bad, 1}}); err == nil || !strings.Contains(err.Error(), "chunk 2") {
			t.Errorf("bad hash %q: %v", bad, err)
		}
	}
}

// TestDigestIsCanonicalJSON checks the hand-written digest encoder against
// its definition: BLAKE3 of encoding/json's output.
func TestDigestIsCanonicalJSON(t *testing.T) {
	m := Manifest{Format: ManifestFormat, Files: []FileEntry{
		{Path: "a <b> & \"c\".csv", Size: 3, Hash: hashOf("abc")},
		{Path: "dir/ünïcødé/😀", Size: 0, Hash: emptyHash},
		{Path: "z", Size: ChunkMin + 10, Hash: hashOf("z"), Chunks: []Chunk{{hashOf("1"), ChunkMin}, {hashOf("2"), 10}},
			Profile: json.RawMessage(`{"rows": 1}`)},
	}}
	type file struct {
		Path   string  `json:"path"`
		Size   int64   `json:"size"`
		Hash   string  `json:"hash"`
		Chunks []Chunk `json:"chunks,omitempty"`
	}
	ref := struct {
		Format int    `json:"format"`
		Files  []file `json:"files"`
	}{Format: ManifestFormat}
	for _, f := range m.Files {
		ref.Files = append(ref.Files, file{f.Path, f.Size, f.Hash, f.Chunks})
	}
	b, _ := json.Marshal(ref)
	sum := blake3.Sum256(b)
	if want := hex.EncodeToString(sum[:])[:DigestLen]; m.Digest() != want {
		t.Fatalf("digest %s, want %s over %s", m.Digest(), want, b)
	}
	// Profiles do not count.
	m2 := m
	m2.Files = slices.Clone(m.Files)
	m2.Files[2].Profile = nil
	if m.Digest() != m2.Digest() {
		t.Fatal("a profile changed the digest")
	}
}

func TestManifestValidate(t *testing.T) {
	h := hashOf("x")
	ok := FileEntry{Path: "a.csv", Size: 10, Hash: h}
	multiChunks := []Chunk{{hashOf("1"), 10}, {hashOf("2"), 20}}
	multiHash, err := ChunkListHash(multiChunks)
	if err != nil {
		t.Fatal(err)
	}
	multi := FileEntry{Path: "m", Size: 30, Hash: multiHash, Chunks: multiChunks}
	cases := []struct {
		name  string
		files []FileEntry
		want  string // "" = valid
	}{
		{"ok", []FileEntry{ok, multi}, ""},
		{"empty file", []FileEntry{{Path: "e", Hash: emptyHash}}, ""},
		{"single chunk folded", []FileEntry{{Path: "s", Size: 5, Hash: h, Chunks: []Chunk{{h, 5}}}}, ""},
		{"no files", nil, "no files"},
		{"dotdot", []FileEntry{{Path: "../x", Size: 1, Hash: h}}, "files[0].path"},
		{"absolute", []FileEntry{{Path: "/etc/passwd", Size: 1, Hash: h}}, "absolute"},
		{"unclean", []FileEntry{{Path: "a//b", Size: 1, Hash: h}}, "not clean"},
		{"duplicate", []FileEntry{ok, ok}, "twice"},
		{"file and folder", []FileEntry{{Path: "a", Size: 1, Hash: h}, {Path: "a/b", Size: 1, Hash: h}}, "both a file and a folder"},
		{"bad hash", []FileEntry{{Path: "a", Size: 1, Hash: "XYZ"}}, "files[0].hash"},
		{"upper hash", []FileEntry{{Path: "a", Size: 1, Hash: strings.ToUpper(h)}}, "lowercase"},
		{"negative", []FileEntry{{Path: "a", Size: -1, Hash: h}}, "negative"},
		{"sizes", []FileEntry{{Path: "a", Size: 31, Hash: multiHash, Chunks: multi.Chunks}}, "add up"},
		{"multi-chunk hash not of its chunk list", []FileEntry{{Path: "a", Size: 30, Hash: h, Chunks: multi.Chunks}}, "does not match its chunk list"},
		{"chunks reordered", []FileEntry{{Path: "a", Size: 30, Hash: multiHash, Chunks: []Chunk{multiChunks[1], multiChunks[0]}}}, "does not match its chunk list"},
		{"single chunk wrong hash", []FileEntry{{Path: "a", Size: 5, Hash: h, Chunks: []Chunk{{hashOf("o"), 5}}}}, "single chunk"},
		{"huge single chunk", []FileEntry{{Path: "a", Size: ChunkMax + 1, Hash: h}}, "single chunk"},
		{"huge chunk", []FileEntry{{Path: "a", Size: ChunkMax + 2, Hash: h, Chunks: []Chunk{{hashOf("1"), ChunkMax + 1}, {hashOf("2"), 1}}}}, "outside"},
		{"empty with hash", []FileEntry{{Path: "a", Size: 0, Hash: h}}, "empty"},
		{"bad profile", []FileEntry{{Path: "a", Size: 1, Hash: h, Profile: json.RawMessage(`{`)}}, "profile"},
		{"percent", []FileEntry{{Path: "50%.csv", Size: 1, Hash: h}}, "%"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := Manifest{Files: c.files}.Normalize().Validate()
			if c.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantCode(t, err, errs.Invalid, c.want)
		})
	}
	for _, format := range []int{1, ManifestFormat + 1} {
		if err := (Manifest{Format: format, Files: []FileEntry{ok}}).Validate(); !errs.Is(err, errs.Invalid) {
			t.Fatalf("format %d: %v", format, err)
		}
	}
	// Normalize sorts without touching the input.
	in := Manifest{Files: []FileEntry{{Path: "b", Size: 1, Hash: h}, {Path: "a", Size: 1, Hash: h}}}
	out := in.Normalize()
	if out.Files[0].Path != "a" || in.Files[0].Path != "b" || out.Format != ManifestFormat {
		t.Fatalf("normalize: %+v from %+v", out, in)
	}
}

func TestParseRef(t *testing.T) {
	cases := []struct {
		in   string
		want Ref
		err  bool
	}{
		{"iris", Ref{Name: "iris"}, false},
		{"iris@latest", Ref{Name: "iris"}, false},
		{"iris@3", Ref{Name: "iris", Version: 3}, false},
		{"iris@prod-2026-11", Ref{Name: "iris", Tag: "prod-2026-11"}, false},
		{"mlcycle://iris@3", Ref{Name: "iris", Version: 3}, false},
		{"iris@0", Ref{}, true},
		{"iris@-1", Ref{}, true},
		{"iris@99999999999999999999", Ref{}, true},
		{"Iris@1", Ref{}, true},
		{"@1", Ref{}, true},
		{"iris@", Ref{}, true},
		{"iris@Prod", Ref{}, true},
		{"iris@a@b", Ref{}, true},
		{"s3://iris@1", Ref{}, true},
	}
	for _, c := range cases {
		got, err := ParseRef(c.in)
		if c.err {
			if !errs.Is(err, errs.Invalid) {
				t.Errorf("ParseRef(%q) = %+v, %v; want invalid", c.in, got, err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("ParseRef(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
		}
	}
	if s := (Ref{Name: "a", Version: 2}).String(); s != "a@2" {
		t.Fatal(s)
	}
	if s := SourceURI("a", 2); s != "mlcycle://a@2" {
		t.Fatal(s)
	}
}

func TestChunkListEncoding(t *testing.T) {
	in := []Chunk{{hashOf("a"), 1}, {hashOf("b"), ChunkMax}, {hashOf("c"), 1 << 40}}
	out, err := decodeChunkList(encodeChunkList(in))
	if err != nil || !slices.Equal(in, out) {
		t.Fatalf("round trip %v, %v", out, err)
	}
	if out, err := decodeChunkList(nil); err != nil || out != nil {
		t.Fatalf("empty: %v %v", out, err)
	}
	if _, err := decodeChunkList(make([]byte, 20)); err == nil {
		t.Fatal("truncated list decoded")
	}
}

func TestHashOfKey(t *testing.T) {
	h := hashOf("x")
	for key, ok := range map[string]bool{
		ChunkKey(h):                true,
		"cas/zz/" + h:              false,
		"cas/" + h[:2] + "/abc":    false,
		"cas/README":               false,
		"other/" + h[:2] + "/" + h: false,
	} {
		if _, got := hashOfKey(key); got != ok {
			t.Errorf("hashOfKey(%q) = %v", key, got)
		}
	}
}
