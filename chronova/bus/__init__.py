"""The message bus seen by Chronova's processes: publish keyed records, poll
them back, commit how far a consumer got. Kafka in the distributed
deployment, an in-process bus in the embedded one; the code above is the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: str | None
    value: bytes | None


class Publisher(Protocol):
    def publish(self, topic: str, key: str, value: bytes) -> None:
        """Queue a record; it is durable only after flush() returns."""

    def flush(self) -> None:
        """Block until every queued record is stored (or raise)."""


class Consumer(Protocol):
    def poll(self, timeout: float) -> list[Record]:
        """Up to one batch of records, waiting at most `timeout` seconds."""

    def commit(self) -> None:
        """Remember that every record returned so far has been handled."""

    def rewind(self) -> None:
        """Go back to the last commit, so uncommitted records are polled again."""
