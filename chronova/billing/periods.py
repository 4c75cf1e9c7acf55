"""Billing periods as operators and invoice systems give them: ISO 8601, UTC unless an offset says otherwise."""

from __future__ import annotations

from datetime import UTC, datetime

from chronova.billing.usage import Window


class BillingError(Exception):
    """An operator's mistake: printed on one line (CLI) or answered with a 400 (HTTP)."""


def _moment(text: str, option: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise BillingError(f"{option} {text!r}: expected an ISO 8601 time such as 2026-01-31T12:00:00Z") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def checked_window(since: str | None, until: str | None, now: datetime) -> Window:
    """[since, until): since defaults to the start of the current month, until to now; neither in the future."""
    start = _moment(since, "--since") if since else now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    stop = _moment(until, "--until") if until else now
    for moment, option in ((start, "--since"), (stop, "--until")):
        if moment > now:
            raise BillingError(f"{option} {moment.isoformat()} is in the future")
    if not start < stop:
        raise BillingError(f"--since {start.isoformat()} is not before --until {stop.isoformat()}")
    return Window(start, stop)
