"""Dataset lineage through the official MLflow client: a run that logs an
input whose source is mlcycle://<name>@<version> is linked to that dataset
version, and the version lists the run."""

import io
import json
import sys
import urllib.request
from pathlib import Path

import pandas as pd
import pytest

import mlflow
from mlflow.entities import Dataset, DatasetInput, InputTag

from conftest import REFERENCE, REPO_ROOT, missing, run

# The dataset source users install (python/mlcycle-mlflow); installing it
# registers it through its entry point, here it is imported from the tree.
sys.path.insert(0, str(REPO_ROOT / "python" / "mlcycle-mlflow"))
import mlcycle_mlflow  # noqa: E402

mlcycle_mlflow.register()

IRIS_CSV = "sepal_length,species\n5.1,setosa\n4.9,setosa\n6.3,virginica\n"

pytestmark = pytest.mark.skipif(bool(REFERENCE), reason="datasets are mlcycle's own API")


def runs_of(url: str, ref: str) -> list[dict]:
    with urllib.request.urlopen(f"{url}/api/v1/datasets/{ref}/runs", timeout=30) as r:
        return json.load(r)["runs"]


@pytest.fixture
def iris(server, _server, tmp_path, unique, monkeypatch):
    """Adds a CSV as a new dataset on the server with the CLI binary (recorded
    in a local catalog, then pushed) and returns its name."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    csv = tmp_path / "iris.csv"
    csv.write_text(IRIS_CSV)
    name = unique("iris")
    out = run([str(_server.binary), "data", "add", str(csv), "--name", name, "--server", server])
    assert f"as {name}@1" in out, out
    return name


def test_log_input_links_run(server, client, unique, iris):
    mlflow.set_experiment(unique("exp"))
    df = pd.DataFrame({"sepal_length": [5.1, 4.9, 6.3], "species": ["setosa", "setosa", "virginica"]})
    ds = mlflow.data.from_pandas(df, source=f"mlcycle://{iris}@1", name=iris)
    with mlflow.start_run() as r:
        mlflow.log_input(ds, context="training")
    links = runs_of(server, f"{iris}@1")
    assert [(l["run_id"], l["context"], l["version"]) for l in links] == [(r.info.run_id, "training", 1)]
    # The run keeps the input as MLflow logged it.
    got = client.get_run(r.info.run_id).inputs.dataset_inputs[0].dataset
    assert json.loads(got.source) == {"uri": f"mlcycle://{iris}@1"}
    assert got.source_type == "mlcycle"


def test_log_inputs_plain_source_and_latest(server, client, unique, iris):
    """The low-level client with a plain-string source and @latest."""
    exp = client.create_experiment(unique("exp"))
    r = client.create_run(exp)
    d = Dataset(name=iris, digest="abc", source_type="mlcycle", source=f"mlcycle://{iris}@latest")
    client.log_inputs(r.info.run_id, [DatasetInput(d, [InputTag("mlflow.data.context", "eval")])])
    links = runs_of(server, f"{iris}@1")
    assert [(l["run_id"], l["context"]) for l in links] == [(r.info.run_id, "eval")]


def test_foreign_source_links_nothing(server, client, unique, iris):
    exp = client.create_experiment(unique("exp"))
    r = client.create_run(exp)
    d = Dataset(name=iris, digest="abc", source_type="http", source=json.dumps({"url": "https://example.com/x.csv"}))
    client.log_inputs(r.info.run_id, [DatasetInput(d, [])])
    assert runs_of(server, f"{iris}@1") == []


def test_source_loads_the_version(server, client, unique, iris, tmp_path):
    """The input's source, read back from the run, downloads the version's
    files from the server; @latest is resolved once."""
    mlflow.set_experiment(unique("exp"))
    df = pd.read_csv(io.StringIO(IRIS_CSV))
    with mlflow.start_run() as r:
        mlflow.log_input(mlflow.data.from_pandas(df, source=f"mlcycle://{iris}@latest", name=iris))
    logged = client.get_run(r.info.run_id).inputs.dataset_inputs[0].dataset
    src = mlflow.data.get_source(logged)
    assert isinstance(src, mlcycle_mlflow.MlcycleDatasetSource) and src.uri == f"mlcycle://{iris}@latest"
    folder = src.load(str(tmp_path / "out"))
    assert sorted(p.name for p in Path(folder).iterdir()) == ["iris.csv"]
    assert (Path(folder) / "iris.csv").read_text() == IRIS_CSV
    # without a destination: a new folder
    assert (Path(src.load()) / "iris.csv").read_text() == IRIS_CSV


def test_source_load_errors(server, unique, monkeypatch):
    with pytest.raises(RuntimeError, match=r"404"):
        mlcycle_mlflow.MlcycleDatasetSource(f"mlcycle://{unique('nope')}@1").load()
    with pytest.raises(ValueError, match="not an mlcycle dataset reference"):
        mlcycle_mlflow.MlcycleDatasetSource("s3://bucket/x.csv")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "file:///tmp/mlruns")
    mlflow.set_tracking_uri("file:///tmp/mlruns")
    with pytest.raises(RuntimeError, match="MLCYCLE_SERVER"):
        mlcycle_mlflow.MlcycleDatasetSource("mlcycle://iris@1").load()


def test_source_load_with_credentials(auth_server, _auth_server, unique, tmp_path, monkeypatch):
    """On a server with --auth, load() uses the MLflow client's credentials."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    csv = tmp_path / "iris.csv"
    csv.write_text(IRIS_CSV)
    name = unique("iris")
    out = run([str(_auth_server.binary), "data", "add", str(csv), "--name", name,
               "--server", auth_server.url, "--token", auth_server.token])
    assert f"as {name}@1" in out, out
    src = mlcycle_mlflow.MlcycleDatasetSource(f"mlcycle://{name}@1")
    with pytest.raises(RuntimeError, match="401"):
        src.load(str(tmp_path / "anonymous"))
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", auth_server.token)
    assert (Path(src.load(str(tmp_path / "token"))) / "iris.csv").read_text() == IRIS_CSV
    monkeypatch.delenv("MLFLOW_TRACKING_TOKEN")
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", auth_server.username)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", auth_server.password)
    assert (Path(src.load(str(tmp_path / "basic"))) / "iris.csv").read_text() == IRIS_CSV


def test_source_loads_a_folder(server, _server, unique, tmp_path, monkeypatch):
    """Many files in folders come in one stream, each where it belongs."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    src = tmp_path / "src"
    files = {f"part-{i:03d}/rows.csv": f"i\n{i}\n" for i in range(40)}
    files["README.txt"] = "forty parts\n"
    files["empty.txt"] = ""
    for path, text in files.items():
        (src / path).parent.mkdir(parents=True, exist_ok=True)
        (src / path).write_text(text)
    name = unique("parts")
    out = run([str(_server.binary), "data", "add", str(src), "--name", name, "--server", server])
    assert f"as {name}@1" in out, out
    folder = Path(mlcycle_mlflow.MlcycleDatasetSource(f"mlcycle://{name}@latest").load(str(tmp_path / "out")))
    got = {str(p.relative_to(folder)): p.read_text() for p in folder.rglob("*") if p.is_file()}
    assert got == files


def test_installed_package_registers_the_source():
    """pip install ./python/mlcycle-mlflow (scripts/test does) is all a user
    needs: MLflow finds the source through the package's entry point."""
    import importlib.metadata
    import subprocess

    try:
        importlib.metadata.distribution("mlcycle-mlflow")
    except importlib.metadata.PackageNotFoundError:
        missing("the mlcycle-mlflow package is not installed in this venv (./scripts/test installs it)")
    code = ("from mlflow.data.dataset_source_registry import resolve_dataset_source; "
            "s = resolve_dataset_source('mlcycle://iris@3'); "
            "print(type(s).__module__, type(s).__name__, s.to_json())")
    # A fresh interpreter, outside this test's sys.path: only the entry
    # point can register it there.
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd="/", timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == 'mlcycle_mlflow MlcycleDatasetSource {"uri": "mlcycle://iris@3"}'
