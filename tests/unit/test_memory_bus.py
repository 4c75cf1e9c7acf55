"""The in-process bus and the shared consumer loop: bad messages are parked,
good ones go on, and a publisher's flush means "handled", not "queued"."""

import json
import threading

from chronova.bus.loop import consume
from chronova.bus.memory import MemoryBus
from chronova.messages import DEAD_LETTER_TOPIC, MalformedMessage


def test_flush_returns_only_after_consumers_committed():
    bus = MemoryBus()
    consumer = bus.consumer(["t"])
    publisher = bus.publisher()
    publisher.publish("t", "k", b"1")
    flushed = threading.Event()
    threading.Thread(target=lambda: (publisher.flush(), flushed.set()), daemon=True).start()
    records = consumer.poll(timeout=1)
    assert [r.value for r in records] == [b"1"]
    assert not flushed.wait(0.2)
    consumer.commit()
    assert flushed.wait(2)


def test_malformed_and_failing_messages_are_parked_and_the_loop_goes_on():
    bus = MemoryBus()
    dead = bus.consumer([DEAD_LETTER_TOPIC])
    consumer = bus.consumer(["t"])
    publisher = bus.publisher()
    handled: list[bytes] = []
    stop = threading.Event()

    def handle(record):
        if record.value == b"bad":
            raise MalformedMessage("cannot parse")
        if record.value == b"bug":
            raise KeyError("surprise")
        handled.append(record.value)
        if record.value == b"last":
            stop.set()

    parked: list[dict] = []

    def read_dead_letters():
        while len(parked) < 2:
            records = dead.poll(timeout=1)
            parked.extend(json.loads(r.value) for r in records)
            dead.commit()

    reader = threading.Thread(target=read_dead_letters, daemon=True)
    reader.start()
    for value in (b"first", b"bad", b"bug", b"last"):
        publisher.publish("t", "k", value)
    consume(consumer, handle, bus.publisher(), "test", stop)
    reader.join(timeout=5)
    assert handled == [b"first", b"last"]
    assert [(p["value"], p["reason"]) for p in parked] == [("bad", "cannot parse"), ("bug", "KeyError: 'surprise'")]
