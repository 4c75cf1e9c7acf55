"""Audit throughput on PostgreSQL: sealing, the integrity check, export, and a party history scan.

Fills a fresh database with EVENTS events (servers' lifecycles in a few
projects, claims on hosts) and prints events/s for each pass over the log,
plus the time of one point-in-time state query of a long-lived host.

    .venv/bin/python bench/audit.py [EVENTS]   (default 100000)
"""

from __future__ import annotations

import contextlib
import io
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from boot import scratch_database  # noqa: E402

from chronova.audit.cli import main as audit  # noqa: E402
from chronova.audit.integrity import Sealer, check_integrity  # noqa: E402
from chronova.cloud import Cloud  # noqa: E402
from chronova.config import Settings  # noqa: E402
from domain.commands import RequestContext  # noqa: E402
from domain.host import Host  # noqa: E402
from domain.placement import default_inventories, inventories_to_dict  # noqa: E402
from domain.server import Server  # noqa: E402

PROJECTS = 10
HOSTS = 100


def fill(cloud: Cloud, events: int) -> None:
    """Servers created, scheduled and spawned, each claiming on a host: four events per server."""
    inventories = inventories_to_dict(default_inventories(100000, 10**8, 10**6))
    hosts = [Host(name=f"h{n}", inventories=inventories, hypervisor={}) for n in range(HOSTS)]
    cloud.save(*hosts)
    flavor = {"id": "1", "name": "m1.tiny", "vcpus": 1, "ram": 512, "disk": 1, "ephemeral": 0, "swap": 0}
    n = 0
    while cloud.recorder.max_notification_id() < events:
        batch = []
        for _ in range(250):
            ctx = RequestContext(project_id=f"{n % PROJECTS:032x}", user_id=f"{n % 97:032x}", request_id=f"req-{n}")
            server = Server(
                project_id=ctx.project_id,
                user_id=ctx.user_id,
                request_id=ctx.request_id,
                name=f"vm{n}",
                flavor=flavor,
                image_id=str(uuid.uuid4()),
                metadata={},
                user_data=None,
                description=None,
                availability_zone=None,
                key_name=None,
            )
            host = hosts[n % HOSTS]
            server.schedule(host.name)
            server.record_spawned(host.name, 1)
            host.claim(str(server.id), {"VCPU": 1})
            batch.append(server)
            n += 1
        cloud.save(*batch, *hosts)


def timed(what: str, events: int, run: Callable[[], object]) -> None:
    started = time.perf_counter()
    run()
    elapsed = time.perf_counter() - started
    print(f"{what:<42} {elapsed:8.2f} s  {events / elapsed:10.0f} events/s")


def cli(url: str, *argv: str) -> Callable[[], object]:
    """`chronova audit ARGV` with its output thrown away (only the time counts)."""

    def run() -> object:
        with contextlib.redirect_stdout(io.StringIO()):
            status = audit(["--database-url", url, *argv])
        assert status == 0, argv
        return status

    return run


def main() -> None:
    target = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    with scratch_database() as url:
        cloud = Cloud(Settings(database_url=url).store_env(create_tables=True))
        started = time.perf_counter()
        fill(cloud, target)
        events = cloud.recorder.max_notification_id() or 0
        print(f"filled {events} events in {time.perf_counter() - started:.1f} s")
        timed("seal (whole log)", events, Sealer(cloud).seal_to_head)
        timed("check_integrity (whole log)", events, lambda: check_integrity(cloud))
        timed("export jsonl (whole log)", events, cli(url, "export"))
        timed("export cloudevents (whole log)", events, cli(url, "export", "--format", "cloudevents"))
        timed("history of a project (whole-log scan)", events, cli(url, "history", "project", f"{1:032x}"))
        versions = cloud.host("h0").version
        started = time.perf_counter()
        cli(url, "state", "host", "h0", "--at", datetime.now(UTC).isoformat())()
        print(f"state of host h0 ({versions} versions) --at now: {(time.perf_counter() - started) * 1000:.0f} ms")
        cloud.close()


if __name__ == "__main__":
    main()
