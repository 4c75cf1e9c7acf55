"""Host aggregates (Nova's os-aggregates): named groups of compute hosts with
metadata; the `availability_zone` key makes one an availability zone.

Not to be confused with eventsourcing's `Aggregate` base class: here a
`HostAggregate` is the operator's grouping of hosts.

Nova gives aggregates integer ids and unique names. Both come from one
`HostAggregateRegistry`, saved in the same transaction as the aggregate it
numbers or names: two concurrent creates both append the registry's next
version, the store accepts one and the other retries with the next number.
An aggregate's uuid is derived from its number, so `/os-aggregates/7` finds
its aggregate without a lookup.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.errors import AlreadyExists, InvalidState, NotFound

AGGREGATE_NAMESPACE = uuid5(NAMESPACE_URL, "https://chronova.invalid/host-aggregate")
REGISTRY_ID = uuid5(NAMESPACE_URL, "https://chronova.invalid/host-aggregate-registry")
AZ_KEY = "availability_zone"
# Where a host outside every zone aggregate is (Nova's default_availability_zone).
DEFAULT_ZONE = "nova"
# The events that move Nova's `updated_at`; a host joining or leaving does not.
_UPDATES = frozenset({"Renamed", "MetadataUpdated"})


def host_aggregate_id(number: int) -> UUID:
    return uuid5(AGGREGATE_NAMESPACE, str(number))


class InvalidAggregateAction(InvalidState):
    """Nova's InvalidAggregateAction: the API answers 400 or 409 depending on the action."""


def cannot_add(number: int, reason: str) -> InvalidAggregateAction:
    return InvalidAggregateAction(f"Cannot add host to aggregate {number}. Reason: {reason}.")


def cannot_remove(number: int, reason: str) -> InvalidAggregateAction:
    """Nova says this for a refused host removal and for a refused aggregate delete alike."""
    return InvalidAggregateAction(f"Cannot remove host from aggregate {number}. Reason: {reason}.")


def cannot_update(number: int, reason: str, metadata: bool) -> InvalidAggregateAction:
    what = "metadata of aggregate" if metadata else "aggregate"
    return InvalidAggregateAction(f"Cannot update {what} {number}. Reason: {reason}.")


class HostAggregate(Aggregate):
    """One aggregate: its hosts (in the order they joined) and its metadata."""

    class Event(Aggregate.Event):
        def apply(self, aggregate: Any) -> None:
            if type(self).__name__ in _UPDATES:
                aggregate.updated_on = self.timestamp

    @event("Created")
    def __init__(self, *, number: int, name: str, availability_zone: str | None) -> None:
        self.number = number
        self.name = name
        self.metadata: dict[str, str] = {AZ_KEY: availability_zone} if availability_zone else {}
        self.hosts: list[str] = []
        self.deleted = False
        self.updated_on: datetime | None = None

    @staticmethod
    def create_id(number: int) -> UUID:
        return host_aggregate_id(number)

    @property
    def availability_zone(self) -> str | None:
        return self.metadata.get(AZ_KEY)

    def rename(self, name: str) -> None:
        if name != self.name:
            self._renamed(name=name)

    @event("Renamed")
    def _renamed(self, name: str) -> None:
        self.name = name

    def update_metadata(self, changes: dict[str, str | None]) -> None:
        """Set keys; a None value removes its key (absent keys are fine to remove)."""
        self._metadata_updated(changes=dict(changes))

    @event("MetadataUpdated")
    def _metadata_updated(self, changes: dict[str, str | None]) -> None:
        for key, value in changes.items():
            if value is None:
                self.metadata.pop(key, None)
            else:
                self.metadata[key] = value

    def add_host(self, host: str) -> None:
        if host in self.hosts:
            raise AlreadyExists(f"Aggregate {self.number} already has host {host}.")
        self._host_added(host=host)

    @event("HostAdded")
    def _host_added(self, host: str) -> None:
        self.hosts.append(host)

    def remove_host(self, host: str) -> None:
        if host not in self.hosts:
            raise NotFound(f"Aggregate {self.number} has no host {host}.")
        self._host_removed(host=host)

    @event("HostRemoved")
    def _host_removed(self, host: str) -> None:
        self.hosts.remove(host)

    def delete(self) -> None:
        if self.hosts:
            raise cannot_remove(self.number, "Host aggregate is not empty")
        self._deleted()

    @event("Deleted")
    def _deleted(self) -> None:
        self.deleted = True


class HostAggregateRegistry(Aggregate):
    """Every live aggregate by name, and the last number given out (numbers are never reused)."""

    @event("Started")
    def __init__(self) -> None:
        self.last_number = 0
        self.names: dict[str, int] = {}

    @staticmethod
    def create_id() -> UUID:
        return REGISTRY_ID

    @property
    def numbers(self) -> list[int]:
        return sorted(self.names.values())

    def enrol(self, name: str) -> int:
        """The next number, for a new aggregate called `name`."""
        self._check_free(name)
        self._enrolled(name=name, number=self.last_number + 1)
        return self.last_number

    @event("Enrolled")
    def _enrolled(self, name: str, number: int) -> None:
        self.names[name] = number
        self.last_number = number

    def rename(self, old: str, new: str) -> None:
        if old != new:
            self._check_free(new)
            self._renamed(old=old, new=new)

    @event("Renamed")
    def _renamed(self, old: str, new: str) -> None:
        self.names[new] = self.names.pop(old)

    def withdraw(self, name: str) -> None:
        self._withdrawn(name=name)

    @event("Withdrawn")
    def _withdrawn(self, name: str) -> None:
        self.names.pop(name, None)

    def _check_free(self, name: str) -> None:
        if name in self.names:
            raise AlreadyExists(f"Aggregate {name} already exists.")
