"""The compute agent carrying out host actions on libvirt's test driver (no daemon):
each action leaves the domain where Nova's leaves it, a redelivered request finds
it there already, and what it did is reported signed for the conductor."""

from __future__ import annotations

import time
import uuid
from typing import Any

import libvirt
import pytest

from agents.compute import ComputeAgent, tail
from agents.libvirt_driver import LibvirtHypervisor
from chronova.bus import Record
from chronova.bus.memory import MemoryBus, MemoryConsumer
from chronova.host_keys import HostKeys
from chronova.messages import CONSOLE_REQUESTS_TOPIC, REPORTS_TOPIC, SERVER_EVENTS_TOPIC, EventMessage
from chronova.reports import ActionCompleted, ActionFailed, ConsoleUnavailable, Report, decode_report

HOST = "compute1"
KEYS = HostKeys(b"agent-test-secret")


class Host:
    """One simulated host: its agent, its hypervisor, and the reports it sent."""

    def __init__(self) -> None:
        self.hypervisor = LibvirtHypervisor("test:///default", HOST, shutdown_timeout=1, soft_reboot_timeout=1)
        bus = MemoryBus()
        self._reports: MemoryConsumer = bus.consumer([REPORTS_TOPIC])
        self.agent = ComputeAgent({HOST: self.hypervisor}, {HOST: KEYS.key(HOST)}, bus.publisher(), bus.publisher())
        self.server_id = str(uuid.uuid4())
        self._version = 0
        self.receive(SERVER_EVENTS_TOPIC, "Server.Scheduled", {"name": "vm", "flavor": {"vcpus": 1, "ram": 64}})
        self.reports()

    def receive(self, topic: str, event_type: str, data: dict[str, Any], aggregate_id: str | None = None) -> None:
        self._version += 1
        message = EventMessage(
            notification_id=self._version,
            event_type=event_type,
            aggregate_id=aggregate_id or self.server_id,
            version=self._version,
            timestamp=time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()),
            data={"host": HOST, **data},
        )
        self.agent.handle(Record(topic, 0, self._version, message.aggregate_id, message.to_json()))

    def act(self, action: str, **args: Any) -> Report:
        request_id = f"req-{uuid.uuid4()}"
        self.receive(
            SERVER_EVENTS_TOPIC, "Server.ActionRequested", {"action": action, "args": args, "request_id": request_id}
        )
        (report,) = self.reports()
        assert report.request_id == request_id  # type: ignore[union-attr]
        return report

    def reports(self) -> list[Report]:
        records = self._reports.poll(0.1)
        self._reports.commit()
        return [decode_report(record.value, KEYS, time.time()) for record in records]

    def domain_state(self) -> tuple[int, bool]:
        """libvirt's state of the domain, and whether it has a managed save image (a suspended server)."""
        domain = self.hypervisor._conn.lookupByUUIDString(self.server_id)
        return domain.state()[0], bool(domain.hasManagedSaveImage(0))


RUNNING = (libvirt.VIR_DOMAIN_RUNNING, False)
SHUT_OFF = (libvirt.VIR_DOMAIN_SHUTOFF, False)
PAUSED = (libvirt.VIR_DOMAIN_PAUSED, False)
SAVED = (libvirt.VIR_DOMAIN_SHUTOFF, True)


@pytest.mark.parametrize(
    ("before", "action", "args", "power_state", "domain"),
    [
        ([], "stop", {}, 4, SHUT_OFF),
        (["stop"], "start", {}, 1, RUNNING),
        ([], "reboot", {"type": "SOFT"}, 1, RUNNING),
        ([], "reboot", {"type": "HARD"}, 1, RUNNING),
        (["stop"], "reboot", {"type": "HARD"}, 1, RUNNING),
        (["suspend"], "reboot", {"type": "HARD"}, 1, RUNNING),  # the saved memory is dropped
        ([], "pause", {}, 3, PAUSED),
        (["pause"], "unpause", {}, 1, RUNNING),
        ([], "suspend", {}, 4, SAVED),
        (["pause"], "suspend", {}, 4, SAVED),
        (["suspend"], "resume", {}, 1, RUNNING),
    ],
)
def test_each_action_leaves_the_domain_where_novas_does(
    before: list[str], action: str, args: dict[str, Any], power_state: int, domain: tuple[int, bool]
) -> None:
    host = Host()
    for step in before:
        assert isinstance(host.act(step), ActionCompleted)

    report = host.act(action, **args)

    assert report == ActionCompleted(HOST, host.server_id, report.request_id, action, power_state)  # type: ignore[union-attr]
    assert host.domain_state() == domain


@pytest.mark.parametrize(
    ("action", "domain"), [("stop", SHUT_OFF), ("pause", PAUSED), ("suspend", SAVED), ("start", RUNNING)]
)
def test_a_redelivered_request_finds_the_domain_there_already(action: str, domain: tuple[int, bool]) -> None:
    host = Host()
    if action == "start":
        host.act("stop")
    first = host.act(action)

    again = host.act(action)

    assert isinstance(first, ActionCompleted) and isinstance(again, ActionCompleted)
    assert first.power_state == again.power_state
    assert host.domain_state() == domain


def test_an_action_the_domain_cannot_take_is_reported_failed_with_its_power_state() -> None:
    host = Host()
    host.act("stop")

    report = host.act("unpause")

    assert isinstance(report, ActionFailed)
    assert report.power_state == 4
    assert "is not paused but SHUTDOWN" in report.reason
    assert host.domain_state() == SHUT_OFF


def test_an_action_on_a_missing_domain_fails_but_a_stop_finds_it_off() -> None:
    host = Host()
    host.hypervisor.destroy(host.server_id)

    started = host.act("start")
    stopped = host.act("stop")

    assert isinstance(started, ActionFailed) and started.power_state == 0
    assert isinstance(stopped, ActionCompleted) and stopped.power_state == 0


def test_a_console_request_for_a_domain_without_a_console_file_is_answered_unavailable() -> None:
    host = Host()
    request_id = str(uuid.uuid4())

    host.receive(
        CONSOLE_REQUESTS_TOPIC,
        "ConsoleOutputRequest.Created",
        {"server_id": host.server_id, "length": 10},
        aggregate_id=request_id,
    )

    (report,) = host.reports()
    assert report == ConsoleUnavailable(HOST, request_id, "Guest does not have a console available.")


def test_requests_for_other_hosts_are_ignored() -> None:
    host = Host()
    host.receive(
        SERVER_EVENTS_TOPIC, "Server.ActionRequested", {"action": "stop", "args": {}, "request_id": "r", "host": "h2"}
    )

    assert host.reports() == []
    assert host.domain_state() == RUNNING


@pytest.mark.parametrize(
    ("length", "expected"),
    [(None, "a\nb\nc\n"), (-1, "a\nb\nc\n"), (0, ""), (1, ""), (2, "c\n"), (10, "a\nb\nc\n")],
)
def test_the_tail_of_a_console_is_cut_by_lines_as_nova_does(length: int | None, expected: str) -> None:
    assert tail("a\nb\nc\n", length) == expected
