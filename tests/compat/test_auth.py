"""A server started with --auth: the MLflow client's credential variables."""

import urllib.request

import pytest

import mlflow
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException


def assert_unauthenticated(srv):
    with pytest.raises(MlflowException) as ei:
        MlflowClient(srv.url).search_experiments()
    assert ei.value.get_http_status_code() == 401, str(ei.value)


def roundtrip(srv, unique):
    """Writes an experiment, a run and a metric, and reads them back."""
    client = MlflowClient(srv.url)
    name = unique("auth")
    exp_id = client.create_experiment(name)
    assert client.get_experiment_by_name(name).experiment_id == exp_id
    mlflow.set_experiment(experiment_id=exp_id)
    with mlflow.start_run() as run:
        mlflow.log_metric("m", 1.5)
        mlflow.log_param("p", "v")
    got = client.get_run(run.info.run_id)
    assert got.data.metrics == {"m": 1.5}
    assert got.data.params == {"p": "v"}


def test_no_credentials(auth_server):
    assert_unauthenticated(auth_server)
    # /health stays open for load balancers.
    with urllib.request.urlopen(auth_server.url + "/health", timeout=5) as r:
        assert r.status == 200


def test_token(auth_server, monkeypatch, unique):
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", auth_server.token)
    roundtrip(auth_server, unique)


def test_wrong_token(auth_server, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", auth_server.token + "x")
    assert_unauthenticated(auth_server)


def test_basic_auth(auth_server, monkeypatch, unique):
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", auth_server.username)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", auth_server.password)
    roundtrip(auth_server, unique)


def test_wrong_password(auth_server, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", auth_server.username)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", auth_server.password + "x")
    assert_unauthenticated(auth_server)
