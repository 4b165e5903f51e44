package modelfmt

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"slices"
	"time"

	"go.yaml.in/yaml/v3"
)

// File names inside a model package.
const (
	MLmodelFile            = "MLmodel"
	ModelFile              = "model.json"
	InputExampleFile       = "input_example.json"
	ServingInputFile       = "serving_input_example.json"
	FlavorName             = "mlcycle"
	defaultArtifactPath    = "model"
	pythonTimeLayout       = "2006-01-02 15:04:05.000000"
	pythonTimeLayoutNoFrac = "2006-01-02 15:04:05"
)

// Flavor is the mlcycle entry of an MLmodel file's flavors: what a loader
// needs to know before it opens the model file.
type Flavor struct {
	Algo           string   `yaml:"algo"`
	Classes        []string `yaml:"classes,omitempty"`
	MlcycleVersion string   `yaml:"mlcycle_version"`
	ModelFile      string   `yaml:"model_file"`
	Task           string   `yaml:"task"`
}

// quotedStrings are written double-quoted: class labels are user data, and
// PyYAML (YAML 1.1) reads some plain scalars that YAML 1.2 leaves alone as
// other types ("12:30" is an integer) or refuses them ("=").
type quotedStrings []string

// MarshalYAML implements yaml.Marshaler.
func (q quotedStrings) MarshalYAML() (any, error) {
	n := &yaml.Node{Kind: yaml.SequenceNode}
	for _, s := range q {
		n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Style: yaml.DoubleQuotedStyle, Value: s})
	}
	return n, nil
}

// flavorOut is Flavor as written, class labels double-quoted.
type flavorOut struct {
	Algo           string        `yaml:"algo"`
	Classes        quotedStrings `yaml:"classes,omitempty"`
	MlcycleVersion string        `yaml:"mlcycle_version"`
	ModelFile      string        `yaml:"model_file"`
	Task           string        `yaml:"task"`
}

// mlmodelOut is the MLmodel file as written. Fields are in the order
// MLflow writes them (its YAML dump sorts keys). mlflow_version is left
// out, as MLflow itself does when no Python MLflow wrote the model.
type mlmodelOut struct {
	ArtifactPath          string               `yaml:"artifact_path,omitempty"`
	Flavors               map[string]flavorOut `yaml:"flavors"`
	ModelUUID             string               `yaml:"model_uuid"`
	RunID                 string               `yaml:"run_id,omitempty"`
	SavedInputExampleInfo *exampleInfo         `yaml:"saved_input_example_info,omitempty"`
	Signature             *signatureYAML       `yaml:"signature,omitempty"`
	UTCTimeCreated        string               `yaml:"utc_time_created"`
}

type exampleInfo struct {
	ArtifactPath     string `yaml:"artifact_path"`
	PandasOrient     string `yaml:"pandas_orient"`
	ServingInputPath string `yaml:"serving_input_path,omitempty"`
	Type             string `yaml:"type"`
}

// signatureYAML holds the schemas as JSON strings, as MLflow does; params
// is always null (mlcycle models take no inference parameters).
type signatureYAML struct {
	Inputs  string  `yaml:"inputs"`
	Outputs string  `yaml:"outputs"`
	Params  *string `yaml:"params"`
}

// mlmodelIn is the MLmodel file as read: any flavors (a package may carry
// others besides ours) and only the fields a loader uses.
type mlmodelIn struct {
	ArtifactPath          string               `yaml:"artifact_path"`
	Flavors               map[string]yaml.Node `yaml:"flavors"`
	ModelUUID             string               `yaml:"model_uuid"`
	RunID                 string               `yaml:"run_id"`
	SavedInputExampleInfo *exampleInfo         `yaml:"saved_input_example_info"`
	Signature             *signatureYAML       `yaml:"signature"`
	UTCTimeCreated        string               `yaml:"utc_time_created"`
}

// pythonTime formats t as Python's str(datetime) does for the naive UTC
// time MLflow records: microseconds, dropped when zero.
func pythonTime(t time.Time) string {
	t = t.UTC()
	if t.Nanosecond()/1000 == 0 {
		return t.Format(pythonTimeLayoutNoFrac)
	}
	return t.Format(pythonTimeLayout)
}

func parsePythonTime(s string) (time.Time, error) {
	for _, layout := range []string{pythonTimeLayout, pythonTimeLayoutNoFrac, "2006-01-02 15:04:05.999999999", time.RFC3339Nano} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, invalid("utc_time_created %q is not a time", s)
}

// encodeMLmodel renders the MLmodel file of a package.
func encodeMLmodel(fl Flavor, info Info, sig Signature, withExample bool) ([]byte, error) {
	out := mlmodelOut{
		ArtifactPath: info.ArtifactPath,
		Flavors: map[string]flavorOut{FlavorName: {
			Algo:           fl.Algo,
			Classes:        fl.Classes,
			MlcycleVersion: fl.MlcycleVersion,
			ModelFile:      fl.ModelFile,
			Task:           fl.Task,
		}},
		ModelUUID:      info.ModelUUID,
		RunID:          info.RunID,
		Signature:      &signatureYAML{Inputs: schemaJSON(sig.Inputs), Outputs: schemaJSON(sig.Outputs)},
		UTCTimeCreated: pythonTime(info.Created),
	}
	if withExample {
		out.SavedInputExampleInfo = &exampleInfo{
			ArtifactPath:     InputExampleFile,
			PandasOrient:     "split",
			ServingInputPath: ServingInputFile,
			Type:             "dataframe",
		}
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(out); err != nil {
		return nil, fmt.Errorf("encoding %s: %w", MLmodelFile, err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encoding %s: %w", MLmodelFile, err)
	}
	return buf.Bytes(), nil
}

// Meta is what an MLmodel file says about an mlcycle model package.
type Meta struct {
	Info      Info
	Flavor    Flavor
	Signature *Signature // nil when the file declares none
	// InputExample is the example's file name, "" when there is none.
	InputExample string
}

// maxMLmodelSize bounds the MLmodel file; MLflow's are a few kilobytes.
const maxMLmodelSize = 1 << 20

// ReadMLmodel reads and checks the MLmodel file at the root of fsys.
func ReadMLmodel(fsys fs.FS) (*Meta, error) {
	f, err := fsys.Open(MLmodelFile)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", MLmodelFile, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxMLmodelSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", MLmodelFile, err)
	}
	if len(b) > maxMLmodelSize {
		return nil, invalid("%s is larger than %d bytes", MLmodelFile, maxMLmodelSize)
	}
	return parseMLmodel(b)
}

func parseMLmodel(b []byte) (*Meta, error) {
	var in mlmodelIn
	if err := yaml.Unmarshal(b, &in); err != nil {
		return nil, invalid("parsing %s: %s", MLmodelFile, text(err))
	}
	node, ok := in.Flavors[FlavorName]
	if !ok {
		return nil, invalid("%s declares no %q flavor (flavors: %v): not an mlcycle model", MLmodelFile, FlavorName, slices.Sorted(maps.Keys(in.Flavors)))
	}
	var fl Flavor
	if err := node.Decode(&fl); err != nil {
		return nil, invalid("parsing the %q flavor: %s", FlavorName, text(err))
	}
	if fl.ModelFile == "" {
		return nil, invalid("the %q flavor names no model_file", FlavorName)
	}
	if !fs.ValidPath(fl.ModelFile) || fl.ModelFile == "." {
		return nil, invalid("the %q flavor's model_file %q is not a path inside the package", FlavorName, fl.ModelFile)
	}
	m := &Meta{
		Info: Info{
			RunID:          in.RunID,
			ArtifactPath:   in.ArtifactPath,
			ModelUUID:      in.ModelUUID,
			MlcycleVersion: fl.MlcycleVersion,
		},
		Flavor: fl,
	}
	if in.UTCTimeCreated != "" {
		t, err := parsePythonTime(in.UTCTimeCreated)
		if err != nil {
			return nil, invalid("parsing %s: %s", MLmodelFile, text(err))
		}
		m.Info.Created = t
	}
	if s := in.Signature; s != nil {
		var sig Signature
		var err error
		if s.Inputs != "" {
			if sig.Inputs, err = parseSchema(s.Inputs); err != nil {
				return nil, invalid("signature inputs: %s", text(err))
			}
		}
		if s.Outputs != "" {
			if sig.Outputs, err = parseSchema(s.Outputs); err != nil {
				return nil, invalid("signature outputs: %s", text(err))
			}
		}
		m.Signature = &sig
	}
	if e := in.SavedInputExampleInfo; e != nil && e.ArtifactPath != "" {
		if !fs.ValidPath(e.ArtifactPath) {
			return nil, invalid("input example path %q is not a path inside the package", e.ArtifactPath)
		}
		m.InputExample = e.ArtifactPath
	}
	return m, nil
}
