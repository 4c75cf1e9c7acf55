"""PUT/DELETE /os-services, for admins.

From microversion 2.53 a service is named by its uuid in the path and the
body says what changes; before it, the path names an action (enable,
disable, disable-log-reason, force-down from 2.11) and the body names the
service by host and binary. Only nova-compute services exist here.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import falcon
from marshmallow import fields, validate

from chronova import services, web
from chronova.cloud import Cloud
from chronova.services import ServiceChange
from command_api.fields import WordBoolean
from command_api.host_aggregates import HostName
from command_api.schemas import _load, _NovaSchema
from domain.aggregate import DEFAULT_ZONE
from domain.host import COMPUTE_BINARY, Host
from projections.views import ViewStore
from query_api.host_aggregates import zones_by_host
from query_api.services import service_body

Version = tuple[int, int]
MAX_NUMBER = 2**63 - 1  # beyond a BIGINT no service is numbered


class _LegacySchema(_NovaSchema):
    host = HostName(required=True)
    binary = fields.String(required=True, validate=validate.Length(min=1, max=255))
    disabled_reason = fields.String(validate=validate.Length(min=1, max=255))


class _LegacySchemaV211(_LegacySchema):
    forced_down = WordBoolean()


class _UpdateSchema(_NovaSchema):
    status = fields.String(validate=validate.OneOf(["enabled", "disabled"]))
    disabled_reason = fields.String(validate=validate.Length(min=1, max=255))
    forced_down = WordBoolean()


_LEGACY, _LEGACY_V211, _UPDATE = _LegacySchema(), _LegacySchemaV211(), _UpdateSchema()


def _body(req: falcon.Request, schema: _NovaSchema) -> dict[str, Any]:
    body = web.read_json_body(req)
    if not isinstance(body, dict):
        raise falcon.HTTPBadRequest(description="The request body must be a JSON object.")
    return _load(schema, body, "body")


def _service_uuid(raw: str) -> str:
    try:
        return str(UUID(raw))
    except ValueError:
        raise falcon.HTTPBadRequest(description=f"Invalid uuid {raw}") from None


def _service_number(raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise falcon.HTTPBadRequest(description="Invalid input received: id must be an integer") from None


class ServiceResource:
    def __init__(self, cloud: Cloud, views: ViewStore) -> None:
        self._cloud = cloud
        self._views = views

    def on_put(self, req: falcon.Request, resp: falcon.Response, service_id: str) -> None:
        web.require_admin(req, "os_compute_api:os-services:update")
        version = req.context.api_version
        if version >= (2, 53):
            resp.media = {"service": self._update(req, service_id, version)}
        else:
            resp.media = {"service": self._legacy_action(req, service_id, version)}

    def on_delete(self, req: falcon.Request, resp: falcon.Response, service_id: str) -> None:
        web.require_admin(req, "os_compute_api:os-services:delete")
        not_found = f"Service {service_id} not found."
        if req.context.api_version >= (2, 53):
            row = services.find_row(self._cloud, self._views, "service_id", _service_uuid(service_id))
        else:
            number = _service_number(service_id)
            row = (
                services.find_row(self._cloud, self._views, "service_number", number)
                if 0 < number <= MAX_NUMBER
                else None
            )
        if row is None:
            raise falcon.HTTPNotFound(description=not_found)
        services.delete_service(self._cloud, self._views, row["hostname"], not_found)
        resp.status = falcon.HTTP_204

    def _update(self, req: falcon.Request, service_id: str, version: Version) -> dict[str, Any]:
        """2.53+: the body's status and forced_down, answered with the whole service."""
        loaded = _body(req, _UPDATE)
        not_found = f"Service {service_id} could not be found."
        row = services.find_row(self._cloud, self._views, "service_id", _service_uuid(service_id))
        if row is None:
            raise falcon.HTTPNotFound(description=not_found)
        status = loaded.get("status")
        if status == "enabled" and loaded.get("disabled_reason"):
            raise falcon.HTTPBadRequest(description="Specifying 'disabled_reason' with status 'enabled' is invalid.")
        if status is None and "forced_down" not in loaded:
            raise falcon.HTTPBadRequest(
                description="No updates were requested. Fields 'status' or 'forced_down' should be specified."
            )
        change = ServiceChange(
            status=status, disabled_reason=loaded.get("disabled_reason"), forced_down=loaded.get("forced_down")
        )
        host = services.update_service(self._cloud, row["hostname"], change, not_found)
        return service_body(self._fields(host, row), version)

    def _legacy_action(self, req: falcon.Request, action: str, version: Version) -> dict[str, Any]:
        """Before 2.53: PUT /os-services/<action> with the host and binary in the body."""
        loaded = _body(req, _LEGACY_V211 if version >= (2, 11) else _LEGACY)
        actions = ("enable", "disable", "disable-log-reason", *(("force-down",) if version >= (2, 11) else ()))
        if action not in actions:
            raise falcon.HTTPNotFound(description="Unknown action")
        host, binary = loaded["host"], loaded["binary"]
        answer: dict[str, Any] = {"host": host, "binary": binary}
        if action == "force-down":
            if "forced_down" not in loaded:
                raise falcon.HTTPBadRequest(description="Missing forced_down field")
            change = ServiceChange(forced_down=loaded["forced_down"])
            answer["forced_down"] = loaded["forced_down"]
        elif action == "enable":
            change = ServiceChange(status="enabled")
            answer["status"] = "enabled"
        else:
            reason = None
            if action == "disable-log-reason":
                if "disabled_reason" not in loaded:
                    raise falcon.HTTPBadRequest(description="Missing disabled reason field")
                reason = loaded["disabled_reason"]
                answer["disabled_reason"] = reason
            change = ServiceChange(status="disabled", disabled_reason=reason)
            answer["status"] = "disabled"
        if binary != COMPUTE_BINARY:
            raise falcon.HTTPBadRequest(
                description=f"Updating a {binary} service is not supported. Only nova-compute services can be updated."
            )
        services.update_service(self._cloud, host, change, f"Host '{host}' is not mapped to any cell")
        return answer

    def _fields(self, host: Host, row: dict[str, Any]) -> dict[str, Any]:
        """The service as the view will show it once it has caught up with this change."""
        return row | {
            "zone": zones_by_host(self._views).get(host.name, DEFAULT_ZONE),
            "status": "enabled" if host.enabled else "disabled",
            "state": host.service_state,
            "disabled_reason": host.disabled_reason,
            "forced_down": host.forced_down,
            "service_updated_at": host.modified_on.isoformat(),
        }


def add_routes(app: falcon.App, cloud: Cloud, views: ViewStore) -> None:
    app.add_route(f"{web.API_PREFIX}/os-services/{{service_id}}", ServiceResource(cloud, views))
