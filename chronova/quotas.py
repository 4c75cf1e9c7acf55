"""Quota use cases (os-quota-sets, os-quota-class-sets) and the checks other
commands run before they record anything.

Checks enforce the limits in the store and count usage from the quota view;
server creates also take turns on the project's QuotaLedger, so concurrent
creates cannot pass the same count (domain/quota.py). Changes of limits are
QuotaSet events.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from eventsourcing.persistence import IntegrityError

from chronova.cloud import Cloud
from chronova.servers import Reservation, create_servers
from domain.commands import CreateServer, RequestContext
from domain.errors import NotFound, QuotaExceeded
from domain.flavor import Flavor, flavor_aggregate_id
from domain.quota import (
    BUILTIN_DEFAULTS,
    CLASS,
    DEFAULT_CLASS,
    PROJECT,
    UNLIMITED,
    QuotaLedger,
    QuotaSet,
    affordable,
    check_new_limits,
    effective_limits,
    exceeds,
    next_admission,
    over_quota,
    overs,
    pending_usage,
    quota_ledger_id,
    quota_set_id,
    refuse_if_over,
)
from projections.quotas import counted_usage, project_usage
from projections.views import ViewStore

_SAVE_ATTEMPTS = 3
_ADMISSION_ATTEMPTS = 10  # turns lost to other processes before the caller is told to retry (409)
# Creates of one project in this process take turns here rather than by losing races on the ledger.
_TURNS = tuple(threading.Lock() for _ in range(64))


def current_limits(cloud: Cloud, project_id: str) -> dict[str, int]:
    """The limits a check enforces, read from the QuotaSet aggregates rather than the quota view.

    The view trails the store by the projection's lag (tens of milliseconds under
    load), so checks reading it refused creates right after an admin raised the
    quota. Loading the project's set and the default class costs two indexed point
    reads of their events (one small event per change; nothing found when never
    set), the same number of queries the view took, and never waits. Waiting for the view instead would first
    need the position of the last quota change, a store query of its own, and then
    the lag itself on every request following a change.
    """
    return effective_limits(_explicit_limits(cloud, PROJECT, project_id), _default_limits(cloud))


def _default_limits(cloud: Cloud) -> dict[str, int]:
    return effective_limits(_explicit_limits(cloud, CLASS, DEFAULT_CLASS), BUILTIN_DEFAULTS)


def _explicit_limits(cloud: Cloud, scope: str, owner: str) -> dict[str, int]:
    try:
        return cloud.load(quota_set_id(scope, owner), QuotaSet).limits
    except NotFound:
        return {}


def ensure_within(
    cloud: Cloud,
    project_id: str,
    resource: str,
    in_use: Callable[[], int],
    requested: int,
    *,
    message: str | None = None,
) -> None:
    """Refuse (QuotaExceeded, 403) when `requested` more would take the project over its limit.

    `in_use` counts only when a limit applies: an unlimited resource costs no count.
    `message` replaces Nova's generic text where Nova has its own for that
    resource (for example "Quota exceeded, too many key pairs.").
    """
    limit = current_limits(cloud, project_id)[resource]
    if limit == UNLIMITED:
        return
    used = in_use()
    if message is not None and exceeds(limit, used, requested):
        raise QuotaExceeded(message)
    refuse_if_over({resource: limit}, {resource: used}, {resource: requested})


@dataclass(frozen=True)
class Admission:
    """A create request as the quota allows it, and the ledger records to store with its servers (none when no
    limit applies)."""

    command: CreateServer
    records: tuple[QuotaLedger | QuotaLedger.ServersAdmitted, ...] = ()


def create_servers_within_quota(
    cloud: Cloud, views: ViewStore, command: CreateServer, ctx: RequestContext
) -> Reservation:
    """Create the servers the quota allows (see admit_servers), taking the project's turn on its ledger.

    Creates in one process wait for each other per project; a create in another process that took the same
    turn makes this one count again.
    """
    with _TURNS[hash(ctx.project_id) % len(_TURNS)]:
        attempt = 1
        while True:
            admission = admit_servers(cloud, views, command, ctx)
            try:
                return create_servers(cloud, admission.command, ctx, admitted=admission.records)
            except IntegrityError:
                if attempt == _ADMISSION_ATTEMPTS:
                    raise
                attempt += 1


def admit_servers(cloud: Cloud, views: ViewStore, command: CreateServer, ctx: RequestContext) -> Admission:
    """The create request the quota allows: the same one, or fewer servers (max_count
    lowered, as Nova does when min_count still fits), or QuotaExceeded.

    Metadata is checked first, then instances, cores and ram together, as Nova does.
    A flavor the caller may not use is left for the create use case to refuse
    with its own 400, as Nova reports a bad flavor before any quota.
    """
    flavorid = command.flavor_ref.rstrip("/").rsplit("/", 1)[-1]
    try:
        flavor = cloud.load(flavor_aggregate_id(flavorid), Flavor)
    except NotFound:
        return Admission(command)
    if not flavor.usable_by(ctx.project_id, ctx.is_admin):
        return Admission(command)
    limits = current_limits(cloud, ctx.project_id)
    metadata_items = len(command.metadata)
    if exceeds(limits["metadata_items"], 0, metadata_items):
        raise QuotaExceeded(f"Maximum number of metadata items exceeds {limits['metadata_items']}")
    per_server = {"instances": 1, "cores": flavor.vcpus, "ram": flavor.ram}
    if all(limits[resource] == UNLIMITED for resource in per_server):
        return Admission(command)
    usage, ledger_version = _usage_with_later_admissions(cloud, views, ctx.project_id)
    requested = {resource: command.max_count * amount for resource, amount in per_server.items()}
    over = overs(limits, usage, requested)
    allowed = command.max_count
    if over:
        allowed = affordable(limits, usage, per_server) or 0
        if allowed < command.min_count:
            wanted = command.min_count
            instances = str(wanted) if wanted == command.max_count else f"{wanted}-{command.max_count}"
            raise over_quota(over, limits, usage, requested | {"instances": instances})
    counts = {resource: allowed * amount for resource, amount in per_server.items()}
    if ledger_version == 0:
        ledger = QuotaLedger(project_id=ctx.project_id)
        ledger.admit(ctx.request_id, counts)
        records: tuple[QuotaLedger | QuotaLedger.ServersAdmitted, ...] = (ledger,)
    else:
        ledger_id = quota_ledger_id(ctx.project_id)
        records = (next_admission(ledger_id, ledger_version, ctx.project_id, ctx.request_id, counts),)
    return Admission(command if allowed == command.max_count else replace(command, max_count=allowed), records)


def _usage_with_later_admissions(cloud: Cloud, views: ViewStore, project_id: str) -> tuple[dict[str, int], int]:
    """(the instances, cores and ram the project holds: the view's count plus the admissions stored after the
    last one it counted; the ledger's version: 0 when it has none)."""
    counted, seen = counted_usage(views, project_id)
    later = [
        cloud.mapper.to_domain_event(stored)
        for stored in cloud.recorder.select_events(quota_ledger_id(project_id), gt=seen)
    ]
    pending = pending_usage(later)
    usage = {resource: counted[resource] + pending[resource] for resource in counted}
    return usage, later[-1].originator_version if later else seen


# --- os-quota-sets and os-quota-class-sets ------------------------------------------------


def update_project_quota(
    cloud: Cloud, views: ViewStore, project_id: str, changes: Mapping[str, int], force: bool, ctx: RequestContext
) -> dict[str, int]:
    """Set some of a project's limits; returns all of its limits afterwards."""
    if not force:
        check_new_limits(changes, project_usage(views, project_id))
    quota_set = _change(cloud, PROJECT, project_id, changes, ctx)
    return effective_limits(quota_set.limits, _default_limits(cloud))


def reset_project_quota(cloud: Cloud, project_id: str, ctx: RequestContext) -> None:
    """Back to the defaults (DELETE os-quota-sets); a project never set has nothing to reset."""
    try:
        quota_set = cloud.load(quota_set_id(PROJECT, project_id), QuotaSet)
    except NotFound:
        return
    quota_set.reset(request_id=ctx.request_id)
    cloud.save(quota_set)


def update_quota_class(cloud: Cloud, name: str, changes: Mapping[str, int], ctx: RequestContext) -> dict[str, int]:
    """Set some of a class's limits; the class "default" is every project's default."""
    quota_set = _change(cloud, CLASS, name, changes, ctx)
    return effective_limits(quota_set.limits, BUILTIN_DEFAULTS)


def _change(cloud: Cloud, scope: str, owner: str, changes: Mapping[str, int], ctx: RequestContext) -> QuotaSet:
    """Creates the set on its first change; a concurrent change makes this one retry on the newer set.
    A request that changes nothing records nothing."""
    attempt = 1
    while True:
        try:
            quota_set = cloud.load(quota_set_id(scope, owner), QuotaSet)
        except NotFound:
            quota_set = QuotaSet(scope=scope, owner=owner)
        if quota_set.limits | dict(changes) == quota_set.limits:
            return quota_set
        quota_set.change(changes, request_id=ctx.request_id)
        try:
            cloud.save(quota_set)
            return quota_set
        except IntegrityError:
            if attempt == _SAVE_ATTEMPTS:
                raise
            attempt += 1
