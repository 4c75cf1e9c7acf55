"""One server's life through the distributed deployment: every component in
its own process, on PostgreSQL, a Tansu broker and libvirtd's test driver."""

from __future__ import annotations

import uuid

import pytest
import requests

from tests.conftest import Cluster, wait_for
from tests.integration.helpers import create_server, domains_on_host, get_server, wait_for_status

pytestmark = pytest.mark.integration


def start_control_plane(cluster: Cluster) -> None:
    init = cluster.start("init")
    assert init.process.wait(timeout=60) == 0, init.output()
    for component in ("projections", "relay", "scheduler", "conductor", "api"):
        cluster.start(component)
    cluster.wait_for_api()


def wait_for_hypervisor(cluster: Cluster, host: str) -> None:
    def up() -> bool:
        response = requests.get(f"{cluster.api_url}/v2.1/os-hypervisors/detail", headers=cluster.headers, timeout=5)
        return any(h["hypervisor_hostname"] == host and h["state"] == "up" for h in response.json()["hypervisors"])

    wait_for(up, timeout=30, what=f"hypervisor {host} to be up")


def test_boot_to_active_then_delete_leaves_nothing(cluster: Cluster, libvirtd: str) -> None:
    host = f"it-{uuid.uuid4().hex[:8]}"
    start_control_plane(cluster)
    cluster.start("agent", "--host", host, CHRONOVA_LIBVIRT_URI=libvirtd)
    wait_for_hypervisor(cluster, host)

    server = create_server(cluster, "vm1")
    assert get_server(cluster, server["id"]).status_code == 200  # read your writes, at once
    active = wait_for_status(cluster, server["id"], "ACTIVE")
    assert active["OS-EXT-STS:power_state"] == 1
    (domain,) = domains_on_host(libvirtd, host)
    assert domain.UUIDString() == server["id"] and domain.isActive()

    response = requests.delete(f"{cluster.api_url}/v2.1/servers/{server['id']}", headers=cluster.headers, timeout=10)
    assert response.status_code == 204
    wait_for(lambda: get_server(cluster, server["id"]).status_code == 404, what="server to be gone")
    assert domains_on_host(libvirtd, host) == []
    hypervisors = requests.get(
        f"{cluster.api_url}/v2.1/os-hypervisors/detail", headers=cluster.headers, timeout=5
    ).json()["hypervisors"]
    (mine,) = [h for h in hypervisors if h["hypervisor_hostname"] == host]
    # Nova counts the reserved host memory (512 MB by default) as used.
    assert (mine["running_vms"], mine["vcpus_used"], mine["memory_mb_used"]) == (0, 0, 512)


def test_agent_killed_after_receiving_the_spawn_converges_on_one_domain(cluster: Cluster, libvirtd: str) -> None:
    host = f"it-{uuid.uuid4().hex[:8]}"
    start_control_plane(cluster)
    # The first agent defines and starts the domain, then "waits for the guest to boot" for a minute.
    slow_agent = cluster.start(
        "agent", "--host", host, CHRONOVA_LIBVIRT_URI=libvirtd, CHRONOVA_SIMULATED_BOOT_SECONDS="60"
    )
    wait_for_hypervisor(cluster, host)
    server = create_server(cluster, "vm-crash")
    wait_for(lambda: domains_on_host(libvirtd, host), what="the agent to define the domain")

    slow_agent.kill()
    assert get_server(cluster, server["id"]).json()["server"]["status"] == "BUILD"

    cluster.start("agent", "--host", host, CHRONOVA_LIBVIRT_URI=libvirtd)
    wait_for_status(cluster, server["id"], "ACTIVE")
    domains = domains_on_host(libvirtd, host)
    assert [d.UUIDString() for d in domains] == [server["id"]]
    assert domains[0].isActive()
    requests.delete(f"{cluster.api_url}/v2.1/servers/{server['id']}", headers=cluster.headers, timeout=10)
    wait_for(lambda: not domains_on_host(libvirtd, host), what="the domain to be destroyed")


def test_no_host_with_room_means_error_with_nova_fault(cluster: Cluster, libvirtd: str) -> None:
    host = f"it-{uuid.uuid4().hex[:8]}"
    start_control_plane(cluster)
    cluster.start("agent", "--host", host, CHRONOVA_LIBVIRT_URI=libvirtd, CHRONOVA_HOST_MEMORY_MB="1024")
    wait_for_hypervisor(cluster, host)
    server = create_server(cluster, "too-big", flavor="2")  # m1.small needs 2048 MB
    errored = wait_for_status(cluster, server["id"], "ERROR")
    assert errored["fault"]["message"].startswith("No valid host was found")
    assert domains_on_host(libvirtd, host) == []


def test_a_host_whose_agent_died_is_marked_down_and_never_chosen(cluster: Cluster, libvirtd: str) -> None:
    host = f"it-{uuid.uuid4().hex[:8]}"
    cluster.env["CHRONOVA_SERVICE_DOWN_TIME"] = "3"
    start_control_plane(cluster)
    agent = cluster.start("agent", "--host", host, CHRONOVA_LIBVIRT_URI=libvirtd)
    wait_for_hypervisor(cluster, host)
    agent.kill()

    def down() -> bool:
        response = requests.get(f"{cluster.api_url}/v2.1/os-hypervisors/detail", headers=cluster.headers, timeout=5)
        return any(h["hypervisor_hostname"] == host and h["state"] == "down" for h in response.json()["hypervisors"])

    wait_for(down, timeout=30, what=f"hypervisor {host} to be marked down")
    server = create_server(cluster, "nowhere-to-go")
    errored = wait_for_status(cluster, server["id"], "ERROR")
    assert "ComputeFilter removed 1" in errored["fault"]["details"]

    cluster.start("agent", "--host", host, CHRONOVA_LIBVIRT_URI=libvirtd)
    wait_for_hypervisor(cluster, host)  # heartbeats again: up again
