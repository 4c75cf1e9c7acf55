"""SQL over the read-model tables, in the dialect subset PostgreSQL and SQLite share.

The query app reads nothing else: no aggregates, no event store (except the
notification position it waits for, see app.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import falcon

from domain.states import server_status
from projections.views import ViewStore
from query_api.params import Page

# `host_zone`: the zone of the server's host (Nova's rules keep a host in one zone at most).
_SERVERS = """SELECT s.*, h.state AS host_state, h.status AS host_service_status,
    (SELECT MIN(a.availability_zone) FROM host_aggregate_hosts m JOIN host_aggregates a ON a.id = m.aggregate_id
     WHERE m.host = s.host AND a.availability_zone IS NOT NULL) AS host_zone{keys}
    FROM servers s LEFT JOIN hypervisors h ON h.hostname = s.host"""
_SCAN_SIZE = 100
# Sort keys Nova accepts, as SQL that sorts NULL first on both databases; None: accepted, sorts nothing.
SORT_COLUMNS: dict[str, str | None] = {
    "access_ip_v4": "COALESCE(s.access_ip_v4, '')",
    "access_ip_v6": "COALESCE(s.access_ip_v6, '')",
    "auto_disk_config": None,
    "availability_zone": "COALESCE(s.availability_zone, '')",
    "config_drive": "s.config_drive",
    "created_at": "s.created_at",
    "display_description": "COALESCE(s.description, '')",
    "display_name": "s.name",
    "host": "COALESCE(s.host, '')",
    "hostname": "s.hostname",
    "image_ref": "s.image_id",
    "instance_type_id": "s.flavor_id",
    "kernel_id": None,
    "key_name": "COALESCE(s.key_name, '')",
    "launch_index": "s.launch_index",
    "launched_at": "COALESCE(s.launched_at, '')",
    "locked": "CASE WHEN s.locked_by IS NULL THEN 0 ELSE 1 END",
    "locked_by": "COALESCE(s.locked_by, '')",
    "node": "COALESCE(s.host, '')",
    "power_state": "s.power_state",
    "progress": None,
    "project_id": "s.project_id",
    "ramdisk_id": None,
    "root_device_name": None,
    "task_state": "COALESCE(s.task_state, '')",
    "terminated_at": "COALESCE(s.terminated_at, '')",
    "updated_at": "s.updated_at",
    "user_id": "s.user_id",
    "uuid": "s.id",
    "vm_state": "s.vm_state",
}


def _marker_not_found(marker: str) -> falcon.HTTPBadRequest:
    return falcon.HTTPBadRequest(description=f"marker [{marker}] not found")


@dataclass(frozen=True)
class ServerFilter:
    """What a listing asks for: all of it in SQL but the regular expressions, matched in Python."""

    project_id: str | None  # None: every project (admins with all_tenants)
    deleted: bool | None = False  # None: deleted or not (changes-since without `deleted`)
    equal: tuple[tuple[str, str], ...] = ()  # (column, value)
    vm_states: frozenset[str] | None = None  # the candidates for `statuses`, narrowed in SQL
    statuses: frozenset[str] = frozenset()
    changes_since: str | None = None
    changes_before: str | None = None
    tags: tuple[str, ...] = ()
    tags_any: tuple[str, ...] = ()
    not_tags: tuple[str, ...] = ()
    not_tags_any: tuple[str, ...] = ()
    locked: bool | None = None
    patterns: tuple[tuple[str, re.Pattern[str]], ...] = ()  # (column, regular expression)

    def admits(self, server: dict[str, Any]) -> bool:
        if any(not pattern.search(server[column] or "") for column, pattern in self.patterns):
            return False
        return not self.statuses or server_status(server["vm_state"], server["task_state"]) in self.statuses


@dataclass(frozen=True)
class Sort:
    """Sort keys (SORT_COLUMNS names) with directions; Nova's defaults follow, and the id breaks ties."""

    keys: tuple[tuple[str, str], ...] = (("created_at", "desc"),)

    def columns(self) -> list[tuple[str, str]]:
        chosen = [(column, way) for key, way in self.keys if (column := SORT_COLUMNS[key]) is not None]
        default_way = self.keys[0][1] if self.keys else "desc"
        if all(column != "s.created_at" for column, _ in chosen):
            chosen.append(("s.created_at", default_way))
        return [*chosen, ("s.id", default_way)]


class ServerQueries:
    def __init__(self, views: ViewStore) -> None:
        self._views = views

    def get(self, server_id: str) -> dict[str, Any] | None:
        rows = self._views.query(f"{_SERVERS.format(keys='')} WHERE s.id = %(id)s", {"id": server_id})
        return rows[0] if rows else None

    def page(self, wanted: ServerFilter, page: Page, sort: Sort = Sort()) -> list[dict[str, Any]]:
        """`page.limit` servers after the marker, in `sort` order (newest first by default)."""
        columns = sort.columns()
        conditions, params = _conditions(wanted)
        after = self._marker_position(page.marker, wanted, columns) if page.marker is not None else None
        keys = "".join(f", {column} AS sort_{i}" for i, (column, _) in enumerate(columns))
        order = ", ".join(f"sort_{i} {way.upper()}" for i, (_, way) in enumerate(columns))
        size = max(page.limit, _SCAN_SIZE)
        found: list[dict[str, Any]] = []
        while len(found) < page.limit:
            where = list(conditions)
            if after is not None:
                keyset, keyset_params = _after(columns, after)
                where.append(keyset)
                params |= keyset_params
            sql = f"{_SERVERS.format(keys=keys)} WHERE {' AND '.join(where)} ORDER BY {order} LIMIT %(size)s"
            batch = self._views.query(sql, params | {"size": size})
            found += [server for server in batch if wanted.admits(server)]
            if len(batch) < size:
                break
            after = [batch[-1][f"sort_{i}"] for i in range(len(columns))]
        return found[: page.limit]

    def _marker_position(self, marker: str, wanted: ServerFilter, columns: list[tuple[str, str]]) -> list[Any]:
        keys = ", ".join(f"{column} AS sort_{i}" for i, (column, _) in enumerate(columns))
        sql = f"SELECT {keys} FROM servers s WHERE s.id = %(id)s"
        if wanted.project_id is not None:
            sql += " AND s.project_id = %(project_id)s"
        rows = self._views.query(sql, {"id": marker, "project_id": wanted.project_id})
        if not rows:
            raise _marker_not_found(marker)
        return [rows[0][f"sort_{i}"] for i in range(len(columns))]


def _conditions(wanted: ServerFilter) -> tuple[list[str], dict[str, Any]]:
    conditions: list[str] = ["1 = 1"]
    params: dict[str, Any] = {}
    if wanted.deleted is not None:
        conditions.append("s.vm_state = 'deleted'" if wanted.deleted else "s.vm_state <> 'deleted'")
    if wanted.project_id is not None:
        conditions.append("s.project_id = %(project_id)s")
        params["project_id"] = wanted.project_id
    for i, (column, value) in enumerate(wanted.equal):
        conditions.append(f"s.{column} = %(equal_{i})s")
        params[f"equal_{i}"] = value
    if wanted.vm_states is not None:
        states = sorted(wanted.vm_states)
        conditions.append(_in("s.vm_state", "vm_state", states, params) if states else "1 = 0")
    if wanted.changes_since is not None:
        conditions.append("s.updated_at >= %(changes_since)s")
        params["changes_since"] = wanted.changes_since
    if wanted.changes_before is not None:
        conditions.append("s.updated_at <= %(changes_before)s")
        params["changes_before"] = wanted.changes_before
    if wanted.locked is not None:
        conditions.append(f"s.locked_by IS {'NOT ' if wanted.locked else ''}NULL")
    for name, tags, template in (
        ("tags", wanted.tags, "{count} = {n}"),  # has every one
        ("tags_any", wanted.tags_any, "{count} > 0"),
        ("not_tags", wanted.not_tags, "{count} < {n}"),  # lacks at least one
        ("not_tags_any", wanted.not_tags_any, "{count} = 0"),
    ):
        if tags:
            distinct = list(dict.fromkeys(tags))
            listed = _in("t.tag", name, distinct, params)
            count = f"(SELECT COUNT(*) FROM server_tags t WHERE t.server_id = s.id AND {listed})"
            conditions.append(template.format(count=count, n=len(distinct)))
    return conditions, params


def _in(column: str, name: str, values: list[Any], params: dict[str, Any]) -> str:
    names = [f"{name}_{i}" for i in range(len(values))]
    params.update(zip(names, values, strict=True))
    return f"{column} IN ({', '.join(f'%({n})s' for n in names)})"


def _after(columns: list[tuple[str, str]], position: list[Any]) -> tuple[str, dict[str, Any]]:
    """Rows strictly after `position` in the order of `columns` (keyset paging)."""
    params = {f"after_{i}": value for i, value in enumerate(position)}
    alternatives = []
    for i, (column, way) in enumerate(columns):
        equal = [f"{columns[j][0]} = %(after_{j})s" for j in range(i)]
        beyond = f"{column} {'<' if way == 'desc' else '>'} %(after_{i})s"
        alternatives.append("(" + " AND ".join([*equal, beyond]) + ")")
    return "(" + " OR ".join(alternatives) + ")", params


# --- instance actions ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ActionFilter:
    changes_since: str | None = None
    changes_before: str | None = None


class InstanceActionQueries:
    """Newest first, as Nova lists them; the marker is a request id."""

    def __init__(self, views: ViewStore) -> None:
        self._views = views

    def get(self, server_id: str, request_id: str) -> dict[str, Any] | None:
        sql = "SELECT * FROM instance_actions WHERE server_id = %(id)s AND request_id = %(request_id)s"
        rows = self._views.query(sql, {"id": server_id, "request_id": request_id})
        return rows[0] if rows else None

    def events(self, server_id: str, request_id: str) -> list[dict[str, Any]]:
        sql = """SELECT * FROM instance_action_events WHERE server_id = %(id)s AND request_id = %(request_id)s
            ORDER BY start_time, seq"""
        return self._views.query(sql, {"id": server_id, "request_id": request_id})

    def page(self, server_id: str, wanted: ActionFilter, limit: int, marker: str | None) -> list[dict[str, Any]]:
        conditions = ["server_id = %(id)s"]
        params: dict[str, Any] = {"id": server_id, "size": limit}
        if wanted.changes_since is not None:
            conditions.append("updated_at >= %(changes_since)s")
            params["changes_since"] = wanted.changes_since
        if wanted.changes_before is not None:
            conditions.append("updated_at <= %(changes_before)s")
            params["changes_before"] = wanted.changes_before
        if marker is not None:
            after = self.get(server_id, marker)
            if after is None:
                raise falcon.HTTPBadRequest(description=f"Marker {marker} could not be found.")
            conditions.append(
                "(start_time < %(after_start)s OR (start_time = %(after_start)s AND seq < %(after_seq)s))"
            )
            params |= {"after_start": after["start_time"], "after_seq": after["seq"]}
        sql = f"""SELECT * FROM instance_actions WHERE {" AND ".join(conditions)}
            ORDER BY start_time DESC, seq DESC LIMIT %(size)s"""
        return self._views.query(sql, params)
