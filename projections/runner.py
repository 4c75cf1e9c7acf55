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
from projections.hypervisors import HypervisorsProjection
from projections.servers import ServersProjection
from projections.views import Statement, ViewStore

log = logging.getLogger(__name__)


class Projection(Protocol):
    name: str
    ddl: tuple[str, ...]
    event_types: frozenset[str]

    def statements(self, message: EventMessage) -> list[Statement]: ...


ALL_PROJECTIONS: tuple[Projection, ...] = (ServersProjection(), HypervisorsProjection(), FlavorsProjection())
ALL_DDL = tuple(statement for projection in ALL_PROJECTIONS for statement in projection.ddl)


def event_type_of(topic: str) -> str:
    """'domain.server:Server.Created' -> 'Server.Created', without decoding the event."""
    return topic.rsplit(":", 1)[-1]


class Projector:
    """One projection bound to its store and view tables."""

    def __init__(self, projection: Projection, cloud: Cloud, views: ViewStore) -> None:
        self.projection = projection
        self._cloud = cloud
        self._views = views

    @property
    def position(self) -> int:
        return self._views.max_tracking_id(self.projection.name) or 0

    def apply(self, batch: Sequence[Notification]) -> int:
        """Write the batch's row changes and its last position in one transaction."""
        statements: list[Statement] = []
        for notification in batch:
            if event_type_of(notification.topic) in self.projection.event_types:
                event = self._cloud.mapper.to_domain_event(notification)
                statements += self.projection.statements(EventMessage.from_domain_event(notification.id, event))
        position = batch[-1].id
        self._views.write(Tracking(self.projection.name, position), statements)
        return position

    def catch_up(self) -> None:
        """Project everything recorded so far, in this thread (tests and tools)."""
        position = self.position
        while batch := self._cloud.recorder.select_notifications(start=position, limit=500, inclusive_of_start=False):
            position = self.apply(batch)

    def run(self, follower: LogFollower, stop: threading.Event) -> None:
        position = self.position
        log.info("projection %s starting after notification %d", self.projection.name, position)
        while not stop.is_set():
            batch = follower.next_batch(position, stop)
            if batch:
                position = self.apply(batch)


def projectors(cloud: Cloud, views: ViewStore) -> list[Projector]:
    return [Projector(projection, cloud, views) for projection in ALL_PROJECTIONS]
