"""Replaying the log fast, with the live projections' own rules.

The live projector turns each event into SQL statements and runs them one by
one against the database; that is right for a trickle of new events and far
too slow for a million old ones. A replay reads the log in large pages, skips
events by their topic before decoding them, decodes the rest with plain
`json` (no domain objects), and runs the very same statements against an
in-memory SQLite database (the dialect every projection already supports for
the embedded deployment). The folded tables are then bulk-copied wherever they
are needed (rebuild, as-of, verify), so no projection's rules exist twice.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from typing import TYPE_CHECKING, Any
from uuid import UUID

from eventsourcing.persistence import Notification
from eventsourcing.postgres import PostgresAggregateRecorder
from eventsourcing.utils import resolve_topic
from psycopg.sql import SQL, Composed, Identifier

from chronova.messages import EventMessage
from projections.runner import event_type_of
from projections.views import Statement, sqlite_sql

if TYPE_CHECKING:
    from chronova.cloud import Cloud
    from projections.runner import Projection

PAGE_SIZE = 20_000
_NOT_PUBLISHED = frozenset({"originator_id", "originator_version", "timestamp", "originator_topic", "password_hash"})
_TABLE = re.compile(r"^\s*CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?(\w+)", re.IGNORECASE)
_INDEX = re.compile(r"^\s*CREATE\s+(?:UNIQUE\s+)?INDEX\b", re.IGNORECASE)

Progress = Callable[[int], None]


def tables_of(projection: Projection) -> list[str]:
    """The tables a projection owns, in the order its DDL creates them."""
    return [match.group(1) for statement in projection.ddl if (match := _TABLE.match(statement))]


def split_ddl(projection: Projection) -> tuple[list[str], list[str]]:
    """(tables and columns, indexes): bulk loads fill tables first and index them afterwards."""
    indexes = [statement for statement in projection.ddl if _INDEX.match(statement)]
    return [statement for statement in projection.ddl if not _INDEX.match(statement)], indexes


def clustered(statement: str) -> str:
    """A keyed table's DDL as a SQLite WITHOUT ROWID table, other DDL unchanged.

    The projections' statements find rows by primary key. A rowid table keeps its rows apart from the key's
    index, so each lookup and insert walks two B-trees; clustered by the key, one. Only the fold's physical
    layout changes: the rows, and what is copied out of them, are the same.
    """
    if _TABLE.match(statement) and "PRIMARY KEY" in statement.upper():
        return statement.rstrip() + " WITHOUT ROWID"
    return statement


class _NotPlain(Exception):
    """A stored value this decoder does not know; the library's own mapper decodes that event."""


def _plain_object(value: dict[str, Any]) -> Any:
    """eventsourcing's JSON transcodings, straight to the plain values EventMessage carries."""
    if len(value) == 2 and "_type_" in value and "_data_" in value:
        kind, data = value["_type_"], value["_data_"]
        if kind == "uuid_hex":
            return str(UUID(data))
        if kind == "datetime_iso":
            return data  # EventMessage holds datetimes as the isoformat() they were stored with
        if kind == "decimal_str":
            return Decimal(data)
        raise _NotPlain(kind)
    return value


_DECODER = json.JSONDecoder(object_hook=_plain_object)


@cache
def _event_class(topic: str) -> tuple[type, str, int]:
    """(class, event type, class version) of a stored topic."""
    cls = resolve_topic(topic)
    return cls, event_type_of(topic), getattr(cls, "class_version", 1)


class EventDecoder:
    """Stored events to EventMessage as EventMessage.from_domain_event would build them, without domain objects.

    Upcasters run on the decoded state as the library's mapper runs them, so old
    class versions read as new ones here too.
    """

    def __init__(self, cloud: Cloud) -> None:
        self._mapper = cloud.mapper
        self._plain_json = cloud.mapper.cipher is None and cloud.mapper.compressor is None

    def message(self, notification: Notification) -> EventMessage:
        if not self._plain_json:
            return self._by_mapper(notification)
        try:
            state = _DECODER.decode(notification.state.decode())
        except _NotPlain:
            return self._by_mapper(notification)
        cls, event_type, current = _event_class(notification.topic)
        version = state.pop("class_version", 1)
        while version < current:
            getattr(cls, f"upcast_v{version}_v{version + 1}")(state)
            version += 1
        timestamp = state["timestamp"]
        for name in _NOT_PUBLISHED:
            state.pop(name, None)
        return EventMessage(
            notification_id=notification.id,
            event_type=event_type,
            aggregate_id=str(notification.originator_id),
            version=notification.originator_version,
            timestamp=timestamp,
            data=state,
        )

    def _by_mapper(self, notification: Notification) -> EventMessage:
        return EventMessage.from_domain_event(notification.id, self._mapper.to_domain_event(notification))


@dataclass(frozen=True)
class Partition:
    """One of `count` disjoint shares of the log, by originator: all of one aggregate's events fall in one share,
    so folding the shares apart keeps every aggregate's order."""

    index: int
    count: int


def read_log(
    cloud: Cloud,
    after: int,
    upto: int | None,
    page_size: int = PAGE_SIZE,
    partition: Partition | None = None,
    event_types: frozenset[str] | None = None,
) -> Iterator[list[Notification]]:
    """Pages of the notification log in (after, upto]; to its end when `upto` is None.

    On PostgreSQL the server leaves out what the caller would skip: other partitions' events when `partition` is
    given, and events of types not in `event_types` when that is given (a rebuild of the flavors view then
    receives a few events, not the whole log). Elsewhere (the embedded SQLite store) every event arrives and
    `partition` is refused. The next page is fetched in the background while the caller works on this one.
    """
    if isinstance(cloud.recorder, PostgresAggregateRecorder):
        yield from _window_pages(cloud.recorder, after, upto, page_size, partition, event_types)
        return
    if partition is not None:
        raise ValueError("partitioned reads need the PostgreSQL store")

    def page_after(position: int) -> list[Notification]:
        if upto is not None and position >= upto:
            return []
        return list(
            cloud.recorder.select_notifications(start=position, limit=page_size, stop=upto, inclusive_of_start=False)
        )

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="log-reader") as reader:
        page = page_after(after)
        while page:
            following = reader.submit(page_after, page[-1].id)
            yield page
            page = following.result()


def _window_pages(
    recorder: PostgresAggregateRecorder,
    after: int,
    upto: int | None,
    page_size: int,
    partition: Partition | None,
    event_types: frozenset[str] | None,
) -> Iterator[list[Notification]]:
    """The log read window by window of notification ids, each about `page_size` of the events wanted.

    Bounded windows, not LIMIT: with a filter the planner cannot estimate, it sorts the whole rest of the log for
    every page otherwise.
    """
    end = upto if upto is not None else recorder.max_notification_id() or 0
    width = page_size * (partition.count if partition else 1)
    starts = range(after, end, width)
    query = _window_query(recorder, partition, event_types)

    def window(start: int) -> list[Notification]:
        params: list[Any] = [start, min(start + width, end)]
        if partition is not None:
            params += [partition.count, partition.index]
        if event_types is not None:
            params.append(sorted(event_types))
        with recorder.datastore.get_connection() as connection, connection.cursor() as cursor:
            cursor.execute(query, params, prepare=True)
            return [
                Notification(
                    id=row["notification_id"],
                    originator_id=row["originator_id"],
                    originator_version=row["originator_version"],
                    topic=row["topic"],
                    state=bytes(row["state"]),
                )
                for row in cursor.fetchall()
            ]

    if not starts:
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="log-reader") as reader:
        following = reader.submit(window, starts[0])
        for next_start in starts[1:]:
            page, following = following.result(), reader.submit(window, next_start)
            if page:
                yield page
        if page := following.result():
            yield page


def _window_query(
    recorder: PostgresAggregateRecorder, partition: Partition | None, event_types: frozenset[str] | None
) -> Composed:
    """A partition is the originator's last byte modulo the count; an event's type is its topic after the colon
    (eventsourcing writes topics as module:qualname), as event_type_of reads it."""
    conditions = [SQL("notification_id > %s AND notification_id <= %s")]
    if partition is not None:
        conditions.append(SQL("get_byte(uuid_send(originator_id), 15) %% %s = %s"))
    if event_types is not None:
        conditions.append(SQL("substr(topic, strpos(topic, ':') + 1) = ANY(%s)"))
    return SQL(
        """SELECT notification_id, originator_id, originator_version, topic, state FROM {schema}.{table}
           WHERE {conditions} ORDER BY notification_id"""
    ).format(
        schema=Identifier(recorder.datastore.schema),
        table=Identifier(recorder.events_table_name),
        conditions=SQL(" AND ").join(conditions),
    )


def count_events(cloud: Cloud, after: int, upto: int) -> int:
    """How many events the log holds in (after, upto]: what a rebuild of that range covers, whichever of them
    its projection reads. PostgreSQL only, as rebuilds are."""
    recorder = cloud.recorder
    if not isinstance(recorder, PostgresAggregateRecorder):
        raise ValueError("counting a range of the log needs the PostgreSQL store")
    query = SQL("SELECT count(*) AS events FROM {}.{} WHERE notification_id > %s AND notification_id <= %s").format(
        Identifier(recorder.datastore.schema), Identifier(recorder.events_table_name)
    )
    with recorder.datastore.get_connection() as connection, connection.cursor() as cursor:
        row = cursor.execute(query, (after, upto)).fetchone()
        return int(row["events"]) if row else 0


class Routes:
    """Which projections an event type concerns, and the statements they make of one event."""

    def __init__(self, projections: Sequence[Projection]) -> None:
        self._by_type: dict[str, list[Projection]] = {}
        self._wanted: dict[str, bool] = {}  # by stored topic: a log holds few topics and many events
        for projection in projections:
            for event_type in projection.event_types:
                self._by_type.setdefault(event_type, []).append(projection)

    @property
    def event_types(self) -> frozenset[str]:
        return frozenset(self._by_type)

    def wants(self, topic: str) -> bool:
        wanted = self._wanted.get(topic)
        if wanted is None:
            wanted = self._wanted[topic] = event_type_of(topic) in self._by_type
        return wanted

    def statements(self, message: EventMessage) -> list[Statement]:
        return [s for p in self._by_type.get(message.event_type, ()) for s in p.statements(message)]


class Fold:
    """The live projections' statements applied to an in-memory SQLite database.

    `position` is the last notification folded in; a fold only moves forward.
    """

    def __init__(self, projections: Sequence[Projection], path: str = ":memory:") -> None:
        self.projections = tuple(projections)
        self.position = 0
        # Every event type's statements stay prepared; a fold is scratch, so nothing needs to survive a crash.
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, cached_statements=1024)
        for pragma in ("journal_mode = OFF", "synchronous = OFF", "temp_store = MEMORY", "cache_size = -262144"):
            self.db.execute(f"PRAGMA {pragma}")
        for projection in self.projections:
            for statement in projection.ddl:
                self.db.execute(sqlite_sql(clustered(statement)))
        self.routes = Routes(self.projections)

    def apply(self, message: EventMessage) -> None:
        execute = self.db.execute
        for statement in self.routes.statements(message):
            execute(sqlite_sql(statement.sql), statement.params)

    def replay(
        self,
        cloud: Cloud,
        upto: int | None,
        progress: Progress | None = None,
        keep: Callable[[EventMessage], bool] | None = None,
        partition: Partition | None = None,
    ) -> int:
        """Fold the log (or `partition`'s share of it) from `position` to `upto` (or its end), unless `keep`
        refuses an event; the count of events read (on PostgreSQL, only those of the types folded)."""
        decode, wants, apply = EventDecoder(cloud).message, self.routes.wants, self.apply
        if upto is None:
            upto = cloud.recorder.max_notification_id() or 0
        read = 0
        self.db.execute("BEGIN")
        try:
            pages = read_log(cloud, self.position, upto, partition=partition, event_types=self.routes.event_types)
            for page in pages:
                for notification in page:
                    if wants(notification.topic):
                        message = decode(notification)
                        if keep is None or keep(message):
                            apply(message)
                read += len(page)
                self.position = page[-1].id
                if progress is not None:
                    progress(self.position)
        finally:
            self.db.execute("COMMIT")
        self.position = max(self.position, upto)
        return read

    def columns(self, table: str) -> list[str]:
        return [row[1] for row in self.db.execute(f"PRAGMA table_info({table})")]

    def rows(self, table: str, columns: Sequence[str]) -> Iterator[tuple[Any, ...]]:
        return iter(self.db.execute(f"SELECT {', '.join(columns)} FROM {table}"))

    def close(self) -> None:
        self.db.close()
