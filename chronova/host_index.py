"""Every Host aggregate in memory, kept current from the Host events of the
notification log: the scheduler decides from it, the conductor watches it
for hosts gone silent. Reading the log (not the bus) means a reader that
has caught up to notification N has seen every host event before N.
Every change also reaches the capacity index the scheduler decides with.
"""

from __future__ import annotations

from uuid import UUID

from eventsourcing.utils import get_topic

from chronova.capacity_index import CapacityIndex
from chronova.cloud import Cloud
from domain.host import Host, host_id
from domain.scheduling import HostCandidate

HOST_EVENT_TOPICS = tuple(
    get_topic(cls)
    for cls in (
        Host.Registered,
        Host.InventoryUpdated,
        Host.ServiceUp,
        Host.ServiceDown,
        Host.AllocationClaimed,
        Host.AllocationReleased,
        Host.ServiceDisabled,
        Host.ServiceEnabled,
        Host.ServiceForcedDown,
        Host.ServiceForceDownCleared,
        Host.ServiceDeleted,
        Host.Reregistered,
    )
)


class HostIndex:
    """Every host as of a notification id, kept current from the log."""

    def __init__(self, cloud: Cloud) -> None:
        self._cloud = cloud
        self.position = 0
        self.hosts: dict[UUID, Host] = {}
        self.capacity = CapacityIndex()
        self._stale: set[UUID] = set()

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

    def _apply(self, event: Host.Event) -> None:
        current = self.hosts.get(event.originator_id)
        known = current.version if current is not None else 0
        if event.originator_version <= known:
            return
        if event.originator_version == known + 1:
            self.track(event.mutate(current))
        else:
            self.reload(event.originator_id)

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
            self.capacity.put(
                HostCandidate(
                    name=host.name,
                    inventories=host.inventories,
                    used=dict(host.usage),  # a copy: the index orders hosts by it, so it must not change underneath
                    up=host.up,
                    enabled=host.enabled,
                    forced_down=host.forced_down,
                )
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
        return [
            HostCandidate(
                name=h.name,
                inventories=h.inventories,
                used=h.usage,
                up=h.up,
                enabled=h.enabled,
                forced_down=h.forced_down,
            )
            for h in self.hosts.values()
            if not h.deleted
        ]

    def by_name(self, name: str) -> Host:
        return self.hosts[host_id(name)]
