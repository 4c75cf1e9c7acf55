"""The flavors view: every flavor as GET /flavors/detail lists it."""

from __future__ import annotations

from chronova.messages import EventMessage
from projections.views import Statement

DDL = (
    """CREATE TABLE IF NOT EXISTS flavors (
        flavorid TEXT PRIMARY KEY,
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
        created_at TEXT NOT NULL
    )""",
)


class FlavorsProjection:
    name = "flavors"
    ddl = DDL
    event_types = frozenset({"Flavor.Created"})

    def statements(self, message: EventMessage) -> list[Statement]:
        if message.event_type != "Flavor.Created":
            return []
        return [
            Statement(
                """INSERT INTO flavors (flavorid, name, vcpus, ram, disk, ephemeral, swap, rxtx_factor,
                       is_public, description, extra_specs, created_at)
                   VALUES (%(flavorid)s, %(name)s, %(vcpus)s, %(ram)s, %(disk)s, %(ephemeral)s, %(swap)s,
                       %(rxtx_factor)s, %(is_public)s, %(description)s, '{}', %(ts)s)
                   ON CONFLICT (flavorid) DO NOTHING""",
                {
                    key: message.data[key]
                    for key in (
                        "flavorid",
                        "name",
                        "vcpus",
                        "ram",
                        "disk",
                        "ephemeral",
                        "swap",
                        "rxtx_factor",
                        "is_public",
                        "description",
                    )
                }
                | {"ts": message.timestamp},
            )
        ]
