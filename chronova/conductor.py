"""The conductor: the only way what happens on a host becomes an event
(ARCHITECTURE.md invariant 5).

Each report is validated, then checked against the state machine and the
server's placement; a report that contradicts them (a late duplicate, a host
speaking of a server that is not on it) is logged and dropped.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from uuid import UUID

from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError

from chronova import moves
from chronova.bus import Record
from chronova.cloud import Cloud
from chronova.host_keys import HostKeys
from chronova.images.store import FileStore
from chronova.liveness import HostLiveness
from chronova.reports import (
    ActionCompleted,
    ActionFailed,
    ConsoleOutput,
    ConsoleUnavailable,
    Deleted,
    Heartbeat,
    MoveStepDone,
    PowerStates,
    Report,
    SnapshotTaken,
    Spawned,
    SpawnFailed,
    decode_report,
)
from chronova.reschedule import build_failed
from chronova.snapshots import snapshot_dropped, snapshot_stored
from domain.console import ConsoleOutputRequest
from domain.errors import DomainError, InvalidState, NotFound, WrongHost
from domain.host import Host, host_id
from domain.states import PowerState

log = logging.getLogger(__name__)

MAX_CONFLICTS = 5


class Conductor:
    """Turns reports into events; the reports of one bus batch are saved in one transaction.

    A batch whose save conflicts is applied again one report at a time, each
    report judged against freshly loaded aggregates.
    """

    def __init__(
        self,
        cloud: Cloud,
        liveness: HostLiveness,
        keys: HostKeys,
        clock: Callable[[], float] = time.time,
        image_files: FileStore | None = None,
        max_attempts: int = 3,
    ) -> None:
        self._cloud = cloud
        self._max_attempts = max_attempts  # hosts a build is tried on (chronova/reschedule.py)
        self._image_files = image_files  # where snapshot data goes (the image service's file store)
        self._liveness = liveness
        self._keys = keys
        self._clock = clock
        self._batch: list[Report] = []
        self._pending: dict[UUID, Aggregate] = {}
        self._foreign: dict[str, list[str]] = {}  # the foreign domains last seen per host, logged when they change

    def handle(self, record: Record) -> None:
        report = decode_report(record.value, self._keys, self._clock())
        self._batch.append(report)
        self._judge(report)

    def flush(self) -> None:
        """Called after each bus batch, before its offsets are committed."""
        batch, self._batch = self._batch, []
        pending, self._pending = self._pending, {}
        if not pending:
            return
        try:
            self._cloud.save(*pending.values())
        except IntegrityError:
            log.info("a batch of %d reports met a concurrent write; applying them one by one", len(batch))
            for report in batch:
                self.apply_now(report)

    def apply_now(self, report: Report) -> None:
        """Apply one report and save it, judging again after a concurrent write."""
        for _ in range(MAX_CONFLICTS):
            self._judge(report)
            pending, self._pending = self._pending, {}
            try:
                if pending:
                    self._cloud.save(*pending.values())
                return
            except IntegrityError:
                continue
        log.error("report %s from %s dropped after %d conflicts", report.type, report.host, MAX_CONFLICTS)

    def _judge(self, report: Report) -> None:
        """Apply a report to the batch's aggregates; one that contradicts them changes nothing."""
        try:
            self._apply(report)
        except DomainError as e:
            log.warning("report %s from %s dropped: %s", report.type, report.host, e)

    def _apply(self, report: Report) -> None:
        if isinstance(report, Heartbeat):
            self._heartbeat(report)
            return
        if isinstance(report, (ConsoleOutput, ConsoleUnavailable)):
            self._console(report)
            return
        if isinstance(report, PowerStates):
            self._power_states(report)
            return
        server_id = UUID(report.server_id)
        server = self._pending.get(server_id) or self._cloud.server(server_id)
        if isinstance(report, Spawned):
            server.record_spawned(report.host, report.power_state)
            self._changed(server)
        elif isinstance(report, MoveStepDone):
            load_host = lambda name: self._pending.get(host_id(name)) or self._cloud.host(name)  # noqa: E731
            self._changed(*moves.record_step(server, report, load_host))
        elif isinstance(report, SpawnFailed):
            load_host = lambda name: self._pending.get(host_id(name)) or self._cloud.host(name)  # noqa: E731
            self._changed(*build_failed(server, report.host, report.reason, load_host, self._max_attempts))
        elif isinstance(report, Deleted):
            server.record_deleted(report.host)
            self._changed(server, self._released(report.host, report.server_id))
            load_host = lambda name: self._pending.get(host_id(name)) or self._cloud.host(name)  # noqa: E731
            self._changed(*moves.release_move_claims(server, load_host))
        elif isinstance(report, ActionCompleted):
            server.record_action_completed(report.host, report.request_id, report.action, report.power_state)
            # A shelve-offloaded server has left its host: its claim goes with it.
            self._changed(server, *([self._released(report.host, report.server_id)] if server.host is None else []))
        elif isinstance(report, SnapshotTaken):
            image = snapshot_stored(self._cloud, self._image_files, server, report)
            server.record_action_completed(report.host, report.request_id, "createImage", report.power_state)
            self._changed(server, *([image] if image is not None else []))
        elif isinstance(report, ActionFailed):
            reason, power_state = report.reason, report.power_state
            snapshot_args = dict(server.pending_args)
            server.record_action_failed(report.host, report.request_id, report.action, reason, power_state)
            dropped = snapshot_dropped(self._cloud, snapshot_args) if report.action == "createImage" else None
            self._changed(server, *([dropped] if dropped is not None else []))

    def _console(self, report: ConsoleOutput | ConsoleUnavailable) -> None:
        request_id = UUID(report.console_request_id)
        request = self._pending.get(request_id) or self._cloud.load(request_id, ConsoleOutputRequest)
        assert isinstance(request, ConsoleOutputRequest)
        if isinstance(report, ConsoleOutput):
            request.record_output(report.host, report.output)
        else:
            request.record_unavailable(report.host, report.reason)
        self._changed(request)

    def _power_states(self, report: PowerStates) -> None:
        """Nova's _sync_power_states, decided here: the host only says what it sees. The domain of a server
        evacuated off this host is destroyed there; any other domain it should not have is logged and left
        alone; a server placed here whose domain is gone is NOSTATE."""
        observed_at = datetime.fromtimestamp(min(report.observed_at, self._clock()), UTC)
        host = self._pending.get(host_id(report.host)) or self._cloud.host(report.host)
        seen = dict(report.domains)
        for server_id in host.allocations:
            seen.setdefault(server_id, PowerState.NOSTATE)
        for server_id, power_state in seen.items():
            try:
                server = self._pending.get(UUID(server_id)) or self._cloud.server(UUID(server_id))
                synced = server.sync_power_state(report.host, power_state, observed_at)
            except WrongHost as e:
                if server_id in report.domains and server.request_evacuated_domain_removal(report.host):
                    log.warning("power sync on %s: %s was evacuated off it; its domain there goes", report.host, e)
                    self._changed(server)
                elif server_id in report.domains:
                    log.warning("power sync on %s: domain of %s left alone: %s", report.host, server_id, e)
                continue
            except (NotFound, InvalidState) as e:
                if server_id in report.domains:
                    log.warning("power sync on %s: domain of %s left alone: %s", report.host, server_id, e)
                continue
            if synced:
                log.warning(
                    "power sync on %s: %s is %s, power state %s",
                    report.host,
                    server_id,
                    server.vm_state,
                    server.power_state.name,
                )
                self._changed(server)
        if report.foreign and self._foreign.get(report.host) != report.foreign:
            log.warning("power sync on %s: domains not Chronova's, left alone: %s", report.host, report.foreign)
        self._foreign[report.host] = report.foreign

    def _changed(self, *aggregates: Aggregate) -> None:
        for aggregate in aggregates:
            self._pending[aggregate.id] = aggregate

    def _released(self, host_name: str, server_id: str) -> Host:
        host = self._pending.get(host_id(host_name)) or self._cloud.host(host_name)
        host.release(server_id)
        return host

    def _heartbeat(self, report: Heartbeat) -> None:
        self._liveness.heard(report.host)
        try:
            host = self._pending.get(host_id(report.host)) or self._cloud.host(report.host)
            host.report_inventory(report.inventories, report.hypervisor)
        except NotFound:
            host = Host(name=report.host, inventories=report.inventories, hypervisor=report.hypervisor)
        host.report_traits(report.traits)
        host.report_alive()
        if host.pending_events:  # an unchanged heartbeat from a live host records nothing
            self._changed(host)
