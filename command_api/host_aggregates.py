"""POST/PUT/DELETE /os-aggregates and its actions (add_host, remove_host,
set_metadata), for admins. Nova answers 200 to all of them, a delete too."""

from __future__ import annotations

import re
from typing import Any

import falcon
from marshmallow import ValidationError, fields, validates_schema

from chronova import host_aggregates, web
from chronova.cloud import Cloud
from command_api.fields import Name
from command_api.schemas import _envelope, _load, _NovaSchema
from domain.aggregate import HostAggregate, InvalidAggregateAction
from projections.views import ViewStore
from query_api.host_aggregates import aggregate_body, aggregate_number

_POLICY = "os_compute_api:os-aggregates:{}"
_HOST = re.compile(r"[a-zA-Z0-9-._]*")
_METADATA_KEY = re.compile(r"[a-zA-Z0-9-_:. ]{1,255}")
ACTIONS = ("add_host", "remove_host", "set_metadata")


class PaddedName(fields.String):
    """A new name for an aggregate: surrounding whitespace is allowed and stripped, as Nova normalizes it."""

    default_error_messages = {
        "name": "An invalid 'name' value was provided. "
        "The name must be: printable characters with at least one non space character"
    }

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if not 1 <= len(text) <= 255 or not text.strip() or not text.isprintable():
            raise self.make_error("name")
        return text.strip()


class ZoneName(fields.String):
    """An availability zone: a name without ':' (Nova's host:node syntax uses it)."""

    default_error_messages = {
        "name": "An invalid 'name' value was provided. "
        "The name must be: printable characters except :.Can not start or end with whitespace."
    }

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if not 1 <= len(text) <= 255 or text != text.strip() or not text.isprintable() or ":" in text:
            raise self.make_error("name")
        return text


class HostName(fields.String):
    default_error_messages = {"host": "Must be 1 to 255 of [a-zA-Z0-9-._]."}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if not 1 <= len(text) <= 255 or not _HOST.fullmatch(text):
            raise self.make_error("host")
        return text


class Metadata(fields.Field):
    """Keys of [a-zA-Z0-9-_:. ]; values strings of at most 255, or null to remove the key."""

    default_error_messages = {"invalid": "Must be an object.", "value": "Must be a string of at most 255 or null."}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> dict[str, str | None]:
        if not isinstance(value, dict):
            raise self.make_error("invalid")
        unexpected = [key for key in value if not _METADATA_KEY.fullmatch(key)]
        if unexpected:
            quoted = ", ".join(repr(key) for key in unexpected)
            verb = "was" if len(unexpected) == 1 else "were"
            raise ValidationError(f"Additional properties are not allowed ({quoted} {verb} unexpected)")
        for key, item in value.items():
            if item is not None and (not isinstance(item, str) or len(item) > 255):
                raise ValidationError({key: [self.error_messages["value"]]})
        return dict(value)


class _CreateSchema(_NovaSchema):
    name = Name(required=True)
    availability_zone = ZoneName(allow_none=True)


class _UpdateSchema(_NovaSchema):
    name = PaddedName()
    availability_zone = ZoneName(allow_none=True)

    @validates_schema
    def _names_something(self, data: dict[str, Any], **kwargs: Any) -> None:
        if not data:
            raise ValidationError("At least one of 'name' or 'availability_zone' is required.")


class _HostSchema(_NovaSchema):
    host = HostName(required=True)


class _MetadataSchema(_NovaSchema):
    metadata = Metadata(required=True)


_CREATE, _UPDATE, _HOST_ACTION, _METADATA = _CreateSchema(), _UpdateSchema(), _HostSchema(), _MetadataSchema()


def _fields(aggregate: HostAggregate) -> dict[str, Any]:
    """The aggregate in the shape of a view row, so both apps render it alike."""
    return {
        "id": str(aggregate.id),
        "number": aggregate.number,
        "name": aggregate.name,
        "availability_zone": aggregate.availability_zone,
        "hosts": list(aggregate.hosts),
        "metadata": dict(aggregate.metadata),
        "created_at": aggregate.created_on.isoformat(),
        "updated_at": aggregate.updated_on.isoformat() if aggregate.updated_on else None,
    }


def _as_bad_request(error: InvalidAggregateAction) -> falcon.HTTPBadRequest:
    """Nova answers 400 to a refused update or delete (409 to a refused host move)."""
    return falcon.HTTPBadRequest(description=str(error))


class AggregatesResource:
    def __init__(self, cloud: Cloud) -> None:
        self._cloud = cloud

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        web.require_admin(req, _POLICY.format("create"))
        loaded = _load(_CREATE, _envelope(web.read_json_body(req), "aggregate"), "aggregate")
        aggregate = host_aggregates.create(self._cloud, loaded["name"], loaded.get("availability_zone"))
        resp.media = {"aggregate": aggregate_body(_fields(aggregate), req.context.api_version, created=True)}


class AggregateResource:
    def __init__(self, cloud: Cloud) -> None:
        self._cloud = cloud

    def on_put(self, req: falcon.Request, resp: falcon.Response, aggregate_id: str) -> None:
        web.require_admin(req, _POLICY.format("update"))
        number = aggregate_number(aggregate_id)
        loaded = _load(_UPDATE, _envelope(web.read_json_body(req), "aggregate"), "aggregate")
        zone = loaded.get("availability_zone", host_aggregates.UNCHANGED)
        try:
            aggregate = host_aggregates.update(self._cloud, number, loaded.get("name"), zone)
        except InvalidAggregateAction as e:
            raise _as_bad_request(e) from None
        resp.media = {"aggregate": aggregate_body(_fields(aggregate), req.context.api_version)}

    def on_delete(self, req: falcon.Request, resp: falcon.Response, aggregate_id: str) -> None:
        web.require_admin(req, _POLICY.format("delete"))
        try:
            host_aggregates.delete(self._cloud, aggregate_number(aggregate_id))
        except InvalidAggregateAction as e:
            raise _as_bad_request(e) from None
        resp.status = falcon.HTTP_200


class AggregateActionResource:
    """One action per request, named by the body's only key."""

    def __init__(self, cloud: Cloud) -> None:
        self._cloud = cloud

    def on_post(self, req: falcon.Request, resp: falcon.Response, aggregate_id: str) -> None:
        body = web.read_json_body(req)
        if not isinstance(body, dict) or len(body) != 1:
            raise falcon.HTTPBadRequest(description="Malformed request body")
        (action,) = body
        if action not in ACTIONS:
            raise falcon.HTTPBadRequest(description=f"There is no such action: {action}")
        web.require_admin(req, _POLICY.format(action))
        number = aggregate_number(aggregate_id)
        if action == "set_metadata":
            metadata = _load(_METADATA, _envelope(body, action), action)["metadata"]
            try:
                aggregate = host_aggregates.set_metadata(self._cloud, number, metadata)
            except InvalidAggregateAction as e:
                raise _as_bad_request(e) from None
        else:
            host = _load(_HOST_ACTION, _envelope(body, action), action)["host"]
            change = host_aggregates.add_host if action == "add_host" else host_aggregates.remove_host
            aggregate = change(self._cloud, number, host)
        resp.media = {"aggregate": aggregate_body(_fields(aggregate), req.context.api_version)}


def add_routes(app: falcon.App, cloud: Cloud, _: ViewStore) -> None:
    """The same signature as the services' and server groups', so create_app registers all three in one loop."""
    prefix = web.API_PREFIX
    app.add_route(f"{prefix}/os-aggregates", AggregatesResource(cloud))
    app.add_route(f"{prefix}/os-aggregates/{{aggregate_id}}", AggregateResource(cloud))
    app.add_route(f"{prefix}/os-aggregates/{{aggregate_id}}/action", AggregateActionResource(cloud))
