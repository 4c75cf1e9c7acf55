"""A real guest under qemu:///system (domain type qemu, software emulation): the test
builds a busybox initramfs, registers it with a kernel from /boot as Nova's AMI-style
images through the image API, boots a server from them, and reads its serial console
through os-getConsoleOutput while it reboots, stops, starts and is deleted.

`make test` installs what this needs (qemu-system-x86, busybox-static, a Debian
kernel); it skips only where libvirtd cannot run at all."""

from __future__ import annotations

import glob
import gzip
import io
import os
import shutil
import socket
import stat
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import libvirt
import pytest
import requests

from tests.conftest import Cluster, wait_for
from tests.integration.helpers import get_server, wait_for_status
from tests.integration.test_distributed_boot import start_control_plane, wait_for_hypervisor

pytestmark = pytest.mark.integration

QEMU_URI = "qemu:///system"
BUSYBOX = "/bin/busybox"
VIRTLOGD_SOCKET = "/run/libvirt/virtlogd-sock"
INIT_RAN = "CHRONOVA-GUEST-INIT-RAN"
# The guest's whole userland: say that init ran, then idle until the domain is shut off.
INIT = f"""#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc
echo {INIT_RAN}
while true; do /bin/busybox sleep 60; done
""".encode()
LATEST = {"OpenStack-API-Version": "compute 2.100"}
BOOT_TIMEOUT = 120.0  # a kernel under TCG on a busy machine


def newc_archive(entries: list[tuple[str, int, bytes, tuple[int, int]]]) -> bytes:
    """A gzipped cpio archive in the kernel's initramfs format ("newc"); device nodes need no privilege here."""
    out = io.BytesIO()
    for inode, (name, mode, data, (rdev_major, rdev_minor)) in enumerate(
        [*entries, ("TRAILER!!!", 0, b"", (0, 0))], start=1
    ):
        encoded = name.encode() + b"\0"
        fields = (inode, mode, 0, 0, 1, 0, len(data), 0, 0, rdev_major, rdev_minor, len(encoded), 0)
        out.write(b"070701" + "".join(f"{value:08x}" for value in fields).encode() + encoded)
        out.write(b"\0" * (-(110 + len(encoded)) % 4))
        out.write(data + b"\0" * (-len(data) % 4))
    return gzip.compress(out.getvalue())


def busybox_initramfs() -> bytes:
    directory = stat.S_IFDIR | 0o755
    return newc_archive(
        [
            ("bin", directory, b"", (0, 0)),
            ("dev", directory, b"", (0, 0)),
            ("dev/console", stat.S_IFCHR | 0o600, b"", (5, 1)),
            ("proc", directory, b"", (0, 0)),
            ("bin/busybox", stat.S_IFREG | 0o755, Path(BUSYBOX).read_bytes(), (0, 0)),
            ("init", stat.S_IFREG | 0o755, INIT, (0, 0)),
        ]
    )


def listening(path: str) -> bool:
    """Whether a daemon accepts on the unix socket at `path` (its file alone proves nothing)."""
    with socket.socket(socket.AF_UNIX) as probe:
        return probe.connect_ex(path) == 0


@pytest.fixture
def qemu_system(libvirtd: str) -> str:
    """qemu:///system with virtlogd (which logs every qemu process); what `make test` installs must be here."""
    for needed, package in ((shutil.which("qemu-system-x86_64"), "qemu-system-x86"), (BUSYBOX, "busybox-static")):
        if not needed or not os.path.exists(needed):
            pytest.fail(f"{package} is not installed: `make test` installs it")
    if not listening(VIRTLOGD_SOCKET):
        # A socket file left by a virtlogd that is gone (a previous session's) answers nothing.
        Path(VIRTLOGD_SOCKET).unlink(missing_ok=True)
        subprocess.run([shutil.which("virtlogd") or "/usr/sbin/virtlogd", "-d"], check=True)
        wait_for(lambda: listening(VIRTLOGD_SOCKET), timeout=10, what="virtlogd")
    libvirt.open(QEMU_URI).close()
    return QEMU_URI


@pytest.fixture
def instances_path() -> Iterator[Path]:
    """Outside pytest's private temporary tree: the hypervisor's own user must reach the kernels."""
    path = Path(tempfile.mkdtemp(prefix="chronova-instances-", dir="/var/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def kernel_path() -> str:
    kernels = sorted(glob.glob("/boot/vmlinuz-*"))
    if not kernels:
        pytest.fail("no kernel in /boot: `make test` installs linux-image-cloud-amd64")
    return kernels[-1]


def register_image(cluster: Cluster, name: str, data: bytes, disk_format: str, **properties: str) -> str:
    body = {"name": name, "disk_format": disk_format, "container_format": disk_format, **properties}
    created = requests.post(f"{cluster.api_url}/image/v2/images", json=body, headers=cluster.headers, timeout=10)
    assert created.status_code == 201, created.text
    image_id = created.json()["id"]
    uploaded = requests.put(
        f"{cluster.api_url}/image/v2/images/{image_id}/file",
        data=data,
        headers={**cluster.headers, "Content-Type": "application/octet-stream"},
        timeout=60,
    )
    assert uploaded.status_code == 204, uploaded.text
    return image_id


def act(cluster: Cluster, server_id: str, body: dict) -> requests.Response:
    return requests.post(
        f"{cluster.api_url}/v2.1/servers/{server_id}/action",
        json=body,
        headers={**LATEST, **cluster.headers},
        timeout=30,
    )


def console(cluster: Cluster, server_id: str) -> str:
    response = act(cluster, server_id, {"os-getConsoleOutput": {}})
    return response.json()["output"] if response.status_code == 200 else ""


def wait_for_boots(cluster: Cluster, server_id: str, boots: int) -> None:
    """The console is appended to across reboots: each boot adds one line from init."""
    wait_for(
        lambda: console(cluster, server_id).count(INIT_RAN) >= boots,
        timeout=BOOT_TIMEOUT,
        interval=1.0,
        what=f"boot {boots} of the guest to reach its init",
    )


def test_a_busybox_guest_boots_reboots_stops_starts_and_is_deleted(
    cluster: Cluster, qemu_system: str, instances_path: Path, tmp_path: Path
) -> None:
    host = f"it-{uuid.uuid4().hex[:8]}"
    cluster.env["CHRONOVA_IMAGE_DIR"] = str(tmp_path / "images")  # not the checkout's data/
    start_control_plane(cluster)
    cluster.start(
        "agent",
        "--host",
        host,
        CHRONOVA_LIBVIRT_URI=qemu_system,
        CHRONOVA_AGENT_API_URL=cluster.api_url,
        CHRONOVA_AGENT_USERNAME="admin",
        CHRONOVA_AGENT_PASSWORD=cluster.env["CHRONOVA_ADMIN_PASSWORD"],
        CHRONOVA_INSTANCES_PATH=str(instances_path),
        # The busybox init ignores ACPI: a clean shutdown is given up on quickly, then forced, as Nova does.
        CHRONOVA_SHUTDOWN_TIMEOUT="2",
        CHRONOVA_SOFT_REBOOT_TIMEOUT="2",
    )
    wait_for_hypervisor(cluster, host)
    kernel_id = register_image(cluster, "kernel", Path(kernel_path()).read_bytes(), "aki", visibility="public")
    ramdisk_id = register_image(cluster, "busybox", busybox_initramfs(), "ari", visibility="public")
    image_id = register_image(
        cluster,
        "tiny",
        bytes(512),
        "ami",
        kernel_id=kernel_id,
        ramdisk_id=ramdisk_id,
        os_command_line="console=ttyS0 panic=-1",
    )
    created = requests.post(
        f"{cluster.api_url}/v2.1/servers",
        json={"server": {"name": "guest", "imageRef": image_id, "flavorRef": "1", "networks": "none"}},
        headers={**LATEST, **cluster.headers},
        timeout=10,
    )
    assert created.status_code == 202, created.text
    server_id = created.json()["server"]["id"]
    conn = libvirt.open(qemu_system)
    try:
        wait_for_status(cluster, server_id, "ACTIVE", timeout=60)
        domain = conn.lookupByUUIDString(server_id)
        assert domain.OSType() == "hvm" and "<kernel>" in domain.XMLDesc(0)
        wait_for_boots(cluster, server_id, 1)

        assert act(cluster, server_id, {"reboot": {"type": "SOFT"}}).status_code == 202
        wait_for_boots(cluster, server_id, 2)
        wait_for_status(cluster, server_id, "ACTIVE", timeout=60)

        assert act(cluster, server_id, {"os-stop": None}).status_code == 202
        stopped = wait_for_status(cluster, server_id, "SHUTOFF", timeout=60)
        assert stopped["OS-EXT-STS:power_state"] == 4
        assert not conn.lookupByUUIDString(server_id).isActive()

        assert act(cluster, server_id, {"os-start": None}).status_code == 202
        wait_for_status(cluster, server_id, "ACTIVE", timeout=60)
        wait_for_boots(cluster, server_id, 3)

        deleted = requests.delete(f"{cluster.api_url}/v2.1/servers/{server_id}", headers=cluster.headers, timeout=10)
        assert deleted.status_code == 204
        wait_for(lambda: get_server(cluster, server_id).status_code == 404, timeout=60, what="the server to be gone")
        assert server_id not in [d.UUIDString() for d in conn.listAllDomains(0)]
        assert not (instances_path / server_id).exists()
    finally:
        leftover = [d for d in conn.listAllDomains(0) if d.UUIDString() == server_id]
        for domain in leftover:
            if domain.isActive():
                domain.destroy()
            domain.undefine()
        conn.close()
