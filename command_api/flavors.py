"""The flavors resource's writes: create, describe, delete, extra specs and the
access list of private flavors. All of them are admin-only, as in Nova.

Each responder checks the policy and the whole body before one use case of
chronova/flavors.py runs, so a refused request records nothing.
"""

from __future__ import annotations

import json
import re
from typing import Any

import falcon
from marshmallow import fields, validate

from chronova import flavors, web
from chronova.cloud import Cloud
from command_api import extra_specs
from command_api.schemas import _envelope, _load, _NovaSchema, create_flavor_command
from domain.flavor import Flavor
from query_api.flavors import access_body
from query_api.render import flavor_detail

Version = tuple[int, int]
DESCRIPTION_SINCE = (2, 55)
STRICT_EXTRA_SPECS_SINCE = (2, 86)
PUBLIC_ACCESS_REFUSED_SINCE = (2, 7)
_SPEC_KEY = re.compile(r"[a-zA-Z0-9-_:. ]{1,255}")
_SPEC_KEY_SCHEMA = "^[a-zA-Z0-9-_:. ]{1,255}$"  # as Nova's schema, and its messages, state it
_MAX_SPEC_VALUE = 255
_ACTIONS = ("addTenantAccess", "removeTenantAccess")


class _DescriptionSchema(_NovaSchema):
    description = fields.String(required=True, allow_none=True, validate=validate.Length(max=65535))


class _TenantSchema(_NovaSchema):
    tenant = fields.String(required=True, validate=validate.Length(min=1, max=255))


_DESCRIPTION = _DescriptionSchema()
_TENANT = _TenantSchema()


def _flavor_body(req: falcon.Request, flavor: Flavor) -> dict[str, Any]:
    """The aggregate in the shape of a flavors view row, so both sides render alike."""
    names = ("flavorid", "name", "vcpus", "ram", "disk", "ephemeral", "swap", "rxtx_factor", "is_public", "description")
    row = {name: getattr(flavor, name) for name in names} | {"extra_specs": dict(flavor.extra_specs)}
    return {"flavor": flavor_detail(req, row, req.context.api_version)}


# --- request bodies -----------------------------------------------------------------------


def _invalid(path: str, value: Any, reason: str) -> falcon.HTTPBadRequest:
    shown = json.dumps(value)
    if len(shown) > 100:
        shown = shown[:97] + "..."
    return falcon.HTTPBadRequest(description=f"Invalid input for field/attribute {path}. Value: {shown}. {reason}")


def extra_specs_from(specs: Any, path: str, version: Version) -> dict[str, str]:
    """Nova's metadata schema with numbers allowed as values; values are kept as text.
    From 2.86 the keys Nova knows are checked for values of their kind as well."""
    if not isinstance(specs, dict):
        raise _invalid(path, specs, f"{json.dumps(specs)} is not of type 'object'")
    texts: dict[str, str] = {}
    for key, value in specs.items():
        if not _SPEC_KEY.fullmatch(key):
            raise _invalid(path, specs, f"'{key}' does not match any of the regexes: '{_SPEC_KEY_SCHEMA}'")
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise _invalid(key, value, f"{json.dumps(value)} is not of type 'string', 'number'")
        text = value if isinstance(value, str) else str(value)
        if len(text) > _MAX_SPEC_VALUE:
            if isinstance(value, str):
                raise _invalid(key, value, f"'{value}' is too long")
            raise falcon.HTTPBadRequest(
                description=f"extra_specs value has {len(text)} characters, more than {_MAX_SPEC_VALUE}."
            )
        texts[key] = text
    if version >= STRICT_EXTRA_SPECS_SINCE:
        for key, text in texts.items():
            extra_specs.check(key, text)
    return texts


def _one_spec(body: Any, key: str, version: Version) -> dict[str, str]:
    """PUT /os-extra_specs/{key} takes exactly one spec, the one its URL names."""
    if isinstance(body, dict) and not body:
        raise falcon.HTTPBadRequest(description="{} should be non-empty")
    if isinstance(body, dict) and len(body) > 1:
        raise falcon.HTTPBadRequest(description=f"{body!r} has too many properties")
    specs = extra_specs_from(body, "extra_specs", version)
    if key not in specs:
        raise falcon.HTTPBadRequest(description="Request body and URI mismatch")
    return specs


def _action(body: Any) -> tuple[str, str]:
    """POST /flavors/{id}/action: one key names the action; its object names the project."""
    if not isinstance(body, dict) or len(body) != 1:
        raise falcon.HTTPBadRequest(description="Malformed request body")
    ((action, args),) = body.items()
    if action not in _ACTIONS:
        raise falcon.HTTPBadRequest(description=f"There is no such action: {action}")
    return action, _load(_TENANT, args, action)["tenant"]


# --- resources ------------------------------------------------------------------------------


class FlavorsResource:
    def __init__(self, cloud: Cloud) -> None:
        self._cloud = cloud

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        web.require_admin(req, "os_compute_api:os-flavor-manage:create")
        command = create_flavor_command(web.read_json_body(req), req.context.api_version)
        resp.media = _flavor_body(req, self._cloud.create_flavor(command))


class FlavorResource:
    def __init__(self, cloud: Cloud) -> None:
        self._cloud = cloud

    def on_put(self, req: falcon.Request, resp: falcon.Response, flavor_id: str) -> None:
        if req.context.api_version < DESCRIPTION_SINCE:
            raise falcon.HTTPNotFound()
        web.require_admin(req, "os_compute_api:os-flavor-manage:update")
        loaded = _load(_DESCRIPTION, _envelope(web.read_json_body(req), "flavor"), "flavor")
        resp.media = _flavor_body(req, flavors.update_description(self._cloud, flavor_id, loaded["description"]))

    def on_delete(self, req: falcon.Request, resp: falcon.Response, flavor_id: str) -> None:
        web.require_admin(req, "os_compute_api:os-flavor-manage:delete")
        flavors.delete_flavor(self._cloud, flavor_id)
        resp.status = falcon.HTTP_202


class FlavorActionResource:
    def __init__(self, cloud: Cloud) -> None:
        self._cloud = cloud

    def on_post(self, req: falcon.Request, resp: falcon.Response, flavor_id: str) -> None:
        action, project_id = _action(web.read_json_body(req))
        if action == "addTenantAccess":
            web.require_admin(req, "os_compute_api:os-flavor-access:add_tenant_access")
            refused = req.context.api_version >= PUBLIC_ACCESS_REFUSED_SINCE
            flavor = flavors.grant_access(self._cloud, flavor_id, project_id, public_refused=refused)
        else:
            web.require_admin(req, "os_compute_api:os-flavor-access:remove_tenant_access")
            flavor = flavors.revoke_access(self._cloud, flavor_id, project_id)
        resp.media = access_body(flavor_id, sorted(flavor.projects))


class ExtraSpecsResource:
    def __init__(self, cloud: Cloud) -> None:
        self._cloud = cloud

    def on_post(self, req: falcon.Request, resp: falcon.Response, flavor_id: str) -> None:
        web.require_admin(req, "os_compute_api:os-flavor-extra-specs:create")
        body = web.read_json_body(req)
        specs = extra_specs_from(_envelope(body, "extra_specs"), "extra_specs", req.context.api_version)
        flavors.set_extra_specs(self._cloud, flavor_id, specs)
        resp.media = body  # Nova answers with the request as sent, numbers and all


class ExtraSpecResource:
    def __init__(self, cloud: Cloud) -> None:
        self._cloud = cloud

    def on_put(self, req: falcon.Request, resp: falcon.Response, flavor_id: str, key: str) -> None:
        web.require_admin(req, "os_compute_api:os-flavor-extra-specs:update")
        body = web.read_json_body(req)
        flavors.set_extra_specs(self._cloud, flavor_id, _one_spec(body, key, req.context.api_version))
        resp.media = body

    def on_delete(self, req: falcon.Request, resp: falcon.Response, flavor_id: str, key: str) -> None:
        web.require_admin(req, "os_compute_api:os-flavor-extra-specs:delete")
        flavors.unset_extra_spec(self._cloud, flavor_id, key)


def add_routes(app: falcon.App, cloud: Cloud) -> None:
    prefix = f"{web.API_PREFIX}/flavors"
    app.add_route(prefix, FlavorsResource(cloud))
    app.add_route(f"{prefix}/{{flavor_id}}", FlavorResource(cloud))
    app.add_route(f"{prefix}/{{flavor_id}}/action", FlavorActionResource(cloud))
    app.add_route(f"{prefix}/{{flavor_id}}/os-extra_specs", ExtraSpecsResource(cloud))
    app.add_route(f"{prefix}/{{flavor_id}}/os-extra_specs/{{key}}", ExtraSpecResource(cloud))
