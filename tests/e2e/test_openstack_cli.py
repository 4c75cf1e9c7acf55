"""The real `openstack` CLI (python-openstackclient), unmodified, against a
distributed Chronova: password login at the built-in identity, then the
compute and image commands users run every day."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import Cluster, wait_for
from tests.e2e.conftest import ADMIN_PASSWORD, COMPUTE_HOST, DEMO_PASSWORD

pytestmark = pytest.mark.integration

OPENSTACK = str(Path(sys.executable).parent / "openstack")


def cli_env(cluster: Cluster, user: str = "admin") -> dict[str, str]:
    """What the README tells users to export: password auth against the built-in identity."""
    return {
        **os.environ,
        "OS_AUTH_URL": f"{cluster.api_url}/identity/v3",
        "OS_IDENTITY_API_VERSION": "3",
        "OS_USERNAME": user,
        "OS_PASSWORD": ADMIN_PASSWORD if user == "admin" else DEMO_PASSWORD,
        "OS_PROJECT_NAME": user,
        "OS_USER_DOMAIN_NAME": "Default",
        "OS_PROJECT_DOMAIN_NAME": "Default",
        "OS_REGION_NAME": "RegionOne",
    }


def openstack(cluster: Cluster, *args: str, user: str = "admin", parse: bool = True) -> Any:
    command = [OPENSTACK, *args, *(["-f", "json"] if parse else [])]
    result = subprocess.run(command, env=cli_env(cluster, user), capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, f"{' '.join(args)} failed:\n{result.stderr[-3000:]}"
    return json.loads(result.stdout) if parse and result.stdout.strip() else result.stdout


def openstack_fails(cluster: Cluster, *args: str, user: str = "admin") -> str:
    result = subprocess.run([OPENSTACK, *args], env=cli_env(cluster, user), capture_output=True, text=True, timeout=180)
    assert result.returncode != 0, f"{' '.join(args)} should have failed:\n{result.stdout}"
    return result.stderr


def test_server_create_list_show_delete(deployment: Cluster) -> None:
    created = openstack(
        deployment,
        "server", "create", "--flavor", "m1.tiny", "--image", "cirros-0.6.2-x86_64-disk", "--nic", "none",
        "--wait", "cli-vm1",
    )  # fmt: skip
    assert created["status"] == "ACTIVE"
    assert created["name"] == "cli-vm1"

    listed = openstack(deployment, "server", "list")
    assert [(s["Name"], s["Status"]) for s in listed if s["ID"] == created["id"]] == [("cli-vm1", "ACTIVE")]
    shown = openstack(deployment, "server", "show", "cli-vm1")
    assert shown["id"] == created["id"]
    assert shown["OS-EXT-SRV-ATTR:host"] == COMPUTE_HOST

    openstack(deployment, "server", "delete", "--wait", "cli-vm1", parse=False)
    assert all(s["ID"] != created["id"] for s in openstack(deployment, "server", "list"))


def test_a_member_sees_only_their_own_servers(deployment: Cluster) -> None:
    mine = openstack(
        deployment, "server", "create", "--flavor", "m1.tiny", "--image", "cirros-0.6.2-x86_64-disk",
        "--nic", "none", "demo-vm", user="demo",
    )  # fmt: skip
    admins = openstack(
        deployment, "server", "create", "--flavor", "m1.tiny", "--image", "cirros-0.6.2-x86_64-disk",
        "--nic", "none", "admin-vm",
    )  # fmt: skip
    assert [s["ID"] for s in openstack(deployment, "server", "list", user="demo")] == [mine["id"]]
    assert f"No Server found for {admins['id']}" in openstack_fails(
        deployment, "server", "show", admins["id"], user="demo"
    )
    everyone = {s["ID"] for s in openstack(deployment, "server", "list", "--all-projects")}
    assert {mine["id"], admins["id"]} <= everyone
    assert "ForbiddenException: 403" in openstack_fails(deployment, "hypervisor", "list", user="demo")


def test_flavor_create_list_show(deployment: Cluster) -> None:
    created = openstack(deployment, "flavor", "create", "--ram", "256", "--disk", "1", "--vcpus", "1", "cli.small")
    assert (created["name"], created["ram"], created["vcpus"], created["disk"]) == ("cli.small", 256, 1, 1)
    assert "cli.small" in [f["Name"] for f in openstack(deployment, "flavor", "list")]
    assert openstack(deployment, "flavor", "show", "cli.small")["id"] == created["id"]


def test_keypair_import_and_list(deployment: Cluster, tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    public = Ed25519PrivateKey.generate().public_key()
    key_file = tmp_path / "id_ed25519.pub"
    key_file.write_bytes(public.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH))

    created = openstack(deployment, "keypair", "create", "--public-key", str(key_file), "cli-key")
    assert created["name"] == "cli-key"
    listed = openstack(deployment, "keypair", "list")
    assert [k["Fingerprint"] for k in listed if k["Name"] == "cli-key"] == [created["fingerprint"]]


def test_image_create_from_a_file_and_list(deployment: Cluster, tmp_path: Path) -> None:
    data = tmp_path / "disk.raw"
    data.write_bytes(os.urandom(256 * 1024))
    created = openstack(
        deployment, "image", "create", "--file", str(data), "--disk-format", "raw", "--container-format", "bare",
        "cli-image",
    )  # fmt: skip
    assert created["status"] == "active"
    assert created["size"] == 256 * 1024
    assert "cli-image" in [i["Name"] for i in openstack(deployment, "image", "list")]


def test_hypervisors_and_compute_services(deployment: Cluster) -> None:
    hypervisors = openstack(deployment, "hypervisor", "list")
    assert [h["Hypervisor Hostname"] for h in hypervisors] == [COMPUTE_HOST]

    services = openstack(deployment, "compute", "service", "list")
    assert [(s["Binary"], s["Host"], s["Status"]) for s in services if s["Binary"] == "nova-compute"] == [
        ("nova-compute", COMPUTE_HOST, "enabled")
    ]
    openstack(
        deployment, "compute", "service", "set", "--disable", "--disable-reason", "maintenance", COMPUTE_HOST,
        "nova-compute", parse=False,
    )  # fmt: skip
    services = openstack(deployment, "compute", "service", "list", "--long")
    assert [(s["Status"], s["Disabled Reason"]) for s in services if s["Host"] == COMPUTE_HOST] == [
        ("disabled", "maintenance")
    ]
    openstack(deployment, "compute", "service", "set", "--enable", COMPUTE_HOST, "nova-compute", parse=False)


def test_quota_show_and_set(deployment: Cluster) -> None:
    openstack(deployment, "quota", "set", "--instances", "7", "--cores", "30", "demo", parse=False)
    quotas = openstack(deployment, "quota", "show", "demo")
    by_resource = {row["Resource"]: row["Limit"] for row in quotas} if isinstance(quotas, list) else quotas
    assert by_resource["instances"] == 7
    assert by_resource["cores"] == 30


def test_usage_list(deployment: Cluster) -> None:
    usage = openstack(deployment, "usage", "list")
    assert isinstance(usage, list)


def test_aggregate_create_and_add_host(deployment: Cluster) -> None:
    created = openstack(deployment, "aggregate", "create", "--property", "ssd=true", "cli-agg")
    assert created["name"] == "cli-agg"
    added = openstack(deployment, "aggregate", "add", "host", "cli-agg", COMPUTE_HOST)
    assert added["hosts"] == [COMPUTE_HOST]
    # Nova refuses to move a host that has servers into another zone; so does Chronova.
    openstack(deployment, "aggregate", "create", "--zone", "zone-a", "cli-zone")
    refused = openstack_fails(deployment, "aggregate", "add", "host", "cli-zone", COMPUTE_HOST)
    assert "would change from 'nova' to 'zone-a'" in refused


def test_server_group_create(deployment: Cluster) -> None:
    created = openstack(deployment, "server", "group", "create", "--policy", "anti-affinity", "cli-group")
    assert created["name"] == "cli-group"
    assert created["policy"] == "anti-affinity"


def test_server_power_actions_lock_and_console(deployment: Cluster) -> None:
    created = openstack(
        deployment,
        "server", "create", "--flavor", "m1.tiny", "--image", "cirros-0.6.2-x86_64-disk", "--nic", "none",
        "--wait", "cli-life",
    )  # fmt: skip
    server_id = created["id"]

    def shown() -> dict[str, Any]:
        url = f"{deployment.api_url}/v2.1/servers/{server_id}"
        headers = {"OpenStack-API-Version": "compute 2.73", **deployment.headers}
        return requests.get(url, headers=headers, timeout=10).json()["server"]

    for command, status in (
        ("stop", "SHUTOFF"), ("start", "ACTIVE"), ("pause", "PAUSED"), ("unpause", "ACTIVE"),
        ("suspend", "SUSPENDED"), ("resume", "ACTIVE"),
    ):  # fmt: skip
        openstack(deployment, "server", command, server_id, parse=False)
        wait_for(lambda: shown()["status"] == status, what=f"server {command} to reach {status}")  # noqa: B023
    openstack(deployment, "server", "reboot", "--hard", "--wait", server_id, parse=False)
    assert (shown()["status"], shown()["OS-EXT-STS:task_state"]) == ("ACTIVE", None)

    version = ("--os-compute-api-version", "2.73")
    openstack(deployment, *version, "server", "lock", "--reason", "maintenance", server_id, parse=False)
    assert (shown()["locked"], shown()["locked_reason"]) == (True, "maintenance")
    openstack(deployment, "server", "unlock", server_id, parse=False)
    assert (shown()["locked"], shown()["locked_reason"]) == (False, None)

    # The agent on libvirt's test driver answers that the guest has no console to read.
    refused = openstack_fails(deployment, "console", "log", "show", server_id)
    assert "Guest does not have a console available." in refused
    openstack(deployment, "server", "delete", "--wait", server_id, parse=False)
