"""SQL over the read-model tables, in the dialect subset PostgreSQL and SQLite share.

The query app reads nothing else: no aggregates, no event store (except the
notification position it waits for, see app.py).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import falcon

from domain.states import server_status
from projections.views import ViewStore
from query_api.params import Page

_SERVERS = """SELECT s.*, h.state AS host_state, h.status AS host_service_status
    FROM servers s LEFT JOIN hypervisors h ON h.hostname = s.host"""
_NEWEST_FIRST = " ORDER BY s.created_at DESC, s.id DESC LIMIT %(size)s"
_OLDER_THAN_MARKER = "(s.created_at < %(after_created)s OR (s.created_at = %(after_created)s AND s.id < %(after_id)s))"
_SCAN_SIZE = 100


def _marker_not_found(marker: str) -> falcon.HTTPBadRequest:
    return falcon.HTTPBadRequest(description=f"marker [{marker}] not found")


@dataclass(frozen=True)
class ServerFilter:
    """What a listing asks for; name and status are matched in Python, the rest in SQL."""

    project_id: str | None  # None: every project (admins with all_tenants)
    deleted: bool = False
    host: str | None = None
    name: re.Pattern[str] | None = None
    statuses: frozenset[str] = frozenset()

    def admits(self, server: dict[str, Any]) -> bool:
        if self.name is not None and not self.name.search(server["name"]):
            return False
        return not self.statuses or server_status(server["vm_state"], server["task_state"]) in self.statuses


class ServerQueries:
    def __init__(self, views: ViewStore) -> None:
        self._views = views

    def get(self, server_id: str) -> dict[str, Any] | None:
        rows = self._views.query(f"{_SERVERS} WHERE s.id = %(id)s", {"id": server_id})
        return rows[0] if rows else None

    def page(self, wanted: ServerFilter, page: Page) -> list[dict[str, Any]]:
        """Newest first (Nova's default sort), `page.limit` servers after the marker."""
        conditions, params = self._conditions(wanted)
        if page.marker is not None:
            params |= self._marker_position(page.marker, wanted)
        found: list[dict[str, Any]] = []
        while len(found) < page.limit:
            where = " AND ".join([*conditions, _OLDER_THAN_MARKER] if "after_id" in params else conditions)
            size = max(page.limit, _SCAN_SIZE)
            batch = self._views.query(f"{_SERVERS} WHERE {where}{_NEWEST_FIRST}", params | {"size": size})
            found += [server for server in batch if wanted.admits(server)]
            if len(batch) < size:
                break
            params |= {"after_created": batch[-1]["created_at"], "after_id": batch[-1]["id"]}
        return found[: page.limit]

    def _conditions(self, wanted: ServerFilter) -> tuple[list[str], dict[str, Any]]:
        conditions = ["s.vm_state = 'deleted'" if wanted.deleted else "s.vm_state <> 'deleted'"]
        params: dict[str, Any] = {}
        if wanted.project_id is not None:
            conditions.append("s.project_id = %(project_id)s")
            params["project_id"] = wanted.project_id
        if wanted.host is not None:
            conditions.append("s.host = %(host)s")
            params["host"] = wanted.host
        return conditions, params

    def _marker_position(self, marker: str, wanted: ServerFilter) -> dict[str, Any]:
        sql = "SELECT created_at, id FROM servers WHERE id = %(id)s"
        if wanted.project_id is not None:
            sql += " AND project_id = %(project_id)s"
        rows = self._views.query(sql, {"id": marker, "project_id": wanted.project_id})
        if not rows:
            raise _marker_not_found(marker)
        return {"after_created": rows[0]["created_at"], "after_id": rows[0]["id"]}


class FlavorQueries:
    def __init__(self, views: ViewStore) -> None:
        self._views = views

    def get(self, flavorid: str) -> dict[str, Any] | None:
        rows = self._views.query("SELECT * FROM flavors WHERE flavorid = %(id)s", {"id": flavorid})
        return _flavor(rows[0]) if rows else None

    def page(
        self, is_public: bool | None, min_ram: int | None, min_disk: int | None, page: Page
    ) -> list[dict[str, Any]]:
        """Flavors by flavorid (Nova's default sort); `is_public=None` means public and private."""
        visible = "1 = 1" if is_public is None else "is_public = %(is_public)s"
        conditions = [visible]
        params = {"is_public": is_public, "min_ram": min_ram, "min_disk": min_disk, "size": page.limit}
        if page.marker is not None:
            marker_sql = f"SELECT flavorid FROM flavors WHERE {visible} AND flavorid = %(marker)s"
            if not self._views.query(marker_sql, params | {"marker": page.marker}):
                raise _marker_not_found(page.marker)
            conditions.append("flavorid > %(marker)s")
            params["marker"] = page.marker
        if min_ram is not None:
            conditions.append("ram >= %(min_ram)s")
        if min_disk is not None:
            conditions.append("disk >= %(min_disk)s")
        sql = f"SELECT * FROM flavors WHERE {' AND '.join(conditions)} ORDER BY flavorid LIMIT %(size)s"
        return [_flavor(row) for row in self._views.query(sql, params)]


def _flavor(row: dict[str, Any]) -> dict[str, Any]:
    return row | {"extra_specs": json.loads(row["extra_specs"]), "is_public": bool(row["is_public"])}


def hypervisors(views: ViewStore) -> list[dict[str, Any]]:
    return views.query("SELECT * FROM hypervisors ORDER BY hostname")
