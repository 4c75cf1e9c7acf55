"""The agent fetching what a real guest boots from over the image and identity APIs
(served here by the embedded apps on a local port): Nova's AMI-style properties name
the kernel and initramfs, and the agent refuses what the image's owner could not use."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest
from falcon.testing import TestClient

from agents.images import DEFAULT_COMMAND_LINE, GuestImages, ImageUnavailable
from chronova.cloud import Cloud
from chronova.config import Settings
from chronova.seed import seed
from tests.unit.conftest import OTHER

PASSWORD = "agent-test-password"


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def api_url(client: TestClient, cloud: Cloud, settings: Settings) -> Iterator[str]:
    seed(cloud, settings.with_(admin_password=PASSWORD))
    server = make_server("127.0.0.1", 0, client.app, handler_class=_Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


def register(client: TestClient, data: bytes, disk_format: str, headers: dict[str, str] | None = None, **extra: str):
    container_format = disk_format if disk_format in ("aki", "ari", "ami") else "bare"
    body = {"name": disk_format, "disk_format": disk_format, "container_format": container_format, **extra}
    created = client.simulate_post("/image/v2/images", json=body, headers=headers)
    assert created.status_code == 201, created.text
    image_id = created.json["id"]
    uploaded = client.simulate_put(
        f"/image/v2/images/{image_id}/file",
        body=data,
        headers={**(headers or {}), "Content-Type": "application/octet-stream"},
    )
    assert uploaded.status_code == 204, uploaded.text
    return image_id


@pytest.fixture
def images(api_url: str, tmp_path: Path) -> GuestImages:
    return GuestImages(api_url, "admin", PASSWORD, "admin", instances_path=tmp_path / "instances")


def test_an_ami_boots_its_kernel_and_ramdisk_with_the_console_in_the_servers_directory(
    client: TestClient, catch_up: Callable[[], None], images: GuestImages, tmp_path: Path
) -> None:
    kernel = register(client, b"kernel-bytes", "aki", visibility="public")
    ramdisk = register(client, b"initramfs-bytes", "ari", visibility="public")
    ami = register(client, bytes(16), "ami", kernel_id=kernel, ramdisk_id=ramdisk)
    catch_up()
    server_id = str(uuid.uuid4())

    boot = images.kernel_boot(server_id, ami)

    assert boot is not None
    directory = tmp_path / "instances" / server_id
    assert Path(boot.kernel).read_bytes() == b"kernel-bytes"
    assert boot.ramdisk is not None and Path(boot.ramdisk).read_bytes() == b"initramfs-bytes"
    assert (boot.command_line, boot.console_log) == (DEFAULT_COMMAND_LINE, str(directory / "console.log"))
    assert images.kernel_boot(server_id, ami) == boot  # a redelivered spawn finds it there
    images.forget(server_id)
    assert not directory.exists()


def test_an_image_without_a_kernel_boots_nothing_special(
    client: TestClient, catch_up: Callable[[], None], images: GuestImages
) -> None:
    plain = register(client, bytes(16), "raw")
    catch_up()
    assert images.kernel_boot(str(uuid.uuid4()), plain) is None


def test_a_kernel_its_owner_may_not_use_or_that_is_no_image_is_refused(
    client: TestClient, catch_up: Callable[[], None], images: GuestImages
) -> None:
    private_elsewhere = register(client, b"someone else's kernel", "aki", headers=OTHER)
    theirs = register(client, bytes(16), "ami", kernel_id=private_elsewhere)
    not_an_id = register(client, bytes(16), "ami", kernel_id="../../identity/v3/users")
    catch_up()
    with pytest.raises(ImageUnavailable, match="could not be found"):
        images.kernel_boot(str(uuid.uuid4()), theirs)
    with pytest.raises(ImageUnavailable, match="is not an image id"):
        images.kernel_boot(str(uuid.uuid4()), not_an_id)


def test_bad_credentials_fail_the_spawn_and_an_unreachable_service_is_transient(
    api_url: str, image_id: str, tmp_path: Path
) -> None:
    with pytest.raises(ImageUnavailable, match="login as 'admin' refused"):
        GuestImages(api_url, "admin", "wrong", "admin", tmp_path).kernel_boot(str(uuid.uuid4()), image_id)
    with pytest.raises(ConnectionError):
        GuestImages("http://127.0.0.1:9", "admin", PASSWORD, "admin", tmp_path).kernel_boot("x", image_id)
