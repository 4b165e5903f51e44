package modelfmt

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlcycle/mlcycle/internal/learn"
)

// checkScript loads each package with the real mlflow client: the MLmodel
// file, the signature through get_model_info, and the input example with
// the signature's types enforced.
const checkScript = `
import sys
from mlflow.models import Model
from mlflow.models.model import get_model_info
from mlflow.models.utils import _enforce_schema
for d in sys.argv[1:]:
    m = Model.load(d)
    info = get_model_info(d)
    fl = m.flavors["mlcycle"]
    assert fl["model_file"] == "model.json", fl
    names = info.signature.inputs.input_names()
    types = [t.name for t in info.signature.inputs.input_types()]
    ex = m.load_input_example(d)
    _enforce_schema(ex, info.signature.inputs)
    print(d.rsplit("/", 1)[-1], fl["algo"], fl["task"], fl.get("classes"), ",".join(names), ",".join(types), ex.shape[0], m.utc_time_created, m.run_id)
`

// TestMLflowClientReadsPackage runs the pinned mlflow client on saved
// packages, with the Python of the compat venv that scripts/test sets in
// MLCYCLE_TEST_PYTHON. In CI it must run; locally it skips without it.
func TestMLflowClientReadsPackage(t *testing.T) {
	py := os.Getenv("MLCYCLE_TEST_PYTHON")
	if py == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("MLCYCLE_TEST_PYTHON is not set: in CI the mlflow client check must run (run ./scripts/test)")
		}
		t.Skip("MLCYCLE_TEST_PYTHON not set (a Python with the pinned mlflow; ./scripts/test sets it)")
	}
	tab := testTable(t, 300, 13)
	dir := t.TempDir()
	var dirs []string
	for _, tc := range cases {
		d := filepath.Join(dir, tc.algo+"-"+string(tc.task))
		if err := Save(d, trainModel(t, tab, tc.algo, tc.task), fixedInfo, tab); err != nil {
			t.Fatal(err)
		}
		dirs = append(dirs, d)
	}
	odd := filepath.Join(dir, "odd-classes")
	if err := Save(odd, trainModel(t, oddClassTable(t, tab), AlgoGBDT, learn.Multiclass), fixedInfo, tab); err != nil {
		t.Fatal(err)
	}
	dirs = append(dirs, odd)
	out, err := exec.CommandContext(t.Context(), py, append([]string{"-W", "ignore", "-c", checkScript}, dirs...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("mlflow: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != len(cases)+1 {
		t.Fatalf("mlflow printed:\n%s", out)
	}
	for i, tc := range cases {
		want := tc.algo + " " + string(tc.task) + " "
		if !strings.Contains(lines[i], want) ||
			!strings.Contains(lines[i], "x1,x2,flag,color,ts double,long,boolean,string,datetime 5 2026-11-26 10:00:00.123456 "+fixedInfo.RunID) {
			t.Errorf("mlflow read %q", lines[i])
		}
		if tc.task == learn.Binary && !strings.Contains(lines[i], "['no', 'yes']") {
			t.Errorf("classes: %q", lines[i])
		}
	}
	if !strings.Contains(lines[len(cases)], "['12:30', '=', 'no']") {
		t.Errorf("odd class labels: %q", lines[len(cases)])
	}
	t.Logf("mlflow:\n%s", out)
}
