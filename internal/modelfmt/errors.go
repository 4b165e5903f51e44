package modelfmt

import (
	"github.com/mlcycle/mlcycle/internal/errs"
)

// invalid is a bad-input error (a broken package, a bad request or row):
// the HTTP layer answers it with 400 and this message.
func invalid(format string, args ...any) error { return errs.E(errs.Invalid, format, args...) }

// text is err's message for an invalid error built around it: the
// client-safe message of an errs.Error, else the error's own text (JSON and
// YAML syntax errors, checks of the learner packages).
func text(err error) string {
	if errs.Is(err, errs.Invalid) {
		return errs.MessageOf(err)
	}
	return err.Error()
}
