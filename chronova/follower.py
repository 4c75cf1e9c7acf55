"""Following the store's notification log: the relay and the projections read
it in order, in batches, and sleep until something new is recorded.

PostgreSQL wakes followers in any process (the recorder NOTIFYs on every
insert); in one process the Cloud's doorbell does it. A timeout bounds the
wait either way, so a missed wake-up costs latency, never progress.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence

import psycopg
from eventsourcing.persistence import Notification

from chronova.cloud import Cloud
from chronova.config import Settings

log = logging.getLogger(__name__)


class _PostgresWakeUps:
    """LISTENs on the recorder's channel; a lost connection is opened again on the next wait."""

    def __init__(self, conninfo: str, channel: str) -> None:
        self._conninfo = conninfo
        self._listen = psycopg.sql.SQL("LISTEN {}").format(psycopg.sql.Identifier(channel))
        self._conn: psycopg.Connection | None = None

    def wait(self, timeout: float) -> None:
        try:
            if self._conn is None or self._conn.closed:
                self._conn = psycopg.connect(self._conninfo, autocommit=True, connect_timeout=5)
                self._conn.execute(self._listen)
            for _ in self._conn.notifies(timeout=timeout, stop_after=1):
                pass
        except psycopg.Error as e:
            log.warning("lost the LISTEN connection (%s); polling until it is back", e)
            self.close()
            time.sleep(timeout)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class _LocalWakeUps:
    def __init__(self, cloud: Cloud) -> None:
        self._rung = cloud.doorbell.listener()

    def wait(self, timeout: float) -> None:
        self._rung.wait(timeout)
        self._rung.clear()

    def close(self) -> None:
        pass


class LogFollower:
    """Yields batches of notifications after a position, waiting when caught up."""

    def __init__(self, cloud: Cloud, settings: Settings, batch_size: int = 500, idle_wait: float = 0.5) -> None:
        self._cloud = cloud
        self._batch_size = batch_size
        self._idle_wait = idle_wait
        if settings.is_embedded_store:
            self._wake_ups: _PostgresWakeUps | _LocalWakeUps = _LocalWakeUps(cloud)
        else:
            channel = cloud.recorder.channel_name  # type: ignore[attr-defined]
            self._wake_ups = _PostgresWakeUps(settings.postgres_conninfo(), channel)

    def next_batch(self, after: int, stop: threading.Event) -> Sequence[Notification]:
        """The next notifications after `after`; empty only when stopping."""
        while not stop.is_set():
            batch = self._cloud.recorder.select_notifications(
                start=after, limit=self._batch_size, inclusive_of_start=False
            )
            if batch:
                return batch
            self._wake_ups.wait(self._idle_wait)
        return []

    def close(self) -> None:
        self._wake_ups.close()
