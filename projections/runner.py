"""Runs projections: follow the log from each view's own tracking position,
turn each relevant event into row changes, write a batch and its position
together. Restarting resumes exactly where the last transaction ended.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Protocol

from eventsourcing.persistence import Notification, Tracking

from chronova.cloud import Cloud
from chronova.follower import LogFollower
from chronova.messages import EventMessage
from projections.flavors import FlavorsProjection
from projections.host_aggregates import HostAggregatesProjection
from projections.hypervisors import HypervisorsProjection
from projections.identity import IdentityProjection
from projections.images import ImagesProjection
from projections.instance_actions import InstanceActionsProjection
from projections.keypairs import KeypairsProjection
from projections.migrations import MigrationsProjection
from projections.quotas import QuotasProjection
from projections.scheduling import SchedulingProjection
from projections.server_groups import ServerGroupsProjection
from projections.servers import ServersProjection
from projections.views import Statement, ViewStore

log = logging.getLogger(__name__)


class Projection(Protocol):
    name: str
    ddl: tuple[str, ...]
    event_types: frozenset[str]

    def statements(self, message: EventMessage) -> list[Statement]: ...


ALL_PROJECTIONS: tuple[Projection, ...] = (
    ServersProjection(),
    InstanceActionsProjection(),
    HypervisorsProjection(),
    FlavorsProjection(),
    IdentityProjection(),
    ImagesProjection(),
    KeypairsProjection(),
    QuotasProjection(),
    HostAggregatesProjection(),
    ServerGroupsProjection(),
    MigrationsProjection(),
    SchedulingProjection(),
)
ALL_DDL = tuple(statement for projection in ALL_PROJECTIONS for statement in projection.ddl)


def event_type_of(topic: str) -> str:
    """'domain.server:Server.Created' -> 'Server.Created', without decoding the event."""
    return topic.rsplit(":", 1)[-1]


class Projector:
    """Projections fed from one reading of the log, each with its own position.

    One batch becomes one transaction holding every projection's row changes
    and tracking row, so the log is read and decoded once for all of them; a
    projection that is behind (just rebuilt) simply skips nothing the others skip.
    """

    def __init__(self, projections: Sequence[Projection], cloud: Cloud, views: ViewStore) -> None:
        self.projections = tuple(projections)
        self._cloud = cloud
        self._views = views
        self._wanted = frozenset().union(*(p.event_types for p in self.projections))

    def positions(self) -> dict[str, int]:
        return {p.name: self._views.max_tracking_id(p.name) or 0 for p in self.projections}

    def apply(self, batch: Sequence[Notification], positions: dict[str, int]) -> None:
        """Write the batch's row changes and every projection's new position in one transaction."""
        statements: list[Statement] = []
        for notification in batch:
            event_type = event_type_of(notification.topic)
            if event_type not in self._wanted:
                continue
            message = EventMessage.from_domain_event(notification.id, self._cloud.mapper.to_domain_event(notification))
            for projection in self.projections:
                if event_type in projection.event_types and notification.id > positions[projection.name]:
                    statements += projection.statements(message)
        last = batch[-1].id
        behind = [p.name for p in self.projections if positions[p.name] < last]
        self._views.write([Tracking(name, last) for name in behind], statements)
        positions.update(dict.fromkeys(behind, last))

    def catch_up(self) -> None:
        """Project everything recorded so far, in this thread (tests and tools)."""
        positions = self.positions()
        while batch := self._cloud.recorder.select_notifications(
            start=min(positions.values()), limit=500, inclusive_of_start=False
        ):
            self.apply(batch, positions)

    def run(self, follower: LogFollower, stop: threading.Event) -> None:
        positions = self.positions()
        log.info("projections starting at %s", positions)
        while not stop.is_set():
            batch = follower.next_batch(min(positions.values()), stop)
            if batch:
                self.apply(batch, positions)


def projector(cloud: Cloud, views: ViewStore) -> Projector:
    return Projector(ALL_PROJECTIONS, cloud, views)
