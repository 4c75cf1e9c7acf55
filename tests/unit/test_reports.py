"""Agent reports are untrusted: anything malformed is refused before use."""

import json

import pytest

from chronova.host_keys import MAX_REPORT_AGE, HostKeys, derive_host_key, signature
from chronova.messages import EventMessage, MalformedMessage
from chronova.reports import Heartbeat, Spawned, decode_report, encode_report
from domain.placement import default_inventories, inventories_to_dict

SERVER = "0b0f8c55-0c36-4f0e-9d8f-4e2f3b1f1a11"
SECRET = b"cloud-secret"
KEYS = HostKeys(SECRET)
NOW = 1_800_000_000.0


def signed(body: dict, host: str = "h1") -> bytes:
    """A body as host `host` would send it, whatever it claims."""
    body = {**body, "sent_at": NOW}
    return json.dumps({**body, "sig": signature(derive_host_key(SECRET, host), body)}).encode()


def test_reports_round_trip():
    heartbeat = Heartbeat(host="h1", inventories=inventories_to_dict(default_inventories(4, 4096, 40)), hypervisor={})
    assert decode_report(encode_report(heartbeat, KEYS.key("h1"), NOW), KEYS, NOW) == heartbeat
    spawned = Spawned(host="h1", server_id=SERVER, power_state=1)
    assert decode_report(encode_report(spawned, KEYS.key("h1"), NOW), KEYS, NOW + 1) == spawned


def test_a_host_cannot_speak_for_another_host():
    forged = Spawned(host="h2", server_id=SERVER, power_state=1)
    with pytest.raises(MalformedMessage, match="signature does not match host 'h2'"):
        decode_report(encode_report(forged, KEYS.key("h1"), NOW), KEYS, NOW)


def test_unsigned_tampered_and_stale_reports_are_refused():
    report = Spawned(host="h1", server_id=SERVER, power_state=1)
    raw = encode_report(report, KEYS.key("h1"), NOW)
    unsigned = {k: v for k, v in json.loads(raw).items() if k != "sig"}
    tampered = {**json.loads(raw), "power_state": 4}
    for bad in (json.dumps(unsigned).encode(), json.dumps(tampered).encode()):
        with pytest.raises(MalformedMessage):
            decode_report(bad, KEYS, NOW)
    with pytest.raises(MalformedMessage, match="stale"):
        decode_report(raw, KEYS, NOW + MAX_REPORT_AGE + 1)


@pytest.mark.parametrize("raw", [b"not json", b"[]", None])
def test_unparseable_reports_are_refused(raw):
    with pytest.raises(MalformedMessage):
        decode_report(raw, KEYS, NOW)


@pytest.mark.parametrize(
    "body",
    [
        {"type": "reboot_the_world", "host": "h1"},
        {"type": "spawned", "host": "h1", "server_id": "nope", "power_state": 1},
        {"type": "spawned", "host": "h1", "server_id": SERVER, "power_state": 99},
        {"type": "heartbeat", "host": "h1", "inventories": {"VCPU": {"total": -1}}},
        {"type": "heartbeat", "host": "h1", "inventories": {"VCPU": {"total": 1, "reserved": 2}}},
        {"type": "deleted", "host": "h1", "server_id": SERVER, "extra": 1},
    ],
)
def test_signed_but_malformed_reports_are_refused(body):
    with pytest.raises(MalformedMessage):
        decode_report(signed(body), KEYS, NOW)


def test_host_names_are_checked_after_the_signature():
    body = {"type": "spawned", "host": "../etc", "server_id": SERVER, "power_state": 1}
    with pytest.raises(MalformedMessage, match="invalid spawned report"):
        decode_report(signed(body, host="../etc"), KEYS, NOW)


def test_event_envelope_round_trips_and_rejects_garbage():
    message = EventMessage(1, "Server.Created", SERVER, 1, "2026-01-01T00:00:00+00:00", {"name": "vm1"})
    assert EventMessage.from_json(message.to_json()) == message
    assert message.topic == "chronova.server"
    for raw in (b"{}", b"garbage", b'{"notification_id": "1"}'):
        with pytest.raises(MalformedMessage):
            EventMessage.from_json(raw)
