"""Points in time as operators type them: ISO 8601, UTC unless an offset says otherwise."""

from __future__ import annotations

from datetime import UTC, datetime

from chronova.audit.commands import AuditError


def parse_time(text: str, option: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise AuditError(f"{option} {text!r}: expected an ISO 8601 time such as 2026-01-31T12:00:00Z") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def not_in_future(moment: datetime, option: str) -> datetime:
    if moment > datetime.now(UTC):
        raise AuditError(f"{option} {moment.isoformat()} is in the future")
    return moment
