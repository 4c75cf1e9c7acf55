"""The compute agent: acts on placement events for its own hosts, reports back.

It reads the server event stream, ignores every event that does not name one
of its hosts, and publishes what it did on the reports topic; the conductor
decides what that means. It never opens a database connection.
"""

from __future__ import annotations

import logging
import threading
import time

import libvirt

from agents.libvirt_driver import LibvirtHypervisor
from chronova.bus import Publisher, Record
from chronova.messages import REPORTS_TOPIC, EventMessage, MalformedMessage
from chronova.reports import Deleted, Heartbeat, Report, Spawned, SpawnFailed, encode_report

log = logging.getLogger(__name__)


class ComputeAgent:
    def __init__(
        self,
        hypervisors: dict[str, LibvirtHypervisor],
        keys: dict[str, bytes],
        results: Publisher,
        heartbeats: Publisher,
        boot_seconds: float = 0.0,
    ) -> None:
        self._hypervisors = hypervisors
        self._keys = keys
        self._results = results
        self._heartbeats = heartbeats
        self._boot_seconds = boot_seconds

    def handle(self, record: Record) -> None:
        message = EventMessage.from_json(record.value)
        hypervisor = self._hypervisors.get(message.data.get("host"))  # type: ignore[arg-type]
        if hypervisor is None:
            return
        if message.event_type == "Server.Scheduled":
            self._spawn(hypervisor, message)
        elif message.event_type == "Server.DeletionStarted":
            hypervisor.destroy(message.aggregate_id)
            self._report(self._results, Deleted(host=hypervisor.host, server_id=message.aggregate_id))

    def _spawn(self, hypervisor: LibvirtHypervisor, message: EventMessage) -> None:
        try:
            name = str(message.data["name"])
            vcpus = int(message.data["flavor"]["vcpus"])
            memory_mb = int(message.data["flavor"]["ram"])
        except (KeyError, TypeError, ValueError) as e:
            raise MalformedMessage(f"placement event without a usable spec: {e!r}") from None
        server_id = message.aggregate_id
        try:
            power_state = hypervisor.spawn(server_id, name, vcpus, memory_mb)
        except libvirt.libvirtError as e:
            log.warning("spawn of %s on %s failed: %s", server_id, hypervisor.host, e)
            hypervisor.destroy(server_id)
            self._report(self._results, SpawnFailed(host=hypervisor.host, server_id=server_id, reason=str(e)))
            return
        time.sleep(self._boot_seconds)  # a simulated guest's boot; 0 unless configured
        self._report(self._results, Spawned(host=hypervisor.host, server_id=server_id, power_state=int(power_state)))

    def flush(self) -> None:
        """Called after each batch, before its offsets are committed."""
        self._results.flush()

    def send_heartbeats(self) -> None:
        for hypervisor in self._hypervisors.values():
            inventories, info = hypervisor.inventory()
            self._report(self._heartbeats, Heartbeat(host=hypervisor.host, inventories=inventories, hypervisor=info))
        self._heartbeats.flush()

    def run_heartbeats(self, interval: float, stop: threading.Event) -> None:
        """Heartbeat at once, then every `interval` seconds; a failed beat is retried next time."""
        while True:
            try:
                self.send_heartbeats()
            except Exception:
                log.exception("heartbeat failed")
            if stop.wait(interval):
                return

    def _report(self, publisher: Publisher, report: Report) -> None:
        signed = encode_report(report, self._keys[report.host], sent_at=time.time())
        publisher.publish(REPORTS_TOPIC, report.host, signed)
