"""The audit's pure parts: times, ranges, versions at a time, CloudEvents, seal hashes, argument errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chronova.audit.cli import main
from chronova.audit.commands import AuditError
from chronova.audit.export import check_range, cloudevent
from chronova.audit.integrity import chained, event_digest
from chronova.audit.state import version_at
from chronova.audit.store import RawEvent
from chronova.audit.targets import Target, aggregate_type, event_name
from chronova.audit.times import parse_time
from chronova.messages import EventMessage
from domain.host import host_id
from domain.identity import project_aggregate_id

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def test_times_without_an_offset_are_utc_and_garbage_is_refused():
    assert parse_time("2026-01-01T12:00:00", "--at") == T0
    assert parse_time("2026-01-01T13:00:00+01:00", "--at") == T0
    with pytest.raises(AuditError, match="--since 'last tuesday': expected an ISO 8601 time"):
        parse_time("last tuesday", "--since")


def test_ranges_must_be_ordered_and_not_start_in_the_future():
    check_range(T0, T0)
    check_range(None, T0)
    with pytest.raises(AuditError, match="malformed range"):
        check_range(T0, T0 - timedelta(seconds=1))
    with pytest.raises(AuditError, match="in the future"):
        check_range(datetime.now(UTC) + timedelta(days=1), None)


def test_version_at_a_time_is_the_last_event_at_or_before_it():
    stamps = [T0, T0 + timedelta(seconds=1), T0 + timedelta(seconds=2)]
    assert version_at(stamps, T0, "x") == 1
    assert version_at(stamps, T0 + timedelta(seconds=1, milliseconds=500), "x") == 2
    assert version_at(stamps, T0 + timedelta(days=1), "x") == 3
    with pytest.raises(AuditError, match="before the first event of server s1"):
        version_at(stamps, T0 - timedelta(microseconds=1), "server s1")


def test_targets_resolve_names_to_the_aggregates_they_name():
    assert Target.resolve("host", "h1").aggregate_id == host_id("h1")
    by_name = Target.resolve("project", "demo")
    assert by_name.party == project_aggregate_id("demo").hex
    assert Target.resolve("project", by_name.party).aggregate_id == by_name.aggregate_id
    with pytest.raises(AuditError, match="not a uuid"):
        Target.resolve("server", "vm1")
    assert aggregate_type("domain.server:Server.Created") == "Server"
    assert event_name("domain.server:Server.Created") == "Server.Created"


def test_cloudevents_carry_the_required_attributes_and_a_stable_id():
    message = EventMessage(7, "Server.Spawned", "0b6a1f0e-5f6c-4a8e-9a43-1c9b6d3f0d11", 3, T0.isoformat(), {"x": 1})
    event = cloudevent(message, class_version=2)
    assert {"specversion", "id", "source", "type"} <= event.keys()
    assert event["id"] == "0b6a1f0e-5f6c-4a8e-9a43-1c9b6d3f0d11/3"
    assert (event["type"], event["sequence"], event["data"]) == ("io.chronova.Server.Spawned", "7", {"x": 1})
    assert (event["aggregateversion"], event["classversion"]) == (3, 2)


def test_a_seal_changes_with_any_byte_of_the_event_and_chains_depend_on_order():
    raw = RawEvent(1, "0b6a1f0e-5f6c-4a8e-9a43-1c9b6d3f0d11", 1, "domain.host:Host.Registered", b'{"a":1}')
    digest = event_digest(raw)
    assert digest != event_digest(RawEvent(1, raw.originator_id, 1, raw.topic, b'{"a":2}'))
    assert digest != event_digest(RawEvent(1, raw.originator_id, 2, raw.topic, raw.state))
    assert digest != event_digest(RawEvent(1, raw.originator_id, 1, "domain.host:Host.Other", raw.state))
    assert chained(chained("", "a"), "b") != chained(chained("", "b"), "a")


def test_argument_mistakes_exit_2_before_touching_any_store(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["history", "planet", "earth"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("chronova audit history: error: argument kind: invalid choice: 'planet'")
    assert len(err.splitlines()) == 1
    assert main(["--database-url", "mysql://x/y", "history", "host", "h1"]) == 2
    assert capsys.readouterr().err == "chronova audit: error: CHRONOVA_DATABASE_URL: unsupported scheme 'mysql'\n"
