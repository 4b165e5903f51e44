"""MLflow 3 logged models: list and download their artifacts by model id."""

import json
import urllib.parse
import urllib.request

from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

import mlflow

PIP_REQS = ["scikit-learn", "numpy"]  # skips the client's slow requirement inference


def get(url):
    """GET url (auth is off on the `server` fixture) -> (status, body bytes)."""
    with urllib.request.urlopen(url, timeout=30) as resp:
        return resp.status, resp.read()


def walk(client, model_id, path=None):
    """{relative path: size} of every file of a logged model, via the client."""
    out = {}
    for f in client.list_logged_model_artifacts(model_id, path):
        if f.is_dir:
            out.update(walk(client, model_id, f.path))
        else:
            out[f.path] = f.file_size or 0
    return out


def test_logged_model_artifacts(server, client, unique, tmp_path):
    X, y = make_classification(n_samples=100, n_features=4, random_state=0)
    model = LogisticRegression(max_iter=200).fit(X, y)
    mlflow.set_experiment(unique("lm-art"))
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(model, name="model", pip_requirements=PIP_REQS)
    model_id = info.model_id
    assert model_id
    lm = client.get_logged_model(model_id)

    # The client's listing (it reads the model's artifact_location, then
    # lists through the artifact proxy).
    top = {f.path: f.is_dir for f in client.list_logged_model_artifacts(model_id)}
    assert top.get("MLmodel") is False
    assert top.get("requirements.txt") is False
    files = walk(client, model_id)
    assert files["MLmodel"] > 0

    # Download the whole model by its models:/<id> URI (the client takes
    # models:/<id>/<path> for a registered model and stage, so one file goes
    # by the artifact location).
    whole = mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{model_id}", dst_path=str(tmp_path / "all"))
    one = mlflow.artifacts.download_artifacts(
        artifact_uri=f"{lm.artifact_location}/MLmodel", dst_path=str(tmp_path / "one")
    )
    with open(one, "rb") as fh:
        mlmodel = fh.read()
    assert model_id.encode() in mlmodel  # MLmodel records the model id
    with open(f"{whole}/requirements.txt", "rb") as fh:
        reqs = fh.read().decode()
    assert "scikit-learn" in reqs and "numpy" in reqs

    # The same files through the logged model routes MLflow's UI calls:
    # ListLoggedModelArtifacts, and the files download (served by MLflow
    # under /ajax-api only).
    status, body = get(f"{server}/api/2.0/mlflow/logged-models/{model_id}/artifacts/directories")
    assert status == 200
    listing = json.loads(body)
    assert listing["root_uri"] == lm.artifact_location
    assert {f["path"]: f.get("is_dir", False) for f in listing["files"]} == top
    for path, size in files.items():
        q = urllib.parse.urlencode({"artifact_file_path": path})
        status, got = get(f"{server}/ajax-api/2.0/mlflow/logged-models/{model_id}/artifacts/files?{q}")
        assert status == 200, path
        with open(f"{whole}/{path}", "rb") as fh:
            assert got == fh.read(), path
        assert len(got) == size, path
