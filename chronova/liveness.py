"""Which compute hosts are alive: a host whose agent has been silent for
`service_down_time` is recorded as down (Nova's servicegroup rule), so the
scheduler stops choosing it; its next heartbeat brings it back up.

Silence is measured by when the conductor heard a heartbeat, never by a
timestamp the agent wrote. A host that was up before this process started
gets the full grace period from the start.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from eventsourcing.persistence import IntegrityError

from chronova.cloud import Cloud
from chronova.host_index import HostIndex

log = logging.getLogger(__name__)


class HostLiveness:
    def __init__(self, cloud: Cloud, down_after: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._cloud = cloud
        self._down_after = down_after
        self._clock = clock
        self._index = HostIndex(cloud)
        self._last_heard: dict[str, float] = {}

    def heard(self, host: str) -> None:
        self._last_heard[host] = self._clock()

    def check(self) -> list[str]:
        """Record every silent host as down; returns their names."""
        self._index.catch_up(self._cloud.recorder.max_notification_id() or 0)
        now = self._clock()
        silent = []
        for host in self._index.hosts.values():
            if not host.up:
                continue
            last = self._last_heard.setdefault(host.name, now)
            if now - last < self._down_after:
                continue
            fresh = self._cloud.host(host.name)
            fresh.report_silent()
            try:
                self._cloud.save(fresh)
            except IntegrityError:
                continue  # a heartbeat was recorded meanwhile; look again next time
            log.warning("host %s silent for %.0fs: marked down", host.name, now - last)
            silent.append(host.name)
        return silent

    def run(self, stop: threading.Event) -> None:
        interval = max(0.5, min(self._down_after / 4, 10.0))
        while not stop.wait(interval):
            self.check()
