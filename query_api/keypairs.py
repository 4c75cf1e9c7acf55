"""GET /os-keypairs and /os-keypairs/{name}, from the keypairs view.

Keypairs belong to a user: everyone sees their own; from 2.10 an admin may
name another user with `?user_id=`. The request helpers here serve the
command side's DELETE too, so both read a request the same way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import falcon

from chronova import web
from domain.errors import NotFound
from domain.keypair import not_found_message
from projections.views import ViewStore
from query_api import params
from query_api.render import usage_time

if TYPE_CHECKING:
    from query_api.app import ReadYourWrites

Version = tuple[int, int]
STRICT_QUERY_SINCE = (2, 75)  # from 2.75 Nova refuses query parameters it does not know
_SUMMARY = ("name", "public_key", "fingerprint")


def known_params_only(req: falcon.Request, allowed: frozenset[str], since: Version = STRICT_QUERY_SINCE) -> None:
    unknown = [name for name in req.params if name not in allowed]
    if unknown and req.context.api_version >= since:
        quoted = ", ".join(repr(name) for name in unknown)
        verb = "was" if len(unknown) == 1 else "were"
        raise falcon.HTTPBadRequest(description=f"Additional properties are not allowed ({quoted} {verb} unexpected)")


def target_user(req: falcon.Request, action: str) -> str:
    """Whose keypairs: the caller's, or from 2.10 `?user_id=` (the first one given), admins only for others."""
    caller = req.context.caller
    user_id = caller.user_id
    if req.context.api_version >= (2, 10):
        user_id = (req.get_param_as_list("user_id") or [None])[0] or caller.user_id
    if user_id != caller.user_id:
        web.require_admin(req, f"os_compute_api:os-keypairs:{action}")
    return user_id


def keypair_body(keypair: dict[str, Any], version: Version, names: tuple[str, ...]) -> dict[str, Any]:
    """The named fields, plus `type` from 2.2."""
    body = {name: keypair[name] for name in names}
    if version >= (2, 2):
        body["type"] = keypair["key_type"]
    return body


def _shown(row: dict[str, Any]) -> dict[str, Any]:
    """A view row with Nova's show-only fields; soft-delete fields exist but are never set."""
    return row | {
        "id": row["serial"],
        "created_at": usage_time(row["created_at"]),
        "deleted": False,
        "deleted_at": None,
        "updated_at": None,
    }


class KeypairListResource:
    def __init__(self, views: ViewStore, read_your_writes: ReadYourWrites) -> None:
        self._views = views
        self._read_your_writes = read_your_writes

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        version = req.context.api_version
        paged = version >= (2, 35)
        known_params_only(req, frozenset({"user_id", "limit", "marker"}))
        user_id = target_user(req, "index")
        page = params.page(req) if paged else params.Page(limit=params.MAX_LIMIT, marker=None)
        self._read_your_writes.caught_up("keypairs")
        rows = self._rows(user_id, page)
        body: dict[str, Any] = {"keypairs": [{"keypair": keypair_body(row, version, _SUMMARY)} for row in rows]}
        if paged and rows and len(rows) == page.limit:
            body["keypairs_links"] = [{"rel": "next", "href": _next_href(req, rows[-1]["name"])}]
        resp.media = body

    on_head = on_get  # monitors probe with HEAD; Falcon sends no body for it

    def _rows(self, user_id: str, page: params.Page) -> list[dict[str, Any]]:
        """By name, as Nova sorts them; the marker is a name the user holds."""
        query = {"user_id": user_id, "deleted": False, "marker": page.marker, "size": page.limit}
        mine = "user_id = %(user_id)s AND deleted = %(deleted)s"
        after = ""
        if page.marker is not None:
            if not self._views.query(f"SELECT 1 FROM keypairs WHERE {mine} AND name = %(marker)s", query):
                raise falcon.HTTPBadRequest(description=f"Marker {page.marker} could not be found.")
            after = " AND name > %(marker)s"
        return self._views.query(f"SELECT * FROM keypairs WHERE {mine}{after} ORDER BY name LIMIT %(size)s", query)


def _next_href(req: falcon.Request, last_name: str) -> str:
    pairs = [(key, value) for key in req.params if key != "marker" for value in params.all_values(req, key)]
    return f"{web.collection_href(req, 'os-keypairs')}?{urlencode([*pairs, ('marker', last_name)])}"


class KeypairResource:
    def __init__(self, views: ViewStore, read_your_writes: ReadYourWrites) -> None:
        self._views = views
        self._read_your_writes = read_your_writes

    def on_get(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        known_params_only(req, frozenset({"user_id"}))
        user_id = target_user(req, "show")
        row = self._read_your_writes.find("keypairs", lambda: self._live(user_id, name))
        if row is None:
            raise NotFound(not_found_message(user_id, name))
        names = (*_SUMMARY, "user_id", "created_at", "deleted", "deleted_at", "id", "updated_at")
        resp.media = {"keypair": keypair_body(_shown(row), req.context.api_version, names)}

    on_head = on_get

    def _live(self, user_id: str, name: str) -> dict[str, Any] | None:
        rows = self._views.query(
            "SELECT * FROM keypairs WHERE user_id = %(user_id)s AND name = %(name)s AND deleted = %(deleted)s",
            {"user_id": user_id, "name": name, "deleted": False},
        )
        return rows[0] if rows else None


def add_routes(app: falcon.App, views: ViewStore, read_your_writes: ReadYourWrites) -> None:
    app.add_route(f"{web.API_PREFIX}/os-keypairs", KeypairListResource(views, read_your_writes))
    app.add_route(f"{web.API_PREFIX}/os-keypairs/{{name}}", KeypairResource(views, read_your_writes))
