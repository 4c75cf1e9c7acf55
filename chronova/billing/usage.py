"""Usage over a time window: segments clipped to the window and summed per (project, server, flavor).

Pure, with `now` passed in: a segment still open accrues up to now, so the same segments asked about the
same window at the same `now` always give the same figures.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from chronova.billing.fold import Category, Flavor, Segment


@dataclass(frozen=True)
class Window:
    since: datetime
    until: datetime


@dataclass
class UsageRecord:
    """One (project, server, flavor) over a window: seconds per category and resource hours."""

    project_id: str
    server_id: str
    flavor: Flavor
    seconds: dict[Category, float] = field(default_factory=lambda: dict.fromkeys(Category, 0.0))
    vcpu_hours: float = 0.0
    ram_mb_hours: float = 0.0
    disk_gb_hours: float = 0.0

    @property
    def hours(self) -> float:
        return sum(self.seconds.values()) / 3600.0

    def add(self, segment: Segment, seconds: float) -> None:
        self.seconds[segment.category] += seconds
        if segment.holds_resources:
            hours = seconds / 3600.0
            self.vcpu_hours += segment.flavor.vcpus * hours
            self.ram_mb_hours += segment.flavor.ram_mb * hours
            self.disk_gb_hours += segment.flavor.disk_gb * hours


def clipped_seconds(segment: Segment, window: Window, now: datetime) -> float:
    ended = segment.ended_at or now
    start, stop = max(segment.started_at, window.since), min(ended, window.until, now)
    return max((stop - start).total_seconds(), 0.0)


def usage(segments: Iterable[Segment], window: Window, now: datetime) -> list[UsageRecord]:
    """Records in (project, server, flavor id) order; a segment outside the window adds nothing."""
    records: dict[tuple[str, str, str, Flavor], UsageRecord] = {}
    for segment in segments:
        seconds = clipped_seconds(segment, window, now)
        if seconds <= 0:
            continue
        key = (segment.project_id, segment.server_id, segment.flavor.id, segment.flavor)
        record = records.get(key)
        if record is None:
            record = records[key] = UsageRecord(segment.project_id, segment.server_id, segment.flavor)
        record.add(segment, seconds)
    return [records[key] for key in sorted(records, key=lambda key: key[:3])]
