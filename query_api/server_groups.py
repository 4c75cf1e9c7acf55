"""GET /os-server-groups (+/{id}): a project's groups and their live members.

The group renderer is shared with the command app (a create answers with
the group as a later GET shows it).
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any
from uuid import UUID

import falcon

from chronova import web
from domain.commands import RequestContext
from domain.server_group import group_not_found
from projections.views import ViewStore
from query_api import params
from query_api.services import refuse_unknown_params

if TYPE_CHECKING:
    from query_api.app import ReadYourWrites

Version = tuple[int, int]
MAX_OFFSET = 2**62  # far past any listing, and still a BIGINT
_DIGITS = re.compile(r"[0-9]+")


def group_body(group: Mapping[str, Any], version: Version) -> dict[str, Any]:
    """A group with `rules` as a dict and `members` as a list; `policies` before 2.64, `policy` from it."""
    body: dict[str, Any] = {"id": group["id"], "name": group["name"]}
    if version >= (2, 64):
        body |= {"policy": group["policy"], "rules": dict(group["rules"])}
    else:
        body |= {"policies": [group["policy"]], "metadata": {}}
    body["members"] = list(group["members"])
    if version >= (2, 13):
        body |= {"project_id": group["project_id"], "user_id": group["user_id"]}
    return body


def _with_members(views: ViewStore, rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    if not rows:
        return []
    names = {f"g{index}": row["id"] for index, row in enumerate(rows)}
    placeholders = ", ".join(f"%({name})s" for name in names)
    members: dict[str, list[str]] = defaultdict(list)
    sql = f"SELECT group_id, server_id FROM server_group_members WHERE group_id IN ({placeholders}) ORDER BY position"
    for member in views.query(sql, names):
        members[member["group_id"]].append(member["server_id"])
    return [row | {"rules": json.loads(row["rules"]), "members": members[row["id"]]} for row in rows]


def _non_negative(req: falcon.Request, name: str) -> int | None:
    """Nova's `limit`/`offset`: digits only, every value given; the last one counts."""
    values = params.all_values(req, name)
    for value in values:
        if value == "":
            raise falcon.HTTPBadRequest(
                description=f"Invalid input for query parameters {name}. Value: . '' is too short"
            )
        if not _DIGITS.fullmatch(value):
            raise falcon.HTTPBadRequest(
                description=f"Invalid input for query parameters {name}. Value: {value}. "
                f"'{value}' does not match '^[0-9]*$'"
            )
    return int(values[-1]) if values else None


class ServerGroupsResource:
    def __init__(self, views: ViewStore) -> None:
        self._views = views

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        caller: RequestContext = req.context.caller
        version = req.context.api_version
        if version >= (2, 75):
            refuse_unknown_params(req, ("all_projects", "limit", "offset"))
        limit, offset = _non_negative(req, "limit"), _non_negative(req, "offset")
        # Nova ignores all_projects from a member rather than refusing it.
        everyone = "all_projects" in req.params and caller.is_admin
        where = "" if everyone else " WHERE project_id = %(project_id)s"
        rows = self._views.query(
            f"SELECT * FROM server_groups{where} ORDER BY position LIMIT %(limit)s OFFSET %(offset)s",
            {
                "project_id": caller.project_id,
                "limit": min(limit or params.MAX_LIMIT, params.MAX_LIMIT),
                "offset": min(offset or 0, MAX_OFFSET),
            },
        )
        resp.media = {"server_groups": [group_body(group, version) for group in _with_members(self._views, rows)]}

    on_head = on_get


class ServerGroupResource:
    def __init__(self, views: ViewStore, read_your_writes: ReadYourWrites) -> None:
        self._views = views
        self._read_your_writes = read_your_writes

    def on_get(self, req: falcon.Request, resp: falcon.Response, group_id: str) -> None:
        caller: RequestContext = req.context.caller
        try:
            canonical = str(UUID(group_id))
        except ValueError:
            raise group_not_found(group_id) from None
        row = self._read_your_writes.find("server_groups", lambda: self._row(canonical))
        if row is None or not (caller.is_admin or row["project_id"] == caller.project_id):
            raise group_not_found(group_id)
        (group,) = _with_members(self._views, [row])
        resp.media = {"server_group": group_body(group, req.context.api_version)}

    on_head = on_get

    def _row(self, group_id: str) -> dict[str, Any] | None:
        rows = self._views.query("SELECT * FROM server_groups WHERE id = %(id)s", {"id": group_id})
        return rows[0] if rows else None


def add_routes(app: falcon.App, views: ViewStore, read_your_writes: ReadYourWrites) -> None:
    app.add_route(f"{web.API_PREFIX}/os-server-groups", ServerGroupsResource(views))
    app.add_route(f"{web.API_PREFIX}/os-server-groups/{{group_id}}", ServerGroupResource(views, read_your_writes))
