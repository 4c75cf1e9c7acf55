"""Agent reports are untrusted: anything malformed is refused before use."""

import pytest

from chronova.messages import EventMessage, MalformedMessage
from chronova.reports import Heartbeat, Spawned, decode_report, encode_report
from domain.placement import default_inventories, inventories_to_dict

SERVER = "0b0f8c55-0c36-4f0e-9d8f-4e2f3b1f1a11"


def test_reports_round_trip():
    heartbeat = Heartbeat(host="h1", inventories=inventories_to_dict(default_inventories(4, 4096, 40)), hypervisor={})
    assert decode_report(encode_report(heartbeat)) == heartbeat
    spawned = Spawned(host="h1", server_id=SERVER, power_state=1)
    assert decode_report(encode_report(spawned)) == spawned


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b"[]",
        b'{"type": "reboot_the_world", "host": "h1"}',
        b'{"type": "spawned", "host": "h1", "server_id": "nope", "power_state": 1}',
        b'{"type": "spawned", "host": "h1", "server_id": "' + SERVER.encode() + b'", "power_state": 99}',
        b'{"type": "spawned", "host": "../etc", "server_id": "' + SERVER.encode() + b'", "power_state": 1}',
        b'{"type": "heartbeat", "host": "h1", "inventories": {"VCPU": {"total": -1}}}',
        b'{"type": "heartbeat", "host": "h1", "inventories": {"VCPU": {"total": 1, "reserved": 2}}}',
        b'{"type": "deleted", "host": "h1", "server_id": "' + SERVER.encode() + b'", "extra": 1}',
        None,
    ],
)
def test_malformed_reports_are_refused(raw):
    with pytest.raises(MalformedMessage):
        decode_report(raw)


def test_event_envelope_round_trips_and_rejects_garbage():
    message = EventMessage(1, "Server.Created", SERVER, 1, "2026-01-01T00:00:00+00:00", {"name": "vm1"})
    assert EventMessage.from_json(message.to_json()) == message
    assert message.topic == "chronova.server"
    for raw in (b"{}", b"garbage", b'{"notification_id": "1"}'):
        with pytest.raises(MalformedMessage):
            EventMessage.from_json(raw)
