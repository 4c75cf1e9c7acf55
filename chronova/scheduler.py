"""The scheduler: turns each ServerCreated into a claim on one host.

It keeps every Host aggregate in memory, fed by the Host events of the
notification log, and before deciding on a server created at notification N
it catches up to N, so a host registered before the server is always seen.
The claim itself is saved with optimistic concurrency: when another
scheduler got there first, the host is reloaded and the decision taken again.
"""

from __future__ import annotations

import logging
from uuid import UUID

from eventsourcing.persistence import IntegrityError
from eventsourcing.utils import get_topic

from chronova.bus import Record
from chronova.cloud import Cloud
from chronova.messages import EventMessage
from domain.errors import InsufficientCapacity, NotFound
from domain.host import Host
from domain.placement import flavor_resources
from domain.scheduling import HostCandidate, choose_hosts
from domain.server import Server
from domain.states import TaskState, VmState

log = logging.getLogger(__name__)

HOST_EVENT_TOPICS = tuple(
    get_topic(cls)
    for cls in (Host.Registered, Host.InventoryUpdated, Host.ServiceUp, Host.AllocationClaimed, Host.AllocationReleased)
)
SERVER_CREATED = "Server.Created"
MAX_CONFLICTS = 20


class HostIndex:
    """Every host as of a notification id, kept current from the log."""

    def __init__(self, cloud: Cloud) -> None:
        self._cloud = cloud
        self.position = 0
        self.hosts: dict[UUID, Host] = {}

    def catch_up(self, upto: int) -> None:
        while self.position < upto:
            batch = self._cloud.recorder.select_notifications(
                start=self.position, stop=upto, limit=1000, topics=HOST_EVENT_TOPICS, inclusive_of_start=False
            )
            for notification in batch:
                self._apply(self._cloud.mapper.to_domain_event(notification))
            self.position = upto if len(batch) < 1000 else batch[-1].id

    def _apply(self, event: Host.Event) -> None:
        current = self.hosts.get(event.originator_id)
        known = current.version if current is not None else 0
        if event.originator_version <= known:
            return
        if event.originator_version == known + 1:
            self.hosts[event.originator_id] = event.mutate(current)
        else:
            self.reload(event.originator_id)

    def reload(self, aggregate_id: UUID) -> Host:
        host = self._cloud.repository.get(aggregate_id)
        self.hosts[aggregate_id] = host
        return host

    def candidates(self) -> list[HostCandidate]:
        return [
            HostCandidate(name=h.name, inventories=h.inventories, used=h.usage, up=h.up, enabled=h.enabled)
            for h in self.hosts.values()
        ]

    def by_name(self, name: str) -> Host:
        return next(h for h in self.hosts.values() if h.name == name)


class Scheduler:
    def __init__(self, cloud: Cloud) -> None:
        self._cloud = cloud
        self.index = HostIndex(cloud)

    def handle(self, record: Record) -> None:
        message = EventMessage.from_json(record.value)
        if message.event_type == SERVER_CREATED:
            self.index.catch_up(message.notification_id)
            self.schedule(UUID(message.aggregate_id))

    def schedule(self, server_id: UUID) -> str | None:
        """Place one server; idempotent, so a redelivered event changes nothing."""
        tried: set[str] = set()
        for _ in range(MAX_CONFLICTS):
            try:
                server = self._cloud.server(server_id)
            except NotFound:
                log.warning("ServerCreated for unknown server %s ignored", server_id)
                return None
            if server.vm_state != VmState.BUILDING or server.task_state != TaskState.SCHEDULING:
                return server.host
            flavor = server.flavor
            request = flavor_resources(
                flavor["vcpus"], flavor["ram"], flavor["disk"], flavor["ephemeral"], flavor["swap"]
            )
            decision = choose_hosts(self.index.candidates(), request, exclude=frozenset(tried))
            if not decision.ranked:
                return self._fail(server, decision.explain())
            host = self.index.by_name(decision.ranked[0])
            try:
                host.claim(str(server_id), request)
            except InsufficientCapacity:
                tried.add(host.name)
                continue
            server.schedule(host.name)
            try:
                self._cloud.save(host, server)
            except IntegrityError:
                # Another scheduler claimed on this host, or placed this server, first.
                log.info("server %s: claim on %s lost a race; deciding again", server_id, host.name)
                self.index.reload(host.id)
                continue
            except Exception:
                self.index.reload(host.id)  # the in-memory host holds a claim that was not saved
                raise
            return host.name
        log.error("server %s: gave up after %d conflicting claims", server_id, MAX_CONFLICTS)
        return None

    def _fail(self, server: Server, details: str) -> None:
        server.fail_scheduling(details)
        try:
            self._cloud.save(server)
        except IntegrityError:
            pass  # someone else decided first; their decision stands
        log.info("server %s: no valid host (%s)", server.id, details)
