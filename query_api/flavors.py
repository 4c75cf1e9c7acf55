"""GET /flavors (+/detail, /{id}), os-extra_specs and os-flavor-access, from the flavors view.

Who sees which flavor follows Nova: everyone sees public flavors, a project
also the private ones it is on the access list of, an admin all of them (and
chooses with `is_public`). A flavor the caller may not see is not there (404).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import falcon

from chronova import web
from domain.commands import RequestContext
from domain.errors import NotFound
from projections.views import ViewStore
from query_api import params, render

if TYPE_CHECKING:
    from query_api.app import ReadYourWrites

STRICT_QUERY_SINCE = (2, 75)
_LIST_PARAMS = frozenset({"limit", "marker", "is_public", "minRam", "minDisk", "sort_key", "sort_dir"})
# Nova's sort keys -> view columns; `disabled` and `vcpu_weight` are the same for every flavor here.
SORT_KEYS = {
    "created_at": "created_at",
    "description": "description",
    "disabled": None,
    "ephemeral_gb": "ephemeral",
    "flavorid": "flavorid",
    "id": "seq",
    "is_public": "is_public",
    "memory_mb": "ram",
    "name": "name",
    "root_gb": "disk",
    "rxtx_factor": "rxtx_factor",
    "swap": "swap",
    "updated_at": "updated_at",
    "vcpu_weight": None,
    "vcpus": "vcpus",
}
SORT_DIRS = ("asc", "desc")
_ON_ACCESS_LIST = "aggregate_id IN (SELECT flavor_id FROM flavor_access WHERE project_id = %(project_id)s)"


@dataclass(frozen=True)
class FlavorFilter:
    """`public`: True = public plus the caller's private ones, False = private only, None = all."""

    public: bool | None
    project_id: str
    min_ram: int | None = None
    min_disk: int | None = None
    name: re.Pattern[str] | None = None  # before 2.75 only


@dataclass(frozen=True)
class FlavorOrder:
    column: str | None
    descending: bool

    def key(self, flavor: dict[str, Any]) -> tuple[Any, ...]:
        """Nova's (sort_key, id) order, NULLs before values as in its database."""
        value = flavor[self.column] if self.column else None
        return (value is not None, value if value is not None else 0, flavor["seq"])


class FlavorQueries:
    def __init__(self, views: ViewStore) -> None:
        self._views = views

    def get(self, flavorid: str) -> dict[str, Any] | None:
        rows = self._views.query("SELECT * FROM flavors WHERE flavorid = %(id)s", {"id": flavorid})
        return _flavor(rows[0]) if rows else None

    def visible(self, flavor: dict[str, Any], caller: RequestContext) -> bool:
        return flavor["is_public"] or caller.is_admin or caller.project_id in self.access_list(flavor)

    def shown_to(self, caller: RequestContext, flavor_id: str, flavor: dict[str, Any] | None) -> dict[str, Any]:
        """The flavor, or 404 when it is absent or private to other projects."""
        if flavor is None or not self.visible(flavor, caller):
            raise NotFound(f"Flavor {flavor_id} could not be found.")
        return flavor

    def access_list(self, flavor: dict[str, Any]) -> list[str]:
        sql = "SELECT project_id FROM flavor_access WHERE flavor_id = %(id)s ORDER BY project_id"
        return [row["project_id"] for row in self._views.query(sql, {"id": flavor["aggregate_id"]})]

    def page(
        self, wanted: FlavorFilter, order: FlavorOrder, page: params.Page, caller: RequestContext
    ) -> list[dict[str, Any]]:
        """Sorted and paged here rather than in SQL: flavors are few, and Python orders
        NULLs and text the same on PostgreSQL and SQLite."""
        flavors = sorted(self._filtered(wanted), key=order.key, reverse=order.descending)
        if page.marker is not None:
            marker = self.get(page.marker)
            if marker is None or not self.visible(marker, caller):
                raise falcon.HTTPBadRequest(description=f"marker [{page.marker}] not found")
            after = order.key(marker)
            flavors = [f for f in flavors if (order.key(f) < after if order.descending else order.key(f) > after)]
        return flavors[: page.limit]

    def _filtered(self, wanted: FlavorFilter) -> list[dict[str, Any]]:
        conditions, values = [], {"project_id": wanted.project_id, "public": True, "private": False}
        if wanted.public is True:
            conditions.append(f"(is_public = %(public)s OR {_ON_ACCESS_LIST})")
        elif wanted.public is False:
            conditions.append("is_public = %(private)s")
        if wanted.min_ram is not None:
            conditions.append("ram >= %(min_ram)s")
            values["min_ram"] = wanted.min_ram
        if wanted.min_disk is not None:
            conditions.append("disk >= %(min_disk)s")
            values["min_disk"] = wanted.min_disk
        where = " AND ".join(conditions) or "1 = 1"
        flavors = [_flavor(row) for row in self._views.query(f"SELECT * FROM flavors WHERE {where}", values)]
        return [f for f in flavors if wanted.name is None or wanted.name.search(f["name"])]


def _flavor(row: dict[str, Any]) -> dict[str, Any]:
    return row | {"extra_specs": json.loads(row["extra_specs"]), "is_public": bool(row["is_public"])}


# --- request parameters ---------------------------------------------------------------


def list_filter(req: falcon.Request, caller: RequestContext) -> FlavorFilter:
    version = req.context.api_version
    if version >= STRICT_QUERY_SINCE:
        params.only_known(req, _LIST_PARAMS)
    name = params.last_value(req, "name") if version < STRICT_QUERY_SINCE else None
    return FlavorFilter(
        public=_is_public(req) if caller.is_admin else True,
        project_id=caller.project_id,
        min_ram=params.integer(req, "minRam"),
        min_disk=params.integer(req, "minDisk"),
        name=params.name_pattern(name) if name is not None else None,
    )


def _is_public(req: falcon.Request) -> bool | None:
    """Only an admin chooses: absent means public (and own), `none` means all."""
    raw = params.last_value(req, "is_public")
    if raw is None:
        return True
    if raw.lower() == "none":
        return None
    if raw.lower() in web.TRUE_WORDS | web.FALSE_WORDS:
        return raw.lower() in web.TRUE_WORDS
    raise falcon.HTTPBadRequest(description=f"Invalid is_public filter [{raw}]")


def list_order(req: falcon.Request) -> FlavorOrder:
    for name, allowed in (("sort_key", list(SORT_KEYS)), ("sort_dir", list(SORT_DIRS))):
        for value in params.all_values(req, name):
            if value not in allowed:
                raise params.invalid(name, value, f"{value!r} is not one of {allowed!r}")
    key = params.last_value(req, "sort_key") or "flavorid"
    return FlavorOrder(column=SORT_KEYS[key], descending=params.last_value(req, "sort_dir") == "desc")


# --- resources ------------------------------------------------------------------------


class FlavorListResource:
    def __init__(self, flavors: FlavorQueries, detail: bool) -> None:
        self._flavors = flavors
        self._detail = detail

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        caller: RequestContext = req.context.caller
        wanted, order, page = list_filter(req, caller), list_order(req), params.page(req)
        version = req.context.api_version
        render_one = render.flavor_detail if self._detail else render.flavor_summary
        items = [render_one(req, row, version) for row in self._flavors.page(wanted, order, page, caller)]
        path = "flavors/detail" if self._detail else "flavors"
        resp.media = {"flavors": items} | params.next_links(req, path, items, page, "flavors_links")

    on_head = on_get


class FlavorResource:
    def __init__(self, flavors: FlavorQueries, read_your_writes: ReadYourWrites) -> None:
        self._flavors = flavors
        self._read_your_writes = read_your_writes

    def on_get(self, req: falcon.Request, resp: falcon.Response, flavor_id: str) -> None:
        found = self._read_your_writes.find("flavors", lambda: self._flavors.get(flavor_id))
        flavor = self._flavors.shown_to(req.context.caller, flavor_id, found)
        resp.media = {"flavor": render.flavor_detail(req, flavor, req.context.api_version)}

    on_head = on_get


class _VisibleFlavor:
    def __init__(self, flavors: FlavorQueries) -> None:
        self._flavors = flavors

    def _flavor(self, req: falcon.Request, flavor_id: str) -> dict[str, Any]:
        return self._flavors.shown_to(req.context.caller, flavor_id, self._flavors.get(flavor_id))


class ExtraSpecsResource(_VisibleFlavor):
    def on_get(self, req: falcon.Request, resp: falcon.Response, flavor_id: str) -> None:
        resp.media = {"extra_specs": self._flavor(req, flavor_id)["extra_specs"]}

    on_head = on_get


class ExtraSpecResource(_VisibleFlavor):
    def on_get(self, req: falcon.Request, resp: falcon.Response, flavor_id: str, key: str) -> None:
        specs = self._flavor(req, flavor_id)["extra_specs"]
        if key not in specs:
            raise NotFound(f"Flavor {flavor_id} has no extra specs with key {key}.")
        resp.media = {key: specs[key]}

    on_head = on_get


class FlavorAccessResource(_VisibleFlavor):
    def on_get(self, req: falcon.Request, resp: falcon.Response, flavor_id: str) -> None:
        web.require_admin(req, "os_compute_api:os-flavor-access")
        flavor = self._flavor(req, flavor_id)
        if flavor["is_public"]:
            raise NotFound("Access list not available for public flavors.")
        resp.media = access_body(flavor_id, self._flavors.access_list(flavor))

    on_head = on_get


def access_body(flavor_id: str, projects: list[str]) -> dict[str, Any]:
    return {"flavor_access": [{"flavor_id": flavor_id, "tenant_id": project} for project in projects]}


def add_routes(app: falcon.App, views: ViewStore, read_your_writes: ReadYourWrites) -> None:
    flavors, prefix = FlavorQueries(views), f"{web.API_PREFIX}/flavors"
    app.add_route(prefix, FlavorListResource(flavors, detail=False))
    app.add_route(f"{prefix}/detail", FlavorListResource(flavors, detail=True))
    app.add_route(f"{prefix}/{{flavor_id}}", FlavorResource(flavors, read_your_writes))
    app.add_route(f"{prefix}/{{flavor_id}}/os-extra_specs", ExtraSpecsResource(flavors))
    app.add_route(f"{prefix}/{{flavor_id}}/os-extra_specs/{{key}}", ExtraSpecResource(flavors))
    app.add_route(f"{prefix}/{{flavor_id}}/os-flavor-access", FlavorAccessResource(flavors))
