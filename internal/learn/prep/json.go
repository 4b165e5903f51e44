package prep

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"

	"github.com/mlcycle/mlcycle/internal/frame"
	"github.com/mlcycle/mlcycle/internal/learn"
)

// formatName identifies the serialised form; bump it on incompatible changes.
const formatName = "mlcycle-prep/1"

type prepJSON struct {
	Format  string      `json:"format"`
	Mode    Mode        `json:"mode"`
	Task    learn.Task  `json:"task"`
	Target  frame.Field `json:"target"`
	Classes []string    `json:"classes,omitempty"`
	Inputs  []inputJSON `json:"inputs"`
}

type inputJSON struct {
	Name        string           `json:"name"`
	Type        frame.Type       `json:"type"`
	Nullable    bool             `json:"nullable"`
	Numeric     *numericJSON     `json:"numeric,omitempty"`
	Categorical *categoricalJSON `json:"categorical,omitempty"`
}

// numericJSON: Fill, Mean and Std are used in linear mode only (0 otherwise).
type numericJSON struct {
	Fill float64 `json:"fill"`
	Mean float64 `json:"mean"`
	Std  float64 `json:"std"`
}

// categoricalJSON: the kept values in code order; Fill is the code imputed
// for a missing value in linear mode (0 otherwise).
type categoricalJSON struct {
	Values []string `json:"values"`
	Fill   int      `json:"fill"`
}

// MarshalJSON encodes p; the same Prep always gives the same bytes.
func (p *Prep) MarshalJSON() ([]byte, error) {
	out := prepJSON{Format: formatName, Mode: p.mode, Task: p.task, Target: p.target, Classes: p.classes}
	for _, in := range p.inputs {
		ij := inputJSON{Name: in.field.Name, Type: in.field.Type, Nullable: in.field.Nullable}
		if in.kind == numeric {
			ij.Numeric = &numericJSON{Fill: in.fill, Mean: in.mean, Std: in.std}
		} else {
			ij.Categorical = &categoricalJSON{Values: in.cats, Fill: in.fillCat}
		}
		out.Inputs = append(out.Inputs, ij)
	}
	return json.Marshal(out)
}

// Unmarshal decodes a Prep written by MarshalJSON, checking everything: a
// damaged or hand-edited file is an error, never a panic or a Prep that
// misbehaves later.
func Unmarshal(data []byte) (*Prep, error) {
	var in prepJSON
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return nil, fmt.Errorf("preprocessing: %w", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("preprocessing: trailing data after the object")
	}
	p, err := fromJSON(&in)
	if err != nil {
		return nil, fmt.Errorf("preprocessing: %w", err)
	}
	return p, nil
}

// UnmarshalJSON lets a Prep be a field of a larger JSON document; it checks
// like Unmarshal.
func (p *Prep) UnmarshalJSON(data []byte) error {
	q, err := Unmarshal(data)
	if err != nil {
		return err
	}
	*p = *q
	return nil
}

func fromJSON(in *prepJSON) (*Prep, error) {
	if in.Format != formatName {
		return nil, fmt.Errorf("format is %q; want %q", in.Format, formatName)
	}
	if in.Mode != Trees && in.Mode != Linear {
		return nil, fmt.Errorf("unknown mode %q", in.Mode)
	}
	if _, err := learn.ParseTask(string(in.Task)); err != nil {
		return nil, err
	}
	if in.Target.Name == "" {
		return nil, fmt.Errorf("no target name")
	}
	if !validType(in.Target.Type) {
		return nil, fmt.Errorf("target has unknown type %q", in.Target.Type)
	}
	switch {
	case in.Task == learn.Regression && len(in.Classes) != 0:
		return nil, fmt.Errorf("regression with %d classes", len(in.Classes))
	case in.Task == learn.Binary && len(in.Classes) != 2:
		return nil, fmt.Errorf("binary task with %d classes", len(in.Classes))
	case in.Task == learn.Multiclass && len(in.Classes) < 2:
		return nil, fmt.Errorf("multiclass task with %d classes", len(in.Classes))
	}
	if err := unique(in.Classes); err != nil {
		return nil, fmt.Errorf("classes: %w", err)
	}
	if len(in.Inputs) == 0 {
		return nil, fmt.Errorf("no inputs")
	}
	p := &Prep{mode: in.Mode, task: in.Task, target: in.Target, classes: in.Classes}
	names := map[string]bool{}
	for i, ij := range in.Inputs {
		if ij.Name == "" || ij.Name == in.Target.Name || names[ij.Name] {
			return nil, fmt.Errorf("input %d: bad or repeated name %q", i+1, ij.Name)
		}
		names[ij.Name] = true
		if !validType(ij.Type) {
			return nil, fmt.Errorf("input %q: unknown type %q", ij.Name, ij.Type)
		}
		x := input{field: frame.Field{Name: ij.Name, Type: ij.Type, Nullable: ij.Nullable}}
		switch {
		case ij.Numeric != nil && ij.Categorical == nil:
			n := ij.Numeric
			if !finite(n.Fill) || !finite(n.Mean) || !finite(n.Std) || n.Std < 0 {
				return nil, fmt.Errorf("input %q: bad numeric parameters", ij.Name)
			}
			x.kind, x.fill, x.mean, x.std = numeric, n.Fill, n.Mean, n.Std
		case ij.Categorical != nil && ij.Numeric == nil:
			c := ij.Categorical
			if len(c.Values) == 0 || len(c.Values) > maxMaxCategories {
				return nil, fmt.Errorf("input %q: %d categories", ij.Name, len(c.Values))
			}
			if err := unique(c.Values); err != nil {
				return nil, fmt.Errorf("input %q: %w", ij.Name, err)
			}
			if c.Fill < 0 || c.Fill >= len(c.Values) {
				return nil, fmt.Errorf("input %q: fill code %d out of range", ij.Name, c.Fill)
			}
			x.kind, x.cats, x.fillCat = categorical, c.Values, c.Fill
		default:
			return nil, fmt.Errorf("input %q: want exactly one of numeric and categorical", ij.Name)
		}
		p.inputs = append(p.inputs, x)
	}
	p.layout()
	return p, nil
}

func validType(t frame.Type) bool {
	switch t {
	case frame.TypeBool, frame.TypeInt, frame.TypeFloat, frame.TypeTimestamp, frame.TypeString:
		return true
	}
	return false
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

func unique(s []string) error {
	seen := make(map[string]bool, len(s))
	for _, v := range s {
		if seen[v] {
			return fmt.Errorf("%q repeated", v)
		}
		seen[v] = true
	}
	return nil
}
