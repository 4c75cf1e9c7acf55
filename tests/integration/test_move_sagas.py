"""The move sagas through the distributed deployment (PostgreSQL, Tansu, one process per component,
libvirtd's test driver shared by two agents), with the scheduler, an agent and the conductor each
killed (-9) while a step waits for it: the saga completes once the process is back."""

from __future__ import annotations

import time
import uuid
from typing import Any

import libvirt
import pytest
import requests

from tests.conftest import Cluster, wait_for
from tests.integration.helpers import CHRONOVA_XMLNS, create_server, get_server, wait_for_status
from tests.integration.test_distributed_boot import start_control_plane, wait_for_hypervisor

pytestmark = pytest.mark.integration

LATEST = {"OpenStack-API-Version": "compute 2.100"}


def act(cluster: Cluster, server_id: str, body: dict[str, Any]) -> requests.Response:
    return requests.post(
        f"{cluster.api_url}/v2.1/servers/{server_id}/action",
        json=body,
        headers={**LATEST, **cluster.headers},
        timeout=30,
    )


def task_state(cluster: Cluster, server_id: str) -> str | None:
    return get_server(cluster, server_id).json()["server"]["OS-EXT-STS:task_state"]


def owner(uri: str, server_id: str) -> str:
    metadata = (
        libvirt.open(uri).lookupByUUIDString(server_id).metadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, CHRONOVA_XMLNS)
    )
    return metadata.split("<host>", 1)[1].split("</host>", 1)[0]


def vcpus_used(cluster: Cluster, host: str) -> int:
    hypervisors = requests.get(
        f"{cluster.api_url}/v2.1/os-hypervisors/detail", headers=cluster.headers, timeout=5
    ).json()["hypervisors"]
    (mine,) = [h for h in hypervisors if h["hypervisor_hostname"] == host]
    return mine["vcpus_used"]


def test_resize_survives_scheduler_agent_and_conductor_killed_at_their_steps(cluster: Cluster, libvirtd: str) -> None:
    hosts = [f"it-{uuid.uuid4().hex[:8]}" for _ in range(2)]
    start_control_plane(cluster)
    scheduler, conductor = (next(p for p in cluster.processes if p.command == c) for c in ("scheduler", "conductor"))
    agents = {host: cluster.start("agent", "--host", host, CHRONOVA_LIBVIRT_URI=libvirtd) for host in hosts}
    for host in hosts:
        wait_for_hypervisor(cluster, host)
    server_id = create_server(cluster, "vm-move")["id"]
    source = wait_for_status(cluster, server_id, "ACTIVE")["OS-EXT-SRV-ATTR:host"]
    (dest,) = [host for host in hosts if host != source]

    # The scheduler dies: the move waits for a destination.
    scheduler.kill()
    agents[dest].kill()
    assert act(cluster, server_id, {"resize": {"flavorRef": "2"}}).status_code == 202
    time.sleep(2)
    assert task_state(cluster, server_id) == "resize_prep"
    cluster.start("scheduler")
    # The destination's agent is down: the source's step is done, the destination's waits.
    wait_for(lambda: task_state(cluster, server_id) == "resize_migrated", what="the source's step")
    agents[dest] = cluster.start("agent", "--host", dest, CHRONOVA_LIBVIRT_URI=libvirtd)
    resized = wait_for_status(cluster, server_id, "VERIFY_RESIZE")
    assert (resized["OS-EXT-SRV-ATTR:host"], resized["flavor"]["original_name"]) == (dest, "m1.small")
    assert owner(libvirtd, server_id) == dest

    # The conductor dies: the source's report of the confirm waits on Kafka.
    conductor.kill()
    assert act(cluster, server_id, {"confirmResize": None}).status_code == 204
    time.sleep(2)
    assert get_server(cluster, server_id).json()["server"]["status"] == "VERIFY_RESIZE"
    cluster.start("conductor")
    wait_for_status(cluster, server_id, "ACTIVE")
    wait_for(lambda: vcpus_used(cluster, source) == 0, what="the source's claim to be released")
    assert vcpus_used(cluster, dest) == 1

    # And back, live.
    assert act(cluster, server_id, {"os-migrateLive": {"host": source, "block_migration": "auto"}}).status_code == 202
    wait_for(lambda: get_server(cluster, server_id).json()["server"]["OS-EXT-SRV-ATTR:host"] == source, what="live")
    assert owner(libvirtd, server_id) == source
    assert libvirt.open(libvirtd).lookupByUUIDString(server_id).isActive()
    wait_for(lambda: vcpus_used(cluster, dest) == 0, what="the destination's claim to be released")
    migrations = requests.get(
        f"{cluster.api_url}/v2.1/os-migrations", headers={**LATEST, **cluster.headers}, timeout=5
    ).json()["migrations"]
    assert [(m["migration_type"], m["status"]) for m in migrations] == [
        ("live-migration", "completed"),
        ("resize", "confirmed"),
    ]


def test_evacuate_off_a_dead_host_after_its_agent_is_killed(cluster: Cluster, libvirtd: str) -> None:
    cluster.env["CHRONOVA_SERVICE_DOWN_TIME"] = "3"
    hosts = [f"it-{uuid.uuid4().hex[:8]}" for _ in range(2)]
    start_control_plane(cluster)
    agents = {host: cluster.start("agent", "--host", host, CHRONOVA_LIBVIRT_URI=libvirtd) for host in hosts}
    for host in hosts:
        wait_for_hypervisor(cluster, host)
    server_id = create_server(cluster, "vm-evacuate")["id"]
    source = wait_for_status(cluster, server_id, "ACTIVE")["OS-EXT-SRV-ATTR:host"]
    (dest,) = [host for host in hosts if host != source]
    still_up = act(cluster, server_id, {"evacuate": {}})

    agents[source].kill()
    wait_for(lambda: _service_state(cluster, source) == "down", what=f"{source} to be marked down")
    before_295 = {"OpenStack-API-Version": "compute 2.94", **cluster.headers}
    evacuated = requests.post(
        f"{cluster.api_url}/v2.1/servers/{server_id}/action", json={"evacuate": {}}, headers=before_295, timeout=30
    )
    final = wait_for_status(cluster, server_id, "ACTIVE")

    assert (still_up.status_code, still_up.json()["badRequest"]["message"]) == (
        400,
        f"Compute service of {source} is still in use.",
    )
    assert evacuated.status_code == 200, evacuated.text
    assert final["OS-EXT-SRV-ATTR:host"] == dest
    assert owner(libvirtd, server_id) == dest
    wait_for(lambda: vcpus_used(cluster, source) == 0, what="the dead host's claim to be released")


def _service_state(cluster: Cluster, host: str) -> str:
    services = requests.get(f"{cluster.api_url}/v2.1/os-services", headers=cluster.headers, timeout=5).json()
    return next(s["state"] for s in services["services"] if s["host"] == host)
