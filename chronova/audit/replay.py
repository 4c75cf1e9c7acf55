"""`chronova audit rebuild | verify | as-of`: the read models replayed from the events.

rebuild and verify work beside the live views on PostgreSQL (projections/rebuild.py);
as-of builds every view up to a moment into its own schema or file and can serve
the query API from it (projections/as_of.py).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TextIO

from chronova.audit.commands import AuditCommand, AuditContext, AuditError
from chronova.audit.times import not_in_future, parse_time
from projections.runner import ALL_PROJECTIONS, Projection

if TYPE_CHECKING:
    from projections.as_of import AsOfCopy
    from projections.views import PostgresViewStore

BAR_WIDTH = 30


def _projections(name: str) -> list[Projection]:
    if name == "all":
        return list(ALL_PROJECTIONS)
    chosen = [p for p in ALL_PROJECTIONS if p.name == name]
    if not chosen:
        known = ", ".join(p.name for p in ALL_PROJECTIONS)
        raise AuditError(f"unknown projection {name!r} (known: {known}, or all)")
    return chosen


def _projection_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("projection", help="a projection's name (servers, hypervisors, ...) or 'all'")


def progress_bar(label: str, total: int, stream: TextIO) -> Callable[[int], None]:
    """A one-line bar on `stream` (stderr): position, events/s and the time left at that rate."""
    started = time.perf_counter()

    def show(position: int) -> None:
        elapsed = time.perf_counter() - started
        rate = position / elapsed if elapsed else 0.0
        share = min(position / total, 1.0) if total else 1.0
        eta = (total - position) / rate if rate and total > position else 0.0
        filled = int(share * BAR_WIDTH)
        bar = "#" * filled + "." * (BAR_WIDTH - filled)
        stream.write(f"\r{label:<16} [{bar}] {share:6.1%} {position:>10,}/{total:,} {rate:>9,.0f} ev/s ETA {eta:5.1f}s")
        stream.flush()

    return show


def _views(ctx: AuditContext) -> PostgresViewStore:
    """The live views, where rebuild and verify can work beside them."""
    from projections.runner import ALL_DDL
    from projections.views import PostgresViewStore, open_view_store

    if ctx.settings.is_embedded_store:
        raise AuditError("rebuild and verify work beside the live views on PostgreSQL; this store is SQLite")
    views = open_view_store(ctx.cloud.factory, ALL_DDL)
    assert isinstance(views, PostgresViewStore)
    return views


def _run_rebuild(args: argparse.Namespace, ctx: AuditContext) -> int:
    from projections.rebuild import rebuild

    chosen = _projections(args.projection)
    views = _views(ctx)
    total = ctx.cloud.recorder.max_notification_id() or 0
    for projection in chosen:
        outcome = rebuild(ctx.cloud, views, projection, progress_bar(projection.name, total, sys.stderr))
        sys.stderr.write("\n")
        print(
            f"{projection.name}: rebuilt from {outcome.events_read:,} events at {outcome.rate:,.0f} events/s, "
            f"switched at position {outcome.position} after {outcome.total_seconds:.1f}s",
            file=ctx.out,
        )
    return 0


def _run_verify(args: argparse.Namespace, ctx: AuditContext) -> int:
    """The events themselves first (altered or missing ones), then each view against a replay of them."""
    from chronova.audit.integrity import check_integrity
    from projections.rebuild import verify

    chosen = _projections(args.projection)
    views = _views(ctx)
    problems = check_integrity(ctx.cloud)
    for line in problems:
        print(f"events: {line}", file=ctx.out)
    print(f"events: {len(problems)} integrity problem(s)" if problems else "events: intact", file=ctx.out)
    total = ctx.cloud.recorder.max_notification_id() or 0
    for projection in chosen:
        outcome = verify(ctx.cloud, views, projection, progress_bar(projection.name, total, sys.stderr))
        sys.stderr.write("\n")
        for line in outcome.differences:
            print(f"{projection.name}: {line}", file=ctx.out)
        problems += outcome.differences
        verdict = f"{len(outcome.differences)} difference(s)" if outcome.differences else "identical to a replay"
        print(f"{projection.name}: {verdict} at position {outcome.position}", file=ctx.out)
    return 1 if problems else 0


def _as_of_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("time", help="ISO 8601 time (UTC unless an offset is given)")
    parser.add_argument("--serve", type=int, metavar="PORT", help="then serve the query API from that copy on PORT")


def _run_as_of(args: argparse.Namespace, ctx: AuditContext) -> int:
    from projections.as_of import BeforeFirstEvent, build

    moment = not_in_future(parse_time(args.time, "as-of"), "as-of")
    try:
        copy = build(ctx.cloud, ctx.settings, moment)
    except BeforeFirstEvent as e:
        raise AuditError(str(e)) from None
    print(f"the cloud as of {moment.isoformat()}: {copy.location} (up to event #{copy.position})", file=ctx.out)
    if args.serve:
        _serve(ctx, copy, args.serve)
    return 0


def _serve(ctx: AuditContext, copy: AsOfCopy, port: int) -> None:
    """The unchanged query app over the as-of copy, until interrupted."""
    import waitress

    from projections.as_of import FrozenCloud, open_views
    from query_api.app import create_app

    views = open_views(copy.env)
    app = create_app(FrozenCloud(copy.position), views, ctx.settings)  # type: ignore[arg-type]
    print(f"query API as of {copy.moment.isoformat()} on http://{ctx.settings.api_host}:{port}/v2.1", file=ctx.out)
    ctx.out.flush()
    waitress.serve(app, host=ctx.settings.api_host, port=port, threads=4)


COMMANDS = [
    AuditCommand(
        "rebuild",
        "Rebuild a projection from zero beside the live one and switch over (PostgreSQL)",
        _projection_argument,
        _run_rebuild,
    ),
    AuditCommand(
        "verify",
        "Replay a projection into a scratch schema and diff it with the live view; exit 1 on any difference",
        _projection_argument,
        _run_verify,
    ),
    AuditCommand("as-of", "Rebuild every view up to a time into its own schema or file", _as_of_arguments, _run_as_of),
]
