"""The migrations view (os-migrations, /servers/{id}/migrations): one row per move, as Nova's
migration record, kept from the Server events of the move sagas (domain.migration).

Every move event carries the whole record, so a row is simply the latest
record seen; its integer id is the notification id of the move's first event.
"""

from __future__ import annotations

import json
from typing import Any

from chronova.messages import EventMessage
from projections.views import Statement

# Every Server event of a move saga: each carries `migration`, `changes` and the step that follows.
MOVE_EVENT_TYPES = frozenset(
    f"Server.{name}"
    for name in (
        "MoveRequested",
        "MoveScheduled",
        "MoveSchedulingFailed",
        "ResizeMigrated",
        "ResizeFinished",
        "ResizeConfirmRequested",
        "ResizeConfirmed",
        "ResizeRevertRequested",
        "ResizeRevertedOnDestination",
        "ResizeReverted",
        "LiveMigrated",
        "Evacuated",
        "Unshelved",  # an offloaded server's unshelve (chronova/lifecycle.py) is scheduled like a move
        "MoveFailed",
        "EvacuatedDomainRemovalRequested",  # the evacuation's source is back: its record becomes 'completed'
    )
)

DDL = (
    """CREATE TABLE IF NOT EXISTS migrations (
        uuid TEXT PRIMARY KEY,
        id BIGINT NOT NULL,
        server_id TEXT NOT NULL,
        migration_type TEXT NOT NULL,
        status TEXT NOT NULL,
        source_compute TEXT,
        dest_compute TEXT,
        old_flavor_id TEXT NOT NULL,
        new_flavor_id TEXT NOT NULL,
        project_id TEXT NOT NULL,
        user_id TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS migrations_by_created ON migrations (created_at, id)",
    "CREATE INDEX IF NOT EXISTS migrations_by_server ON migrations (server_id, created_at)",
)

_UPSERT = """INSERT INTO migrations (uuid, id, server_id, migration_type, status, source_compute, dest_compute,
        old_flavor_id, new_flavor_id, project_id, user_id, created_at, updated_at)
    VALUES (%(uuid)s, %(seq)s, %(server_id)s, %(kind)s, %(status)s, %(source)s, %(dest)s, %(old_flavor)s,
        %(new_flavor)s, %(project_id)s, %(user_id)s, %(ts)s, %(ts)s)
    ON CONFLICT (uuid) DO UPDATE SET status = excluded.status, dest_compute = excluded.dest_compute,
        updated_at = excluded.updated_at"""


def server_columns(message: EventMessage) -> dict[str, Any]:
    """The servers view's columns a move event changes."""
    from projections.servers import view_time  # that module uses this one

    columns: dict[str, Any] = {}
    for name, value in message.data["changes"].items():
        if name == "flavor":
            columns |= {"flavor": json.dumps(value), "flavor_id": value["id"]}
        elif name == "fault":
            columns["fault"] = json.dumps({**value, "created": view_time(message.timestamp)})
        else:
            columns[name] = value
    return columns


class MigrationsProjection:
    name = "migrations"
    ddl = DDL
    event_types = MOVE_EVENT_TYPES

    def statements(self, message: EventMessage) -> list[Statement]:
        from projections.servers import view_time

        m = message.data["migration"]
        params = {
            "uuid": m["id"],
            "seq": message.notification_id,
            "server_id": message.aggregate_id,
            "kind": m["kind"],
            "status": m["status"],
            "source": m["source"],
            "dest": m["dest"],
            "old_flavor": m["old_flavor"]["id"],
            "new_flavor": m["new_flavor"]["id"],
            "project_id": m["project_id"],
            "user_id": m["user_id"],
            "ts": view_time(message.timestamp),
        }
        return [Statement(_UPSERT, params)]
