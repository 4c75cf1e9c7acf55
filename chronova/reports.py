"""What compute agents tell the control plane, and how the conductor checks it.

Agents are untrusted input: every report is validated field by field before
the conductor even looks up the server it names.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

from chronova.host_keys import HostKeys, signature
from chronova.messages import MalformedMessage
from domain.placement import Inventory
from domain.states import PowerState

_HOST_NAME = validate.Regexp(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$")
_RESOURCE_CLASS = validate.Regexp(r"^[A-Z0-9_]{1,255}$")


@dataclass(frozen=True)
class Heartbeat:
    host: str
    inventories: dict[str, dict[str, Any]]
    hypervisor: dict[str, Any] = field(default_factory=dict)
    type: str = "heartbeat"


@dataclass(frozen=True)
class Spawned:
    host: str
    server_id: str
    power_state: int
    type: str = "spawned"


@dataclass(frozen=True)
class SpawnFailed:
    host: str
    server_id: str
    reason: str
    type: str = "spawn_failed"


@dataclass(frozen=True)
class Deleted:
    host: str
    server_id: str
    type: str = "deleted"


Report = Heartbeat | Spawned | SpawnFailed | Deleted


class _InventorySchema(Schema):
    total = fields.Integer(required=True, strict=True, validate=validate.Range(min=0))
    reserved = fields.Integer(load_default=0, strict=True, validate=validate.Range(min=0))
    allocation_ratio = fields.Float(load_default=1.0, validate=validate.Range(min=0, min_inclusive=False, max=1000))
    min_unit = fields.Integer(load_default=1, strict=True, validate=validate.Range(min=1))
    max_unit = fields.Integer(load_default=None, allow_none=True, strict=True, validate=validate.Range(min=1))
    step_size = fields.Integer(load_default=1, strict=True, validate=validate.Range(min=1))


class _HeartbeatSchema(Schema):
    type = fields.Constant("heartbeat")
    host = fields.String(required=True, validate=_HOST_NAME)
    inventories = fields.Dict(
        keys=fields.String(validate=_RESOURCE_CLASS), values=fields.Nested(_InventorySchema), required=True
    )
    hypervisor = fields.Dict(keys=fields.String(), load_default=dict)


class _ServerReportSchema(Schema):
    host = fields.String(required=True, validate=_HOST_NAME)
    server_id = fields.UUID(required=True)


class _SpawnedSchema(_ServerReportSchema):
    type = fields.Constant("spawned")
    power_state = fields.Integer(required=True, strict=True, validate=validate.OneOf([int(p) for p in PowerState]))


class _SpawnFailedSchema(_ServerReportSchema):
    type = fields.Constant("spawn_failed")
    reason = fields.String(required=True, validate=validate.Length(max=4096))


class _DeletedSchema(_ServerReportSchema):
    type = fields.Constant("deleted")


_SCHEMAS: dict[str, tuple[Schema, type]] = {
    "heartbeat": (_HeartbeatSchema(), Heartbeat),
    "spawned": (_SpawnedSchema(), Spawned),
    "spawn_failed": (_SpawnFailedSchema(), SpawnFailed),
    "deleted": (_DeletedSchema(), Deleted),
}


def encode_report(report: Report, key: bytes, sent_at: float) -> bytes:
    """The report as its host sends it: with its sending time, signed with the host's key."""
    body = {**asdict(report), "sent_at": sent_at}
    return json.dumps({**body, "sig": signature(key, body)}, separators=(",", ":")).encode()


def decode_report(raw: bytes | None, keys: HostKeys, now: float) -> Report:
    """Parse, authenticate and validate; anything off raises MalformedMessage (parked by the loop)."""
    try:
        body = json.loads(raw or b"")
    except ValueError as e:
        raise MalformedMessage(f"report is not JSON: {e}") from None
    if not isinstance(body, dict):
        raise MalformedMessage("report is not a JSON object")
    keys.check(body, now)
    if body.get("type") not in _SCHEMAS:
        raise MalformedMessage("report has no known 'type'")
    schema, report_class = _SCHEMAS[body["type"]]
    try:
        loaded = schema.load(body)
    except ValidationError as e:
        raise MalformedMessage(f"invalid {body['type']} report: {e.messages}") from None
    if "server_id" in loaded:
        loaded["server_id"] = str(loaded["server_id"])
    if "inventories" in loaded:
        # Validate the capacity arithmetic will work before anything is recorded.
        for rc, inv in loaded["inventories"].items():
            if inv["reserved"] > inv["total"]:
                raise MalformedMessage(f"invalid heartbeat report: {rc} reserved exceeds total")
            Inventory(**inv)
    return report_class(**loaded)
