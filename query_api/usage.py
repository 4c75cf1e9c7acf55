"""GET /os-simple-tenant-usage (+/{project_id}): what each project's servers used
in a time window, from the servers view.

A server counts for the part of [launched_at, terminated_at) that falls in the
window: hours, and hours times its flavor's vcpus, memory and disk.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import falcon

from chronova import web
from projections.views import ViewStore
from query_api import params

LINKS_SINCE = (2, 40)
STRICT_QUERY_SINCE = (2, 75)
_INDEX_PARAMS = frozenset({"start", "end", "detailed", "limit", "marker"})
_SHOW_PARAMS = frozenset({"start", "end", "limit", "marker"})
_FORMATS = ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%d %H:%M:%S.%f")
_COLLECTION = "os-simple-tenant-usage"


@dataclass(frozen=True)
class Window:
    start: datetime
    stop: datetime


def window(req: falcon.Request, now: datetime) -> Window:
    """Nova's window: naive UTC times in one of three formats, both defaulting to
    now; a stop in the future is cut at now once the pair is known to be in order."""
    raw_start, raw_end = _first(req, "start"), _first(req, "end")
    start, stop = _moment(raw_start, now), _moment(raw_end, now)
    if not start < stop and (raw_start or raw_end):
        raise falcon.HTTPBadRequest(description="Invalid start time. The start time cannot occur after the end time.")
    return Window(start=start, stop=min(stop, now))


def _first(req: falcon.Request, name: str) -> str | None:
    values = params.all_values(req, name)
    return values[0] if values else None


def _moment(raw: str | None, now: datetime) -> datetime:
    if not raw:
        return now
    for layout in _FORMATS:
        try:
            return datetime.strptime(raw, layout).replace(tzinfo=UTC)
        except ValueError:
            continue
    raise falcon.HTTPBadRequest(description="Invalid datetime string: Datetime is in invalid format")


def _naive(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") if moment else None


def _when(iso: str) -> datetime:
    return datetime.fromisoformat(iso).astimezone(UTC)


class UsageQueries:
    def __init__(self, views: ViewStore) -> None:
        self._views = views

    def active(self, period: Window, project_id: str | None, page: params.Page) -> list[dict[str, Any]]:
        """Servers that ran during the window, in Nova's (project, uuid) order, a page of them.

        The window is applied here rather than in SQL: timestamps are ISO text,
        and text order is collation-dependent on PostgreSQL."""
        if period.start > period.stop:  # a window starting in the future, its end cut at now
            return []
        sql = "SELECT id, project_id, name, vm_state, flavor, launched_at, terminated_at FROM servers"
        sql += " WHERE launched_at IS NOT NULL"
        if project_id is not None:
            sql += " AND project_id = %(project_id)s"
        servers = sorted(
            (row for row in self._views.query(sql, {"project_id": project_id}) if _ran_during(row, period)),
            key=lambda row: (row["project_id"], row["id"]),
        )
        if page.marker is not None:
            after = self._position(page.marker)
            servers = [row for row in servers if (row["project_id"], row["id"]) > after]
        return servers[: page.limit]

    def _position(self, marker: str) -> tuple[str, str]:
        """Nova looks the marker up among all servers, deleted and other projects' too."""
        rows = self._views.query("SELECT project_id, id FROM servers WHERE id = %(id)s", {"id": marker})
        if not rows:
            raise falcon.HTTPBadRequest(description=f"Marker {marker} could not be found.")
        return rows[0]["project_id"], rows[0]["id"]


def _ran_during(server: dict[str, Any], period: Window) -> bool:
    terminated = server["terminated_at"]
    return _when(server["launched_at"]) < period.stop and (terminated is None or _when(terminated) > period.start)


def server_usage(server: dict[str, Any], period: Window, now: datetime) -> dict[str, Any]:
    launched = _when(server["launched_at"])
    terminated = _when(server["terminated_at"]) if server["terminated_at"] else None
    counted_until = min(period.stop, terminated) if terminated else period.stop
    flavor = json.loads(server["flavor"])
    return {
        "instance_id": server["id"],
        "name": server["name"],
        "hours": (counted_until - max(launched, period.start)).total_seconds() / 3600.0,
        "memory_mb": flavor["ram"],
        "local_gb": flavor["disk"] + flavor["ephemeral"],
        "vcpus": flavor["vcpus"],
        "tenant_id": server["project_id"],
        "flavor": flavor["name"],
        "started_at": _naive(launched),
        "ended_at": _naive(terminated),
        "state": "terminated" if terminated else server["vm_state"],
        "uptime": int(((terminated or now) - launched).total_seconds()),
    }


def tenant_usages(usages: Iterable[dict[str, Any]], period: Window, detailed: bool) -> list[dict[str, Any]]:
    """One summary per project, in the order the servers came (by project)."""
    summaries: dict[str, dict[str, Any]] = {}
    for usage in usages:
        summary = summaries.get(usage["tenant_id"])
        if summary is None:
            summary = summaries[usage["tenant_id"]] = {
                "tenant_id": usage["tenant_id"],
                "total_local_gb_usage": 0,
                "total_vcpus_usage": 0,
                "total_memory_mb_usage": 0,
                "total_hours": 0,
                "start": _naive(period.start),
                "stop": _naive(period.stop),
            } | ({"server_usages": []} if detailed else {})
        summary["total_local_gb_usage"] += usage["local_gb"] * usage["hours"]
        summary["total_vcpus_usage"] += usage["vcpus"] * usage["hours"]
        summary["total_memory_mb_usage"] += usage["memory_mb"] * usage["hours"]
        summary["total_hours"] += usage["hours"]
        if detailed:
            summary["server_usages"].append(usage)
    return list(summaries.values())


class _UsageResource:
    def __init__(self, queries: UsageQueries) -> None:
        self._queries = queries

    def _usages(self, req: falcon.Request, project_id: str | None) -> tuple[Window, list[dict[str, Any]], params.Page]:
        now = datetime.now(UTC)
        period = window(req, now)
        page = params.page(req) if req.context.api_version >= LINKS_SINCE else params.Page(params.MAX_LIMIT, None)
        servers = self._queries.active(period, project_id, page)
        return period, [server_usage(server, period, now) for server in servers], page

    @staticmethod
    def _links(req: falcon.Request, path: str, usages: list[dict[str, Any]], page: params.Page, key: str) -> Any:
        if req.context.api_version < LINKS_SINCE:
            return {}
        return params.next_links(req, path, [{"id": usage["instance_id"]} for usage in usages], page, key)


class TenantUsagesResource(_UsageResource):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        web.require_admin(req, "os_compute_api:os-simple-tenant-usage:list")
        if req.context.api_version >= STRICT_QUERY_SINCE:
            params.only_known(req, _INDEX_PARAMS)
        period, usages, page = self._usages(req, None)
        detailed = _first(req, "detailed") == "1"
        resp.media = {"tenant_usages": tenant_usages(usages, period, detailed)}
        resp.media |= self._links(req, _COLLECTION, usages, page, "tenant_usages_links")

    on_head = on_get


class TenantUsageResource(_UsageResource):
    def on_get(self, req: falcon.Request, resp: falcon.Response, project_id: str) -> None:
        caller = req.context.caller
        if not (caller.is_admin or caller.project_id == project_id):
            web.require_admin(req, "os_compute_api:os-simple-tenant-usage:show")
        if req.context.api_version >= STRICT_QUERY_SINCE:
            params.only_known(req, _SHOW_PARAMS)
        period, usages, page = self._usages(req, project_id)
        summaries = tenant_usages(usages, period, detailed=True)
        resp.media = {"tenant_usage": summaries[0] if summaries else {}}
        resp.media |= self._links(req, f"{_COLLECTION}/{project_id}", usages, page, "tenant_usage_links")

    on_head = on_get


def add_routes(app: falcon.App, views: ViewStore) -> None:
    queries, prefix = UsageQueries(views), f"{web.API_PREFIX}/{_COLLECTION}"
    app.add_route(prefix, TenantUsagesResource(queries))
    app.add_route(f"{prefix}/{{project_id}}", TenantUsageResource(queries))
