"""The scheduler's decision time at 100 to 50,000 hosts: the capacity index
against the full scan it replaced (`choose_hosts` over every host), in the
same run, on the same cloud.

    python bench/scheduler.py [--sizes 100,1000,10000,50000] [--decisions 1000] [--seed 1] [--max-candidates 1000]

Each size is a cloud of mixed hardware, partly full, with some hosts down,
disabled or forced down, registered in an in-memory event store; two host
indexes catch up from its log, one per contender. A decision is timed as
the scheduler makes it: filter (Nova's default filters), weigh up to
--max-candidates hosts (Nova's default weighers and multipliers), claim on
the Host aggregate, and (for the index) index the claim; a stream of m1
flavors is placed one after the other. The full scan places fewer servers at the larger sizes to keep the run
short; its first decisions must choose the same hosts as the index's.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from chronova.cloud import Cloud
from chronova.host_index import HostIndex
from chronova.scheduler import claim_best_host
from domain.errors import InsufficientCapacity
from domain.host import Host
from domain.placement import (
    DISK_GB,
    MEMORY_MB,
    VCPU,
    default_inventories,
    flavor_resources,
    inventories_to_dict,
)
from domain.request_spec import RequestSpec
from domain.scheduling import Decision, SchedulerPolicy, choose_hosts

# (vcpus, memory MB, disk GB) of the hardware generations in the cloud, and how common each is.
HARDWARE = [((16, 65536, 500), 3), ((32, 131072, 1000), 4), ((48, 262144, 2000), 2), ((64, 524288, 4000), 1)]
# Nova's m1 flavors (vcpus, ram MB, root disk GB) and how often each is asked for.
FLAVORS = {
    "m1.tiny": ((1, 512, 1), 20),
    "m1.small": ((1, 2048, 20), 30),
    "m1.medium": ((2, 4096, 40), 30),
    "m1.large": ((4, 8192, 80), 15),
    "m1.xlarge": ((8, 16384, 160), 5),
}
FULL_SCAN_BUDGET = 2_000_000  # hosts visited by the full scan per size, at most: it places budget / hosts servers
WARM_UP = 5
BATCH = 1000  # hosts saved per transaction

Decide = Callable[[HostIndex, str, RequestSpec, SchedulerPolicy], tuple[Host | None, Decision]]


def full_scan_claim(
    index: HostIndex, server_id: str, spec: RequestSpec, policy: SchedulerPolicy
) -> tuple[Host | None, Decision]:
    """The scheduler's decision before the capacity index: filter every host, weigh the candidates."""
    tried: set[str] = set()
    while True:
        decision = choose_hosts(index.candidates(), spec, policy, exclude=frozenset(tried))
        if not decision.ranked:
            return None, decision
        host = index.by_name(decision.ranked[0])
        try:
            host.claim(server_id, spec.resources)
        except InsufficientCapacity:
            tried.add(host.name)
            continue
        return host, decision


def build_cloud(hosts: int, rng: random.Random) -> Cloud:
    """Hosts of mixed hardware and fill: a few empty, most partly used, some nearly full;
    about 5% down, 2% disabled and 1% forced down."""
    cloud = Cloud({"PERSISTENCE_MODULE": "eventsourcing.popo"})
    kinds, weights = zip(*HARDWARE, strict=True)
    batch: list[Host] = []
    for i in range(hosts):
        vcpus, memory_mb, disk_gb = rng.choices(kinds, weights)[0]
        inventories = default_inventories(vcpus, memory_mb, disk_gb)
        host = Host(name=f"compute{i:05d}", inventories=inventories_to_dict(inventories), hypervisor={})
        state = rng.random()
        if state >= 0.05:
            host.report_alive()
        if 0.05 <= state < 0.07:
            host.disable("maintenance")
        elif 0.07 <= state < 0.08:
            host.force_down(True)
        fill = rng.choice([0.0, rng.uniform(0.1, 0.8), rng.uniform(0.1, 0.8), rng.uniform(0.85, 1.0)])
        if fill:
            used = {
                VCPU: round(fill * vcpus),
                MEMORY_MB: round(fill * inventories[MEMORY_MB].capacity),
                DISK_GB: round(fill * 0.7 * disk_gb),
            }
            host.claim(f"existing-{i}", used)  # the servers already there, as one allocation
        batch.append(host)
        if len(batch) == BATCH:
            cloud.save(*batch)
            batch = []
    if batch:
        cloud.save(*batch)
    return cloud


def caught_up(cloud: Cloud) -> HostIndex:
    index = HostIndex(cloud)
    index.catch_up(cloud.recorder.max_notification_id() or 0)
    return index


def place(
    index: HostIndex, decide: Decide, requests: list[RequestSpec], policy: SchedulerPolicy
) -> tuple[list[float], list[str | None]]:
    """Decision times in ms (after a warm-up) and the host each server went to."""
    times: list[float] = []
    chosen: list[str | None] = []
    for n, request in enumerate(requests):
        started = time.perf_counter_ns()
        host, _ = decide(index, f"server-{n}", request, policy)
        elapsed = (time.perf_counter_ns() - started) / 1e6
        chosen.append(host.name if host else None)
        if n >= WARM_UP:
            times.append(elapsed)
    return times, chosen


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100,1000,10000,50000", help="host counts, comma-separated")
    parser.add_argument("--decisions", type=int, default=1000, help="servers the index places per size")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--max-candidates", type=int, default=SchedulerPolicy().max_candidates, help="hosts weighed per decision"
    )
    args = parser.parse_args()
    policy = SchedulerPolicy(max_candidates=args.max_candidates)  # Nova's default filters and weighers
    rng = random.Random(args.seed)
    names, weighted = zip(*FLAVORS.values(), strict=True)
    print(
        f"{'hosts':>6} {'events':>7} {'catch-up':>9} | {'index p50':>9} {'p99':>9} {'n':>5} "
        f"| {'scan p50':>9} {'p99':>9} {'n':>5} | {'speed-up':>8} same-hosts  no-valid-host"
    )
    for size in (int(s) for s in args.sizes.split(",")):
        cloud = build_cloud(size, rng)
        events = cloud.recorder.max_notification_id() or 0
        started = time.perf_counter()
        index = caught_up(cloud)
        catch_up_s = time.perf_counter() - started
        scan = caught_up(cloud)
        flavors = rng.choices(names, weighted, k=args.decisions + WARM_UP)
        requests = [RequestSpec(resources=flavor_resources(vcpus, ram, disk, 0, 0)) for vcpus, ram, disk in flavors]
        scan_decisions = min(len(requests), max(WARM_UP + 30, FULL_SCAN_BUDGET // size))

        index_ms, index_hosts = place(index, claim_best_host, requests, policy)
        scan_ms, scan_hosts = place(scan, full_scan_claim, requests[:scan_decisions], policy)

        same = index_hosts[:scan_decisions] == scan_hosts
        print(
            f"{size:>6} {events:>7} {catch_up_s:>8.2f}s | "
            f"{statistics.median(index_ms):>6.3f} ms {percentile(index_ms, 0.99):>6.3f} ms {len(index_ms):>5} | "
            f"{statistics.median(scan_ms):>6.2f} ms {percentile(scan_ms, 0.99):>6.2f} ms {len(scan_ms):>5} | "
            f"{statistics.median(scan_ms) / statistics.median(index_ms):>7.0f}x {'yes' if same else 'NO':>10}"
            f"  {index_hosts.count(None):>13}",
            flush=True,
        )


if __name__ == "__main__":
    main()
