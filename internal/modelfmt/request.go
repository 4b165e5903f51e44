package modelfmt

import (
	"bytes"
	"encoding/json"
	"slices"
)

// Rows is a batch of input rows as the MLflow scoring protocol sends them:
// named columns and one value per column and row (nil = missing). Values
// are what encoding/json produces: float64, string, bool, nil (nested
// arrays and objects are refused by the model's inputs).
type Rows struct {
	Columns []string
	Data    [][]any // Data[i][j] is column j of row i
}

// MaxRequestRows bounds the rows one request may carry.
const MaxRequestRows = 1 << 20

// DecodeRequest reads an MLflow scoring request body: one of
// dataframe_split {"columns", "data"}, dataframe_records [{...}], or inputs
// / instances (a list of records or a dict of columns). "params" is
// accepted and ignored: mlcycle models take no inference parameters.
func DecodeRequest(body []byte) (*Rows, error) {
	var req map[string]json.RawMessage
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, invalid("request body is not a JSON object: %s", text(err))
	}
	var key string
	for k := range req {
		switch k {
		case "dataframe_split", "dataframe_records", "inputs", "instances":
			if key != "" {
				return nil, invalid("request has both %q and %q; send exactly one", min(key, k), max(key, k))
			}
			key = k
		case "params":
		default:
			return nil, invalid("unknown request field %q (want one of dataframe_split, dataframe_records, inputs, instances, and optional params)", k)
		}
	}
	if key == "" {
		return nil, invalid("request has none of dataframe_split, dataframe_records, inputs, instances")
	}
	raw := req[key]
	var (
		rows *Rows
		err  error
	)
	switch key {
	case "dataframe_split":
		rows, err = decodeSplit(raw)
	case "dataframe_records":
		rows, err = decodeRecords(raw)
	default:
		if t := firstToken(raw); t == '{' {
			rows, err = decodeColumns(raw)
		} else {
			rows, err = decodeRecords(raw)
		}
	}
	if err != nil {
		return nil, invalid("%s: %s", key, text(err))
	}
	if len(rows.Data) > MaxRequestRows {
		return nil, invalid("%s: %d rows, more than the limit of %d", key, len(rows.Data), MaxRequestRows)
	}
	return rows, nil
}

func firstToken(raw json.RawMessage) byte {
	raw = bytes.TrimLeft(raw, " \t\r\n")
	if len(raw) == 0 {
		return 0
	}
	return raw[0]
}

func decodeSplit(raw json.RawMessage) (*Rows, error) {
	var s struct {
		Columns []string `json:"columns"`
		Data    [][]any  `json:"data"`
		Index   []any    `json:"index"`
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, invalid("want {\"columns\": [...], \"data\": [[...]]}: %s", text(err))
	}
	if s.Columns == nil {
		return nil, invalid(`no "columns"`)
	}
	if err := checkColumns(s.Columns); err != nil {
		return nil, err
	}
	for i, r := range s.Data {
		if len(r) != len(s.Columns) {
			return nil, invalid("row %d has %d values for %d columns", i, len(r), len(s.Columns))
		}
	}
	return &Rows{Columns: s.Columns, Data: s.Data}, nil
}

func decodeRecords(raw json.RawMessage) (*Rows, error) {
	var recs []map[string]any
	if err := json.Unmarshal(raw, &recs); err != nil {
		return nil, invalid("want a list of records [{\"column\": value, ...}]: %s", text(err))
	}
	return recordsToRows(recs), nil
}

// recordsToRows lays records out as rows; the columns are every key any
// record has, sorted, and a key a record lacks is a missing value there.
func recordsToRows(recs []map[string]any) *Rows {
	idx := map[string]int{}
	var cols []string
	for _, r := range recs {
		for k := range r {
			if _, ok := idx[k]; !ok {
				idx[k] = 0
				cols = append(cols, k)
			}
		}
	}
	slices.Sort(cols)
	for j, c := range cols {
		idx[c] = j
	}
	data := make([][]any, len(recs))
	for i, r := range recs {
		row := make([]any, len(cols))
		for k, v := range r {
			row[idx[k]] = v
		}
		data[i] = row
	}
	return &Rows{Columns: cols, Data: data}
}

func decodeColumns(raw json.RawMessage) (*Rows, error) {
	var m map[string][]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, invalid("want a dict of columns {\"column\": [values...]}: %s", text(err))
	}
	cols := make([]string, 0, len(m))
	for c := range m {
		cols = append(cols, c)
	}
	slices.Sort(cols)
	n := -1
	for _, c := range cols {
		if n >= 0 && len(m[c]) != n {
			return nil, invalid("column %q has %d values, column %q has %d", c, len(m[c]), cols[0], n)
		}
		n = len(m[c])
	}
	n = max(n, 0)
	if n > MaxRequestRows {
		return nil, invalid("%d rows, more than the limit of %d", n, MaxRequestRows)
	}
	data := make([][]any, n)
	for i := range data {
		row := make([]any, len(cols))
		for j, c := range cols {
			row[j] = m[c][i]
		}
		data[i] = row
	}
	return &Rows{Columns: cols, Data: data}, nil
}

func checkColumns(cols []string) error {
	seen := make(map[string]bool, len(cols))
	for _, c := range cols {
		if seen[c] {
			return invalid("column %q appears twice", c)
		}
		seen[c] = true
	}
	return nil
}
