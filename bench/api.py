"""The API's cost with a big read model, on PostgreSQL (127.0.0.1:5432, a scratch
database) through a real `chronova api` process:

1. GET /v2.1/servers/detail?limit=1000 latency p50/p99 while the admin project
   holds --servers servers (at microversion 2.100 and at the default 2.1), and
   one deep page (a marker 49,000 servers down);
2. POST /v2.1/servers latency p50/p99 and requests/s from --clients concurrent
   clients.

    python bench/api.py [--servers 100000] [--posts 2000] [--clients 32] [--keep]

The servers are created by the same use case a POST runs (1,000 per saved
batch, as one multi-create request would) and projected by the projector
`chronova projections` runs; both phases print their events/s.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
from boot import (
    ADMIN_PROJECT,
    Processes,
    admin_token,
    api_up,
    free_port,
    lift_admin_quota,
    percentile,
    scratch_database,
    simulated_cloud,
    wait_until,
)

from chronova.cloud import Cloud
from chronova.config import Settings
from chronova.seed import SEED_IMAGE_ID
from chronova.servers import create_servers
from domain.commands import CreateServer, RequestContext
from domain.identity import user_aggregate_id
from projections.runner import ALL_DDL, projector
from projections.views import open_view_store

BATCH = 1000
LIMIT = 1000
DEEP_PAGE = 50
WARM_UP = 3
GETS = 50
ADMIN_USER = user_aggregate_id("admin").hex


@dataclass(frozen=True)
class Timings:
    """Latencies of one kind of request, in seconds."""

    seconds: list[float]
    body_bytes: int = 0

    def line(self) -> str:
        ms = [s * 1000 for s in self.seconds]
        return (
            f"p50 {statistics.median(ms):7.1f} ms  p99 {percentile(ms, 0.99):7.1f} ms  "
            f"mean {statistics.fmean(ms):7.1f} ms  (n={len(ms)})"
        )


# --- filling the store ------------------------------------------------------------------------


def fill(database_url: str, servers: int) -> tuple[int, float, int, float]:
    """Servers in the admin project, then their read model; (events, seconds) of each phase."""
    cloud = Cloud(Settings(database_url=database_url).store_env(create_tables=False))
    try:
        ctx = RequestContext(ADMIN_PROJECT, ADMIN_USER, f"req-{uuid.uuid4()}", is_admin=True)
        before = cloud.recorder.max_notification_id() or 0
        started = time.perf_counter()
        for first in range(0, servers, BATCH):
            count = min(BATCH, servers - first)
            command = CreateServer(
                name=f"bench-{first // BATCH}", flavor_ref="1", image_ref=str(SEED_IMAGE_ID), max_count=count
            )
            create_servers(cloud, command, ctx)
            if (first // BATCH) % 10 == 9:
                print(f"  stored {first + count} servers", flush=True)
        stored_seconds = time.perf_counter() - started
        stored = (cloud.recorder.max_notification_id() or 0) - before

        views = open_view_store(cloud.factory, ALL_DDL)
        started = time.perf_counter()
        projector(cloud, views).catch_up()
        projected_seconds = time.perf_counter() - started
        return stored, stored_seconds, cloud.recorder.max_notification_id() or 0, projected_seconds
    finally:
        cloud.close()


# --- requests ---------------------------------------------------------------------------------


def timed_gets(url: str, path: str, headers: dict[str, str], count: int) -> Timings:
    """`count` sequential GETs on one keep-alive connection, after a few untimed ones."""
    address = urlsplit(url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=120)
    seconds: list[float] = []
    size = 0
    for n in range(WARM_UP + count):
        started = time.perf_counter()
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        body = response.read()
        elapsed = time.perf_counter() - started
        if response.status != 200:
            raise SystemExit(f"bench: GET {path} answered {response.status}: {body[:200]!r}")
        if n == 0 and len(json.loads(body)["servers"]) != LIMIT:
            raise SystemExit(f"bench: GET {path} did not return {LIMIT} servers")
        if n >= WARM_UP:
            seconds.append(elapsed)
            size = len(body)
    connection.close()
    return Timings(seconds, size)


def concurrent_posts(url: str, headers: dict[str, str], total: int, clients: int) -> tuple[Timings, float, list[str]]:
    """`total` POSTs from `clients` threads, each on its own keep-alive connection.

    http.client rather than requests: the load generator shares the two cores being measured.
    """
    address = urlsplit(url)
    body = {"imageRef": str(SEED_IMAGE_ID), "flavorRef": "1", "networks": "none"}
    lock = threading.Lock()
    todo = iter(range(total))
    latencies: list[float] = []
    failures: list[str] = []

    def client() -> None:
        connection = http.client.HTTPConnection(address.hostname, address.port, timeout=120)
        while True:
            with lock:
                n = next(todo, None)
            if n is None:
                break
            payload = json.dumps({"server": {**body, "name": f"posted-{n}"}})
            started = time.perf_counter()
            try:
                connection.request("POST", "/v2.1/servers", body=payload, headers=headers)
                response = connection.getresponse()
                answer = response.read()
            except (OSError, http.client.HTTPException) as e:
                with lock:
                    failures.append(f"{type(e).__name__}: {e}")
                connection.close()
                connection = http.client.HTTPConnection(address.hostname, address.port, timeout=120)
                continue
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)
                if response.status != 202:
                    failures.append(f"{response.status}: {answer[:200]!r}")
        connection.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return Timings(latencies), time.perf_counter() - started, failures


def deep_marker(database_url: str, page: int) -> str:
    """The last server of page `page - 1` in the listing's order, so that `marker=` asks for page `page`."""
    with psycopg.connect(database_url) as db:
        row = db.execute(
            """SELECT id FROM servers WHERE project_id = %s AND vm_state <> 'deleted'
               ORDER BY created_at DESC, id DESC OFFSET %s LIMIT 1""",
            (ADMIN_PROJECT, (page - 1) * LIMIT - 1),
        ).fetchone()
    return row[0]


def postgres_cpu_seconds(database_url: str) -> float:
    """CPU time of the PostgreSQL backends serving this database (the API's pooled connections stay open)."""
    ticks = os.sysconf("SC_CLK_TCK")
    with psycopg.connect(database_url) as db:
        pids = [row[0] for row in db.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")]
    used = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        used += (int(fields[11]) + int(fields[12])) / ticks
    return used


def count_servers(database_url: str) -> int:
    with psycopg.connect(database_url) as db:
        return db.execute("SELECT count(*) FROM servers WHERE project_id = %s", (ADMIN_PROJECT,)).fetchone()[0]


def show_logs(work: Path) -> None:
    for log in sorted(work.glob("*.log")):
        print(f"--- {log.name} (last lines)\n" + "\n".join(log.read_text(errors="replace").splitlines()[-20:]))


# --- the run ----------------------------------------------------------------------------------


def run(args: argparse.Namespace, database_url: str, work: Path) -> None:
    api_port = free_port()
    env = {"CHRONOVA_DATABASE_URL": database_url, **simulated_cloud(1, api_port)}
    processes = Processes(env, work)
    print(f"database {database_url.rsplit('/', 1)[1]}; chronova init")
    if processes.start("init").wait(timeout=120) != 0:
        show_logs(work)
        raise SystemExit("bench: chronova init failed")

    print(f"storing {args.servers} servers in batches of {BATCH} and projecting them")
    stored, stored_s, last_id, projected_s = fill(database_url, args.servers)
    print(f"  stored {stored} events in {stored_s:.1f} s; projected up to #{last_id} in {projected_s:.1f} s")
    with psycopg.connect(database_url, autocommit=True) as db:
        db.execute("ANALYZE")  # what autovacuum would have done by now on a live cloud
    if count_servers(database_url) != args.servers:
        raise SystemExit("bench: the servers view does not hold every stored server")

    try:
        processes.start("api")
        processes.start("projections")
        url = f"http://127.0.0.1:{api_port}"
        wait_until(lambda: api_up(url), 60, "the API")
        token = admin_token(url)
        latest = {"X-Auth-Token": token, "OpenStack-API-Version": "compute 2.100"}
        default = {"X-Auth-Token": token}
        path = f"/v2.1/servers/detail?limit={LIMIT}"

        cpu, pg_cpu = processes.cpu_seconds(), postgres_cpu_seconds(database_url)
        print(f"GET {path}: {GETS} sequential requests per microversion")
        get_latest = timed_gets(url, path, latest, GETS)
        get_default = timed_gets(url, path, default, GETS)
        deep_page = min(DEEP_PAGE, args.servers // LIMIT)
        marker = deep_marker(database_url, deep_page)
        get_deep = timed_gets(url, f"{path}&marker={marker}", latest, 5)
        get_cpu = processes.cpu_seconds()["api"] - cpu["api"]
        get_pg_cpu = postgres_cpu_seconds(database_url) - pg_cpu

        quota = lift_admin_quota(url, {**latest, "Content-Type": "application/json"})
        print(f"POST /v2.1/servers: {args.posts} requests from {args.clients} clients ({quota})")
        cpu, pg_cpu = processes.cpu_seconds(), postgres_cpu_seconds(database_url)
        posts, post_s, failures = concurrent_posts(
            url, {**latest, "Content-Type": "application/json"}, args.posts, args.clients
        )
        post_cpu = {name: used - cpu.get(name, 0.0) for name, used in processes.cpu_seconds().items()}
        post_cpu["postgres"] = postgres_cpu_seconds(database_url) - pg_cpu
        started = time.perf_counter()
        wait_until(lambda: count_servers(database_url) >= args.servers + args.posts - len(failures), 300, "views")
        projected_after = time.perf_counter() - started
        if failures:
            show_logs(work)
    except BaseException:
        show_logs(work)
        raise
    finally:
        processes.stop()

    print()
    print(f"=== chronova API on PostgreSQL, {os.cpu_count()} CPUs, {args.servers} servers in the admin project ===")
    print(f"load average {os.getloadavg()[0]:.1f} (work besides this bench skews every figure)")
    print(f"store {args.servers} servers     {stored / stored_s:9.0f} events/s  ({stored} events, {stored_s:.1f} s)")
    print(f"project them           {stored / projected_s:9.0f} events/s  ({projected_s:.1f} s, one catch-up)")
    print(f"GET detail 2.100       {get_latest.line()}  {get_latest.body_bytes / 1e6:.2f} MB")
    print(f"GET detail 2.1         {get_default.line()}  {get_default.body_bytes / 1e6:.2f} MB")
    print(f"GET page {deep_page} (marker)   {get_deep.line()}")
    gets = 2 * (GETS + WARM_UP) + 5 + WARM_UP
    print(f"  CPU for the {gets} GETs: api {get_cpu:.1f} s, postgres {get_pg_cpu:.1f} s")
    print(f"POST, {args.clients} clients      {posts.line()}  {len(posts.seconds) / post_s:.1f} requests/s")
    spent = ", ".join(f"{name} {used:.1f} s" for name, used in sorted(post_cpu.items()))
    print(f"  CPU during the POSTs: {spent}; all projected {projected_after:.1f} s after the last answer")
    if failures:
        print(f"  {len(failures)} POSTs not answered 202, first: {failures[0]}")
        raise SystemExit(1)
    print(f"  every POST answered 202 ({len(posts.seconds)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--servers", type=int, default=100_000)
    parser.add_argument("--posts", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()
    if args.servers < 2 * LIMIT:
        parser.error(f"--servers must be at least {2 * LIMIT}: the listing is measured on full pages of {LIMIT}")
    with tempfile.TemporaryDirectory(prefix="chronova-bench-api-") as work, scratch_database(args.keep) as url:
        run(args, url, Path(work))
        if args.keep:
            print(f"kept {url}")


if __name__ == "__main__":
    main()
