"""The one consumer loop every Chronova consumer runs (ARCHITECTURE.md invariant 9).

A record that cannot be understood, or whose handling fails for a reason
other than an unreachable store, is parked on the dead-letter topic with the
reason and the loop moves on: a bad message never crashes the loop and never
blocks its partition. An unreachable store is waited out; the record is then
handled again, which is safe because every handler is idempotent.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable

from eventsourcing.persistence import InterfaceError, OperationalError
from kafka.errors import KafkaError

from chronova.bus import Consumer, Publisher, Record
from chronova.messages import DEAD_LETTER_TOPIC, MalformedMessage

log = logging.getLogger(__name__)

TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (OperationalError, InterfaceError, ConnectionError)
BUS_ERRORS: tuple[type[BaseException], ...] = (KafkaError,)


def park(dead_letters: Publisher, consumer_name: str, record: Record, reason: str) -> None:
    """Put a record aside with why it could not be handled."""
    log.warning("%s parked %s[%s]@%s: %s", consumer_name, record.topic, record.partition, record.offset, reason)
    envelope = {
        "consumer": consumer_name,
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "key": record.key,
        "value": (record.value or b"").decode(errors="replace"),
        "reason": reason,
    }
    dead_letters.publish(DEAD_LETTER_TOPIC, record.key or "", json.dumps(envelope).encode())
    dead_letters.flush()


def _deliver(
    record: Record,
    handle: Callable[[Record], None],
    dead_letters: Publisher,
    name: str,
    stop: threading.Event,
) -> bool:
    """Handle one record; False only when stopping while the store is unreachable."""
    backoff = 0.05
    while True:
        try:
            handle(record)
            return True
        except MalformedMessage as e:
            park(dead_letters, name, record, str(e))
            return True
        except TRANSIENT_ERRORS as e:
            log.warning("%s: store unreachable (%s), retrying in %.2fs", name, e, backoff)
            if stop.wait(backoff):
                return False
            backoff = min(backoff * 2, 5.0)
        except Exception as e:
            log.exception("%s failed on %s[%s]@%s", name, record.topic, record.partition, record.offset)
            park(dead_letters, name, record, f"{type(e).__name__}: {e}")
            return True


def consume(
    consumer: Consumer,
    handle: Callable[[Record], None],
    dead_letters: Publisher,
    name: str,
    stop: threading.Event,
    after_batch: Callable[[], None] = lambda: None,
) -> None:
    """Poll, handle, then commit each batch, until `stop` is set.

    When the bus itself fails (poll, flush or commit), the consumer rewinds to
    its last commit and tries again: the batch is handled again, never skipped.
    """
    backoff = 0.1
    consumer.rewind()  # after a restart, start again from the last commit
    while not stop.is_set():
        try:
            records = consumer.poll(timeout=0.2)
            for record in records:
                if not _deliver(record, handle, dead_letters, name, stop):
                    return
            if records:
                after_batch()
                consumer.commit()
            backoff = 0.1
        except TRANSIENT_ERRORS + BUS_ERRORS as e:
            log.warning("%s: bus unavailable (%s), rewinding and retrying in %.1fs", name, e, backoff)
            if stop.wait(backoff):
                return
            consumer.rewind()
            backoff = min(backoff * 2, 5.0)
