"""The compute agent: acts on placement events for its own hosts, reports back.

It reads the server event stream, ignores every event that does not name one
of its hosts, and publishes what it did on the reports topic; the conductor
decides what that means. It never opens a database connection.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import libvirt

from agents import lifecycle, move_steps
from agents.images import GuestImages, ImageUnavailable
from agents.libvirt_driver import ConsoleNotAvailable, DomainStateError, LibvirtHypervisor
from chronova.bus import Publisher, Record
from chronova.messages import REPORTS_TOPIC, EventMessage, MalformedMessage
from chronova.reports import (
    MAX_REASON_CHARACTERS,
    MAX_SNAPSHOT_BYTES,
    ActionCompleted,
    ActionFailed,
    ConsoleOutput,
    ConsoleUnavailable,
    Deleted,
    Heartbeat,
    MoveStepDone,
    Report,
    SnapshotTaken,
    Spawned,
    SpawnFailed,
    encode_report,
)
from domain.states import PowerState

log = logging.getLogger(__name__)

# What each host action (domain.host_actions) does to the server's domain.
_ACTIONS: dict[str, Callable[[LibvirtHypervisor, str, dict[str, Any]], PowerState]] = {
    "reboot": lambda hypervisor, server_id, args: hypervisor.reboot(server_id, hard=args.get("type") == "HARD"),
    "stop": lambda hypervisor, server_id, args: hypervisor.power_off(server_id),
    "start": lambda hypervisor, server_id, args: hypervisor.power_on(server_id),
    "pause": lambda hypervisor, server_id, args: hypervisor.pause(server_id),
    "unpause": lambda hypervisor, server_id, args: hypervisor.unpause(server_id),
    "suspend": lambda hypervisor, server_id, args: hypervisor.suspend(server_id),
    "resume": lambda hypervisor, server_id, args: hypervisor.resume(server_id),
    **lifecycle.ACTIONS,
}
# The API stops waiting for a console long before this; an older request (a restarted agent
# reading its topic again) is not worth reading a console for.
CONSOLE_REQUEST_MAX_AGE = 300.0


def tail(text: str, length: int | None) -> str:
    """The last `length` lines, as Nova's compute manager cuts them; None or -1: all of it."""
    if length is None or length < 0:
        return text
    if length == 0:
        return ""
    return "\n".join(text.split("\n")[-length:])


class ComputeAgent:
    def __init__(
        self,
        hypervisors: dict[str, LibvirtHypervisor],
        keys: dict[str, bytes],
        results: Publisher,
        heartbeats: Publisher,
        boot_seconds: float = 0.0,
        images: GuestImages | None = None,
    ) -> None:
        self._hypervisors = hypervisors
        self._keys = keys
        self._results = results
        self._heartbeats = heartbeats
        self._boot_seconds = boot_seconds
        self._images = images  # None: domains boot nothing (simulated hosts)

    def handle(self, record: Record) -> None:
        message = EventMessage.from_json(record.value)
        hypervisor = self._hypervisors.get(message.data.get("host"))  # type: ignore[arg-type]
        if hypervisor is None:
            return
        if message.event_type == "Server.Scheduled":
            self._spawn(hypervisor, message)
        elif message.event_type == "Server.DeletionStarted":
            hypervisor.destroy(message.aggregate_id)
            if self._images is not None:
                self._images.forget(message.aggregate_id)
            self._report(self._results, Deleted(host=hypervisor.host, server_id=message.aggregate_id))
        elif message.event_type == "Server.ActionRequested":
            self._act(hypervisor, message)
        elif message.event_type == "ConsoleOutputRequest.Created":
            self._read_console(hypervisor, message)
        elif message.event_type == "Server.EvacuatedDomainRemovalRequested":
            self._remove_left_behind(hypervisor, message.aggregate_id)
        elif message.event_type in move_steps.MOVE_EVENTS and message.data.get("step"):
            self._move_step(hypervisor, message)

    def _remove_left_behind(self, hypervisor: LibvirtHypervisor, server_id: str) -> None:
        """Nothing is reported: the next power-state sync shows whether the copy is gone."""
        if hypervisor.destroy_left_behind(server_id):
            log.warning("destroyed %s on %s: it was evacuated off this host", server_id, hypervisor.host)
            if self._images is not None:
                self._images.forget(server_id)

    def _move_step(self, hypervisor: LibvirtHypervisor, message: EventMessage) -> None:
        """One step of a move saga (agents/move_steps.py); a libvirt refusal is reported as the step's failure."""
        try:
            step = str(message.data["step"])
            args = dict(message.data["args"])
            migration_id = str(args["migration_id"])
        except (KeyError, TypeError, ValueError) as e:
            raise MalformedMessage(f"move step without its arguments: {e!r}") from None
        server_id, reason = message.aggregate_id, None
        try:
            power_state = move_steps.run_step(self._hypervisors, hypervisor, server_id, step, args)
        except (KeyError, TypeError, ValueError) as e:
            raise MalformedMessage(f"move step {step} not understood: {e!r}") from None
        except (libvirt.libvirtError, DomainStateError) as e:
            log.warning("%s of %s on %s failed: %s", step, server_id, hypervisor.host, e)
            reason, power_state = str(e)[:MAX_REASON_CHARACTERS] or step, hypervisor.power_state(server_id)
        done = MoveStepDone(hypervisor.host, server_id, migration_id, step, int(power_state), reason)
        self._report(self._results, done)

    def _act(self, hypervisor: LibvirtHypervisor, message: EventMessage) -> None:
        try:
            action = str(message.data["action"])
            request_id = str(message.data["request_id"])
            args = dict(message.data["args"])
            run = _ACTIONS[action] if action != "createImage" else None
        except (KeyError, TypeError, ValueError) as e:
            raise MalformedMessage(f"action request without a known action: {e!r}") from None
        server_id = message.aggregate_id
        host = hypervisor.host
        try:
            if run is None:
                self._snapshot(hypervisor, server_id, request_id, args)
                return
            power_state = run(hypervisor, server_id, args)
        except (libvirt.libvirtError, DomainStateError) as e:
            log.warning("%s of %s on %s failed: %s", action, server_id, host, e)
            reason, power_state = str(e)[:MAX_REASON_CHARACTERS], hypervisor.power_state(server_id)
            self._report(self._results, ActionFailed(host, server_id, request_id, action, reason, int(power_state)))
            return
        self._report(self._results, ActionCompleted(host, server_id, request_id, action, int(power_state)))

    def _snapshot(self, hypervisor: LibvirtHypervisor, server_id: str, request_id: str, args: dict[str, Any]) -> None:
        """createImage: the image's data travels in the report, and the conductor stores it (chronova.reports)."""
        data = hypervisor.snapshot(server_id)
        if len(data) > MAX_SNAPSHOT_BYTES:
            raise DomainStateError(f"Snapshot of {len(data)} bytes exceeds the {MAX_SNAPSHOT_BYTES} a report carries")
        image_id, power_state = str(args["image_id"]), int(hypervisor.power_state(server_id))
        encoded = base64.b64encode(data).decode()
        self._report(
            self._results, SnapshotTaken(hypervisor.host, server_id, request_id, image_id, encoded, power_state)
        )

    def _read_console(self, hypervisor: LibvirtHypervisor, message: EventMessage) -> None:
        try:
            server_id = str(message.data["server_id"])
            length = message.data["length"]
            asked_at = datetime.fromisoformat(message.timestamp).timestamp()
        except (KeyError, TypeError, ValueError) as e:
            raise MalformedMessage(f"console request without a server: {e!r}") from None
        if time.time() - asked_at > CONSOLE_REQUEST_MAX_AGE:
            return
        request_id, host = message.aggregate_id, hypervisor.host
        try:
            text = tail(hypervisor.console_output(server_id), length if isinstance(length, int) else None)
        except (ConsoleNotAvailable, libvirt.libvirtError) as e:
            reason = str(e)[:MAX_REASON_CHARACTERS]
            self._report(self._results, ConsoleUnavailable(host=host, console_request_id=request_id, reason=reason))
            return
        self._report(self._results, ConsoleOutput(host=host, console_request_id=request_id, output=text))

    def _spawn(self, hypervisor: LibvirtHypervisor, message: EventMessage) -> None:
        try:
            name = str(message.data["name"])
            vcpus = int(message.data["flavor"]["vcpus"])
            memory_mb = int(message.data["flavor"]["ram"])
        except (KeyError, TypeError, ValueError) as e:
            raise MalformedMessage(f"placement event without a usable spec: {e!r}") from None
        server_id = message.aggregate_id
        image_id = message.data.get("image_id")
        try:
            boot = self._images.kernel_boot(server_id, str(image_id)) if self._images and image_id else None
            power_state = hypervisor.spawn(server_id, name, vcpus, memory_mb, kernel_boot=boot)
        except (libvirt.libvirtError, ImageUnavailable) as e:
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
            self._report(
                self._heartbeats,
                Heartbeat(host=hypervisor.host, inventories=inventories, hypervisor=info, traits=hypervisor.traits),
            )
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
