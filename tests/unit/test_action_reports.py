"""The reports an agent sends about host actions and console requests: signed,
validated field by field, and their text made storable before anyone uses it;
and the Server aggregate's action events, which rebuild the same server."""

from __future__ import annotations

import json

import pytest

from chronova.host_keys import HostKeys, derive_host_key, signature
from chronova.messages import MalformedMessage
from chronova.reports import (
    MAX_CONSOLE_CHARACTERS,
    ActionCompleted,
    ActionFailed,
    ConsoleOutput,
    ConsoleUnavailable,
    SpawnFailed,
    decode_report,
    encode_report,
)
from domain import host_actions
from domain.errors import InvalidState, WrongHost
from domain.server import Server
from domain.states import TaskState, VmState
from tests.unit.test_server import new_server, replayed

SERVER = "0b0f8c55-0c36-4f0e-9d8f-4e2f3b1f1a11"
REQUEST = "5d7d3c1e-8d8e-4b5f-9a52-3f0d6c2b1e77"
SECRET = b"cloud-secret"
KEYS = HostKeys(SECRET)
NOW = 1_800_000_000.0


def signed(body: dict, host: str = "h1") -> bytes:
    body = {**body, "sent_at": NOW}
    return json.dumps({**body, "sig": signature(derive_host_key(SECRET, host), body)}).encode()


@pytest.mark.parametrize(
    "report",
    [
        ActionCompleted("h1", SERVER, "req-42", "reboot", 1),
        ActionFailed("h1", SERVER, "req-42", "pause", "domain is not running", 4),
        ConsoleOutput("h1", REQUEST, "login: \n"),
        ConsoleUnavailable("h1", REQUEST, "Guest does not have a console available."),
    ],
)
def test_the_new_reports_round_trip(report: object) -> None:
    assert decode_report(encode_report(report, KEYS.key("h1"), NOW), KEYS, NOW) == report  # type: ignore[arg-type]


def test_a_host_cannot_report_an_action_for_another_host() -> None:
    forged = ActionCompleted("h2", SERVER, "req-42", "stop", 4)

    with pytest.raises(MalformedMessage, match="signature does not match host 'h2'"):
        decode_report(encode_report(forged, KEYS.key("h1"), NOW), KEYS, NOW)


_ACTION = {"host": "h1", "server_id": SERVER, "request_id": "req-1", "action": "stop", "power_state": 4}


@pytest.mark.parametrize(
    "body",
    [
        {**_ACTION, "type": "action_completed", "action": "format_disk"},
        {**_ACTION, "type": "action_completed", "power_state": 2},
        {**_ACTION, "type": "action_completed", "power_state": "4"},
        {**_ACTION, "type": "action_completed", "request_id": "req 1; drop"},
        {**_ACTION, "type": "action_completed", "server_id": "nope"},
        {**_ACTION, "type": "action_completed", "extra": True},
        {**_ACTION, "type": "action_failed"},  # no reason
        {**_ACTION, "type": "action_failed", "reason": "x" * 4097},
        {"type": "console_output", "host": "h1", "console_request_id": "nope", "output": ""},
        {"type": "console_output", "host": "h1", "console_request_id": REQUEST, "output": "x" * (100 * 1024 + 1)},
        {"type": "console_output", "host": "h1", "console_request_id": REQUEST, "output": 5},
        {"type": "console_unavailable", "host": "h1", "console_request_id": REQUEST},
    ],
)
def test_signed_but_malformed_action_reports_are_refused(body: dict) -> None:
    with pytest.raises(MalformedMessage):
        decode_report(signed(body), KEYS, NOW)


def test_agent_text_is_made_storable_before_it_is_recorded() -> None:
    """PostgreSQL text holds no NUL and UTF-8 no lone surrogate: either would stop every projection."""
    output = {"type": "console_output", "host": "h1", "console_request_id": REQUEST, "output": "a\x00b\ud800c\x07\n"}
    failed = {**_ACTION, "type": "action_failed", "reason": "bad\x00 news\ud83d"}
    spawn = {"type": "spawn_failed", "host": "h1", "server_id": SERVER, "reason": "no\x00pe"}

    assert decode_report(signed(output), KEYS, NOW).output == "ab?c\n"  # type: ignore[union-attr]
    assert decode_report(signed(failed), KEYS, NOW).reason == "bad news?"  # type: ignore[union-attr]
    assert decode_report(signed(spawn), KEYS, NOW) == SpawnFailed("h1", SERVER, "nope")
    assert MAX_CONSOLE_CHARACTERS == 100 * 1024


# --- the aggregate ------------------------------------------------------------------------------


def running() -> Server:
    server = new_server()
    server.schedule("h1")
    server.record_spawned("h1", 1)
    return server


def test_an_action_and_its_completion_rebuild_the_same_server() -> None:
    server = running()
    server.lock(by_owner=False, reason="audit", request_id="req-2", user_id="admin")
    server.request_action(host_actions.STOP, is_admin=True, request_id="req-3", user_id="admin")
    in_flight = replayed(server)
    server.record_action_completed("h1", "req-3", "stop", 4)

    assert (in_flight.task_state, in_flight.pending_action, in_flight.pending_request_id) == (
        TaskState.POWERING_OFF, host_actions.STOP, "req-3",
    )  # fmt: skip
    assert (in_flight.locked_by, in_flight.locked_reason) == ("admin", "audit")
    assert (server.vm_state, server.task_state, server.power_state, server.pending_action) == (
        VmState.STOPPED, None, 4, None,
    )  # fmt: skip


def test_a_report_is_refused_unless_it_ends_the_action_in_flight_on_its_host() -> None:
    server = running()
    server.request_action(host_actions.PAUSE, is_admin=False, request_id="req-3", user_id="u1")

    with pytest.raises(WrongHost):
        server.record_action_completed("h2", "req-3", "pause", 3)
    with pytest.raises(InvalidState, match="has no pause of request req-4 in progress"):
        server.record_action_completed("h1", "req-4", "pause", 3)
    with pytest.raises(InvalidState, match="has no stop of request req-3 in progress"):
        server.record_action_failed("h1", "req-3", "stop", "no", 1)
    server.request_delete(request_id="req-5", user_id="u1")
    with pytest.raises(InvalidState):  # a delete overtook the pause
        server.record_action_completed("h1", "req-3", "pause", 3)


def test_a_locked_server_refuses_a_member_before_its_state_is_judged() -> None:
    server = running()
    server.lock(by_owner=True, reason=None, request_id="req-2", user_id="u1")

    with pytest.raises(InvalidState, match=f"Instance {server.id} is locked"):
        server.request_action(host_actions.START, is_admin=False, request_id="req-3", user_id="u1")
    with pytest.raises(InvalidState, match="Cannot 'start' instance"):
        server.request_action(host_actions.START, is_admin=True, request_id="req-3", user_id="admin")
