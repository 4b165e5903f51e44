"""search_runs: filter strings, ordering and pagination through the MLflow client."""

import pytest

import mlflow
from mlflow.entities import ViewType

PAGED_RUNS = 1100  # more than one page of the server's default 1000


@pytest.fixture
def six_runs(server, client, unique):
    """An experiment with six runs: score = i/10, opt alternating adam/sgd,
    team vision-* for even i, status FAILED for i >= 4."""
    exp_id = client.create_experiment(unique("search"))
    ids = []
    for i in range(6):
        rid = client.create_run(exp_id, run_name=f"r{i}").info.run_id
        client.log_metric(rid, "score", i / 10)
        client.log_param(rid, "opt", "adam" if i % 2 == 0 else "sgd")
        client.set_tag(rid, "team", f"vision-{i}" if i % 2 == 0 else f"nlp-{i}")
        client.set_terminated(rid, status="FAILED" if i >= 4 else "FINISHED")
        ids.append(rid)
    return exp_id, ids


def names(runs):
    return sorted(r.info.run_name for r in runs)


@pytest.mark.parametrize(
    "filter_string, want",
    [
        ("metrics.score > 0.25", ["r3", "r4", "r5"]),
        ("metrics.score <= 0.1", ["r0", "r1"]),
        ("params.opt = 'adam'", ["r0", "r2", "r4"]),
        ("params.opt != 'adam'", ["r1", "r3", "r5"]),
        ("tags.team LIKE 'vision%'", ["r0", "r2", "r4"]),
        ("tags.team ILIKE 'NLP-%'", ["r1", "r3", "r5"]),
        ("attributes.status = 'FAILED'", ["r4", "r5"]),
        ("attribute.status = 'FINISHED'", ["r0", "r1", "r2", "r3"]),
        ("metrics.score > 0.05 and params.opt = 'sgd'", ["r1", "r3", "r5"]),
        ("attributes.run_name = 'r2'", ["r2"]),
        ("metrics.missing > 0", []),
    ],
)
def test_search_filters(six_runs, client, filter_string, want):
    exp_id, _ = six_runs
    got = client.search_runs([exp_id], filter_string=filter_string)
    assert names(got) == want


def test_search_order_by(six_runs, client):
    exp_id, ids = six_runs
    got = client.search_runs([exp_id], order_by=["metrics.score DESC"])
    assert [r.info.run_id for r in got] == ids[::-1]
    got = client.search_runs([exp_id], order_by=["params.opt ASC", "metrics.score DESC"])
    assert [r.info.run_name for r in got] == ["r4", "r2", "r0", "r5", "r3", "r1"]
    # Every returned run carries its data.
    assert got[0].data.metrics["score"] == pytest.approx(0.4)
    assert got[0].data.params["opt"] == "adam"
    assert got[0].data.tags["team"] == "vision-4"


def test_search_runs_pandas(six_runs):
    exp_id, ids = six_runs
    df = mlflow.search_runs([exp_id], filter_string="params.opt = 'adam'", order_by=["metrics.score ASC"])
    assert list(df["run_id"]) == [ids[0], ids[2], ids[4]]
    assert list(df["metrics.score"]) == pytest.approx([0.0, 0.2, 0.4])
    assert list(df["status"]) == ["FINISHED", "FINISHED", "FAILED"]


def test_search_pagination(server, client, unique):
    exp_id = client.create_experiment(unique("paged"))
    created = [client.create_run(exp_id, run_name=f"r{i:04d}").info.run_id for i in range(PAGED_RUNS)]
    assert len(set(created)) == PAGED_RUNS

    # Default order (start_time DESC) in pages of the server's usual maximum.
    seen, token, sizes = [], None, []
    while True:
        page = client.search_runs([exp_id], max_results=1000, page_token=token)
        sizes.append(len(page))
        seen += [r.info.run_id for r in page]
        token = page.token
        if not token:
            break
        assert len(sizes) < 10, "the server keeps returning page tokens"
    assert sizes == [1000, 100]
    assert len(seen) == len(set(seen)), "a run appeared on more than one page"
    assert set(seen) == set(created)

    # An explicit order in smaller pages keeps that order across pages.
    seen, token = [], None
    for _ in range(10):
        page = client.search_runs(
            [exp_id], max_results=300, order_by=["attributes.run_name DESC"], page_token=token
        )
        seen += [r.info.run_name for r in page]
        token = page.token
        if not token:
            break
    assert seen == [f"r{i:04d}" for i in reversed(range(PAGED_RUNS))]

    # The fluent API pages by itself and returns all of them.
    runs = mlflow.search_runs([exp_id], output_format="list", run_view_type=ViewType.ALL)
    assert sorted(r.info.run_id for r in runs) == sorted(created)
