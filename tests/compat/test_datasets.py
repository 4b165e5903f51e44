"""Dataset lineage through the official MLflow client: a run that logs an
input whose source is mlcycle://<name>@<version> is linked to that dataset
version, and the version lists the run."""

import json
import os
import urllib.request

import pandas as pd
import pytest

import mlflow
from mlflow.data.dataset_source import DatasetSource
from mlflow.data.dataset_source_registry import register_dataset_source
from mlflow.entities import Dataset, DatasetInput, InputTag

from conftest import REFERENCE, run


class MlcycleDatasetSource(DatasetSource):
    """Lets mlflow.data accept source="mlcycle://name@3". The MLflow client
    refuses URI schemes it has no source class for; this is the whole class
    a user registers (docs/datasets.md)."""

    def __init__(self, uri: str):
        self.uri = uri

    @staticmethod
    def _get_source_type() -> str:
        return "mlcycle"

    def load(self, dst_path=None):
        raise NotImplementedError("fetch it with `mlcycle data get`")

    @staticmethod
    def _can_resolve(raw_source) -> bool:
        return isinstance(raw_source, str) and raw_source.startswith("mlcycle://")

    @classmethod
    def _resolve(cls, raw_source):
        return cls(raw_source)

    def to_dict(self):
        return {"uri": self.uri}

    @classmethod
    def from_dict(cls, source_dict):
        return cls(source_dict["uri"])


register_dataset_source(MlcycleDatasetSource)

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
    csv.write_text("sepal_length,species\n5.1,setosa\n4.9,setosa\n6.3,virginica\n")
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
