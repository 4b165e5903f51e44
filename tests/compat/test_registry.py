"""Models: log, register, alias, load back and predict; stages; registry search."""

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

import mlflow
from mlflow.exceptions import MlflowException

# Explicit requirements skip the client's slow requirement inference (a
# subprocess that loads the model); they do not change what is uploaded.
PIP_REQS = ["scikit-learn", "numpy"]
# The client polls for READY this long; a server that never says READY fails
# the test in seconds instead of the default five minutes.
AWAIT_SECONDS = 15


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(n_samples=200, n_features=4, n_informative=3, n_redundant=0, random_state=0)
    model = LogisticRegression(max_iter=200).fit(X, y)
    return model, X


@pytest.fixture
def logged(server, client, unique, data):
    """A run with a LogisticRegression logged as "model" and registered as
    version 1 of a new registered model."""
    model, _ = data
    name = unique("compat-model")
    mlflow.set_experiment(unique("reg"))
    with mlflow.start_run() as run:
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            registered_model_name=name,
            pip_requirements=PIP_REQS,
            await_registration_for=AWAIT_SECONDS,
        )
    return name, run.info.run_id, info


def test_log_and_register_model(logged, client):
    name, rid, info = logged
    assert info.run_id == rid
    assert str(info.registered_model_version) == "1"
    mv = client.get_model_version(name, "1")
    assert mv.name == name
    assert mv.version == "1"
    assert mv.run_id == rid
    assert mv.status == "READY"
    assert mv.current_stage == "None"
    rm = client.get_registered_model(name)
    assert rm.name == name
    assert [v.version for v in rm.latest_versions] == ["1"]


def test_alias_and_load_model(logged, client, data):
    name, rid, _ = logged
    model, X = data
    client.set_registered_model_alias(name, "champion", "1")
    assert client.get_model_version_by_alias(name, "champion").version == "1"
    assert client.get_registered_model(name).aliases == {"champion": "1"}
    assert client.get_model_version(name, "1").aliases == ["champion"]

    want = model.predict(X)
    by_alias = mlflow.pyfunc.load_model(f"models:/{name}@champion")
    assert np.allclose(np.asarray(by_alias.predict(X)), want)
    by_run = mlflow.pyfunc.load_model(f"runs:/{rid}/model")
    assert np.allclose(np.asarray(by_run.predict(X)), want)
    by_version = mlflow.sklearn.load_model(f"models:/{name}/1")
    assert np.allclose(by_version.predict_proba(X), model.predict_proba(X))

    client.delete_registered_model_alias(name, "champion")
    with pytest.raises(MlflowException) as ei:
        client.get_model_version_by_alias(name, "champion")
    # MLflow's own server says INVALID_PARAMETER_VALUE here; not found is as good.
    assert ei.value.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE")
    assert client.get_registered_model(name).aliases == {}


@pytest.mark.filterwarnings("ignore:.*is deprecated since 2.9.0:FutureWarning")
def test_stage_transitions(logged, client):
    name, rid, _ = logged
    for want in ("2", "3"):
        mv = mlflow.register_model(f"runs:/{rid}/model", name, await_registration_for=AWAIT_SECONDS)
        assert mv.version == want
    client.transition_model_version_stage(name, "1", "Production")
    assert client.get_model_version(name, "1").current_stage == "Production"
    mv = client.transition_model_version_stage(name, "2", "Production", archive_existing_versions=True)
    assert mv.current_stage == "Production"
    client.transition_model_version_stage(name, "3", "staging")  # stage names are case-insensitive
    stages = {v.version: v.current_stage for v in client.search_model_versions(f"name = '{name}'")}
    assert stages == {"1": "Archived", "2": "Production", "3": "Staging"}
    latest = client.get_latest_versions(name, stages=["Production"])
    assert [v.version for v in latest] == ["2"]


def test_registry_search(logged, client, unique):
    name, rid, _ = logged
    other = unique("compat-other")
    client.create_registered_model(other, tags={"owner": "compat"}, description="made by hand")
    client.set_registered_model_tag(name, "owner", "tests")
    client.set_model_version_tag(name, "1", "validated", "yes")

    got = client.search_registered_models(filter_string=f"name = '{name}'")
    assert [m.name for m in got] == [name]
    assert got[0].tags == {"owner": "tests"}
    got = client.search_registered_models(filter_string=f"name LIKE '{other}%'")
    assert [(m.name, m.description) for m in got] == [(other, "made by hand")]
    got = client.search_registered_models(filter_string="name LIKE 'compat-%'", max_results=1000)
    assert {name, other} <= {m.name for m in got}
    got = client.search_registered_models(
        filter_string="name LIKE 'compat-%' AND tags.owner = 'compat'", max_results=1000
    )
    assert other in {m.name for m in got} and name not in {m.name for m in got}

    versions = client.search_model_versions(f"run_id = '{rid}'")
    assert [(v.name, v.version) for v in versions] == [(name, "1")]
    assert versions[0].tags == {"validated": "yes"}
    assert client.search_model_versions(f"name = '{other}'") == []

    client.update_registered_model(name, description="updated")
    assert client.get_registered_model(name).description == "updated"
    client.update_model_version(name, "1", description="first")
    assert client.get_model_version(name, "1").description == "first"
    renamed = name + "-renamed"
    client.rename_registered_model(name, renamed)
    assert client.get_model_version(renamed, "1").run_id == rid
    assert client.search_model_versions(f"name = '{name}'") == []
    client.delete_model_version(renamed, "1")
    assert client.search_model_versions(f"name = '{renamed}'") == []
    client.delete_registered_model(other)
    with pytest.raises(MlflowException) as ei:
        client.get_registered_model(other)
    assert ei.value.error_code == "RESOURCE_DOES_NOT_EXIST"
