"""The query app: GET requests answered from the read models.

Reads never load aggregates. The one tie to the event store is read-your-writes
(ARCHITECTURE.md invariant 7): a server or flavor missing from its view may be
one the caller just created, so the app waits (bounded) for the view to reach
the store's current position before it answers 404.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

import falcon

from chronova import web
from chronova.cloud import Cloud
from chronova.config import Settings
from domain.commands import RequestContext
from domain.errors import NotFound
from projections.views import ViewStore
from query_api import params, render
from query_api.queries import FlavorQueries, ServerFilter, ServerQueries, hypervisors

READ_YOUR_WRITES_TIMEOUT = 3.0


def _forbidden(policy: str) -> falcon.HTTPForbidden:
    return falcon.HTTPForbidden(description=f"Policy doesn't allow {policy} to be performed.")


class _Readable:
    """HEAD answers as GET does (Falcon sends no body for HEAD); monitors probe with it."""

    def on_head(self, req: falcon.Request, resp: falcon.Response, **params: str) -> None:
        self.on_get(req, resp, **params)  # type: ignore[attr-defined]


class ReadYourWrites:
    """Looks a row up; when absent, waits for the view to catch up and looks once more."""

    def __init__(self, cloud: Cloud, views: ViewStore) -> None:
        self._cloud = cloud
        self._views = views

    def find(self, view: str, lookup: Callable[[], dict[str, Any] | None]) -> dict[str, Any] | None:
        row = lookup()
        if row is None:
            position = self._cloud.recorder.max_notification_id() or 0
            self._views.wait_for(view, position, timeout=READ_YOUR_WRITES_TIMEOUT)
            row = lookup()
        return row


# --- versions ---------------------------------------------------------------------------


def _version_entry(req: falcon.Request) -> dict[str, Any]:
    return {
        "id": "v2.1",
        "status": "CURRENT",
        "version": web.version_text(web.MAX_VERSION),
        "min_version": web.version_text(web.MIN_VERSION),
        "updated": "2013-07-23T11:33:21Z",
        "links": [{"rel": "self", "href": f"{req.prefix}{web.API_PREFIX}/"}],
    }


class VersionsResource(_Readable):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"versions": [_version_entry(req)]}


class VersionResource(_Readable):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        entry = _version_entry(req)
        entry["links"].append({"rel": "describedby", "type": "text/html", "href": "http://docs.openstack.org/"})
        entry["media-types"] = [
            {"base": "application/json", "type": "application/vnd.openstack.compute+json;version=2.1"}
        ]
        resp.media = {"version": entry}


# --- servers ----------------------------------------------------------------------------


class ServerListResource(_Readable):
    """GET /servers and /servers/detail: same filters and paging, two renderings."""

    def __init__(self, servers: ServerQueries, detail: bool) -> None:
        self._servers = servers
        self._detail = detail

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        caller: RequestContext = req.context.caller
        page = params.page(req)
        rows = self._servers.page(self._filter(req, caller), page)
        version = req.context.api_version
        if self._detail:
            items = [render.server_detail(req, row, version, caller.is_admin) for row in rows]
        else:
            items = [render.server_summary(req, row) for row in rows]
        path = "servers/detail" if self._detail else "servers"
        resp.media = {"servers": items} | params.next_links(req, path, items, page, "servers_links")

    def _filter(self, req: falcon.Request, caller: RequestContext) -> ServerFilter:
        project_id: str | None = caller.project_id
        if params.boolean(req, "all_tenants", empty=True):
            if not caller.is_admin:
                raise _forbidden(f"os_compute_api:servers:{'detail' if self._detail else 'index'}:get_all_tenants")
            project_id = params.last_value(req, "project_id") or params.last_value(req, "tenant_id")
        name = params.last_value(req, "name")
        name_pattern = params.name_pattern(name) if name is not None else None
        return ServerFilter(
            project_id=project_id,
            # Only admins may see deleted servers or filter by host; others' filters are ignored, as in Nova.
            deleted=caller.is_admin and bool(params.boolean(req, "deleted", empty=False)),
            host=params.last_value(req, "host") if caller.is_admin else None,
            name=name_pattern,
            statuses=frozenset(status.upper() for status in params.all_values(req, "status")),
        )


class ServerResource(_Readable):
    def __init__(self, servers: ServerQueries, read_your_writes: ReadYourWrites) -> None:
        self._servers = servers
        self._read_your_writes = read_your_writes

    def on_get(self, req: falcon.Request, resp: falcon.Response, server_id: str) -> None:
        caller: RequestContext = req.context.caller
        try:
            canonical_id = str(UUID(server_id))
        except ValueError:
            raise NotFound(f"Instance {server_id} could not be found.") from None
        server = self._read_your_writes.find("servers", lambda: self._servers.get(canonical_id))
        if (
            server is None
            or server["vm_state"] == "deleted"
            or not (caller.is_admin or server["project_id"] == caller.project_id)
        ):
            raise NotFound(f"Instance {server_id} could not be found.")
        body = render.server_detail(req, server, req.context.api_version, caller.is_admin, single=True)
        resp.media = {"server": body}


# --- flavors ----------------------------------------------------------------------------


class FlavorListResource(_Readable):
    def __init__(self, flavors: FlavorQueries, detail: bool) -> None:
        self._flavors = flavors
        self._detail = detail

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        page = params.page(req)
        rows = self._flavors.page(
            self._is_public(req, req.context.caller),
            params.integer(req, "minRam"),
            params.integer(req, "minDisk"),
            page,
        )
        version = req.context.api_version
        render_one = render.flavor_detail if self._detail else render.flavor_summary
        items = [render_one(req, row, version) for row in rows]
        path = "flavors/detail" if self._detail else "flavors"
        resp.media = {"flavors": items} | params.next_links(req, path, items, page, "flavors_links")

    @staticmethod
    def _is_public(req: falcon.Request, caller: RequestContext) -> bool | None:
        """Admins see public flavors unless they ask `is_public=None` (all) or false; others public only."""
        if not caller.is_admin:
            return True
        raw = params.last_value(req, "is_public")
        if raw is not None and raw.lower() == "none":
            return None
        chosen = params.boolean(req, "is_public", empty=True)
        return True if chosen is None else chosen


class FlavorResource(_Readable):
    def __init__(self, flavors: FlavorQueries, read_your_writes: ReadYourWrites) -> None:
        self._flavors = flavors
        self._read_your_writes = read_your_writes

    def on_get(self, req: falcon.Request, resp: falcon.Response, flavor_id: str) -> None:
        flavor = self._read_your_writes.find("flavors", lambda: self._flavors.get(flavor_id))
        if flavor is None or not (flavor["is_public"] or req.context.caller.is_admin):
            raise NotFound(f"Flavor {flavor_id} could not be found.")
        resp.media = {"flavor": render.flavor_detail(req, flavor, req.context.api_version)}


# --- hypervisors ------------------------------------------------------------------------


class HypervisorDetailResource(_Readable):
    def __init__(self, views: ViewStore) -> None:
        self._views = views

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        if not req.context.caller.is_admin:
            raise _forbidden("os_compute_api:os-hypervisors:list-detail")
        version = req.context.api_version
        resp.media = {"hypervisors": [render.hypervisor_detail(row, version) for row in hypervisors(self._views)]}


def create_app(cloud: Cloud, views: ViewStore, settings: Settings) -> falcon.App:
    app = web.create_nova_app(settings)
    servers, flavors = ServerQueries(views), FlavorQueries(views)
    read_your_writes = ReadYourWrites(cloud, views)
    prefix = web.API_PREFIX
    app.add_route("/", VersionsResource())
    app.add_route(prefix, VersionResource())
    app.add_route(f"{prefix}/servers", ServerListResource(servers, detail=False))
    app.add_route(f"{prefix}/servers/detail", ServerListResource(servers, detail=True))
    app.add_route(f"{prefix}/servers/{{server_id}}", ServerResource(servers, read_your_writes))
    app.add_route(f"{prefix}/flavors", FlavorListResource(flavors, detail=False))
    app.add_route(f"{prefix}/flavors/detail", FlavorListResource(flavors, detail=True))
    app.add_route(f"{prefix}/flavors/{{flavor_id}}", FlavorResource(flavors, read_your_writes))
    app.add_route(f"{prefix}/os-hypervisors/detail", HypervisorDetailResource(views))
    return app
