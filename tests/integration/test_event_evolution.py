"""Event evolution and snapshots on real PostgreSQL.

Evolution: an aggregate module is written as version 1, its events stored,
then the module is rewritten as version 2 (a new required field, upcast from
v1) and the same stored events are read as v2. Snapshots: a Host loaded from
its latest snapshot plus the later events equals a full replay of its events.
"""

from __future__ import annotations

import importlib
import json
import sys
import textwrap
from collections.abc import Iterator

import psycopg
import pytest
from eventsourcing.application import project_aggregate
from eventsourcing.utils import clear_topic_cache

from chronova.aggregate_snapshots import HOST_SNAPSHOT_INTERVAL
from chronova.audit.cli import main
from chronova.cloud import Cloud
from chronova.config import Settings
from domain.host import Host
from domain.placement import default_inventories, inventories_to_dict
from tests.conftest import temporary_database

V1 = """
from eventsourcing.domain import Aggregate, event


class Probe(Aggregate):
    @event("Created")
    def __init__(self, name: str) -> None:
        self.name = name

    def rename(self, name: str) -> None:
        self._renamed(name=name)

    @event("Renamed")
    def _renamed(self, name: str) -> None:
        self.name = name
"""

V2 = """
from eventsourcing.domain import Aggregate, event


class Probe(Aggregate):
    @event("Created")
    def __init__(self, name: str) -> None:
        self.name = name
        self.reasons = []

    class Renamed(Aggregate.Event):
        class_version = 2
        name: str
        reason: str

        @staticmethod
        def upcast_v1_v2(state):
            state["reason"] = "not recorded before v2"

    def rename(self, name: str, reason: str) -> None:
        self._renamed(name=name, reason=reason)

    @event(Renamed)
    def _renamed(self, name: str, reason: str) -> None:
        self.name = name
        self.reasons.append(reason)
"""


@pytest.fixture
def url() -> Iterator[str]:
    with temporary_database() as database_url:
        yield database_url


@pytest.fixture
def probe_module(tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    """Writes the probe module's source as one version or another, and imports it afresh."""
    monkeypatch.syspath_prepend(str(tmp_path))

    def write(source: str):  # type: ignore[no-untyped-def]
        (tmp_path / "evolving_probe.py").write_text(textwrap.dedent(source))
        sys.modules.pop("evolving_probe", None)  # a new process would see only the new source
        clear_topic_cache()
        importlib.invalidate_caches()
        return importlib.import_module("evolving_probe")

    yield write
    sys.modules.pop("evolving_probe", None)
    clear_topic_cache()


def test_v1_events_are_read_as_v2_after_the_class_changes(url, probe_module, capsys):
    settings = Settings(database_url=url)
    v1 = probe_module(V1)
    cloud = Cloud(settings.store_env(create_tables=True))
    probe = v1.Probe("first")
    probe.rename("second")
    cloud.save(probe)
    cloud.close()

    v2 = probe_module(V2)
    cloud = Cloud(settings.store_env(create_tables=False))
    renamed = list(cloud.events.get(probe.id))[1]
    assert type(renamed) is v2.Probe.Renamed
    assert (renamed.name, renamed.reason) == ("second", "not recorded before v2")
    loaded = cloud.repository.get(probe.id)
    assert (loaded.name, loaded.reasons) == ("second", ["not recorded before v2"])
    loaded.rename("third", reason="typo")
    cloud.save(loaded)
    with psycopg.connect(url) as conn:
        states = conn.execute(
            "SELECT state FROM chronova_events WHERE originator_id = %s ORDER BY originator_version", (probe.id,)
        ).fetchall()
    recorded = [json.loads(state) for (state,) in states]
    assert [r.get("class_version", 1) for r in recorded] == [1, 1, 2]

    assert main(["--database-url", url, "history", "aggregate", str(probe.id), "--json"]) == 0
    events = json.loads(capsys.readouterr().out)["events"]
    assert [(e["event"], e["class_version"], e["recorded_class_version"]) for e in events] == [
        ("Probe.Created", 1, 1),
        ("Probe.Renamed", 2, 1),
        ("Probe.Renamed", 2, 2),
    ]
    assert [e["details"].get("reason") for e in events] == [None, "not recorded before v2", "typo"]
    cloud.close()


def test_a_host_from_its_snapshot_and_later_events_equals_a_full_replay(url):
    cloud = Cloud(Settings(database_url=url).store_env(create_tables=True))
    host = Host(name="h1", inventories=inventories_to_dict(default_inventories(64, 65536, 1000)), hypervisor={})
    cloud.save(host)
    for n in range(125):  # 250 claims and releases, saved in batches as the scheduler and conductor would
        host.claim(f"server-{n}", {"VCPU": 1, "MEMORY_MB": 256})
        if n % 3:
            host.release(f"server-{n}")
        host.report_alive() if n % 2 else host.report_silent()
        if n % 10 == 9:
            cloud.save(host)
    cloud.save(host)
    snapshot_versions = [s.originator_version for s in cloud.snapshots.get(host.id)]  # type: ignore[union-attr]
    assert snapshot_versions == list(range(HOST_SNAPSHOT_INTERVAL, host.version + 1, HOST_SNAPSHOT_INTERVAL))
    assert len(snapshot_versions) >= 2

    replayed = project_aggregate(None, cloud.events.get(host.id))
    between = project_aggregate(None, cloud.events.get(host.id, lte=snapshot_versions[0] + 37))
    loaded = cloud.host("h1")
    assert vars(loaded) == vars(replayed) == vars(host)
    assert vars(cloud.repository.get(host.id, version=snapshot_versions[0] + 37)) == vars(between)

    # Proof that loading starts from the snapshot: without the events it covers, the host still loads the same.
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "DELETE FROM chronova_events WHERE originator_id = %s AND originator_version <= %s",
            (host.id, snapshot_versions[-1]),
        )
    assert vars(Cloud(Settings(database_url=url).store_env(create_tables=False)).host("h1")) == vars(replayed)
    cloud.close()
