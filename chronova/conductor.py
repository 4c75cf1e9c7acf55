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
from uuid import UUID

from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError

from chronova.bus import Record
from chronova.cloud import Cloud
from chronova.host_keys import HostKeys
from chronova.liveness import HostLiveness
from chronova.reports import (
    ActionCompleted,
    ActionFailed,
    ConsoleOutput,
    ConsoleUnavailable,
    Deleted,
    Heartbeat,
    Report,
    Spawned,
    SpawnFailed,
    decode_report,
)
from domain.console import ConsoleOutputRequest
from domain.errors import DomainError, NotFound
from domain.host import Host, host_id

log = logging.getLogger(__name__)

MAX_CONFLICTS = 5


class Conductor:
    """Turns reports into events; the reports of one bus batch are saved in one transaction.

    A batch whose save conflicts is applied again one report at a time, each
    report judged against freshly loaded aggregates.
    """

    def __init__(
        self, cloud: Cloud, liveness: HostLiveness, keys: HostKeys, clock: Callable[[], float] = time.time
    ) -> None:
        self._cloud = cloud
        self._liveness = liveness
        self._keys = keys
        self._clock = clock
        self._batch: list[Report] = []
        self._pending: dict[UUID, Aggregate] = {}

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
        server_id = UUID(report.server_id)
        server = self._pending.get(server_id) or self._cloud.server(server_id)
        if isinstance(report, Spawned):
            server.record_spawned(report.host, report.power_state)
            self._changed(server)
        elif isinstance(report, SpawnFailed):
            server.record_spawn_failed(report.host, report.reason)
            self._changed(server, self._released(report.host, report.server_id))
        elif isinstance(report, Deleted):
            server.record_deleted(report.host)
            self._changed(server, self._released(report.host, report.server_id))
        elif isinstance(report, ActionCompleted):
            server.record_action_completed(report.host, report.request_id, report.action, report.power_state)
            self._changed(server)
        elif isinstance(report, ActionFailed):
            reason, power_state = report.reason, report.power_state
            server.record_action_failed(report.host, report.request_id, report.action, reason, power_state)
            self._changed(server)

    def _console(self, report: ConsoleOutput | ConsoleUnavailable) -> None:
        request_id = UUID(report.console_request_id)
        request = self._pending.get(request_id) or self._cloud.load(request_id, ConsoleOutputRequest)
        assert isinstance(request, ConsoleOutputRequest)
        if isinstance(report, ConsoleOutput):
            request.record_output(report.host, report.output)
        else:
            request.record_unavailable(report.host, report.reason)
        self._changed(request)

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
        host.report_alive()
        if host.pending_events:  # an unchanged heartbeat from a live host records nothing
            self._changed(host)
