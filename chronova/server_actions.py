"""Server action use cases (POST /servers/{id}/action): the host actions, lock and unlock,
os-resetState and os-getConsoleOutput.

A host action only records the request (the server's task_state says it is
under way); the host's agent carries it out and its report ends it. Lock,
unlock and resetState are decided here and complete at once. Each returns
the store position of what it recorded, for the response to wait on.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from chronova.servers import visible_server
from domain.commands import RequestContext
from domain.console import ConsoleOutputRequest
from domain.errors import Forbidden, InvalidState, NotFound
from domain.host_actions import HostAction
from domain.server import Server
from domain.states import VmState

if TYPE_CHECKING:
    from chronova.cloud import Cloud

RESET_STATE_POLICY = "os_compute_api:os-admin-actions:reset_state"
UNLOCK_OVERRIDE_POLICY = "os_compute_api:os-lock-server:unlock:unlock_override"
_ATTEMPTS = 3


def _policy_refused(policy: str) -> Forbidden:
    return Forbidden(f"Policy doesn't allow {policy} to be performed.")


def _judged_and_saved(cloud: Cloud, server_id: UUID, ctx: RequestContext, act: Callable[[Server], bool]) -> int | None:
    """Load the server, let `act` change it (False: nothing to record), save; a concurrent
    write (the conductor ending a task) gets the request judged again on the newer state.

    Returns the store position of what was recorded (None: nothing was).
    """
    for remaining in reversed(range(_ATTEMPTS)):
        server = visible_server(cloud, server_id, ctx)
        if not act(server):
            return None
        try:
            recordings = cloud.save(server)
        except IntegrityError:
            if not remaining:
                raise
            continue
        return max(recording.notification.id for recording in recordings)
    return None


def request_host_action(cloud: Cloud, server_id: UUID, action: HostAction, ctx: RequestContext) -> int | None:
    def request(server: Server) -> bool:
        server.request_action(action, is_admin=ctx.is_admin, request_id=ctx.request_id, user_id=ctx.user_id)
        return True

    return _judged_and_saved(cloud, server_id, ctx, request)


def lock_server(cloud: Cloud, server_id: UUID, reason: str | None, ctx: RequestContext) -> int | None:
    """A lock taken by someone of the server's project is the owner's, any other is the admin's (Nova)."""

    def lock(server: Server) -> bool:
        by_owner = server.project_id == ctx.project_id
        return server.lock(by_owner=by_owner, reason=reason, request_id=ctx.request_id, user_id=ctx.user_id)

    return _judged_and_saved(cloud, server_id, ctx, lock)


def unlock_server(cloud: Cloud, server_id: UUID, ctx: RequestContext) -> int | None:
    """Undoing the other side's lock needs the override policy, which Nova gives admins only."""

    def unlock(server: Server) -> bool:
        if server.unlock_needs_override(by_owner=server.project_id == ctx.project_id) and not ctx.is_admin:
            raise _policy_refused(UNLOCK_OVERRIDE_POLICY)
        server.unlock(request_id=ctx.request_id, user_id=ctx.user_id)
        return True

    return _judged_and_saved(cloud, server_id, ctx, unlock)


def reset_state(cloud: Cloud, server_id: UUID, vm_state: VmState, ctx: RequestContext) -> int | None:
    """Admins only; someone else's server is not found before the policy is asked, as in Nova."""

    def reset(server: Server) -> bool:
        if not ctx.is_admin:
            raise _policy_refused(RESET_STATE_POLICY)
        server.reset_state(vm_state, request_id=ctx.request_id, user_id=ctx.user_id)
        return True

    return _judged_and_saved(cloud, server_id, ctx, reset)


def console_output(cloud: Cloud, server_id: UUID, length: int | None, ctx: RequestContext, timeout: float) -> str:
    """The server's console text, read by its host's agent.

    Nova asks the compute host synchronously. Here the request is recorded
    (a ConsoleOutputRequest), the agent answers with a report, the conductor
    records the answer, and this waits for it at most `timeout` seconds.
    Answers as Nova does: 409 when the server has no host yet, 404 when the
    guest has no console the host can read; and 409 when the host does not
    answer in time (Nova fails such a call with a 500 after its RPC timeout).
    """
    server = visible_server(cloud, server_id, ctx)
    if server.host is None:
        raise InvalidState(f"Instance {server.id} is not ready")
    request = ConsoleOutputRequest(
        server_id=str(server.id), host=server.host, length=length, request_id=ctx.request_id, user_id=ctx.user_id
    )
    cloud.save(request)
    answered = _answer(cloud, request.id, timeout)
    if answered is None:
        raise InvalidState(
            f"Unable to get the console output of instance {server.id}: its host did not answer within {timeout:g}s."
        )
    if answered.output is None:
        raise NotFound("Guest does not have a console available.")
    return answered.output


def _answer(cloud: Cloud, request_id: UUID, timeout: float) -> ConsoleOutputRequest | None:
    """The request once answered, polled from the store with a growing pause; None after `timeout`."""
    deadline = time.monotonic() + timeout
    pause = 0.005
    while True:
        request = cloud.load(request_id, ConsoleOutputRequest)
        remaining = deadline - time.monotonic()
        if request.answered or remaining <= 0:
            return request if request.answered else None
        time.sleep(min(pause, remaining))
        pause = min(pause * 2, 0.2)
