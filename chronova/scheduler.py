"""The scheduler: turns each ServerCreated into a claim on one host.

It keeps every Host aggregate in memory (HostIndex), and before deciding on
a server created at notification N it catches up to N, so a host registered
before the server is always seen. It decides with the index's capacity
index, which does not visit every host, and updates it after each claim.
The claim itself is saved with optimistic concurrency: when another
scheduler got there first, the host is reloaded and the decision taken again.
"""

from __future__ import annotations

import logging
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from chronova.bus import Record
from chronova.cloud import Cloud
from chronova.host_index import HostIndex
from chronova.messages import EventMessage
from domain.errors import InsufficientCapacity, NotFound
from domain.host import Host
from domain.placement import Resources, flavor_resources
from domain.scheduling import Decision
from domain.server import Server
from domain.states import TaskState, VmState

log = logging.getLogger(__name__)

SERVER_CREATED = "Server.Created"
MAX_CONFLICTS = 20


class Scheduler:
    """Places servers; decisions of one bus batch are saved in one transaction.

    A batch whose save conflicts (another scheduler claimed first) is placed
    again one server at a time, each decision retried until it sticks.
    """

    def __init__(self, cloud: Cloud) -> None:
        self._cloud = cloud
        self.index = HostIndex(cloud)
        self._batch: list[UUID] = []
        self._pending: dict[UUID, Host | Server] = {}

    def handle(self, record: Record) -> None:
        message = EventMessage.from_json(record.value)
        if message.event_type == SERVER_CREATED:
            self.index.catch_up(message.notification_id)
            server_id = UUID(message.aggregate_id)
            self._batch.append(server_id)
            self._decide(server_id)

    def flush(self) -> None:
        """Called after each bus batch, before its offsets are committed."""
        batch, self._batch = self._batch, []
        try:
            self._save_pending()
        except IntegrityError:
            log.info("a batch of %d placements lost a race; placing them one by one", len(batch))
            for server_id in batch:
                self.schedule(server_id)

    def schedule(self, server_id: UUID) -> str | None:
        """Place one server now; idempotent, so a redelivered event changes nothing."""
        for _ in range(MAX_CONFLICTS):
            placed = self._decide(server_id)
            try:
                self._save_pending()
            except IntegrityError:
                log.info("server %s: claim on %s lost a race; deciding again", server_id, placed)
                continue
            return placed
        log.error("server %s: gave up after %d conflicting claims", server_id, MAX_CONFLICTS)
        return None

    def _decide(self, server_id: UUID) -> str | None:
        """Claim on the best host in memory; saving is left to the caller."""
        self.index.reload_stale()
        server = self._pending.get(server_id)
        if server is None:
            try:
                server = self._cloud.server(server_id)
            except NotFound:
                log.warning("ServerCreated for unknown server %s ignored", server_id)
                return None
        assert isinstance(server, Server)
        if server.vm_state != VmState.BUILDING or server.task_state != TaskState.SCHEDULING:
            return server.host
        flavor = server.flavor
        request = flavor_resources(flavor["vcpus"], flavor["ram"], flavor["disk"], flavor["ephemeral"], flavor["swap"])
        host, decision = claim_best_host(self.index, str(server_id), request)
        if host is None:
            server.fail_scheduling(decision.explain())
            self._pending[server.id] = server
            log.info("server %s: no valid host (%s)", server.id, decision.explain())
            return None
        server.schedule(host.name)
        self._pending[host.id] = host
        self._pending[server.id] = server
        return host.name

    def _save_pending(self) -> None:
        pending, self._pending = self._pending, {}
        if not pending:
            return
        try:
            self._cloud.save(*pending.values())
        except Exception:
            # The in-memory hosts hold claims that were not saved: forget them, so
            # they are reloaded from the store (which may be down right now) before next use.
            for aggregate in pending.values():
                if isinstance(aggregate, Host):
                    self.index.forget(aggregate.id)
            raise


def claim_best_host(index: HostIndex, server_id: str, request: Resources) -> tuple[Host | None, Decision]:
    """Claim on the best host in memory (unsaved) and index the claim at once, so the
    next decision sees it; a host refusing the claim is left out (RetryFilter) and the
    decision taken again."""
    tried: set[str] = set()
    while True:
        decision = index.capacity.choose(request, exclude=frozenset(tried))
        if not decision.ranked:
            return None, decision
        host = index.by_name(decision.ranked[0])
        try:
            host.claim(server_id, request)
        except InsufficientCapacity:
            tried.add(host.name)
            continue
        index.track(host)
        return host, decision
