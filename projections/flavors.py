"""The flavors view: every live flavor as GET /flavors/detail lists it, and the
projects each private flavor is shared with."""

from __future__ import annotations

import json

from chronova.messages import EventMessage
from projections.views import Statement

DDL = (
    """CREATE TABLE IF NOT EXISTS flavors (
        flavorid TEXT PRIMARY KEY,
        aggregate_id TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        vcpus INTEGER NOT NULL,
        ram INTEGER NOT NULL,
        disk INTEGER NOT NULL,
        ephemeral INTEGER NOT NULL,
        swap INTEGER NOT NULL,
        rxtx_factor DOUBLE PRECISION NOT NULL,
        is_public BOOLEAN NOT NULL,
        description TEXT,
        extra_specs TEXT NOT NULL,
        seq BIGINT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT
    )""",
    """CREATE TABLE IF NOT EXISTS flavor_access (
        flavor_id TEXT NOT NULL,
        project_id TEXT NOT NULL,
        PRIMARY KEY (flavor_id, project_id)
    )""",
)

_FIELDS = ("flavorid", "name", "vcpus", "ram", "disk", "ephemeral", "swap", "rxtx_factor", "is_public", "description")
# Created, or Recreated under the id of a deleted flavor (whose row went with it).
_INSERT = """INSERT INTO flavors (flavorid, aggregate_id, name, vcpus, ram, disk, ephemeral, swap, rxtx_factor,
        is_public, description, extra_specs, seq, created_at, updated_at)
    VALUES (%(flavorid)s, %(id)s, %(name)s, %(vcpus)s, %(ram)s, %(disk)s, %(ephemeral)s, %(swap)s,
        %(rxtx_factor)s, %(is_public)s, %(description)s, '{}', %(seq)s, %(ts)s, NULL)
    ON CONFLICT (flavorid) DO NOTHING"""


class FlavorsProjection:
    name = "flavors"
    ddl = DDL
    event_types = frozenset(
        {
            "Flavor.Created",
            "Flavor.Recreated",
            "Flavor.Deleted",
            "Flavor.DescriptionUpdated",
            "Flavor.ExtraSpecsChanged",
            "Flavor.AccessGranted",
            "Flavor.AccessRevoked",
        }
    )

    def statements(self, message: EventMessage) -> list[Statement]:
        data, flavor = message.data, {"id": message.aggregate_id, "ts": message.timestamp}
        match message.event_type:
            case "Flavor.Created" | "Flavor.Recreated":
                row = flavor | {key: data[key] for key in _FIELDS} | {"seq": message.notification_id}
                return [Statement(_INSERT, row)]
            case "Flavor.Deleted":
                return [
                    Statement("DELETE FROM flavor_access WHERE flavor_id = %(id)s", flavor),
                    Statement("DELETE FROM flavors WHERE aggregate_id = %(id)s", flavor),
                ]
            case "Flavor.DescriptionUpdated":
                return [_update(flavor, description=data["description"])]
            case "Flavor.ExtraSpecsChanged":
                return [_update(flavor, extra_specs=json.dumps(data["extra_specs"]))]
            case "Flavor.AccessGranted":
                return [
                    Statement(
                        """INSERT INTO flavor_access (flavor_id, project_id) VALUES (%(id)s, %(project_id)s)
                           ON CONFLICT (flavor_id, project_id) DO NOTHING""",
                        flavor | {"project_id": data["project_id"]},
                    )
                ]
            case "Flavor.AccessRevoked":
                return [
                    Statement(
                        "DELETE FROM flavor_access WHERE flavor_id = %(id)s AND project_id = %(project_id)s",
                        flavor | {"project_id": data["project_id"]},
                    )
                ]
        return []


def _update(flavor: dict[str, str], **columns: str | None) -> Statement:
    assignments = ", ".join(f"{name} = %({name})s" for name in columns)
    return Statement(
        f"UPDATE flavors SET {assignments}, updated_at = %(ts)s WHERE aggregate_id = %(id)s", flavor | columns
    )
