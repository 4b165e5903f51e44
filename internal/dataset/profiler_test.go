package dataset

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/mlcycle/mlcycle/internal/errs"
	"github.com/mlcycle/mlcycle/internal/frame"
)

func TestTableProfiler(t *testing.T) {
	each(t, func(t *testing.T, e0 *env) {
		e := newEnvOn(t, e0, Options{Profile: TableProfiler(frame.Options{}), StatePath: e0.statePath})
		dir := t.TempDir()
		writeFile(t, dir, "t.csv", []byte("x,y\n1,a\n2,b\n3,a\n"))
		writeFile(t, dir, "events.jsonl", []byte(`{"k": 1}`+"\n"+`{"k": 2}`+"\n"))
		writeFile(t, dir, "readme.txt", []byte("not a table"))
		r := e.add(t, "ds", dir)
		want := []TableSummary{{Path: "events.jsonl", Rows: 2, Columns: 1}, {Path: "t.csv", Rows: 3, Columns: 2}}
		if !slices.Equal(r.Version.Tables, want) {
			t.Fatalf("tables %+v, want %+v", r.Version.Tables, want)
		}
		d, err := e.svc.Show(e.ctx, "ds")
		if err != nil {
			t.Fatal(err)
		}
		f, _ := d.Manifest.File("t.csv")
		var p struct {
			Rows    int64 `json:"rows"`
			Columns []struct {
				Name string `json:"name"`
			} `json:"columns"`
		}
		if err := json.Unmarshal(f.Profile, &p); err != nil || p.Rows != 3 || len(p.Columns) != 2 || p.Columns[0].Name != "x" {
			t.Fatalf("profile %s (%v)", f.Profile, err)
		}
		if f, _ := d.Manifest.File("readme.txt"); f.Profile != nil {
			t.Fatalf("a text file got a profile: %s", f.Profile)
		}
		// A malformed table fails the add and records nothing.
		writeFile(t, dir, "bad.csv", []byte("a,b\n1,2\n3\n"))
		_, err = e.svc.Add(e.ctx, AddInput{Name: "ds", Paths: []string{dir}})
		wantCode(t, err, errs.Invalid, "profiling bad.csv: line 3")
		if strings.Contains(err.Error(), dir) {
			t.Errorf("the error names the file twice: %v", err)
		}
		t.Logf("malformed table: %v", err)
		if vs, _ := e.svc.Versions(e.ctx, "ds"); len(vs) != 1 {
			t.Fatalf("%d versions after a malformed table", len(vs))
		}
		// An empty CSV is a table of nothing; an empty Parquet file is
		// truncated.
		empty := t.TempDir()
		writeFile(t, empty, "none.csv", nil)
		r = e.add(t, "empty", empty)
		if want := []TableSummary{{Path: "none.csv"}}; !slices.Equal(r.Version.Tables, want) {
			t.Fatalf("empty csv: tables %+v, want %+v", r.Version.Tables, want)
		}
		writeFile(t, empty, "none.parquet", nil)
		_, err = e.svc.Add(e.ctx, AddInput{Name: "empty", Paths: []string{empty}})
		wantCode(t, err, errs.Invalid, "none.parquet")
	})
}

// Add's progress counts profiling as well as hashing, so a large table
// does not sit at 100% while its profile is still being computed.
func TestAddProgressCountsProfiling(t *testing.T) {
	each(t, func(t *testing.T, e0 *env) {
		e := newEnvOn(t, e0, Options{Profile: TableProfiler(frame.Options{}), StatePath: e0.statePath})
		dir := t.TempDir()
		table, text := csvBytes(0, 3<<20), []byte("not a table")
		writeFile(t, dir, "t.csv", table)
		writeFile(t, dir, "readme.txt", text)
		size := int64(len(table) + len(text))
		for _, tc := range []struct {
			name      string
			noProfile bool
			total     int64
		}{
			{"profiled", false, 2 * size},
			{"no profile", true, size},
		} {
			var calls [][2]int64
			_, err := e.svc.Add(e.ctx, AddInput{Name: "p" + strings.ReplaceAll(tc.name, " ", ""), Paths: []string{dir}, NoProfile: tc.noProfile,
				Progress: func(done, total int64) { calls = append(calls, [2]int64{done, total}) }})
			if err != nil {
				t.Fatal(err)
			}
			if len(calls) == 0 || calls[len(calls)-1] != [2]int64{tc.total, tc.total} {
				t.Fatalf("%s: progress calls %v, want the last to be %d of %d", tc.name, calls, tc.total, tc.total)
			}
			for i, c := range calls {
				if c[1] != tc.total || c[0] > c[1] || i > 0 && c[0] < calls[i-1][0] {
					t.Fatalf("%s: progress calls %v: totals must stay %d and done grow up to them", tc.name, calls, tc.total)
				}
			}
		}
	})
}
