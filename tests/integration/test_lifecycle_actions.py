"""The lifecycle actions through the distributed deployment (PostgreSQL, Tansu, one
process per component) on libvirtd's test driver: rebuild, rescue, unrescue,
createImage, shelve, unshelve, shelveOffload, changePassword, and soft delete with
restore and the reclaimer, checking the libvirt domain after each step; and a
shelve-offload that resumes after its agent or the conductor is killed."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import libvirt
import pytest
import requests

from agents.libvirt_driver import instance_metadata
from chronova.seed import SEED_IMAGE_ID
from tests.conftest import Cluster, wait_for
from tests.integration.helpers import create_server, get_server, wait_for_status
from tests.integration.test_distributed_boot import start_control_plane, wait_for_hypervisor
from tests.integration.test_server_actions import act, finished_step

pytestmark = pytest.mark.integration
RUNNING, SHUTOFF = libvirt.VIR_DOMAIN_RUNNING, libvirt.VIR_DOMAIN_SHUTOFF


def domain(uri: str, server_id: str) -> libvirt.virDomain | None:
    try:
        return libvirt.open(uri).lookupByUUIDString(server_id)
    except libvirt.libvirtError:
        return None


def done(cluster: Cluster, server_id: str, body: dict[str, Any], status: str) -> requests.Response:
    """Ask for an action, wait for its host step to succeed and the server to show `status`."""
    accepted = act(cluster, server_id, body)
    assert accepted.status_code in (200, 202), (body, accepted.text)
    request_id = accepted.headers["x-openstack-request-id"]
    step = wait_for(lambda: finished_step(cluster, server_id, request_id), what=f"{body} to finish")
    assert step["result"] == "Success", (body, step)
    server = wait_for_status(cluster, server_id, status)
    assert server["OS-EXT-STS:task_state"] is None
    return accepted


def boot(cluster: Cluster, libvirtd: str, tmp_path: Path, **env: str) -> str:
    """A control plane with `env`, one agent on a fresh host; returns the host's name."""
    host = f"it-{uuid.uuid4().hex[:8]}"
    cluster.env.update({"CHRONOVA_IMAGE_DIR": str(tmp_path / "images"), **env})
    start_control_plane(cluster)
    cluster.start("agent", "--host", host, CHRONOVA_LIBVIRT_URI=libvirtd)
    wait_for_hypervisor(cluster, host)
    return host


def test_rebuild_rescue_snapshot_shelve_and_soft_delete_on_libvirt(
    cluster: Cluster, libvirtd: str, tmp_path: Path
) -> None:
    boot(
        cluster,
        libvirtd,
        tmp_path,
        CHRONOVA_SHELVED_OFFLOAD_TIME="-1",
        CHRONOVA_RECLAIM_INSTANCE_INTERVAL="3",
        CHRONOVA_RECLAIMER_INTERVAL="0.5",
    )
    server_id = create_server(cluster, "vm-cycle")["id"]
    wait_for_status(cluster, server_id, "ACTIVE")

    rebuilt = done(cluster, server_id, {"rebuild": {"imageRef": str(SEED_IMAGE_ID), "name": "vm-new"}}, "ACTIVE")
    vm = domain(libvirtd, server_id)
    assert rebuilt.json()["server"]["name"] == "vm-new" and "adminPass" in rebuilt.json()["server"]
    assert (vm.state()[0], vm.metadata(libvirt.VIR_DOMAIN_METADATA_TITLE, None)) == (RUNNING, "vm-new")
    assert instance_metadata(vm, "image") == str(SEED_IMAGE_ID)

    rescued = done(cluster, server_id, {"rescue": None}, "RESCUE")
    assert rescued.status_code == 200 and rescued.json()["adminPass"]
    assert instance_metadata(domain(libvirtd, server_id), "rescue") == str(SEED_IMAGE_ID)
    done(cluster, server_id, {"unrescue": None}, "ACTIVE")
    vm = domain(libvirtd, server_id)
    assert (vm.state()[0], instance_metadata(vm, "rescue")) == (RUNNING, None)

    snapshot = done(cluster, server_id, {"createImage": {"name": "vm-snap"}}, "ACTIVE")
    image_url = f"{cluster.api_url}/image/v2/images/{snapshot.json()['image_id']}"
    image = wait_for(
        lambda: (r := requests.get(image_url, headers=cluster.headers, timeout=10).json())["status"] == "active" and r,
        what="the snapshot to be active",
    )
    data = requests.get(f"{image_url}/file", headers=cluster.headers, timeout=10)
    assert (image["name"], image["instance_uuid"], image["image_type"]) == ("vm-snap", server_id, "snapshot")
    assert data.status_code == 200 and server_id.encode() in data.content and image["size"] == len(data.content)

    password = act(cluster, server_id, {"changePassword": {"adminPass": "n3w-pass"}})
    assert (password.status_code, password.json()["conflictingRequest"]["message"]) == (
        409, "Set admin password is not supported",
    )  # fmt: skip

    done(cluster, server_id, {"shelve": None}, "SHELVED")
    assert domain(libvirtd, server_id).state()[0] == SHUTOFF
    done(cluster, server_id, {"unshelve": None}, "ACTIVE")
    assert domain(libvirtd, server_id).state()[0] == RUNNING
    done(cluster, server_id, {"shelve": None}, "SHELVED")
    offloaded = done(cluster, server_id, {"shelveOffload": None}, "SHELVED_OFFLOADED")
    server = get_server(cluster, server_id).json()["server"]
    assert offloaded.status_code == 202 and server["OS-EXT-SRV-ATTR:host"] is None
    assert domain(libvirtd, server_id) is None

    # Soft delete: DELETE powers the guest off and keeps it; restore brings it back; the reclaimer ends it.
    other_id = create_server(cluster, "vm-soft")["id"]
    wait_for_status(cluster, other_id, "ACTIVE")
    url = f"{cluster.api_url}/v2.1/servers/{other_id}"
    assert requests.delete(url, headers=cluster.headers, timeout=10).status_code == 204
    wait_for_status(cluster, other_id, "SOFT_DELETED")
    assert domain(libvirtd, other_id).state()[0] == SHUTOFF
    done(cluster, other_id, {"restore": None}, "ACTIVE")
    assert domain(libvirtd, other_id).state()[0] == RUNNING
    assert requests.delete(url, headers=cluster.headers, timeout=10).status_code == 204
    wait_for_status(cluster, other_id, "SOFT_DELETED")
    wait_for(lambda: get_server(cluster, other_id).status_code == 404, timeout=30, what="the reclaimer")
    wait_for(lambda: domain(libvirtd, other_id) is None, what="the reclaimed domain to be gone")


def _hypervisor_vcpus_used(cluster: Cluster, host: str) -> int:
    response = requests.get(
        f"{cluster.api_url}/v2.1/os-hypervisors/detail",
        headers={"OpenStack-API-Version": "compute 2.27", **cluster.headers},
        timeout=10,
    )
    (hypervisor,) = [h for h in response.json()["hypervisors"] if h["hypervisor_hostname"] == host]
    return int(hypervisor["vcpus_used"])


@pytest.mark.parametrize("killed", ["agent", "conductor"])
def test_shelve_offload_resumes_after_its_agent_or_the_conductor_is_killed(
    cluster: Cluster, libvirtd: str, tmp_path: Path, killed: str
) -> None:
    host = boot(cluster, libvirtd, tmp_path, CHRONOVA_SHELVED_OFFLOAD_TIME="-1")
    server_id = create_server(cluster, "vm-offload")["id"]
    wait_for_status(cluster, server_id, "ACTIVE")
    done(cluster, server_id, {"shelve": None}, "SHELVED")
    assert _hypervisor_vcpus_used(cluster, host) == 1
    (victim,) = [
        p for p in cluster.processes if p.command == killed and p.process.poll() is None
    ]  # the one running copy
    victim.kill()

    accepted = act(cluster, server_id, {"shelveOffload": None})
    assert accepted.status_code == 202, accepted.text
    stuck = wait_for_status(cluster, server_id, "SHELVED")
    assert stuck["OS-EXT-STS:task_state"] == "shelving_offloading"  # nobody finishes it while one is dead
    if killed == "agent":
        cluster.start("agent", "--host", host, CHRONOVA_LIBVIRT_URI=libvirtd)
    else:
        wait_for(lambda: domain(libvirtd, server_id) is None, what="the agent to offload the domain")
        cluster.start("conductor")

    wait_for_status(cluster, server_id, "SHELVED_OFFLOADED", timeout=60)
    assert domain(libvirtd, server_id) is None
    wait_for(lambda: _hypervisor_vcpus_used(cluster, host) == 0, what="the claim to be released")


@pytest.mark.parametrize("killed", ["scheduler", "agent", "conductor"])
def test_unshelve_of_an_offloaded_server_is_scheduled_again_and_resumes_after_a_kill(
    cluster: Cluster, libvirtd: str, tmp_path: Path, killed: str
) -> None:
    """The server's new domain appears and its claim comes back even when the scheduler (before it placed
    the server), the agent (before it defined the domain) or the conductor (before it heard the agent's
    report) was killed and started again."""
    host = boot(cluster, libvirtd, tmp_path)  # shelved_offload_time 0: shelving offloads at once
    server_id = create_server(cluster, "vm-unshelve")["id"]
    wait_for_status(cluster, server_id, "ACTIVE")
    done(cluster, server_id, {"shelve": None}, "SHELVED_OFFLOADED")
    assert domain(libvirtd, server_id) is None
    wait_for(lambda: _hypervisor_vcpus_used(cluster, host) == 0, what="the offloaded claim to be released")
    (victim,) = [p for p in cluster.processes if p.command == killed and p.process.poll() is None]
    victim.kill()

    accepted = act(cluster, server_id, {"unshelve": None})
    assert accepted.status_code == 202, accepted.text
    if killed == "scheduler":
        cluster.start("scheduler")
    elif killed == "agent":
        wait_for(lambda: _hypervisor_vcpus_used(cluster, host) == 1, what="the scheduler to claim again")
        cluster.start("agent", "--host", host, CHRONOVA_LIBVIRT_URI=libvirtd)
    else:
        wait_for(lambda: domain(libvirtd, server_id), what="the agent to define the domain")
        cluster.start("conductor")

    server = wait_for_status(cluster, server_id, "ACTIVE", timeout=60)
    vm = domain(libvirtd, server_id)
    assert (server["OS-EXT-SRV-ATTR:host"], server["OS-EXT-STS:power_state"]) == (host, 1)
    assert (vm.state()[0], instance_metadata(vm, "host")) == (RUNNING, host)
    assert _hypervisor_vcpus_used(cluster, host) == 1
    request_id = accepted.headers["x-openstack-request-id"]
    record = requests.get(
        f"{cluster.api_url}/v2.1/servers/{server_id}/os-instance-actions/{request_id}",
        headers={"OpenStack-API-Version": "compute 2.100", **cluster.headers},
        timeout=10,
    ).json()["instanceAction"]
    assert record["action"] == "unshelve"
    assert {event["event"]: event["result"] for event in record["events"]} == {
        "schedule_instances": "Success",
        "compute_unshelve_instance": "Success",
    }
