"""The host aggregates view: each aggregate, its hosts and its metadata, as
GET /os-aggregates shows them, and which availability zone each host is in."""

from __future__ import annotations

from chronova.messages import EventMessage
from domain.aggregate import AZ_KEY
from projections.views import Statement

DDL = (
    """CREATE TABLE IF NOT EXISTS host_aggregates (
        id TEXT PRIMARY KEY,
        number BIGINT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        availability_zone TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT
    )""",
    # `position` (the notification id of the join) keeps hosts in the order they joined.
    """CREATE TABLE IF NOT EXISTS host_aggregate_hosts (
        aggregate_id TEXT NOT NULL,
        host TEXT NOT NULL,
        position BIGINT NOT NULL,
        PRIMARY KEY (aggregate_id, host)
    )""",
    "CREATE INDEX IF NOT EXISTS host_aggregate_hosts_by_host ON host_aggregate_hosts (host)",
    """CREATE TABLE IF NOT EXISTS host_aggregate_metadata (
        aggregate_id TEXT NOT NULL,
        meta_key TEXT NOT NULL,
        meta_value TEXT NOT NULL,
        PRIMARY KEY (aggregate_id, meta_key)
    )""",
)

_SET_KEY = """INSERT INTO host_aggregate_metadata (aggregate_id, meta_key, meta_value)
    VALUES (%(id)s, %(key)s, %(value)s)
    ON CONFLICT (aggregate_id, meta_key) DO UPDATE SET meta_value = excluded.meta_value"""
_DELETE_KEY = "DELETE FROM host_aggregate_metadata WHERE aggregate_id = %(id)s AND meta_key = %(key)s"


def _metadata(message: EventMessage, changes: dict[str, str | None]) -> list[Statement]:
    aggregate_id = message.aggregate_id
    statements = [
        Statement(_DELETE_KEY if value is None else _SET_KEY, {"id": aggregate_id, "key": key, "value": value})
        for key, value in changes.items()
    ]
    if AZ_KEY in changes:
        statements.append(
            Statement(
                "UPDATE host_aggregates SET availability_zone = %(zone)s WHERE id = %(id)s",
                {"zone": changes[AZ_KEY], "id": aggregate_id},
            )
        )
    return statements


def _touched(message: EventMessage) -> Statement:
    return Statement(
        "UPDATE host_aggregates SET updated_at = %(ts)s WHERE id = %(id)s",
        {"ts": message.timestamp, "id": message.aggregate_id},
    )


class HostAggregatesProjection:
    name = "host_aggregates"
    ddl = DDL
    event_types = frozenset(
        {
            "HostAggregate.Created",
            "HostAggregate.Renamed",
            "HostAggregate.MetadataUpdated",
            "HostAggregate.HostAdded",
            "HostAggregate.HostRemoved",
            "HostAggregate.Deleted",
        }
    )

    def statements(self, message: EventMessage) -> list[Statement]:
        data = message.data
        aggregate_id = message.aggregate_id
        match message.event_type:
            case "HostAggregate.Created":
                created = Statement(
                    """INSERT INTO host_aggregates (id, number, name, availability_zone, created_at)
                       VALUES (%(id)s, %(number)s, %(name)s, %(zone)s, %(ts)s)
                       ON CONFLICT (id) DO NOTHING""",
                    {
                        "id": aggregate_id,
                        "number": data["number"],
                        "name": data["name"],
                        "zone": data["availability_zone"],
                        "ts": message.timestamp,
                    },
                )
                zone = data["availability_zone"]
                return [created, *(_metadata(message, {AZ_KEY: zone}) if zone else [])]
            case "HostAggregate.Renamed":
                rename = "UPDATE host_aggregates SET name = %(name)s WHERE id = %(id)s"
                return [Statement(rename, {"name": data["name"], "id": aggregate_id}), _touched(message)]
            case "HostAggregate.MetadataUpdated":
                return [*_metadata(message, data["changes"]), _touched(message)]
            case "HostAggregate.HostAdded":
                return [
                    Statement(
                        """INSERT INTO host_aggregate_hosts (aggregate_id, host, position)
                           VALUES (%(id)s, %(host)s, %(position)s) ON CONFLICT (aggregate_id, host) DO NOTHING""",
                        {"id": aggregate_id, "host": data["host"], "position": message.notification_id},
                    )
                ]
            case "HostAggregate.HostRemoved":
                return [
                    Statement(
                        "DELETE FROM host_aggregate_hosts WHERE aggregate_id = %(id)s AND host = %(host)s",
                        {"id": aggregate_id, "host": data["host"]},
                    )
                ]
            case "HostAggregate.Deleted":
                return [
                    Statement(f"DELETE FROM {table} WHERE {column} = %(id)s", {"id": aggregate_id})
                    for table, column in (
                        ("host_aggregate_hosts", "aggregate_id"),
                        ("host_aggregate_metadata", "aggregate_id"),
                        ("host_aggregates", "id"),
                    )
                ]
        return []
