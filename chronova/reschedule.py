"""Nova's reschedule of a failed build, as the conductor does it: the failed
host's claim is released and the build is retried on the next alternate the
scheduler kept (claiming there first), up to max_attempts hosts in all;
after the last one the server goes to ERROR with a fault.

The alternates come with the Scheduled event (domain.scheduling keeps the
best hosts after the choice), so a reschedule needs no new decision; an
alternate that is no longer usable or no longer has room is passed over.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from eventsourcing.domain import Aggregate

from domain.errors import InsufficientCapacity, NotFound, WrongHost
from domain.host import Host
from domain.request_spec import request_spec
from domain.server import Server
from domain.states import check_transition

log = logging.getLogger(__name__)


def build_failed(
    server: Server, host_name: str, reason: str, load_host: Callable[[str], Host], max_attempts: int
) -> list[Aggregate]:
    """Record a failed build of `server` on `host_name`; returns every aggregate changed (to save together)."""
    # Checked before anything changes: a late or misdirected report changes nothing.
    if server.host != host_name:
        raise WrongHost(f"Instance {server.id} is not on host {host_name}")
    check_transition("spawn", str(server.id), server.vm_state, server.task_state)
    failed = load_host(host_name)
    resources = failed.allocations.get(str(server.id)) or request_spec(server.flavor).resources
    failed.release(str(server.id))
    attempt = len(server.failed_hosts) + 1
    if attempt < max_attempts:
        for index, name in enumerate(server.alternates):
            alternate = _claimed(name, str(server.id), resources, host_name, load_host)
            if alternate is None:
                continue
            server.reschedule(host_name, reason)
            server.schedule(
                name,
                alternates=server.alternates[index + 1 :],
                audit={"reschedule": {"failed_host": host_name, "reason": reason[:255], "attempt": attempt + 1}},
            )
            log.info("server %s: build failed on %s; retrying on %s", server.id, host_name, name)
            return [server, failed, alternate]
    server.record_spawn_failed(host_name, reason, retries_exhausted=max_attempts > 1)
    return [server, failed]


def _claimed(
    name: str, server_id: str, resources: dict[str, int], failed_host: str, load_host: Callable[[str], Host]
) -> Host | None:
    if name == failed_host:
        return None
    try:
        host = load_host(name)
    except NotFound:
        return None
    if not host.schedulable:
        return None
    try:
        host.claim(server_id, resources)
    except InsufficientCapacity:
        return None
    return host
