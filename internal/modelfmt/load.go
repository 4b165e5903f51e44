package modelfmt

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
)

// MaxModelFileSize bounds model.json: a larger file is refused before it is
// read.
const MaxModelFileSize = 1 << 30

// Load reads the model package in the folder dir.
func Load(dir string) (*Model, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("loading model: %w", err)
	}
	if !st.IsDir() {
		return nil, invalid("loading model: %s is not a folder", dir)
	}
	m, err := LoadFS(os.DirFS(dir))
	if err != nil {
		return nil, fmt.Errorf("loading model from %s: %w", dir, err)
	}
	return m, nil
}

// LoadFS reads the model package at the root of fsys (a local folder, or
// the artifact store seen as a file system), checking the MLmodel file, the
// model file and their agreement.
func LoadFS(fsys fs.FS) (*Model, error) {
	meta, err := ReadMLmodel(fsys)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, invalid("no %s file: not a model package", MLmodelFile)
		}
		return nil, err
	}
	data, err := readLimited(fsys, meta.Flavor.ModelFile)
	if err != nil {
		return nil, err
	}
	m, err := Decode(data)
	if err != nil {
		return nil, err
	}
	fl := meta.Flavor
	if fl.Algo != m.Algo || fl.Task != string(m.Task) || !slices.Equal(fl.Classes, m.Classes) {
		return nil, invalid("%s says algo %q, task %q, classes %q but %s holds algo %q, task %q, classes %q",
			MLmodelFile, fl.Algo, fl.Task, fl.Classes, fl.ModelFile, m.Algo, m.Task, m.Classes)
	}
	if meta.Signature != nil && meta.Signature.Inputs != nil {
		want, err := m.InputSignature()
		if err != nil {
			return nil, err
		}
		if err := sameColumns(meta.Signature.Inputs, want); err != nil {
			return nil, invalid("%s signature disagrees with %s: %s", MLmodelFile, fl.ModelFile, text(err))
		}
	}
	m.Info = meta.Info
	m.Signature = meta.Signature
	return m, nil
}

func readLimited(fsys fs.FS, name string) ([]byte, error) {
	st, err := fs.Stat(fsys, name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, invalid("the model file %s is missing", name)
		}
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	if st.IsDir() {
		return nil, invalid("the model file %s is a folder", name)
	}
	if st.Size() > MaxModelFileSize {
		return nil, invalid("the model file %s is %d bytes, more than the limit of %d", name, st.Size(), MaxModelFileSize)
	}
	data, err := fs.ReadFile(fsys, name)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	return data, nil
}

// sameColumns compares a declared input schema with the model's inputs.
func sameColumns(got, want []Column) error {
	if len(got) != len(want) {
		return invalid("%d input columns declared, the model takes %d", len(got), len(want))
	}
	for i := range got {
		if got[i].Name != want[i].Name || got[i].Type != want[i].Type {
			return invalid("input %d is %q (%s), the model takes %q (%s)", i, got[i].Name, got[i].Type, want[i].Name, want[i].Type)
		}
	}
	return nil
}
