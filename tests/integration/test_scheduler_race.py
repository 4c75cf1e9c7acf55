"""Two schedulers, two processes' worth of connections, one last slot:
never over-commit, and the loser goes elsewhere or to ERROR."""

from __future__ import annotations

import logging
import threading

import pytest

from chronova.cloud import Cloud
from chronova.config import Settings
from chronova.scheduler import Scheduler
from chronova.seed import SEED_IMAGE_ID, seed
from domain.commands import CreateServer, RequestContext
from domain.host import Host
from domain.placement import MEMORY_MB, default_inventories, inventories_to_dict

pytestmark = pytest.mark.integration

CTX = RequestContext(project_id="admin", user_id="admin", request_id="req-race", is_admin=True)


def register_host(cloud: Cloud, name: str, memory_mb: int) -> None:
    host = Host(name=name, inventories=inventories_to_dict(default_inventories(8, memory_mb, 100)), hypervisor={})
    host.report_alive()
    cloud.save(host)


def race(clouds: list[Cloud], schedulers: list[Scheduler], server_ids: list) -> list[str | None]:
    """Each scheduler places its own server at the same moment, from the same (stale) view."""
    position = clouds[0].recorder.max_notification_id()
    for scheduler in schedulers:
        scheduler.index.catch_up(position)
    barrier = threading.Barrier(len(schedulers))
    results: list[str | None] = [None] * len(schedulers)

    def place(i: int) -> None:
        barrier.wait()
        results[i] = schedulers[i].schedule(server_ids[i])

    threads = [threading.Thread(target=place, args=(i,)) for i in range(len(schedulers))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return results


@pytest.fixture
def clouds(postgres_url: str) -> list[Cloud]:
    settings = Settings(database_url=postgres_url)
    first = Cloud(settings.store_env(create_tables=True))
    seed(first, Settings())
    return [first, Cloud(settings.store_env(create_tables=False))]


def test_the_last_slot_goes_to_one_server_and_the_other_goes_elsewhere(
    clouds: list[Cloud], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="chronova.scheduler")
    writer = clouds[0]
    for round_ in range(10):
        # "a" has exactly one m1.tiny slot and the most free RAM, so both schedulers pick it first.
        register_host(writer, f"a{round_}", 1024)
        register_host(writer, f"b{round_}", 1024)  # same room; the name breaks the tie
        servers = [
            writer.create_server(CreateServer(name=f"s{round_}-{i}", flavor_ref="1", image_ref=str(SEED_IMAGE_ID)), CTX)
            for i in range(2)
        ]
        results = race(clouds, [Scheduler(c) for c in clouds], [s.id for s in servers])
        assert sorted(results) == sorted([f"a{round_}", f"b{round_}"]), results
        for name in (f"a{round_}", f"b{round_}"):
            host = writer.host(name)
            assert host.usage[MEMORY_MB] <= host.inventories[MEMORY_MB].capacity
    # Both schedulers decided from the same view every round, so every round had a lost race.
    assert sum("lost a race" in message for message in caplog.messages) == 10


def test_with_one_slot_in_the_cloud_the_loser_is_no_valid_host(clouds: list[Cloud]) -> None:
    writer = clouds[0]
    register_host(writer, "only", 1024)
    servers = [
        writer.create_server(CreateServer(name=f"s{i}", flavor_ref="1", image_ref=str(SEED_IMAGE_ID)), CTX)
        for i in range(2)
    ]
    results = race(clouds, [Scheduler(c) for c in clouds], [s.id for s in servers])
    assert sorted(results, key=str) == sorted(["only", None], key=str)
    states = sorted(writer.server(s.id).vm_state for s in servers)
    assert states == ["building", "error"]
    errored = next(writer.server(s.id) for s in servers if writer.server(s.id).vm_state == "error")
    assert errored.fault["message"].startswith("No valid host was found")
    assert len(writer.host("only").allocations) == 1
