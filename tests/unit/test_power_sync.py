"""Nova's power-state sync: a host reports what its domains are doing, the conductor
decides what that means for each server (a domain shut off behind Chronova's back
stops its server), and a domain Chronova does not know is reported, never touched."""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import libvirt
import pytest
from falcon.testing import TestClient

from agents.libvirt_driver import LibvirtHypervisor
from agents.power_sync import PowerStateSync
from chronova.bus import Record
from chronova.bus.memory import MemoryBus
from chronova.cloud import Cloud
from chronova.conductor import Conductor
from chronova.host_keys import HostKeys, derive_host_key, signature
from chronova.liveness import HostLiveness
from chronova.messages import REPORTS_TOPIC, MalformedMessage
from chronova.reports import (
    MAX_SYNCED_DOMAINS,
    ActionCompleted,
    Deleted,
    PowerStates,
    Report,
    decode_report,
    encode_report,
)
from domain.errors import WrongHost
from domain.host import Host
from domain.placement import default_inventories, inventories_to_dict
from domain.power_sync import vm_state_after_sync
from domain.states import PowerState, VmState
from tests.unit.conftest import DEMO, LATEST
from tests.unit.test_server import new_server, replayed

HOST = "compute1"
OTHER_HOST = "compute2"
SECRET = "unit-test-secret"
KEYS = HostKeys(SECRET.encode())
SERVER = "0b0f8c55-0c36-4f0e-9d8f-4e2f3b1f1a11"


# --- the rule -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("vm_state", "power_state", "after"),
    [
        (VmState.ACTIVE, PowerState.SHUTDOWN, VmState.STOPPED),
        (VmState.ACTIVE, PowerState.CRASHED, VmState.STOPPED),
        (VmState.ACTIVE, PowerState.SUSPENDED, VmState.STOPPED),
        (VmState.ACTIVE, PowerState.PAUSED, VmState.ACTIVE),
        (VmState.ACTIVE, PowerState.NOSTATE, VmState.ACTIVE),
        (VmState.PAUSED, PowerState.SHUTDOWN, VmState.STOPPED),
        (VmState.PAUSED, PowerState.NOSTATE, VmState.PAUSED),
        (VmState.STOPPED, PowerState.RUNNING, VmState.STOPPED),
        (VmState.SUSPENDED, PowerState.SHUTDOWN, VmState.SUSPENDED),
        (VmState.ERROR, PowerState.SHUTDOWN, VmState.ERROR),
    ],
)
def test_only_an_active_or_paused_server_whose_guest_went_down_is_stopped(
    vm_state: VmState, power_state: PowerState, after: VmState
) -> None:
    assert vm_state_after_sync(vm_state, power_state) == after


def running_server() -> Any:
    server = new_server()
    server.schedule(HOST)
    server.record_spawned(HOST, PowerState.RUNNING)
    return server


def later(server: Any) -> datetime:
    return server.modified_on + timedelta(seconds=1)


def test_a_domain_found_shut_off_stops_its_server_and_the_events_replay_to_it() -> None:
    server = running_server()

    assert server.sync_power_state(HOST, PowerState.SHUTDOWN, later(server))

    assert (server.vm_state, server.power_state) == (VmState.STOPPED, PowerState.SHUTDOWN)
    rebuilt = replayed(server)
    assert (rebuilt.vm_state, rebuilt.power_state) == (VmState.STOPPED, PowerState.SHUTDOWN)


def test_the_sync_records_nothing_when_nothing_differs_or_a_task_or_a_later_change_may_explain_it() -> None:
    server = running_server()
    assert not server.sync_power_state(HOST, PowerState.RUNNING, later(server))
    # Seen before the server's last change: that change may be what the host had not yet done.
    assert not server.sync_power_state(HOST, PowerState.SHUTDOWN, server.modified_on - timedelta(seconds=1))
    server.request_action(_stop(), is_admin=False, request_id="req-2", user_id="u1")
    assert not server.sync_power_state(HOST, PowerState.SHUTDOWN, later(server))
    assert server.vm_state == VmState.ACTIVE


def test_a_host_cannot_sync_a_server_placed_elsewhere() -> None:
    server = running_server()
    with pytest.raises(WrongHost):
        server.sync_power_state(OTHER_HOST, PowerState.SHUTDOWN, later(server))
    assert server.vm_state == VmState.ACTIVE


def _stop() -> Any:
    from domain.host_actions import host_action

    return host_action("stop", {})


# --- the report -----------------------------------------------------------------------------------
def test_a_power_states_report_round_trips() -> None:
    report = PowerStates(HOST, time.time(), {SERVER: 4}, ["guest-made-by-hand"])
    assert decode_report(encode_report(report, KEYS.key(HOST), time.time()), KEYS, time.time()) == report


_REPORT = {"type": "power_states", "host": HOST, "observed_at": 1.0, "domains": {SERVER: 1}, "foreign": []}


@pytest.mark.parametrize(
    "body",
    [
        {**_REPORT, "domains": {"not-a-uuid": 1}},
        {**_REPORT, "domains": {SERVER: 2}},
        {**_REPORT, "domains": {SERVER: "1"}},
        {**_REPORT, "domains": [SERVER]},
        {**_REPORT, "domains": {str(uuid.uuid4()): 1 for _ in range(MAX_SYNCED_DOMAINS + 1)}},
        {**_REPORT, "foreign": "one"},
        {**_REPORT, "foreign": ["x" * 256]},
        {**_REPORT, "observed_at": -1},
        {**_REPORT, "observed_at": "now"},
        {key: value for key, value in _REPORT.items() if key != "foreign"},
    ],
)
def test_malformed_power_states_reports_are_refused(body: dict[str, Any]) -> None:
    now = time.time()
    signed = {**body, "sent_at": now}
    raw = json.dumps({**signed, "sig": signature(derive_host_key(SECRET.encode(), HOST), signed)}).encode()
    with pytest.raises(MalformedMessage, match="invalid power_states report"):
        decode_report(raw, KEYS, now)


# --- the conductor deciding -----------------------------------------------------------------------
class Cloudside:
    """A DEMO server placed (claimed and spawned) on compute1, and the conductor hearing its host."""

    def __init__(self, cloud: Cloud, client: TestClient, catch_up: Callable[[], None], server_id: str) -> None:
        self.cloud = cloud
        self.client = client
        self.catch_up = catch_up
        self.id = server_id
        self.conductor = Conductor(cloud, HostLiveness(cloud, down_after=60), KEYS)

    def report(self, domains: dict[str, int], foreign: list[str] | None = None, host: str = HOST) -> None:
        report = PowerStates(host, time.time(), domains, foreign or [])
        signed = encode_report(report, KEYS.key(host), time.time())
        self.conductor.handle(Record(REPORTS_TOPIC, 0, 0, host, signed))
        self.conductor.flush()

    def show(self) -> dict[str, Any]:
        self.catch_up()
        result = self.client.simulate_get(f"/v2.1/servers/{self.id}", headers=LATEST)
        assert result.status_code == 200, result.text
        server = result.json["server"]
        return {"status": server["status"], "power_state": server["OS-EXT-STS:power_state"]}


@pytest.fixture
def placed(cloud: Cloud, client: TestClient, catch_up: Callable[[], None], boot: Callable[..., Any]) -> Cloudside:
    server_id = boot(headers=DEMO)["id"]
    inventories = inventories_to_dict(default_inventories(8, 16384, 100))
    hosts = [Host(name=name, inventories=inventories, hypervisor={}) for name in (HOST, OTHER_HOST)]
    hosts[0].claim(server_id, {"VCPU": 1})
    server = cloud.server(uuid.UUID(server_id))
    server.schedule(HOST)
    server.record_spawned(HOST, PowerState.RUNNING)
    cloud.save(*hosts, server)
    time.sleep(0.01)  # the host observes after the spawn was recorded
    return Cloudside(cloud, client, catch_up, server_id)


def test_a_domain_shut_off_behind_chronovas_back_shows_its_server_shutoff(placed: Cloudside) -> None:
    assert placed.show() == {"status": "ACTIVE", "power_state": 1}

    placed.report({placed.id: PowerState.SHUTDOWN})

    assert placed.show() == {"status": "SHUTOFF", "power_state": 4}


def test_an_unchanged_domain_records_nothing(placed: Cloudside) -> None:
    before = placed.cloud.recorder.max_notification_id()
    placed.report({placed.id: PowerState.RUNNING})
    assert placed.cloud.recorder.max_notification_id() == before


def test_a_server_whose_domain_is_gone_keeps_its_state_with_no_power_state(placed: Cloudside) -> None:
    placed.report({})
    assert placed.show() == {"status": "ACTIVE", "power_state": 0}


def test_domains_chronova_does_not_know_are_logged_and_change_nothing(
    placed: Cloudside, caplog: pytest.LogCaptureFixture
) -> None:
    stranger = str(uuid.uuid4())
    before = placed.cloud.recorder.max_notification_id()
    with caplog.at_level(logging.WARNING, logger="chronova.conductor"):
        placed.report({placed.id: PowerState.RUNNING, stranger: PowerState.RUNNING}, foreign=["hand-made"])
    assert placed.cloud.recorder.max_notification_id() == before
    assert stranger in caplog.text
    assert "hand-made" in caplog.text


def test_a_report_about_a_server_on_another_host_is_refused_and_logged(
    placed: Cloudside, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="chronova.conductor"):
        placed.report({placed.id: PowerState.SHUTDOWN}, host=OTHER_HOST)
    assert placed.show() == {"status": "ACTIVE", "power_state": 1}
    assert f"Instance {placed.id} is not on host {OTHER_HOST}" in caplog.text
    # The same report from the server's own host is applied: the test can fail.
    placed.report({placed.id: PowerState.SHUTDOWN})
    assert placed.show()["status"] == "SHUTOFF"


@pytest.mark.parametrize(
    "report", [Deleted, lambda host, server_id: ActionCompleted(host, server_id, "req-1", "stop", 4)]
)
def test_any_report_about_a_server_not_on_its_host_is_refused_and_logged(
    placed: Cloudside, caplog: pytest.LogCaptureFixture, report: Callable[[str, str], Report]
) -> None:
    before = placed.cloud.recorder.max_notification_id()
    signed = encode_report(report(OTHER_HOST, placed.id), KEYS.key(OTHER_HOST), time.time())
    with caplog.at_level(logging.WARNING, logger="chronova.conductor"):
        placed.conductor.handle(Record(REPORTS_TOPIC, 0, 0, OTHER_HOST, signed))
        placed.conductor.flush()
    assert placed.cloud.recorder.max_notification_id() == before
    assert f"from {OTHER_HOST} dropped: Instance {placed.id} is not on host {OTHER_HOST}" in caplog.text


# --- the agent observing --------------------------------------------------------------------------
def test_the_agent_reports_its_own_domains_and_names_the_foreign_ones_without_touching_them() -> None:
    ours = LibvirtHypervisor("test:///default", HOST)
    theirs = LibvirtHypervisor("test:///default", OTHER_HOST)  # another simulated host on the same driver
    mine, stopped, elsewhere = (str(uuid.uuid4()) for _ in range(3))
    ours.spawn(mine, "vm", 1, 64)
    ours.spawn(stopped, "vm", 1, 64)
    ours.power_off(stopped)
    theirs.spawn(elsewhere, "vm", 1, 64)
    bus = MemoryBus()
    reports = bus.consumer([REPORTS_TOPIC])
    sync = threading.Thread(target=PowerStateSync({HOST: ours}, {HOST: KEYS.key(HOST)}, bus.publisher()).report_once)
    sync.start()  # its flush returns once the report is consumed

    (record,) = reports.poll(5.0)
    reports.commit()
    sync.join(timeout=5)
    report = decode_report(record.value, KEYS, time.time())
    assert isinstance(report, PowerStates)
    assert report.domains[mine] == PowerState.RUNNING
    assert report.domains[stopped] == PowerState.SHUTDOWN
    assert elsewhere not in report.domains
    assert "test" in report.foreign  # the test driver's own domain
    assert libvirt.open("test:///default").lookupByName("test").isActive()
