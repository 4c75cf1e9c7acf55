"""`chronova audit history KIND REF`: who did what to it, when, under which request."""

from __future__ import annotations

import argparse
import json
from typing import Any

from chronova.audit.commands import AuditCommand, AuditContext
from chronova.audit.render import plain, table
from chronova.audit.store import AuditStore
from chronova.audit.targets import Entry, Target, add_target_arguments, event_name

# Fields shown as columns; the rest of an event's fields are its details.
_ENVELOPE = {"originator_id", "originator_version", "timestamp", "originator_topic"}
_COLUMNS = {"request_id", "user_id", "project_id"}


def class_versions(entry: Entry, store: AuditStore) -> dict[str, int]:
    """The event class's version as recorded and as read: they differ where upcasters filled in the details."""
    read = getattr(type(entry.event), "class_version", 1)
    recorded = store.recorded_state(entry.raw).get("class_version", 1) if read > 1 else 1
    return {"class_version": read, "recorded_class_version": recorded}


def history_rows(entries: list[Entry], store: AuditStore) -> list[dict[str, Any]]:
    """One row per event, with the project that owns its aggregate where the event records no project itself."""
    owners: dict[str, str] = {}
    rows = []
    for entry in entries:
        fields = entry.fields
        aggregate_id = entry.raw.originator_id
        if entry.raw.originator_version == 1:
            owner = fields.get("project_id") or fields.get("owner")
            if isinstance(owner, str):
                owners[aggregate_id] = owner
        rows.append(
            {
                "time": fields["timestamp"].isoformat(),
                "notification_id": entry.raw.notification_id,
                "aggregate_id": aggregate_id,
                "version": entry.raw.originator_version,
                "event": event_name(entry.raw.topic),
                **class_versions(entry, store),
                "request_id": fields.get("request_id"),
                "user_id": fields.get("user_id"),
                "project_id": fields.get("project_id"),
                "owner_project_id": owners.get(aggregate_id),
                "details": plain({k: v for k, v in fields.items() if k not in _ENVELOPE | _COLUMNS}),
            }
        )
    return rows


def _arguments(parser: argparse.ArgumentParser) -> None:
    add_target_arguments(parser)
    parser.add_argument("--json", action="store_true", help="one JSON document instead of a table")


def _run(args: argparse.Namespace, ctx: AuditContext) -> int:
    target = Target.resolve(args.kind, args.ref)
    store = AuditStore(ctx.cloud)
    rows = history_rows(list(target.entries(store)), store)
    if args.json:
        json.dump({"kind": target.kind, "ref": target.ref, "events": rows}, ctx.out, indent=2)
        print(file=ctx.out)
        return 0
    several = len({row["aggregate_id"] for row in rows}) > 1
    headers = ["TIME", *(["AGGREGATE"] if several else []), "VERSION", "EVENT", "REQUEST", "USER", "PROJECT"]
    cells = [
        [
            row["time"],
            *([row["aggregate_id"]] if several else []),
            str(row["version"]),
            row["event"],
            row["request_id"] or "-",
            row["user_id"] or "-",
            row["project_id"] or row["owner_project_id"] or "-",
        ]
        for row in rows
    ]
    table(cells, headers, ctx.out)
    return 0


COMMANDS = [AuditCommand("history", "Every event of a server, host, flavor, image, project or user", _arguments, _run)]
