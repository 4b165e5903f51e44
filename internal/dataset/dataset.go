// Package dataset keeps versioned, content-addressed datasets.
//
// A version is an immutable manifest of files. Every file is cut into
// content-defined chunks (FastCDC with fixed parameters, so every machine
// cuts the same bytes at the same places) and each chunk is
// stored once, under its BLAKE3 hash, in the same blob store as artifacts:
// cas/<first two hex digits>/<hash>, or, for the small chunks an add
// writes to a local folder, in a pack file of many (pack.go). Two
// identical files, in any datasets,
// are stored once; a version that appends to a large CSV stores only the
// chunks that changed. The manifest itself is stored the same way, and the
// hash of its content fields is the version's digest.
//
// One Service serves two uses:
//   - embedded: Add hashes and chunks local files on all cores, skipping
//     files whose size, mtime and inode are unchanged (a local state cache),
//     and records a version; Get materialises one, verifying every byte.
//     The CLI runs it over a local SQLite file and a file:// blob folder.
//   - server: the push/pull primitives (MissingChunks, PutChunk, GetChunk,
//     RecordVersion) let a client move only missing chunks and then record
//     the manifest; CopyChunks and Materialize do the moving on the client.
//
// Every change commits with its audit event. Nothing is recorded by an add
// that fails or is interrupted: it leaves at most stored chunks, which the
// next add reuses and GC removes once unreferenced for the grace period.
package dataset

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/mlcycle/mlcycle/internal/audit"
	"github.com/mlcycle/mlcycle/internal/blob"
	"github.com/mlcycle/mlcycle/internal/errs"
	"github.com/mlcycle/mlcycle/internal/store"
)

// MaxMessageLen bounds a version message, in bytes.
const MaxMessageLen = 5000

// ProfileFunc computes the profile of the local file at path. It returns nil
// (and no error) for a file that is not a table. An error means the file is
// a table that could not be read, and fails the add. progress, never nil,
// takes the bytes of the file read so far, as reading goes on (calls must
// not overlap).
type ProfileFunc func(ctx context.Context, path string, progress func(read int64)) (json.RawMessage, error)

// Options tune a Service. The zero value is right for a server.
type Options struct {
	Now func() time.Time // defaults to time.Now
	// Workers is the number of files hashed at once by Add, and of chunks
	// fetched at once by Get. Zero means GOMAXPROCS (at least 2).
	Workers int
	// StatePath is the local state cache of Add (a SQLite file). Empty
	// means $XDG_CACHE_HOME/mlcycle/state.db (os.UserCacheDir).
	StatePath string
	// NoStateCache makes every Add read every file.
	NoStateCache bool
	// Profile, when set, profiles each added file (see ProfileFunc).
	Profile ProfileFunc
	// SpareProc makes the first Add that has files to read call SpareProc:
	// for a process that exists to run an add (the CLI), not a server.
	SpareProc bool
}

// Service manages datasets over the database and the blob store.
type Service struct {
	db    *store.DB
	log   *audit.Log
	blobs *blob.Store
	files *casFiles // direct chunk writes, for a file:// store
	opts  Options
	now   func() time.Time

	stateMu sync.Mutex
	state   *stateCache // opened by the first Add

	spareProc sync.Once // Options.SpareProc

	cutSegment int64 // segment size of parallel cutting; 0: the constant (tests set less)
}

// New returns a Service over db, which must have audit.Migrations and
// Migrations applied, storing bytes in blobs.
func New(db *store.DB, log *audit.Log, blobs *blob.Store, opts Options) *Service {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Workers <= 0 {
		opts.Workers = max(2, runtime.GOMAXPROCS(0))
	}
	return &Service{db: db, log: log, blobs: blobs, files: newCASFiles(blobs), opts: opts, now: opts.Now}
}

// Close closes the state cache, if an Add opened it. The database and the
// blob store belong to the caller.
func (s *Service) Close() error {
	s.stateMu.Lock()
	defer s.stateMu.Unlock()
	if s.state == nil {
		return nil
	}
	err := s.state.close()
	s.state = nil
	return err
}

func (s *Service) nowMS() int64 { return s.now().UnixMilli() }

// Dataset is a named series of versions.
type Dataset struct {
	Name      string
	CreatedAt int64 // Unix milliseconds
	CreatedBy string
	Versions  int64 // live versions
	Latest    int64 // newest live version number, 0 when none is left
	UpdatedAt int64 // when the newest live version was created
}

// Version is one recorded version of a dataset.
type Version struct {
	Dataset string
	Version int64
	// Digest identifies the content (see Manifest.Digest); runs that log an
	// input with this digest are linked to the version.
	Digest string
	// ManifestHash is the BLAKE3-256 of the stored manifest, which is kept
	// in the blob store under ChunkKey(ManifestHash).
	ManifestHash string
	Message      string
	CreatedAt    int64 // Unix milliseconds
	CreatedBy    string
	FileCount    int64
	TotalBytes   int64
	// Tables summarises the files that have a profile.
	Tables  []TableSummary
	Tags    []string
	Deleted bool
}

// Ref is the version's canonical reference, name@3.
func (v Version) Ref() string { return Ref{Name: v.Dataset, Version: v.Version}.String() }

// Source is the version's source URI for run inputs: mlcycle://name@3.
func (v Version) Source() string { return SourceURI(v.Dataset, v.Version) }

// TableSummary is what the version row keeps of a table file's profile;
// the full profile is in the manifest. Rows and Columns are read from the
// profile's top-level "rows" (or "row_count") number and "columns" list or
// object, when present.
type TableSummary struct {
	Path    string `json:"path"`
	Rows    int64  `json:"rows,omitempty"`
	Columns int    `json:"columns,omitempty"`
}

// VersionDetail is a version with its manifest (profiles included) and the
// runs that used it.
type VersionDetail struct {
	Version
	Manifest Manifest
	Runs     []RunLink
}

// Resource types and actions of audit events.
const (
	resDataset = "dataset"
	resVersion = "dataset_version"
	resTag     = "dataset_tag"
	resCAS     = "dataset_store"
)

func (s *Service) event(ctx context.Context, tx *store.Tx, action, resType, resID string, detail map[string]any) error {
	if err := s.log.Record(ctx, tx, audit.Event{Action: action, ResourceType: resType, ResourceID: resID, Detail: detail}); err != nil {
		return fmt.Errorf("recording %s: %w", action, err)
	}
	return nil
}

func checkMessage(msg string) error {
	if len(msg) > MaxMessageLen {
		return errs.E(errs.Invalid, "message is longer than %d bytes", MaxMessageLen)
	}
	return checkText("message", msg)
}

// checkText refuses text PostgreSQL cannot store (NUL, invalid UTF-8).
func checkText(field, s string) error {
	for i, r := range s {
		if r == 0 {
			return errs.E(errs.Invalid, "%s contains a NUL character", field)
		}
		if r == '\uFFFD' && !validRuneAt(s, i) {
			return errs.E(errs.Invalid, "%s is not valid UTF-8", field)
		}
	}
	return nil
}

func validRuneAt(s string, i int) bool {
	// A real U+FFFD is three bytes EF BF BD; a decoding error is one byte.
	return len(s) >= i+3 && s[i:i+3] == "\uFFFD"
}
