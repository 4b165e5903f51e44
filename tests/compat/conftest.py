"""Fixtures that run the real mlcycle binary for the official MLflow client.

The binary is built once per session. Each server fixture is parametrized
over the two databases ("sqlite": the embedded default; "postgres": a fresh
schema in TEST_DATABASE_URL) and lives for the session; tests isolate
themselves with unique experiment and model names.

When a test fails, the server's log lines written while it ran (the access
log names every MLflow endpoint the client called, with its status) are
attached to the report as the section "mlcycle server log".

MLCYCLE_COMPAT_REFERENCE=mlflow runs the same tests against MLflow's own
server (`mlflow server`, SQLite only, no auth) to check the tests themselves:
what fails there is a bug in a test, not in mlcycle.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
IN_CI = os.environ.get("CI", "") in ("true", "1")
HEALTH_TIMEOUT = 20.0  # seconds for GET /health to answer OK after start
STOP_TIMEOUT = 10.0  # seconds between SIGINT and SIGKILL
DATABASES = ["sqlite", "postgres"]
REFERENCE = os.environ.get("MLCYCLE_COMPAT_REFERENCE", "")
if REFERENCE not in ("", "mlflow"):
    raise RuntimeError(f"MLCYCLE_COMPAT_REFERENCE={REFERENCE!r}: the only reference server is 'mlflow'")

# A server bug must fail a test at once: the MLflow client otherwise retries
# 5xx answers with backoff for minutes. Set at import, before mlflow is
# imported, so code outside a test (fixture teardown) obeys them too, and
# again per test through monkeypatch.
CLIENT_ENV = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
    # The client's usage telemetry would call a host outside this machine.
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
}
os.environ.update(CLIENT_ENV)


def missing(what: str) -> None:
    """Skips the test locally, fails it in CI (where nothing may be skipped)."""
    if IN_CI:
        pytest.fail(f"{what} (CI=true: nothing may be skipped)", pytrace=False)
    pytest.skip(what)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(cmd: list[str], *, stdin: str | None = None, timeout: float = 120, cwd: Path | None = None) -> str:
    """Runs a command and returns its stdout; on failure fails the test with its output."""
    try:
        p = subprocess.run(
            cmd, input=stdin, capture_output=True, text=True, timeout=timeout, cwd=cwd
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"{' '.join(cmd)} did not finish in {timeout}s", pytrace=False)
    if p.returncode != 0:
        pytest.fail(
            f"{' '.join(cmd)} exited {p.returncode}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}",
            pytrace=False,
        )
    return p.stdout


# --- the binary -----------------------------------------------------------------


@pytest.fixture(scope="session")
def mlcycle_bin(tmp_path_factory) -> Path:
    """Builds ./cmd/mlcycle from this work tree once per session."""
    if REFERENCE:
        return Path(sys.executable)  # unused: the reference server is mlflow's
    go = shutil.which("go")
    if go is None:
        missing("the Go toolchain (`go`) is not on PATH; it is needed to build the server")
    out = tmp_path_factory.mktemp("bin") / "mlcycle"
    run([go, "build", "-o", str(out), "./cmd/mlcycle"], cwd=REPO_ROOT, timeout=600)
    return out


# --- PostgreSQL schemas -----------------------------------------------------------


def psql_bin() -> str | None:
    found = shutil.which("psql")
    if found:
        return found
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/psql"), key=lambda p: p.parts[-3])
    return str(candidates[-1]) if candidates else None


def with_query(url: str, **params: str) -> str:
    u = urllib.parse.urlsplit(url)
    q = urllib.parse.parse_qsl(u.query, keep_blank_values=True)
    q = [(k, v) for k, v in q if k not in params] + list(params.items())
    return urllib.parse.urlunsplit(u._replace(query=urllib.parse.urlencode(q)))


class PgSchema:
    """A fresh schema in TEST_DATABASE_URL, made and dropped with psql."""

    def __init__(self) -> None:
        base = os.environ.get("TEST_DATABASE_URL", "")
        if not base:
            missing("TEST_DATABASE_URL is not set (run through ./scripts/test, or eval \"$(scripts/pg-env)\")")
        psql = psql_bin()
        if psql is None:
            missing("psql is not installed; it creates the PostgreSQL test schema")
        self.base = base
        self.psql = psql
        self.name = "compat_" + secrets.token_hex(6)
        self.sql(f"CREATE SCHEMA {self.name}")
        # pgx passes unknown URL parameters to the server as run-time settings.
        self.url = with_query(base, search_path=self.name)

    def sql(self, stmt: str) -> None:
        run([self.psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", self.base, "-c", stmt], timeout=60)

    def drop(self) -> None:
        try:
            self.sql(f"DROP SCHEMA IF EXISTS {self.name} CASCADE")
        except BaseException as e:  # pytest.fail raises an exception derived from BaseException
            print(f"dropping schema {self.name}: {e}")


# --- the server -------------------------------------------------------------------


@dataclass
class Server:
    """One running `mlcycle server`."""

    binary: Path
    db: str  # "sqlite" or "postgres"
    data_dir: Path
    log_path: Path
    auth: bool = False
    db_url: str | None = None
    port: int = 0
    proc: subprocess.Popen | None = None
    # Credentials when auth is on.
    username: str = ""
    password: str = ""
    token: str = ""
    _log_file: object = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def store_flags(self) -> list[str]:
        flags = ["--data-dir", str(self.data_dir)]
        if self.db_url:
            flags += ["--db", self.db_url]
        return flags

    def cli(self, *args: str, stdin: str | None = None) -> str:
        """Runs an mlcycle client command on this server's database."""
        return run([str(self.binary), *args, *self.store_flags()], stdin=stdin)

    def log_size(self) -> int:
        try:
            return self.log_path.stat().st_size
        except FileNotFoundError:
            return 0

    def log_since(self, offset: int) -> str:
        with open(self.log_path, "rb") as f:
            f.seek(offset)
            return f.read().decode("utf-8", "replace")

    def start(self) -> None:
        self.port = free_port()
        cmd = [str(self.binary), "server", "--port", str(self.port), *self.store_flags()]
        if self.auth:
            cmd.append("--auth")
        timeout = HEALTH_TIMEOUT
        if REFERENCE:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            cmd = [
                sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(self.port),
                "--backend-store-uri", f"sqlite:///{self.data_dir}/mlflow.db",
                "--artifacts-destination", str(self.data_dir / "artifacts"), "--workers", "1",
            ]
            timeout = 90  # its first start migrates the database
        self._log_file = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            cmd, stdout=self._log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        deadline = time.monotonic() + timeout
        last = "no answer yet"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.fail(f"the server exited with {self.proc.returncode} before it was healthy")
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=2) as r:
                    body = r.read().decode().strip()
                    if r.status == 200 and body == "OK":
                        return
                    last = f"{r.status} {body!r}"
            except urllib.error.HTTPError as e:
                last = f"{e.code} {e.read()[:200]!r}"
            except OSError as e:
                last = str(e)
            time.sleep(0.1)
        self.fail(f"GET /health did not answer OK within {timeout:.0f}s (last: {last})")

    def fail(self, msg: str) -> None:
        self.stop()
        pytest.fail(f"{msg}\ncommand db={self.db} auth={self.auth}\nserver log:\n{self.log_since(0)}", pytrace=False)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None


def _start_server(request, tmp_path_factory, binary: Path, auth: bool):
    """Generator body shared by the server fixtures."""
    db = request.param
    if REFERENCE and (db != "sqlite" or auth):
        pytest.skip("the reference mlflow server runs only on SQLite, without auth")
    schema = PgSchema() if db == "postgres" else None
    base = tmp_path_factory.mktemp(f"server-{db}{'-auth' if auth else ''}")
    srv = Server(
        binary=binary,
        db=db,
        data_dir=base / "data",
        log_path=base / "server.log",
        auth=auth,
        db_url=schema.url if schema else None,
    )
    try:
        if auth:
            srv.username = "admin"
            srv.password = "compat-" + secrets.token_hex(8)
            srv.cli("users", "create", srv.username, "--admin", "--password-stdin", stdin=srv.password + "\n")
            out = srv.cli("tokens", "create", "--user", srv.username, "--name", "compat")
            srv.token = out.strip().splitlines()[-1].strip() if out.strip() else ""
            if not srv.token:
                pytest.fail(f"`mlcycle tokens create` printed no token: {out!r}", pytrace=False)
        srv.start()
        yield srv
    finally:
        srv.stop()
        if schema:
            schema.drop()


@pytest.fixture(scope="session", params=DATABASES)
def _server(request, tmp_path_factory, mlcycle_bin):
    yield from _start_server(request, tmp_path_factory, mlcycle_bin, auth=False)


@pytest.fixture(scope="session", params=DATABASES)
def _auth_server(request, tmp_path_factory, mlcycle_bin):
    yield from _start_server(request, tmp_path_factory, mlcycle_bin, auth=True)


def _use_server(request, monkeypatch, srv: Server):
    """Points the MLflow client at srv for one test and cleans up after it."""
    import mlflow

    if srv.proc is None or srv.proc.poll() is not None:
        tail = "\n".join(srv.log_since(0).splitlines()[-40:])
        pytest.fail(f"the {srv.db} server exited earlier (code {srv.proc and srv.proc.returncode}); "
                    f"its log ends:\n{tail}", pytrace=False)
    for k, v in CLIENT_ENV.items():
        monkeypatch.setenv(k, v)
    for k in ("MLFLOW_TRACKING_TOKEN", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD",
              "MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_RUN_ID"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", srv.url)
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", srv.url)
    mlflow.set_tracking_uri(srv.url)
    mlflow.set_registry_uri(srv.url)
    request.node._mlcycle_log = (srv, srv.log_size())
    yield srv
    # Leave no active run or experiment behind for the next test.
    while mlflow.active_run() is not None:
        try:
            mlflow.end_run()
        except Exception:
            break
    # The client remembers the last experiment set; it may not exist on the
    # next test's server. (Private, so guarded: a newer client may rename it.)
    fluent = mlflow.tracking.fluent
    if hasattr(fluent, "_active_experiment_id"):
        fluent._active_experiment_id = None


@pytest.fixture
def server(request, monkeypatch, _server) -> str:
    """Base URL of an mlcycle server (auth off) that the MLflow client now uses."""
    for srv in _use_server(request, monkeypatch, _server):
        yield srv.url


@pytest.fixture
def auth_server(request, monkeypatch, _auth_server) -> Server:
    """An mlcycle server with --auth that the MLflow client now uses, without
    credentials: tests set MLFLOW_TRACKING_TOKEN or _USERNAME/_PASSWORD.
    The Server carries .username, .password and .token of its admin."""
    yield from _use_server(request, monkeypatch, _auth_server)


@pytest.fixture
def unique():
    """unique("exp") -> "exp-<random>": names that no other test uses."""
    return lambda prefix: f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def client(server):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=server, registry_uri=server)


# --- failure reports ----------------------------------------------------------------


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    info = getattr(item, "_mlcycle_log", None)
    if rep.failed and info is not None and call.when in ("setup", "call", "teardown"):
        srv, offset = info
        text = srv.log_since(offset)
        lines = text.splitlines()
        if len(lines) > 200:
            lines = [f"... ({len(lines) - 200} earlier lines cut)"] + lines[-200:]
        rep.sections.append((f"mlcycle server log ({srv.db}{', auth' if srv.auth else ''})", "\n".join(lines)))
