"""The scheduler: turns each ServerCreated into a claim on one host.

It keeps every Host aggregate in memory (HostIndex), and before deciding on
a server created at notification N it catches up to N, so a host registered
before the server is always seen. It builds the server's RequestSpec (flavor,
extra specs, image, zone, group), decides with the index's capacity index,
which does not visit every host, and updates it after each claim. The claim
itself is saved with optimistic concurrency: when another scheduler got
there first, the host is reloaded and the decision taken again.

The Scheduled event carries the alternates (for a reschedule, chronova/
conductor.py) and the decision's audit; SchedulingFailed carries the audit
and says which filter emptied the list.
"""

from __future__ import annotations

import logging
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from chronova import moves
from chronova.bus import Record
from chronova.cloud import Cloud
from chronova.host_index import HostIndex
from chronova.messages import EventMessage
from domain.errors import InsufficientCapacity, InvalidReference, NotFound
from domain.host import Host
from domain.request_spec import RequestSpec, ServerGroupPlacement, request_spec
from domain.scheduling import Decision, SchedulerPolicy
from domain.server import Server
from domain.server_group import ServerGroup
from domain.states import TaskState, VmState

log = logging.getLogger(__name__)

SERVER_CREATED = "Server.Created"
MOVE_REQUESTED = "Server.MoveRequested"
MAX_CONFLICTS = 20


class Scheduler:
    """Places servers; decisions of one bus batch are saved in one transaction.

    A batch whose save conflicts (another scheduler claimed first) is placed
    again one server at a time, each decision retried until it sticks.
    Events are dispatched by type through `handlers`, so other placement
    requests (moves, unshelve) add their own entry.
    """

    def __init__(self, cloud: Cloud, policy: SchedulerPolicy | None = None, rng: random.Random | None = None) -> None:
        self._cloud = cloud
        self.policy = policy or SchedulerPolicy()
        self._rng = rng
        self.index = HostIndex(cloud)
        self._batch: list[UUID] = []
        self._pending: dict[UUID, Host | Server] = {}
        self.handlers: dict[str, Callable[[EventMessage], None]] = {
            SERVER_CREATED: self._server_created,
            MOVE_REQUESTED: self._server_created,  # a move of an existing server: _decide_move
        }

    def handle(self, record: Record) -> None:
        message = EventMessage.from_json(record.value)
        handler = self.handlers.get(message.event_type)
        if handler is not None:
            handler(message)

    def _server_created(self, message: EventMessage) -> None:
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
        if server.move_awaiting_destination() is not None:
            return self._decide_move(server)
        if server.vm_state != VmState.BUILDING or server.task_state != TaskState.SCHEDULING:
            return server.host
        try:
            spec = self.request_spec(server)
        except InvalidReference as e:  # a request the API let through that no host could ever satisfy
            server.fail_scheduling(str(e))
            self._pending[server.id] = server
            return None
        exclude = frozenset(server.failed_hosts)
        host, decision = claim_best_host(self.index, str(server_id), spec, self.policy, exclude, self._rng)
        if host is None:
            server.fail_scheduling(decision.explain(), dict(decision.audit))
            self._pending[server.id] = server
            log.info("server %s: no valid host (%s)", server.id, decision.explain())
            return None
        server.schedule(host.name, alternates=list(decision.ranked[1:]), audit=dict(decision.audit))
        self._pending[host.id] = host
        self._pending[server.id] = server
        return host.name

    def _decide_move(self, server: Server) -> str | None:
        """The destination of a move (chronova/moves.py, /work/notes/move-scheduling.md): the same
        filters and weighers, for the flavor the server moves with."""
        assert server.migration is not None
        flavor = server.migration["new_flavor"]
        spec = request_spec(flavor, server.image_properties, server.availability_zone, server.project_id)
        decide = lambda exclude: self.index.capacity.choose(spec, self.policy, exclude, self._rng)  # noqa: E731
        for aggregate in moves.place_move(self.index, server, spec.resources, decide):
            self._pending[aggregate.id] = aggregate
        return server.migration["dest"]

    def request_spec(self, server: Server) -> RequestSpec:
        spec = request_spec(server.flavor, server.image_properties, server.availability_zone, server.project_id)
        group = self._group_placement(server)
        tenant = spec.project_id in self.index.tenants_with_aggregates
        if group is None and not tenant:
            return spec
        return replace(spec, group=group, tenant_has_aggregates=tenant)

    def _group_placement(self, server: Server) -> ServerGroupPlacement | None:
        """The server's group (its `group` hint) and the hosts of its other members, placed or being placed."""
        hint = server.scheduler_hints.get("group")
        group_id = hint[0] if isinstance(hint, list) and hint else hint
        if not group_id:
            return None
        try:
            group = self._cloud.load(UUID(str(group_id)), ServerGroup)
        except (ValueError, NotFound):
            log.warning("server %s: its server group %s is gone; placed without it", server.id, group_id)
            return None
        hosts: Counter[str] = Counter()
        for member in group.members:
            if member == str(server.id):
                continue
            other = self._pending.get(UUID(member))
            if other is None:
                try:
                    other = self._cloud.server(UUID(member))
                except NotFound:
                    continue
            if isinstance(other, Server) and other.host is not None and other.vm_state != VmState.DELETED:
                hosts[other.host] += 1
        most = int(group.rules.get("max_server_per_host", 1)) if group.policy == "anti-affinity" else 1
        return ServerGroupPlacement(policy=group.policy, members_per_host=dict(hosts), max_server_per_host=most)

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


def claim_best_host(
    index: HostIndex,
    server_id: str,
    spec: RequestSpec,
    policy: SchedulerPolicy | None = None,
    exclude: frozenset[str] = frozenset(),
    rng: random.Random | None = None,
) -> tuple[Host | None, Decision]:
    """Claim on the best host in memory (unsaved) and index the claim at once, so the
    next decision sees it; a host refusing the claim is left out (RetryFilter) and the
    decision taken again."""
    tried = set(exclude)
    while True:
        decision = index.capacity.choose(spec, policy, frozenset(tried), rng)
        if not decision.ranked:
            return None, decision
        host = index.by_name(decision.ranked[0])
        try:
            host.claim(server_id, spec.resources)
        except InsufficientCapacity:
            tried.add(host.name)
            continue
        index.track(host)
        return host, decision
