"""The stored events as recorded: raw rows for integrity checks, decoded events for reading.

The audit reads the event table directly where the library has no query for
it (one aggregate's events with their notification ids, the bytes as
stored), through the view store's dialect-neutral SQL, so PostgreSQL and the
embedded SQLite store work alike.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder

from chronova.cloud import Cloud
from projections.views import ViewStore, open_view_store

SCAN_BATCH = 1000


def as_bytes(state: bytes | memoryview | str) -> bytes:
    """SQLite hands back text where someone stored text in the state column: that is data to check, not a crash."""
    return state.encode() if isinstance(state, str) else bytes(state)


@dataclass(frozen=True)
class RawEvent:
    """One row of the event table, its state bytes untouched."""

    notification_id: int
    originator_id: str
    originator_version: int
    topic: str
    state: bytes

    @property
    def stored(self) -> StoredEvent:
        return StoredEvent(
            originator_id=UUID(self.originator_id),
            originator_version=self.originator_version,
            topic=self.topic,
            state=self.state,
        )


class AuditStore:
    """Reads the Cloud's event table; never writes it."""

    def __init__(self, cloud: Cloud) -> None:
        self.cloud = cloud
        self.views: ViewStore = open_view_store(cloud.factory, ())
        recorder = cloud.recorder
        if isinstance(recorder, PostgresApplicationRecorder):
            self.events_table = f"{recorder.datastore.schema}.{recorder.events_table_name}"
            self._notification_id = "notification_id"
        else:
            self.events_table = recorder.events_table_name  # type: ignore[attr-defined]
            self._notification_id = "rowid"
        # Cheap byte filters before decoding only work on plain JSON states.
        self.states_are_plain = cloud.mapper.cipher is None and cloud.mapper.compressor is None

    def _select(self, where: str, params: dict[str, Any]) -> list[RawEvent]:
        rows = self.views.query(
            f"SELECT {self._notification_id} AS notification_id, originator_id, originator_version, topic, state "
            f"FROM {self.events_table} {where}",
            params,
        )
        return [
            RawEvent(
                notification_id=row["notification_id"],
                originator_id=str(UUID(str(row["originator_id"]))),
                originator_version=row["originator_version"],
                topic=row["topic"],
                state=as_bytes(row["state"]),
            )
            for row in rows
        ]

    def events_of(self, aggregate_id: UUID) -> list[RawEvent]:
        """One aggregate's events in version order."""
        return self._select("WHERE originator_id = %(id)s ORDER BY originator_version", {"id": aggregate_id.hex})

    def scan(self, after: int = 0) -> Iterator[RawEvent]:
        """The whole notification log after a position, in order, in batches."""
        recorder = self.cloud.recorder
        while True:
            batch = recorder.select_notifications(start=after, limit=SCAN_BATCH, inclusive_of_start=False)
            for n in batch:
                yield RawEvent(n.id, str(n.originator_id), n.originator_version, n.topic, as_bytes(n.state))
            if len(batch) < SCAN_BATCH:
                return
            after = batch[-1].id

    def recorded_state(self, raw: RawEvent) -> dict[str, Any]:
        """The event's fields exactly as recorded, before any upcasting."""
        state = raw.state
        if self.cloud.mapper.cipher:
            state = self.cloud.mapper.cipher.decrypt(state)
        if self.cloud.mapper.compressor:
            state = self.cloud.mapper.compressor.decompress(state)
        return self.cloud.mapper.transcoder.decode(state)

    def decode(self, raw: RawEvent) -> Any:
        """The domain event, upcast to its class's current version."""
        return self.cloud.mapper.to_domain_event(raw.stored)
