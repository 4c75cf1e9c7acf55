"""PUT/DELETE /os-quota-sets/{project_id} and PUT /os-quota-class-sets/{name}: admins only.

Which quota keys a body may carry depends on the microversion exactly as
the response shows them (query_api/quotas.py decides both).
"""

from __future__ import annotations

import functools
import re
from typing import Any

import falcon
from marshmallow import Schema, fields

from chronova import web
from chronova.cloud import Cloud
from chronova.quotas import reset_project_quota, update_project_quota, update_quota_class
from command_api.fields import MAX_INT, WordBoolean
from command_api.schemas import _envelope, _load, _NovaSchema
from domain.quota import UNLIMITED
from projections.views import ViewStore
from query_api.keypairs import known_params_only
from query_api.quotas import class_resources, class_settable, project_resources, shown

Version = tuple[int, int]
_LIMIT_TEXT = re.compile(r"^-?[0-9]+$")


class QuotaLimit(fields.Field):
    """A limit as a JSON integer or a string of digits; -1 is unlimited."""

    default_error_messages = {
        "type": "{input} is not of type 'integer', 'string'",
        "pattern": "{input} does not match '^-?[0-9]+$'",
        "minimum": "{input} is less than the minimum of -1",
        "maximum": "{input} is greater than the maximum of 2147483647",
    }

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise self.make_error("type", input=repr(value))
        if isinstance(value, str) and not _LIMIT_TEXT.match(value):
            raise self.make_error("pattern", input=repr(value))
        limit = int(value)
        if limit < UNLIMITED:
            raise self.make_error("minimum", input=limit)
        if limit > MAX_INT:
            raise self.make_error("maximum", input=limit)
        return limit


@functools.cache
def _limits_schema(resources: tuple[str, ...], with_force: bool) -> Schema:
    """One schema per microversion's set of keys, built once."""
    declared: dict[str, fields.Field] = {resource: QuotaLimit() for resource in resources}
    if with_force:
        declared["force"] = WordBoolean()
    return _NovaSchema.from_dict(declared)()


class QuotaSetResource:
    def __init__(self, cloud: Cloud, views: ViewStore) -> None:
        self._cloud = cloud
        self._views = views

    def on_put(self, req: falcon.Request, resp: falcon.Response, project_id: str) -> None:
        web.require_admin(req, "os_compute_api:os-quota-sets:update")
        known_params_only(req, frozenset({"user_id"}))
        version = req.context.api_version
        resources = project_resources(version)
        body = _envelope(web.read_json_body(req), "quota_set")
        loaded = _load(_limits_schema(resources, with_force=True), body, "quota_set")
        if req.get_param("user_id"):
            raise falcon.HTTPBadRequest(description="Per-user quotas are not supported; set the project's quota.")
        force = loaded.pop("force", False)
        limits = update_project_quota(self._cloud, self._views, project_id, loaded, force, req.context.caller)
        resp.media = {"quota_set": shown(limits, resources)}

    def on_delete(self, req: falcon.Request, resp: falcon.Response, project_id: str) -> None:
        """Per-user quotas are never set here, so deleting a user's (`?user_id=`) has nothing to remove."""
        web.require_admin(req, "os_compute_api:os-quota-sets:delete")
        known_params_only(req, frozenset({"user_id"}))
        if not req.get_param("user_id"):
            reset_project_quota(self._cloud, project_id, req.context.caller)
        resp.status = falcon.HTTP_202


class QuotaClassSetResource:
    def __init__(self, cloud: Cloud) -> None:
        self._cloud = cloud

    def on_put(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        web.require_admin(req, "os_compute_api:os-quota-class-sets:update")
        body = _envelope(web.read_json_body(req), "quota_class_set")
        if len(name) > 255:
            raise falcon.HTTPBadRequest(description="quota_class_name has more than 255 characters.")
        version = req.context.api_version
        loaded = _load(_limits_schema(class_settable(version), with_force=False), body, "quota_class_set")
        limits = update_quota_class(self._cloud, name, loaded, req.context.caller)
        resp.media = {"quota_class_set": shown(limits, class_resources(version))}


def add_routes(app: falcon.App, cloud: Cloud, views: ViewStore) -> None:
    app.add_route(f"{web.API_PREFIX}/os-quota-sets/{{project_id}}", QuotaSetResource(cloud, views))
    app.add_route(f"{web.API_PREFIX}/os-quota-class-sets/{{name}}", QuotaClassSetResource(cloud))
