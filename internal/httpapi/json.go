package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/mlcycle/mlcycle/internal/errs"
)

// errorBody is the error shape of our API and MLflow's alike.
type errorBody struct {
	ErrorCode string `json:"error_code"`
	Message   string `json:"message"`
}

// statusOf maps an error kind to an HTTP status and an MLflow error code.
// This is the one place where kinds become statuses.
func statusOf(code errs.Code) (int, string) {
	switch code {
	case errs.Invalid:
		return http.StatusBadRequest, "INVALID_PARAMETER_VALUE"
	case errs.NotFound:
		return http.StatusNotFound, "RESOURCE_DOES_NOT_EXIST"
	case errs.Conflict:
		// MLflow answers "already exists" with 400, and its clients expect it.
		return http.StatusBadRequest, "RESOURCE_ALREADY_EXISTS"
	case errs.State:
		// Our own endpoints only; MLflow's return no such refusal.
		return http.StatusConflict, "INVALID_STATE"
	case errs.Unauthorized:
		return http.StatusUnauthorized, "UNAUTHENTICATED"
	case errs.Forbidden:
		return http.StatusForbidden, "PERMISSION_DENIED"
	case errs.TooMany:
		return http.StatusTooManyRequests, "REQUEST_LIMIT_EXCEEDED"
	case errs.TooLarge:
		// MLflow has no "too large" code; this one is in its enum, so its
		// client parses it instead of falling back to INTERNAL_ERROR.
		return http.StatusRequestEntityTooLarge, "RESOURCE_LIMIT_EXCEEDED"
	case errs.Unavailable:
		return http.StatusServiceUnavailable, "TEMPORARILY_UNAVAILABLE"
	}
	return http.StatusInternalServerError, "INTERNAL_ERROR"
}

// writeError answers with err's status and client-safe message. Internal
// details go only to the log, under the request id the client also gets.
func (a *API) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status, code := statusOf(errs.CodeOf(err))
	msg := errs.MessageOf(err)
	st := stateOf(r)
	switch {
	case status == http.StatusInternalServerError:
		msg = "internal error"
		level := slog.LevelError
		if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
			level = slog.LevelInfo // the client went away; nobody reads this answer
		}
		a.log.Log(r.Context(), level, "internal error", "err", err,
			"request_id", st.id, "method", r.Method, "route", st.route)
	case status == http.StatusServiceUnavailable:
		a.log.WarnContext(r.Context(), "dependency unavailable", "err", err,
			"request_id", st.id, "method", r.Method, "route", st.route)
	case status == http.StatusUnauthorized && !hasSessionCookie(r):
		// The challenge makes MLflow clients and curl send credentials; it is
		// left out for the UI's cookie calls, where it would pop up the
		// browser's own login dialog.
		w.Header().Set("WWW-Authenticate", `Basic realm="mlcycle"`)
	}
	writeErrorBody(w, status, code, msg)
}

func hasSessionCookie(r *http.Request) bool {
	c, err := r.Cookie(SessionCookie)
	return err == nil && c.Value != ""
}

func writeErrorBody(w http.ResponseWriter, status int, code, msg string) {
	b, _ := json.Marshal(errorBody{ErrorCode: code, Message: msg})
	writeRaw(w, status, b)
}

// writeJSON encodes v before writing anything, so an encoding failure can
// still become a clean 500.
func (a *API) writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	if v == nil {
		v = struct{}{}
	}
	b, err := json.Marshal(v)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeRaw(w, status, b)
}

func writeRaw(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(append(body, '\n'))
}

// decodeJSON reads exactly one JSON object into dst, rejecting unknown
// fields: a typo in a field name must not be silently ignored.
func decodeJSON(r *http.Request, dst any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return jsonError(err)
	}
	if err := dec.Decode(&struct{}{}); !errors.Is(err, io.EOF) {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return tooLarge(mbe.Limit)
		}
		return errs.E(errs.Invalid, "request body must hold a single JSON object")
	}
	return nil
}

// jsonError turns a decoding error into a client error that says where the
// body went wrong.
func jsonError(err error) error {
	var (
		syn *json.SyntaxError
		typ *json.UnmarshalTypeError
		mbe *http.MaxBytesError
	)
	switch {
	case errors.As(err, &mbe):
		return tooLarge(mbe.Limit)
	case errors.As(err, &syn):
		return errs.E(errs.Invalid, "malformed JSON at byte %d: %v", syn.Offset, syn)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errs.E(errs.Invalid, "malformed JSON: unexpected end of input")
	case errors.Is(err, io.EOF):
		return errs.E(errs.Invalid, "request body is empty; expected a JSON object")
	case errors.As(err, &typ):
		if typ.Field == "" {
			return errs.E(errs.Invalid, "expected a JSON object, got %s", typ.Value)
		}
		return errs.E(errs.Invalid, "field %q: cannot use JSON %s as %s (at byte %d)",
			typ.Field, typ.Value, typ.Type, typ.Offset)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return errs.E(errs.Invalid, "unknown field %s", strings.TrimPrefix(err.Error(), "json: unknown field "))
	}
	return errs.Wrap(errs.Invalid, err, "reading the JSON body failed")
}
