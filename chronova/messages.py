"""The wire format of events on the bus, shared by the relay, the projections
and every consumer: a small JSON envelope around the event's own fields.

Consumers never need the domain classes (billing, agents), only this format.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any
from uuid import UUID

from eventsourcing.domain import DomainEventProtocol

TOPIC_PREFIX = "chronova."
REPORTS_TOPIC = "chronova.reports"
DEAD_LETTER_TOPIC = "chronova.deadletter"
SERVER_EVENTS_TOPIC = "chronova.server"
CONSOLE_REQUESTS_TOPIC = "chronova.consoleoutputrequest"
_ENVELOPE_FIELDS = {"originator_id", "originator_version", "timestamp", "originator_topic"}
# Fields kept in the store only: the bus and every consumer see events without them.
_SECRET_FIELDS = {"password_hash"}
_NOT_PUBLISHED = _ENVELOPE_FIELDS | _SECRET_FIELDS


class MalformedMessage(Exception):
    """A message that cannot be understood; it is parked, never retried."""


def events_topic(aggregate_type: str) -> str:
    return f"{TOPIC_PREFIX}{aggregate_type.lower()}"


def _plain(value: Any) -> Any:
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


_EVENT_TYPE = re.compile(r"^[A-Za-z]\w*\.[A-Za-z]\w*$")


def _check_envelope(body: Any) -> None:
    """Every consumer reads every event, so this check is hand-written rather than a schema: it is the hot path."""
    if not isinstance(body, dict):
        raise MalformedMessage("not an event envelope: not a JSON object")
    for key, kind in (
        ("notification_id", int),
        ("version", int),
        ("event_type", str),
        ("aggregate_id", str),
        ("timestamp", str),
        ("data", dict),
    ):
        if not isinstance(body.get(key), kind) or isinstance(body.get(key), bool):
            raise MalformedMessage(f"not an event envelope: '{key}' missing or not {kind.__name__}")
    if body["notification_id"] < 1 or body["version"] < 1 or not _EVENT_TYPE.match(body["event_type"]):
        raise MalformedMessage("not an event envelope: bad position or type")
    try:
        UUID(body["aggregate_id"])
        datetime.fromisoformat(body["timestamp"])
    except ValueError as e:
        raise MalformedMessage(f"not an event envelope: {e}") from None


@dataclass(frozen=True)
class EventMessage:
    """One stored event as consumers see it."""

    notification_id: int
    event_type: str
    aggregate_id: str
    version: int
    timestamp: str
    data: dict[str, Any]

    @property
    def aggregate_type(self) -> str:
        return self.event_type.split(".", 1)[0]

    @property
    def topic(self) -> str:
        return events_topic(self.aggregate_type)

    @classmethod
    def from_domain_event(cls, notification_id: int, event: DomainEventProtocol[Any]) -> EventMessage:
        data = {k: _plain(v) for k, v in event.__dict__.items() if k not in _NOT_PUBLISHED}
        return cls(
            notification_id=notification_id,
            event_type=type(event).__qualname__,
            aggregate_id=str(event.originator_id),
            version=event.originator_version,
            timestamp=event.timestamp.isoformat(),
            data=data,
        )

    def to_json(self) -> bytes:
        return json.dumps(self.__dict__, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, raw: bytes | None) -> EventMessage:
        try:
            body = json.loads(raw or b"")
        except ValueError as e:
            raise MalformedMessage(f"not an event envelope: {e}") from None
        _check_envelope(body)
        return cls(
            notification_id=body["notification_id"],
            event_type=body["event_type"],
            aggregate_id=body["aggregate_id"],
            version=body["version"],
            timestamp=body["timestamp"],
            data=body["data"],
        )
