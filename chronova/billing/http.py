"""The billing process's HTTP face: Nova's os-simple-tenant-usage answered from billing's own records,
and the export (`GET /v2.1/os-billing-usage?format=csv|json&since=&until=&project_id=`, admins).

Same tokens, microversions and error bodies as the Compute API (chronova.web). Where Nova's usage counts
every hour from launch to termination, `hours` here is the billed time (running, stopped, shelved), and
the totals are resource hours: vcpus, memory and disk times the hours the server held them (see
chronova/billing/__init__.py), summed over every flavor it had in the window.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import falcon

from chronova import web
from chronova.billing import export
from chronova.billing.fold import ServerState
from chronova.billing.periods import BillingError, checked_window
from chronova.billing.store import BillingStore
from chronova.billing.usage import UsageRecord, Window, usage
from chronova.config import Settings
from query_api import params
from query_api.usage import LINKS_SINCE, STRICT_QUERY_SINCE
from query_api.usage import window as nova_window

_COLLECTION = "os-simple-tenant-usage"
_INDEX_PARAMS = frozenset({"start", "end", "detailed", "limit", "marker"})
_SHOW_PARAMS = frozenset({"start", "end", "limit", "marker"})
_EXPORT_PARAMS = frozenset({"format", "since", "until", "project_id"})
Clock = Callable[[], datetime]


def _naive(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") if moment else None


def server_usage(state: ServerState, records: list[UsageRecord], now: datetime) -> dict[str, Any]:
    """One server's entry, Nova's shape, on the flavor it has now."""
    launched = state.launched_at or state.since
    ended = state.terminated_at
    return {
        "instance_id": state.server_id,
        "name": state.name,
        "hours": sum(record.hours for record in records),
        "memory_mb": state.flavor.ram_mb,
        "local_gb": state.flavor.disk_gb,
        "vcpus": state.flavor.vcpus,
        "tenant_id": state.project_id,
        "flavor": state.flavor.name,
        "started_at": _naive(launched),
        "ended_at": _naive(ended),
        "state": "terminated" if ended else state.vm_state,
        "uptime": int(((ended or now) - launched).total_seconds()),
    }


def summary(project_id: str, records: list[UsageRecord], period: Window) -> dict[str, Any]:
    return {
        "tenant_id": project_id,
        "total_local_gb_usage": sum(record.disk_gb_hours for record in records),
        "total_vcpus_usage": sum(record.vcpu_hours for record in records),
        "total_memory_mb_usage": sum(record.ram_mb_hours for record in records),
        "total_hours": sum(record.hours for record in records),
        "start": _naive(period.since),
        "stop": _naive(period.until),
    }


class _Usage:
    def __init__(self, store: BillingStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    def tenant_usages(self, req: falcon.Request, project_id: str | None, detailed: bool) -> tuple[list, list]:
        """Summaries per project in Nova's (project, server) order over a page of servers; and that page."""
        now = self._clock()
        nova = nova_window(req, now)
        period = Window(nova.start, nova.stop)
        in_window = self._store.segments(period.since, period.until, project_id) if period.since < period.until else []
        by_server: dict[tuple[str, str], list[UsageRecord]] = {}
        for record in usage(in_window, period, now):
            by_server.setdefault((record.project_id, record.server_id), []).append(record)
        keys = sorted(by_server)
        page = params.page(req) if req.context.api_version >= LINKS_SINCE else params.Page(params.MAX_LIMIT, None)
        states = self._store.servers()
        if page.marker is not None:
            marker = states.get(page.marker)
            if marker is None:
                raise falcon.HTTPBadRequest(description=f"Marker {page.marker} could not be found.")
            keys = [key for key in keys if key > (marker.project_id, marker.server_id)]
        keys = keys[: page.limit]
        servers = [server_usage(states[server_id], by_server[project, server_id], now) for project, server_id in keys]
        summaries: dict[str, dict[str, Any]] = {}
        for (project, _), server in zip(keys, servers, strict=True):
            if project not in summaries:
                records = [r for key in keys if key[0] == project for r in by_server[key]]
                summaries[project] = summary(project, records, period) | ({"server_usages": []} if detailed else {})
            if detailed:
                summaries[project]["server_usages"].append(server)
        return list(summaries.values()), servers

    @staticmethod
    def _links(req: falcon.Request, path: str, servers: list[dict], key: str) -> dict[str, Any]:
        if req.context.api_version < LINKS_SINCE:
            return {}
        items = [{"id": server["instance_id"]} for server in servers]
        return params.next_links(req, path, items, params.page(req), key)


class TenantUsagesResource(_Usage):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        web.require_admin(req, "os_compute_api:os-simple-tenant-usage:list")
        if req.context.api_version >= STRICT_QUERY_SINCE:
            params.only_known(req, _INDEX_PARAMS)
        detailed = params.last_value(req, "detailed") == "1"
        summaries, servers = self.tenant_usages(req, None, detailed)
        resp.media = {"tenant_usages": summaries} | self._links(req, _COLLECTION, servers, "tenant_usages_links")


class TenantUsageResource(_Usage):
    def on_get(self, req: falcon.Request, resp: falcon.Response, project_id: str) -> None:
        caller = req.context.caller
        if not (caller.is_admin or caller.project_id == project_id):
            web.require_admin(req, "os_compute_api:os-simple-tenant-usage:show")
        if req.context.api_version >= STRICT_QUERY_SINCE:
            params.only_known(req, _SHOW_PARAMS)
        summaries, servers = self.tenant_usages(req, project_id, detailed=True)
        links = self._links(req, f"{_COLLECTION}/{project_id}", servers, "tenant_usage_links")
        resp.media = {"tenant_usage": summaries[0] if summaries else {}} | links


class ExportResource:
    """Usage rows for an invoice system; the same checks as `chronova billing export`."""

    def __init__(self, store: BillingStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        web.require_admin(req, "os_compute_api:os-billing-usage:export")
        params.only_known(req, _EXPORT_PARAMS)
        fmt = params.last_value(req, "format") or "json"
        if fmt not in export.FORMATS:
            raise falcon.HTTPBadRequest(description=f"format must be one of {', '.join(export.FORMATS)}")
        now = self._clock()
        project_id = params.last_value(req, "project_id")
        try:
            period = checked_window(params.last_value(req, "since"), params.last_value(req, "until"), now)
            if project_id is not None and not self._store.has_project(project_id):
                raise BillingError(f"project {project_id!r} has no billing records")
        except BillingError as e:
            raise falcon.HTTPBadRequest(description=str(e)) from None
        records = usage(self._store.segments(period.since, period.until, project_id), period, now)
        names = {state.server_id: state.name for state in self._store.servers(project_id).values()}
        resp.text = export.render(records, names, period, fmt)
        resp.content_type = "text/csv" if fmt == "csv" else falcon.MEDIA_JSON


def create_app(store: BillingStore, settings: Settings, clock: Clock = lambda: datetime.now(UTC)) -> falcon.App:
    app = web.create_nova_app(settings)
    prefix = f"{web.API_PREFIX}/{_COLLECTION}"
    app.add_route(prefix, TenantUsagesResource(store, clock))
    app.add_route(f"{prefix}/{{project_id}}", TenantUsageResource(store, clock))
    app.add_route(f"{web.API_PREFIX}/os-billing-usage", ExportResource(store, clock))
    return app
