package modelfmt

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/mlcycle/mlcycle/internal/buildinfo"
	"github.com/mlcycle/mlcycle/internal/frame"
)

// File is one file of a model package.
type File struct {
	Name string
	Data []byte
}

// Files renders a model package: model.json, the input example files when
// example is non-nil (its first ExampleRows rows, input columns only), and
// the MLmodel file last, so that a reader that finds MLmodel finds a
// complete package. Given the same model, info and example, the bytes are
// the same.
func Files(m *Model, info Info, example *frame.Table) ([]File, error) {
	if err := m.Check(); err != nil {
		return nil, err
	}
	info, err := info.withDefaults()
	if err != nil {
		return nil, err
	}
	mj, err := m.MarshalJSON()
	if err != nil {
		return nil, err
	}
	sig, err := m.signature()
	if err != nil {
		return nil, err
	}
	files := []File{{Name: ModelFile, Data: mj}}
	if example != nil {
		ex, err := encodeExample(example, sig.Inputs)
		if err != nil {
			return nil, err
		}
		files = append(files,
			File{Name: InputExampleFile, Data: ex},
			File{Name: ServingInputFile, Data: servingExample(ex)})
	}
	fl := Flavor{
		Algo:           m.Algo,
		Classes:        m.Classes,
		MlcycleVersion: info.MlcycleVersion,
		ModelFile:      ModelFile,
		Task:           string(m.Task),
	}
	mlm, err := encodeMLmodel(fl, info, sig, example != nil)
	if err != nil {
		return nil, err
	}
	return append(files, File{Name: MLmodelFile, Data: mlm}), nil
}

func (i Info) withDefaults() (Info, error) {
	if i.ArtifactPath == "" {
		i.ArtifactPath = defaultArtifactPath
	}
	if i.ModelUUID == "" {
		var b [16]byte
		if _, err := rand.Read(b[:]); err != nil {
			return i, fmt.Errorf("model uuid: %w", err)
		}
		b[6] = b[6]&0x0f | 0x40 // version 4
		b[8] = b[8]&0x3f | 0x80 // RFC 4122 variant
		i.ModelUUID = hex.EncodeToString(b[:])
	}
	if i.Created.IsZero() {
		i.Created = time.Now()
	}
	i.Created = i.Created.UTC().Truncate(time.Microsecond)
	if i.MlcycleVersion == "" {
		i.MlcycleVersion = buildinfo.Read("").Version
	}
	return i, nil
}

// Write renders the package (see Files) and hands each file to put, MLmodel
// last: for uploading a package as artifacts without a local folder.
func Write(m *Model, info Info, example *frame.Table, put func(name string, r io.Reader) error) error {
	files, err := Files(m, info, example)
	if err != nil {
		return err
	}
	for _, f := range files {
		if err := put(f.Name, bytes.NewReader(f.Data)); err != nil {
			return fmt.Errorf("writing %s: %w", f.Name, err)
		}
	}
	return nil
}

// Save writes the package to the folder dir, which must not exist yet (or
// be empty). The files are written to a temporary folder beside it that is
// renamed into place, so dir never holds half a package.
func Save(dir string, m *Model, info Info, example *frame.Table) error {
	files, err := Files(m, info, example)
	if err != nil {
		return err
	}
	dir = filepath.Clean(dir)
	if ents, err := os.ReadDir(dir); err == nil && len(ents) > 0 {
		return fmt.Errorf("saving model: %s exists and is not empty", dir)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("saving model: %w", err)
	}
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return fmt.Errorf("saving model: %w", err)
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dir)+".tmp-*")
	if err != nil {
		return fmt.Errorf("saving model: %w", err)
	}
	done := false
	defer func() {
		if !done {
			os.RemoveAll(tmp)
		}
	}()
	for _, f := range files {
		if err := writeFileSync(filepath.Join(tmp, f.Name), f.Data); err != nil {
			return fmt.Errorf("saving model: %w", err)
		}
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return fmt.Errorf("saving model: %w", err)
	}
	// Rename replaces an empty dir on POSIX systems; remove it first so the
	// same code works elsewhere too.
	if err := os.Remove(dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("saving model: %w", err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		return fmt.Errorf("saving model: %w", err)
	}
	done = true
	if d, err := os.Open(parent); err == nil {
		d.Sync() // make the rename durable; best effort
		d.Close()
	}
	return nil
}

func writeFileSync(name string, data []byte) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
