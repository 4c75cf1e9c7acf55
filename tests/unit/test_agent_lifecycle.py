"""The compute agent carrying out the lifecycle actions on libvirt's test driver: a
rebuild redefines the domain from the new image, rescue and unrescue swap the
rescue image in and out, shelving powers off (and offloading undefines), and a
snapshot's data travels in a signed report; each may be delivered twice."""

from __future__ import annotations

import base64
import uuid

import libvirt
import pytest

from agents.libvirt_driver import instance_metadata
from chronova.messages import SERVER_EVENTS_TOPIC
from chronova.reports import ActionCompleted, SnapshotTaken
from tests.unit.test_agent_actions import RUNNING, SHUT_OFF, Host

IMAGE = str(uuid.UUID(int=42))


def domain(host: Host) -> libvirt.virDomain:
    return host.hypervisor._conn.lookupByUUIDString(host.server_id)


@pytest.mark.parametrize("stopped_first", [False, True])
def test_a_rebuild_redefines_the_domain_and_keeps_a_stopped_server_stopped(stopped_first: bool) -> None:
    host = Host()
    if stopped_first:
        host.act("stop")
    args = {"name": "rebuilt", "changes": {"image_id": IMAGE}, "vcpus": 1, "memory_mb": 64}

    first = host.act("rebuild", **args)
    again = host.act("rebuild", **args)  # redelivered

    assert isinstance(first, ActionCompleted) and isinstance(again, ActionCompleted)
    assert (first.power_state, again.power_state) == ((4, 4) if stopped_first else (1, 1))
    assert host.domain_state() == (SHUT_OFF if stopped_first else RUNNING)
    title = domain(host).metadata(libvirt.VIR_DOMAIN_METADATA_TITLE, None)
    assert (title, instance_metadata(domain(host), "image")) == ("rebuilt", IMAGE)
    assert instance_metadata(domain(host), "host") == "compute1"  # power sync still knows it as this host's


def test_rescue_boots_the_rescue_image_and_unrescue_the_server_again() -> None:
    host = Host()
    host.act("stop")

    rescued = host.act("rescue", image_id=IMAGE)
    rescue_image = instance_metadata(domain(host), "rescue")
    unrescued = host.act("unrescue")

    assert (rescued.power_state, rescue_image) == (1, IMAGE)  # type: ignore[union-attr]
    assert (unrescued.power_state, instance_metadata(domain(host), "rescue")) == (1, None)  # type: ignore[union-attr]
    assert host.domain_state() == RUNNING


def test_shelving_powers_off_and_offloading_undefines_the_domain() -> None:
    host = Host()

    shelved = host.act("shelve", offload=False)
    state = host.domain_state()
    offloaded = host.act("shelveOffload")
    again = host.act("shelveOffload")

    assert (shelved.power_state, state) == (4, SHUT_OFF)  # type: ignore[union-attr]
    assert (offloaded.power_state, again.power_state) == (0, 0)  # type: ignore[union-attr]
    assert host.hypervisor.power_state(host.server_id) == 0  # no such domain any more


def test_soft_delete_powers_off_and_restore_powers_on() -> None:
    host = Host()

    deleted = host.act("delete")
    off = host.domain_state()
    restored = host.act("restore")

    assert (deleted.power_state, off, restored.power_state) == (4, SHUT_OFF, 1)  # type: ignore[union-attr]
    assert host.domain_state() == RUNNING


def test_a_snapshot_sends_the_domains_definition_in_a_signed_report() -> None:
    host = Host()
    image_id = str(uuid.uuid4())
    host.receive(
        SERVER_EVENTS_TOPIC,
        "Server.ActionRequested",
        {"action": "createImage", "args": {"image_id": image_id}, "request_id": "req-snap"},
    )

    (report,) = host.reports()

    assert isinstance(report, SnapshotTaken)
    assert (report.image_id, report.request_id, report.power_state) == (image_id, "req-snap", 1)
    assert host.server_id.encode() in base64.b64decode(report.data)
    assert host.domain_state() == RUNNING
