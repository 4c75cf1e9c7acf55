"""Tamper evidence on real PostgreSQL: seal the log, then alter and delete stored events with SQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import psycopg
import pytest

from chronova.audit.integrity import Sealer, check_integrity
from chronova.cloud import Cloud
from chronova.config import Settings
from chronova.follower import LogFollower
from domain.host import Host
from domain.placement import default_inventories, inventories_to_dict
from tests.conftest import temporary_database, wait_for


@pytest.fixture
def store() -> Iterator[tuple[str, Cloud, Settings]]:
    with temporary_database() as url:
        settings = Settings(database_url=url)
        cloud = Cloud(settings.store_env(create_tables=True))
        yield url, cloud, settings
        cloud.close()


def register_hosts(cloud: Cloud, names: list[str]) -> list[Host]:
    inventories = inventories_to_dict(default_inventories(8, 16384, 100))
    hosts = [Host(name=name, inventories=inventories, hypervisor={}) for name in names]
    for host in hosts:
        host.claim("s1", {"VCPU": 1})
        host.release("s1")
    cloud.save(*hosts)
    return hosts


def sql(url: str, statement: str, *params: object) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(statement, params).rowcount


def test_untouched_store_checks_clean_and_sealing_twice_seals_nothing_new(store):
    _, cloud, _ = store
    register_hosts(cloud, ["h1", "h2"])
    sealer = Sealer(cloud)
    assert sealer.seal_to_head() == 6
    assert sealer.seal_to_head() == 0
    assert check_integrity(cloud) == []


def test_altered_and_deleted_events_are_each_reported(store):
    url, cloud, _ = store
    h1, h2 = register_hosts(cloud, ["h1", "h2"])
    Sealer(cloud).seal_to_head()
    # An operator "fixing" history: rewrite h1's claim, drop h2's claim.
    altered = sql(
        url,
        "UPDATE chronova_events SET state = convert_to(replace(convert_from(state, 'UTF8'), '\"VCPU\":1',"
        " '\"VCPU\":0'), 'UTF8') WHERE originator_id = %s AND originator_version = 2",
        h1.id,
    )
    deleted = sql(url, "DELETE FROM chronova_events WHERE originator_id = %s AND originator_version = 2", h2.id)
    assert (altered, deleted) == (1, 1)
    problems = check_integrity(cloud)
    assert len(problems) == 3, problems
    assert problems[0].startswith(f"altered: {h1.id} version 2 ")
    assert problems[1].startswith(f"missing: {h2.id} version 2 ") and "no longer stored" in problems[1]
    assert problems[2].startswith(f"missing: {h2.id} version 2 ") and "before notification" in problems[2]


def test_an_event_slipped_in_behind_the_sealer_and_an_edited_seal_are_reported(store):
    url, cloud, _ = store
    (h1,) = register_hosts(cloud, ["h1"])
    # Notification ids have gaps where transactions rolled back: leave 4-10 unused.
    sql(url, "SELECT setval('chronova_events_notification_id_seq', 10)")
    register_hosts(cloud, ["h2"])
    Sealer(cloud).seal_to_head()
    sql(
        url, "UPDATE audit_seals SET chain = md5(chain) WHERE originator_id = %s AND originator_version = 1", str(h1.id)
    )
    # A copy of h1's last event as a fake version 4, in a gap inside the sealed range.
    sql(
        url,
        "INSERT INTO chronova_events (originator_id, originator_version, topic, state, notification_id)"
        " SELECT originator_id, 4, topic, state, 5 FROM chronova_events WHERE originator_id = %s"
        " AND originator_version = 3",
        h1.id,
    )
    problems = check_integrity(cloud)
    assert problems[0].startswith(f"broken chain: the seal of {h1.id} version 1 ")
    assert problems[1] == f"unsealed: {h1.id} version 4 (notification 5) was stored behind the sealer's back"
    assert len(problems) == 2, problems


def test_the_sealer_component_seals_events_as_they_are_stored(store):
    url, cloud, settings = store
    stop = threading.Event()
    follower = LogFollower(cloud, settings)
    sealer = Sealer(cloud)
    thread = threading.Thread(target=sealer.run, args=(follower, stop), daemon=True)
    thread.start()
    try:
        register_hosts(cloud, ["h1"])
        wait_for(lambda: sealer.seals.position() == 3, timeout=10, what="the sealer to seal 3 events")
        register_hosts(cloud, ["h2", "h3"])
        wait_for(lambda: sealer.seals.position() == 9, timeout=10, what="the sealer to seal 9 events")
    finally:
        stop.set()
        thread.join(timeout=5)
        follower.close()
    assert check_integrity(cloud) == []
    sql(url, "DELETE FROM chronova_events WHERE notification_id = 9")
    assert check_integrity(cloud) == [
        f"missing: {Host.create_id('h3')} version 3 (notification 9) was sealed but is no longer stored"
    ]
