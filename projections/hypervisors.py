"""The hypervisors view: each compute node's inventory, usage and service state."""

from __future__ import annotations

import json

from chronova.messages import EventMessage
from domain.placement import DISK_GB, MEMORY_MB, VCPU
from projections.views import Statement

DDL = (
    """CREATE TABLE IF NOT EXISTS hypervisors (
        id TEXT PRIMARY KEY,
        hostname TEXT NOT NULL UNIQUE,
        state TEXT NOT NULL,
        status TEXT NOT NULL,
        inventories TEXT NOT NULL,
        hypervisor TEXT NOT NULL,
        vcpus_used INTEGER NOT NULL,
        memory_mb_used INTEGER NOT NULL,
        local_gb_used INTEGER NOT NULL,
        running_vms INTEGER NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    )""",
)

_USAGE_CHANGE = """UPDATE hypervisors SET
        vcpus_used = vcpus_used + %(sign)s * %(vcpu)s,
        memory_mb_used = memory_mb_used + %(sign)s * %(ram)s,
        local_gb_used = local_gb_used + %(sign)s * %(disk)s,
        running_vms = running_vms + %(sign)s,
        updated_at = %(ts)s
    WHERE id = %(id)s"""


def _usage_change(message: EventMessage, sign: int) -> Statement:
    resources = message.data["resources"]
    return Statement(
        _USAGE_CHANGE,
        {
            "sign": sign,
            "vcpu": resources.get(VCPU, 0),
            "ram": resources.get(MEMORY_MB, 0),
            "disk": resources.get(DISK_GB, 0),
            "ts": message.timestamp,
            "id": message.aggregate_id,
        },
    )


class HypervisorsProjection:
    name = "hypervisors"
    ddl = DDL
    event_types = frozenset(
        {
            "Host.Registered",
            "Host.InventoryUpdated",
            "Host.ServiceUp",
            "Host.ServiceDown",
            "Host.AllocationClaimed",
            "Host.AllocationReleased",
        }
    )

    def statements(self, message: EventMessage) -> list[Statement]:
        data = message.data
        match message.event_type:
            case "Host.Registered":
                return [
                    Statement(
                        """INSERT INTO hypervisors (id, hostname, state, status, inventories, hypervisor,
                               vcpus_used, memory_mb_used, local_gb_used, running_vms, created_at, updated_at)
                           VALUES (%(id)s, %(name)s, 'down', 'enabled', %(inventories)s, %(hypervisor)s,
                               0, 0, 0, 0, %(ts)s, %(ts)s)
                           ON CONFLICT (id) DO NOTHING""",
                        {
                            "id": message.aggregate_id,
                            "name": data["name"],
                            "inventories": json.dumps(data["inventories"]),
                            "hypervisor": json.dumps(data["hypervisor"]),
                            "ts": message.timestamp,
                        },
                    )
                ]
            case "Host.InventoryUpdated":
                return [
                    Statement(
                        """UPDATE hypervisors SET inventories = %(inventories)s, hypervisor = %(hypervisor)s,
                               updated_at = %(ts)s WHERE id = %(id)s""",
                        {
                            "inventories": json.dumps(data["inventories"]),
                            "hypervisor": json.dumps(data["hypervisor"]),
                            "ts": message.timestamp,
                            "id": message.aggregate_id,
                        },
                    )
                ]
            case "Host.ServiceUp" | "Host.ServiceDown":
                return [
                    Statement(
                        "UPDATE hypervisors SET state = %(state)s, updated_at = %(ts)s WHERE id = %(id)s",
                        {
                            "state": "up" if message.event_type == "Host.ServiceUp" else "down",
                            "ts": message.timestamp,
                            "id": message.aggregate_id,
                        },
                    )
                ]
            case "Host.AllocationClaimed":
                return [_usage_change(message, +1)]
            case "Host.AllocationReleased":
                return [_usage_change(message, -1)]
        return []
