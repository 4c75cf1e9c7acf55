"""Claims under concurrency, on one real store (SQLite file): for random hosts
and flavors, several schedulers (each with its own connection, in its own
thread) place the same servers at once. Whatever the interleaving: no host is
over-committed, no claim is lost (every placed server holds exactly one
allocation, on its host, and nothing else is allocated), and when the servers
go away, with every delete report delivered twice by two conductors, each
allocation is released exactly once."""

from __future__ import annotations

import tempfile
import threading
import uuid
from collections import Counter

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chronova.cloud import Cloud
from chronova.conductor import Conductor
from chronova.config import Settings
from chronova.reports import Deleted
from chronova.scheduler import Scheduler
from domain.commands import CreateFlavor, CreateServer, RequestContext
from domain.host import Host
from domain.placement import DISK_GB, MEMORY_MB, VCPU, default_inventories, inventories_to_dict
from domain.states import VmState

CTX = RequestContext(project_id="admin", user_id="admin", request_id="req-claims", is_admin=True)
IMAGE = uuid.UUID("8c0fd8f3-2c0c-4bd5-a9a4-1b16b8c1a2f4")

hosts = st.lists(
    st.tuples(st.integers(1, 4), st.sampled_from([1024, 1536, 2048, 4096]), st.integers(2, 20)),
    min_size=1,
    max_size=4,
)
flavors = st.lists(
    st.tuples(st.integers(1, 4), st.sampled_from([256, 512, 1024]), st.integers(0, 5)), min_size=2, max_size=10
)


def new_store(directory: str, shapes: list[tuple[int, int, int]], wanted: list[tuple[int, int, int]]) -> list:
    cloud = Cloud(Settings(database_url=f"sqlite:///{directory}").store_env())
    cloud.register_image(
        IMAGE,
        name="img",
        owner="admin",
        disk_format="qcow2",
        container_format="bare",
        min_disk=0,
        min_ram=0,
        size=1,
        visibility="public",
    )
    for i, (vcpus, memory_mb, disk_gb) in enumerate(shapes):
        host = Host(
            name=f"h{i}", inventories=inventories_to_dict(default_inventories(vcpus, memory_mb, disk_gb)), hypervisor={}
        )
        host.report_alive()
        cloud.save(host)
    server_ids = []
    for i, (vcpus, ram, disk) in enumerate(wanted):
        cloud.create_flavor(CreateFlavor(name=f"f{i}", vcpus=vcpus, ram=ram, disk=disk, flavorid=f"f{i}"))
        server = cloud.create_server(CreateServer(name=f"s{i}", flavor_ref=f"f{i}", image_ref=str(IMAGE)), CTX)
        server_ids.append(server.id)
    return server_ids


def in_threads(count: int, work) -> None:  # type: ignore[no-untyped-def]
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        barrier.wait()
        try:
            work(i)
        except BaseException as e:  # re-raised below, in the test's thread
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hosts, flavors, st.integers(2, 3))
def test_concurrent_schedulers_never_overcommit_or_lose_a_claim(
    shapes: list[tuple[int, int, int]], wanted: list[tuple[int, int, int]], schedulers: int
) -> None:
    with tempfile.TemporaryDirectory() as directory:
        server_ids = new_store(directory, shapes, wanted)
        url = f"sqlite:///{directory}"
        clouds = [Cloud(Settings(database_url=url).store_env(create_tables=False)) for _ in range(schedulers)]
        placing = [Scheduler(cloud) for cloud in clouds]
        for scheduler in placing:
            scheduler.index.catch_up(clouds[0].recorder.max_notification_id() or 0)

        # Every scheduler places every server, in a different order: the same decisions race.
        orders = [server_ids if i % 2 == 0 else server_ids[::-1] for i in range(schedulers)]
        in_threads(schedulers, lambda i: [placing[i].schedule(s) for s in orders[i]])

        store = clouds[0]
        host_names = [f"h{i}" for i in range(len(shapes))]
        by_host = {name: store.host(name) for name in host_names}
        for host in by_host.values():
            for rc in (VCPU, MEMORY_MB, DISK_GB):
                assert host.usage.get(rc, 0) <= host.inventories[rc].capacity, (host.name, rc)
        allocated = Counter(server for host in by_host.values() for server in host.allocations)
        for server_id in server_ids:
            server = store.server(server_id)
            if server.host is None:
                assert server.vm_state == VmState.ERROR and server.fault["message"].startswith("No valid host")
                assert allocated[str(server_id)] == 0
            else:
                assert str(server_id) in by_host[server.host].allocations
                assert allocated[str(server_id)] == 1
        assert set(allocated) <= {str(s) for s in server_ids}

        # The servers go away; both conductors get every delete report (at-least-once delivery).
        for server_id in server_ids:
            store.delete_server(server_id, CTX)
        reports = [Deleted(host=store.server(s).host, server_id=str(s)) for s in server_ids if store.server(s).host]
        conductors = [Conductor(cloud, None, None) for cloud in clouds[:2]]  # type: ignore[arg-type]
        in_threads(2, lambda i: [conductors[i].apply_now(report) for report in reports * 2])

        for name in host_names:
            host = store.host(name)
            assert host.allocations == {} and all(amount == 0 for amount in host.usage.values())
            released = Counter(
                e.server_id
                for e in store.repository.event_store.get(host.id)
                if type(e).__name__ == "AllocationReleased"
            )
            claimed = Counter(
                e.server_id
                for e in store.repository.event_store.get(host.id)
                if type(e).__name__ == "AllocationClaimed"
            )
            assert released == claimed and set(released.values()) <= {1}
        for server_id in server_ids:
            assert store.server(server_id).vm_state == VmState.DELETED
