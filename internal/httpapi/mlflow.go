package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"

	"github.com/mlcycle/mlcycle/internal/errs"
)

// The MLflow-compatible REST API lives in the mlflow_*.go files. Its wire
// rules (checked against MLflow's source): every route answers under both
// /api/2.0/mlflow and /ajax-api/2.0/mlflow; GET takes query parameters
// (repeated keys for lists, True/False booleans); POST, PATCH and DELETE take
// a JSON body; int64 fields are JSON numbers; doubles may be "NaN",
// "Infinity" or "-Infinity"; errors are {"error_code", "message"}.

// mlflowPrefixes are the two roots the MLflow client and UI use.
var mlflowPrefixes = [...]string{"/api/2.0/mlflow", "/ajax-api/2.0/mlflow"}

// mlflow registers an MLflow route under both prefixes. path starts with
// "/", e.g. "/experiments/create".
func (a *API) mlflow(method, path, role string, h apiFunc, opts ...routeOption) {
	for _, p := range mlflowPrefixes {
		a.handle(method, p+path, role, h, opts...)
	}
}

// mlflowRaw registers a streaming MLflow route under both prefixes.
func (a *API) mlflowRaw(method, path, role string, h http.HandlerFunc, opts ...routeOption) {
	for _, p := range mlflowPrefixes {
		a.handleRaw(method, p+path, role, h, opts...)
	}
}

// registerMLflow adds the MLflow-compatible routes; each area registers its
// own in its file.
func (a *API) registerMLflow() {
	a.registerMLflowTracking()
	a.registerMLflowRegistry()
	a.registerMLflowArtifacts()
}

// decodeMLflow reads an MLflow request into dst (a pointer to a struct with
// json tags): query parameters for GET, a JSON body otherwise. Unknown fields
// are ignored, as MLflow's server does, so newer clients keep working.
func decodeMLflow(r *http.Request, dst any) error {
	if r.Method == http.MethodGet {
		return decodeQuery(r, dst)
	}
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(dst); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // an empty body means all fields are unset
		}
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

// decodeQuery fills dst's fields from the query string by their json names.
// Supported field kinds: string, bool, int/int32/int64, float64, Double,
// pointers to those, and slices of string or int64.
func decodeQuery(r *http.Request, dst any) error {
	q, err := strictQuery(r)
	if err != nil {
		return err
	}
	v := reflect.ValueOf(dst).Elem()
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		vals, ok := q[name]
		if !ok || len(vals) == 0 {
			continue
		}
		if err := setField(v.Field(i), vals); err != nil {
			return errs.E(errs.Invalid, "query parameter %s: %v", name, err)
		}
	}
	return nil
}

// strictQuery parses the query string, refusing what r.URL.Query silently
// drops: a pair with ';' or a bad %-escape. Dropping "run_id=a;b" would
// leave no run_id at all, and an artifact "path=a;b" would name the root.
func strictQuery(r *http.Request) (url.Values, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, errs.Wrap(errs.Invalid, err, "malformed query string: %v", err)
	}
	return q, nil
}

func setField(fv reflect.Value, vals []string) error {
	if fv.Kind() == reflect.Pointer {
		p := reflect.New(fv.Type().Elem())
		if err := setField(p.Elem(), vals); err != nil {
			return err
		}
		fv.Set(p)
		return nil
	}
	if fv.Kind() == reflect.Slice {
		s := reflect.MakeSlice(fv.Type(), len(vals), len(vals))
		for i, x := range vals {
			if err := setScalar(s.Index(i), x); err != nil {
				return err
			}
		}
		fv.Set(s)
		return nil
	}
	return setScalar(fv, vals[len(vals)-1])
}

func setScalar(fv reflect.Value, s string) error {
	switch fv.Kind() {
	case reflect.String:
		fv.SetString(s)
	case reflect.Bool:
		switch strings.ToLower(s) {
		case "true", "1":
			fv.SetBool(true)
		case "false", "0":
			fv.SetBool(false)
		default:
			return fmt.Errorf("%q is not a boolean (True or False)", s)
		}
	case reflect.Int, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return fmt.Errorf("%q is not an integer", s)
		}
		fv.SetInt(n)
	case reflect.Float64:
		d, err := parseDouble(s)
		if err != nil {
			return err
		}
		fv.SetFloat(d)
	default:
		return fmt.Errorf("unsupported field type %s", fv.Type())
	}
	return nil
}

// Double is a float64 that travels as MLflow's protobuf JSON does: a number,
// or the strings "NaN", "Infinity" and "-Infinity".
type Double float64

func (d Double) MarshalJSON() ([]byte, error) {
	f := float64(d)
	switch {
	case math.IsNaN(f):
		return []byte(`"NaN"`), nil
	case math.IsInf(f, 1):
		return []byte(`"Infinity"`), nil
	case math.IsInf(f, -1):
		return []byte(`"-Infinity"`), nil
	}
	return strconv.AppendFloat(nil, f, 'g', -1, 64), nil
}

func (d *Double) UnmarshalJSON(b []byte) error {
	s := string(b)
	if s == "null" {
		return nil
	}
	s = strings.Trim(s, `"`)
	f, err := parseDouble(s)
	if err != nil {
		return err
	}
	*d = Double(f)
	return nil
}

func parseDouble(s string) (float64, error) {
	switch s {
	case "NaN", "nan":
		return math.NaN(), nil
	case "Infinity", "inf", "Inf":
		return math.Inf(1), nil
	case "-Infinity", "-inf", "-Inf":
		return math.Inf(-1), nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	return f, nil
}
