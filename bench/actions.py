"""A mixed workload of server actions over simulated hosts, on the distributed deployment (PostgreSQL scratch
database, Tansu broker, every component its own process, as bench/boot.py starts it). Prints actions/s and the
p50/p99 completion time per action type.

    python bench/actions.py [--servers 500] [--hosts 20] [--clients 32]

The servers are booted first (figures printed, not part of the workload); then each server runs one scenario,
the scenarios interleaved in a shuffled order: reboot; os-stop then os-start; resize then confirmResize; migrate
then confirmResize. An action completes when the query API shows the server in the expected end state with no
task in flight (ACTIVE after reboot, start and confirm, SHUTOFF after stop, VERIFY_RESIZE after resize and
migrate). The POST only answers once the servers view holds the request (read-your-writes), so a settled state
seen afterwards is the action's own. One poller reads GET /servers/detail for every server, so completion times
include up to one poll (a GET of all servers plus POLL_PAUSE).
"""

from __future__ import annotations

import argparse
import http.client
import json
import queue
import random
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from boot import admin_token, boot, distributed, percentile

RESIZE_FLAVOR = "2"
POLL_PAUSE = 0.05
SETTLE_TIMEOUT = 300.0
# Each step: (action type as printed, request body, status the server settles in).
SCENARIOS: tuple[tuple[tuple[str, dict, str], ...], ...] = (
    (("reboot", {"reboot": {"type": "SOFT"}}, "ACTIVE"),),
    (("stop", {"os-stop": None}, "SHUTOFF"), ("start", {"os-start": None}, "ACTIVE")),
    (
        ("resize", {"resize": {"flavorRef": RESIZE_FLAVOR}}, "VERIFY_RESIZE"),
        ("confirm resize", {"confirmResize": None}, "ACTIVE"),
    ),
    (("migrate", {"migrate": None}, "VERIFY_RESIZE"), ("confirm migrate", {"confirmResize": None}, "ACTIVE")),
)


@dataclass
class Waiter:
    """One server waiting for the query API to show `status` with no task in flight."""

    status: str
    settled: threading.Event = field(default_factory=threading.Event)
    seen_at: float = 0.0
    error: str = ""


class StatusPoller:
    """Reads every server's status through the query API and wakes the clients waiting on it."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        self._address = urlsplit(url)
        self._headers = headers
        self._waiters: dict[str, Waiter] = {}
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> StatusPoller:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stopped.set()
        self._thread.join()

    def wait(self, server_id: str, status: str) -> Waiter:
        waiter = Waiter(status)
        with self._lock:
            self._waiters[server_id] = waiter
        if not waiter.settled.wait(SETTLE_TIMEOUT):
            waiter.error = f"not {status} after {SETTLE_TIMEOUT:.0f} s"
        with self._lock:
            self._waiters.pop(server_id, None)
        return waiter

    def _run(self) -> None:
        connection = http.client.HTTPConnection(self._address.hostname, self._address.port, timeout=120)
        while not self._stopped.is_set():
            with self._lock:
                idle = not self._waiters
            if not idle:
                for server in self._all_servers(connection):
                    self._check(server, time.time())
            time.sleep(POLL_PAUSE)
        connection.close()

    def _all_servers(self, connection: http.client.HTTPConnection) -> list[dict]:
        servers: list[dict] = []
        path = "/v2.1/servers/detail?limit=1000"
        while path:
            connection.request("GET", path, headers=self._headers)
            response = connection.getresponse()
            body = response.read()
            if response.status != 200:
                raise SystemExit(f"bench: GET {path} answered {response.status}: {body[:200]!r}")
            page = json.loads(body)
            servers.extend(page["servers"])
            following = [link["href"] for link in page.get("servers_links", []) if link["rel"] == "next"]
            path = urlsplit(following[0])._replace(scheme="", netloc="").geturl() if following else ""
        return servers

    def _check(self, server: dict, now: float) -> None:
        with self._lock:
            waiter = self._waiters.get(server["id"])
        if waiter is None or waiter.settled.is_set():
            return
        if server["status"] == "ERROR":
            waiter.error = f"ERROR: {server.get('fault', {}).get('message', '')}"
        elif server["status"] != waiter.status or server.get("OS-EXT-STS:task_state") is not None:
            return
        waiter.seen_at = now
        waiter.settled.set()


@dataclass
class Completion:
    action: str
    posted_at: float
    settled_at: float


def run_workload(url: str, server_ids: list[str], clients: int) -> tuple[list[Completion], list[str], float]:
    """Every server's scenario, `clients` servers at a time; (completions, errors, first POST time)."""
    address = urlsplit(url)
    headers = {
        "OpenStack-API-Version": "compute 2.100",
        "Content-Type": "application/json",
        "X-Auth-Token": admin_token(url),
    }
    plan = [(server_id, SCENARIOS[n % len(SCENARIOS)]) for n, server_id in enumerate(server_ids)]
    random.Random(4).shuffle(plan)
    todo: queue.Queue = queue.Queue()
    for item in plan:
        todo.put(item)
    completions: list[Completion] = []
    errors: list[str] = []
    lock = threading.Lock()

    def client(poller: StatusPoller) -> None:
        # http.client rather than requests: the load generator shares the two cores being measured.
        connection = http.client.HTTPConnection(address.hostname, address.port, timeout=120)
        while True:
            try:
                server_id, steps = todo.get_nowait()
            except queue.Empty:
                connection.close()
                return
            for action, body, status in steps:
                posted_at = time.time()
                connection.request("POST", f"/v2.1/servers/{server_id}/action", json.dumps(body), headers)
                response = connection.getresponse()
                answer = response.read()
                if response.status not in (200, 202, 204):
                    with lock:
                        errors.append(f"{action} {server_id}: POST answered {response.status}: {answer[:160]!r}")
                    break
                waiter = poller.wait(server_id, status)
                with lock:
                    if waiter.error:
                        errors.append(f"{action} {server_id}: {waiter.error}")
                    else:
                        completions.append(Completion(action, posted_at, waiter.seen_at))
                if waiter.error:
                    break

    first_post = time.time()
    with StatusPoller(url, headers) as poller:
        threads = [threading.Thread(target=client, args=(poller,)) for _ in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    return completions, errors, first_post


def report(completions: list[Completion], errors: list[str], first_post: float) -> None:
    if not completions:
        print("no action completed")
    else:
        span = max(c.settled_at for c in completions) - first_post
        print(f"{'all':16} {len(completions):5} actions in {span:6.1f} s   {len(completions) / span:7.1f} actions/s")
        for action in dict.fromkeys(step[0] for scenario in SCENARIOS for step in scenario):
            mine = [c for c in completions if c.action == action]
            if not mine:
                print(f"{action:16}     0 completed")
                continue
            ms = [(c.settled_at - c.posted_at) * 1000 for c in mine]
            window = max(c.settled_at for c in mine) - min(c.posted_at for c in mine)
            print(
                f"{action:16} {len(mine):5} done   {len(mine) / window:7.1f} actions/s   "
                f"completion p50 {statistics.median(ms):8.1f} ms  p99 {percentile(ms, 0.99):8.1f} ms"
            )
    print(f"errors {len(errors)}")
    for line in errors[:10]:
        print(f"  {line}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--servers", type=int, default=500)
    parser.add_argument("--hosts", type=int, default=20)
    parser.add_argument("--clients", type=int, default=32)
    args = parser.parse_args()
    print(f"{args.servers} servers over {args.hosts} simulated hosts, {args.clients} concurrent clients (distributed)")
    with tempfile.TemporaryDirectory(prefix="chronova-bench-actions-") as work:
        with distributed(args.hosts, Path(work)) as (url, query, cpu_seconds):
            booted = boot(url, query, args.servers, args.clients)
            print(f"booted: {booted['servers_per_s']:.1f} servers/s, errors {booted['errors']}")
            server_ids = [row[0] for row in query("SELECT id FROM servers WHERE vm_state = 'active'")]
            before = cpu_seconds()
            completions, errors, first_post = run_workload(url, [str(s) for s in server_ids], args.clients)
            after = cpu_seconds()
    report(completions, errors, first_post)
    spent = ", ".join(f"{name} {after[name] - before.get(name, 0):.1f}s" for name in sorted(after))
    print(f"CPU time by component during the workload: {spent}")


if __name__ == "__main__":
    main()
