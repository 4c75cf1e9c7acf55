"""The billing fold: server events to usage, pure, with time passed in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chronova.billing.fold import Category, change_of, fold
from chronova.billing.periods import BillingError, checked_window
from chronova.billing.store import open_segments
from chronova.billing.usage import Window, usage
from chronova.messages import EventMessage, MalformedMessage

T0 = datetime(2026, 1, 1, tzinfo=UTC)
SERVER = "8a4c0e9e-6d0a-4a6e-9e1f-4f0b1d2c3e4f"
SMALL = {"id": "1", "name": "m1.tiny", "vcpus": 1, "ram": 512, "disk": 1, "ephemeral": 0, "swap": 0}
BIG = {"id": "2", "name": "m1.small", "vcpus": 2, "ram": 2048, "disk": 20, "ephemeral": 5, "swap": 0}


def message(version: int, minutes: int, event_type: str, **data: object) -> EventMessage:
    at = (T0 + timedelta(minutes=minutes)).isoformat()
    return EventMessage(version, f"Server.{event_type}", SERVER, version, at, dict(data))


def life() -> list[EventMessage]:
    """Created, runs 60 min, stopped 30, running 30, resized (verify 10, confirmed), shelved-offloaded, deleted."""
    return [
        message(1, 0, "Created", project_id="p1", user_id="u1", name="vm", flavor=SMALL),
        message(2, 1, "Scheduled", host="h1", flavor=SMALL),
        message(3, 2, "Spawned", host="h1", power_state=1),
        message(4, 62, "ActionCompleted", vm_state="stopped", power_state=4),
        message(5, 92, "ActionCompleted", vm_state="active", power_state=1),
        message(6, 122, "ResizeFinished", changes={"vm_state": "resized", "flavor": BIG}),
        message(7, 132, "ResizeConfirmed", changes={"vm_state": "active"}),
        message(8, 192, "ActionCompleted", vm_state="shelved_offloaded", power_state=4),
        message(9, 252, "Deleted", host=None),
    ]


def totals(messages: list[EventMessage], window: Window, now: datetime) -> list:
    states, closed = fold(change_of(m) for m in messages)
    return usage(closed + open_segments(states.values()), window, now)


def test_a_life_is_billed_per_category_and_flavor() -> None:
    end = T0 + timedelta(hours=10)
    small, big = totals(life(), Window(T0, end), end)
    assert small.flavor.id == "1" and big.flavor.id == "2"
    assert small.seconds == {Category.RUNNING: 90 * 60, Category.STOPPED: 30 * 60, Category.SHELVED: 0}
    assert small.vcpu_hours == pytest.approx(2.0) and small.ram_mb_hours == pytest.approx(1024)
    # 70 minutes running on the big flavor, then 60 shelved-offloaded: no resources held then.
    assert big.seconds == {Category.RUNNING: 70 * 60, Category.STOPPED: 0, Category.SHELVED: 60 * 60}
    assert big.vcpu_hours == pytest.approx(2 * 70 / 60) and big.disk_gb_hours == pytest.approx(25 * 70 / 60)


def test_redelivered_and_reordered_duplicates_count_once() -> None:
    end = T0 + timedelta(hours=10)
    once = totals(life(), Window(T0, end), end)
    events = life()
    twice = totals(events[:5] + events[:5] + events[3:] + events, Window(T0, end), end)
    assert [(r.seconds, r.vcpu_hours) for r in twice] == [(r.seconds, r.vcpu_hours) for r in once]


def test_a_running_server_accrues_up_to_now_and_the_window_clips() -> None:
    running = life()[:3]
    now = T0 + timedelta(minutes=32)
    (record,) = totals(running, Window(T0, T0 + timedelta(hours=1)), now)
    assert record.seconds[Category.RUNNING] == 30 * 60
    (clipped,) = totals(running, Window(T0 + timedelta(minutes=12), T0 + timedelta(minutes=22)), now)
    assert clipped.seconds[Category.RUNNING] == 10 * 60


@pytest.mark.parametrize(
    ("event_type", "data", "reason"),
    [
        ("Created", {"project_id": "p", "user_id": "u", "name": "n"}, "no flavor"),
        ("Created", {"project_id": "p", "user_id": "u", "name": "n", "flavor": {**SMALL, "vcpus": "2"}}, "vcpus"),
        ("ActionCompleted", {"vm_state": "levitating"}, "unknown vm_state"),
        ("ResizeFinished", {"changes": ["flavor"]}, "'changes' is not an object"),
    ],
)
def test_events_that_make_no_sense_are_malformed(event_type: str, data: dict, reason: str) -> None:
    with pytest.raises(MalformedMessage, match=reason):
        change_of(message(1, 0, event_type, **data))


def test_periods_refuse_the_future_and_reversed_ranges() -> None:
    now = T0 + timedelta(days=3)
    assert checked_window(None, None, now) == Window(T0, now)
    for since, until in (("2026-01-02", "2026-01-01"), ("2026-02-01", None), ("yesterday", None)):
        with pytest.raises(BillingError):
            checked_window(since, until, now)
