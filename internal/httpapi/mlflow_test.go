package httpapi

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/mlcycle/mlcycle/internal/errs"
)

// TestDecodeQueryStrict: a query string that net/url can only half parse is
// refused whole, instead of losing the pairs it could not read.
func TestDecodeQueryStrict(t *testing.T) {
	type req struct {
		RunID string   `json:"run_id"`
		Max   int64    `json:"max_results"`
		IDs   []string `json:"experiment_ids"`
	}
	tests := []struct {
		name, query string
		want        req
		err         string // "" for success
	}{
		{"plain", "run_id=r1&max_results=5", req{RunID: "r1", Max: 5}, ""},
		{"repeated", "experiment_ids=1&experiment_ids=2", req{IDs: []string{"1", "2"}}, ""},
		{"escaped semicolon", "run_id=a%3Bb", req{RunID: "a;b"}, ""},
		{"empty", "", req{}, ""},
		{"semicolon in a value", "run_id=x;y", req{}, "semicolon"},
		{"semicolon as separator", "max_results=5;run_id=r1", req{}, "semicolon"},
		{"bad escape", "run_id=%zz", req{}, "invalid URL escape"},
		{"bad escape elsewhere", "run_id=r1&other=%", req{}, "invalid URL escape"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/x?"+tc.query, nil)
			var got req
			err := decodeMLflow(r, &got)
			if tc.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				if got.RunID != tc.want.RunID || got.Max != tc.want.Max || strings.Join(got.IDs, ",") != strings.Join(tc.want.IDs, ",") {
					t.Errorf("got %+v, want %+v", got, tc.want)
				}
				return
			}
			if !errs.Is(err, errs.Invalid) || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("err %v, want an Invalid error containing %q", err, tc.err)
			}
		})
	}
}

// TestMLflowGetWithSemicolon: over HTTP, with a real tracking service, the
// answer is 400 INVALID_PARAMETER_VALUE naming the problem, rather than
// "run_id is missing" or a lookup of some other value.
func TestMLflowGetWithSemicolon(t *testing.T) {
	eachTracking(t, func(t *testing.T, env *testEnv) {
		for _, p := range []string{
			"/api/2.0/mlflow/runs/get?run_id=x;y",
			"/ajax-api/2.0/mlflow/experiments/get-by-name?experiment_name=Default;x",
			"/api/2.0/mlflow/metrics/get-history?run_id=r&metric_key=m;n",
		} {
			res := env.do(t, "GET", p, "", trkViewer)
			if res.status != 400 || errorCode(t, res.body) != "INVALID_PARAMETER_VALUE" || !strings.Contains(res.body, "semicolon") {
				t.Errorf("GET %s: %d %s, want 400 INVALID_PARAMETER_VALUE about the semicolon", p, res.status, res.body)
			}
		}
	})
}
