"""Host aggregate use cases (os-aggregates), with Nova's availability-zone rules.

A host is in at most one availability zone, and a host with servers never
changes zone under them. Those rules span aggregates, so they are judged on
every live aggregate loaded from the store (the registry lists them; a cloud
has tens, not thousands), never on a read model that may lag.

Each use case starts again from a fresh load when a concurrent write to one
of its aggregates wins the optimistic-concurrency race.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, TypeVar

from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError

from chronova.cloud import Cloud
from domain.aggregate import (
    AZ_KEY,
    DEFAULT_ZONE,
    REGISTRY_ID,
    HostAggregate,
    HostAggregateRegistry,
    InvalidAggregateAction,
    cannot_add,
    cannot_remove,
    cannot_update,
    host_aggregate_id,
)
from domain.errors import NotFound
from domain.host import Host, host_id

ATTEMPTS = 5
UNCHANGED: Any = object()  # an update that does not name the availability zone
T = TypeVar("T")
_MOVES_SERVERS = (
    "The host cannot be {verb} the aggregate as the availability zone of the host would change from "
    "'{old}' to '{new}' but the host already has {count} instance(s). Changing the AZ of an existing "
    "instance is not supported by this action. Move the instances away from this host then try again. "
    "If you need to move the instances between AZs then you can use shelve_offload and unshelve to "
    "achieve this."
)


def _retrying(cloud: Cloud, attempt: Callable[[], tuple[T, Sequence[Aggregate]]]) -> T:
    """Run `attempt` (load and decide) and save what it changed, in one transaction."""
    for remaining in reversed(range(ATTEMPTS)):
        result, changed = attempt()
        try:
            if changed:
                cloud.save(*changed)
            return result
        except IntegrityError:
            if not remaining:
                raise
    raise AssertionError("unreachable")


# --- loading ------------------------------------------------------------------------


def registry(cloud: Cloud) -> HostAggregateRegistry:
    try:
        return cloud.load(REGISTRY_ID, HostAggregateRegistry)
    except NotFound:
        return HostAggregateRegistry()


def find(cloud: Cloud, number: int) -> HostAggregate:
    message = f"Aggregate {number} could not be found."
    aggregate = cloud.load(host_aggregate_id(number), HostAggregate, message)
    if aggregate.deleted:
        raise NotFound(message)
    return aggregate


def live_aggregates(cloud: Cloud) -> list[HostAggregate]:
    """Every aggregate not deleted, by number; one deleted meanwhile is simply left out."""
    found = []
    for number in registry(cloud).numbers:
        try:
            found.append(find(cloud, number))
        except NotFound:
            continue
    return found


def compute_host(cloud: Cloud, name: str) -> Host:
    message = f"Compute host {name} could not be found."
    host = cloud.load(host_id(name), Host, message)
    if host.deleted:
        raise NotFound(message)
    return host


# --- the use cases ------------------------------------------------------------------


def create(cloud: Cloud, name: str, availability_zone: str | None) -> HostAggregate:
    def attempt() -> tuple[HostAggregate, Sequence[Aggregate]]:
        names = registry(cloud)
        aggregate = HostAggregate(number=names.enrol(name), name=name, availability_zone=availability_zone)
        return aggregate, [names, aggregate]

    return _retrying(cloud, attempt)


def update(cloud: Cloud, number: int, name: str | None, availability_zone: Any = UNCHANGED) -> HostAggregate:
    """PUT: a new name and/or a new zone; a null zone is refused, as Nova refuses an empty one."""

    def attempt() -> tuple[HostAggregate, Sequence[Aggregate]]:
        aggregate = find(cloud, number)
        changed: list[Aggregate] = [aggregate]
        if name is not None and name != aggregate.name:
            names = registry(cloud)
            names.rename(aggregate.name, name)
            aggregate.rename(name)
            changed.append(names)
        if availability_zone is not UNCHANGED:
            refuse = partial(cannot_update, number, metadata=False)
            _check_zone(cloud, aggregate, availability_zone, aggregate.hosts, refuse, servers_stay=True)
            aggregate.update_metadata({AZ_KEY: availability_zone})
        return aggregate, changed

    return _retrying(cloud, attempt)


def set_metadata(cloud: Cloud, number: int, metadata: dict[str, str | None]) -> HostAggregate:
    def attempt() -> tuple[HostAggregate, Sequence[Aggregate]]:
        aggregate = find(cloud, number)
        if AZ_KEY in metadata:
            refuse = partial(cannot_update, number, metadata=True)
            _check_zone(cloud, aggregate, metadata[AZ_KEY], aggregate.hosts, refuse, servers_stay=True)
        if not metadata:
            return aggregate, []
        aggregate.update_metadata(metadata)
        return aggregate, [aggregate]

    return _retrying(cloud, attempt)


def delete(cloud: Cloud, number: int) -> None:
    def attempt() -> tuple[None, Sequence[Aggregate]]:
        aggregate = find(cloud, number)
        aggregate.delete()
        names = registry(cloud)
        names.withdraw(aggregate.name)
        return None, [aggregate, names]

    _retrying(cloud, attempt)


def add_host(cloud: Cloud, number: int, host_name: str) -> HostAggregate:
    def attempt() -> tuple[HostAggregate, Sequence[Aggregate]]:
        host = compute_host(cloud, host_name)
        aggregate = find(cloud, number)
        new_zone = aggregate.availability_zone
        if AZ_KEY in aggregate.metadata:
            _check_zone(cloud, aggregate, new_zone, [host_name], partial(cannot_add, number), servers_stay=False)
        if host.allocations and new_zone:
            old_zone = _zone_of(cloud, host_name, besides=None)
            if old_zone != new_zone:
                reason = _MOVES_SERVERS.format(verb="added to", old=old_zone, new=new_zone, count=len(host.allocations))
                raise cannot_add(number, reason)
        aggregate.add_host(host_name)
        return aggregate, [aggregate]

    return _retrying(cloud, attempt)


def remove_host(cloud: Cloud, number: int, host_name: str) -> HostAggregate:
    """Nova answers one 404 for an unknown host, an unknown aggregate and a host not in it."""
    not_found = NotFound(f"Cannot remove host {host_name} in aggregate {number}")

    def attempt() -> tuple[HostAggregate, Sequence[Aggregate]]:
        try:
            host = compute_host(cloud, host_name)
            aggregate = find(cloud, number)
        except NotFound:
            raise not_found from None
        old_zone = aggregate.availability_zone
        if host.allocations and old_zone:
            new_zone = _zone_of(cloud, host_name, besides=aggregate)
            if old_zone != new_zone:
                reason = _MOVES_SERVERS.format(
                    verb="removed from", old=old_zone, new=new_zone, count=len(host.allocations)
                )
                raise cannot_remove(number, reason)
        if host_name not in aggregate.hosts:
            raise not_found
        aggregate.remove_host(host_name)
        return aggregate, [aggregate]

    return _retrying(cloud, attempt)


def without_host(cloud: Cloud, host_name: str) -> list[HostAggregate]:
    """Every aggregate the host was in, with the host removed (unsaved): a deleted service leaves them all."""
    holding = [aggregate for aggregate in live_aggregates(cloud) if host_name in aggregate.hosts]
    for aggregate in holding:
        aggregate.remove_host(host_name)
    return holding


# --- Nova's availability-zone rules ---------------------------------------------------------


def _check_zone(
    cloud: Cloud,
    aggregate: HostAggregate,
    zone: str | None,
    hosts: Sequence[str],
    refuse: Callable[[str], InvalidAggregateAction],
    servers_stay: bool,
) -> None:
    """A zone must have a name; no host may end up in two zones; with `servers_stay`, no server changes zone."""
    if not zone:
        raise refuse(f"Aggregate {aggregate.name} does not support empty named availability zone")
    conflicting = [
        other.availability_zone
        for other in live_aggregates(cloud)
        if other.id != aggregate.id
        and other.availability_zone is not None
        and other.availability_zone != zone
        and set(other.hosts) & set(hosts)
    ]
    if conflicting:
        raise refuse(f"One or more hosts already in availability zone(s) {conflicting}")
    if servers_stay and aggregate.availability_zone != zone and any(_has_servers(cloud, host) for host in hosts):
        raise refuse("One or more hosts contain instances in this zone")


def _zone_of(cloud: Cloud, host_name: str, besides: HostAggregate | None) -> str:
    """The host's zone from its aggregates (leaving `besides` out); the default zone outside every zone."""
    for aggregate in live_aggregates(cloud):
        if besides is not None and aggregate.id == besides.id:
            continue
        if host_name in aggregate.hosts and aggregate.availability_zone:
            return aggregate.availability_zone
    return DEFAULT_ZONE


def _has_servers(cloud: Cloud, host_name: str) -> bool:
    try:
        return bool(cloud.host(host_name).allocations)
    except NotFound:
        return False
