"""The move sagas' use cases: the API's requests (resize, confirm/revert, migrate, live migration,
evacuate), the scheduler's choice of a destination, and what the conductor does with each step's report.

Claims follow placement: while a server moves, the allocation it held on its
source belongs to the migration (its id is the consumer) and the server's id
holds the claim on the destination; confirming releases the migration's,
reverting (or a step failing before the guest arrived) releases the
destination's and gives the source's back to the server.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid4

from chronova.reports import MoveStepDone
from chronova.server_actions import _judged_and_saved
from domain import migration as moves
from domain.commands import RequestContext
from domain.errors import Forbidden, InvalidReference, NotFound
from domain.flavor import Flavor, flavor_aggregate_id
from domain.host import Host
from domain.placement import Resources
from domain.scheduling import Decision
from domain.server import Server
from domain.states import check_transition

if TYPE_CHECKING:
    from chronova.cloud import Cloud
    from chronova.host_index import HostIndex

MIGRATE_POLICY = "os_compute_api:os-migrate-server:migrate"
LIVE_MIGRATE_POLICY = "os_compute_api:os-migrate-server:migrate_live"
EVACUATE_POLICY = "os_compute_api:os-evacuate"


def _admin_only(ctx: RequestContext, policy: str) -> None:
    if not ctx.is_admin:
        raise Forbidden(f"Policy doesn't allow {policy} to be performed.")


def _compute_host(cloud: Cloud, name: str) -> Host:
    """A host the request names: Nova's 400 when there is no such compute host."""
    try:
        host = cloud.host(name)
    except NotFound:
        host = None
    if host is None or host.deleted:
        raise InvalidReference(f"Compute host {name} could not be found.")
    return host


def _requested(
    cloud: Cloud, server_id: UUID, ctx: RequestContext, judge: Callable[[Server], tuple[str, dict[str, Any]]]
) -> int | None:
    """Judge a move against the server (`judge` raises or returns its kind and request_move arguments), record it."""

    def request(server: Server) -> bool:
        kind, arguments = judge(server)
        server.request_move(
            kind,
            migration_id=str(uuid4()),
            is_admin=ctx.is_admin,
            request_id=ctx.request_id,
            user_id=ctx.user_id,
            **arguments,
        )
        return True

    return _judged_and_saved(cloud, server_id, ctx, request)


def resize(cloud: Cloud, server_id: UUID, flavor_ref: str, ctx: RequestContext, same_host: bool) -> int | None:
    """Nova judges the lock and the state before the flavor (400s for a missing or the same flavor)."""

    def judge(server: Server) -> tuple[str, dict[str, Any]]:
        _check_movable(server, "resize", ctx)
        flavorid = flavor_ref.rstrip("/").rsplit("/", 1)[-1]
        try:
            flavor = cloud.load(flavor_aggregate_id(flavorid), Flavor)
        except NotFound:
            flavor = None
        if flavor is None or not flavor.usable_by(ctx.project_id, ctx.is_admin):
            raise InvalidReference("Unable to locate requested flavor.")
        if flavor.flavorid == server.flavor["id"]:
            raise InvalidReference("When resizing, instances must change flavor!")
        new_flavor = flavor.snapshot_for_server()
        return moves.RESIZE, {
            "new_flavor": new_flavor,
            "requested_host": None,
            "options": {"allow_same_host": same_host},
        }

    return _requested(cloud, server_id, ctx, judge)


def migrate(cloud: Cloud, server_id: UUID, host: str | None, ctx: RequestContext) -> int | None:
    def judge(server: Server) -> tuple[str, dict[str, Any]]:
        _admin_only(ctx, MIGRATE_POLICY)
        _check_movable(server, "migrate", ctx)
        if host is not None:
            if host == server.host:
                raise InvalidReference("Cannot migrate to the host where the server exists.")
            _compute_host(cloud, host)
        return moves.MIGRATION, {"new_flavor": None, "requested_host": host}

    return _requested(cloud, server_id, ctx, judge)


def live_migrate(
    cloud: Cloud, server_id: UUID, host: str | None, block_migration: Any, ctx: RequestContext
) -> int | None:
    def judge(server: Server) -> tuple[str, dict[str, Any]]:
        _admin_only(ctx, LIVE_MIGRATE_POLICY)
        _check_movable(server, "os-migrateLive", ctx)
        if host is not None:
            _compute_host(cloud, host)
            if host == server.host:
                raise InvalidReference(f"Unable to migrate instance ({server.id}) to current host ({host}).")
        return moves.LIVE_MIGRATION, {
            "new_flavor": None,
            "requested_host": host,
            "options": {"block_migration": block_migration},
        }

    return _requested(cloud, server_id, ctx, judge)


def evacuate(cloud: Cloud, server_id: UUID, host: str | None, stopped: bool, ctx: RequestContext) -> int | None:
    """Only off a host whose service is down (or forced down); from 2.95 the server lands stopped."""

    def judge(server: Server) -> tuple[str, dict[str, Any]]:
        _admin_only(ctx, EVACUATE_POLICY)
        check_transition("evacuate", str(server.id), server.vm_state, server.task_state)
        if host is not None:
            try:
                cloud.host(host)
            except NotFound:
                raise NotFound(f"Compute host {host} not found.") from None
            if host == server.host:
                raise InvalidReference("The target host can't be the same one.")
        if server.host is not None and cloud.host(server.host).service_state == "up":
            raise InvalidReference(f"Compute service of {server.host} is still in use.")
        options = {"target_state": "stopped" if stopped else None}
        return moves.EVACUATION, {"new_flavor": None, "requested_host": host, "options": options}

    return _requested(cloud, server_id, ctx, judge)


def end_resize(cloud: Cloud, server_id: UUID, confirm: bool, ctx: RequestContext) -> int | None:
    def request(server: Server) -> bool:
        server.request_resize_end(confirm, is_admin=ctx.is_admin, request_id=ctx.request_id, user_id=ctx.user_id)
        return True

    return _judged_and_saved(cloud, server_id, ctx, request)


def _check_movable(server: Server, action: str, ctx: RequestContext) -> None:
    """Lock and state first (409), before the request's own arguments are looked at (400)."""
    server.require_unlocked(ctx.is_admin)
    check_transition(action, str(server.id), server.vm_state, server.task_state)


# --- the scheduler's part ------------------------------------------------------------------------------


def place_move(
    index: HostIndex, server: Server, request: Resources, choose: Callable[[frozenset[str]], Decision]
) -> list[Host | Server]:
    """Choose the destination of the server's pending move and claim on it (unsaved): the aggregates to save.

    The source's allocation passes to the migration before the destination is claimed
    for the server, so a move to the same host holds both claims.
    """
    migration = server.migration
    assert migration is not None
    migration_id, source = migration["id"], migration["source"]
    dest, details = _destination(index, migration, request, choose)
    if dest is None:
        server.fail_move_scheduling(migration_id, details)
        return [server]
    source_host = index.hosts.get(Host.create_id(source)) if source else None
    if source_host is not None:
        source_host.move_allocation(str(server.id), migration_id)
    dest.claim(str(server.id), request)  # fits: _destination checked it on this very object
    server.schedule_move(migration_id, dest.name, dest.hypervisor.get("uri"))
    hosts = list({h.id: h for h in (source_host, dest) if h is not None}.values())
    for host in hosts:
        index.track(host)
    return [*hosts, server]


def _destination(
    index: HostIndex, migration: dict[str, Any], request: Resources, choose: Callable[[frozenset[str]], Decision]
) -> tuple[Host | None, str]:
    """The host to claim on, checked to fit (on the source itself the old allocation still counts); or why none."""
    requested = migration["requested_host"]
    if requested is not None:
        host = index.hosts.get(Host.create_id(requested))
        if host is None or not host.schedulable:
            return None, f"Requested host {requested} is not up and enabled"
        return (host, "") if host.can_fit(request) else (None, f"Host {requested} cannot fit {dict(request)}")
    tried = set() if migration.get("allow_same_host") else {migration["source"]}
    while True:
        decision = choose(frozenset(tried))
        if not decision.ranked:
            return None, decision.explain()
        host = index.by_name(decision.ranked[0])
        if host.can_fit(request):
            return host, ""
        tried.add(host.name)


# --- the conductor's part ------------------------------------------------------------------------------


def record_step(server: Server, report: MoveStepDone, load_host: Callable[[str], Host]) -> list[Host | Server]:
    """Apply one step's report to the server and the claims it implies; the aggregates changed."""
    migration, migration_id, step = server.migration, report.migration_id, report.step
    if report.reason is not None:
        server.record_move_step_failed(report.host, migration_id, step, report.reason, report.power_state)
        if step not in moves.BEFORE_ARRIVAL:
            return [server]
        assert migration is not None
        return [server, *_give_back(migration, str(server.id), load_host)]
    advance = server.record_move_step(report.host, migration_id, step, report.power_state)
    assert migration is not None
    if advance.event in ("ResizeConfirmed", "LiveMigrated", "Evacuated"):
        source = load_host(migration["source"])
        source.release(migration_id)
        return [server, source]
    if advance.event == "ResizeRevertedOnDestination":
        return [server, *_give_back(migration, str(server.id), load_host)]
    return [server]


def _give_back(migration: dict[str, Any], server_id: str, load_host: Callable[[str], Host]) -> list[Host]:
    """The destination's claim released, then the source's allocation back to the server (same host: both)."""
    dest = load_host(migration["dest"])
    dest.release(server_id)
    if migration["source"] is None:  # an unshelve: no source allocation to give back
        return [dest]
    source = dest if migration["source"] == migration["dest"] else load_host(migration["source"])
    source.move_allocation(migration["id"], server_id)
    return [dest] if source is dest else [dest, source]


def release_move_claims(server: Server, load_host: Callable[[str], Host]) -> list[Host]:
    """A deleted server holds nothing anywhere: what its latest move still claimed goes too (releasing is
    idempotent, so a move that already settled its claims releases nothing)."""
    migration = server.migration
    if migration is None or migration["dest"] is None:
        return []
    source, dest = load_host(migration["source"]), load_host(migration["dest"])
    source.release(migration["id"])
    dest.release(str(server.id))
    return [host for host in {source.id: source, dest.id: dest}.values() if host.pending_events]
