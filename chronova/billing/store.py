"""Billing's own tables in PostgreSQL (schema `billing`): server states, closed segments, Kafka offsets.

A batch of changes is folded and written with the offsets it came from in one transaction: after a crash
at any point, the consumer starts again from offsets that match the usage stored.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime

import psycopg
from psycopg.types.json import Jsonb

from chronova.billing.fold import Category, Change, Flavor, Segment, ServerState, fold

DDL = (
    "CREATE SCHEMA IF NOT EXISTS billing",
    """CREATE TABLE IF NOT EXISTS billing.offsets (
        topic TEXT NOT NULL,
        partition INTEGER NOT NULL,
        next_offset BIGINT NOT NULL,
        PRIMARY KEY (topic, partition)
    )""",
    """CREATE TABLE IF NOT EXISTS billing.servers (
        server_id TEXT PRIMARY KEY,
        project_id TEXT NOT NULL,
        state JSONB NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS billing_servers_by_project ON billing.servers (project_id)",
    """CREATE TABLE IF NOT EXISTS billing.segments (
        server_id TEXT NOT NULL,
        opened_version BIGINT NOT NULL,
        project_id TEXT NOT NULL,
        flavor JSONB NOT NULL,
        category TEXT NOT NULL,
        holds_resources BOOLEAN NOT NULL,
        started_at TIMESTAMPTZ NOT NULL,
        ended_at TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (server_id, opened_version)
    )""",
    "CREATE INDEX IF NOT EXISTS billing_segments_by_time ON billing.segments (started_at, ended_at)",
    "CREATE INDEX IF NOT EXISTS billing_segments_by_project ON billing.segments (project_id, started_at)",
)


class BillingTablesMissing(Exception):
    """The billing consumer has never run against this database."""


class BillingStore:
    def __init__(self, conninfo: str) -> None:
        self._conninfo = conninfo

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection]:
        with psycopg.connect(self._conninfo) as conn:
            yield conn

    def create_tables(self) -> None:
        with self._connection() as conn:
            for statement in DDL:
                conn.execute(statement)

    def require_tables(self) -> None:
        with self._connection() as conn:
            row = conn.execute("SELECT to_regclass('billing.segments') IS NOT NULL").fetchone()
        if not row or not row[0]:
            raise BillingTablesMissing("no billing records here: start `chronova billing run` against this database")

    def offsets(self) -> dict[tuple[str, int], int]:
        with self._connection() as conn:
            rows = conn.execute("SELECT topic, partition, next_offset FROM billing.offsets").fetchall()
        return {(topic, partition): offset for topic, partition, offset in rows}

    def record(self, changes: list[Change], offsets: dict[tuple[str, int], int]) -> None:
        """Fold `changes` into the stored servers and store the result with `offsets`, all or nothing."""
        ids = sorted({change.server_id for change in changes})
        with self._connection() as conn, conn.transaction():
            rows = conn.execute(
                "SELECT state FROM billing.servers WHERE server_id = ANY(%s) ORDER BY server_id FOR UPDATE", [ids]
            ).fetchall()
            before = {state.server_id: state for state in (ServerState.from_json(row[0]) for row in rows)}
            after, closed = fold(changes, before)
            with conn.cursor() as cur:
                cur.executemany(
                    """INSERT INTO billing.servers (server_id, project_id, state) VALUES (%s, %s, %s)
                       ON CONFLICT (server_id) DO UPDATE SET state = EXCLUDED.state""",
                    [
                        (s.server_id, s.project_id, Jsonb(s.to_json()))
                        for s in after.values()
                        if before.get(s.server_id) != s
                    ],
                )
                cur.executemany(
                    """INSERT INTO billing.segments (server_id, opened_version, project_id, flavor, category,
                           holds_resources, started_at, ended_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
                       ON CONFLICT (server_id, opened_version) DO NOTHING""",
                    [_segment_row(s) for s in closed],
                )
                cur.executemany(
                    """INSERT INTO billing.offsets (topic, partition, next_offset) VALUES (%s, %s, %s)
                       ON CONFLICT (topic, partition) DO UPDATE
                       SET next_offset = GREATEST(billing.offsets.next_offset, EXCLUDED.next_offset)""",
                    [(topic, partition, offset) for (topic, partition), offset in offsets.items()],
                )

    def servers(self, project_id: str | None = None) -> dict[str, ServerState]:
        sql, params = "SELECT state FROM billing.servers", []
        if project_id is not None:
            sql, params = sql + " WHERE project_id = %s", [project_id]
        with self._connection() as conn:
            return {s.server_id: s for s in (ServerState.from_json(row[0]) for row in conn.execute(sql, params))}

    def has_project(self, project_id: str) -> bool:
        with self._connection() as conn:
            row = conn.execute("SELECT 1 FROM billing.servers WHERE project_id = %s LIMIT 1", [project_id]).fetchone()
        return row is not None

    def segments(self, since: datetime, until: datetime, project_id: str | None = None) -> list[Segment]:
        """Every segment that overlaps [since, until): the closed ones stored, and those the servers hold open."""
        sql = """SELECT server_id, opened_version, project_id, flavor, category, holds_resources, started_at, ended_at
                 FROM billing.segments WHERE started_at < %(until)s AND ended_at > %(since)s"""
        params: dict[str, object] = {"since": since, "until": until, "project_id": project_id}
        if project_id is not None:
            sql += " AND project_id = %(project_id)s"
        with self._connection() as conn:
            rows = conn.execute(sql, params).fetchall()
        closed = [
            Segment(sid, version, pid, Flavor.from_json(flavor), Category(category), holds, started, ended)
            for sid, version, pid, flavor, category, holds, started, ended in rows
        ]
        return closed + open_segments(self.servers(project_id).values())


def _segment_row(s: Segment) -> tuple[object, ...]:
    flavor = Jsonb(s.flavor.to_json())
    return (
        s.server_id,
        s.opened_version,
        s.project_id,
        flavor,
        str(s.category),
        s.holds_resources,
        s.started_at,
        s.ended_at,
    )


def open_segments(states: Iterable[ServerState]) -> list[Segment]:
    return [segment for segment in (state.open_segment() for state in states) if segment is not None]
