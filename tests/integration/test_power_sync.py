"""Nova's power-state sync through the distributed deployment: a domain destroyed
behind Chronova's back (as `virsh destroy` does) is noticed by its agent's periodic
sync and its server shows SHUTOFF; a domain Chronova did not define is reported
by the conductor and left running."""

from __future__ import annotations

import uuid

import libvirt
import pytest
import requests

from tests.conftest import Cluster, wait_for
from tests.integration.helpers import create_server, wait_for_status
from tests.integration.test_distributed_boot import start_control_plane, wait_for_hypervisor

pytestmark = pytest.mark.integration


def test_a_domain_destroyed_behind_chronovas_back_shows_shutoff_and_a_stranger_is_left_alone(
    cluster: Cluster, libvirtd: str
) -> None:
    host = f"it-{uuid.uuid4().hex[:8]}"
    start_control_plane(cluster)
    cluster.start("agent", "--host", host, CHRONOVA_LIBVIRT_URI=libvirtd, CHRONOVA_POWER_SYNC_INTERVAL="1")
    wait_for_hypervisor(cluster, host)
    server = create_server(cluster, "vm-sync")
    wait_for_status(cluster, server["id"], "ACTIVE")
    conn = libvirt.open(libvirtd)
    stranger = conn.defineXML(
        f"<domain type='test'><name>by-hand-{uuid.uuid4().hex[:8]}</name><memory unit='MiB'>64</memory>"
        "<os><type arch='x86_64'>hvm</type></os></domain>"
    )
    stranger.create()
    try:
        conn.lookupByUUIDString(server["id"]).destroy()  # what `virsh destroy` does

        stopped = wait_for_status(cluster, server["id"], "SHUTOFF", timeout=30)
        assert (stopped["OS-EXT-STS:vm_state"], stopped["OS-EXT-STS:power_state"]) == ("stopped", 4)
        conductor = next(p for p in cluster.processes if p.command == "conductor")
        wait_for(lambda: stranger.name() in conductor.output(), timeout=30, what="the stranger to be reported")
        assert stranger.isActive()

        # Chronova's own start brings the server back: the sync left it in a state Nova's API accepts.
        response = requests.post(
            f"{cluster.api_url}/v2.1/servers/{server['id']}/action",
            json={"os-start": None},
            headers=cluster.headers,
            timeout=10,
        )
        assert response.status_code == 202, response.text
        started = wait_for_status(cluster, server["id"], "ACTIVE")
        assert started["OS-EXT-STS:power_state"] == 1
        assert conn.lookupByUUIDString(server["id"]).isActive()
    finally:
        stranger.destroy()
        stranger.undefine()
