"""Hosts whose heartbeats stop are marked down after service_down_time, and
come back up with their next heartbeat (on a real embedded store)."""

import time
from pathlib import Path

from chronova.bus import Record
from chronova.cloud import Cloud
from chronova.conductor import Conductor
from chronova.config import Settings
from chronova.host_keys import HostKeys
from chronova.liveness import HostLiveness
from chronova.messages import REPORTS_TOPIC
from chronova.reports import Heartbeat, encode_report
from domain.placement import default_inventories, inventories_to_dict


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


KEYS = HostKeys(b"cloud-secret")


def heartbeat(conductor: Conductor, host: str) -> None:
    report = Heartbeat(host=host, inventories=inventories_to_dict(default_inventories(4, 4096, 40)), hypervisor={})
    conductor.handle(Record(REPORTS_TOPIC, 0, 0, host, encode_report(report, KEYS.key(host), time.time())))
    conductor.flush()


def test_a_silent_host_goes_down_and_its_next_heartbeat_brings_it_back(tmp_path: Path) -> None:
    cloud = Cloud(Settings(database_url=f"sqlite:///{tmp_path}").store_env())
    clock = Clock()
    liveness = HostLiveness(cloud, down_after=60, clock=clock)
    conductor = Conductor(cloud, liveness, KEYS)
    heartbeat(conductor, "quiet")
    heartbeat(conductor, "chatty")
    assert cloud.host("quiet").up and cloud.host("chatty").up

    clock.now += 59
    heartbeat(conductor, "chatty")
    assert liveness.check() == []

    clock.now += 2
    assert liveness.check() == ["quiet"]
    assert not cloud.host("quiet").up and cloud.host("chatty").up
    assert liveness.check() == []  # already down: nothing more recorded

    heartbeat(conductor, "quiet")
    assert cloud.host("quiet").up


def test_hosts_up_before_the_watcher_started_get_the_full_grace_period(tmp_path: Path) -> None:
    cloud = Cloud(Settings(database_url=f"sqlite:///{tmp_path}").store_env())
    heartbeat(Conductor(cloud, HostLiveness(cloud, down_after=60), KEYS), "old")
    clock = Clock()
    liveness = HostLiveness(cloud, down_after=60, clock=clock)  # a restarted conductor
    assert liveness.check() == []
    clock.now += 61
    assert liveness.check() == ["old"]
