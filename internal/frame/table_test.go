package frame

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

func tableFromText(t *testing.T, name string, f Format, data string, opts Options, maxRows int) (*Table, error) {
	t.Helper()
	r, err := OpenReader(strings.NewReader(data), name, f, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	return ReadTable(context.Background(), r, maxRows)
}

// TestReadTableWidening: columns widened by later batches are converted in
// the rows already read; a column missing at first takes the later type.
func TestReadTableWidening(t *testing.T) {
	var sb strings.Builder
	sb.WriteString("x,y,z,b\n")
	const n = 400
	for i := range n {
		x := strconv.Itoa(i)
		switch i {
		case 150:
			x = "2.5"
		case 300:
			x = "abc"
		}
		y := strconv.Itoa(i) + ".5"
		if i == 10 {
			y = "NA"
		}
		z := ""
		if i >= 200 {
			z = "7"
		}
		fmt.Fprintf(&sb, "%s,%s,%s,%t\n", x, y, z, i%2 == 0)
	}
	// The stream really widens x batch by batch (so ReadTable converts).
	r, err := OpenReader(strings.NewReader(sb.String()), "w.csv", FormatCSV, Options{SampleRows: 5, BatchRows: 16, chunkSize: 256, Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	var seen []Type
	for {
		b, err := r.Next()
		if err != nil {
			break
		}
		if typ := b.Column(0).Type(); len(seen) == 0 || seen[len(seen)-1] != typ {
			seen = append(seen, typ)
		}
	}
	r.Close()
	if !reflect.DeepEqual(seen, []Type{TypeInt, TypeFloat, TypeString}) {
		t.Fatalf("batch types of x: %v", seen)
	}
	for _, workers := range []int{1, 3} {
		t.Run(fmt.Sprint("workers ", workers), func(t *testing.T) {
			tb, err := tableFromText(t, "w.csv", FormatCSV, sb.String(), Options{SampleRows: 5, BatchRows: 16, chunkSize: 256, Workers: workers}, 0)
			if err != nil {
				t.Fatal(err)
			}
			if tb.Rows() != n {
				t.Fatalf("rows %d", tb.Rows())
			}
			want := []Field{{"x", TypeString, false}, {"y", TypeFloat, true}, {"z", TypeInt, true}, {"b", TypeBool, false}}
			if !reflect.DeepEqual(tb.Schema.Fields, want) {
				t.Fatalf("schema %v", tb.Schema.Fields)
			}
			for j, c := range tb.Cols {
				if c.Field != want[j] || c.Len() != n {
					t.Fatalf("column %d: %v len %d", j, c.Field, c.Len())
				}
			}
			x, y, z, b := tb.Cols[0], tb.Cols[1], tb.Cols[2], tb.Cols[3]
			if x.Nulls != nil || b.Nulls != nil {
				t.Errorf("unexpected null masks")
			}
			for i := range n {
				wx := strconv.Itoa(i)
				if i == 150 {
					wx = "2.5"
				} else if i == 300 {
					wx = "abc"
				}
				if x.Strings[i] != wx {
					t.Fatalf("x[%d] = %q, want %q", i, x.Strings[i], wx)
				}
				if i == 10 {
					if !y.IsNull(i) {
						t.Fatalf("y[10] not null")
					}
				} else if y.Floats[i] != float64(i)+0.5 || y.IsNull(i) {
					t.Fatalf("y[%d] = %v", i, y.Floats[i])
				}
				if (i < 200) != z.IsNull(i) || (i >= 200 && z.Ints[i] != 7) {
					t.Fatalf("z[%d] = %v null %v", i, z.Ints[i], z.IsNull(i))
				}
				if b.Bools[i] != (i%2 == 0) {
					t.Fatalf("b[%d]", i)
				}
			}
		})
	}
}

func TestReadTableJSONLLateColumn(t *testing.T) {
	var sb strings.Builder
	for i := range 500 {
		switch {
		case i == 400:
			sb.WriteString(`{"a": 1, "late": "x"}` + "\n")
		case i == 450:
			sb.WriteString(`{"a": 1.5}` + "\n")
		default:
			sb.WriteString(`{"a": 1}` + "\n")
		}
	}
	tb, err := tableFromText(t, "g.jsonl", FormatJSONL, sb.String(), Options{SampleRows: 10, BatchRows: 50, chunkSize: 300}, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []Field{{"a", TypeFloat, false}, {"late", TypeString, true}}
	if !reflect.DeepEqual(tb.Schema.Fields, want) {
		t.Fatalf("schema %v", tb.Schema.Fields)
	}
	late := tb.Cols[1]
	if late.Len() != 500 || late.NullCount() != 499 || late.Strings[400] != "x" || !late.IsNull(0) || !late.IsNull(499) {
		t.Errorf("late column: len %d nulls %d", late.Len(), late.NullCount())
	}
	if a := tb.Cols[0].Floats; a[0] != 1 || a[450] != 1.5 || a[499] != 1 {
		t.Errorf("a = %v %v %v", a[0], a[450], a[499])
	}
}

func TestReadTableLimitsAndFile(t *testing.T) {
	data := "a,b\n1,x\n2,y\n3,z\n"
	if _, err := tableFromText(t, "l.csv", FormatCSV, data, Options{}, 2); err == nil || !strings.Contains(err.Error(), "more than 2 rows") {
		t.Errorf("max rows: %v", err)
	}
	if tb, err := tableFromText(t, "l.csv", FormatCSV, data, Options{}, 3); err != nil || tb.Rows() != 3 {
		t.Errorf("at the limit: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r, err := OpenReader(strings.NewReader(data), "l.csv", FormatCSV, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := ReadTable(ctx, r, 0); err != context.Canceled {
		t.Errorf("cancelled: %v", err)
	}
	path := filepath.Join(t.TempDir(), "t.csv")
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	tb, err := ReadTableFile(context.Background(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if tb.Rows() != 3 || tb.Cols[1].Strings[2] != "z" || tb.Cols[0].Ints[1] != 2 {
		t.Errorf("file table %+v", tb.Cols)
	}
	// Only a header: columns with no rows.
	tb, err = tableFromText(t, "h.csv", FormatCSV, "a,b\n", Options{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if tb.Rows() != 0 || len(tb.Cols) != 2 {
		t.Errorf("header only: %d rows, %d cols", tb.Rows(), len(tb.Cols))
	}
}

func testTable(t *testing.T) *Table {
	t.Helper()
	tb, err := NewTable(
		IntColumn("i", []int64{1, 2, 3, 4}, []bool{false, false, true, false}),
		FloatColumn("f", []float64{0.5, 1.5, 2.5, 3.5}, nil),
		StringColumn("s", []string{"a", "b", "c", "d"}, nil),
		BoolColumn("b", []bool{true, false, true, false}, nil),
		TimestampColumn("ts", []int64{1_500_000, 0, 0, 0}, nil),
	)
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

func TestTableAccessors(t *testing.T) {
	tb := testTable(t)
	if tb.Rows() != 4 || !tb.Schema.Fields[0].Nullable || tb.Schema.Fields[1].Nullable {
		t.Fatalf("rows %d fields %v", tb.Rows(), tb.Schema.Fields)
	}
	floats := []struct {
		col  string
		row  int
		want float64
		ok   bool
	}{
		{"i", 0, 1, true}, {"i", 2, math.NaN(), false}, {"f", 1, 1.5, true},
		{"b", 0, 1, true}, {"b", 1, 0, true}, {"ts", 0, 1.5, true}, {"s", 0, math.NaN(), false},
	}
	for _, c := range floats {
		col, err := tb.Column(c.col)
		if err != nil {
			t.Fatal(err)
		}
		v, ok := col.Float(c.row)
		if ok != c.ok || (ok && v != c.want) || (!ok && !math.IsNaN(v)) {
			t.Errorf("%s[%d].Float() = %v, %v; want %v, %v", c.col, c.row, v, ok, c.want, c.ok)
		}
	}
	_, err := tb.Column("nope")
	if err == nil || err.Error() != `column "nope" not found (available: "i", "f", "s", "b", "ts")` {
		t.Errorf("missing column: %v", err)
	}
	if got := tb.Available(2); got != `"i", "f" and 3 more` {
		t.Errorf("Available(2) = %q", got)
	}
	if _, err := NewTable(IntColumn("a", []int64{1}, nil), IntColumn("b", []int64{1, 2}, nil)); err == nil {
		t.Error("ragged table accepted")
	}
	if _, err := NewTable(IntColumn("a", []int64{1}, nil), IntColumn("a", []int64{1}, nil)); err == nil {
		t.Error("duplicate column accepted")
	}
}

func TestTake(t *testing.T) {
	tb := testTable(t)
	got := tb.Take([]int{3, 1, 1})
	if got.Rows() != 3 {
		t.Fatalf("rows %d", got.Rows())
	}
	if !reflect.DeepEqual(got.Cols[0].Ints, []int64{4, 2, 2}) || got.Cols[0].Nulls != nil {
		t.Errorf("i = %v nulls %v", got.Cols[0].Ints, got.Cols[0].Nulls)
	}
	if !reflect.DeepEqual(got.Cols[2].Strings, []string{"d", "b", "b"}) {
		t.Errorf("s = %v", got.Cols[2].Strings)
	}
	withNull := tb.Take([]int{2, 0})
	if !reflect.DeepEqual(withNull.Cols[0].Nulls, []bool{true, false}) {
		t.Errorf("nulls = %v", withNull.Cols[0].Nulls)
	}
	// The copy owns its storage.
	got.Cols[1].Floats[0] = 99
	if tb.Cols[1].Floats[3] != 3.5 {
		t.Error("Take shares storage")
	}
}

func TestConcat(t *testing.T) {
	a, _ := NewTable(IntColumn("n", []int64{1, 2}, nil), StringColumn("s", []string{"x", "y"}, nil))
	b, _ := NewTable(StringColumn("s", []string{""}, []bool{true}), FloatColumn("n", []float64{2.5}, nil))
	c, _ := NewTable(IntColumn("n", []int64{7}, nil), IntColumn("s", []int64{3}, nil))
	got, err := Concat(a, b, c)
	if err != nil {
		t.Fatal(err)
	}
	want := []Field{{"n", TypeFloat, false}, {"s", TypeString, true}}
	if !reflect.DeepEqual(got.Schema.Fields, want) {
		t.Fatalf("schema %v", got.Schema.Fields)
	}
	if !reflect.DeepEqual(got.Cols[0].Floats, []float64{1, 2, 2.5, 7}) || got.Cols[0].Nulls != nil {
		t.Errorf("n = %v", got.Cols[0].Floats)
	}
	if !reflect.DeepEqual(got.Cols[1].Strings, []string{"x", "y", "", "3"}) || !reflect.DeepEqual(got.Cols[1].Nulls, []bool{false, false, true, false}) {
		t.Errorf("s = %q nulls %v", got.Cols[1].Strings, got.Cols[1].Nulls)
	}
	// The inputs are unchanged.
	if b.Cols[1].Field.Type != TypeFloat || c.Cols[1].Field.Type != TypeInt || c.Cols[1].Ints[0] != 3 {
		t.Error("Concat changed an input")
	}
	d, _ := NewTable(IntColumn("n", []int64{1}, nil))
	e, _ := NewTable(IntColumn("n", []int64{1}, nil), IntColumn("s", []int64{1}, nil), IntColumn("extra", []int64{1}, nil))
	cases := []struct {
		tables []*Table
		want   string
	}{
		{[]*Table{a, d}, `concat: table 2 has no column "s"`},
		{[]*Table{a, e}, `concat: table 2 has column "extra", which table 1 lacks`},
		{nil, "concat: no tables"},
	}
	for _, tc := range cases {
		if _, err := Concat(tc.tables...); err == nil || err.Error() != tc.want {
			t.Errorf("error %v, want %q", err, tc.want)
		}
	}
}

func TestReadTableParquet(t *testing.T) {
	path := filepath.Join(t.TempDir(), "d.parquet")
	rows := pqRows(700)
	writeParquet(t, path, rows, 300)
	tb, err := ReadTableFile(context.Background(), path, Options{BatchRows: 128})
	if err != nil {
		t.Fatal(err)
	}
	if tb.Rows() != 700 {
		t.Fatalf("rows %d", tb.Rows())
	}
	id, _ := tb.Column("id")
	score, _ := tb.Column("score")
	millis, _ := tb.Column("millis")
	for _, i := range []int{0, 1, 299, 300, 699} {
		if id.Ints[i] != int64(i) {
			t.Errorf("id[%d] = %d", i, id.Ints[i])
		}
		if (rows[i].Score == nil) != score.IsNull(i) || (rows[i].Score != nil && score.Floats[i] != *rows[i].Score) {
			t.Errorf("score[%d]", i)
		}
		if millis.Ints[i] != rows[i].Millis.UnixMicro() {
			t.Errorf("millis[%d] = %d", i, millis.Ints[i])
		}
	}
	if !score.Field.Nullable || score.Field.Type != TypeFloat {
		t.Errorf("score field %v", score.Field)
	}
}
