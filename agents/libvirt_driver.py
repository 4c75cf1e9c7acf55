"""One compute host's hypervisor, through libvirt-python.

Every operation is idempotent: the agent may see a placement event again
after a crash, and must then converge on one running domain, not two.
The domain's libvirt UUID is the server's id, which makes the lookup exact.

Power actions follow Nova's libvirt driver: a stop or a soft reboot first
asks the guest to shut down and destroys the domain only when it does not
within a timeout; Nova's pause is libvirt's suspend (the guest's vCPUs stop,
its memory stays), Nova's suspend is a managed save (the memory goes to
disk, the domain shuts off and the next start restores it). Each action
finds a domain already where it leads and leaves it there, so a redelivered
request changes nothing; a reboot delivered twice reboots twice and still
ends running.
"""

from __future__ import annotations

import logging
import os
import time
import xml.etree.ElementTree as ET
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


# Nova's defaults: how long a guest may take to shut down when stopped (CONF.shutdown_timeout)
# and when soft rebooted (CONF.libvirt.wait_soft_reboot_seconds) before it is forced.
SHUTDOWN_TIMEOUT = 60.0
SOFT_REBOOT_TIMEOUT = 120.0
# How much of a console log Nova reads (its libvirt driver's MAX_CONSOLE_BYTES).
MAX_CONSOLE_BYTES = 100 * 1024
# Where a domain's console text may be, in the order Nova's libvirt driver looks.
_CONSOLE_FILES = (
    ("./devices/console[@type='file']/source", "path"),
    ("./devices/serial[@type='file']/source", "path"),
    ("./devices/console/log", "file"),
    ("./devices/serial/log", "file"),
)


class DomainStateError(Exception):
    """The domain is in a state the action cannot start from (a stopped domain asked to unpause)."""


class ConsoleNotAvailable(Exception):
    """The guest has no console whose text this host can read (Nova's ConsoleNotAvailable)."""


def domain_name(server_id: str) -> str:
    return f"{DOMAIN_NAME_PREFIX}{server_id}"


class LibvirtHypervisor:
    def __init__(
        self,
        uri: str,
        host: str,
        vcpus: int = 0,
        memory_mb: int = 0,
        disk_gb: int = 1024,
        shutdown_timeout: float = SHUTDOWN_TIMEOUT,
        soft_reboot_timeout: float = SOFT_REBOOT_TIMEOUT,
    ) -> None:
        self.host = host
        self._uri = uri
        self._conn = libvirt.open(uri)
        self._vcpus = vcpus
        self._memory_mb = memory_mb
        self._disk_gb = disk_gb
        self._shutdown_timeout = shutdown_timeout
        self._soft_reboot_timeout = soft_reboot_timeout
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
        return self._power_state(domain)

    def destroy(self, server_id: str) -> None:
        """Stop and forget the domain; a domain already gone is fine."""
        with self._transient_if_disconnected():
            domain = self._lookup(server_id)
            if domain is None:
                return
            if domain.isActive():
                domain.destroy()
            domain.undefine()

    # --- power actions: each returns the domain's power state afterwards -----------------
    def power_off(self, server_id: str) -> PowerState:
        """Nova's stop: a clean shutdown first; a missing domain is already off."""
        with self._transient_if_disconnected():
            domain = self._lookup(server_id)
            if domain is None:
                return PowerState.NOSTATE
            running = self._power_state(domain) == PowerState.RUNNING
            if domain.isActive() and not (running and self._shut_down(domain, self._shutdown_timeout)):
                domain.destroy()
            return self._power_state(domain)

    def power_on(self, server_id: str) -> PowerState:
        with self._transient_if_disconnected():
            domain = self._conn.lookupByUUIDString(server_id)
            if not domain.isActive():
                domain.create()
            return self._power_state(domain)

    def reboot(self, server_id: str, hard: bool) -> PowerState:
        """A soft reboot is a clean shutdown and a start; a guest that does not shut down is hard rebooted.

        A hard reboot destroys whatever runs and boots afresh: a suspended
        server's saved memory is dropped, as Nova's hard reboot does.
        """
        with self._transient_if_disconnected():
            domain = self._conn.lookupByUUIDString(server_id)
            soft = not hard and self._power_state(domain) == PowerState.RUNNING
            if not (soft and self._shut_down(domain, self._soft_reboot_timeout)):
                if domain.isActive():
                    domain.destroy()
                if domain.hasManagedSaveImage(0):
                    domain.managedSaveRemove(0)
            domain.create()
            return self._power_state(domain)

    def pause(self, server_id: str) -> PowerState:
        with self._transient_if_disconnected():
            domain = self._conn.lookupByUUIDString(server_id)
            if self._power_state(domain) != PowerState.PAUSED:
                domain.suspend()
            return self._power_state(domain)

    def unpause(self, server_id: str) -> PowerState:
        with self._transient_if_disconnected():
            domain = self._conn.lookupByUUIDString(server_id)
            state = self._power_state(domain)
            if state == PowerState.PAUSED:
                domain.resume()
            elif state != PowerState.RUNNING:
                raise DomainStateError(f"Domain {domain_name(server_id)} is not paused but {state.name}")
            return self._power_state(domain)

    def suspend(self, server_id: str) -> PowerState:
        """Saves the guest's memory and shuts the domain off; libvirt then reports it shut off (Nova's 4)."""
        with self._transient_if_disconnected():
            domain = self._conn.lookupByUUIDString(server_id)
            if domain.isActive() or not domain.hasManagedSaveImage(0):
                domain.managedSave(0)
            return self._power_state(domain)

    def resume(self, server_id: str) -> PowerState:
        """Starting a domain with a saved memory image restores it; a guest saved while paused runs again."""
        with self._transient_if_disconnected():
            domain = self._conn.lookupByUUIDString(server_id)
            if not domain.isActive():
                domain.create()
            if self._power_state(domain) == PowerState.PAUSED:
                domain.resume()
            return self._power_state(domain)

    def power_state(self, server_id: str) -> PowerState:
        """NOSTATE when there is no such domain."""
        with self._transient_if_disconnected():
            domain = self._lookup(server_id)
            return PowerState.NOSTATE if domain is None else self._power_state(domain)

    def console_output(self, server_id: str) -> str:
        """The end of the guest's console log, as Nova's libvirt driver reads it: a domain without a
        file-backed console has none to read, one whose file does not exist yet has printed nothing."""
        with self._transient_if_disconnected():
            domain = self._lookup(server_id)
            if domain is None:
                raise ConsoleNotAvailable(f"Domain {domain_name(server_id)} is not on this host")
            tree = ET.fromstring(domain.XMLDesc(0))
        path = next((node.get(attribute) for where, attribute in _CONSOLE_FILES for node in tree.findall(where)), None)
        if not path:
            raise ConsoleNotAvailable("Guest does not have a console available.")
        try:
            with open(path, "rb") as log_file:
                log_file.seek(max(0, os.fstat(log_file.fileno()).st_size - MAX_CONSOLE_BYTES))
                return log_file.read(MAX_CONSOLE_BYTES).decode("ascii", "replace")
        except FileNotFoundError:
            return ""
        except OSError as e:
            raise ConsoleNotAvailable(f"The console log cannot be read: {e.strerror}") from None

    def _shut_down(self, domain: libvirt.virDomain, timeout: float) -> bool:
        """Ask the guest to shut down; whether its domain is off within `timeout` seconds."""
        try:
            domain.shutdown()
        except libvirt.libvirtError:
            return not domain.isActive()  # it went off meanwhile, or refuses: then it is forced
        deadline = time.monotonic() + timeout
        pause = 0.01
        while domain.isActive():
            if time.monotonic() >= deadline:
                return False
            time.sleep(pause)
            pause = min(pause * 2, 1.0)
        return True

    @staticmethod
    def _power_state(domain: libvirt.virDomain) -> PowerState:
        return _POWER_STATES.get(domain.state()[0], PowerState.NOSTATE)

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
