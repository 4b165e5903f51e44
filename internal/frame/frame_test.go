package frame

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// table is everything a reader produced.
type table struct {
	schema Schema // final, after io.EOF
	first  Schema // right after Open
	rows   [][]string
	lines  []int64
	types  [][]Type // per batch, per column
}

func readTable(t testing.TB, r Reader) (table, error) {
	t.Helper()
	defer r.Close()
	tb := table{first: r.Schema()}
	for {
		b, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return tb, err
		}
		var types []Type
		for j := range b.NumColumns() {
			types = append(types, b.Column(j).Type())
		}
		tb.types = append(tb.types, types)
		for i := range b.Len() {
			row := make([]string, b.NumColumns())
			for j := range row {
				c := b.Column(j)
				if c.IsNull(i) {
					row[j] = "<null>"
				} else {
					row[j] = c.Str(i)
				}
			}
			tb.rows = append(tb.rows, row)
			tb.lines = append(tb.lines, b.Line(i))
		}
	}
	tb.schema = r.Schema()
	return tb, nil
}

func writeFile(t testing.TB, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func fields(spec ...string) Schema {
	// "name:type" or "name:type?" for nullable
	var s Schema
	for _, f := range spec {
		name, typ, _ := strings.Cut(f, ":")
		nullable := strings.HasSuffix(typ, "?")
		s.Fields = append(s.Fields, Field{Name: name, Type: Type(strings.TrimSuffix(typ, "?")), Nullable: nullable})
	}
	return s
}

func TestCSVReader(t *testing.T) {
	cases := []struct {
		name   string
		file   string
		data   string
		opts   Options
		schema Schema
		rows   [][]string
		lines  []int64
	}{
		{
			name:   "types",
			file:   "t.csv",
			data:   "i,f,b,s,ts\n1,1.5,true,x,2024-01-02\n-7,2,False,y z,2024-01-02T03:04:05Z\n",
			schema: fields("i:int", "f:float", "b:bool", "s:string", "ts:timestamp"),
			rows: [][]string{
				{"1", "1.5", "true", "x", "2024-01-02T00:00:00Z"},
				{"-7", "2", "false", "y z", "2024-01-02T03:04:05Z"},
			},
			lines: []int64{2, 3},
		},
		{
			name:   "quoting, escaped quotes, embedded newlines and CRLF",
			file:   "q.csv",
			data:   "id,text\r\n1,\"a,b\"\r\n2,\"say \"\"hi\"\"\"\r\n3,\"two\nlines\"\r\n4,\"\"\r\n5,plain\r\n",
			schema: fields("id:int", "text:string?"),
			rows:   [][]string{{"1", "a,b"}, {"2", `say "hi"`}, {"3", "two\nlines"}, {"4", "<null>"}, {"5", "plain"}},
			lines:  []int64{2, 3, 4, 6, 7},
		},
		{
			name:   "BOM, blank lines, no final newline",
			file:   "b.csv",
			data:   "\xef\xbb\xbfa,b\n\n1,2\n\n\n3,4",
			schema: fields("a:int", "b:int"),
			rows:   [][]string{{"1", "2"}, {"3", "4"}},
			lines:  []int64{3, 6},
		},
		{
			name:   "missing values and non-finite floats",
			file:   "m.csv",
			data:   "a,b,c\n1,NA,\n,NaN,null\nN/A,inf,None\n4,-Infinity,\n",
			schema: fields("a:int?", "b:float?", "c:null?"),
			rows:   [][]string{{"1", "<null>", "<null>"}, {"<null>", "NaN", "<null>"}, {"<null>", "inf", "<null>"}, {"4", "-inf", "<null>"}},
		},
		{
			name:   "TSV",
			file:   "t.tsv",
			data:   "a\tb\n1\tx y\n2\t\"q\tq\"\n",
			schema: fields("a:int", "b:string"),
			rows:   [][]string{{"1", "x y"}, {"2", "q\tq"}},
		},
		{
			name:   "no header, semicolons",
			file:   "n.csv",
			data:   "1;a\n2;b\n",
			opts:   Options{NoHeader: true, Delimiter: ';'},
			schema: fields("column_1:int", "column_2:string"),
			rows:   [][]string{{"1", "a"}, {"2", "b"}},
			lines:  []int64{1, 2},
		},
		{
			name:   "empty header name, header only",
			file:   "h.csv",
			data:   ",b\n",
			schema: fields("column_1:null", "b:null"),
		},
		{
			name:   "custom null values",
			file:   "c.csv",
			data:   "a,b\n-1,?\n2,x\n",
			opts:   Options{NullValues: []string{"-1", "?"}},
			schema: fields("a:int?", "b:string?"),
			rows:   [][]string{{"<null>", "<null>"}, {"2", "x"}},
		},
		{
			name:   "mixed types join",
			file:   "j.csv",
			data:   "a,b,c,d\n1,1,true,2024-01-01\n2.5,x,1,7\n",
			schema: fields("a:float", "b:string", "c:string", "d:string"),
			rows:   [][]string{{"1", "1", "true", "2024-01-01"}, {"2.5", "x", "1", "7"}},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := writeFile(t, c.file, c.data)
			r, err := Open(path, c.opts)
			if err != nil {
				t.Fatal(err)
			}
			tb, err := readTable(t, r)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(tb.schema, c.schema) {
				t.Errorf("schema = %v, want %v", tb.schema, c.schema)
			}
			if !reflect.DeepEqual(tb.rows, c.rows) {
				t.Errorf("rows = %q, want %q", tb.rows, c.rows)
			}
			if c.lines != nil && !reflect.DeepEqual(tb.lines, c.lines) {
				t.Errorf("lines = %v, want %v", tb.lines, c.lines)
			}
		})
	}
}

func TestCSVTypedValues(t *testing.T) {
	data := "i,f,b,ts,s\n9223372036854775807,1e-3,TRUE,2024-02-29 23:59:59.123456,é\n-9223372036854775808,-0.1,false,1999-12-31T23:00:00+02:00,\n"
	r, err := OpenReader(strings.NewReader(data), "v.csv", FormatCSV, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b, err := r.Next()
	if err != nil {
		t.Fatal(err)
	}
	if got := b.Column(0).Ints(); !reflect.DeepEqual(got, []int64{math.MaxInt64, math.MinInt64}) {
		t.Errorf("ints = %v", got)
	}
	if got := b.Column(1).Floats(); !reflect.DeepEqual(got, []float64{0.001, -0.1}) {
		t.Errorf("floats = %v", got)
	}
	if got := b.Column(2).Bools(); !reflect.DeepEqual(got, []bool{true, false}) {
		t.Errorf("bools = %v", got)
	}
	want := []time.Time{time.Date(2024, 2, 29, 23, 59, 59, 123456000, time.UTC), time.Date(1999, 12, 31, 21, 0, 0, 0, time.UTC)}
	for i, w := range want {
		if got := b.Column(3).Time(i); !got.Equal(w) {
			t.Errorf("time %d = %v, want %v", i, got, w)
		}
	}
	s := b.Column(4)
	if string(s.Bytes(0)) != "é" || !s.IsNull(1) || s.NullCount() != 1 || s.Nulls()[1] != true {
		t.Errorf("string column: %q null=%v", s.Bytes(0), s.Nulls())
	}
	v := s.Value(0)
	if v.Kind != TypeString || v.Str != "é" || v.Null || !s.Value(1).Null {
		t.Errorf("Value = %+v", v)
	}
	if _, err := r.Next(); err != io.EOF {
		t.Errorf("second Next: %v", err)
	}
}

// TestWidening makes a column change type after the sample, across chunks
// parsed by several workers.
func TestWidening(t *testing.T) {
	var sb strings.Builder
	sb.WriteString("a,b,c\n")
	const n = 3000
	for i := range n {
		a, b, c := "1", "true", "2024-01-01"
		switch i {
		case 1500:
			a = "2.5"
		case 2500:
			a, b, c = "oops", "maybe", "soon"
		}
		sb.WriteString(a + "," + b + "," + c + "\n")
	}
	for _, workers := range []int{1, 3} {
		opts := Options{SampleRows: 100, BatchRows: 64, Workers: workers, chunkSize: 512}
		r, err := OpenReader(strings.NewReader(sb.String()), "w.csv", FormatCSV, opts)
		if err != nil {
			t.Fatal(err)
		}
		tb, err := readTable(t, r)
		if err != nil {
			t.Fatal(err)
		}
		if want := fields("a:int", "b:bool", "c:timestamp"); !reflect.DeepEqual(tb.first, want) {
			t.Errorf("schema after the sample = %v, want %v", tb.first, want)
		}
		if want := fields("a:string", "b:string", "c:string"); !reflect.DeepEqual(tb.schema, want) {
			t.Errorf("final schema = %v, want %v", tb.schema, want)
		}
		if len(tb.rows) != n || tb.rows[2500][0] != "oops" || tb.rows[2500][1] != "maybe" || tb.rows[1500][0] != "2.5" {
			t.Errorf("rows: %d, row 2500 = %v", len(tb.rows), tb.rows[2500])
		}
		if tb.lines[2500] != 2502 {
			t.Errorf("line of row 2500 = %d", tb.lines[2500])
		}
		// types only widen from batch to batch
		rank := map[Type]int{TypeNull: 0, TypeBool: 1, TypeInt: 1, TypeTimestamp: 1, TypeFloat: 2, TypeString: 3}
		for j := range 3 {
			prev := TypeNull
			for bi, types := range tb.types {
				if rank[types[j]] < rank[prev] || Join(prev, types[j]) != types[j] {
					t.Fatalf("workers=%d column %d: batch %d is %s after %s", workers, j, bi, types[j], prev)
				}
				prev = types[j]
			}
			if prev != TypeString {
				t.Errorf("column %d ends as %s", j, prev)
			}
		}
	}
}

func TestCSVErrors(t *testing.T) {
	long := "a\n" + strings.Repeat("x", 300) + "\n"
	var late strings.Builder
	late.WriteString("a,b\n")
	for range 5000 {
		late.WriteString("1,2\n")
	}
	late.WriteString("1,2,3\n")
	cases := []struct {
		name string
		data string
		opts Options
		want string
	}{
		{"ragged row", "a,b,c\n1,2,3\n4,5\n", Options{}, "d.csv: line 3: row has 2 fields, header has 3"},
		{"too many fields", "a,b\n1,2\n\n3,4,5\n", Options{}, "d.csv: line 4: row has 3 fields, header has 2"},
		{"one field", "a,b\n1,2\n3\n", Options{}, "d.csv: line 3: row has 1 field, header has 2"},
		{"ragged after the sample", late.String(), Options{SampleRows: 10, chunkSize: 256, Workers: 2}, "d.csv: line 5002: row has 3 fields, header has 2"},
		{"bare quote", "a,b\n1,x\"y\n", Options{}, `d.csv: line 2: column "b": bare '"' in unquoted field`},
		{"text after closing quote", "a,b\n\"x\"y,2\n", Options{}, `d.csv: line 2: column "a": unexpected 'y' after closing quote`},
		{"unclosed quote", "a,b\n1,2\n3,\"abc\n4,5\n", Options{}, `d.csv: line 3: column "b": quoted field is not closed`},
		{"invalid UTF-8 in data", "a,b\n1,ok\n2,\xff\xfe\n", Options{}, `d.csv: line 3: column "b": invalid UTF-8`},
		{"invalid UTF-8 in header", "a,\xc3\n1,2\n", Options{}, "d.csv: line 1: header field 2: invalid UTF-8"},
		{"empty file", "", Options{}, "d.csv: line 1: no header row (empty file)"},
		{"duplicate column", "a,b,a\n1,2,3\n", Options{}, `d.csv: line 1: duplicate column name "a"`},
		{"record too long", long, Options{MaxRecordBytes: 100, chunkSize: 64}, "d.csv: line 2: record longer than the limit of 100 bytes"},
		{"unclosed quote at the record limit", "a\n\"" + strings.Repeat("x", 300), Options{MaxRecordBytes: 100, chunkSize: 64}, `d.csv: line 2: column "a": quoted field is not closed`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := writeFile(t, "d.csv", c.data)
			r, err := Open(path, c.opts)
			if err == nil {
				_, err = readTable(t, r)
			}
			if err == nil {
				t.Fatalf("no error, want %q", c.want)
			}
			if got := strings.Replace(err.Error(), path, "d.csv", 1); got != c.want {
				t.Errorf("error = %q\n            want %q", got, c.want)
			}
			var pe *ParseError
			if !errors.As(err, &pe) || pe.Line == 0 {
				t.Errorf("error %T does not carry a line", err)
			}
		})
	}
}

func TestJSONLReader(t *testing.T) {
	data := `{"id": 1, "name": "a\"b\u00e9\ud83d\ude00", "tags": ["x", {"k": null}], "score": 1.5, "ok": true, "when": "2024-03-04T05:06:07Z"}
{"id": 2, "score": 2, "name": null}

{"id": 3, "extra": {"deep": [1, 2]}, "score": -1e2, "ok": false, "when": "2024-03-05"}
`
	path := writeFile(t, "d.jsonl", data)
	r, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	tb, err := readTable(t, r)
	if err != nil {
		t.Fatal(err)
	}
	want := fields("id:int", "name:string?", "tags:string?", "score:float", "ok:bool?", "when:timestamp?", "extra:string?")
	if !reflect.DeepEqual(tb.schema, want) {
		t.Errorf("schema = %v\nwant %v", tb.schema, want)
	}
	rows := [][]string{
		{"1", "a\"bé😀", `["x",{"k":null}]`, "1.5", "true", "2024-03-04T05:06:07Z", "<null>"},
		{"2", "<null>", "<null>", "2", "<null>", "<null>", "<null>"},
		{"3", "<null>", "<null>", "-100", "false", "2024-03-05T00:00:00Z", `{"deep":[1,2]}`},
	}
	if !reflect.DeepEqual(tb.rows, rows) {
		t.Errorf("rows = %q\nwant %q", tb.rows, rows)
	}
	if !reflect.DeepEqual(tb.lines, []int64{1, 2, 4}) {
		t.Errorf("lines = %v", tb.lines)
	}
}

// TestJSONLNewKeyAfterSample: a key first seen after the sample appends a
// column that is missing in the earlier rows.
func TestJSONLNewKeyAfterSample(t *testing.T) {
	var sb strings.Builder
	for i := range 1000 {
		if i == 900 {
			sb.WriteString(`{"a": 1, "late": "x"}` + "\n")
			continue
		}
		sb.WriteString(`{"a": 1}` + "\n")
	}
	r, err := OpenReader(strings.NewReader(sb.String()), "g.jsonl", FormatJSONL, Options{SampleRows: 10, BatchRows: 100, chunkSize: 300})
	if err != nil {
		t.Fatal(err)
	}
	tb, err := readTable(t, r)
	if err != nil {
		t.Fatal(err)
	}
	if want := fields("a:int"); !reflect.DeepEqual(tb.first, want) {
		t.Errorf("first schema %v", tb.first)
	}
	if want := fields("a:int", "late:string?"); !reflect.DeepEqual(tb.schema, want) {
		t.Errorf("final schema %v", tb.schema)
	}
	if tb.rows[900][1] != "x" || len(tb.rows[0]) != 1 || len(tb.rows[999]) != 2 || tb.rows[999][1] != "<null>" {
		t.Errorf("rows 900 %v 999 %v", tb.rows[900], tb.rows[999])
	}
}

func TestJSONLErrors(t *testing.T) {
	cases := []struct{ name, data, want string }{
		{"not an object", "{\"a\":1}\n[1,2]\n", `d.jsonl: line 2: expected a JSON object, found '['`},
		{"invalid value", "{\"a\":1}\n{\"a\": tru}\n", `d.jsonl: line 2: column "a": invalid value starting with 't'`},
		{"unclosed string", "{\"a\": \"x}\n", `d.jsonl: line 1: column "a": string is not closed`},
		{"missing comma", "{\"a\": 1 \"b\": 2}\n", `d.jsonl: line 1: expected ',' or '}' after the value of "a", found '"'`},
		{"duplicate key", "{\"a\": 1, \"a\": 2}\n", `d.jsonl: line 1: column "a": duplicate key`},
		{"trailing garbage", "{\"a\": 1} x\n", `d.jsonl: line 1: unexpected 'x' after the object (one object per line)`},
		{"bad number", "\n\n{\"a\": 01}\n", `d.jsonl: line 3: expected ',' or '}' after the value of "a", found '1'`},
		{"invalid UTF-8", "{\"a\": \"ok\"}\n{\"a\": \"\xff\"}\n", `d.jsonl: line 2: invalid UTF-8`},
		{"control character", "{\"a\": \"x\ty\"}\n", `d.jsonl: line 1: column "a": control character '\t' in string`},
		{"bad nested", "{\"a\": [1, }\n", `d.jsonl: line 1: column "a": invalid value starting with '}'`},
		{"too deep", "{\"a\": " + strings.Repeat("[", 600) + strings.Repeat("]", 600) + "}\n", `d.jsonl: line 1: column "a": nested deeper than 512 levels`},
		{"bad escape", "{\"a\": \"\\x\"}\n", `d.jsonl: line 1: column "a": invalid escape \x`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := writeFile(t, "d.jsonl", c.data)
			r, err := Open(path, Options{})
			if err == nil {
				_, err = readTable(t, r)
			}
			if err == nil {
				t.Fatalf("no error, want %q", c.want)
			}
			if got := strings.Replace(err.Error(), path, "d.jsonl", 1); got != c.want {
				t.Errorf("error = %q\n            want %q", got, c.want)
			}
		})
	}
}

func TestDetectAndOpen(t *testing.T) {
	for path, want := range map[string]Format{
		"a.csv": FormatCSV, "dir/B.CSV": FormatCSV, "x.tsv": FormatTSV, "x.tab": FormatTSV,
		"x.jsonl": FormatJSONL, "x.ndjson.gz": FormatJSONL, "x.csv.gz": FormatCSV, "x.parquet": FormatParquet, "x.pq": FormatParquet,
	} {
		if got, err := Detect(path); err != nil || got != want {
			t.Errorf("Detect(%q) = %q, %v; want %q", path, got, err, want)
		}
	}
	for _, path := range []string{"x.txt", "x", "x.parquet.gz", "x.json"} {
		if _, err := Detect(path); !errors.Is(err, ErrUnknownFormat) {
			t.Errorf("Detect(%q) error = %v", path, err)
		}
	}

	// gzip
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write([]byte("a,b\n1,x\n"))
	zw.Close()
	path := writeFile(t, "z.csv.gz", buf.String())
	r, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	tb, err := readTable(t, r)
	if err != nil || !reflect.DeepEqual(tb.rows, [][]string{{"1", "x"}}) {
		t.Errorf("gzip: %v %v", tb.rows, err)
	}
	bad := writeFile(t, "bad.csv.gz", "not gzip")
	if _, err := Open(bad, Options{}); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("bad gzip error = %v", err)
	}

	// unreadable files name the path
	missing := filepath.Join(t.TempDir(), "missing.csv")
	if _, err := Open(missing, Options{}); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing file error = %v", err)
	}
	dir := filepath.Join(t.TempDir(), "d.csv")
	os.Mkdir(dir, 0o755)
	if _, err := Open(dir, Options{}); err == nil || !strings.Contains(err.Error(), dir) {
		t.Errorf("directory error = %v", err)
	}
	if _, err := OpenReader(strings.NewReader("a"), "s", FormatParquet, Options{}); err == nil {
		t.Error("parquet from a plain stream should fail")
	}
	if _, err := OpenReader(strings.NewReader("a"), "s.csv", FormatCSV, Options{Delimiter: '"'}); err == nil {
		t.Error("quote as delimiter should fail")
	}
}

func TestReaderCloseEarly(t *testing.T) {
	var sb strings.Builder
	sb.WriteString("a\n")
	for i := range 100000 {
		sb.WriteString("1\n")
		_ = i
	}
	r, err := OpenReader(strings.NewReader(sb.String()), "c.csv", FormatCSV, Options{chunkSize: 1024, SampleRows: 5, Workers: 4})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Next(); err == nil || err == io.EOF {
		t.Errorf("Next after Close = %v", err)
	}
}

// Options.Progress reports the bytes of the file read, growing, up to the
// whole file (compressed, for .gz).
func TestOpenProgress(t *testing.T) {
	var csv strings.Builder
	csv.WriteString("a,b\n")
	for i := range 20000 {
		fmt.Fprintf(&csv, "%d,x%d\n", i, i%7)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(csv.String()))
	zw.Close()
	pq := filepath.Join(t.TempDir(), "t.parquet")
	writeParquet(t, pq, pqRows(1000), 300)
	for _, path := range []string{
		writeFile(t, "p.csv", csv.String()),
		writeFile(t, "p.csv.gz", gz.String()),
		pq,
	} {
		var seen []int64
		r, err := Open(path, Options{chunkSize: 16 << 10, Progress: func(n int64) { seen = append(seen, n) }})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := readTable(t, r); err != nil {
			t.Fatal(err)
		}
		r.Close()
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if len(seen) == 0 || !slices.IsSorted(seen) {
			t.Fatalf("%s: progress %v, want growing counts", path, seen)
		}
		last := seen[len(seen)-1]
		if strings.HasSuffix(path, ".parquet") {
			// Parquet is read by ranges (footer, column chunks), not in
			// one pass; most of this file is column chunks.
			if last < fi.Size()/2 {
				t.Errorf("%s: progress ends at %d of %d bytes", path, last, fi.Size())
			}
			continue
		}
		if last != fi.Size() || (!strings.HasSuffix(path, ".gz") && len(seen) < 3) {
			t.Errorf("%s: progress %d calls ending at %d, file has %d bytes", path, len(seen), last, fi.Size())
		}
	}
}
