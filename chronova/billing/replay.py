"""Billing recomputed from the event store, through the same fold the consumer runs: what usage must be.

`chronova billing verify` compares the two; any difference means the stream lost, reordered or altered
an event on its way to billing, or billing stored something twice.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from chronova.billing.fold import Change, change_of, fold
from chronova.billing.store import open_segments
from chronova.billing.usage import UsageRecord, Window, usage
from chronova.cloud import Cloud
from chronova.messages import MalformedMessage
from projections.replay import EventDecoder, read_log


def stored_changes(cloud: Cloud) -> Iterator[Change]:
    """Every stored server event that billing understands, in notification order."""
    decoder = EventDecoder(cloud)
    for page in read_log(cloud, after=0, upto=None):
        for notification in page:
            if ":Server." not in notification.topic:  # "domain.server:Server.Created"
                continue
            try:
                yield change_of(decoder.message(notification))
            except MalformedMessage:
                continue  # the consumer parks these too: they bill nothing either way


def replayed_usage(cloud: Cloud, window: Window, now: datetime, project_id: str | None = None) -> list[UsageRecord]:
    states, closed = fold(stored_changes(cloud))
    segments = closed + open_segments(states.values())
    return usage([s for s in segments if project_id is None or s.project_id == project_id], window, now)
