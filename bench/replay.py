"""Replay at scale on PostgreSQL (127.0.0.1:5432, a scratch database):

1. fills the store with --servers servers' lifecycles over --hosts hosts, ten
   events each (created, boot options, scheduled, spawned, locked, unlocked,
   deletion started, deleted; the host's claim and release): 1,000,000 events
   by default. One lifecycle is made by the domain and stored normally; the
   others are copies of its stored events with their own ids, hosts,
   versions and times, written through the recorder 10,000 events per
   transaction;
2. rebuilds every projection from zero (`chronova audit rebuild`'s path) and
   prints each one's rate in events of the log per second: the fold (reading
   the log, decoding, folding) and end to end (with the bulk load and the
   blue/green switch). PostgreSQL sends each rebuild only the event types its
   projection reads, so the rate counts the log a rebuild covers, not the
   subset it receives;
3. times point-in-time queries: one server's state at a moment
   (`chronova audit state ... --at`), and the whole cloud as of a moment
   (`chronova audit as-of`).

    python bench/replay.py [--servers 100000] [--hosts 1000] [--partitions N] [--keep]
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from boot import scratch_database  # noqa: E402
from eventsourcing.persistence import Notification, StoredEvent  # noqa: E402

from chronova.audit.cli import main as audit  # noqa: E402
from chronova.cloud import Cloud  # noqa: E402
from chronova.config import Settings  # noqa: E402
from chronova.servers import create_servers  # noqa: E402
from domain.commands import CreateFlavor, CreateServer, RequestContext  # noqa: E402
from domain.host import Host, host_id  # noqa: E402
from domain.placement import default_inventories, inventories_to_dict  # noqa: E402
from projections.rebuild import PARTITIONED, default_partitions, rebuild  # noqa: E402
from projections.runner import ALL_DDL, ALL_PROJECTIONS  # noqa: E402
from projections.views import PostgresViewStore, open_view_store  # noqa: E402

EVENTS_PER_TRANSACTION = 10_000
CTX = RequestContext("bench", "bench", "req-create", is_admin=True)
SPAN = timedelta(hours=1)  # the stored history covers the hour before the run


def host_name(n: int) -> str:
    return f"bench-host-{n:05d}"


def _template(cloud: Cloud, image: uuid.UUID) -> list[Notification]:
    """One server's lifecycle on host 0, in the order it is stored."""
    command = CreateServer(name="bench", flavor_ref="1", image_ref=str(image), max_count=1)
    server = create_servers(cloud, command, CTX).servers[0]  # each step below is a request of its own
    host = cloud.host(host_name(0))
    server.schedule(host_name(0))
    host.claim(str(server.id), {"VCPU": 1, "MEMORY_MB": 512, "DISK_GB": 1})
    cloud.save(server, host)
    server.record_spawned(host_name(0), 1)
    server.lock(by_owner=True, reason="bench", request_id="req-lock", user_id="bench")
    server.unlock(request_id="req-unlock", user_id="bench")
    server.request_delete(request_id="req-delete", user_id="bench")
    server.record_deleted(host=host_name(0))
    host.release(str(server.id))
    cloud.save(server, host)
    everything = cloud.recorder.select_notifications(start=1, limit=10**6)
    claims = [e for e in everything if e.originator_id == host.id and e.originator_version > 1]
    return [e for e in everything if e.originator_id == server.id or e in claims]


def _setup(hosts: int) -> tuple[list[Notification], list[Notification]]:
    """The image, the flavor, the hosts and one server's lifecycle, made by the domain in memory;
    (everything stored, the lifecycle's events)."""
    cloud = Cloud({"PERSISTENCE_MODULE": "eventsourcing.popo"})
    image = uuid.uuid4()
    cloud.register_image(
        image, name="cirros", owner="bench", disk_format="qcow2", container_format="bare",
        min_disk=0, min_ram=0, size=1, visibility="public",
    )  # fmt: skip
    cloud.create_flavor(CreateFlavor(name="m1.tiny", vcpus=1, ram=512, disk=1, flavorid="1"))
    inventories = inventories_to_dict(default_inventories(4096, 1024 * 1024, 100_000))
    hypervisor = {"type": "QEMU", "version": 8002000, "host_ip": "192.0.2.10", "cpu_info": {"arch": "x86_64"}}
    cloud.save(*(Host(name=host_name(n), inventories=inventories, hypervisor=hypervisor) for n in range(hosts)))
    lifecycle = _template(cloud, image)
    return list(cloud.recorder.select_notifications(start=1, limit=10**6)), lifecycle


def _stamp(event: StoredEvent) -> bytes:
    """The stored time of an event, as it appears in its state."""
    marker = b'"timestamp":{"_type_":"datetime_iso","_data_":"'
    start = event.state.index(marker) + len(marker)
    return event.state[start : event.state.index(b'"', start)]


def fill(cloud: Cloud, servers: int, hosts: int) -> tuple[int, float, str, datetime]:
    """Store the lifecycles; (events stored, seconds, one server's id, the time in the middle of the history)."""
    started = time.perf_counter()
    first = datetime.now(UTC) - SPAN
    setup, template = _setup(hosts)
    before = (first - timedelta(seconds=1)).isoformat().encode()
    cloud.recorder.insert_events(
        [StoredEvent(e.originator_id, e.originator_version, e.topic, e.state.replace(_stamp(e), before)) for e in setup]
    )
    template_id = template[0].originator_id
    first_claim = next(e.originator_version for e in template if e.originator_id != template_id)
    ids = (template_id.hex.encode(), str(template_id).encode())
    template_host = host_name(0).encode()
    stamps = [_stamp(event) for event in template]
    step = SPAN / (servers * len(template))
    batch: list[StoredEvent] = []
    some_server = template_id
    for n in range(1, servers):
        new_id = uuid.uuid4()
        some_server = new_id if n == servers // 2 else some_server
        new_ids = (new_id.hex.encode(), str(new_id).encode())
        host = n % hosts
        slot = n // hosts  # the host's earlier servers each left a claim and a release
        new_host = host_name(host).encode()
        for k, (event, stamp) in enumerate(zip(template, stamps, strict=True)):
            moment = (first + step * (n * len(template) + k)).isoformat().encode()
            state = event.state.replace(ids[0], new_ids[0]).replace(ids[1], new_ids[1])
            state = state.replace(template_host, new_host).replace(stamp, moment)
            if event.originator_id == template_id:
                batch.append(StoredEvent(new_id, event.originator_version, event.topic, state))
            else:
                version = first_claim + 2 * slot + (event.originator_version - first_claim)
                batch.append(StoredEvent(host_id(host_name(host)), version, event.topic, state))
        if len(batch) >= EVENTS_PER_TRANSACTION or n == servers - 1:
            cloud.recorder.insert_events(batch)
            batch = []
            if n % 10_000 < EVENTS_PER_TRANSACTION // len(template):
                print(f"  stored {n + 1:,} servers", flush=True)
    total = cloud.recorder.max_notification_id() or 0
    return total, time.perf_counter() - started, str(some_server), first + SPAN / 2


def timed_audit(argv: list[str], runs: int) -> list[float]:
    """Milliseconds of in-process `chronova audit ...` runs (their output is discarded)."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        saved, sys.stdout = sys.stdout, io.StringIO()
        try:
            status = audit(argv)
        finally:
            sys.stdout = saved
        if status != 0:
            raise SystemExit(f"bench: chronova audit {' '.join(argv)} exited {status}")
        times.append((time.perf_counter() - started) * 1000)
    return times


def run(args: argparse.Namespace, url: str) -> None:
    settings = Settings(database_url=url)
    cloud = Cloud(settings.store_env(create_tables=True))
    views = open_view_store(cloud.factory, ALL_DDL)
    assert isinstance(views, PostgresViewStore)
    print(f"database {url.rsplit('/', 1)[1]}: storing {args.servers:,} servers' lifecycles over {args.hosts:,} hosts")
    total, seconds, server, middle = fill(cloud, args.servers, args.hosts)
    print(f"  {total:,} events stored in {seconds:.1f} s ({total / seconds:,.0f} events/s)")

    print("rebuild from zero, per projection (fold = read + decode + fold; end to end = + COPY, indexes, switch)")
    partitions = args.partitions or default_partitions()
    print(f"  {', '.join(sorted(PARTITIONED))}: {partitions} worker processes, one partition of the log each")
    rates = []
    for projection in ALL_PROJECTIONS:
        outcome = rebuild(cloud, views, projection, partitions=partitions)
        rates.append(outcome.rate)
        print(
            f"  {projection.name:<17} fold {outcome.rate:>9,.0f} events/s   "
            f"end to end {outcome.events_read / outcome.total_seconds:>9,.0f} events/s   "
            f"({outcome.events_read:,} events, {outcome.total_seconds:.1f} s)",
            flush=True,
        )
    print(f"  slowest fold {min(rates):,.0f} events/s (target 50,000)")

    at = middle.isoformat()
    state = timed_audit(["--database-url", url, "state", "server", server, "--at", at, "--json"], 20)
    print(f"point in time: one server's state at {at}: median {statistics.median(state):.1f} ms (n=20)")
    as_of = timed_audit(["--database-url", url, "as-of", at], 1)
    print(f"point in time: the whole cloud as of {at} into its own schema: {as_of[0] / 1000:.1f} s")
    views.datastore.close()
    cloud.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", type=int, default=100_000)
    parser.add_argument("--hosts", type=int, default=1_000)
    parser.add_argument("--partitions", type=int, help="worker processes per partitioned rebuild (default: cores)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database for a look")
    args = parser.parse_args()
    with scratch_database(args.keep) as url:
        run(args, url)


if __name__ == "__main__":
    main()
