"""The move actions of POST /servers/{id}/action: resize, confirmResize, revertResize, migrate,
os-migrateLive and evacuate, with Nova's request schema per microversion.

Arguments are judged before the server is looked up, as for every action
(command_api.server_actions); the use cases are chronova.moves.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import falcon
from marshmallow import ValidationError, fields, validate

from chronova import moves
from chronova.cloud import Cloud
from chronova.config import Settings
from chronova.lifecycle import generate_password
from command_api.fields import Reference
from command_api.schemas import _load, _NovaSchema
from domain.commands import RequestContext
from projections.servers import ServersProjection
from projections.views import ViewStore

ACTIONS = ("resize", "confirmResize", "revertResize", "migrate", "os-migrateLive", "evacuate")


class _StrictBoolean(fields.Field):
    """A JSON boolean (Nova's schema takes no words), or also "auto" where block_migration takes it (2.25+)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        allowed = (True, False, "auto") if self.metadata.get("auto") else (True, False)
        if isinstance(value, bool) or value in allowed:
            return value
        raise ValidationError(f"{value!r} is not one of {list(allowed)}")


class _ResizeSchema(_NovaSchema):
    flavor_ref = Reference(required=True, data_key="flavorRef")
    disk_config = fields.String(data_key="OS-DCF:diskConfig", validate=validate.OneOf(["AUTO", "MANUAL"]))


class _MigrateSchemaV256(_NovaSchema):
    host = fields.String(allow_none=True, validate=validate.Length(min=1, max=255))


class _LiveMigrateSchema(_NovaSchema):
    """Before 2.25: all three required, booleans only."""

    host = fields.String(required=True, allow_none=True, validate=validate.Length(min=1, max=255))
    block_migration = _StrictBoolean(required=True)
    disk_over_commit = _StrictBoolean(required=True)


class _LiveMigrateSchemaV225(_NovaSchema):
    host = fields.String(required=True, allow_none=True, validate=validate.Length(min=1, max=255))
    block_migration = _StrictBoolean(required=True, metadata={"auto": True})


class _LiveMigrateSchemaV230(_LiveMigrateSchemaV225):
    force = _StrictBoolean()


class _EvacuateSchema(_NovaSchema):
    """Before 2.14 the caller says whether the disks are on shared storage."""

    host = fields.String(validate=validate.Length(min=1, max=255))
    admin_pass = fields.String(data_key="adminPass")
    on_shared_storage = _StrictBoolean(required=True, data_key="onSharedStorage")


class _EvacuateSchemaV214(_NovaSchema):
    host = fields.String(validate=validate.Length(min=1, max=255))
    admin_pass = fields.String(data_key="adminPass")


class _EvacuateSchemaV229(_EvacuateSchemaV214):
    force = _StrictBoolean()


def _live_schema(version: tuple[int, int]) -> _NovaSchema:
    if version < (2, 25):
        return _LiveMigrateSchema()
    if version < (2, 30) or version >= (2, 68):
        return _LiveMigrateSchemaV225()
    return _LiveMigrateSchemaV230()


def _evacuate_schema(version: tuple[int, int]) -> _NovaSchema:
    if version < (2, 14):
        return _EvacuateSchema()
    if version < (2, 29) or version >= (2, 68):
        return _EvacuateSchemaV214()
    return _EvacuateSchemaV229()


class MoveActions:
    """Runs one move action and writes its response; the server id is already a UUID."""

    def __init__(self, cloud: Cloud, views: ViewStore, settings: Settings) -> None:
        self._cloud = cloud
        self._views = views
        self._settings = settings

    def respond(self, name: str, value: Any, req: falcon.Request, resp: falcon.Response, server_id: UUID) -> None:
        ctx: RequestContext = req.context.caller
        version: tuple[int, int] = req.context.api_version
        cloud = self._cloud
        resp.status = falcon.HTTP_202
        if name == "resize":
            flavor_ref = _load(_ResizeSchema(), value, "resize")["flavor_ref"]
            same_host = self._settings.allow_resize_to_same_host
            position = moves.resize(cloud, server_id, flavor_ref, ctx, same_host)
        elif name in ("confirmResize", "revertResize"):
            position = moves.end_resize(cloud, server_id, name == "confirmResize", ctx)
            if name == "confirmResize":
                resp.status = falcon.HTTP_204
        elif name == "migrate":
            host = _load(_MigrateSchemaV256(), value, "migrate").get("host") if version >= (2, 56) and value else None
            position = moves.migrate(cloud, server_id, host, ctx)
        elif name == "os-migrateLive":
            loaded = _load(_live_schema(version), value, "os-migrateLive")
            position = moves.live_migrate(cloud, server_id, loaded["host"], loaded["block_migration"], ctx)
        else:
            loaded = _load(_evacuate_schema(version), value if value is not None else {}, "evacuate")
            position = moves.evacuate(cloud, server_id, loaded.get("host"), version >= (2, 95), ctx)
            resp.status = falcon.HTTP_200
            if version < (2, 14):
                resp.media = {"adminPass": loaded.get("admin_pass") or generate_password()}
        if position is not None:
            self._views.wait_for(ServersProjection.name, position, timeout=self._settings.action_view_timeout)
