"""mlcycle dataset versions as MLflow dataset sources.

``mlcycle://iris@3`` (or ``iris@prod``, ``iris@latest``) names a version of a
dataset on an mlcycle server. Logging it as a run's input links the run to
the version on the server; ``load()`` downloads the version's files.
"""

from __future__ import annotations

import os
import tempfile
from urllib.parse import quote

import requests
from mlflow.data.dataset_source import DatasetSource

SCHEME = "mlcycle://"

__all__ = ["MlcycleDatasetSource", "register", "SCHEME"]


class MlcycleDatasetSource(DatasetSource):
    """The source of a dataset that is a version on an mlcycle server."""

    def __init__(self, uri: str):
        if not isinstance(uri, str) or not uri.startswith(SCHEME) or len(uri) == len(SCHEME):
            raise ValueError(f"not an mlcycle dataset reference: {uri!r} (want mlcycle://name@version)")
        self._uri = uri

    @property
    def uri(self) -> str:
        """The reference, mlcycle://name@version."""
        return self._uri

    @staticmethod
    def _get_source_type() -> str:
        return "mlcycle"

    @staticmethod
    def _can_resolve(raw_source) -> bool:
        return isinstance(raw_source, str) and raw_source.startswith(SCHEME)

    @classmethod
    def _resolve(cls, raw_source) -> "MlcycleDatasetSource":
        return cls(raw_source)

    def to_dict(self) -> dict:
        return {"uri": self._uri}

    @classmethod
    def from_dict(cls, source_dict: dict) -> "MlcycleDatasetSource":
        return cls(source_dict["uri"])

    def load(self, dst_path: str | None = None) -> str:
        """Downloads the files of the version into dst_path (a new temporary
        folder when None) and returns that folder.

        The server checks every chunk of a file against its hash before it
        sends it and cuts the download short on damage, which fails here;
        each file is written under a temporary name and renamed once all of
        it has arrived. A reference to a tag or to latest is resolved once,
        so all files come from the same version.
        """
        server = _server_url()
        ref = self._uri[len(SCHEME):]
        with requests.Session() as s:
            s.headers.update(_auth_headers())
            s.headers["User-Agent"] = "mlcycle-mlflow"
            r = s.get(f"{server}/api/v1/datasets/{quote(ref, safe='@')}", timeout=60)
            _raise_for_status(r, ref)
            detail = r.json()
            resolved = detail["ref"]
            dst = dst_path or tempfile.mkdtemp(prefix=resolved.replace("@", "-") + "-")
            os.makedirs(dst, exist_ok=True)
            for f in detail["manifest"]["files"]:
                _download(s, server, resolved, f, dst)
        return dst


def register() -> None:
    """Registers MlcycleDatasetSource with the MLflow client; installing the
    package does it already (entry point mlflow.dataset_source)."""
    from mlflow.data.dataset_source_registry import register_dataset_source

    register_dataset_source(MlcycleDatasetSource)


def _server_url() -> str:
    url = os.environ.get("MLCYCLE_SERVER", "")
    if not url:
        import mlflow

        url = mlflow.get_tracking_uri()
    if not url.startswith(("http://", "https://")):
        raise RuntimeError(
            f"loading an mlcycle dataset needs its server: set MLCYCLE_SERVER or an http(s) "
            f"MLFLOW_TRACKING_URI (the tracking URI is {url!r})"
        )
    return url.rstrip("/")


def _auth_headers() -> dict:
    token = os.environ.get("MLFLOW_TRACKING_TOKEN", "")
    if token:
        return {"Authorization": "Bearer " + token}
    user, password = os.environ.get("MLFLOW_TRACKING_USERNAME", ""), os.environ.get("MLFLOW_TRACKING_PASSWORD", "")
    if user:
        import base64

        pair = base64.b64encode(f"{user}:{password}".encode()).decode()
        return {"Authorization": "Basic " + pair}
    return {}


def _raise_for_status(r: requests.Response, what: str) -> None:
    if r.status_code < 300:
        return
    try:
        msg = r.json().get("message", "")
    except ValueError:
        msg = r.text[:200]
    raise RuntimeError(f"mlcycle server: {what}: {r.status_code} {msg}".rstrip())


def _download(s: requests.Session, server: str, ref: str, f: dict, dst: str) -> None:
    path = f["path"]
    parts = path.split("/")
    # The server only records clean relative paths; a manifest from anywhere
    # else is not trusted to stay inside dst.
    if path.startswith("/") or any(p in ("", ".", "..") for p in parts) or "\\" in path:
        raise RuntimeError(f"mlcycle server: {ref}: refusing the file path {path!r}")
    target = os.path.join(dst, *parts)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    url = f"{server}/api/v1/datasets/{quote(ref, safe='@')}/files/{quote(path)}"
    part = target + ".part"
    try:
        with s.get(url, stream=True, timeout=60) as r:
            _raise_for_status(r, f"{ref}:{path}")
            n = 0
            with open(part, "wb") as out:
                for block in r.iter_content(1 << 20):
                    out.write(block)
                    n += len(block)
        if n != f["size"]:
            raise RuntimeError(f"mlcycle server: {ref}:{path}: got {n} bytes of {f['size']}")
        os.replace(part, target)
    except BaseException:
        if os.path.exists(part):
            os.remove(part)
        raise
