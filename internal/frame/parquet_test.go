package frame

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
)

type pqRecord struct {
	ID     int64     `parquet:"id"`
	Small  int32     `parquet:"small"`
	Score  *float64  `parquet:"score,optional"`
	Ratio  float32   `parquet:"ratio"`
	Name   string    `parquet:"name"`
	Label  *string   `parquet:"label,optional"`
	OK     bool      `parquet:"ok"`
	Millis time.Time `parquet:"millis,timestamp(millisecond)"`
	Nanos  time.Time `parquet:"nanos,timestamp(nanosecond)"`
	Day    int32     `parquet:"day,date"`
	Tags   []string  `parquet:"tags,list"`
	Blob   []byte    `parquet:"blob"`
}

func writeParquet(t testing.TB, path string, rows []pqRecord, rowsPerGroup int64) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := parquet.NewGenericWriter[pqRecord](f, parquet.MaxRowsPerRowGroup(rowsPerGroup))
	if _, err := w.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func pqRows(n int) []pqRecord {
	base := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	rows := make([]pqRecord, n)
	for i := range rows {
		r := pqRecord{
			ID: int64(i), Small: int32(-i), Ratio: 0.5, Name: fmt.Sprintf("n%d", i), OK: i%2 == 0,
			Millis: base.Add(time.Duration(i) * time.Millisecond), Nanos: base.Add(time.Duration(i) * 1500 * time.Nanosecond),
			Day: int32(19849 + i), Blob: []byte{0xff, byte(i)},
		}
		if i%3 != 0 {
			s := float64(i) / 4
			r.Score = &s
		}
		if i%2 == 1 {
			l := "odd"
			r.Label = &l
		}
		if i%4 != 3 {
			r.Tags = []string{"t", fmt.Sprint(i)}
		}
		rows[i] = r
	}
	return rows
}

func TestParquetReader(t *testing.T) {
	path := filepath.Join(t.TempDir(), "d.parquet")
	const n = 1000
	rows := pqRows(n)
	writeParquet(t, path, rows, 300) // 4 row groups; batches of 128 cross them
	r, err := Open(path, Options{BatchRows: 128})
	if err != nil {
		t.Fatal(err)
	}
	tb, err := readTable(t, r)
	if err != nil {
		t.Fatal(err)
	}
	want := fields("id:int", "small:int", "score:float?", "ratio:float", "name:string", "label:string?", "ok:bool",
		"millis:timestamp", "nanos:timestamp", "day:timestamp", "tags:string?", "blob:string")
	if !reflect.DeepEqual(tb.schema, want) {
		t.Errorf("schema = %v\nwant %v", tb.schema, want)
	}
	if len(tb.rows) != n {
		t.Fatalf("%d rows", len(tb.rows))
	}
	for _, i := range []int{0, 1, 6, 299, 300, 301, 302, 599, 600, 999} {
		src := rows[i]
		score := "<null>"
		if src.Score != nil {
			score = formatFloat(*src.Score)
		}
		label := "<null>"
		if src.Label != nil {
			label = *src.Label
		}
		tags := "<null>" // parquet-go writes a nil slice as a null list
		if src.Tags != nil {
			tags = fmt.Sprintf(`["t","%d"]`, i)
		}
		wantRow := []string{
			fmt.Sprint(i), fmt.Sprint(-i), score, "0.5", src.Name, label, fmt.Sprint(src.OK),
			src.Millis.Format(time.RFC3339Nano), src.Nanos.Truncate(time.Microsecond).Format(time.RFC3339Nano),
			time.Unix(int64(src.Day)*86400, 0).UTC().Format(time.RFC3339Nano), tags,
			base64.StdEncoding.EncodeToString(src.Blob), // not UTF-8
		}
		if !reflect.DeepEqual(tb.rows[i], wantRow) {
			t.Errorf("row %d = %q\nwant %q", i, tb.rows[i], wantRow)
		}
	}
	if tb.lines[0] != 0 {
		t.Errorf("parquet rows have no line, got %d", tb.lines[0])
	}
}

func TestParquetBadInput(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.parquet")
	writeParquet(t, good, pqRows(2000), 1000)
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}

	truncated := filepath.Join(dir, "truncated.parquet")
	os.WriteFile(truncated, data[:len(data)/2], 0o644)
	_, err = Open(truncated, Options{})
	var pe *ParseError
	if err == nil || !errors.As(err, &pe) || !strings.HasPrefix(err.Error(), truncated+": not a valid Parquet file") {
		t.Errorf("truncated: %v", err)
	}

	notParquet := filepath.Join(dir, "text.parquet")
	os.WriteFile(notParquet, []byte("id,name\n1,x\n"), 0o644)
	if _, err := Open(notParquet, Options{}); err == nil || !strings.HasPrefix(err.Error(), notParquet+": not a valid Parquet file") {
		t.Errorf("not parquet: %v", err)
	}

	// Overwrite the data pages (the footer stays valid): reading must fail
	// with an error naming the file, row group and column, never panic.
	corrupt := filepath.Join(dir, "corrupt.parquet")
	bad := bytes.Clone(data)
	for i := 4; i < len(bad)/2; i++ {
		bad[i] = 0xa5
	}
	os.WriteFile(corrupt, bad, 0o644)
	r, err := Open(corrupt, Options{})
	if err == nil {
		_, err = readTable(t, r)
	}
	if err == nil || !strings.HasPrefix(err.Error(), corrupt+": row group 0: column ") {
		t.Errorf("corrupt: %v", err)
	}

}

func TestParquetStream(t *testing.T) {
	path := filepath.Join(t.TempDir(), "d.parquet")
	writeParquet(t, path, pqRows(10), 100)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := OpenReader(f, "stream.parquet", FormatParquet, Options{})
	if err != nil {
		t.Fatal(err)
	}
	tb, err := readTable(t, r)
	if err != nil || len(tb.rows) != 10 {
		t.Fatalf("%d rows, %v", len(tb.rows), err)
	}
}
