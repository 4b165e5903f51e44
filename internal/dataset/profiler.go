package dataset

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

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
		format, err := frame.Detect(path)
		if errors.Is(err, frame.ErrUnknownFormat) {
			return nil, nil
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		// An empty text table (a placeholder, an export with nothing in
		// it) is a table of no columns and no rows, not a reason to
		// refuse the whole add. An empty Parquet or gzip file is truncated.
		if fi, err := os.Stat(path); err == nil && fi.Size() == 0 && format != frame.FormatParquet && !strings.HasSuffix(strings.ToLower(path), ".gz") {
			return json.Marshal(profile.Profile{Version: profile.Version, Format: string(format), Columns: []profile.ColumnProfile{}})
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

// looksLikeTable reports whether TableProfiler would parse the file (by its
// name): Add then leaves it to one cutter, the parse being the slower.
func looksLikeTable(path string) bool {
	_, err := frame.Detect(path)
	return err == nil
}
