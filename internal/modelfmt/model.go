// Package modelfmt reads and writes mlcycle model packages and scores rows
// with them.
//
// A package is a folder in MLflow's model format, so it lives in the
// registry like any MLflow model:
//
//	MLmodel                     YAML: the "mlcycle" flavor, signature, input example info
//	model.json                  the preprocessing and the learner (see Model)
//	input_example.json          a few input rows, pandas "split" orient
//	serving_input_example.json  the same rows as a scoring request body
//
// Load and LoadFS check a package completely (format, version, algorithm,
// and that preprocessing, learner, task and classes agree); a package they
// accept scores rows without panicking. A loaded Model is immutable and safe
// for concurrent use: PredictRow draws its scratch buffers from a pool, and
// a goroutine that scores in a loop may hold its own Scorer instead.
package modelfmt

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/mlcycle/mlcycle/internal/learn"
	"github.com/mlcycle/mlcycle/internal/learn/gbdt"
	"github.com/mlcycle/mlcycle/internal/learn/linear"
	"github.com/mlcycle/mlcycle/internal/learn/prep"
)

// Algorithms a model file may hold.
const (
	AlgoGBDT   = "gbdt"
	AlgoLinear = "linear"
)

// Format and Version identify model.json.
const (
	Format  = "mlcycle-model"
	Version = 1
)

// Model is a trained model ready to score: the preprocessing fit on the
// training table and the learner trained on its matrix. Build it with New
// (or as a literal, checked by Save) and do not modify it once in use.
type Model struct {
	Task      learn.Task
	Classes   []string // class labels in raw-score order; nil for regression
	Target    string   // the target column's name
	Algo      string   // AlgoGBDT or AlgoLinear
	Prep      *prep.Prep
	Predictor learn.Predictor

	// Info and Signature are what the MLmodel file said, set by Load.
	Info      Info
	Signature *Signature

	once    sync.Once
	initErr error
	nout    int // raw scores per row
	scorers sync.Pool
}

// Info is the package metadata recorded in the MLmodel file. Zero fields get
// defaults when saving: ArtifactPath "model", a random ModelUUID, Created
// now, MlcycleVersion from the build.
type Info struct {
	RunID          string
	ArtifactPath   string
	ModelUUID      string
	Created        time.Time
	MlcycleVersion string
}

// New assembles a model from a fitted preprocessing and a learner trained
// on its matrices, taking the task, classes and target from p.
func New(p *prep.Prep, pred learn.Predictor) (*Model, error) {
	if p == nil || pred == nil {
		return nil, invalid("model: preprocessing and learner are both required")
	}
	m := &Model{
		Task:      p.Task(),
		Classes:   p.Classes(),
		Target:    p.TargetField().Name,
		Prep:      p,
		Predictor: pred,
	}
	switch pred.(type) {
	case *gbdt.Model:
		m.Algo = AlgoGBDT
	case *linear.Model:
		m.Algo = AlgoLinear
	default:
		return nil, invalid("model: unsupported learner %T (want a gbdt or linear model)", pred)
	}
	if err := m.Check(); err != nil {
		return nil, err
	}
	return m, nil
}

// Check reports whether the model's parts agree with each other: the task,
// classes and features of the preprocessing and of the learner. The answer
// is computed once: a model must not be changed after its first use.
func (m *Model) Check() error {
	m.once.Do(func() { m.initErr = m.check() })
	return m.initErr
}

func (m *Model) check() error {
	if m.Prep == nil {
		return invalid("model: no preprocessing")
	}
	if m.Predictor == nil {
		return invalid("model: no learner")
	}
	if _, err := learn.ParseTask(string(m.Task)); err != nil {
		return invalid("model: %s", text(err))
	}
	if m.Target == "" {
		return invalid("model: no target column name")
	}
	var (
		features []string
		cats     []int // of a tree learner
	)
	switch p := m.Predictor.(type) {
	case *gbdt.Model:
		if m.Algo != AlgoGBDT {
			return invalid("model: algo %q but the learner is a gbdt model", m.Algo)
		}
		if m.Prep.Mode() != prep.Trees {
			return invalid("model: a gbdt learner needs %q preprocessing, have %q", prep.Trees, m.Prep.Mode())
		}
		features, cats = p.FeatureNames(), p.Categories()
	case *linear.Model:
		if m.Algo != AlgoLinear {
			return invalid("model: algo %q but the learner is a linear model", m.Algo)
		}
		features = p.Features()
	default:
		return invalid("model: unsupported learner %T (want a gbdt or linear model)", m.Predictor)
	}
	if len(features) != m.Prep.Width() {
		return invalid("model: the learner takes %d features, the preprocessing makes %d", len(features), m.Prep.Width())
	}
	if names := m.Prep.Names(); !slices.Equal(features, names) {
		for j := range names {
			if features[j] != names[j] {
				return invalid("model: feature %d is %q for the learner but %q for the preprocessing", j, features[j], names[j])
			}
		}
	}
	if cats != nil && !slices.Equal(cats, m.Prep.Categories()) {
		return invalid("model: the learner's categorical columns differ from the preprocessing's")
	}
	if m.Predictor.Task() != m.Task || m.Prep.Task() != m.Task {
		return invalid("model: task %q, learner task %q, preprocessing task %q", m.Task, m.Predictor.Task(), m.Prep.Task())
	}
	if tf := m.Prep.TargetField(); tf.Name != m.Target {
		return invalid("model: target %q but the preprocessing was fit for %q", m.Target, tf.Name)
	}
	switch m.Task {
	case learn.Regression:
		if len(m.Classes) != 0 {
			return invalid("model: a regression model has no classes, have %d", len(m.Classes))
		}
	default:
		if len(m.Classes) < 2 || len(m.Classes) != m.Predictor.NumClass() {
			return invalid("model: %d classes but the learner predicts %d", len(m.Classes), m.Predictor.NumClass())
		}
		if m.Task == learn.Binary && len(m.Classes) != 2 {
			return invalid("model: a binary model has 2 classes, have %d", len(m.Classes))
		}
		seen := make(map[string]bool, len(m.Classes))
		for _, c := range m.Classes {
			if seen[c] {
				return invalid("model: class %q appears twice", c)
			}
			seen[c] = true
		}
	}
	if !slices.Equal(m.Prep.Classes(), m.Classes) {
		return invalid("model: the classes differ from those the preprocessing encoded")
	}
	m.nout = m.Task.Outputs(m.Predictor.NumClass())
	return nil
}

// fileJSON is model.json. Field order is the byte order.
type fileJSON struct {
	Format  string          `json:"format"`
	Version int             `json:"version"`
	Task    learn.Task      `json:"task"`
	Classes []string        `json:"classes,omitempty"`
	Target  string          `json:"target"`
	Algo    string          `json:"algo"`
	Prep    json.RawMessage `json:"prep"`
	Model   json.RawMessage `json:"model"`
}

// MarshalJSON encodes model.json; the same model always gives the same
// bytes.
func (m *Model) MarshalJSON() ([]byte, error) {
	if err := m.Check(); err != nil {
		return nil, err
	}
	pj, err := m.Prep.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("encoding the preprocessing: %w", err)
	}
	lj, err := json.Marshal(m.Predictor)
	if err != nil {
		return nil, fmt.Errorf("encoding the %s model: %w", m.Algo, err)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(fileJSON{
		Format: Format, Version: Version,
		Task: m.Task, Classes: m.Classes, Target: m.Target, Algo: m.Algo,
		Prep: pj, Model: lj,
	}); err != nil {
		return nil, fmt.Errorf("encoding %s: %w", ModelFile, err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte{'\n'}), nil
}

// Decode reads and checks model.json.
func Decode(data []byte) (*Model, error) {
	var f fileJSON
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, invalid("%s is not valid: %s", ModelFile, text(err))
	}
	if f.Format != Format {
		return nil, invalid("%s has format %q, want %q", ModelFile, f.Format, Format)
	}
	if f.Version != Version {
		return nil, invalid("%s has version %d; this mlcycle reads version %d (a newer mlcycle wrote it?)", ModelFile, f.Version, Version)
	}
	if len(f.Prep) == 0 || string(f.Prep) == "null" {
		return nil, invalid("%s has no preprocessing", ModelFile)
	}
	if len(f.Model) == 0 || string(f.Model) == "null" {
		return nil, invalid("%s has no learner", ModelFile)
	}
	p, err := prep.Unmarshal(f.Prep)
	if err != nil {
		return nil, invalid("%s: preprocessing: %s", ModelFile, text(err))
	}
	m := &Model{Task: f.Task, Classes: f.Classes, Target: f.Target, Algo: f.Algo, Prep: p}
	switch f.Algo {
	case AlgoGBDT:
		g, err := gbdt.Unmarshal(f.Model)
		if err != nil {
			return nil, invalid("%s: %s", ModelFile, text(err))
		}
		m.Predictor = g
	case AlgoLinear:
		l, err := linear.Unmarshal(f.Model)
		if err != nil {
			return nil, invalid("%s: %s", ModelFile, text(err))
		}
		m.Predictor = l
	default:
		return nil, invalid("%s: unknown algo %q (want %s or %s)", ModelFile, f.Algo, AlgoGBDT, AlgoLinear)
	}
	if err := m.Check(); err != nil {
		return nil, invalid("%s: %s", ModelFile, text(err))
	}
	return m, nil
}

// InputSignature is the signature's input schema: the columns Prep takes,
// with their MLflow types.
func (m *Model) InputSignature() ([]Column, error) {
	in := m.Prep.Inputs()
	cols := make([]Column, len(in))
	for i, f := range in {
		t, err := MLflowType(f.Type)
		if err != nil {
			return nil, invalid("input %q: %s", f.Name, text(err))
		}
		cols[i] = Column{Name: f.Name, Type: t, Required: true}
	}
	return cols, nil
}

// signature is the model's full signature.
func (m *Model) signature() (Signature, error) {
	in, err := m.InputSignature()
	if err != nil {
		return Signature{}, err
	}
	return Signature{Inputs: in, Outputs: outputColumns(m.Task != learn.Regression)}, nil
}
