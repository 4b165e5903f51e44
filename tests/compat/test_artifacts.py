"""Run artifacts: upload, list and download through the MLflow client."""

import json
import os

import mlflow


def tree(root):
    """{relative path: bytes} of every file under root."""
    out = {}
    for dirpath, _, files in os.walk(root):
        for f in files:
            p = os.path.join(dirpath, f)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, root).replace(os.sep, "/")] = fh.read()
    return out


def test_artifacts_roundtrip(server, client, unique, tmp_path):
    mlflow.set_experiment(unique("art"))
    # A single file, a folder with a subfolder, text, a dict and a binary file.
    single = tmp_path / "notes.txt"
    single.write_text("hello artifacts\n")
    folder = tmp_path / "bundle"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.csv").write_text("x,y\n1,2\n")
    (folder / "sub" / "b.bin").write_bytes(bytes(range(256)) * 40)
    (folder / "sub" / "empty.txt").write_bytes(b"")
    big = os.urandom(3 << 20)  # several chunks on every hop
    (folder / "sub" / "big file.bin").write_bytes(big)
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(single))
        mlflow.log_artifact(str(single), artifact_path="docs")
        mlflow.log_artifacts(str(folder), artifact_path="bundle")
        mlflow.log_text("ünïcödé text", "texts/u.txt")
        mlflow.log_dict({"a": 1, "b": [1, 2]}, "conf/config.json")
        mlflow.log_dict({"k": "v"}, "conf/config.yaml")
    rid = run.info.run_id

    top = {f.path: f.is_dir for f in client.list_artifacts(rid)}
    assert top == {"notes.txt": False, "docs": True, "bundle": True, "texts": True, "conf": True}
    listed = {f.path: (f.is_dir, f.file_size) for f in client.list_artifacts(rid, "bundle")}
    assert listed == {"bundle/a.csv": (False, 8), "bundle/sub": (True, None)}
    # MLflow's own server leaves out a zero size (proto3 default), so 0 reads as None.
    sub = {f.path: f.file_size or 0 for f in client.list_artifacts(rid, "bundle/sub")}
    assert sub == {"bundle/sub/b.bin": 256 * 40, "bundle/sub/empty.txt": 0, "bundle/sub/big file.bin": len(big)}

    # Whole-run download equals what was uploaded.
    dst = tmp_path / "download"
    dst.mkdir()
    local = mlflow.artifacts.download_artifacts(run_id=rid, dst_path=str(dst))
    got = tree(local)
    want = {
        "notes.txt": single.read_bytes(),
        "docs/notes.txt": single.read_bytes(),
        "bundle/a.csv": b"x,y\n1,2\n",
        "bundle/sub/b.bin": bytes(range(256)) * 40,
        "bundle/sub/empty.txt": b"",
        "bundle/sub/big file.bin": big,
        "texts/u.txt": "ünïcödé text".encode(),
    }
    for k, v in want.items():
        assert got[k] == v, k
    assert json.loads(got["conf/config.json"]) == {"a": 1, "b": [1, 2]}
    assert "k: v" in got["conf/config.yaml"].decode()
    assert set(got) == set(want) | {"conf/config.json", "conf/config.yaml"}

    # A single file and a sub-folder by path, through the client too.
    one = client.download_artifacts(rid, "bundle/sub/b.bin", str(tmp_path / "one"))
    with open(one, "rb") as f:
        assert f.read() == bytes(range(256)) * 40
    part = client.download_artifacts(rid, "bundle", str(tmp_path / "part"))
    assert tree(part) == {
        "a.csv": b"x,y\n1,2\n",
        "sub/b.bin": bytes(range(256)) * 40,
        "sub/empty.txt": b"",
        "sub/big file.bin": big,
    }
    assert mlflow.artifacts.load_text(f"runs:/{rid}/texts/u.txt") == "ünïcödé text"
    assert mlflow.artifacts.load_dict(f"runs:/{rid}/conf/config.json") == {"a": 1, "b": [1, 2]}


def test_list_artifacts_empty_run(server, client, unique):
    exp_id = client.create_experiment(unique("art"))
    rid = client.create_run(exp_id).info.run_id
    assert client.list_artifacts(rid) == []
