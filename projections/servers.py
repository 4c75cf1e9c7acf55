"""The servers view: one row per server, as GET /servers/{id} shows it, and one
row per server tag, so listings filter by tag in SQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from chronova.messages import EventMessage
from domain.server import REBUILD_CHANGES, default_hostname
from projections.migrations import MOVE_EVENT_TYPES, server_columns
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
        flavor_id TEXT NOT NULL,
        image_id TEXT NOT NULL,
        image_properties TEXT NOT NULL,
        metadata TEXT NOT NULL,
        description TEXT,
        availability_zone TEXT,
        key_name TEXT,
        user_data TEXT,
        hostname TEXT NOT NULL,
        tags TEXT NOT NULL,
        reservation_id TEXT,
        launch_index INTEGER NOT NULL,
        scheduler_hints TEXT NOT NULL,
        access_ip_v4 TEXT,
        access_ip_v6 TEXT,
        config_drive INTEGER NOT NULL,
        trusted_image_certificates TEXT,
        locked_by TEXT,
        locked_reason TEXT,
        fault TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        launched_at TEXT,
        terminated_at TEXT,
        version BIGINT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS servers_by_created ON servers (created_at, id)",
    "CREATE INDEX IF NOT EXISTS servers_by_project ON servers (project_id, created_at, id)",
    """CREATE TABLE IF NOT EXISTS server_tags (
        server_id TEXT NOT NULL,
        tag TEXT NOT NULL,
        PRIMARY KEY (server_id, tag)
    )""",
    "CREATE INDEX IF NOT EXISTS server_tags_by_tag ON server_tags (tag, server_id)",
)

_INSERT = """INSERT INTO servers (id, project_id, user_id, name, vm_state, task_state, power_state, flavor, flavor_id,
        image_id, image_properties, metadata, description, availability_zone, key_name, user_data, hostname, tags,
        launch_index, scheduler_hints, config_drive, created_at, updated_at, version)
    VALUES (%(id)s, %(project_id)s, %(user_id)s, %(name)s, 'building', 'scheduling', 0, %(flavor)s, %(flavor_id)s,
        %(image_id)s, '{}', %(metadata)s, %(description)s, %(availability_zone)s, %(key_name)s, %(user_data)s,
        %(hostname)s, '[]', 0, '{}', 0, %(ts)s, %(ts)s, %(version)s)
    ON CONFLICT (id) DO NOTHING"""
_UPDATE = "UPDATE servers SET {columns}, updated_at = %(ts)s, version = %(version)s WHERE id = %(id)s"


_VIEW_TIME_WIDTH = len("2000-01-01T00:00:00.000000+00:00")


@lru_cache(maxsize=64)  # one event's statements ask for its time several times
def view_time(iso: str) -> str:
    """One fixed-width UTC form (microseconds, +00:00) for every stored time, so text order is time order."""
    if len(iso) == _VIEW_TIME_WIDTH and iso[10] == "T" and iso.endswith("+00:00"):
        return iso  # already that form, as most stored times are: a replay meets millions of them
    return datetime.fromisoformat(iso).astimezone(UTC).isoformat(timespec="microseconds")


@lru_cache(maxsize=256)
def _update_sql(names: tuple[str, ...]) -> str:
    """Each event type updates the same columns every time: its statement is built once."""
    return _UPDATE.format(columns=", ".join(f"{name} = %({name})s" for name in names))


def _update(message: EventMessage, **columns: object) -> Statement:
    params = {**columns, "ts": view_time(message.timestamp), "version": message.version, "id": message.aggregate_id}
    return Statement(_update_sql(tuple(columns)), params)


def _fault(message: EventMessage) -> str:
    data = message.data
    created = view_time(message.timestamp)
    return json.dumps({"code": 500, "message": data["message"], "details": data["details"], "created": created})


def _tag_rows(server_id: str, tags: list[str]) -> list[Statement]:
    """The server's tags become exactly `tags` (a replay writes the same rows again)."""
    statements = [Statement("DELETE FROM server_tags WHERE server_id = %(id)s", {"id": server_id})]
    statements += [
        Statement("INSERT INTO server_tags (server_id, tag) VALUES (%(id)s, %(tag)s)", {"id": server_id, "tag": tag})
        for tag in dict.fromkeys(tags)
    ]
    return statements


def _created(message: EventMessage) -> Statement:
    data = message.data
    params: dict[str, Any] = {
        name: data[name]
        for name in ("project_id", "user_id", "name", "image_id", "description", "availability_zone", "key_name")
    }
    params |= {
        "id": message.aggregate_id,
        "flavor": json.dumps(data["flavor"]),
        "flavor_id": data["flavor"]["id"],
        "metadata": json.dumps(data["metadata"]),
        "user_data": data["user_data"],
        "hostname": default_hostname(data["name"]) or f"Server-{message.aggregate_id}",
        "ts": view_time(message.timestamp),
        "version": message.version,
    }
    return Statement(_INSERT, params)


def _boot_options(message: EventMessage) -> list[Statement]:
    data = message.data
    certificates = data["trusted_image_certificates"]
    row = _update(
        message,
        hostname=data["hostname"],
        tags=json.dumps(data["tags"]),
        reservation_id=data["reservation_id"],
        launch_index=data["launch_index"],
        scheduler_hints=json.dumps(data["scheduler_hints"]),
        access_ip_v4=data["access_ip_v4"],
        access_ip_v6=data["access_ip_v6"],
        config_drive=int(data["config_drive"]),
        trusted_image_certificates=json.dumps(certificates) if certificates is not None else None,
        image_properties=json.dumps(data["image_properties"]),
    )
    return [row, *_tag_rows(message.aggregate_id, data["tags"])]


def _rebuild_columns(args: dict[str, Any]) -> dict[str, Any]:
    """What a rebuild request changes on the server (domain.server.REBUILD_CHANGES), as view columns."""
    changes = args.get("changes", {})
    return {
        name: json.dumps(value) if name in ("metadata", "image_properties") else value
        for name, value in changes.items()
        if name in REBUILD_CHANGES
    }


class ServersProjection:
    name = "servers"
    ddl = DDL
    event_types = frozenset(
        {
            "Server.Created",
            "Server.BootOptionsRecorded",
            "Server.Scheduled",
            "Server.SchedulingFailed",
            "Server.Spawned",
            "Server.SpawnFailed",
            "Server.DeletionStarted",
            "Server.Deleted",
            "Server.Updated",
            "Server.MetadataReplaced",
            "Server.TagsReplaced",
            "Server.ActionRequested",
            "Server.ActionCompleted",
            "Server.ActionFailed",
            "Server.Locked",
            "Server.Unlocked",
            "Server.StateReset",
            "Server.PowerStateSynced",
        }
        | MOVE_EVENT_TYPES
    )

    def statements(self, message: EventMessage) -> list[Statement]:
        data = message.data
        ts = view_time(message.timestamp)
        match message.event_type:
            case "Server.Created":
                return [_created(message)]
            case "Server.BootOptionsRecorded":
                return _boot_options(message)
            case "Server.Scheduled":
                return [_update(message, host=data["host"], task_state="spawning")]
            case "Server.SchedulingFailed" | "Server.SpawnFailed":
                return [_update(message, vm_state="error", task_state=None, fault=_fault(message))]
            case "Server.Spawned":
                power_state = data["power_state"]
                return [_update(message, vm_state="active", task_state=None, power_state=power_state, launched_at=ts)]
            case "Server.DeletionStarted":
                return [_update(message, task_state="deleting")]
            case "Server.Deleted":
                return [_update(message, vm_state="deleted", task_state=None, power_state=0, terminated_at=ts)]
            case "Server.Updated":
                names = ("name", "description", "hostname", "access_ip_v4", "access_ip_v6")
                return [_update(message, **{name: data[name] for name in names})]
            case "Server.MetadataReplaced":
                return [_update(message, metadata=json.dumps(data["metadata"]))]
            case "Server.TagsReplaced":
                return [_update(message, tags=json.dumps(data["tags"])), *_tag_rows(message.aggregate_id, data["tags"])]
            case "Server.ActionRequested":
                return [_update(message, task_state=data["task_state"], **_rebuild_columns(data["args"]))]
            case "Server.ActionCompleted":
                # A shelve-offloaded server has left its host (domain.server).
                offloaded = {"host": None} if data["vm_state"] == "shelved_offloaded" else {}
                state = {"vm_state": data["vm_state"], "power_state": data["power_state"]}
                return [_update(message, **state, task_state=None, **offloaded)]
            case "Server.ActionFailed":
                state = {"vm_state": data["vm_state"], "power_state": data["power_state"]}
                return [_update(message, **state, task_state=None, fault=_fault(message))]
            case "Server.Locked":
                return [_update(message, locked_by=data["locked_by"], locked_reason=data["reason"])]
            case "Server.Unlocked":
                return [_update(message, locked_by=None, locked_reason=None)]
            case "Server.StateReset":
                return [_update(message, vm_state=data["vm_state"], task_state=None)]
            case "Server.PowerStateSynced":
                return [_update(message, vm_state=data["vm_state"], power_state=data["power_state"])]
            case move if move in MOVE_EVENT_TYPES:
                columns = server_columns(message)
                return [_update(message, **columns)] if columns else []
        return []
