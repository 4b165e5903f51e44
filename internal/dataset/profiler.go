package dataset

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/mlcycle/mlcycle/internal/dataset/profile"
	"github.com/mlcycle/mlcycle/internal/errs"
	"github.com/mlcycle/mlcycle/internal/frame"
)

// TableProfiler returns the ProfileFunc that profiles CSV, TSV, JSON Lines
// and Parquet files (by extension, frame.Detect) with package profile, and
// skips every other file. A table that cannot be read (ragged rows, bad
// quoting, a truncated Parquet file) is an errs.Invalid error naming the
// problem, which fails the add.
func TableProfiler(opts frame.Options) ProfileFunc {
	return func(ctx context.Context, path string, progress func(int64)) (json.RawMessage, error) {
		if _, err := frame.Detect(path); errors.Is(err, frame.ErrUnknownFormat) {
			return nil, nil
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		opts := opts
		opts.Progress = progress
		p, err := profile.ComputeFile(path, opts)
		if err != nil {
			if errs.CodeOf(err) == errs.Internal {
				return nil, errs.E(errs.Invalid, "%v", err)
			}
			return nil, err
		}
		b, err := json.Marshal(p)
		if err != nil {
			return nil, fmt.Errorf("encoding the profile: %w", err)
		}
		return b, nil
	}
}
