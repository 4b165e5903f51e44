package validate

import (
	"context"
	"fmt"
	"strings"

	"github.com/mlcycle/mlcycle/internal/frame"
)

// Validate streams the table file at path (any format frame reads) and
// checks the rules against it. Malformed input is the frame reader's error,
// which names the file and line; failing data makes failures in the report.
func (r *Rules) Validate(ctx context.Context, path string) (Report, error) {
	rd, err := frame.Open(path, frame.Options{})
	if err != nil {
		return Report{}, err
	}
	defer rd.Close()
	return r.run(ctx, &frameSource{rd: rd}, path)
}

// frameSource adapts a frame.Reader: frame batches are copied into the
// engine's columns, only for the columns the rules read.
type frameSource struct {
	rd    frame.Reader
	first []string // column types of the first batch
}

// schema takes the column types of the first batch, which are the types the
// reader inferred from its first rows: its Schema may already be widened by
// rows parsed ahead. A column with only nulls in the first batch takes the
// Schema's type.
func (s *frameSource) schema() (names, typs []string) {
	for i, f := range s.rd.Schema().Fields {
		names = append(names, f.Name)
		t := string(f.Type)
		if i < len(s.first) && s.first[i] != string(frame.TypeNull) {
			t = s.first[i]
		}
		typs = append(typs, t)
	}
	return names, typs
}

func (s *frameSource) next(b *batch) error {
	fb, err := s.rd.Next()
	if err != nil {
		return err // io.EOF, or a *frame.ParseError naming the file
	}
	n := fb.Len()
	b.n = n
	ncols := fb.NumColumns()
	if s.first == nil {
		s.first = make([]string, ncols)
		for j := range ncols {
			s.first[j] = string(fb.Column(j).Type())
		}
	}
	if b.want != nil {
		// Columns first seen after the schema was taken are not checked.
		ncols = min(ncols, len(b.want))
	}
	b.ensure(max(ncols, len(b.want)))
	for j := range ncols {
		if b.want != nil && !b.want[j] {
			continue
		}
		if err := fill(b.cols[j], fb.Column(j), n); err != nil {
			return err
		}
	}
	for j := ncols; j < len(b.want); j++ {
		b.cols[j].reset(typeNull, n) // a column the batch lacks is missing
	}
	b.lines = resize(b.lines, n)
	for i := range n {
		b.lines[i] = fb.Line(i) // 0 for Parquet: the engine counts rows
	}
	return nil
}

// fill copies a frame column into c.
func fill(c *column, fc *frame.Column, n int) error {
	typ := string(fc.Type())
	if fc.Type() == frame.TypeNull {
		typ = typeNull
	}
	c.reset(typ, n)
	switch fc.Type() {
	case frame.TypeNull:
		return nil
	case frame.TypeInt:
		copy(c.ints, fc.Ints())
	case frame.TypeFloat:
		copy(c.flts, fc.Floats())
	case frame.TypeBool:
		copy(c.bools, fc.Bools())
	case frame.TypeTimestamp:
		for i := range n {
			if !fc.IsNull(i) {
				c.times[i] = fc.Time(i)
			}
		}
	case frame.TypeString:
		for i := range n {
			if fc.IsNull(i) {
				c.strs[i] = ""
			} else {
				c.strs[i] = string(fc.Bytes(i))
			}
		}
	default:
		return fmt.Errorf("validate: unsupported column type %q", fc.Type())
	}
	if nulls := fc.Nulls(); nulls != nil {
		copy(c.null, nulls)
	}
	return nil
}

// File is a file to validate: Path names it in reports (a dataset path),
// Abs is where it is read from.
type File struct{ Path, Abs string }

// ValidateFiles validates, in order, the files that are tables (by name, as
// frame.Detect sees them) and that the rules apply to, and returns their
// reports with File set to the file's Path. Other files are skipped.
func (r *Rules) ValidateFiles(ctx context.Context, files []File) ([]Report, error) {
	var reps []Report
	for _, f := range files {
		if _, err := frame.Detect(f.Abs); err != nil || !r.Applies(f.Abs) {
			continue
		}
		rep, err := r.Validate(ctx, f.Abs)
		if err != nil {
			return nil, err
		}
		rep.File = f.Path
		reps = append(reps, rep)
	}
	return reps, nil
}

// Failed is the error of files that failed the rules: Reports holds the
// text of each failing file's report (see Report.Text).
type Failed struct {
	Reports []string
}

func (e *Failed) Error() string {
	return "validation failed, nothing recorded:\n" + strings.TrimRight(strings.Join(e.Reports, ""), "\n")
}

// CheckFiles is ValidateFiles that fails with a *Failed error when a file
// fails the rules, and otherwise returns how many files were checked.
func (r *Rules) CheckFiles(ctx context.Context, files []File) (int, error) {
	reps, err := r.ValidateFiles(ctx, files)
	if err != nil {
		return 0, err
	}
	var failed []string
	for _, rep := range reps {
		if !rep.OK {
			failed = append(failed, rep.Text())
		}
	}
	if len(failed) > 0 {
		return 0, &Failed{Reports: failed}
	}
	return len(reps), nil
}
