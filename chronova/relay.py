"""The relay: the only way events reach the bus (ARCHITECTURE.md invariant 2).

It reads the notification log after its recorded position, publishes each
event keyed by aggregate id, waits for the bus to store them, and only then
records the new position in the store. A crash in between publishes some
events twice, never none; consumers dedupe.
"""

from __future__ import annotations

import logging
import threading

from eventsourcing.persistence import Tracking, TrackingRecorder

from chronova.bus import Publisher
from chronova.cloud import Cloud
from chronova.follower import LogFollower
from chronova.messages import EventMessage

log = logging.getLogger(__name__)

RELAY_POSITION = "relay"


class Relay:
    def __init__(self, cloud: Cloud, positions: TrackingRecorder, publisher: Publisher) -> None:
        self._cloud = cloud
        self._positions = positions
        self._publisher = publisher

    def position(self) -> int:
        return self._positions.max_tracking_id(RELAY_POSITION) or 0

    def run(self, follower: LogFollower, stop: threading.Event) -> None:
        position = self.position()
        log.info("relay starting after notification %d", position)
        while not stop.is_set():
            batch = follower.next_batch(position, stop)
            if not batch:
                continue
            for notification in batch:
                event = self._cloud.mapper.to_domain_event(notification)
                message = EventMessage.from_domain_event(notification.id, event)
                self._publisher.publish(message.topic, message.aggregate_id, message.to_json())
            self._publisher.flush()
            position = batch[-1].id
            self._positions.insert_tracking(Tracking(RELAY_POSITION, position))
