"""GET /os-hypervisors and its sub-resources, from the hypervisors view (admins only).

The API's shape moved a lot: integer ids before 2.53 and uuids after, paging
from 2.33, hostname search and hosted servers as routes before 2.53 and as
query parameters after, statistics and uptime gone in 2.88.
"""

from __future__ import annotations

import re
from typing import Any
from uuid import UUID

import falcon

from chronova import web
from projections.views import ViewStore
from query_api import params, render

UUIDS_SINCE = (2, 53)
PAGING_SINCE = (2, 33)
REMOVED_IN = (2, 88)
EMPTY_SERVERS_SINCE = (2, 75)
_LIST_PARAMS = frozenset({"limit", "marker", "hypervisor_hostname_pattern", "with_servers"})
_HOSTNAME = re.compile(r"^[a-zA-Z0-9-._]*$")
_BOOLEANS = (True, "True", "TRUE", "true", "1", "ON", "On", "on", "YES", "Yes", "yes",
             False, "False", "FALSE", "false", "0", "OFF", "Off", "off", "NO", "No", "no")  # fmt: skip
_PAGING_WITH_PATTERN = "Paging over hypervisors with the hypervisor_hostname_pattern query parameter is not supported."


def _policy(req: falcon.Request, rule: str) -> None:
    web.require_admin(req, f"os_compute_api:os-hypervisors:{rule}")


def _not_found(hypervisor_id: str) -> falcon.HTTPNotFound:
    return falcon.HTTPNotFound(description=f"Hypervisor with ID '{hypervisor_id}' could not be found.")


def _no_match(pattern: str) -> falcon.HTTPNotFound:
    return falcon.HTTPNotFound(description=f"No hypervisor matching '{pattern}' could be found.")


class HypervisorQueries:
    """Compute nodes in Nova's id order (registration order here)."""

    def __init__(self, views: ViewStore) -> None:
        self._views = views

    def all(self) -> list[dict[str, Any]]:
        return self._views.query("SELECT * FROM hypervisors ORDER BY service_number")

    def page(self, page: params.Page, version: tuple[int, int]) -> list[dict[str, Any]]:
        hypervisors = self.all()
        if page.marker is not None:
            marker = next((h for h in hypervisors if str(_public_id(h, version)) == page.marker), None)
            if marker is None:
                raise falcon.HTTPBadRequest(description=f"marker [{page.marker}] not found")
            hypervisors = [h for h in hypervisors if h["service_number"] > marker["service_number"]]
        return hypervisors[: page.limit]

    def matching(self, pattern: str) -> list[dict[str, Any]]:
        """Nova matches `hostname LIKE %pattern%` (case-insensitively on its MySQL)."""
        like = "".join({"%": ".*", "_": "."}.get(char, re.escape(char)) for char in pattern)
        found = re.compile(like, re.IGNORECASE | re.DOTALL)
        return [h for h in self.all() if found.search(h["hostname"])]

    def get(self, hypervisor_id: str, version: tuple[int, int]) -> dict[str, Any]:
        """By uuid from 2.53 (400 for anything else), by integer id before (404 for anything else)."""
        if version >= UUIDS_SINCE:
            try:
                wanted: object = str(UUID(hypervisor_id))
            except ValueError:
                raise falcon.HTTPBadRequest(description=f"Invalid uuid {hypervisor_id}") from None
        else:
            try:
                wanted = int(hypervisor_id)
            except ValueError:
                raise _not_found(hypervisor_id) from None
        found = next((h for h in self.all() if _public_id(h, version) == wanted), None)
        if found is None:
            raise _not_found(hypervisor_id)
        return found

    def servers_on(self, hostname: str) -> list[dict[str, Any]]:
        sql = """SELECT id, name FROM servers WHERE host = %(host)s AND vm_state <> 'deleted'
                 ORDER BY created_at, id"""
        return self._views.query(sql, {"host": hostname})


def _public_id(hypervisor: dict[str, Any], version: tuple[int, int]) -> object:
    return hypervisor["id"] if version >= UUIDS_SINCE else hypervisor["service_number"]


def _with_servers(req: falcon.Request) -> bool:
    raw = params.last_value(req, "with_servers")
    if raw is None:
        return False
    if raw not in _BOOLEANS:
        raise params.invalid("with_servers", raw, f"{raw!r} is not one of {list(_BOOLEANS)!r}")
    return raw.lower() in web.TRUE_WORDS


def _hostname_pattern(req: falcon.Request) -> str | None:
    raw = params.last_value(req, "hypervisor_hostname_pattern")
    if raw is None:
        return None
    name = "hypervisor_hostname_pattern"
    if not raw:
        raise params.invalid(name, raw, f"{raw!r} is too short")
    if len(raw) > 255:
        raise params.invalid(name, raw, f"{raw!r} is too long")
    if not _HOSTNAME.match(raw):
        raise params.invalid(name, raw, f"{raw!r} does not match {_HOSTNAME.pattern!r}")
    return raw


def _single_values(req: falcon.Request, names: frozenset[str]) -> None:
    """From 2.53 each of these parameters may be given once."""
    for name in sorted(names):
        values = params.all_values(req, name)
        if len(values) > 1:
            raise params.invalid(name, values, f"{values!r} is too long")


def _with_hosted(
    queries: HypervisorQueries, body: dict[str, Any], hypervisor: dict[str, Any], version: tuple[int, int]
) -> dict[str, Any]:
    """`servers` when asked for: left out when empty before 2.75, an empty list after."""
    servers = queries.servers_on(hypervisor["hostname"])
    if servers or version >= EMPTY_SERVERS_SINCE:
        body["servers"] = render.hypervisor_servers(servers)
    return body


class HypervisorListResource:
    def __init__(self, queries: HypervisorQueries, detail: bool) -> None:
        self._queries = queries
        self._detail = detail

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        _policy(req, "list-detail" if self._detail else "list")
        version = req.context.api_version
        pattern, with_servers = None, False
        if version >= UUIDS_SINCE:
            params.only_known(req, _LIST_PARAMS)
            _single_values(req, _LIST_PARAMS)
            pattern, with_servers = _hostname_pattern(req), _with_servers(req)
        page = params.page(req) if version >= PAGING_SINCE else params.Page(params.MAX_LIMIT, None)
        if pattern is not None:
            if "limit" in req.params or page.marker is not None:
                raise falcon.HTTPBadRequest(description=_PAGING_WITH_PATTERN)
            hypervisors = self._queries.matching(pattern)
            if not hypervisors:
                raise _no_match(pattern)
        else:
            hypervisors = self._queries.page(page, version)
        items = [self._body(hypervisor, version, with_servers) for hypervisor in hypervisors]
        resp.media = {"hypervisors": items}
        if version >= PAGING_SINCE and pattern is None:
            path = "os-hypervisors/detail" if self._detail else "os-hypervisors"
            resp.media |= params.next_links(req, path, items, page, "hypervisors_links")

    on_head = on_get

    def _body(self, hypervisor: dict[str, Any], version: tuple[int, int], with_servers: bool) -> dict[str, Any]:
        render_one = render.hypervisor_detail if self._detail else render.hypervisor_summary
        body = render_one(hypervisor, version)
        return _with_hosted(self._queries, body, hypervisor, version) if with_servers else body


class HypervisorResource:
    def __init__(self, queries: HypervisorQueries) -> None:
        self._queries = queries

    def on_get(self, req: falcon.Request, resp: falcon.Response, hypervisor_id: str) -> None:
        _policy(req, "show")
        version = req.context.api_version
        with_servers = False
        if version >= UUIDS_SINCE:
            params.only_known(req, frozenset({"with_servers"}))
            _single_values(req, frozenset({"with_servers"}))
            with_servers = _with_servers(req)
        hypervisor = self._queries.get(hypervisor_id, version)
        body = render.hypervisor_detail(hypervisor, version)
        resp.media = {"hypervisor": _with_hosted(self._queries, body, hypervisor, version) if with_servers else body}

    on_head = on_get


class UptimeResource:
    """Before 2.88 only; agents report no uptime, so it is null as in the 2.88 detail."""

    def __init__(self, queries: HypervisorQueries) -> None:
        self._queries = queries

    def on_get(self, req: falcon.Request, resp: falcon.Response, hypervisor_id: str) -> None:
        version = req.context.api_version
        if version >= REMOVED_IN:
            raise falcon.HTTPNotFound()
        _policy(req, "uptime")
        hypervisor = self._queries.get(hypervisor_id, version)
        resp.media = {"hypervisor": render.hypervisor_summary(hypervisor, version) | {"uptime": None}}

    on_head = on_get


class StatisticsResource:
    def __init__(self, queries: HypervisorQueries) -> None:
        self._queries = queries

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        if req.context.api_version >= REMOVED_IN:
            raise falcon.HTTPNotFound()
        _policy(req, "statistics")
        resp.media = {"hypervisor_statistics": render.hypervisor_statistics(self._queries.all())}

    on_head = on_get


class SearchResource:
    """GET /os-hypervisors/{pattern}/search and /servers, before 2.53."""

    def __init__(self, queries: HypervisorQueries, with_servers: bool) -> None:
        self._queries = queries
        self._with_servers = with_servers

    def on_get(self, req: falcon.Request, resp: falcon.Response, hypervisor_id: str) -> None:
        version = req.context.api_version
        if version >= UUIDS_SINCE:
            raise falcon.HTTPNotFound()
        _policy(req, "servers" if self._with_servers else "search")
        hypervisors = self._queries.matching(hypervisor_id)
        if not hypervisors:
            raise _no_match(hypervisor_id)
        items = []
        for hypervisor in hypervisors:
            body = render.hypervisor_summary(hypervisor, version)
            items.append(_with_hosted(self._queries, body, hypervisor, version) if self._with_servers else body)
        resp.media = {"hypervisors": items}

    on_head = on_get


def add_routes(app: falcon.App, views: ViewStore) -> None:
    queries, prefix = HypervisorQueries(views), f"{web.API_PREFIX}/os-hypervisors"
    app.add_route(prefix, HypervisorListResource(queries, detail=False))
    app.add_route(f"{prefix}/detail", HypervisorListResource(queries, detail=True))
    app.add_route(f"{prefix}/statistics", StatisticsResource(queries))
    app.add_route(f"{prefix}/{{hypervisor_id}}", HypervisorResource(queries))
    app.add_route(f"{prefix}/{{hypervisor_id}}/uptime", UptimeResource(queries))
    app.add_route(f"{prefix}/{{hypervisor_id}}/search", SearchResource(queries, with_servers=False))
    app.add_route(f"{prefix}/{{hypervisor_id}}/servers", SearchResource(queries, with_servers=True))
