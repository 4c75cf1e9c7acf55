"""One compute host's hypervisor, through libvirt-python.

Every operation is idempotent: the agent may see a placement event again
after a crash, and must then converge on one running domain, not two.
The domain's libvirt UUID is the server's id, which makes the lookup exact.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from xml.sax.saxutils import escape

import libvirt

from domain.placement import default_inventories, inventories_to_dict
from domain.states import PowerState

log = logging.getLogger(__name__)

# libvirt prints every error to stderr by default, including the "no such
# domain" that an idempotent lookup expects; errors reach us as exceptions.
libvirt.registerErrorHandler(lambda _ctx, _err: None, None)

DOMAIN_NAME_PREFIX = "instance-"

_POWER_STATES = {
    libvirt.VIR_DOMAIN_NOSTATE: PowerState.NOSTATE,
    libvirt.VIR_DOMAIN_RUNNING: PowerState.RUNNING,
    libvirt.VIR_DOMAIN_BLOCKED: PowerState.RUNNING,
    libvirt.VIR_DOMAIN_PAUSED: PowerState.PAUSED,
    libvirt.VIR_DOMAIN_SHUTDOWN: PowerState.SHUTDOWN,
    libvirt.VIR_DOMAIN_SHUTOFF: PowerState.SHUTDOWN,
    libvirt.VIR_DOMAIN_CRASHED: PowerState.CRASHED,
    libvirt.VIR_DOMAIN_PMSUSPENDED: PowerState.SUSPENDED,
}


def domain_name(server_id: str) -> str:
    return f"{DOMAIN_NAME_PREFIX}{server_id}"


class LibvirtHypervisor:
    def __init__(self, uri: str, host: str, vcpus: int = 0, memory_mb: int = 0, disk_gb: int = 1024) -> None:
        self.host = host
        self._uri = uri
        self._conn = libvirt.open(uri)
        self._vcpus = vcpus
        self._memory_mb = memory_mb
        self._disk_gb = disk_gb
        self._domain_type = "test" if self._conn.getType().lower() == "test" else "qemu"

    def spawn(self, server_id: str, display_name: str, vcpus: int, memory_mb: int) -> PowerState:
        """Define and start the server's domain, or find it already there."""
        with self._transient_if_disconnected():
            return self._spawn(server_id, display_name, vcpus, memory_mb)

    def _spawn(self, server_id: str, display_name: str, vcpus: int, memory_mb: int) -> PowerState:
        domain = self._lookup(server_id)
        if domain is None:
            try:
                domain = self._conn.defineXML(self._domain_xml(server_id, display_name, vcpus, memory_mb))
            except libvirt.libvirtError:
                domain = self._lookup(server_id)  # defined meanwhile by an earlier attempt
                if domain is None:
                    raise
        if not domain.isActive():
            domain.create()
        return _POWER_STATES.get(domain.state()[0], PowerState.NOSTATE)

    def destroy(self, server_id: str) -> None:
        """Stop and forget the domain; a domain already gone is fine."""
        with self._transient_if_disconnected():
            domain = self._lookup(server_id)
            if domain is None:
                return
            if domain.isActive():
                domain.destroy()
            domain.undefine()

    def inventory(self) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
        """What this host offers (Nova's default ratios) and what it runs on."""
        with self._transient_if_disconnected():
            _model, memory_mb, cpus, *_ = self._conn.getInfo()
        inventories = default_inventories(self._vcpus or cpus, self._memory_mb or memory_mb, self._disk_gb)
        hypervisor = {
            "type": self._conn.getType(),
            "version": self._conn.getVersion(),
            "hostname": self.host,
            "uri": self._uri,
        }
        return inventories_to_dict(inventories), hypervisor

    @contextmanager
    def _transient_if_disconnected(self) -> Iterator[None]:
        """A libvirt error on a dead connection is the daemon's, not the domain's:
        reconnect and raise ConnectionError, which the consumer loop retries,
        instead of failing the server."""
        try:
            yield
        except libvirt.libvirtError as e:
            if self._alive():
                raise
            try:
                self._conn = libvirt.open(self._uri)
            except libvirt.libvirtError:
                pass  # still down; the next attempt reconnects
            raise ConnectionError(f"libvirt at {self._uri} unreachable: {e}") from e

    def _alive(self) -> bool:
        try:
            return bool(self._conn.isAlive())
        except libvirt.libvirtError:
            return False

    def _lookup(self, server_id: str) -> libvirt.virDomain | None:
        try:
            return self._conn.lookupByUUIDString(server_id)
        except libvirt.libvirtError as e:
            if e.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                return None
            raise

    def _domain_xml(self, server_id: str, display_name: str, vcpus: int, memory_mb: int) -> str:
        return f"""<domain type='{self._domain_type}'>
  <name>{domain_name(server_id)}</name>
  <uuid>{server_id}</uuid>
  <title>{escape(display_name)}</title>
  <memory unit='MiB'>{memory_mb}</memory>
  <vcpu>{vcpus}</vcpu>
  <os><type arch='x86_64'>hvm</type></os>
  <metadata>
    <chronova:instance xmlns:chronova="https://chronova.invalid/xmlns/instance/1">
      <chronova:host>{escape(self.host)}</chronova:host>
    </chronova:instance>
  </metadata>
</domain>"""
