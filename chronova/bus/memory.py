"""The in-process bus of the embedded deployment.

A publisher's flush() returns only once every consumer has handled and
committed what was published, so the relay's recorded position never runs
ahead of what consumers have done: a crash loses nothing that the relay will
not publish again.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import defaultdict

from chronova.bus import Record

log = logging.getLogger(__name__)


class BusClosed(Exception):
    """The bus is shutting down; what was not handled will be published again."""


class MemoryBus:
    def __init__(self) -> None:
        self.closed = threading.Event()
        self._lock = threading.Lock()
        self._queues: dict[str, list[queue.Queue[Record]]] = defaultdict(list)
        self._offsets: dict[str, int] = defaultdict(int)

    def close(self) -> None:
        self.closed.set()

    def publisher(self) -> MemoryPublisher:
        return MemoryPublisher(self)

    def consumer(self, topics: list[str]) -> MemoryConsumer:
        inbox: queue.Queue[Record] = queue.Queue()
        with self._lock:
            for topic in topics:
                self._queues[topic].append(inbox)
        return MemoryConsumer(inbox)

    def _deliver(self, topic: str, key: str, value: bytes) -> list[queue.Queue[Record]]:
        with self._lock:
            offset = self._offsets[topic]
            self._offsets[topic] = offset + 1
            inboxes = list(self._queues.get(topic, ()))
        if not inboxes:
            log.debug("no consumer for %s; record %s dropped", topic, offset)
        record = Record(topic=topic, partition=0, offset=offset, key=key, value=value)
        for inbox in inboxes:
            inbox.put(record)
        return inboxes


class MemoryPublisher:
    def __init__(self, bus: MemoryBus) -> None:
        self._bus = bus
        self._pending: set[queue.Queue[Record]] = set()

    def publish(self, topic: str, key: str, value: bytes) -> None:
        self._pending.update(self._bus._deliver(topic, key, value))

    def flush(self) -> None:
        for inbox in self._pending:
            with inbox.all_tasks_done:
                while inbox.unfinished_tasks:
                    if self._bus.closed.is_set():
                        raise BusClosed("in-process bus closed before delivery finished")
                    inbox.all_tasks_done.wait(0.1)
        self._pending.clear()


class MemoryConsumer:
    """Records taken but not committed are handed out again after a rewind."""

    def __init__(self, inbox: queue.Queue[Record]) -> None:
        self._inbox = inbox
        self._taken = 0  # records taken from the inbox and not yet marked done
        self._in_flight: list[Record] = []  # returned by poll() since the last commit
        self._again: list[Record] = []  # to be returned again, after a rewind

    def poll(self, timeout: float) -> list[Record]:
        records, self._again = self._again, []
        if not records:
            try:
                records.append(self._inbox.get(timeout=timeout))
                self._taken += 1
            except queue.Empty:
                return []
        while len(records) < 500:
            try:
                records.append(self._inbox.get_nowait())
                self._taken += 1
            except queue.Empty:
                break
        self._in_flight += records
        return records

    def commit(self) -> None:
        for _ in range(self._taken):
            self._inbox.task_done()
        self._taken = 0
        self._in_flight = []

    def rewind(self) -> None:
        self._again = self._in_flight + self._again
        self._in_flight = []
