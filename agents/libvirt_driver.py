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
import math
import os
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import libvirt

from chronova.scheduler_config import HostPlacementOptions
from domain.placement import DISK_GB, MEMORY_MB, VCPU, default_inventories, inventories_to_dict
from domain.states import PowerState

log = logging.getLogger(__name__)

# libvirt prints every error to stderr by default, including the "no such
# domain" that an idempotent lookup expects; errors reach us as exceptions.
libvirt.registerErrorHandler(lambda _ctx, _err: None, None)

DOMAIN_NAME_PREFIX = "instance-"
# The namespace of the metadata each domain carries: which host defined it.
INSTANCE_XMLNS = "https://chronova.invalid/xmlns/instance/1"
ET.register_namespace("chronova", INSTANCE_XMLNS)  # a redefined domain keeps the prefix it was defined with

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


@dataclass(frozen=True)
class KernelBoot:
    """A guest booted straight from a kernel and an initramfs (agents.images), its serial console in a file."""

    kernel: str
    ramdisk: str | None
    command_line: str
    console_log: str

    def os_xml(self) -> str:
        initrd = f"<initrd>{escape(self.ramdisk)}</initrd>" if self.ramdisk else ""
        return f"<kernel>{escape(self.kernel)}</kernel>{initrd}<cmdline>{escape(self.command_line)}</cmdline>"

    def devices_xml(self) -> str:
        """Appended to, so the console keeps every boot's output across reboots, as Nova's console.log does."""
        source = f"<source path={quoteattr(self.console_log)} append='on'/>"
        return f"<devices><serial type='file'>{source}<target port='0'/></serial></devices>"


def domain_name(server_id: str) -> str:
    return f"{DOMAIN_NAME_PREFIX}{server_id}"


def _set_instance_metadata(tree: ET.Element, name: str, value: str | None) -> None:
    """Set (or with None remove) one element of the domain's Chronova metadata."""
    instance = tree.find(f"./metadata/{{{INSTANCE_XMLNS}}}instance")
    if instance is None:
        metadata = tree.find("./metadata")
        metadata = ET.SubElement(tree, "metadata") if metadata is None else metadata
        instance = ET.SubElement(metadata, f"{{{INSTANCE_XMLNS}}}instance")
    for old in instance.findall(f"{{{INSTANCE_XMLNS}}}{name}"):
        instance.remove(old)
    if value is not None:
        ET.SubElement(instance, f"{{{INSTANCE_XMLNS}}}{name}").text = value


def instance_metadata(domain: libvirt.virDomain, name: str) -> str | None:
    """One element of the domain's Chronova metadata (the image a rebuild or a rescue put there)."""
    tree = ET.fromstring(domain.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
    return tree.findtext(f"./metadata/{{{INSTANCE_XMLNS}}}instance/{{{INSTANCE_XMLNS}}}{name}")


def _sized(domain: libvirt.virDomain, vcpus: int, memory_mb: int) -> bool:
    _state, max_memory_kib, _memory, domain_vcpus, _cpu_time = domain.info()
    return (max_memory_kib, domain_vcpus) == (memory_mb * 1024, vcpus)


def _lookup_on(conn: libvirt.virConnect, server_id: str) -> libvirt.virDomain | None:
    try:
        return conn.lookupByUUIDString(server_id)
    except libvirt.libvirtError as e:
        if e.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
            return None
        raise


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
        placement: HostPlacementOptions | None = None,
    ) -> None:
        self.host = host
        self._placement = placement or HostPlacementOptions()
        self.traits = list(self._placement.traits)
        self._uri = uri
        self._conn = libvirt.open(uri)
        self._vcpus = vcpus
        self._memory_mb = memory_mb
        self._disk_gb = disk_gb
        self._shutdown_timeout = shutdown_timeout
        self._soft_reboot_timeout = soft_reboot_timeout
        self._domain_type = "test" if self._conn.getType().lower() == "test" else "qemu"

    def spawn(
        self, server_id: str, display_name: str, vcpus: int, memory_mb: int, kernel_boot: KernelBoot | None = None
    ) -> PowerState:
        """Define and start the server's domain, or find it already there."""
        with self._transient_if_disconnected():
            return self._spawn(server_id, display_name, vcpus, memory_mb, kernel_boot)

    def _spawn(
        self, server_id: str, display_name: str, vcpus: int, memory_mb: int, kernel_boot: KernelBoot | None
    ) -> PowerState:
        domain = self._lookup(server_id)
        if domain is None:
            try:
                domain = self._conn.defineXML(self._domain_xml(server_id, display_name, vcpus, memory_mb, kernel_boot))
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

    def destroy_left_behind(self, server_id: str) -> bool:
        """Destroy the domain only if this host defined it (simulated hosts sharing one driver see each other's
        domains, and the server's live copy may be one of them); whether it did."""
        with self._transient_if_disconnected():
            domain = self._lookup(server_id)
            if domain is None or self.owner(domain) != self.host:
                return False
        self.destroy(server_id)
        return True

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

    # --- lifecycle actions (agents.lifecycle): the domain is redefined, as Nova's driver does --------
    def rebuild(self, server_id: str, display_name: str, image_id: str) -> PowerState:
        """The domain defined afresh from the new image; it runs again only if it ran before (Nova keeps a
        stopped server stopped). The test driver's domains have no disk: the image is recorded in the
        domain's metadata, where a rebuild on a real host would have written a new root disk."""
        with self._transient_if_disconnected():
            domain = self._conn.lookupByUUIDString(server_id)
            was_running = bool(domain.isActive()) and not domain.hasManagedSaveImage(0)

            def rebuilt(tree: ET.Element) -> None:
                title = tree.find("title")
                if title is None:
                    title = ET.SubElement(tree, "title")
                title.text = display_name
                _set_instance_metadata(tree, "image", image_id)

            return self._redefine(domain, rebuilt, run=was_running)

    def rescue(self, server_id: str, image_id: str) -> PowerState:
        """Nova's rescue: the guest boots from a rescue image (named in the domain's metadata here)."""
        with self._transient_if_disconnected():
            domain = self._conn.lookupByUUIDString(server_id)
            return self._redefine(domain, lambda tree: _set_instance_metadata(tree, "rescue", image_id), run=True)

    def unrescue(self, server_id: str) -> PowerState:
        with self._transient_if_disconnected():
            domain = self._conn.lookupByUUIDString(server_id)
            return self._redefine(domain, lambda tree: _set_instance_metadata(tree, "rescue", None), run=True)

    def snapshot(self, server_id: str) -> bytes:
        """What the guest's image is made of here: its definition (the test driver's domains have no disk)."""
        with self._transient_if_disconnected():
            domain = self._conn.lookupByUUIDString(server_id)
            return domain.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE).encode()

    def _redefine(self, domain: libvirt.virDomain, change: Callable[[ET.Element], None], run: bool) -> PowerState:
        """Stop the domain, define it again changed, and start it when `run`; doing it twice changes nothing more."""
        tree = ET.fromstring(domain.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
        change(tree)
        if domain.isActive():
            domain.destroy()
        if domain.hasManagedSaveImage(0):
            domain.managedSaveRemove(0)
        domain = self._conn.defineXML(ET.tostring(tree, encoding="unicode"))
        if run:
            domain.create()
        return self._power_state(domain)

    # --- moves (domain.migration): a host changes only the domains its metadata gives it ---------------
    # Simulated hosts may share one hypervisor (libvirtd's test driver): there the server's one domain
    # passes from host to host by its metadata, where separate hypervisors each hold their own.
    def place(self, server_id: str, display_name: str, vcpus: int, memory_mb: int, running: bool) -> PowerState:
        """The server's domain on this host with this size (taken over when a shared hypervisor holds it for
        another host), in the power state it should have; a second call finds it so and changes nothing."""
        with self._transient_if_disconnected():
            domain = self._lookup(server_id)
            if domain is None:
                domain = self._conn.defineXML(self._domain_xml(server_id, display_name, vcpus, memory_mb, None))
            elif self.owner(domain) != self.host or not _sized(domain, vcpus, memory_mb):
                self._redefine(domain, lambda tree: self._claim_tree(tree, vcpus, memory_mb), run=False)
                domain = self._conn.lookupByUUIDString(server_id)
            if running and not domain.isActive():
                domain.create()
            elif not running and domain.isActive():
                domain.destroy()
            return self._power_state(domain)

    def forget(self, server_id: str) -> None:
        """Destroy and undefine the server's domain if it is this host's; one another host holds stays."""
        with self._transient_if_disconnected():
            domain = self._lookup(server_id)
            if domain is not None and self.owner(domain) == self.host:
                if domain.isActive():
                    domain.destroy()
                if domain.hasManagedSaveImage(0):
                    domain.managedSaveRemove(0)
                domain.undefine()

    def live_migrate(self, server_id: str, dest_host: str, dest: libvirt.virConnect) -> PowerState:
        """Move the running domain to `dest` (the destination host's hypervisor): its XML defined and started
        there, then destroyed here. On a shared hypervisor the domain stays and only its host changes.
        Done already (the destination holds it), this only makes sure nothing is left here."""
        with self._transient_if_disconnected():
            there = _lookup_on(dest, server_id)
            if there is not None and self.owner(there) == dest_host:
                self.forget(server_id)
                return self._power_state(there)
            domain = self._conn.lookupByUUIDString(server_id)
            if self.owner(domain) != self.host:
                raise DomainStateError(f"Domain {domain_name(server_id)} is not on host {self.host}")
            if there is not None:  # the same hypervisor: hand the domain over in place
                flags = libvirt.VIR_DOMAIN_AFFECT_CONFIG | (libvirt.VIR_DOMAIN_AFFECT_LIVE if domain.isActive() else 0)
                host_xml = f"<instance><host>{escape(dest_host)}</host></instance>"
                domain.setMetadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, host_xml, "chronova", INSTANCE_XMLNS, flags)
                return self._power_state(domain)
            power = self._power_state(domain)
            tree = ET.fromstring(domain.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
            _set_instance_metadata(tree, "host", dest_host)
            moved = dest.defineXML(ET.tostring(tree, encoding="unicode"))
            if power in (PowerState.RUNNING, PowerState.PAUSED):
                moved.create()
            if power == PowerState.PAUSED:
                moved.suspend()
            self.forget(server_id)
            return self._power_state(moved)

    @property
    def connection(self) -> libvirt.virConnect:
        return self._conn

    @staticmethod
    def owner(domain: libvirt.virDomain) -> str | None:
        """The host whose domain this is, from its Chronova metadata."""
        return instance_metadata(domain, "host")

    def _claim_tree(self, tree: ET.Element, vcpus: int, memory_mb: int) -> None:
        _set_instance_metadata(tree, "host", self.host)
        for name in ("memory", "currentMemory"):
            node = tree.find(name)
            if node is not None:
                node.attrib = {"unit": "KiB"}
                node.text = str(memory_mb * 1024)
        vcpu = tree.find("vcpu")
        if vcpu is not None:
            vcpu.attrib.pop("current", None)
            vcpu.text = str(vcpus)

    def power_state(self, server_id: str) -> PowerState:
        """NOSTATE when there is no such domain."""
        with self._transient_if_disconnected():
            domain = self._lookup(server_id)
            return PowerState.NOSTATE if domain is None else self._power_state(domain)

    def domain_power_states(self) -> tuple[dict[str, PowerState], list[str]]:
        """Every domain this host defined, by server id, with its power state, and the names of the
        domains Chronova did not define. Domains defined for other hosts (simulated hosts sharing
        one test driver) are neither."""
        with self._transient_if_disconnected():
            ours: dict[str, PowerState] = {}
            foreign: list[str] = []
            for domain in self._conn.listAllDomains(0):
                try:
                    metadata = domain.metadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, INSTANCE_XMLNS)
                except libvirt.libvirtError as e:
                    if e.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN_METADATA:
                        foreign.append(domain.name())
                    elif e.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:  # undefined meanwhile: not there
                        raise
                    continue
                if ET.fromstring(metadata).findtext("host") == self.host:  # libvirt hands it back without prefixes
                    ours[domain.UUIDString()] = self._power_state(domain)
            return ours, foreign

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
        """What this host offers (ratios and reservations as configured, Nova's by default) and what it runs on."""
        with self._transient_if_disconnected():
            arch, memory_mb, cpus, *_ = self._conn.getInfo()
        options = self._placement
        inventories = default_inventories(
            self._vcpus or cpus,
            self._memory_mb or memory_mb,
            self._disk_gb,
            allocation_ratios={
                VCPU: options.cpu_allocation_ratio,
                MEMORY_MB: options.ram_allocation_ratio,
                DISK_GB: options.disk_allocation_ratio,
            },
            reserved={
                VCPU: options.reserved_host_cpus,
                MEMORY_MB: options.reserved_host_memory_mb,
                DISK_GB: math.ceil(options.reserved_host_disk_mb / 1024),
            },
        )
        hypervisor = {
            "cpu_arch": arch,
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

    def _domain_xml(
        self, server_id: str, display_name: str, vcpus: int, memory_mb: int, kernel_boot: KernelBoot | None
    ) -> str:
        boot_os, devices = (kernel_boot.os_xml(), kernel_boot.devices_xml()) if kernel_boot else ("", "")
        return f"""<domain type='{self._domain_type}'>
  <name>{domain_name(server_id)}</name>
  <uuid>{server_id}</uuid>
  <title>{escape(display_name)}</title>
  <memory unit='MiB'>{memory_mb}</memory>
  <vcpu>{vcpus}</vcpu>
  <os><type arch='x86_64'>hvm</type>{boot_os}</os>{devices}
  <metadata>
    <chronova:instance xmlns:chronova="https://chronova.invalid/xmlns/instance/1">
      <chronova:host>{escape(self.host)}</chronova:host>
    </chronova:instance>
  </metadata>
</domain>"""
