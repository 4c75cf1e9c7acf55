"""A server's power lifecycle through the distributed deployment: each action goes
from the API through the store, the relay and Kafka to the agent, which acts on
libvirt (libvirtd's test driver) and reports through the conductor."""

from __future__ import annotations

import uuid
from typing import Any

import libvirt
import pytest
import requests

from tests.conftest import Cluster, wait_for
from tests.integration.helpers import create_server, get_server, wait_for_status
from tests.integration.test_distributed_boot import start_control_plane, wait_for_hypervisor

pytestmark = pytest.mark.integration

LATEST = {"OpenStack-API-Version": "compute 2.100"}
RUNNING, PAUSED, SHUTOFF = libvirt.VIR_DOMAIN_RUNNING, libvirt.VIR_DOMAIN_PAUSED, libvirt.VIR_DOMAIN_SHUTOFF

# (request body, Nova's action, status afterwards, power_state, libvirt state, managed save image)
LIFECYCLE: list[tuple[dict[str, Any], str, str, int, int, bool]] = [
    ({"os-stop": None}, "stop", "SHUTOFF", 4, SHUTOFF, False),
    ({"os-start": None}, "start", "ACTIVE", 1, RUNNING, False),
    ({"reboot": {"type": "SOFT"}}, "reboot", "ACTIVE", 1, RUNNING, False),
    ({"reboot": {"type": "HARD"}}, "reboot", "ACTIVE", 1, RUNNING, False),
    ({"pause": None}, "pause", "PAUSED", 3, PAUSED, False),
    ({"unpause": None}, "unpause", "ACTIVE", 1, RUNNING, False),
    ({"suspend": None}, "suspend", "SUSPENDED", 4, SHUTOFF, True),  # Nova's suspend on libvirt: a managed save
    ({"resume": None}, "resume", "ACTIVE", 1, RUNNING, False),
]


def act(cluster: Cluster, server_id: str, body: dict[str, Any]) -> requests.Response:
    return requests.post(
        f"{cluster.api_url}/v2.1/servers/{server_id}/action",
        json=body,
        headers={**LATEST, **cluster.headers},
        timeout=30,
    )


def finished_step(cluster: Cluster, server_id: str, request_id: str) -> dict[str, Any] | None:
    """The host's step of the action `request_id` started, once it has a result."""
    response = requests.get(
        f"{cluster.api_url}/v2.1/servers/{server_id}/os-instance-actions/{request_id}",
        headers={**LATEST, **cluster.headers},
        timeout=10,
    )
    if response.status_code != 200:
        return None
    events = response.json()["instanceAction"]["events"]
    return events[0] if events and events[0]["result"] else None


def test_stop_start_reboot_pause_suspend_and_back_on_libvirt(cluster: Cluster, libvirtd: str) -> None:
    host = f"it-{uuid.uuid4().hex[:8]}"
    start_control_plane(cluster)
    cluster.start("agent", "--host", host, CHRONOVA_LIBVIRT_URI=libvirtd)
    wait_for_hypervisor(cluster, host)
    server_id = create_server(cluster, "vm-life")["id"]
    wait_for_status(cluster, server_id, "ACTIVE")
    domain = libvirt.open(libvirtd).lookupByUUIDString(server_id)

    for body, action, status, power_state, domain_state, saved in LIFECYCLE:
        accepted = act(cluster, server_id, body)
        assert accepted.status_code == 202, (body, accepted.text)
        request_id = accepted.headers["x-openstack-request-id"]

        step = wait_for(lambda: finished_step(cluster, server_id, request_id), what=f"{action} to finish")  # noqa: B023
        server = wait_for_status(cluster, server_id, status)

        assert (step["event"], step["result"], step["host"]) == (f"compute_{action}_instance", "Success", host)
        assert (server["OS-EXT-STS:task_state"], server["OS-EXT-STS:power_state"]) == (None, power_state), body
        assert (domain.state()[0], bool(domain.hasManagedSaveImage(0))) == (domain_state, saved), body

    refused = act(cluster, server_id, {"resume": None})
    assert refused.status_code == 409
    assert refused.json()["conflictingRequest"]["message"] == (
        f"Cannot 'resume' instance {server_id} while it is in vm_state active"
    )
    # The console request goes the same way round; the test driver's domains have no console to read.
    console = act(cluster, server_id, {"os-getConsoleOutput": {"length": 10}})
    assert console.status_code == 404, console.text
    assert console.json()["itemNotFound"]["message"] == "Guest does not have a console available."

    deleted = requests.delete(f"{cluster.api_url}/v2.1/servers/{server_id}", headers=cluster.headers, timeout=10)
    assert deleted.status_code == 204
    wait_for(lambda: get_server(cluster, server_id).status_code == 404, what="the server to be gone")
