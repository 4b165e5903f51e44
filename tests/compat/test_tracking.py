"""Experiments, runs, params, metrics, tags, datasets and errors through the
official MLflow client's public API."""

import json
import sys
import time

import numpy as np
import pandas as pd
import pytest

import mlflow
from mlflow.entities import Metric, Param, RunStatus, RunTag, ViewType
from mlflow.exceptions import MlflowException

MISSING_RUN_ID = "0" * 32


def test_set_experiment(server, client, unique):
    name = unique("exp")
    exp = mlflow.set_experiment(name)
    assert exp.name == name
    assert exp.lifecycle_stage == "active"
    got = client.get_experiment(exp.experiment_id)
    assert got.name == name
    assert client.get_experiment_by_name(name).experiment_id == exp.experiment_id
    # A second set_experiment finds the same one instead of making another.
    assert mlflow.set_experiment(name).experiment_id == exp.experiment_id
    # Tags on the experiment round-trip.
    client.set_experiment_tag(exp.experiment_id, "team", "compat")
    assert client.get_experiment(exp.experiment_id).tags["team"] == "compat"
    assert name in [e.name for e in client.search_experiments(filter_string=f"name = '{name}'")]


def test_runs_params_metrics_tags(server, client, unique):
    exp = mlflow.set_experiment(unique("exp"))
    t0 = int(time.time() * 1000) - 60_000
    with mlflow.start_run(run_name="fit") as run:
        rid = run.info.run_id
        mlflow.log_param("alpha", 0.5)
        mlflow.log_params({"layers": 3, "act": "relu"})
        for step in range(5):
            mlflow.log_metric("loss", 1.0 / (step + 1), step=step, timestamp=t0 + step)
        mlflow.log_metrics({"acc": 0.9, "f1": 0.8}, step=7)
        mlflow.set_tag("stage", "dev")
        mlflow.set_tags({"owner": "compat", "kind": "unit"})

    r = client.get_run(rid)
    assert r.info.experiment_id == exp.experiment_id
    assert r.info.run_name == "fit"
    assert r.info.status == "FINISHED"
    assert r.info.end_time is not None and r.info.end_time >= r.info.start_time
    assert r.data.params == {"alpha": "0.5", "layers": "3", "act": "relu"}
    # data.metrics holds the latest value per key (highest step).
    assert r.data.metrics["loss"] == pytest.approx(0.2)
    assert r.data.metrics["acc"] == pytest.approx(0.9)
    assert r.data.metrics["f1"] == pytest.approx(0.8)
    assert r.data.tags["stage"] == "dev"
    assert r.data.tags["owner"] == "compat"
    assert r.data.tags["kind"] == "unit"
    assert r.data.tags["mlflow.runName"] == "fit"

    hist = sorted(client.get_metric_history(rid, "loss"), key=lambda m: m.step)
    assert [m.step for m in hist] == [0, 1, 2, 3, 4]
    assert [m.timestamp for m in hist] == [t0 + s for s in range(5)]
    assert np.allclose([m.value for m in hist], [1.0, 0.5, 1 / 3, 0.25, 0.2])
    acc = client.get_metric_history(rid, "acc")
    assert [(m.step, m.value) for m in acc] == [(7, pytest.approx(0.9))]


def test_nested_runs(server, client, unique):
    mlflow.set_experiment(unique("exp"))
    with mlflow.start_run(run_name="parent") as parent:
        with mlflow.start_run(run_name="child-a", nested=True) as a:
            pass
        with mlflow.start_run(run_name="child-b", nested=True) as b:
            pass
    pid = parent.info.run_id
    for child in (a, b):
        got = client.get_run(child.info.run_id)
        assert got.data.tags["mlflow.parentRunId"] == pid
    children = mlflow.search_runs(
        filter_string=f"tags.mlflow.parentRunId = '{pid}'", output_format="list"
    )
    assert sorted(r.info.run_name for r in children) == ["child-a", "child-b"]
    assert "mlflow.parentRunId" not in client.get_run(pid).data.tags


def test_log_batch(server, client, unique):
    exp_id = client.create_experiment(unique("exp"))
    rid = client.create_run(exp_id).info.run_id
    ts = int(time.time() * 1000)
    metrics = [Metric("m", float(i), ts + i, i) for i in range(50)]
    params = [Param(f"p{i}", str(i)) for i in range(20)]
    tags = [RunTag("t1", "a"), RunTag("t2", "b")]
    # Non-finite values travel as "NaN"/"Infinity" strings in MLflow's JSON.
    metrics += [Metric("nan", float("nan"), ts, 0), Metric("inf", float("inf"), ts, 0),
                Metric("ninf", float("-inf"), ts, 0)]
    client.log_batch(rid, metrics=metrics, params=params, tags=tags)
    client.set_terminated(rid, status="FINISHED")

    r = client.get_run(rid)
    assert r.data.params == {f"p{i}": str(i) for i in range(20)}
    assert r.data.metrics["m"] == 49.0
    assert np.isnan(r.data.metrics["nan"])
    # MLflow's own store clamps infinities to the largest finite double.
    assert r.data.metrics["inf"] in (float("inf"), sys.float_info.max)
    assert r.data.metrics["ninf"] in (float("-inf"), -sys.float_info.max)
    assert r.data.tags["t1"] == "a" and r.data.tags["t2"] == "b"
    assert r.info.status == "FINISHED"
    hist = client.get_metric_history(rid, "m")
    assert sorted((m.step, m.value, m.timestamp) for m in hist) == [
        (i, float(i), ts + i) for i in range(50)
    ]


def test_log_input_dataset(server, client, unique):
    mlflow.set_experiment(unique("exp"))
    df = pd.DataFrame({"x1": [1.0, 2.0, 3.0], "x2": [0.5, 0.1, 0.2], "y": [0.0, 1.0, 0.0]})
    src = "https://example.com/compat/train.csv"  # only recorded, never fetched
    ds = mlflow.data.from_pandas(df, source=src, targets="y", name="train")
    with mlflow.start_run() as run:
        mlflow.log_input(ds, context="training", tags={"split": "train"})
    r = client.get_run(run.info.run_id)
    inputs = r.inputs.dataset_inputs
    assert len(inputs) == 1
    got = inputs[0]
    assert got.dataset.name == "train"
    assert got.dataset.digest == ds.digest
    assert got.dataset.source_type == "http"
    assert json.loads(got.dataset.source) == {"url": src}
    assert json.loads(got.dataset.schema)["mlflow_colspec"] == ds.schema.to_dict()
    assert json.loads(got.dataset.profile) == {"num_rows": 3, "num_elements": 9}
    tags = {t.key: t.value for t in got.tags}
    assert tags["mlflow.data.context"] == "training"
    assert tags["split"] == "train"
    assert mlflow.data.get_source(got).url == src


def test_delete_restore_experiment(server, client, unique):
    name = unique("exp")
    exp_id = client.create_experiment(name)
    client.delete_experiment(exp_id)
    assert client.get_experiment(exp_id).lifecycle_stage == "deleted"
    deleted = client.search_experiments(view_type=ViewType.DELETED_ONLY, filter_string=f"name = '{name}'")
    assert [e.experiment_id for e in deleted] == [exp_id]
    active = client.search_experiments(view_type=ViewType.ACTIVE_ONLY, filter_string=f"name = '{name}'")
    assert active == []
    client.restore_experiment(exp_id)
    assert client.get_experiment(exp_id).lifecycle_stage == "active"
    client.rename_experiment(exp_id, name + "-renamed")
    assert client.get_experiment(exp_id).name == name + "-renamed"


def test_delete_restore_run(server, client, unique):
    exp_id = client.create_experiment(unique("exp"))
    rid = client.create_run(exp_id).info.run_id
    client.delete_run(rid)
    assert client.get_run(rid).info.lifecycle_stage == "deleted"
    assert [r.info.run_id for r in client.search_runs([exp_id], run_view_type=ViewType.DELETED_ONLY)] == [rid]
    assert client.search_runs([exp_id], run_view_type=ViewType.ACTIVE_ONLY) == []
    client.restore_run(rid)
    assert client.get_run(rid).info.lifecycle_stage == "active"
    assert [r.info.run_id for r in client.search_runs([exp_id])] == [rid]


def test_update_run_status_and_name(server, client, unique):
    exp_id = client.create_experiment(unique("exp"))
    run = client.create_run(exp_id, run_name="before")
    assert run.info.status == "RUNNING"
    client.update_run(run.info.run_id, status="FAILED", name="after")
    got = client.get_run(run.info.run_id)
    assert got.info.status == RunStatus.to_string(RunStatus.FAILED)
    assert got.info.run_name == "after"
    assert got.data.tags["mlflow.runName"] == "after"


def test_error_missing_run(server, client):
    with pytest.raises(MlflowException) as ei:
        client.get_run(MISSING_RUN_ID)
    assert ei.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert ei.value.get_http_status_code() == 404


def test_error_duplicate_experiment(server, client, unique):
    name = unique("exp")
    client.create_experiment(name)
    with pytest.raises(MlflowException) as ei:
        client.create_experiment(name)
    assert ei.value.error_code == "RESOURCE_ALREADY_EXISTS"


def test_error_changed_param(server, client, unique):
    exp_id = client.create_experiment(unique("exp"))
    rid = client.create_run(exp_id).info.run_id
    client.log_param(rid, "lr", "0.1")
    client.log_param(rid, "lr", "0.1")  # the same value again is allowed
    with pytest.raises(MlflowException) as ei:
        client.log_param(rid, "lr", "0.2")
    assert ei.value.error_code == "INVALID_PARAMETER_VALUE"
    assert client.get_run(rid).data.params["lr"] == "0.1"
