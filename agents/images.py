"""What a guest boots from, fetched by the agent over the image service's HTTP API.

Chronova boots Nova's AMI-style images: the server's image names a kernel
image (`kernel_id`, disk_format aki) and optionally an initramfs
(`ramdisk_id`, ari) in its properties, and `os_command_line` for the kernel
command line (Nova's image properties of the same names). The guest boots
straight from that kernel and initramfs; its serial console goes to
`console.log` in the server's own directory under `instances_path`, which
is what os-getConsoleOutput reads. An image without `kernel_id` gets no
kernel boot (the domain is defined as before). The image's own data, a root
disk in Nova, is not attached.

The agent never reads the database: it logs in to the identity API with the
service credentials it is configured with and downloads image data like any
Glance client.
"""

from __future__ import annotations

import json
import os
import shutil
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from agents.libvirt_driver import KernelBoot

# Nova's libvirt driver boots AMI-style kernels with a serial console when the image says nothing.
DEFAULT_COMMAND_LINE = "console=ttyS0"
HTTP_TIMEOUT = 30.0
_CHUNK = 1024 * 1024
_USABLE_BY_ANYONE = frozenset({"public", "community"})


class ImageUnavailable(Exception):
    """The image service refused an image or its data: the spawn fails (a transient outage is a ConnectionError)."""


class GuestImages:
    def __init__(self, api_url: str, username: str, password: str, project: str, instances_path: Path) -> None:
        self._api_url = api_url.rstrip("/")
        self._credentials = (username, password, project)
        self._instances_path = instances_path
        self._token: str | None = None

    def kernel_boot(self, server_id: str, image_id: str) -> KernelBoot | None:
        """Download the image's kernel and initramfs into the server's directory (again only if missing)."""
        image = self._get_json(f"/image/v2/images/{image_id}")
        kernel_id, ramdisk_id = image.get("kernel_id"), image.get("ramdisk_id")
        if not kernel_id:
            return None
        directory = self._instances_path / server_id
        directory.mkdir(parents=True, exist_ok=True)
        directory.chmod(0o755)  # the hypervisor's own user (libvirt-qemu) reads the kernel from here
        kernel = self._download(image, "kernel_id", directory / "kernel")
        ramdisk = self._download(image, "ramdisk_id", directory / "ramdisk") if ramdisk_id else None
        return KernelBoot(
            kernel=str(kernel),
            ramdisk=str(ramdisk) if ramdisk else None,
            command_line=str(image.get("os_command_line") or DEFAULT_COMMAND_LINE),
            console_log=str(directory / "console.log"),
        )

    def forget(self, server_id: str) -> None:
        """The server is gone: so are its kernel, initramfs and console log."""
        shutil.rmtree(self._instances_path / server_id, ignore_errors=True)

    def _download(self, image: dict[str, Any], property_name: str, path: Path) -> Path:
        """The image a property names, if the boot image's owner may use it: the agent reads with its service
        credentials, so it checks what Glance would have checked for the user (public, or the same owner)."""
        try:
            image_id = str(uuid.UUID(str(image[property_name])))
        except ValueError:
            raise ImageUnavailable(f"{property_name} {image[property_name]!r} is not an image id") from None
        part = self._get_json(f"/image/v2/images/{image_id}")
        if part.get("visibility") not in _USABLE_BY_ANYONE and part.get("owner") != image.get("owner"):
            raise ImageUnavailable(f"Image {image_id} ({property_name}) could not be found.")
        size = part.get("size")
        if path.exists() and path.stat().st_size == size:
            return path  # a redelivered spawn
        partial = path.with_suffix(".part")
        with self._open(f"/image/v2/images/{image_id}/file") as response, partial.open("wb") as out:
            shutil.copyfileobj(response, out, _CHUNK)
        partial.chmod(0o644)
        os.replace(partial, path)
        return path

    def _get_json(self, path: str) -> dict[str, Any]:
        with self._open(path) as response:
            body = json.load(response)
        if not isinstance(body, dict):
            raise ImageUnavailable(f"{path}: the image service answered {type(body).__name__}, not an object")
        return body

    def _open(self, path: str, login_again: bool = True) -> Any:
        """GET with the agent's token; one new login when it has expired."""
        token = self._token or self._login()
        request = urllib.request.Request(f"{self._api_url}{path}", headers={"X-Auth-Token": token})
        try:
            return urllib.request.urlopen(request, timeout=HTTP_TIMEOUT)
        except urllib.error.HTTPError as e:
            if e.code == 401 and login_again:
                self._token = None
                return self._open(path, login_again=False)
            raise ImageUnavailable(f"GET {path}: {e.code} {e.reason}") from None
        except (urllib.error.URLError, OSError) as e:
            raise ConnectionError(f"image service at {self._api_url} unreachable: {e}") from e

    def _login(self) -> str:
        username, password, project = self._credentials
        body = {
            "auth": {
                "identity": {
                    "methods": ["password"],
                    "password": {"user": {"name": username, "domain": {"id": "default"}, "password": password}},
                },
                "scope": {"project": {"name": project, "domain": {"id": "default"}}},
            }
        }
        request = urllib.request.Request(
            f"{self._api_url}/identity/v3/auth/tokens",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as response:
                self._token = response.headers["X-Subject-Token"]
        except urllib.error.HTTPError as e:
            raise ImageUnavailable(f"login as {username!r} refused: {e.code} {e.reason}") from None
        except (urllib.error.URLError, OSError) as e:
            raise ConnectionError(f"identity service at {self._api_url} unreachable: {e}") from e
        return str(self._token)
