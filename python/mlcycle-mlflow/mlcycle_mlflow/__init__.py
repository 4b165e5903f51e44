"""mlcycle dataset versions as MLflow dataset sources.

``mlcycle://iris@3`` (or ``iris@prod``, ``iris@latest``) names a version of a
dataset on an mlcycle server. Logging it as a run's input links the run to
the version on the server; ``load()`` downloads the version's files.
"""

from __future__ import annotations

import os
import tarfile
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

        The files come in one tar stream, unpacked as it arrives. The
        server checks every chunk against its hash before it sends it and
        cuts the stream short on damage, which fails here; each file is
        written under a temporary name and renamed once all of it has
        arrived, and only the manifest's paths and sizes are accepted. A
        reference to a tag or to latest is resolved once, so all files come
        from the same version.
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
            files = {f["path"]: f["size"] for f in detail["manifest"]["files"]}
            for path in files:
                _check_path(resolved, path)
            dst = dst_path or tempfile.mkdtemp(prefix=resolved.replace("@", "-") + "-")
            os.makedirs(dst, exist_ok=True)
            if files:
                _unpack(s, server, resolved, files, dst)
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


def _check_path(ref: str, path: str) -> None:
    # The server only records clean relative paths; a manifest from
    # anywhere else is not trusted to stay inside the destination.
    parts = path.split("/")
    if path.startswith("/") or any(p in ("", ".", "..") for p in parts) or "\\" in path:
        raise RuntimeError(f"mlcycle server: {ref}: refusing the file path {path!r}")


def _unpack(s: requests.Session, server: str, ref: str, files: dict, dst: str) -> None:
    """Streams the version as one tar and unpacks it as it arrives: each
    member must be a file of the manifest with its size, and is renamed
    into place once complete."""
    url = f"{server}/api/v1/datasets/{quote(ref, safe='@')}/archive?format=tar"
    seen = set()
    with s.get(url, stream=True, timeout=60) as r:
        _raise_for_status(r, ref)
        r.raw.decode_content = True
        with tarfile.open(fileobj=r.raw, mode="r|") as tar:
            for m in tar:
                if m.name not in files or m.name in seen or not m.isfile() or m.size != files[m.name]:
                    raise RuntimeError(f"mlcycle server: {ref}: unexpected archive member {m.name!r}")
                seen.add(m.name)
                target = os.path.join(dst, *m.name.split("/"))
                os.makedirs(os.path.dirname(target), exist_ok=True)
                part = target + ".part"
                try:
                    src = tar.extractfile(m)
                    n = 0
                    with open(part, "wb") as out:
                        while block := src.read(1 << 20):
                            out.write(block)
                            n += len(block)
                    if n != m.size:
                        raise RuntimeError(f"mlcycle server: {ref}:{m.name}: got {n} bytes of {m.size}")
                    os.replace(part, target)
                except BaseException:
                    if os.path.exists(part):
                        os.remove(part)
                    raise
    if len(seen) != len(files):
        missing = sorted(set(files) - seen)
        raise RuntimeError(f"mlcycle server: {ref}: the archive ended without {missing[0]!r}")
