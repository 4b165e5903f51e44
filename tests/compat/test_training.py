"""Models trained by `mlcycle train`, read with the official MLflow client:
the registered version and its alias, the run's params and per-round
metrics, and the model package (MLmodel file, signature, input example)
through mlflow.models.get_model_info and Model.load."""

import json
import random
from pathlib import Path

import pytest

import mlflow
from mlflow.models import Model

from conftest import REFERENCE, run

pytestmark = pytest.mark.skipif(bool(REFERENCE), reason="mlcycle train is mlcycle's own command")


def write_csv(path: Path, rows: int = 600) -> None:
    rnd = random.Random(3)
    lines = ["x1,x2,color,y"]
    for _ in range(rows):
        x1, x2 = rnd.gauss(0, 1), rnd.gauss(0, 1)
        color = rnd.choice(["red", "green", "blue"])
        z = 1.5 * x1 - 2 * x2 + (0.8 if color == "red" else 0) + rnd.gauss(0, 0.5)
        lines.append(f"{x1:.4f},{x2:.4f},{color},{'yes' if z > 0 else 'no'}")
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture
def trained(server, _server, tmp_path, unique, monkeypatch):
    """A dataset version pushed with `mlcycle data add --server`, a gbdt
    trained on it with `mlcycle train --server`, registered with an alias."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    csv = tmp_path / "churn.csv"
    write_csv(csv)
    data = unique("churn")
    out = run([str(_server.binary), "data", "add", str(csv), "--name", data, "--server", server])
    assert f"as {data}@1" in out, out
    name = unique("compat-trained")
    out = run([str(_server.binary), "train", "--server", server, "--data", f"{data}@1", "--target", "y",
               "--param", "num_rounds=30", "--experiment", unique("train"), "--register", name,
               "--alias", "challenger", "-q", "-o", "json"])
    res = json.loads(out)
    assert res["registered_model_uri"] == f"models:/{name}/1"
    return name, data, res


def test_registered_version_and_alias(client, trained):
    name, _, res = trained
    rm = client.get_registered_model(name)
    assert rm.aliases == {"challenger": "1"}
    mv = client.get_model_version_by_alias(name, "challenger")
    assert mv.version == "1"
    assert mv.run_id == res["run_id"]
    assert mv.source == f"runs:/{res['run_id']}/model"
    assert mv.status == "READY"
    assert "challenger" in mv.aliases


def test_run_params_metrics_and_input(client, trained):
    _, data, res = trained
    r = client.get_run(res["run_id"])
    assert r.info.status == "FINISHED"
    assert r.data.params["algo"] == "gbdt"
    assert r.data.params["num_rounds"] == "30"
    assert r.data.params["target"] == "y"
    assert r.data.metrics["test_roc_auc"] > 0.8
    hist = client.get_metric_history(res["run_id"], "train_logloss")
    assert [m.step for m in hist] == list(range(1, 31))
    (inp,) = r.inputs.dataset_inputs
    assert inp.dataset.name == data
    assert inp.dataset.source_type == "mlcycle"
    assert json.loads(inp.dataset.source) == {"uri": f"mlcycle://{data}@1"}
    assert {t.key: t.value for t in inp.tags}["mlflow.data.context"] == "training"
    names = sorted(f.path for f in client.list_artifacts(res["run_id"]))
    assert names == ["model", "report.html", "report.json"]


def test_model_info_and_mlmodel(trained, tmp_path):
    name, _, res = trained
    uri = f"models:/{name}@challenger"
    info = mlflow.models.get_model_info(uri)
    assert "mlcycle" in info.flavors
    assert info.flavors["mlcycle"]["task"] == "binary"
    assert info.run_id == res["run_id"]
    inputs = info.signature.inputs.to_dict()
    assert [c["name"] for c in inputs] == ["x1", "x2", "color"]
    assert [c["type"] for c in inputs] == ["double", "double", "string"]

    local = mlflow.artifacts.download_artifacts(uri, dst_path=str(tmp_path / "model"))
    m = Model.load(local)
    assert m.run_id == res["run_id"]
    assert m.flavors["mlcycle"]["classes"] == ["no", "yes"]
    assert m.signature.inputs.input_names() == ["x1", "x2", "color"]
    example = m.load_input_example(local)
    assert list(example.columns) == ["x1", "x2", "color"]
    assert len(example) > 0
    assert (Path(local) / m.flavors["mlcycle"]["model_file"]).is_file()
