package modelfmt

import (
	"reflect"
	"strings"
	"testing"

	"github.com/mlcycle/mlcycle/internal/errs"
)

func TestDecodeRequest(t *testing.T) {
	want := &Rows{Columns: []string{"a", "b"}, Data: [][]any{{1.0, "x"}, {nil, "y"}}}
	for _, tc := range []struct {
		name, body string
		want       *Rows
	}{
		{"split", `{"dataframe_split": {"columns": ["a", "b"], "data": [[1, "x"], [null, "y"]]}}`, want},
		{"split with index and params", `{"dataframe_split": {"index": [0, 1], "columns": ["a", "b"], "data": [[1, "x"], [null, "y"]]}, "params": {"k": 1}}`, want},
		{"records", `{"dataframe_records": [{"a": 1, "b": "x"}, {"b": "y"}]}`, want},
		{"inputs records", `{"inputs": [{"b": "x", "a": 1}, {"b": "y", "a": null}]}`, want},
		{"inputs columns", `{"inputs": {"b": ["x", "y"], "a": [1, null]}}`, want},
		{"instances", ` {"instances": [{"a": 1, "b": "x"}, {"b": "y"}]}`, want},
		{"empty split", `{"dataframe_split": {"columns": ["a"], "data": []}}`, &Rows{Columns: []string{"a"}, Data: [][]any{}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeRequest([]byte(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %#v, want %#v", got, tc.want)
			}
		})
	}
}

func TestDecodeRequestErrors(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{``, "not a JSON object"},
		{`[1]`, "not a JSON object"},
		{`{}`, "none of dataframe_split"},
		{`{"params": {}}`, "none of dataframe_split"},
		{`{"dataframe_split": {}, "inputs": []}`, `both "dataframe_split" and "inputs"`},
		{`{"columns": ["a"]}`, `unknown request field "columns"`},
		{`{"dataframe_split": {"data": [[1]]}}`, `no "columns"`},
		{`{"dataframe_split": {"columns": ["a", "a"], "data": []}}`, `column "a" appears twice`},
		{`{"dataframe_split": {"columns": ["a", "b"], "data": [[1]]}}`, "row 0 has 1 values for 2 columns"},
		{`{"dataframe_split": [1]}`, "dataframe_split: want"},
		{`{"dataframe_records": {"a": 1}}`, "dataframe_records: want a list of records"},
		{`{"inputs": {"a": [1, 2], "b": [1]}}`, "has 1 values"},
		{`{"inputs": 3}`, "inputs: want a list of records"},
	} {
		_, err := DecodeRequest([]byte(tc.body))
		if err == nil || !strings.Contains(errs.MessageOf(err), tc.want) || !errs.Is(err, errs.Invalid) {
			t.Errorf("DecodeRequest(%s) = %v, want an invalid error mentioning %q", tc.body, err, tc.want)
		}
	}
}

// FuzzDecodeRequest: any body gives rows or an error, never a panic, and
// rows always have one value per column.
func FuzzDecodeRequest(f *testing.F) {
	for _, s := range []string{
		`{"dataframe_split": {"columns": ["a", "b"], "data": [[1, "x"], [null, "y"]]}}`,
		`{"dataframe_records": [{"a": 1, "b": "x"}, {"b": "y"}]}`,
		`{"inputs": {"b": ["x", "y"], "a": [1, null]}}`,
		`{"instances": [{"a": [1, 2]}], "params": null}`,
		`{"inputs": []}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		rows, err := DecodeRequest(body)
		if err != nil {
			return
		}
		for i, r := range rows.Data {
			if len(r) != len(rows.Columns) {
				t.Fatalf("row %d has %d values for %d columns", i, len(r), len(rows.Columns))
			}
		}
	})
}
