"""Quota use cases (os-quota-sets, os-quota-class-sets) and the checks other
commands run before they record anything.

Checks enforce the limits in the store and count usage from the quota view
(projections/quotas.py says why counting from a view is acceptable); changes
are QuotaSet events.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace

from eventsourcing.persistence import IntegrityError

from chronova.cloud import Cloud
from domain.commands import CreateServer, RequestContext
from domain.errors import NotFound, QuotaExceeded
from domain.flavor import Flavor, flavor_aggregate_id
from domain.quota import (
    BUILTIN_DEFAULTS,
    CLASS,
    DEFAULT_CLASS,
    PROJECT,
    UNLIMITED,
    QuotaSet,
    affordable,
    check_new_limits,
    effective_limits,
    exceeds,
    over_quota,
    overs,
    quota_set_id,
    refuse_if_over,
)
from projections.quotas import project_usage
from projections.views import ViewStore

_SAVE_ATTEMPTS = 3


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


def allowed_server_count(
    cloud: Cloud,
    views: ViewStore,
    project_id: str,
    min_count: int,
    max_count: int,
    vcpus: int,
    ram: int,
    metadata_items: int,
) -> int:
    """How many of `min_count`..`max_count` servers to create: as many as the quota
    holds, up to max_count, or QuotaExceeded when not even min_count fit. Metadata
    is checked first, then instances, cores and ram together, as Nova does; with all
    three unlimited nothing is counted."""
    limits = current_limits(cloud, project_id)
    if exceeds(limits["metadata_items"], 0, metadata_items):
        raise QuotaExceeded(f"Maximum number of metadata items exceeds {limits['metadata_items']}")
    per_server = {"instances": 1, "cores": vcpus, "ram": ram}
    if all(limits[resource] == UNLIMITED for resource in per_server):
        return max_count
    usage = project_usage(views, project_id)
    requested = {resource: max_count * amount for resource, amount in per_server.items()}
    over = overs(limits, usage, requested)
    if not over:
        return max_count
    fitting = affordable(limits, usage, per_server) or 0
    if fitting >= min_count:
        return fitting
    instances = str(min_count) if min_count == max_count else f"{min_count}-{max_count}"
    raise over_quota(over, limits, usage, requested | {"instances": instances})


def check_create_server_command(
    cloud: Cloud, views: ViewStore, command: CreateServer, ctx: RequestContext
) -> CreateServer:
    """The create request the quota allows: the same one, or fewer servers (max_count
    lowered, as Nova does when min_count still fits), or QuotaExceeded.

    A flavor the caller may not use is left for the create use case to refuse
    with its own 400, as Nova reports a bad flavor before any quota.
    """
    flavorid = command.flavor_ref.rstrip("/").rsplit("/", 1)[-1]
    try:
        flavor = cloud.load(flavor_aggregate_id(flavorid), Flavor)
    except NotFound:
        return command
    if not flavor.usable_by(ctx.project_id, ctx.is_admin):
        return command
    allowed = allowed_server_count(
        cloud,
        views,
        ctx.project_id,
        command.min_count,
        command.max_count,
        flavor.vcpus,
        flavor.ram,
        len(command.metadata),
    )
    return command if allowed == command.max_count else replace(command, max_count=allowed)


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
