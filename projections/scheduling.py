"""The scheduling audit view: one row per placement decision of a server (its
choice, or "No valid host", or a build that failed and went to an alternate),
with the audit the scheduler recorded on the event (domain.scheduling.rank):
the request, the hosts each filter removed, the weights of the top hosts."""

from __future__ import annotations

import json

from chronova.messages import EventMessage
from projections.servers import view_time
from projections.views import Statement

DDL = (
    """CREATE TABLE IF NOT EXISTS scheduling_decisions (
        server_id TEXT NOT NULL,
        version BIGINT NOT NULL,
        outcome TEXT NOT NULL,
        host TEXT,
        details TEXT,
        audit TEXT NOT NULL,
        created_at TEXT NOT NULL,
        PRIMARY KEY (server_id, version)
    )""",
)
_INSERT = """INSERT INTO scheduling_decisions (server_id, version, outcome, host, details, audit, created_at)
    VALUES (%(server_id)s, %(version)s, %(outcome)s, %(host)s, %(details)s, %(audit)s, %(created_at)s)
    ON CONFLICT (server_id, version) DO NOTHING"""


class SchedulingProjection:
    name = "scheduling"
    ddl = DDL
    event_types = frozenset({"Server.Scheduled", "Server.SchedulingFailed", "Server.Rescheduled"})

    def statements(self, message: EventMessage) -> list[Statement]:
        data = message.data
        audit = data.get("audit") or {}
        if message.event_type == "Server.Scheduled":
            outcome, host, details = "rescheduled" if "reschedule" in audit else "scheduled", data["host"], None
        elif message.event_type == "Server.SchedulingFailed":
            outcome, host, details = "no_valid_host", None, data["details"]
        else:
            outcome, host, details = "build_failed", data["failed_host"], data["reason"]
        params = {
            "server_id": message.aggregate_id,
            "version": message.version,
            "outcome": outcome,
            "host": host,
            "details": details,
            "audit": json.dumps(audit),
            "created_at": view_time(message.timestamp),
        }
        return [Statement(_INSERT, params)]
