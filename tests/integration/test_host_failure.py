"""Host failure, the detection half: an agent whose heartbeats stop is shown down
in os-services once CHRONOVA_SERVICE_DOWN_TIME has passed, and the scheduler,
a separate process that heard the host up, never places a server on it."""

from __future__ import annotations

import time
import uuid

import pytest
import requests

from tests.conftest import Cluster, wait_for
from tests.integration.helpers import create_server, wait_for_status
from tests.integration.test_distributed_boot import start_control_plane, wait_for_hypervisor

pytestmark = pytest.mark.integration

DOWN_AFTER = 4.0


def compute_service(cluster: Cluster, host: str) -> dict:
    response = requests.get(
        f"{cluster.api_url}/v2.1/os-services", params={"host": host}, headers=cluster.headers, timeout=5
    )
    assert response.status_code == 200, response.text
    (service,) = response.json()["services"]
    return service


def test_a_silent_host_is_shown_down_after_the_interval_and_never_chosen(cluster: Cluster, libvirtd: str) -> None:
    cluster.env["CHRONOVA_SERVICE_DOWN_TIME"] = str(DOWN_AFTER)
    dying, healthy = (f"it-{uuid.uuid4().hex[:8]}" for _ in range(2))
    start_control_plane(cluster)
    dying_agent = cluster.start("agent", "--host", dying, CHRONOVA_LIBVIRT_URI=libvirtd)
    cluster.start("agent", "--host", healthy, CHRONOVA_LIBVIRT_URI=libvirtd)
    for host in (dying, healthy):
        wait_for_hypervisor(cluster, host)
    assert compute_service(cluster, dying)["state"] == "up"

    dying_agent.kill()
    killed_at = time.monotonic()
    wait_for(lambda: compute_service(cluster, dying)["state"] == "down", timeout=30, what=f"{dying} to be down")
    # Its last heartbeat was at most one heartbeat interval (1 s) before the kill.
    assert time.monotonic() - killed_at >= DOWN_AFTER - 1.0
    assert compute_service(cluster, healthy)["state"] == "up"

    servers = [create_server(cluster, f"vm-{i}") for i in range(4)]
    hosts = {wait_for_status(cluster, s["id"], "ACTIVE")["OS-EXT-SRV-ATTR:host"] for s in servers}
    assert hosts == {healthy}


def test_with_every_host_down_a_server_fails_with_no_valid_host(cluster: Cluster, libvirtd: str) -> None:
    cluster.env["CHRONOVA_SERVICE_DOWN_TIME"] = str(DOWN_AFTER)
    host = f"it-{uuid.uuid4().hex[:8]}"
    start_control_plane(cluster)
    agent = cluster.start("agent", "--host", host, CHRONOVA_LIBVIRT_URI=libvirtd)
    wait_for_hypervisor(cluster, host)
    agent.kill()
    wait_for(lambda: compute_service(cluster, host)["state"] == "down", timeout=30, what=f"{host} to be down")

    server = create_server(cluster, "vm-nowhere")
    failed = wait_for_status(cluster, server["id"], "ERROR")
    assert failed["fault"]["message"].startswith("No valid host was found")
    assert failed.get("OS-EXT-SRV-ATTR:host") is None
