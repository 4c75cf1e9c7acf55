"""The servers view: one row per server, as GET /servers/{id} shows it."""

from __future__ import annotations

import json

from chronova.messages import EventMessage
from projections.views import Statement

DDL = (
    """CREATE TABLE IF NOT EXISTS servers (
        id TEXT PRIMARY KEY,
        project_id TEXT NOT NULL,
        user_id TEXT NOT NULL,
        name TEXT NOT NULL,
        vm_state TEXT NOT NULL,
        task_state TEXT,
        power_state INTEGER NOT NULL,
        host TEXT,
        flavor TEXT NOT NULL,
        image_id TEXT NOT NULL,
        metadata TEXT NOT NULL,
        description TEXT,
        availability_zone TEXT,
        key_name TEXT,
        fault TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        launched_at TEXT,
        terminated_at TEXT,
        version BIGINT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS servers_by_created ON servers (created_at, id)",
    "CREATE INDEX IF NOT EXISTS servers_by_project ON servers (project_id, created_at, id)",
)

_UPDATE = "UPDATE servers SET {columns}, updated_at = %(ts)s, version = %(version)s WHERE id = %(id)s"


def _update(message: EventMessage, **columns: object) -> list[Statement]:
    assignments = ", ".join(f"{name} = %({name})s" for name in columns)
    params = {**columns, "ts": message.timestamp, "version": message.version, "id": message.aggregate_id}
    return [Statement(_UPDATE.format(columns=assignments), params)]


def _fault(message: EventMessage) -> str:
    data = message.data
    return json.dumps(
        {"code": 500, "message": data["message"], "details": data["details"], "created": message.timestamp}
    )


class ServersProjection:
    name = "servers"
    ddl = DDL
    event_types = frozenset(
        {
            "Server.Created",
            "Server.Scheduled",
            "Server.SchedulingFailed",
            "Server.Spawned",
            "Server.SpawnFailed",
            "Server.DeletionStarted",
            "Server.Deleted",
        }
    )

    def statements(self, message: EventMessage) -> list[Statement]:
        data = message.data
        match message.event_type:
            case "Server.Created":
                return [
                    Statement(
                        """INSERT INTO servers (id, project_id, user_id, name, vm_state, task_state, power_state,
                               flavor, image_id, metadata, description, availability_zone, key_name,
                               created_at, updated_at, version)
                           VALUES (%(id)s, %(project_id)s, %(user_id)s, %(name)s, 'building', 'scheduling', 0,
                               %(flavor)s, %(image_id)s, %(metadata)s, %(description)s, %(availability_zone)s,
                               %(key_name)s, %(ts)s, %(ts)s, %(version)s)
                           ON CONFLICT (id) DO NOTHING""",
                        {
                            "id": message.aggregate_id,
                            "project_id": data["project_id"],
                            "user_id": data["user_id"],
                            "name": data["name"],
                            "flavor": json.dumps(data["flavor"]),
                            "image_id": data["image_id"],
                            "metadata": json.dumps(data["metadata"]),
                            "description": data["description"],
                            "availability_zone": data["availability_zone"],
                            "key_name": data["key_name"],
                            "ts": message.timestamp,
                            "version": message.version,
                        },
                    )
                ]
            case "Server.Scheduled":
                return _update(message, host=data["host"], task_state="spawning")
            case "Server.SchedulingFailed" | "Server.SpawnFailed":
                return _update(message, vm_state="error", task_state=None, fault=_fault(message))
            case "Server.Spawned":
                return _update(
                    message,
                    vm_state="active",
                    task_state=None,
                    power_state=data["power_state"],
                    launched_at=message.timestamp,
                )
            case "Server.DeletionStarted":
                return _update(message, task_state="deleting")
            case "Server.Deleted":
                return _update(
                    message, vm_state="deleted", task_state=None, power_state=0, terminated_at=message.timestamp
                )
        return []
