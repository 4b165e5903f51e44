package frame

import (
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestParseFloatMatchesStrconv(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	var inputs []string
	for range 200000 {
		f := rng.NormFloat64() * math.Pow(10, float64(rng.IntN(40)-20))
		switch rng.IntN(4) {
		case 0:
			inputs = append(inputs, strconv.FormatFloat(f, 'g', -1, 64))
		case 1:
			inputs = append(inputs, strconv.FormatFloat(f, 'f', rng.IntN(8), 64))
		case 2:
			inputs = append(inputs, strconv.FormatFloat(f, 'e', rng.IntN(18), 64))
		default:
			inputs = append(inputs, strconv.FormatInt(rng.Int64()>>rng.IntN(63), 10))
		}
	}
	inputs = append(inputs, "0", "-0", "0.0", ".5", "5.", "+1.5", "1e308", "1e309", "-1e400", "4.9e-324", "1e-400",
		"123456789012345678901234567890", "0.1", "9007199254740993", "inf", "-Inf", "+infinity", "NaN", "nan")
	for _, s := range inputs {
		want, err := strconv.ParseFloat(s, 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			t.Fatalf("bad test input %q", s)
		}
		got, ok := parseFloat([]byte(s))
		if !ok || (got != want && !(math.IsNaN(got) && math.IsNaN(want))) || math.Signbit(got) != math.Signbit(want) {
			t.Errorf("parseFloat(%q) = %v, %v; strconv: %v", s, got, ok, want)
		}
	}
	for _, s := range []string{"", "-", ".", "e5", "1e", "1e+", "1.2.3", "0x1p3", "1_000", "12a", "infinite", "nana", "1,5", "--1", " "} {
		if v, ok := parseFloat([]byte(s)); ok {
			t.Errorf("parseFloat(%q) accepted: %v", s, v)
		}
	}
	if v, ok := parseFloat([]byte(" 2.5 ")); !ok || v != 2.5 {
		t.Errorf("spaces: %v %v", v, ok)
	}
}

func TestParseIntAndBool(t *testing.T) {
	for s, want := range map[string]int64{"0": 0, "-0": 0, "+7": 7, "007": 7, " 12 ": 12,
		"9223372036854775807": math.MaxInt64, "-9223372036854775808": math.MinInt64} {
		if got, ok := parseInt([]byte(s)); !ok || got != want {
			t.Errorf("parseInt(%q) = %d, %v", s, got, ok)
		}
	}
	for _, s := range []string{"", "-", "+", "1.0", "1e3", "9223372036854775808", "-9223372036854775809", "12345678901234567890", "1 2", "0x10"} {
		if v, ok := parseInt([]byte(s)); ok {
			t.Errorf("parseInt(%q) accepted: %d", s, v)
		}
	}
	for s, want := range map[string]bool{"true": true, "True": true, "TRUE": true, "false": false, "False": false, "FALSE": false} {
		if got, ok := parseBool([]byte(s)); !ok || got != want {
			t.Errorf("parseBool(%q) = %v, %v", s, got, ok)
		}
	}
	for _, s := range []string{"yes", "1", "t", "tRUE", ""} {
		if _, ok := parseBool([]byte(s)); ok {
			t.Errorf("parseBool(%q) accepted", s)
		}
	}
}

func TestParseTimestamp(t *testing.T) {
	cases := map[string]time.Time{
		"2024-02-29":                     time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC),
		"1970-01-01 00:00:00":            time.Unix(0, 0),
		"0001-01-01T00:00:00Z":           time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC),
		"9999-12-31T23:59:59.999999Z":    time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC),
		"1969-07-20T20:17:40.5-05:00":    time.Date(1969, 7, 21, 1, 17, 40, 500000000, time.UTC),
		"2000-01-01T00:00:00+0530":       time.Date(1999, 12, 31, 18, 30, 0, 0, time.UTC),
		"2000-01-01T00:00:00+01":         time.Date(1999, 12, 31, 23, 0, 0, 0, time.UTC),
		"2021-06-01T12:00:00.123456789Z": time.Date(2021, 6, 1, 12, 0, 0, 123456000, time.UTC),
		"1900-03-01t01:02:03z":           time.Date(1900, 3, 1, 1, 2, 3, 0, time.UTC),
	}
	for s, want := range cases {
		got, ok := parseTimestamp([]byte(s))
		if !ok || got != want.UnixMicro() {
			t.Errorf("parseTimestamp(%q) = %v, %v; want %v", s, time.UnixMicro(got).UTC(), ok, want)
		}
	}
	for _, s := range []string{"2023-02-29", "2024-13-01", "2024-00-10", "2024-01-32", "2024-1-01", "2024-01-01T24:00:00",
		"2024-01-01T10:60:00", "2024-01-01 10:00", "2024-01-01T10:00:00.", "2024-01-01T10:00:00+25:00", "2024-01-01T10:00:00 UTC", "20240101"} {
		if _, ok := parseTimestamp([]byte(s)); ok {
			t.Errorf("parseTimestamp(%q) accepted", s)
		}
	}
}

func TestInferType(t *testing.T) {
	for s, want := range map[string]Type{
		"1": TypeInt, "-12": TypeInt, "1.5": TypeFloat, "1e3": TypeFloat, "NaN": TypeFloat, "-inf": TypeFloat,
		"true": TypeBool, "False": TypeBool, "2024-01-01": TypeTimestamp, "2024-01-01 10:00:00": TypeTimestamp,
		"abc": TypeString, "1,5": TypeString, "0x10": TypeString, "none": TypeString, "   ": TypeString, "99999999999999999999": TypeFloat,
	} {
		if got := inferType([]byte(s)); got != want {
			t.Errorf("inferType(%q) = %s, want %s", s, got, want)
		}
	}
}

// readAllOpts reads a stream and returns the final schema, the row count and
// the error text, for comparing parses.
func readAllOpts(data []byte, f Format, opts Options) (Schema, int, string) {
	r, err := OpenReader(strings.NewReader(string(data)), "fuzz", f, opts)
	if err != nil {
		return Schema{}, 0, err.Error()
	}
	defer r.Close()
	rows := 0
	for {
		b, err := r.Next()
		if errors.Is(err, io.EOF) {
			return r.Schema(), rows, ""
		}
		if err != nil {
			return Schema{}, 0, err.Error()
		}
		for j := range b.NumColumns() {
			c := b.Column(j)
			for i := range b.Len() {
				_ = c.Value(i) // every accessor path must be safe
			}
		}
		rows += b.Len()
	}
}

// checkParseError asserts an error is a *ParseError naming a line.
func checkParseError(t *testing.T, data []byte, f Format) {
	r, err := OpenReader(strings.NewReader(string(data)), "fuzz", f, Options{})
	if err == nil {
		defer r.Close()
		for err == nil {
			_, err = r.Next()
		}
		if errors.Is(err, io.EOF) {
			return
		}
	}
	var pe *ParseError
	if !errors.As(err, &pe) || pe.Line < 1 || !strings.HasPrefix(err.Error(), "fuzz: line ") {
		t.Fatalf("error %q (%T) does not name a line", err, err)
	}
}

// FuzzCSVReader: the reader never panics, errors name a line, and parsing
// in many small chunks on several workers agrees with one big chunk.
func FuzzCSVReader(f *testing.F) {
	for _, s := range []string{
		"a,b\n1,2\n", "a,b\n\"x\"\"y\",2\n", "a\n\"multi\nline\"\n", "a,b\n1\n", "a,b\n1,\"x\n", "a,b\r\n1,2\r\n",
		"\xef\xbb\xbfa\n1\n", "a,b\n1,x\"y\n", "a\n\xff\n", "a,a\n", "", "\n\n", "a;b\n1;2\n", "a\nNA\n2\n1.5\nx\n",
		"a,b,c\n1,true,2024-01-01\n2,false,2024-01-02T03:04:05Z\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkParseError(t, data, FormatCSV)
		s1, n1, e1 := readAllOpts(data, FormatCSV, Options{Workers: 1})
		s2, n2, e2 := readAllOpts(data, FormatCSV, Options{Workers: 3, chunkSize: 7, SampleRows: 2, BatchRows: 3})
		if e1 != e2 || n1 != n2 || !schemaEqual(s1, s2) {
			t.Fatalf("chunked parse differs:\n%v %d %q\n%v %d %q", s1, n1, e1, s2, n2, e2)
		}
	})
}

// FuzzJSONLReader: as FuzzCSVReader for JSON Lines.
func FuzzJSONLReader(f *testing.F) {
	for _, s := range []string{
		`{"a":1}` + "\n", `{"a":1,"b":"x"}` + "\n" + `{"b":null,"c":[1,{"d":2}]}` + "\n", `{"a":"\u00e9\ud83d\ude00"}`,
		`[1]`, `{"a":}`, `{"a":1,"a":2}`, "{\"a\":\"\xff\"}", `{"a": 1e999}`, `{"a": 12345678901234567890}`, "\n\n{}\n",
		`{"t":"2024-01-01"}` + "\n" + `{"t":"x"}`, `{"a":tru}`, `{"a":"\x"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkParseError(t, data, FormatJSONL)
		s1, n1, e1 := readAllOpts(data, FormatJSONL, Options{Workers: 1})
		s2, n2, e2 := readAllOpts(data, FormatJSONL, Options{Workers: 3, chunkSize: 7, SampleRows: 2, BatchRows: 3})
		if e1 != e2 || n1 != n2 || !schemaEqual(s1, s2) {
			t.Fatalf("chunked parse differs:\n%v %d %q\n%v %d %q", s1, n1, e1, s2, n2, e2)
		}
	})
}

// schemaEqual compares schemas; JSON Lines column order follows first
// appearance in the file, so it must match too.
func schemaEqual(a, b Schema) bool {
	if len(a.Fields) != len(b.Fields) {
		return false
	}
	for i := range a.Fields {
		if a.Fields[i] != b.Fields[i] {
			return false
		}
	}
	return true
}
