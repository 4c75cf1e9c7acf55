"""Every Host aggregate in memory, kept current from the notification log:
the scheduler decides from it, the conductor watches it for hosts gone silent.
Reading the log (not the bus) means a reader that has caught up to
notification N has seen every host event before N.

Besides the Host events it follows the host aggregates (zones, metadata,
isolating traits, tenants) and the Server events that say where builds are
running and failing (Nova's num_io_ops and failed_builds). Every change
reaches the capacity index the scheduler decides with.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate
from eventsourcing.utils import get_topic

from chronova.capacity_index import CapacityIndex
from chronova.cloud import Cloud
from domain.aggregate import AZ_KEY, DEFAULT_ZONE, HostAggregate
from domain.filters import TENANT_KEY, required_by_aggregate
from domain.host import Host, host_id
from domain.scheduling import HostCandidate
from domain.server import Server

HOST_EVENTS = (
    Host.Registered,
    Host.InventoryUpdated,
    Host.TraitsUpdated,
    Host.ServiceUp,
    Host.ServiceDown,
    Host.AllocationClaimed,
    Host.AllocationReleased,
    Host.AllocationMoved,
    Host.ServiceDisabled,
    Host.ServiceEnabled,
    Host.ServiceForcedDown,
    Host.ServiceForceDownCleared,
    Host.ServiceDeleted,
    Host.Reregistered,
)
AGGREGATE_EVENTS = (
    HostAggregate.Created,
    HostAggregate.MetadataUpdated,
    HostAggregate.HostAdded,
    HostAggregate.HostRemoved,
    HostAggregate.Deleted,
)
# Where builds start, succeed and fail: Server events that name their host.
BUILD_EVENTS = (Server.Scheduled, Server.Spawned, Server.SpawnFailed, Server.Rescheduled, Server.Deleted)
HOST_EVENT_TOPICS = tuple(get_topic(cls) for cls in HOST_EVENTS + AGGREGATE_EVENTS + BUILD_EVENTS)


class HostIndex:
    """Every host as of a notification id, kept current from the log."""

    def __init__(self, cloud: Cloud) -> None:
        self._cloud = cloud
        self.position = 0
        self.hosts: dict[UUID, Host] = {}
        self.aggregates: dict[UUID, HostAggregate] = {}
        self.capacity = CapacityIndex()
        self._stale: set[UUID] = set()
        self._building: dict[str, set[str]] = defaultdict(set)  # host name: servers being built there
        self._failed_builds: dict[str, int] = defaultdict(int)
        self._aggregates_of: dict[str, list[HostAggregate]] = {}
        self.tenants_with_aggregates: frozenset[str] = frozenset()

    def catch_up(self, upto: int) -> None:
        """Make sure every host event up to notification `upto` is applied.

        Catching up goes to the log's head, not just to `upto`: one read then
        serves every later message up to the head, and a message claiming a
        position beyond the head cannot move the index past events it never saw.
        """
        if upto <= self.position:
            return
        head = self._cloud.recorder.max_notification_id() or 0
        while self.position < head:
            batch = self._cloud.recorder.select_notifications(
                start=self.position, stop=head, limit=1000, topics=HOST_EVENT_TOPICS, inclusive_of_start=False
            )
            for notification in batch:
                self._apply(self._cloud.mapper.to_domain_event(notification))
            self.position = head if len(batch) < 1000 else batch[-1].id

    def _apply(self, event: Aggregate.Event) -> None:
        if isinstance(event, Server.Event):
            self._build_event(event)
        elif isinstance(event, HostAggregate.Event):
            self._aggregate_event(event)
        else:
            current = self.hosts.get(event.originator_id)
            known = current.version if current is not None else 0
            if event.originator_version <= known:
                return
            if event.originator_version == known + 1:
                self.track(event.mutate(current))
            else:
                self.reload(event.originator_id)

    def _build_event(self, event: Aggregate.Event) -> None:
        server_id = str(event.originator_id)
        data: dict[str, Any] = event.__dict__
        if isinstance(event, Server.Rescheduled):
            host, failed = data["failed_host"], True
        else:
            host, failed = data.get("host"), isinstance(event, Server.SpawnFailed)
        if host is None:
            return
        if isinstance(event, Server.Scheduled):
            self._building[host].add(server_id)
        else:
            self._building[host].discard(server_id)
            if failed:
                self._failed_builds[host] += 1
            elif isinstance(event, Server.Spawned):
                self._failed_builds.pop(host, None)  # Nova resets the count on a build that succeeds
        self._retrack(host)

    def _aggregate_event(self, event: Aggregate.Event) -> None:
        current = self.aggregates.get(event.originator_id)
        known = current.version if current is not None else 0
        if event.originator_version <= known:
            return
        before = set(current.hosts) if current is not None else set()
        if event.originator_version == known + 1:
            aggregate = event.mutate(current)
        else:
            aggregate = self._cloud.repository.get(event.originator_id)
        self.aggregates[aggregate.id] = aggregate
        self._aggregates_of = defaultdict(list)
        tenants: set[str] = set()
        for live in self.aggregates.values():
            if live.deleted:
                continue
            for name in live.hosts:
                self._aggregates_of[name].append(live)
            tenants.update(v for k, v in live.metadata.items() if k.startswith(TENANT_KEY))
        self.tenants_with_aggregates = frozenset(tenants)
        for name in before | set(aggregate.hosts):
            self._retrack(name)

    def _retrack(self, name: str) -> None:
        host = self.hosts.get(host_id(name))
        if host is not None:
            self.track(host)

    def reload(self, aggregate_id: UUID) -> Host:
        host = self._cloud.repository.get(aggregate_id)
        self.track(host)
        self._stale.discard(aggregate_id)
        return host

    def track(self, host: Host) -> None:
        """Hold `host` as it is now: after each event applied, and after each claim this process makes."""
        self.hosts[host.id] = host
        if host.deleted:
            self.capacity.discard(host.name)
        else:
            self.capacity.put(self.candidate(host))

    def candidate(self, host: Host) -> HostCandidate:
        """The host as the filters and weighers see it; `used` is a copy, as the index orders hosts by it."""
        aggregates = self._aggregates_of.get(host.name, [])
        metadata: dict[str, set[str]] = defaultdict(set)
        isolating: set[str] = set()
        for aggregate in aggregates:
            for key, value in aggregate.metadata.items():
                metadata[key].add(value)
            isolating |= required_by_aggregate(aggregate.metadata)
        zones = sorted(metadata.get(AZ_KEY, ()))
        return HostCandidate(
            name=host.name,
            inventories=host.inventories,
            used=dict(host.usage),
            up=host.up,
            enabled=host.enabled,
            forced_down=host.forced_down,
            traits=frozenset(host.traits),
            availability_zone=zones[0] if zones else DEFAULT_ZONE,
            aggregate_metadata={key: frozenset(values) for key, values in metadata.items()},
            aggregate_required_traits=frozenset(isolating),
            tenants=frozenset(v for k, vs in metadata.items() if k.startswith(TENANT_KEY) for v in vs),
            hypervisor=host.hypervisor,
            instances=len(host.allocations),
            io_ops=len(self._building.get(host.name, ())),
            failed_builds=self._failed_builds.get(host.name, 0),
        )

    def forget(self, aggregate_id: UUID) -> None:
        """Drop a host whose in-memory state may hold unsaved claims; it is reloaded before next use."""
        host = self.hosts.pop(aggregate_id, None)
        if host is not None:
            self.capacity.discard(host.name)
        self._stale.add(aggregate_id)

    def reload_stale(self) -> None:
        for aggregate_id in list(self._stale):
            self.reload(aggregate_id)

    def candidates(self) -> list[HostCandidate]:
        """Every host whose service exists; a deleted service is no candidate at all."""
        return [self.candidate(h) for h in self.hosts.values() if not h.deleted]

    def by_name(self, name: str) -> Host:
        return self.hosts[host_id(name)]
