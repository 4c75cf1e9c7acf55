"""The conductor: the only way what happens on a host becomes an event
(ARCHITECTURE.md invariant 5).

Each report is validated, then checked against the state machine and the
server's placement; a report that contradicts them (a late duplicate, a host
speaking of a server that is not on it) is logged and dropped.
"""

from __future__ import annotations

import logging
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from chronova.bus import Record
from chronova.cloud import Cloud
from chronova.reports import Deleted, Heartbeat, Report, Spawned, SpawnFailed, decode_report
from domain.errors import DomainError, NotFound
from domain.host import Host

log = logging.getLogger(__name__)

MAX_CONFLICTS = 5


class Conductor:
    def __init__(self, cloud: Cloud) -> None:
        self._cloud = cloud

    def handle(self, record: Record) -> None:
        report = decode_report(record.value)
        for _ in range(MAX_CONFLICTS):
            try:
                self.apply(report)
                return
            except IntegrityError:
                continue  # someone else wrote first: reload and judge again
            except DomainError as e:
                log.warning("report %s from %s dropped: %s", report.type, report.host, e)
                return
        log.error("report %s from %s dropped after %d conflicts", report.type, report.host, MAX_CONFLICTS)

    def apply(self, report: Report) -> None:
        if isinstance(report, Heartbeat):
            self._heartbeat(report)
            return
        server = self._cloud.server(UUID(report.server_id))
        if isinstance(report, Spawned):
            server.record_spawned(report.host, report.power_state)
            self._cloud.save(server)
        elif isinstance(report, SpawnFailed):
            server.record_spawn_failed(report.host, report.reason)
            self._cloud.save(server, self._released(report.host, report.server_id))
        elif isinstance(report, Deleted):
            server.record_deleted(report.host)
            self._cloud.save(server, self._released(report.host, report.server_id))

    def _released(self, host_name: str, server_id: str) -> Host:
        host = self._cloud.host(host_name)
        host.release(server_id)
        return host

    def _heartbeat(self, report: Heartbeat) -> None:
        try:
            host = self._cloud.host(report.host)
            host.report_inventory(report.inventories, report.hypervisor)
        except NotFound:
            host = Host(name=report.host, inventories=report.inventories, hypervisor=report.hypervisor)
        host.report_alive()
        if host.pending_events:  # an unchanged heartbeat from a live host records nothing
            self._cloud.save(host)
