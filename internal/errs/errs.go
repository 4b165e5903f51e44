// Package errs defines the error kinds shared by every layer. Domain code
// returns them; the HTTP layer maps each kind to a status code exactly once.
package errs

import (
	"errors"
	"fmt"
)

// Code is the kind of a failure, independent of transport.
type Code string

const (
	Invalid      Code = "invalid"      // the caller sent something wrong; retrying will not help
	NotFound     Code = "not_found"    // the named resource does not exist
	Conflict     Code = "conflict"     // it already exists
	State        Code = "state"        // the current state forbids the change (in use, last of its kind, busy)
	Unauthorized Code = "unauthorized" // no or bad credentials
	Forbidden    Code = "forbidden"    // authenticated, but the role does not allow it
	TooMany      Code = "too_many"     // rate limited
	TooLarge     Code = "too_large"    // the request body is over the limit
	Unavailable  Code = "unavailable"  // a dependency is down; retrying may help
	Internal     Code = "internal"     // a bug or an unexpected failure
)

// Error is an error with a kind and a message that is safe to show a client.
type Error struct {
	Code    Code
	Message string
	Err     error // the cause, for logs; never shown to clients
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// E builds an error of the given kind with a formatted client-safe message.
func E(code Code, format string, args ...any) error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Wrap attaches a kind and client-safe message to a cause.
func Wrap(code Code, err error, format string, args ...any) error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Err: err}
}

// CodeOf returns the kind of the first *Error in err's chain, or Internal.
func CodeOf(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return Internal
}

// MessageOf returns the client-safe message of err. Errors without a kind
// are internal and their text is hidden from clients.
func MessageOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}

// Is reports whether err has the given kind.
func Is(err error, code Code) bool { return err != nil && CodeOf(err) == code }
