"""The whole cloud as of a moment: every read model rebuilt from the events
stored up to then, in a schema (PostgreSQL) or a file (SQLite) of its own,
and read by the unchanged query app.

The copy carries its own tracking rows at the position it was built to, and
the app it serves is told that position is the end of the log, so
read-your-writes never waits for events that belong to a later time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from eventsourcing.persistence import InfrastructureFactory, Tracking, TrackingRecorder

from chronova.cloud import Cloud
from chronova.config import Settings
from chronova.messages import EventMessage
from projections import schemas
from projections.replay import EventDecoder, Fold
from projections.runner import ALL_PROJECTIONS
from projections.views import PostgresViewStore, ViewStore, open_view_store


class BeforeFirstEvent(ValueError):
    """Nothing was stored yet at that moment."""


@dataclass(frozen=True)
class AsOfCopy:
    """Where an as-of copy lives and the last notification it holds."""

    moment: datetime
    position: int
    location: str  # a PostgreSQL schema, or an SQLite file
    env: dict[str, str]  # the eventsourcing environment that reaches it


class PinnedViewStore(PostgresViewStore):
    """The live query code reading one schema's tables (an as-of copy) instead of the current schema's."""

    def query(self, sql: str, params: Any = None) -> list[dict[str, Any]]:
        with self.datastore.transaction(commit=False) as cursor:
            schemas.use_schema(cursor, self.datastore.schema)
            cursor.execute(sql, dict(params or {}))  # type: ignore[arg-type]
            return [dict(row) for row in cursor.fetchall()]


class _FixedLog:
    """A log that ends where the as-of copy ends."""

    def __init__(self, position: int) -> None:
        self._position = position

    def max_notification_id(self) -> int:
        return self._position


class FrozenCloud:
    """What the query app asks of the store (its end position), answered for an as-of copy."""

    def __init__(self, position: int) -> None:
        self.recorder = _FixedLog(position)


def first_event_time(cloud: Cloud) -> datetime | None:
    for first in cloud.recorder.select_notifications(start=0, limit=1, inclusive_of_start=False):
        return datetime.fromisoformat(EventDecoder(cloud).message(first).timestamp)
    return None


def copy_name(moment: datetime) -> str:
    return f"as_of_{moment.strftime('%Y%m%dT%H%M%S%f')}"


def build(cloud: Cloud, settings: Settings, moment: datetime) -> AsOfCopy:
    """Fold every event stored up to `moment` into every projection's tables, then store them beside the live ones."""
    first = first_event_time(cloud)
    if first is None or moment < first:
        raise BeforeFirstEvent(
            f"{moment.isoformat()} is before the first event ({first.isoformat() if first else 'none'})"
        )

    def kept(message: EventMessage) -> bool:
        return datetime.fromisoformat(message.timestamp) <= moment

    name = copy_name(moment)
    env = settings.store_env(create_tables=True)
    if env["PERSISTENCE_MODULE"].endswith("sqlite"):
        path = Path(env["SQLITE_DBNAME"]).with_name(f"{name}.sqlite")
        path.unlink(missing_ok=True)
        fold = Fold(ALL_PROJECTIONS, str(path))
        fold.replay(cloud, None, keep=kept)
        fold.close()
        env = {**env, "SQLITE_DBNAME": str(path)}
        location = str(path)
    else:
        fold = Fold(ALL_PROJECTIONS)
        fold.replay(cloud, None, keep=kept)
        with cloud.recorder.datastore.transaction(commit=True) as cursor:  # type: ignore[attr-defined]
            schemas.load(cursor, name, ALL_PROJECTIONS, fold, schemas.current_schema(cursor))
        fold.close()
        env = {**env, "POSTGRES_SCHEMA": name}
        location = name
    views = open_views(env)
    try:
        views.write([Tracking(p.name, fold.position) for p in ALL_PROJECTIONS], [])
    finally:
        views.datastore.close()
    return AsOfCopy(moment, fold.position, location, env)


def open_views(env: dict[str, str]) -> ViewStore:
    """The copy's tables through a view store the query app can read (its tracking table created if missing)."""
    factory: InfrastructureFactory[TrackingRecorder] = InfrastructureFactory.construct(env)
    if env["PERSISTENCE_MODULE"].endswith("sqlite"):
        return open_view_store(factory, ())
    store = factory.tracking_recorder(PinnedViewStore)  # type: ignore[arg-type]
    store.create_table()
    return store  # type: ignore[return-value]
