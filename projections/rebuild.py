"""Rebuilding a projection from zero beside the live one (blue/green), and
verifying a live view against a replay, on PostgreSQL.

Both build the projection's tables in a schema of their own from a fast fold
of the log while the live view keeps answering. The last step runs with the
live tables locked, so the live projector's position stands still: the built
tables are brought to exactly that position with the projector's own
statements, then either swapped in (rebuild: the projector carries on from the
same tracking position, now into the new tables) or compared (verify).

When the live view is behind the fold and its projector does not move (none is
running), the swap records the fold's position as the view's new tracking
position, so a projector started later carries on from there.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from eventsourcing.persistence import Tracking
from psycopg import Cursor
from psycopg.errors import DeadlockDetected, LockNotAvailable
from psycopg.sql import SQL, Identifier

from chronova.cloud import Cloud
from projections import schemas
from projections.replay import (
    EventDecoder,
    Fold,
    Partition,
    Progress,
    Routes,
    count_events,
    read_log,
    split_ddl,
    tables_of,
)
from projections.runner import Projection
from projections.views import PostgresViewStore, Statement

log = logging.getLogger(__name__)

CATCH_UP_SLACK = 2_000  # events the locked last step may still apply row by row
IDLE_SECONDS = 2.0  # a live position that does not move for this long has no projector behind it
# Projections whose every row changes only with its own aggregate's events (no statement reads a row another
# aggregate's events write), so disjoint shares of the log by originator fold apart into the same rows.
# Not quotas (per-project totals), keypairs (counts per user), server_groups (Server.Deleted edits groups).
PARTITIONED = frozenset({"servers", "instance_actions", "hypervisors", "migrations", "scheduling"})
PARTITIONED_FROM = 50_000  # below this many events, starting worker processes costs more than it saves


def default_partitions() -> int:
    return max(2, os.cpu_count() or 1)


@dataclass
class Outcome:
    """What one rebuild or verification did."""

    projection: str
    events_read: int = 0  # the log's events in the range rebuilt, whichever of them the projection reads
    fold_seconds: float = 0.0
    total_seconds: float = 0.0
    position: int = 0
    differences: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        """The log's events per second of the fold (log reading, decoding and folding)."""
        return self.events_read / self.fold_seconds if self.fold_seconds else 0.0


class BesideLive:
    """One projection's tables being built in `schema` beside the live ones."""

    def __init__(self, cloud: Cloud, views: PostgresViewStore, projection: Projection, schema: str) -> None:
        self.cloud = cloud
        self.views = views
        self.projection = projection
        self.schema = schema
        self.tables = tables_of(projection)
        self.outcome = Outcome(projection.name)
        # Watching the live position from before the build: a long build is itself the idleness test.
        self._watched = (time.monotonic(), self.live_position())

    def live_position(self) -> int:
        return self.views.max_tracking_id(self.projection.name) or 0

    def build(self, upto: int | None, progress: Progress | None, partitions: int | None) -> int:
        """Fold the log into memory up to `upto` (None: the end of the log), bulk-load the schema; the position.

        `partitions` (None: one per core, at least 2, for a log of PARTITIONED_FROM events or more) worker
        processes share the work for a projection in PARTITIONED.
        """
        started = time.perf_counter()
        end = upto if upto is not None else self.cloud.recorder.max_notification_id() or 0
        self.outcome.events_read = count_events(self.cloud, 0, end)
        if partitions is None:
            partitions = default_partitions() if end >= PARTITIONED_FROM else 1
        if partitions > 1 and self.projection.name in PARTITIONED:
            return self._build_in_partitions(end, progress, partitions, started)
        fold = Fold([self.projection])
        try:
            fold.replay(self.cloud, end, progress)
            self.outcome.fold_seconds = time.perf_counter() - started
            with self.views.datastore.transaction(commit=True) as cursor:
                self.live = schemas.current_schema(cursor)
                schemas.load(cursor, self.schema, [self.projection], fold, self.live)
            return fold.position
        finally:
            fold.close()

    def _build_in_partitions(self, upto: int, progress: Progress | None, count: int, started: float) -> int:
        """Worker processes each read, decode, fold and COPY one partition of the log into the empty tables;
        the indexes come once they are all in."""
        tables, indexes = split_ddl(self.projection)
        with self.views.datastore.transaction(commit=True) as cursor:
            self.live = schemas.current_schema(cursor)
            schemas.drop(cursor, self.schema)
            cursor.execute(SQL("CREATE SCHEMA {}").format(Identifier(self.schema)))
            self._run_in_schema(cursor, tables)
        context = multiprocessing.get_context("spawn")  # no fork of a process holding connections and threads
        reports: Any = context.Queue()
        env = {**self.cloud.env, "CREATE_TABLE": "n"}
        workers = [
            context.Process(
                target=_fold_partition,
                args=(env, self.projection, self.schema, Partition(index, count), upto, reports),
                name=f"rebuild-{self.projection.name}-{index}",
            )
            for index in range(count)
        ]
        positions, folded, copied = [0] * count, 0, 0
        try:
            for worker in workers:
                worker.start()
            while copied < count:
                try:
                    kind, index, value = reports.get(timeout=1)
                except queue.Empty:
                    if any(worker.exitcode not in (None, 0) for worker in workers):
                        raise RuntimeError(f"{self.projection.name}: a rebuild worker died") from None
                    continue
                if kind == "failed":
                    raise RuntimeError(f"{self.projection.name}: partition {index}: {value}")
                if kind == "copied":
                    copied += 1
                    continue
                if kind == "folded":
                    positions[index] = upto
                    folded += 1
                    if folded == count:
                        self.outcome.fold_seconds = time.perf_counter() - started
                else:
                    positions[index] = value
                if progress is not None:
                    progress(min(positions))  # every event up to here is folded in some partition
        finally:
            for worker in workers:
                if worker.is_alive() and copied < count:
                    worker.terminate()
                worker.join()
        with self.views.datastore.transaction(commit=True) as cursor:
            self._run_in_schema(cursor, indexes)
        return upto

    def _run_in_schema(self, cursor: Cursor[Any], ddl: list[str]) -> None:
        schemas.use_schema(cursor, self.schema)
        for statement in ddl:
            cursor.execute(statement)  # type: ignore[arg-type]
        schemas.use_schema(cursor, self.live)

    def catch_up(self, cursor: Cursor[Any], after: int, upto: int) -> None:
        """Apply (after, upto] to the built tables with the live projector's statements."""
        routes, decoder = Routes([self.projection]), EventDecoder(self.cloud)
        statements: list[Statement] = []
        for page in read_log(self.cloud, after, upto):
            statements += (s for n in page if routes.wants(n.topic) for s in routes.statements(decoder.message(n)))
        schemas.apply(cursor, self.schema, statements, self.live)

    def settle(self, position: int, locked_step: Callable[[Cursor[Any], int], None], lock_mode: str) -> int:
        """Keep the built tables up with the live position, then run `locked_step` with the live tables locked."""
        while (live := self.live_position()) - position > CATCH_UP_SLACK:
            with self.views.datastore.transaction(commit=True) as cursor:
                self.catch_up(cursor, position, live)
            position = live
        last_move, seen = self._watched
        while True:
            try:
                with self.views.datastore.transaction(commit=True) as cursor:
                    cursor.execute("SET LOCAL lock_timeout = '10s'")
                    schemas.lock(cursor, self.live, self.tables, lock_mode)
                    live = self.live_position()
                    if live >= position or time.monotonic() - last_move > IDLE_SECONDS:
                        if live > position:
                            self.catch_up(cursor, position, live)
                        elif live < position:
                            # No projector is moving this view: the built tables become its new start.
                            tracking = Tracking(self.projection.name, position)
                            self.views._insert_tracking(cursor, tracking)  # type: ignore[arg-type]
                        position = max(live, position)
                        locked_step(cursor, position)
                        return position
            except (LockNotAvailable, DeadlockDetected):
                log.info("%s: the live tables are busy; trying again", self.projection.name)
                continue
            time.sleep(0.05)  # the live view is behind: let it pass the built position, if anything moves it
            if live != seen:
                last_move, seen = time.monotonic(), live


def rebuild(
    cloud: Cloud,
    views: PostgresViewStore,
    projection: Projection,
    progress: Progress | None = None,
    partitions: int | None = None,
) -> Outcome:
    """Replace the projection's live tables with ones rebuilt from zero, without stopping the readers.

    `partitions` as in BesideLive.build.
    """
    started = time.perf_counter()
    beside = BesideLive(cloud, views, projection, f"rebuild_{projection.name}")
    position = beside.build(None, progress, partitions)

    def switch(cursor: Cursor[Any], _: int) -> None:
        schemas.swap(cursor, beside.tables, beside.live, beside.schema)

    beside.outcome.position = beside.settle(position, switch, "ACCESS EXCLUSIVE")
    beside.outcome.total_seconds = time.perf_counter() - started
    return beside.outcome


def verify(
    cloud: Cloud,
    views: PostgresViewStore,
    projection: Projection,
    progress: Progress | None = None,
    partitions: int | None = None,
) -> Outcome:
    """Replay the projection into a scratch schema and list every row where the live view differs."""
    started = time.perf_counter()
    beside = BesideLive(cloud, views, projection, f"verify_{projection.name}")
    # Up to the live position only: a verification compares, it never moves a view's tracking position.
    position = beside.build(beside.live_position(), progress, partitions)

    def compare(cursor: Cursor[Any], _: int) -> None:
        fold_columns = _columns(cursor, beside.schema, beside.tables)
        for table in beside.tables:
            beside.outcome.differences += schemas.differences(
                cursor, beside.live, beside.schema, table, fold_columns[table]
            )

    try:
        beside.outcome.position = beside.settle(position, compare, "SHARE")
    finally:
        with views.datastore.transaction(commit=True) as cursor:
            schemas.drop(cursor, beside.schema)
    beside.outcome.total_seconds = time.perf_counter() - started
    return beside.outcome


def _columns(cursor: Cursor[Any], schema: str, tables: list[str]) -> dict[str, list[str]]:
    rows = cursor.execute(
        """SELECT table_name, column_name FROM information_schema.columns
           WHERE table_schema = %s ORDER BY table_name, ordinal_position""",
        (schema,),
    ).fetchall()
    columns: dict[str, list[str]] = {table: [] for table in tables}
    for row in rows:
        columns.setdefault(row["table_name"], []).append(row["column_name"])
    return columns


def _fold_partition(
    env: dict[str, str], projection: Projection, schema: str, partition: Partition, upto: int, reports: Any
) -> None:
    """A worker process: one partition of the log folded in its own SQLite and copied into `schema`'s tables.

    It tells the parent ("position" | "folded" | "copied" | "failed", partition index, value) through `reports`.
    """
    try:
        cloud = Cloud(env)
        fold = Fold([projection])
        try:
            report = lambda position: reports.put(("position", partition.index, position))  # noqa: E731
            fold.replay(cloud, upto, report, partition=partition)
            reports.put(("folded", partition.index, 0))
            with cloud.recorder.datastore.transaction(commit=True) as cursor:  # type: ignore[attr-defined]
                for table in tables_of(projection):
                    schemas.copy_table(cursor, schema, table, fold)
        finally:
            fold.close()
            cloud.close()
        reports.put(("copied", partition.index, 0))
    except Exception as error:
        reports.put(("failed", partition.index, f"{type(error).__name__}: {error}"))
