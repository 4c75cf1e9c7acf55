"""Nova's two periodic clean-ups of parked servers, done by the control plane:
_reclaim_queued_deletes (soft-deleted servers older than
reclaim_instance_interval are deleted) and _poll_shelved_instances (shelved
servers older than shelved_offload_time are offloaded).

The servers view says which servers may be due; each is then judged on its
aggregate (state and age) and changed through the same domain methods as a
request, so the reclaimer only records events, and a server it reaches twice
(two reclaimers, a restart, a lagging view) is changed once.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from eventsourcing.persistence import IntegrityError

from chronova.cloud import Cloud
from domain import host_actions
from domain.commands import RequestContext
from domain.errors import DomainError
from domain.server import Server
from domain.states import VmState
from projections.views import ViewStore

log = logging.getLogger(__name__)
RECLAIMER_USER = "chronova-reclaimer"
_DUE = "SELECT id FROM servers WHERE vm_state = %(vm_state)s AND task_state IS NULL AND updated_at <= %(before)s"


class Reclaimer:
    def __init__(
        self,
        cloud: Cloud,
        views: ViewStore,
        reclaim_interval: float,
        shelved_offload_time: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._cloud = cloud
        self._views = views
        self._reclaim_interval = reclaim_interval
        self._offload_time = shelved_offload_time
        self._clock = clock

    def run_once(self) -> list[str]:
        """Reclaim and offload what is due; returns the ids of the servers changed."""
        now = datetime.fromtimestamp(self._clock(), UTC)
        changed: list[str] = []
        if self._reclaim_interval > 0:
            changed += self._each_due(VmState.SOFT_DELETED, now - timedelta(seconds=self._reclaim_interval), _reclaim)
        if self._offload_time > 0:
            changed += self._each_due(VmState.SHELVED, now - timedelta(seconds=self._offload_time), _offload)
        return changed

    def run(self, interval: float, stop: threading.Event) -> None:
        while not stop.wait(interval):
            try:
                self.run_once()
            except Exception:
                log.exception("reclaimer round failed; trying again next round")

    def _each_due(
        self, vm_state: VmState, before: datetime, act: Callable[[Server, RequestContext], None]
    ) -> list[str]:
        rows = self._views.query(_DUE, {"vm_state": str(vm_state), "before": before.isoformat(timespec="microseconds")})
        changed = []
        for row in rows:
            server = self._cloud.server(uuid.UUID(row["id"]))
            if server.vm_state != vm_state or server.task_state is not None or server.modified_on > before:
                continue  # changed since the view saw it
            ctx = RequestContext(
                project_id=server.project_id, user_id=RECLAIMER_USER, request_id=f"req-{uuid.uuid4()}", is_admin=True
            )
            try:
                act(server, ctx)
                self._cloud.save(server)
            except (DomainError, IntegrityError) as e:
                log.info("server %s left for the next round: %s", server.id, e)
                continue
            log.info("server %s: %s after %s", server.id, server.task_state, vm_state)
            changed.append(str(server.id))
        return changed


def _reclaim(server: Server, ctx: RequestContext) -> None:
    server.request_delete(request_id=ctx.request_id, user_id=ctx.user_id)


def _offload(server: Server, ctx: RequestContext) -> None:
    server.request_action(host_actions.SHELVE_OFFLOAD, is_admin=True, request_id=ctx.request_id, user_id=ctx.user_id)
