"""The quota views: the limits set per project and per quota class, and what
each project holds (live servers with their size, live server groups).

Usage is counted from this view, which trails the store. Creates of servers
take turns on the project's QuotaLedger (domain/quota.py) instead: the view
records the last admission it has counted, and a check adds the admissions
stored since. Server groups are still counted from the view alone, so two
group creates racing past the same count can both be accepted, as in Nova
without its recheck. A refused request writes nothing either way.

A check runs on every create, so it must not cost more as a project grows:
`quota_totals` keeps each project's sums in one row, changed in the same
statements as the per-server and per-group rows and only when such a row
actually appears or stops being live. The row is the proof of the count, so
a replayed event (a rebuild, a batch written again) never counts twice.
Limit rows are guarded by the event's version.
"""

from __future__ import annotations

import json

from chronova.messages import EventMessage
from domain.quota import (
    BUILTIN_DEFAULTS,
    CLASS,
    COUNTED_PER_SERVER,
    DEFAULT_CLASS,
    PROJECT,
    RESOURCES,
    effective_limits,
    quota_set_id,
)
from projections.views import Statement, ViewStore

DDL = (
    """CREATE TABLE IF NOT EXISTS quota_sets (
        id TEXT PRIMARY KEY,
        scope TEXT NOT NULL,
        owner TEXT NOT NULL,
        limits TEXT NOT NULL,
        version BIGINT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS quota_usage (
        server_id TEXT PRIMARY KEY,
        project_id TEXT NOT NULL,
        user_id TEXT NOT NULL,
        vcpus INTEGER NOT NULL,
        ram INTEGER NOT NULL,
        live BOOLEAN NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS quota_server_groups (
        group_id TEXT PRIMARY KEY,
        project_id TEXT NOT NULL,
        live BOOLEAN NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS quota_totals (
        project_id TEXT PRIMARY KEY,
        instances BIGINT NOT NULL,
        cores BIGINT NOT NULL,
        ram BIGINT NOT NULL,
        server_groups BIGINT NOT NULL
    )""",
    # The last admission (domain.quota.QuotaLedger) each project's totals count.
    """CREATE TABLE IF NOT EXISTS quota_admissions (
        project_id TEXT PRIMARY KEY,
        version BIGINT NOT NULL
    )""",
    # A store projected before quota_totals existed gets its sums once, in the
    # transaction that creates the table; afterwards every project's row exists
    # from its first server or group on, so this adds nothing. (SQLite reads an
    # upsert after a SELECT only when the SELECT has a WHERE: hence WHERE TRUE.)
    """INSERT INTO quota_totals (project_id, instances, cores, ram, server_groups)
       SELECT project_id, SUM(instances), SUM(cores), SUM(ram), SUM(server_groups) FROM (
           SELECT project_id, 1 AS instances, vcpus AS cores, ram, 0 AS server_groups
           FROM quota_usage WHERE live = TRUE
           UNION ALL
           SELECT project_id, 0, 0, 0, 1 FROM quota_server_groups WHERE live = TRUE
       ) AS held WHERE TRUE GROUP BY project_id
       ON CONFLICT (project_id) DO NOTHING""",
)

_SET_LIMITS = (
    "UPDATE quota_sets SET limits = %(limits)s, version = %(version)s WHERE id = %(id)s AND version < %(version)s"
)
# Each pair below changes the totals first, on the condition that the row after it
# will change: the server (or group) is not recorded yet, or is recorded live. That
# makes a replay count nothing; two projectors applying one event at the same time
# are kept apart by the tracking row written in the same transaction, not by this.
_COUNT_SERVER = """INSERT INTO quota_totals (project_id, instances, cores, ram, server_groups)
    SELECT %(project_id)s, 1, %(vcpus)s, %(ram)s, 0
    WHERE NOT EXISTS (SELECT 1 FROM quota_usage WHERE server_id = %(id)s)
    ON CONFLICT (project_id) DO UPDATE SET instances = quota_totals.instances + 1,
        cores = quota_totals.cores + excluded.cores, ram = quota_totals.ram + excluded.ram"""
_RECORD_SERVER = """INSERT INTO quota_usage (server_id, project_id, user_id, vcpus, ram, live)
    VALUES (%(id)s, %(project_id)s, %(user_id)s, %(vcpus)s, %(ram)s, %(live)s)
    ON CONFLICT (server_id) DO NOTHING"""
_UNCOUNT_SERVER = """UPDATE quota_totals SET instances = instances - 1,
        cores = cores - (SELECT s.vcpus FROM quota_usage s WHERE s.server_id = %(id)s),
        ram = ram - (SELECT s.ram FROM quota_usage s WHERE s.server_id = %(id)s)
    WHERE project_id = (
        SELECT s.project_id FROM quota_usage s WHERE s.server_id = %(id)s AND s.live = %(live)s)"""
_RETIRE_SERVER = "UPDATE quota_usage SET live = %(not_live)s WHERE server_id = %(id)s"
_COUNT_GROUP = """INSERT INTO quota_totals (project_id, instances, cores, ram, server_groups)
    SELECT %(project_id)s, 0, 0, 0, 1
    WHERE NOT EXISTS (SELECT 1 FROM quota_server_groups WHERE group_id = %(id)s)
    ON CONFLICT (project_id) DO UPDATE SET server_groups = quota_totals.server_groups + 1"""
_RECORD_GROUP = """INSERT INTO quota_server_groups (group_id, project_id, live)
    VALUES (%(id)s, %(project_id)s, %(live)s) ON CONFLICT (group_id) DO NOTHING"""
_UNCOUNT_GROUP = """UPDATE quota_totals SET server_groups = server_groups - 1
    WHERE project_id = (
        SELECT g.project_id FROM quota_server_groups g WHERE g.group_id = %(id)s AND g.live = %(live)s)"""
_RETIRE_GROUP = "UPDATE quota_server_groups SET live = %(not_live)s WHERE group_id = %(id)s"
_COUNTED_ADMISSION = """INSERT INTO quota_admissions (project_id, version) VALUES (%(project_id)s, %(version)s)
    ON CONFLICT (project_id) DO UPDATE SET version = excluded.version
    WHERE quota_admissions.version < excluded.version"""


class QuotasProjection:
    name = "quotas"
    ddl = DDL
    event_types = frozenset(
        {
            "QuotaSet.Created",
            "QuotaSet.LimitsChanged",
            "QuotaSet.LimitsReset",
            "Server.Created",
            "Server.Deleted",
            "ServerGroup.Created",
            "ServerGroup.Deleted",
            "QuotaLedger.ServersAdmitted",
        }
    )

    def statements(self, message: EventMessage) -> list[Statement]:
        data = message.data
        held = {"id": message.aggregate_id, "live": True, "not_live": False}
        match message.event_type:
            case "QuotaSet.Created":
                return [
                    Statement(
                        """INSERT INTO quota_sets (id, scope, owner, limits, version)
                           VALUES (%(id)s, %(scope)s, %(owner)s, '{}', %(version)s) ON CONFLICT (id) DO NOTHING""",
                        {"id": message.aggregate_id, "scope": data["scope"], "owner": data["owner"]}
                        | {"version": message.version},
                    )
                ]
            case "QuotaSet.LimitsChanged":
                return [self._set_limits(message, data["limits"])]
            case "QuotaSet.LimitsReset":
                return [self._set_limits(message, {})]
            case "Server.Created":
                server = held | {
                    "project_id": data["project_id"],
                    "user_id": data["user_id"],
                    "vcpus": data["flavor"]["vcpus"],
                    "ram": data["flavor"]["ram"],
                }
                return [Statement(_COUNT_SERVER, server), Statement(_RECORD_SERVER, server)]
            case "Server.Deleted":
                return [Statement(_UNCOUNT_SERVER, held), Statement(_RETIRE_SERVER, held)]
            case "ServerGroup.Created":
                group = held | {"project_id": data["project_id"]}
                return [Statement(_COUNT_GROUP, group), Statement(_RECORD_GROUP, group)]
            case "ServerGroup.Deleted":
                return [Statement(_UNCOUNT_GROUP, held), Statement(_RETIRE_GROUP, held)]
            case "QuotaLedger.ServersAdmitted":
                return [Statement(_COUNTED_ADMISSION, {"project_id": data["project_id"], "version": message.version})]
        return []

    @staticmethod
    def _set_limits(message: EventMessage, limits: dict[str, int]) -> Statement:
        return Statement(
            _SET_LIMITS, {"limits": json.dumps(limits), "version": message.version, "id": message.aggregate_id}
        )


# --- reads, shared by the quota checks (command side) and the quota APIs (query side) ----------


def explicit_limits(views: ViewStore, scope: str, owner: str) -> dict[str, int]:
    """The limits an admin set for one project or class; empty when none."""
    rows = views.query("SELECT limits FROM quota_sets WHERE id = %(id)s", {"id": str(quota_set_id(scope, owner))})
    return json.loads(rows[0]["limits"]) if rows else {}


def class_limits(views: ViewStore, name: str) -> dict[str, int]:
    """A quota class: what it sets, else Nova's built-in defaults."""
    return effective_limits(explicit_limits(views, CLASS, name), BUILTIN_DEFAULTS)


def default_limits(views: ViewStore) -> dict[str, int]:
    return class_limits(views, DEFAULT_CLASS)


def project_limits(views: ViewStore, project_id: str) -> dict[str, int]:
    return effective_limits(explicit_limits(views, PROJECT, project_id), default_limits(views))


def counted_usage(views: ViewStore, project_id: str) -> tuple[dict[str, int], int]:
    """(instances, cores and ram the project holds, the last ledger admission counted in them), read together so
    the two agree; a create adds the ledger's later admissions (chronova.quotas)."""
    rows = views.query(
        """SELECT t.instances, t.cores, t.ram, a.version FROM (SELECT CAST(%(project_id)s AS TEXT) AS project_id) p
           LEFT JOIN quota_totals t ON t.project_id = p.project_id
           LEFT JOIN quota_admissions a ON a.project_id = p.project_id""",
        {"project_id": project_id},
    )
    row = rows[0]
    usage = {resource: int(row[resource] or 0) for resource in COUNTED_PER_SERVER}
    return usage, int(row["version"] or 0)


def project_usage(views: ViewStore, project_id: str) -> dict[str, int]:
    """What a project holds of each resource: one row, whatever the project holds. Like
    Nova, per-user resources (key_pairs, server_group_members) and the ones it no longer
    counts show 0."""
    rows = views.query(
        "SELECT instances, cores, ram, server_groups FROM quota_totals WHERE project_id = %(project_id)s",
        {"project_id": project_id},
    )
    counted = {name: int(value) for name, value in rows[0].items()} if rows else {}
    return {resource: counted.get(resource, 0) for resource in RESOURCES}
