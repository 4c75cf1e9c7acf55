"""`chronova audit export`: events as JSON lines, or as CloudEvents, for a time range or one target.

The JSON lines are the bus's own envelope (chronova/messages.py), so a
consumer that reads Kafka reads an export too; secrets stay in the store.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from chronova.audit.commands import AuditCommand, AuditContext, AuditError
from chronova.audit.store import AuditStore
from chronova.audit.targets import KINDS, Entry, Target, add_target_arguments
from chronova.audit.times import not_in_future, parse_time
from chronova.messages import EventMessage

CLOUDEVENTS_TYPE_PREFIX = "io.chronova."


def cloudevent(message: EventMessage, class_version: int = 1) -> dict[str, Any]:
    """CloudEvents 1.0, JSON format: one aggregate is one source; (source, id) is unique and stable.

    `classversion` is the version of the event class the data is shaped as (old events are upcast to it).
    """
    return {
        "specversion": "1.0",
        "id": f"{message.aggregate_id}/{message.version}",
        "source": f"/chronova/{message.aggregate_type.lower()}/{message.aggregate_id}",
        "type": f"{CLOUDEVENTS_TYPE_PREFIX}{message.event_type}",
        "subject": message.aggregate_id,
        "time": message.timestamp,
        "datacontenttype": "application/json",
        "sequence": str(message.notification_id),
        "aggregateversion": message.version,
        "classversion": class_version,
        "data": message.data,
    }


def check_range(since: datetime | None, until: datetime | None) -> None:
    if since is not None:
        not_in_future(since, "--since")
    if since is not None and until is not None and since > until:
        raise AuditError(f"malformed range: --since {since.isoformat()} is after --until {until.isoformat()}")


def _all(store: AuditStore) -> Iterator[Entry]:
    for raw in store.scan():
        yield Entry(raw, store.decode(raw))


def _first_event_time(store: AuditStore) -> datetime | None:
    first = next(store.scan(), None)
    return None if first is None else store.decode(first).timestamp


def _arguments(parser: argparse.ArgumentParser) -> None:
    add_target_arguments(parser, required=False)
    parser.add_argument("--since", metavar="TIME", help="events at or after this ISO 8601 time")
    parser.add_argument("--until", metavar="TIME", help="events at or before this ISO 8601 time")
    parser.add_argument("--format", choices=("jsonl", "cloudevents"), default="jsonl")


def _run(args: argparse.Namespace, ctx: AuditContext) -> int:
    if (args.kind is None) != (args.ref is None):
        raise AuditError(f"name what to export as KIND REF (KIND one of {', '.join(KINDS)}), or nothing for all")
    since = parse_time(args.since, "--since") if args.since else None
    until = parse_time(args.until, "--until") if args.until else None
    check_range(since, until)
    store = AuditStore(ctx.cloud)
    first = _first_event_time(store)
    if first is None:
        raise AuditError("the event store has no events")
    if until is not None and until < first:
        raise AuditError(f"--until {until.isoformat()} is before the first event ({first.isoformat()})")
    entries = _all(store) if args.kind is None else Target.resolve(args.kind, args.ref).entries(store)
    for entry in entries:
        moment = entry.event.timestamp
        if (since is not None and moment < since) or (until is not None and moment > until):
            continue
        message = EventMessage.from_domain_event(entry.raw.notification_id, entry.event)
        if args.format == "cloudevents":
            line = cloudevent(message, getattr(type(entry.event), "class_version", 1))
        else:
            line = message.__dict__
        ctx.out.write(json.dumps(line, separators=(",", ":")) + "\n")
    return 0


COMMANDS = [
    AuditCommand("export", "Events as JSON lines or CloudEvents, for a time range or a target", _arguments, _run)
]
