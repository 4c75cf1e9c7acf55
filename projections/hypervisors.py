"""The hypervisors view: each compute node's inventory, usage and service state.

The row is also the host's nova-compute service (os-services): `state` is
the effective state (a forced-down service is down whatever its heartbeats
say, `reported_state` is what they say), `service_number` its integer id
before microversion 2.53 (the notification id of its registration: stable
across rebuilds, never reused) and `service_id` its uuid after.
A deleted service takes its row with it.
"""

from __future__ import annotations

import json
from uuid import UUID

from chronova.messages import EventMessage
from domain.host import compute_service_id
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
        updated_at TEXT NOT NULL,
        reported_state TEXT NOT NULL DEFAULT 'down',
        disabled_reason TEXT,
        forced_down INTEGER NOT NULL DEFAULT 0,
        service_id TEXT,
        service_number BIGINT,
        service_updated_at TEXT
    )""",
)

_REGISTER = """INSERT INTO hypervisors (id, hostname, state, status, inventories, hypervisor,
        vcpus_used, memory_mb_used, local_gb_used, running_vms, created_at, updated_at,
        service_id, service_number, service_updated_at)
    VALUES (%(id)s, %(name)s, 'down', 'enabled', %(inventories)s, %(hypervisor)s,
        0, 0, 0, 0, %(ts)s, %(ts)s, %(service_id)s, %(number)s, %(ts)s)
    ON CONFLICT (id) DO NOTHING"""
_SERVICE_CHANGE = """UPDATE hypervisors SET {columns}, service_updated_at = %(ts)s, updated_at = %(ts)s
    WHERE id = %(id)s"""
# The reported state shows only while the service is not forced down.
_EFFECTIVE_STATE = "state = CASE WHEN forced_down = 1 THEN 'down' ELSE %(state)s END"


def _register(message: EventMessage) -> Statement:
    return Statement(
        _REGISTER,
        {
            "id": message.aggregate_id,
            "name": message.data["name"],
            "inventories": json.dumps(message.data["inventories"]),
            "hypervisor": json.dumps(message.data["hypervisor"]),
            "ts": message.timestamp,
            "service_id": str(compute_service_id(UUID(message.aggregate_id))),
            "number": message.notification_id,
        },
    )


def _service_change(message: EventMessage, columns: str, **params: object) -> list[Statement]:
    sql = _SERVICE_CHANGE.format(columns=columns)
    return [Statement(sql, {**params, "ts": message.timestamp, "id": message.aggregate_id})]


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
            "Host.ServiceDisabled",
            "Host.ServiceEnabled",
            "Host.ServiceForcedDown",
            "Host.ServiceForceDownCleared",
            "Host.ServiceDeleted",
            "Host.Reregistered",
        }
    )

    def statements(self, message: EventMessage) -> list[Statement]:
        data = message.data
        match message.event_type:
            case "Host.Registered" | "Host.Reregistered":
                return [_register(message)]
            case "Host.ServiceDisabled":
                return _service_change(
                    message, "status = 'disabled', disabled_reason = %(reason)s", reason=data["reason"]
                )
            case "Host.ServiceEnabled":
                return _service_change(message, "status = 'enabled', disabled_reason = NULL")
            case "Host.ServiceForcedDown":
                return _service_change(message, "forced_down = 1, state = 'down'")
            case "Host.ServiceForceDownCleared":
                return _service_change(message, "forced_down = 0, state = reported_state")
            case "Host.ServiceDeleted":
                return [Statement("DELETE FROM hypervisors WHERE id = %(id)s", {"id": message.aggregate_id})]
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
                reported = "up" if message.event_type == "Host.ServiceUp" else "down"
                return _service_change(message, f"reported_state = %(state)s, {_EFFECTIVE_STATE}", state=reported)
            case "Host.AllocationClaimed":
                return [_usage_change(message, +1)]
            case "Host.AllocationReleased":
                return [_usage_change(message, -1)]
        return []
