"""`chronova audit state KIND REF [--version N | --at TIME]`: an aggregate as it was.

The repository rebuilds it from its events up to that version (starting from
a snapshot where one exists), so this is exactly what the command side saw.
"""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from typing import Any

from chronova.audit.commands import AuditCommand, AuditContext, AuditError
from chronova.audit.render import plain
from chronova.audit.store import AuditStore
from chronova.audit.targets import Target, add_target_arguments
from chronova.audit.times import not_in_future, parse_time

# eventsourcing keeps these as private attributes; the audit shows them by their meaning.
_RENAMED = {"_id": "id", "_version": "version", "_created_on": "created_on", "_modified_on": "modified_on"}


def version_at(timestamps: list[datetime], moment: datetime, what: str) -> int:
    """The last version recorded at or before `moment` (versions count from 1)."""
    if moment < timestamps[0]:
        raise AuditError(f"{moment.isoformat()} is before the first event of {what} ({timestamps[0].isoformat()})")
    return sum(1 for stamp in timestamps if stamp <= moment)


def aggregate_state(aggregate: Any) -> dict[str, Any]:
    return {_RENAMED.get(k, k): plain(v) for k, v in vars(aggregate).items() if not k.startswith("_") or k in _RENAMED}


def _arguments(parser: argparse.ArgumentParser) -> None:
    add_target_arguments(parser)
    when = parser.add_mutually_exclusive_group()
    when.add_argument("--version", type=int, help="the state after this version (default: the latest)")
    when.add_argument("--at", metavar="TIME", help="the state at this ISO 8601 time (UTC unless it has an offset)")
    parser.add_argument("--json", action="store_true", help="JSON instead of one line per attribute")


def _run(args: argparse.Namespace, ctx: AuditContext) -> int:
    moment = not_in_future(parse_time(args.at, "--at"), "--at") if args.at else None
    target = Target.resolve(args.kind, args.ref)
    what = f"{target.kind} {target.ref}"
    store = AuditStore(ctx.cloud)
    raws = target.own_events(store)
    if not raws:
        raise AuditError(f"{what} not found in the event store")
    latest = raws[-1].originator_version
    if moment is not None:
        version = version_at([store.decode(raw).timestamp for raw in raws], moment, what)
    elif args.version is not None:
        if not 1 <= args.version <= latest:
            raise AuditError(f"{what} has versions 1 to {latest}, not {args.version}")
        version = args.version
    else:
        version = latest
    state = aggregate_state(ctx.cloud.repository.get(target.aggregate_id, version=version))
    if args.json:
        json.dump(state, ctx.out, indent=2)
        print(file=ctx.out)
        return 0
    print(f"{what} at version {version} of {latest}", file=ctx.out)
    width = max(len(key) for key in state)
    for key, value in state.items():
        print(f"  {key.ljust(width)}  {json.dumps(value)}", file=ctx.out)
    return 0


COMMANDS = [AuditCommand("state", "An aggregate's state at a version or at a time", _arguments, _run)]
