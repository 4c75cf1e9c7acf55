"""POST/DELETE /os-server-groups: a project's groups.

Before 2.64 a group is created with `policies` (a list of exactly one);
from 2.64 with `policy` and optional `rules`. The soft policies exist from 2.15.
"""

from __future__ import annotations

from typing import Any

import falcon
from marshmallow import fields, validate

from chronova import server_groups, web
from chronova.cloud import Cloud
from command_api.fields import MAX_INT, DigitInteger, Name
from command_api.schemas import _envelope, _load, _NovaSchema
from domain.server_group import POLICIES, ServerGroup
from projections.views import ViewStore
from query_api.server_groups import group_body

Version = tuple[int, int]
_HARD_POLICIES = ["anti-affinity", "affinity"]
_ONE_POLICY = validate.Length(min=1, max=1, error="Exactly one policy is allowed.")


class _GroupSchema(_NovaSchema):
    name = Name(required=True)
    policies = fields.List(fields.String(validate=validate.OneOf(_HARD_POLICIES)), required=True, validate=_ONE_POLICY)


class _GroupSchemaV215(_NovaSchema):
    name = Name(required=True)
    policies = fields.List(fields.String(validate=validate.OneOf(POLICIES)), required=True, validate=_ONE_POLICY)


class _RulesSchema(_NovaSchema):
    max_server_per_host = DigitInteger(validate=validate.Range(min=1, max=MAX_INT))


class _GroupSchemaV264(_NovaSchema):
    name = Name(required=True)
    policy = fields.String(required=True, validate=validate.OneOf(POLICIES))
    rules = fields.Nested(_RulesSchema())


def _schema(version: Version) -> _NovaSchema:
    if version >= (2, 64):
        return _GroupSchemaV264()
    return _GroupSchemaV215() if version >= (2, 15) else _GroupSchema()


def _fields(group: ServerGroup) -> dict[str, Any]:
    """The aggregate in the shape the query app renders."""
    names = ("name", "policy", "rules", "project_id", "user_id", "members")
    return {"id": str(group.id)} | {name: getattr(group, name) for name in names}


class ServerGroupsResource:
    def __init__(self, cloud: Cloud, views: ViewStore) -> None:
        self._cloud = cloud
        self._views = views

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        version = req.context.api_version
        loaded = _load(_schema(version), _envelope(web.read_json_body(req), "server_group"), "server_group")
        policy = loaded["policy"] if "policy" in loaded else loaded["policies"][0]
        rules = loaded.get("rules", {})
        if rules and policy != "anti-affinity":
            raise falcon.HTTPBadRequest(description="Only anti-affinity policy supports rules.")
        group = server_groups.create_group(self._cloud, self._views, req.context.caller, loaded["name"], policy, rules)
        resp.media = {"server_group": group_body(_fields(group), version)}


class ServerGroupResource:
    def __init__(self, cloud: Cloud) -> None:
        self._cloud = cloud

    def on_delete(self, req: falcon.Request, resp: falcon.Response, group_id: str) -> None:
        server_groups.delete_group(self._cloud, group_id, req.context.caller)
        resp.status = falcon.HTTP_204


def add_routes(app: falcon.App, cloud: Cloud, views: ViewStore) -> None:
    app.add_route(f"{web.API_PREFIX}/os-server-groups", ServerGroupsResource(cloud, views))
    app.add_route(f"{web.API_PREFIX}/os-server-groups/{{group_id}}", ServerGroupResource(cloud))
