"""Read-model tables beside the event store, written with their tracking row in
one transaction (ARCHITECTURE.md invariant 4).

The views are eventsourcing tracking recorders with extra tables, so the
PostgreSQL and SQLite variants share the library's connection handling and
its tracking table. SQL is written once, with `%(name)s` parameters, in the
subset both databases understand.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from eventsourcing.persistence import InfrastructureFactory, Tracking, TrackingRecorder
from eventsourcing.postgres import PostgresFactory, PostgresTrackingRecorder
from eventsourcing.sqlite import SQLiteTrackingRecorder

_NAMED_PARAM = re.compile(r"%\((\w+)\)s")


@lru_cache(maxsize=1024)
def sqlite_sql(sql: str) -> str:
    """A statement in SQLite's parameter style (also used by the replay's in-memory fold)."""
    return _NAMED_PARAM.sub(r":\1", sql).replace("%%", "%")


@dataclass(frozen=True)
class Statement:
    sql: str
    params: Mapping[str, Any]


class _ViewStore:
    """Dialect-neutral reads and writes; mixed into a tracking recorder."""

    ddl: Sequence[str] = ()
    datastore: Any

    def _sql(self, sql: str) -> str:
        return sql

    def create_views(self, ddl: Iterable[str]) -> None:
        with self.datastore.transaction(commit=True) as cursor:
            for statement in ddl:
                cursor.execute(self._sql(statement))

    def write(self, trackings: Iterable[Tracking], statements: Iterable[Statement]) -> None:
        """Apply a batch of row changes and move the tracking positions, atomically."""
        with self.datastore.transaction(commit=True) as cursor:
            for statement in statements:
                cursor.execute(self._sql(statement.sql), dict(statement.params))
            for tracking in trackings:
                self._insert_tracking(cursor, tracking)  # type: ignore[attr-defined]

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(self._sql(sql), dict(params or {}))
            return [dict(row) for row in cursor.fetchall()]

    def wait_for(self, name: str, notification_id: int, timeout: float) -> bool:
        """Whether projection `name` reached `notification_id` within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        pause = 0.002
        while True:
            reached = self.max_tracking_id(name) or 0  # type: ignore[attr-defined]
            if reached >= notification_id:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(pause)
            pause = min(pause * 2, 0.05)


class PostgresViewStore(_ViewStore, PostgresTrackingRecorder):
    pass


class SQLiteViewStore(_ViewStore, SQLiteTrackingRecorder):
    def _sql(self, sql: str) -> str:
        return sqlite_sql(sql)


ViewStore = PostgresViewStore | SQLiteViewStore


def open_view_store(factory: InfrastructureFactory[TrackingRecorder], ddl: Iterable[str]) -> ViewStore:
    """Views live in the event store's database, sharing its connections.

    The tables are created when the factory creates tables (see Settings.store_env).
    """
    view_class = PostgresViewStore if isinstance(factory, PostgresFactory) else SQLiteViewStore
    store = factory.tracking_recorder(view_class)  # type: ignore[arg-type]
    if factory.env_create_table():  # type: ignore[attr-defined]
        store.create_views(ddl)
    return store  # type: ignore[return-value]
