"""The lifecycle actions of POST /servers/{id}/action: rebuild, shelve, shelveOffload,
unshelve, rescue, unrescue, createImage, changePassword, restore and forceDelete.

Arguments are judged before the server is looked up, as for every action
(command_api.server_actions); the use cases are chronova.lifecycle.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import falcon
from marshmallow import fields, validate

from chronova import lifecycle
from chronova.cloud import Cloud
from chronova.config import Settings
from command_api.fields import Base64Text, Hostname, ImageRef, Name
from command_api.schemas import _load, _metadata_field, _NovaSchema, _reject_newer_keys
from command_api.servers import _row_after_write
from domain.commands import RequestContext
from projections.servers import ServersProjection
from projections.views import ViewStore
from query_api import render

ACTIONS = (
    "rebuild",
    "shelve",
    "shelveOffload",
    "unshelve",
    "rescue",
    "unrescue",
    "createImage",
    "changePassword",
    "restore",
    "forceDelete",
)
# Rebuild keys and the microversion that added each; personality went away in 2.57.
_REBUILD_KEYS_SINCE = {"description": (2, 19), "key_name": (2, 54), "user_data": (2, 57), "hostname": (2, 90)}


class _RebuildSchema(_NovaSchema):
    image_ref = ImageRef(required=True, data_key="imageRef")
    name = Name()
    admin_pass = fields.String(data_key="adminPass")
    metadata = _metadata_field()
    preserve_ephemeral = fields.Boolean()
    disk_config = fields.String(data_key="OS-DCF:diskConfig", validate=validate.OneOf(["AUTO", "MANUAL"]))
    access_ip_v4 = fields.IPv4(data_key="accessIPv4")
    access_ip_v6 = fields.IPv6(data_key="accessIPv6")
    description = fields.String(allow_none=True, validate=validate.Length(max=255))
    key_name = fields.String(allow_none=True, validate=validate.Length(min=1, max=255))
    user_data = Base64Text(allow_none=True, validate=validate.Length(max=65535))
    hostname = Hostname(fqdn=True)


class _RebuildSchemaV256(_RebuildSchema):
    """Before 2.57 a rebuild may carry files to inject; Nova's libvirt driver ignores them, and so does this."""

    personality = fields.List(fields.Dict())


class _RescueSchema(_NovaSchema):
    admin_pass = fields.String(data_key="adminPass")
    rescue_image_ref = ImageRef(data_key="rescue_image_ref")


class _CreateImageSchema(_NovaSchema):
    name = Name(required=True)
    metadata = _metadata_field()


class _ChangePasswordSchema(_NovaSchema):
    admin_pass = fields.String(required=True, data_key="adminPass")


class _UnshelveSchema(_NovaSchema):
    """From 2.91 an admin may name the host an offloaded server goes to; availability zones (2.77) are not
    something this scheduler pins a server to, so only a null one (Nova's "unpin") is taken."""

    host = Hostname(fqdn=True)
    availability_zone = fields.String(allow_none=True)


_REBUILD = _RebuildSchema()
_REBUILD_V256 = _RebuildSchemaV256()
_RESCUE = _RescueSchema()
_CREATE_IMAGE = _CreateImageSchema()
_CHANGE_PASSWORD = _ChangePasswordSchema()
_UNSHELVE = _UnshelveSchema()
_REBUILD_CHANGES = ("name", "metadata", "description", "access_ip_v4", "access_ip_v6", "key_name", "user_data")


def _rebuild_request(value: Any, version: tuple[int, int]) -> tuple[lifecycle.Rebuild, str | None]:
    _reject_newer_keys(value, version, _REBUILD_KEYS_SINCE, "rebuild")
    loaded = _load(_REBUILD if version >= (2, 57) else _REBUILD_V256, value, "rebuild")
    changes = {name: loaded[name] for name in _REBUILD_CHANGES if name in loaded}
    if "hostname" in loaded:
        changes["hostname"] = loaded["hostname"]
    return lifecycle.Rebuild(image_ref=loaded["image_ref"], changes=changes), loaded.get("admin_pass")


def _unshelve_host(value: Any, version: tuple[int, int]) -> str | None:
    """Nova reads the body from 2.77 (availability_zone) and 2.91 (host); before, the value is ignored."""
    if version < (2, 77) or value is None:
        return None
    _reject_newer_keys(value, version, {"host": (2, 91)}, "unshelve")
    loaded = _load(_UNSHELVE, value, "unshelve")
    if loaded.get("availability_zone", None) is not None:
        raise falcon.HTTPBadRequest(
            description="Invalid input for field/attribute unshelve. availability zones "
            "are not offered by this cloud: only null is accepted."
        )
    return loaded.get("host")


class LifecycleActions:
    """Runs one lifecycle action and writes its response; the server id is already a UUID."""

    def __init__(self, cloud: Cloud, views: ViewStore, settings: Settings) -> None:
        self._cloud = cloud
        self._views = views
        self._settings = settings

    def respond(self, name: str, value: Any, req: falcon.Request, resp: falcon.Response, server_id: UUID) -> None:
        ctx: RequestContext = req.context.caller
        version: tuple[int, int] = req.context.api_version
        cloud = self._cloud
        resp.status = falcon.HTTP_202
        position: int | None = None
        if name == "rebuild":
            request, password = _rebuild_request(value, version)
            server, position = lifecycle.rebuild(cloud, server_id, request, ctx)
            self._wait(position)
            body = render.server_update_view(req, _row_after_write(self._views, server), version, ctx.is_admin)
            resp.media = {"server": {**body, "adminPass": password or lifecycle.generate_password()}}
            return
        if name == "rescue":
            loaded = _load(_RESCUE, value or {}, "rescue")
            password, position = lifecycle.rescue(
                cloud, server_id, loaded.get("admin_pass"), loaded.get("rescue_image_ref"), ctx
            )
            resp.status = falcon.HTTP_200
            resp.media = {"adminPass": password}
        elif name == "createImage":
            loaded = _load(_CREATE_IMAGE, value, "createImage")
            image_id, position = lifecycle.create_image(
                cloud, server_id, loaded["name"], loaded.get("metadata", {}), ctx
            )
            if version >= (2, 45):
                resp.media = {"image_id": str(image_id)}
            else:
                resp.location = f"{req.prefix}/image/v2/images/{image_id}"
        elif name == "changePassword":
            _load(_CHANGE_PASSWORD, value, "changePassword")
            lifecycle.change_password(cloud, server_id, ctx)
        elif name == "unshelve":
            position = lifecycle.unshelve(cloud, server_id, _unshelve_host(value, version), ctx)
        elif name == "forceDelete":
            lifecycle.force_delete(cloud, server_id, ctx)
        else:
            position = self._without_arguments(name, server_id, ctx)
        self._wait(position)

    def _without_arguments(self, name: str, server_id: UUID, ctx: RequestContext) -> int | None:
        """Actions whose value Nova does not look at."""
        if name == "shelve":
            return lifecycle.shelve(self._cloud, server_id, self._settings.shelved_offload_time, ctx)
        if name == "shelveOffload":
            return lifecycle.shelve_offload(self._cloud, server_id, ctx)
        if name == "unrescue":
            return lifecycle.unrescue(self._cloud, server_id, ctx)
        return lifecycle.restore(self._cloud, server_id, ctx)

    def _wait(self, position: int | None) -> None:
        """Nova's clients poll the server right after the answer and expect to see the task."""
        if position is not None:
            self._views.wait_for(ServersProjection.name, position, timeout=self._settings.action_view_timeout)
