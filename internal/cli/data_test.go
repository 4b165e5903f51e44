package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlcycle/mlcycle/client"
	"github.com/mlcycle/mlcycle/internal/store/storetest"
)

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// eachEngine runs fn with the CLI's database on a fresh SQLite file and on a
// fresh PostgreSQL schema (through MLCYCLE_DB, as a user would set it).
func eachEngine(t *testing.T, fn func(t *testing.T)) {
	t.Run("sqlite", func(t *testing.T) {
		t.Setenv("MLCYCLE_DB", storetest.SQLiteURL(t))
		fn(t)
	})
	t.Run("postgres", func(t *testing.T) {
		t.Setenv("MLCYCLE_DB", storetest.PostgresURL(t))
		fn(t)
	})
}

func TestDataLocal(t *testing.T) { eachEngine(t, testDataLocal) }

func testDataLocal(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	t.Setenv("MLCYCLE_SERVER", "")
	dd := "--data-dir=" + t.TempDir()
	src := t.TempDir()
	writeFiles(t, src, map[string]string{
		"iris.csv":   "sepal,species\n5.1,setosa\n4.9,setosa\n6.2,virginica\n",
		"README.txt": "the iris data\n",
	})

	out := mustRun(t, "data", "add", src, "--name", "iris", "-m", "first", dd)
	if !strings.Contains(out, "recorded iris@1: 2 files") {
		t.Fatalf("add: %s", out)
	}
	if out := mustRun(t, "data", "add", src, "--name", "iris", dd); !strings.Contains(out, "unchanged: iris@1") {
		t.Fatalf("re-add: %s", out)
	}

	var list []client.DatasetSummary
	decode(t, mustRun(t, "data", "ls", "--output", "json", dd), &list)
	if len(list) != 1 || list[0].Name != "iris" || list[0].Latest != 1 {
		t.Fatalf("ls: %+v", list)
	}
	var det client.DatasetVersionDetail
	decode(t, mustRun(t, "data", "show", "iris@1", "--output", "json", dd), &det)
	f, ok := det.Manifest.File("iris.csv")
	if !ok || len(f.Profile) == 0 || det.Message != "first" || det.FileCount != 2 {
		t.Fatalf("show: %+v", det)
	}
	out = mustRun(t, "data", "show", "iris", dd)
	for _, want := range []string{"iris@1", "iris.csv", "3 x 2", "sepal", "species", "setosa(2)", "runs     none"} {
		if !strings.Contains(out, want) {
			t.Errorf("show lacks %q:\n%s", want, out)
		}
	}

	if out := mustRun(t, "data", "cat", "iris@1", "iris.csv", dd); out != "sepal,species\n5.1,setosa\n4.9,setosa\n6.2,virginica\n" {
		t.Fatalf("cat: %q", out)
	}
	if r := runCLI(t, "data", "cat", "iris@1", "nope.csv", dd); r.code == 0 || !strings.Contains(r.stderr, `iris@1 has no file "nope.csv"`) {
		t.Fatalf("cat of a missing file: %+v", r)
	}

	if out := mustRun(t, "data", "status", src, "--name", "iris", "--exit-code", dd); !strings.Contains(out, "unchanged: the files have the content of iris@1 (2 files;") {
		t.Fatalf("status: %s", out)
	}

	mustRun(t, "data", "tag", "iris@1", "gold", dd)
	writeFiles(t, src, map[string]string{"iris.csv": "sepal,species\n5.1,setosa\n4.9,setosa\n6.2,virginica\n7.0,versicolor\n", "extra.txt": "x\n"})
	r := runCLI(t, "data", "status", src, "--name", "iris", "--exit-code", dd)
	if r.code != 1 || !strings.Contains(r.stdout, "iris@1 -> local files: 1 added, 0 removed, 1 changed, 1 unchanged") ||
		!strings.Contains(r.stdout, "+ extra.txt\n") || !strings.Contains(r.stdout, "~ iris.csv (") {
		t.Fatalf("status of changed files: %+v", r)
	}
	if out := mustRun(t, "data", "status", src, "--name", "fresh", dd); !strings.Contains(out, "no version yet: 3 files to add") {
		t.Fatalf("status of a new dataset: %s", out)
	}
	if r := runCLI(t, "data", "status", src, "--name", "iris", "--against", "iris@7", dd); r.code == 0 || !strings.Contains(r.stderr, "iris@7") {
		t.Fatalf("status against a missing version: %+v", r)
	}
	if out := mustRun(t, "data", "add", src, "--name", "iris", dd); !strings.Contains(out, "recorded iris@2") {
		t.Fatalf("add 2: %s", out)
	}
	out = mustRun(t, "data", "diff", "iris@gold", "iris@2", dd)
	for _, want := range []string{"iris@1 -> iris@2: 1 added, 0 removed, 1 changed, 1 unchanged", "+ extra.txt", "~ iris.csv", "rows 3 -> 4 (+1)",
		"sepal: missing 0.0% -> 0.0%, distinct 3 -> 4, psi ", "mean 5.4 -> 5.8, std ", "min 4.9 -> 4.9, max 6.2 -> 7\n",
		"species: missing 0.0% -> 0.0%, distinct 2 -> 3, js "} {
		if !strings.Contains(out, want) {
			t.Errorf("diff lacks %q:\n%s", want, out)
		}
	}

	dst := filepath.Join(t.TempDir(), "out")
	if out := mustRun(t, "data", "get", "iris@gold", "-o", dst, dd); !strings.Contains(out, "wrote 2 files") {
		t.Fatalf("get: %s", out)
	}
	if b, _ := os.ReadFile(filepath.Join(dst, "iris.csv")); !strings.HasPrefix(string(b), "sepal,species\n5.1") || strings.Contains(string(b), "versicolor") {
		t.Fatalf("got %q", b)
	}

	// Validation: passing, failing, and failing on add (nothing recorded).
	rules := filepath.Join(t.TempDir(), "rules.yaml")
	writeFiles(t, filepath.Dir(rules), map[string]string{"rules.yaml": "columns:\n  species: {allowed: [setosa, virginica]}\n"})
	if out := mustRun(t, "data", "validate", rules, "iris@1", dd); !strings.Contains(out, "OK") {
		t.Fatalf("validate ok: %s", out)
	}
	r = runCLI(t, "data", "validate", rules, "iris@2", dd)
	if r.code != 1 || !strings.Contains(r.stdout, "FAIL columns.species.allowed") || !strings.Contains(r.stderr, "validation failed") {
		t.Fatalf("validate fail: %+v", r)
	}
	writeFiles(t, src, map[string]string{"more.csv": "sepal,species\n1,bogus\n"})
	r = runCLI(t, "data", "add", src, "--name", "iris", "--validate", rules, dd)
	if r.code != 1 || !strings.Contains(r.stderr, "nothing recorded") || !strings.Contains(r.stderr, "bogus") {
		t.Fatalf("add --validate: %+v", r)
	}
	os.Remove(filepath.Join(src, "more.csv"))

	// A files glob selects the tables of a dataset version by their path
	// inside it: the failing table outside the glob is not checked.
	mixed := t.TempDir()
	writeFiles(t, mixed, map[string]string{
		"train/a.csv": "sepal,species\n5.1,setosa\n",
		"raw/b.csv":   "sepal,species\n1,bogus\n",
	})
	mustRun(t, "data", "add", mixed, "--name", "mixed", dd)
	globbed := filepath.Join(t.TempDir(), "rules.yaml")
	writeFiles(t, filepath.Dir(globbed), map[string]string{"rules.yaml": "files: 'train/*.csv'\ncolumns:\n  species: {allowed: [setosa, virginica]}\n"})
	out = mustRun(t, "data", "validate", globbed, "mixed@1", dd)
	if !strings.Contains(out, "train/a.csv") || strings.Contains(out, "b.csv") {
		t.Fatalf("validate with a files glob: %s", out)
	}
	if r := runCLI(t, "data", "validate", rules, "mixed@1", dd); r.code != 1 || !strings.Contains(r.stdout, "raw/b.csv") {
		t.Fatalf("validate without a glob must check every table: %+v", r)
	}
	if r := runCLI(t, "data", "validate", "mixed@1", rules, dd); r.code == 0 || !strings.Contains(r.stderr, "the rules file comes first") {
		t.Fatalf("validate with its arguments swapped: %+v", r)
	}

	// Bad input: nothing recorded.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"data", "add", src, "--name", "bad name!"}, "name"},
		{[]string{"data", "add", src}, "--name is required"},
		{[]string{"data", "add", filepath.Join(src, "nope.csv"), "--name", "iris"}, "nope.csv"},
		{[]string{"data", "show", "iris@9"}, "iris@9"},
		{[]string{"data", "rm", "iris"}, "name the version"},
	} {
		r := runCLI(t, append(tc.args, dd)...)
		if r.code == 0 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q, want it to mention %q", tc.args, r.code, r.stderr, tc.want)
		}
	}
	bad := t.TempDir()
	writeFiles(t, bad, map[string]string{"ragged.csv": "a,b\n1,2\n3\n"})
	r = runCLI(t, "data", "add", bad, "--name", "ragged", dd)
	if r.code == 0 || !strings.Contains(r.stderr, "ragged.csv") {
		t.Fatalf("ragged csv: %+v", r)
	}
	if out := mustRun(t, "data", "ls", dd); strings.Contains(out, "ragged") {
		t.Fatalf("a failed add left a dataset: %s", out)
	}

	mustRun(t, "data", "untag", "iris", "gold", dd)
	if r := runCLI(t, "data", "show", "iris@gold", dd); r.code == 0 {
		t.Fatal("show of a removed tag succeeded")
	}
	if out := mustRun(t, "data", "rm", "iris@2", dd); !strings.Contains(out, "removed iris@2") {
		t.Fatalf("rm: %s", out)
	}
	// iris@2's own chunks were used a moment ago: kept, and said so.
	if out := mustRun(t, "data", "gc", "--dry-run", dd); !strings.Contains(out, "would delete 0 objects") || !strings.Contains(out, "used within the grace period (1h0m0s)") {
		t.Fatalf("gc: %s", out)
	}
	// iris@2's small chunks were packed by its add: gc removes them and
	// their pack, and iris@1 still reads back.
	out = mustRun(t, "data", "gc", "--grace", "1ns", dd)
	if !strings.Contains(out, "deleted ") || !strings.Contains(out, "removed 1 pack file, rewrote 0 pack files") {
		t.Fatalf("gc: %s", out)
	}
	mustRun(t, "data", "get", "iris@1", "-o", t.TempDir(), dd)

	// verify: sound, then with a byte flipped in every pack.
	if out := mustRun(t, "data", "verify", dd); !strings.Contains(out, "checked 2 versions: ") {
		t.Fatalf("verify: %s", out)
	}
	packs, err := filepath.Glob(filepath.Join(strings.TrimPrefix(dd, "--data-dir="), "artifacts", "cas", "packs", "*"))
	if err != nil || len(packs) == 0 {
		t.Fatalf("packs %v %v", packs, err)
	}
	for _, p := range packs {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		b[0] ^= 1
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r = runCLI(t, "data", "verify", "iris@1", dd)
	if r.code != 1 || !strings.Contains(r.stdout, "does not match its hash; used by iris@1:") || !strings.Contains(r.stderr, "damaged or missing") {
		t.Fatalf("verify a damaged store: %+v", r)
	}
}

func TestDataPushPull(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	t.Setenv("MLCYCLE_SERVER", "")
	base := startTestServer(t)
	srv := "--server=" + base
	local := "--data-dir=" + t.TempDir()
	src := t.TempDir()
	files := map[string]string{"t.csv": "x,y\n1,a\n2,b\n"}
	for i := range 20 {
		files[filepath.Join("sub", strings.Repeat("f", i+1)+".txt")] = strings.Repeat("data ", i+1)
	}
	writeFiles(t, src, files)
	mustRun(t, "data", "add", src, "--name", "ds", local)

	out := mustRun(t, "data", "push", "ds@1", local, srv)
	if !strings.Contains(out, "as ds@1: 21 chunks uploaded") {
		t.Fatalf("push: %s", out)
	}
	out = mustRun(t, "data", "push", "ds@1", local, srv)
	if !strings.Contains(out, "0 chunks uploaded (0 B), 21 already there") {
		t.Fatalf("second push: %s", out)
	}

	// The server has it: show, ls, get, runs.
	var det client.DatasetVersionDetail
	decode(t, mustRun(t, "data", "show", "ds@1", "--output", "json", srv), &det)
	if det.FileCount != 21 {
		t.Fatalf("show on server: %+v", det.DatasetVersion)
	}
	dst := t.TempDir()
	if out := mustRun(t, "data", "get", "ds@latest", "-o", dst, srv); !strings.Contains(out, "wrote 21 files") {
		t.Fatalf("get from server: %s", out)
	}
	if b, _ := os.ReadFile(filepath.Join(dst, "sub", "fff.txt")); string(b) != "data data data " {
		t.Fatalf("got %q", b)
	}
	if out := mustRun(t, "data", "get", "ds@latest", "-o", dst, srv); !strings.Contains(out, "wrote 0 files (0 B) to "+dst+"; 21 files") ||
		!strings.Contains(out, "already there were left as they are") {
		t.Fatalf("second get from the server: %s", out)
	}
	if out := mustRun(t, "data", "cat", "ds@latest", "sub/fff.txt", srv); out != "data data data " {
		t.Fatalf("cat from the server: %q", out)
	}
	if r := runCLI(t, "data", "cat", "ds@1", "sub/nope.txt", srv); r.code == 0 || !strings.Contains(r.stderr, `ds@1 has no file "sub/nope.txt"`) {
		t.Fatalf("cat of a missing file from the server: %+v", r)
	}

	// Pull into another catalog, twice: the second moves nothing.
	other := "--data-dir=" + t.TempDir()
	if out := mustRun(t, "data", "pull", "ds@1", other, srv); !strings.Contains(out, "21 chunks downloaded") {
		t.Fatalf("pull: %s", out)
	}
	if out := mustRun(t, "data", "pull", "ds@1", other, srv); !strings.Contains(out, "0 chunks downloaded (0 B), 21 already here") {
		t.Fatalf("second pull: %s", out)
	}
	var pulled client.DatasetVersionDetail
	decode(t, mustRun(t, "data", "show", "ds@1", "--output", "json", other), &pulled)
	if pulled.Digest != det.Digest {
		t.Fatalf("digest %s after pull, want %s", pulled.Digest, det.Digest)
	}

	// add --server records in the cache catalog, then pushes.
	writeFiles(t, src, map[string]string{"t.csv": "x,y\n1,a\n2,b\n3,c\n"})
	out = mustRun(t, "data", "add", src, "--name", "ds", "-m", "more", srv)
	if !strings.Contains(out, "recorded ds@1") || !strings.Contains(out, "as ds@2: 1 chunk uploaded") {
		t.Fatalf("add --server: %s", out)
	}
	if out := mustRun(t, "data", "status", src, "--name", "ds", srv); !strings.Contains(out, "unchanged: the files have the content of ds@2") {
		t.Fatalf("status against the server: %s", out)
	}
	if out := mustRun(t, "data", "status", src, "--name", "ds", "--against", "ds@1", srv); !strings.Contains(out, "ds@1 -> local files: 0 added, 0 removed, 1 changed") {
		t.Fatalf("status against ds@1 on the server: %s", out)
	}
	if out := mustRun(t, "data", "status", src, "--name", "brand-new", srv); !strings.Contains(out, "no version yet") {
		t.Fatalf("status of a dataset the server lacks: %s", out)
	}
	out = mustRun(t, "data", "diff", "ds@1", "ds@2", srv)
	if !strings.Contains(out, "~ t.csv") || !strings.Contains(out, "rows 2 -> 3") {
		t.Fatalf("diff on server: %s", out)
	}
	mustRun(t, "data", "tag", "ds@2", "prod", srv)
	var vs []client.DatasetVersion
	decode(t, mustRun(t, "data", "ls", "ds", "--output", "json", srv), &vs)
	if len(vs) != 2 {
		t.Fatalf("versions: %+v", vs)
	}
	// The server reads back its own store.
	if out := mustRun(t, "data", "verify", srv); !strings.Contains(out, "checked 2 versions: ") {
		t.Fatalf("verify on the server: %s", out)
	}
	if out := mustRun(t, "data", "verify", "ds@1", srv); !strings.Contains(out, "checked 1 version: 21 chunks") {
		t.Fatalf("verify ds@1 on the server: %s", out)
	}
	if r := runCLI(t, "data", "verify", "ds@9", srv); r.code == 0 || !strings.Contains(r.stderr, "ds@9") {
		t.Fatalf("verify of a missing version on the server: %+v", r)
	}

	// A run logs the tagged version as its input from the CLI; the
	// version then lists the run.
	c, err := client.New(base)
	if err != nil {
		t.Fatal(err)
	}
	expID, err := c.CreateExperiment(context.Background(), "lineage")
	if err != nil {
		t.Fatal(err)
	}
	run, err := c.CreateRun(context.Background(), client.RunCreate{ExperimentID: expID})
	if err != nil {
		t.Fatal(err)
	}
	if out := mustRun(t, "runs", "log-input", run.Info.RunID, "ds@prod", "--context", "eval", srv); !strings.Contains(out, "used ds@2") {
		t.Fatalf("log-input: %s", out)
	}
	decode(t, mustRun(t, "data", "show", "ds@2", "--output", "json", srv), &det)
	if len(det.Runs) != 1 || det.Runs[0].RunID != run.Info.RunID || det.Runs[0].Context != "eval" {
		t.Fatalf("runs of ds@2: %+v", det.Runs)
	}
	if r := runCLI(t, "runs", "log-input", run.Info.RunID, "ds@9", srv); r.code == 0 || !strings.Contains(r.stderr, "ds@9") {
		t.Fatalf("log-input of a missing version: %+v", r)
	}

	mustRun(t, "data", "untag", "ds@prod", srv)
	// The run used ds@2: rm keeps it unless forced.
	if r := runCLI(t, "data", "rm", "ds@2", srv); r.code == 0 || !strings.Contains(r.stderr, "used by 1 run ("+run.Info.RunID+")") || !strings.Contains(r.stderr, "--force") {
		t.Fatalf("rm of a version a run used: %+v", r)
	}
	mustRun(t, "data", "show", "ds@2", srv)
	if out := mustRun(t, "data", "rm", "ds@2", "--force", srv); !strings.Contains(out, "removed ds@2") {
		t.Fatalf("rm --force: %s", out)
	}
	if out := mustRun(t, "data", "gc", "--dry-run", srv); !strings.Contains(out, "would delete") {
		t.Fatalf("gc: %s", out)
	}
	if r := runCLI(t, "data", "push", "ds@1", local); r.code == 0 || !strings.Contains(r.stderr, "--server") {
		t.Fatalf("push without server: %+v", r)
	}
}
