"""What compute agents tell the control plane, and how the conductor checks it.

Agents are untrusted input: every report is validated field by field before
the conductor even looks up the server it names.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

from chronova.host_keys import HostKeys, signature
from chronova.messages import MalformedMessage
from domain.host_actions import HOST_ACTION_NAMES
from domain.migration import MOVE_STEPS
from domain.placement import Inventory
from domain.states import PowerState

_HOST_NAME = validate.Regexp(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$")
_RESOURCE_CLASS = validate.Regexp(r"^[A-Z0-9_]{1,255}$")
_TRAIT = validate.Regexp(r"^[A-Z][A-Z0-9_]{0,254}$")
_REQUEST_ID = validate.Regexp(r"^[A-Za-z0-9_.:-]{1,255}$")
# What Nova keeps of a console (libvirt's MAX_CONSOLE_BYTES), and the characters it removes from one.
MAX_CONSOLE_CHARACTERS = 100 * 1024
MAX_REASON_CHARACTERS = 4096
# What a snapshot report may carry (before base64): well under Kafka's default 1 MB message limit.
MAX_SNAPSHOT_BYTES = 512 * 1024
# More domains than one host could run: a power-state report beyond this is refused whole.
MAX_SYNCED_DOMAINS = 10_000
_CONSOLE_CONTROL = re.compile("[\x00-\x08\x0b-\x1f]")


@dataclass(frozen=True)
class Heartbeat:
    host: str
    inventories: dict[str, dict[str, Any]]
    hypervisor: dict[str, Any] = field(default_factory=dict)
    traits: list[str] = field(default_factory=list)
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


@dataclass(frozen=True)
class ActionCompleted:
    """A host action (domain.host_actions) is done; `power_state` is the domain's afterwards."""

    host: str
    server_id: str
    request_id: str
    action: str
    power_state: int
    type: str = "action_completed"


@dataclass(frozen=True)
class ActionFailed:
    host: str
    server_id: str
    request_id: str
    action: str
    reason: str
    power_state: int
    type: str = "action_failed"


@dataclass(frozen=True)
class SnapshotTaken:
    """createImage is done: `data` (base64) is the image's content, for the conductor to store in the image
    service. It rides on the report because agents hold no credential for the image API and never write
    to the store; the conductor checks the image belongs to this server's snapshot request."""

    host: str
    server_id: str
    request_id: str
    image_id: str
    data: str
    power_state: int
    type: str = "snapshot_taken"


@dataclass(frozen=True)
class ConsoleOutput:
    """The answer to a ConsoleOutputRequest: the console's last lines, as asked."""

    host: str
    console_request_id: str
    output: str
    type: str = "console_output"


@dataclass(frozen=True)
class ConsoleUnavailable:
    host: str
    console_request_id: str
    reason: str
    type: str = "console_unavailable"


@dataclass(frozen=True)
class PowerStates:
    """What a host's periodic power-state sync saw at `observed_at` (its clock): the power state of every
    domain it defined for this host, by server id, and the names of domains that are not Chronova's."""

    host: str
    observed_at: float
    domains: dict[str, int]
    foreign: list[str]
    type: str = "power_states"


@dataclass(frozen=True)
class MoveStepDone:
    """A step of a move saga (domain.migration) done on this host; `reason` set when it failed."""

    host: str
    server_id: str
    migration_id: str
    step: str
    power_state: int
    reason: str | None = None
    type: str = "move_step_done"


Report = (
    Heartbeat
    | MoveStepDone
    | Spawned
    | SpawnFailed
    | Deleted
    | ActionCompleted
    | ActionFailed
    | SnapshotTaken
    | ConsoleOutput
    | ConsoleUnavailable
    | PowerStates
)


def console_text(text: str) -> str:
    """Text as Nova shows console output, and as any database stores it: no control characters
    but tab and newline (PostgreSQL refuses NUL), and no lone surrogates (JSON may carry them)."""
    return _CONSOLE_CONTROL.sub("", text).encode("utf-8", "replace").decode("utf-8")


class _StorableText(fields.String):
    """Agent text that ends up in events and view rows (failure reasons, console output)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        return console_text(super()._deserialize(value, attr, data, **kwargs))


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
    traits = fields.List(fields.String(validate=_TRAIT), load_default=list)


class _ServerReportSchema(Schema):
    host = fields.String(required=True, validate=_HOST_NAME)
    server_id = fields.UUID(required=True)


class _SpawnedSchema(_ServerReportSchema):
    type = fields.Constant("spawned")
    power_state = fields.Integer(required=True, strict=True, validate=validate.OneOf([int(p) for p in PowerState]))


class _SpawnFailedSchema(_ServerReportSchema):
    type = fields.Constant("spawn_failed")
    reason = _StorableText(required=True, validate=validate.Length(max=MAX_REASON_CHARACTERS))


class _DeletedSchema(_ServerReportSchema):
    type = fields.Constant("deleted")


class _ActionReportSchema(_ServerReportSchema):
    request_id = fields.String(required=True, validate=_REQUEST_ID)
    action = fields.String(required=True, validate=validate.OneOf(HOST_ACTION_NAMES))
    power_state = fields.Integer(required=True, strict=True, validate=validate.OneOf([int(p) for p in PowerState]))


class _ActionCompletedSchema(_ActionReportSchema):
    type = fields.Constant("action_completed")


class _ActionFailedSchema(_ActionReportSchema):
    type = fields.Constant("action_failed")
    reason = _StorableText(required=True, validate=validate.Length(max=MAX_REASON_CHARACTERS))


class _SnapshotTakenSchema(_ServerReportSchema):
    type = fields.Constant("snapshot_taken")
    request_id = fields.String(required=True, validate=_REQUEST_ID)
    image_id = fields.UUID(required=True)
    data = fields.String(required=True, validate=validate.Length(max=(MAX_SNAPSHOT_BYTES + 2) // 3 * 4))
    power_state = fields.Integer(required=True, strict=True, validate=validate.OneOf([int(p) for p in PowerState]))


class _ConsoleReportSchema(Schema):
    host = fields.String(required=True, validate=_HOST_NAME)
    console_request_id = fields.UUID(required=True)


class _ConsoleOutputSchema(_ConsoleReportSchema):
    type = fields.Constant("console_output")
    output = _StorableText(required=True, validate=validate.Length(max=MAX_CONSOLE_CHARACTERS))


class _ConsoleUnavailableSchema(_ConsoleReportSchema):
    type = fields.Constant("console_unavailable")
    reason = _StorableText(required=True, validate=validate.Length(max=MAX_REASON_CHARACTERS))


class _PowerStatesSchema(Schema):
    type = fields.Constant("power_states")
    host = fields.String(required=True, validate=_HOST_NAME)
    observed_at = fields.Float(required=True, allow_nan=False, validate=validate.Range(min=0))
    domains = fields.Dict(
        keys=fields.UUID(),
        values=fields.Integer(strict=True, validate=validate.OneOf([int(p) for p in PowerState])),
        required=True,
        validate=validate.Length(max=MAX_SYNCED_DOMAINS),
    )
    foreign = fields.List(
        _StorableText(validate=validate.Length(max=255)),
        required=True,
        validate=validate.Length(max=MAX_SYNCED_DOMAINS),
    )


class _MoveStepDoneSchema(_ServerReportSchema):
    type = fields.Constant("move_step_done")
    migration_id = fields.UUID(required=True)
    step = fields.String(required=True, validate=validate.OneOf(MOVE_STEPS))
    power_state = fields.Integer(required=True, strict=True, validate=validate.OneOf([int(p) for p in PowerState]))
    reason = _StorableText(load_default=None, allow_none=True, validate=validate.Length(max=MAX_REASON_CHARACTERS))


_SCHEMAS: dict[str, tuple[Schema, type]] = {
    "move_step_done": (_MoveStepDoneSchema(), MoveStepDone),
    "heartbeat": (_HeartbeatSchema(), Heartbeat),
    "spawned": (_SpawnedSchema(), Spawned),
    "spawn_failed": (_SpawnFailedSchema(), SpawnFailed),
    "deleted": (_DeletedSchema(), Deleted),
    "action_completed": (_ActionCompletedSchema(), ActionCompleted),
    "action_failed": (_ActionFailedSchema(), ActionFailed),
    "snapshot_taken": (_SnapshotTakenSchema(), SnapshotTaken),
    "console_output": (_ConsoleOutputSchema(), ConsoleOutput),
    "console_unavailable": (_ConsoleUnavailableSchema(), ConsoleUnavailable),
    "power_states": (_PowerStatesSchema(), PowerStates),
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
    for key in ("server_id", "console_request_id", "image_id", "migration_id"):
        if key in loaded:
            loaded[key] = str(loaded[key])
    if "domains" in loaded:
        loaded["domains"] = {str(server_id): state for server_id, state in loaded["domains"].items()}
    if "inventories" in loaded:
        # Validate the capacity arithmetic will work before anything is recorded.
        for rc, inv in loaded["inventories"].items():
            if inv["reserved"] > inv["total"]:
                raise MalformedMessage(f"invalid heartbeat report: {rc} reserved exceeds total")
            Inventory(**inv)
    return report_class(**loaded)
